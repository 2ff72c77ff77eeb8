/* msi.c: managed identities.  User-assigned identities as ARM resources
 * (Microsoft.ManagedIdentity/userAssignedIdentities, kept in ARM's resource
 * table so /resources and group deletion see them, each with a principal of
 * kind ManagedIdentity), and the token endpoint workloads use.
 *
 * The workload token endpoint follows App Service's convention, which
 * azure-identity's ManagedIdentityCredential (and so DefaultAzureCredential)
 * speaks: GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=...
 * [&client_id=|principal_id=|mi_res_id=...] with the header
 * X-IDENTITY-HEADER: $IDENTITY_HEADER.  Azure ML's older form ("secret"
 * header, clientid=) is accepted too.  The header value is
 * base64url(workload resource id) "." base64url(HMAC-SHA256(key, id)): the
 * server keeps no table of workloads, the key never leaves the data dir, and
 * a header names exactly one workload, which may only get tokens for its own
 * identities.  IMDS (169.254.169.254) is not served: an unauthenticated
 * endpoint on a shared host would hand any local process any identity. */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../arm/arm.h"
#include "internal.h"
#include "jwt.h"

const char *const msi_api_versions[] = {"2015-08-31-preview", "2018-11-30", "2021-09-30-preview",
                                        "2022-01-31-preview", "2023-01-31", "2023-07-31-preview",
                                        "2024-11-30",         NULL};

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int msi_init(srv *s) {
  identity_state *st = identity_st(s);
  unsigned char k[32];
  char hex[65];
  if (RAND_bytes(k, sizeof k) != 1) return -1;
  for (size_t i = 0; i < sizeof k; i++)
    sprintf(hex + 2 * i, "%02x", k[i]);
  OPENSSL_cleanse(k, sizeof k);
  /* INSERT OR IGNORE: a CLI process opening the store beside the server must
   * not replace the key the server signs with. */
  if (store_exec(s, "INSERT OR IGNORE INTO settings(key,value) VALUES('identity.hmac_key',%Q)",
                 hex) != 0)
    return -1;
  OPENSSL_cleanse(hex, sizeof hex);
  char *v = store_get(s, "identity.hmac_key");
  int ok = v && strlen(v) == 64;
  for (size_t i = 0; ok && i < sizeof st->hmac_key; i++) {
    int hi = hexval((unsigned char)v[2 * i]), lo = hexval((unsigned char)v[2 * i + 1]);
    if (hi < 0 || lo < 0) ok = 0;
    st->hmac_key[i] = (unsigned char)(hi * 16 + lo);
  }
  if (v) OPENSSL_cleanse(v, strlen(v));
  free(v);
  return ok ? 0 : -1;
}

/* ---- workload headers ----------------------------------------------------------- */

static char *workload_mac(srv *s, const char *resource_id) {
  unsigned char mac[32];
  unsigned int len = sizeof mac;
  char *msg = NULL;
  if (asprintf(&msg, "azlite-workload:%s", resource_id) < 0) abort();
  HMAC(EVP_sha256(), identity_st(s)->hmac_key, sizeof identity_st(s)->hmac_key,
       (const unsigned char *)msg, strlen(msg), mac, &len);
  free(msg);
  return jwt_b64url_encode(mac, len);
}

void identity_user_delegation_key(srv *s, const char *skoid, const char *sktid, const char *skt,
                                  const char *ske, const char *sks, const char *skv, char out[48]) {
  unsigned char mac[32];
  unsigned int len = sizeof mac;
  char *msg = NULL;
  if (asprintf(&msg, "azlite-user-delegation-key\n%s\n%s\n%s\n%s\n%s\n%s", skoid ? skoid : "",
               sktid ? sktid : "", skt ? skt : "", ske ? ske : "", sks ? sks : "",
               skv ? skv : "") < 0)
    abort();
  HMAC(EVP_sha256(), identity_st(s)->hmac_key, sizeof identity_st(s)->hmac_key,
       (const unsigned char *)msg, strlen(msg), mac, &len);
  free(msg);
  EVP_EncodeBlock((unsigned char *)out, mac, (int)len);
  OPENSSL_cleanse(mac, sizeof mac);
}

/* The header for a workload (malloc'd). */
static char *workload_header(srv *s, const char *resource_id) {
  char *id = jwt_b64url_encode((const unsigned char *)resource_id, strlen(resource_id));
  char *mac = workload_mac(s, resource_id), *out = NULL;
  if (asprintf(&out, "%s.%s", id, mac) < 0) abort();
  free(id);
  free(mac);
  return out;
}

