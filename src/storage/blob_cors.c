/* blob_cors.c: CORS for the blob service, from the CORS rules of the
 * account's service properties (Set Blob Service Properties): preflight
 * requests (OPTIONS, answered without authentication) and the CORS headers of
 * actual requests that carry Origin.  The first rule that matches wins; no
 * rule, no CORS headers (a preflight then fails with 403 CorsPreflightFailure).
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"

/* The account's CORS rules as a JSON array (new reference; empty when none). */
static json_t *cors_rules(blob_ctx *c) {
  json_t *rules = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT json_extract(props, '$.Cors') FROM blob_service_props WHERE account=?",
                    -1, &q, NULL) != SQLITE_OK)
    return rules;
  sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
  json_t *cors = NULL;
  if (sqlite3_step(q) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(q, 0);
    if (t) cors = json_loads(t, 0, NULL);
  }
  store_finalize(q);
  json_t *r = json_object_get(cors, "CorsRule");
  if (json_is_array(r))
    json_array_extend(rules, r);
  else if (json_is_object(r))
    json_array_append(rules, r);
  json_decref(cors);
  return rules;
}

static const char *rule_get(json_t *rule, const char *k) {
  const char *v = json_string_value(json_object_get(rule, k));
  return v ? v : "";
}

/* Does a comma-separated list hold item?  Entries may be "*" (anything),
 * end in '*' (a prefix, when prefix_ok) or, for origins, be glob patterns. */
static int list_has(const char *list, const char *item, int prefix_ok, int glob_ok) {
  const char *p = list;
  size_t il = strlen(item);
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    size_t m = n;
    while (m > 0 && p[m - 1] == ' ')
      m--;
    if (m == 1 && p[0] == '*') return 1;
    if (m == il && strncasecmp(p, item, m) == 0) return 1;
    if (m > 0 && prefix_ok && p[m - 1] == '*' && il >= m - 1 && strncasecmp(p, item, m - 1) == 0)
      return 1;
    if (m > 0 && glob_ok && memchr(p, '*', m)) {
      char *pat = strndup(p, m);
      int ok = fnmatch(pat, item, FNM_CASEFOLD) == 0;
      free(pat);
      if (ok) return 1;
    }
    p += n;
  }
  return 0;
}

static int rule_allows(json_t *rule, const char *origin, const char *method) {
  return list_has(rule_get(rule, "AllowedOrigins"), origin, 0, 1) &&
         list_has(rule_get(rule, "AllowedMethods"), method, 0, 0);
}

/* Every header of a comma-separated request list is allowed by the rule. */
static int headers_allowed(json_t *rule, const char *req_headers) {
  const char *allowed = rule_get(rule, "AllowedHeaders");
  for (const char *p = req_headers; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    size_t m = n;
    while (m > 0 && p[m - 1] == ' ')
      m--;
    if (m > 0) {
      char *h = strndup(p, m);
      int ok = list_has(allowed, h, 1, 0);
      free(h);
      if (!ok) return 0;
    }
    p += n;
  }
  return 1;
}

void blob_cors_preflight(blob_ctx *c) {
  http_req *r = c->r;
  const char *origin = http_header_get(r, "Origin");
  const char *method = http_header_get(r, "Access-Control-Request-Method");
  const char *req_headers = http_header_get(r, "Access-Control-Request-Headers");
  if (!origin || !method) {
    http_fail(r, STORAGE_ERR_INVALID_HEADER_VALUE, "A required CORS header is not present.");
    http_fail_detail(r, "HeaderName", origin ? "Access-Control-Request-Method" : "Origin");
    return;
  }
  json_t *rules = cors_rules(c);
  size_t i;
  json_t *rule;
  json_array_foreach(rules, i, rule) {
    if (!rule_allows(rule, origin, method)) continue;
    if (req_headers && !headers_allowed(rule, req_headers)) continue;
    http_set_header(r, "Access-Control-Allow-Origin", origin);
    http_set_header(r, "Access-Control-Allow-Methods", method);
    if (req_headers) http_set_header(r, "Access-Control-Allow-Headers", req_headers);
    const char *age = rule_get(rule, "MaxAgeInSeconds");
    if (*age) http_set_header(r, "Access-Control-Max-Age", age);
    http_set_header(r, "Access-Control-Allow-Credentials", "true");
    json_decref(rules);
    http_reply_empty(r, 200);
    return;
  }
  json_decref(rules);
  http_fail(r, STORAGE_ERR_CORS_PREFLIGHT_FAILURE,
            "CORS not enabled or no matching rule found for this request.");
}

/* Access-Control-Expose-Headers: the rule's names, with "prefix*" entries
 * expanded to the reply's headers that start with the prefix. */
static char *exposed(blob_ctx *c, const char *rule_list) {
  const http_header *h;
  int nh = http_reply_headers(c->r, &h);
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  int first = 1;
  for (const char *p = rule_list; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    size_t m = n;
    while (m > 0 && p[m - 1] == ' ')
      m--;
    if (m > 1 && p[m - 1] == '*') {
      for (int i = 0; i < nh; i++)
        if (strncasecmp(h[i].name, p, m - 1) == 0) {
          fprintf(f, "%s%s", first ? "" : ",", h[i].name);
          first = 0;
        }
    } else if (m > 0) {
      fprintf(f, "%s%.*s", first ? "" : ",", (int)m, p);
      first = 0;
    }
    p += n;
  }
  fclose(f);
  return out;
}

void blob_cors_headers(blob_ctx *c) {
  const char *origin = http_header_get(c->r, "Origin");
  if (!origin || !c->account) return;
  json_t *rules = cors_rules(c);
  size_t i;
  json_t *rule;
  json_array_foreach(rules, i, rule) {
    if (!rule_allows(rule, origin, c->r->method)) continue;
    char *exp = exposed(c, rule_get(rule, "ExposedHeaders"));
    if (*exp) http_set_header(c->r, "Access-Control-Expose-Headers", exp);
    free(exp);
    int any = strcmp(rule_get(rule, "AllowedOrigins"), "*") == 0;
    http_set_header(c->r, "Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any) {
      http_set_header(c->r, "Vary", "Origin");
      http_set_header(c->r, "Access-Control-Allow-Credentials", "true");
    }
    json_decref(rules);
    return;
  }
  if (json_array_size(rules) > 0) http_set_header(c->r, "Vary", "Origin");
  json_decref(rules);
}
