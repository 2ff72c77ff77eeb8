/* deployments.c: Microsoft.Resources/deployments, template deployments at a
 * resource group or a subscription (`az deployment group/sub create`, and
 * what `az vm create` sends).  The template engine (template.h) expands the
 * template; each resource is then created by an internal request
 * (http_run_internal) through the same routing, authentication, RBAC and
 * handler as the caller's own PUT would take, with the caller's
 * Authorization header, which the deployment keeps while it runs (in memory
 * only).  Resources run one at a time in tpl_order; a failure skips what
 * depends on it, the rest go on, and the deployment ends Failed.
 *
 * A deployment is a row of `deployments` (its ARM JSON, template and
 * operations).  One still Accepted or Running when azlite stopped ends Failed
 * at the next start (the token it ran with is gone): run it again. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"
#include "template.h"

#define DEP_TYPE "Microsoft.Resources/deployments"
#define DEP_FAILED_MSG                                                                             \
  "At least one resource deployment operation failed. Please list deployment operations for "      \
  "details. Please see https://aka.ms/arm-deployment-operations for usage details."

/* A running deployment: the template context and what its internal requests
 * carry.  Owned by the deployment's LRO thread. */
typedef struct dep_job {
  srv *s;
  char scope[256]; /* /subscriptions/x[/resourceGroups/g] */
  char name[80];
  char id[400];
  char *auth; /* the caller's Authorization header */
  char *correlation;
  char rg_location[32];
  char group[96];
  tpl_env env;
  tpl_ctx *tpl;
  json_t *template;
  json_t *body; /* the deployment as GET shows it */
  int64_t started_ms;
} dep_job;

/* ---- helpers --------------------------------------------------------------- */

static void dep_duration(int64_t ms, char out[48]) {
  if (ms < 0) ms = 0;
  int64_t h = ms / 3600000, m = ms / 60000 % 60;
  double sec = (double)(ms % 60000) / 1000.0;
  if (h)
    snprintf(out, 48, "PT%lldH%lldM%.3fS", (long long)h, (long long)m, sec);
  else if (m)
    snprintf(out, 48, "PT%lldM%.3fS", (long long)m, sec);
  else
    snprintf(out, 48, "PT%.3fS", sec);
}

static const char *status_name(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "NoContent";
  case 400:
    return "BadRequest";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "NotFound";
  case 409:
    return "Conflict";
  case 501:
    return "NotImplemented";
  default:
    return status >= 500 ? "InternalServerError" : "BadRequest";
  }
}

/* The scope the route names: "/subscriptions/{sub}" or ".../resourceGroups/{rg}"
 * (the group's canonical name); fails r when the group or subscription is unknown. */
static int dep_scope(http_req *r, char *scope, size_t n) {
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  if (arm_require_subscription(r, sub) != 0) return -1;
  if (!rg) {
    snprintf(scope, n, "/subscriptions/%s", r->srv->subscription_id);
    return 0;
  }
  char canon[96];
  if (!arm_group_exists(r->srv, sub, rg, canon, sizeof canon)) {
    http_fail(r, ARM_ERR_RESOURCE_GROUP_NOT_FOUND, "Resource group '%s' could not be found.", rg);
    return -1;
  }
  snprintf(scope, n, "/subscriptions/%s/resourceGroups/%s", r->srv->subscription_id, canon);
  return 0;
}

