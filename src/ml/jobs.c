/* jobs.c: a workspace's jobs (workspaces/{ws}/jobs/{name}) that run.  A
 * command job is a row of ml_jobs (its body as submitted, its status, exit
 * code and error); a thread per job moves it the way Azure's would:
 *   NotStarted -> Queued (waiting for a node of its cluster)
 *   -> Preparing (the code and inputs copied into the node's /mnt)
 *   -> Running (the command in the node's sandbox, stdout and stderr into
 *      user_logs/std_log.txt, which azlite serves while it grows)
 *   -> Finalizing (./outputs, ./logs and the log uploaded to the artifact
 *      store at ExperimentRun/dcid.<job>/...)
 *   -> Completed | Failed (the exit code and the log's last lines) | Canceled
 * (cancel kills the process group).  Environments are not built offline: the
 * job runs on the node's (the host's) Python and the log says which of the
 * conda file's dependencies it lacks.
 *
 * Run history (/history/v1.0/...) is what the SDK's jobs.stream and
 * jobs.download read: a run's details with logFiles, and its rundata. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "../identity/identity.h"
#include "../runtime/runtime.h"
#include "../storage/storage.h"
#include "internal.h"

#define JOB_TYPE ML_WS_TYPE "/jobs"
#define LOG_NAME "user_logs/std_log.txt"

/* ---- the running jobs --------------------------------------------------------- */

typedef struct job_run {
  struct job_run *next;
  srv *s;
  char id[600], name[200], ws_id[512], ws_name[128], rg[128], compute_id[600];
  char account[64];    /* the workspace's storage account */
  char log_path[700];  /* on the host */
  char token[40];      /* the log URL's key */
  char mlflow_key[80]; /* MLFLOW_TRACKING_TOKEN: writes to the job's run */
  json_t *job;         /* the stored body (owned) */
  volatile int cancel;
  rt_sandbox *sb; /* rank 0's node */
  /* Its processes: one, or instance_count x process_count_per_instance ranks
   * of a distributed job; guarded by runs_mu. */
  struct job_rank *ranks;
  int nranks;
  int exited;    /* every rank ended */
  int exit_code; /* the first failing rank's, else 0 */
  int failed_rank;
} job_run;

typedef struct job_rank {
  job_run *j;
  rt_sandbox *sb;
  int64_t proc; /* rt_spawn handle, 0 before */
  int exited, exit_code;
  char log[720]; /* on the host */
} job_rank;

/* Kills every rank still running (runs_mu held). */
static void kill_ranks_locked(job_run *j) {
  for (int i = 0; j->ranks && i < j->nranks; i++) {
    job_rank *k = &j->ranks[i];
    if (k->proc > 0 && k->sb && !k->exited) rt_kill(k->sb, k->proc, 9);
  }
}

/* Running jobs; guarded by runs_mu (runs_cv: a process ended, a cancel). */
static pthread_mutex_t runs_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t runs_cv = PTHREAD_COND_INITIALIZER;
static job_run *runs;
static int runs_active;

static int terminal(const char *st) {
  return st && (!strcmp(st, "Completed") || !strcmp(st, "Failed") || !strcmp(st, "Canceled"));
}

static void job_set(srv *s, const char *id, const char *status, const char *error_json) {
  int64_t now = clock_now_ms(s);
  if (!strcmp(status, "Running"))
    store_run(s, "UPDATE ml_jobs SET status=?, start_ms=? WHERE id=? COLLATE NOCASE", "tit", status,
              now, id);
  else if (terminal(status))
    store_run(s, "UPDATE ml_jobs SET status=?, end_ms=?, error=? WHERE id=? COLLATE NOCASE", "titt",
              status, now, error_json, id);
  else
    store_run(s, "UPDATE ml_jobs SET status=? WHERE id=? COLLATE NOCASE", "tt", status, id);
  log_info("ml: job %s is %s", strrchr(id, '/') + 1, status);
}

void ml_job_set(srv *s, const char *id, const char *status, const char *error_json) {
  job_set(s, id, status, error_json);
}

void ml_log_append(const char *path, const char *fmt, ...) {
  FILE *f = fopen(path, "a");
  if (!f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

#define log_line(j, ...) ml_log_append((j)->log_path, __VA_ARGS__)

int ml_mkdir_p(const char *path) {
  char buf[1200];
  if (strlen(path) >= sizeof buf) return -1;
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---- preparing ---------------------------------------------------------------- */

typedef struct dl {
  srv *s;
  const char *account, *container, *prefix, *dir;
  int n, failed;
} dl;

static void dl_one(void *cls, const char *name, int64_t size) {
  (void)size;
  dl *d = cls;
  const char *rel = name + strlen(d->prefix);
  while (*rel == '/')
    rel++;
  if (!*rel || strstr(rel, "..")) return;
  char path[1400];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", d->dir, rel) >= sizeof path) {
    d->failed++; /* a name too long for a path here is not cut short */
    return;
  }
  char *slash = strrchr(path, '/');
  *slash = 0;
  ml_mkdir_p(path);
  *slash = '/';
  if (storage_blob_to_file(d->s, d->account, d->container, name, path) != 0)
    d->failed++;
  else
    d->n++;
}

int ml_blob_download(srv *s, const char *account, const char *container, const char *prefix,
                     const char *dir) {
  dl d = {s, account, container, prefix, dir, 0, 0};
  if (storage_blob_list(s, account, container, prefix, dl_one, &d) < 0 || d.failed) return -1;
  return d.n;
}

/* https://<account>.blob.<suffix>/<container>/<prefix> (the SDK's codeUri) or
 * azureml://datastores/<ds>/paths/<prefix> into dir; the count or -1. */
static int download_uri(job_run *j, const char *uri, const char *dir, int single_file) {
  char account[64] = "", container[128] = "", prefix[1024] = "";
  if (!strncasecmp(uri, "https://", 8) || !strncasecmp(uri, "http://", 7)) {
    const char *h = strstr(uri, "://") + 3;
    const char *dot = strchr(h, '.'), *slash = strchr(h, '/');
    if (!dot || !slash || dot > slash) return -1;
    snprintf(account, sizeof account, "%.*s", (int)(dot - h), h);
    const char *c = slash + 1, *cs = strchr(c, '/');
    snprintf(container, sizeof container, "%.*s", (int)(cs ? cs - c : (long)strlen(c)), c);
    if (cs) snprintf(prefix, sizeof prefix, "%s", cs + 1);
  } else if (!strncasecmp(uri, "azureml://", 10) && strstr(uri, "/datastores/")) {
    const char *d = strstr(uri, "/datastores/") + strlen("/datastores/");
    const char *p = strstr(d, "/paths/");
    if (!p) return -1;
    char ds[128];
    snprintf(ds, sizeof ds, "%.*s", (int)(p - d), d);
    snprintf(prefix, sizeof prefix, "%s", p + strlen("/paths/"));
    sqlite3_stmt *q;
    if (store_prepare(store_db(j->s),
                      "SELECT json_extract(body,'$.properties.accountName'),"
                      " json_extract(body,'$.properties.containerName') FROM ml_datastores"
                      " WHERE ws_id=? COLLATE NOCASE AND name=? COLLATE NOCASE",
                      -1, &q, NULL) != SQLITE_OK)
      return -1;
    sqlite3_bind_text(q, 1, j->ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ds, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
      snprintf(account, sizeof account, "%s", sqlite3_column_text(q, 0));
      snprintf(container, sizeof container, "%s", sqlite3_column_text(q, 1));
    }
    store_finalize(q);
  } else {
    return -1;
  }
  if (!account[0] || !container[0]) return -1;
  if (ml_mkdir_p(dir) != 0) return -1;
  if (single_file) {
    const char *base = strrchr(prefix, '/');
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, base ? base + 1 : prefix);
    return storage_blob_to_file(j->s, account, container, prefix, path) == 0 ? 1 : -1;
  }
  /* A folder: the prefix as a directory. */
  size_t n = strlen(prefix);
  if (n && prefix[n - 1] != '/' && n + 1 < sizeof prefix) strcat(prefix, "/");
  int got = ml_blob_download(j->s, account, container, prefix, dir);
  if (got < 0) return -1;
  if (got == 0 && n && prefix[n - 1] != '/') {
    /* No folder of that name: the uri is one file (code="train.py"). */
    prefix[n] = 0;
    const char *base = strrchr(prefix, '/');
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, base ? base + 1 : prefix);
    return storage_blob_to_file(j->s, account, container, prefix, path) == 0 ? 1 : -1;
  }
  return got;
}

/* The conda file's dependencies (pip's too), by their import names, and which
 * of them the node's Python lacks: what the log says before the job runs. */
static char *shell_quote(const char *s);

/* The pip: list of a conda file's dependencies, as shell-quoted words
 * ("" when none; malloc'd). */
