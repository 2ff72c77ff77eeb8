/* mlflow.c: a workspace's MLflow tracking server, the REST API 2.0 that
 * Azure ML serves at
 *   <mlFlowTrackingUri as https>/api/2.0/mlflow/...
 * i.e. /mlflow/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/
 * Microsoft.MachineLearningServices/workspaces/{ws}/api/2.0/mlflow/...
 *
 * Experiments, runs, their params, tags and metrics (every logged value with
 * its step and timestamp; a run shows each key's latest), search with a
 * filter and order, metric history, and the artifacts of a job's run.  An
 * Azure ML job is an MLflow run: its run id is the job's name, its experiment
 * the job's experimentName, its status and times the job's own.  A job's
 * process gets MLFLOW_TRACKING_URI (this API as https, which plain mlflow's
 * REST store speaks without the azureml-mlflow plugin) and
 * MLFLOW_TRACKING_TOKEN, a key that lets it write to its own run only and
 * goes when the job ends, as Azure's run token does.
 *
 * Others authenticate with a management token: reads need
 * workspaces/experiments/runs/read, writes .../runs/write (experiments'
 * own .../experiments/write).  What is not served (the model registry,
 * artifact upload, traces, ...) answers 501 NOT_IMPLEMENTED; a search filter
 * azlite does not understand is a 400 that names it. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../identity/identity.h"
#include "../storage/storage.h"
#include "internal.h"

#define KEY_PREFIX "azlmlflow_"
#define MAX_RESULTS_DEFAULT 1000
#define MAX_RESULTS_LIMIT 50000

/* ---- the caller ------------------------------------------------------------- */

typedef struct mlf {
  http_req *r;
  json_t *ws;
  const char *ws_id;    /* canonical */
  const char *run_only; /* a job's key: the one run it may write */
  const char *user;     /* for a new run's user_id */
} mlf;

enum need { NEED_READ, NEED_RUN_WRITE, NEED_EXP_WRITE };

static int terminal_job(const char *st) {
  return st && (!strcmp(st, "Completed") || !strcmp(st, "Failed") || !strcmp(st, "Canceled"));
}

/* Authenticates and authorizes r for what it needs; fills m.  Fails r, -1. */
static int mlf_auth(http_req *r, enum need need, mlf *m) {
  memset(m, 0, sizeof *m);
  m->r = r;
  const char *ws_route =
      http_printf(r, "/subscriptions/%s/resourceGroups/%s/providers/" ML_WS_TYPE "/%s",
                  http_param(r, "sub"), http_param(r, "rg"), http_param(r, "ws"));
  const char *authz = http_header_get(r, "Authorization");
  if (authz && !strncasecmp(authz, "Bearer " KEY_PREFIX, strlen("Bearer " KEY_PREFIX))) {
    const char *key = authz + strlen("Bearer ");
    sqlite3_stmt *q;
    const char *run = NULL, *ws_id = NULL, *st = NULL;
    if (store_prepare(store_db(r->srv),
                      "SELECT r.id, r.ws_id, j.status FROM mlflow_runs r JOIN ml_jobs j"
                      " ON j.id = r.job_id WHERE r.run_key = ?",
                      -1, &q, NULL) == SQLITE_OK) {
      sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
      if (sqlite3_step(q) == SQLITE_ROW) {
        run = http_strdup(r, (const char *)sqlite3_column_text(q, 0));
        ws_id = http_strdup(r, (const char *)sqlite3_column_text(q, 1));
        st = http_strdup(r, (const char *)sqlite3_column_text(q, 2));
      }
      store_finalize(q);
    }
    if (!run || terminal_job(st)) {
      http_fail(r, MLFLOW_ERR_UNAUTHENTICATED,
                run ? "The run token of job %s is no longer valid: the job has ended."
                    : "The run token is not valid.",
                run ? run : "");
      return -1;
    }
    if (strcasecmp(ws_id, ws_route) != 0 || need == NEED_EXP_WRITE) {
      http_fail(r, MLFLOW_ERR_DENIED,
                "The run token of job %s may only write to its own run in its own workspace.", run);
      return -1;
    }
    m->run_only = run;
    m->user = run;
  } else {
    principal p;
    const char *why = NULL;
    char msg[256];
    if (!authz || identity_verify_bearer(r->srv, authz, AUD_MGMT, &p, &why, msg, sizeof msg) != 0) {
      http_fail(r, MLFLOW_ERR_UNAUTHENTICATED, "%s", authz ? msg : "A bearer token is required.");
      return -1;
    }
    const char *action = need == NEED_READ        ? ML_WS_TYPE "/experiments/runs/read"
                         : need == NEED_RUN_WRITE ? ML_WS_TYPE "/experiments/runs/write"
                                                  : ML_WS_TYPE "/experiments/write";
    if (authz_check(r->srv, &p, action, ws_route, 0) != 0) {
      http_fail(r, MLFLOW_ERR_DENIED,
                "The client '%s' with object id '%s' does not have authorization to perform "
                "action '%s' over scope '%s'.",
                p.name, p.oid, action, ws_route);
      return -1;
    }
    m->user = http_strdup(r, p.name[0] ? p.name : p.oid);
  }
  json_t *ws = arm_resource_get(r->srv, ws_route);
  if (!ws) {
    http_fail(r, MLFLOW_ERR_NOT_FOUND, "Workspace %s is not found.", http_param(r, "ws"));
    return -1;
  }
  m->ws = http_json_own(r, ws);
  m->ws_id = json_string_value(json_object_get(ws, "id"));
  return 0;
}

/* The request's parameters: the JSON body of a POST, the query of a GET. */
static json_t *mlf_input(http_req *r) {
  if (!strcmp(r->method, "GET")) {
    json_t *o = json_object();
    const http_header *q;
    int n = http_query_all(r, &q);
    for (int i = 0; i < n; i++) {
      json_t *old = json_object_get(o, q[i].name);
      if (!old) {
        json_object_set_new(o, q[i].name, json_string(q[i].value));
      } else {
        /* A repeated parameter (experiment_ids=a&experiment_ids=b): a list. */
        if (!json_is_array(old)) {
          json_t *a = json_array();
          json_array_append(a, old);
          json_object_set_new(o, q[i].name, a);
          old = a;
        }
        json_array_append_new(old, json_string(q[i].value));
      }
    }
    return http_json_own(r, o);
  }
  if (!r->body_len) return http_json_own(r, json_object());
  json_t *in = http_json_own(r, http_body_json(r));
  if (in && !json_is_object(in)) {
    http_fail(r, MLFLOW_ERR_INVALID, "The request body must be a JSON object.");
    return NULL;
  }
  return in;
}

static const char *str_arg(json_t *in, const char *name) {
  return json_string_value(json_object_get(in, name));
}

static const char *need_str(http_req *r, json_t *in, const char *name) {
  const char *v = str_arg(in, name);
  if (!v || !*v) {
    http_fail(r, MLFLOW_ERR_INVALID, "Missing value for required parameter '%s'.", name);
    return NULL;
  }
  return v;
}

/* An int64 given as a JSON number or (a GET's query, protobuf's JSON) a
 * string; def when absent; -1 with r failed when neither. */
static int int_arg(http_req *r, json_t *in, const char *name, int64_t def, int64_t *out) {
  json_t *v = json_object_get(in, name);
  *out = def;
  if (!v || json_is_null(v)) return 0;
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 0;
  }
  if (json_is_string(v)) {
    char *end;
    long long x = strtoll(json_string_value(v), &end, 10);
    if (*json_string_value(v) && !*end) {
      *out = x;
      return 0;
    }
  }
  http_fail(r, MLFLOW_ERR_INVALID, "Invalid value for parameter '%s': an integer is expected.",
            name);
  return -1;
}

/* run_id, or run_uuid as older clients send. */
static const char *run_arg(http_req *r, json_t *in) {
  const char *id = str_arg(in, "run_id");
  if (!id || !*id) id = str_arg(in, "run_uuid");
  if (!id || !*id) {
    http_fail(r, MLFLOW_ERR_INVALID, "Missing value for required parameter 'run_id'.");
    return NULL;
  }
  return id;
}

