/* endpoints.c: a workspace's managed online endpoints
 * (workspaces/{ws}/onlineEndpoints/{name}) and their deployments
 * (.../deployments/{name}).  An endpoint is a row of ml_endpoints: its body
 * as GET answers less the URIs (named as the caller reaches azlite), its two
 * keys and the token its scoring URL carries.  A deployment is a row of
 * ml_deployments: its body with Azure's server defaults filled in
 * (scaleSettings, requestSettings, probes: azure-ai-ml needs them in every
 * answer), and the error of its last provisioning.
 *
 * Creates, updates and deletes are long-running operations.  A deployment's
 * provisioning boots its instances (scoring.c) and is Succeeded only once
 * every instance's init() has returned; Failed, with init()'s traceback in
 * the operation's error and in getLogs, when one raised.  A deployment that
 * was running when azlite stopped boots again at start. */
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../compute/compute.h"
#include "../identity/identity.h"
#include "../runtime/runtime.h"
#include "internal.h"

#define EP_TYPE ML_WS_TYPE "/onlineEndpoints"
#define DEP_TYPE EP_TYPE "/deployments"

/* ---- rows ---------------------------------------------------------------------- */

static json_t *row_body(srv *s, const char *sql, const char *id) {
  sqlite3_stmt *q;
  json_t *out = NULL;
  if (store_prepare(store_db(s), sql, -1, &q, NULL) != SQLITE_OK) return NULL;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    out = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
  store_finalize(q);
  return out;
}

static json_t *ep_load(srv *s, const char *id) {
  return row_body(s, "SELECT body FROM ml_endpoints WHERE id=? COLLATE NOCASE", id);
}
static json_t *dep_load(srv *s, const char *id) {
  return row_body(s, "SELECT body FROM ml_deployments WHERE id=? COLLATE NOCASE", id);
}

/* ---- the scoring front's endpoints, cached ------------------------------------------------ */

/* Every scoring request names its endpoint by token or host; reading and
 * parsing its row each time was a fifth of the front's work.  The last few
 * are kept, each stamped with ep_gen as it was before its row was read;
 * every write of ml_endpoints moves ep_gen on (after its commit too), so an
 * entry read before a write is never used after it.  Their bodies are
 * shared, read-only. */
#define EP_CACHE 16

typedef struct ep_cached {
  char key[200]; /* "t:<token>" or "h:<host>"; "" when free */
  unsigned gen;
  ml_endpoint_view v; /* v.body: the cache's reference */
} ep_cached;

static pthread_mutex_t ep_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static ep_cached ep_cache[EP_CACHE];
static unsigned ep_cache_next;
static unsigned ep_gen = 1;

static void ep_changed(void) {
  __atomic_add_fetch(&ep_gen, 1, __ATOMIC_SEQ_CST);
}

static int ep_cache_get(const char *key, ml_endpoint_view *out) {
  unsigned gen = __atomic_load_n(&ep_gen, __ATOMIC_SEQ_CST);
  int rc = -1;
  pthread_mutex_lock(&ep_cache_mu);
  for (int i = 0; i < EP_CACHE && rc; i++)
    if (ep_cache[i].gen == gen && !strcmp(ep_cache[i].key, key)) {
      *out = ep_cache[i].v;
      json_incref(out->body);
      rc = 0;
    }
  pthread_mutex_unlock(&ep_cache_mu);
  return rc;
}

static void ep_cache_put(const char *key, unsigned gen, const ml_endpoint_view *v) {
  if (strlen(key) >= sizeof ep_cache[0].key) return;
  pthread_mutex_lock(&ep_cache_mu);
  ep_cached *e = &ep_cache[ep_cache_next++ % EP_CACHE];
  json_decref(e->v.body);
  snprintf(e->key, sizeof e->key, "%s", key);
  e->gen = gen;
  e->v = *v;
  json_incref(e->v.body);
  pthread_mutex_unlock(&ep_cache_mu);
}

static void ep_cache_fini(void) {
  pthread_mutex_lock(&ep_cache_mu);
  for (int i = 0; i < EP_CACHE; i++) {
    json_decref(ep_cache[i].v.body);
    memset(&ep_cache[i], 0, sizeof ep_cache[i]);
  }
  pthread_mutex_unlock(&ep_cache_mu);
}

static int body_update(srv *s, const char *table, const char *id, json_t *b) {
  char *txt = json_dumps(b, JSON_COMPACT);
  char sql[120];
  snprintf(sql, sizeof sql, "UPDATE %s SET body=? WHERE id=? COLLATE NOCASE", table);
  int rc = store_run(s, sql, "tt", txt, id);
  free(txt);
  ep_changed();
  return rc;
}

static const char *state_of(json_t *b) {
  return json_string_value(json_object_get(json_object_get(b, "properties"), "provisioningState"));
}

static void set_state(srv *s, const char *table, const char *id, const char *state) {
  json_t *b = row_body(s,
                       !strcmp(table, "ml_endpoints")
                           ? "SELECT body FROM ml_endpoints WHERE id=? COLLATE NOCASE"
                           : "SELECT body FROM ml_deployments WHERE id=? COLLATE NOCASE",
                       id);
  if (!b) return;
  json_object_set_new(json_object_get(b, "properties"), "provisioningState", json_string(state));
  body_update(s, table, id, b);
  json_decref(b);
}

static void random_key(char out[40]) {
  char u[37];
  uuid_v4(u);
  int k = 0;
  for (const char *p = u; *p && k < 32; p++)
    if (*p != '-') out[k++] = *p;
  out[k] = 0;
}

/* Endpoint and deployment names: 3 to 32 letters, digits and '-', starting
 * with a letter and not ending with '-' (Azure's rule). */