static char *conda_pip_specs(const char *conda) {
  char *out = NULL;
  size_t on = 0;
  FILE *f = open_memstream(&out, &on);
  char *dup = strdup(conda), *save = NULL;
  int pip_indent = -1;
  for (char *line = strtok_r(dup, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    int ind = 0;
    while (line[ind] == ' ' || line[ind] == '\t')
      ind++;
    char *t = line + ind;
    if (*t != '-') {
      if (*t && *t != '#') pip_indent = -1;
      continue;
    }
    t++;
    while (*t == ' ')
      t++;
    char *end = t + strlen(t);
    while (end > t && (end[-1] == ' ' || end[-1] == '\r'))
      *--end = 0;
    if (!strcmp(t, "pip:")) {
      pip_indent = ind;
      continue;
    }
    if (pip_indent < 0) continue;
    if (ind <= pip_indent) {
      pip_indent = -1;
      continue;
    }
    char *hash = strstr(t, " #");
    if (hash) *hash = 0;
    if (!*t) continue;
    char *q = shell_quote(t);
    fprintf(f, "%s%s", on ? " " : "", q);
    fflush(f);
    free(q);
  }
  free(dup);
  fclose(f);
  return out;
}

/* The environment's pip dependencies, installed into a virtual environment
 * on the node (/mnt/azureml/envs/<hash of the conda file>, kept for the next
 * job of that environment on the node; the host's site-packages visible), as
 * Azure ML builds an environment's image.  pip reaches what azlite's own
 * PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS and PIP_NO_INDEX name.
 * Writes the environment's directory inside into venv ("" when none or it
 * could not be built: the log says why and the job runs on the node's
 * Python). */
static void environment_build(job_run *j, rt_sandbox *sb, const char *disk, json_t *env, char *venv,
                              size_t vn) {
  venv[0] = 0;
  const char *conda =
      json_string_value(json_object_get(json_object_get(env, "properties"), "condaFile"));
  if (!conda) return;
  char *specs = conda_pip_specs(conda);
  if (!specs || !*specs) {
    free(specs);
    return;
  }
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)conda, strlen(conda), md);
  char hex[17];
  for (int i = 0; i < 8; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  char inside[128], host[900];
  snprintf(inside, sizeof inside, "/mnt/azureml/envs/%s", hex);
  snprintf(host, sizeof host, "%s/own%s/bin/python", disk, inside);
  if (access(host, X_OK) == 0) {
    log_line(j, "azlite: the environment's pip dependencies are in %s (built before on this node)",
             inside);
    snprintf(venv, vn, "%s", inside);
    free(specs);
    return;
  }
  char *script = NULL;
  size_t sn = 0;
  FILE *f = open_memstream(&script, &sn);
  static const char *const pass[] = {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS",
                                     "PIP_NO_INDEX", "PIP_TRUSTED_HOST"};
  for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
    const char *v = getenv(pass[i]);
    if (!v) continue;
    char *q = shell_quote(v);
    fprintf(f, "export %s=%s\n", pass[i], q);
    free(q);
  }
  fprintf(f,
          "rm -rf %s.tmp && mkdir -p /mnt/azureml/envs && "
          "python3 -m venv --system-site-packages %s.tmp && "
          "%s.tmp/bin/python -m pip install --disable-pip-version-check --no-input "
          "--timeout 15 --retries 0 %s && rm -rf %s && mv %s.tmp %s\n",
          inside, inside, inside, specs, inside, inside, inside);
  fclose(f);
  log_line(j, "azlite: installing the environment's pip dependencies into %s: %s", inside, specs);
  free(specs);
  rt_result res = {0};
  int rc = rt_exec(sb, script, NULL, 600000, 1 << 20, &res);
  free(script);
  if (rc == 0 && res.exit_code == 0) {
    log_line(j, "azlite: the environment is built");
    snprintf(venv, vn, "%s", inside);
  } else {
    /* The last lines of pip's output say why. */
    const char *o = res.err && res.err[0] ? res.err : res.out ? res.out : "";
    size_t len = strlen(o);
    const char *tail = o + len;
    for (int lines = 0; tail > o && lines < 4;)
      if (*--tail == '\n' && tail + 1 < o + len) lines++;
    log_line(j,
             "azlite: the environment's pip dependencies could not be installed (exit %d); the "
             "job runs on the node's Python. pip said: %s",
             res.exit_code, tail);
    rt_result vr = {0};
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s.tmp", inside);
    rt_exec(sb, rm, NULL, 60000, 4096, &vr);
    rt_result_free(&vr);
  }
  rt_result_free(&res);
}

