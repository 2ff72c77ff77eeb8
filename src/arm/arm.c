/* arm.c: the Resource Manager provider: its route table (every URL it
 * serves is listed here), cloud metadata, subscriptions, tenants, locations,
 * resource providers, and the azlite admin API (the clock). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const arm_schema[] = {
    "CREATE TABLE resource_groups("
    "  subscription TEXT NOT NULL,"
    "  name TEXT NOT NULL COLLATE NOCASE,"
    "  location TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '{}',"
    "  managed_by TEXT,"
    "  state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(subscription, name));"
    "CREATE TABLE resources("
    "  id TEXT PRIMARY KEY COLLATE NOCASE,"
    "  subscription TEXT NOT NULL,"
    "  resource_group TEXT COLLATE NOCASE,"
    "  type TEXT NOT NULL COLLATE NOCASE,"
    "  name TEXT NOT NULL,"
    "  location TEXT,"
    "  body TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  changed_ms INTEGER NOT NULL);"
    "CREATE INDEX resources_group ON resources(subscription, resource_group);"
    "CREATE TABLE provider_registrations("
    "  subscription TEXT NOT NULL,"
    "  namespace TEXT NOT NULL COLLATE NOCASE,"
    "  state TEXT NOT NULL,"
    "  PRIMARY KEY(subscription, namespace));"
    "CREATE TABLE operations("
    "  id TEXT PRIMARY KEY,"
    "  status TEXT NOT NULL,"
    "  error_code TEXT,"
    "  error_message TEXT,"
    "  start_time TEXT NOT NULL,"
    "  end_time TEXT);",
    /* Version 2: what an interrupted operation resumes at the next start (the
     * id of the resource group it deletes); NULL: it fails instead. */
    "ALTER TABLE operations ADD COLUMN resume TEXT;",
    /* Version 3: template deployments (deployments.c): the deployment's ARM
     * JSON, its template, its operations (one per resource) and whether a
     * cancel was asked. */
    "CREATE TABLE deployments("
    "  scope TEXT NOT NULL COLLATE NOCASE,"
    "  name TEXT NOT NULL COLLATE NOCASE,"
    "  state TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  template TEXT NOT NULL,"
    "  operations TEXT NOT NULL DEFAULT '[]',"
    "  cancel INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(scope, name));",
    /* Version 4: what an operation with a result answers (a VM's run
     * command: its output), JSON; NULL: none. */
    "ALTER TABLE operations ADD COLUMN result TEXT;",
};

/* ---- locations ---------------------------------------------------------- */

typedef struct region {
  const char *name, *display, *geo, *lat, *lon, *pair;
} region;

static const region regions[] = {
    {"eastus", "East US", "US", "37.3719", "-79.8164", "westus"},
    {"eastus2", "East US 2", "US", "36.6681", "-78.3889", "centralus"},
    {"westus", "West US", "US", "37.783", "-122.417", "eastus"},
    {"westus2", "West US 2", "US", "47.233", "-119.852", "westcentralus"},
    {"westus3", "West US 3", "US", "33.448376", "-112.074036", "eastus"},
    {"centralus", "Central US", "US", "41.5908", "-93.6208", "eastus2"},
    {"northcentralus", "North Central US", "US", "41.8819", "-87.6278", "southcentralus"},
    {"southcentralus", "South Central US", "US", "29.4167", "-98.5", "northcentralus"},
    {"westcentralus", "West Central US", "US", "40.89", "-110.234", "westus2"},
    {"canadacentral", "Canada Central", "Canada", "43.653", "-79.383", "canadaeast"},
    {"northeurope", "North Europe", "Europe", "53.3478", "-6.2597", "westeurope"},
    {"westeurope", "West Europe", "Europe", "52.3667", "4.9", "northeurope"},
    {"uksouth", "UK South", "UK", "50.941", "-0.799", "ukwest"},
    {"francecentral", "France Central", "Europe", "46.3772", "2.3730", "francesouth"},
    {"germanywestcentral", "Germany West Central", "Europe", "50.110924", "8.682127",
     "germanynorth"},
    {"swedencentral", "Sweden Central", "Europe", "60.67488", "17.14127", "swedensouth"},
    {"switzerlandnorth", "Switzerland North", "Europe", "47.451542", "8.564572", "switzerlandwest"},
    {"norwayeast", "Norway East", "Europe", "59.913868", "10.752245", "norwaywest"},
    {"southeastasia", "Southeast Asia", "Asia Pacific", "1.283", "103.833", "eastasia"},
    {"eastasia", "East Asia", "Asia Pacific", "22.267", "114.188", "southeastasia"},
    {"japaneast", "Japan East", "Asia Pacific", "35.68", "139.77", "japanwest"},
    {"koreacentral", "Korea Central", "Asia Pacific", "37.5665", "126.978", "koreasouth"},
    {"centralindia", "Central India", "Asia Pacific", "18.5822", "73.9197", "southindia"},
    {"australiaeast", "Australia East", "Asia Pacific", "-33.86", "151.2094", "australiasoutheast"},
    {"brazilsouth", "Brazil South", "South America", "-23.55", "-46.633", "southcentralus"},
    {"southafricanorth", "South Africa North", "Africa", "-25.73134", "28.21837",
     "southafricawest"},
    {"uaenorth", "UAE North", "Middle East", "25.266666", "55.316666", "uaecentral"},
};