static int name_valid(const char *n) {
  size_t len = n ? strlen(n) : 0;
  if (len < 3 || len > 32 || !isalpha((unsigned char)n[0]) || n[len - 1] == '-') return 0;
  for (const char *p = n; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-') return 0;
  return 1;
}

static void dep_stop(srv *s, const char *dep_id);
static char *dep_log_path(srv *s, const char *dep_id);

/* ---- request context ---------------------------------------------------------------- */

typedef struct ep_ctx {
  json_t *ws;
  const char *ws_id;
  const char *ep_id; /* canonical */
  const char *dep_id;
} ep_ctx;

static int ctx_get(http_req *r, ep_ctx *c) {
  c->ws = http_json_own(r, ml_workspace_require(r));
  if (!c->ws) return -1;
  c->ws_id = json_string_value(json_object_get(c->ws, "id"));
  const char *ep = http_param(r, "ep");
  c->ep_id = ep ? http_printf(r, "%s/onlineEndpoints/%s", c->ws_id, ep) : NULL;
  const char *dep = http_param(r, "dep");
  c->dep_id = dep && c->ep_id ? http_printf(r, "%s/deployments/%s", c->ep_id, dep) : NULL;
  return 0;
}

static void fail_ep_not_found(http_req *r) {
  http_fail(r, ML_ERR_NOT_FOUND, "Endpoint %s not found in workspace %s.", http_param(r, "ep"),
            http_param(r, "ws"));
}

static void fail_dep_not_found(http_req *r) {
  http_fail(r, ML_ERR_NOT_FOUND, "Deployment %s not found in endpoint %s.", http_param(r, "dep"),
            http_param(r, "ep"));
}

/* The endpoint's token (its scoring URL's key), or NULL. */
static char *ep_token(srv *s, const char *id) {
  sqlite3_stmt *q;
  char *out = NULL;
  if (store_prepare(store_db(s), "SELECT token FROM ml_endpoints WHERE id=? COLLATE NOCASE", -1, &q,
                    NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) out = strdup((const char *)sqlite3_column_text(q, 0));
  store_finalize(q);
  return out;
}

/* What GET answers: the stored body with the scoring and swagger URIs as the
 * caller reaches azlite: Azure's <endpoint>.<region>.inference.ml.azure.com
 * under `azlite exec`, else a path on the management endpoint that the
 * endpoint's token names. */
static json_t *ep_render(http_req *r, json_t *b) {
  const char *id = json_string_value(json_object_get(b, "id"));
  char *tok = ep_token(r->srv, id);
  const char *loc = json_string_value(json_object_get(b, "location"));
  json_t *p = json_object_get(b, "properties");
  if (http_req_transparent(r)) {
    const char *name = json_string_value(json_object_get(b, "name"));
    json_object_set_new(p, "scoringUri",
                        json_sprintf("https://%s.%s.inference.ml.azure.com/score", name, loc));
    json_object_set_new(
        p, "swaggerUri",
        json_sprintf("https://%s.%s.inference.ml.azure.com/swagger.json", name, loc));
  } else if (tok) {
    const char *host = ml_api_host(r, loc);
    json_object_set_new(p, "scoringUri",
                        json_sprintf("https://%s/azlite/ml/endpoints/%s/score", host, tok));
    json_object_set_new(p, "swaggerUri",
                        json_sprintf("https://%s/azlite/ml/endpoints/%s/swagger.json", host, tok));
  }
  free(tok);
  return b;
}

static int ep_view(sqlite3_stmt *q, ml_endpoint_view *out) {
  int rc = -1;
  if (sqlite3_step(q) == SQLITE_ROW) {
    snprintf(out->id, sizeof out->id, "%s", sqlite3_column_text(q, 0));
    snprintf(out->key1, sizeof out->key1, "%s", sqlite3_column_text(q, 1));
    snprintf(out->key2, sizeof out->key2, "%s", sqlite3_column_text(q, 2));
    out->body = json_loads((const char *)sqlite3_column_text(q, 3), 0, NULL);
    rc = out->body ? 0 : -1;
  }
  store_finalize(q);
  return rc;
}

int ml_endpoint_by_token(srv *s, const char *token, ml_endpoint_view *out) {
  if (!token || strlen(token) > 100) return -1;
  char key[200];
  snprintf(key, sizeof key, "t:%s", token);
  if (ep_cache_get(key, out) == 0) return 0;
  unsigned gen = __atomic_load_n(&ep_gen, __ATOMIC_SEQ_CST);
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "SELECT id, key1, key2, body FROM ml_endpoints WHERE token=?", -1,
                    &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, token, -1, SQLITE_STATIC);
  int rc = ep_view(q, out);
  if (rc == 0) ep_cache_put(key, gen, out);
  return rc;
}

int ml_endpoint_by_host(srv *s, const char *host, ml_endpoint_view *out) {
  char name[64], region[64];
  const char *dot = host ? strchr(host, '.') : NULL;
  const char *dot2 = dot ? strchr(dot + 1, '.') : NULL;
  if (!dot2 || dot - host >= (long)sizeof name || dot2 - dot - 1 >= (long)sizeof region) return -1;
  char key[200];
  snprintf(key, sizeof key, "h:%.190s", host);
  if (ep_cache_get(key, out) == 0) return 0;
  unsigned gen = __atomic_load_n(&ep_gen, __ATOMIC_SEQ_CST);
  snprintf(name, sizeof name, "%.*s", (int)(dot - host), host);
  snprintf(region, sizeof region, "%.*s", (int)(dot2 - dot - 1), dot + 1);
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT id, key1, key2, body FROM ml_endpoints WHERE name=? COLLATE NOCASE"
                    " AND json_extract(body,'$.location')=? COLLATE NOCASE",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(q, 2, region, -1, SQLITE_TRANSIENT);
  int rc = ep_view(q, out);
  if (rc == 0) ep_cache_put(key, gen, out);
  return rc;
}

/* ---- endpoints ------------------------------------------------------------------------ */

void ml_endpoint_list(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *list = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT body FROM ml_endpoints WHERE ws_id=? COLLATE NOCASE ORDER BY id", -1,
                    &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c.ws_id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
      json_t *b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      if (b) json_array_append_new(list, b);
    }
    store_finalize(q);
  }
  size_t i;
  json_t *b;
  json_array_foreach(list, i, b) ep_render(r, b);
  arm_reply_list(r, list);
}

void ml_endpoint_get(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *b = ep_load(r->srv, c.ep_id);
  if (!b) {
    fail_ep_not_found(r);
    return;
  }
  http_reply_json(r, 200, ep_render(r, b));
}

/* GET .../providers/Microsoft.Insights/metrics (Azure Monitor, scoring.c's
 * figures). */
void ml_endpoint_metrics(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *b = ep_load(r->srv, c.ep_id);
  if (!b) {
    fail_ep_not_found(r);
    return;
  }
  http_json_own(r, b);
  ml_scoring_metrics(r,
                     json_string_value(json_object_get(b, "id"))
                         ? json_string_value(json_object_get(b, "id"))
                         : c.ep_id,
                     json_string_value(json_object_get(b, "location")));
}

void ml_endpoint_metric_definitions(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *b = ep_load(r->srv, c.ep_id);
  if (!b) {
    fail_ep_not_found(r);
    return;
  }
  http_json_own(r, b);
  ml_scoring_metric_definitions(r, c.ep_id);
}

typedef struct op_ctx {
  char id[700];
  char ep_id[700];
  int remove;
} op_ctx;

static int ep_op(srv *s, void *arg, char *code, size_t cn, char *msg, size_t mn) {
  op_ctx *c = arg;
  (void)code;
  (void)cn;
  (void)msg;
  (void)mn;
  if (!c->remove) {
    set_state(s, "ml_endpoints", c->id, "Succeeded");
    return 0;
  }
  /* Its deployments' instances first, then the rows. */
  json_t *ids = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "SELECT id FROM ml_deployments WHERE ep_id=? COLLATE NOCASE", -1,
                    &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c->id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(ids, json_string((const char *)sqlite3_column_text(q, 0)));
    store_finalize(q);
  }
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    dep_stop(s, json_string_value(v));
    char *log = dep_log_path(s, json_string_value(v));
    if (log) unlink(log);
    free(log);
  }
  json_decref(ids);
  store_begin(s);
  store_run(s, "DELETE FROM ml_deployments WHERE ep_id=? COLLATE NOCASE", "t", c->id);
  store_run(s, "DELETE FROM ml_endpoints WHERE id=? COLLATE NOCASE", "t", c->id);
  identity_system_assigned_delete(s, c->id);
  store_commit(s);
  ep_changed();
  log_info("ml: deleted endpoint %s", c->id);
  return 0;
}

