/* vnet.c: Microsoft.Network/virtualNetworks, their subnets (kept inside the
 * virtual network's body, as Azure shows them; child.c serves
 * .../subnets/{name}), and the private addresses handed out in subnets
 * (network_ips): to interfaces' IP configurations (nic.c), load balancer
 * frontends (lb.c) and, through network.h, scale-set instances.
 *
 * Invariants: a subnet lies inside one of its network's address prefixes,
 * no two subnets of a network overlap, so an address is unique in the
 * network (network_ips' key is (vnet, addr)); .0-.3 and the last address of
 * a subnet are Azure's, never handed out. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define SUBNET_TYPE NETWORK_VNET_TYPE "/subnets"
#define MAX_PREFIXES 64
#define MAX_SUBNETS 256

/* ---- finding a subnet, handing out its addresses ---- */

int network_subnet_find(srv *s, const char *subnet_id, network_subnet *out) {
  memset(out, 0, sizeof *out);
  const char *at = subnet_id ? strcasestr(subnet_id, "/subnets/") : NULL;
  if (!at || !at[9] || strchr(at + 9, '/') || (size_t)(at - subnet_id) >= sizeof out->vnet_id)
    return -1;
  char vid[512];
  memcpy(vid, subnet_id, (size_t)(at - subnet_id));
  vid[at - subnet_id] = 0;
  json_t *v = arm_resource_get(s, vid);
  const char *type = json_string_value(json_object_get(v, "type"));
  if (!v || !type || strcasecmp(type, NETWORK_VNET_TYPE) != 0) {
    json_decref(v);
    return -1;
  }
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(json_object_get(v, "properties"), "subnets"), i, e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name || strcasecmp(name, at + 9) != 0) continue;
    const char *prefix =
        json_string_value(json_object_get(json_object_get(e, "properties"), "addressPrefix"));
    if (network_cidr_parse(prefix, &out->cidr) != 0) break;
    out->vnet = v;
    out->subnet = e;
    snprintf(out->vnet_id, sizeof out->vnet_id, "%s", json_string_value(json_object_get(v, "id")));
    snprintf(out->id, sizeof out->id, "%s/subnets/%s", out->vnet_id, name);
    return 0;
  }
  json_decref(v);
  return -1;
}

void network_subnet_done(network_subnet *sn) {
  json_decref(sn->vnet);
  sn->vnet = NULL;
  sn->subnet = NULL;
}

/* The address owner holds in the subnet, or 0. */
static uint32_t held_in(srv *s, const network_subnet *sn, const char *owner) {
  sqlite3_stmt *st;
  uint32_t a = 0;
  if (store_prepare(store_db(s), "SELECT addr FROM network_ips WHERE subnet=? AND owner=?", -1, &st,
                    NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, sn->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) a = (uint32_t)sqlite3_column_int64(st, 0);
  store_finalize(st);
  return a;
}

int network_ip_claim(srv *s, const network_subnet *sn, const char *owner, uint32_t want,
                     char out[16], char *taken_by, size_t n) {
  uint32_t first = sn->cidr.addr + 4, last = network_cidr_last(&sn->cidr) - 1, got = 0;
  sqlite3_stmt *st;
  if (want) {
    network_cidr one = {.addr = want, .len = 32};
    if (!network_cidr_contains(&sn->cidr, &one)) return NETWORK_IP_OUTSIDE;
    if (want < first || want > last) return NETWORK_IP_RESERVED;
    if (store_prepare(store_db(s), "SELECT owner FROM network_ips WHERE vnet=? AND addr=?", -1, &st,
                      NULL) != SQLITE_OK)
      return -1;
    sqlite3_bind_text(st, 1, sn->vnet_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, want);
    int taken = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
      const char *o = (const char *)sqlite3_column_text(st, 0);
      if (strcasecmp(o, owner) != 0) {
        taken = 1;
        snprintf(taken_by, n, "%s", o);
      }
    }
    store_finalize(st);
    if (taken) return NETWORK_IP_TAKEN;
    got = want;
  } else if ((got = held_in(s, sn, owner)) == 0) {
    /* The first free address from .4: walk the used ones in order. */
    if (store_prepare(store_db(s),
                      "SELECT addr FROM network_ips WHERE vnet=? AND addr BETWEEN ? AND ? "
                      "ORDER BY addr",
                      -1, &st, NULL) != SQLITE_OK)
      return -1;
    sqlite3_bind_text(st, 1, sn->vnet_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, first);
    sqlite3_bind_int64(st, 3, last);
    uint64_t cand = first;
    while (sqlite3_step(st) == SQLITE_ROW) {
      uint64_t a = (uint64_t)sqlite3_column_int64(st, 0);
      if (a == cand)
        cand++;
      else if (a > cand)
        break;
    }
    store_finalize(st);
    if (last < first || cand > last) return NETWORK_IP_FULL;
    got = (uint32_t)cand;
  }
  if (store_run(s, "DELETE FROM network_ips WHERE subnet=? AND owner=?", "tt", sn->id, owner) ||
      store_run(s, "INSERT OR REPLACE INTO network_ips(vnet, subnet, addr, owner) VALUES(?,?,?,?)",
                "ttit", sn->vnet_id, sn->id, (int64_t)got, owner))
    return -1;
  network_ip_format(got, out);
  return 0;
}

