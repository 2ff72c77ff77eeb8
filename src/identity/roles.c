/* roles.c: role definitions.  The built-in catalogue (Azure's GUIDs, names and
 * permissions, as of the 2022-04-01 API) is data in this file; custom roles
 * live in the `role_definitions` table.  Serves
 * /{scope}/providers/Microsoft.Authorization/roleDefinitions[/{id}]. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../arm/arm.h"
#include "internal.h"

typedef struct role_builtin {
  const char *id;
  const char *name;
  const char *description;
  const char *const *actions; /* NULL-terminated; NULL = none */
  const char *const *not_actions;
  const char *const *data_actions;
  const char *const *not_data_actions;
} role_builtin;

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define BLOBS "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
#define CONTAINERS "Microsoft.Storage/storageAccounts/blobServices/containers"
#define DELEGATION_KEY                                                                             \
  "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"
#define WORKSPACES "Microsoft.MachineLearningServices/workspaces"

static const role_builtin builtin_roles[] = {
    {ROLE_OWNER, "Owner",
     "Grants full access to manage all resources, including the ability to assign roles in "
     "Azure RBAC.",
     L("*"), NULL, NULL, NULL},
    {ROLE_CONTRIBUTOR, "Contributor",
     "Grants full access to manage all resources, but does not allow you to assign roles in "
     "Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
     L("*"),
     L("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
       "Microsoft.Authorization/elevateAccess/Action",
       "Microsoft.Blueprint/blueprintAssignments/write",
       "Microsoft.Blueprint/blueprintAssignments/delete",
       "Microsoft.Compute/galleries/share/action"),
     NULL, NULL},
    {ROLE_READER, "Reader", "View all resources, but does not allow you to make any changes.",
     L("*/read"), NULL, NULL, NULL},
    {"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator",
     "Lets you manage user access to Azure resources.",
     L("*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"), NULL, NULL, NULL},
    {"b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Storage Blob Data Owner",
     "Allows for full access to Azure Storage blob containers and data, including assigning "
     "POSIX access control.",
     L(CONTAINERS "/*", DELEGATION_KEY), NULL, L(BLOBS "/*"), NULL},
    {"ba92f5b4-2d11-453d-a403-e96b0029c9fe", "Storage Blob Data Contributor",
     "Allows for read, write and delete access to Azure Storage blob containers and data",
     L(CONTAINERS "/delete", CONTAINERS "/read", CONTAINERS "/write", DELEGATION_KEY), NULL,
     L(BLOBS "/delete", BLOBS "/read", BLOBS "/write", BLOBS "/move/action", BLOBS "/add/action"),
     NULL},
    {"2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "Storage Blob Data Reader",
     "Allows for read access to Azure Storage blob containers and data",
     L(CONTAINERS "/read", DELEGATION_KEY), NULL, L(BLOBS "/read"), NULL},
    {"db58b8e5-c6ad-4a2a-8342-4190687cbf4a", "Storage Blob Delegator",
     "Allows for generation of a user delegation key which can be used to sign SAS tokens",
     L(DELEGATION_KEY), NULL, NULL, NULL},
    {"17d1049b-9a84-46fb-8f53-869881c3d3ab", "Storage Account Contributor",
     "Permits management of storage accounts. Provides access to the account key, which can be "
     "used to access data via Shared Key authorization.",
     L("Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*",
       "Microsoft.Insights/diagnosticSettings/*",
       "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
       "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
       "Microsoft.Resources/subscriptions/resourceGroups/read",
       "Microsoft.Storage/storageAccounts/*", "Microsoft.Support/*"),
     NULL, NULL, NULL},
    {"9980e02c-c2be-4d73-94e8-173b1dc7cf3c", "Virtual Machine Contributor",
     "Lets you manage virtual machines, but not access to them, and not the virtual network or "
     "storage account they're connected to.",
     L("Microsoft.Authorization/*/read", "Microsoft.Compute/availabilitySets/*",
       "Microsoft.Compute/locations/*", "Microsoft.Compute/virtualMachines/*",
       "Microsoft.Compute/virtualMachineScaleSets/*", "Microsoft.Compute/disks/write",
       "Microsoft.Compute/disks/read", "Microsoft.Compute/disks/delete",
       "Microsoft.DevTestLab/schedules/*", "Microsoft.Insights/alertRules/*",
       "Microsoft.Network/applicationGateways/backendAddressPools/join/action",
       "Microsoft.Network/loadBalancers/backendAddressPools/join/action",
       "Microsoft.Network/loadBalancers/inboundNatPools/join/action",
       "Microsoft.Network/loadBalancers/inboundNatRules/join/action",
       "Microsoft.Network/loadBalancers/probes/join/action", "Microsoft.Network/loadBalancers/read",
       "Microsoft.Network/locations/*", "Microsoft.Network/networkInterfaces/*",
       "Microsoft.Network/networkSecurityGroups/join/action",
       "Microsoft.Network/networkSecurityGroups/read",
       "Microsoft.Network/publicIPAddresses/join/action",
       "Microsoft.Network/publicIPAddresses/read", "Microsoft.Network/virtualNetworks/read",
       "Microsoft.Network/virtualNetworks/subnets/join/action",
       "Microsoft.RecoveryServices/locations/*",
       "Microsoft.RecoveryServices/Vaults/backupFabrics/backupProtectionIntent/write",
       "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/*/read",
       "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
       "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/write",
       "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
       "Microsoft.RecoveryServices/Vaults/backupPolicies/write",
       "Microsoft.RecoveryServices/Vaults/read", "Microsoft.RecoveryServices/Vaults/usages/read",
       "Microsoft.RecoveryServices/Vaults/write",
       "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
       "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.SqlVirtualMachine/*",
       "Microsoft.Storage/storageAccounts/listKeys/action",
       "Microsoft.Storage/storageAccounts/read", "Microsoft.Support/*"),
     NULL, NULL, NULL},
    {"f6c7c914-8db3-469d-8ca1-694a8f32e121", "AzureML Data Scientist",
     "Can perform all actions within an Azure Machine Learning workspace, except for creating or "
     "deleting compute resources and modifying the workspace itself.",
     L(WORKSPACES "/*/read", WORKSPACES "/*/action", WORKSPACES "/*/delete", WORKSPACES "/*/write"),
     L(WORKSPACES "/delete", WORKSPACES "/write", WORKSPACES "/computes/*/write",
       WORKSPACES "/computes/*/delete", WORKSPACES "/computes/listKeys/action",
       WORKSPACES "/listKeys/action", WORKSPACES "/hubs/write", WORKSPACES "/hubs/delete",
       WORKSPACES "/featurestores/write", WORKSPACES "/featurestores/delete"),
     NULL, NULL},
    {"e503ece1-11d0-4e8e-8e2c-7a6c3bf38815", "AzureML Compute Operator",
     "Can access and perform CRUD operations on Machine Learning Services managed compute "
     "resources (including Notebook VMs).",
     L(WORKSPACES "/computes/*", WORKSPACES "/notebooks/vm/*"), NULL, NULL, NULL},
    {"72fafb9e-0641-4937-9268-a91bfd8191a3", "Cost Management Reader",
     "Can view cost data and configuration (e.g. budgets, exports)",
     L("Microsoft.Consumption/*/read", "Microsoft.CostManagement/*/read",
       "Microsoft.Billing/billingPeriods/read", "Microsoft.Resources/subscriptions/read",
       "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*",
       "Microsoft.Advisor/configurations/read", "Microsoft.Advisor/recommendations/read",
       "Microsoft.Management/managementGroups/read", "Microsoft.Billing/billingProperty/read"),
     NULL, NULL, NULL},
    {"434105ed-43f6-45c7-a02f-909b2ba83430", "Cost Management Contributor",
     "Can view costs and manage cost configuration (e.g. budgets, exports)",
     L("Microsoft.Consumption/*", "Microsoft.CostManagement/*",
       "Microsoft.Billing/billingPeriods/read", "Microsoft.Resources/subscriptions/read",
       "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Support/*",
       "Microsoft.Advisor/configurations/read", "Microsoft.Advisor/recommendations/read",
       "Microsoft.Management/managementGroups/read", "Microsoft.Billing/billingProperty/read"),
     NULL, NULL, NULL},
    {"f1a07417-d97a-45cb-824c-7a7467783830", "Managed Identity Operator",
     "Read and Assign User Assigned Identity",
     L(UAI_TYPE "/*/read", UAI_TYPE "/*/assign/action", "Microsoft.Authorization/*/read",
       "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
       "Microsoft.Resources/deployments/*", "Microsoft.Support/*"),
     NULL, NULL, NULL},
    {"e40ec5ca-96e0-45a2-b4ff-59039f2c2b59", "Managed Identity Contributor",
     "Create, Read, Update, and Delete User Assigned Identity",
     L(UAI_TYPE "/read", UAI_TYPE "/write", UAI_TYPE "/delete",
       UAI_TYPE "/federatedIdentityCredentials/read",
       UAI_TYPE "/federatedIdentityCredentials/write",
       UAI_TYPE "/federatedIdentityCredentials/delete", UAI_TYPE "/revokeTokens/action",
       "Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*",
       "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Resources/deployments/*",
       "Microsoft.Support/*"),
     NULL, NULL, NULL},
};