static int dep_name_check(http_req *r, const char *name) {
  size_t n = strlen(name);
  if (n > 64) {
    http_fail(r, ARM_ERR_DEPLOYMENT_NAME_LENGTH_LIMIT_EXCEEDED,
              "The provided deployment name '%s' has a length of '%zu' which exceeds the "
              "maximum length of '64'. Please see https://aka.ms/arm-deploy for usage details.",
              name, n);
    return -1;
  }
  for (const char *p = name; *p; p++)
    if (!(strchr("-_.()", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
          (*p >= 'A' && *p <= 'Z'))) {
      http_fail(r, ARM_ERR_INVALID_DEPLOYMENT_NAME,
                "The deployment name '%s' is not valid: it may contain only letters, digits, "
                "'-', '_', '.', '(' and ')'.",
                name);
      return -1;
    }
  return 0;
}

/* The stored deployment (a new reference) with its state; NULL when absent. */
static json_t *dep_load(srv *s, const char *scope, const char *name, json_t **ops,
                        json_t **template) {
  sqlite3_stmt *st;
  json_t *j = NULL;
  if (store_prepare(store_db(s),
                    "SELECT body, operations, template FROM deployments WHERE scope=? AND name=?",
                    -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    if (ops) *ops = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
    if (template) *template = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
  }
  store_finalize(st);
  return j;
}

static int dep_save(srv *s, const char *scope, const char *name, json_t *body, json_t *ops) {
  char *b = json_dumps(body, JSON_COMPACT), *o = json_dumps(ops, JSON_COMPACT);
  const char *state =
      json_string_value(json_object_get(json_object_get(body, "properties"), "provisioningState"));
  int rc = store_exec(s,
                      "UPDATE deployments SET body=%Q, operations=%Q, state=%Q "
                      "WHERE scope=%Q AND name=%Q",
                      b, o, state ? state : "Running", scope, name);
  free(b);
  free(o);
  return rc;
}

static int dep_cancel_requested(srv *s, const char *scope, const char *name) {
  sqlite3_stmt *st;
  int c = 0;
  if (store_prepare(store_db(s), "SELECT cancel FROM deployments WHERE scope=? AND name=?", -1, &st,
                    NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) c = sqlite3_column_int(st, 0);
  store_finalize(st);
  return c;
}

static const char *type_newest_api(const char *type) {
  for (int i = 0; providers[i]; i++)
    for (const resource_type *t = providers[i]->resource_types; t && t->type; t++)
      if (strcasecmp(t->type, type) == 0 && t->api_versions) return t->api_versions[0];
  return NULL;
}

/* "Namespace/type[/child]" of a resource id; malloc'd, NULL when it names none. */
static char *id_type(const char *id) {
  const char *p = strcasestr(id, "/providers/");
  if (!p) {
    if (strcasestr(id, "/resourceGroups/")) return strdup("Microsoft.Resources/resourceGroups");
    return NULL;
  }
  const char *last;
  while ((last = strcasestr(p + 1, "/providers/")))
    p = last;
  p += strlen("/providers/");
  char *out = malloc(strlen(p) + 1);
  if (!out) abort();
  size_t n = 0;
  int seg = 0;
  for (const char *q = p; *q; q++) {
    if (*q == '/') seg++;
    /* namespace/type/name/type/name: keep segments 0, 1, 3, 5 ... */
    if (seg == 0 || seg == 1 || (seg % 2 == 1)) {
      if (!(*q == '/' && seg > 1 && seg % 2 == 0)) out[n++] = *q;
    }
  }
  out[n] = 0;
  if (n && out[n - 1] == '/') out[n - 1] = 0;
  return out;
}

/* An internal request with the deployment's caller: the finished request. */
static http_req *dep_call(dep_job *j, const char *method, const char *target, json_t *body) {
  http_header h[3] = {{"Authorization", j->auth ? j->auth : ""},
                      {"Content-Type", "application/json"},
                      {"x-ms-correlation-request-id", j->correlation}};
  char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
  http_req *q = http_run_internal(j->s, LISTEN_MGMT, method, target, h, 3, b, b ? strlen(b) : 0);
  free(b);
  return q;
}

static json_t *reply_json(http_req *q) {
  size_t n;
  const char *b = http_reply_body(q, &n);
  return n ? json_loadb(b, n, 0, NULL) : NULL;
}

static void err_from(http_req *q, tpl_error *err) {
  const char *code, *msg;
  int st = http_reply_status(q, &code, &msg);
  snprintf(err->code, sizeof err->code, "%s", code ? code : status_name(st));
  snprintf(err->message, sizeof err->message, "%s", msg ? msg : "The request failed.");
}

/* The body as ARM reads it: JSON whose property names may be unquoted, as
 * Newtonsoft.Json allows (az 2.45 sends `template:{...}` so that a large
 * template is not escaped into a string).  New reference, or NULL with r
 * failed. */
static json_t *dep_body_json(http_req *r) {
  size_t len;
  char *in = http_body_read_all(r, 64 * 1024 * 1024, &len);
  if (!in) {
    if (!http_failed(r))
      http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT, "The request content is empty.");
    return NULL;
  }
  char *out = malloc(len * 3 + 3);
  if (!out) abort();
  size_t n = 0;
  char prev = 0; /* the last non-space character outside strings */
  for (size_t i = 0; i < len;) {
    char c = in[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < len && in[j] != '"')
        j += in[j] == '\\' ? 2 : 1;
      if (j >= len) j = len - 1;
      memcpy(out + n, in + i, j - i + 1);
      n += j - i + 1;
      i = j + 1;
      prev = '"';
      continue;
    }
    if ((prev == '{' || prev == ',') &&
        ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '$')) {
      size_t j = i;
      while (j < len && ((in[j] >= 'A' && in[j] <= 'Z') || (in[j] >= 'a' && in[j] <= 'z') ||
                         (in[j] >= '0' && in[j] <= '9') || in[j] == '_' || in[j] == '$'))
        j++;
      size_t k = j;
      while (k < len && (in[k] == ' ' || in[k] == '\t' || in[k] == '\n' || in[k] == '\r'))
        k++;
      if (k < len && in[k] == ':') {
        out[n++] = '"';
        memcpy(out + n, in + i, j - i);
        n += j - i;
        out[n++] = '"';
        i = j;
        prev = '"';
        continue;
      }
    }
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') prev = c;
    out[n++] = c;
    i++;
  }
  free(in);
  json_error_t e;
  json_t *j = json_loadb(out, n, 0, &e);
  free(out);
  if (!j || !json_is_object(j)) {
    http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT,
              "The request content was invalid and could not be deserialized: '%s'.",
              j ? "an object is expected" : e.text);
    json_decref(j);
    return NULL;
  }
  return j;
}

/* ---- the template's world (tpl_env) ------------------------------------------ */

static json_t *env_reference(void *cls, const char *id, const char *api, int full, tpl_error *err) {
  dep_job *j = cls;
  char *type = id_type(id);
  const char *v = api ? api : type ? type_newest_api(type) : NULL;
  free(type);
  char *target;
  if (asprintf(&target, "%s?api-version=%s", id, v ? v : "2021-04-01") < 0) abort();
  http_req *q = dep_call(j, "GET", target, NULL);
  free(target);
  json_t *out = NULL;
  if (http_reply_status(q, NULL, NULL) == 200) {
    json_t *b = reply_json(q);
    if (b && !full) {
      out = json_incref(json_object_get(b, "properties"));
      json_decref(b);
    } else {
      out = b;
    }
  }
  if (!out) {
    err_from(q, err);
    snprintf(err->code, sizeof err->code, "ResourceNotFound");
  }
  http_req_free(q);
  return out;
}

