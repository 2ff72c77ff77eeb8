/* assignments.c: role assignments, /{scope}/providers/Microsoft.Authorization/
 * roleAssignments[/{name}], at the root, the subscription, a resource group or
 * a resource.  Who may create or delete one is decided before the handler
 * runs (route_authorize: roleAssignments/write or /delete at the scope, which
 * Contributor lacks), so granting a role takes the right to grant roles. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../arm/arm.h"
#include "internal.h"

const char *const authz_assignment_api_versions[] = {AUTHZ_API_VERSIONS, NULL};

/* Finds the last case-insensitive occurrence of needle in hay. */
static const char *last_casestr(const char *hay, const char *needle) {
  const char *last = NULL;
  for (const char *p = hay; (p = strcasestr(p, needle)); p++)
    last = p;
  return last;
}

int authz_request_scope(http_req *r, const char *collection, const char *const *versions, char *out,
                        size_t n) {
  srv *s = r->srv;
  if (identity_require_api_version(r, collection, versions) != 0) return -1;
  char marker[96];
  snprintf(marker, sizeof marker, AUTHZ_PREFIX "%s", collection);
  const char *end = last_casestr(r->path, marker);
  size_t plen = end ? (size_t)(end - r->path) : 0;
  /* Split the prefix into segments (SDKs may send "//subscriptions/..."). */
  char *buf = http_alloc(r, plen + 1);
  memcpy(buf, r->path, plen);
  char *seg[64], *save = NULL;
  int ns = 0;
  for (char *t = strtok_r(buf, "/", &save); t && ns < 64; t = strtok_r(NULL, "/", &save))
    seg[ns++] = t;
  if (ns == 0) {
    snprintf(out, n, "/");
    return 0;
  }
  if (strcasecmp(seg[0], "subscriptions") != 0 || ns < 2 || ns == 3) {
    http_fail(r, IDENTITY_ERR_INVALID_SCOPE,
              "The scope '/%s' is not valid: azlite serves the root '/', its subscription, "
              "resource groups and resources.",
              buf);
    return -1;
  }
  if (arm_require_subscription(r, seg[1]) != 0) return -1;
  size_t len = (size_t)snprintf(out, n, "/subscriptions/%s", s->subscription_id);
  if (ns == 2) return 0;
  char rg[128];
  if (strcasecmp(seg[2], "resourceGroups") != 0) {
    http_fail(r, IDENTITY_ERR_INVALID_SCOPE,
              "The scope is not valid: expected 'resourceGroups' after "
              "the subscription.");
    return -1;
  }
  if (arm_require_group(r, seg[1], seg[3]) != 0) return -1;
  arm_group_exists(s, seg[1], seg[3], rg, sizeof rg);
  len += (size_t)snprintf(out + len, len < n ? n - len : 0, "/resourceGroups/%s", rg);
  for (int i = 4; i < ns; i++)
    len += (size_t)snprintf(out + len, len < n ? n - len : 0, "/%s", seg[i]);
  if (len >= n) {
    http_fail(r, IDENTITY_ERR_INVALID_SCOPE, "The scope is too long.");
    return -1;
  }
  if (ns >= 8) {
    /* A resource scope: the resource itself must exist (its children are its
     * provider's business). */
    char *rid = http_printf(r, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s/%s",
                            s->subscription_id, rg, seg[5], seg[6], seg[7]);
    json_t *res = arm_resource_get(s, rid);
    if (!res) {
      http_fail(r, ARM_ERR_RESOURCE_NOT_FOUND,
                "The Resource '%s/%s/%s' under resource group '%s' was not found. For more "
                "details please go to https://aka.ms/ARMResourceNotFoundFix",
                seg[5], seg[6], seg[7], rg);
      return -1;
    }
    json_decref(res);
  }
  return 0;
}

int authz_filter_next(const char **f, char *out, size_t n) {
  if (!*f || !**f) return 0;
  const char *p = *f;
  while (*p == ' ')
    p++;
  const char *and = strcasestr(p, " and ");
  size_t len = and? (size_t)(and-p) : strlen(p);
  if (len >= n) return -1;
  memcpy(out, p, len);
  out[len] = 0;
  while (len && out[len - 1] == ' ')
    out[--len] = 0;
  *f = and? and+5 : NULL;
  return 1;
}

void authz_assignments_scope_deleted(srv *s, const char *scope) {
  store_exec(s,
             "DELETE FROM role_assignments WHERE lower(scope)=lower(%Q) OR "
             "lower(substr(scope, 1, %d))=lower(%Q || '/')",
             scope, (int)strlen(scope) + 1, scope);
}

/* ---- rendering ------------------------------------------------------------------ */

#define ASSIGNMENT_COLS                                                                            \
  "name, scope, role_definition_id, principal_id, principal_type, created_ms, "                    \
  "coalesce(updated_ms, created_ms), created_by, description, condition, condition_version"

