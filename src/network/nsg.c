/* nsg.c: Microsoft.Network/networkSecurityGroups with their securityRules
 * (inline, or one at a time through child.c's .../securityRules/{name}) and
 * Azure's six default rules, which every group shows and none can change.
 * The rules are kept and shown; azlite filters no traffic with them.
 * A group in use by an interface or a subnet (network_refs) cannot be
 * deleted. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define RULE_TYPE NETWORK_NSG_TYPE "/securityRules"
#define DEFAULT_RULE_TYPE NETWORK_NSG_TYPE "/defaultSecurityRules"
#define MAX_RULES 1000

static const char *const PROTOCOLS[] = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*", NULL};
static const char *const ACCESS[] = {"Allow", "Deny", NULL};
static const char *const DIRECTIONS[] = {"Inbound", "Outbound", NULL};

/* Azure's defaults, as every security group lists them. */
static const struct default_rule {
  const char *name, *description, *source, *destination, *access, *direction;
  int priority;
} DEFAULT_RULES[] = {
    {"AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork",
     "VirtualNetwork", "Allow", "Inbound", 65000},
    {"AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer",
     "AzureLoadBalancer", "*", "Allow", "Inbound", 65001},
    {"DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", "Inbound", 65500},
    {"AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET",
     "VirtualNetwork", "VirtualNetwork", "Allow", "Outbound", 65000},
    {"AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*", "Internet",
     "Allow", "Outbound", 65001},
    {"DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", "Outbound", 65500},
};

static json_t *default_rules(const char *nsg_id) {
  json_t *out = json_array();
  for (size_t i = 0; i < sizeof DEFAULT_RULES / sizeof DEFAULT_RULES[0]; i++) {
    const struct default_rule *d = &DEFAULT_RULES[i];
    json_array_append_new(
        out,
        json_pack("{s:o,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:[],s:[],s:[],"
                  "s:[],s:s}}",
                  "id", json_sprintf("%s/defaultSecurityRules/%s", nsg_id, d->name), "name",
                  d->name, "type", DEFAULT_RULE_TYPE, "etag",
                  "W/\"00000000-0000-0000-0000-000000000000\"", "properties", "description",
                  d->description, "protocol", "*", "sourcePortRange", "*", "destinationPortRange",
                  "*", "sourceAddressPrefix", d->source, "destinationAddressPrefix", d->destination,
                  "access", d->access, "priority", d->priority, "direction", d->direction,
                  "sourcePortRanges", "destinationPortRanges", "sourceAddressPrefixes",
                  "destinationAddressPrefixes", "provisioningState", "Succeeded"));
  }
  return out;
}

/* A rule's port range or address prefix pair: the single form or the list
 * form, copied when given as a string / an array of strings. */
static int copy_pair(http_req *r, json_t *in, json_t *out, const char *one, const char *many,
                     const char *rule) {
  json_t *a = json_object_get(in, one), *b = json_object_get(in, many);
  if ((a && !json_is_null(a) && !json_is_string(a)) ||
      (b && !json_is_null(b) && !json_is_array(b))) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Cannot parse the request: security rule %s has an invalid %s or %s.", rule, one,
              many);
    return -1;
  }
  if (json_is_string(a)) json_object_set(out, one, a);
  json_object_set_new(out, many, json_is_array(b) ? json_deep_copy(b) : json_array());
  if (!json_is_string(a) && json_array_size(b) == 0) {
    http_fail(r, NETWORK_ERR_SECURITY_RULE_INVALID_PARAMETER,
              "Security rule %s has neither %s nor %s.", rule, one, many);
    return -1;
  }
  return 0;
}

static json_t *rule_build(http_req *r, const char *nsg_id, json_t *e) {
  const char *name = json_string_value(json_object_get(e, "name"));
  if (!json_is_object(e) || !name || !network_name_valid(name)) {
    http_fail(r, NETWORK_ERR_INVALID_RESOURCE_NAME, NETWORK_NAME_MESSAGE, name ? name : "(null)");
    return NULL;
  }
  const char *id = network_sub_id(r, nsg_id, "securityRules", name);
  json_t *p = json_object_get(e, "properties");
  const char *proto = network_enum_prop(r, p, "protocol", PROTOCOLS, NULL);
  const char *access = proto ? network_enum_prop(r, p, "access", ACCESS, NULL) : NULL;
  const char *dir = access ? network_enum_prop(r, p, "direction", DIRECTIONS, NULL) : NULL;
  if (!dir) {
    if (!http_failed(r))
      http_fail(r, NETWORK_ERR_SECURITY_RULE_INVALID_PARAMETER,
                "Security rule %s must have protocol, access and direction.", name);
    return NULL;
  }
  json_t *prio = json_object_get(p, "priority");
  json_int_t pr = json_integer_value(prio);
  if (!json_is_integer(prio) || pr < 100 || pr > 4096) {
    http_fail(r, NETWORK_ERR_SECURITY_RULE_INVALID_PRIORITY,
              "Security rule %s has invalid Priority. Value provided: %lld Allowed range 100-4096.",
              id, (long long)pr);
    return NULL;
  }
  json_t *out = http_json_own(r, json_pack("{s:s,s:s,s:s,s:I,s:s}", "protocol", proto, "access",
                                           access, "direction", dir, "priority", pr,
                                           "provisioningState", "Succeeded"));
  const char *desc = json_string_value(json_object_get(p, "description"));
  if (desc) json_object_set_new(out, "description", json_string(desc));
  if (copy_pair(r, p, out, "sourcePortRange", "sourcePortRanges", name) ||
      copy_pair(r, p, out, "destinationPortRange", "destinationPortRanges", name) ||
      copy_pair(r, p, out, "sourceAddressPrefix", "sourceAddressPrefixes", name) ||
      copy_pair(r, p, out, "destinationAddressPrefix", "destinationAddressPrefixes", name))
    return NULL;
  return json_pack("{s:s,s:s,s:s,s:o,s:O}", "id", id, "name", name, "type", RULE_TYPE, "etag",
                   network_etag(), "properties", out);
}