int arm_location_normalize(const char *in, char out[32]) {
  char squashed[64];
  size_t n = 0;
  for (const char *p = in; *p && n < sizeof squashed - 1; p++)
    if (*p != ' ') squashed[n++] = *p;
  squashed[n] = 0;
  for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++)
    if (strcasecmp(squashed, regions[i].name) == 0) {
      snprintf(out, 32, "%s", regions[i].name);
      return 1;
    }
  return 0;
}

const char *arm_location_at(int i) {
  return i >= 0 && (size_t)i < sizeof regions / sizeof regions[0] ? regions[i].name : NULL;
}

static void arm_locations(http_req *r) {
  const char *sub = http_param(r, "sub");
  if (arm_require_subscription(r, sub) != 0) return;
  json_t *list = json_array();
  for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++) {
    const region *g = &regions[i];
    json_array_append_new(
        list,
        json_pack("{s:o,s:s,s:s,s:s,s:o,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:o}]}}", "id",
                  json_sprintf("/subscriptions/%s/locations/%s", sub, g->name), "name", g->name,
                  "type", "Region", "displayName", g->display, "regionalDisplayName",
                  json_sprintf("(%s) %s", g->geo, g->display), "metadata", "regionType", "Physical",
                  "regionCategory", i < 12 ? "Recommended" : "Other", "geographyGroup", g->geo,
                  "longitude", g->lon, "latitude", g->lat, "physicalLocation", g->display,
                  "geography", g->geo, "pairedRegion", "name", g->pair, "id",
                  json_sprintf("/subscriptions/%s/locations/%s", sub, g->pair)));
  }
  arm_reply_list(r, list);
}

/* ---- cloud metadata, subscriptions, tenants ------------------------------ */