static void environment_report(job_run *j, json_t *env, const char *venv) {
  json_t *p = json_object_get(env, "properties");
  const char *image = json_string_value(json_object_get(p, "image"));
  const char *conda = json_string_value(json_object_get(p, "condaFile"));
  if (image)
    log_line(j, "azlite: image %s is recorded, not pulled (no registry is reachable offline).",
             image);
  if (!conda) return;
  char mods[2048] = "";
  size_t mn = 0;
  char *dup = strdup(conda), *save = NULL;
  int in_deps = 0;
  for (char *line = strtok_r(dup, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    /* Only what `dependencies:` lists (channels are not packages). */
    if (line[0] != ' ' && line[0] != '\t' && line[0] != '-')
      in_deps = !strncmp(line, "dependencies:", 13);
    while (*line == ' ' || *line == '\t')
      line++;
    if (!in_deps || *line != '-') continue;
    line++;
    while (*line == ' ')
      line++;
    if (!*line || strchr(line, ':')) continue;
    char name[128];
    size_t k = 0;
    while (line[k] && k + 1 < sizeof name &&
           (isalnum((unsigned char)line[k]) || line[k] == '-' || line[k] == '_' || line[k] == '.'))
      k++;
    snprintf(name, sizeof name, "%.*s", (int)k, line);
    for (char *c = name; *c; c++)
      *c = (char)tolower((unsigned char)*c);
    if (!name[0] || !strcmp(name, "python") || !strcmp(name, "pip")) continue;
    const char *mod = !strcmp(name, "pytorch")         ? "torch"
                      : !strcmp(name, "scikit-learn")  ? "sklearn"
                      : !strcmp(name, "pillow")        ? "PIL"
                      : !strcmp(name, "opencv-python") ? "cv2"
                                                       : name;
    char m[128];
    snprintf(m, sizeof m, "%s", mod);
    for (char *c = m; *c; c++)
      if (*c == '-' || *c == '.') *c = '_';
    mn += (size_t)snprintf(mods + mn, mn < sizeof mods ? sizeof mods - mn : 0, "%s%s",
                           mn ? " " : "", m);
  }
  free(dup);
  if (!mods[0] || mn >= sizeof mods) return;
  char script[2600];
  snprintf(script, sizeof script,
           "%s%spython3 -c 'import importlib.util,sys; print(\" \".join(m for m in sys.argv[1:] "
           "if importlib.util.find_spec(m) is None))' %s",
           venv[0] ? venv : "", venv[0] ? "/bin/" : "", mods);
  rt_result res = {0};
  if (rt_exec(j->sb, script, NULL, 60000, 65536, &res) == 0 && res.exit_code == 0) {
    char *nl = strchr(res.out, '\n');
    if (nl) *nl = 0;
    if (venv[0])
      log_line(j, "azlite: of the environment's dependencies, missing in %s: %s", venv,
               res.out[0] ? res.out : "none");
    else
      log_line(j,
               "azlite: offline: the environment's conda dependencies were not installed; the "
               "job runs on the node's Python. Missing there: %s",
               res.out[0] ? res.out : "none");
  }
  rt_result_free(&res);
}

/* ---- finalizing ----------------------------------------------------------------- */

static int upload_dir(job_run *j, const char *host_dir, const char *blob_prefix) {
  DIR *d = opendir(host_dir);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    char path[1400], name[1400];
    snprintf(path, sizeof path, "%s/%s", host_dir, e->d_name);
    snprintf(name, sizeof name, "%s/%s", blob_prefix, e->d_name);
    struct stat st;
    if (lstat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      n += upload_dir(j, path, name);
    else if (S_ISREG(st.st_mode)) {
      if (storage_blob_put_file(j->s, j->account, "azureml", name, path) == 0)
        n++;
      else /* said where the user reads: a lost output is never silent */
        log_line(j, "azlite: could not upload %s to the artifact store", name);
    }
  }
  closedir(d);
  return n;
}

/* The log's last lines (up to n bytes), for the error of a failed job. */
static char *log_tail(const char *path, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  fseeko(f, 0, SEEK_END);
  off_t size = ftello(f);
  off_t from = size > (off_t)n ? size - (off_t)n : 0;
  fseeko(f, from, SEEK_SET);
  char *buf = calloc(1, n + 1);
  if (!buf) abort();
  size_t got = fread(buf, 1, n, f);
  buf[got] = 0;
  fclose(f);
  char *start = buf;
  if (from > 0) {
    char *nl = strchr(buf, '\n');
    if (nl) start = nl + 1;
  }
  char *out = strdup(start);
  free(buf);
  return out;
}

static void on_proc_exit(void *cls, int code) {
  job_rank *k = cls;
  job_run *j = k->j;
  pthread_mutex_lock(&runs_mu);
  k->exited = 1;
  k->exit_code = code;
  if (code != 0 && j->exit_code == 0) {
    /* One rank failing fails the job: the others are stopped. */
    j->exit_code = code;
    j->failed_rank = (int)(k - j->ranks);
    kill_ranks_locked(j);
  }
  int all = 1;
  for (int i = 0; i < j->nranks; i++)
    all = all && j->ranks[i].exited;
  j->exited = all;
  pthread_cond_broadcast(&runs_cv);
  pthread_mutex_unlock(&runs_mu);
}

static char *shell_quote(const char *s) {
  size_t n = strlen(s);
  char *o = malloc(n * 4 + 3), *p = o;
  if (!o) abort();
  *p++ = '\'';
  for (; *s; s++) {
    if (*s == '\'') {
      memcpy(p, "'\\''", 4);
      p += 4;
    } else {
      *p++ = *s;
    }
  }
  *p++ = '\'';
  *p = 0;
  return o;
}

static void run_free(job_run *j) {
  json_decref(j->job);
  free(j->ranks);
  free(j);
}

/* Downloads the job's code and inputs into a node's job dir (jobdir on the
 * host, wd under it); 0, or -1 with why in err. */
static int node_prepare(job_run *j, json_t *p, const char *jobdir, const char *wd, char *err,
                        size_t errn) {
  if (ml_mkdir_p(wd) != 0) {
    snprintf(err, errn, "the job's working directory could not be made");
    return -1;
  }
  const char *code_uri = json_string_value(json_object_get(p, "azliteCodeUri"));
  if (code_uri) {
    int n = download_uri(j, code_uri, wd, 0);
    if (n < 0) {
      snprintf(err, errn, "the job's code (%s) could not be downloaded", code_uri);
      return -1;
    }
    log_line(j, "azlite: downloaded %d code file(s)", n);
  }
  /* Inputs that are files or folders: into the node, under /mnt/azureml/.../inputs. */
  json_t *inputs = json_object_get(p, "inputs");
  const char *iname;
  json_t *in;
  json_object_foreach(inputs, iname, in) {
    const char *t = json_string_value(json_object_get(in, "jobInputType"));
    if (!t || !strcasecmp(t, "literal")) continue;
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/inputs/%s", jobdir, iname);
    const char *uri =
        json_string_value(json_object_get(json_object_get(p, "azliteInputUris"), iname));
    if (!uri || download_uri(j, uri, dir, !strcasecmp(t, "uri_file")) < 0) {
      snprintf(err, errn, "input %s (%s) could not be downloaded", iname, uri ? uri : "no uri");
      return -1;
    }
  }
  return 0;
}

static void export_var(FILE *f, const char *k, const char *v) {
  char *q = shell_quote(v);
  fprintf(f, "export %s=%s\n", k, q);
  free(q);
}

/* Multi-node jobs take their nodes one job at a time, so two of them never
 * each hold part of what the other waits for. */
static pthread_mutex_t gang_mu = PTHREAD_MUTEX_INITIALIZER;

#define MAX_NODES 64

/* The job's thread: from Queued to its end. */
static void *job_thread(void *arg) {
  job_run *j = arg;
  srv *s = j->s;
  json_t *p = json_object_get(j->job, "properties");
  char err[512] = "";
  char *error_json = NULL;
  const char *final = "Failed";
  /* Its shape: nodes x processes on each (validated at submission). */
  json_t *dist = json_object_get(p, "distribution");
  const char *dtype = json_string_value(json_object_get(dist, "distributionType"));
  json_t *icj = json_object_get(json_object_get(p, "resources"), "instanceCount");
  int nnodes = icj ? (int)json_integer_value(icj) : 1;
  if (nnodes < 1 || nnodes > MAX_NODES) nnodes = 1;
  int per = 1;
  if (dtype) {
    json_int_t pc = json_integer_value(json_object_get(
        dist, !strcasecmp(dtype, "TensorFlow") ? "workerCount" : "processCountPerInstance"));
    if (pc > 0)
      per = !strcasecmp(dtype, "TensorFlow") && pc >= nnodes ? (int)(pc / nnodes) : (int)pc;
    if (per < 1 || per * nnodes > 64) per = 1;
  }
  ml_node_lease *leases[MAX_NODES] = {0};
  int nleased = 0;
  job_set(s, j->id, "Queued", NULL);
  log_line(j, "azlite: queued on %s", strrchr(j->compute_id, '/') + 1);
  if (nnodes > 1) {
    log_line(j, "azlite: a %s job on %d nodes, %d process(es) on each", dtype ? dtype : "command",
             nnodes, per);
    pthread_mutex_lock(&gang_mu);
  }
  for (; nleased < nnodes; nleased++) {
    leases[nleased] = ml_cluster_acquire(s, j->compute_id, j->name, &j->cancel, err, sizeof err);
    if (!leases[nleased]) break;
  }
  if (nnodes > 1) pthread_mutex_unlock(&gang_mu);
  if (nleased < nnodes) {
    final = j->cancel ? "Canceled" : "Failed";
    goto release;
  }
  job_rank *ranks = calloc((size_t)(nnodes * per), sizeof *ranks);
  if (!ranks) abort();
  pthread_mutex_lock(&runs_mu);
  j->sb = ml_lease_sandbox(leases[0]);
  j->ranks = ranks;
  j->nranks = nnodes * per;
  for (int i = 0; i < j->nranks; i++) {
    ranks[i].j = j;
    ranks[i].sb = ml_lease_sandbox(leases[i / per]);
    if (i == 0)
      snprintf(ranks[i].log, sizeof ranks[i].log, "%s", j->log_path);
    else
      snprintf(ranks[i].log, sizeof ranks[i].log, "%.*s/std_log_process_%d.txt",
               (int)(strrchr(j->log_path, '/') - j->log_path), j->log_path, i);
  }
  pthread_mutex_unlock(&runs_mu);
  job_set(s, j->id, "Preparing", NULL);
  char jobdir[900], wd[1000], inside_wd[400];
  snprintf(inside_wd, sizeof inside_wd, "/mnt/azureml/cr/j/%s/exe/wd", j->token);
  for (int n = 0; n < nnodes; n++) {
    log_line(j, "azlite: running on node %s", ml_lease_node_id(leases[n]));
    if (n == 0) {
      rt_info info;
      rt_get_info(j->sb, &info);
      if (info.gpus > 0)
        log_line(j, "azlite: %d GPU(s) of this host passed to the node", info.gpus);
      else if (info.why_no_gpu[0])
        log_line(j, "azlite: the node's size has GPUs, this host gives none: %s", info.why_no_gpu);
    }
    snprintf(jobdir, sizeof jobdir, "%s/own/mnt/azureml/cr/j/%s", ml_lease_disk(leases[n]),
             j->token);
    snprintf(wd, sizeof wd, "%s/exe/wd", jobdir);
    if (node_prepare(j, p, jobdir, wd, err, sizeof err) != 0) goto release;
  }
  /* Rank 0's directories: what is uploaded at the end. */
  snprintf(jobdir, sizeof jobdir, "%s/own/mnt/azureml/cr/j/%s", ml_lease_disk(leases[0]), j->token);
  snprintf(wd, sizeof wd, "%s/exe/wd", jobdir);
  json_t *env = json_object_get(j->job, "azliteEnvironment");
  char venv[128] = "";
  for (int n = 0; n < nnodes && !j->cancel; n++)
    environment_build(j, ml_lease_sandbox(leases[n]), ml_lease_disk(leases[n]), env, venv,
                      sizeof venv);
  environment_report(j, env, venv);
  if (j->cancel) {
    final = "Canceled";
    goto release;
  }
  /* The command, with the variables a script on Azure ML sees. */
  const char *cmd = json_string_value(json_object_get(p, "azliteCommand"));
  char *script = NULL;
  size_t slen = 0;
  FILE *sf = open_memstream(&script, &slen);
  const char *exp = json_string_value(json_object_get(p, "experimentName"));
  char tracking_uri[800];
  snprintf(tracking_uri, sizeof tracking_uri, "%s/mlflow/v1.0%s", s->mgmt_url, j->ws_id);
  const char *vars[][2] = {
      {"AZUREML_RUN_ID", j->name},
      {"AZUREML_ARM_SUBSCRIPTION", s->subscription_id},
      {"AZUREML_ARM_RESOURCEGROUP", j->rg},
      {"AZUREML_ARM_WORKSPACE_NAME", j->ws_name},
      {"AZUREML_ARM_PROJECT_NAME", exp ? exp : "Default"},
      {"AZUREML_EXPERIMENT_NAME", exp ? exp : "Default"},
      {"AZUREML_SERVICE_ENDPOINT", s->mgmt_url},
      {"AZUREML_DISCOVERY_SERVICE_ENDPOINT", s->mgmt_url},
      {"AZUREML_COMPUTE_NAME", strrchr(j->compute_id, '/') + 1},
      {"AZUREML_CR_EXECUTION_WORKING_DIR_PATH", inside_wd},
      {"MLFLOW_RUN_ID", j->name},
      {"MLFLOW_EXPERIMENT_NAME", exp ? exp : "Default"},
      /* The workspace's tracking API as https: plain mlflow's REST store
       * speaks it (no azureml-mlflow plugin), trusting azlite's CA. */
      {"MLFLOW_TRACKING_URI", tracking_uri},
      {"MLFLOW_TRACKING_TOKEN", j->mlflow_key},
      {"MLFLOW_TRACKING_SERVER_CERT_PATH", ML_CA_INSIDE},
      {"PYTHONUNBUFFERED", "1"},
  };
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    export_var(sf, vars[i][0], vars[i][1]);
  if (venv[0]) {
    /* The built environment's python first, as in the image Azure builds. */
    export_var(sf, "VIRTUAL_ENV", venv);
    fprintf(sf, "export PATH=%s/bin:\"$PATH\"\n", venv);
  }
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(p, "environmentVariables"), k, v) {
    int ok = *k && (isalpha((unsigned char)*k) || *k == '_');
    for (const char *c = k; *c && ok; c++)
      ok = isalnum((unsigned char)*c) || *c == '_';
    if (!ok || !json_is_string(v)) continue;
    export_var(sf, k, json_string_value(v));
  }
  fprintf(sf, "mkdir -p outputs logs\n");
  json_object_foreach(json_object_get(p, "outputs"), k, v) {
    char *q = shell_quote(k);
    fprintf(sf, "mkdir -p outputs/%s\n", q);
    free(q);
  }
  fprintf(sf, "%s\n", cmd);
  fclose(sf);
  pthread_mutex_lock(&runs_mu);
  int canceled = j->cancel;
  pthread_mutex_unlock(&runs_mu);
  if (canceled) {
    free(script);
    final = "Canceled";
    goto release;
  }
  job_set(s, j->id, "Running", NULL);
  /* The ranks: every node of a cluster shares its network, so rank 0's
   * loopback is everyone's MASTER_ADDR; the port is the job's own. */
  char master_port[16];
  snprintf(master_port, sizeof master_port, "%u",
           20000u + (unsigned)(strtoul(j->token, NULL, 16) % 20000u));
  int spawn_failed = 0;
  for (int i = 0; i < j->nranks && !spawn_failed; i++) {
    char *rs = NULL;
    size_t rlen = 0;
    FILE *rf = open_memstream(&rs, &rlen);
    char num[16];
    export_var(rf, "AZUREML_NODE_ID", ml_lease_node_id(leases[i / per]));
    if (dtype) {
      snprintf(num, sizeof num, "%d", j->nranks);
      export_var(rf, "WORLD_SIZE", num);
      export_var(rf, "OMPI_COMM_WORLD_SIZE", num);
      snprintf(num, sizeof num, "%d", i);
      export_var(rf, "RANK", num);
      export_var(rf, "OMPI_COMM_WORLD_RANK", num);
      export_var(rf, "AZUREML_PROCESS_NAME", i ? "rank" : "rank_0");
      snprintf(num, sizeof num, "%d", i % per);
      export_var(rf, "LOCAL_RANK", num);
      export_var(rf, "OMPI_COMM_WORLD_LOCAL_RANK", num);
      snprintf(num, sizeof num, "%d", per);
      export_var(rf, "LOCAL_WORLD_SIZE", num);
      export_var(rf, "OMPI_COMM_WORLD_LOCAL_SIZE", num);
      snprintf(num, sizeof num, "%d", i / per);
      export_var(rf, "NODE_RANK", num);
      export_var(rf, "GROUP_RANK", num);
      snprintf(num, sizeof num, "%d", nnodes);
      export_var(rf, "AZ_BATCHAI_NODE_COUNT", num);
      export_var(rf, "MASTER_ADDR", "127.0.0.1");
      export_var(rf, "MASTER_PORT", master_port);
      export_var(rf, "AZ_BATCH_MASTER_NODE", "127.0.0.1:6105");
      export_var(rf, "AZ_BATCHAI_MPI_MASTER_NODE", "127.0.0.1");
      export_var(rf, "GLOO_SOCKET_IFNAME", "lo");
    }
    fputs(script, rf);
    fclose(rf);
    FILE *lf = i ? fopen(j->ranks[i].log, "w") : NULL;
    if (lf) fclose(lf);
    int64_t proc = rt_spawn(j->ranks[i].sb, rs, NULL, inside_wd, j->ranks[i].log, j->ranks[i].log,
                            on_proc_exit, &j->ranks[i]);
    free(rs);
    pthread_mutex_lock(&runs_mu);
    if (proc < 0) {
      spawn_failed = 1;
      kill_ranks_locked(j);
    } else {
      j->ranks[i].proc = proc;
      if (j->cancel || j->exit_code != 0) kill_ranks_locked(j);
    }
    pthread_mutex_unlock(&runs_mu);
  }
  free(script);
  if (spawn_failed) {
    snprintf(err, sizeof err, "the job's process could not be started on its node");
    /* Wait for those started before going on. */
    pthread_mutex_lock(&runs_mu);
    for (;;) {
      int live = 0;
      for (int i = 0; i < j->nranks; i++)
        live += j->ranks[i].proc > 0 && !j->ranks[i].exited;
      if (!live) break;
      pthread_cond_wait(&runs_cv, &runs_mu);
    }
    pthread_mutex_unlock(&runs_mu);
    goto release;
  }
  /* limits.timeout, on azlite's clock (an advance can end a job too). */
  int64_t limit_s = ml_iso_duration_s(
      json_string_value(json_object_get(json_object_get(p, "limits"), "timeout")));
  int64_t deadline = limit_s > 0 ? clock_now_ms(s) + limit_s * 1000 : 0;
  int timed_out = 0;
  pthread_mutex_lock(&runs_mu);
  if (j->cancel) kill_ranks_locked(j);
  while (!j->exited) {
    if (deadline && !timed_out && clock_now_ms(s) >= deadline) {
      timed_out = 1;
      kill_ranks_locked(j);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&runs_cv, &runs_mu, &ts);
  }
  canceled = j->cancel;
  int failed_rank = j->failed_rank;
  pthread_mutex_unlock(&runs_mu);
  job_set(s, j->id, "Finalizing", NULL);
  char prefix[400], sub[1100];
  snprintf(prefix, sizeof prefix, "ExperimentRun/dcid.%s", j->name);
  snprintf(sub, sizeof sub, "%s/outputs", wd);
  char outp[500];
  snprintf(outp, sizeof outp, "%s/outputs", prefix);
  int up = upload_dir(j, sub, outp);
  snprintf(sub, sizeof sub, "%s/logs", wd);
  snprintf(outp, sizeof outp, "%s/logs", prefix);
  up += upload_dir(j, sub, outp);
  log_line(j, "azlite: uploaded %d output file(s) to the artifact store", up);
  final = canceled ? "Canceled" : j->exit_code == 0 && !timed_out ? "Completed" : "Failed";
  if (timed_out && !canceled) {
    log_line(j, "azlite: the job ran past its timeout (%llds) and was stopped", (long long)limit_s);
    json_t *e = json_pack("{s:{s:s,s:o}}", "error", "code", "UserError", "message",
                          json_sprintf("The job exceeded its timeout of %lld seconds "
                                       "(limits.timeout) and was canceled.",
                                       (long long)limit_s));
    error_json = json_dumps(e, JSON_COMPACT);
    json_decref(e);
  } else if (!canceled && j->exit_code != 0) {
    char logname[80];
    if (failed_rank)
      snprintf(logname, sizeof logname, "user_logs/std_log_process_%d.txt", failed_rank);
    else
      snprintf(logname, sizeof logname, "%s", LOG_NAME);
    char *tail = log_tail(j->ranks[failed_rank].log, 2000);
    char *msg = NULL;
    if (asprintf(&msg,
                 "Execution failed. User process '/bin/sh' exited with status code %d. Please "
                 "check log file '%s' for error details. Error: %s",
                 j->exit_code, logname, tail) < 0)
      abort();
    json_t *m = json_string(msg);
    if (!m) /* the log's tail was not UTF-8 */
      m = json_sprintf("Execution failed. User process '/bin/sh' exited with status code %d. "
                       "Please check log file '%s' for error details.",
                       j->exit_code, logname);
    json_t *e =
        json_pack("{s:{s:s,s:o,s:[{s:s,s:o}]}}", "error", "code", "UserError", "message", m,
                  "details", "code", "ExitCode", "message", json_sprintf("%d", j->exit_code));
    error_json = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    free(msg);
    free(tail);
  }
  store_run(s, "UPDATE ml_jobs SET exit_code=? WHERE id=? COLLATE NOCASE", "it",
            (int64_t)j->exit_code, j->id);
  snprintf(outp, sizeof outp, "%s/%s", prefix, LOG_NAME);
  storage_blob_put_file(s, j->account, "azureml", outp, j->log_path);
  for (int i = 1; i < j->nranks; i++) {
    snprintf(outp, sizeof outp, "%s/user_logs/std_log_process_%d.txt", prefix, i);
    storage_blob_put_file(s, j->account, "azureml", outp, j->ranks[i].log);
  }
release:
  pthread_mutex_lock(&runs_mu);
  j->sb = NULL;
  for (int i = 0; i < j->nranks; i++)
    j->ranks[i].sb = NULL;
  pthread_mutex_unlock(&runs_mu);
  for (int n = 0; n < nleased; n++)
    ml_cluster_release(s, leases[n]);
  sched_wake(s);
  if (!error_json && strcmp(final, "Completed") != 0) {
    if (!err[0]) snprintf(err, sizeof err, "%s", j->cancel ? "The job was canceled." : "failed");
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code",
                          j->cancel ? "UserError" : "ServiceError", "message", err);
    error_json = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    log_line(j, "azlite: %s", err);
  }
  job_set(s, j->id, final, error_json);
  free(error_json);
  pthread_mutex_lock(&runs_mu);
  for (job_run **pp = &runs; *pp; pp = &(*pp)->next)
    if (*pp == j) {
      *pp = j->next;
      break;
    }
  runs_active--;
  pthread_cond_broadcast(&runs_cv);
  pthread_mutex_unlock(&runs_mu);
  store_fini(s);
  run_free(j);
  return NULL;
}

