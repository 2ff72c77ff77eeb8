/* identity.c: the identity provider: its schema, its one route table (every
 * URL it serves: Azure AD's token service, Microsoft.Authorization,
 * Microsoft.ManagedIdentity, the Graph subset, the workload token endpoint),
 * the tenant and its principals, and the first start (tenant, subscription,
 * admin service principal and its application, Owner assignment).
 *
 * A principal is a row of `principals`: a service principal (kind
 * ServicePrincipal, its application in `applications`, its secrets in
 * `secrets`) or a managed identity (kind ManagedIdentity, resource_id naming
 * the resource it belongs to, or, for a user-assigned one, itself).  Role
 * assignments name principals by object id (oid). */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../arm/arm.h"
#include "internal.h"
#include "jwt.h"

static const char *const identity_schema[] = {
    "CREATE TABLE principals("
    "  oid TEXT PRIMARY KEY,"
    "  appid TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  display_name TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"              /* ServicePrincipal | ManagedIdentity */
    "  resource_id TEXT COLLATE NOCASE," /* the resource a managed identity belongs to */
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE secrets("
    "  appid TEXT NOT NULL COLLATE NOCASE,"
    "  key_id TEXT PRIMARY KEY,"
    "  hash TEXT NOT NULL,"
    "  hint TEXT NOT NULL,"
    "  display_name TEXT,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER NOT NULL);"
    "CREATE INDEX secrets_appid ON secrets(appid);"
    "CREATE TABLE role_assignments("
    "  name TEXT PRIMARY KEY," /* the assignment's GUID */
    "  scope TEXT NOT NULL COLLATE NOCASE,"
    "  role_definition_id TEXT NOT NULL," /* the role's GUID */
    "  principal_id TEXT NOT NULL,"
    "  principal_type TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  created_by TEXT);"
    "CREATE INDEX role_assignments_principal ON role_assignments(principal_id);",

    /* Version 2: Graph applications, custom roles, assignment details.  A data
     * dir from version 1 gets its admin's application object here; a new one
     * gets it at first start (which runs after migrations). */
    "CREATE TABLE applications("
    "  id TEXT PRIMARY KEY," /* the application's object id */
    "  app_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  display_name TEXT NOT NULL,"
    "  props TEXT NOT NULL DEFAULT '{}'," /* the other Graph properties, as set */
    "  created_ms INTEGER NOT NULL);"
    "INSERT INTO applications(id, app_id, display_name, created_ms)"
    "  SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||"
    "    substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2) || '-' ||"
    "    hex(randomblob(6))), appid, display_name, created_ms FROM principals"
    "  WHERE oid = (SELECT value FROM settings WHERE key = 'admin.oid');"
    "ALTER TABLE principals ADD COLUMN props TEXT NOT NULL DEFAULT '{}';"
    "CREATE INDEX principals_resource ON principals(resource_id);"
    "CREATE TABLE role_definitions(" /* custom roles; built-in ones are in roles.c */
    "  id TEXT PRIMARY KEY COLLATE NOCASE,"
    "  role_name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  permissions TEXT NOT NULL,"       /* [{actions,notActions,dataActions,notDataActions}] */
    "  assignable_scopes TEXT NOT NULL," /* JSON array of scopes */
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  created_by TEXT,"
    "  updated_by TEXT);"
    "ALTER TABLE role_assignments ADD COLUMN description TEXT;"
    "ALTER TABLE role_assignments ADD COLUMN condition TEXT;"
    "ALTER TABLE role_assignments ADD COLUMN condition_version TEXT;"
    "ALTER TABLE role_assignments ADD COLUMN updated_ms INTEGER;"
    "CREATE INDEX role_assignments_scope ON role_assignments(scope);",

    /* Version 3: a service principal's own password credentials, apart from its
     * application's (Graph's servicePrincipals/{id}/addPassword). */
    "ALTER TABLE secrets ADD COLUMN owner TEXT NOT NULL DEFAULT 'application';",
};

/* ---- the route table ------------------------------------------------------ */

#define AAD(m, p, f)                                                                               \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_NONE,                \
    .style = HTTP_ERR_OAUTH                                                                        \
  }
#define ARM(m, p, f)                                                                               \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM                                                                          \
  }
/* Any signed-in caller; the handler decides what it shows. */
#define ARM_ANY(m, p, f)                                                                           \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .action = ""                                                            \
  }
#define GRAPH(m, p, f)                                                                             \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = "/graph/v1.0" p, .fn = f, .auth = AUTH_GRAPH, \
    .style = HTTP_ERR_GRAPH                                                                        \
  }