static void arm_metadata_endpoints(http_req *r) {
  srv *s = r->srv;
  const char *api = http_query_get(r, "api-version");
  /* Azure's public management audience (identity.h's AUD_MGMT): tokens for it work too. */
  json_t *audiences =
      json_pack("[o,s]", json_sprintf("%s/", s->mgmt_url), "https://management.azure.com/");
  if (api && strcmp(api, "2019-05-01") >= 0) {
    json_t *c = json_pack(
        "{s:s,s:o,s:{s:o,s:o,s:s,s:s},s:o,s:o,s:o,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s},s:o}", "name",
        "azlite", "portal", json_sprintf("%s/portal", s->mgmt_url), "authentication",
        "loginEndpoint", json_sprintf("%s/adfs", s->mgmt_url), "audiences", audiences, "tenant",
        "adfs", "identityProvider", "ADFS", "resourceManager", json_sprintf("%s/", s->mgmt_url),
        "graph", json_sprintf("%s/graph/", s->mgmt_url), "microsoftGraphResourceId",
        json_sprintf("%s/graph/", s->mgmt_url), "media", "", "suffixes", "storage",
        "blob.localhost", "keyVaultDns", "vault.localhost", "acrLoginServer", "azurecr.localhost",
        "sqlServerHostname", "database.localhost", "azureDataLakeStoreFileSystem", "localhost",
        "azureDataLakeAnalyticsCatalogAndJob", "localhost", "gallery",
        json_sprintf("%s/gallery/", s->mgmt_url));
    http_reply_json(r, 200, json_pack("[o]", c));
    return;
  }
  http_reply_json(r, 200,
                  json_pack("{s:o,s:o,s:o,s:{s:o,s:o}}", "galleryEndpoint",
                            json_sprintf("%s/gallery/", s->mgmt_url), "graphEndpoint",
                            json_sprintf("%s/graph/", s->mgmt_url), "portalEndpoint",
                            json_sprintf("%s/portal/", s->mgmt_url), "authentication",
                            "loginEndpoint", json_sprintf("%s/adfs", s->mgmt_url), "audiences",
                            audiences));
}

static json_t *subscription_json(srv *s) {
  return json_pack("{s:o,s:s,s:s,s:s,s:s,s:s,s:[],s:{s:s,s:s,s:s}}", "id",
                   json_sprintf("/subscriptions/%s", s->subscription_id), "authorizationSource",
                   "RoleBased", "subscriptionId", s->subscription_id, "tenantId", s->tenant_id,
                   "displayName", "azlite", "state", "Enabled", "managedByTenants",
                   "subscriptionPolicies", "locationPlacementId", "Public_2014-09-01", "quotaId",
                   "PayAsYouGo_2014-09-01", "spendingLimit", "Off");
}

/* Lists the subscriptions the caller holds any role in, as Azure does. */
static void arm_subscriptions_list(http_req *r) {
  char scope[80];
  snprintf(scope, sizeof scope, "/subscriptions/%s", r->srv->subscription_id);
  json_t *list = json_array();
  if (access_any_at_or_below(r, scope)) json_array_append_new(list, subscription_json(r->srv));
  arm_reply_list(r, list);
}

static void arm_subscription_get(http_req *r) {
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  http_reply_json(r, 200, subscription_json(r->srv));
}

static void arm_tenants_list(http_req *r) {
  srv *s = r->srv;
  arm_reply_list(r, json_pack("[{s:o,s:s,s:s,s:s,s:s,s:s,s:[s],s:s,s:s}]", "id",
                              json_sprintf("/tenants/%s", s->tenant_id), "tenantId", s->tenant_id,
                              "tenantCategory", "Home", "country", "US", "countryCode", "US",
                              "displayName", "azlite", "domains", "azlite.onmicrosoft.com",
                              "defaultDomain", "azlite.onmicrosoft.com", "tenantType", "AAD"));
}

/* ---- resource providers --------------------------------------------------- */

/* Namespaces azlite knows; those without a provider yet are listed so that
 * `az provider register` works as in Azure, but they serve no resources. */
static const char *const namespaces[] = {
    "Microsoft.Resources",
    "Microsoft.Authorization",
    "Microsoft.Storage",
    "Microsoft.Compute",
    "Microsoft.Network",
    "Microsoft.ManagedIdentity",
    "Microsoft.MachineLearningServices",
    "Microsoft.ContainerRegistry",
    "Microsoft.Web",
    "Microsoft.Consumption",
    "Microsoft.CostManagement",
    "Microsoft.Insights",
    "Microsoft.KeyVault",
    "Microsoft.OperationalInsights",
};

static const char *namespace_canonical(const char *ns) {
  for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
    if (strcasecmp(ns, namespaces[i]) == 0) return namespaces[i];
  return NULL;
}

/* Does some provider declare the type, or a type below it? */
static int type_declared(const char *type) {
  size_t n = strlen(type);
  for (int i = 0; providers[i]; i++)
    for (const resource_type *t = providers[i]->resource_types; t && t->type; t++)
      if (strncasecmp(t->type, type, n) == 0 && (t->type[n] == 0 || t->type[n] == '/')) return 1;
  return 0;
}