/* ---- requests ------------------------------------------------------------------ */

typedef struct job_row {
  json_t *body;
  const char *status, *error, *token;
  int64_t start_ms, end_ms, created_ms;
  int has_exit;
  int exit_code;
} job_row;

static int job_load(http_req *r, const char *id, job_row *out) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT body, status, error, token, start_ms, end_ms, created_ms, exit_code"
                    " FROM ml_jobs WHERE id=? COLLATE NOCASE",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int found = 0;
  if (sqlite3_step(q) == SQLITE_ROW) {
    found = 1;
    out->body = http_json_own(r, json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL));
    out->status = http_strdup(r, (const char *)sqlite3_column_text(q, 1));
    const char *e = (const char *)sqlite3_column_text(q, 2);
    out->error = e ? http_strdup(r, e) : NULL;
    out->token = http_strdup(r, (const char *)sqlite3_column_text(q, 3));
    out->start_ms = sqlite3_column_int64(q, 4);
    out->end_ms = sqlite3_column_int64(q, 5);
    out->created_ms = sqlite3_column_int64(q, 6);
    out->has_exit = sqlite3_column_type(q, 7) != SQLITE_NULL;
    out->exit_code = sqlite3_column_int(q, 7);
  }
  store_finalize(q);
  return found && out->body ? 1 : 0;
}

