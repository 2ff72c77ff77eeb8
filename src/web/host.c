/* host.c: the function host of every site, <app>.azurewebsites.net: the
 * front door (which app a Host names; keys; /api/<route> to a function), the
 * Python workers the functions run in, timer triggers on azlite's clock, and
 * the meters (executions and GB-seconds).
 *
 * A worker is a plain /usr/bin/python3 process (azlite_worker.py serve) in
 * the active deployment's wwwroot, with the app settings as its environment,
 * talking to the host over a socketpair (fd 3: a 4-byte length and a JSON
 * object each way).  Not a sandbox of src/runtime: a function app's code
 * needs this machine's network (its storage account's blob endpoint, from
 * the connection string in its settings) and its Python packages as they
 * are, and a cold start must stay well under a second; a sandbox's own
 * network namespace would need a relay per endpoint.  The first request
 * starts the worker (cold start, logged), later ones reuse it; one
 * invocation at a time per worker, and concurrent load starts more, up to
 * the plan's limit (worker_get).  A new deployment, new settings, stop,
 * restart or delete retire it; idle ones stop after WEB_IDLE_MS of azlite's
 * clock.  A worker that dies answers 500 and the next request starts
 * another. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../identity/identity.h"
#include "internal.h"

#define WEB_IDLE_MS (20 * 60 * 1000LL)     /* Consumption's idle timeout */
#define WEB_INVOKE_TIMEOUT_MS (230 * 1000) /* the front end's HTTP timeout */
#define WEB_MAX_MSG (64u << 20)
#define WEB_SCAN_MS 2000 /* how often blob triggers look for new blobs */

typedef struct worker {
  struct worker *next;
  char app[64], dep[40], site_id[512];
  pid_t pid;
  int fd;
  int dynamic;        /* on a Consumption plan: metered per execution */
  pthread_mutex_t mu; /* one invocation at a time; guards fd */
  int64_t last_ms;    /* azlite's clock at the last invocation */
  int refs;           /* guarded by web_host.mu */
  int inflight;       /* invocations given it and not done; guarded by web_host.mu */
  int retired;        /* off the list: the last user stops it */
} worker;

/* An app whose blob triggers are scanned: at most one scan at a time, one
 * every WEB_SCAN_MS of wall time. */
typedef struct blob_scan {
  struct blob_scan *next;
  char app[64];
  int64_t last_wall_ms;
  int running;
} blob_scan;

typedef struct web_host {
  pthread_mutex_t mu; /* guards the list, refs, inflight, scans and threads */
  worker *list;
  blob_scan *scans;
  /* The detached threads running (timers, blob scans, deployments): fini
   * waits for them, so none outlives the server it uses. */
  int threads;
  int stopping;      /* set by fini: no new thread starts */
  pthread_cond_t cv; /* signalled when threads drops to 0 */
} web_host;

static web_host *host_of(srv *s) {
  return *srv_provider_state(s, &web_provider);
}

