/* lb.c: Microsoft.Network/loadBalancers as a stored type, so that `az vmss
 * create` and templates can make one: frontend IP configurations (a public
 * address, or a private one in a subnet), backend pools, probes,
 * load-balancing rules, inbound NAT pools and rules, kept and checked as
 * references (a rule's frontend, pool and probe are this balancer's; a
 * frontend's public address exists and is no one else's).  azlite handles no
 * traffic with them: nothing is balanced, probed or translated. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const SKUS[] = {"Basic", "Standard", "Gateway", NULL};
static const char *const METHODS[] = {"Dynamic", "Static", NULL};
static const char *const PROBE_PROTOCOLS[] = {"Tcp", "Http", "Https", NULL};
static const char *const PROTOCOLS[] = {"Tcp", "Udp", "All", NULL};
static const char *const DISTRIBUTIONS[] = {"Default", "SourceIP", "SourceIPProtocol", NULL};

/* Builds one sub-resource's properties from p; NULL after failing r. */
typedef json_t *(*lb_sub_fn)(http_req *r, const char *id, json_t *p, json_t *props);

/* obj[key] ({id}) when present: one of this balancer's props[kind]; copied
 * to out in its canonical spelling.  -1 after failing r. */
static int local_ref(http_req *r, json_t *props, const char *kind, json_t *p, const char *key,
                     const char *referrer, int required, json_t *out) {
  const char *id = network_ref_id(p, key);
  if (!id && !required) return 0;
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(props, kind), i, e) {
    const char *have = json_string_value(json_object_get(e, "id"));
    if (id && !strcasecmp(have, id)) {
      json_object_set_new(out, key, json_pack("{s:s}", "id", have));
      return 0;
    }
  }
  http_fail(r, NETWORK_ERR_INVALID_RESOURCE_REFERENCE,
            "Resource %s referenced by resource %s was not found. Please make sure that the "
            "referenced resource exists, and that both resources are in the same region.",
            id ? id : "(null)", referrer);
  return -1;
}

/* p[key] as an integer in [lo, hi] (dflt when absent and dflt >= 0). */
static int int_prop(http_req *r, json_t *p, const char *key, long lo, long hi, long dflt,
                    const char *id, json_t *out) {
  json_t *v = json_object_get(p, key);
  if ((!v || json_is_null(v)) && dflt >= 0) {
    json_object_set_new(out, key, json_integer(dflt));
    return 0;
  }
  /* ARM reads "50000" as 50000 (az's templates send port ranges as strings). */
  const char *str = json_string_value(v);
  long n = json_is_integer(v) ? (long)json_integer_value(v)
           : str && *str && strlen(str) < 12 && strspn(str, "0123456789") == strlen(str) ? atol(str)
                                                                                         : lo - 1;
  if (n < lo || n > hi) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Resource %s: property %s must be an integer from %ld to %ld.", id, key, lo, hi);
    return -1;
  }
  json_object_set_new(out, key, json_integer(n));
  return 0;
}

static json_t *frontend_build(http_req *r, const char *id, json_t *p, json_t *props) {
  (void)props;
  json_t *out = http_json_own(r, json_pack("{s:s}", "provisioningState", "Succeeded"));
  const char *pip = network_ref_id(p, "publicIPAddress");
  const char *subnet = network_ref_id(p, "subnet");
  if (!pip == !subnet) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Frontend IP configuration %s must reference either a public IP address or a "
              "subnet.",
              id);
    return NULL;
  }
  if (pip) {
    json_object_set_new(out, "publicIPAddress", json_pack("{s:s}", "id", pip));
    json_object_set_new(out, "privateIPAllocationMethod", json_string("Dynamic"));
    return json_incref(out);
  }
  const char *addr = json_string_value(json_object_get(p, "privateIPAddress"));
  const char *method =
      network_enum_prop(r, p, "privateIPAllocationMethod", METHODS, addr ? "Static" : "Dynamic");
  uint32_t a;
  if (!method) return NULL;
  if (!strcmp(method, "Static") && (!addr || network_ip_parse(addr, &a) != 0)) {
    http_fail(r, NETWORK_ERR_PRIVATE_IP_INVALID,
              "Frontend IP configuration %s has allocation method Static but no valid private "
              "IP address.",
              id);
    return NULL;
  }
  json_object_set_new(out, "subnet", json_pack("{s:s}", "id", subnet));
  json_object_set_new(out, "privateIPAllocationMethod", json_string(method));
  if (!strcmp(method, "Static")) json_object_set_new(out, "privateIPAddress", json_string(addr));
  return json_incref(out);
}