int arm_fail_unimplemented(http_req *r) {
  char *buf = http_strdup(r, r->path), *save = NULL;
  const char *seg[3] = {NULL, NULL, NULL}, *ns = NULL, *type = NULL, *sub = NULL;
  int after = 0; /* segments after the type */
  /* The last providers/{namespace}/{type} of the path. */
  for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    seg[0] = seg[1];
    seg[1] = seg[2];
    seg[2] = t;
    if (seg[0] && strcasecmp(seg[0], "providers") == 0) {
      ns = seg[1];
      type = seg[2];
      after = 0;
    } else if (type && ++after == 2) {
      sub = t;
    }
  }
  const char *canon = ns ? namespace_canonical(ns) : NULL;
  if (!canon) return 0;
  /* locations/{location}/{what} is its own type (Microsoft.Compute/locations/runCommands):
   * a namespace that serves some location paths does not serve them all. */
  char *full = sub && strcasecmp(type, "locations") == 0
                   ? http_printf(r, "%s/%s/%s", canon, type, sub)
                   : http_printf(r, "%s/%s", canon, type);
  if (type_declared(full)) return 0;
  http_fail(r, ARM_ERR_NOT_IMPLEMENTED,
            "azlite does not implement %s yet. It serves Microsoft.Resources (groups and "
            "template deployments), Microsoft.Authorization role assignments and definitions, "
            "Microsoft.ManagedIdentity/userAssignedIdentities, Microsoft.Storage accounts and "
            "Microsoft.Compute's catalog (sizes, SKUs, images, usages).",
            full);
  return 1;
}

static const char *registration_state(srv *s, const char *ns) {
  if (strcasecmp(ns, "Microsoft.Resources") == 0 || strcasecmp(ns, "Microsoft.Authorization") == 0)
    return "Registered";
  sqlite3_stmt *st;
  const char *state = "NotRegistered";
  if (store_prepare(store_db(s),
                    "SELECT state FROM provider_registrations WHERE subscription=? AND "
                    "namespace=?",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, s->subscription_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(st, 0), "Registered") == 0)
      state = "Registered";
    store_finalize(st);
  }
  return state;
}

static json_t *provider_json(srv *s, const char *ns) {
  json_t *types = json_array();
  json_t *locs = json_array();
  for (size_t i = 0; i < sizeof regions / sizeof regions[0]; i++)
    json_array_append_new(locs, json_string(regions[i].display));
  size_t nl = strlen(ns);
  for (int i = 0; providers[i]; i++)
    for (const resource_type *rt = providers[i]->resource_types; rt && rt->type; rt++) {
      const char *t = rt->type;
      if (strncasecmp(t, ns, nl) != 0 || t[nl] != '/') continue;
      json_t *apis = json_array();
      for (const char *const *v = rt->api_versions; v && *v; v++)
        json_array_append_new(apis, json_string(*v));
      json_array_append_new(types,
                            json_pack("{s:s,s:O,s:o,s:s}", "resourceType", t + nl + 1, "locations",
                                      locs, "apiVersions", apis, "capabilities", "None"));
    }
  json_decref(locs);
  return json_pack("{s:o,s:s,s:s,s:s,s:o}", "id",
                   json_sprintf("/subscriptions/%s/providers/%s", s->subscription_id, ns),
                   "namespace", ns, "registrationState", registration_state(s, ns),
                   "registrationPolicy", "RegistrationRequired", "resourceTypes", types);
}

static void arm_providers_list(http_req *r) {
  if (http_param(r, "sub") && arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  json_t *list = json_array();
  for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++)
    json_array_append_new(list, provider_json(r->srv, namespaces[i]));
  arm_reply_list(r, list);
}

static const char *namespace_or_fail(http_req *r) {
  const char *ns = namespace_canonical(http_param(r, "ns"));
  if (!ns)
    http_fail(r, ARM_ERR_INVALID_RESOURCE_NAMESPACE, "The resource namespace '%s' is invalid.",
              http_param(r, "ns"));
  return ns;
}