int web_host_init(srv *s) {
  if (!s->serving) return 0;
  /* A deployment that was under way when azlite stopped never finished: it
   * failed (the one before it still serves), so new ones are not refused. */
  if (store_run(s, "UPDATE web_deployments SET status=3, message=?, end_ms=? WHERE status<3", "ti",
                "azlite stopped during the deployment", clock_now_ms(s)) != 0)
    return -1;
  web_host *h = calloc(1, sizeof *h);
  if (!h) return -1;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  *srv_provider_state(s, &web_provider) = h;
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

static void worker_stop(worker *w) {
  if (w->fd >= 0) close(w->fd); /* EOF: the worker exits */
  w->fd = -1;
  if (w->pid > 0) {
    struct timespec ts = {0, 2000000};
    int status;
    for (int i = 0; i < 250 && waitpid(w->pid, &status, WNOHANG) == 0; i++) {
      if (i == 50) kill(w->pid, SIGTERM);
      if (i == 200) kill(w->pid, SIGKILL);
      nanosleep(&ts, NULL);
    }
    waitpid(w->pid, &status, WNOHANG);
  }
  w->pid = 0;
}

static void worker_release(web_host *h, worker *w) {
  pthread_mutex_lock(&h->mu);
  int last = --w->refs == 0 && w->retired;
  pthread_mutex_unlock(&h->mu);
  if (last) {
    worker_stop(w);
    pthread_mutex_destroy(&w->mu);
    free(w);
  }
}

/* Takes w off the list (h->mu held); the last reference stops it. */
static void retire_locked(web_host *h, worker *w, worker **to_free) {
  for (worker **pp = &h->list; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  w->retired = 1;
  if (w->refs == 0) {
    w->next = *to_free;
    *to_free = w;
  }
}

static void free_retired(worker *list) {
  while (list) {
    worker *n = list->next;
    worker_stop(list);
    pthread_mutex_destroy(&list->mu);
    free(list);
    list = n;
  }
}

void web_host_recycle(srv *s, const char *app) {
  web_host *h = host_of(s);
  if (!h) return;
  worker *done = NULL;
  pthread_mutex_lock(&h->mu);
  for (worker *w = h->list, *n; w; w = n) {
    n = w->next;
    if (!strcasecmp(w->app, app)) retire_locked(h, w, &done);
  }
  pthread_mutex_unlock(&h->mu);
  free_retired(done);
}

int web_thread_begin(srv *s) {
  web_host *h = host_of(s);
  if (!h) return -1;
  pthread_mutex_lock(&h->mu);
  int ok = !h->stopping;
  if (ok) h->threads++;
  pthread_mutex_unlock(&h->mu);
  return ok ? 0 : -1;
}

void web_thread_end(srv *s) {
  web_host *h = host_of(s);
  pthread_mutex_lock(&h->mu);
  if (--h->threads == 0) pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

void web_host_fini(srv *s) {
  web_host *h = host_of(s);
  if (!h) return;
  worker *done = NULL;
  pthread_mutex_lock(&h->mu);
  h->stopping = 1;
  /* Workers stop (their sockets close), so the threads waiting on them end. */
  while (h->list)
    retire_locked(h, h->list, &done);
  pthread_mutex_unlock(&h->mu);
  free_retired(done);
  pthread_mutex_lock(&h->mu);
  while (h->threads > 0) {
    done = NULL;
    while (h->list) /* one a thread started meanwhile */
      retire_locked(h, h->list, &done);
    pthread_mutex_unlock(&h->mu);
    free_retired(done);
    pthread_mutex_lock(&h->mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&h->cv, &h->mu, &ts);
  }
  pthread_mutex_unlock(&h->mu);
  for (blob_scan *sc = h->scans, *n; sc; sc = n) {
    n = sc->next;
    free(sc);
  }
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->mu);
  free(h);
  *srv_provider_state(s, &web_provider) = NULL;
}

/* ---- messages ----------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t k = write(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    c += k;
    n -= (size_t)k;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n, int64_t deadline_ms) {
  char *c = p;
  while (n) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t left = deadline_ms - ((int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    if (left <= 0) return -1;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int pr = poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr < 0) return -1;
    if (pr == 0) continue;
    ssize_t k = read(fd, c, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    c += k;
    n -= (size_t)k;
  }
  return 0;
}

static int64_t wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int msg_send(int fd, json_t *m) {
  char *j = json_dumps(m, JSON_COMPACT);
  if (!j) return -1;
  size_t n = strlen(j);
  unsigned char hdr[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
  int rc = write_all(fd, hdr, 4) == 0 && write_all(fd, j, n) == 0 ? 0 : -1;
  free(j);
  return rc;
}

static json_t *msg_recv(int fd, int timeout_ms) {
  int64_t deadline = wall_ms() + timeout_ms;
  unsigned char hdr[4];
  if (read_all(fd, hdr, 4, deadline) != 0) return NULL;
  uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (n > WEB_MAX_MSG) return NULL;
  char *buf = malloc(n + 1);
  if (!buf) return NULL;
  if (read_all(fd, buf, n, deadline) != 0) {
    free(buf);
    return NULL;
  }
  json_t *m = json_loadb(buf, n, 0, NULL);
  free(buf);
  return m;
}

static char *b64_encode(const void *p, size_t n) {
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (!out) return NULL;
  EVP_EncodeBlock((unsigned char *)out, p, (int)n);
  return out;
}

/* malloc'd; *len the decoded length; NULL when not base64. */
static unsigned char *b64_decode(const char *in, size_t *len) {
  size_t n = strlen(in);
  unsigned char *out = malloc(3 * (n / 4) + 4);
  if (!out) return NULL;
  int k = n ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)n) : 0;
  if (k < 0) {
    free(out);
    return NULL;
  }
  while (k > 0 && n > 0 && in[n - 1] == '=')
    k--, n--;
  *len = (size_t)k;
  return out;
}

/* ---- workers -------------------------------------------------------------- */

static int plan_is_dynamic(srv *s, const char *site_id) {
  json_t *site = arm_resource_get(s, site_id);
  const char *plan_id =
      json_string_value(json_object_get(json_object_get(site, "properties"), "serverFarmId"));
  json_t *plan = plan_id ? arm_resource_get(s, plan_id) : NULL;
  int d = web_plan_is_dynamic(plan);
  json_decref(plan);
  json_decref(site);
  return d;
}

