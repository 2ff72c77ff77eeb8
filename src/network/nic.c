/* nic.c: Microsoft.Network/networkInterfaces: IP configurations in subnets
 * (a private address each, Dynamic: the first free from .4, or Static),
 * with an optional public address, and an optional security group; and what
 * compute does with them through network.h (attach to a VM, read the
 * addresses).  An interface's addresses are rows of network_ips owned by its
 * IP configurations' ids; its public address and group are network_refs rows,
 * so no two interfaces hold one public address and a group in use stays. */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define IPCONFIG_TYPE NETWORK_NIC_TYPE "/ipConfigurations"

static const char *const METHODS[] = {"Dynamic", "Static", NULL};
static const char *const VERSIONS[] = {"IPv4", "IPv6", NULL};

static json_t *ipconfig_build(http_req *r, const char *nic_id, json_t *e, json_t *done) {
  const char *name = network_child_name(r, nic_id, "IP configurations", e, done);
  if (!name) return NULL;
  const char *id = network_sub_id(r, nic_id, "ipConfigurations", name);
  json_t *p = json_object_get(e, "properties");
  const char *subnet = network_ref_id(p, "subnet");
  if (!subnet) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "IP configuration %s must reference a subnet (properties.subnet.id).", id);
    return NULL;
  }
  const char *addr = json_string_value(json_object_get(p, "privateIPAddress"));
  const char *method =
      network_enum_prop(r, p, "privateIPAllocationMethod", METHODS, addr ? "Static" : "Dynamic");
  const char *version =
      method ? network_enum_prop(r, p, "privateIPAddressVersion", VERSIONS, "IPv4") : NULL;
  if (!version) return NULL;
  if (!strcmp(version, "IPv6")) {
    http_fail(r, NETWORK_ERR_NOT_SUPPORTED, "azlite does not support IPv6 IP configurations.");
    return NULL;
  }
  json_t *out =
      json_pack("{s:s,s:s,s:{s:s},s:b,s:s}", "privateIPAllocationMethod", method,
                "privateIPAddressVersion", version, "subnet", "id", subnet, "primary",
                json_is_true(json_object_get(p, "primary")), "provisioningState", "Succeeded");
  uint32_t a;
  if (!strcmp(method, "Static")) {
    if (!addr || network_ip_parse(addr, &a) != 0) {
      json_decref(out);
      http_fail(r, NETWORK_ERR_PRIVATE_IP_INVALID,
                "IP configuration %s has allocation method Static but no valid private IP "
                "address ('%s').",
                id, addr ? addr : "");
      return NULL;
    }
    json_object_set_new(out, "privateIPAddress", json_string(addr));
  }
  const char *pip = network_ref_id(p, "publicIPAddress");
  if (pip) json_object_set_new(out, "publicIPAddress", json_pack("{s:s}", "id", pip));
  static const char *const lists[] = {"loadBalancerBackendAddressPools",
                                      "loadBalancerInboundNatRules", NULL};
  for (int k = 0; lists[k]; k++) {
    json_t *v = json_object_get(p, lists[k]);
    if (json_is_array(v) && json_array_size(v)) json_object_set(out, lists[k], v);
  }
  return json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", id, "name", name, "type", IPCONFIG_TYPE, "etag",
                   network_etag(), "properties", out);
}