static void arm_provider_get(http_req *r) {
  if (http_param(r, "sub") && arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  const char *ns = namespace_or_fail(r);
  if (ns) http_reply_json(r, 200, provider_json(r->srv, ns));
}

static void provider_set_state(http_req *r, const char *state) {
  srv *s = r->srv;
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  const char *ns = namespace_or_fail(r);
  if (!ns) return;
  if (store_exec(s,
                 "INSERT INTO provider_registrations(subscription,namespace,state) "
                 "VALUES(%Q,%Q,%Q) ON CONFLICT(subscription,namespace) DO UPDATE SET "
                 "state=excluded.state",
                 s->subscription_id, ns, state) != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The registration could not be saved.");
    return;
  }
  http_reply_json(r, 200, provider_json(s, ns));
}

static void arm_provider_register(http_req *r) {
  provider_set_state(r, "Registered");
}

static void arm_provider_unregister(http_req *r) {
  provider_set_state(r, "NotRegistered");
}

/* ---- the azlite admin API -------------------------------------------------- */

static json_t *clock_json(srv *s) {
  char iso[40];
  int64_t now = clock_now_ms(s);
  clock_iso8601(now, iso);
  return json_pack("{s:s,s:I,s:I}", "now", iso, "nowMs", (json_int_t)now, "offsetMs",
                   (json_int_t)s->clock_offset_ms);
}

static void admin_clock_get(http_req *r) {
  http_reply_json(r, 200, clock_json(r->srv));
}

static void admin_clock_advance(http_req *r) {
  json_t *body = http_body_json(r);
  if (!body) return;
  const char *d = json_string_value(json_object_get(body, "duration"));
  int64_t ms = d ? clock_parse_duration(d) : -1;
  if (ms < 0)
    http_fail(r, ARM_ERR_INVALID_DURATION,
              "'duration' must be a non-negative duration such as \"30d\", \"12h\", \"90m\", "
              "\"45s\" or \"1500ms\".");
  else if ((ms = clock_advance(r->srv, ms)) == -2)
    http_fail(r, ARM_ERR_INVALID_DURATION,
              "'%s' would move the clock past 9999-12-31T23:59:59Z, the last time azlite "
              "can represent.",
              d);
  else if (ms != 0)
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The clock could not be advanced.");
  else {
    /* Answer once the work the new time calls for (lifecycle rules, rehydration)
     * has run, so a client that advances and then looks sees its effect. */
    if (sched_wake_and_wait(r->srv, 60000) != 0)
      log_warn("clock: the scheduler did not finish a pass within 60 s of an advance");
    http_reply_json(r, 200, clock_json(r->srv));
  }
  json_decref(body);
}

/* The types the generic resource layer serves, with what the ARM contract
 * test (tests/e2e/arm/test_contract.py) needs to drive each one: declaring a
 * type puts it under that test. */
static void admin_resource_types(http_req *r) {
  json_t *list = json_array();
  for (int i = 0; providers[i]; i++)
    for (const resource_type *rt = providers[i]->resource_types; rt && rt->type; rt++) {
      const arm_type *t = rt->generic;
      if (!t) continue;
      json_t *example = t->example_body ? json_loads(t->example_body, 0, NULL) : NULL;
      json_t *setup = t->example_setup ? json_loads(t->example_setup, 0, NULL) : NULL;
      json_array_append_new(
          list,
          json_pack("{s:s,s:s,s:i,s:s,s:s,s:s*,s:s*,s:o,s:o,s:b,s:s*}", "type", rt->type,
                    "apiVersion", rt->api_versions[0], "createStatus",
                    t->create_status ? t->create_status : 201, "createState",
                    t->finish && t->create_state ? t->create_state : "Succeeded", "nameCode",
                    t->name_code ? t->name_code : "InvalidResourceName", "exampleName",
                    t->example_name, "exampleBadName", t->example_bad_name, "example",
                    example ? example : json_null(), "exampleSetup", setup ? setup : json_array(),
                    "identity", t->identity, "fixedLocation", t->fixed_location));
    }
  arm_reply_list(r, list);
}

/* ---- the route table ----------------------------------------------------- */

#define ARM(m, p, f)                                                                               \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM                                                                          \
  }