char **web_app_env(srv *s, const web_app *app, const char *home, const char *root) {
  json_t *settings = web_site_settings(s, app->name);
  char **id_env = identity_workload_env(s, app->id);
  size_t nid = 0;
  while (id_env && id_env[nid])
    nid++;
  size_t n = json_object_size(settings) + nid + 20, k = 0;
  char **envp = calloc(n, sizeof *envp);
  if (!envp) abort();
  const char *key;
  json_t *v;
  json_object_foreach(settings, key, v) {
    if (asprintf(&envp[k], "%s=%s", key, json_string_value(v) ?: "") > 0) k++;
  }
  json_decref(settings);
  static const char *const fixed[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
                                      "PYTHONUNBUFFERED=1", "FUNCTIONS_WORKER_RUNTIME=python",
                                      "WEBSITE_INSTANCE_ID=azlite"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if ((envp[k] = strdup(fixed[i]))) k++;
  /* The app's managed identities, as App Service hands them to its code. */
  for (size_t i = 0; i < nid; i++)
    if ((envp[k] = strdup(id_env[i]))) k++;
  identity_workload_env_free(id_env);
  if (asprintf(&envp[k], "HOME=%s", home) > 0) k++;
  if (asprintf(&envp[k], "WEBSITE_SITE_NAME=%s", app->name) > 0) k++;
  if (asprintf(&envp[k], "WEBSITE_HOSTNAME=%s" WEB_HOST_SUFFIX, app->name) > 0) k++;
  if (asprintf(&envp[k], "AzureWebJobsScriptRoot=%s", root) > 0) k++;
  /* Which blobs its blob triggers have run for, across deployments. */
  char rel[128];
  snprintf(rel, sizeof rel, "web/sites/%s/blob-receipts.json", app->name);
  char *receipts = srv_path(s, rel);
  if (asprintf(&envp[k], "AZLITE_BLOB_RECEIPTS=%s", receipts) > 0) k++;
  free(receipts);
  /* Transparent mode, as under `azlite exec`: Azure's names (the storage
   * account of AzureWebJobsStorage, <account>.blob.core.windows.net) reach
   * azlite's management port. */
  const char *preload = web_preload_lib();
  const char *colon = strrchr(s->mgmt_url, ':');
  if (preload[0] && colon) {
    if (asprintf(&envp[k], "LD_PRELOAD=%s", preload) > 0) k++;
    if (asprintf(&envp[k], "AZLITE_EXEC_MGMT_PORT=%s", colon + 1) > 0) k++;
  }
  envp[k] = NULL;
  return envp;
}

void web_app_env_free(char **env) {
  for (size_t i = 0; env && env[i]; i++)
    free(env[i]);
  free(env);
}

/* How many workers an app may have: what its plan scales to (Consumption
 * and Elastic Premium: their maximum worker counts; Dedicated: the plan's
 * instances), at most AZLITE_WEB_MAX_WORKERS on this machine (default 4). */
static int max_workers(srv *s, const char *site_id) {
  const char *env = getenv("AZLITE_WEB_MAX_WORKERS");
  int cap = env && atoi(env) > 0 ? atoi(env) : 4;
  json_t *site = arm_resource_get(s, site_id);
  const char *plan_id =
      json_string_value(json_object_get(json_object_get(site, "properties"), "serverFarmId"));
  json_t *plan = plan_id ? arm_resource_get(s, plan_id) : NULL;
  json_t *props = json_object_get(plan, "properties");
  const char *tier = json_string_value(json_object_get(json_object_get(plan, "sku"), "tier"));
  json_int_t n = 1;
  if (tier && !strcasecmp(tier, "Dynamic"))
    n = json_integer_value(json_object_get(props, "maximumNumberOfWorkers"));
  else if (tier && !strcasecmp(tier, "ElasticPremium"))
    n = json_integer_value(json_object_get(props, "maximumElasticWorkerCount"));
  else if (plan)
    n = json_integer_value(json_object_get(json_object_get(plan, "sku"), "capacity"));
  json_decref(plan);
  json_decref(site);
  if (n < 1) n = 1;
  return n < cap ? (int)n : cap;
}

/* Starts w's process for the app's active deployment and waits for it to
 * load; -1 (and *why set, malloc'd) when it cannot.  w->mu is held. */
static int worker_spawn(srv *s, const web_app *app, worker *w, char **why) {
  char *dir = web_dep_dir(s, app->name, app->active_dep);
  char root[PATH_MAX], worker_py[PATH_MAX + 32], logdir[PATH_MAX], logf[PATH_MAX + 16];
  snprintf(root, sizeof root, "%s/wwwroot", dir);
  snprintf(worker_py, sizeof worker_py, "%s/azlite_worker.py", web_python_dir());
  char rel[128];
  snprintf(rel, sizeof rel, "web/sites/%s/logs", app->name);
  char *ld = srv_path(s, rel);
  snprintf(logdir, sizeof logdir, "%s", ld);
  free(ld);
  mkdir(logdir, 0700);
  snprintf(logf, sizeof logf, "%s/host.log", logdir);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    free(dir);
    *why = strdup("socketpair failed");
    return -1;
  }
  char **envp = web_app_env(s, app, dir, root);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, logf, O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  posix_spawn_file_actions_addchdir_np(&fa, root);
  char *const argv[] = {"/usr/bin/python3", "-B", worker_py, "serve", root, NULL};
  pid_t pid;
  int64_t t0 = wall_ms();
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  web_app_env_free(envp);
  free(dir);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    *why = strdup("the Python worker could not be started");
    return -1;
  }
  w->pid = pid;
  w->fd = sv[0];
  w->dynamic = plan_is_dynamic(s, app->id);
  json_t *ready = msg_recv(w->fd, 120000);
  if (!json_is_true(json_object_get(ready, "ready"))) {
    const char *e = json_string_value(json_object_get(ready, "error"));
    *why = strdup(e ? e : "the worker exited while loading function_app.py");
    json_decref(ready);
    worker_stop(w);
    return -1;
  }
  json_decref(ready);
  log_info("web: %s: worker %d started (cold start %lld ms)", app->name, (int)pid,
           (long long)(wall_ms() - t0));
  return 0;
}

