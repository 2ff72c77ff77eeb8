/* kudu.c: a site's SCM (Kudu) endpoint, <app>.scm.azurewebsites.net: zip
 * deployments (POST /api/zipdeploy, as `az functionapp deployment source
 * config-zip` sends them), their status and logs (/api/deployments[/latest|
 * /{id}[/log]]) and the settings the SCM site sees (/api/settings).
 *
 * Each deployment is kept under <data>/web/sites/<app>/deployments/<id>/:
 * package.zip as received and wwwroot/ as extracted.  It is checked by
 * loading it for real (azlite_worker.py check: the zip is extracted and
 * function_app.py imported with the app's settings as its environment); only
 * a deployment that loads becomes the active one, so a bad package (no
 * function_app.py, a syntax or import error) fails with its reason in the
 * status and the log and the previous one keeps serving. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../identity/identity.h"
#include "internal.h"

static char python_dir[PATH_MAX];
static char preload_lib[PATH_MAX];

/* Beside the binary (build/azlite-python, installed with it); the source
 * tree's src/web/python for a binary that has none beside it. */
static void python_dir_find(void) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  char cand[PATH_MAX + 64];
  snprintf(cand, sizeof cand, "%s/libazlite_preload.so", self);
  if (access(cand, R_OK) == 0)
    snprintf(preload_lib, sizeof preload_lib, "%.*s/libazlite_preload.so", PATH_MAX - 32, self);
  snprintf(cand, sizeof cand, "%s/azlite-python/azlite_worker.py", self);
  if (access(cand, R_OK) == 0)
    snprintf(python_dir, sizeof python_dir, "%.*s/azlite-python", PATH_MAX - 32, self);
  else
    snprintf(python_dir, sizeof python_dir, "%.*s/../src/web/python", PATH_MAX - 32, self);
}

const char *web_python_dir(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, python_dir_find);
  return python_dir;
}

const char *web_preload_lib(void) {
  web_python_dir();
  return preload_lib;
}

char *web_dep_dir(srv *s, const char *app, const char *dep) {
  char rel[256];
  snprintf(rel, sizeof rel, "web/sites/%s/deployments/%s", app, dep);
  return srv_path(s, rel);
}