/* MLflow's name rule for metric, param and tag keys. */
static int key_valid(http_req *r, const char *what, const char *k) {
  size_t n = k ? strlen(k) : 0;
  int ok = n > 0 && n <= 250 && !strstr(k, "..") && k[0] != '/';
  for (const char *c = k; ok && *c; c++)
    ok = isalnum((unsigned char)*c) || strchr("_-./ ", *c);
  if (!ok)
    http_fail(r, MLFLOW_ERR_INVALID,
              "Invalid %s name: '%s'. Names may only contain alphanumerics, underscores (_), "
              "dashes (-), periods (.), spaces ( ), and slashes (/), and be at most 250 "
              "characters.",
              what, k ? k : "");
  return ok;
}

/* ---- experiments ------------------------------------------------------------- */

typedef struct exp_row {
  const char *id, *name, *artifact_location, *lifecycle;
  int64_t created_ms, updated_ms;
} exp_row;

static json_t *tags_of(mlf *m, const char *owner) {
  json_t *a = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(m->r->srv),
                    "SELECT key, value FROM mlflow_tags WHERE ws_id=? AND owner=? ORDER BY key", -1,
                    &q, NULL) != SQLITE_OK)
    return a;
  sqlite3_bind_text(q, 1, m->ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, owner, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    json_array_append_new(a, json_pack("{s:s,s:s}", "key", (const char *)sqlite3_column_text(q, 0),
                                       "value", (const char *)sqlite3_column_text(q, 1)));
  store_finalize(q);
  return a;
}

static json_t *exp_render(mlf *m, const exp_row *e) {
  return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:o}", "experiment_id", e->id, "name", e->name,
                   "artifact_location", e->artifact_location, "lifecycle_stage", e->lifecycle,
                   "creation_time", (json_int_t)e->created_ms, "last_update_time",
                   (json_int_t)e->updated_ms, "tags", tags_of(m, http_printf(m->r, "e:%s", e->id)));
}

#define EXP_COLS "id, name, artifact_location, lifecycle, created_ms, updated_ms"

static void exp_from(http_req *r, sqlite3_stmt *q, exp_row *e) {
  e->id = http_strdup(r, (const char *)sqlite3_column_text(q, 0));
  e->name = http_strdup(r, (const char *)sqlite3_column_text(q, 1));
  e->artifact_location = http_strdup(r, (const char *)sqlite3_column_text(q, 2));
  e->lifecycle = http_strdup(r, (const char *)sqlite3_column_text(q, 3));
  e->created_ms = sqlite3_column_int64(q, 4);
  e->updated_ms = sqlite3_column_int64(q, 5);
}

/* By id (by_name 0) or name; 1, 0 (none), -1. */
static int exp_load(mlf *m, const char *key, int by_name, exp_row *e) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(m->r->srv),
                    by_name ? "SELECT " EXP_COLS " FROM mlflow_experiments WHERE ws_id=? AND name=?"
                            : "SELECT " EXP_COLS " FROM mlflow_experiments WHERE ws_id=? AND id=?",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, m->ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, key, -1, SQLITE_STATIC);
  int found = sqlite3_step(q) == SQLITE_ROW;
  if (found) exp_from(m->r, q, e);
  store_finalize(q);
  return found;
}

static int exp_require(mlf *m, const char *id, exp_row *e) {
  if (exp_load(m, id, 0, e) == 1) return 0;
  http_fail(m->r, MLFLOW_ERR_NOT_FOUND, "No Experiment with id=%s exists", id);
  return -1;
}

static const char *default_artifacts(mlf *m, const char *exp_id) {
  return http_printf(m->r, "azureml://datastores/workspaceartifactstore/paths/mlflow/%s", exp_id);
}

static int set_tag_row(srv *s, const char *ws_id, const char *owner, const char *key,
                       const char *value) {
  return store_run(s, "INSERT OR REPLACE INTO mlflow_tags(ws_id,owner,key,value) VALUES(?,?,?,?)",
                   "tttt", ws_id, owner, key, value);
}

static void hex32(char out[33]) {
  char u[37];
  uuid_v4(u);
  int k = 0;
  for (const char *p = u; *p; p++)
    if (*p != '-') out[k++] = *p;
  out[k] = 0;
}

/* An experiment by name, made when missing (a job's); its id into id. */
static int exp_ensure(srv *s, const char *ws_id, const char *name, int64_t now, char id[37]) {
  sqlite3_stmt *q;
  int found = 0;
  if (store_prepare(store_db(s), "SELECT id FROM mlflow_experiments WHERE ws_id=? AND name=?", -1,
                    &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) {
    snprintf(id, 37, "%s", (const char *)sqlite3_column_text(q, 0));
    found = 1;
  }
  store_finalize(q);
  if (found) return 0;
  uuid_v4(id);
  char loc[128];
  snprintf(loc, sizeof loc, "azureml://datastores/workspaceartifactstore/paths/mlflow/%s", id);
  return store_run(s,
                   "INSERT INTO mlflow_experiments(ws_id,id,name,artifact_location,lifecycle,"
                   "created_ms,updated_ms) VALUES(?,?,?,?,'active',?,?)",
                   "ttttii", ws_id, id, name, loc, now, now);
}

void ml_mlflow_exp_create(http_req *r) {
  mlf m;
  json_t *in;
  if (mlf_auth(r, NEED_EXP_WRITE, &m) != 0 || !(in = mlf_input(r))) return;
  const char *name = need_str(r, in, "name");
  if (!name) return;
  if (strlen(name) > 500) {
    http_fail(r, MLFLOW_ERR_INVALID, "Experiment name is longer than 500 characters.");
    return;
  }
  exp_row e;
  if (exp_load(&m, name, 1, &e) == 1) {
    http_fail(r, MLFLOW_ERR_EXISTS, "Experiment '%s' already exists.", name);
    return;
  }
  json_t *tags = json_object_get(in, "tags");
  size_t i;
  json_t *t;
  json_array_foreach(tags, i, t) {
    if (!key_valid(r, "tag", str_arg(t, "key"))) return;
  }
  char id[37];
  uuid_v4(id);
  const char *loc = str_arg(in, "artifact_location");
  if (!loc || !*loc) loc = default_artifacts(&m, id);
  int64_t now = clock_now_ms(r->srv);
  int rc = store_begin(r->srv);
  if (!rc)
    rc = store_run(r->srv,
                   "INSERT INTO mlflow_experiments(ws_id,id,name,artifact_location,lifecycle,"
                   "created_ms,updated_ms) VALUES(?,?,?,?,'active',?,?)",
                   "ttttii", m.ws_id, id, name, loc, now, now);
  const char *owner = http_printf(r, "e:%s", id);
  json_array_foreach(tags, i, t) {
    if (!rc)
      rc = set_tag_row(r->srv, m.ws_id, owner, str_arg(t, "key"),
                       json_string_value(json_object_get(t, "value")) ?: "");
  }
  if (rc || store_commit(r->srv)) {
    store_rollback(r->srv);
    http_fail(r, MLFLOW_ERR_INTERNAL, "The experiment could not be saved.");
    return;
  }
  http_reply_json(r, 200, json_pack("{s:s}", "experiment_id", id));
}

void ml_mlflow_exp_get(http_req *r) {
  mlf m;
  json_t *in;
  exp_row e;
  if (mlf_auth(r, NEED_READ, &m) != 0 || !(in = mlf_input(r))) return;
  const char *id = need_str(r, in, "experiment_id");
  if (!id || exp_require(&m, id, &e) != 0) return;
  http_reply_json(r, 200, json_pack("{s:o}", "experiment", exp_render(&m, &e)));
}

void ml_mlflow_exp_get_by_name(http_req *r) {
  mlf m;
  json_t *in;
  exp_row e;
  if (mlf_auth(r, NEED_READ, &m) != 0 || !(in = mlf_input(r))) return;
  const char *name = need_str(r, in, "experiment_name");
  if (!name) return;
  if (exp_load(&m, name, 1, &e) != 1) {
    http_fail(r, MLFLOW_ERR_NOT_FOUND, "Could not find experiment with name '%s'", name);
    return;
  }
  http_reply_json(r, 200, json_pack("{s:o}", "experiment", exp_render(&m, &e)));
}

/* view_type: ACTIVE_ONLY (the default), DELETED_ONLY or ALL; -1 failed. */
static int view_type(http_req *r, json_t *in, const char *name) {
  json_t *v = json_object_get(in, name);
  const char *s = json_string_value(v);
  if (!v || json_is_null(v) || (s && (!strcmp(s, "ACTIVE_ONLY") || !strcmp(s, "1")))) return 1;
  if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 3)
    return (int)json_integer_value(v);
  if (s && (!strcmp(s, "DELETED_ONLY") || !strcmp(s, "2"))) return 2;
  if (s && (!strcmp(s, "ALL") || !strcmp(s, "3"))) return 3;
  http_fail(r, MLFLOW_ERR_INVALID,
            "Invalid value for parameter '%s': ACTIVE_ONLY, DELETED_ONLY or ALL.", name);
  return -1;
}