/* Checks the traffic (or mirrorTraffic) of an endpoint's PUT: every name a
 * deployment of it, every value 0..100, the sum 0 or 100 (at most 50 for
 * mirror traffic). */
static int traffic_check(http_req *r, const char *ep_id, json_t *t, int mirror) {
  if (!t || json_is_null(t)) return 0;
  if (!json_is_object(t)) {
    http_fail(r, ML_ERR_VALIDATION, "%s must be an object of deployment names to percentages.",
              mirror ? "mirrorTraffic" : "traffic");
    return -1;
  }
  int sum = 0;
  const char *k;
  json_t *v;
  json_object_foreach(t, k, v) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100) {
      http_fail(r, ML_ERR_VALIDATION, "The traffic of deployment %s must be between 0 and 100.", k);
      return -1;
    }
    sum += (int)json_integer_value(v);
    json_t *d = dep_load(r->srv, http_printf(r, "%s/deployments/%s", ep_id, k));
    if (!d) {
      http_fail(r, ML_ERR_VALIDATION,
                "Deployment %s does not exist in endpoint %s: traffic can only go to existing "
                "deployments.",
                k, http_param(r, "ep"));
      return -1;
    }
    json_decref(d);
  }
  if (!mirror && sum != 0 && sum != 100) {
    http_fail(r, ML_ERR_VALIDATION,
              "Traffic rules percentage must sum up to 100 or 0; these sum up to %d.", sum);
    return -1;
  }
  if (mirror && sum > 50) {
    http_fail(r, ML_ERR_VALIDATION, "Mirror traffic can be at most 50 percent.");
    return -1;
  }
  return 0;
}

/* PUT and PATCH: the body is merged over the stored one for PATCH. */
static void ep_write(http_req *r, int patch) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  srv *s = r->srv;
  const char *name = http_param(r, "ep");
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *cur = http_json_own(r, ep_load(s, c.ep_id));
  if (patch && !cur) {
    fail_ep_not_found(r);
    return;
  }
  if (!cur && !name_valid(name)) {
    http_fail(r, ML_ERR_VALIDATION,
              "Endpoint name %s is invalid: it must be 3 to 32 characters, start with a letter, "
              "and contain only letters, digits and '-' (not at the end).",
              name);
    return;
  }
  if (cur && state_of(cur) &&
      (!strcmp(state_of(cur), "Creating") || !strcmp(state_of(cur), "Deleting") ||
       !strcmp(state_of(cur), "Updating"))) {
    http_fail(r, ML_ERR_CONFLICT, "Endpoint %s is %s; try again when it is done.", name,
              state_of(cur));
    return;
  }
  const char *ws_loc = json_string_value(json_object_get(c.ws, "location"));
  if (!cur) {
    /* The name is the scoring host's first label: one per region. */
    sqlite3_stmt *q;
    int taken = 0;
    if (store_prepare(store_db(s),
                      "SELECT 1 FROM ml_endpoints WHERE name=? COLLATE NOCASE"
                      " AND json_extract(body,'$.location')=? COLLATE NOCASE",
                      -1, &q, NULL) == SQLITE_OK) {
      sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 2, ws_loc, -1, SQLITE_STATIC);
      taken = sqlite3_step(q) == SQLITE_ROW;
      store_finalize(q);
    }
    if (taken) {
      http_fail(r, ML_ERR_CONFLICT,
                "An endpoint named %s already exists in %s: endpoint names are unique in a "
                "region.",
                name, ws_loc);
      return;
    }
  }
  json_t *pin = json_object_get(in, "properties");
  if (!patch && !json_is_object(pin)) {
    http_fail(r, ML_ERR_VALIDATION, "properties is required.");
    return;
  }
  json_t *pcur = cur ? json_object_get(cur, "properties") : NULL;
  const char *auth = json_string_value(json_object_get(pin, "authMode"));
  if (!auth) auth = pcur ? json_string_value(json_object_get(pcur, "authMode")) : NULL;
  if (!auth) {
    http_fail(r, ML_ERR_VALIDATION, "properties.authMode is required (Key or AMLToken).");
    return;
  }
  if (strcasecmp(auth, "Key") && strcasecmp(auth, "AMLToken")) {
    http_fail(r, ML_ERR_VALIDATION,
              "authMode %s is not supported by azlite for managed online endpoints (Key and "
              "AMLToken are).",
              auth);
    return;
  }
  auth = !strcasecmp(auth, "Key") ? "Key" : "AMLToken";
  if (json_string_value(json_object_get(pin, "compute"))) {
    http_fail(r, ML_ERR_VALIDATION,
              "azlite serves managed online endpoints only (Kubernetes endpoints name a compute).");
    return;
  }
  json_t *traffic = json_object_get(pin, "traffic");
  if (!traffic && pcur) traffic = json_object_get(pcur, "traffic");
  json_t *mirror = json_object_get(pin, "mirrorTraffic");
  if (!mirror && pcur) mirror = json_object_get(pcur, "mirrorTraffic");
  if (traffic_check(r, c.ep_id, traffic, 0) != 0 || traffic_check(r, c.ep_id, mirror, 1) != 0)
    return;
  const char *mk;
  json_t *mv;
  json_object_foreach(json_is_object(mirror) ? mirror : NULL, mk, mv) {
    if (json_integer_value(mv) > 0 && json_integer_value(json_object_get(traffic, mk)) > 0) {
      http_fail(r, ML_ERR_VALIDATION, "Deployment %s cannot receive both live and mirror traffic.",
                mk);
      return;
    }
  }
  json_t *tags = json_object_get(in, "tags");
  if (!json_is_object(tags)) tags = cur ? json_object_get(cur, "tags") : NULL;
  if (tags && arm_tags_check(r, tags) != 0) return;
  const char *desc = json_string_value(json_object_get(pin, "description"));
  if (!desc && pcur) desc = json_string_value(json_object_get(pcur, "description"));
  json_t *props = json_object_get(pin, "properties");
  if (!json_is_object(props)) props = pcur ? json_object_get(pcur, "properties") : NULL;
  const char *pna = json_string_value(json_object_get(pin, "publicNetworkAccess"));
  if (!pna && pcur) pna = json_string_value(json_object_get(pcur, "publicNetworkAccess"));
  int64_t now = clock_now_ms(s);
  /* "o" takes a reference: a borrowed value is increfed, a new one given. */
  json_t *body =
      json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:{s:s,s:s*,s:o,s:o,s:o,s:s,s:s}}", "id", c.ep_id, "name",
                cur ? json_string_value(json_object_get(cur, "name")) : name, "type", EP_TYPE,
                "location", ws_loc, "tags", tags ? json_incref(tags) : json_object(), "kind",
                "Managed", "properties", "authMode", auth, "description", desc, "properties",
                props ? json_incref(props) : json_object(), "traffic",
                json_is_object(traffic) ? json_incref(traffic) : json_object(), "mirrorTraffic",
                json_is_object(mirror) ? json_incref(mirror) : json_object(), "publicNetworkAccess",
                pna ? pna : "Enabled", "provisioningState", cur ? "Updating" : "Creating");
  /* The system-assigned identity Azure gives every managed endpoint. */
  char principal_id[40] = "";
  int want_identity = 1;
  json_t *ident = cur ? json_object_get(cur, "identity") : NULL;
  if (ident) {
    json_object_set(body, "identity", ident);
  } else {
    json_t *want = json_object_get(in, "identity");
    const char *it = json_string_value(json_object_get(want, "type"));
    if (it && strcasecmp(it, "SystemAssigned") && strcasecmp(it, "None")) {
      json_decref(body);
      http_fail(r, ML_ERR_VALIDATION,
                "azlite gives managed online endpoints a system-assigned identity only (asked: "
                "%s).",
                it);
      return;
    }
    want_identity = !it || strcasecmp(it, "None") != 0;
  }
  json_t *created = cur ? json_object_get(cur, "systemData") : NULL;
  json_object_set_new(body, "systemData",
                      ml_system_data(r,
                                     created ? clock_parse_iso8601(json_string_value(
                                                   json_object_get(created, "createdAt")))
                                             : now,
                                     now));
  store_begin(s);
  int rc = 0;
  if (!cur) {
    if (want_identity && identity_system_assigned_create(s, c.ep_id, principal_id) == 0)
      json_object_set_new(body, "identity",
                          json_pack("{s:s,s:s,s:s}", "type", "SystemAssigned", "principalId",
                                    principal_id, "tenantId", s->tenant_id));
    char k1[40], k2[40], tok[40];
    random_key(k1);
    random_key(k2);
    random_key(tok);
    char *txt = json_dumps(body, JSON_COMPACT);
    rc = store_run(s,
                   "INSERT INTO ml_endpoints(id,ws_id,name,token,key1,key2,body)"
                   " VALUES(?,?,?,?,?,?,?)",
                   "ttttttt", c.ep_id, c.ws_id, name, tok, k1, k2, txt);
    free(txt);
    ep_changed();
  } else {
    rc = body_update(s, "ml_endpoints", c.ep_id, body);
  }
  int committed = rc == 0 && store_commit(s) == 0;
  ep_changed();
  if (!committed) {
    store_rollback(s);
    ep_changed();
    json_decref(body);
    http_fail(r, ML_ERR_INTERNAL, "The endpoint could not be saved.");
    return;
  }
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.ep_id);
  log_info("ml: %s endpoint %s (%s)", cur ? "updating" : "creating", c.ep_id, auth);
  arm_lro_start(r, cur ? 200 : 201, ep_render(r, body), ep_op, oc, free);
}