/* The workload a header names, if its MAC is right (malloc'd), else NULL. */
static char *workload_from_header(srv *s, const char *hdr) {
  const char *dot = strchr(hdr, '.');
  if (!dot) return NULL;
  size_t n;
  unsigned char *raw = jwt_b64url_decode(hdr, (size_t)(dot - hdr), &n);
  if (!raw) return NULL;
  /* raw is not NUL-terminated: copy exactly n bytes (a NUL inside fails below). */
  char *id = malloc(n + 1);
  if (!id) abort();
  memcpy(id, raw, n);
  id[n] = 0;
  free(raw);
  char *want = workload_mac(s, id);
  int ok = strlen(want) == strlen(dot + 1) && CRYPTO_memcmp(want, dot + 1, strlen(want)) == 0 &&
           strlen(id) == n;
  free(want);
  if (!ok) {
    free(id);
    return NULL;
  }
  return id;
}

char *identity_workload_of_header(srv *s, const char *hdr) {
  return hdr ? workload_from_header(s, hdr) : NULL;
}

char **identity_workload_env(srv *s, const char *resource_id) {
  char *hdr = workload_header(s, resource_id), *ca = srv_path(s, "pki/ca.pem");
  char **env = calloc(7, sizeof *env);
  if (!env) abort();
  int n = 0;
  if (asprintf(&env[n++], "IDENTITY_ENDPOINT=%s/azlite/msi/token", s->mgmt_url) < 0 ||
      asprintf(&env[n++], "IDENTITY_HEADER=%s", hdr) < 0 ||
      asprintf(&env[n++], "MSI_ENDPOINT=%s/azlite/msi/token", s->mgmt_url) < 0 ||
      asprintf(&env[n++], "MSI_SECRET=%s", hdr) < 0 ||
      asprintf(&env[n++], "REQUESTS_CA_BUNDLE=%s", ca) < 0 ||
      asprintf(&env[n++], "SSL_CERT_FILE=%s", ca) < 0)
    abort();
  free(hdr);
  free(ca);
  return env;
}

void identity_workload_env_free(char **env) {
  for (int i = 0; env && env[i]; i++) {
    OPENSSL_cleanse(env[i], strlen(env[i]));
    free(env[i]);
  }
  free(env);
}

void msi_workload_env_get(http_req *r) {
  const char *rid = http_query_get(r, "resourceId");
  if (!rid || rid[0] != '/') {
    http_fail(r, IDENTITY_ERR_INVALID_REQUEST,
              "The query parameter 'resourceId' must name the workload's resource id.");
    return;
  }
  char **env = identity_workload_env(r->srv, rid);
  json_t *j = json_object();
  for (int i = 0; env[i]; i++) {
    char *eq = strchr(env[i], '=');
    *eq = 0;
    json_object_set_new(j, env[i], json_string(eq + 1));
    *eq = '=';
  }
  identity_workload_env_free(env);
  http_reply_json(r, 200, j);
}

/* ---- the workload token endpoint ------------------------------------------------- */

typedef struct msi_candidate {
  char oid[40], appid[40], resource_id[512];
} msi_candidate;

/* Adds the managed identity whose resource_id is rid (if any) to the list. */
static int add_candidate(srv *s, const char *rid, msi_candidate *c, int n, int max) {
  sqlite3_stmt *st;
  if (n >= max || store_prepare(store_db(s),
                                "SELECT oid, appid, resource_id FROM principals WHERE "
                                "kind='ManagedIdentity' AND resource_id=?",
                                -1, &st, NULL) != SQLITE_OK)
    return n;
  sqlite3_bind_text(st, 1, rid, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(c[n].oid, sizeof c[n].oid, "%s", sqlite3_column_text(st, 0));
    snprintf(c[n].appid, sizeof c[n].appid, "%s", sqlite3_column_text(st, 1));
    snprintf(c[n].resource_id, sizeof c[n].resource_id, "%s", sqlite3_column_text(st, 2));
    n++;
  }
  store_finalize(st);
  return n;
}

static const char *query_any(http_req *r, const char *a, const char *b) {
  const char *v = http_query_get(r, a);
  return v && *v ? v : (b ? http_query_get(r, b) : NULL);
}

void msi_workload_token(http_req *r) {
  const char *hdr = http_header_get(r, "X-IDENTITY-HEADER");
  if (!hdr) hdr = http_header_get(r, "secret");
  char *workload = hdr ? workload_from_header(r->srv, hdr) : NULL;
  if (!workload) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_CLIENT,
              "The X-IDENTITY-HEADER header is missing or does not name a workload of this "
              "azlite.");
    return;
  }
  identity_workload_token(r, workload);
  free(workload);
}

