/* assets.c: a workspace's versioned assets, as the Azure ML front end keeps
 * them: environments, models, codes and data, each a container
 * (workspaces/{ws}/{kind}/{name}: description, tags, latestVersion,
 * nextVersion, isArchived) and its versions (.../{name}/versions/{version}).
 * One table each for containers and versions serves every kind; what a kind
 * adds is in asset_kinds[] (its type name and what a version's properties
 * must hold).  A model version whose modelUri names a job's output
 * (azureml://jobs/<job>/outputs/artifacts/paths/<path>) is resolved to the
 * run's files in the artifact store, as Azure copies them. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

typedef struct asset_kind {
  const char *segment; /* "environments" */
  const char *type;    /* "Microsoft.MachineLearningServices/workspaces/environments" */
  const char *display; /* for messages */
  /* Fills and checks a version's properties (in place); fails r, -1. */
  int (*check)(http_req *r, json_t *ws, json_t *props);
} asset_kind;

static int env_check(http_req *r, json_t *ws, json_t *p) {
  (void)ws;
  if (!json_string_value(json_object_get(p, "image")) && !json_object_get(p, "build")) {
    http_fail(r, ML_ERR_VALIDATION, "An environment needs an image or a build context.");
    return -1;
  }
  if (!json_object_get(p, "osType")) json_object_set_new(p, "osType", json_string("Linux"));
  json_object_set_new(p, "environmentType", json_string("UserCreated"));
  return 0;
}

static int code_check(http_req *r, json_t *ws, json_t *p) {
  (void)ws;
  if (!json_string_value(json_object_get(p, "codeUri"))) {
    http_fail(r, ML_ERR_VALIDATION, "A code version needs codeUri.");
    return -1;
  }
  return 0;
}

static int data_check(http_req *r, json_t *ws, json_t *p) {
  (void)ws;
  if (!json_string_value(json_object_get(p, "dataUri"))) {
    http_fail(r, ML_ERR_VALIDATION, "A data version needs dataUri.");
    return -1;
  }
  if (!json_object_get(p, "dataType"))
    json_object_set_new(p, "dataType", json_string("uri_folder"));
  return 0;
}

/* azureml://jobs/<job>/outputs/artifacts/paths/<path> -> the run's files in
 * the workspace's artifact store, where the job's outputs were uploaded. */
static int model_check(http_req *r, json_t *ws, json_t *p) {
  const char *uri = json_string_value(json_object_get(p, "modelUri"));
  if (!uri) {
    http_fail(r, ML_ERR_VALIDATION, "A model version needs modelUri.");
    return -1;
  }
  static const char pre[] = "azureml://jobs/";
  if (strncasecmp(uri, pre, sizeof pre - 1) == 0) {
    const char *job = uri + sizeof pre - 1;
    const char *slash = strchr(job, '/');
    static const char mid[] = "/outputs/artifacts/paths/";
    if (!slash || strncasecmp(slash, mid, sizeof mid - 1) != 0) {
      http_fail(r, ML_ERR_VALIDATION,
                "%s is not a job output azlite can resolve (azureml://jobs/<job>/outputs/"
                "artifacts/paths/<path>).",
                uri);
      return -1;
    }
    char *job_name = http_strdup(r, job);
    job_name[slash - job] = 0;
    const char *path = slash + sizeof mid - 1;
    if (ml_job_output_check(r, ws, job_name, path) != 0) return -1;
    /* The model keeps its own copy: it outlives the job's artifacts. */
    const char *v = http_param(r, "version");
    const char *base = strrchr(path, '/');
    char *dest = http_printf(r, "ModelRegistry/%s/%s/%s", http_param(r, "name"), v,
                             base && base[1] ? base + 1 : path);
    if (ml_job_output_copy(r, ws, job_name, path, dest) != 0) return -1;
    json_object_set_new(
        p, "modelUri",
        json_sprintf("azureml://subscriptions/%s/resourceGroups/%s/workspaces/%s/datastores/"
                     "workspaceblobstore/paths/%s",
                     r->srv->subscription_id, http_param(r, "rg"),
                     json_string_value(json_object_get(ws, "name")), dest));
    json_object_set_new(p, "jobName", json_string(job_name));
  }
  if (!json_object_get(p, "modelType"))
    json_object_set_new(p, "modelType", json_string("custom_model"));
  if (!json_is_object(json_object_get(p, "flavors")))
    json_object_set_new(p, "flavors", json_object());
  return 0;
}