json_t *web_active_functions(srv *s, const web_app *app) {
  json_t *out = NULL;
  sqlite3_stmt *st;
  if (app->active_dep[0] &&
      store_prepare(store_db(s), "SELECT functions FROM web_deployments WHERE site=? AND id=?", -1,
                    &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, app->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, app->active_dep, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      out = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    store_finalize(st);
  }
  return json_is_array(out) ? out : (json_decref(out), json_array());
}

static int mkdirs(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- deployment documents -------------------------------------------- */

static const char *status_text(int st) {
  static const char *const t[] = {"Pending", "Building", "Deploying", "Failed", "Success"};
  return st >= 0 && st <= 4 ? t[st] : "";
}

static json_t *dep_doc(srv *s, const web_app *app, sqlite3_stmt *st) {
  (void)s;
  const char *id = (const char *)sqlite3_column_text(st, 0);
  int status = sqlite3_column_int(st, 1);
  char recv_t[40], end_t[40];
  clock_iso8601(sqlite3_column_int64(st, 3), recv_t);
  int done = sqlite3_column_type(st, 4) != SQLITE_NULL;
  if (done) clock_iso8601(sqlite3_column_int64(st, 4), end_t);
  json_t *d = json_pack(
      "{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:b,s:o,s:o,s:s}", "id", id, "status",
      status, "status_text", status == 3 ? (const char *)sqlite3_column_text(st, 2) : "",
      "author_email", "N/A", "author", "N/A", "deployer", "ZipDeploy", "message",
      "Created via a push deployment", "progress", done ? "" : status_text(status), "received_time",
      recv_t, "start_time", recv_t, "complete", done, "active", !strcmp(id, app->active_dep),
      "is_temp", 0, "is_readonly", 1, "url",
      json_sprintf("https://%s" WEB_SCM_SUFFIX "/api/deployments/%s", app->name, id), "log_url",
      json_sprintf("https://%s" WEB_SCM_SUFFIX "/api/deployments/%s/log", app->name, id),
      "site_name", app->name);
  json_object_set_new(d, "end_time", done ? json_string(end_t) : json_null());
  json_object_set_new(d, "last_success_end_time",
                      done && status == 4 ? json_string(end_t) : json_null());
  return d;
}

#define DEP_COLS "id, status, message, received_ms, end_ms, log"

static void deployments_reply(http_req *r, const web_app *app, const char *which, int log) {
  sqlite3_stmt *st;
  const char *sql =
      !which ? "SELECT " DEP_COLS " FROM web_deployments WHERE site=? ORDER BY seq DESC"
      : !strcasecmp(which, "latest")
          ? "SELECT " DEP_COLS " FROM web_deployments WHERE site=? ORDER BY seq DESC LIMIT 1"
          : "SELECT " DEP_COLS " FROM web_deployments WHERE site=? AND id=?";
  if (store_prepare(store_db(r->srv), sql, -1, &st, NULL) != SQLITE_OK) {
    http_fail(r, WEB_ERR_INTERNAL, "The deployments could not be read.");
    return;
  }
  sqlite3_bind_text(st, 1, app->id, -1, SQLITE_STATIC);
  if (which && strcasecmp(which, "latest")) sqlite3_bind_text(st, 2, which, -1, SQLITE_STATIC);
  json_t *list = json_array();
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (log) {
      json_t *l = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
      json_decref(list);
      list = l ? l : json_array();
      break;
    }
    json_array_append_new(list, dep_doc(r->srv, app, st));
  }
  store_finalize(st);
  if (!which) {
    http_reply_json(r, 200, list);
  } else if (log) {
    http_reply_json(r, 200, list);
  } else if (json_array_size(list)) {
    http_reply_json(r, 200, json_incref(json_array_get(list, 0)));
    json_decref(list);
  } else {
    json_decref(list);
    http_reply_empty(r, 404);
  }
}

/* ---- a deployment's work ------------------------------------------------ */

typedef struct dep_job {
  srv *s;
  web_app app;
  char dep[40];
  char *dir; /* the deployment's directory */
  char *url; /* run-from-package: where the package is fetched from; NULL for a push */
} dep_job;

static void dep_job_free(dep_job *j) {
  free(j->dir);
  free(j->url);
  free(j);
}

static void dep_log(srv *s, const char *site, const char *dep, const char *msg) {
  char t[40];
  clock_iso8601(clock_now_ms(s), t);
  char id[37];
  uuid_v4(id);
  json_t *e = json_pack("{s:s,s:s,s:s,s:i,s:n}", "log_time", t, "id", id, "message", msg, "type", 0,
                        "details_url");
  char *j = json_dumps(e, JSON_COMPACT);
  json_decref(e);
  store_run(s,
            "UPDATE web_deployments SET log=json_insert(log, '$[#]', json(?))"
            " WHERE site=? AND id=?",
            "ttt", j, site, dep);
  free(j);
}

/* Runs argv with the app's settings as its environment, stdout and stderr to
 * files in dir; the exit status (-1: could not run). */
static int run_checked(dep_job *j, char *const argv[], const char *out, const char *err) {
  char root[PATH_MAX];
  snprintf(root, sizeof root, "%s/wwwroot", j->dir);
  char **envp = web_app_env(j->s, &j->app, j->dir, root);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addchdir_np(&fa, j->dir);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  web_app_env_free(envp);
  if (rc != 0) return -1;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *read_small(const char *path, size_t max) {
  FILE *f = fopen(path, "r");
  if (!f) return strdup("");
  char *buf = calloc(1, max + 1);
  size_t n = fread(buf, 1, max, f);
  buf[n] = 0;
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = 0;
  return buf;
}

static void dep_finish(dep_job *j, int status, const char *message, const char *functions) {
  srv *s = j->s;
  store_begin(s);
  store_run(s,
            "UPDATE web_deployments SET status=?, message=?, end_ms=?, functions=?"
            " WHERE site=? AND id=?",
            "itittt", (int64_t)status, message, clock_now_ms(s), functions, j->app.id, j->dep);
  if (status == 4) {
    store_run(s, "UPDATE web_sites SET active_dep=? WHERE id=?", "tt", j->dep, j->app.id);
    /* Timer schedules start now, on azlite's clock. */
    json_t *fns = json_loads(functions, 0, NULL);
    size_t i;
    json_t *fn;
    json_array_foreach(fns, i, fn) {
      const char *trig = json_string_value(json_object_get(fn, "trigger"));
      if (trig && !strcmp(trig, "timer"))
        store_run(s,
                  "INSERT INTO web_timers(site, fn, last_ms) VALUES(?,?,?)"
                  " ON CONFLICT(site, fn) DO UPDATE SET last_ms=excluded.last_ms",
                  "tti", j->app.id, json_string_value(json_object_get(fn, "name")),
                  clock_now_ms(s));
    }
    json_decref(fns);
  }
  store_commit(s);
}

static void *dep_main(void *arg) {
  dep_job *j = arg;
  srv *s = j->s;
  char pkg[PATH_MAX], root[PATH_MAX], out[PATH_MAX], err[PATH_MAX], worker[PATH_MAX + 32];
  snprintf(pkg, sizeof pkg, "%s/package.zip", j->dir);
  snprintf(root, sizeof root, "%s/wwwroot", j->dir);
  snprintf(out, sizeof out, "%s/check.out", j->dir);
  snprintf(err, sizeof err, "%s/check.err", j->dir);
  snprintf(worker, sizeof worker, "%s/azlite_worker.py", web_python_dir());
  store_run(s, "UPDATE web_deployments SET status=2 WHERE site=? AND id=?", "tt", j->app.id,
            j->dep);
  dep_log(s, j->app.id, j->dep, "Extracting the package and loading function_app.py");
  if (j->url) dep_log(s, j->app.id, j->dep, "Fetching the package (WEBSITE_RUN_FROM_PACKAGE)");
  char *const argv[] = {"/usr/bin/python3", "-B", worker, "check", pkg, root, j->url, NULL};
  int rc = run_checked(j, argv, out, err);
  char *o = read_small(out, 1 << 20), *e = read_small(err, 16 << 10);
  if (e[0]) dep_log(s, j->app.id, j->dep, e);
  json_t *res = rc == 0 ? json_loads(o, 0, NULL) : NULL;
  json_t *fns = json_object_get(res, "functions");
  if (json_is_array(fns)) {
    char *fj = json_dumps(fns, JSON_COMPACT);
    char msg[128];
    snprintf(msg, sizeof msg, "Deployment successful: %zu function(s) loaded",
             json_array_size(fns));
    dep_log(s, j->app.id, j->dep, msg);
    dep_finish(j, 4, "", fj);
    free(fj);
    web_host_recycle(s, j->app.name);
    log_info("web: %s: deployment %s is active", j->app.name, j->dep);
  } else {
    const char *why = e[0]     ? e
                      : rc < 0 ? "the Python worker could not be started"
                               : "the package could not be loaded";
    dep_log(s, j->app.id, j->dep, "Deployment Failed.");
    dep_finish(j, 3, why, NULL);
    log_info("web: %s: deployment %s failed", j->app.name, j->dep);
  }
  json_decref(res);
  free(o);
  free(e);
  store_fini(s);
  dep_job_free(j);
  web_thread_end(s);
  return NULL;
}

/* A new deployment of app: its row (status 0) and directory; NULL when one
 * is in progress (*busy set) or on errors. */
static dep_job *dep_new(srv *s, const web_app *app, int *busy) {
  sqlite3_stmt *st;
  int64_t seq = 1;
  *busy = 0;
  if (store_prepare(store_db(s),
                    "SELECT coalesce(max(seq),0)+1, coalesce(sum(status<3),0) FROM web_deployments"
                    " WHERE site=?",
                    -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, app->id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    seq = sqlite3_column_int64(st, 0);
    *busy = sqlite3_column_int(st, 1) > 0;
  }
  store_finalize(st);
  if (*busy) return NULL;
  dep_job *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->s = s;
  j->app = *app;
  char u[37];
  uuid_v4(u);
  char *o = j->dep;
  for (char *p = u; *p; p++)
    if (*p != '-') *o++ = *p;
  *o = 0;
  j->dir = web_dep_dir(s, app->name, j->dep);
  if (mkdirs(j->dir) != 0 ||
      store_run(s,
                "INSERT INTO web_deployments(site, id, seq, status, message, log, received_ms)"
                " VALUES(?,?,?,0,'','[]',?)",
                "ttii", app->id, j->dep, seq, clock_now_ms(s)) != 0) {
    dep_job_free(j);
    return NULL;
  }
  return j;
}

int web_deploy_from_url(srv *s, const web_app *app, const char *url) {
  int busy;
  dep_job *j = dep_new(s, app, &busy);
  if (!j) {
    log_warn("web: %s: WEBSITE_RUN_FROM_PACKAGE not deployed: %s", app->name,
             busy ? "a deployment is in progress" : "the deployment could not be created");
    return -1;
  }
  j->url = strdup(url);
  dep_log(s, app->id, j->dep, "WEBSITE_RUN_FROM_PACKAGE names a package");
  pthread_t t;
  if (web_thread_begin(s) != 0) {
    dep_job_free(j);
    return -1;
  }
  if (pthread_create(&t, NULL, dep_main, j) != 0) {
    web_thread_end(s);
    dep_job_free(j);
    return -1;
  }
  pthread_detach(t);
  return 0;
}

static void zipdeploy(http_req *r, const web_app *app) {
  srv *s = r->srv;
  if (r->body_len == 0) {
    http_fail(r, WEB_ERR_BAD_REQUEST, "The request has no zip package.");
    return;
  }
  /* One at a time, as Kudu: a deployment in progress answers 409. */
  int busy;
  dep_job *j = dep_new(s, app, &busy);
  if (!j) {
    if (busy)
      http_fail(r, WEB_ERR_CONFLICT, "There is a deployment currently in progress.");
    else
      http_fail(r, WEB_ERR_INTERNAL, "The deployment could not be created.");
    return;
  }
  char pkg[PATH_MAX];
  snprintf(pkg, sizeof pkg, "%s/package.zip", j->dir);
  int ok = 1;
  char *spooled = http_body_take_file(r);
  if (spooled) {
    ok = rename(spooled, pkg) == 0;
    if (!ok) unlink(spooled);
    free(spooled);
  } else {
    FILE *f = fopen(pkg, "wb");
    ok = f && fwrite(r->body_mem, 1, r->body_len, f) == r->body_len;
    if (f) ok = fclose(f) == 0 && ok;
  }
  if (!ok) {
    store_run(s, "UPDATE web_deployments SET status=3, message=?, end_ms=? WHERE site=? AND id=?",
              "titt", "The package could not be saved.", clock_now_ms(s), app->id, j->dep);
    http_fail(r, WEB_ERR_INTERNAL, "The package could not be saved.");
    dep_job_free(j);
    return;
  }
  dep_log(s, app->id, j->dep, "Received the zip package");
  const char *async = http_query_get(r, "isAsync");
  int is_async = async && !strcasecmp(async, "true");
  char dep[40];
  snprintf(dep, sizeof dep, "%s", j->dep);
  pthread_t t;
  if (web_thread_begin(s) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The deployment could not be started: azlite is stopping.");
    dep_job_free(j);
    return;
  }
  if (pthread_create(&t, NULL, dep_main, j) != 0) {
    web_thread_end(s);
    http_fail(r, WEB_ERR_INTERNAL, "The deployment could not be started.");
    dep_job_free(j);
    return;
  }
  if (is_async) {
    pthread_detach(t);
    http_set_headerf(r, "Location", "https://%s" WEB_SCM_SUFFIX "/api/deployments/latest",
                     app->name);
    http_reply_empty(r, 202);
    return;
  }
  pthread_join(t, NULL); /* dep_main freed j */
  web_app now;
  if (web_app_load(s, app->name, &now) == 0 && !strcmp(now.active_dep, dep))
    http_reply_empty(r, 200);
  else
    http_fail(r, WEB_ERR_BAD_REQUEST, "Deployment Failed: see /api/deployments/%s/log", dep);
}

/* The host's log (its workers' output and one line per invocation): the
 * last MiB as it is now.  Not followed: azlite's replies have a length. */
static void log_reply(http_req *r, const web_app *app) {
  char rel[128];
  snprintf(rel, sizeof rel, "web/sites/%s/logs/host.log", app->name);
  char *path = srv_path(r->srv, rel);
  FILE *f = fopen(path, "rb");
  free(path);
  if (!f) {
    http_reply_bytes(r, 200, "text/plain; charset=utf-8", "", 0);
    return;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long from = size > (1 << 20) ? size - (1 << 20) : 0;
  fseek(f, from, SEEK_SET);
  char *buf = malloc((size_t)(size - from) + 1);
  size_t n = buf ? fread(buf, 1, (size_t)(size - from), f) : 0;
  fclose(f);
  http_reply_owned(r, 200, "text/plain; charset=utf-8", buf, n);
}

/* Basic "$<app>:<password>", the site's publishing credentials. */
static int scm_authorized(http_req *r, const web_app *app) {
  const char *h = http_header_get(r, "Authorization");
  if (!h || strncasecmp(h, "Basic ", 6) != 0) return 0;
  const char *b64 = h + 6;
  size_t n = strlen(b64);
  if (n > 512) return 0;
  unsigned char dec[400];
  int len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
  if (len < 0) return 0;
  while (len > 0 && n > 0 && b64[n - 1] == '=')
    len--, n--;
  dec[len] = 0;
  char want[160];
  snprintf(want, sizeof want, "$%s:%s", app->name, app->password);
  return strlen(want) == (size_t)len && CRYPTO_memcmp(want, dec, (size_t)len) == 0;
}

/* A management token (az, DefaultAzureCredential) whose principal may
 * publish to the site: Microsoft.Web/sites/publish/Action, as Kudu's
 * Entra ID authentication asks. */
static int scm_bearer_authorized(http_req *r, const web_app *app) {
  const char *h = http_header_get(r, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
  principal p;
  const char *code = NULL;
  char msg[256];
  if (identity_verify_bearer(r->srv, h, AUD_MGMT, &p, &code, msg, sizeof msg) != 0) return 0;
  return authz_check(r->srv, &p, "Microsoft.Web/sites/publish/Action", app->id, 0) == 0;
}

void web_kudu_serve(http_req *r, const web_app *app) {
  if (!scm_authorized(r, app) && !scm_bearer_authorized(r, app)) {
    http_set_header(r, "WWW-Authenticate", "Basic realm=\"site\"");
    http_reply_empty(r, 401);
    return;
  }
  const char *p = r->path;
  int get = !strcmp(r->method, "GET");
  if (!strcasecmp(p, "/api/zipdeploy") && !strcmp(r->method, "POST")) {
    zipdeploy(r, app);
  } else if (!strcasecmp(p, "/api/deployments") && get) {
    deployments_reply(r, app, NULL, 0);
  } else if (!strncasecmp(p, "/api/deployments/", 17) && get) {
    char which[64];
    snprintf(which, sizeof which, "%s", p + 17);
    char *slash = strchr(which, '/');
    int log = slash && !strcasecmp(slash, "/log");
    if (slash && !log) {
      http_reply_empty(r, 404);
      return;
    }
    if (slash) *slash = 0;
    deployments_reply(r, app, which, log);
  } else if ((!strcasecmp(p, "/api/logstream") || !strcasecmp(p, "/logstream")) && get) {
    log_reply(r, app);
  } else if (!strcasecmp(p, "/api/settings") && get) {
    json_t *s = web_site_settings(r->srv, app->name);
    http_reply_json(r, 200, s ? s : json_object());
  } else if (!strcmp(p, "/") && get) {
    static const char page[] = "<html><body>Kudu (azlite)</body></html>";
    http_reply_bytes(r, 200, "text/html", page, sizeof page - 1);
  } else {
    http_reply_empty(r, 404);
  }
}