static int view_keeps(int view, const char *lifecycle) {
  int active = !strcmp(lifecycle, "active");
  return view == 3 || (view == 1 && active) || (view == 2 && !active);
}

/* SQL LIKE: % any run, _ one character; icase for ILIKE. */
static int like(const char *s, const char *p, int icase) {
  for (; *p; p++, s++) {
    if (*p == '%') {
      while (*p == '%')
        p++;
      if (!*p) return 1;
      for (; *s; s++)
        if (like(s, p, icase)) return 1;
      return 0;
    }
    if (!*s) return 0;
    if (*p != '_' && (icase ? tolower((unsigned char)*p) != tolower((unsigned char)*s) : *p != *s))
      return 0;
  }
  return !*s;
}

/* ---- search filters --------------------------------------------------------------- */

enum ent { ENT_ATTR, ENT_METRIC, ENT_PARAM, ENT_TAG };
enum op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_LIKE, OP_ILIKE };

typedef struct clause {
  enum ent ent;
  char key[256];
  enum op op;
  int is_num;
  double num;
  char str[512];
} clause;

typedef struct filter {
  clause c[32];
  int n;
} filter;

static void skip_ws(const char **p) {
  while (isspace((unsigned char)**p))
    (*p)++;
}

/* A quoted string ('x', "x" or `x`) into out; 0, or -1. */
static int quoted(const char **p, char *out, size_t n) {
  char q = **p;
  if (q != '\'' && q != '"' && q != '`') return -1;
  const char *e = strchr(*p + 1, q);
  if (!e || (size_t)(e - *p - 1) >= n) return -1;
  snprintf(out, n, "%.*s", (int)(e - *p - 1), *p + 1);
  *p = e + 1;
  return 0;
}

/* Parses "metrics.acc > 0.9 and params.lr = '0.1' and attributes.status =
 * 'FINISHED'" (the grammar MLflow's SearchUtils takes, less IN and the
 * dataset entities).  0, or -1 with err naming what it could not read.  exps: the experiments'
 * filter (name and tags only). */
static int filter_parse(const char *text, filter *f, int exps, char *err, size_t en) {
  memset(f, 0, sizeof *f);
  const char *p = text ? text : "";
  skip_ws(&p);
  if (!*p) return 0;
  for (;;) {
    if (f->n == (int)(sizeof f->c / sizeof f->c[0])) goto bad;
    clause *c = &f->c[f->n++];
    skip_ws(&p);
    /* The identifier: [entity.]key, the key maybe quoted. */
    const char *s = p;
    while (*p && (isalnum((unsigned char)*p) || *p == '_'))
      p++;
    char ent[32];
    snprintf(ent, sizeof ent, "%.*s", (int)(p - s), s);
    if (*p == '.' && p > s) {
      p++;
      if (!strcasecmp(ent, "metric") || !strcasecmp(ent, "metrics"))
        c->ent = ENT_METRIC;
      else if (!strcasecmp(ent, "param") || !strcasecmp(ent, "params") ||
               !strcasecmp(ent, "parameter") || !strcasecmp(ent, "parameters"))
        c->ent = ENT_PARAM;
      else if (!strcasecmp(ent, "tag") || !strcasecmp(ent, "tags"))
        c->ent = ENT_TAG;
      else if (!strcasecmp(ent, "attribute") || !strcasecmp(ent, "attributes") ||
               !strcasecmp(ent, "attr") || !strcasecmp(ent, "run"))
        c->ent = ENT_ATTR;
      else
        goto bad;
      if (*p == '\'' || *p == '"' || *p == '`') {
        if (quoted(&p, c->key, sizeof c->key) != 0) goto bad;
      } else {
        s = p;
        while (*p && (isalnum((unsigned char)*p) || strchr("_-./", *p)))
          p++;
        if (p == s || (size_t)(p - s) >= sizeof c->key) goto bad;
        snprintf(c->key, sizeof c->key, "%.*s", (int)(p - s), s);
      }
    } else if (p > s) {
      c->ent = ENT_ATTR;
      snprintf(c->key, sizeof c->key, "%s", ent);
    } else {
      goto bad;
    }
    if (exps ? !(c->ent == ENT_TAG ||
                 (c->ent == ENT_ATTR &&
                  (!strcmp(c->key, "name") || !strcmp(c->key, "creation_time") ||
                   !strcmp(c->key, "last_update_time") || !strcmp(c->key, "experiment_id"))))
             : c->ent == ENT_ATTR && strcmp(c->key, "status") && strcmp(c->key, "run_name") &&
                   strcmp(c->key, "run_id") && strcmp(c->key, "user_id") &&
                   strcmp(c->key, "start_time") && strcmp(c->key, "end_time") &&
                   strcmp(c->key, "artifact_uri")) {
      snprintf(err, en, "Invalid attribute key '%s' in the filter '%s'.", c->key, text);
      return -1;
    }
    skip_ws(&p);
    static const struct {
      const char *t;
      enum op op;
    } ops[] = {{"!=", OP_NE}, {">=", OP_GE}, {"<=", OP_LE},       {"=", OP_EQ},
               {">", OP_GT},  {"<", OP_LT},  {"ILIKE", OP_ILIKE}, {"LIKE", OP_LIKE}};
    size_t k;
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++)
      if (!strncasecmp(p, ops[k].t, strlen(ops[k].t))) break;
    if (k == sizeof ops / sizeof ops[0]) goto bad;
    c->op = ops[k].op;
    p += strlen(ops[k].t);
    skip_ws(&p);
    if (*p == '\'' || *p == '"') {
      if (quoted(&p, c->str, sizeof c->str) != 0) goto bad;
    } else {
      char *end;
      c->num = strtod(p, &end);
      if (end == p) goto bad;
      snprintf(c->str, sizeof c->str, "%.*s", (int)(end - p), p);
      c->is_num = 1;
      p = end;
    }
    int numeric = c->ent == ENT_METRIC || (c->ent == ENT_ATTR && strstr(c->key, "_time"));
    if (numeric != c->is_num ||
        (!numeric && c->op != OP_EQ && c->op != OP_NE && c->op != OP_LIKE && c->op != OP_ILIKE) ||
        (numeric && (c->op == OP_LIKE || c->op == OP_ILIKE))) {
      snprintf(err, en,
               "Invalid comparison in the filter '%s': metrics and times compare with numbers "
               "(=, !=, >, >=, <, <=); params, tags and other attributes with quoted strings "
               "(=, !=, LIKE, ILIKE).",
               text);
      return -1;
    }
    skip_ws(&p);
    if (!*p) return 0;
    if (strncasecmp(p, "and", 3) || !isspace((unsigned char)p[3])) goto bad;
    p += 3;
  }
bad:
  snprintf(err, en,
           "azlite cannot parse the filter '%s' near '%.40s': it takes clauses "
           "<metrics|params|tags|attributes>.<key> <comparator> <value> joined by AND "
           "(IN, OR and dataset filters are not supported).",
           text, p);
  return -1;
}

/* A search filter azlite can run?  0, or -1 with why (the fuzz target's
 * entry: the parser on its own). */
int ml_mlflow_filter_check(const char *text, int experiments, char *err, size_t n) {
  filter *f = malloc(sizeof *f);
  if (!f) abort();
  int rc = filter_parse(text, f, experiments, err, n);
  free(f);
  return rc;
}

static int filter_read(http_req *r, const char *text, filter *f, int exps) {
  char err[1400];
  if (filter_parse(text, f, exps, err, sizeof err) == 0) return 0;
  http_fail(r, MLFLOW_ERR_INVALID, "%s", err);
  return -1;
}

static int cmp_num(enum op op, double a, double b) {
  switch (op) {
  case OP_EQ:
    return a == b;
  case OP_NE:
    return a != b;
  case OP_GT:
    return a > b;
  case OP_GE:
    return a >= b;
  case OP_LT:
    return a < b;
  case OP_LE:
    return a <= b;
  default:
    return 0;
  }
}