/* A worker of the app's active deployment, with a reference and its mutex
 * held (invoke releases both): an idle one; else a new one while the app
 * has fewer than its limit (concurrent load scales out); else the least
 * busy, waited for.  NULL (and *why) when none can start. */
static worker *worker_get(srv *s, const web_app *app, char **why) {
  web_host *h = host_of(s);
  if (!h) {
    *why = strdup("the function host is not running in this process");
    return NULL;
  }
  /* Read before h->mu (it reads the store); the count and the choice are
   * then made under h->mu at once, so concurrent requests never start more
   * workers than the limit between them. */
  int limit = max_workers(s, app->id);
  pthread_mutex_lock(&h->mu);
  worker *idle = NULL, *least = NULL;
  int count = 0;
  for (worker *w = h->list; w; w = w->next) {
    if (strcasecmp(w->app, app->name) || strcmp(w->dep, app->active_dep)) continue;
    count++;
    if (!w->inflight && !idle) idle = w;
    if (!least || w->inflight < least->inflight) least = w;
  }
  worker *pick = idle;
  if (!pick && count > 0 && count >= limit) pick = least;
  if (pick) {
    pick->refs++;
    pick->inflight++;
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_lock(&pick->mu);
    return pick;
  }
  /* A new worker, listed while it starts (it counts toward the limit; a
   * request that picks it waits on its mutex until it has loaded). */
  worker *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->fd = -1;
  snprintf(w->app, sizeof w->app, "%s", app->name);
  snprintf(w->dep, sizeof w->dep, "%s", app->active_dep);
  snprintf(w->site_id, sizeof w->site_id, "%s", app->id);
  pthread_mutex_init(&w->mu, NULL);
  pthread_mutex_lock(&w->mu);
  w->refs = 1;
  w->inflight = 1;
  w->next = h->list;
  h->list = w;
  pthread_mutex_unlock(&h->mu);
  if (worker_spawn(s, app, w, why) != 0) {
    worker *done = NULL;
    pthread_mutex_lock(&h->mu);
    if (!w->retired) retire_locked(h, w, &done);
    pthread_mutex_unlock(&h->mu);
    free_retired(done);
    /* Still returned: the caller sees fd < 0 and answers 500. */
  }
  return w;
}

static long worker_rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kb = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
  fclose(f);
  return kb;
}

/* Runs one invocation; the worker's answer (new reference) or NULL with
 * *why set (malloc'd).  Meters it. */
static json_t *invoke(srv *s, const web_app *app, json_t *msg, char **why) {
  web_host *h = host_of(s);
  worker *w = worker_get(s, app, why);
  if (!w) return NULL;
  int64_t t0 = wall_ms();
  json_t *out = NULL;
  if (w->fd >= 0 && msg_send(w->fd, msg) == 0) out = msg_recv(w->fd, WEB_INVOKE_TIMEOUT_MS);
  int64_t ms = wall_ms() - t0;
  long rss = out ? worker_rss_kb(w->pid) : 0;
  w->last_ms = clock_now_ms(s);
  pthread_mutex_unlock(&w->mu);
  pthread_mutex_lock(&h->mu);
  w->inflight--;
  pthread_mutex_unlock(&h->mu);
  if (!out) {
    if (!*why) *why = strdup("the worker stopped during the invocation");
    log_warn("web: %s: worker %d stopped during an invocation", app->name, (int)w->pid);
    worker *done = NULL;
    pthread_mutex_lock(&h->mu);
    if (!w->retired) retire_locked(h, w, &done);
    pthread_mutex_unlock(&h->mu);
    free_retired(done);
  }
  /* A blob scan is as many executions as functions it ran. */
  json_t *ran = json_object_get(out, "ran");
  json_int_t execs = json_is_integer(ran) ? json_integer_value(ran) : 1;
  if (out && w->dynamic && execs > 0) {
    /* Consumption bills executions and memory x time: memory rounded up to
     * 128 MB, at least 100 ms.  Both in one transaction: one commit. */
    double mb = rss ? (double)((rss + 131071) / 131072 * 128) : 128;
    double secs = (ms < 100 ? 100 : ms) / 1000.0;
    if (store_begin(s) == 0) {
      int rc =
          usage_record(s, app->id, "Microsoft.Web/sites/functions/executions", 1, "Executions");
      if (rc == 0)
        rc = usage_record(s, app->id, "Microsoft.Web/sites/functions/executionTime",
                          mb / 1024 * secs, "GB-Seconds");
      if (rc == 0) rc = store_commit(s);
      if (rc != 0) {
        store_rollback(s);
        log_warn("web: %s: an execution could not be metered", app->name);
      }
    }
  }
  worker_release(h, w);
  return out;
}