static const asset_kind asset_kinds[] = {
    {"environments", ML_WS_TYPE "/environments", "environment", env_check},
    {"models", ML_WS_TYPE "/models", "model", model_check},
    {"codes", ML_WS_TYPE "/codes", "code", code_check},
    {"data", ML_WS_TYPE "/data", "data", data_check},
};

static const asset_kind *kind_of(http_req *r) {
  const char *k = http_route_data(r);
  for (size_t i = 0; i < sizeof asset_kinds / sizeof asset_kinds[0]; i++)
    if (!strcmp(asset_kinds[i].segment, k)) return &asset_kinds[i];
  return NULL;
}

/* Version names: 1..255 characters, no '/' (Azure refuses them). */
static int version_valid(const char *v) {
  size_t n = strlen(v);
  return n > 0 && n < 256 && !strchr(v, '/');
}

/* Numeric versions compare as numbers; others after them, as text. */
static int version_cmp(const char *a, const char *b) {
  char *ea, *eb;
  long long x = strtoll(a, &ea, 10), y = strtoll(b, &eb, 10);
  int na = *a && !*ea, nb = *b && !*eb;
  if (na && nb) return x < y ? -1 : x > y;
  if (na != nb) return na ? -1 : 1;
  return strcmp(a, b);
}

typedef struct ctx {
  json_t *ws;
  const char *ws_id;
  const asset_kind *k;
  const char *name;
} ctx;

static int ctx_get(http_req *r, ctx *c) {
  c->k = kind_of(r);
  c->ws = http_json_own(r, ml_workspace_require(r));
  if (!c->ws || !c->k) return -1;
  c->ws_id = json_string_value(json_object_get(c->ws, "id"));
  c->name = http_param(r, "name");
  return 0;
}