static int cmp_str(enum op op, const char *a, const char *b) {
  switch (op) {
  case OP_EQ:
    return !strcmp(a, b);
  case OP_NE:
    return strcmp(a, b) != 0;
  case OP_LIKE:
    return like(a, b, 0);
  case OP_ILIKE:
    return like(a, b, 1);
  default:
    return 0;
  }
}

/* {key,value} list lookup. */
static json_t *kv_find(json_t *list, const char *key) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    if (!strcmp(json_string_value(json_object_get(e, "key")) ?: "", key)) return e;
  }
  return NULL;
}

/* Does the rendered run (or experiment, exps) pass every clause? */
static int filter_keeps(const filter *f, json_t *obj, int exps) {
  json_t *info = exps ? obj : json_object_get(obj, "info");
  json_t *data = exps ? obj : json_object_get(obj, "data");
  for (int i = 0; i < f->n; i++) {
    const clause *c = &f->c[i];
    json_t *v = NULL;
    switch (c->ent) {
    case ENT_ATTR:
      v = json_object_get(info, c->key);
      break;
    case ENT_METRIC:
      v = json_object_get(kv_find(json_object_get(data, "metrics"), c->key), "value");
      break;
    case ENT_PARAM:
      v = json_object_get(kv_find(json_object_get(data, "params"), c->key), "value");
      break;
    case ENT_TAG:
      v = json_object_get(kv_find(json_object_get(data, "tags"), c->key), "value");
      break;
    }
    if (!v) return 0;
    if (c->is_num ? !cmp_num(c->op, json_number_value(v), c->num)
                  : !cmp_str(c->op, json_string_value(v) ?: "", c->str))
      return 0;
  }
  return 1;
}

/* order_by: up to 8 of "[entity.]key [ASC|DESC]". */
typedef struct order {
  struct {
    enum ent ent;
    char key[256];
    int desc;
  } k[8];
  int n;
} order;

static int order_parse(http_req *r, json_t *list, order *o, int exps) {
  memset(o, 0, sizeof *o);
  if (json_is_string(list)) {
    json_t *a = http_json_own(r, json_array());
    json_array_append(a, list);
    list = a;
  }
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *s = json_string_value(e);
    if (!s || o->n == 8) goto bad;
    filter f;
    /* The filter's identifier reader, on "<ident> = 0". */
    char key[300];
    int desc = 0;
    snprintf(key, sizeof key, "%s", s);
    char *sp = strrchr(key, ' ');
    if (sp && (!strcasecmp(sp + 1, "DESC") || !strcasecmp(sp + 1, "ASC"))) {
      desc = !strcasecmp(sp + 1, "DESC");
      *sp = 0;
    }
    char probe[320];
    int numeric = !strncasecmp(key, "metric", 6) || strstr(key, "_time");
    snprintf(probe, sizeof probe, numeric ? "%.290s = 0" : "%.290s = ''", key);
    if (filter_read(r, probe, &f, exps) != 0) return -1;
    if (exps && f.c[0].ent == ENT_TAG) goto bad;
    o->k[o->n].ent = f.c[0].ent;
    snprintf(o->k[o->n].key, sizeof o->k[o->n].key, "%s", f.c[0].key);
    o->k[o->n].desc = desc;
    o->n++;
  }
  return 0;
bad:
  http_fail(r, MLFLOW_ERR_INVALID, "Invalid order_by clause.");
  return -1;
}

static const order *sort_order;
static int sort_exps;

static json_t *sort_value(json_t *obj, int k) {
  json_t *info = sort_exps ? obj : json_object_get(obj, "info");
  json_t *data = sort_exps ? obj : json_object_get(obj, "data");
  const char *key = sort_order->k[k].key;
  switch (sort_order->k[k].ent) {
  case ENT_ATTR:
    return json_object_get(info, sort_exps && !strcmp(key, "start_time") ? "creation_time" : key);
  case ENT_METRIC:
    return json_object_get(kv_find(json_object_get(data, "metrics"), key), "value");
  case ENT_PARAM:
    return json_object_get(kv_find(json_object_get(data, "params"), key), "value");
  case ENT_TAG:
    return json_object_get(kv_find(json_object_get(data, "tags"), key), "value");
  }
  return NULL;
}

static int sort_cmp(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  for (int k = 0; k < sort_order->n; k++) {
    json_t *vx = sort_value(x, k), *vy = sort_value(y, k);
    /* Missing values last, whichever the direction (MLflow's). */
    if (!vx || !vy) {
      if (vx != vy) return vx ? -1 : 1;
      continue;
    }
    int c;
    if (json_is_number(vx) && json_is_number(vy))
      c = json_number_value(vx) < json_number_value(vy)   ? -1
          : json_number_value(vx) > json_number_value(vy) ? 1
                                                          : 0;
    else
      c = strcmp(json_string_value(vx) ?: "", json_string_value(vy) ?: "");
    if (c) return sort_order->k[k].desc ? -c : c;
  }
  /* Then newest first, then by id (a stable order for pages). */
  const char *tk = sort_exps ? "creation_time" : "start_time";
  json_t *ix = sort_exps ? x : json_object_get(x, "info"),
         *iy = sort_exps ? y : json_object_get(y, "info");
  json_int_t tx = json_integer_value(json_object_get(ix, tk)),
             ty = json_integer_value(json_object_get(iy, tk));
  if (tx != ty) return tx > ty ? -1 : 1;
  const char *idk = sort_exps ? "experiment_id" : "run_id";
  return strcmp(json_string_value(json_object_get(ix, idk)) ?: "",
                json_string_value(json_object_get(iy, idk)) ?: "");
}

static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;

static void sort_all(json_t *arr, const order *o, int exps) {
  size_t n = json_array_size(arr);
  json_t **v = calloc(n ? n : 1, sizeof *v);
  if (!v) abort();
  for (size_t i = 0; i < n; i++)
    v[i] = json_incref(json_array_get(arr, i));
  pthread_mutex_lock(&sort_mu);
  sort_order = o;
  sort_exps = exps;
  qsort(v, n, sizeof *v, sort_cmp);
  pthread_mutex_unlock(&sort_mu);
  json_array_clear(arr);
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, v[i]);
  free(v);
}

/* max_results and page_token (an offset); -1 failed. */
static int paging(http_req *r, json_t *in, int64_t *max, int64_t *off) {
  if (int_arg(r, in, "max_results", MAX_RESULTS_DEFAULT, max) != 0) return -1;
  if (*max < 1 || *max > MAX_RESULTS_LIMIT) {
    http_fail(r, MLFLOW_ERR_INVALID,
              "Invalid value %lld for parameter 'max_results' supplied. It must be at most %d "
              "and at least 1.",
              (long long)*max, MAX_RESULTS_LIMIT);
    return -1;
  }
  *off = 0;
  const char *tok = str_arg(in, "page_token");
  if (tok && *tok) {
    char *end;
    long long x = strtoll(tok, &end, 10);
    if (*end || x < 0) {
      http_fail(r, MLFLOW_ERR_INVALID, "Invalid page token '%s'.", tok);
      return -1;
    }
    *off = x;
  }
  return 0;
}

/* The page of all at off, and next_page_token when more follow. */
static json_t *page_of(http_req *r, json_t *all, const char *field, int64_t max, int64_t off) {
  json_t *out = json_object();
  json_t *page = json_array();
  size_t n = json_array_size(all);
  for (size_t i = (size_t)off; i < n && (int64_t)(i - (size_t)off) < max; i++)
    json_array_append(page, json_array_get(all, i));
  json_object_set_new(out, field, page);
  if ((int64_t)n > off + max)
    json_object_set_new(out, "next_page_token",
                        json_string(http_printf(r, "%lld", (long long)(off + max))));
  return out;
}

static json_t *exps_all(mlf *m, int view) {
  json_t *all = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(m->r->srv),
                    "SELECT " EXP_COLS " FROM mlflow_experiments WHERE ws_id=?", -1, &q,
                    NULL) != SQLITE_OK)
    return all;
  sqlite3_bind_text(q, 1, m->ws_id, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW) {
    exp_row e;
    exp_from(m->r, q, &e);
    if (view_keeps(view, e.lifecycle)) json_array_append_new(all, exp_render(m, &e));
  }
  store_finalize(q);
  return all;
}