/* ---- the front door --------------------------------------------------------- */

/* The app a Host names and whether it is the SCM site; 0 or -1. */
static int host_app(const char *host, char name[64], int *scm) {
  size_t n = strcspn(host, ":");
  const char *dot = memchr(host, '.', n);
  if (!dot || dot == host || (size_t)(dot - host) >= 64) return -1;
  snprintf(name, 64, "%.*s", (int)(dot - host), host);
  *scm = !strncasecmp(dot, ".scm.", 5);
  return 0;
}

void web_front(http_req *r) {
  char name[64];
  int scm;
  web_app app;
  if (host_app(r->host, name, &scm) != 0 || web_app_load(r->srv, name, &app) != 0) {
    static const char page[] = "<html><body>404 Web Site not found.</body></html>";
    http_reply_bytes(r, 404, "text/html", page, sizeof page - 1);
    return;
  }
  if (scm)
    web_kudu_serve(r, &app);
  else
    web_host_serve(r, &app);
}

/* Matches a route template ("items/{id}", "{id:int}", "{rest?}") against a
 * path below /api/; fills params.  1 on a match. */
int web_route_match(const char *tpl, const char *path, json_t *params) {
  while (1) {
    while (*tpl == '/')
      tpl++;
    while (*path == '/')
      path++;
    if (!*tpl) return !*path;
    const char *te = strchr(tpl, '/');
    size_t tl = te ? (size_t)(te - tpl) : strlen(tpl);
    const char *pe = strchr(path, '/');
    size_t pl = pe ? (size_t)(pe - path) : strlen(path);
    if (tpl[0] == '{' && tpl[tl - 1] == '}') {
      char pname[64];
      size_t nl = strcspn(tpl + 1, ":?}");
      snprintf(pname, sizeof pname, "%.*s", (int)(nl < 63 ? nl : 63), tpl + 1);
      int optional = tpl[tl - 2] == '?';
      int catch_all = tpl[1] == '*';
      if (catch_all) {
        json_object_set_new(params, pname + 1, json_string(path));
        return 1;
      }
      if (!pl) return optional && !te;
      if (strstr(tpl, ":int") && tpl + tl > strstr(tpl, ":int")) {
        for (size_t i = 0; i < pl; i++)
          if (path[i] < '0' || path[i] > '9') return 0;
      }
      json_object_set_new(params, pname, json_stringn(path, pl));
    } else if (tl != pl || strncasecmp(tpl, path, tl) != 0) {
      return 0;
    }
    tpl += tl;
    path += pl;
  }
}

static int key_ok(http_req *r, const web_app *app, const char *fn, const char *level) {
  if (!strcasecmp(level, "anonymous")) return 1;
  const char *key = http_header_get(r, "x-functions-key");
  if (!key) key = http_query_get(r, "code");
  if (!key || !*key) return 0;
  if (!strcmp(key, app->master_key)) return 1;
  if (!strcasecmp(level, "admin")) return 0;
  return !strcmp(key, app->default_key) || web_function_key_ok(r->srv, app->id, fn, key) ||
         web_function_key_ok(r->srv, app->id, "", key);
}

static int timer_start(srv *s, const web_app *app, const char *fn, int past_due);

/* POST /admin/functions/{name} with the master key: runs a non-HTTP
 * function now (a timer's, as the portal's "Test/Run" does); 202. */
static void admin_invoke(http_req *r, const web_app *app, json_t *fns) {
  const char *name = r->path + strlen("/admin/functions/");
  const char *key = http_header_get(r, "x-functions-key");
  if (!key) key = http_query_get(r, "code");
  if (!key || strcmp(key, app->master_key) != 0) {
    http_reply_empty(r, 401);
    return;
  }
  size_t i;
  json_t *fn;
  json_array_foreach(fns, i, fn) {
    if (strcasecmp(json_string_value(json_object_get(fn, "name")), name)) continue;
    const char *trig = json_string_value(json_object_get(fn, "trigger"));
    if (strcmp(trig ? trig : "", "timer") != 0) {
      http_fail(r, WEB_ERR_NOT_SUPPORTED,
                "azlite runs only timer functions through the admin API; '%s' is a %s function.",
                name, trig ? trig : "");
      return;
    }
    if (timer_start(r->srv, app, json_string_value(json_object_get(fn, "name")), 0) != 0)
      http_reply_empty(r, 500);
    else
      http_reply_empty(r, 202);
    return;
  }
  http_reply_empty(r, 404);
}

/* An HTTP-triggered invocation, handed to an async thread. */
typedef struct fn_call {
  http_req *r;
  web_app app;
  json_t *msg;
} fn_call;

