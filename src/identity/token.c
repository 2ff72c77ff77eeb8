/* token.c: Azure AD's token service as azlite serves it: OpenID discovery
 * (ADFS-style and v2), JWKS, the client_credentials grant, and verification
 * of the tokens it signed.
 *
 * Credential validity follows the wall clock, not azlite's advanceable clock:
 * token times (iat/nbf/exp), because clients cache tokens by their own wall
 * clock, and client secrets' start/end, because `azlite clock advance` must
 * not expire the admin's secret (and every secret a test runs on). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"
#include "jwt.h"

#define CLOCK_SKEW_S 300

static int64_t wall_s(void) {
  return (int64_t)time(NULL);
}

static const char *tenant_of(http_req *r) {
  const char *t = http_param(r, "tenant");
  return t ? t : "adfs";
}

/* Azure AD's public authority host names (MSAL's aliases of the cloud). */
static const char *const aad_aliases[] = {"login.microsoftonline.com", "login.windows.net",
                                          "login.microsoft.com", "sts.windows.net"};

/* Where the caller reached Azure AD: https://login.microsoftonline.com under
 * `azlite exec` (src/cli/exec.c), else the management endpoint. */
static const char *aad_origin(http_req *r) {
  size_t n = strcspn(r->host, ":");
  if (n == strlen(aad_aliases[0]) && strncasecmp(r->host, aad_aliases[0], n) == 0)
    return "https://login.microsoftonline.com";
  return r->srv->mgmt_url;
}

/* GET /common/discovery/instance?api-version=1.1&authorization_endpoint=URL:
 * MSAL's instance discovery.  Azure AD's public cloud answers for its own
 * authority hosts and refuses others (invalid_instance). */
void identity_aad_instance_discovery(http_req *r) {
  const char *ae = http_query_get(r, "authorization_endpoint");
  const char *api = http_query_get(r, "api-version");
  char host[256] = "", tenant[128] = "common";
  if (ae && strncasecmp(ae, "https://", 8) == 0) {
    const char *h = ae + 8;
    size_t hn = strcspn(h, "/:?#");
    snprintf(host, sizeof host, "%.*s", (int)(hn < sizeof host ? hn : sizeof host - 1), h);
    const char *p = strchr(h, '/');
    if (p && p[1]) {
      size_t tn = strcspn(p + 1, "/?#");
      if (tn && tn < sizeof tenant) snprintf(tenant, sizeof tenant, "%.*s", (int)tn, p + 1);
    }
  }
  int known = 0;
  for (size_t i = 0; i < sizeof aad_aliases / sizeof *aad_aliases; i++)
    known |= strcasecmp(host, aad_aliases[i]) == 0;
  if (!ae || !known) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_INSTANCE, "AADSTS50049: Unknown or invalid instance.");
    return;
  }
  json_t *aliases = json_array();
  for (size_t i = 0; i < sizeof aad_aliases / sizeof *aad_aliases; i++)
    json_array_append_new(aliases, json_string(aad_aliases[i]));
  json_t *j = json_pack(
      "{s:o, s:s, s:[{s:s, s:s, s:o}]}", "tenant_discovery_endpoint",
      json_sprintf("%s/%s/v2.0/.well-known/openid-configuration", aad_origin(r), tenant),
      "api-version", api ? api : "1.1", "metadata", "preferred_network",
      "login.microsoftonline.com", "preferred_cache", "login.windows.net", "aliases", aliases);
  http_reply_json(r, 200, j);
}

void identity_aad_openid_config(http_req *r) {
  srv *s = r->srv;
  const char *t = tenant_of(r);
  int adfs = strcasecmp(t, "adfs") == 0;
  int v2 = strstr(r->path, "/v2.0/") != NULL;
  const char *tid = adfs || strcasecmp(t, "common") == 0 || strcasecmp(t, "organizations") == 0
                        ? s->tenant_id
                        : t;
  char base[200];
  snprintf(base, sizeof base, "%s/%s", aad_origin(r), adfs ? "adfs" : t);
  json_t *j = json_object();
  json_object_set_new(j, "token_endpoint",
                      json_sprintf("%s/oauth2%s/token", base, adfs || !v2 ? "" : "/v2.0"));
  json_object_set_new(j, "authorization_endpoint",
                      json_sprintf("%s/oauth2%s/authorize", base, adfs || !v2 ? "" : "/v2.0"));
  json_object_set_new(j, "jwks_uri",
                      json_sprintf("%s/discovery%s/keys", base, adfs || !v2 ? "" : "/v2.0"));
  json_object_set_new(j, "issuer",
                      adfs ? json_sprintf("%s/adfs", s->mgmt_url)
                           : json_sprintf("%s/%s/v2.0", s->mgmt_url, tid));
  json_object_set_new(j, "tenant_region_scope", json_string("NA"));
  json_object_set_new(j, "token_endpoint_auth_methods_supported",
                      json_pack("[s,s]", "client_secret_post", "client_secret_basic"));
  json_object_set_new(j, "response_types_supported", json_pack("[s]", "token"));
  json_object_set_new(j, "grant_types_supported", json_pack("[s]", "client_credentials"));
  json_object_set_new(j, "id_token_signing_alg_values_supported", json_pack("[s]", "RS256"));
  json_object_set_new(j, "scopes_supported", json_pack("[s]", "openid"));
  http_reply_json(r, 200, j);
}