int network_ip_claim_fail(http_req *r, int rc, const network_subnet *sn, const char *owner,
                          const char *want, const char *taken_by) {
  const char *prefix = json_string_value(
      json_object_get(json_object_get(sn->subnet, "properties"), "addressPrefix"));
  switch (rc) {
  case 0:
    return 0;
  case NETWORK_IP_FULL:
    http_fail(r, NETWORK_ERR_SUBNET_IS_FULL,
              "Subnet %s with address prefix %s does not have enough capacity for 1 IP "
              "addresses.",
              json_string_value(json_object_get(sn->subnet, "name")), prefix);
    break;
  case NETWORK_IP_TAKEN:
    http_fail(r, NETWORK_ERR_PRIVATE_IP_IN_USE,
              "IP configuration %s is using the private IP address %s which is already "
              "allocated to resource %s.",
              owner, want, taken_by);
    break;
  case NETWORK_IP_OUTSIDE:
    http_fail(r, NETWORK_ERR_PRIVATE_IP_NOT_IN_SUBNET,
              "IP configuration %s has a private IP address %s which does not belong to the "
              "subnet prefix %s of subnet %s.",
              owner, want, prefix, sn->id);
    break;
  case NETWORK_IP_RESERVED:
    http_fail(r, NETWORK_ERR_PRIVATE_IP_RESERVED,
              "IP configuration %s has a private IP address %s which is reserved by Azure in "
              "subnet %s (the first four addresses and the last one of a subnet are).",
              owner, want, sn->id);
    break;
  default:
    http_fail(r, NETWORK_ERR_INTERNAL, "The address could not be allocated.");
  }
  return -1;
}

int network_ips_release_prefix(srv *s, const char *prefix) {
  return store_run(s,
                   "DELETE FROM network_ips WHERE owner=?1 OR "
                   "lower(substr(owner, 1, length(?1) + 1)) = lower(?1 || '/')",
                   "t", prefix);
}

json_t *network_ips_held(srv *s, const char *prefix) {
  sqlite3_stmt *st;
  json_t *out = json_object();
  if (store_prepare(store_db(s),
                    "SELECT owner, addr FROM network_ips WHERE owner=?1 OR "
                    "lower(substr(owner, 1, length(?1) + 1)) = lower(?1 || '/')",
                    -1, &st, NULL) != SQLITE_OK)
    return out;
  sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
  while (sqlite3_step(st) == SQLITE_ROW) {
    char a[16];
    network_ip_format((uint32_t)sqlite3_column_int64(st, 1), a);
    json_object_set_new(out, (const char *)sqlite3_column_text(st, 0), json_string(a));
  }
  store_finalize(st);
  return out;
}

int network_subnet_ip_allocate(srv *s, const char *subnet_id, const char *owner, char out[64]) {
  network_subnet sn;
  if (network_subnet_find(s, subnet_id, &sn) != 0) return -1;
  char a[16], taken[8];
  int rc = network_ip_claim(s, &sn, owner, 0, a, taken, sizeof taken);
  network_subnet_done(&sn);
  if (rc != 0) return -1;
  snprintf(out, 64, "%s", a);
  return 0;
}

