/* graph.c: the Microsoft Graph v1.0 subset az and the SDKs use for the
 * directory: applications (with password credentials), service principals
 * (including managed identities, as Graph lists them), and
 * directoryObjects/getByIds.  Served under <mgmt_url>/graph/v1.0/, the
 * microsoftGraphResourceId of azlite's cloud.
 *
 * Authorization: any principal of the tenant may read the directory (as a
 * member user may in Azure AD); writing takes the admin or a principal that
 * may grant roles on the subscription (Owner, User Access Administrator),
 * which could make itself anything anyway.  Others get 403
 * Authorization_RequestDenied. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* What Graph returns for an application nobody has customized. */
static const char app_defaults[] =
    "{\"deletedDateTime\":null,\"applicationTemplateId\":null,"
    "\"disabledByMicrosoftStatus\":null,\"description\":null,\"groupMembershipClaims\":null,"
    "\"identifierUris\":[],\"isDeviceOnlyAuthSupported\":null,\"isFallbackPublicClient\":null,"
    "\"notes\":null,\"publisherDomain\":\"azlite.onmicrosoft.com\","
    "\"serviceManagementReference\":null,\"signInAudience\":\"AzureADMyOrg\",\"tags\":[],"
    "\"tokenEncryptionKeyId\":null,\"defaultRedirectUri\":null,\"certification\":null,"
    "\"optionalClaims\":null,\"addIns\":[],"
    "\"api\":{\"acceptMappedClaims\":null,\"knownClientApplications\":[],"
    "\"requestedAccessTokenVersion\":null,\"oauth2PermissionScopes\":[],"
    "\"preAuthorizedApplications\":[]},"
    "\"appRoles\":[],\"info\":{\"logoUrl\":null,\"marketingUrl\":null,"
    "\"privacyStatementUrl\":null,\"supportUrl\":null,\"termsOfServiceUrl\":null},"
    "\"keyCredentials\":[],\"parentalControlSettings\":{\"countriesBlockedForMinors\":[],"
    "\"legalAgeGroupRule\":\"Allow\"},\"publicClient\":{\"redirectUris\":[]},"
    "\"requiredResourceAccess\":[],\"verifiedPublisher\":{\"displayName\":null,"
    "\"verifiedPublisherId\":null,\"addedDateTime\":null},"
    "\"web\":{\"homePageUrl\":null,\"logoutUrl\":null,\"redirectUris\":[],"
    "\"implicitGrantSettings\":{\"enableAccessTokenIssuance\":false,"
    "\"enableIdTokenIssuance\":false},\"redirectUriSettings\":[]},"
    "\"spa\":{\"redirectUris\":[]}}";

static const char sp_defaults[] =
    "{\"deletedDateTime\":null,\"accountEnabled\":true,\"alternativeNames\":[],"
    "\"appDescription\":null,\"applicationTemplateId\":null,\"appRoleAssignmentRequired\":false,"
    "\"description\":null,\"disabledByMicrosoftStatus\":null,\"homepage\":null,"
    "\"loginUrl\":null,\"logoutUrl\":null,\"notes\":null,\"notificationEmailAddresses\":[],"
    "\"preferredSingleSignOnMode\":null,\"preferredTokenSigningKeyThumbprint\":null,"
    "\"replyUrls\":[],\"servicePrincipalType\":\"Application\","
    "\"signInAudience\":\"AzureADMyOrg\",\"tags\":[],\"tokenEncryptionKeyId\":null,"
    "\"samlSingleSignOnSettings\":null,\"addIns\":[],\"appRoles\":[],"
    "\"info\":{\"logoUrl\":null,\"marketingUrl\":null,\"privacyStatementUrl\":null,"
    "\"supportUrl\":null,\"termsOfServiceUrl\":null},\"keyCredentials\":[],"
    "\"oauth2PermissionScopes\":[],\"passwordCredentials\":[],"
    "\"resourceSpecificApplicationPermissions\":[],\"verifiedPublisher\":{\"displayName\":null,"
    "\"verifiedPublisherId\":null,\"addedDateTime\":null}}";

/* Properties a caller may set (others are read-only or unknown). */
static const char *const app_writable[] = {"displayName",
                                           "description",
                                           "identifierUris",
                                           "signInAudience",
                                           "tags",
                                           "notes",
                                           "web",
                                           "spa",
                                           "publicClient",
                                           "api",
                                           "appRoles",
                                           "optionalClaims",
                                           "requiredResourceAccess",
                                           "keyCredentials",
                                           "isFallbackPublicClient",
                                           "groupMembershipClaims",
                                           "info",
                                           "isDeviceOnlyAuthSupported",
                                           "serviceManagementReference",
                                           "tokenEncryptionKeyId",
                                           "parentalControlSettings",
                                           "addIns",
                                           "defaultRedirectUri",
                                           NULL};