static json_t *env_list(void *cls, const char *id, const char *action, const char *api,
                        tpl_error *err) {
  dep_job *j = cls;
  char *target;
  if (asprintf(&target, "%s/%s?api-version=%s", id, action, api ? api : "2021-04-01") < 0) abort();
  http_req *q = dep_call(j, "POST", target, NULL);
  free(target);
  json_t *out = http_reply_status(q, NULL, NULL) < 300 ? reply_json(q) : NULL;
  if (!out) err_from(q, err);
  http_req_free(q);
  return out;
}

static json_t *env_providers(void *cls, const char *ns, const char *type, tpl_error *err) {
  dep_job *j = cls;
  char *target;
  if (asprintf(&target, "/subscriptions/%s/providers/%s?api-version=2021-04-01",
               j->s->subscription_id, ns) < 0)
    abort();
  http_req *q = dep_call(j, "GET", target, NULL);
  free(target);
  json_t *out = http_reply_status(q, NULL, NULL) == 200 ? reply_json(q) : NULL;
  if (!out) err_from(q, err);
  http_req_free(q);
  if (out && type) {
    json_t *rt, *hit = NULL;
    size_t i;
    json_array_foreach(json_object_get(out, "resourceTypes"), i, rt) {
      if (strcasecmp(json_string_value(json_object_get(rt, "resourceType")) ?: "", type) == 0)
        hit = json_incref(rt);
    }
    json_decref(out);
    out = hit;
    if (!out) {
      snprintf(err->code, sizeof err->code, "InvalidTemplate");
      snprintf(err->message, sizeof err->message,
               "The resource type '%s' of namespace '%s' could not be found.", type, ns);
    }
  }
  return out;
}

static void job_free(void *p) {
  dep_job *j = p;
  if (!j) return;
  /* reference() and list() may still be running requests through j. */
  tpl_free(j->tpl);
  json_decref(j->template);
  json_decref(j->body);
  free(j->auth);
  free(j->correlation);
  free(j);
}

/* ---- the deployment's shape -------------------------------------------------- */

static const char *param_type_name(const char *t) {
  static const char *const names[] = {"String", "Int",          "Bool",        "Object",
                                      "Array",  "SecureString", "SecureObject"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (t && strcasecmp(t, names[i]) == 0) return names[i];
  return "String";
}

/* The parameters as a deployment echoes them: every template parameter with
 * its type and value; secure values are never shown. */
static json_t *dep_parameters(tpl_ctx *c, json_t *template) {
  json_t *out = json_object(), *def;
  const char *k;
  json_object_foreach(json_object_get(template, "parameters"), k, def) {
    const char *t = param_type_name(json_string_value(json_object_get(def, "type")));
    json_t *p = json_pack("{s:s}", "type", t);
    if (strncmp(t, "Secure", 6) != 0) {
      char *expr;
      if (asprintf(&expr, "[parameters('%s')]", k) < 0) abort();
      tpl_error e;
      json_t *v = tpl_eval(c, expr, &e);
      free(expr);
      if (v) json_object_set_new(p, "value", v);
    }
    json_object_set_new(out, k, p);
  }
  return out;
}

static json_t *dep_dependencies(tpl_ctx *c) {
  json_t *out = json_array();
  for (int i = 0; i < tpl_resource_count(c); i++) {
    const tpl_resource *x = tpl_resource_at(c, i);
    if (!x->ndepends) continue;
    json_t *on = json_array();
    for (int d = 0; d < x->ndepends; d++) {
      const tpl_resource *y = tpl_resource_at(c, x->depends_on[d]);
      json_array_append_new(on, json_pack("{s:s,s:s,s:s}", "id", y->id, "resourceType", y->type,
                                          "resourceName", y->name));
    }
    json_array_append_new(out, json_pack("{s:o,s:s,s:s,s:s}", "dependsOn", on, "id", x->id,
                                         "resourceType", x->type, "resourceName", x->name));
  }
  return out;
}

static json_t *dep_providers(tpl_ctx *c) {
  json_t *byns = json_object();
  for (int i = 0; i < tpl_resource_count(c); i++) {
    const char *t = tpl_resource_at(c, i)->type, *slash = strchr(t, '/');
    if (!slash) continue;
    char ns[128];
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - t), t);
    json_t *types = json_object_get(byns, ns);
    if (!types) json_object_set_new(byns, ns, types = json_object());
    if (!json_object_get(types, slash + 1))
      json_object_set_new(types, slash + 1,
                          json_pack("{s:s,s:[]}", "resourceType", slash + 1, "locations"));
  }
  json_t *out = json_array(), *types;
  const char *ns;
  json_object_foreach(byns, ns, types) {
    json_t *list = json_array(), *t;
    const char *k;
    json_object_foreach(types, k, t) json_array_append(list, t);
    json_array_append_new(out, json_pack("{s:s,s:o}", "namespace", ns, "resourceTypes", list));
  }
  json_decref(byns);
  return out;
}

static char *template_hash(json_t *template) {
  char *s = json_dumps(template, JSON_COMPACT | JSON_SORT_KEYS);
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = s; p && *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  free(s);
  char *out;
  if (asprintf(&out, "%llu", (unsigned long long)(h % 10000000000000000000ULL)) < 0) abort();
  return out;
}