static int nic_build(arm_op *op) {
  if (op->patch) return 0;
  http_req *r = op->r;
  json_t *in = json_object_get(op->in, "properties");
  json_t *cfgs_in = json_object_get(in, "ipConfigurations");
  if (!json_is_object(in) || !json_is_array(cfgs_in) || json_array_size(cfgs_in) == 0) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Network interface %s must have at least one IP configuration "
              "(properties.ipConfigurations).",
              op->id);
    return -1;
  }
  json_t *cfgs = http_json_own(r, json_array());
  size_t i;
  json_t *e;
  int primary = 0;
  json_array_foreach(cfgs_in, i, e) {
    json_t *c = ipconfig_build(r, op->id, e, cfgs);
    if (!c) return -1;
    primary |= json_is_true(json_object_get(json_object_get(c, "properties"), "primary"));
    json_array_append_new(cfgs, c);
  }
  if (!primary)
    json_object_set_new(json_object_get(json_array_get(cfgs, 0), "properties"), "primary",
                        json_true());
  json_t *cur = json_object_get(op->cur, "properties");
  const char *guid = json_string_value(json_object_get(cur, "resourceGuid"));
  char u[37];
  if (!guid) uuid_v4(u);
  json_t *dns = json_object_get(json_object_get(in, "dnsSettings"), "dnsServers");
  json_t *props = json_pack(
      "{s:O,s:{s:o,s:[]},s:b,s:b,s:s,s:[],s:[],s:s}", "ipConfigurations", cfgs, "dnsSettings",
      "dnsServers", json_is_array(dns) ? json_deep_copy(dns) : json_array(), "appliedDnsServers",
      "enableAcceleratedNetworking",
      json_is_true(json_object_get(in, "enableAcceleratedNetworking")), "enableIPForwarding",
      json_is_true(json_object_get(in, "enableIPForwarding")), "resourceGuid", guid ? guid : u,
      "hostedWorkloads", "tapConfigurations", "nicType", "Standard");
  const char *nsg = network_ref_id(in, "networkSecurityGroup");
  if (nsg) json_object_set_new(props, "networkSecurityGroup", json_pack("{s:s}", "id", nsg));
  /* What compute set (network_nic_attach) stays: a PUT cannot change it. */
  static const char *const kept[] = {"virtualMachine", "macAddress", "primary", NULL};
  for (int k = 0; kept[k]; k++)
    if (json_object_get(cur, kept[k]))
      json_object_set(props, kept[k], json_object_get(cur, kept[k]));
  json_object_set_new(op->body, "properties", props);
  json_object_set_new(op->body, "etag", network_etag());
  return 0;
}

/* One IP configuration, inside the saving transaction: its subnet exists
 * (in the interface's region), it gets its address, its public address is
 * no one else's. */
static int ipconfig_apply(arm_op *op, json_t *cfg, json_t *held) {
  http_req *r = op->r;
  srv *s = op->s;
  const char *cid = json_string_value(json_object_get(cfg, "id"));
  json_t *p = json_object_get(cfg, "properties");
  network_subnet sn;
  const char *sid = network_ref_id(p, "subnet");
  if (network_subnet_find(s, sid, &sn) != 0 ||
      strcasecmp(json_string_value(json_object_get(sn.vnet, "location")), op->location) != 0) {
    if (sn.vnet) network_subnet_done(&sn);
    http_fail(r, NETWORK_ERR_INVALID_RESOURCE_REFERENCE,
              "Resource %s referenced by resource %s was not found. Please make sure that the "
              "referenced resource exists, and that both resources are in the same region.",
              sid, op->id);
    return -1;
  }
  json_object_set_new(p, "subnet", json_pack("{s:s}", "id", sn.id));
  const char *want_s = json_string_value(json_object_get(p, "privateIPAddress"));
  int stat = !strcmp(json_string_value(json_object_get(p, "privateIPAllocationMethod")), "Static");
  uint32_t want = 0;
  if (stat) {
    network_ip_parse(want_s, &want);
  } else {
    /* Dynamic: an update keeps the address it had in this subnet. */
    uint32_t had;
    json_t *h = json_object_get(held, cid);
    network_cidr one = {.len = 32};
    if (h && network_ip_parse(json_string_value(h), &had) == 0) {
      one.addr = had;
      if (network_cidr_contains(&sn.cidr, &one)) want = had;
    }
  }
  char got[16], taken_by[640] = "";
  int rc = network_ip_claim(s, &sn, cid, want, got, taken_by, sizeof taken_by);
  if (rc == NETWORK_IP_TAKEN && !stat)
    rc = network_ip_claim(s, &sn, cid, 0, got, taken_by, sizeof taken_by);
  if (rc != 0) {
    network_ip_claim_fail(r, rc, &sn, cid, want_s, taken_by);
    network_subnet_done(&sn);
    return -1;
  }
  network_subnet_done(&sn);
  json_object_set_new(p, "privateIPAddress", json_string(got));
  const char *pip_id = network_ref_id(p, "publicIPAddress");
  if (!pip_id) return 0;
  json_t *pip = network_ref_require(r, pip_id, NETWORK_PIP_TYPE, cid, op->location);
  if (!pip) return -1;
  const char *canon = json_string_value(json_object_get(pip, "id"));
  char *user = network_ref_user(s, canon, op->id);
  if (user) {
    http_fail(r, NETWORK_ERR_PUBLIC_IP_IN_USE,
              "Public IP address %s is already in use by %s and cannot be used by %s.", canon, user,
              cid);
    free(user);
    json_decref(pip);
    return -1;
  }
  json_object_set_new(p, "publicIPAddress", json_pack("{s:s}", "id", canon));
  rc = network_ref_add(s, op->id, cid, canon);
  json_decref(pip);
  return rc;
}