#define NBUILTIN (sizeof builtin_roles / sizeof builtin_roles[0])

const char *const authz_definition_api_versions[] = {AUTHZ_API_VERSIONS, "2022-05-01-preview",
                                                     NULL};

static const role_builtin *builtin_find(const char *id) {
  for (size_t i = 0; i < NBUILTIN; i++)
    if (strcasecmp(builtin_roles[i].id, id) == 0) return &builtin_roles[i];
  return NULL;
}

static int list_matches(const char *const *pats, const char *action) {
  for (int i = 0; pats && pats[i]; i++)
    if (authz_action_match(pats[i], action)) return 1;
  return 0;
}

static int json_list_matches(json_t *pats, const char *action) {
  size_t i;
  json_t *v;
  json_array_foreach(pats, i, v) if (json_is_string(v) &&
                                     authz_action_match(json_string_value(v), action)) return 1;
  return 0;
}

static json_t *custom_load_column(srv *s, const char *id, const char *col) {
  sqlite3_stmt *st;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT %s FROM role_definitions WHERE id=?", col);
  json_t *j = NULL;
  if (store_prepare(store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return NULL;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW)
    j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
  store_finalize(st);
  return j;
}

int identity_role_grants(srv *s, const char *role_id, const char *action, int data) {
  const role_builtin *b = builtin_find(role_id);
  if (b)
    return data
               ? list_matches(b->data_actions, action) && !list_matches(b->not_data_actions, action)
               : list_matches(b->actions, action) && !list_matches(b->not_actions, action);
  json_t *perms = custom_load_column(s, role_id, "permissions");
  int ok = 0;
  size_t i;
  json_t *blk;
  json_array_foreach(perms, i, blk) {
    json_t *allow = json_object_get(blk, data ? "dataActions" : "actions");
    json_t *deny = json_object_get(blk, data ? "notDataActions" : "notActions");
    if (json_list_matches(allow, action) && !json_list_matches(deny, action)) ok = 1;
  }
  json_decref(perms);
  return ok;
}

int identity_role_exists(srv *s, const char *role_id, json_t **assignable) {
  if (assignable) *assignable = NULL;
  if (builtin_find(role_id)) return 1;
  json_t *a = custom_load_column(s, role_id, "assignable_scopes");
  if (!a) return 0;
  if (assignable)
    *assignable = a;
  else
    json_decref(a);
  return 1;
}

void identity_role_name(srv *s, const char *role_id, char *out, size_t n) {
  const role_builtin *b = builtin_find(role_id);
  out[0] = 0;
  if (b) {
    snprintf(out, n, "%s", b->name);
    return;
  }
  sqlite3_stmt *st;
  if (store_prepare(store_db(s), "SELECT role_name FROM role_definitions WHERE id=?", -1, &st,
                    NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(st, 1, role_id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) snprintf(out, n, "%s", sqlite3_column_text(st, 0));
  store_finalize(st);
}

char *identity_role_definition_id(srv *s, const char *scope, const char *role_id) {
  char *out = NULL;
  if (strncasecmp(scope, "/subscriptions/", 15) == 0) {
    if (asprintf(&out, "/subscriptions/%s" AUTHZ_PREFIX "roleDefinitions/%s", s->subscription_id,
                 role_id) < 0)
      abort();
  } else if (asprintf(&out, AUTHZ_PREFIX "roleDefinitions/%s", role_id) < 0) {
    abort();
  }
  return out;
}

/* ---- rendering ---------------------------------------------------------------- */

static json_t *str_list(const char *const *v) {
  json_t *a = json_array();
  for (int i = 0; v && v[i]; i++)
    json_array_append_new(a, json_string(v[i]));
  return a;
}

static json_t *definition_json(srv *s, const char *scope, const char *id, const char *name,
                               const char *type, const char *desc, json_t *perms,
                               json_t *assignable, const char *created, const char *updated,
                               const char *created_by, const char *updated_by) {
  char *rid = identity_role_definition_id(s, scope, id);
  json_t *j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:o,s:o}}", "id", rid, "type",
                        "Microsoft.Authorization/roleDefinitions", "name", id, "properties",
                        "roleName", name, "type", type, "description", desc, "assignableScopes",
                        assignable, "permissions", perms, "createdOn", created, "updatedOn",
                        updated, "createdBy", created_by ? json_string(created_by) : json_null(),
                        "updatedBy", updated_by ? json_string(updated_by) : json_null());
  free(rid);
  return j;
}