/* What GET answers: the stored job with its status now, less azlite's own
 * fields. */
static json_t *job_render(http_req *r, job_row *row) {
  json_t *b = json_deep_copy(row->body);
  json_object_del(b, "azliteEnvironment");
  json_t *p = json_object_get(b, "properties");
  json_object_del(p, "azliteCommand");
  json_object_del(p, "azliteCodeUri");
  json_object_del(p, "azliteInputUris");
  json_object_set_new(p, "status", json_string(row->status));
  (void)r;
  return b;
}

static const char *job_id(http_req *r, json_t *ws) {
  return http_printf(r, "%s/jobs/%s", json_string_value(json_object_get(ws, "id")),
                     http_param(r, "name"));
}

static void fail_job_not_found(http_req *r, const char *name) {
  http_fail(r, ML_ERR_NOT_FOUND, "Job %s is not found in the workspace.", name);
}

void ml_job_get(http_req *r) {
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  if (!ws) return;
  job_row row;
  if (job_load(r, job_id(r, ws), &row) != 1) {
    fail_job_not_found(r, http_param(r, "name"));
    return;
  }
  http_reply_json(r, 200, job_render(r, &row));
}

void ml_job_list(http_req *r) {
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  if (!ws) return;
  json_t *list = json_array();
  sqlite3_stmt *q;
  char **ids = NULL;
  int n = 0;
  if (store_prepare(store_db(r->srv),
                    "SELECT id FROM ml_jobs WHERE ws_id=? COLLATE NOCASE ORDER BY created_ms DESC",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, json_string_value(json_object_get(ws, "id")), -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
      ids = realloc(ids, sizeof *ids * (size_t)(n + 1));
      if (!ids) abort();
      ids[n++] = http_strdup(r, (const char *)sqlite3_column_text(q, 0));
    }
    store_finalize(q);
  }
  for (int i = 0; i < n; i++) {
    job_row row;
    if (job_load(r, ids[i], &row) == 1) json_array_append_new(list, job_render(r, &row));
  }
  free(ids);
  arm_reply_list(r, list);
}

/* ${{inputs.x}} and ${{outputs.y}} in the command: literal values, or the
 * paths in the node; an unknown name fails r. */
static char *command_resolve(http_req *r, const char *cmd, json_t *inputs, json_t *uris,
                             json_t *outputs, const char *jobdir_inside) {
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  for (const char *p = cmd; *p;) {
    const char *open = strstr(p, "${{");
    if (!open) {
      fputs(p, f);
      break;
    }
    fwrite(p, 1, (size_t)(open - p), f);
    const char *close = strstr(open, "}}");
    if (!close) {
      fputs(open, f);
      break;
    }
    char ref[256];
    snprintf(ref, sizeof ref, "%.*s", (int)(close - open - 3), open + 3);
    char *a = ref;
    while (*a == ' ')
      a++;
    char *e = a + strlen(a);
    while (e > a && e[-1] == ' ')
      *--e = 0;
    int is_in = !strncmp(a, "inputs.", 7), is_out = !strncmp(a, "outputs.", 8);
    const char *name = is_in ? a + 7 : is_out ? a + 8 : NULL;
    json_t *def = name ? json_object_get(is_in ? inputs : outputs, name) : NULL;
    if (!def) {
      fclose(f);
      free(out);
      http_fail(r, ML_ERR_USER_ERROR,
                "The command references ${{%s}}, which is not among the job's %s.", a,
                is_out ? "outputs" : "inputs");
      return NULL;
    }
    const char *t =
        json_string_value(json_object_get(def, is_in ? "jobInputType" : "jobOutputType"));
    if (is_in && t && !strcasecmp(t, "literal")) {
      fputs(json_string_value(json_object_get(def, "value")) ?: "", f);
    } else if (is_in && t && !strcasecmp(t, "uri_file")) {
      const char *uri = json_string_value(json_object_get(uris, name)) ?: "";
      const char *base = strrchr(uri, '/');
      fprintf(f, "%s/inputs/%s/%s", jobdir_inside, name, base ? base + 1 : uri);
    } else if (is_in) {
      fprintf(f, "%s/inputs/%s", jobdir_inside, name);
    } else {
      fprintf(f, "%s/exe/wd/outputs/%s", jobdir_inside, name);
    }
    p = close + 2;
  }
  fclose(f);
  return out;
}