/* GET|POST experiments/search; GET experiments/list (MLflow 1.x). */
void ml_mlflow_exp_search(http_req *r) {
  mlf m;
  json_t *in;
  if (mlf_auth(r, NEED_READ, &m) != 0 || !(in = mlf_input(r))) return;
  int view = view_type(r, in, "view_type");
  int64_t max, off;
  filter f;
  order o;
  if (view < 0 || paging(r, in, &max, &off) != 0 ||
      filter_read(r, str_arg(in, "filter"), &f, 1) != 0 ||
      order_parse(r, json_object_get(in, "order_by"), &o, 1) != 0)
    return;
  json_t *all = http_json_own(r, exps_all(&m, view));
  json_t *kept = http_json_own(r, json_array());
  size_t i;
  json_t *e;
  json_array_foreach(all, i, e) {
    if (filter_keeps(&f, e, 1)) json_array_append(kept, e);
  }
  sort_all(kept, &o, 1);
  http_reply_json(r, 200, page_of(r, kept, "experiments", max, off));
}

/* POST experiments/delete, experiments/restore: the lifecycle in .data. */
static void exp_lifecycle(http_req *r, const char *to) {
  mlf m;
  json_t *in;
  exp_row e;
  if (mlf_auth(r, NEED_EXP_WRITE, &m) != 0 || !(in = mlf_input(r))) return;
  const char *id = need_str(r, in, "experiment_id");
  if (!id || exp_require(&m, id, &e) != 0) return;
  int64_t now = clock_now_ms(r->srv);
  /* Its runs go with it, and come back with it (MLflow's). */
  if (store_begin(r->srv) ||
      store_run(r->srv,
                "UPDATE mlflow_experiments SET lifecycle=?, updated_ms=? WHERE ws_id=? AND id=?",
                "titt", to, now, m.ws_id, id) ||
      store_run(r->srv, "UPDATE mlflow_runs SET lifecycle=? WHERE ws_id=? AND exp_id=?", "ttt", to,
                m.ws_id, id) ||
      store_commit(r->srv)) {
    store_rollback(r->srv);
    http_fail(r, MLFLOW_ERR_INTERNAL, "The experiment could not be saved.");
    return;
  }
  http_reply_json(r, 200, json_object());
}

void ml_mlflow_exp_delete(http_req *r) {
  exp_lifecycle(r, "deleted");
}

void ml_mlflow_exp_restore(http_req *r) {
  exp_lifecycle(r, "active");
}

void ml_mlflow_exp_update(http_req *r) {
  mlf m;
  json_t *in;
  exp_row e, other;
  if (mlf_auth(r, NEED_EXP_WRITE, &m) != 0 || !(in = mlf_input(r))) return;
  const char *id = need_str(r, in, "experiment_id");
  if (!id || exp_require(&m, id, &e) != 0) return;
  const char *name = str_arg(in, "new_name");
  if (name && *name) {
    if (exp_load(&m, name, 1, &other) == 1 && strcmp(other.id, id)) {
      http_fail(r, MLFLOW_ERR_EXISTS, "Experiment '%s' already exists.", name);
      return;
    }
    store_run(r->srv, "UPDATE mlflow_experiments SET name=?, updated_ms=? WHERE ws_id=? AND id=?",
              "titt", name, clock_now_ms(r->srv), m.ws_id, id);
  }
  http_reply_json(r, 200, json_object());
}

void ml_mlflow_exp_set_tag(http_req *r) {
  mlf m;
  json_t *in;
  exp_row e;
  if (mlf_auth(r, NEED_EXP_WRITE, &m) != 0 || !(in = mlf_input(r))) return;
  const char *id = need_str(r, in, "experiment_id");
  const char *key = id ? str_arg(in, "key") : NULL;
  if (!id || exp_require(&m, id, &e) != 0 || !key_valid(r, "tag", key)) return;
  set_tag_row(r->srv, m.ws_id, http_printf(r, "e:%s", id), key, str_arg(in, "value") ?: "");
  http_reply_json(r, 200, json_object());
}

/* ---- runs ----------------------------------------------------------------------- */

typedef struct run_row {
  const char *id, *exp_id, *name, *user_id, *status, *lifecycle, *job_id;
  int64_t start_ms, end_ms; /* end 0: none */
} run_row;

/* An Azure ML job's status as an MLflow RunStatus. */
static const char *job_run_status(const char *st) {
  if (!strcmp(st, "Completed")) return "FINISHED";
  if (!strcmp(st, "Failed")) return "FAILED";
  if (!strcmp(st, "Canceled") || !strcmp(st, "CancelRequested")) return "KILLED";
  if (!strcmp(st, "Running") || !strcmp(st, "Finalizing")) return "RUNNING";
  return "SCHEDULED";
}

/* The run's row; a job's run takes its status and times from the job. */
#define RUN_SELECT                                                                                 \
  "SELECT r.id, r.exp_id, r.name, r.user_id, r.status, r.lifecycle, r.job_id, r.start_ms,"         \
  " r.end_ms, j.status, j.start_ms, j.end_ms, j.created_ms"                                        \
  " FROM mlflow_runs r LEFT JOIN ml_jobs j ON j.id = r.job_id"

static void run_from(http_req *r, sqlite3_stmt *q, run_row *w) {
  w->id = http_strdup(r, (const char *)sqlite3_column_text(q, 0));
  w->exp_id = http_strdup(r, (const char *)sqlite3_column_text(q, 1));
  w->name = http_strdup(r, (const char *)sqlite3_column_text(q, 2));
  w->user_id = http_strdup(r, (const char *)sqlite3_column_text(q, 3));
  w->status = http_strdup(r, (const char *)sqlite3_column_text(q, 4));
  w->lifecycle = http_strdup(r, (const char *)sqlite3_column_text(q, 5));
  const char *job = (const char *)sqlite3_column_text(q, 6);
  w->job_id = job ? http_strdup(r, job) : NULL;
  w->start_ms = sqlite3_column_int64(q, 7);
  w->end_ms = sqlite3_column_int64(q, 8);
  const char *js = (const char *)sqlite3_column_text(q, 9);
  if (job && js) {
    w->status = job_run_status(js);
    w->start_ms = sqlite3_column_type(q, 10) != SQLITE_NULL ? sqlite3_column_int64(q, 10)
                                                            : sqlite3_column_int64(q, 12);
    w->end_ms = sqlite3_column_int64(q, 11);
  }
}

static int run_load(mlf *m, const char *id, run_row *w) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(m->r->srv), RUN_SELECT " WHERE r.ws_id=? AND r.id=?", -1, &q, NULL) !=
      SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, m->ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
  int found = sqlite3_step(q) == SQLITE_ROW;
  if (found) run_from(m->r, q, w);
  store_finalize(q);
  return found;
}

static int run_require(mlf *m, const char *id, run_row *w) {
  if (run_load(m, id, w) == 1) return 0;
  http_fail(m->r, MLFLOW_ERR_NOT_FOUND, "Run '%s' not found", id);
  return -1;
}

/* A run that may be written to by this caller, and is active. */
static int run_writable(mlf *m, const char *id, run_row *w) {
  if (m->run_only && strcmp(m->run_only, id) != 0) {
    http_fail(m->r, MLFLOW_ERR_DENIED, "The run token of job %s may not write to run %s.",
              m->run_only, id);
    return -1;
  }
  if (run_require(m, id, w) != 0) return -1;
  if (strcmp(w->lifecycle, "active") != 0) {
    http_fail(m->r, MLFLOW_ERR_INVALID,
              "The run %s must be in the 'active' state. Current state is %s.", id, w->lifecycle);
    return -1;
  }
  return 0;
}

/* A request that names a run: authorized, its input read, the run loaded
 * (and writable by the caller, for a write).  0, or -1 with r failed. */
static int run_request(http_req *r, enum need need, mlf *m, json_t **in, const char **id,
                       run_row *w) {
  if (mlf_auth(r, need, m) != 0 || !(*in = mlf_input(r)) || !(*id = run_arg(r, *in))) return -1;
  return need == NEED_READ ? run_require(m, *id, w) : run_writable(m, *id, w);
}

static json_t *run_info(mlf *m, const run_row *w) {
  json_t *i = json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "run_id", w->id, "run_uuid", w->id, "run_name",
      w->name, "experiment_id", w->exp_id, "user_id", w->user_id, "status", w->status, "start_time",
      (json_int_t)w->start_ms, "artifact_uri",
      w->job_id ? http_printf(m->r,
                              "azureml://datastores/workspaceartifactstore/"
                              "paths/ExperimentRun/dcid.%s",
                              w->id)
                : http_printf(m->r, "%s/%s/artifacts", default_artifacts(m, w->exp_id), w->id),
      "lifecycle_stage", w->lifecycle);
  if (w->end_ms) json_object_set_new(i, "end_time", json_integer(w->end_ms));
  return i;
}