#define SUB "/subscriptions/{sub}"
#define RG SUB "/resourceGroups/{rg}"
#define RES1 RG "/providers/{ns}/{t1}/{n1}"
#define RES2 RES1 "/{t2}/{n2}"
#define RES3 RES2 "/{t3}/{n3}"
#define RA AUTHZ_PREFIX "roleAssignments"
#define RD AUTHZ_PREFIX "roleDefinitions"
#define UAI RG "/providers/" UAI_TYPE

/* Role assignments and definitions hang off any scope: the root, the
 * subscription, a group, or a resource up to three type/name levels deep (a
 * blob container is .../storageAccounts/{a}/blobServices/default/containers/{c}).
 * The action checked is derived from the path (roleAssignments/write, ...);
 * anyone signed in may read role definitions, as in Azure. */
#define AUTHZ_AT(S)                                                                                \
  ARM("GET", S RA, authz_assignment_list), ARM("GET", S RA "/{name}", authz_assignment_get),       \
      ARM("PUT", S RA "/{name}", authz_assignment_put),                                            \
      ARM("DELETE", S RA "/{name}", authz_assignment_delete),                                      \
      ARM_ANY("GET", S RD, authz_definition_list),                                                 \
      ARM_ANY("GET", S RD "/{name}", authz_definition_get),                                        \
      ARM("PUT", S RD "/{name}", authz_definition_put),                                            \
      ARM("DELETE", S RD "/{name}", authz_definition_delete)

static const route identity_routes[] = {
    /* Azure AD: discovery, keys, the token endpoint (token.c) */
    AAD("GET", "/adfs/.well-known/openid-configuration", identity_aad_openid_config),
    AAD("GET", "/{tenant}/v2.0/.well-known/openid-configuration", identity_aad_openid_config),
    AAD("GET", "/{tenant}/.well-known/openid-configuration", identity_aad_openid_config),
    AAD("GET", "/{tenant}/discovery/instance", identity_aad_instance_discovery),
    AAD("GET", "/adfs/discovery/keys", identity_aad_jwks),
    AAD("GET", "/{tenant}/discovery/v2.0/keys", identity_aad_jwks),
    AAD("GET", "/{tenant}/discovery/keys", identity_aad_jwks),
    AAD("POST", "/adfs/oauth2/token", identity_aad_token),
    AAD("POST", "/{tenant}/oauth2/v2.0/token", identity_aad_token),
    AAD("POST", "/{tenant}/oauth2/token", identity_aad_token),
    AAD("POST", "/adfs/oauth2/devicecode", identity_aad_interactive),
    AAD("POST", "/{tenant}/oauth2/v2.0/devicecode", identity_aad_interactive),
    AAD("POST", "/{tenant}/oauth2/devicecode", identity_aad_interactive),
    AAD("GET", "/adfs/oauth2/authorize", identity_aad_interactive),
    AAD("GET", "/{tenant}/oauth2/v2.0/authorize", identity_aad_interactive),
    AAD("GET", "/{tenant}/oauth2/authorize", identity_aad_interactive),

    /* Microsoft.Authorization (roles.c, assignments.c) */
    AUTHZ_AT(""),
    AUTHZ_AT(SUB),
    AUTHZ_AT(RG),
    AUTHZ_AT(RES1),
    AUTHZ_AT(RES2),
    AUTHZ_AT(RES3),

    /* Microsoft.ManagedIdentity (msi.c) */
    ARM_TRACKED_ROUTES(UAI_TYPE, &msi_uai_type),
    /* Workloads' token endpoint: the caller proves itself with IDENTITY_HEADER. */
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/msi/token",
     .fn = msi_workload_token,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_OAUTH},
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/identity/workload-env",
     .fn = msi_workload_env_get,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},

    /* Microsoft Graph v1.0 (graph.c) */
    GRAPH("GET", "/applications", graph_app_list),
    GRAPH("POST", "/applications", graph_app_create),
    GRAPH("GET", "/applications/{id}", graph_app_get),
    GRAPH("PATCH", "/applications/{id}", graph_app_update),
    GRAPH("DELETE", "/applications/{id}", graph_app_delete),
    GRAPH("POST", "/applications/{id}/addPassword", graph_app_add_password),
    GRAPH("POST", "/applications/{id}/removePassword", graph_app_remove_password),
    GRAPH("GET", "/applications/{id}/owners", graph_empty_list),
    GRAPH("GET", "/servicePrincipals", graph_sp_list),
    GRAPH("POST", "/servicePrincipals", graph_sp_create),
    GRAPH("GET", "/servicePrincipals/{id}", graph_sp_get),
    GRAPH("PATCH", "/servicePrincipals/{id}", graph_sp_update),
    GRAPH("DELETE", "/servicePrincipals/{id}", graph_sp_delete),
    GRAPH("GET", "/servicePrincipals/{id}/owners", graph_empty_list),
    GRAPH("POST", "/servicePrincipals/{id}/addPassword", graph_sp_add_password),
    GRAPH("POST", "/servicePrincipals/{id}/removePassword", graph_sp_remove_password),
    GRAPH("POST", "/directoryObjects/getByIds", graph_get_by_ids),
    GRAPH("GET", "/directoryObjects/{id}", graph_directory_object_get),
    GRAPH("GET", "/users", graph_empty_list),
    GRAPH("GET", "/groups", graph_empty_list),
    GRAPH("GET", "/me", graph_me),
};