static json_t *pool_build(http_req *r, const char *id, json_t *p, json_t *props) {
  (void)r, (void)id, (void)p, (void)props;
  return json_pack("{s:s}", "provisioningState", "Succeeded");
}

static json_t *probe_build(http_req *r, const char *id, json_t *p, json_t *props) {
  (void)props;
  json_t *out = http_json_own(r, json_pack("{s:s}", "provisioningState", "Succeeded"));
  const char *proto = network_enum_prop(r, p, "protocol", PROBE_PROTOCOLS, NULL);
  if (!proto) {
    if (!http_failed(r))
      http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT, "Probe %s must have a protocol.", id);
    return NULL;
  }
  json_object_set_new(out, "protocol", json_string(proto));
  if (int_prop(r, p, "port", 1, 65535, -1, id, out) ||
      int_prop(r, p, "intervalInSeconds", 5, 2147483647, 15, id, out) ||
      int_prop(r, p, "numberOfProbes", 1, 2147483647, 2, id, out))
    return NULL;
  const char *path = json_string_value(json_object_get(p, "requestPath"));
  if (strcmp(proto, "Tcp") && !path) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT, "Probe %s of protocol %s needs a requestPath.",
              id, proto);
    return NULL;
  }
  if (path) json_object_set_new(out, "requestPath", json_string(path));
  return json_incref(out);
}

static json_t *rule_build(http_req *r, const char *id, json_t *p, json_t *props) {
  json_t *out = http_json_own(r, json_pack("{s:s}", "provisioningState", "Succeeded"));
  const char *proto = network_enum_prop(r, p, "protocol", PROTOCOLS, NULL);
  const char *dist =
      proto ? network_enum_prop(r, p, "loadDistribution", DISTRIBUTIONS, "Default") : NULL;
  if (!dist) {
    if (!http_failed(r))
      http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT, "Rule %s must have a protocol.", id);
    return NULL;
  }
  json_object_set_new(out, "protocol", json_string(proto));
  json_object_set_new(out, "loadDistribution", json_string(dist));
  json_object_set_new(out, "enableFloatingIP",
                      json_boolean(json_is_true(json_object_get(p, "enableFloatingIP"))));
  if (local_ref(r, props, "frontendIPConfigurations", p, "frontendIPConfiguration", id, 1, out) ||
      local_ref(r, props, "backendAddressPools", p, "backendAddressPool", id, 0, out) ||
      local_ref(r, props, "probes", p, "probe", id, 0, out) ||
      int_prop(r, p, "frontendPort", 0, 65534, -1, id, out) ||
      int_prop(r, p, "backendPort", 0, 65535, -1, id, out) ||
      int_prop(r, p, "idleTimeoutInMinutes", 4, 30, 4, id, out))
    return NULL;
  return json_incref(out);
}

static json_t *nat_pool_build(http_req *r, const char *id, json_t *p, json_t *props) {
  json_t *out = http_json_own(r, json_pack("{s:s}", "provisioningState", "Succeeded"));
  const char *proto = network_enum_prop(r, p, "protocol", PROTOCOLS, NULL);
  if (!proto) {
    if (!http_failed(r))
      http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT, "NAT pool %s must have a protocol.", id);
    return NULL;
  }
  json_object_set_new(out, "protocol", json_string(proto));
  if (local_ref(r, props, "frontendIPConfigurations", p, "frontendIPConfiguration", id, 1, out) ||
      int_prop(r, p, "frontendPortRangeStart", 1, 65534, -1, id, out) ||
      int_prop(r, p, "frontendPortRangeEnd", 1, 65535, -1, id, out) ||
      int_prop(r, p, "backendPort", 1, 65535, -1, id, out) ||
      int_prop(r, p, "idleTimeoutInMinutes", 4, 30, 4, id, out))
    return NULL;
  if (json_integer_value(json_object_get(out, "frontendPortRangeEnd")) <
      json_integer_value(json_object_get(out, "frontendPortRangeStart"))) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "NAT pool %s: frontendPortRangeEnd is below frontendPortRangeStart.", id);
    return NULL;
  }
  return json_incref(out);
}