/* Checks what the engine does not: what azlite refuses outright.  0 when fine. */
static int dep_refuse(http_req *r, json_t *props) {
  if (json_object_get(props, "templateLink")) {
    http_fail(r, ARM_ERR_TEMPLATE_LINK_NOT_SUPPORTED,
              "azlite does not fetch templates by link (properties.templateLink): pass the "
              "template inline (az: --template-file).");
    return -1;
  }
  if (json_object_get(props, "parametersLink")) {
    http_fail(r, ARM_ERR_TEMPLATE_LINK_NOT_SUPPORTED,
              "azlite does not fetch parameters by link (properties.parametersLink): pass them "
              "inline (az: --parameters @file.json).");
    return -1;
  }
  const char *mode = json_string_value(json_object_get(props, "mode"));
  if (mode && strcasecmp(mode, "Incremental") != 0) {
    http_fail(r, ARM_ERR_DEPLOYMENT_MODE_NOT_SUPPORTED,
              "azlite runs deployments in Incremental mode only; mode '%s' is not supported.",
              mode);
    return -1;
  }
  if (!json_is_object(json_object_get(props, "template"))) {
    http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT,
              "The request content is not valid: properties.template must be an object.");
    return -1;
  }
  return 0;
}

/* What the request holds until the operation's thread takes the job. */
static void slot_free(void *p) {
  dep_job **slot = p;
  job_free(*slot);
}

static void fail_tpl(http_req *r, const tpl_error *e) {
  if (strcmp(e->code, "InvalidTemplateDeployment") == 0)
    http_fail(r, ARM_ERR_INVALID_TEMPLATE_DEPLOYMENT, "%s", e->message);
  else
    http_fail(r, ARM_ERR_INVALID_TEMPLATE, "%s", e->message);
}

/* Builds a job from the request: the template loaded and checked, the
 * deployment's JSON in state.  NULL when r failed. */
static dep_job **dep_prepare(http_req *r, const char *scope, const char *name, json_t *req,
                             const char *state) {
  srv *s = r->srv;
  json_t *props = json_object_get(req, "properties");
  if (!json_is_object(props)) {
    http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT,
              "The request content is not valid: 'properties' is required.");
    return NULL;
  }
  if (dep_refuse(r, props) != 0) return NULL;
  const char *rg = http_param(r, "rg");
  char loc[32] = "";
  const char *l = json_string_value(json_object_get(req, "location"));
  if (!rg && !l) {
    http_fail(r, ARM_ERR_LOCATION_REQUIRED,
              "The location property is required for this definition.");
    return NULL;
  }
  if (l && !arm_location_normalize(l, loc)) {
    http_fail(r, ARM_ERR_LOCATION_NOT_AVAILABLE_FOR_DEPLOYMENT,
              "The provided location '%s' is not available for deployments.", l);
    return NULL;
  }
  dep_job *j = calloc(1, sizeof *j);
  if (!j) abort();
  dep_job **slot = http_alloc(r, sizeof *slot);
  *slot = j;
  http_defer(r, slot_free, slot);
  j->s = s;
  snprintf(j->scope, sizeof j->scope, "%s", scope);
  snprintf(j->name, sizeof j->name, "%s", name);
  snprintf(j->id, sizeof j->id, "%s/providers/" DEP_TYPE "/%s", scope, name);
  const char *auth = http_header_get(r, "Authorization");
  j->auth = strdup(auth ? auth : "");
  const char *corr = http_header_get(r, "x-ms-correlation-request-id");
  char u[37];
  uuid_v4(u);
  j->correlation = strdup(corr ? corr : u);
  if (rg) {
    const char *g = strrchr(scope, '/') + 1;
    snprintf(j->group, sizeof j->group, "%s", g);
    sqlite3_stmt *st;
    if (store_prepare(store_db(s),
                      "SELECT location FROM resource_groups WHERE subscription=? AND name=?", -1,
                      &st, NULL) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, s->subscription_id, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, g, -1, SQLITE_STATIC);
      if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(j->rg_location, sizeof j->rg_location, "%s", sqlite3_column_text(st, 0));
      store_finalize(st);
    }
  }
  j->env = (tpl_env){.subscription_id = s->subscription_id,
                     .tenant_id = s->tenant_id,
                     .resource_group = rg ? j->group : NULL,
                     .rg_location = rg ? j->rg_location : loc,
                     .deployment_name = j->name,
                     .cls = j,
                     .reference = env_reference,
                     .list = env_list,
                     .providers = env_providers};
  j->template = json_incref(json_object_get(props, "template"));
  tpl_error e = {"", ""};
  j->tpl = tpl_load(j->template, json_object_get(props, "parameters"), &j->env, &e);
  if (!j->tpl) {
    if (!e.code[0]) snprintf(e.code, sizeof e.code, "InvalidTemplate");
    fail_tpl(r, &e);
    return NULL;
  }
  char iso[40];
  j->started_ms = clock_now_ms(s);
  clock_iso8601(j->started_ms, iso);
  char *hash = template_hash(j->template);
  json_t *p =
      json_pack("{s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:[],s:[]}", "templateHash", hash,
                "parameters", dep_parameters(j->tpl, j->template), "mode", "Incremental",
                "provisioningState", state, "timestamp", iso, "duration", "PT0S", "correlationId",
                j->correlation, "providers", dep_providers(j->tpl), "dependencies",
                dep_dependencies(j->tpl), "outputResources", "validatedResources");
  free(hash);
  json_t *debug = json_object_get(props, "debugSetting");
  if (debug) json_object_set(p, "debugSetting", debug);
  j->body =
      json_pack("{s:s,s:s,s:s,s:o}", "id", j->id, "name", name, "type", DEP_TYPE, "properties", p);
  if (loc[0]) json_object_set_new(j->body, "location", json_string(loc));
  json_t *tags = json_object_get(req, "tags");
  if (json_is_object(tags)) json_object_set(j->body, "tags", tags);
  return slot;
}

/* ---- running a deployment ---------------------------------------------------- */