static json_t *builtin_json(srv *s, const char *scope, const role_builtin *b) {
  json_t *perms = json_pack("[{s:o,s:o,s:o,s:o}]", "actions", str_list(b->actions), "notActions",
                            str_list(b->not_actions), "dataActions", str_list(b->data_actions),
                            "notDataActions", str_list(b->not_data_actions));
  return definition_json(s, scope, b->id, b->name, "BuiltInRole", b->description, perms,
                         json_pack("[s]", "/"), "2015-02-02T21:55:09.8806423Z",
                         "2022-01-01T00:00:00.0000000Z", NULL, NULL);
}

/* Each permission block with all four lists present, as Azure returns them. */
static json_t *permissions_normalized(json_t *perms) {
  json_t *out = json_array();
  size_t i;
  json_t *blk;
  static const char *const keys[] = {"actions", "notActions", "dataActions", "notDataActions"};
  json_array_foreach(perms, i, blk) {
    json_t *o = json_object();
    for (int k = 0; k < 4; k++) {
      json_t *v = json_object_get(blk, keys[k]);
      json_object_set_new(o, keys[k], json_is_array(v) ? json_deep_copy(v) : json_array());
    }
    json_array_append_new(out, o);
  }
  return out;
}

#define CUSTOM_COLS                                                                                \
  "id, role_name, description, permissions, assignable_scopes, created_ms, updated_ms, "           \
  "created_by, updated_by"