static void fn_call_run(void *arg) {
  fn_call *c = arg;
  http_req *r = c->r;
  char *why = NULL;
  json_t *out = http_json_own(r, invoke(r->srv, &c->app, c->msg, &why));
  json_decref(c->msg);
  if (!out || json_object_get(out, "error")) {
    if (why) log_warn("web: %s: %s", c->app.name, why);
    free(why);
    http_reply_empty(r, 500);
    return;
  }
  int status = (int)json_integer_value(json_object_get(out, "status"));
  const char *k;
  json_t *v;
  const char *ctype = NULL;
  json_object_foreach(json_object_get(out, "headers"), k, v) {
    if (!strcasecmp(k, "content-type"))
      ctype = json_string_value(v);
    else if (strcasecmp(k, "content-length") && strcasecmp(k, "transfer-encoding") &&
             json_is_string(v))
      http_set_header(r, k, json_string_value(v));
  }
  size_t n = 0;
  const char *ob = json_string_value(json_object_get(out, "body_b64"));
  unsigned char *dec = b64_decode(ob ? ob : "", &n);
  if (!dec) {
    http_reply_empty(r, 500);
    return;
  }
  http_reply_owned(r, status >= 100 && status < 600 ? status : 500, ctype, (char *)dec, n);
}

void web_host_serve(http_req *r, const web_app *app) {
  if (strcmp(app->state, "Running")) {
    static const char page[] = "<html><body>Error 403 - This web app is stopped.</body></html>";
    http_reply_bytes(r, 403, "text/html", page, sizeof page - 1);
    return;
  }
  if (!strcmp(r->path, "/") || !*r->path) {
    static const char page[] = "<html><body>Your Functions 4.0 app is up and running (azlite)"
                               "</body></html>";
    http_reply_bytes(r, 200, "text/html", page, sizeof page - 1);
    return;
  }
  json_t *fns = http_json_own(r, web_active_functions(r->srv, app));
  if (!strncasecmp(r->path, "/admin/functions/", 17) && !strcmp(r->method, "POST")) {
    admin_invoke(r, app, fns);
    return;
  }
  if (strncasecmp(r->path, "/api/", 5) != 0) {
    http_reply_empty(r, 404);
    return;
  }
  json_t *match = NULL, *params = http_json_own(r, json_object());
  size_t i;
  json_t *fn;
  json_array_foreach(fns, i, fn) {
    const char *trig = json_string_value(json_object_get(fn, "trigger"));
    if (!trig || strcmp(trig, "http")) continue;
    json_object_clear(params);
    if (!web_route_match(json_string_value(json_object_get(fn, "route")), r->path + 5, params))
      continue;
    json_t *methods = json_object_get(fn, "methods");
    int ok = json_array_size(methods) == 0;
    size_t k;
    json_t *m;
    json_array_foreach(methods, k, m) ok |= !strcasecmp(json_string_value(m), r->method);
    if (!ok) continue;
    match = fn;
    break;
  }
  if (!match) {
    http_reply_empty(r, 404);
    return;
  }
  const char *fname = json_string_value(json_object_get(match, "name"));
  const char *level = json_string_value(json_object_get(match, "auth_level"));
  if (!key_ok(r, app, fname, level ? level : "function")) {
    http_reply_empty(r, 401);
    return;
  }
  size_t blen = 0;
  char *body = r->body_len ? http_body_read_all(r, 32u << 20, &blen) : NULL;
  if (r->body_len && !body) return;
  char *b64 = b64_encode(body ? body : "", blen);
  free(body);
  json_t *headers = json_object();
  const http_header *hs;
  int nh = http_headers_all(r, &hs);
  for (int h = 0; h < nh; h++)
    json_object_set_new(headers, hs[h].name, json_string(hs[h].value));
  json_t *query = json_object();
  const http_header *qs;
  int nq = http_query_all(r, &qs);
  for (int q = 0; q < nq; q++)
    json_object_set_new(query, qs[q].name, json_string(qs[q].value));
  json_t *msg = json_pack(
      "{s:s,s:s,s:s,s:o,s:o,s:o,s:O,s:s}", "fn", fname, "kind", "http", "method", r->method, "url",
      json_sprintf("https://%s" WEB_HOST_SUFFIX "%s%s%s", app->name, r->raw_path,
                   *r->raw_query ? "?" : "", r->raw_query),
      "headers", headers, "params", query, "route_params", params, "body_b64", b64 ? b64 : "");
  free(b64);
  /* The worker may take long (a cold start, a slow function): the HTTP
   * thread goes on with its other connections meanwhile. */
  fn_call *c = http_alloc(r, sizeof *c);
  c->r = r;
  c->app = *app;
  c->msg = msg;
  http_async(r, fn_call_run, c);
}

/* ---- timers ----------------------------------------------------------------- */