static int terminal(const char *ps) {
  return !ps || strcasecmp(ps, "Succeeded") == 0 || strcasecmp(ps, "Failed") == 0 ||
         strcasecmp(ps, "Canceled") == 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Adds loc to the type's locations in the deployment's providers. */
static void dep_note_location(dep_job *j, const char *type, const char *loc) {
  char canon[32];
  if (!arm_location_normalize(loc, canon)) return;
  const char *slash = strchr(type, '/');
  if (!slash) return;
  json_t *p, *t;
  size_t i, k;
  json_array_foreach(json_object_get(json_object_get(j->body, "properties"), "providers"), i, p) {
    const char *ns = json_string_value(json_object_get(p, "namespace"));
    if (!ns || strncasecmp(ns, type, (size_t)(slash - type)) != 0 || ns[slash - type]) continue;
    json_array_foreach(json_object_get(p, "resourceTypes"), k, t) {
      if (strcasecmp(json_string_value(json_object_get(t, "resourceType")) ?: "", slash + 1))
        continue;
      json_t *locs = json_object_get(t, "locations"), *l;
      size_t m;
      json_array_foreach(locs, m, l) if (strcmp(json_string_value(l), canon) == 0) return;
      json_array_append_new(locs, json_string(canon));
      return;
    }
  }
}

/* Creates resource i: PUT, then its GET until its provisioning state is
 * terminal.  0 on success; else err filled and *status the HTTP status. */
static int dep_resource(dep_job *j, int i, int *status, tpl_error *err) {
  const tpl_resource *x = tpl_resource_at(j->tpl, i);
  json_t *body = tpl_resource_body(j->tpl, i, err);
  if (!body) {
    *status = 400;
    if (!err->code[0]) snprintf(err->code, sizeof err->code, "InvalidTemplate");
    return -1;
  }
  const char *loc = json_string_value(json_object_get(body, "location"));
  if (loc) dep_note_location(j, x->type, loc);
  char *target;
  if (asprintf(&target, "%s?api-version=%s", x->id, x->api_version) < 0) abort();
  http_req *q = dep_call(j, "PUT", target, body);
  json_decref(body);
  *status = http_reply_status(q, NULL, NULL);
  if (*status >= 300) {
    err_from(q, err);
    http_req_free(q);
    free(target);
    return -1;
  }
  json_t *got = reply_json(q);
  http_req_free(q);
  const char *ps =
      json_string_value(json_object_get(json_object_get(got, "properties"), "provisioningState"));
  int rc = 0;
  /* Not done yet (202, Creating, Updating, ...): follow its GET, as ARM does. */
  for (int n = 0; (*status == 202 && !got) || !terminal(ps); n++) {
    if (n > 3600 || dep_cancel_requested(j->s, j->scope, j->name)) {
      snprintf(err->code, sizeof err->code, "ResourceDeploymentFailure");
      snprintf(err->message, sizeof err->message,
               "The resource operation did not reach a terminal provisioning state.");
      rc = -1;
      break;
    }
    sleep_ms(1000);
    q = dep_call(j, "GET", target, NULL);
    int st = http_reply_status(q, NULL, NULL);
    json_decref(got);
    got = st == 200 ? reply_json(q) : NULL;
    http_req_free(q);
    if (st >= 300 && st != 404) {
      snprintf(err->code, sizeof err->code, "ResourceDeploymentFailure");
      snprintf(err->message, sizeof err->message,
               "The resource operation failed: its GET answered %d.", st);
      rc = -1;
      break;
    }
    ps =
        json_string_value(json_object_get(json_object_get(got, "properties"), "provisioningState"));
    if (got && !ps) break;
  }
  if (rc == 0 && ps && strcasecmp(ps, "Succeeded") != 0) {
    json_t *e = json_object_get(json_object_get(got, "properties"), "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *m = json_string_value(json_object_get(e, "message"));
    snprintf(err->code, sizeof err->code, "%s", c ? c : "ResourceDeploymentFailure");
    snprintf(err->message, sizeof err->message, "%s",
             m ? m
               : "The resource write operation failed to complete successfully, because "
                 "it reached terminal provisioning state.");
    if (!m)
      snprintf(err->message, sizeof err->message,
               "The resource write operation failed to complete successfully, because it "
               "reached terminal provisioning state '%s'.",
               ps);
    rc = -1;
  }
  json_decref(got);
  free(target);
  return rc;
}

static json_t *dep_operation(dep_job *j, const tpl_resource *x, int ok, int status,
                             const tpl_error *err, int64_t t0) {
  char opid[37], iso[40], dur[48];
  uuid_v4(opid);
  for (char *p = opid; *p; p++)
    if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
  int64_t now = clock_now_ms(j->s);
  clock_iso8601(now, iso);
  dep_duration(now - t0, dur);
  /* A nested deployment at the subscription, from a group's deployment, is
   * reported under the group: azure-ai-ml 1.4.0 parses every operation's
   * target as /subscriptions/x/resourceGroups/g/providers/..., and the
   * workspace template it sends makes one (DefaultResourceGroup-<region>). */
  const char *target = x->id;
  char nested[512];
  if (!strcasecmp(x->type, DEP_TYPE) && !strstr(x->id, "/resourceGroups/") &&
      strstr(j->scope, "/resourceGroups/")) {
    snprintf(nested, sizeof nested, "%s/providers/%s/%s", j->scope, DEP_TYPE, x->name);
    target = nested;
  }
  json_t *props =
      json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s}}", "provisioningOperation", "Create",
                "provisioningState", ok ? "Succeeded" : "Failed", "timestamp", iso, "duration", dur,
                "trackingId", opid, "statusCode", status_name(status), "targetResource", "id",
                target, "resourceType", x->type, "resourceName", x->name);
  json_object_set_new(props, "serviceRequestId", json_string(opid));
  if (!ok)
    json_object_set_new(props, "statusMessage",
                        json_pack("{s:s,s:{s:s,s:s}}", "status", "Failed", "error", "code",
                                  err->code, "message", err->message));
  else
    json_object_set_new(props, "statusMessage", json_null());
  return json_pack("{s:o,s:s,s:o}", "id", json_sprintf("%s/operations/%s", j->id, opid),
                   "operationId", opid, "properties", props);
}