static int nic_apply(arm_op *op) {
  if (op->patch) return 0;
  srv *s = op->s;
  json_t *props = json_object_get(op->body, "properties");
  json_t *held = network_ips_held(s, op->id);
  int rc = network_refs_clear(s, op->id) || network_ips_release_prefix(s, op->id) ? -1 : 0;
  size_t i;
  json_t *cfg;
  json_array_foreach(json_object_get(props, "ipConfigurations"), i, cfg) {
    if (rc != 0) break;
    rc = ipconfig_apply(op, cfg, held);
  }
  json_decref(held);
  const char *nsg_id = network_ref_id(props, "networkSecurityGroup");
  if (rc != 0 || !nsg_id) return rc;
  json_t *nsg = network_ref_require(op->r, nsg_id, NETWORK_NSG_TYPE, op->id, op->location);
  if (!nsg) return -1;
  const char *canon = json_string_value(json_object_get(nsg, "id"));
  json_object_set_new(props, "networkSecurityGroup", json_pack("{s:s}", "id", canon));
  rc = network_ref_add(s, op->id, op->id, canon);
  json_decref(nsg);
  return rc;
}

static int nic_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  if (network_ips_release_prefix(s, id) != 0) return -1;
  return network_refs_clear(s, id);
}

static int nic_delete_check(http_req *r, json_t *body) {
  const char *vm = network_ref_id(json_object_get(body, "properties"), "virtualMachine");
  if (!vm) return 0;
  http_fail(r, NETWORK_ERR_NIC_IN_USE,
            "Network Interface %s is used by existing resource %s. In order to delete the "
            "network interface, it must be dissociated from the resource. To learn more, see "
            "aka.ms/deletenic.",
            json_string_value(json_object_get(body, "id")), vm);
  return -1;
}

const arm_type network_nic_type = {
    .type = NETWORK_NIC_TYPE,
    .display = "network interface",
    .name_valid = network_name_valid,
    .name_code = "InvalidResourceName",
    .name_message = NETWORK_NAME_MESSAGE,
    .create_status = 201,
    .build = nic_build,
    .apply = nic_apply,
    .remove = nic_remove,
    .delete_check = nic_delete_check,
    .example_name = "contract-nic",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"properties\":{\"ipConfigurations\":[{\"name\":"
                    "\"ipconfig1\",\"properties\":{\"subnet\":{\"id\":\"/subscriptions/{sub}/"
                    "resourceGroups/contract-setup/providers/Microsoft.Network/virtualNetworks/"
                    "contract-nic-vnet/subnets/default\"}}}]}}",
    .example_setup = "[[\"/subscriptions/{sub}/resourceGroups/contract-setup/providers/"
                     "Microsoft.Network/virtualNetworks/contract-nic-vnet?api-version=2022-07-01\","
                     "{\"location\":\"eastus\",\"properties\":{\"addressSpace\":{"
                     "\"addressPrefixes\":[\"10.9.0.0/16\"]},\"subnets\":[{\"name\":\"default\","
                     "\"properties\":{\"addressPrefix\":\"10.9.0.0/20\"}}]}}]]",
};