/* One NCRONTAB field: a bit set of the values it allows in [lo, hi]. */
static int cron_field(const char *f, int lo, int hi, uint64_t *bits) {
  *bits = 0;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", f);
  char *save = NULL;
  for (char *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
    int a = lo, b = hi, step = 1;
    char *slash = strchr(part, '/');
    if (slash) {
      *slash = 0;
      step = atoi(slash + 1);
      if (step <= 0) return -1;
    }
    if (strcmp(part, "*") != 0) {
      char *dash = strchr(part, '-');
      char *end;
      a = (int)strtol(part, &end, 10);
      if (end == part) return -1;
      b = slash && !dash ? hi : a;
      if (dash) {
        b = (int)strtol(dash + 1, &end, 10);
        if (end == dash + 1 || *end) return -1;
      } else if (*end) {
        return -1;
      }
    }
    if (a < lo || b > hi || a > b) return -1;
    for (int v = a; v <= b; v += step)
      *bits |= 1ULL << v;
  }
  return *bits ? 0 : -1;
}

int64_t web_ncrontab_next(const char *expr, int64_t after_ms) {
  char buf[256], *fields[6];
  snprintf(buf, sizeof buf, "%s", expr);
  int nf = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
    if (nf == 6) return -1;
    fields[nf++] = t;
  }
  if (nf != 6) return -1;
  uint64_t sec, min, hour, day, mon, dow;
  if (cron_field(fields[0], 0, 59, &sec) || cron_field(fields[1], 0, 59, &min) ||
      cron_field(fields[2], 0, 23, &hour) || cron_field(fields[3], 1, 31, &day) ||
      cron_field(fields[4], 1, 12, &mon) || cron_field(fields[5], 0, 7, &dow))
    return -1;
  if (dow & (1ULL << 7)) dow |= 1; /* 7 is Sunday too */
  time_t t = (time_t)(after_ms / 1000) + 1;
  /* Minute by minute for up to a year, then the second within it. */
  for (long i = 0; i < 366L * 24 * 60 + 2; i++) {
    struct tm tm;
    gmtime_r(&t, &tm);
    if ((mon >> (tm.tm_mon + 1) & 1) && (day >> tm.tm_mday & 1) && (dow >> tm.tm_wday & 1) &&
        (hour >> tm.tm_hour & 1) && (min >> tm.tm_min & 1)) {
      for (int s = tm.tm_sec; s < 60; s++)
        if (sec >> s & 1) return ((int64_t)t + (s - tm.tm_sec)) * 1000;
    }
    t += 60 - tm.tm_sec;
  }
  return -1;
}

typedef struct timer_job {
  srv *s;
  web_app app;
  char fn[128];
  int past_due;
} timer_job;

static void *timer_main(void *arg) {
  timer_job *j = arg;
  json_t *msg = json_pack("{s:s,s:s,s:b}", "fn", j->fn, "kind", "timer", "past_due", j->past_due);
  char *why = NULL;
  json_t *out = invoke(j->s, &j->app, msg, &why);
  if (!out || json_object_get(out, "error"))
    log_warn("web: %s: timer function %s failed%s%s", j->app.name, j->fn, why ? ": " : "",
             why ? why : "");
  else
    log_info("web: %s: timer function %s ran", j->app.name, j->fn);
  free(why);
  json_decref(out);
  json_decref(msg);
  store_fini(j->s);
  srv *srv_ = j->s;
  free(j);
  web_thread_end(srv_);
  return NULL;
}

static int timer_start(srv *s, const web_app *app, const char *fn, int past_due) {
  timer_job *j = calloc(1, sizeof *j);
  if (!j) return -1;
  j->s = s;
  j->app = *app;
  snprintf(j->fn, sizeof j->fn, "%s", fn);
  j->past_due = past_due;
  pthread_t t;
  if (web_thread_begin(s) != 0) {
    free(j);
    return -1;
  }
  if (pthread_create(&t, NULL, timer_main, j) != 0) {
    web_thread_end(s);
    free(j);
    return -1;
  }
  pthread_detach(t);
  return 0;
}

/* Fires each timer function whose next occurrence after its last run has
 * come, once (several missed occurrences are one run, past due), on its own
 * thread so that the scheduler never waits for a function. */
static void timers_tick(srv *s, int64_t now_ms) {
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT w.name, t.fn, t.last_ms FROM web_timers t JOIN web_sites w"
                    " ON w.id=t.site WHERE w.state='Running' AND w.active_dep IS NOT NULL",
                    -1, &st, NULL) != SQLITE_OK)
    return;
  typedef struct due {
    char app[64], fn[128];
    int64_t last;
  } due;
  due list[64];
  int n = 0;
  while (n < 64 && sqlite3_step(st) == SQLITE_ROW) {
    snprintf(list[n].app, sizeof list[n].app, "%s", sqlite3_column_text(st, 0));
    snprintf(list[n].fn, sizeof list[n].fn, "%s", sqlite3_column_text(st, 1));
    list[n].last = sqlite3_column_int64(st, 2);
    n++;
  }
  store_finalize(st);
  for (int i = 0; i < n; i++) {
    web_app app;
    if (web_app_load(s, list[i].app, &app) != 0) continue;
    json_t *fns = web_active_functions(s, &app);
    const char *sched = NULL;
    size_t k;
    json_t *fn;
    json_array_foreach(fns, k, fn) {
      if (!strcmp(json_string_value(json_object_get(fn, "name")), list[i].fn) &&
          !strcmp(json_string_value(json_object_get(fn, "trigger")) ?: "", "timer"))
        sched = json_string_value(json_object_get(fn, "schedule"));
    }
    int64_t next = sched ? web_ncrontab_next(sched, list[i].last) : -1;
    if (next >= 0 && next <= now_ms) {
      int64_t second = web_ncrontab_next(sched, next);
      store_run(s, "UPDATE web_timers SET last_ms=? WHERE site=? AND fn=?", "itt", now_ms, app.id,
                list[i].fn);
      timer_start(s, &app, list[i].fn, second >= 0 && second <= now_ms);
    }
    json_decref(fns);
  }
}