static json_t *container_load(srv *s, ctx *c, const char *name) {
  sqlite3_stmt *q;
  json_t *out = NULL;
  if (store_prepare(store_db(s),
                    "SELECT body FROM ml_asset_containers WHERE ws_id=?1 COLLATE NOCASE AND"
                    " kind=?2 AND name=?3 COLLATE NOCASE",
                    -1, &q, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(q, 1, c->ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, c->k->segment, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    out = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
  store_finalize(q);
  return out;
}

/* The container's latestVersion and nextVersion from its versions (the
 * highest, and the highest number plus one). */
static void container_versions(srv *s, ctx *c, const char *name, json_t *props) {
  sqlite3_stmt *q;
  char latest[256] = "";
  long long maxnum = 0;
  if (store_prepare(store_db(s),
                    "SELECT version FROM ml_asset_versions WHERE ws_id=?1 COLLATE NOCASE AND"
                    " kind=?2 AND name=?3 COLLATE NOCASE",
                    -1, &q, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(q, 1, c->ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, c->k->segment, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(q, 0);
    if (!latest[0] || version_cmp(v, latest) > 0) snprintf(latest, sizeof latest, "%s", v);
    char *e;
    long long n = strtoll(v, &e, 10);
    if (*v && !*e && n > maxnum) maxnum = n;
  }
  store_finalize(q);
  json_object_set_new(props, "latestVersion", latest[0] ? json_string(latest) : json_null());
  json_object_set_new(props, "nextVersion", json_sprintf("%lld", maxnum + 1));
}

static json_t *container_render(srv *s, ctx *c, json_t *b) {
  container_versions(s, c, json_string_value(json_object_get(b, "name")),
                     json_object_get(b, "properties"));
  return b;
}

static int container_save(srv *s, ctx *c, const char *name, json_t *b) {
  char *txt = json_dumps(b, JSON_COMPACT);
  int rc = store_run(s,
                     "INSERT INTO ml_asset_containers(ws_id,kind,name,body) VALUES(?,?,?,?)"
                     " ON CONFLICT(ws_id,kind,name) DO UPDATE SET body=excluded.body",
                     "tttt", c->ws_id, c->k->segment, name, txt);
  free(txt);
  return rc;
}

static json_t *container_new(http_req *r, ctx *c, const char *name, json_t *in_props) {
  json_t *p = json_object();
  const char *desc = json_string_value(json_object_get(in_props, "description"));
  json_object_set_new(p, "description", desc ? json_string(desc) : json_null());
  json_t *tags = json_object_get(in_props, "tags");
  json_object_set_new(p, "tags", json_is_object(tags) ? json_deep_copy(tags) : json_object());
  json_t *pp = json_object_get(in_props, "properties");
  json_object_set_new(p, "properties", json_is_object(pp) ? json_deep_copy(pp) : json_object());
  json_object_set_new(p, "isArchived",
                      json_boolean(json_is_true(json_object_get(in_props, "isArchived"))));
  int64_t now = clock_now_ms(r->srv);
  return json_pack("{s:o,s:s,s:s,s:o,s:o}", "id",
                   json_sprintf("%s/%s/%s", c->ws_id, c->k->segment, name), "name", name, "type",
                   c->k->type, "properties", p, "systemData", ml_system_data(r, now, now));
}

static void fail_not_found(http_req *r, ctx *c, const char *name, const char *version) {
  if (version)
    http_fail(r, ML_ERR_NOT_FOUND, "Could not find %s %s:%s in the workspace.", c->k->display, name,
              version);
  else
    http_fail(r, ML_ERR_NOT_FOUND, "Could not find %s %s in the workspace.", c->k->display, name);
}

/* ---- containers ------------------------------------------------------------- */

void ml_asset_container_list(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  const char *view = http_query_get(r, "listViewType");
  json_t *list = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT body FROM ml_asset_containers WHERE ws_id=?1 COLLATE NOCASE AND"
                    " kind=?2 ORDER BY name",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c.ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, c.k->segment, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
      json_t *b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      if (!b) continue;
      int arch = json_is_true(json_object_get(json_object_get(b, "properties"), "isArchived"));
      if ((!view || !strcasecmp(view, "ActiveOnly")) ? arch
          : !strcasecmp(view, "ArchivedOnly")        ? !arch
                                                     : 0) {
        json_decref(b);
        continue;
      }
      json_array_append_new(list, container_render(r->srv, &c, b));
    }
    store_finalize(q);
  }
  arm_reply_list(r, list);
}

void ml_asset_container_get(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *b = container_load(r->srv, &c, c.name);
  if (!b) {
    fail_not_found(r, &c, c.name, NULL);
    return;
  }
  http_reply_json(r, 200, container_render(r->srv, &c, b));
}

void ml_asset_container_put(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *ip = json_object_get(in, "properties");
  json_t *cur = http_json_own(r, container_load(r->srv, &c, c.name));
  json_t *b =
      container_new(r, &c, cur ? json_string_value(json_object_get(cur, "name")) : c.name, ip);
  if (cur) json_object_set(b, "systemData", json_object_get(cur, "systemData"));
  if (container_save(r->srv, &c, json_string_value(json_object_get(b, "name")), b) != 0) {
    json_decref(b);
    http_fail(r, ML_ERR_INTERNAL, "The %s could not be saved.", c.k->display);
    return;
  }
  http_reply_json(r, cur ? 200 : 201, container_render(r->srv, &c, b));
}

void ml_asset_container_delete(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  json_t *cur = http_json_own(r, container_load(r->srv, &c, c.name));
  if (!cur) {
    http_reply_empty(r, 204);
    return;
  }
  store_begin(r->srv);
  store_run(r->srv,
            "DELETE FROM ml_asset_versions WHERE ws_id=? COLLATE NOCASE AND kind=? AND"
            " name=? COLLATE NOCASE",
            "ttt", c.ws_id, c.k->segment, c.name);
  store_run(r->srv,
            "DELETE FROM ml_asset_containers WHERE ws_id=? COLLATE NOCASE AND kind=? AND"
            " name=? COLLATE NOCASE",
            "ttt", c.ws_id, c.k->segment, c.name);
  store_commit(r->srv);
  http_reply_empty(r, 200);
}

/* ---- versions ---------------------------------------------------------------- */

static json_t *version_load(srv *s, ctx *c, const char *version) {
  sqlite3_stmt *q;
  json_t *out = NULL;
  if (store_prepare(store_db(s),
                    "SELECT body FROM ml_asset_versions WHERE ws_id=?1 COLLATE NOCASE AND"
                    " kind=?2 AND name=?3 COLLATE NOCASE AND version=?4",
                    -1, &q, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(q, 1, c->ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, c->k->segment, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, c->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, version, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    out = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
  store_finalize(q);
  return out;
}

void ml_asset_version_list(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  const char *order = http_query_get(r, "$orderBy");
  const char *top_s = http_query_get(r, "$top");
  const char *tags_q = http_query_get(r, "tags");
  int desc = !order || strcasestr(order, "desc");
  long top = top_s ? strtol(top_s, NULL, 10) : 0;
  json_t *list = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    desc
                        ? "SELECT body FROM ml_asset_versions WHERE ws_id=?1 COLLATE NOCASE AND"
                          " kind=?2 AND name=?3 COLLATE NOCASE ORDER BY created_ms DESC, rowid DESC"
                        : "SELECT body FROM ml_asset_versions WHERE ws_id=?1 COLLATE NOCASE AND"
                          " kind=?2 AND name=?3 COLLATE NOCASE ORDER BY created_ms, rowid",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c.ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, c.k->segment, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, c.name, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW && (top <= 0 || (long)json_array_size(list) < top)) {
      json_t *b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      if (!b) continue;
      /* tags=k=v,k2 : every one must match; archived versions only when asked. */
      int keep = 1;
      const char *view = http_query_get(r, "listViewType");
      int arch = json_is_true(json_object_get(json_object_get(b, "properties"), "isArchived"));
      if ((!view || !strcasecmp(view, "ActiveOnly")) ? arch
          : !strcasecmp(view, "ArchivedOnly")        ? !arch
                                                     : 0)
        keep = 0;
      if (tags_q) {
        json_t *tags = json_object_get(json_object_get(b, "properties"), "tags");
        char *dup = http_strdup(r, tags_q), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t && keep; t = strtok_r(NULL, ",", &save)) {
          char *eq = strchr(t, '=');
          if (eq) *eq = 0;
          const char *v = json_string_value(json_object_get(tags, t));
          keep = v && (!eq || !strcmp(v, eq + 1));
        }
      }
      if (keep)
        json_array_append_new(list, b);
      else
        json_decref(b);
    }
    store_finalize(q);
  }
  arm_reply_list(r, list);
}

void ml_asset_version_get(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  const char *v = http_param(r, "version");
  json_t *b = version_load(r->srv, &c, v);
  if (!b) {
    fail_not_found(r, &c, c.name, v);
    return;
  }
  http_reply_json(r, 200, b);
}

void ml_asset_version_put(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  srv *s = r->srv;
  const char *v = http_param(r, "version");
  if (!version_valid(v)) {
    http_fail(r, ML_ERR_VALIDATION, "%s is not a valid version.", v);
    return;
  }
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *ip = json_object_get(in, "properties");
  if (!json_is_object(ip)) {
    http_fail(r, ML_ERR_VALIDATION, "The %s version needs properties.", c.k->display);
    return;
  }
  json_t *cur = http_json_own(r, version_load(s, &c, v));
  json_t *p = http_json_own(r, json_deep_copy(ip));
  if (cur) {
    /* Azure lets only description, tags and isArchived change. */
    json_t *cp = json_object_get(cur, "properties");
    const char *uri_keys[] = {"modelUri", "codeUri", "dataUri", "image", NULL};
    for (const char **k = uri_keys; *k; k++) {
      const char *a = json_string_value(json_object_get(cp, *k));
      const char *b = json_string_value(json_object_get(p, *k));
      if (a && b && strcmp(a, b) != 0 &&
          !(!strcmp(*k, "modelUri") && !strncmp(b, "azureml://jobs/", 15))) {
        http_fail(r, ML_ERR_CONFLICT,
                  "%s %s:%s already exists with another %s; versions cannot change (make a new "
                  "version).",
                  c.k->display, c.name, v, *k);
        return;
      }
    }
    json_t *np = json_deep_copy(cp);
    const char *keep[] = {"description", "tags", "isArchived", NULL};
    for (const char **k = keep; *k; k++)
      if (json_object_get(p, *k)) json_object_set(np, *k, json_object_get(p, *k));
    p = http_json_own(r, np);
  } else if (c.k->check(r, c.ws, p) != 0) {
    return;
  }
  if (!json_is_object(json_object_get(p, "tags"))) json_object_set_new(p, "tags", json_object());
  if (!json_is_object(json_object_get(p, "properties")))
    json_object_set_new(p, "properties", json_object());
  if (!json_is_boolean(json_object_get(p, "isArchived")))
    json_object_set_new(p, "isArchived", json_false());
  if (!json_is_boolean(json_object_get(p, "isAnonymous")))
    json_object_set_new(p, "isAnonymous", json_false());
  json_object_set_new(p, "provisioningState", json_string("Succeeded"));
  int64_t now = clock_now_ms(s);
  json_t *sys =
      cur ? json_deep_copy(json_object_get(cur, "systemData")) : ml_system_data(r, now, now);
  json_t *cont = http_json_own(r, container_load(s, &c, c.name));
  const char *cname = cont ? json_string_value(json_object_get(cont, "name")) : c.name;
  json_t *b =
      json_pack("{s:o,s:s,s:s+,s:O,s:o}", "id",
                json_sprintf("%s/%s/%s/versions/%s", c.ws_id, c.k->segment, cname, v), "name", v,
                "type", c.k->type, "/versions", "properties", p, "systemData", sys);
  char *txt = json_dumps(b, JSON_COMPACT);
  int rc = store_begin(s);
  if (rc == 0 && !cont) {
    json_t *cb = container_new(r, &c, cname, NULL);
    rc = container_save(s, &c, cname, cb);
    json_decref(cb);
  }
  if (rc == 0)
    rc = store_run(s,
                   "INSERT INTO ml_asset_versions(ws_id,kind,name,version,body,created_ms)"
                   " VALUES(?,?,?,?,?,?) ON CONFLICT(ws_id,kind,name,version) DO UPDATE SET"
                   " body=excluded.body",
                   "ttttti", c.ws_id, c.k->segment, cname, v, txt, (int64_t)now);
  free(txt);
  if (rc == 0) rc = store_commit(s);
  if (rc != 0) {
    store_rollback(s);
    json_decref(b);
    http_fail(r, ML_ERR_INTERNAL, "The %s version could not be saved.", c.k->display);
    return;
  }
  http_reply_json(r, cur ? 200 : 201, b);
}

void ml_asset_version_delete(http_req *r) {
  ctx c;
  if (ctx_get(r, &c) != 0) return;
  const char *v = http_param(r, "version");
  json_t *cur = http_json_own(r, version_load(r->srv, &c, v));
  if (!cur) {
    http_reply_empty(r, 204);
    return;
  }
  store_run(r->srv,
            "DELETE FROM ml_asset_versions WHERE ws_id=? COLLATE NOCASE AND kind=? AND"
            " name=? COLLATE NOCASE AND version=?",
            "tttt", c.ws_id, c.k->segment, c.name, v);
  http_reply_empty(r, 200);
}

int ml_assets_remove(srv *s, const char *ws_id) {
  return store_run(s, "DELETE FROM ml_asset_versions WHERE ws_id=? COLLATE NOCASE", "t", ws_id) |
                 store_run(s, "DELETE FROM ml_asset_containers WHERE ws_id=? COLLATE NOCASE", "t",
                           ws_id)
             ? -1
             : 0;
}

/* An asset version's stored body by its ARM id or azureml:name:version /
 * azureml:name@latest form, for jobs (a new reference), or NULL. */
json_t *ml_asset_resolve(srv *s, const char *ws_id, const char *kind, const char *ref) {
  ctx c = {.ws_id = ws_id};
  for (size_t i = 0; i < sizeof asset_kinds / sizeof asset_kinds[0]; i++)
    if (!strcmp(asset_kinds[i].segment, kind)) c.k = &asset_kinds[i];
  if (!c.k || !ref) return NULL;
  char name[256], version[256] = "";
  const char *seg = strcasestr(ref, "/versions/");
  if (seg) {
    const char *n = seg;
    while (n > ref && n[-1] != '/')
      n--;
    snprintf(name, sizeof name, "%.*s", (int)(seg - n), n);
    snprintf(version, sizeof version, "%s", seg + strlen("/versions/"));
  } else {
    const char *p = strncasecmp(ref, "azureml:", 8) == 0 ? ref + 8 : ref;
    snprintf(name, sizeof name, "%s", p);
    char *colon = strchr(name, ':'), *at = strchr(name, '@');
    if (colon) {
      *colon = 0;
      snprintf(version, sizeof version, "%s", colon + 1);
    } else if (at) {
      *at = 0;
    }
  }
  c.name = name;
  if (!version[0]) {
    json_t *p = json_object();
    container_versions(s, &c, name, p);
    const char *l = json_string_value(json_object_get(p, "latestVersion"));
    if (l) snprintf(version, sizeof version, "%s", l);
    json_decref(p);
    if (!version[0]) return NULL;
  }
  return version_load(s, &c, version);
}