static const char *const sp_writable[] = {"accountEnabled",
                                          "appRoleAssignmentRequired",
                                          "description",
                                          "notes",
                                          "tags",
                                          "homepage",
                                          "loginUrl",
                                          "logoutUrl",
                                          "replyUrls",
                                          "notificationEmailAddresses",
                                          "preferredSingleSignOnMode",
                                          "displayName",
                                          "appDescription",
                                          "keyCredentials",
                                          "info",
                                          "samlSingleSignOnSettings",
                                          "alternativeNames",
                                          "appRoles",
                                          "oauth2PermissionScopes",
                                          NULL};
/* Read-only on write: ignored rather than refused, as Graph does. */
static const char *const app_ignored[] = {
    "id", "appId", "createdDateTime", "publisherDomain", "passwordCredentials", "deletedDateTime",
    NULL};
static const char *const sp_ignored[] = {"id",
                                         "appId",
                                         "createdDateTime",
                                         "servicePrincipalNames",
                                         "servicePrincipalType",
                                         "appOwnerOrganizationId",
                                         "appDisplayName",
                                         "passwordCredentials",
                                         NULL};

static int in_list(const char *const *l, const char *k) {
  for (int i = 0; l[i]; i++)
    if (strcmp(l[i], k) == 0) return 1;
  return 0;
}

/* ---- helpers --------------------------------------------------------------- */

/* What sets a kind of directory object apart; applications and service
 * principals are otherwise listed, read and updated alike. */
typedef struct graph_kind {
  const char *collection;  /* "applications": its URL segment and @odata.context */
  const char *noun;        /* "application", in messages */
  const char *table, *key; /* the object's row, by object id */
  const char *extra;       /* the column graph_write_target copies out */
  const char *select;      /* the rows render takes: all, or the one whose object id is ?1 */
  json_t *(*render)(srv *s, sqlite3_stmt *st);
  const char *const *writable, *const *ignored;
} graph_kind;

static void graph_context(srv *s, json_t *j, const char *what) {
  json_object_set_new(j, "@odata.context",
                      json_sprintf("%s/graph/v1.0/$metadata#%s", s->mgmt_url, what));
}

static void graph_not_found(http_req *r, const char *id) {
  http_fail(r, IDENTITY_ERR_REQUEST_RESOURCE_NOT_FOUND,
            "Resource '%s' does not exist or one of its queried reference-property objects are "
            "not present.",
            id);
}

static int graph_require_writer(http_req *r) {
  char sub[80];
  snprintf(sub, sizeof sub, "/subscriptions/%s", r->srv->subscription_id);
  if (r->caller && (r->caller->is_admin ||
                    authz_check(r->srv, r->caller, "Microsoft.Authorization/roleAssignments/write",
                                sub, 0) == 0))
    return 0;
  http_fail(r, IDENTITY_ERR_AUTHORIZATION_REQUEST_DENIED,
            "Insufficient privileges to complete the operation.");
  return -1;
}

/* Parses the JSON body as an object; fails r in Graph's words otherwise. */
static json_t *graph_body(http_req *r) {
  char *buf = http_body_read_all(r, 1024 * 1024, NULL);
  if (!buf) return NULL;
  json_t *j = json_loads(buf, 0, NULL);
  free(buf);
  if (!json_is_object(j)) {
    json_decref(j);
    http_fail(r, IDENTITY_ERR_BAD_REQUEST,
              "Unable to read JSON request payload. Please ensure "
              "Content-Type header is set and payload is of valid JSON "
              "format.");
    return NULL;
  }
  return j;
}

/* Checks that every property of in may be written; fails r otherwise. */
static int props_writable(http_req *r, const graph_kind *kind, json_t *in) {
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    if (k[0] == '@' || in_list(kind->writable, k) || in_list(kind->ignored, k)) continue;
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "Property '%s' does not exist as a declared property or extension property, or "
              "is read-only.",
              k);
    return -1;
  }
  return 0;
}

/* The stored part of an object: what was set, minus displayName (a column)
 * and what is read-only. */
static char *props_merge(const graph_kind *k, json_t *cur, json_t *in) {
  json_t *p = cur ? json_deep_copy(cur) : json_object();
  json_object_update_recursive(p, in);
  for (int i = 0; k->ignored[i]; i++)
    json_object_del(p, k->ignored[i]);
  json_object_del(p, "displayName");
  char *out = json_dumps(p, JSON_COMPACT);
  json_decref(p);
  return out;
}

static void iso(int64_t ms, char out[40]) {
  clock_iso8601(ms, out);
}

/* ---- $filter ------------------------------------------------------------------- */

/* The OData forms az and the SDKs send: "f eq 'v'" (or a bare true/false/GUID),
 * "startswith(f,'v')", "f/any(c:c eq 'v')", joined with "and".  Strings
 * compare case-insensitively, as Graph compares them. */
enum { F_EQ, F_STARTSWITH, F_ANY_EQ };
typedef struct gclause {
  int op;
  char field[64];
  char value[512];
  int bare; /* value was not quoted (true, false, a GUID) */
} gclause;

static void skip_ws(const char **p) {
  while (**p == ' ')
    (*p)++;
}