void ml_endpoint_put(http_req *r) {
  ep_write(r, 0);
}
void ml_endpoint_patch(http_req *r) {
  ep_write(r, 1);
}

void ml_endpoint_delete(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *cur = http_json_own(r, ep_load(r->srv, c.ep_id));
  if (!cur) {
    http_reply_empty(r, 204);
    return;
  }
  if (state_of(cur) && !strcmp(state_of(cur), "Deleting")) {
    http_fail(r, ML_ERR_CONFLICT, "Endpoint %s is being deleted.", http_param(r, "ep"));
    return;
  }
  set_state(r->srv, "ml_endpoints", c.ep_id, "Deleting");
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.ep_id);
  oc->remove = 1;
  arm_lro_start(r, 202, NULL, ep_op, oc, free);
}

static int ep_keys(http_req *r, ep_ctx *c, char k1[80], char k2[80], const char **auth) {
  json_t *cur = http_json_own(r, ep_load(r->srv, c->ep_id));
  if (!cur) {
    fail_ep_not_found(r);
    return -1;
  }
  *auth = json_string_value(json_object_get(json_object_get(cur, "properties"), "authMode"));
  sqlite3_stmt *q;
  k1[0] = k2[0] = 0;
  if (store_prepare(store_db(r->srv),
                    "SELECT key1, key2 FROM ml_endpoints WHERE id=? COLLATE NOCASE", -1, &q,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c->ep_id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
      snprintf(k1, 80, "%s", sqlite3_column_text(q, 0));
      snprintf(k2, 80, "%s", sqlite3_column_text(q, 1));
    }
    store_finalize(q);
  }
  return 0;
}

void ml_endpoint_list_keys(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  char k1[80], k2[80];
  const char *auth;
  if (ep_keys(r, &c, k1, k2, &auth) != 0) return;
  if (!auth || strcmp(auth, "Key") != 0) {
    http_fail(r, ML_ERR_BAD_REQUEST, "Endpoint %s does not use keys (authMode %s).",
              http_param(r, "ep"), auth ? auth : "");
    return;
  }
  http_reply_json(r, 200, json_pack("{s:s,s:s}", "primaryKey", k1, "secondaryKey", k2));
}

static int noop_op(srv *s, void *arg, char *code, size_t cn, char *msg, size_t mn) {
  (void)s;
  (void)arg;
  (void)code;
  (void)cn;
  (void)msg;
  (void)mn;
  return 0;
}

/* POST regenerateKeys {keyType: Primary|Secondary, keyValue}: the key is new
 * once the request is answered (the operation then succeeds). */
void ml_endpoint_regenerate_keys(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  char k1[80], k2[80];
  const char *auth;
  if (ep_keys(r, &c, k1, k2, &auth) != 0) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  const char *kt = json_string_value(json_object_get(in, "keyType"));
  if (!kt || (strcasecmp(kt, "Primary") && strcasecmp(kt, "Secondary"))) {
    http_fail(r, ML_ERR_VALIDATION, "keyType must be Primary or Secondary.");
    return;
  }
  if (!auth || strcmp(auth, "Key") != 0) {
    http_fail(r, ML_ERR_BAD_REQUEST, "Endpoint %s does not use keys.", http_param(r, "ep"));
    return;
  }
  /* keyValue sets the key; azure-ai-ml sends the current one, which asks
   * for a new random key (as Azure answers it). */
  int primary = !strcasecmp(kt, "Primary");
  const char *kv = json_string_value(json_object_get(in, "keyValue"));
  char fresh[40];
  random_key(fresh);
  const char *set =
      kv && strlen(kv) >= 16 && strlen(kv) < 80 && strcmp(kv, primary ? k1 : k2) ? kv : fresh;
  store_run(r->srv,
            primary ? "UPDATE ml_endpoints SET key1=? WHERE id=? COLLATE NOCASE"
                    : "UPDATE ml_endpoints SET key2=? WHERE id=? COLLATE NOCASE",
            "tt", set, c.ep_id);
  ep_changed();
  arm_lro_start(r, 202, NULL, noop_op, NULL, NULL);
}

/* POST token (AMLToken endpoints): a bearer token for the caller, which the
 * scoring front takes for an hour. */