void identity_aad_jwks(http_req *r) {
  const char *kid;
  EVP_PKEY *k = identity_signing_key(r->srv, &kid);
  if (!k) {
    http_fail(r, IDENTITY_ERR_OAUTH_SERVER_ERROR,
              "AADSTS50000: The token signing key is unavailable.");
    return;
  }
  http_reply_json(r, 200, jwt_jwks(k, kid));
}

/* Decodes one application/x-www-form-urlencoded value ('+' is a space). */
static char *form_decode(const char *s, size_t n) {
  char *tmp = malloc(n + 1);
  for (size_t i = 0; i < n; i++)
    tmp[i] = s[i] == '+' ? ' ' : s[i];
  tmp[n] = 0;
  char *out = http_url_decode(tmp, n);
  free(tmp);
  return out;
}

/* Finds field `name` in a form body; returns malloc'd value or NULL. */
static char *form_get(const char *body, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = body; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    if (eq && (size_t)(eq - p) == nl && strncmp(p, name, nl) == 0)
      return form_decode(eq + 1, len - nl - 1);
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

/* A service principal with accountEnabled false gets no tokens. */
static int principal_enabled(srv *s, const char *oid) {
  sqlite3_stmt *st;
  int enabled = 1;
  if (store_prepare(store_db(s), "SELECT props FROM principals WHERE oid=?", -1, &st, NULL) !=
      SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, oid, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    json_t *props = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    enabled = !json_is_false(json_object_get(props, "accountEnabled"));
    json_decref(props);
  }
  store_finalize(st);
  return enabled;
}

int identity_client_login(http_req *r, const char *client_id, const char *secret, principal *p) {
  srv *s = r->srv;
  if (identity_principal_by_appid(s, client_id, p) != 0) {
    http_fail(r, IDENTITY_ERR_OAUTH_UNAUTHORIZED_CLIENT,
              "AADSTS700016: Application with identifier '%s' was not found in the directory "
              "'%s'. This can happen if the application has not been installed by the "
              "administrator of the tenant or consented to by any user in the tenant. You may "
              "have sent your authentication request to the wrong tenant.",
              client_id, s->tenant_id);
    return -1;
  }
  if (!principal_enabled(s, p->oid)) {
    http_fail(r, IDENTITY_ERR_OAUTH_UNAUTHORIZED_CLIENT,
              "AADSTS7000112: Application '%s'(%s) is disabled.", p->appid, p->name);
    return -1;
  }
  char hash[65];
  identity_secret_hash(secret, hash);
  sqlite3_stmt *st;
  int ok = 0;
  int64_t now = wall_s() * 1000;
  if (store_prepare(store_db(s), "SELECT end_ms FROM secrets WHERE appid=? AND hash=?", -1, &st,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, p->appid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) ok = sqlite3_column_int64(st, 0) > now ? 1 : 2;
    store_finalize(st);
  }
  if (ok == 2) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_CLIENT,
              "AADSTS7000222: The provided client secret keys for app '%s' are expired. Visit "
              "the Azure portal to create new keys for your app.",
              p->appid);
    return -1;
  }
  if (!ok) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_CLIENT,
              "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
              "the request is the client secret value, not the client secret ID, for a secret "
              "added to app '%s'.",
              p->appid);
    return -1;
  }
  return 0;
}