static int parse_field(const char **p, char *out, size_t n) {
  size_t k = 0;
  while ((isalnum((unsigned char)**p) || **p == '_' || **p == '.') && k + 1 < n)
    out[k++] = *(*p)++;
  out[k] = 0;
  return k ? 0 : -1;
}

/* A quoted OData string ('' is a quote) or a bare token. */
static int parse_value(const char **p, gclause *c) {
  size_t k = 0;
  if (**p == '\'') {
    (*p)++;
    for (;;) {
      if (!**p) return -1;
      if (**p == '\'') {
        if ((*p)[1] != '\'') break;
        (*p)++;
      }
      if (k + 1 >= sizeof c->value) return -1;
      c->value[k++] = *(*p)++;
    }
    (*p)++;
  } else {
    while (**p && **p != ' ' && **p != ')' && k + 1 < sizeof c->value)
      c->value[k++] = *(*p)++;
    if (!k) return -1;
    c->bare = 1;
  }
  c->value[k] = 0;
  return 0;
}

static int expect(const char **p, const char *word) {
  size_t n = strlen(word);
  if (strncasecmp(*p, word, n) != 0) return -1;
  *p += n;
  return 0;
}

static int graph_filter_parse(const char *f, gclause *out, int max) {
  int n = 0;
  const char *p = f;
  skip_ws(&p);
  while (*p) {
    if (n == max) return -1;
    gclause *c = &out[n++];
    memset(c, 0, sizeof *c);
    if (expect(&p, "startswith(") == 0) {
      c->op = F_STARTSWITH;
      skip_ws(&p);
      if (parse_field(&p, c->field, sizeof c->field) != 0) return -1;
      skip_ws(&p);
      if (expect(&p, ",") != 0) return -1;
      skip_ws(&p);
      if (parse_value(&p, c) != 0 || c->bare) return -1;
      skip_ws(&p);
      if (expect(&p, ")") != 0) return -1;
    } else {
      if (parse_field(&p, c->field, sizeof c->field) != 0) return -1;
      if (expect(&p, "/any(") == 0) {
        char var[32], var2[32];
        c->op = F_ANY_EQ;
        if (parse_field(&p, var, sizeof var) != 0 || expect(&p, ":") != 0 ||
            parse_field(&p, var2, sizeof var2) != 0 || strcmp(var, var2) != 0)
          return -1;
        skip_ws(&p);
        if (expect(&p, "eq ") != 0) return -1;
        skip_ws(&p);
        if (parse_value(&p, c) != 0) return -1;
        skip_ws(&p);
        if (expect(&p, ")") != 0) return -1;
      } else {
        c->op = F_EQ;
        skip_ws(&p);
        if (expect(&p, "eq ") != 0) return -1;
        skip_ws(&p);
        if (parse_value(&p, c) != 0) return -1;
      }
    }
    skip_ws(&p);
    if (!*p) break;
    if (expect(&p, "and ") != 0) return -1;
    skip_ws(&p);
  }
  return n;
}

static int value_eq(json_t *v, const gclause *c) {
  if (json_is_string(v)) return strcasecmp(json_string_value(v), c->value) == 0;
  if (json_is_true(v)) return c->bare && strcasecmp(c->value, "true") == 0;
  if (json_is_false(v)) return c->bare && strcasecmp(c->value, "false") == 0;
  if (json_is_null(v)) return c->bare && strcasecmp(c->value, "null") == 0;
  return 0;
}

static int clause_matches(json_t *obj, const gclause *c) {
  json_t *v = json_object_get(obj, c->field);
  switch (c->op) {
  case F_EQ:
    return value_eq(v, c);
  case F_STARTSWITH:
    return json_is_string(v) && strncasecmp(json_string_value(v), c->value, strlen(c->value)) == 0;
  case F_ANY_EQ: {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (value_eq(e, c)) return 1;
    return 0;
  }
  }
  return 0;
}

/* Replies {"@odata.context", "value"} with the objects $filter and $top keep. */
static void graph_reply_list(http_req *r, const char *what, json_t *all) {
  const char *filter = http_query_get(r, "$filter");
  const char *top = http_query_get(r, "$top");
  gclause cl[8];
  int ncl = 0;
  if (filter && *filter && (ncl = graph_filter_parse(filter, cl, 8)) < 0) {
    json_decref(all);
    http_fail(r, IDENTITY_ERR_REQUEST_UNSUPPORTED_QUERY,
              "Unsupported or invalid query filter clause specified: '%s'.", filter);
    return;
  }
  long max = top ? strtol(top, NULL, 10) : -1;
  json_t *value = json_array();
  size_t i;
  json_t *o;
  json_array_foreach(all, i, o) {
    int keep = 1;
    for (int k = 0; k < ncl && keep; k++)
      keep = clause_matches(o, &cl[k]);
    if (keep && (max < 0 || (long)json_array_size(value) < max)) json_array_append(value, o);
  }
  json_decref(all);
  json_t *j = json_object();
  graph_context(r->srv, j, what);
  json_object_set_new(j, "value", value);
  http_reply_json(r, 200, j);
}