void ml_endpoint_token(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  char k1[80], k2[80];
  const char *auth;
  if (ep_keys(r, &c, k1, k2, &auth) != 0) return;
  if (!auth || strcmp(auth, "AMLToken") != 0 || !r->caller) {
    http_fail(r, ML_ERR_BAD_REQUEST, "Endpoint %s does not use AMLToken authentication.",
              http_param(r, "ep"));
    return;
  }
  char *tok = identity_mint_token(r->srv, r->caller, AUD_MGMT, 3600);
  if (!tok) {
    http_fail(r, ML_ERR_INTERNAL, "The token could not be made.");
    return;
  }
  int64_t now = clock_now_ms(r->srv) / 1000;
  json_t *b =
      json_pack("{s:s,s:I,s:I,s:s}", "accessToken", tok, "expiryTimeUtc", (json_int_t)(now + 3600),
                "refreshAfterTimeUtc", (json_int_t)(now + 1800), "tokenType", "Bearer");
  free(tok);
  http_reply_json(r, 200, b);
}

/* ---- deployments --------------------------------------------------------------------- */

static json_t *iso_ms(int64_t ms) {
  if (ms % 1000 == 0) return json_sprintf("PT%lldS", (long long)(ms / 1000));
  char frac[8];
  snprintf(frac, sizeof frac, "%03lld", (long long)(ms % 1000));
  for (size_t n = strlen(frac); n > 1 && frac[n - 1] == '0'; n--)
    frac[n - 1] = 0;
  return json_sprintf("PT%lld.%sS", (long long)(ms / 1000), frac);
}

/* Milliseconds in an ISO 8601 duration (PT5S, PT0.5S, PT1M, PT10M), or -1. */
static int64_t iso_to_ms(const char *d) {
  if (!d || (d[0] != 'P' && d[0] != 'p')) return -1;
  double total = 0;
  int in_time = 0, any = 0;
  for (const char *p = d + 1; *p;) {
    if (*p == 'T' || *p == 't') {
      in_time = 1;
      p++;
      continue;
    }
    char *end;
    double v = strtod(p, &end);
    if (end == p || !*end) return -1;
    char u = (char)toupper((unsigned char)*end);
    double mul = u == 'D' && !in_time  ? 86400e3
                 : u == 'H' && in_time ? 3600e3
                 : u == 'M' && in_time ? 60e3
                 : u == 'S' && in_time ? 1e3
                                       : -1;
    if (mul < 0) return -1;
    total += v * mul;
    any = 1;
    p = end + 1;
  }
  return any ? (int64_t)(total + 0.5) : -1;
}

/* A probe with Azure's defaults for what it leaves out. */
static json_t *probe_of(json_t *in, int64_t initial_ms, int failure) {
  json_t *p = json_object();
  int64_t v;
  v = iso_to_ms(json_string_value(json_object_get(in, "initialDelay")));
  json_object_set_new(p, "initialDelay", iso_ms(v >= 0 ? v : initial_ms));
  v = iso_to_ms(json_string_value(json_object_get(in, "period")));
  json_object_set_new(p, "period", iso_ms(v >= 0 ? v : 10000));
  v = iso_to_ms(json_string_value(json_object_get(in, "timeout")));
  json_object_set_new(p, "timeout", iso_ms(v >= 0 ? v : 2000));
  json_t *n = json_object_get(in, "successThreshold");
  json_object_set_new(p, "successThreshold",
                      json_integer(json_is_integer(n) ? json_integer_value(n) : 1));
  n = json_object_get(in, "failureThreshold");
  json_object_set_new(p, "failureThreshold",
                      json_integer(json_is_integer(n) ? json_integer_value(n) : failure));
  return p;
}

void ml_deployment_list(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *ep = http_json_own(r, ep_load(r->srv, c.ep_id));
  if (!ep) {
    fail_ep_not_found(r);
    return;
  }
  json_t *list = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT body FROM ml_deployments WHERE ep_id=? COLLATE NOCASE ORDER BY id", -1,
                    &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c.ep_id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
      json_t *b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      if (b) json_array_append_new(list, b);
    }
    store_finalize(q);
  }
  arm_reply_list(r, list);
}

void ml_deployment_get(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *b = dep_load(r->srv, c.dep_id);
  if (!b) {
    fail_dep_not_found(r);
    return;
  }
  http_reply_json(r, 200, b);
}