static json_t *nat_rule_build(http_req *r, const char *id, json_t *p, json_t *props) {
  json_t *out = http_json_own(r, json_pack("{s:s}", "provisioningState", "Succeeded"));
  const char *proto = network_enum_prop(r, p, "protocol", PROTOCOLS, NULL);
  if (!proto) {
    if (!http_failed(r))
      http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT, "NAT rule %s must have a protocol.", id);
    return NULL;
  }
  json_object_set_new(out, "protocol", json_string(proto));
  /* A rule for one frontend port, or (a "v2" rule, as az vmss create makes for
   * a Standard balancer) for a range over a backend pool. */
  int ranged = json_object_get(p, "frontendPortRangeStart") != NULL;
  if (local_ref(r, props, "frontendIPConfigurations", p, "frontendIPConfiguration", id, 1, out) ||
      local_ref(r, props, "backendAddressPools", p, "backendAddressPool", id, 0, out) ||
      (ranged ? int_prop(r, p, "frontendPortRangeStart", 1, 65534, -1, id, out) ||
                    int_prop(r, p, "frontendPortRangeEnd", 1, 65535, -1, id, out)
              : int_prop(r, p, "frontendPort", 1, 65534, -1, id, out)) ||
      int_prop(r, p, "backendPort", 1, 65535, -1, id, out) ||
      int_prop(r, p, "idleTimeoutInMinutes", 4, 30, 4, id, out))
    return NULL;
  json_object_set_new(out, "enableFloatingIP",
                      json_boolean(json_is_true(json_object_get(p, "enableFloatingIP"))));
  return json_incref(out);
}

/* The sub-resources of one kind, in order (frontends before what names them). */
static const struct lb_kind {
  const char *kind, *type;
  lb_sub_fn build;
} KINDS[] = {
    {"frontendIPConfigurations", NETWORK_LB_TYPE "/frontendIPConfigurations", frontend_build},
    {"backendAddressPools", NETWORK_LB_TYPE "/backendAddressPools", pool_build},
    {"probes", NETWORK_LB_TYPE "/probes", probe_build},
    {"loadBalancingRules", NETWORK_LB_TYPE "/loadBalancingRules", rule_build},
    {"inboundNatPools", NETWORK_LB_TYPE "/inboundNatPools", nat_pool_build},
    {"inboundNatRules", NETWORK_LB_TYPE "/inboundNatRules", nat_rule_build},
};

static int lb_build(arm_op *op) {
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
  if (json_array_size(json_object_get(in, "outboundRules"))) {
    http_fail(r, NETWORK_ERR_NOT_SUPPORTED,
              "azlite does not support load balancers' outboundRules.");
    return -1;
  }
  json_t *props = http_json_own(r, json_object());
  for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
    json_t *list = json_object_get(in, KINDS[k].kind), *out = json_array(), *e;
    json_object_set_new(props, KINDS[k].kind, out);
    if (list && !json_is_array(list)) {
      http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
                "Cannot parse the request: properties.%s must be an array.", KINDS[k].kind);
      return -1;
    }
    size_t i;
    json_array_foreach(list, i, e) {
      const char *name = network_child_name(r, op->id, KINDS[k].kind, e, out);
      if (!name) return -1;
      const char *id = network_sub_id(r, op->id, KINDS[k].kind, name);
      json_t *p = KINDS[k].build(r, id, json_object_get(e, "properties"), props);
      if (!p) return -1;
      json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", id, "name", name, "type",
                                           KINDS[k].type, "etag", network_etag(), "properties", p));
    }
  }
  const char *guid =
      json_string_value(json_object_get(json_object_get(op->cur, "properties"), "resourceGuid"));
  char u[37];
  if (!guid) uuid_v4(u);
  json_object_set_new(props, "resourceGuid", json_string(guid ? guid : u));
  json_object_set(op->body, "properties", props);
  json_object_set_new(op->body, "sku", json_pack("{s:s,s:s}", "name", sku, "tier", "Regional"));
  json_object_set_new(op->body, "etag", network_etag());
  return 0;
}