/* ---- objects --------------------------------------------------------------------- */

/* Loads objects of a kind: all, or the one with object id `id`; a JSON array. */
static json_t *graph_load(srv *s, const graph_kind *k, const char *id) {
  sqlite3_stmt *st;
  json_t *list = json_array();
  if (store_prepare(store_db(s), k->select, -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
      json_array_append_new(list, k->render(s, st));
    store_finalize(st);
  }
  return list;
}

static json_t *graph_by_id(srv *s, const graph_kind *k, const char *id) {
  json_t *l = graph_load(s, k, id);
  json_t *j = json_array_size(l) ? json_incref(json_array_get(l, 0)) : NULL;
  json_decref(l);
  return j;
}

static void graph_list(http_req *r, const graph_kind *k) {
  graph_reply_list(r, k->collection, graph_load(r->srv, k, NULL));
}

/* Replies the object as an entity of its collection; 404 when there is none. */
static void graph_reply_object(http_req *r, const graph_kind *k, const char *id, int status) {
  json_t *j = graph_by_id(r->srv, k, id);
  if (!j) {
    graph_not_found(r, id);
    return;
  }
  char what[64];
  snprintf(what, sizeof what, "%s/$entity", k->collection);
  graph_context(r->srv, j, what);
  http_reply_json(r, status, j);
}

/* The object a write names (the route's {id}): its stored props (when props
 * is not NULL) and its kind's extra column.  Fails r with 403 unless the
 * caller may write, 404 unless it exists; 0 = ok. */
static int graph_write_target(http_req *r, const graph_kind *k, json_t **props, char extra[40]) {
  const char *id = http_param(r, "id");
  if (graph_require_writer(r) != 0) return -1;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT props, %s FROM %s WHERE %s=lower(?)", k->extra, k->table,
           k->key);
  sqlite3_stmt *st;
  int found = 0;
  if (store_prepare(store_db(r->srv), sql, -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
      if (props) *props = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
      snprintf(extra, 40, "%s", sqlite3_column_text(st, 1));
    }
    store_finalize(st);
  }
  if (found) return 0;
  graph_not_found(r, id);
  return -1;
}

/* Saves a PATCH of the route's object: in merged into its stored props cur,
 * and its displayName when in names one.  Replies 204. */
static void graph_save(http_req *r, const graph_kind *k, json_t *cur, json_t *in) {
  const char *dn = json_string_value(json_object_get(in, "displayName"));
  char *props = props_merge(k, cur, in);
  int rc = store_exec(r->srv,
                      "UPDATE %s SET props=%Q, display_name=coalesce(%Q, display_name) "
                      "WHERE %s=lower(%Q)",
                      k->table, props, dn && *dn ? dn : NULL, k->key, http_param(r, "id"));
  free(props);
  if (rc != 0)
    http_fail(r, IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR, "The %s could not be saved.", k->noun);
  else
    http_reply_empty(r, 204);
}

/* ---- applications ---------------------------------------------------------------- */

/* An application's and its service principal's password credentials are two
 * collections (secrets.owner), as in Graph; either signs the app id in. */
#define OWNER_APP "application"
#define OWNER_SP "servicePrincipal"

static json_t *password_credentials(srv *s, const char *app_id, const char *owner) {
  sqlite3_stmt *st;
  json_t *list = json_array();
  if (store_prepare(store_db(s),
                    "SELECT key_id, hint, display_name, start_ms, end_ms FROM secrets WHERE "
                    "appid=? AND owner=? ORDER BY start_ms",
                    -1, &st, NULL) != SQLITE_OK)
    return list;
  sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
  while (sqlite3_step(st) == SQLITE_ROW) {
    char start[40], end[40];
    iso(sqlite3_column_int64(st, 3), start);
    iso(sqlite3_column_int64(st, 4), end);
    const char *dn = (const char *)sqlite3_column_text(st, 2);
    json_array_append_new(list, json_pack("{s:n,s:o,s:s,s:s,s:s,s:n,s:s}", "customKeyIdentifier",
                                          "displayName", dn ? json_string(dn) : json_null(),
                                          "endDateTime", end, "hint",
                                          (const char *)sqlite3_column_text(st, 1), "keyId",
                                          (const char *)sqlite3_column_text(st, 0), "secretText",
                                          "startDateTime", start));
  }
  store_finalize(st);
  return list;
}

#define APP_COLS "id, app_id, display_name, props, created_ms"