void network_subnet_ip_release(srv *s, const char *subnet_id, const char *owner) {
  store_run(s, "DELETE FROM network_ips WHERE subnet=? AND owner=?", "tt", subnet_id, owner);
}

/* The first address in use in the virtual network (or one subnet when
 * subnet is not NULL): its owner and subnet, malloc'd; NULL when none. */
static char *first_user(srv *s, const char *vnet, const char *subnet, char **subnet_out) {
  sqlite3_stmt *st;
  char *out = NULL;
  if (store_prepare(store_db(s),
                    "SELECT owner, subnet FROM network_ips WHERE vnet=?1 AND (?2 IS NULL OR "
                    "subnet=?2) ORDER BY subnet, addr LIMIT 1",
                    -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, vnet, -1, SQLITE_STATIC);
  if (subnet)
    sqlite3_bind_text(st, 2, subnet, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 2);
  if (sqlite3_step(st) == SQLITE_ROW) {
    out = strdup((const char *)sqlite3_column_text(st, 0));
    if (subnet_out) *subnet_out = strdup((const char *)sqlite3_column_text(st, 1));
  }
  store_finalize(st);
  return out;
}

static void fail_subnet_in_use(http_req *r, const char *subnet_id, const char *user) {
  const char *name = strrchr(subnet_id, '/') + 1;
  http_fail(r, NETWORK_ERR_SUBNET_IN_USE,
            "Subnet %s is in use by %s and cannot be deleted. In order to delete the subnet, "
            "delete all the resources within the subnet. See aka.ms/deletesubnet.",
            name, user);
}

/* ---- the virtual network type ---- */

static json_t *subnet_build(http_req *r, const char *vnet_id, const char *vnet_name, json_t *e,
                            const network_cidr *spaces, int nsp, network_cidr *sc, int nsc,
                            json_t *done) {
  const char *name = network_child_name(r, vnet_id, "subnets", e, done);
  if (!name) return NULL;
  const char *sid = network_sub_id(r, vnet_id, "subnets", name);
  json_t *p = json_object_get(e, "properties");
  const char *prefix = json_string_value(json_object_get(p, "addressPrefix"));
  if (!prefix) prefix = json_string_value(json_array_get(json_object_get(p, "addressPrefixes"), 0));
  if (!prefix) {
    http_fail(r, NETWORK_ERR_INVALID_SUBNET,
              "Subnet '%s' is not valid in virtual network '%s': it has no address prefix.", name,
              vnet_name);
    return NULL;
  }
  network_cidr c;
  if (network_prefix_check(r, prefix, sid, &c) != 0) return NULL;
  if (c.len > 29) {
    http_fail(r, NETWORK_ERR_INVALID_SUBNET,
              "Subnet '%s' is not valid in virtual network '%s': the smallest supported subnet "
              "is /29.",
              name, vnet_name);
    return NULL;
  }
  int inside = 0;
  for (int k = 0; k < nsp && !inside; k++)
    inside = network_cidr_contains(&spaces[k], &c);
  if (!inside) {
    http_fail(r, NETWORK_ERR_SUBNET_OUTSIDE_VNET,
              "Subnet '%s' is not valid because its IP address range is outside the IP address "
              "range of virtual network '%s'.",
              name, vnet_name);
    return NULL;
  }
  for (int k = 0; k < nsc; k++)
    if (network_cidr_overlap(&sc[k], &c)) {
      http_fail(r, NETWORK_ERR_SUBNETS_OVERLAP,
                "Subnet '%s' is not valid because its IP address range overlaps with that of an "
                "existing subnet '%s' in virtual network '%s'.",
                name, json_string_value(json_object_get(json_array_get(done, (size_t)k), "name")),
                vnet_name);
      return NULL;
    }
  sc[nsc] = c;
  static const char *const unsupported[] = {
      "routeTable", "natGateway", "delegations", "serviceEndpoints", "serviceEndpointPolicies",
      NULL};
  for (int k = 0; unsupported[k]; k++) {
    json_t *v = json_object_get(p, unsupported[k]);
    if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
      http_fail(r, NETWORK_ERR_NOT_SUPPORTED, "azlite does not support subnets' %s.",
                unsupported[k]);
      return NULL;
    }
  }
  json_t *props =
      json_pack("{s:s,s:s,s:s}", "addressPrefix", prefix, "privateEndpointNetworkPolicies",
                "Enabled", "privateLinkServiceNetworkPolicies", "Enabled");
  const char *nsg = network_ref_id(p, "networkSecurityGroup");
  if (nsg) json_object_set_new(props, "networkSecurityGroup", json_pack("{s:s}", "id", nsg));
  json_object_set_new(props, "provisioningState", json_string("Succeeded"));
  return json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", sid, "name", name, "type", SUBNET_TYPE, "etag",
                   network_etag(), "properties", props);
}