/* ---- principals ------------------------------------------------------------ */

identity_state *identity_st(srv *s) {
  return *srv_provider_state(s, &identity_provider);
}

/* The first character is a letter or digit: a secret starting with '-' would
 * read as an option to `az login -p`. */
void identity_secret_new(char out[48]) {
  static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";
  unsigned char b[40];
  RAND_bytes(b, sizeof b);
  for (int i = 0; i < 40; i++)
    out[i] = alpha[b[i] % (i == 0 ? 62 : sizeof alpha - 1)];
  out[40] = 0;
}

void identity_secret_hash(const char *secret, char out[65]) {
  unsigned char h[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)secret, strlen(secret), h);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
    sprintf(out + 2 * i, "%02x", h[i]);
}

int identity_is_guid(const char *s) {
  if (!s || strlen(s) != 36) return 0;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (!isxdigit((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

int identity_require_api_version(http_req *r, const char *type, const char *const *versions) {
  return arm_api_version_require(r, type, versions);
}

static int principal_load(srv *s, const char *col, const char *val, principal *p) {
  sqlite3_stmt *st;
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT oid, appid, display_name FROM principals WHERE %s=?", col);
  if (store_prepare(store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return -1;
  sqlite3_bind_text(st, 1, val, -1, SQLITE_STATIC);
  int rc = -1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    memset(p, 0, sizeof *p);
    snprintf(p->oid, sizeof p->oid, "%s", sqlite3_column_text(st, 0));
    snprintf(p->appid, sizeof p->appid, "%s", sqlite3_column_text(st, 1));
    snprintf(p->name, sizeof p->name, "%s", sqlite3_column_text(st, 2));
    snprintf(p->tid, sizeof p->tid, "%s", s->tenant_id);
    p->is_admin = strcmp(p->oid, identity_st(s)->admin_oid) == 0;
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

int identity_principal_by_oid(srv *s, const char *oid, principal *p) {
  return principal_load(s, "oid", oid, p);
}

int identity_principal_get(srv *s, const char *oid, principal *p) {
  return principal_load(s, "oid", oid, p);
}

int identity_principal_by_appid(srv *s, const char *appid, principal *p) {
  return principal_load(s, "appid", appid, p);
}

int identity_principal_insert(srv *s, const char *oid, const char *appid, const char *name,
                              const char *kind, const char *resource_id) {
  return store_exec(s,
                    "INSERT INTO principals(oid,appid,display_name,kind,resource_id,created_ms) "
                    "VALUES(lower(%Q),lower(%Q),%Q,%Q,%Q,%lld)",
                    oid, appid, name, kind, resource_id, (long long)clock_now_ms(s));
}

int identity_principals_delete_where(srv *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *where = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  if (!where) return -1;
  /* A deleted principal holds no roles: its assignments go with it. */
  int rc = store_begin(s);
  if (rc == 0) {
    if (store_exec(s,
                   "DELETE FROM role_assignments WHERE principal_id IN "
                   "(SELECT oid FROM principals WHERE %s);"
                   "DELETE FROM principals WHERE %s",
                   where, where) == 0)
      rc = store_commit(s);
    else {
      store_rollback(s);
      rc = -1;
    }
  }
  sqlite3_free(where);
  return rc;
}

/* ---- system-assigned identities ---------------------------------------------- */

int identity_system_assigned_create(srv *s, const char *resource_id, char principal_id[40]) {
  sqlite3_stmt *st;
  int found = 0;
  if (store_prepare(store_db(s),
                    "SELECT oid FROM principals WHERE kind='ManagedIdentity' AND "
                    "resource_id=?",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, resource_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
      snprintf(principal_id, 40, "%s", sqlite3_column_text(st, 0));
      found = 1;
    }
    store_finalize(st);
  }
  if (found) return 0;
  char oid[37], appid[37];
  uuid_v4(oid);
  uuid_v4(appid);
  const char *name = strrchr(resource_id, '/');
  name = name ? name + 1 : resource_id;
  if (identity_principal_insert(s, oid, appid, name, "ManagedIdentity", resource_id) != 0)
    return -1;
  snprintf(principal_id, 40, "%s", oid);
  return 0;
}

void identity_system_assigned_delete(srv *s, const char *resource_id) {
  identity_principals_delete_where(s, "kind='ManagedIdentity' AND resource_id=%Q", resource_id);
}

/* ---- the provider -------------------------------------------------------------- */

/* First start: the tenant, the subscription and the admin service principal
 * (with its Graph application), Owner of the subscription.  Its secret is kept
 * in settings so `azlite env` and `azlite az` can log in; the data dir is
 * private (0700). */
static int identity_first_start(srv *s) {
  char tenant[37], sub[37], appid[37], oid[37], keyid[37], secret[48], hash[65], assign[37];
  uuid_v4(tenant);
  uuid_v4(sub);
  uuid_v4(appid);
  uuid_v4(oid);
  uuid_v4(keyid);
  uuid_v4(assign);
  identity_secret_new(secret);
  identity_secret_hash(secret, hash);
  int64_t now = clock_now_ms(s), wall = (int64_t)time(NULL) * 1000;
  char hint[4];
  snprintf(hint, sizeof hint, "%.3s", secret);
  char scope[80];
  snprintf(scope, sizeof scope, "/subscriptions/%s", sub);
  if (store_begin(s) != 0) return -1;
  int rc = store_set(s, "tenant_id", tenant) | store_set(s, "subscription_id", sub) |
           store_set(s, "admin.appid", appid) | store_set(s, "admin.oid", oid) |
           store_set(s, "admin.secret", secret) |
           identity_principal_insert(s, oid, appid, "azlite-admin", "ServicePrincipal", NULL) |
           graph_application_insert(s, appid, "azlite-admin") |
           store_exec(s,
                      "INSERT INTO secrets(appid,key_id,hash,hint,display_name,start_ms,end_ms) "
                      "VALUES(%Q,%Q,%Q,%Q,'azlite',%lld,%lld)",
                      appid, keyid, hash, hint, (long long)wall,
                      (long long)(wall + 100LL * 365 * 86400000)) |
           store_exec(s,
                      "INSERT INTO role_assignments(name,scope,role_definition_id,principal_id,"
                      "principal_type,created_ms,updated_ms) "
                      "VALUES(%Q,%Q,%Q,%Q,'ServicePrincipal',%lld,%lld)",
                      assign, scope, ROLE_OWNER, oid, (long long)now, (long long)now);
  if (rc != 0) {
    store_rollback(s);
    return -1;
  }
  log_info("identity: first start: tenant %s, subscription %s", tenant, sub);
  return store_commit(s);
}

/* Loads the signing key, generating it on a first start. */
static void *keygen_main(void *arg) {
  srv *s = arg;
  identity_state *st = identity_st(s);
  EVP_PKEY *k = pki_load_or_create_key(s, "pki/signing.key");
  pthread_mutex_lock(&st->key_mu);
  st->signing_key = k;
  if (k) jwt_kid(k, st->kid);
  st->key_state = k ? 1 : -1;
  pthread_cond_broadcast(&st->key_cv);
  pthread_mutex_unlock(&st->key_mu);
  if (!k) log_error("identity: cannot load or create the token signing key");
  return NULL;
}

EVP_PKEY *identity_signing_key(srv *s, const char **kid) {
  identity_state *st = identity_st(s);
  pthread_mutex_lock(&st->key_mu);
  while (st->key_state == 0)
    pthread_cond_wait(&st->key_cv, &st->key_mu);
  EVP_PKEY *k = st->key_state == 1 ? st->signing_key : NULL;
  pthread_mutex_unlock(&st->key_mu);
  if (kid) *kid = st->kid;
  return k;
}

static int identity_init(srv *s) {
  identity_state *st = calloc(1, sizeof *st);
  *srv_provider_state(s, &identity_provider) = st;
  char *t = store_get(s, "tenant_id");
  if (!t) {
    if (identity_first_start(s) != 0) return -1;
    t = store_get(s, "tenant_id");
  }
  char *sub = store_get(s, "subscription_id"), *appid = store_get(s, "admin.appid"),
       *oid = store_get(s, "admin.oid");
  int ok = t && sub && appid && oid;
  if (ok) {
    snprintf(s->tenant_id, sizeof s->tenant_id, "%s", t);
    snprintf(s->subscription_id, sizeof s->subscription_id, "%s", sub);
    snprintf(st->admin_appid, sizeof st->admin_appid, "%s", appid);
    snprintf(st->admin_oid, sizeof st->admin_oid, "%s", oid);
  }
  free(t);
  free(sub);
  free(appid);
  free(oid);
  if (!ok || msi_init(s) != 0) return -1;
  msi_register_hooks();
  char *dir = srv_path(s, "pki");
  mkdir(dir, 0700);
  free(dir);
  pthread_mutex_init(&st->key_mu, NULL);
  pthread_cond_init(&st->key_cv, NULL);
  char *kp = srv_path(s, "pki/signing.key");
  int have = access(kp, R_OK) == 0;
  free(kp);
  if (have) {
    keygen_main(s);
    return st->key_state == 1 ? 0 : -1;
  }
  if (pthread_create(&st->keygen, NULL, keygen_main, s) != 0) return -1;
  st->keygen_running = 1;
  return 0;
}

static void identity_fini(srv *s) {
  identity_state *st = identity_st(s);
  if (!st) return;
  if (st->keygen_running) pthread_join(st->keygen, NULL);
  pthread_mutex_destroy(&st->key_mu);
  pthread_cond_destroy(&st->key_cv);
  EVP_PKEY_free(st->signing_key);
  OPENSSL_cleanse(st->hmac_key, sizeof st->hmac_key);
  free(st);
  *srv_provider_state(s, &identity_provider) = NULL;
}

/* Any deleted resource or resource group: the managed identities of what goes
 * (its own system-assigned one, those of resources under it) and the role
 * assignments at or below it go with it, so a resource recreated under the
 * same name starts with no grants. */
static void identity_resource_deleted(srv *s, const char *id, const char *type) {
  (void)type;
  identity_principals_delete_where(s,
                                   "kind='ManagedIdentity' AND (lower(resource_id) = lower(%Q) "
                                   "OR lower(substr(resource_id, 1, %d)) = lower(%Q || '/'))",
                                   id, (int)strlen(id) + 1, id);
  authz_assignments_scope_deleted(s, id);
}

static void identity_env(srv *s, FILE *out) {
  char *secret = store_get(s, "admin.secret");
  identity_state *st = identity_st(s);
  char *ca = srv_path(s, "pki/ca.pem");
  /* "adfs" as the tenant makes MSAL skip its internet-only instance discovery,
   * so EnvironmentCredential/DefaultAzureCredential work offline, unchanged. */
  fprintf(out,
          "export AZURE_TENANT_ID=adfs\n"
          "export AZLITE_TENANT_ID=%s\n"
          "export AZURE_CLIENT_ID=%s\n"
          "export AZURE_CLIENT_SECRET=%s\n"
          "export AZURE_AUTHORITY_HOST=%s\n"
          "export AZURE_SUBSCRIPTION_ID=%s\n"
          "export AZURE_RESOURCE_MANAGER_ENDPOINT=%s/\n"
          "export AZLITE_MANAGEMENT_ENDPOINT=%s/\n"
          "export REQUESTS_CA_BUNDLE=%s\n"
          "export SSL_CERT_FILE=%s\n"
          "export NODE_EXTRA_CA_CERTS=%s\n",
          s->tenant_id, st->admin_appid, secret ? secret : "", s->mgmt_url, s->subscription_id,
          s->mgmt_url, s->mgmt_url, ca, ca, ca);
  free(secret);
  free(ca);
}

static const resource_type identity_types[] = {
    {.type = "Microsoft.Authorization/roleAssignments",
     .api_versions = authz_assignment_api_versions},
    {.type = "Microsoft.Authorization/roleDefinitions",
     .api_versions = authz_definition_api_versions},
    {.type = UAI_TYPE, .api_versions = msi_api_versions, .generic = &msi_uai_type},
    {.type = NULL},
};

const provider identity_provider = {
    .name = "identity",
    .routes = identity_routes,
    .nroutes = sizeof identity_routes / sizeof identity_routes[0],
    .schema = {identity_schema, sizeof identity_schema / sizeof identity_schema[0]},
    .resource_types = identity_types,
    .init = identity_init,
    .resource_deleted = identity_resource_deleted,
    .env = identity_env,
    .fini = identity_fini,
    .access = identity_route_access,
    .access_ops = &identity_access_ops,
};