static json_t *app_json(srv *s, sqlite3_stmt *st) {
  json_t *j = json_loads(app_defaults, 0, NULL);
  json_t *props = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
  if (json_is_object(props)) json_object_update_recursive(j, props);
  json_decref(props);
  char created[40];
  iso(sqlite3_column_int64(st, 4), created);
  const char *app_id = (const char *)sqlite3_column_text(st, 1);
  json_object_set_new(j, "id", json_string((const char *)sqlite3_column_text(st, 0)));
  json_object_set_new(j, "appId", json_string(app_id));
  json_object_set_new(j, "displayName", json_string((const char *)sqlite3_column_text(st, 2)));
  json_object_set_new(j, "createdDateTime", json_string(created));
  json_object_set_new(j, "passwordCredentials", password_credentials(s, app_id, OWNER_APP));
  /* Key material is never read back. */
  size_t i;
  json_t *k;
  json_array_foreach(json_object_get(j, "keyCredentials"), i, k) {
    if (json_is_object(k)) json_object_set_new(k, "key", json_null());
  }
  return j;
}

static const graph_kind app_kind = {
    .collection = "applications",
    .noun = "application",
    .table = "applications",
    .key = "id",
    .extra = "app_id",
    .select = "SELECT " APP_COLS " FROM applications WHERE ?1 IS NULL OR id=lower(?1) "
              "ORDER BY created_ms",
    .render = app_json,
    .writable = app_writable,
    .ignored = app_ignored,
};

int graph_application_insert(srv *s, const char *app_id, const char *display_name) {
  char id[37];
  uuid_v4(id);
  return store_exec(s,
                    "INSERT INTO applications(id,app_id,display_name,created_ms) "
                    "VALUES(%Q,lower(%Q),%Q,%lld)",
                    id, app_id, display_name, (long long)clock_now_ms(s));
}

void graph_app_list(http_req *r) {
  graph_list(r, &app_kind);
}

void graph_app_get(http_req *r) {
  graph_reply_object(r, &app_kind, http_param(r, "id"), 200);
}

void graph_app_create(http_req *r) {
  srv *s = r->srv;
  if (graph_require_writer(r) != 0) return;
  json_t *in = graph_body(r);
  if (!in) return;
  const char *name = json_string_value(json_object_get(in, "displayName"));
  if (props_writable(r, &app_kind, in) != 0) goto done;
  if (!name || !*name) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "Property 'displayName' is required and must be a non-empty string.");
    goto done;
  }
  char id[37], app_id[37];
  uuid_v4(id);
  uuid_v4(app_id);
  char *props = props_merge(&app_kind, NULL, in);
  int rc = store_exec(s,
                      "INSERT INTO applications(id,app_id,display_name,props,created_ms) "
                      "VALUES(%Q,%Q,%Q,%Q,%lld)",
                      id, app_id, name, props, (long long)clock_now_ms(s));
  free(props);
  if (rc != 0) {
    http_fail(r, IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR, "The application could not be saved.");
    goto done;
  }
  log_info("identity: application '%s' created (appId %s)", name, app_id);
  graph_reply_object(r, &app_kind, id, 201);
done:
  json_decref(in);
}

void graph_app_update(http_req *r) {
  json_t *cur = NULL;
  char app_id[40];
  if (graph_write_target(r, &app_kind, &cur, app_id) != 0) return;
  json_t *in = graph_body(r);
  if (in && props_writable(r, &app_kind, in) == 0) graph_save(r, &app_kind, cur, in);
  json_decref(in);
  json_decref(cur);
}

void graph_app_delete(http_req *r) {
  srv *s = r->srv;
  const char *id = http_param(r, "id");
  char app_id[40];
  if (graph_write_target(r, &app_kind, NULL, app_id) != 0) return;
  if (strcasecmp(app_id, identity_st(s)->admin_appid) == 0) {
    http_fail(r, IDENTITY_ERR_AUTHORIZATION_REQUEST_DENIED,
              "The azlite administrator's application cannot be deleted.");
    return;
  }
  /* Deleting an application deletes its service principal: its tokens stop
   * verifying and its role assignments go. */
  int rc = store_begin(s);
  if (rc == 0) {
    if ((identity_principals_delete_where(s, "appid=%Q AND kind='ServicePrincipal'", app_id) |
         store_exec(s, "DELETE FROM secrets WHERE appid=%Q; DELETE FROM applications WHERE id=%Q",
                    app_id, id)) == 0)
      rc = store_commit(s);
    else {
      store_rollback(s);
      rc = -1;
    }
  }
  if (rc != 0) {
    http_fail(r, IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR,
              "The application could not be deleted.");
    return;
  }
  log_info("identity: application %s deleted", app_id);
  http_reply_empty(r, 204);
}

static const graph_kind sp_kind;

/* The app id whose credentials the route's object holds (an application, or a
 * service principal that is not a managed identity's); -1 after failing r. */
static int password_target(http_req *r, const char *owner, char app_id[40]) {
  if (strcmp(owner, OWNER_APP) == 0) return graph_write_target(r, &app_kind, NULL, app_id);
  char kind[40];
  if (graph_write_target(r, &sp_kind, NULL, kind) != 0) return -1;
  if (strcmp(kind, "ServicePrincipal") != 0) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "The credentials of a managed identity's service principal are managed by Azure "
              "and cannot be changed.");
    return -1;
  }
  sqlite3_stmt *st;
  int found = 0;
  if (store_prepare(store_db(r->srv), "SELECT appid FROM principals WHERE oid=lower(?)", -1, &st,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, http_param(r, "id"), -1, SQLITE_STATIC);
    if ((found = sqlite3_step(st) == SQLITE_ROW))
      snprintf(app_id, 40, "%s", sqlite3_column_text(st, 0));
    store_finalize(st);
  }
  if (found) return 0;
  http_fail(r, IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR,
            "The service principal could not be read.");
  return -1;
}