/* PATCH is tags only (Azure's UpdateTags); PUT checks the address space and
 * every subnet against it and each other. */
static int vnet_build(arm_op *op) {
  if (op->patch) return 0;
  http_req *r = op->r;
  json_t *in = json_object_get(op->in, "properties");
  json_t *prefixes = json_object_get(json_object_get(in, "addressSpace"), "addressPrefixes");
  json_t *subs_in = json_object_get(in, "subnets");
  if ((in && !json_is_object(in)) || (prefixes && !json_is_array(prefixes)) ||
      (subs_in && !json_is_array(subs_in))) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Cannot parse the request: properties.addressSpace.addressPrefixes and "
              "properties.subnets must be arrays.");
    return -1;
  }
  json_t *peerings = json_object_get(in, "virtualNetworkPeerings");
  if (json_array_size(peerings) > 0) {
    http_fail(r, NETWORK_ERR_NOT_SUPPORTED, "azlite does not support virtual network peering.");
    return -1;
  }
  network_cidr spaces[MAX_PREFIXES], sc[MAX_SUBNETS];
  int nsp = 0;
  size_t i;
  json_t *e;
  json_t *space = http_json_own(r, json_array());
  json_array_foreach(prefixes, i, e) {
    if (nsp == MAX_PREFIXES) break;
    if (network_prefix_check(r, json_string_value(e), op->id, &spaces[nsp]) != 0) return -1;
    nsp++;
    json_array_append(space, e);
  }
  json_t *subs = http_json_own(r, json_array());
  json_array_foreach(subs_in, i, e) {
    if (i == MAX_SUBNETS) break;
    json_t *sub = subnet_build(r, op->id, op->name, e, spaces, nsp, sc, (int)i, subs);
    if (!sub) return -1;
    json_array_append_new(subs, sub);
  }
  json_t *cur = json_object_get(op->cur, "properties");
  const char *guid = json_string_value(json_object_get(cur, "resourceGuid"));
  char u[37];
  if (!guid) uuid_v4(u);
  json_t *props =
      json_pack("{s:{s:O},s:O,s:[],s:b,s:b,s:s}", "addressSpace", "addressPrefixes", space,
                "subnets", subs, "virtualNetworkPeerings", "enableDdosProtection", 0,
                "enableVmProtection", 0, "resourceGuid", guid ? guid : u);
  json_t *dhcp = json_object_get(in, "dhcpOptions");
  if (json_is_object(dhcp)) json_object_set(props, "dhcpOptions", dhcp);
  json_object_set_new(op->body, "properties", props);
  json_object_set_new(op->body, "etag", network_etag());
  return 0;
}

/* Inside the saving transaction: the security groups the subnets name exist
 * (and are recorded as used), and no subnet in use goes or moves away from
 * the addresses it has handed out. */