static json_t *nullable(const unsigned char *s) {
  return s ? json_string((const char *)s) : json_null();
}

static json_t *assignment_json(srv *s, sqlite3_stmt *st) {
  const char *name = (const char *)sqlite3_column_text(st, 0);
  const char *scope = (const char *)sqlite3_column_text(st, 1);
  char created[40], updated[40];
  clock_iso8601(sqlite3_column_int64(st, 5), created);
  clock_iso8601(sqlite3_column_int64(st, 6), updated);
  char *role = identity_role_definition_id(s, scope, (const char *)sqlite3_column_text(st, 2));
  const char *base = strcmp(scope, "/") == 0 ? "" : scope;
  json_t *j =
      json_pack("{s:o,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:o,s:o,s:n,s:o}}", "id",
                json_sprintf("%s" AUTHZ_PREFIX "roleAssignments/%s", base, name), "type",
                "Microsoft.Authorization/roleAssignments", "name", name, "properties",
                "roleDefinitionId", role, "principalId", (const char *)sqlite3_column_text(st, 3),
                "principalType", (const char *)sqlite3_column_text(st, 4), "scope", scope,
                "condition", nullable(sqlite3_column_text(st, 9)), "conditionVersion",
                nullable(sqlite3_column_text(st, 10)), "createdOn", created, "updatedOn", updated,
                "createdBy", nullable(sqlite3_column_text(st, 7)), "updatedBy",
                nullable(sqlite3_column_text(st, 7)), "delegatedManagedIdentityResourceId",
                "description", nullable(sqlite3_column_text(st, 8)));
  free(role);
  return j;
}