/* A value that JSON has no number for is a string, as protobuf's JSON
 * writes it ("NaN", "Infinity", "-Infinity"; NaN is stored as NULL). */
static json_t *metric_json(sqlite3_stmt *q, int col) {
  double v = sqlite3_column_double(q, col + 1);
  json_t *value = sqlite3_column_type(q, col + 1) == SQLITE_NULL ? json_string("NaN")
                  : isinf(v) ? json_string(v < 0 ? "-Infinity" : "Infinity")
                             : json_real(v);
  return json_pack("{s:s,s:o,s:I,s:I}", "key", (const char *)sqlite3_column_text(q, col), "value",
                   value, "timestamp", (json_int_t)sqlite3_column_int64(q, col + 2), "step",
                   (json_int_t)sqlite3_column_int64(q, col + 3));
}

static json_t *run_render(mlf *m, const run_row *w) {
  srv *s = m->r->srv;
  json_t *metrics = json_array(), *params = json_array();
  sqlite3_stmt *q;
  /* Each key's latest: the highest step, then timestamp, then value. */
  if (store_prepare(store_db(s),
                    "SELECT key, value, ts, step FROM (SELECT key, value, ts, step, row_number()"
                    " OVER (PARTITION BY key ORDER BY step DESC, ts DESC, value DESC) AS n"
                    " FROM mlflow_metrics WHERE ws_id=? AND run_id=?) WHERE n=1 ORDER BY key",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, m->ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, w->id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(metrics, metric_json(q, 0));
    store_finalize(q);
  }
  if (store_prepare(store_db(s),
                    "SELECT key, value FROM mlflow_params WHERE ws_id=? AND run_id=? ORDER BY key",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, m->ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, w->id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(params,
                            json_pack("{s:s,s:s}", "key", (const char *)sqlite3_column_text(q, 0),
                                      "value", (const char *)sqlite3_column_text(q, 1)));
    store_finalize(q);
  }
  return json_pack("{s:o,s:{s:o,s:o,s:o}}", "info", run_info(m, w), "data", "metrics", metrics,
                   "params", params, "tags", tags_of(m, http_printf(m->r, "r:%s", w->id)));
}

void ml_mlflow_run_create(http_req *r) {
  mlf m;
  json_t *in;
  exp_row e;
  if (mlf_auth(r, NEED_RUN_WRITE, &m) != 0 || !(in = mlf_input(r))) return;
  if (m.run_only) {
    http_fail(r, MLFLOW_ERR_DENIED,
              "The run token of job %s may write to its own run only; it cannot create runs.",
              m.run_only);
    return;
  }
  const char *exp = str_arg(in, "experiment_id");
  char defid[37];
  if (!exp || !*exp) {
    if (exp_ensure(r->srv, m.ws_id, "Default", clock_now_ms(r->srv), defid) != 0) {
      http_fail(r, MLFLOW_ERR_INTERNAL, "The Default experiment could not be made.");
      return;
    }
    exp = defid;
  }
  if (exp_require(&m, exp, &e) != 0) return;
  if (strcmp(e.lifecycle, "active") != 0) {
    http_fail(r, MLFLOW_ERR_INVALID,
              "The experiment %s must be in the 'active' state. Current state is %s.", exp,
              e.lifecycle);
    return;
  }
  int64_t start;
  if (int_arg(r, in, "start_time", clock_now_ms(r->srv), &start) != 0) return;
  json_t *tags = json_object_get(in, "tags");
  size_t i;
  json_t *t;
  json_array_foreach(tags, i, t) {
    if (!key_valid(r, "tag", str_arg(t, "key"))) return;
  }
  char id[33];
  hex32(id);
  const char *name = str_arg(in, "run_name");
  json_t *tn = json_object_get(kv_find(tags, "mlflow.runName"), "value");
  if ((!name || !*name) && json_is_string(tn)) name = json_string_value(tn);
  if (!name || !*name) name = http_printf(r, "run-%.8s", id);
  const char *user = str_arg(in, "user_id");
  if (!user || !*user) user = m.user;
  const char *owner = http_printf(r, "r:%s", id);
  int rc = store_begin(r->srv);
  if (!rc)
    rc = store_run(r->srv,
                   "INSERT INTO mlflow_runs(ws_id,id,exp_id,name,user_id,status,start_ms,lifecycle)"
                   " VALUES(?,?,?,?,?,'RUNNING',?,'active')",
                   "ttttti", m.ws_id, id, exp, name, user, start);
  json_array_foreach(tags, i, t) {
    if (!rc)
      rc = set_tag_row(r->srv, m.ws_id, owner, str_arg(t, "key"),
                       json_string_value(json_object_get(t, "value")) ?: "");
  }
  if (!rc) rc = set_tag_row(r->srv, m.ws_id, owner, "mlflow.runName", name);
  if (rc || store_commit(r->srv)) {
    store_rollback(r->srv);
    http_fail(r, MLFLOW_ERR_INTERNAL, "The run could not be saved.");
    return;
  }
  run_row w;
  if (run_require(&m, id, &w) != 0) return;
  http_reply_json(r, 200, json_pack("{s:o}", "run", run_render(&m, &w)));
}

void ml_mlflow_run_get(http_req *r) {
  mlf m;
  json_t *in;
  run_row w;
  const char *id;
  if (run_request(r, NEED_READ, &m, &in, &id, &w) != 0) return;
  http_reply_json(r, 200, json_pack("{s:o}", "run", run_render(&m, &w)));
}

static int status_valid(const char *s) {
  return s && (!strcmp(s, "RUNNING") || !strcmp(s, "SCHEDULED") || !strcmp(s, "FINISHED") ||
               !strcmp(s, "FAILED") || !strcmp(s, "KILLED"));
}

/* POST runs/update: status, end_time, run_name.  A job's run keeps the
 * job's status and times (the job says how it went, as on Azure). */
void ml_mlflow_run_update(http_req *r) {
  mlf m;
  json_t *in;
  run_row w;
  const char *id;
  if (run_request(r, NEED_RUN_WRITE, &m, &in, &id, &w) != 0) return;
  const char *st = str_arg(in, "status");
  if (st && !status_valid(st)) {
    http_fail(r, MLFLOW_ERR_INVALID,
              "Invalid value '%s' for parameter 'status': RUNNING, SCHEDULED, FINISHED, FAILED "
              "or KILLED.",
              st);
    return;
  }
  int64_t end;
  if (int_arg(r, in, "end_time", 0, &end) != 0) return;
  const char *name = str_arg(in, "run_name");
  int rc = store_begin(r->srv);
  if (!rc && st)
    rc = store_run(r->srv, "UPDATE mlflow_runs SET status=? WHERE ws_id=? AND id=?", "ttt", st,
                   m.ws_id, id);
  if (!rc && end)
    rc = store_run(r->srv, "UPDATE mlflow_runs SET end_ms=? WHERE ws_id=? AND id=?", "itt", end,
                   m.ws_id, id);
  if (!rc && name && *name) {
    rc = store_run(r->srv, "UPDATE mlflow_runs SET name=? WHERE ws_id=? AND id=?", "ttt", name,
                   m.ws_id, id);
    if (!rc) rc = set_tag_row(r->srv, m.ws_id, http_printf(r, "r:%s", id), "mlflow.runName", name);
  }
  if (rc || store_commit(r->srv)) {
    store_rollback(r->srv);
    http_fail(r, MLFLOW_ERR_INTERNAL, "The run could not be saved.");
    return;
  }
  if (run_require(&m, id, &w) != 0) return;
  http_reply_json(r, 200, json_pack("{s:o}", "run_info", run_info(&m, &w)));
}

static void run_lifecycle(http_req *r, const char *to) {
  mlf m;
  json_t *in;
  run_row w;
  const char *id;
  if (mlf_auth(r, NEED_RUN_WRITE, &m) != 0 || !(in = mlf_input(r)) || !(id = run_arg(r, in)))
    return;
  if (m.run_only) {
    http_fail(r, MLFLOW_ERR_DENIED, "The run token of job %s cannot delete or restore runs.",
              m.run_only);
    return;
  }
  if (run_require(&m, id, &w) != 0) return;
  store_run(r->srv, "UPDATE mlflow_runs SET lifecycle=? WHERE ws_id=? AND id=?", "ttt", to, m.ws_id,
            id);
  http_reply_json(r, 200, json_object());
}

void ml_mlflow_run_delete(http_req *r) {
  run_lifecycle(r, "deleted");
}

void ml_mlflow_run_restore(http_req *r) {
  run_lifecycle(r, "active");
}

/* One metric, param or tag into the run (inside the caller's transaction);
 * 0, or -1 with r failed. */
static int put_metric(mlf *m, const char *run, json_t *e) {
  http_req *r = m->r;
  const char *key = str_arg(e, "key");
  if (!key_valid(r, "metric", key)) return -1;
  json_t *v = json_object_get(e, "value");
  double value;
  if (json_is_number(v)) {
    value = json_number_value(v);
  } else if (json_is_string(v) && (!strcasecmp(json_string_value(v), "NaN") ||
                                   !strcasecmp(json_string_value(v), "Infinity") ||
                                   !strcasecmp(json_string_value(v), "-Infinity"))) {
    const char *t = json_string_value(v);
    value = !strcasecmp(t, "NaN") ? NAN : t[0] == '-' ? -INFINITY : INFINITY;
  } else {
    http_fail(r, MLFLOW_ERR_INVALID,
              "Got invalid value %s for metric '%s' (timestamp, step): a number is expected.",
              json_is_string(v) ? json_string_value(v) : "(none)", key);
    return -1;
  }
  int64_t ts, step;
  if (int_arg(r, e, "timestamp", clock_now_ms(r->srv), &ts) != 0 ||
      int_arg(r, e, "step", 0, &step) != 0)
    return -1;
  if (store_run(r->srv,
                "INSERT INTO mlflow_metrics(ws_id,run_id,key,value,ts,step) VALUES(?,?,?,?,?,?)",
                "tttdii", m->ws_id, run, key, value, ts, step) != 0) {
    http_fail(r, MLFLOW_ERR_INTERNAL, "The metric could not be saved.");
    return -1;
  }
  return 0;
}

static int value_too_long(http_req *r, const char *what, const char *key, const char *value,
                          size_t max) {
  if (strlen(value) <= max) return 0;
  http_fail(r, MLFLOW_ERR_INVALID,
            "%s value for '%s' had length %zu, which exceeded length limit of %zu", what, key,
            strlen(value), max);
  return 1;
}

static int put_param(mlf *m, const char *run, json_t *e) {
  http_req *r = m->r;
  const char *key = str_arg(e, "key");
  const char *value = str_arg(e, "value");
  if (!key_valid(r, "param", key)) return -1;
  if (!value) value = "";
  if (value_too_long(r, "Param", key, value, 6000)) return -1;
  sqlite3_stmt *q;
  const char *old = NULL;
  if (store_prepare(store_db(r->srv),
                    "SELECT value FROM mlflow_params WHERE ws_id=? AND run_id=? AND key=?", -1, &q,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, m->ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, run, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
      old = http_strdup(r, (const char *)sqlite3_column_text(q, 0));
    store_finalize(q);
  }
  if (old) {
    if (!strcmp(old, value)) return 0;
    http_fail(r, MLFLOW_ERR_INVALID,
              "Changing param values is not allowed. Param with key='%s' was already logged with "
              "value='%s' for run ID='%s'. Attempted logging new value '%s'.",
              key, old, run, value);
    return -1;
  }
  if (store_run(r->srv, "INSERT INTO mlflow_params(ws_id,run_id,key,value) VALUES(?,?,?,?)", "tttt",
                m->ws_id, run, key, value) != 0) {
    http_fail(r, MLFLOW_ERR_INTERNAL, "The param could not be saved.");
    return -1;
  }
  return 0;
}

static int put_tag(mlf *m, const char *run, json_t *e) {
  http_req *r = m->r;
  const char *key = str_arg(e, "key");
  const char *value = str_arg(e, "value");
  if (!key_valid(r, "tag", key)) return -1;
  if (!value) value = "";
  if (value_too_long(r, "Tag", key, value, 8000)) return -1;
  if (set_tag_row(r->srv, m->ws_id, http_printf(r, "r:%s", run), key, value) != 0) {
    http_fail(r, MLFLOW_ERR_INTERNAL, "The tag could not be saved.");
    return -1;
  }
  if (!strcmp(key, "mlflow.runName"))
    store_run(r->srv, "UPDATE mlflow_runs SET name=? WHERE ws_id=? AND id=?", "ttt", value,
              m->ws_id, run);
  return 0;
}

/* The write handlers: run_id and the item(s), in one transaction. */
typedef int (*put_fn)(mlf *m, const char *run, json_t *e);

static void run_put(http_req *r, put_fn one) {
  mlf m;
  json_t *in;
  run_row w;
  const char *id;
  if (run_request(r, NEED_RUN_WRITE, &m, &in, &id, &w) != 0) return;
  if (store_begin(r->srv) != 0) {
    http_fail(r, MLFLOW_ERR_INTERNAL, "The store is not available.");
    return;
  }
  if (one) {
    if (one(&m, id, in) != 0) {
      store_rollback(r->srv);
      return;
    }
  } else {
    static const struct {
      const char *field;
      put_fn fn;
      size_t max;
    } parts[] = {{"metrics", put_metric, 1000}, {"params", put_param, 100}, {"tags", put_tag, 100}};
    size_t total = 0;
    for (size_t k = 0; k < 3; k++) {
      json_t *list = json_object_get(in, parts[k].field);
      if (list && !json_is_array(list)) {
        store_rollback(r->srv);
        http_fail(r, MLFLOW_ERR_INVALID, "'%s' must be a list.", parts[k].field);
        return;
      }
      total += json_array_size(list);
      if (json_array_size(list) > parts[k].max || total > 1000) {
        store_rollback(r->srv);
        http_fail(r, MLFLOW_ERR_INVALID,
                  "A batch logging request can contain at most 1000 metrics, 100 params and 100 "
                  "tags, 1000 items in all; this one has %zu %s.",
                  json_array_size(list), parts[k].field);
        return;
      }
      size_t i;
      json_t *e;
      json_array_foreach(list, i, e) {
        if (parts[k].fn(&m, id, e) != 0) {
          store_rollback(r->srv);
          return;
        }
      }
    }
  }
  if (store_commit(r->srv) != 0) {
    store_rollback(r->srv);
    http_fail(r, MLFLOW_ERR_INTERNAL, "The run could not be saved.");
    return;
  }
  http_reply_json(r, 200, json_object());
}

void ml_mlflow_log_metric(http_req *r) {
  run_put(r, put_metric);
}

void ml_mlflow_log_param(http_req *r) {
  run_put(r, put_param);
}

void ml_mlflow_set_tag(http_req *r) {
  run_put(r, put_tag);
}

void ml_mlflow_log_batch(http_req *r) {
  run_put(r, NULL);
}

void ml_mlflow_delete_tag(http_req *r) {
  mlf m;
  json_t *in;
  run_row w;
  const char *id;
  if (run_request(r, NEED_RUN_WRITE, &m, &in, &id, &w) != 0) return;
  const char *key = need_str(r, in, "key");
  if (!key) return;
  const char *owner = http_printf(r, "r:%s", id);
  json_t *tags = http_json_own(r, tags_of(&m, owner));
  if (!kv_find(tags, key)) {
    http_fail(r, MLFLOW_ERR_NOT_FOUND, "No tag with name: %s in run with id %s", key, id);
    return;
  }
  store_run(r->srv, "DELETE FROM mlflow_tags WHERE ws_id=? AND owner=? AND key=?", "ttt", m.ws_id,
            owner, key);
  http_reply_json(r, 200, json_object());
}

/* POST runs/search. */
void ml_mlflow_run_search(http_req *r) {
  mlf m;
  json_t *in;
  if (mlf_auth(r, NEED_READ, &m) != 0 || !(in = mlf_input(r))) return;
  int view = view_type(r, in, "run_view_type");
  int64_t max, off;
  filter f;
  order o;
  if (view < 0 || paging(r, in, &max, &off) != 0 ||
      filter_read(r, str_arg(in, "filter"), &f, 0) != 0 ||
      order_parse(r, json_object_get(in, "order_by"), &o, 0) != 0)
    return;
  json_t *ids = json_object_get(in, "experiment_ids");
  if (json_is_string(ids)) {
    json_t *a = http_json_own(r, json_array());
    json_array_append(a, ids);
    ids = a;
  }
  json_t *kept = http_json_own(r, json_array());
  size_t i;
  json_t *e;
  json_array_foreach(ids, i, e) {
    const char *exp = json_string_value(e);
    if (!exp) continue;
    sqlite3_stmt *q;
    if (store_prepare(store_db(r->srv), RUN_SELECT " WHERE r.ws_id=? AND r.exp_id=?", -1, &q,
                      NULL) != SQLITE_OK)
      continue;
    sqlite3_bind_text(q, 1, m.ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, exp, -1, SQLITE_STATIC);
    /* Rows first: rendering reads the store again. */
    json_t *rows = http_json_own(r, json_array());
    while (sqlite3_step(q) == SQLITE_ROW) {
      run_row *w = http_alloc(r, sizeof *w);
      run_from(r, q, w);
      json_array_append_new(rows, json_integer((json_int_t)(intptr_t)w));
    }
    store_finalize(q);
    size_t k;
    json_t *p;
    json_array_foreach(rows, k, p) {
      run_row *w = (run_row *)(intptr_t)json_integer_value(p);
      if (!view_keeps(view, w->lifecycle)) continue;
      json_t *run = run_render(&m, w);
      if (filter_keeps(&f, run, 0)) json_array_append(kept, run);
      json_decref(run);
    }
  }
  sort_all(kept, &o, 0);
  http_reply_json(r, 200, page_of(r, kept, "runs", max, off));
}

/* GET metrics/get-history: every value logged under the key. */
void ml_mlflow_metric_history(http_req *r) {
  mlf m;
  json_t *in;
  run_row w;
  const char *id;
  if (run_request(r, NEED_READ, &m, &in, &id, &w) != 0) return;
  const char *key = need_str(r, in, "metric_key");
  if (!key) return;
  json_t *out = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT key, value, ts, step FROM mlflow_metrics WHERE ws_id=? AND run_id=?"
                    " AND key=? ORDER BY step, ts, rowid",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, m.ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, key, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(out, metric_json(q, 0));
    store_finalize(q);
  }
  http_reply_json(r, 200, json_pack("{s:o}", "metrics", out));
}

/* GET artifacts/list: a job's run lists what the job uploaded (its
 * outputs, logs and user_logs); other runs have none (upload is not served). */
typedef struct art_list {
  http_req *r;
  size_t skip; /* the prefix's length */
  json_t *files;
  json_t *dirs; /* names seen */
} art_list;

static void art_one(void *cls, const char *name, int64_t size) {
  art_list *a = cls;
  const char *rest = name + a->skip;
  const char *slash = strchr(rest, '/');
  const char *base = a->skip > 0 ? name + strlen("ExperimentRun/dcid.") : name;
  base = strchr(base, '/');
  base = base ? base + 1 : name;
  if (slash) {
    const char *dir = http_printf(a->r, "%.*s", (int)(slash - base), base);
    if (json_object_get(a->dirs, dir)) return;
    json_object_set_new(a->dirs, dir, json_true());
    json_array_append_new(a->files, json_pack("{s:s,s:b}", "path", dir, "is_dir", 1));
  } else {
    json_array_append_new(a->files, json_pack("{s:s,s:b,s:I}", "path", base, "is_dir", 0,
                                              "file_size", (json_int_t)size));
  }
}

void ml_mlflow_artifacts_list(http_req *r) {
  mlf m;
  json_t *in;
  run_row w;
  const char *id;
  if (run_request(r, NEED_READ, &m, &in, &id, &w) != 0) return;
  const char *path = str_arg(in, "path");
  if (!path) path = "";
  while (*path == '/')
    path++;
  if (strstr(path, "..")) {
    http_fail(r, MLFLOW_ERR_INVALID, "Invalid path '%s'.", path);
    return;
  }
  json_t *info = http_json_own(r, run_info(&m, &w));
  json_t *out =
      json_pack("{s:s}", "root_uri", json_string_value(json_object_get(info, "artifact_uri")));
  json_t *files = json_array();
  const char *acct = ml_workspace_account(m.ws);
  if (w.job_id && acct) {
    const char *prefix = http_printf(r, "ExperimentRun/dcid.%s/%s%s", id, path, *path ? "/" : "");
    art_list a = {r, strlen(prefix), files, http_json_own(r, json_object())};
    storage_blob_list(r->srv, acct, "azureml", prefix, art_one, &a);
  }
  json_object_set_new(out, "files", files);
  http_reply_json(r, 200, out);
}

/* Anything else under api/2.0/mlflow/ (or 2.0/preview, ajax-api, ...). */
void ml_mlflow_unsupported(http_req *r) {
  mlf m;
  if (mlf_auth(r, NEED_READ, &m) != 0) return;
  http_fail(r, MLFLOW_ERR_NOT_IMPLEMENTED,
            "azlite does not serve MLflow's %s %s (it serves experiments, runs, metrics and the "
            "artifacts list of a job's run).",
            r->method, http_param(r, "*") ? http_param(r, "*") : "");
}

/* ---- jobs ------------------------------------------------------------------------- */

int ml_mlflow_job_run(srv *s, const char *ws_id, const char *run_id, const char *experiment,
                      const char *display_name, const char *job_id, const char *user, int64_t now,
                      char key[80]) {
  char exp[37];
  if (exp_ensure(s, ws_id, experiment && *experiment ? experiment : "Default", now, exp) != 0)
    return -1;
  char a[33], b[33];
  hex32(a);
  hex32(b);
  snprintf(key, 80, KEY_PREFIX "%s%s", a, b);
  char owner[300];
  snprintf(owner, sizeof owner, "r:%s", run_id);
  if (store_run(s,
                "INSERT OR REPLACE INTO mlflow_runs(ws_id,id,exp_id,name,user_id,status,start_ms,"
                "lifecycle,job_id,run_key) VALUES(?,?,?,?,?,'SCHEDULED',?,'active',?,?)",
                "tttttitt", ws_id, run_id, exp, display_name, user ? user : "", now, job_id,
                key) != 0)
    return -1;
  return set_tag_row(s, ws_id, owner, "mlflow.runName", display_name);
}

static int run_data_remove(srv *s, const char *ws_id, const char *run_id) {
  char owner[300];
  snprintf(owner, sizeof owner, "r:%s", run_id);
  return store_run(s, "DELETE FROM mlflow_metrics WHERE ws_id=? AND run_id=?", "tt", ws_id,
                   run_id) |
         store_run(s, "DELETE FROM mlflow_params WHERE ws_id=? AND run_id=?", "tt", ws_id, run_id) |
         store_run(s, "DELETE FROM mlflow_tags WHERE ws_id=? AND owner=?", "tt", ws_id, owner) |
         store_run(s, "DELETE FROM mlflow_runs WHERE ws_id=? AND id=?", "tt", ws_id, run_id);
}

int ml_mlflow_job_removed(srv *s, const char *ws_id, const char *run_id) {
  return run_data_remove(s, ws_id, run_id);
}

int ml_mlflow_remove(srv *s, const char *ws_id) {
  int rc = 0;
  static const char *const tables[] = {"mlflow_metrics", "mlflow_params", "mlflow_tags",
                                       "mlflow_runs", "mlflow_experiments"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    rc |= store_exec(s, "DELETE FROM %s WHERE ws_id=%Q", tables[i], ws_id);
  return rc ? -1 : 0;
}

int ml_mlflow_set_run_tag(srv *s, const char *ws_id, const char *run_id, const char *key,
                          const char *value) {
  char owner[300];
  snprintf(owner, sizeof owner, "r:%s", run_id);
  return set_tag_row(s, ws_id, owner, key, value);
}

int ml_mlflow_latest_metric(srv *s, const char *ws_id, const char *run_id, const char *key,
                            double *out) {
  sqlite3_stmt *q;
  int rc = -1;
  if (store_prepare(store_db(s),
                    "SELECT value FROM mlflow_metrics WHERE ws_id=? AND run_id=? AND key=?"
                    " ORDER BY step DESC, ts DESC, value DESC LIMIT 1",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, run_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, key, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) {
    *out = sqlite3_column_type(q, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(q, 0);
    rc = 0;
  }
  store_finalize(q);
  return rc;
}