static json_t *custom_json(srv *s, const char *scope, sqlite3_stmt *st) {
  char created[40], updated[40];
  clock_iso8601(sqlite3_column_int64(st, 5), created);
  clock_iso8601(sqlite3_column_int64(st, 6), updated);
  json_t *perms = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
  json_t *assignable = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
  json_t *j = definition_json(
      s, scope, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
      "CustomRole", (const char *)sqlite3_column_text(st, 2), permissions_normalized(perms),
      assignable ? assignable : json_array(), created, updated,
      (const char *)sqlite3_column_text(st, 7), (const char *)sqlite3_column_text(st, 8));
  json_decref(perms);
  return j;
}

static json_t *custom_get(srv *s, const char *scope, const char *id) {
  sqlite3_stmt *st;
  json_t *j = NULL;
  if (store_prepare(store_db(s), "SELECT " CUSTOM_COLS " FROM role_definitions WHERE id=?", -1, &st,
                    NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) j = custom_json(s, scope, st);
  store_finalize(st);
  return j;
}

/* ---- handlers -------------------------------------------------------------------- */

/* $filter forms: "roleName eq '...'", "type eq 'BuiltInRole|CustomRole'",
 * "atScopeAndBelow()", joined with " and ". */
typedef struct def_filter {
  char role_name[256];
  char type[32];
  int below;
} def_filter;

static int def_filter_parse(const char *f, def_filter *out) {
  char clause[320];
  int more;
  memset(out, 0, sizeof *out);
  while ((more = authz_filter_next(&f, clause, sizeof clause)) > 0) {
    if (strcasecmp(clause, "atScopeAndBelow()") == 0) {
      out->below = 1;
    } else if (sscanf(clause, "roleName eq '%255[^']'", out->role_name) == 1 ||
               sscanf(clause, "rolename eq '%255[^']'", out->role_name) == 1) {
    } else if (sscanf(clause, "type eq '%31[^']'", out->type) == 1) {
    } else if (*clause) {
      return -1;
    }
  }
  return more;
}

/* A custom role is offered at a scope when one of its assignable scopes is the
 * scope or an ancestor (or, with atScopeAndBelow(), a descendant). */
static int custom_visible(json_t *assignable, const char *scope, int below) {
  size_t i;
  json_t *v;
  json_array_foreach(assignable, i, v) {
    const char *a = json_string_value(v);
    if (a && (authz_scope_covers(a, scope) || (below && authz_scope_covers(scope, a)))) return 1;
  }
  return 0;
}

void authz_definition_list(http_req *r) {
  srv *s = r->srv;
  char scope[1024];
  if (authz_request_scope(r, "roleDefinitions", authz_definition_api_versions, scope,
                          sizeof scope) != 0)
    return;
  def_filter f;
  const char *filter = http_query_get(r, "$filter");
  if (def_filter_parse(filter, &f) != 0) {
    http_fail(r, ARM_ERR_INVALID_FILTER_IN_QUERY_STRING,
              "The $filter '%s' is not supported; azlite supports \"roleName eq '...'\", "
              "\"type eq '...'\" and \"atScopeAndBelow()\".",
              filter);
    return;
  }
  json_t *list = json_array();
  if (!f.type[0] || strcasecmp(f.type, "BuiltInRole") == 0)
    for (size_t i = 0; i < NBUILTIN; i++)
      if (!f.role_name[0] || strcasecmp(f.role_name, builtin_roles[i].name) == 0)
        json_array_append_new(list, builtin_json(s, scope, &builtin_roles[i]));
  sqlite3_stmt *st;
  if ((!f.type[0] || strcasecmp(f.type, "CustomRole") == 0) &&
      store_prepare(store_db(s), "SELECT " CUSTOM_COLS " FROM role_definitions ORDER BY role_name",
                    -1, &st, NULL) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      if (f.role_name[0] && strcasecmp(f.role_name, (const char *)sqlite3_column_text(st, 1)) != 0)
        continue;
      json_t *assignable = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
      if (custom_visible(assignable, scope, f.below))
        json_array_append_new(list, custom_json(s, scope, st));
      json_decref(assignable);
    }
    store_finalize(st);
  }
  arm_reply_list(r, list);
}