char *identity_mint_token(srv *s, const principal *p, const char *audience, int64_t lifetime_s) {
  int64_t now = wall_s();
  char uti[37];
  uuid_v4(uti);
  json_t *c =
      json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "aud", audience, "iss",
                "", "tid", s->tenant_id, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                (json_int_t)(now + lifetime_s), "oid", p->oid, "sub", p->oid, "appid", p->appid,
                "azp", p->appid, "appidacr", "1", "idtyp", "app", "uti", uti, "ver", "1.0");
  json_object_set_new(c, "iss", json_sprintf("%s/%s/", s->mgmt_url, s->tenant_id));
  const char *kid;
  EVP_PKEY *key = identity_signing_key(s, &kid);
  char *tok = key ? jwt_sign(key, kid, c) : NULL;
  json_decref(c);
  return tok;
}

/* The audience a token is issued for: the scope without "/.default" (az sends
 * "https://host//.default" and expects aud "https://host/"), or the v1 resource. */
static char *audience_from(const char *scope, const char *resource) {
  if (resource && *resource) return strdup(resource);
  if (!scope) return NULL;
  const char *end = strchr(scope, ' ');
  size_t n = end ? (size_t)(end - scope) : strlen(scope);
  static const char sfx[] = "/.default";
  if (n >= sizeof sfx - 1 && strncmp(scope + n - (sizeof sfx - 1), sfx, sizeof sfx - 1) == 0)
    n -= sizeof sfx - 1;
  return strndup(scope, n);
}

/* az login without --service-principal asks for a device code (or opens the
 * authorize page): azlite has no users, so say what works instead. */
void identity_aad_interactive(http_req *r) {
  srv *s = r->srv;
  http_fail(r, IDENTITY_ERR_OAUTH_INVALID_REQUEST,
            "AADSTS70002: azlite signs in service principals only (the client_credentials "
            "grant): it has no users, so interactive and device-code sign-in are not "
            "available. Run az through `azlite az ...`, which signs in as the admin service "
            "principal, or run `az login --service-principal --username <appId> --password "
            "<secret> --tenant %s` (`azlite env` prints the admin's AZURE_CLIENT_ID and "
            "AZURE_CLIENT_SECRET).",
            s->tenant_id);
}

void identity_aad_token(http_req *r) {
  char *body = http_body_read_all(r, 64 * 1024, NULL);
  if (!body) return;
  char *grant = form_get(body, "grant_type"), *cid = form_get(body, "client_id"),
       *secret = form_get(body, "client_secret"), *scope = form_get(body, "scope"),
       *resource = form_get(body, "resource"), *aud = NULL;
  principal p;
  if (!grant) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_REQUEST,
              "AADSTS900144: The request body must contain the following parameter: "
              "'grant_type'.");
  } else if (strcmp(grant, "client_credentials") != 0) {
    http_fail(r, IDENTITY_ERR_OAUTH_UNSUPPORTED_GRANT_TYPE,
              "AADSTS70003: The app requested an unsupported grant type '%s'. azlite supports "
              "the client_credentials grant: sign in as a service principal (`azlite az ...`, "
              "or `az login --service-principal`).",
              grant);
  } else if (!cid || !*cid) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_REQUEST,
              "AADSTS900144: The request body must contain the following parameter: "
              "'client_id'.");
  } else if (!secret || !*secret) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_CLIENT,
              "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for "
              "the 'client_credentials' grant type.");
  } else if (!(aud = audience_from(scope, resource)) || !*aud) {
    http_fail(r, IDENTITY_ERR_OAUTH_INVALID_REQUEST,
              "AADSTS900144: The request body must contain the following parameter: 'scope'.");
  } else if (identity_client_login(r, cid, secret, &p) == 0) {
    char *tok = identity_mint_token(r->srv, &p, aud, TOKEN_LIFETIME_S);
    json_t *j =
        json_pack("{s:s,s:i,s:i,s:s}", "token_type", "Bearer", "expires_in", TOKEN_LIFETIME_S,
                  "ext_expires_in", TOKEN_LIFETIME_S, "access_token", tok);
    if (resource) {
      json_object_set_new(j, "resource", json_string(resource));
      json_object_set_new(j, "expires_on",
                          json_sprintf("%lld", (long long)(wall_s() + TOKEN_LIFETIME_S)));
    }
    free(tok);
    http_reply_json(r, 200, j);
  }
  free(body);
  free(grant);
  free(cid);
  free(secret);
  free(scope);
  free(resource);
  free(aud);
}

/* Strips one trailing '/' for comparison. */
static int aud_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la && a[la - 1] == '/') la--;
  if (lb && b[lb - 1] == '/') lb--;
  return la == lb && strncasecmp(a, b, la) == 0;
}