/* Azure's rule for job and experiment names. */
static int job_name_valid(const char *n) {
  size_t len = strlen(n);
  if (!len || len > 255 || !isalnum((unsigned char)n[0])) return 0;
  for (const char *p = n; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

/* Saves a new job b (its id, name and properties set): the services it
 * names, its systemData, its row (NotStarted, log key token) and its MLflow
 * run (whose key goes into mlflow_key), in one transaction.  0, or -1 with r
 * failed. */
int ml_job_insert(http_req *r, json_t *ws, json_t *b, const char *token, char mlflow_key[80]) {
  srv *s = r->srv;
  const char *ws_id = json_string_value(json_object_get(ws, "id"));
  const char *id = json_string_value(json_object_get(b, "id"));
  const char *name = json_string_value(json_object_get(b, "name"));
  json_t *bp = json_object_get(b, "properties");
  const char *wsuuid =
      json_string_value(json_object_get(json_object_get(ws, "properties"), "workspaceId"));
  json_object_set_new(
      bp, "services",
      json_pack(
          "{s:{s:s,s:s},s:{s:s,s:s}}", "Studio", "jobServiceType", "Studio", "endpoint",
          http_printf(r, "https://ml.azure.com/runs/%s?wsid=%s&tid=%s", name, ws_id, s->tenant_id),
          "Tracking", "jobServiceType", "Tracking", "endpoint",
          http_printf(
              r, "azureml://%s/mlflow/v1.0%s?workspaceId=%s",
              ml_api_host(r, json_string_value(json_object_get(ws, "location")) ?: "eastus"), ws_id,
              wsuuid ? wsuuid : "")));
  int64_t now = clock_now_ms(s);
  json_object_set_new(b, "systemData", ml_system_data(r, now, now));
  char *txt = json_dumps(b, JSON_COMPACT);
  const principal *caller = (const principal *)r->caller;
  int rc = store_begin(s);
  if (!rc)
    rc = ml_mlflow_job_run(s, ws_id, name, json_string_value(json_object_get(bp, "experimentName")),
                           json_string_value(json_object_get(bp, "displayName")), id,
                           caller ? caller->oid : NULL, now, mlflow_key);
  if (!rc)
    rc = store_run(s,
                   "INSERT INTO ml_jobs(id,ws_id,name,body,status,token,created_ms)"
                   " VALUES(?,?,?,?,'NotStarted',?,?)",
                   "ttttti", id, ws_id, name, txt, token, now);
  free(txt);
  if (rc != 0 || store_commit(s) != 0) {
    store_rollback(s);
    http_fail(r, ML_ERR_INTERNAL, "The job could not be saved.");
    return -1;
  }
  return 0;
}

void ml_job_put(http_req *r) {
  srv *s = r->srv;
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  if (!ws) return;
  const char *ws_id = json_string_value(json_object_get(ws, "id"));
  const char *name = http_param(r, "name");
  const char *id = job_id(r, ws);
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *ip = json_object_get(in, "properties");
  const char *jt = json_string_value(json_object_get(ip, "jobType"));
  if (!json_is_object(ip) || !jt) {
    http_fail(r, ML_ERR_USER_ERROR, "properties.jobType is required.");
    return;
  }
  job_row cur;
  if (job_load(r, id, &cur) == 1) {
    /* Azure lets a submitted job change only its description, tags and
     * display name. */
    json_t *b = json_deep_copy(cur.body);
    json_t *bp = json_object_get(b, "properties");
    const char *keep[] = {"description", "tags", "displayName", NULL};
    for (const char **k = keep; *k; k++)
      if (json_object_get(ip, *k)) json_object_set(bp, *k, json_object_get(ip, *k));
    char *txt = json_dumps(b, JSON_COMPACT);
    store_run(s, "UPDATE ml_jobs SET body=? WHERE id=? COLLATE NOCASE", "tt", txt, id);
    free(txt);
    cur.body = http_json_own(r, b);
    http_reply_json(r, 200, job_render(r, &cur));
    return;
  }
  int sweep = !strcasecmp(jt, "Sweep");
  if (strcasecmp(jt, "Command") != 0 && !sweep) {
    http_fail(r, ML_ERR_USER_ERROR,
              "azlite does not implement %s jobs yet (Command and Sweep jobs run).", jt);
    return;
  }
  if (!job_name_valid(name)) {
    http_fail(r, ML_ERR_USER_ERROR,
              "Job name %s is invalid: it must start with a letter or digit and hold only "
              "letters, digits, '-' and '_' (at most 255).",
              name);
    return;
  }
  const char *exp_name = json_string_value(json_object_get(ip, "experimentName"));
  if (exp_name && !job_name_valid(exp_name)) {
    http_fail(r, ML_ERR_USER_ERROR,
              "Experiment name %s is invalid: it must start with a letter or digit and hold "
              "only letters, digits, '-' and '_'.",
              exp_name);
    return;
  }
  if (sweep) {
    ml_sweep_put(r, ws, id, name, in);
    return;
  }
  const char *const sections[] = {"inputs", "outputs"};
  for (int i = 0; i < 2; i++) {
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(ip, sections[i]), key, val) {
      int ok = *key && (isalpha((unsigned char)*key) || *key == '_');
      for (const char *c = key; *c && ok; c++)
        ok = isalnum((unsigned char)*c) || *c == '_';
      if (!ok) {
        http_fail(r, ML_ERR_USER_ERROR,
                  "%s name %s is invalid: it must be an identifier (letters, digits and '_').",
                  i ? "Output" : "Input", key);
        return;
      }
    }
  }
  /* Distribution: instance_count nodes, process_count_per_instance ranks on each. */
  json_t *res = json_object_get(ip, "resources");
  json_t *ic = json_object_get(res, "instanceCount");
  json_int_t instances = ic ? json_integer_value(ic) : 1;
  if (ic && (!json_is_integer(ic) || instances < 1 || instances > 64)) {
    http_fail(r, ML_ERR_VALIDATION,
              "resources.instance_count must be an integer between 1 and 64 (asked: %lld).",
              (long long)instances);
    return;
  }
  json_t *dist = json_object_get(ip, "distribution");
  json_int_t per_node = 1;
  if (dist && !json_is_null(dist)) {
    const char *dt = json_string_value(json_object_get(dist, "distributionType"));
    if (!json_is_object(dist) || !dt ||
        (strcasecmp(dt, "PyTorch") && strcasecmp(dt, "Mpi") && strcasecmp(dt, "TensorFlow"))) {
      http_fail(r, ML_ERR_VALIDATION,
                "distribution.type must be pytorch, mpi or tensorflow (asked: %s).",
                dt ? dt : "none");
      return;
    }
    json_t *pc = json_object_get(dist, !strcasecmp(dt, "TensorFlow") ? "workerCount"
                                                                     : "processCountPerInstance");
    if (pc && !json_is_null(pc)) {
      per_node = json_integer_value(pc);
      if (!strcasecmp(dt, "TensorFlow") && per_node >= instances)
        per_node = per_node / instances; /* workers spread over the nodes */
      if (!json_is_integer(pc) || per_node < 1 || per_node * instances > 64) {
        http_fail(r, ML_ERR_VALIDATION,
                  "distribution's process count per instance must be at least 1, with at most "
                  "64 processes in all (asked: %lld on %lld instances).",
                  (long long)per_node, (long long)instances);
        return;
      }
    }
    if (!strcasecmp(dt, "TensorFlow") &&
        json_integer_value(json_object_get(dist, "parameterServerCount")) > 0) {
      http_fail(r, ML_ERR_VALIDATION,
                "azlite does not implement TensorFlow parameter servers "
                "(parameter_server_count): use workers only.");
      return;
    }
  }
  const char *cmd = json_string_value(json_object_get(ip, "command"));
  if (!cmd || !*cmd) {
    http_fail(r, ML_ERR_USER_ERROR, "A command job needs a command.");
    return;
  }
  /* The compute: a cluster of this workspace. */
  const char *compute = json_string_value(json_object_get(ip, "computeId"));
  const char *cname = compute ? strrchr(compute, '/') : NULL;
  cname = cname ? cname + 1 : compute;
  if (!cname || !*cname) {
    http_fail(r, ML_ERR_USER_ERROR,
              "The job names no compute; azlite runs jobs on compute clusters (serverless "
              "compute is not implemented).");
    return;
  }
  const char *compute_id = http_printf(r, "%s/computes/%s", ws_id, cname);
  sqlite3_stmt *q;
  int cexists = 0;
  int64_t max_nodes = 0;
  if (store_prepare(
          store_db(s),
          "SELECT id, json_extract(body,'$.properties.provisioningState'),"
          " coalesce(json_extract(body,'$.properties.properties.scaleSettings.maxNodeCount'),"
          "  json_extract(body,'$.properties.computeType') = 'ComputeInstance')"
          " FROM ml_computes WHERE id=? COLLATE NOCASE",
          -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, compute_id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
      cexists = 1;
      compute_id = http_strdup(r, (const char *)sqlite3_column_text(q, 0));
      max_nodes = sqlite3_column_int64(q, 2);
    }
    store_finalize(q);
  }
  if (!cexists) {
    http_fail(r, ML_ERR_USER_ERROR, "Compute %s is not found in workspace %s.", cname,
              json_string_value(json_object_get(ws, "name")));
    return;
  }
  if (instances > max_nodes) {
    http_fail(r, ML_ERR_VALIDATION,
              "The job asks for %lld instances, more than compute %s's maximum node count "
              "(%lld).",
              (long long)instances, cname, (long long)max_nodes);
    return;
  }
  const char *env_ref = json_string_value(json_object_get(ip, "environmentId"));
  json_t *env =
      env_ref ? http_json_own(r, ml_asset_resolve(s, ws_id, "environments", env_ref)) : NULL;
  if (!env) {
    http_fail(r, ML_ERR_USER_ERROR, "Environment %s is not found in the workspace.",
              env_ref ? env_ref : "(none named)");
    return;
  }
  const char *code_ref = json_string_value(json_object_get(ip, "codeId"));
  const char *code_uri = NULL;
  if (code_ref) {
    json_t *code = http_json_own(r, ml_asset_resolve(s, ws_id, "codes", code_ref));
    if (!code) {
      http_fail(r, ML_ERR_USER_ERROR, "Code %s is not found in the workspace.", code_ref);
      return;
    }
    code_uri = json_string_value(json_object_get(json_object_get(code, "properties"), "codeUri"));
  }
  json_t *inputs = json_object_get(ip, "inputs");
  const char *iname;
  json_t *iv;
  json_object_foreach(inputs, iname, iv) {
    const char *t = json_string_value(json_object_get(iv, "jobInputType"));
    if (!t ||
        (strcasecmp(t, "literal") && strcasecmp(t, "uri_file") && strcasecmp(t, "uri_folder") &&
         strcasecmp(t, "mlflow_model") && strcasecmp(t, "custom_model"))) {
      http_fail(r, ML_ERR_USER_ERROR,
                "Input %s of type %s is not supported by azlite (literal, uri_file, "
                "uri_folder, mlflow_model and custom_model are).",
                iname, t ? t : "(none)");
      return;
    }
  }
  /* Where each file or folder input is: a data asset (its ARM id or
   * azureml:name:version) stands for its dataUri. */
  json_t *uris = http_json_own(r, json_object());
  json_object_foreach(inputs, iname, iv) {
    const char *t = json_string_value(json_object_get(iv, "jobInputType"));
    if (!strcasecmp(t, "literal")) continue;
    const char *uri = json_string_value(json_object_get(iv, "uri"));
    if (!uri || !*uri) {
      http_fail(r, ML_ERR_USER_ERROR, "Input %s has no uri.", iname);
      return;
    }
    int is_model = !strcasecmp(t, "mlflow_model") || !strcasecmp(t, "custom_model");
    if (is_model && ((!strncasecmp(uri, "azureml:", 8) && strncmp(uri + 8, "//", 2) != 0) ||
                     (strstr(uri, "/models/") && strstr(uri, "/versions/") && uri[0] == '/'))) {
      /* A model input: the model version's files, as a folder. */
      json_t *m = http_json_own(r, ml_asset_resolve(s, ws_id, "models", uri));
      const char *mu =
          m ? json_string_value(json_object_get(json_object_get(m, "properties"), "modelUri"))
            : NULL;
      if (!mu) {
        http_fail(r, ML_ERR_USER_ERROR, "Model %s of input %s is not found in the workspace.", uri,
                  iname);
        return;
      }
      uri = mu;
    } else if ((!strncasecmp(uri, "azureml:", 8) && strncmp(uri + 8, "//", 2) != 0) ||
               (strstr(uri, "/data/") && strstr(uri, "/versions/") && uri[0] == '/')) {
      json_t *d = http_json_own(r, ml_asset_resolve(s, ws_id, "data", uri));
      const char *du =
          d ? json_string_value(json_object_get(json_object_get(d, "properties"), "dataUri"))
            : NULL;
      if (!du) {
        http_fail(r, ML_ERR_USER_ERROR, "Data %s of input %s is not found in the workspace.", uri,
                  iname);
        return;
      }
      uri = du;
    }
    json_object_set_new(uris, iname, json_string(uri));
  }
  char token[37];
  uuid_v4(token);
  char inside[200];
  snprintf(inside, sizeof inside, "/mnt/azureml/cr/j/%s", token);
  char *resolved = command_resolve(r, cmd, inputs, uris, json_object_get(ip, "outputs"), inside);
  if (!resolved) return;
  json_t *b =
      json_pack("{s:s,s:s,s:s,s:O}", "id", id, "name", name, "type", JOB_TYPE, "properties", ip);
  http_json_own(r, b);
  json_t *bp = json_object_get(b, "properties");
  json_object_set_new(bp, "computeId", json_string(compute_id));
  if (!json_string_value(json_object_get(bp, "experimentName")))
    json_object_set_new(bp, "experimentName", json_string("Default"));
  if (!json_string_value(json_object_get(bp, "displayName")))
    json_object_set_new(bp, "displayName", json_string(name));
  json_object_set_new(bp, "azliteCommand", json_string(resolved));
  free(resolved);
  if (code_uri) json_object_set_new(bp, "azliteCodeUri", json_string(code_uri));
  json_object_set(bp, "azliteInputUris", uris);
  json_object_set(b, "azliteEnvironment", env);
  char mlflow_key[80];
  if (ml_job_insert(r, ws, b, token, mlflow_key) != 0) return;
  job_run *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->s = s;
  snprintf(j->id, sizeof j->id, "%s", id);
  snprintf(j->name, sizeof j->name, "%s", name);
  snprintf(j->ws_id, sizeof j->ws_id, "%s", ws_id);
  snprintf(j->ws_name, sizeof j->ws_name, "%s", json_string_value(json_object_get(ws, "name")));
  snprintf(j->rg, sizeof j->rg, "%s", http_param(r, "rg"));
  snprintf(j->compute_id, sizeof j->compute_id, "%s", compute_id);
  snprintf(j->account, sizeof j->account, "%s", ml_workspace_account(ws) ?: "");
  snprintf(j->token, sizeof j->token, "%s", token);
  snprintf(j->mlflow_key, sizeof j->mlflow_key, "%s", mlflow_key);
  char *dir = srv_path(s, "ml/jobs");
  char ldir[600];
  snprintf(ldir, sizeof ldir, "%.500s/%s/user_logs", dir, token);
  free(dir);
  ml_mkdir_p(ldir);
  snprintf(j->log_path, sizeof j->log_path, "%s/std_log.txt", ldir);
  FILE *lf = fopen(j->log_path, "w");
  if (lf) fclose(lf);
  j->job = json_incref(b);
  pthread_mutex_lock(&runs_mu);
  j->next = runs;
  runs = j;
  runs_active++;
  pthread_mutex_unlock(&runs_mu);
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, job_thread, j) != 0) abort();
  pthread_attr_destroy(&a);
  job_row row;
  if (job_load(r, id, &row) != 1) {
    http_fail(r, ML_ERR_INTERNAL, "The job could not be read back.");
    return;
  }
  /* What was submitted, NotStarted: the thread moves it on from here. */
  row.status = "NotStarted";
  http_reply_json(r, 201, job_render(r, &row));
}

