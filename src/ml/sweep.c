/* sweep.c: sweep jobs (jobType Sweep), hyperparameter tuning that runs.
 *
 * A sweep is a row of ml_jobs like a command job, and a thread that runs its
 * trials: each trial is a command job named <sweep>_<i> (as Azure names a
 * sweep's children), submitted through the same PUT a client sends (the
 * submitter's RBAC applies) with the trial's command, its ${{search_space.x}}
 * replaced by the values drawn for it, the sweep's inputs, outputs,
 * environment and compute.  At most maxConcurrentTrials run at once, up to
 * maxTotalTrials (every point of a grid when fewer).  A trial logs its
 * primary metric through MLflow (its job's MLFLOW_TRACKING_URI); when the
 * trials are done the sweep's properties name the best one
 * (best_child_run_id, score) by the objective's goal, and the sweep is
 * Completed when a trial completed, else Failed.  limits.timeout on azlite's
 * clock stops what still runs; cancel cancels the trials.
 *
 * Sampling: grid (choice only) and random (choice, randint, uniform,
 * loguniform, normal, lognormal and their q- forms; the seed is honoured).
 * Bayesian sampling, Sobol and early termination policies are refused. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../identity/identity.h"
#include "internal.h"

#define SWEEP_API "api-version=2022-10-01-preview"
#define MAX_TRIALS 1000

typedef struct sweep_run {
  struct sweep_run *next;
  srv *s;
  char id[600], name[200], ws_id[512], caller[40];
  char log_path[700];
  json_t *body;   /* the stored sweep (owned) */
  json_t *trials; /* the values of each trial: [{param: value}] */
  volatile int cancel;
} sweep_run;

static pthread_mutex_t sweeps_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweeps_cv = PTHREAD_COND_INITIALIZER;
static sweep_run *sweeps;

/* ---- sampling ------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *x) {
  /* xorshift64* */
  *x ^= *x >> 12;
  *x ^= *x << 25;
  *x ^= *x >> 27;
  return *x * 2685821657736338717ULL;
}

static double rng_unit(uint64_t *x) {
  return (double)(rng_next(x) >> 11) / 9007199254740992.0;
}