static json_t *assignment_load(srv *s, const char *name) {
  sqlite3_stmt *st;
  json_t *j = NULL;
  if (store_prepare(store_db(s),
                    "SELECT " ASSIGNMENT_COLS " FROM role_assignments WHERE name=lower(?)", -1, &st,
                    NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) j = assignment_json(s, st);
  store_finalize(st);
  return j;
}

/* The assignment, if it exists at exactly this scope (names are global GUIDs,
 * but an assignment is addressed through its scope). */
static json_t *assignment_at(srv *s, const char *scope, const char *name) {
  json_t *j = assignment_load(s, name);
  const char *as = json_string_value(json_object_get(json_object_get(j, "properties"), "scope"));
  if (j && (!as || strcasecmp(as, scope) != 0)) {
    json_decref(j);
    j = NULL;
  }
  return j;
}

static void assignment_not_found(http_req *r, const char *name) {
  http_fail(r, IDENTITY_ERR_ROLE_ASSIGNMENT_NOT_FOUND, "The role assignment '%s' is not found.",
            name);
}

/* ---- list --------------------------------------------------------------------------- */

/* $filter forms: "atScope()", "principalId eq '{id}'", "assignedTo('{id}')",
 * joined with " and ". */
typedef struct assignment_filter {
  int at_scope;
  char principal[64];
} assignment_filter;

static int assignment_filter_parse(const char *f, assignment_filter *out) {
  char clause[160];
  int more;
  memset(out, 0, sizeof *out);
  while ((more = authz_filter_next(&f, clause, sizeof clause)) > 0) {
    if (strcasecmp(clause, "atScope()") == 0)
      out->at_scope = 1;
    else if (sscanf(clause, "principalId eq '%63[^']'", out->principal) != 1 &&
             sscanf(clause, "assignedTo('%63[^']')", out->principal) != 1 && *clause)
      return -1;
  }
  return more;
}

/* Lists what applies at a scope: assignments at it and above it (inherited),
 * and, unless atScope(), below it. */
void authz_assignment_list(http_req *r) {
  srv *s = r->srv;
  char scope[1024];
  if (authz_request_scope(r, "roleAssignments", authz_assignment_api_versions, scope,
                          sizeof scope) != 0)
    return;
  assignment_filter f;
  const char *filter = http_query_get(r, "$filter");
  if (assignment_filter_parse(filter, &f) != 0) {
    http_fail(r, ARM_ERR_INVALID_FILTER_IN_QUERY_STRING,
              "The $filter '%s' is not supported; azlite supports \"atScope()\", "
              "\"principalId eq '...'\" and \"assignedTo('...')\".",
              filter);
    return;
  }
  sqlite3_stmt *st;
  json_t *list = json_array();
  if (store_prepare(store_db(s),
                    "SELECT " ASSIGNMENT_COLS " FROM role_assignments WHERE "
                    "(?1 = '' OR principal_id = lower(?1)) ORDER BY created_ms, name",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, f.principal, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *as = (const char *)sqlite3_column_text(st, 1);
      if (authz_scope_covers(as, scope) || (!f.at_scope && authz_scope_covers(scope, as)))
        json_array_append_new(list, assignment_json(s, st));
    }
    store_finalize(st);
  }
  arm_reply_list(r, list);
}

void authz_assignment_get(http_req *r) {
  char scope[1024];
  const char *name = http_param(r, "name");
  if (authz_request_scope(r, "roleAssignments", authz_assignment_api_versions, scope,
                          sizeof scope) != 0)
    return;
  json_t *j = assignment_at(r->srv, scope, name);
  if (!j)
    assignment_not_found(r, name);
  else
    http_reply_json(r, 200, j);
}

/* ---- create ---------------------------------------------------------------------------- */

/* The role's GUID from "/subscriptions/{s}/providers/Microsoft.Authorization/
 * roleDefinitions/{guid}" (any scope prefix) or a bare GUID. */
static const char *role_guid_of(const char *id) {
  const char *slash = id ? strrchr(id, '/') : NULL;
  return slash ? slash + 1 : id;
}

typedef struct assignment_in {
  const char *role_def;
  const char *role;
  const char *principal;
  const char *principal_type;
  const char *description;
  const char *condition;
  const char *condition_version;
} assignment_in;

/* Checks an assignment request against the directory and the catalogue; fails
 * r and returns -1 when it cannot be made. */
static int assignment_validate(http_req *r, const char *scope, const char *name, assignment_in *in,
                               principal *target) {
  srv *s = r->srv;
  if (!identity_is_guid(name)) {
    http_fail(r, IDENTITY_ERR_INVALID_ROLE_ASSIGNMENT_ID,
              "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.",
              name);
    return -1;
  }
  if (!in->role_def || !in->principal) {
    http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT,
              "The request content was invalid: 'properties.roleDefinitionId' and "
              "'properties.principalId' are required.");
    return -1;
  }
  json_t *assignable = NULL;
  if (!identity_is_guid(in->role) || !identity_role_exists(s, in->role, &assignable)) {
    http_fail(r, IDENTITY_ERR_ROLE_DEFINITION_DOES_NOT_EXIST_400,
              "The specified role definition with ID '%s' does not exist.", in->role);
    return -1;
  }
  int assignable_here = 1;
  if (assignable) {
    assignable_here = 0;
    size_t i;
    json_t *v;
    json_array_foreach(assignable, i, v) {
      if (json_string_value(v) && authz_scope_covers(json_string_value(v), scope))
        assignable_here = 1;
    }
    json_decref(assignable);
  }
  if (!assignable_here) {
    http_fail(r, IDENTITY_ERR_INVALID_CREATE_ROLE_ASSIGNMENT_REQUEST,
              "The request to create role assignment '%s' is not valid. Role definition '%s' "
              "is not assignable at scope '%s': it is not among or below the role's "
              "assignable scopes.",
              name, in->role, scope);
    return -1;
  }
  if (identity_principal_by_oid(s, in->principal, target) != 0) {
    http_fail(r, IDENTITY_ERR_PRINCIPAL_NOT_FOUND,
              "Principal %s does not exist in the directory %s. Check that you have the "
              "correct principal ID.",
              in->principal, s->tenant_id);
    return -1;
  }
  if (in->principal_type && strcasecmp(in->principal_type, "ServicePrincipal") != 0) {
    http_fail(r, IDENTITY_ERR_UNMATCHED_PRINCIPAL_TYPE,
              "The PrincipalId '%s' has type 'ServicePrincipal', which is different from "
              "specified PrincipalType '%s'.",
              in->principal, in->principal_type);
    return -1;
  }
  return 0;
}

/* Is there already an assignment of this role to this principal at this scope
 * under another name?  Copies that name into other. */