/* Sets the cancel flag of a running job and kills its process; 1 when it was
 * running here. */
static int job_cancel_running(const char *id) {
  int found = 0;
  pthread_mutex_lock(&runs_mu);
  for (job_run *j = runs; j; j = j->next)
    if (!strcasecmp(j->id, id)) {
      found = 1;
      j->cancel = 1;
      kill_ranks_locked(j);
    }
  pthread_cond_broadcast(&runs_cv);
  pthread_mutex_unlock(&runs_mu);
  return found;
}

void ml_job_cancel_id(const char *id) {
  job_cancel_running(id);
}

typedef struct cancel_ctx {
  char id[600];
} cancel_ctx;

static int cancel_op(srv *s, void *arg, char *code, size_t cn, char *msg, size_t mn) {
  (void)s;
  (void)code;
  (void)cn;
  (void)msg;
  (void)mn;
  cancel_ctx *c = arg;
  pthread_mutex_lock(&runs_mu);
  for (;;) {
    int running = 0;
    for (job_run *j = runs; j; j = j->next)
      running |= !strcasecmp(j->id, c->id);
    if (!running) break;
    pthread_cond_wait(&runs_cv, &runs_mu);
  }
  pthread_mutex_unlock(&runs_mu);
  return 0;
}

static int sweep_cancel_op(srv *s, void *arg, char *code, size_t cn, char *msg, size_t mn) {
  (void)s;
  (void)code;
  (void)cn;
  (void)msg;
  (void)mn;
  ml_sweep_wait(((cancel_ctx *)arg)->id);
  return 0;
}

void ml_job_cancel(http_req *r) {
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  if (!ws) return;
  const char *id = job_id(r, ws);
  job_row row;
  if (job_load(r, id, &row) != 1) {
    fail_job_not_found(r, http_param(r, "name"));
    return;
  }
  if (terminal(row.status)) {
    http_fail(r, ML_ERR_USER_ERROR, "Job %s is %s and cannot be canceled.", http_param(r, "name"),
              row.status);
    return;
  }
  if (ml_sweep_cancel(id)) {
    /* A sweep cancels its trials and ends Canceled itself. */
    store_run(r->srv, "UPDATE ml_jobs SET status='CancelRequested' WHERE id=? COLLATE NOCASE", "t",
              id);
    cancel_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    snprintf(c->id, sizeof c->id, "%s", id);
    arm_lro_start(r, 202, NULL, sweep_cancel_op, c, free);
    return;
  }
  if (!job_cancel_running(id))
    job_set(r->srv, id, "Canceled", NULL);
  else
    store_run(r->srv,
              "UPDATE ml_jobs SET status='CancelRequested' WHERE id=? COLLATE NOCASE"
              " AND status NOT IN ('Completed','Failed','Canceled')",
              "t", id);
  cancel_ctx *c = calloc(1, sizeof *c);
  if (!c) abort();
  snprintf(c->id, sizeof c->id, "%s", id);
  arm_lro_start(r, 202, NULL, cancel_op, c, free);
}

void ml_job_delete(http_req *r) {
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  if (!ws) return;
  const char *id = job_id(r, ws);
  job_row row;
  if (job_load(r, id, &row) != 1) {
    http_reply_empty(r, 204);
    return;
  }
  if (!terminal(row.status)) {
    http_fail(r, ML_ERR_CONFLICT, "Job %s is %s; cancel it first.", http_param(r, "name"),
              row.status);
    return;
  }
  if (store_begin(r->srv) ||
      ml_mlflow_job_removed(r->srv, json_string_value(json_object_get(ws, "id")),
                            http_param(r, "name")) ||
      store_run(r->srv, "DELETE FROM ml_jobs WHERE id=? COLLATE NOCASE", "t", id) ||
      store_commit(r->srv)) {
    store_rollback(r->srv);
    http_fail(r, ML_ERR_INTERNAL, "The job could not be deleted.");
    return;
  }
  http_reply_empty(r, 200);
}

int ml_jobs_remove(srv *s, const char *ws_id) {
  return store_run(s, "DELETE FROM ml_jobs WHERE ws_id=? COLLATE NOCASE", "t", ws_id);
}

int ml_jobs_init(srv *s) {
  if (!s->serving) return 0;
  return store_run(s,
                   "UPDATE ml_jobs SET status='Failed', error=? WHERE status NOT IN"
                   " ('Completed','Failed','Canceled')",
                   "t",
                   "{\"error\":{\"code\":\"ServiceError\",\"message\":\"azlite stopped while the "
                   "job ran; submit it again.\"}}");
}

static void count_one(void *cls, const char *name, int64_t size) {
  (void)name;
  (void)size;
  ++*(int *)cls;
}

int ml_job_output_check(http_req *r, json_t *ws, const char *job, const char *path) {
  job_row row;
  const char *id = http_printf(r, "%s/jobs/%s", json_string_value(json_object_get(ws, "id")), job);
  if (job_load(r, id, &row) != 1) {
    fail_job_not_found(r, job);
    return -1;
  }
  if (strcmp(row.status, "Completed") != 0) {
    http_fail(r, ML_ERR_USER_ERROR,
              "Job %s is %s: only a completed job's outputs can be registered.", job, row.status);
    return -1;
  }
  const char *acct = ml_workspace_account(ws);
  char *name = http_printf(r, "ExperimentRun/dcid.%s/%s", job, path);
  int count = 0;
  if (acct) storage_blob_list(r->srv, acct, "azureml", name, count_one, &count);
  if (count <= 0) {
    http_fail(r, ML_ERR_USER_ERROR, "Job %s has no output at %s.", job, path);
    return -1;
  }
  return 0;
}

typedef struct copy_ctx {
  http_req *r;
  const char *account, *src_prefix, *dest_container, *dest;
  int n, failed;
} copy_ctx;

static void copy_one(void *cls, const char *name, int64_t size) {
  (void)size;
  copy_ctx *c = cls;
  const char *rel = name + strlen(c->src_prefix);
  char *dest = *rel ? http_printf(c->r, "%s%s", c->dest, rel) : http_strdup(c->r, c->dest);
  char *tmp = srv_path(c->r->srv, "tmp/ml-copy-XXXXXX");
  int fd = mkstemp(tmp);
  if (fd < 0 || (close(fd), 0) ||
      storage_blob_to_file(c->r->srv, c->account, "azureml", name, tmp) != 0 ||
      storage_blob_put_file(c->r->srv, c->account, c->dest_container, dest, tmp) != 0)
    c->failed++;
  else
    c->n++;
  unlink(tmp);
  free(tmp);
}

int ml_job_output_copy(http_req *r, json_t *ws, const char *job, const char *path,
                       const char *dest) {
  const char *acct = ml_workspace_account(ws);
  const char *wsid =
      json_string_value(json_object_get(json_object_get(ws, "properties"), "workspaceId"));
  copy_ctx c = {r,
                acct,
                http_printf(r, "ExperimentRun/dcid.%s/%s", job, path),
                http_printf(r, "azureml-blobstore-%s", wsid),
                dest,
                0,
                0};
  if (!acct || !wsid ||
      storage_blob_list(r->srv, acct, "azureml", c.src_prefix, copy_one, &c) < 0 || c.failed ||
      !c.n) {
    http_fail(r, ML_ERR_INTERNAL, "The output %s of job %s could not be copied to the model.", path,
              job);
    return -1;
  }
  return 0;
}

/* ---- run history ----------------------------------------------------------------- */

/* The caller of a run-history request: a management token with read access
 * to the workspace.  Fails r (401/403) and returns -1. */