/* The deployment's log file (on the host, malloc'd), by its uuid. */
static char *dep_log_path(srv *s, const char *dep_id) {
  sqlite3_stmt *q;
  char *out = NULL;
  if (store_prepare(store_db(s), "SELECT uuid FROM ml_deployments WHERE id=? COLLATE NOCASE", -1,
                    &q, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(q, 1, dep_id, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    out = ml_scoring_log_path(s, (const char *)sqlite3_column_text(q, 0));
  store_finalize(q);
  return out;
}

/* Instance hours, through core's one meter call (usage_record): meter
 * "Microsoft.MachineLearningServices/onlineEndpoints/deployments/<size>",
 * hours times instances, from when the instances were ready to when they
 * stopped (an interval open at a crash closes at the next start). */
static void meter_open(srv *s, const char *dep_id, int n, const char *size) {
  store_run(s,
            "UPDATE ml_deployments SET meter_ms=?, meter_n=?, meter_size=? WHERE id=? COLLATE "
            "NOCASE",
            "iitt", clock_now_ms(s), (int64_t)n, size, dep_id);
}

static void meter_close(srv *s, const char *dep_id) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT meter_ms, meter_n, meter_size FROM ml_deployments WHERE id=? COLLATE "
                    "NOCASE AND meter_ms IS NOT NULL",
                    -1, &q, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(q, 1, dep_id, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) {
    int64_t ms = clock_now_ms(s) - sqlite3_column_int64(q, 0);
    double hours = ms > 0 ? (double)ms / 3600000.0 * (double)sqlite3_column_int64(q, 1) : 0;
    char meter[200];
    snprintf(meter, sizeof meter, ML_NS "/onlineEndpoints/deployments/%s",
             (const char *)sqlite3_column_text(q, 2));
    usage_record(s, dep_id, meter, hours, "Hours");
  }
  store_finalize(q);
  store_run(s, "UPDATE ml_deployments SET meter_ms=NULL WHERE id=? COLLATE NOCASE", "t", dep_id);
}

/* Stops a deployment's instances and closes its meter. */
static void dep_stop(srv *s, const char *dep_id) {
  ml_scoring_stop(s, dep_id);
  meter_close(s, dep_id);
}

/* Boots the deployment its stored body describes.  0, or -1 with why. */
static int dep_provision(srv *s, const char *dep_id, char *err, size_t en) {
  json_t *b = dep_load(s, dep_id);
  if (!b) {
    snprintf(err, en, "the deployment is gone");
    return -1;
  }
  json_t *p = json_object_get(b, "properties");
  json_t *az = json_object_get(b, "azlite");
  json_t *rs = json_object_get(p, "requestSettings");
  json_t *live = json_object_get(p, "livenessProbe");
  const compute_size *z = compute_size_find(json_string_value(json_object_get(p, "instanceType")));
  char *log_path = dep_log_path(s, dep_id);
  const char *ws_id = json_string_value(json_object_get(az, "workspaceId"));
  int64_t ready = iso_to_ms(json_string_value(json_object_get(live, "initialDelay")));
  ml_scoring_spec sp = {
      .dep_id = dep_id,
      .ws_id = ws_id,
      .name = json_string_value(json_object_get(b, "name")),
      .instance_type = json_string_value(json_object_get(p, "instanceType")),
      .model_uri = json_string_value(json_object_get(az, "modelUri")),
      .model_name = json_string_value(json_object_get(az, "modelName")),
      .model_version = json_string_value(json_object_get(az, "modelVersion")),
      .code_uri = json_string_value(json_object_get(az, "codeUri")),
      .scoring_script = json_string_value(
          json_object_get(json_object_get(p, "codeConfiguration"), "scoringScript")),
      .env = json_object_get(p, "environmentVariables"),
      .instance_count =
          (int)json_integer_value(json_object_get(json_object_get(b, "sku"), "capacity")),
      .vcpus = z ? z->vcpus : 0,
      .memory_mb = z ? z->memory_mb : 0,
      .max_concurrent =
          (int)json_integer_value(json_object_get(rs, "maxConcurrentRequestsPerInstance")),
      .timeout_ms = (int)iso_to_ms(json_string_value(json_object_get(rs, "requestTimeout"))),
      .queue_ms = (int)iso_to_ms(json_string_value(json_object_get(rs, "maxQueueWait"))),
      .ready_timeout_ms = ready > 0 && ready < 600000 ? (int)ready : 600000,
      .log_path = log_path,
  };
  dep_stop(s, dep_id); /* what ran before (an update replaces it) */
  int rc = log_path && sp.code_uri && sp.scoring_script ? ml_scoring_start(s, &sp, err, en) : -1;
  if (rc != 0 && !err[0]) snprintf(err, en, "the deployment's instances could not start");
  if (rc == 0) meter_open(s, dep_id, sp.instance_count, sp.instance_type);
  free(log_path);
  json_decref(b);
  return rc;
}

static void dep_fail(srv *s, const char *dep_id, const char *code, const char *msg) {
  json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
  char *txt = json_dumps(e, JSON_COMPACT);
  store_run(s, "UPDATE ml_deployments SET error=? WHERE id=? COLLATE NOCASE", "tt", txt, dep_id);
  free(txt);
  json_decref(e);
  set_state(s, "ml_deployments", dep_id, "Failed");
}

static int dep_op(srv *s, void *arg, char *code, size_t cn, char *msg, size_t mn) {
  op_ctx *c = arg;
  if (c->remove) {
    dep_stop(s, c->id);
    char *log = dep_log_path(s, c->id);
    store_run(s, "DELETE FROM ml_deployments WHERE id=? COLLATE NOCASE", "t", c->id);
    if (log) unlink(log);
    free(log);
    log_info("ml: deleted deployment %s", c->id);
    return 0;
  }
  char err[3000] = "";
  if (dep_provision(s, c->id, err, sizeof err) != 0) {
    snprintf(code, cn, "%s", "ResourceNotReady");
    snprintf(msg, mn, "%s", err);
    dep_fail(s, c->id, code, err);
    log_warn("ml: deployment %s failed: %.200s", c->id, err);
    return -1;
  }
  store_run(s, "UPDATE ml_deployments SET error=NULL WHERE id=? COLLATE NOCASE", "t", c->id);
  set_state(s, "ml_deployments", c->id, "Succeeded");
  log_info("ml: deployment %s is up", c->id);
  return 0;
}

/* The asset a deployment names (an ARM id or azureml:name:version), its
 * stored body, or NULL with r failed. */
static json_t *asset_need(http_req *r, const char *ws_id, const char *kind, const char *what,
                          const char *ref) {
  json_t *a = ref ? ml_asset_resolve(r->srv, ws_id, kind, ref) : NULL;
  if (!a) http_fail(r, ML_ERR_NOT_FOUND, "The %s %s does not exist.", what, ref ? ref : "");
  return http_json_own(r, a);
}

/* PUT (patch 0) and PATCH (patch 1: tags and sku over the stored body, as
 * Azure's PartialMinimalTrackedResourceWithSku; the rest as a PUT of it). */
static void dep_write(http_req *r, int patch) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  srv *s = r->srv;
  const char *name = http_param(r, "dep");
  json_t *ep = http_json_own(r, ep_load(s, c.ep_id));
  if (!ep) {
    fail_ep_not_found(r);
    return;
  }
  if (state_of(ep) && !strcmp(state_of(ep), "Deleting")) {
    http_fail(r, ML_ERR_CONFLICT, "Endpoint %s is being deleted.", http_param(r, "ep"));
    return;
  }
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *cur = http_json_own(r, dep_load(s, c.dep_id));
  if (patch) {
    if (!cur) {
      fail_dep_not_found(r);
      return;
    }
    json_t *merged = http_json_own(r, json_deep_copy(cur));
    json_t *t = json_object_get(in, "tags");
    if (json_is_object(t)) json_object_set(merged, "tags", t);
    json_t *sku = json_object_get(in, "sku");
    if (json_is_object(sku)) json_object_update(json_object_get(merged, "sku"), sku);
    in = merged;
  }
  if (!cur && !name_valid(name)) {
    http_fail(r, ML_ERR_VALIDATION,
              "Deployment name %s is invalid: it must be 3 to 32 characters, start with a letter, "
              "and contain only letters, digits and '-' (not at the end).",
              name);
    return;
  }
  if (cur && state_of(cur) &&
      (!strcmp(state_of(cur), "Creating") || !strcmp(state_of(cur), "Updating") ||
       !strcmp(state_of(cur), "Deleting"))) {
    http_fail(r, ML_ERR_CONFLICT, "Deployment %s is %s; try again when it is done.", name,
              state_of(cur));
    return;
  }
  json_t *p = json_object_get(in, "properties");
  if (!json_is_object(p)) {
    http_fail(r, ML_ERR_VALIDATION, "properties is required.");
    return;
  }
  const char *ctype = json_string_value(json_object_get(p, "endpointComputeType"));
  if (ctype && strcasecmp(ctype, "Managed") != 0) {
    http_fail(r, ML_ERR_VALIDATION,
              "azlite serves managed online deployments only (endpointComputeType %s).", ctype);
    return;
  }
  const char *itype = json_string_value(json_object_get(p, "instanceType"));
  const char *ws_loc = json_string_value(json_object_get(c.ws, "location"));
  const compute_size *z = itype ? compute_size_find(itype) : NULL;
  if (!z) {
    http_fail(r, ML_ERR_VALIDATION, "The instance type %s is not supported.",
              itype ? itype : "(none)");
    return;
  }
  if (compute_size_restriction(z, ws_loc)) {
    http_fail(r, ML_ERR_VALIDATION, "The instance type %s is not available in %s.", z->name,
              ws_loc);
    return;
  }
  json_t *sku = json_object_get(in, "sku");
  json_int_t count = json_is_integer(json_object_get(sku, "capacity"))
                         ? json_integer_value(json_object_get(sku, "capacity"))
                         : 1;
  if (count < 1 || count > 20) {
    http_fail(r, ML_ERR_VALIDATION, "instance_count must be between 1 and 20 (asked: %lld).",
              (long long)count);
    return;
  }
  if (compute_quota_check(r, ws_loc, z->name, (int)count, 0, NULL) != 0) return;
  json_t *cc = json_object_get(p, "codeConfiguration");
  const char *script = json_string_value(json_object_get(cc, "scoringScript"));
  const char *code_id = json_string_value(json_object_get(cc, "codeId"));
  if (!script || !code_id) {
    http_fail(r, ML_ERR_VALIDATION,
              "azlite needs a code configuration (code and scoring_script): deployments without "
              "a scoring script (MLflow models) are not supported yet.");
    return;
  }
  json_t *code = asset_need(r, c.ws_id, "codes", "code", code_id);
  if (!code) return;
  const char *model_ref = json_string_value(json_object_get(p, "model"));
  json_t *model = model_ref ? asset_need(r, c.ws_id, "models", "model", model_ref) : NULL;
  if (model_ref && !model) return;
  const char *env_ref = json_string_value(json_object_get(p, "environmentId"));
  if (env_ref && !asset_need(r, c.ws_id, "environments", "environment", env_ref)) return;
  json_t *rs_in = json_object_get(p, "requestSettings");
  json_t *rs = json_object();
  json_t *mc = json_object_get(rs_in, "maxConcurrentRequestsPerInstance");
  json_object_set_new(
      rs, "maxConcurrentRequestsPerInstance",
      json_integer(json_is_integer(mc) && json_integer_value(mc) > 0 ? json_integer_value(mc) : 1));
  int64_t v = iso_to_ms(json_string_value(json_object_get(rs_in, "requestTimeout")));
  json_object_set_new(rs, "requestTimeout", iso_ms(v > 0 ? v : 5000));
  v = iso_to_ms(json_string_value(json_object_get(rs_in, "maxQueueWait")));
  json_object_set_new(rs, "maxQueueWait", iso_ms(v >= 0 ? v : 500));
  json_t *env = json_object_get(p, "environmentVariables");
  json_t *tags = json_object_get(in, "tags");
  const char *desc = json_string_value(json_object_get(p, "description"));
  int64_t now = clock_now_ms(s);
  json_t *props = json_pack(
      "{s:s,s:s*,s:s*,s:{s:s,s:s},s:s*,s:s,s:o,s:o,s:o,s:o,s:{s:s},s:b,s:s,s:o,s:s}",
      "endpointComputeType", "Managed", "description", desc, "model",
      model ? json_string_value(json_object_get(model, "id")) : NULL, "codeConfiguration", "codeId",
      json_string_value(json_object_get(code, "id")), "scoringScript", script, "environmentId",
      env_ref, "instanceType", z->name, "environmentVariables",
      json_is_object(env) ? json_incref(env) : json_object(), "requestSettings", rs,
      "livenessProbe", probe_of(json_object_get(p, "livenessProbe"), 600000, 30), "readinessProbe",
      probe_of(json_object_get(p, "readinessProbe"), 10000, 30), "scaleSettings", "scaleType",
      "Default", "appInsightsEnabled", json_is_true(json_object_get(p, "appInsightsEnabled")),
      "egressPublicNetworkAccess",
      json_string_value(json_object_get(p, "egressPublicNetworkAccess")) ?: "Enabled", "properties",
      json_is_object(json_object_get(p, "properties"))
          ? json_incref(json_object_get(p, "properties"))
          : json_object(),
      "provisioningState", cur ? "Updating" : "Creating");
  json_t *mp = json_object_get(model, "properties");
  const char *mid = model ? json_string_value(json_object_get(model, "id")) : NULL;
  const char *vseg = mid ? strstr(mid, "/versions/") : NULL;
  char mname[256] = "";
  if (vseg) {
    const char *n = vseg;
    while (n > mid && n[-1] != '/')
      n--;
    snprintf(mname, sizeof mname, "%.*s", (int)(vseg - n), n);
  }
  json_t *az =
      json_pack("{s:s,s:s,s:s*,s:s*,s:s*}", "workspaceId", c.ws_id, "codeUri",
                json_string_value(json_object_get(json_object_get(code, "properties"), "codeUri")),
                "modelUri", json_string_value(json_object_get(mp, "modelUri")), "modelName",
                mname[0] ? mname : NULL, "modelVersion", vseg ? vseg + strlen("/versions/") : NULL);
  json_t *created = cur ? json_object_get(cur, "systemData") : NULL;
  json_t *body = json_pack(
      "{s:s,s:s,s:s,s:s,s:o,s:s,s:o,s:{s:s,s:s,s:I},s:o,s:o}", "id", c.dep_id, "name",
      cur ? json_string_value(json_object_get(cur, "name")) : name, "type", DEP_TYPE, "location",
      ws_loc, "tags", json_is_object(tags) ? json_incref(tags) : json_object(), "kind", "Managed",
      "properties", props, "sku", "name", "Default", "tier", "Standard", "capacity",
      (json_int_t)count, "azlite", az, "systemData",
      ml_system_data(
          r,
          created ? clock_parse_iso8601(json_string_value(json_object_get(created, "createdAt")))
                  : now,
          now));
  char *txt = json_dumps(body, JSON_COMPACT);
  char u[37];
  uuid_v4(u);
  int rc = store_run(s,
                     "INSERT INTO ml_deployments(id,ep_id,ws_id,name,uuid,body) VALUES(?,?,?,?,?,?)"
                     " ON CONFLICT(id) DO UPDATE SET body=excluded.body, error=NULL",
                     "tttttt", c.dep_id, c.ep_id, c.ws_id, name, u, txt);
  free(txt);
  if (rc != 0) {
    json_decref(body);
    http_fail(r, ML_ERR_INTERNAL, "The deployment could not be saved.");
    return;
  }
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.dep_id);
  log_info("ml: %s deployment %s (%s x%lld)", cur ? "updating" : "creating", c.dep_id, z->name,
           (long long)count);
  arm_lro_start(r, cur ? 200 : 201, body, dep_op, oc, free);
}