void identity_workload_token(http_req *r, const char *workload) {
  srv *s = r->srv;
  const char *resource = http_query_get(r, "resource");
  msi_candidate c[16];
  int own = add_candidate(s, workload, c, 0, 16), n = own;
  json_t *body = arm_resource_get(s, workload);
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(json_object_get(body, "identity"), "userAssignedIdentities"),
                      k, v) n = add_candidate(s, k, c, n, 16);
  const char *by_client = query_any(r, "client_id", "clientid");
  const char *by_object = query_any(r, "principal_id", "object_id");
  const char *by_res = query_any(r, "mi_res_id", "msi_res_id");
  msi_candidate *pick = NULL;
  if (!own && !body) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_CLIENT, "The workload '%s' no longer exists.",
              workload);
    goto done;
  }
  if (!resource || !*resource) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_REQUEST,
              "The request must contain the query parameter 'resource'.");
    goto done;
  }
  for (int i = 0; i < n && !pick; i++)
    if ((by_client && strcasecmp(by_client, c[i].appid) == 0) ||
        (by_object && strcasecmp(by_object, c[i].oid) == 0) ||
        (by_res && strcasecmp(by_res, c[i].resource_id) == 0) ||
        (!by_client && !by_object && !by_res && (own || n == 1)))
      pick = &c[i];
  if (!pick) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_REQUEST,
              by_client || by_object || by_res
                  ? "No managed identity matching the requested one is assigned to the "
                    "workload '%s'."
                  : "The workload '%s' has no system-assigned identity; name one of its "
                    "user-assigned identities with client_id, principal_id or mi_res_id.",
              workload);
    goto done;
  }
  principal p;
  if (identity_principal_by_oid(s, pick->oid, &p) != 0) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_REQUEST, "The managed identity no longer exists.");
    goto done;
  }
  char *tok = identity_mint_token(s, &p, resource, TOKEN_LIFETIME_S);
  long long now = (long long)time(NULL);
  /* App Service's fields and IMDS's (expires_in, ext_expires_in, not_before,
   * all strings there too): each client reads what its convention has. */
  http_reply_json(r, 200,
                  json_pack("{s:s,s:o,s:o,s:o,s:o,s:s,s:s,s:s}", "access_token", tok, "expires_on",
                            json_sprintf("%lld", now + TOKEN_LIFETIME_S), "expires_in",
                            json_sprintf("%d", TOKEN_LIFETIME_S), "ext_expires_in",
                            json_sprintf("%d", TOKEN_LIFETIME_S), "not_before",
                            json_sprintf("%lld", now), "resource", resource, "token_type", "Bearer",
                            "client_id", p.appid));
  free(tok);
done:
  json_decref(body);
}

/* ---- Microsoft.ManagedIdentity/userAssignedIdentities --------------------------- */