static void dep_set_state(dep_job *j, const char *state) {
  json_t *p = json_object_get(j->body, "properties");
  char iso[40], dur[48];
  int64_t now = clock_now_ms(j->s);
  clock_iso8601(now, iso);
  dep_duration(now - j->started_ms, dur);
  json_object_set_new(p, "provisioningState", json_string(state));
  json_object_set_new(p, "timestamp", json_string(iso));
  json_object_set_new(p, "duration", json_string(dur));
}

static int dep_run(srv *s, void *ctx, char *err_code, size_t code_len, char *err_msg,
                   size_t msg_len) {
  dep_job *j = ctx;
  json_t *ops = json_array(), *details = json_array();
  json_t *outres = json_object_get(json_object_get(j->body, "properties"), "outputResources");
  int n = tpl_resource_count(j->tpl);
  const int *order = tpl_order(j->tpl);
  /* 0 to do, 1 done, 2 failed or not run because what it needs failed */
  char *done = calloc((size_t)n + 1, 1);
  if (!done) abort();
  dep_set_state(j, "Running");
  dep_save(s, j->scope, j->name, j->body, ops);
  int failed = 0, canceled = 0;
  for (int k = 0; k < n; k++) {
    int i = order[k];
    const tpl_resource *x = tpl_resource_at(j->tpl, i);
    if (dep_cancel_requested(s, j->scope, j->name)) {
      canceled = 1;
      break;
    }
    int blocked = 0;
    for (int d = 0; d < x->ndepends; d++)
      blocked |= done[x->depends_on[d]] == 2;
    if (blocked) {
      done[i] = 2;
      continue;
    }
    /* Test only: holds each resource so that tests can cancel mid-way. */
    arm_test_delay("AZLITE_TEST_DEPLOY_DELAY_MS");
    tpl_error e = {"", ""};
    int status = 0;
    int64_t t0 = clock_now_ms(s);
    int rc = dep_resource(j, i, &status, &e);
    done[i] = rc == 0 ? 1 : 2;
    json_array_append_new(ops, dep_operation(j, x, rc == 0, status, &e, t0));
    if (rc == 0) {
      json_array_append_new(outres, json_pack("{s:s}", "id", x->id));
    } else {
      failed = 1;
      json_array_append_new(details, json_pack("{s:s,s:s}", "code", e.code, "message", e.message));
    }
    dep_save(s, j->scope, j->name, j->body, ops);
  }
  free(done);
  json_t *p = json_object_get(j->body, "properties");
  canceled |= dep_cancel_requested(s, j->scope, j->name);
  if (!failed && !canceled) {
    tpl_error e = {"", ""};
    json_t *outs = tpl_outputs(j->tpl, &e);
    if (outs) {
      json_object_set_new(p, "outputs", outs);
    } else {
      failed = 1;
      json_array_append_new(
          details,
          json_pack("{s:s,s:s}", "code", "DeploymentOutputEvaluationFailed", "message", e.message));
    }
  }
  int rc = 0;
  if (canceled) {
    dep_set_state(j, "Canceled");
    snprintf(err_code, code_len, "DeploymentCanceled");
    snprintf(err_msg, msg_len, "The deployment '%s' was canceled.", j->name);
    rc = -1;
  } else if (failed) {
    dep_set_state(j, "Failed");
    json_object_set_new(p, "error",
                        json_pack("{s:s,s:s,s:O}", "code", "DeploymentFailed", "message",
                                  DEP_FAILED_MSG, "details", details));
    snprintf(err_code, code_len, "DeploymentFailed");
    json_t *first = json_array_get(details, 0);
    snprintf(err_msg, msg_len, "%s (%s: %s)", DEP_FAILED_MSG,
             json_string_value(json_object_get(first, "code")),
             json_string_value(json_object_get(first, "message")));
    rc = -1;
  } else {
    dep_set_state(j, "Succeeded");
  }
  dep_save(s, j->scope, j->name, j->body, ops);
  json_decref(details);
  json_decref(ops);
  return rc;
}

/* Azure polls a deployment at .../deployments/{name}/operationStatuses/{id}:
 * a caller allowed the deployment may poll it (the subscription-wide URL
 * arm_lro_start gives needs a role at the subscription). */
static void dep_status_url(http_req *r, const char *dep_id) {
  const http_header *h;
  int n = http_reply_headers(r, &h);
  for (int i = 0; i < n; i++) {
    if (strcasecmp(h[i].name, "Azure-AsyncOperation") != 0) continue;
    const char *op = strstr(h[i].value, "/operationStatuses/");
    if (!op) return;
    char *v = http_printf(r, "%s%s%s", http_mgmt_base(r), dep_id, op);
    http_set_header(r, "Azure-AsyncOperation", v);
    return;
  }
}

/* ---- handlers ------------------------------------------------------------------- */

static int dep_active(json_t *body) {
  const char *ps =
      json_string_value(json_object_get(json_object_get(body, "properties"), "provisioningState"));
  return ps && (strcmp(ps, "Accepted") == 0 || strcmp(ps, "Running") == 0);
}