static int nsg_build(arm_op *op) {
  if (op->patch) return 0;
  http_req *r = op->r;
  json_t *in = json_object_get(op->in, "properties");
  json_t *rules_in = json_object_get(in, "securityRules");
  if ((in && !json_is_object(in)) || (rules_in && !json_is_array(rules_in))) {
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Cannot parse the request: properties.securityRules must be an array.");
    return -1;
  }
  json_t *rules = http_json_own(r, json_array());
  size_t i, j;
  json_t *e, *d;
  json_array_foreach(rules_in, i, e) {
    if (i == MAX_RULES) break;
    json_t *rule = rule_build(r, op->id, e);
    if (!rule) return -1;
    json_t *rp = json_object_get(rule, "properties");
    json_array_foreach(rules, j, d) {
      json_t *dp = json_object_get(d, "properties");
      const char *dn = json_string_value(json_object_get(d, "name"));
      const char *rn = json_string_value(json_object_get(rule, "name"));
      if (!strcasecmp(dn, rn)) {
        http_fail(r, NETWORK_ERR_DUPLICATE_RESOURCE_NAME,
                  "Resource %s has two security rules with the same name (%s).", op->id, rn);
        json_decref(rule);
        return -1;
      }
      if (json_integer_value(json_object_get(dp, "priority")) ==
              json_integer_value(json_object_get(rp, "priority")) &&
          !strcmp(json_string_value(json_object_get(dp, "direction")),
                  json_string_value(json_object_get(rp, "direction")))) {
        http_fail(r, NETWORK_ERR_SECURITY_RULE_CONFLICT,
                  "Security rule %s conflicts with rule %s. Rules cannot have the same Priority "
                  "and Direction. To learn more, see aka.ms/nsgrules.",
                  rn, dn);
        json_decref(rule);
        return -1;
      }
    }
    json_array_append_new(rules, rule);
  }
  const char *guid =
      json_string_value(json_object_get(json_object_get(op->cur, "properties"), "resourceGuid"));
  char u[37];
  if (!guid) uuid_v4(u);
  json_object_set_new(op->body, "properties",
                      json_pack("{s:O,s:o,s:s}", "securityRules", rules, "defaultSecurityRules",
                                default_rules(op->id), "resourceGuid", guid ? guid : u));
  json_object_set_new(op->body, "etag", network_etag());
  return 0;
}

static int nsg_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  return network_refs_clear(s, id);
}

static int nsg_delete_check(http_req *r, json_t *body) {
  const char *id = json_string_value(json_object_get(body, "id"));
  char *user = network_ref_user(r->srv, id, NULL);
  if (!user) return 0;
  http_fail(r, NETWORK_ERR_NSG_IN_USE,
            "Network security group %s cannot be deleted because it is in use by the following "
            "resources: %s. In order to delete the Network security group, remove the "
            "association with the resource(s).",
            id, user);
  free(user);
  return -1;
}

/* The interfaces and subnets that use the group. */
static json_t *nsg_render(http_req *r, json_t *body) {
  srv *s = r->srv;
  json_t *p = json_object_get(body, "properties");
  const char *id = json_string_value(json_object_get(body, "id"));
  json_t *nics = network_ref_users(s, id, "/networkInterfaces/");
  json_t *subnets = network_ref_users(s, id, "/subnets/");
  if (json_array_size(nics)) json_object_set(p, "networkInterfaces", nics);
  if (json_array_size(subnets)) json_object_set(p, "subnets", subnets);
  json_decref(nics);
  json_decref(subnets);
  return body;
}

const arm_type network_nsg_type = {
    .type = NETWORK_NSG_TYPE,
    .display = "network security group",
    .name_valid = network_name_valid,
    .name_code = "InvalidResourceName",
    .name_message = NETWORK_NAME_MESSAGE,
    .create_status = 201,
    .build = nsg_build,
    .remove = nsg_remove,
    .render = nsg_render,
    .delete_check = nsg_delete_check,
    .example_name = "contract-nsg",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"properties\":{\"securityRules\":[{\"name\":"
                    "\"ssh\",\"properties\":{\"protocol\":\"Tcp\",\"access\":\"Allow\","
                    "\"direction\":\"Inbound\",\"priority\":1000,\"sourcePortRange\":\"*\","
                    "\"destinationPortRange\":\"22\",\"sourceAddressPrefix\":\"*\","
                    "\"destinationAddressPrefix\":\"*\"}}]}}",
};

const network_child network_rule_child = {
    .parent = &network_nsg_type,
    .param = "nsg",
    .prop = "securityRules",
};