int identity_user_assigned_lookup(srv *s, const char *identity_id, char principal_id[40],
                                  char client_id[40]) {
  sqlite3_stmt *st;
  int rc = -1;
  if (store_prepare(store_db(s),
                    "SELECT oid, appid FROM principals WHERE kind='ManagedIdentity' AND "
                    "resource_id=? AND lower(resource_id) LIKE '%/providers/"
                    "microsoft.managedidentity/userassignedidentities/%'",
                    -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, identity_id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(principal_id, 40, "%s", sqlite3_column_text(st, 0));
    snprintf(client_id, 40, "%s", sqlite3_column_text(st, 1));
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

/* ARM's linked access check: attaching a user-assigned identity to a resource
 * lends the resource that identity's roles, so it takes the assign action on
 * each identity named, beyond the write on the resource itself. */
#define UAI_ASSIGN UAI_TYPE "/assign/action"

int identity_check_linked_identities(http_req *r, const char *write_action, const char *resource_id,
                                     json_t *identity) {
  srv *s = r->srv;
  json_t *uai = json_object_get(identity, "userAssignedIdentities");
  if (!uai) return 0;
  if (!json_is_object(uai)) {
    http_fail(r, IDENTITY_ERR_INVALID_IDENTITY_VALUES,
              "The value of 'identity.userAssignedIdentities' must be an object whose keys are "
              "user-assigned identity resource ids.");
    return -1;
  }
  char *denied = NULL, *missing = NULL;
  size_t dlen = 0, mlen = 0;
  FILE *d = open_memstream(&denied, &dlen), *m = open_memstream(&missing, &mlen);
  const char *k;
  json_t *v;
  json_object_foreach(uai, k, v) {
    if (json_is_null(v)) continue; /* removal (PATCH) needs no right on the identity */
    char oid[40], cid[40];
    if (r->caller && authz_check(s, r->caller, UAI_ASSIGN, k, 0) != 0)
      fprintf(d, "%s%s", ftell(d) ? "," : "", k);
    else if (identity_user_assigned_lookup(s, k, oid, cid) != 0)
      fprintf(m, "%s%s", ftell(m) ? "," : "", k);
  }
  fclose(d);
  fclose(m);
  int rc = 0;
  if (*denied) {
    http_fail(r, IDENTITY_ERR_LINKED_AUTHORIZATION_FAILED,
              "The client '%s' with object id '%s' has permission to perform action '%s' on "
              "scope '%s'; however, it does not have permission to perform action '" UAI_ASSIGN
              "' on the linked scope(s) '%s' or the linked scope(s) are invalid.",
              r->caller->appid, r->caller->oid, write_action, resource_id, denied);
    rc = -1;
  } else if (*missing) {
    http_fail(r, IDENTITY_ERR_FAILED_IDENTITY_OPERATION,
              "Identity operation for resource '%s' failed: the user-assigned identity '%s' "
              "does not exist.",
              resource_id, missing);
    rc = -1;
  }
  free(denied);
  free(missing);
  return rc;
}

/* The identities of a resource as the request's `identity` asks, inside the
 * layer's saving transaction: a system-assigned identity is a real principal
 * (it gets tokens and roles), created once and deleted with "None" or with
 * the resource; user-assigned ones are looked up for their ids. */
static json_t *resource_identity_apply(http_req *r, const char *id, json_t *in) {
  srv *s = r->srv;
  const char *type = json_string_value(json_object_get(in, "type"));
  int system = type && strcasestr(type, "SystemAssigned") != NULL;
  if (!system) identity_system_assigned_delete(s, id);
  if (!type || !strcasecmp(type, "None")) return json_pack("{s:s}", "type", "None");
  json_t *out = json_deep_copy(in);
  if (system) {
    char pid[40] = "";
    if (identity_system_assigned_create(s, id, pid) != 0) {
      json_decref(out);
      return NULL;
    }
    json_object_set_new(out, "principalId", json_string(pid));
    json_object_set_new(out, "tenantId", json_string(s->tenant_id));
  }
  json_t *uai = json_object_get(out, "userAssignedIdentities");
  const char *k;
  json_t *v;
  json_object_foreach(uai, k, v) {
    char oid[40], cid[40];
    if (identity_user_assigned_lookup(s, k, oid, cid) == 0)
      json_object_set_new(uai, k, json_pack("{s:s,s:s}", "principalId", oid, "clientId", cid));
  }
  return out;
}

static const arm_identity_hooks resource_identity_hooks = {
    .check_linked = identity_check_linked_identities,
    .apply = resource_identity_apply,
};

void msi_register_hooks(void) {
  arm_identity_hooks_set(&resource_identity_hooks);
}

/* ---- user-assigned identities: a resource type of the generic layer ---- */

/* Azure: 3-128 characters, letters, digits, '-' and '_', starting with a letter or digit. */
static int uai_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 3 || len > 128 || !isalnum((unsigned char)n[0])) return 0;
  for (const char *p = n; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

/* Its principal: new ids on create; an update (PUT or PATCH) keeps them. */
static int uai_build(arm_op *op) {
  if (op->patch) return 0;
  json_t *p = json_object_get(op->cur, "properties");
  char oid[40], appid[40];
  if (op->cur) {
    snprintf(oid, sizeof oid, "%s", json_string_value(json_object_get(p, "principalId")));
    snprintf(appid, sizeof appid, "%s", json_string_value(json_object_get(p, "clientId")));
  } else {
    uuid_v4(oid);
    uuid_v4(appid);
  }
  json_object_set_new(op->body, "properties",
                      json_pack("{s:s,s:s,s:s}", "tenantId", op->s->tenant_id, "principalId", oid,
                                "clientId", appid));
  return 0;
}

static int uai_apply(arm_op *op) {
  if (!op->created) return 0;
  json_t *p = json_object_get(op->body, "properties");
  const char *oid = json_string_value(json_object_get(p, "principalId"));
  if (identity_principal_insert(op->s, oid, json_string_value(json_object_get(p, "clientId")),
                                op->name, "ManagedIdentity", op->id) != 0)
    return -1;
  log_info("identity: user-assigned identity %s (principal %s)", op->id, oid);
  return 0;
}

/* Its principal (and so its tokens and role assignments) goes with it, in
 * the one transaction that removes the resource. */
static int uai_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  return identity_principals_delete_where(s, "kind='ManagedIdentity' AND resource_id=%Q", id);
}

const arm_type msi_uai_type = {
    .type = UAI_TYPE,
    .display = "user-assigned identity",
    .name_valid = uai_name_valid,
    .name_code = "InvalidResourceName",
    .name_message = "Resource name '%s' is invalid. The name can contain only letters, numbers, "
                    "underscores and hyphens, must start with a letter or number, and be 3 to "
                    "128 characters long.",
    .create_status = 201,
    .build = uai_build,
    .apply = uai_apply,
    .remove = uai_remove,
    .example_name = "contract-id",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\"}",
};