void arm_deployment_put(http_req *r) {
  srv *s = r->srv;
  char scope[256];
  const char *name = http_param(r, "name");
  if (dep_scope(r, scope, sizeof scope) != 0 || dep_name_check(r, name) != 0) return;
  json_t *req = http_json_own(r, dep_body_json(r));
  if (!req) return;
  json_t *old = http_json_own(r, dep_load(s, scope, name, NULL, NULL));
  if (old && dep_active(old)) {
    http_fail(r, ARM_ERR_DEPLOYMENT_ACTIVE,
              "The deployment '%s' is still active: cancel it or wait until it ends.", name);
    return;
  }
  dep_job **slot = dep_prepare(r, scope, name, req, "Accepted");
  if (!slot) return;
  dep_job *j = *slot;
  char *b = json_dumps(j->body, JSON_COMPACT), *t = json_dumps(j->template, JSON_COMPACT);
  int rc = store_exec(s,
                      "INSERT INTO deployments(scope,name,state,body,template,operations,cancel,"
                      "created_ms) VALUES(%Q,%Q,'Accepted',%Q,%Q,'[]',0,%lld) "
                      "ON CONFLICT(scope,name) DO UPDATE SET state='Accepted', body=excluded.body,"
                      " template=excluded.template, operations='[]', cancel=0",
                      scope, name, b, t, (long long)clock_now_ms(s));
  free(b);
  free(t);
  if (rc != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The deployment could not be saved.");
    return;
  }
  *slot = NULL; /* the job now belongs to the operation's thread */
  char id[400];
  snprintf(id, sizeof id, "%s", j->id);
  arm_lro_start(r, old ? 200 : 201, json_deep_copy(j->body), dep_run, j, job_free);
  dep_status_url(r, id);
}

/* The deployment the route names, a new reference; fails r with 404 when absent. */
static json_t *dep_find(http_req *r, char *scope, size_t n, json_t **ops, json_t **template) {
  if (dep_scope(r, scope, n) != 0) return NULL;
  const char *name = http_param(r, "name");
  json_t *j = dep_load(r->srv, scope, name, ops, template);
  if (!j) http_fail(r, ARM_ERR_DEPLOYMENT_NOT_FOUND, "Deployment '%s' could not be found.", name);
  return j;
}

void arm_deployment_get(http_req *r) {
  char scope[256];
  json_t *j = dep_find(r, scope, sizeof scope, NULL, NULL);
  if (j) http_reply_json(r, 200, j);
}

void arm_deployment_head(http_req *r) {
  char scope[256];
  if (dep_scope(r, scope, sizeof scope) != 0) return;
  json_t *j = dep_load(r->srv, scope, http_param(r, "name"), NULL, NULL);
  http_reply_empty(r, j ? 204 : 404);
  json_decref(j);
}

void arm_deployment_list(http_req *r) {
  char scope[256];
  if (dep_scope(r, scope, sizeof scope) != 0) return;
  const char *filter = http_query_get(r, "$filter"), *top = http_query_get(r, "$top");
  char want[32] = "";
  if (filter && sscanf(filter, " provisioningState eq '%31[A-Za-z]'", want) != 1) {
    http_fail(r, ARM_ERR_INVALID_FILTER_IN_QUERY_STRING,
              "Invalid $filter '%s': deployments take only \"provisioningState eq '{state}'\".",
              filter);
    return;
  }
  long limit = top ? strtol(top, NULL, 10) : -1;
  if (top && limit <= 0) {
    http_fail(r, ARM_ERR_INVALID_PARAMETER, "The value of $top '%s' is not valid.", top);
    return;
  }
  sqlite3_stmt *st;
  json_t *list = json_array();
  if (store_prepare(store_db(r->srv),
                    "SELECT body FROM deployments WHERE scope=? AND (?='' OR state=? COLLATE "
                    "NOCASE) ORDER BY created_ms DESC",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, want, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, want, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW && (limit < 0 || (long)json_array_size(list) < limit)) {
      json_t *j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
      if (j) json_array_append_new(list, j);
    }
    store_finalize(st);
  }
  arm_reply_list(r, list);
}

static int dep_delete_run(srv *s, void *ctx, char *code, size_t cl, char *msg, size_t ml) {
  (void)code, (void)cl, (void)msg, (void)ml;
  char **key = ctx;
  return store_exec(s, "DELETE FROM deployments WHERE scope=%Q AND name=%Q", key[0], key[1]);
}

static void key_free(void *p) {
  char **key = p;
  free(key[0]);
  free(key[1]);
  free(key);
}

/* Deletes the record only; what it deployed stays, as in Azure. */
void arm_deployment_delete(http_req *r) {
  char scope[256];
  if (dep_scope(r, scope, sizeof scope) != 0) return;
  const char *name = http_param(r, "name");
  json_t *j = http_json_own(r, dep_load(r->srv, scope, name, NULL, NULL));
  if (!j) {
    http_reply_empty(r, 204);
    return;
  }
  if (dep_active(j)) {
    http_fail(r, ARM_ERR_DEPLOYMENT_ACTIVE,
              "The deployment '%s' is still active: cancel it or wait until it ends.", name);
    return;
  }
  char **key = calloc(2, sizeof *key);
  if (!key) abort();
  key[0] = strdup(scope);
  key[1] = strdup(name);
  char *id = http_printf(r, "%s/providers/" DEP_TYPE "/%s", scope, name);
  arm_lro_start(r, 202, NULL, dep_delete_run, key, key_free);
  dep_status_url(r, id);
}