typedef struct scan_job {
  srv *s;
  web_app app;
  blob_scan *scan;
} scan_job;

static void *scan_main(void *arg) {
  scan_job *j = arg;
  web_host *h = host_of(j->s);
  json_t *msg = json_pack("{s:s,s:s}", "fn", "", "kind", "scan");
  char *why = NULL;
  json_t *out = invoke(j->s, &j->app, msg, &why);
  if (!out || json_object_get(out, "error"))
    log_warn("web: %s: the blob scan failed%s%s", j->app.name, why ? ": " : "", why ? why : "");
  else if (json_integer_value(json_object_get(out, "ran")) > 0)
    log_info("web: %s: blob triggers ran %lld time(s)", j->app.name,
             (long long)json_integer_value(json_object_get(out, "ran")));
  free(why);
  json_decref(out);
  json_decref(msg);
  pthread_mutex_lock(&h->mu);
  j->scan->running = 0;
  j->scan->last_wall_ms = wall_ms();
  pthread_mutex_unlock(&h->mu);
  store_fini(j->s);
  srv *srv_ = j->s;
  free(j);
  web_thread_end(srv_);
  return NULL;
}

/* Blob triggers: every WEB_SCAN_MS, each running app whose active
 * deployment declares a blob function has its worker look for new blobs
 * (azlite_worker.py scan: blobs without a receipt run the function). */
static void blob_tick(srv *s) {
  web_host *h = host_of(s);
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT w.name FROM web_sites w JOIN web_deployments d"
                    " ON d.site=w.id AND d.id=w.active_dep WHERE w.state='Running'"
                    " AND instr(d.functions, '\"trigger\":\"blob\"') > 0",
                    -1, &st, NULL) != SQLITE_OK)
    return;
  char apps[16][64];
  int n = 0;
  while (n < 16 && sqlite3_step(st) == SQLITE_ROW)
    snprintf(apps[n++], 64, "%s", sqlite3_column_text(st, 0));
  store_finalize(st);
  int64_t now = wall_ms();
  for (int i = 0; i < n; i++) {
    pthread_mutex_lock(&h->mu);
    blob_scan *sc = h->scans;
    while (sc && strcasecmp(sc->app, apps[i]))
      sc = sc->next;
    if (!sc) {
      sc = calloc(1, sizeof *sc);
      if (!sc) abort();
      snprintf(sc->app, sizeof sc->app, "%.63s", apps[i]);
      sc->next = h->scans;
      h->scans = sc;
    }
    int due = !sc->running && now - sc->last_wall_ms >= WEB_SCAN_MS;
    if (due) sc->running = 1;
    pthread_mutex_unlock(&h->mu);
    if (!due) continue;
    scan_job *j = calloc(1, sizeof *j);
    pthread_t t;
    int began = 0;
    if (!j || web_app_load(s, apps[i], &j->app) != 0 || !(began = web_thread_begin(s) == 0) ||
        (j->s = s, j->scan = sc, pthread_create(&t, NULL, scan_main, j) != 0)) {
      if (began) web_thread_end(s);
      free(j);
      pthread_mutex_lock(&h->mu);
      sc->running = 0;
      pthread_mutex_unlock(&h->mu);
      continue;
    }
    pthread_detach(t);
  }
}

/* Workers idle for WEB_IDLE_MS of azlite's clock stop. */
static void idle_tick(srv *s, int64_t now_ms) {
  web_host *h = host_of(s);
  if (!h) return;
  worker *done = NULL;
  pthread_mutex_lock(&h->mu);
  for (worker *w = h->list, *n; w; w = n) {
    n = w->next;
    if (w->refs == 0 && w->last_ms && now_ms - w->last_ms > WEB_IDLE_MS) {
      log_info("web: %s: worker %d stopped after idling", w->app, (int)w->pid);
      retire_locked(h, w, &done);
    }
  }
  pthread_mutex_unlock(&h->mu);
  free_retired(done);
}

void web_host_tick(srv *s, int64_t now_ms) {
  if (!host_of(s)) return;
  timers_tick(s, now_ms);
  blob_tick(s);
  idle_tick(s, now_ms);
}