/* Tenant-level lists: any signed-in caller; the handler shows what it may see. */
#define ARM_ANY(m, p, f)                                                                           \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .action = ""                                                            \
  }
#define SUB "/subscriptions/{sub}"
#define RG SUB "/resourceGroups/{rg}"
/* Template deployments at a scope (deployments.c). */
#define DEPLOYMENTS(scope)                                                                         \
  ARM("GET", scope "/providers/Microsoft.Resources/deployments", arm_deployment_list),             \
      ARM("PUT", scope "/providers/Microsoft.Resources/deployments/{name}", arm_deployment_put),   \
      ARM("GET", scope "/providers/Microsoft.Resources/deployments/{name}", arm_deployment_get),   \
      ARM("HEAD", scope "/providers/Microsoft.Resources/deployments/{name}", arm_deployment_head), \
      ARM("DELETE", scope "/providers/Microsoft.Resources/deployments/{name}",                     \
          arm_deployment_delete),                                                                  \
      ARM("POST", scope "/providers/Microsoft.Resources/deployments/{name}/cancel",                \
          arm_deployment_cancel),                                                                  \
      ARM("POST", scope "/providers/Microsoft.Resources/deployments/{name}/validate",              \
          arm_deployment_validate),                                                                \
      ARM("POST", scope "/providers/Microsoft.Resources/deployments/{name}/whatIf",                \
          arm_deployment_what_if),                                                                 \
      ARM("POST", scope "/providers/Microsoft.Resources/deployments/{name}/exportTemplate",        \
          arm_deployment_export),                                                                  \
      ARM("GET", scope "/providers/Microsoft.Resources/deployments/{name}/operations",             \
          arm_deployment_operations),                                                              \
      ARM("GET", scope "/providers/Microsoft.Resources/deployments/{name}/operations/{op}",        \
          arm_deployment_operation_get),                                                           \
      ARM("GET", scope "/providers/Microsoft.Resources/deployments/{name}/operationStatuses/{id}", \
          arm_operation_status)

static const route arm_routes[] = {
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/metadata/endpoints",
     .fn = arm_metadata_endpoints,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    ARM_ANY("GET", "/subscriptions", arm_subscriptions_list),
    ARM("GET", SUB, arm_subscription_get),
    ARM_ANY("GET", "/tenants", arm_tenants_list),
    ARM("GET", SUB "/locations", arm_locations),
    ARM_ANY("GET", "/providers", arm_providers_list),
    ARM_ANY("GET", "/providers/{ns}", arm_provider_get),
    ARM("GET", SUB "/providers", arm_providers_list),
    ARM("GET", SUB "/providers/{ns}", arm_provider_get),
    ARM("POST", SUB "/providers/{ns}/register", arm_provider_register),
    ARM("POST", SUB "/providers/{ns}/unregister", arm_provider_unregister),
    ARM_ANY("GET", SUB "/resourcegroups", arm_group_list),
    ARM("PUT", RG, arm_group_put),
    ARM("GET", RG, arm_group_get),
    ARM("HEAD", RG, arm_group_head),
    ARM("PATCH", RG, arm_group_patch),
    ARM("DELETE", RG, arm_group_delete),
    ARM_ANY("GET", SUB "/resources", arm_resources_list),
    ARM_ANY("GET", RG "/resources", arm_resources_list),
    ARM("GET", SUB "/providers/Microsoft.Resources/operationStatuses/{id}", arm_operation_status),
    ARM("GET", SUB "/operationresults/{id}", arm_operation_result),
    DEPLOYMENTS(RG),
    DEPLOYMENTS(SUB),
    /* The group's deployment operations have a path of their own (without
     * providers/Microsoft.Resources), as in Azure's spec. */
    ARM("GET", RG "/deployments/{name}/operations", arm_deployment_operations),
    ARM("GET", RG "/deployments/{name}/operations/{op}", arm_deployment_operation_get),
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/clock",
     .fn = admin_clock_get,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/resourceTypes",
     .fn = admin_resource_types,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},
    {.listener = LISTEN_MGMT,
     .method = "POST",
     .pattern = "/azlite/clock/advance",
     .fn = admin_clock_advance,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},
};

