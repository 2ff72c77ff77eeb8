/* identity.c: the identity provider: the tenant, principals and their
 * secrets, the token signing key, and the first start (tenant, subscription,
 * admin service principal, Owner assignment).  Tokens: token.c.  Role-based
 * access: rbac.c. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "jwt.h"

static const char *const identity_schema[] = {
    "CREATE TABLE principals("
    "  oid TEXT PRIMARY KEY,"
    "  appid TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  display_name TEXT NOT NULL,"
    "  kind TEXT NOT NULL," /* ServicePrincipal | ManagedIdentity */
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
};

static const route identity_routes[] = {
    {LISTEN_MGMT, "GET", "/adfs/.well-known/openid-configuration", aad_openid_config, AUTH_NONE,
     HTTP_ERR_OAUTH, NULL},
    {LISTEN_MGMT, "GET", "/{tenant}/v2.0/.well-known/openid-configuration", aad_openid_config,
     AUTH_NONE, HTTP_ERR_OAUTH, NULL},
    {LISTEN_MGMT, "GET", "/{tenant}/.well-known/openid-configuration", aad_openid_config,
     AUTH_NONE, HTTP_ERR_OAUTH, NULL},
    {LISTEN_MGMT, "GET", "/adfs/discovery/keys", aad_jwks, AUTH_NONE, HTTP_ERR_OAUTH, NULL},
    {LISTEN_MGMT, "GET", "/{tenant}/discovery/v2.0/keys", aad_jwks, AUTH_NONE, HTTP_ERR_OAUTH,
     NULL},
    {LISTEN_MGMT, "GET", "/{tenant}/discovery/keys", aad_jwks, AUTH_NONE, HTTP_ERR_OAUTH, NULL},
    {LISTEN_MGMT, "POST", "/adfs/oauth2/token", aad_token, AUTH_NONE, HTTP_ERR_OAUTH, NULL},
    {LISTEN_MGMT, "POST", "/{tenant}/oauth2/v2.0/token", aad_token, AUTH_NONE, HTTP_ERR_OAUTH,
     NULL},
    {LISTEN_MGMT, "POST", "/{tenant}/oauth2/token", aad_token, AUTH_NONE, HTTP_ERR_OAUTH, NULL},
};

identity_state *identity_st(srv *s) {
  return *srv_provider_state(s, &identity_provider);
}

void identity_secret_new(char out[48]) {
  static const char alpha[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";
  unsigned char b[40];
  RAND_bytes(b, sizeof b);
  for (int i = 0; i < 40; i++) out[i] = alpha[b[i] % (sizeof alpha - 1)];
  out[40] = 0;
}

void identity_secret_hash(const char *secret, char out[65]) {
  unsigned char h[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)secret, strlen(secret), h);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) sprintf(out + 2 * i, "%02x", h[i]);
}

static int principal_load(srv *s, const char *col, const char *val, principal *p) {
  sqlite3_stmt *st;
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT oid, appid, display_name FROM principals WHERE %s=?", col);
  if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return -1;
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
  sqlite3_finalize(st);
  return rc;
}

int identity_principal_by_oid(srv *s, const char *oid, principal *p) {
  return principal_load(s, "oid", oid, p);
}

int identity_principal_by_appid(srv *s, const char *appid, principal *p) {
  return principal_load(s, "appid", appid, p);
}

/* First start: the tenant, the subscription and the admin service principal,
 * Owner of the subscription.  Its secret is kept in settings so `azlite env`
 * and `azlite az` can log in; the data dir is private (0700). */
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
  int64_t now = clock_now_ms(s);
  char hint[4];
  snprintf(hint, sizeof hint, "%.3s", secret);
  char scope[80];
  snprintf(scope, sizeof scope, "/subscriptions/%s", sub);
  if (store_begin(s) != 0) return -1;
  int rc = store_set(s, "tenant_id", tenant) | store_set(s, "subscription_id", sub) |
           store_set(s, "admin.appid", appid) | store_set(s, "admin.oid", oid) |
           store_set(s, "admin.secret", secret) |
           store_exec(s,
                      "INSERT INTO principals(oid,appid,display_name,kind,created_ms) "
                      "VALUES(%Q,%Q,'azlite-admin','ServicePrincipal',%lld)",
                      oid, appid, (long long)now) |
           store_exec(s,
                      "INSERT INTO secrets(appid,key_id,hash,hint,display_name,start_ms,end_ms) "
                      "VALUES(%Q,%Q,%Q,%Q,'azlite',%lld,%lld)",
                      appid, keyid, hash, hint, (long long)now,
                      (long long)(now + 100LL * 365 * 86400000)) |
           store_exec(s,
                      "INSERT INTO role_assignments(name,scope,role_definition_id,principal_id,"
                      "principal_type,created_ms) VALUES(%Q,%Q,%Q,%Q,'ServicePrincipal',%lld)",
                      assign, scope, ROLE_OWNER, oid, (long long)now);
  if (rc != 0) {
    store_rollback(s);
    return -1;
  }
  log_info("identity: first start: tenant %s, subscription %s", tenant, sub);
  return store_commit(s);
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
  if (!t || !sub || !appid || !oid) return -1;
  snprintf(s->tenant_id, sizeof s->tenant_id, "%s", t);
  snprintf(s->subscription_id, sizeof s->subscription_id, "%s", sub);
  snprintf(st->admin_appid, sizeof st->admin_appid, "%s", appid);
  snprintf(st->admin_oid, sizeof st->admin_oid, "%s", oid);
  free(t);
  free(sub);
  free(appid);
  free(oid);
  char *dir = srv_path(s, "pki");
  mkdir(dir, 0700);
  free(dir);
  st->signing_key = pki_load_or_create_key(s, "pki/signing.key");
  if (!st->signing_key) return -1;
  jwt_kid(st->signing_key, st->kid);
  return 0;
}

static void identity_fini(srv *s) {
  identity_state *st = identity_st(s);
  if (!st) return;
  EVP_PKEY_free(st->signing_key);
  free(st);
  *srv_provider_state(s, &identity_provider) = NULL;
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

int identity_system_assigned_create(srv *s, const char *resource_id, char principal_id[40]) {
  char oid[37], appid[37];
  uuid_v4(oid);
  uuid_v4(appid);
  const char *name = strrchr(resource_id, '/');
  name = name ? name + 1 : resource_id;
  if (store_exec(s,
                 "INSERT INTO principals(oid,appid,display_name,kind,resource_id,created_ms) "
                 "VALUES(%Q,%Q,%Q,'ManagedIdentity',%Q,%lld)",
                 oid, appid, name, resource_id, (long long)clock_now_ms(s)) != 0)
    return -1;
  snprintf(principal_id, 40, "%s", oid);
  return 0;
}

void identity_system_assigned_delete(srv *s, const char *resource_id) {
  store_exec(s,
             "DELETE FROM role_assignments WHERE principal_id IN (SELECT oid FROM principals "
             "WHERE kind='ManagedIdentity' AND resource_id=%Q);"
             "DELETE FROM principals WHERE kind='ManagedIdentity' AND resource_id=%Q",
             resource_id, resource_id);
}

static const char *const identity_types[] = {NULL};

const provider identity_provider = {
    .name = "identity",
    .routes = identity_routes,
    .nroutes = sizeof identity_routes / sizeof identity_routes[0],
    .schema = {identity_schema, sizeof identity_schema / sizeof identity_schema[0]},
    .resource_types = identity_types,
    .init = identity_init,
    .env = identity_env,
    .fini = identity_fini,
};