static void password_add(http_req *r, const char *owner) {
  srv *s = r->srv;
  char app_id[40];
  if (password_target(r, owner, app_id) != 0) return;
  json_t *in = r->body_len ? graph_body(r) : json_object();
  if (!in) return;
  json_t *pc = json_object_get(in, "passwordCredential");
  const char *dn = json_string_value(json_object_get(pc, "displayName"));
  const char *sd = json_string_value(json_object_get(pc, "startDateTime"));
  const char *ed = json_string_value(json_object_get(pc, "endDateTime"));
  /* Secrets live on the wall clock, as token.c judges them. */
  int64_t now = (int64_t)time(NULL) * 1000;
  int64_t start = sd ? clock_parse_iso8601(sd) : now;
  int64_t end = ed ? clock_parse_iso8601(ed) : start + 2LL * 365 * 86400000;
  if (start < 0 || end < 0 || end <= start) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "The passwordCredential's startDateTime and endDateTime must be ISO 8601 times, "
              "endDateTime after startDateTime.");
    json_decref(in);
    return;
  }
  char secret[48], hash[65], key_id[37], hint[4];
  identity_secret_new(secret);
  identity_secret_hash(secret, hash);
  uuid_v4(key_id);
  snprintf(hint, sizeof hint, "%.3s", secret);
  if (store_exec(s,
                 "INSERT INTO secrets(appid,key_id,hash,hint,display_name,start_ms,end_ms,"
                 "owner) VALUES(%Q,%Q,%Q,%Q,%Q,%lld,%lld,%Q)",
                 app_id, key_id, hash, hint, dn, (long long)start, (long long)end, owner) != 0) {
    http_fail(r, IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR, "The password could not be saved.");
    json_decref(in);
    return;
  }
  char sbuf[40], ebuf[40];
  iso(start, sbuf);
  iso(end, ebuf);
  json_t *j = json_pack("{s:n,s:o,s:s,s:s,s:s,s:s,s:s}", "customKeyIdentifier", "displayName",
                        dn ? json_string(dn) : json_null(), "endDateTime", ebuf, "hint", hint,
                        "keyId", key_id, "secretText", secret, "startDateTime", sbuf);
  graph_context(s, j, "microsoft.graph.passwordCredential");
  OPENSSL_cleanse(secret, sizeof secret);
  http_reply_json(r, 200, j);
  json_decref(in);
}

static void password_remove(http_req *r, const char *owner) {
  srv *s = r->srv;
  const char *id = http_param(r, "id");
  char app_id[40];
  if (password_target(r, owner, app_id) != 0) return;
  json_t *in = graph_body(r);
  if (!in) return;
  const char *key_id = json_string_value(json_object_get(in, "keyId"));
  sqlite3_stmt *st;
  char hash[65] = "";
  int found = 0;
  if (key_id && store_prepare(store_db(s),
                              "SELECT hash FROM secrets WHERE appid=? AND key_id=lower(?) "
                              "AND owner=?",
                              -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
      snprintf(hash, sizeof hash, "%s", sqlite3_column_text(st, 0));
      found = 1;
    }
    store_finalize(st);
  }
  char *admin_secret = store_get(s, "admin.secret");
  char admin_hash[65] = "";
  if (admin_secret) identity_secret_hash(admin_secret, admin_hash);
  free(admin_secret);
  if (!found) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "No password credential found with keyId '%s' on %s '%s'.", key_id ? key_id : "",
              strcmp(owner, OWNER_APP) == 0 ? "application" : "service principal", id);
  } else if (strcmp(hash, admin_hash) == 0) {
    http_fail(r, IDENTITY_ERR_AUTHORIZATION_REQUEST_DENIED,
              "The azlite administrator's own credential cannot be removed.");
  } else {
    store_exec(s, "DELETE FROM secrets WHERE appid=%Q AND key_id=lower(%Q) AND owner=%Q", app_id,
               key_id, owner);
    http_reply_empty(r, 204);
  }
  json_decref(in);
}

void graph_app_add_password(http_req *r) {
  password_add(r, OWNER_APP);
}

void graph_app_remove_password(http_req *r) {
  password_remove(r, OWNER_APP);
}

void graph_sp_add_password(http_req *r) {
  password_add(r, OWNER_SP);
}

void graph_sp_remove_password(http_req *r) {
  password_remove(r, OWNER_SP);
}

/* ---- service principals --------------------------------------------------------- */