void arm_deployment_cancel(http_req *r) {
  char scope[256];
  json_t *j = http_json_own(r, dep_find(r, scope, sizeof scope, NULL, NULL));
  if (!j) return;
  const char *name = http_param(r, "name");
  if (store_exec(r->srv,
                 "UPDATE deployments SET cancel=1 WHERE scope=%Q AND name=%Q AND state IN "
                 "('Accepted','Running')",
                 scope, name) != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The deployment could not be canceled.");
    return;
  }
  if (sqlite3_changes(store_db(r->srv)) == 0) {
    const char *ps =
        json_string_value(json_object_get(json_object_get(j, "properties"), "provisioningState"));
    http_fail(r, ARM_ERR_DEPLOYMENT_CANNOT_BE_CANCELLED,
              "The deployment '%s' cannot be canceled: its provisioning state is '%s'; only "
              "Accepted or Running deployments can be.",
              name, ps ? ps : "unknown");
    return;
  }
  http_reply_empty(r, 204);
}

void arm_deployment_validate(http_req *r) {
  char scope[256];
  const char *name = http_param(r, "name");
  if (dep_scope(r, scope, sizeof scope) != 0 || dep_name_check(r, name) != 0) return;
  json_t *req = http_json_own(r, dep_body_json(r));
  if (!req) return;
  dep_job **slot = dep_prepare(r, scope, name, req, "Succeeded");
  if (!slot) return;
  dep_job *j = *slot;
  json_t *p = json_object_get(j->body, "properties");
  json_t *v = json_object_get(p, "validatedResources");
  for (int i = 0; i < tpl_resource_count(j->tpl); i++)
    json_array_append_new(v, json_pack("{s:s}", "id", tpl_resource_at(j->tpl, i)->id));
  json_object_del(p, "outputResources");
  http_reply_json(r, 200, json_incref(j->body));
}

void arm_deployment_what_if(http_req *r) {
  http_fail(r, ARM_ERR_NOT_IMPLEMENTED,
            "azlite does not implement deployment what-if (POST .../deployments/%s/whatIf) "
            "yet: validate the template (az deployment group validate) and deploy it.",
            http_param(r, "name"));
}

void arm_deployment_export(http_req *r) {
  char scope[256];
  json_t *tpl = NULL;
  json_t *j = http_json_own(r, dep_find(r, scope, sizeof scope, NULL, &tpl));
  if (!j) return;
  http_reply_json(r, 200, json_pack("{s:o}", "template", tpl ? tpl : json_object()));
}

void arm_deployment_operations(http_req *r) {
  char scope[256];
  json_t *ops = NULL;
  json_t *j = http_json_own(r, dep_find(r, scope, sizeof scope, &ops, NULL));
  if (!j) return;
  arm_reply_list(r, ops ? ops : json_array());
}

void arm_deployment_operation_get(http_req *r) {
  char scope[256];
  json_t *ops = NULL;
  json_t *j = http_json_own(r, dep_find(r, scope, sizeof scope, &ops, NULL));
  if (!j) return;
  http_json_own(r, ops);
  const char *want = http_param(r, "op");
  json_t *op;
  size_t i;
  json_array_foreach(ops, i, op) {
    if (strcasecmp(json_string_value(json_object_get(op, "operationId")) ?: "", want) == 0) {
      http_reply_json(r, 200, json_incref(op));
      return;
    }
  }
  http_fail(r, ARM_ERR_DEPLOYMENT_OPERATION_NOT_FOUND,
            "The deployment operation '%s' could not be found.", want);
}

void arm_deployments_recover(srv *s) {
  /* The Authorization header a deployment ran with lived in memory only. */
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  sqlite3_stmt *st;
  json_t *fix = json_array();
  if (store_prepare(store_db(s),
                    "SELECT scope, name, body FROM deployments WHERE state IN "
                    "('Accepted','Running')",
                    -1, &st, NULL) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW)
      json_array_append_new(fix, json_pack("[s,s,s]", sqlite3_column_text(st, 0),
                                           sqlite3_column_text(st, 1), sqlite3_column_text(st, 2)));
    store_finalize(st);
  }
  json_t *row;
  size_t i;
  json_array_foreach(fix, i, row) {
    json_t *b = json_loads(json_string_value(json_array_get(row, 2)), 0, NULL);
    json_t *p = json_object_get(b, "properties");
    if (!p) {
      json_decref(b);
      continue;
    }
    json_object_set_new(p, "provisioningState", json_string("Failed"));
    json_object_set_new(p, "timestamp", json_string(iso));
    json_object_set_new(
        p, "error",
        json_pack("{s:s,s:s}", "code", "DeploymentInterrupted", "message",
                  "azlite stopped while the deployment ran; what it created is kept. Run the "
                  "deployment again."));
    char *body = json_dumps(b, JSON_COMPACT);
    store_exec(s, "UPDATE deployments SET state='Failed', body=%Q WHERE scope=%Q AND name=%Q", body,
               json_string_value(json_array_get(row, 0)),
               json_string_value(json_array_get(row, 1)));
    log_warn("arm: deployment %s/%s was interrupted by a stop: it is Failed",
             json_string_value(json_array_get(row, 0)), json_string_value(json_array_get(row, 1)));
    free(body);
    json_decref(b);
  }
  json_decref(fix);
}

void arm_deployments_resource_deleted(srv *s, const char *id, const char *type) {
  if (strcasecmp(type, "Microsoft.Resources/resourceGroups") == 0)
    store_exec(s, "DELETE FROM deployments WHERE scope=%Q", id);
}
