/* publicip.c: Microsoft.Network/publicIPAddresses, and the host addresses
 * behind them.  A public address is a real address of this machine: a
 * 127.x.y.z drawn at random in 127.64.0.0/10 (so two data dirs rarely
 * collide) and kept in network_host_addrs, unique in the store, for a public
 * IP resource or for what network.h's callers name (a scale-set instance, a
 * load balancer frontend).  Static and Dynamic both get their address at
 * creation (Azure gives a Dynamic Basic address only once it is attached). */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const SKUS[] = {"Basic", "Standard", NULL};
static const char *const METHODS[] = {"Static", "Dynamic", NULL};
static const char *const VERSIONS[] = {"IPv4", "IPv6", NULL};

static int held(srv *s, const char *owner, char out[64]) {
  sqlite3_stmt *st;
  int rc = -1;
  if (store_prepare(store_db(s), "SELECT addr FROM network_host_addrs WHERE owner=?", -1, &st,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(out, 64, "%s", sqlite3_column_text(st, 0));
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

static int taken(srv *s, const char *addr) {
  sqlite3_stmt *st;
  int t = 1;
  if (store_prepare(store_db(s), "SELECT 1 FROM network_host_addrs WHERE addr=?", -1, &st, NULL) !=
      SQLITE_OK)
    return 1;
  sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
  t = sqlite3_step(st) == SQLITE_ROW;
  store_finalize(st);
  return t;
}

int network_host_address_allocate(srv *s, const char *owner, char out[64]) {
  if (held(s, owner, out) == 0) return 0;
  for (int tries = 0; tries < 256; tries++) {
    uint32_t rnd;
    if (RAND_bytes((unsigned char *)&rnd, sizeof rnd) != 1) return -1;
    uint32_t a = 0x7f400000u | (rnd & 0x003fffffu); /* 127.64.0.0/10 */
    if ((a & 255) == 0 || (a & 255) == 255) continue;
    char ip[16];
    network_ip_format(a, ip);
    if (taken(s, ip)) continue;
    if (store_run(s, "INSERT INTO network_host_addrs(addr, owner) VALUES(?,?)", "tt", ip, owner) !=
        0)
      return -1;
    snprintf(out, 64, "%s", ip);
    return 0;
  }
  return -1;
}

void network_host_address_release(srv *s, const char *owner) {
  store_run(s, "DELETE FROM network_host_addrs WHERE owner=?", "t", owner);
}

static int pip_build(arm_op *op) {
  if (op->patch) return 0;
  http_req *r = op->r;
  json_t *in = json_object_get(op->in, "properties");
  if (in && !json_is_object(in)) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Cannot parse the request: properties must be an object.");
    return -1;
  }
  const char *sku = network_enum_prop(r, json_object_get(op->in, "sku"), "name", SKUS, "Basic");
  if (!sku) return -1;
  const char *method = network_enum_prop(r, in, "publicIPAllocationMethod", METHODS,
                                         strcmp(sku, "Standard") ? "Dynamic" : "Static");
  const char *version =
      method ? network_enum_prop(r, in, "publicIPAddressVersion", VERSIONS, "IPv4") : NULL;
  if (!version) return -1;
  if (!strcmp(version, "IPv6")) {
    http_fail(r, NETWORK_ERR_NOT_SUPPORTED, "azlite does not support IPv6 public IP addresses.");
    return -1;
  }
  if (!strcmp(sku, "Standard") && strcmp(method, "Static")) {
    http_fail(r, NETWORK_ERR_STANDARD_SKU_MUST_BE_STATIC,
              "Standard sku publicIp %s must have AllocationMethod set to Static.", op->id);
    return -1;
  }
  json_t *idle = json_object_get(in, "idleTimeoutInMinutes");
  json_int_t minutes = idle && !json_is_null(idle) ? json_integer_value(idle) : 4;
  if (minutes < 4 || minutes > 30) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "The idle timeout of public IP %s must be between 4 and 30 minutes.", op->id);
    return -1;
  }
  json_t *cur = json_object_get(op->cur, "properties");
  const char *guid = json_string_value(json_object_get(cur, "resourceGuid"));
  char u[37];
  if (!guid) uuid_v4(u);
  json_t *props = json_pack("{s:s,s:s,s:I,s:s,s:[]}", "publicIPAllocationMethod", method,
                            "publicIPAddressVersion", version, "idleTimeoutInMinutes", minutes,
                            "resourceGuid", guid ? guid : u, "ipTags");
  const char *label =
      json_string_value(json_object_get(json_object_get(in, "dnsSettings"), "domainNameLabel"));
  if (label)
    json_object_set_new(props, "dnsSettings",
                        json_pack("{s:s,s:o}", "domainNameLabel", label, "fqdn",
                                  json_sprintf("%s.%s.cloudapp.azure.com", label, op->location)));
  json_object_set_new(op->body, "properties", props);
  json_object_set_new(op->body, "sku", json_pack("{s:s,s:s}", "name", sku, "tier", "Regional"));
  json_t *zones = json_object_get(op->in, "zones");
  if (json_is_array(zones) && json_array_size(zones)) json_object_set(op->body, "zones", zones);
  json_object_set_new(op->body, "etag", network_etag());
  return 0;
}

/* The address: drawn once, kept across updates. */
static int pip_apply(arm_op *op) {
  if (op->patch) return 0;
  char ip[64];
  if (network_host_address_allocate(op->s, op->id, ip) != 0) return -1;
  json_object_set_new(json_object_get(op->body, "properties"), "ipAddress", json_string(ip));
  return 0;
}

static int pip_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  network_host_address_release(s, id);
  return 0;
}

static int pip_delete_check(http_req *r, json_t *body) {
  const char *id = json_string_value(json_object_get(body, "id"));
  char *user = network_ref_user(r->srv, id, NULL);
  if (!user) return 0;
  http_fail(r, NETWORK_ERR_PUBLIC_IP_IN_USE,
            "Public IP address %s can not be deleted since it is still allocated to resource "
            "%s. In order to delete the public IP, disassociate/detach the Public IP address "
            "from the resource.",
            id, user);
  free(user);
  return -1;
}

/* The IP configuration (of an interface or a load balancer) that uses it. */
static json_t *pip_render(http_req *r, json_t *body) {
  srv *s = r->srv;
  char *user = network_ref_user(s, json_string_value(json_object_get(body, "id")), NULL);
  if (user)
    json_object_set_new(json_object_get(body, "properties"), "ipConfiguration",
                        json_pack("{s:s}", "id", user));
  free(user);
  return body;
}

const arm_type network_pip_type = {
    .type = NETWORK_PIP_TYPE,
    .display = "public IP address",
    .name_valid = network_name_valid,
    .name_code = "InvalidResourceName",
    .name_message = NETWORK_NAME_MESSAGE,
    .create_status = 201,
    .build = pip_build,
    .apply = pip_apply,
    .remove = pip_remove,
    .render = pip_render,
    .delete_check = pip_delete_check,
    .example_name = "contract-pip",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard\"},\"properties\":{"
                    "\"publicIPAllocationMethod\":\"Static\"}}",
};