#define SP_COLS                                                                                    \
  "p.oid, p.appid, p.display_name, p.kind, p.resource_id, p.props, p.created_ms, "                 \
  "a.display_name, a.props"

static json_t *sp_json(srv *s, sqlite3_stmt *st) {
  json_t *j = json_loads(sp_defaults, 0, NULL);
  const char *oid = (const char *)sqlite3_column_text(st, 0);
  const char *appid = (const char *)sqlite3_column_text(st, 1);
  const char *kind = (const char *)sqlite3_column_text(st, 3);
  const char *res = (const char *)sqlite3_column_text(st, 4);
  json_t *names = json_pack("[s]", appid);
  if (strcmp(kind, "ManagedIdentity") == 0) {
    int user = res && strcasestr(res, "/providers/" UAI_TYPE "/") != NULL;
    json_object_set_new(j, "servicePrincipalType", json_string("ManagedIdentity"));
    json_object_set_new(j, "appOwnerOrganizationId",
                        json_string("f8cdef31-a31e-4b4a-93e4-5f571e91255a"));
    json_object_set_new(
        j, "alternativeNames",
        json_pack("[s,s]", user ? "isExplicit=True" : "isExplicit=False", res ? res : ""));
    json_object_set_new(j, "appDisplayName", json_null());
  } else {
    json_object_set_new(j, "appOwnerOrganizationId", json_string(s->tenant_id));
    const unsigned char *an = sqlite3_column_text(st, 7);
    json_object_set_new(j, "appDisplayName", an ? json_string((const char *)an) : json_null());
    json_t *ap = json_loads((const char *)sqlite3_column_text(st, 8), 0, NULL);
    json_array_extend(names, json_object_get(ap, "identifierUris"));
    json_decref(ap);
  }
  json_t *props = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
  if (json_is_object(props)) json_object_update_recursive(j, props);
  json_decref(props);
  char created[40];
  iso(sqlite3_column_int64(st, 6), created);
  json_object_set_new(j, "id", json_string(oid));
  json_object_set_new(j, "appId", json_string(appid));
  json_object_set_new(j, "displayName", json_string((const char *)sqlite3_column_text(st, 2)));
  json_object_set_new(j, "createdDateTime", json_string(created));
  json_object_set_new(j, "servicePrincipalNames", names);
  json_object_set_new(j, "passwordCredentials", password_credentials(s, appid, OWNER_SP));
  return j;
}

static const graph_kind sp_kind = {
    .collection = "servicePrincipals",
    .noun = "service principal",
    .table = "principals",
    .key = "oid",
    .extra = "kind",
    .select = "SELECT " SP_COLS " FROM principals p LEFT JOIN applications a ON "
              "a.app_id = p.appid WHERE ?1 IS NULL OR p.oid=lower(?1) ORDER BY p.created_ms",
    .render = sp_json,
    .writable = sp_writable,
    .ignored = sp_ignored,
};

void graph_sp_list(http_req *r) {
  graph_list(r, &sp_kind);
}

void graph_sp_get(http_req *r) {
  graph_reply_object(r, &sp_kind, http_param(r, "id"), 200);
}

void graph_sp_create(http_req *r) {
  srv *s = r->srv;
  if (graph_require_writer(r) != 0) return;
  json_t *in = graph_body(r);
  if (!in) return;
  const char *app_id = json_string_value(json_object_get(in, "appId"));
  principal existing;
  sqlite3_stmt *st;
  char name[256] = "";
  if (props_writable(r, &sp_kind, in) != 0) goto done;
  if (!app_id || !*app_id) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST, "Property 'appId' is required.");
    goto done;
  }
  if (store_prepare(store_db(s), "SELECT display_name FROM applications WHERE app_id=?", -1, &st,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
      snprintf(name, sizeof name, "%s", sqlite3_column_text(st, 0));
    store_finalize(st);
  }
  if (!name[0]) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "The appId '%s' of the service principal does not reference a valid application "
              "object.",
              app_id);
    goto done;
  }
  if (identity_principal_by_appid(s, app_id, &existing) == 0) {
    http_fail(r, IDENTITY_ERR_REQUEST_MULTIPLE_OBJECTS_WITH_SAME_KEY_VALUE,
              "The service principal cannot be created, updated, or restored because the "
              "service principal name %s is already in use.",
              app_id);
    goto done;
  }
  char oid[37];
  uuid_v4(oid);
  const char *dn = json_string_value(json_object_get(in, "displayName"));
  char *props = props_merge(&sp_kind, NULL, in);
  int rc =
      identity_principal_insert(s, oid, app_id, dn && *dn ? dn : name, "ServicePrincipal", NULL);
  if (rc == 0) rc = store_exec(s, "UPDATE principals SET props=%Q WHERE oid=%Q", props, oid);
  free(props);
  if (rc != 0) {
    http_fail(r, IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR,
              "The service principal could not be saved.");
    goto done;
  }
  log_info("identity: service principal %s created for appId %s", oid, app_id);
  graph_reply_object(r, &sp_kind, oid, 201);