static int aud_accepted(srv *s, const char *cls, const char *aud) {
  char own[128];
  if (strcmp(cls, AUD_MGMT) == 0) {
    return aud_eq(aud, AUD_MGMT) || aud_eq(aud, "https://management.core.windows.net/") ||
           aud_eq(aud, s->mgmt_url);
  }
  if (strcmp(cls, AUD_GRAPH) == 0) {
    snprintf(own, sizeof own, "%s/graph", s->mgmt_url);
    return aud_eq(aud, AUD_GRAPH) || aud_eq(aud, own);
  }
  if (strcmp(cls, AUD_STORAGE) == 0) {
    /* https://<account>.blob.core.windows.net[/]: the host must end in the suffix. */
    static const char sfx[] = ".blob.core.windows.net";
    size_t n = strlen(aud);
    if (n && aud[n - 1] == '/') n--;
    return aud_eq(aud, AUD_STORAGE) ||
           (strncmp(aud, "https://", 8) == 0 && n > 8 + sizeof sfx - 1 &&
            memchr(aud + 8, '/', n - 8) == NULL &&
            strncasecmp(aud + n - (sizeof sfx - 1), sfx, sizeof sfx - 1) == 0);
  }
  return aud_eq(aud, cls);
}

int identity_verify_bearer(srv *s, const char *authorization, const char *audience, principal *p,
                           const char **why_code, char *why_msg, size_t msglen) {
  *why_code = "InvalidAuthenticationToken";
  if (strncasecmp(authorization, "Bearer ", 7) != 0) {
    snprintf(why_msg, msglen,
             "The access token is missing or has an invalid format: the 'Authorization' "
             "header must use the Bearer scheme.");
    return -1;
  }
  const char *tok = authorization + 7;
  while (*tok == ' ')
    tok++;
  const char *err = NULL;
  EVP_PKEY *key = identity_signing_key(s, NULL);
  json_t *c = key ? jwt_verify(key, tok, &err) : NULL;
  if (!key) err = "the token signing key is unavailable";
  if (!c) {
    snprintf(why_msg, msglen, "The access token is invalid: %s.", err);
    return -1;
  }
  int rc = -1;
  char expected_iss[160];
  snprintf(expected_iss, sizeof expected_iss, "%s/%s/", s->mgmt_url, s->tenant_id);
  const char *iss = json_string_value(json_object_get(c, "iss"));
  const char *aud = json_string_value(json_object_get(c, "aud"));
  const char *oid = json_string_value(json_object_get(c, "oid"));
  json_int_t exp = json_integer_value(json_object_get(c, "exp"));
  json_int_t nbf = json_integer_value(json_object_get(c, "nbf"));
  int64_t now = wall_s();
  if (!iss || strcmp(iss, expected_iss) != 0) {
    *why_code = "InvalidAuthenticationTokenTenant";
    snprintf(why_msg, msglen,
             "The access token is from the wrong issuer '%s'. It must match the tenant "
             "'%s/%s/' associated with this subscription. Please use the authority (URL) "
             "'%s/%s' to get the token.",
             iss ? iss : "", s->mgmt_url, s->tenant_id, s->mgmt_url, s->tenant_id);
  } else if (!aud || !aud_accepted(s, audience, aud)) {
    *why_code = "InvalidAuthenticationTokenAudience";
    snprintf(why_msg, msglen,
             "The access token has been obtained for wrong audience or resource '%s'. It "
             "should exactly match with one of the allowed audiences '%s'.",
             aud ? aud : "", audience);
  } else if (exp <= now) {
    *why_code = "ExpiredAuthenticationToken";
    char e[40], n[40];
    clock_iso8601((int64_t)exp * 1000, e);
    clock_iso8601(now * 1000, n);
    snprintf(why_msg, msglen,
             "The access token expiry UTC time '%.19s' is earlier than current UTC time '%.19s'.",
             e, n);
  } else if (nbf > now + CLOCK_SKEW_S) {
    char e[40];
    clock_iso8601((int64_t)nbf * 1000, e);
    snprintf(why_msg, msglen, "The access token is not yet valid: it is valid from '%.19s'.", e);
  } else if (!oid || identity_principal_by_oid(s, oid, p) != 0) {
    snprintf(why_msg, msglen,
             "The access token is invalid: its principal '%s' does not exist in the tenant.",
             oid ? oid : "");
  } else {
    snprintf(p->aud, sizeof p->aud, "%s", aud);
    rc = 0;
  }
  json_decref(c);
  return rc;
}