static void definition_not_found(http_req *r, const char *id) {
  http_fail(r, IDENTITY_ERR_ROLE_DEFINITION_DOES_NOT_EXIST_404,
            "The specified role definition with ID '%s' does not exist.", id);
}

void authz_definition_get(http_req *r) {
  char scope[1024];
  const char *id = http_param(r, "name");
  if (authz_request_scope(r, "roleDefinitions", authz_definition_api_versions, scope,
                          sizeof scope) != 0)
    return;
  const role_builtin *b = builtin_find(id);
  json_t *j = b ? builtin_json(r->srv, scope, b) : custom_get(r->srv, scope, id);
  if (!j)
    definition_not_found(r, id);
  else
    http_reply_json(r, 200, j);
}

static int string_list_valid(json_t *v) {
  if (!v) return 1;
  if (!json_is_array(v)) return 0;
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) if (!json_is_string(e) || !json_string_length(e)) return 0;
  return 1;
}

/* Does the caller lack `action` over one of the scopes (a JSON list)?  Fails r
 * with 403 naming the first such scope, as Azure does. */
static int definition_denied(http_req *r, const char *action, json_t *scopes) {
  size_t i;
  json_t *v;
  json_array_foreach(scopes, i, v) {
    const char *a = json_string_value(v);
    if (a && r->caller && authz_check(r->srv, r->caller, action, a, 0) != 0) {
      http_fail(r, IDENTITY_ERR_AUTHORIZATION_FAILED,
                "The client '%s' with object id '%s' does not have authorization to perform "
                "action '%s' over scope '%s' or the scope is invalid. If access was recently "
                "granted, please refresh your credentials.",
                r->caller->appid, r->caller->oid, action, a);
      return 1;
    }
  }
  return 0;
}