void ml_deployment_put(http_req *r) {
  dep_write(r, 0);
}

void ml_deployment_patch(http_req *r) {
  dep_write(r, 1);
}

void ml_deployment_delete(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *cur = http_json_own(r, dep_load(r->srv, c.dep_id));
  if (!cur) {
    http_reply_empty(r, 204);
    return;
  }
  json_t *ep = http_json_own(r, ep_load(r->srv, c.ep_id));
  json_t *t = json_object_get(json_object_get(json_object_get(ep, "properties"), "traffic"),
                              json_string_value(json_object_get(cur, "name")));
  if (json_integer_value(t) > 0) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "Deployment %s receives %lld%% of endpoint %s's traffic: set its traffic to 0 "
              "before deleting it.",
              http_param(r, "dep"), (long long)json_integer_value(t), http_param(r, "ep"));
    return;
  }
  set_state(r->srv, "ml_deployments", c.dep_id, "Deleting");
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.dep_id);
  oc->remove = 1;
  arm_lro_start(r, 202, NULL, dep_op, oc, free);
}

/* POST getLogs {containerType, tail}: the last lines of what the instances'
 * inference servers wrote (stdout and stderr), with azlite's own lines about
 * the storage initializer's work. */
void ml_deployment_get_logs(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *cur = http_json_own(r, dep_load(r->srv, c.dep_id));
  if (!cur) {
    fail_dep_not_found(r);
    return;
  }
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_int_t tail = json_is_integer(json_object_get(in, "tail"))
                        ? json_integer_value(json_object_get(in, "tail"))
                        : 5000;
  if (tail < 0 || tail > 10000) tail = 10000;
  char *path = dep_log_path(r->srv, c.dep_id);
  char *all = path ? ml_scoring_log_tail(path, 4 * 1024 * 1024) : strdup("");
  free(path);
  http_defer(r, free, all);
  const char *ct = json_string_value(json_object_get(in, "containerType"));
  int storage = ct && !strcasecmp(ct, "StorageInitializer");
  /* The lines of the container asked for: azlite's own ("azlite: ...") are
   * the storage initializer's. */
  char *out = NULL;
  size_t olen = 0;
  FILE *f = open_memstream(&out, &olen);
  for (char *line = all; *line;) {
    char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    int own = !strncmp(line, "azlite: ", 8);
    if (!ct || own == storage) {
      fwrite(line, 1, len, f);
      fputc('\n', f);
    }
    line += len + (nl ? 1 : 0);
  }
  fclose(f);
  /* Keep the last `tail` lines. */
  char *start = out + olen;
  json_int_t k = 0;
  while (start > out) {
    if (start[-1] == '\n' && start != out + olen && ++k > tail) break;
    start--;
  }
  json_t *b = json_pack("{s:s}", "content", start);
  free(out);
  http_reply_json(r, 200, b);
}