/* ---- what compute uses (network.h) ---- */

static json_t *nic_get(srv *s, const char *nic_id) {
  json_t *b = nic_id ? arm_resource_get(s, nic_id) : NULL;
  const char *t = json_string_value(json_object_get(b, "type"));
  if (b && (!t || strcasecmp(t, NETWORK_NIC_TYPE) != 0)) {
    json_decref(b);
    return NULL;
  }
  return b;
}

int network_nic_info_get(srv *s, const char *nic_id, network_nic_info *out) {
  memset(out, 0, sizeof *out);
  json_t *b = nic_get(s, nic_id);
  if (!b) return -1;
  json_t *props = json_object_get(b, "properties");
  json_t *cfgs = json_object_get(props, "ipConfigurations"), *cfg = json_array_get(cfgs, 0), *e;
  size_t i;
  json_array_foreach(
      cfgs, i, e) if (json_is_true(json_object_get(json_object_get(e, "properties"), "primary"))) {
    cfg = e;
    break;
  }
  json_t *p = json_object_get(cfg, "properties");
  snprintf(out->private_ip, sizeof out->private_ip, "%s",
           json_string_value(json_object_get(p, "privateIPAddress")) ?: "");
  snprintf(out->subnet_id, sizeof out->subnet_id, "%s", network_ref_id(p, "subnet") ?: "");
  const char *pip_id = network_ref_id(p, "publicIPAddress");
  if (pip_id) {
    json_t *pip = arm_resource_get(s, pip_id);
    snprintf(out->public_ip_id, sizeof out->public_ip_id, "%s", pip_id);
    snprintf(out->public_ip, sizeof out->public_ip, "%s",
             json_string_value(json_object_get(json_object_get(pip, "properties"), "ipAddress"))
                 ?: "");
    json_decref(pip);
  }
  snprintf(out->mac, sizeof out->mac, "%s",
           json_string_value(json_object_get(props, "macAddress")) ?: "");
  snprintf(out->vm_id, sizeof out->vm_id, "%s", network_ref_id(props, "virtualMachine") ?: "");
  json_decref(b);
  return 0;
}

/* Azure's interfaces have MACs in Microsoft's 00-0D-3A block. */
static json_t *new_mac(void) {
  unsigned char b[3] = {0};
  if (RAND_bytes(b, sizeof b) != 1) return NULL;
  return json_sprintf("00-0D-3A-%02X-%02X-%02X", b[0], b[1], b[2]);
}

int network_nic_attach(srv *s, const char *nic_id, const char *vm_id) {
  json_t *b = nic_get(s, nic_id);
  if (!b) return -1;
  json_t *props = json_object_get(b, "properties");
  const char *had = network_ref_id(props, "virtualMachine");
  int rc = -1;
  if (!had || !strcasecmp(had, vm_id)) {
    if (!had) json_object_set_new(props, "virtualMachine", json_pack("{s:s}", "id", vm_id));
    json_object_set_new(props, "primary", json_true());
    if (!json_object_get(props, "macAddress")) {
      json_t *mac = new_mac();
      if (mac) json_object_set_new(props, "macAddress", mac);
    }
    rc = arm_resource_put(s, json_string_value(json_object_get(b, "id")), NETWORK_NIC_TYPE, b);
  }
  json_decref(b);
  return rc;
}

int network_nic_detach(srv *s, const char *nic_id, const char *vm_id) {
  json_t *b = nic_get(s, nic_id);
  if (!b) return -1;
  json_t *props = json_object_get(b, "properties");
  const char *had = network_ref_id(props, "virtualMachine");
  int rc = 0;
  if (had && (!vm_id || !strcasecmp(had, vm_id))) {
    json_object_del(props, "virtualMachine");
    json_object_del(props, "primary");
    rc = arm_resource_put(s, json_string_value(json_object_get(b, "id")), NETWORK_NIC_TYPE, b);
  }
  json_decref(b);
  return rc;
}