static int vnet_apply(arm_op *op) {
  http_req *r = op->r;
  srv *s = op->s;
  if (op->patch) return 0;
  if (network_refs_clear(s, op->id) != 0) return -1;
  json_t *subs = json_object_get(json_object_get(op->body, "properties"), "subnets");
  size_t i;
  json_t *e;
  json_array_foreach(subs, i, e) {
    const char *sid = json_string_value(json_object_get(e, "id"));
    const char *nsg = network_ref_id(json_object_get(e, "properties"), "networkSecurityGroup");
    if (!nsg) continue;
    json_t *g = network_ref_require(r, nsg, NETWORK_NSG_TYPE, sid, op->location);
    if (!g) return -1;
    int rc = network_ref_add(s, op->id, sid, json_string_value(json_object_get(g, "id")));
    json_decref(g);
    if (rc != 0) return -1;
  }
  if (op->created) return 0;
  sqlite3_stmt *st;
  if (store_prepare(store_db(s), "SELECT subnet, addr, owner FROM network_ips WHERE vnet=?", -1,
                    &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
  int rc = 0;
  while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
    const char *subnet = (const char *)sqlite3_column_text(st, 0);
    const char *owner = (const char *)sqlite3_column_text(st, 2);
    network_cidr one = {.addr = (uint32_t)sqlite3_column_int64(st, 1), .len = 32}, c;
    json_t *now = NULL;
    json_array_foreach(subs, i, e) if (!strcasecmp(json_string_value(json_object_get(e, "name")),
                                                   strrchr(subnet, '/') + 1)) now = e;
    if (!now) {
      fail_subnet_in_use(r, subnet, owner);
      rc = -1;
    } else if (network_cidr_parse(json_string_value(json_object_get(
                                      json_object_get(now, "properties"), "addressPrefix")),
                                  &c) != 0 ||
               !network_cidr_contains(&c, &one)) {
      char a[16];
      network_ip_format(one.addr, a);
      http_fail(r, NETWORK_ERR_INVALID_SUBNET,
                "Subnet '%s' is not valid in virtual network '%s': its address %s is in use by "
                "%s and would be outside its new address prefix.",
                strrchr(subnet, '/') + 1, op->name, a, owner);
      rc = -1;
    }
  }
  store_finalize(st);
  return rc;
}

static int vnet_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  if (store_run(s, "DELETE FROM network_ips WHERE vnet=?", "t", id) != 0) return -1;
  return network_refs_clear(s, id);
}

static int vnet_delete_check(http_req *r, json_t *body) {
  char *subnet = NULL;
  char *user = first_user(r->srv, json_string_value(json_object_get(body, "id")), NULL, &subnet);
  if (user) fail_subnet_in_use(r, subnet, user);
  free(user);
  free(subnet);
  return user ? -1 : 0;
}

/* Each subnet shows the IP configurations that hold its addresses. */
static json_t *vnet_render(http_req *r, json_t *body) {
  srv *s = r->srv;
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(json_object_get(body, "properties"), "subnets"), i, e) {
    sqlite3_stmt *st;
    if (store_prepare(store_db(s), "SELECT owner FROM network_ips WHERE subnet=? ORDER BY owner",
                      -1, &st, NULL) != SQLITE_OK)
      continue;
    sqlite3_bind_text(st, 1, json_string_value(json_object_get(e, "id")), -1, SQLITE_STATIC);
    json_t *cfgs = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
      json_array_append_new(cfgs,
                            json_pack("{s:s}", "id", (const char *)sqlite3_column_text(st, 0)));
    store_finalize(st);
    if (json_array_size(cfgs))
      json_object_set_new(json_object_get(e, "properties"), "ipConfigurations", cfgs);
    else
      json_decref(cfgs);
  }
  return body;
}

const arm_type network_vnet_type = {
    .type = NETWORK_VNET_TYPE,
    .display = "virtual network",
    .name_valid = network_name_valid,
    .name_code = "InvalidResourceName",
    .name_message = NETWORK_NAME_MESSAGE,
    .create_status = 201,
    .build = vnet_build,
    .apply = vnet_apply,
    .remove = vnet_remove,
    .render = vnet_render,
    .delete_check = vnet_delete_check,
    .example_name = "contract-vnet",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"properties\":{\"addressSpace\":{"
                    "\"addressPrefixes\":[\"10.0.0.0/16\"]},\"subnets\":[{\"name\":\"default\","
                    "\"properties\":{\"addressPrefix\":\"10.0.0.0/24\"}}]}}",
};

const network_child network_subnet_child = {
    .parent = &network_vnet_type,
    .param = "vnet",
    .prop = "subnets",
};