static int history_auth(http_req *r, json_t **ws_out) {
  principal p;
  const char *why = NULL;
  char msg[256];
  const char *authz = http_header_get(r, "Authorization");
  if (!authz || identity_verify_bearer(r->srv, authz, AUD_MGMT, &p, &why, msg, sizeof msg) != 0) {
    http_fail(r, ML_ERR_UNAUTHORIZED, "%s", authz ? msg : "A bearer token is required.");
    return -1;
  }
  const char *ws_id =
      http_printf(r, "/subscriptions/%s/resourceGroups/%s/providers/" ML_WS_TYPE "/%s",
                  http_param(r, "sub"), http_param(r, "rg"), http_param(r, "ws"));
  if (authz_check(r->srv, &p, "Microsoft.MachineLearningServices/workspaces/experiments/runs/read",
                  ws_id, 0) != 0) {
    http_fail(r, ML_ERR_FORBIDDEN,
              "The client '%s' does not have authorization to read runs at scope '%s'.", p.oid,
              ws_id);
    return -1;
  }
  json_t *ws = arm_resource_get(r->srv, ws_id);
  if (!ws) {
    http_fail(r, ML_ERR_NOT_FOUND, "Workspace %s is not found.", http_param(r, "ws"));
    return -1;
  }
  *ws_out = http_json_own(r, ws);
  return 0;
}

static json_t *run_details(http_req *r, json_t *ws, const char *run_id, job_row *row) {
  char st[40] = "", en[40] = "";
  if (row->start_ms) clock_iso8601(row->start_ms, st);
  if (row->end_ms) clock_iso8601(row->end_ms, en);
  json_t *p = json_object_get(row->body, "properties");
  const char *compute = json_string_value(json_object_get(p, "computeId"));
  json_t *d =
      json_pack("{s:s,s:s,s:s,s:o,s:o,s:[],s:o,s:o,s:s}", "runId", run_id, "runUuid", row->token,
                "status", row->status, "startTimeUtc", st[0] ? json_string(st) : json_null(),
                "endTimeUtc", en[0] ? json_string(en) : json_null(), "warnings", "tags",
                json_is_object(json_object_get(p, "tags")) ? json_incref(json_object_get(p, "tags"))
                                                           : json_object(),
                "properties",
                json_is_object(json_object_get(p, "properties"))
                    ? json_incref(json_object_get(p, "properties"))
                    : json_object(),
                "target", compute ? strrchr(compute, '/') + 1 : "");
  json_t *logs =
      json_pack("{s:s}", LOG_NAME,
                http_printf(r, "%s/azlite/ml/logs/%s/%s", http_mgmt_base(r), row->token, LOG_NAME));
  /* A distributed job's other ranks: user_logs/std_log_process_<rank>.txt. */
  char *jd = srv_path(r->srv, "ml/jobs");
  char *ld = http_printf(r, "%s/%s/user_logs", jd, row->token);
  free(jd);
  DIR *dh = opendir(ld);
  struct dirent *de;
  while (dh && (de = readdir(dh))) {
    int rank, used = 0;
    if (sscanf(de->d_name, "std_log_process_%d.txt%n", &rank, &used) != 1 ||
        used != (int)strlen(de->d_name) || rank < 1)
      continue;
    const char *name = http_printf(r, "user_logs/%s", de->d_name);
    json_object_set_new(logs, name,
                        json_string(http_printf(r, "%s/azlite/ml/logs/%s/%s", http_mgmt_base(r),
                                                row->token, name)));
  }
  if (dh) closedir(dh);
  json_object_set_new(d, "logFiles", logs);
  if (row->error) {
    json_t *e = json_loads(row->error, 0, NULL);
    if (e) json_object_set_new(d, "error", e);
  }
  (void)ws;
  return d;
}

void ml_history_run_details(http_req *r) {
  json_t *ws;
  if (history_auth(r, &ws) != 0) return;
  const char *run = http_param(r, "run");
  job_row row;
  if (job_load(r, http_printf(r, "%s/jobs/%s", json_string_value(json_object_get(ws, "id")), run),
               &row) != 1) {
    http_fail(r, ML_ERR_NOT_FOUND, "Run %s is not found.", run);
    return;
  }
  http_reply_json(r, 200, run_details(r, ws, run, &row));
}

/* GET .../runs/{run}/children: a sweep's trials (the jobs that name it
 * their azureml.parentRunId), as run history lists them. */
void ml_history_run_children(http_req *r) {
  json_t *ws;
  if (history_auth(r, &ws) != 0) return;
  const char *ws_id = json_string_value(json_object_get(ws, "id"));
  const char *run = http_param(r, "run");
  job_row parent;
  if (job_load(r, http_printf(r, "%s/jobs/%s", ws_id, run), &parent) != 1) {
    http_fail(r, ML_ERR_NOT_FOUND, "Run %s is not found.", run);
    return;
  }
  json_t *list = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT id, name FROM ml_jobs WHERE ws_id=? COLLATE NOCASE AND"
                    " json_extract(body, '$.properties.properties.\"azureml.parentRunId\"') = ?"
                    " ORDER BY created_ms, name",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, run, -1, SQLITE_STATIC);
    json_t *ids = http_json_own(r, json_array());
    while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(ids, json_pack("[s,s]", (const char *)sqlite3_column_text(q, 0),
                                           (const char *)sqlite3_column_text(q, 1)));
    store_finalize(q);
    size_t i;
    json_t *e;
    json_array_foreach(ids, i, e) {
      job_row row;
      const char *name = json_string_value(json_array_get(e, 1));
      if (job_load(r, json_string_value(json_array_get(e, 0)), &row) != 1) continue;
      json_t *d = run_details(r, ws, name, &row);
      json_t *p = json_object_get(row.body, "properties");
      char cr[40];
      clock_iso8601(row.created_ms, cr);
      json_object_set_new(
          d, "displayName",
          json_string(json_string_value(json_object_get(p, "displayName")) ?: name));
      json_object_set_new(
          d, "experimentId",
          json_string(json_string_value(json_object_get(p, "experimentName")) ?: ""));
      json_object_set_new(d, "createdUtc", json_string(cr));
      json_object_set_new(d, "parentRunId", json_string(run));
      json_object_set_new(d, "compute", json_pack("{s:O}", "target", json_object_get(d, "target")));
      json_array_append_new(list, d);
    }
  }
  http_reply_json(r, 200,
                  json_pack("{s:o,s:n,s:n}", "value", list, "continuationToken", "nextLink"));
}

void ml_history_run(http_req *r) {
  ml_history_run_details(r);
}

/* POST .../rundata {"runId": ...}: the run's metadata; outputs registered as
 * assets are none (the default artifacts are found by their path). */
void ml_history_rundata(http_req *r) {
  json_t *ws;
  if (history_auth(r, &ws) != 0) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  const char *run = json_string_value(json_object_get(in, "runId"));
  job_row row;
  if (!run ||
      job_load(r, http_printf(r, "%s/jobs/%s", json_string_value(json_object_get(ws, "id")), run),
               &row) != 1) {
    http_fail(r, ML_ERR_NOT_FOUND, "Run %s is not found.", run ? run : "");
    return;
  }
  json_t *meta = run_details(r, ws, run, &row);
  json_object_set_new(meta, "outputs", json_object());
  http_reply_json(r, 200, json_pack("{s:o}", "runMetadata", meta));
}

/* GET /azlite/ml/logs/{token}/user_logs/std_log.txt: the log as it is now.
 * The token (the run's uuid, only in run details) is the capability, as the
 * SAS of Azure's log URLs is. */
void ml_job_log(http_req *r) {
  const char *token = http_param(r, "token");
  const char *rest = http_param(r, "*");
  int rank = 0, used = 0;
  if (rest && strcmp(rest, LOG_NAME) != 0 &&
      (sscanf(rest, "user_logs/std_log_process_%d.txt%n", &rank, &used) != 1 ||
       used != (int)strlen(rest) || rank < 1 || rank > 63))
    rest = NULL;
  if (!token || strlen(token) != 36 || strchr(token, '/') || strchr(token, '.') || !rest) {
    http_fail(r, ML_ERR_NOT_FOUND, "No such log.");
    return;
  }
  sqlite3_stmt *q;
  int found = 0;
  if (store_prepare(store_db(r->srv), "SELECT 1 FROM ml_jobs WHERE token=?", -1, &q, NULL) ==
      SQLITE_OK) {
    sqlite3_bind_text(q, 1, token, -1, SQLITE_STATIC);
    found = sqlite3_step(q) == SQLITE_ROW;
    store_finalize(q);
  }
  char *dir = srv_path(r->srv, "ml/jobs");
  char *path = http_printf(r, "%s/%s/%s", dir, token, rest);
  free(dir);
  FILE *f = found ? fopen(path, "rb") : NULL;
  if (!f) {
    http_fail(r, ML_ERR_NOT_FOUND, "No such log.");
    return;
  }
  char *data = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&data, &len);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    fwrite(buf, 1, n, m);
  fclose(f);
  fclose(m);
  http_reply_owned(r, 200, "text/plain; charset=utf-8", data, len);
}

void ml_jobs_fini(srv *s) {
  (void)s;
  pthread_mutex_lock(&runs_mu);
  for (job_run *j = runs; j; j = j->next) {
    j->cancel = 1;
    kill_ranks_locked(j);
  }
  pthread_cond_broadcast(&runs_cv);
  while (runs_active > 0)
    pthread_cond_wait(&runs_cv, &runs_mu);
  pthread_mutex_unlock(&runs_mu);
}