/* Inside the saving transaction: each frontend's public address is its own,
 * a private frontend gets its address in the subnet. */
static int lb_apply(arm_op *op) {
  if (op->patch) return 0;
  http_req *r = op->r;
  srv *s = op->s;
  json_t *held = network_ips_held(s, op->id);
  int rc = network_refs_clear(s, op->id) || network_ips_release_prefix(s, op->id) ? -1 : 0;
  size_t i;
  json_t *fe;
  json_array_foreach(
      json_object_get(json_object_get(op->body, "properties"), "frontendIPConfigurations"), i, fe) {
    if (rc != 0) break;
    const char *fid = json_string_value(json_object_get(fe, "id"));
    json_t *p = json_object_get(fe, "properties");
    const char *pip_id = network_ref_id(p, "publicIPAddress");
    if (pip_id) {
      json_t *pip = network_ref_require(r, pip_id, NETWORK_PIP_TYPE, fid, op->location);
      if (!pip) {
        rc = -1;
        break;
      }
      const char *canon = json_string_value(json_object_get(pip, "id"));
      char *user = network_ref_user(s, canon, op->id);
      if (user) {
        http_fail(r, NETWORK_ERR_PUBLIC_IP_IN_USE,
                  "Public IP address %s is already in use by %s and cannot be used by %s.", canon,
                  user, fid);
        rc = -1;
      } else {
        json_object_set_new(p, "publicIPAddress", json_pack("{s:s}", "id", canon));
        rc = network_ref_add(s, op->id, fid, canon);
      }
      free(user);
      json_decref(pip);
      continue;
    }
    network_subnet sn;
    const char *sid = network_ref_id(p, "subnet");
    if (network_subnet_find(s, sid, &sn) != 0) {
      http_fail(r, NETWORK_ERR_INVALID_RESOURCE_REFERENCE,
                "Resource %s referenced by resource %s was not found. Please make sure that the "
                "referenced resource exists, and that both resources are in the same region.",
                sid, fid);
      rc = -1;
      break;
    }
    const char *want_s = json_string_value(json_object_get(p, "privateIPAddress"));
    if (!want_s) want_s = json_string_value(json_object_get(held, fid));
    uint32_t want = 0;
    if (want_s) network_ip_parse(want_s, &want);
    char got[16], taken[640] = "";
    int c = network_ip_claim(s, &sn, fid, want, got, taken, sizeof taken);
    if (c != 0 && c != -1 && !json_object_get(p, "privateIPAddress"))
      c = network_ip_claim(s, &sn, fid, 0, got, taken, sizeof taken);
    if (c != 0) {
      network_ip_claim_fail(r, c, &sn, fid, want_s, taken);
      rc = -1;
    } else {
      json_object_set_new(p, "subnet", json_pack("{s:s}", "id", sn.id));
      json_object_set_new(p, "privateIPAddress", json_string(got));
    }
    network_subnet_done(&sn);
  }
  json_decref(held);
  return rc;
}

static int lb_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  if (network_ips_release_prefix(s, id) != 0) return -1;
  return network_refs_clear(s, id);
}

const arm_type network_lb_type = {
    .type = NETWORK_LB_TYPE,
    .display = "load balancer",
    .name_valid = network_name_valid,
    .name_code = "InvalidResourceName",
    .name_message = NETWORK_NAME_MESSAGE,
    .create_status = 201,
    .build = lb_build,
    .apply = lb_apply,
    .remove = lb_remove,
    .example_name = "contract-lb",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"properties\":{\"backendAddressPools\":[{\"name\":"
                    "\"pool\"}],\"probes\":[{\"name\":\"p\",\"properties\":{\"protocol\":\"Tcp\","
                    "\"port\":22}}]}}",
};

const network_child network_nat_rule_child = {
    .parent = &network_lb_type,
    .param = "lb",
    .prop = "inboundNatRules",
};