/* Checks the body of a custom role; fails r and returns -1 when it is not valid. */
static int definition_validate(http_req *r, const char *id, json_t *props, json_t *perms,
                               json_t *assignable) {
  srv *s = r->srv;
  const char *name = json_string_value(json_object_get(props, "roleName"));
  const char *type = json_string_value(json_object_get(props, "type"));
  if (!identity_is_guid(id)) {
    http_fail(r, IDENTITY_ERR_INVALID_ROLE_DEFINITION_ID,
              "The role definition ID '%s' is not valid. The role definition ID must be a GUID.",
              id);
    return -1;
  }
  if (builtin_find(id)) {
    http_fail(r, IDENTITY_ERR_AUTHORIZATION_FAILED,
              "The built-in role definition '%s' cannot be modified.", id);
    return -1;
  }
  if (!name || !*name) {
    http_fail(r, IDENTITY_ERR_ROLE_DEFINITION_NAME_NULL_OR_EMPTY,
              "The role definition name cannot be null or empty.");
    return -1;
  }
  if (type && strcasecmp(type, "CustomRole") != 0) {
    http_fail(r, IDENTITY_ERR_INVALID_ROLE_DEFINITION_TYPE,
              "The role definition type '%s' is not valid; custom roles have type 'CustomRole'.",
              type);
    return -1;
  }
  if (!json_is_array(perms) || json_array_size(perms) == 0) {
    http_fail(r, IDENTITY_ERR_ROLE_DEFINITION_PERMISSIONS_NULL_OR_EMPTY,
              "The role definition permissions cannot be null or empty.");
    return -1;
  }
  size_t i;
  json_t *blk;
  json_array_foreach(perms, i, blk) {
    static const char *const keys[] = {"actions", "notActions", "dataActions", "notDataActions"};
    for (int k = 0; k < 4; k++)
      if (!json_is_object(blk) || !string_list_valid(json_object_get(blk, keys[k]))) {
        http_fail(r, IDENTITY_ERR_INVALID_ROLE_DEFINITION_PERMISSIONS,
                  "Each permission must be an object whose 'actions', 'notActions', "
                  "'dataActions' and 'notDataActions' are lists of strings.");
        return -1;
      }
  }
  if (!json_is_array(assignable) || json_array_size(assignable) == 0 ||
      !string_list_valid(assignable)) {
    http_fail(r, IDENTITY_ERR_ASSIGNABLE_SCOPES_NULL_OR_EMPTY,
              "The role definition assignable scopes cannot be null or empty.");
    return -1;
  }
  json_t *v;
  char sub[80];
  snprintf(sub, sizeof sub, "/subscriptions/%s", s->subscription_id);
  /* Rewriting a role changes what it grants wherever it is assignable now. */
  json_t *before = custom_load_column(s, id, "assignable_scopes");
  int denied = definition_denied(r, "Microsoft.Authorization/roleDefinitions/write", before);
  json_decref(before);
  if (denied) return -1;
  json_array_foreach(assignable, i, v) {
    const char *a = json_string_value(v);
    if (!authz_scope_covers(sub, a)) {
      http_fail(r, IDENTITY_ERR_INVALID_ASSIGNABLE_SCOPE,
                "The assignable scope '%s' is not valid: custom roles are assignable at the "
                "subscription '%s' or below it.",
                a, sub);
      return -1;
    }
  }
  /* Defining a role usable at a scope takes the right to define roles there. */
  if (definition_denied(r, "Microsoft.Authorization/roleDefinitions/write", assignable)) return -1;
  for (size_t k = 0; k < NBUILTIN; k++)
    if (strcasecmp(builtin_roles[k].name, name) == 0) goto same_name;
  sqlite3_stmt *st;
  int clash = 0;
  if (store_prepare(store_db(s), "SELECT 1 FROM role_definitions WHERE role_name=? AND id<>?", -1,
                    &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    clash = sqlite3_step(st) == SQLITE_ROW;
    store_finalize(st);
  }
  if (!clash) return 0;
same_name:
  http_fail(r, IDENTITY_ERR_ROLE_DEFINITION_WITH_SAME_NAME_EXISTS,
            "A custom role with the same name already exists in this directory. Use a "
            "different name.");
  return -1;
}

void authz_definition_put(http_req *r) {
  srv *s = r->srv;
  char scope[1024];
  const char *id = http_param(r, "name");
  if (authz_request_scope(r, "roleDefinitions", authz_definition_api_versions, scope,
                          sizeof scope) != 0)
    return;
  json_t *body = http_body_json(r);
  if (!body) return;
  json_t *props = json_object_get(body, "properties");
  if (!json_is_object(props)) props = body;
  json_t *perms = json_object_get(props, "permissions");
  json_t *assignable = json_object_get(props, "assignableScopes");
  if (definition_validate(r, id, props, perms, assignable) == 0) {
    char *pj = json_dumps(perms, JSON_COMPACT), *aj = json_dumps(assignable, JSON_COMPACT);
    const char *desc = json_string_value(json_object_get(props, "description"));
    int64_t now = clock_now_ms(s);
    if (store_exec(s,
                   "INSERT INTO role_definitions(id,role_name,description,permissions,"
                   "assignable_scopes,created_ms,updated_ms,created_by,updated_by) "
                   "VALUES(lower(%Q),%Q,%Q,%Q,%Q,%lld,%lld,%Q,%Q) ON CONFLICT(id) DO UPDATE SET "
                   "role_name=excluded.role_name, description=excluded.description, "
                   "permissions=excluded.permissions, assignable_scopes=excluded.assignable_scopes,"
                   " updated_ms=excluded.updated_ms, updated_by=excluded.updated_by",
                   id, json_string_value(json_object_get(props, "roleName")), desc ? desc : "", pj,
                   aj, (long long)now, (long long)now, r->caller->oid, r->caller->oid) != 0)
      http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The role definition could not be saved.");
    else
      http_reply_json(r, 201, custom_get(s, scope, id));
    free(pj);
    free(aj);
  }
  json_decref(body);
}

void authz_definition_delete(http_req *r) {
  srv *s = r->srv;
  char scope[1024];
  const char *id = http_param(r, "name");
  if (authz_request_scope(r, "roleDefinitions", authz_definition_api_versions, scope,
                          sizeof scope) != 0)
    return;
  if (builtin_find(id)) {
    http_fail(r, IDENTITY_ERR_AUTHORIZATION_FAILED,
              "The built-in role definition '%s' cannot be deleted.", id);
    return;
  }
  json_t *j = custom_get(s, scope, id);
  if (!j) {
    http_reply_empty(r, 204);
    return;
  }
  /* A role is removed from everywhere it is assignable, not only from this path. */
  if (definition_denied(r, "Microsoft.Authorization/roleDefinitions/delete",
                        json_object_get(json_object_get(j, "properties"), "assignableScopes"))) {
    json_decref(j);
    return;
  }
  sqlite3_stmt *st;
  int used = 0;
  if (store_prepare(store_db(s),
                    "SELECT 1 FROM role_assignments WHERE role_definition_id=? COLLATE "
                    "NOCASE LIMIT 1",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    used = sqlite3_step(st) == SQLITE_ROW;
    store_finalize(st);
  }
  if (used) {
    json_decref(j);
    http_fail(r, IDENTITY_ERR_ROLE_DEFINITION_HAS_ASSIGNMENTS,
              "There are existing role assignments referencing role (code: "
              "RoleDefinitionHasAssignments). Remove them before deleting the role definition "
              "'%s'.",
              id);
    return;
  }
  store_exec(s, "DELETE FROM role_definitions WHERE id=%Q", id);
  http_reply_json(r, 200, j);
}