static int arm_init(srv *s) {
  arm_state *a = calloc(1, sizeof *a);
  if (!a) return -1;
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  *srv_provider_state(s, &arm_provider) = a;
  if (s->serving) {
    arm_lro_recover(s);
    arm_deployments_recover(s);
  }
  return 0;
}

/* Runs after the listeners stopped: no operation starts any more. */
static void arm_fini(srv *s) {
  arm_state *a = *srv_provider_state(s, &arm_provider);
  if (!a) return;
  arm_lro_wait_all(s, 60);
  if (a->lro_running > 0) return; /* leave it to the process exit rather than free it */
  pthread_mutex_destroy(&a->mu);
  pthread_cond_destroy(&a->cv);
  free(a);
  *srv_provider_state(s, &arm_provider) = NULL;
}

/* The versions Azure's Microsoft.Resources takes (resources and subscriptions
 * specs), which cover what az 2.45 (latest and 2020-09-01-hybrid profiles) and
 * the Python SDKs send.  One list for all of ARM's own types. */
static const char *const arm_api_versions[] = {
    "2024-11-01",         "2024-07-01", "2024-03-01", "2023-07-01", "2022-12-01", "2022-09-01",
    "2022-06-01",         "2022-05-01", "2022-01-01", "2021-05-01", "2021-04-01", "2021-01-01",
    "2020-10-01",         "2020-09-01", "2020-08-01", "2020-07-01", "2020-06-01", "2020-05-01",
    "2020-01-01",         "2019-11-01", "2019-10-01", "2019-09-01", "2019-08-01", "2019-07-01",
    "2019-06-01",         "2019-05-10", "2019-05-01", "2019-03-01", "2018-11-01", "2018-09-01",
    "2018-08-01",         "2018-07-01", "2018-06-01", "2018-05-01", "2018-02-01", "2018-01-01",
    "2017-12-01",         "2017-08-01", "2017-06-01", "2017-05-10", "2017-05-01", "2017-03-01",
    "2016-09-01",         "2016-07-01", "2016-06-01", "2016-02-01", "2015-11-01", "2015-01-01",
    "2014-04-01-preview", "2014-04-01", "2014-01-01", NULL};

#define ARM_TYPE(t)                                                                                \
  { .type = "Microsoft.Resources/" t, .api_versions = arm_api_versions }
static const resource_type arm_types[] = {
    ARM_TYPE("tenants"),     ARM_TYPE("subscriptions"),    ARM_TYPE("locations"),
    ARM_TYPE("providers"),   ARM_TYPE("resourceGroups"),   ARM_TYPE("resources"),
    ARM_TYPE("deployments"), ARM_TYPE("operationresults"), ARM_TYPE("operationStatuses"),
    {.type = NULL},
};

/* ARM's front door, before authentication (as in Azure, a request without a
 * usable api-version is refused whoever sends it). */
static int arm_access(http_req *r, const route *rt) {
  if (rt->auth != AUTH_ARM) return 0;
  if (!http_query_get(r, "api-version")) {
    http_fail(r, ARM_ERR_MISSING_API_VERSION_PARAMETER,
              "The api-version query parameter (?api-version=) is required for all requests.");
    return -1;
  }
  return arm_api_version_check(r);
}

const provider arm_provider = {
    .name = "Microsoft.Resources",
    .routes = arm_routes,
    .nroutes = sizeof arm_routes / sizeof arm_routes[0],
    .schema = {arm_schema, sizeof arm_schema / sizeof arm_schema[0]},
    .resource_types = arm_types,
    .init = arm_init,
    .tick = arm_lro_tick,
    .fini = arm_fini,
    .access = arm_access,
    .unrouted = arm_fail_unimplemented,
    .resource_deleted = arm_deployments_resource_deleted,
};