static int assignment_duplicate(srv *s, const char *scope, const char *name, const char *role,
                                const char *principal_id, char other[40]) {
  sqlite3_stmt *st;
  int dup = 0;
  if (store_prepare(store_db(s),
                    "SELECT name FROM role_assignments WHERE scope=? AND "
                    "role_definition_id=lower(?) AND principal_id=lower(?) AND "
                    "name<>lower(?)",
                    -1, &st, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, principal_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(other, 40, "%s", sqlite3_column_text(st, 0));
    dup = 1;
  }
  store_finalize(st);
  return dup;
}

void authz_assignment_put(http_req *r) {
  srv *s = r->srv;
  char scope[1024];
  const char *name = http_param(r, "name");
  if (authz_request_scope(r, "roleAssignments", authz_assignment_api_versions, scope,
                          sizeof scope) != 0)
    return;
  json_t *body = http_json_own(r, http_body_json(r));
  if (!body) return;
  json_t *props = json_object_get(body, "properties");
  if (!json_is_object(props)) props = body;
  assignment_in in = {
      .role_def = json_string_value(json_object_get(props, "roleDefinitionId")),
      .principal = json_string_value(json_object_get(props, "principalId")),
      .principal_type = json_string_value(json_object_get(props, "principalType")),
      .description = json_string_value(json_object_get(props, "description")),
      .condition = json_string_value(json_object_get(props, "condition")),
      .condition_version = json_string_value(json_object_get(props, "conditionVersion")),
  };
  in.role = role_guid_of(in.role_def);
  principal target;
  char other[40];
  if (assignment_validate(r, scope, name, &in, &target) != 0) return;
  json_t *cur = http_json_own(r, assignment_load(s, name));
  if (cur) {
    /* Same name: only the description and condition may change. */
    json_t *cp = json_object_get(cur, "properties");
    const char *cur_scope = json_string_value(json_object_get(cp, "scope"));
    const char *cur_pid = json_string_value(json_object_get(cp, "principalId"));
    const char *cur_role = role_guid_of(json_string_value(json_object_get(cp, "roleDefinitionId")));
    int same = strcasecmp(cur_scope, scope) == 0 && strcasecmp(cur_pid, target.oid) == 0 &&
               strcasecmp(cur_role, in.role) == 0;
    if (!same) {
      http_fail(r, IDENTITY_ERR_ROLE_ASSIGNMENT_UPDATE_NOT_PERMITTED,
                "Tenant ID, application ID, principal ID, and scope are not allowed to be "
                "updated.");
      return;
    }
    store_exec(s,
               "UPDATE role_assignments SET description=%Q, condition=%Q, condition_version=%Q, "
               "updated_ms=%lld WHERE name=lower(%Q)",
               in.description, in.condition, in.condition_version, (long long)clock_now_ms(s),
               name);
    http_reply_json(r, 201, assignment_load(s, name));
    return;
  }
  if (assignment_duplicate(s, scope, name, in.role, target.oid, other)) {
    http_fail(r, IDENTITY_ERR_ROLE_ASSIGNMENT_EXISTS, "The role assignment already exists.");
    return;
  }
  int64_t now = clock_now_ms(s);
  /* Not into a group being deleted: the assignment would outlive it, and
   * apply again to a group later created under the same name. */
  if (store_begin(s) != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The role assignment could not be saved.");
    return;
  }
  if (arm_scope_writable(r, scope) != 0) {
    store_rollback(s);
    return;
  }
  if (store_exec(s,
                 "INSERT INTO role_assignments(name,scope,role_definition_id,principal_id,"
                 "principal_type,created_ms,updated_ms,created_by,description,condition,"
                 "condition_version) VALUES(lower(%Q),%Q,lower(%Q),lower(%Q),'ServicePrincipal',"
                 "%lld,%lld,%Q,%Q,%Q,%Q)",
                 name, scope, in.role, target.oid, (long long)now, (long long)now,
                 r->caller ? r->caller->oid : NULL, in.description, in.condition,
                 in.condition_version) != 0 ||
      store_commit(s) != 0) {
    store_rollback(s);
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The role assignment could not be saved.");
    return;
  }
  char rn[128];
  identity_role_name(s, in.role, rn, sizeof rn);
  log_info("identity: %s granted '%s' to %s at %s", r->caller ? r->caller->appid : "?", rn,
           target.oid, scope);
  http_reply_json(r, 201, assignment_load(s, name));
}

/* ---- delete -------------------------------------------------------------------------- */

void authz_assignment_delete(http_req *r) {
  srv *s = r->srv;
  char scope[1024];
  const char *name = http_param(r, "name");
  if (authz_request_scope(r, "roleAssignments", authz_assignment_api_versions, scope,
                          sizeof scope) != 0)
    return;
  json_t *j = assignment_at(s, scope, name);
  if (!j) {
    http_reply_empty(r, 204);
    return;
  }
  json_t *p = json_object_get(j, "properties");
  const char *pid = json_string_value(json_object_get(p, "principalId"));
  const char *role = role_guid_of(json_string_value(json_object_get(p, "roleDefinitionId")));
  char sub[80];
  snprintf(sub, sizeof sub, "/subscriptions/%s", s->subscription_id);
  /* The admin's Owner grant is what `azlite az` and `azlite env` run on. */
  if (strcmp(pid, identity_st(s)->admin_oid) == 0 && strcasecmp(role, ROLE_OWNER) == 0 &&
      strcasecmp(scope, sub) == 0) {
    json_decref(j);
    http_fail(r, IDENTITY_ERR_ROLE_ASSIGNMENT_DELETE_NOT_ALLOWED,
              "The azlite administrator's Owner assignment on the subscription cannot be "
              "removed.");
    return;
  }
  store_exec(s, "DELETE FROM role_assignments WHERE name=lower(%Q)", name);
  http_reply_json(r, 200, j);
}