done:
  json_decref(in);
}

void graph_sp_update(http_req *r) {
  const char *id = http_param(r, "id");
  char kind[40];
  json_t *cur = NULL;
  if (graph_write_target(r, &sp_kind, &cur, kind) != 0) return;
  json_t *in = graph_body(r);
  if (in && strcmp(kind, "ManagedIdentity") == 0) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "The service principal of a managed identity is managed by its resource and "
              "cannot be updated.");
  } else if (in && props_writable(r, &sp_kind, in) == 0) {
    json_t *ae = json_object_get(in, "accountEnabled");
    if (ae && !json_is_boolean(ae)) {
      http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
                "Property 'accountEnabled' must be a boolean.");
    } else if (json_is_false(ae) && strcasecmp(id, identity_st(r->srv)->admin_oid) == 0) {
      http_fail(r, IDENTITY_ERR_AUTHORIZATION_REQUEST_DENIED,
                "The azlite administrator cannot be disabled.");
    } else {
      graph_save(r, &sp_kind, cur, in);
    }
  }
  json_decref(in);
  json_decref(cur);
}

void graph_sp_delete(http_req *r) {
  srv *s = r->srv;
  const char *id = http_param(r, "id");
  char kind[40];
  if (graph_write_target(r, &sp_kind, NULL, kind) != 0) return;
  if (strcmp(kind, "ManagedIdentity") == 0) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "The service principal of a managed identity goes with its resource; delete the "
              "resource instead.");
  } else if (strcasecmp(id, identity_st(s)->admin_oid) == 0) {
    http_fail(r, IDENTITY_ERR_AUTHORIZATION_REQUEST_DENIED,
              "The azlite administrator's service principal cannot be deleted.");
  } else if (identity_principals_delete_where(s, "oid=lower(%Q)", id) != 0) {
    http_fail(r, IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR,
              "The service principal could not be deleted.");
  } else {
    log_info("identity: service principal %s deleted", id);
    http_reply_empty(r, 204);
  }
}

/* ---- directory objects ----------------------------------------------------------- */

/* A directory object by id, with its @odata.type; NULL when unknown. */
static json_t *directory_object(srv *s, const char *id, json_t *types) {
  int want_sp = !types, want_app = !types;
  size_t i;
  json_t *t;
  json_array_foreach(types, i, t) {
    const char *ts = json_string_value(t);
    if (!ts) continue;
    if (!strcasecmp(ts, "servicePrincipal") || !strcasecmp(ts, "microsoft.graph.servicePrincipal"))
      want_sp = 1;
    if (!strcasecmp(ts, "application") || !strcasecmp(ts, "microsoft.graph.application"))
      want_app = 1;
    if (!strcasecmp(ts, "directoryObject")) want_sp = want_app = 1;
  }
  json_t *j = want_sp ? graph_by_id(s, &sp_kind, id) : NULL;
  if (j) {
    json_object_set_new(j, "@odata.type", json_string("#microsoft.graph.servicePrincipal"));
    return j;
  }
  j = want_app ? graph_by_id(s, &app_kind, id) : NULL;
  if (j) json_object_set_new(j, "@odata.type", json_string("#microsoft.graph.application"));
  return j;
}

void graph_get_by_ids(http_req *r) {
  json_t *in = graph_body(r);
  if (!in) return;
  json_t *ids = json_object_get(in, "ids");
  json_t *types = json_object_get(in, "types");
  if (!json_is_array(ids) || (types && !json_is_array(types))) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST,
              "'ids' must be a list of object ids and 'types', if given, a list of types.");
    json_decref(in);
    return;
  }
  if (json_array_size(ids) > 1000) {
    http_fail(r, IDENTITY_ERR_REQUEST_BAD_REQUEST, "At most 1000 ids may be requested at once.");
    json_decref(in);
    return;
  }
  json_t *value = json_array();
  size_t i;
  json_t *id;
  json_array_foreach(ids, i, id) {
    json_t *o = json_is_string(id) ? directory_object(r->srv, json_string_value(id), types) : NULL;
    if (o) json_array_append_new(value, o);
  }
  json_t *j = json_object();
  graph_context(r->srv, j, "directoryObjects");
  json_object_set_new(j, "value", value);
  http_reply_json(r, 200, j);
  json_decref(in);
}

void graph_directory_object_get(http_req *r) {
  const char *id = http_param(r, "id");
  json_t *j = directory_object(r->srv, id, NULL);
  if (!j) {
    graph_not_found(r, id);
    return;
  }
  graph_context(r->srv, j, "directoryObjects/$entity");
  http_reply_json(r, 200, j);
}

/* Users and groups: azlite's directory has none. */
void graph_empty_list(http_req *r) {
  const char *what = strrchr(r->path, '/');
  graph_reply_list(r, what ? what + 1 : "directoryObjects", json_array());
}

void graph_me(http_req *r) {
  http_fail(r, IDENTITY_ERR_BAD_REQUEST,
            "/me request is only valid with delegated authentication flow.");
}
