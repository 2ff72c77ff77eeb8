/* access.c: identity's access phase: every routed request that needs a caller
 * (route auth AUTH_ARM, AUTH_GRAPH, AUTH_ADMIN) is authenticated by its bearer
 * token and, on ARM routes, authorized by RBAC before its handler runs; and the
 * answers to the core's access questions (access_allowed() and friends in
 * core.h), which other providers ask without knowing principals. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../arm/arm.h"
#include "internal.h"

static void access_www_authenticate(http_req *r, const char *desc) {
  http_set_headerf(r, "WWW-Authenticate",
                   "Bearer authorization_uri=\"%s/adfs\", error=\"invalid_token\", "
                   "error_description=\"%s\"",
                   r->srv->mgmt_url, desc);
}

static void access_fail_forbidden(http_req *r, const char *action, const char *scope) {
  const principal *p = r->caller;
  http_fail(r, IDENTITY_ERR_AUTHORIZATION_FAILED,
            "The client '%s' with object id '%s' does not have authorization to perform "
            "action '%s' over scope '%s' or the scope is invalid. If access was recently "
            "granted, please refresh your credentials.",
            p ? p->appid : "", p ? p->oid : "", action, scope);
}

/* The access hook: returns 0 when the request may reach its handler. */
int identity_route_access(http_req *r, const route *rt) {
  srv *s = r->srv;
  if (rt->auth == AUTH_NONE || rt->auth == AUTH_PROVIDER) return 0;
  const char *authz = http_header_get(r, "Authorization");
  const char *aud = rt->auth == AUTH_GRAPH ? AUD_GRAPH : AUD_MGMT;
  principal *p = http_alloc(r, sizeof *p);
  const char *code = NULL;
  char msg[512] = "";
  if (!authz || !*authz) {
    access_www_authenticate(r,
                            "The authentication failed because of missing 'Authorization' header.");
    if (rt->auth == AUTH_GRAPH)
      http_fail(r, IDENTITY_ERR_INVALID_AUTHENTICATION_TOKEN, "Access token is empty.");
    else
      http_fail(r, IDENTITY_ERR_AUTHENTICATION_FAILED,
                "Authentication failed. The 'Authorization' header is missing.");
    return -1;
  }
  if (identity_verify_bearer(s, authz, aud, p, &code, msg, sizeof msg) != 0) {
    access_www_authenticate(r, "The access token is invalid.");
    http_fail(r, 401, code ? code : "InvalidAuthenticationToken", "%s",
              msg[0] ? msg : "The access token is invalid.");
    return -1;
  }
  r->caller = p;
  if (rt->auth == AUTH_ADMIN) {
    if (!p->is_admin) {
      http_fail(r, IDENTITY_ERR_AUTHORIZATION_FAILED,
                "The client '%s' with object id '%s' is not the azlite administrator.", p->appid,
                p->oid);
      return -1;
    }
    return 0;
  }
  if (rt->auth == AUTH_ARM && !(rt->action && !rt->action[0])) {
    const char *action = rt->action;
    if (!action) {
      char *derived = arm_action_for(r->method, r->path);
      action = http_strdup(r, derived);
      free(derived);
    }
    char *scope_m = arm_scope_for(r->path);
    const char *scope = http_strdup(r, scope_m);
    free(scope_m);
    /* A subscription azlite does not have is not found, as in Azure, rather
     * than forbidden: a typo in a subscription id should say so. */
    if (strncasecmp(scope, "/subscriptions/", 15) == 0) {
      const char *sub = scope + 15;
      size_t n = strcspn(sub, "/");
      if (n != strlen(s->subscription_id) || strncasecmp(sub, s->subscription_id, n) != 0) {
        http_fail(r, IDENTITY_ERR_SUBSCRIPTION_NOT_FOUND,
                  "The subscription '%.*s' could not be found.", (int)n, sub);
        return -1;
      }
    }
    if (authz_check(s, p, action, scope, 0) != 0) {
      access_fail_forbidden(r, action, scope);
      return -1;
    }
  }
  return 0;
}

static int access_allowed_rbac(http_req *r, const char *action, const char *scope, int data) {
  return r->caller && authz_check(r->srv, r->caller, action, scope, data) == 0;
}

static int access_any_rbac(http_req *r, const char *scope) {
  return r->caller && authz_any_at_or_below(r->srv, r->caller, scope);
}

const access_ops identity_access_ops = {
    .allowed = access_allowed_rbac,
    .any_at_or_below = access_any_rbac,
    .fail_denied = access_fail_forbidden,
};