/* GET .../deployments/{dep}/skus: what the deployment may scale to. */
void ml_deployment_skus(http_req *r) {
  ep_ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *cur = http_json_own(r, dep_load(r->srv, c.dep_id));
  if (!cur) {
    fail_dep_not_found(r);
    return;
  }
  json_t *v = json_pack("[{s:s,s:{s:s,s:s},s:{s:i,s:i,s:i,s:s}}]", "resourceType", DEP_TYPE, "sku",
                        "name", "Default", "tier", "Standard", "capacity", "minimum", 1, "maximum",
                        20, "default", 1, "scaleType", "Manual");
  arm_reply_list(r, v);
}

/* ---- lifetime ----------------------------------------------------------------------- */

int ml_endpoints_remove(srv *s, const char *ws_id) {
  /* Instances go with the rows (they would not serve a missing endpoint). */
  sqlite3_stmt *q;
  json_t *ids = json_array();
  if (store_prepare(store_db(s), "SELECT id FROM ml_deployments WHERE ws_id=? COLLATE NOCASE", -1,
                    &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, ws_id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(ids, json_string((const char *)sqlite3_column_text(q, 0)));
    store_finalize(q);
  }
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) dep_stop(s, json_string_value(v));
  json_decref(ids);
  int rc = store_run(s, "DELETE FROM ml_deployments WHERE ws_id=? COLLATE NOCASE", "t", ws_id) |
                   store_run(s, "DELETE FROM ml_endpoints WHERE ws_id=? COLLATE NOCASE", "t", ws_id)
               ? -1
               : 0;
  ep_changed();
  return rc;
}

typedef struct reboot_job {
  srv *s;
  json_t *ids;
} reboot_job;

static void *reboot_thread(void *arg) {
  reboot_job *j = arg;
  size_t i;
  json_t *v;
  json_array_foreach(j->ids, i, v) {
    char err[3000] = "";
    const char *id = json_string_value(v);
    if (dep_provision(j->s, id, err, sizeof err) != 0) {
      dep_fail(j->s, id, "ResourceNotReady", err);
      log_warn("ml: deployment %s did not come back: %.200s", id, err);
    } else {
      log_info("ml: deployment %s is up again", id);
    }
  }
  json_decref(j->ids);
  store_fini(j->s);
  free(j);
  return NULL;
}

/* Deployments to boot again at the first tick (after every provider's init:
 * the runtime is set up by then).  Guarded by reboot_mu. */
static pthread_mutex_t reboot_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *reboot_pending;

int ml_endpoints_init(srv *s) {
  if (!s->serving) return 0;
  /* Disks a crash left behind: instances live in memory only. */
  char *root = srv_path(s, "ml/endpoints");
  DIR *dir = opendir(root);
  for (struct dirent *e; dir && (e = readdir(dir));) {
    if (strncmp(e->d_name, "amlep-", 6) != 0) continue;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", root, e->d_name);
    rt_disk_remove(path);
  }
  if (dir) closedir(dir);
  free(root);
  json_t *ids = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "SELECT id, body FROM ml_deployments", -1, &q, NULL) ==
      SQLITE_OK) {
    while (sqlite3_step(q) == SQLITE_ROW) {
      const char *id = (const char *)sqlite3_column_text(q, 0);
      json_t *b = json_loads((const char *)sqlite3_column_text(q, 1), 0, NULL);
      const char *st = state_of(b);
      if (st && !strcmp(st, "Succeeded"))
        json_array_append_new(ids, json_string(id));
      else if (st && strcmp(st, "Failed") != 0)
        json_array_append_new(ids, json_pack("[s]", id));
      json_decref(b);
    }
    store_finalize(q);
  }
  json_t *reboot = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    meter_close(s, json_string_value(json_is_array(v) ? json_array_get(v, 0) : v));
    if (json_is_array(v)) {
      const char *id = json_string_value(json_array_get(v, 0));
      dep_fail(s, id, "ResourceNotReady", "azlite stopped while the deployment was provisioned.");
    } else {
      json_array_append(reboot, v);
    }
  }
  json_decref(ids);
  if (!json_array_size(reboot)) {
    json_decref(reboot);
    return 0;
  }
  pthread_mutex_lock(&reboot_mu);
  json_decref(reboot_pending);
  reboot_pending = reboot;
  pthread_mutex_unlock(&reboot_mu);
  return 0;
}

void ml_endpoints_tick(srv *s, int64_t now_ms) {
  (void)now_ms;
  pthread_mutex_lock(&reboot_mu);
  json_t *reboot = reboot_pending;
  reboot_pending = NULL;
  pthread_mutex_unlock(&reboot_mu);
  if (!reboot) return;
  reboot_job *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->s = s;
  j->ids = reboot;
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, reboot_thread, j) != 0) abort();
  pthread_attr_destroy(&a);
}

void ml_endpoints_fini(srv *s) {
  ml_scoring_fini(s);
  ep_cache_fini();
}