static double rng_normal(uint64_t *x) {
  double u = rng_unit(x), v = rng_unit(x);
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* One value of a search-space distribution (["uniform", [0.01, 0.1]]). */
static json_t *draw(json_t *dist, uint64_t *x) {
  const char *t = json_string_value(json_array_get(dist, 0));
  json_t *a = json_array_get(dist, 1);
  double p0 = json_number_value(json_array_get(a, 0)), p1 = json_number_value(json_array_get(a, 1)),
         q = json_number_value(json_array_get(a, 2));
  double v;
  if (!strcasecmp(t, "choice")) {
    json_t *vals = json_array_get(a, 0);
    return json_incref(json_array_get(vals, rng_next(x) % json_array_size(vals)));
  }
  if (!strcasecmp(t, "randint")) return json_integer((json_int_t)(rng_next(x) % (uint64_t)p0));
  if (!strcasecmp(t, "uniform") || !strcasecmp(t, "quniform"))
    v = p0 + (p1 - p0) * rng_unit(x);
  else if (!strcasecmp(t, "loguniform") || !strcasecmp(t, "qloguniform"))
    v = exp(p0 + (p1 - p0) * rng_unit(x));
  else if (!strcasecmp(t, "normal") || !strcasecmp(t, "qnormal"))
    v = p0 + p1 * rng_normal(x);
  else
    v = exp(p0 + p1 * rng_normal(x)); /* lognormal, qlognormal */
  if (t[0] == 'q' || t[0] == 'Q') return json_real(round(v / q) * q);
  return json_real(v);
}

/* Checks a distribution's shape; its name, or NULL with why. */
static const char *dist_check(json_t *dist, int grid, char *why, size_t n) {
  const char *t = json_string_value(json_array_get(dist, 0));
  json_t *a = json_array_get(dist, 1);
  static const struct {
    const char *name;
    size_t args;
  } known[] = {{"choice", 1},  {"randint", 1},   {"uniform", 2},  {"loguniform", 2},
               {"normal", 2},  {"lognormal", 2}, {"quniform", 3}, {"qloguniform", 3},
               {"qnormal", 3}, {"qlognormal", 3}};
  size_t k;
  for (k = 0; t && k < sizeof known / sizeof known[0]; k++)
    if (!strcasecmp(t, known[k].name)) break;
  if (!t || !json_is_array(a) || k == sizeof known / sizeof known[0] ||
      json_array_size(a) != known[k].args) {
    snprintf(why, n,
             "is not a distribution azlite knows (choice, randint, uniform, loguniform, "
             "normal, lognormal and their q- forms)");
    return NULL;
  }
  if (!strcasecmp(t, "choice")) {
    if (!json_array_size(json_array_get(a, 0))) {
      snprintf(why, n, "is a choice of nothing");
      return NULL;
    }
    return t;
  }
  if (grid) {
    snprintf(why, n, "is a %s: grid sampling takes choice parameters only", t);
    return NULL;
  }
  for (size_t i = 0; i < json_array_size(a); i++)
    if (!json_is_number(json_array_get(a, i))) {
      snprintf(why, n, "has a parameter that is not a number");
      return NULL;
    }
  if (!strcasecmp(t, "randint") && json_number_value(json_array_get(a, 0)) < 1) {
    snprintf(why, n, "is a randint whose upper bound is below 1");
    return NULL;
  }
  if (t[0] == 'q' && json_number_value(json_array_get(a, 2)) <= 0) {
    snprintf(why, n, "has a q that is not positive");
    return NULL;
  }
  return t;
}

/* Every grid point, in order (the last parameter fastest), up to max. */
static json_t *grid_points(json_t *space, size_t max) {
  json_t *out = json_array();
  size_t nkeys = json_object_size(space);
  const char **keys = calloc(nkeys ? nkeys : 1, sizeof *keys);
  size_t *idx = calloc(nkeys ? nkeys : 1, sizeof *idx);
  if (!keys || !idx) abort();
  size_t k = 0;
  const char *key;
  json_t *v;
  json_object_foreach(space, key, v) keys[k++] = key;
  for (;;) {
    if (json_array_size(out) >= max) break;
    json_t *pt = json_object();
    for (size_t i = 0; i < nkeys; i++) {
      json_t *vals = json_array_get(json_array_get(json_object_get(space, keys[i]), 1), 0);
      json_object_set(pt, keys[i], json_array_get(vals, idx[i]));
    }
    json_array_append_new(out, pt);
    /* The next index, like an odometer. */
    size_t i = nkeys;
    while (i > 0) {
      i--;
      json_t *vals = json_array_get(json_array_get(json_object_get(space, keys[i]), 1), 0);
      if (++idx[i] < json_array_size(vals)) break;
      idx[i] = 0;
      if (i == 0) {
        i = (size_t)-1;
        break;
      }
    }
    if (i == (size_t)-1 || nkeys == 0) break;
  }
  free(keys);
  free(idx);
  return out;
}

/* ---- trials ----------------------------------------------------------------------- */

/* A value as the command line gets it. */
static char *value_text(json_t *v) {
  char buf[64];
  if (json_is_string(v)) return strdup(json_string_value(v));
  if (json_is_integer(v)) {
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    return strdup(buf);
  }
  if (json_is_real(v)) {
    snprintf(buf, sizeof buf, "%.15g", json_real_value(v));
    return strdup(buf);
  }
  if (json_is_boolean(v)) return strdup(json_is_true(v) ? "True" : "False");
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* cmd with ${{search_space.k}} (and ${{inputs.k}} for a swept k) replaced. */
static char *trial_command(const char *cmd, json_t *point) {
  char *out = strdup(cmd);
  const char *key;
  json_t *v;
  json_object_foreach(point, key, v) {
    char *val = value_text(v);
    const char *forms[] = {"${{search_space.%s}}", "${{inputs.%s}}"};
    for (int f = 0; f < 2; f++) {
      char pat[300];
      snprintf(pat, sizeof pat, forms[f], key);
      char *at;
      while ((at = strstr(out, pat))) {
        char *next = NULL;
        if (asprintf(&next, "%.*s%s%s", (int)(at - out), out, val, at + strlen(pat)) < 0) abort();
        free(out);
        out = next;
      }
    }
    free(val);
  }
  return out;
}

/* The command job of trial i, as a client would PUT it. */
static char *trial_body(json_t *sweep_props, json_t *point, const char *sweep_name, int i) {
  json_t *trial = json_object_get(sweep_props, "trial");
  char *cmd = trial_command(json_string_value(json_object_get(trial, "command")), point);
  json_t *p = json_pack("{s:s,s:s,s:s*,s:O*,s:s*,s:O*,s:O*}", "jobType", "Command", "command", cmd,
                        "environmentId", json_string_value(json_object_get(trial, "environmentId")),
                        "environmentVariables", json_object_get(trial, "environmentVariables"),
                        "codeId", json_string_value(json_object_get(trial, "codeId")), "resources",
                        json_object_get(trial, "resources"), "distribution",
                        json_object_get(trial, "distribution"));
  free(cmd);
  const char *copy[] = {"computeId", "experimentName", "inputs", "outputs", "identity"};
  for (size_t k = 0; k < sizeof copy / sizeof copy[0]; k++) {
    json_t *v = json_object_get(sweep_props, copy[k]);
    if (v && !json_is_null(v)) json_object_set(p, copy[k], v);
  }
  char dn[300];
  snprintf(dn, sizeof dn, "%s_%d", sweep_name, i);
  json_object_set_new(p, "displayName", json_string(dn));
  char *hp = json_dumps(point, JSON_COMPACT | JSON_SORT_KEYS);
  json_object_set_new(
      p, "properties",
      json_pack("{s:s,s:s}", "azureml.parentRunId", sweep_name, "_aml_system_hyperparameters", hp));
  json_object_set_new(p, "tags", json_pack("{s:s}", "hyperparameters", hp));
  free(hp);
  json_object_set_new(p, "isArchived", json_false());
  const char *tt =
      json_string_value(json_object_get(json_object_get(sweep_props, "limits"), "trialTimeout"));
  if (tt)
    json_object_set_new(p, "limits",
                        json_pack("{s:s,s:s}", "jobLimitsType", "Command", "timeout", tt));
  json_t *b = json_pack("{s:o}", "properties", p);
  char *txt = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  return txt;
}

/* PUTs trial i as the sweep's submitter; 0, or -1 with why. */
static int trial_submit(srv *s, sweep_run *w, int i, json_t *point, const char *as, char *err,
                        size_t errn) {
  json_t *sp = json_object_get(w->body, "properties");
  char *body = trial_body(sp, point, w->name, i);
  char target[1100];
  snprintf(target, sizeof target, "%s/jobs/%s_%d?" SWEEP_API, w->ws_id, w->name, i);
  char authz[8192];
  snprintf(authz, sizeof authz, "Bearer %s", as);
  http_header h[2] = {{"Authorization", authz}, {"Content-Type", "application/json"}};
  http_req *q = http_run_internal(s, LISTEN_MGMT, "PUT", target, h, 2, body, strlen(body));
  free(body);
  const char *code = NULL, *msg = NULL;
  int st = http_reply_status(q, &code, &msg);
  int rc = 0;
  if (st >= 300) {
    snprintf(err, errn, "%s", msg ? msg : "the trial could not be submitted");
    rc = -1;
  }
  http_req_free(q);
  if (rc == 0) {
    char run[300];
    snprintf(run, sizeof run, "%s_%d", w->name, i);
    ml_mlflow_set_run_tag(s, w->ws_id, run, "mlflow.parentRunId", w->name);
  }
  return rc;
}

#define sweep_log(w, ...) ml_log_append((w)->log_path, __VA_ARGS__)

/* A trial's status ("" when it is not there). */
static void trial_status(srv *s, const char *ws_id, const char *name, char *out, size_t n) {
  out[0] = 0;
  sqlite3_stmt *q;
  char id[1000];
  snprintf(id, sizeof id, "%s/jobs/%s", ws_id, name);
  if (store_prepare(store_db(s), "SELECT status FROM ml_jobs WHERE id=? COLLATE NOCASE", -1, &q,
                    NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(q, 0));
  store_finalize(q);
}

static int is_terminal(const char *st) {
  return !strcmp(st, "Completed") || !strcmp(st, "Failed") || !strcmp(st, "Canceled");
}

/* Sets the sweep's best trial into its stored properties.properties. */
static void sweep_set_best(srv *s, const char *id, const char *best, double score) {
  sqlite3_stmt *q;
  json_t *b = NULL;
  if (store_prepare(store_db(s), "SELECT body FROM ml_jobs WHERE id=? COLLATE NOCASE", -1, &q,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
      b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    store_finalize(q);
  }
  if (!b) return;
  json_t *bp = json_object_get(b, "properties");
  json_t *props = json_object_get(bp, "properties");
  if (!json_is_object(props)) {
    props = json_object();
    json_object_set_new(bp, "properties", props);
  }
  char sc[64];
  snprintf(sc, sizeof sc, "%.15g", score);
  json_object_set_new(props, "best_child_run_id", json_string(best));
  json_object_set_new(props, "score", json_string(sc));
  char *txt = json_dumps(b, JSON_COMPACT);
  store_run(s, "UPDATE ml_jobs SET body=? WHERE id=? COLLATE NOCASE", "tt", txt, id);
  free(txt);
  json_decref(b);
}

static void *sweep_thread(void *arg) {
  sweep_run *w = arg;
  srv *s = w->s;
  json_t *sp = json_object_get(w->body, "properties");
  json_t *limits = json_object_get(sp, "limits");
  int total = (int)json_array_size(w->trials);
  json_t *mc = json_object_get(limits, "maxConcurrentTrials");
  int conc =
      json_is_integer(mc) && json_integer_value(mc) > 0 ? (int)json_integer_value(mc) : total;
  int64_t timeout_s = ml_iso_duration_s(json_string_value(json_object_get(limits, "timeout")));
  const char *metric =
      json_string_value(json_object_get(json_object_get(sp, "objective"), "primaryMetric"));
  const char *goal = json_string_value(json_object_get(json_object_get(sp, "objective"), "goal"));
  int maximize = !goal || strcasecmp(goal, "Minimize") != 0;
  int64_t start = clock_now_ms(s);
  principal who;
  int have_who = identity_principal_get(s, w->caller, &who) == 0;
  ml_job_set(s, w->id, "Running", NULL);
  sweep_log(w, "azlite: sweep of %d trials, %d at once, on %s's %s", total, conc,
            metric ? metric : "(no metric)", maximize ? "maximum" : "minimum");
  int submitted = 1; /* trial 0 went with the sweep's PUT */
  char err[1024] = "", first_err[1024] = "";
  int stopped = 0;
  for (;;) {
    int running = 0;
    char st[40], name[300];
    for (int i = 0; i < submitted; i++) {
      snprintf(name, sizeof name, "%s_%d", w->name, i);
      trial_status(s, w->ws_id, name, st, sizeof st);
      running += st[0] && !is_terminal(st);
    }
    int over = timeout_s > 0 && clock_now_ms(s) - start >= timeout_s * 1000;
    if ((w->cancel || over || s->stopping) && !stopped) {
      stopped = 1;
      sweep_log(w, "azlite: %s: the trials still running are canceled",
                w->cancel ? "canceled"
                : over    ? "limits.timeout reached"
                          : "azlite stops");
      for (int i = 0; i < submitted; i++) {
        char id[1000];
        snprintf(id, sizeof id, "%s/jobs/%s_%d", w->ws_id, w->name, i);
        ml_job_cancel_id(id);
      }
    }
    while (!stopped && submitted < total && running < conc) {
      char *tok = have_who ? identity_mint_token(s, &who, AUD_MGMT, 3600) : NULL;
      int rc = tok ? trial_submit(s, w, submitted, json_array_get(w->trials, (size_t)submitted),
                                  tok, err, sizeof err)
                   : -1;
      free(tok);
      if (rc != 0) {
        sweep_log(w, "azlite: trial %d could not be submitted: %s", submitted,
                  tok || have_who ? err : "its submitter no longer exists");
        if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", err);
        stopped = 1;
        break;
      }
      char *hp = json_dumps(json_array_get(w->trials, (size_t)submitted), JSON_COMPACT);
      sweep_log(w, "azlite: trial %s_%d submitted with %s", w->name, submitted, hp);
      free(hp);
      submitted++;
      running++;
    }
    if (!running && (stopped || submitted >= total)) break;
    if (s->stopping) break;
    pthread_mutex_lock(&sweeps_mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 300 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    if (!w->cancel) pthread_cond_timedwait(&sweeps_cv, &sweeps_mu, &ts);
    pthread_mutex_unlock(&sweeps_mu);
  }
  /* The trials' results and the best by the objective. */
  int completed = 0;
  const char *best = NULL;
  double best_v = 0;
  char bestname[300] = "";
  for (int i = 0; i < submitted; i++) {
    char st[40], name[300];
    snprintf(name, sizeof name, "%s_%d", w->name, i);
    trial_status(s, w->ws_id, name, st, sizeof st);
    double v;
    int has = metric && ml_mlflow_latest_metric(s, w->ws_id, name, metric, &v) == 0;
    if (has)
      sweep_log(w, "azlite: trial %s: %s, %s = %.15g", name, st, metric, v);
    else
      sweep_log(w, "azlite: trial %s: %s, no %s logged", name, st, metric ? metric : "metric");
    if (!strcmp(st, "Completed")) completed++;
    if (!strcmp(st, "Completed") && has && !isnan(v) &&
        (!best || (maximize ? v > best_v : v < best_v))) {
      snprintf(bestname, sizeof bestname, "%s", name);
      best = bestname;
      best_v = v;
    }
  }
  if (best) {
    sweep_set_best(s, w->id, best, best_v);
    sweep_log(w, "azlite: best trial %s, %s = %.15g", best, metric, best_v);
  }
  const char *final = s->stopping ? "Failed"
                      : w->cancel ? "Canceled"
                      : completed ? "Completed"
                                  : "Failed";
  char *ej = NULL;
  if (!strcmp(final, "Failed")) {
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", "UserError", "message",
                          first_err[0] ? first_err : "No trial of the sweep completed.");
    ej = json_dumps(e, JSON_COMPACT);
    json_decref(e);
  }
  ml_job_set(s, w->id, final, ej);
  free(ej);
  store_fini(s);
  pthread_mutex_lock(&sweeps_mu);
  for (sweep_run **p = &sweeps; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  pthread_cond_broadcast(&sweeps_cv);
  pthread_mutex_unlock(&sweeps_mu);
  json_decref(w->body);
  json_decref(w->trials);
  free(w);
  return NULL;
}

/* ---- submitting ----------------------------------------------------------------------- */

void ml_sweep_put(http_req *r, json_t *ws, const char *id, const char *name, json_t *in) {
  srv *s = r->srv;
  json_t *ip = json_object_get(in, "properties");
  const char *ws_id = json_string_value(json_object_get(ws, "id"));
  json_t *space = json_object_get(ip, "searchSpace");
  json_t *algo = json_object_get(ip, "samplingAlgorithm");
  const char *at = json_string_value(json_object_get(algo, "samplingAlgorithmType"));
  json_t *trial = json_object_get(ip, "trial");
  json_t *limits = json_object_get(ip, "limits");
  json_t *obj = json_object_get(ip, "objective");
  json_t *early = json_object_get(ip, "earlyTermination");
  const char *goal = json_string_value(json_object_get(obj, "goal"));
  if (!json_is_object(space) || !json_object_size(space)) {
    http_fail(r, ML_ERR_VALIDATION, "A sweep job needs a searchSpace.");
    return;
  }
  if (!json_is_object(trial) || !json_string_value(json_object_get(trial, "command"))) {
    http_fail(r, ML_ERR_VALIDATION, "A sweep job needs a trial with a command.");
    return;
  }
  if (!at || (strcasecmp(at, "Grid") && strcasecmp(at, "Random"))) {
    http_fail(r, ML_ERR_VALIDATION,
              "azlite does not implement %s sampling (grid and random sampling are).",
              at ? at : "this");
    return;
  }
  const char *rule = json_string_value(json_object_get(algo, "rule"));
  if (rule && strcasecmp(rule, "Random") != 0) {
    http_fail(r, ML_ERR_VALIDATION, "azlite does not implement the %s rule of random sampling.",
              rule);
    return;
  }
  if (early && !json_is_null(early)) {
    http_fail(r, ML_ERR_VALIDATION,
              "azlite does not implement early termination policies (earlyTermination) yet.");
    return;
  }
  if (!json_string_value(json_object_get(obj, "primaryMetric")) || !goal ||
      (strcasecmp(goal, "Maximize") && strcasecmp(goal, "Minimize"))) {
    http_fail(r, ML_ERR_VALIDATION,
              "A sweep job needs an objective: a primaryMetric and a goal (Maximize or "
              "Minimize).");
    return;
  }
  int grid = !strcasecmp(at, "Grid");
  const char *key;
  json_t *d;
  char why[256];
  json_object_foreach(space, key, d) {
    if (!dist_check(d, grid, why, sizeof why)) {
      http_fail(r, ML_ERR_VALIDATION, "Search space parameter %s %s.", key, why);
      return;
    }
  }
  json_t *mt = json_object_get(limits, "maxTotalTrials");
  json_int_t max_total = json_is_integer(mt) ? json_integer_value(mt) : grid ? MAX_TRIALS : -1;
  json_t *mc = json_object_get(limits, "maxConcurrentTrials");
  if (max_total < 1 || max_total > MAX_TRIALS ||
      (mc && !json_is_null(mc) && (!json_is_integer(mc) || json_integer_value(mc) < 1))) {
    http_fail(r, ML_ERR_VALIDATION,
              "limits.max_total_trials must be between 1 and %d (random sampling needs it), and "
              "max_concurrent_trials at least 1.",
              MAX_TRIALS);
    return;
  }
  const char *to = json_string_value(json_object_get(limits, "timeout"));
  const char *tt = json_string_value(json_object_get(limits, "trialTimeout"));
  if ((to && ml_iso_duration_s(to) < 0) || (tt && ml_iso_duration_s(tt) < 0)) {
    http_fail(r, ML_ERR_VALIDATION, "limits.timeout and trial_timeout are ISO 8601 durations.");
    return;
  }
  if (!r->caller) {
    http_fail(r, ML_ERR_UNAUTHORIZED, "A sweep job's submitter must be a principal.");
    return;
  }
  /* The trials' values. */
  json_t *points;
  if (grid) {
    points = grid_points(space, (size_t)max_total);
  } else {
    json_t *seedv = json_object_get(algo, "seed");
    uint64_t x;
    if (json_is_integer(seedv)) {
      x = (uint64_t)json_integer_value(seedv) * 0x9E3779B97F4A7C15ULL + 1;
    } else {
      char u[37];
      uuid_v4(u);
      x = strtoull(u, NULL, 16) | 1;
    }
    points = json_array();
    for (json_int_t i = 0; i < max_total; i++) {
      json_t *pt = json_object();
      json_object_foreach(space, key, d) json_object_set_new(pt, key, draw(d, &x));
      json_array_append_new(points, pt);
    }
  }
  http_json_own(r, points);
  /* The sweep's row and run, then trial 0 through the same PUT as a
   * client's: a bad trial (compute, environment, input) fails the sweep's
   * PUT with its error, and nothing is left. */
  json_t *b = json_pack("{s:s,s:s,s:s,s:O}", "id", id, "name", name, "type", ML_WS_TYPE "/jobs",
                        "properties", ip);
  http_json_own(r, b);
  json_t *bp = json_object_get(b, "properties");
  if (!json_string_value(json_object_get(bp, "experimentName")))
    json_object_set_new(bp, "experimentName", json_string("Default"));
  if (!json_string_value(json_object_get(bp, "displayName")))
    json_object_set_new(bp, "displayName", json_string(name));
  const char *compute = json_string_value(json_object_get(bp, "computeId"));
  if (compute && !strchr(compute, '/'))
    json_object_set_new(bp, "computeId",
                        json_string(http_printf(r, "%s/computes/%s", ws_id, compute)));
  char token[37];
  uuid_v4(token);
  char key80[80];
  if (ml_job_insert(r, ws, b, token, key80) != 0) return;
  const principal *caller = (const principal *)r->caller;
  sweep_run *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->s = s;
  snprintf(w->id, sizeof w->id, "%s", id);
  snprintf(w->name, sizeof w->name, "%s", name);
  snprintf(w->ws_id, sizeof w->ws_id, "%s", ws_id);
  snprintf(w->caller, sizeof w->caller, "%s", caller->oid);
  w->body = json_incref(b);
  w->trials = json_incref(points);
  char *dir = srv_path(s, "ml/jobs");
  char ldir[600];
  snprintf(ldir, sizeof ldir, "%.500s/%s/user_logs", dir, token);
  free(dir);
  ml_mkdir_p(ldir);
  snprintf(w->log_path, sizeof w->log_path, "%s/std_log.txt", ldir);
  char err[1024];
  const char *authz = http_header_get(r, "Authorization");
  if (trial_submit(s, w, 0, json_array_get(points, 0), authz ? authz + strlen("Bearer ") : "", err,
                   sizeof err) != 0) {
    store_begin(s);
    ml_mlflow_job_removed(s, ws_id, name);
    store_run(s, "DELETE FROM ml_jobs WHERE id=? COLLATE NOCASE", "t", id);
    store_commit(s);
    json_decref(w->body);
    json_decref(w->trials);
    free(w);
    http_fail(r, ML_ERR_USER_ERROR, "The sweep's trial is not valid: %s", err);
    return;
  }
  char *hp = json_dumps(json_array_get(points, 0), JSON_COMPACT);
  sweep_log(w, "azlite: trial %s_0 submitted with %s", name, hp);
  free(hp);
  pthread_mutex_lock(&sweeps_mu);
  w->next = sweeps;
  sweeps = w;
  pthread_mutex_unlock(&sweeps_mu);
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, sweep_thread, w) != 0) abort();
  pthread_attr_destroy(&a);
  log_info("ml: sweep %s of %zu trials submitted", id, json_array_size(points));
  json_t *out = json_deep_copy(b);
  json_object_set_new(json_object_get(out, "properties"), "status", json_string("NotStarted"));
  http_reply_json(r, 201, out);
}

int ml_sweep_cancel(const char *id) {
  int found = 0;
  pthread_mutex_lock(&sweeps_mu);
  for (sweep_run *w = sweeps; w; w = w->next)
    if (!strcasecmp(w->id, id)) {
      w->cancel = 1;
      found = 1;
    }
  pthread_cond_broadcast(&sweeps_cv);
  pthread_mutex_unlock(&sweeps_mu);
  return found;
}

void ml_sweep_wait(const char *id) {
  pthread_mutex_lock(&sweeps_mu);
  for (;;) {
    int live = 0;
    for (sweep_run *w = sweeps; w; w = w->next)
      live |= !id || !strcasecmp(w->id, id);
    if (!live) break;
    pthread_cond_wait(&sweeps_cv, &sweeps_mu);
  }
  pthread_mutex_unlock(&sweeps_mu);
}

void ml_sweeps_fini(srv *s) {
  (void)s;
  pthread_mutex_lock(&sweeps_mu);
  for (sweep_run *w = sweeps; w; w = w->next)
    w->cancel = 1;
  pthread_cond_broadcast(&sweeps_cv);
  pthread_mutex_unlock(&sweeps_mu);
  ml_sweep_wait(NULL);
}
