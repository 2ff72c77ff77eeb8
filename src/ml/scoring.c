/* scoring.c: what runs behind a managed online endpoint.  A deployment's
 * instances are sandboxes (runtime.h), each running azlite's small Python
 * inference server (below: the Azure ML inference server contract:
 * AZUREML_MODEL_DIR names the model version's files, init() runs once,
 * run(raw_data) per request, its return value answered as JSON) on port
 * 5001 inside, which a host loopback port forwards to.  In front, ml_score
 * (azlite's own C code) authenticates the endpoint's key, picks the
 * deployment by traffic weight or the azureml-model-deployment header, holds
 * max_concurrent_requests_per_instance per instance (waiting max_queue_wait,
 * then 429), forwards the request to an instance and answers what it said
 * (408 when request_timeout passes).
 *
 * The running deployments live in memory only (deps, under deps_mu); their
 * rows are endpoints.c's.  An instance's stdout and stderr go to one log per
 * deployment on the host, which getLogs tails. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../identity/identity.h"
#include "../runtime/runtime.h"
#include "../storage/storage.h"
#include "internal.h"

/* The inference server's socket, in the instance's /mnt/azureml-app (a bind
 * of its disk's own/mnt/azureml-app, where the front connects). */
#define INSIDE_SOCKET ".azlite-score.sock"
#define SCORE_MAX_BODY (1536u * 1024)
#define SCORE_MAX_REPLY (64u * 1024 * 1024)
#define ML_MAX_WORKERS 64

/* The inference server azlite ships, written into every instance: WORKER_COUNT
 * worker processes (fork), each loading the script and running init(); the
 * port listens once every init() has returned, and the server ends (with its
 * code) when any worker does.
 *
 * The front speaks to it over connections it keeps open, one per worker, to
 * a Unix socket on the instance's disk (no network, no relay), each served by one
 * worker, which runs one run() at a time.  A connection opens with the
 * instance's secret and a newline, answered by the worker count and a
 * newline; then each request is a kind ('S' score, 'H' health) and a 32-bit
 * big-endian length followed by the body, and each answer is the status
 * (16 bits), whether run() raised (8), the content type's length (16) and the
 * body's (32), then both.  No HTTP parsing in Python, no thread per request:
 * this is what lets the trivial run() go at twice gunicorn's rate. */
static const char ml_inference_server[] =
    "import importlib.util, json, os, select, socket, struct, sys, traceback\n"
    "script, path = sys.argv[1], sys.argv[2]\n"
    "with open(sys.argv[3]) as f:\n"
    "    secret = f.read().strip().encode()\n"
    "os.unlink(sys.argv[3])\n"
    "workers = max(1, int(os.environ.get('WORKER_COUNT') or 1))\n"
    "sys.path.insert(0, os.path.dirname(script))\n"
    "sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    "try:\n"
    "    os.unlink(path)\n"
    "except FileNotFoundError:\n"
    "    pass\n"
    "sock.bind(path)\n"
    "ready_r, ready_w = os.pipe()\n"
    "go_r, go_w = os.pipe()\n"
    "mod = None\n"
    "HEAD = struct.Struct('!cI')\n"
    "REPLY = struct.Struct('!HBHI')\n"
    "FAILED = json.dumps({'message': 'An unexpected error occurred in scoring script. Check the "
    "logs for more info.'}).encode()\n"
    "JSON = b'application/json'\n"
    "def answer(conn, code, body, ctype=JSON, failed=0):\n"
    "    if isinstance(body, str):\n"
    "        body = body.encode('utf-8')\n"
    "    if isinstance(ctype, str):\n"
    "        ctype = ctype.encode('latin-1')\n"
    "    conn.sendall(REPLY.pack(code, failed, len(ctype), len(body)) + ctype + body)\n"
    "def score(raw):\n"
    "    try:\n"
    "        out = mod.run(raw.decode('utf-8', 'replace'))\n"
    "    except Exception:\n"
    "        sys.stderr.write('Encountered Exception: ' + traceback.format_exc())\n"
    "        sys.stderr.flush()\n"
    "        return 500, FAILED, JSON, 1\n"
    "    if hasattr(out, 'status_code') and hasattr(out, 'get_data'):\n"
    "        return out.status_code, out.get_data(), out.headers.get('Content-Type', "
    "'application/json')[:200], 0\n"
    "    try:\n"
    "        return 200, json.dumps(out), JSON, 0\n"
    "    except TypeError:\n"
    "        return 200, json.dumps(str(out)), JSON, 0\n"
    "def serve(conn):\n"
    "    f = conn.makefile('rb')\n"
    "    if f.readline().rstrip(b'\\n') != secret:\n"
    "        return\n"
    "    conn.sendall(b'%d\\n' % workers)\n"
    "    while True:\n"
    "        h = f.read(5)\n"
    "        if len(h) < 5:\n"
    "            return\n"
    "        kind, n = HEAD.unpack(h)\n"
    "        raw = f.read(n) if n else b''\n"
    "        if len(raw) < n:\n"
    "            return\n"
    "        if kind == b'H':\n"
    "            answer(conn, 200, b'Healthy', b'text/plain')\n"
    "        else:\n"
    "            answer(conn, *score(raw))\n"
    "def worker(i):\n"
    "    global mod\n"
    "    print('azlite inference server: worker %d: loading %s' % (i, script), flush=True)\n"
    "    spec = importlib.util.spec_from_file_location('score', script)\n"
    "    mod = importlib.util.module_from_spec(spec)\n"
    "    spec.loader.exec_module(mod)\n"
    "    print('azlite inference server: worker %d: calling init()' % i, flush=True)\n"
    "    mod.init()\n"
    "    print('azlite inference server: worker %d: init() done' % i, flush=True)\n"
    "    os.write(ready_w, b'1')\n"
    "    os.read(go_r, 1)\n"
    "    while True:\n"
    "        conn, _ = sock.accept()\n"
    "        try:\n"
    "            serve(conn)\n"
    "        except Exception:\n"
    "            traceback.print_exc()\n"
    "            sys.stderr.flush()\n"
    "        finally:\n"
    "            conn.close()\n"
    "kids = []\n"
    "for i in range(workers):\n"
    "    sys.stdout.flush()\n"
    "    sys.stderr.flush()\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        try:\n"
    "            worker(i)\n"
    "        except BaseException:\n"
    "            traceback.print_exc()\n"
    "            sys.stderr.flush()\n"
    "            os._exit(1)\n"
    "        os._exit(0)\n"
    "    kids.append(pid)\n"
    "def end(st):\n"
    "    for k in kids:\n"
    "        try:\n"
    "            os.kill(k, 9)\n"
    "        except OSError:\n"
    "            pass\n"
    "    sys.exit(os.waitstatus_to_exitcode(st) or 1)\n"
    "ready = 0\n"
    "while ready < workers:\n"
    "    r, _, _ = select.select([ready_r], [], [], 0.1)\n"
    "    if r:\n"
    "        ready += len(os.read(ready_r, workers))\n"
    "    pid, st = os.waitpid(-1, os.WNOHANG)\n"
    "    if pid:\n"
    "        end(st)\n"
    "sock.listen(64)\n"
    "os.write(go_w, b'1' * workers)\n"
    "print('azlite inference server: %d worker(s) ready, listening on %s' % (workers, path), "
    "flush=True)\n"
    "end(os.waitpid(-1, 0)[1])\n";

typedef struct ml_instance {
  char sandbox[64], disk[700];
  rt_sandbox *sb;
  /* What every connection to its server opens with: any process of the
   * sandbox could reach its port, the key is checked in front. */
  char secret[40];
  char *script; /* the server's command line (malloc'd), to start it again */
  int64_t proc;
  /* Connections to its server, all guarded by deps_mu: workers (its
   * handshake's, 0 before the first), open (idle or in use) and the idle
   * ones; gen counts its server's starts: a connection of an older one is
   * closed when it comes back. */
  int workers, nopen, nidle;
  int idle[ML_MAX_WORKERS];
  int idle_tmo[ML_MAX_WORKERS]; /* the timeout an idle connection has set */
  pthread_cond_t conn_cv;       /* a connection came back, or may be opened */
  unsigned gen;
  int exited, exit_code; /* guarded by deps_mu */
  int replacing;         /* its server is being started again; guarded by deps_mu */
} ml_instance;

typedef struct ml_dep {
  struct ml_dep *next;
  char id[700];
  char log_path[800];
  int ninst;
  ml_instance *inst;
  int max_concurrent; /* per instance */
  int timeout_ms, queue_ms, ready_ms;
  int inflight; /* guarded by deps_mu */
  unsigned rr;
  /* starting: its instances are booting (it serves nothing yet); stopping:
   * a stop took it off deps and waits for starting to end; cleaned: the
   * booting thread, told to stop, stopped the instances itself (freeable:
   * and d->inst may be freed).  All guarded by deps_mu. */
  int starting, stopping, cleaned, freeable;
} ml_dep;

static pthread_mutex_t deps_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t deps_cv = PTHREAD_COND_INITIALIZER;
static ml_dep *deps;

/* The running (not booting) deployment, or NULL. */
static ml_dep *dep_find_locked(const char *id) {
  for (ml_dep *d = deps; d; d = d->next)
    if (!strcasecmp(d->id, id) && !d->starting) return d;
  return NULL;
}

static int dep_stopping(ml_dep *d) {
  pthread_mutex_lock(&deps_mu);
  int st = d->stopping;
  pthread_mutex_unlock(&deps_mu);
  return st;
}

char *ml_scoring_log_path(srv *s, const char *dep_uuid) {
  char rel[200];
  snprintf(rel, sizeof rel, "ml/endpoints/%s.log", dep_uuid);
  return srv_path(s, rel);
}

static void log_append(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_append(const char *path, const char *fmt, ...) {
  FILE *f = fopen(path, "a");
  if (!f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

/* ---- files into an instance ------------------------------------------------------ */

/* The account, container and path an asset URI names: https://<account>.blob
 * .<suffix>/<container>/<path> or azureml://.../datastores/<ds>/paths/<path>.
 * 0, or -1. */
static int uri_split(srv *s, const char *ws_id, const char *uri, char account[64],
                     char container[128], char prefix[1024]) {
  account[0] = container[0] = prefix[0] = 0;
  if (!uri) return -1;
  if (!strncasecmp(uri, "https://", 8) || !strncasecmp(uri, "http://", 7)) {
    const char *h = strstr(uri, "://") + 3;
    const char *dot = strchr(h, '.'), *slash = strchr(h, '/');
    if (!dot || !slash || dot > slash) return -1;
    snprintf(account, 64, "%.*s", (int)(dot - h), h);
    const char *c = slash + 1, *cs = strchr(c, '/');
    snprintf(container, 128, "%.*s", (int)(cs ? cs - c : (long)strlen(c)), c);
    if (cs) snprintf(prefix, 1024, "%s", cs + 1);
  } else if (!strncasecmp(uri, "azureml://", 10) && strstr(uri, "/datastores/")) {
    const char *d = strstr(uri, "/datastores/") + strlen("/datastores/");
    const char *p = strstr(d, "/paths/");
    if (!p) return -1;
    char ds[128];
    snprintf(ds, sizeof ds, "%.*s", (int)(p - d), d);
    snprintf(prefix, 1024, "%s", p + strlen("/paths/"));
    sqlite3_stmt *q;
    if (store_prepare(store_db(s),
                      "SELECT json_extract(body,'$.properties.accountName'),"
                      " json_extract(body,'$.properties.containerName') FROM ml_datastores"
                      " WHERE ws_id=? COLLATE NOCASE AND name=? COLLATE NOCASE",
                      -1, &q, NULL) != SQLITE_OK)
      return -1;
    sqlite3_bind_text(q, 1, ws_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ds, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) && sqlite3_column_text(q, 1)) {
      snprintf(account, 64, "%s", sqlite3_column_text(q, 0));
      snprintf(container, 128, "%s", sqlite3_column_text(q, 1));
    }
    store_finalize(q);
  } else {
    return -1;
  }
  size_t n = strlen(prefix);
  while (n && prefix[n - 1] == '/')
    prefix[--n] = 0;
  return account[0] && container[0] && prefix[0] ? 0 : -1;
}

typedef struct exact_ctx {
  const char *name;
  int found;
} exact_ctx;

static void exact_one(void *cls, const char *name, int64_t size) {
  (void)size;
  exact_ctx *e = cls;
  if (!strcmp(name, e->name)) e->found = 1;
}

/* The files an asset URI names into dir: a file as dir/<its name> (keep_name)
 * or a folder's contents as dir/... (keep_name 0) or dir/<its name>/... .
 * The count of files, or -1. */
static int fetch_uri(srv *s, const char *ws_id, const char *uri, const char *dir, int keep_name) {
  char account[64], container[128], prefix[1024];
  if (uri_split(s, ws_id, uri, account, container, prefix) != 0 || ml_mkdir_p(dir) != 0) return -1;
  const char *base = strrchr(prefix, '/');
  base = base ? base + 1 : prefix;
  char path[1400];
  snprintf(path, sizeof path, "%s/%s", dir, base);
  exact_ctx ex = {prefix, 0};
  storage_blob_list(s, account, container, prefix, exact_one, &ex);
  if (ex.found) return storage_blob_to_file(s, account, container, prefix, path) == 0 ? 1 : -1;
  char sub[1400];
  snprintf(sub, sizeof sub, "%s%s%s", dir, keep_name ? "/" : "", keep_name ? base : "");
  char pre[1100];
  snprintf(pre, sizeof pre, "%s/", prefix);
  int got = ml_blob_download(s, account, container, pre, sub);
  return got > 0 ? got : -1;
}

/* ---- instances -------------------------------------------------------------------- */

static void on_server_exit(void *cls, int code) {
  ml_instance *in = cls;
  pthread_mutex_lock(&deps_mu);
  in->exited = 1;
  in->exit_code = code;
  pthread_cond_broadcast(&deps_cv);
  pthread_mutex_unlock(&deps_mu);
}

static int send_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

/* Reads exactly n bytes: 0, -1 (closed, or an error) or -2 (the receive
 * timeout passed). */
static int recv_exact(int fd, char *p, size_t n) {
  while (n) {
    ssize_t got = recv(fd, p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
    if (got == 0) return -1;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

static void set_timeout(int fd, int timeout_ms) {
  struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* A new connection to the instance's server, through its handshake; its fd,
 * or -1 (the server does not listen yet, or did not answer). */
static int inst_connect(ml_instance *in, const char *secret, int timeout_ms) {
  /* The disk's path may be longer than a socket address holds: the
   * directory's descriptor names it. */
  char dir[sizeof in->disk + 32];
  snprintf(dir, sizeof dir, "%s/own/mnt/azureml-app", in->disk);
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dfd, INSIDE_SOCKET);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    fd = -1;
  }
  close(dfd);
  if (fd < 0) return -1;
  set_timeout(fd, timeout_ms);
  char line[48];
  int n = snprintf(line, sizeof line, "%s\n", secret);
  struct iovec iov = {line, (size_t)n};
  char got[16];
  size_t k = 0;
  if (send_all(fd, &iov, 1) == 0)
    while (k < sizeof got - 1 && recv_exact(fd, got + k, 1) == 0 && got[k] != '\n')
      k++;
  got[k] = 0;
  int workers = k ? atoi(got) : 0;
  if (workers <= 0) {
    close(fd);
    return -1;
  }
  pthread_mutex_lock(&deps_mu);
  in->workers = workers < ML_MAX_WORKERS ? workers : ML_MAX_WORKERS;
  pthread_mutex_unlock(&deps_mu);
  return fd;
}

/* A connection for one exchange: an idle one, a new one while fewer than its
 * workers are open, or the next to come back, waiting until deadline (NULL:
 * not at all).  The
 * fd, -1 (none could be made) or -3 (none came back in time); *gen is the
 * server's start it belongs to. */
static int inst_conn_get(ml_instance *in, const struct timespec *deadline, unsigned *gen,
                         int *tmo) {
  pthread_mutex_lock(&deps_mu);
  for (;;) {
    if (in->nidle) {
      int fd = in->idle[--in->nidle];
      *tmo = in->idle_tmo[in->nidle];
      *gen = in->gen;
      pthread_mutex_unlock(&deps_mu);
      return fd;
    }
    if (in->nopen < (in->workers ? in->workers : 1)) break;
    if (!deadline || pthread_cond_timedwait(&in->conn_cv, &deps_mu, deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&deps_mu);
      return -3;
    }
  }
  in->nopen++;
  *gen = in->gen;
  int up = in->sb != NULL;
  char secret[sizeof in->secret];
  memcpy(secret, in->secret, sizeof secret);
  pthread_mutex_unlock(&deps_mu);
  int fd = up ? inst_connect(in, secret, 1000) : -1;
  *tmo = 1000;
  if (fd < 0) {
    pthread_mutex_lock(&deps_mu);
    in->nopen--;
    pthread_cond_signal(&in->conn_cv);
    pthread_mutex_unlock(&deps_mu);
  }
  return fd;
}

/* Gives a connection back: kept when the exchange went well and its server
 * is still the one it was made to, closed otherwise. */
static void inst_conn_put(ml_instance *in, int fd, unsigned gen, int tmo, int ok) {
  pthread_mutex_lock(&deps_mu);
  if (ok && gen == in->gen && in->nidle < ML_MAX_WORKERS) {
    in->idle_tmo[in->nidle] = tmo;
    in->idle[in->nidle++] = fd;
    fd = -1;
  }
  if (fd >= 0) in->nopen--;
  pthread_cond_signal(&in->conn_cv);
  pthread_mutex_unlock(&deps_mu);
  if (fd >= 0) close(fd);
}

/* Closes the idle connections of its server and makes the busy ones close
 * when they come back (its server is being replaced or stopped). */
static void inst_conns_drop(ml_instance *in) {
  pthread_mutex_lock(&deps_mu);
  int fds[ML_MAX_WORKERS], n = in->nidle;
  memcpy(fds, in->idle, sizeof(int) * (size_t)n);
  in->nopen -= n;
  in->nidle = 0;
  in->workers = 0;
  in->gen++;
  pthread_cond_broadcast(&in->conn_cv);
  pthread_mutex_unlock(&deps_mu);
  for (int i = 0; i < n; i++)
    close(fds[i]);
}

/* One exchange with an instance's server; the reply.  0, -1 (could not
 * talk to it), -2 (it did not answer in time: its run() holds the worker)
 * or -3 (no worker was free in time). */
typedef struct inst_reply {
  int status;
  char ctype[256];
  int run_failed; /* run() raised */
  char *body;     /* malloc'd */
  size_t len;
} inst_reply;

static int inst_send(int fd, char kind, const char *body, size_t len) {
  unsigned char head[5] = {(unsigned char)kind, (unsigned char)(len >> 24),
                           (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                           (unsigned char)len};
  struct iovec iov[2] = {{head, sizeof head}, {(void *)body, len}};
  return send_all(fd, iov, len ? 2 : 1);
}

/* The answer to what inst_send sent: 0, -1 or -2 (the receive timeout). */
static int inst_recv(int fd, inst_reply *out) {
  unsigned char rh[9];
  int rc = recv_exact(fd, (char *)rh, sizeof rh);
  size_t clen = 0, blen = 0;
  if (rc == 0) {
    out->status = rh[0] << 8 | rh[1];
    out->run_failed = rh[2] != 0;
    clen = (size_t)(rh[3] << 8 | rh[4]);
    blen = (size_t)rh[5] << 24 | (size_t)rh[6] << 16 | (size_t)rh[7] << 8 | rh[8];
    if (clen >= sizeof out->ctype || blen > SCORE_MAX_REPLY) rc = -1;
  }
  if (rc == 0) rc = recv_exact(fd, out->ctype, clen);
  if (rc == 0) {
    out->ctype[clen] = 0;
    out->body = malloc(blen + 1);
    if (!out->body) abort();
    rc = recv_exact(fd, out->body, blen);
    out->body[blen] = 0;
    out->len = blen;
  }
  if (rc != 0) {
    free(out->body);
    out->body = NULL;
    out->len = 0;
  }
  return rc;
}

static void deadline_in(struct timespec *t, int ms) {
  clock_gettime(CLOCK_REALTIME, t);
  t->tv_sec += ms / 1000;
  t->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t->tv_nsec >= 1000000000L) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000L;
  }
}

static int inst_call(ml_instance *in, char kind, const char *body, size_t len, int timeout_ms,
                     inst_reply *out) {
  memset(out, 0, sizeof *out);
  struct timespec deadline;
  deadline_in(&deadline, timeout_ms);
  unsigned gen;
  int tmo;
  int fd = inst_conn_get(in, &deadline, &gen, &tmo);
  if (fd < 0) return fd == -3 ? -3 : -1;
  if (tmo != timeout_ms) set_timeout(fd, timeout_ms);
  int rc = inst_send(fd, kind, body, len);
  if (rc == 0) rc = inst_recv(fd, out);
  inst_conn_put(in, fd, gen, timeout_ms, rc == 0);
  return rc;
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

/* The last n bytes of the log, from a line start (malloc'd). */
char *ml_scoring_log_tail(const char *path, size_t n) {
  FILE *f = fopen(path, "r");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  long from = size > (long)n ? size - (long)n : 0;
  fseek(f, from, SEEK_SET);
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

/* Stops an instance and removes its disk.  1 when its server's exit has been
 * seen (its on_exit will not touch in again), so in may be freed. */
static int instance_stop(ml_instance *in) {
  inst_conns_drop(in);
  if (in->sb) rt_stop(in->sb, 2000);
  in->sb = NULL;
  if (in->disk[0]) rt_disk_remove(in->disk);
  if (in->proc <= 0) return 1;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&deps_mu);
  while (!in->exited)
    if (pthread_cond_timedwait(&deps_cv, &deps_mu, &until) == ETIMEDOUT) break;
  int done = in->exited;
  pthread_mutex_unlock(&deps_mu);
  return done;
}

/* Starts an instance's server (its secret new) and waits until it answers,
 * that is until init() has returned.  0, or -1 with why (init()'s failure). */
static int instance_serve(ml_dep *d, ml_instance *in, char *err, size_t en) {
  char path[1200];
  char u2[37];
  uuid_v4(u2);
  snprintf(in->secret, sizeof in->secret, "%s", u2);
  snprintf(path, sizeof path, "%s/own/mnt/azureml-app/.azlite-instance", in->disk);
  FILE *f = fopen(path, "w");
  if (!f || fputs(in->secret, f) < 0 || fclose(f) != 0) {
    snprintf(err, en, "the inference server's secret could not be written");
    return -1;
  }
  chmod(path, 0600);
  inst_conns_drop(in);
  pthread_mutex_lock(&deps_mu);
  in->exited = 0;
  pthread_mutex_unlock(&deps_mu);
  in->proc = rt_spawn(in->sb, in->script, NULL, "/mnt/azureml-app/code", d->log_path, d->log_path,
                      on_server_exit, in);
  if (in->proc < 0) {
    snprintf(err, en, "the inference server could not be started");
    return -1;
  }
  /* Ready when the server answers (init() has returned); its end before that
   * is init()'s failure. */
  for (int waited = 0; waited < d->ready_ms; waited += 100) {
    if (dep_stopping(d)) {
      snprintf(err, en, "The deployment was deleted or replaced while it was provisioned.");
      return -1;
    }
    pthread_mutex_lock(&deps_mu);
    int exited = in->exited, code = in->exit_code;
    pthread_mutex_unlock(&deps_mu);
    if (exited) {
      char *tail = ml_scoring_log_tail(d->log_path, 1500);
      snprintf(err, en,
               "User container has crashed or terminated (exit code %d): the scoring script's "
               "init() failed. Logs: %s",
               code, tail);
      free(tail);
      return -1;
    }
    inst_reply rep;
    if (inst_call(in, 'H', NULL, 0, 1000, &rep) == 0) {
      free(rep.body);
      if (rep.status == 200) return 0;
    }
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  snprintf(err, en, "The inference server did not become ready within %d s.", d->ready_ms / 1000);
  return -1;
}

/* Boots one instance: its sandbox, the model, the code and the server; waits
 * until the server answers (init() done) or ends.  0, or -1 with why. */
static int instance_start(srv *s, const ml_scoring_spec *sp, ml_dep *d, ml_instance *in, int idx,
                          char *err, size_t en) {
  char u[37], hex[33];
  uuid_v4(u);
  int k = 0;
  for (const char *p = u; *p && k < 32; p++)
    if (*p != '-') hex[k++] = *p;
  hex[k] = 0;
  snprintf(in->sandbox, sizeof in->sandbox, "amlep-%.20s", hex);
  char *root = srv_path(s, "ml/endpoints");
  snprintf(in->disk, sizeof in->disk, "%s/%s", root, in->sandbox);
  free(root);
  char host[80];
  snprintf(host, sizeof host, "%s-%d", sp->name, idx);
  rt_spec spec = {.name = in->sandbox,
                  .disk_dir = in->disk,
                  .hostname = host,
                  .vcpus = sp->vcpus,
                  .memory_mb = sp->memory_mb};
  in->sb = rt_boot(&spec, err, en);
  if (!in->sb) return -1;
  char dir[1100];
  snprintf(dir, sizeof dir, "%s/own/mnt/azureml-app", in->disk);
  if (ml_mkdir_p(dir) != 0) {
    snprintf(err, en, "the instance's disk could not be prepared");
    return -1;
  }
  if (sp->model_uri) {
    snprintf(dir, sizeof dir, "%s/own/mnt/azureml-models/%s/%s", in->disk, sp->model_name,
             sp->model_version);
    int n = fetch_uri(s, sp->ws_id, sp->model_uri, dir, 1);
    if (n < 0) {
      snprintf(err, en, "The model %s:%s (%s) could not be downloaded.", sp->model_name,
               sp->model_version, sp->model_uri);
      return -1;
    }
    log_append(d->log_path, "azlite: instance %d: downloaded %d model file(s) of %s:%s", idx, n,
               sp->model_name, sp->model_version);
  }
  snprintf(dir, sizeof dir, "%s/own/mnt/azureml-app/code", in->disk);
  int n = fetch_uri(s, sp->ws_id, sp->code_uri, dir, 0);
  if (n < 0) {
    snprintf(err, en, "The code (%s) could not be downloaded.", sp->code_uri);
    return -1;
  }
  char path[1200];
  snprintf(path, sizeof path, "%s/own/mnt/azureml-app/code/%s", in->disk, sp->scoring_script);
  if (access(path, R_OK) != 0) {
    snprintf(err, en, "The scoring script %s is not in the code configuration's code.",
             sp->scoring_script);
    return -1;
  }
  snprintf(path, sizeof path, "%s/own/mnt/azureml-app/azlite_inference_server.py", in->disk);
  FILE *f = fopen(path, "w");
  if (!f || fputs(ml_inference_server, f) < 0 || fclose(f) != 0) {
    snprintf(err, en, "the inference server could not be written");
    return -1;
  }
  char *script = NULL;
  size_t slen = 0;
  FILE *sf = open_memstream(&script, &slen);
  fprintf(sf, "export PYTHONUNBUFFERED=1 WORKER_COUNT=1 AZUREML_ENTRY_SCRIPT=%s\n",
          sp->scoring_script);
  if (sp->model_uri)
    fprintf(sf, "export AZUREML_MODEL_DIR=/mnt/azureml-models/%s/%s\n", sp->model_name,
            sp->model_version);
  const char *key;
  json_t *v;
  json_object_foreach(sp->env, key, v) {
    int ok = *key && (((*key | 32) >= 'a' && (*key | 32) <= 'z') || *key == '_');
    for (const char *c = key; *c && ok; c++)
      ok = (*c >= '0' && *c <= '9') || ((*c | 32) >= 'a' && (*c | 32) <= 'z') || *c == '_';
    if (!ok || !json_is_string(v)) continue;
    char *q = shell_quote(json_string_value(v));
    fprintf(sf, "export %s=%s\n", key, q);
    free(q);
  }
  char *qs = shell_quote(sp->scoring_script);
  fprintf(sf,
          "exec /usr/bin/python3 /mnt/azureml-app/azlite_inference_server.py "
          "/mnt/azureml-app/code/%s /mnt/azureml-app/" INSIDE_SOCKET
          " /mnt/azureml-app/.azlite-instance\n",
          qs);
  free(qs);
  fclose(sf);
  in->script = script;
  return instance_serve(d, in, err, en);
}

static void dep_inst_free(ml_dep *d) {
  for (int i = 0; i < d->ninst; i++) {
    free(d->inst[i].script);
    pthread_cond_destroy(&d->inst[i].conn_cv);
  }
  free(d->inst);
}

/* Stops every instance of d and frees it (an instance whose server's end was
 * not seen is left allocated: its on_exit may still come). */
static void dep_stop_free(ml_dep *d, int n) {
  int all = 1;
  for (int i = 0; i < n; i++)
    all &= instance_stop(&d->inst[i]);
  if (all) dep_inst_free(d);
  free(d);
}

/* ---- replacing a stuck or dead server ----------------------------------------- */

typedef struct replace_job {
  ml_dep *d; /* held: its inflight counts this job */
  ml_instance *in;
} replace_job;

/* Kills the instance's server (a run() that did not answer in time holds
 * it) and starts it again; init() runs again.  The instance serves nothing
 * meanwhile. */
static void *replace_thread(void *arg) {
  replace_job *j = arg;
  ml_dep *d = j->d;
  ml_instance *in = j->in;
  free(j);
  log_append(d->log_path, "azlite: instance %d: replacing its server", (int)(in - d->inst));
  rt_kill(in->sb, in->proc, 9);
  inst_conns_drop(in);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&deps_mu);
  while (!in->exited)
    if (pthread_cond_timedwait(&deps_cv, &deps_mu, &until) == ETIMEDOUT) break;
  int gone = in->exited;
  pthread_mutex_unlock(&deps_mu);
  char err[2000] = "";
  int rc = gone && !dep_stopping(d) ? instance_serve(d, in, err, sizeof err) : -1;
  if (rc != 0)
    log_append(d->log_path, "azlite: instance %d: its server could not start again: %s",
               (int)(in - d->inst), err[0] ? err : "the old one did not end");
  else
    log_append(d->log_path, "azlite: instance %d: its server is ready again", (int)(in - d->inst));
  pthread_mutex_lock(&deps_mu);
  in->replacing = rc == 0 ? 0 : 2; /* 2: out of service until the deployment is updated */
  d->inflight--;
  pthread_cond_broadcast(&deps_cv);
  pthread_mutex_unlock(&deps_mu);
  return NULL;
}

/* deps_mu held. */
static void replace_start_locked(ml_dep *d, ml_instance *in) {
  if (in->replacing || d->stopping) return;
  in->replacing = 1;
  d->inflight++;
  replace_job *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->d = d;
  j->in = in;
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, replace_thread, j) != 0) abort();
  pthread_attr_destroy(&a);
}

int ml_scoring_start(srv *s, const ml_scoring_spec *sp, char *err, size_t en) {
  ml_scoring_stop(s, sp->dep_id);
  ml_dep *d = calloc(1, sizeof *d);
  if (!d) abort();
  snprintf(d->id, sizeof d->id, "%s", sp->dep_id);
  snprintf(d->log_path, sizeof d->log_path, "%s", sp->log_path);
  d->ninst = sp->instance_count > 0 ? sp->instance_count : 1;
  d->inst = calloc((size_t)d->ninst, sizeof *d->inst);
  if (!d->inst) abort();
  for (int i = 0; i < d->ninst; i++)
    pthread_cond_init(&d->inst[i].conn_cv, NULL);
  d->max_concurrent = sp->max_concurrent > 0 ? sp->max_concurrent : 1;
  d->timeout_ms = sp->timeout_ms > 0 ? sp->timeout_ms : 5000;
  d->queue_ms = sp->queue_ms >= 0 ? sp->queue_ms : 500;
  d->ready_ms = sp->ready_timeout_ms > 0 ? sp->ready_timeout_ms : 600000;
  d->starting = 1;
  char *root = srv_path(s, "ml/endpoints");
  ml_mkdir_p(root);
  free(root);
  /* On the list while booting, so that a delete meanwhile stops it. */
  pthread_mutex_lock(&deps_mu);
  d->next = deps;
  deps = d;
  pthread_mutex_unlock(&deps_mu);
  log_append(d->log_path, "azlite: starting %d instance(s) of %s (%s)", d->ninst, sp->name,
             sp->instance_type);
  int booted = 0, failed = 0;
  for (int i = 0; i < d->ninst && !failed; i++) {
    if (dep_stopping(d)) {
      snprintf(err, en, "The deployment was deleted or replaced while it was provisioned.");
      failed = 1;
      break;
    }
    booted = i + 1;
    if (instance_start(s, sp, d, &d->inst[i], i, err, en) != 0) {
      log_append(d->log_path, "azlite: instance %d failed: %s", i, err);
      failed = 1;
    }
  }
  pthread_mutex_lock(&deps_mu);
  if (!failed && d->stopping) {
    snprintf(err, en, "The deployment was deleted or replaced while it was provisioned.");
    failed = 1;
  }
  if (!failed) {
    d->starting = 0;
    pthread_mutex_unlock(&deps_mu);
    log_append(d->log_path, "azlite: %d instance(s) ready", d->ninst);
    return 0;
  }
  pthread_mutex_unlock(&deps_mu);
  int all = 1;
  for (int i = 0; i < booted; i++)
    all &= instance_stop(&d->inst[i]);
  pthread_mutex_lock(&deps_mu);
  for (ml_dep **p = &deps; *p; p = &(*p)->next)
    if (*p == d) {
      *p = d->next;
      break;
    }
  if (d->stopping) {
    /* A stop waits for this: it frees d. */
    d->cleaned = 1;
    d->freeable = all;
    d->starting = 0;
    pthread_cond_broadcast(&deps_cv);
    pthread_mutex_unlock(&deps_mu);
    return -1;
  }
  pthread_mutex_unlock(&deps_mu);
  if (all) dep_inst_free(d);
  free(d);
  return -1;
}

void ml_scoring_stop(srv *s, const char *dep_id) {
  (void)s;
  pthread_mutex_lock(&deps_mu);
  ml_dep *d = NULL;
  for (ml_dep **p = &deps; *p; p = &(*p)->next)
    if (!strcasecmp((*p)->id, dep_id) && !(*p)->stopping) {
      d = *p;
      *p = d->next;
      break;
    }
  if (d) {
    d->stopping = 1;
    pthread_cond_broadcast(&deps_cv);
    while (d->inflight || d->starting)
      pthread_cond_wait(&deps_cv, &deps_mu);
  }
  pthread_mutex_unlock(&deps_mu);
  if (!d) return;
  if (d->cleaned) {
    if (d->freeable) dep_inst_free(d);
    free(d);
  } else {
    dep_stop_free(d, d->ninst);
  }
  log_info("ml: stopped the instances of %s", dep_id);
}

int ml_scoring_instances(const char *dep_id) {
  pthread_mutex_lock(&deps_mu);
  ml_dep *d = dep_find_locked(dep_id);
  int n = d ? d->ninst : 0;
  pthread_mutex_unlock(&deps_mu);
  return n;
}

void ml_scoring_fini(srv *s) {
  for (;;) {
    pthread_mutex_lock(&deps_mu);
    char id[700] = "";
    if (deps) snprintf(id, sizeof id, "%s", deps->id);
    pthread_mutex_unlock(&deps_mu);
    if (!id[0]) return;
    ml_scoring_stop(s, id);
  }
}

/* ---- the front ---------------------------------------------------------------------- */

static void fail_score(http_req *r, int status, const char *msg) {
  json_t *b = json_pack("{s:s}", "message", msg);
  http_reply_json(r, status, b);
}

/* Whether r carries the endpoint's key (authMode Key) or a token azlite
 * issued for it (AMLToken); fails r with 401 otherwise. */
static int score_auth(http_req *r, ml_endpoint_view *ev) {
  const char *auth = http_header_get(r, "Authorization");
  const char *mode =
      json_string_value(json_object_get(json_object_get(ev->body, "properties"), "authMode"));
  if (mode && !strcmp(mode, "AMLToken")) {
    principal p;
    const char *why = NULL;
    char msg[200];
    if (auth && identity_verify_bearer(r->srv, auth, AUD_MGMT, &p, &why, msg, sizeof msg) == 0)
      return 0;
    http_set_header(r, "WWW-Authenticate", "Bearer");
    fail_score(r, 401, "Invalid or missing token.");
    return -1;
  }
  const char *given = auth && !strncasecmp(auth, "Bearer ", 7) ? auth + 7 : NULL;
  while (given && *given == ' ')
    given++;
  if (!given || !*given || (strcmp(given, ev->key1) != 0 && strcmp(given, ev->key2) != 0)) {
    http_set_header(r, "WWW-Authenticate", "Bearer");
    fail_score(r, 401, given ? "Invalid authentication key." : "Missing authentication key.");
    return -1;
  }
  return 0;
}

static void score_endpoint(http_req *r, ml_endpoint_view *ev);

/* The endpoint a scoring request names, by its token (azlite's URL) or by
 * its host (<endpoint>.<region>.inference.ml.azure.com); NULL with r failed. */
static int score_find(http_req *r, ml_endpoint_view *ev) {
  const char *tok = http_param(r, "token");
  int rc = tok ? ml_endpoint_by_token(r->srv, tok, ev)
               : ml_endpoint_by_host(r->srv, http_param(r, "host"), ev);
  if (rc != 0) {
    fail_score(r, 404, "Endpoint not found.");
    return -1;
  }
  http_defer(r, (void (*)(void *))json_decref, ev->body);
  return 0;
}

/* POST .../score: a scoring request. */
void ml_score(http_req *r) {
  ml_endpoint_view ev;
  if (score_find(r, &ev) != 0 || score_auth(r, &ev) != 0) return;
  score_endpoint(r, &ev);
}

/* GET .../swagger.json: the scoring API's description (a script without an
 * input schema takes any JSON). */
void ml_score_swagger(http_req *r) {
  ml_endpoint_view ev;
  if (score_find(r, &ev) != 0 || score_auth(r, &ev) != 0) return;
  json_t *b = json_pack(
      "{s:s,s:{s:s,s:s,s:s},s:[s],s:[s],s:[s],s:{s:{s:{s:s,s:s,s:[{s:s,s:s,s:b,s:{s:s}}],"
      "s:{s:{s:s},s:{s:s}}}}}}",
      "swagger", "2.0", "info", "title", json_string_value(json_object_get(ev.body, "name")),
      "description", "API specification for Azure Machine Learning online endpoint", "version",
      "1.0", "schemes", "https", "consumes", "application/json", "produces", "application/json",
      "paths", "/score", "post", "description", "Run web service's model and get the prediction",
      "operationId", "RunMLService", "parameters", "name", "serviceInputData", "in", "body",
      "required", 1, "schema", "type", "object", "responses", "200", "description", "Success",
      "default", "description", "Service error");
  http_reply_json(r, 200, b);
}

/* A uniform random number in [0, n). */
static int random_below(int n) {
  unsigned pick = 0;
  char u[37];
  uuid_v4(u);
  for (int i = 0; i < 8; i++)
    pick = pick * 16 + (unsigned)(u[i] <= '9' ? u[i] - '0' : u[i] - 'a' + 10);
  return n > 0 ? (int)(pick % (unsigned)n) : 0;
}

typedef struct mirror_job {
  ml_dep *d; /* held: its inflight counts this copy */
  ml_instance *in;
  char *body;
  size_t len;
  int timeout_ms;
} mirror_job;

static void *mirror_thread(void *arg) {
  mirror_job *j = arg;
  inst_reply rep;
  if (inst_call(j->in, 'S', j->body, j->len, j->timeout_ms, &rep) == 0) free(rep.body);
  pthread_mutex_lock(&deps_mu);
  j->d->inflight--;
  pthread_cond_broadcast(&deps_cv);
  pthread_mutex_unlock(&deps_mu);
  free(j->body);
  free(j);
  return NULL;
}

/* Mirror traffic: a copy of the request to the deployment, whose answer
 * nobody sees; dropped when the deployment has no free slot. */
static void mirror_send(const char *dep_id, const char *body, size_t len) {
  pthread_mutex_lock(&deps_mu);
  ml_dep *d = dep_find_locked(dep_id);
  ml_instance *in = NULL;
  if (d && d->inflight < d->max_concurrent * d->ninst)
    for (int k = 0; k < d->ninst && !in; k++) {
      ml_instance *c = &d->inst[d->rr++ % (unsigned)d->ninst];
      if (!c->replacing) in = c;
    }
  if (!in) {
    pthread_mutex_unlock(&deps_mu);
    return;
  }
  d->inflight++;
  mirror_job *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->d = d;
  j->in = in;
  j->len = len;
  j->timeout_ms = d->timeout_ms;
  j->body = malloc(len + 1);
  if (!j->body) abort();
  memcpy(j->body, body, len);
  pthread_mutex_unlock(&deps_mu);
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, mirror_thread, j) != 0) abort();
  pthread_attr_destroy(&a);
}

static void metric_record(srv *s, const char *dep_id, int status, double ms);

static double mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* A scoring request a deployment answered (or refused): its metrics and its
 * line in the access log (Azure's AmlOnlineEndpointTrafficLog's fields). */
static void score_done(http_req *r, const char *dep_id, const char *dep_name, int status,
                       double t0) {
  double ms = mono_ms() - t0;
  metric_record(r->srv, dep_id, status, ms);
  log_info("ml: score %s deployment=%s status=%d %.2fms", r->path, dep_name, status, ms);
}

/* A scoring request past routing, and what it holds as it moves on: a slot
 * on its deployment, then a connection to an instance, then the answer.  It
 * moves on the HTTP thread as long as nothing has to wait, and from the
 * first wait on one of the core's async threads (http_async), so that a slow
 * run() or a full deployment never holds the HTTP thread's other
 * connections.  A fast run() (most) is answered without leaving it. */
typedef struct score_job {
  http_req *r;
  json_t *ep_body; /* the endpoint's body (the request holds it) */
  const char *ep_id;
  int routed; /* by the traffic, not by the header: mirror traffic goes with it */
  const char *dep_id;
  char name[200];
  const char *body;
  size_t len;
  double t0;
  int phase;
  ml_dep *d; /* from SCORE_CONN on: held, its inflight counts this request */
  ml_instance *in;
  int timeout_ms;
  struct timespec deadline;
  int fd, tmo;
  unsigned gen;
} score_job;

enum { SCORE_SLOT, SCORE_CONN, SCORE_ANSWER };
#define SCORE_FAST_MS 2 /* how long the HTTP thread waits for an answer */

/* The exchange's end: the slot given back, mirror copies, the answer. */
static int score_finish(score_job *j, int rc, inst_reply *rep) {
  http_req *r = j->r;
  ml_dep *d = j->d;
  ml_instance *in = j->in;
  pthread_mutex_lock(&deps_mu);
  /* A run() that hangs holds the server: it is replaced; one that ended it
   * too. */
  if (rc == -2 || (rc == -1 && in->exited)) replace_start_locked(d, in);
  d->inflight--;
  pthread_cond_broadcast(&deps_cv);
  pthread_mutex_unlock(&deps_mu);
  /* Mirror traffic goes with requests routed by the traffic, not by the
   * header (as Azure does). */
  if (j->routed) {
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(j->ep_body, "properties"), "mirrorTraffic"),
                        k, v) {
      if (random_below(100) < (int)json_integer_value(v))
        mirror_send(http_printf(r, "%s/deployments/%s", j->ep_id, k), j->body, j->len);
    }
  }
  http_set_header(r, "azureml-model-deployment", j->name);
  score_done(r, j->dep_id, j->name,
             rc == -2 || rc == -3 ? 408
             : rc != 0            ? 502
                                  : rep->status,
             j->t0);
  if (rc == -2 || rc == -3) {
    fail_score(r, 408,
               "Request timed out: the scoring script did not answer within "
               "request_timeout_ms.");
    return 0;
  }
  if (rc != 0) {
    fail_score(r, 502, "The deployment's instance could not be reached.");
    return 0;
  }
  /* A run() that raised: Azure's inference server says so in a header. */
  if (rep->run_failed) http_set_header(r, "x-ms-run-function-failed", "True");
  http_reply_owned(r, rep->status, rep->ctype[0] ? rep->ctype : "application/json", rep->body,
                   rep->len);
  return 0;
}

/* Moves j on: 0 once r is answered, 1 when !blocking and it would wait more
 * than SCORE_FAST_MS in all (the caller goes on elsewhere, blocking). */
static int score_step(score_job *j, int blocking) {
  http_req *r = j->r;
  struct timespec fast;
  deadline_in(&fast, SCORE_FAST_MS);
  if (j->phase == SCORE_SLOT) {
    /* A slot: max_concurrent_requests_per_instance on each instance,
     * waiting up to max_queue_wait for one. */
    pthread_mutex_lock(&deps_mu);
    ml_dep *d = dep_find_locked(j->dep_id);
    if (!d) {
      pthread_mutex_unlock(&deps_mu);
      if (!j->routed)
        fail_score(r, 404,
                   "The deployment named in azureml-model-deployment does not exist or is "
                   "not running.");
      else
        fail_score(r, 503, "The deployment has no running instance.");
      return 0;
    }
    while (!blocking && d->inflight >= d->max_concurrent * d->ninst && !d->stopping)
      if (pthread_cond_timedwait(&deps_cv, &deps_mu, &fast) == ETIMEDOUT) break;
    if (!blocking && d->inflight >= d->max_concurrent * d->ninst && !d->stopping) {
      pthread_mutex_unlock(&deps_mu);
      return 1;
    }
    struct timespec until;
    deadline_in(&until, d->queue_ms);
    while (d->inflight >= d->max_concurrent * d->ninst && !d->stopping)
      if (pthread_cond_timedwait(&deps_cv, &deps_mu, &until) == ETIMEDOUT) break;
    if (d->stopping || d->inflight >= d->max_concurrent * d->ninst) {
      pthread_mutex_unlock(&deps_mu);
      score_done(r, j->dep_id, j->name, 429, j->t0);
      fail_score(r, 429,
                 "Too many pending requests: the deployment's "
                 "max_concurrent_requests_per_instance is exceeded.");
      return 0;
    }
    ml_instance *in = NULL;
    for (int k = 0; k < d->ninst && !in; k++) {
      ml_instance *c = &d->inst[d->rr++ % (unsigned)d->ninst];
      if (!c->replacing) in = c;
    }
    if (!in) {
      pthread_mutex_unlock(&deps_mu);
      fail_score(r, 503, "The deployment has no healthy instance right now.");
      return 0;
    }
    d->inflight++;
    j->d = d;
    j->in = in;
    j->timeout_ms = d->timeout_ms;
    pthread_mutex_unlock(&deps_mu);
    deadline_in(&j->deadline, j->timeout_ms);
    j->phase = SCORE_CONN;
  }
  if (j->phase == SCORE_CONN) {
    int fd = inst_conn_get(j->in, blocking ? &j->deadline : &fast, &j->gen, &j->tmo);
    if (fd == -3 && !blocking) return 1;
    if (fd < 0) return score_finish(j, fd == -3 ? -3 : -1, NULL);
    if (j->tmo != j->timeout_ms) set_timeout(fd, j->timeout_ms);
    if (inst_send(fd, 'S', j->body, j->len) != 0) {
      inst_conn_put(j->in, fd, j->gen, j->timeout_ms, 0);
      return score_finish(j, -1, NULL);
    }
    j->fd = fd;
    j->phase = SCORE_ANSWER;
  }
  if (!blocking) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long left = (fast.tv_sec - now.tv_sec) * 1000 + (fast.tv_nsec - now.tv_nsec) / 1000000;
    struct pollfd pf = {.fd = j->fd, .events = POLLIN};
    if (poll(&pf, 1, left > 0 ? (int)left : 0) == 0) return 1;
  }
  inst_reply rep;
  memset(&rep, 0, sizeof rep);
  int rc = inst_recv(j->fd, &rep);
  inst_conn_put(j->in, j->fd, j->gen, j->timeout_ms, rc == 0);
  j->fd = -1;
  return score_finish(j, rc, &rep);
}

static void score_async(void *arg) {
  score_step(arg, 1);
}

static void score_endpoint(http_req *r, ml_endpoint_view *ev) {
  double t0 = mono_ms();
  /* The deployment: the header's, or one by the traffic's weights. */
  json_t *traffic = json_object_get(json_object_get(ev->body, "properties"), "traffic");
  const char *want = http_header_get(r, "azureml-model-deployment");
  const char *dep_name = NULL;
  if (want && *want) {
    dep_name = want;
  } else {
    int total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(traffic, k, v) total += (int)json_integer_value(v);
    if (total > 0) {
      int at = random_below(total);
      json_object_foreach(traffic, k, v) {
        at -= (int)json_integer_value(v);
        if (at < 0) {
          dep_name = k;
          break;
        }
      }
    }
  }
  if (!dep_name) {
    fail_score(r, 404,
               "No valid deployments to route to. Please check that the endpoint has at least one "
               "deployment with positive weight values or use a deployment specific header to "
               "route.");
    return;
  }
  const char *dep_id = http_printf(r, "%s/deployments/%s", ev->id, dep_name);
  size_t len = 0;
  /* Azure's limit on a scoring request's payload: 1.5 MB (413 beyond). */
  char *body = http_body_read_all(r, SCORE_MAX_BODY, &len);
  if (!body) return;
  http_defer(r, free, body);
  score_job *j = http_alloc(r, sizeof *j);
  memset(j, 0, sizeof *j);
  j->r = r;
  j->ep_body = ev->body; /* held until the request ends */
  j->ep_id = http_printf(r, "%s", ev->id);
  j->routed = !(want && *want);
  j->dep_id = dep_id;
  snprintf(j->name, sizeof j->name, "%s", dep_name);
  j->body = body;
  j->len = len;
  j->t0 = t0;
  j->fd = -1;
  j->phase = SCORE_SLOT;
  if (score_step(j, 0)) http_async(r, score_async, j);
}

/* ---- monitoring: Azure Monitor's metrics for the endpoint ---------------------------- */

/* Per deployment and minute of azlite's clock: the requests the front
 * answered, by status class, and their latencies (sum, min, max and a
 * log-scale histogram for the percentiles).  In memory only, the last
 * METRIC_MINUTES minutes (a restart starts them empty), under metrics_mu. */
#define METRIC_MINUTES 1440
#define METRIC_BINS 48 /* bin i: latency below 0.05 ms * 2^(i/3) */

typedef struct ml_metric_min {
  struct ml_metric_min *next;
  char dep_id[700];
  int64_t minute; /* clock_now_ms / 60000 */
  int64_t count, by_class[6];
  double sum_ms, min_ms, max_ms;
  int64_t bins[METRIC_BINS];
} ml_metric_min;

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static ml_metric_min *metrics;

static int metric_bin(double ms) {
  int i = 0;
  for (double edge = 0.05; i < METRIC_BINS - 1 && ms >= edge; i++)
    edge *= 1.2599210498948732; /* 2^(1/3) */
  return i;
}

static double metric_bin_upper(int i) {
  double edge = 0.05;
  for (int k = 0; k < i; k++)
    edge *= 1.2599210498948732;
  return edge;
}

static void metric_record(srv *s, const char *dep_id, int status, double ms) {
  int64_t minute = clock_now_ms(s) / 60000;
  pthread_mutex_lock(&metrics_mu);
  ml_metric_min *m = NULL;
  for (ml_metric_min **p = &metrics; *p;) {
    if ((*p)->minute < minute - METRIC_MINUTES) { /* expired */
      ml_metric_min *old = *p;
      *p = old->next;
      free(old);
      continue;
    }
    if (!m && (*p)->minute == minute && !strcasecmp((*p)->dep_id, dep_id)) m = *p;
    p = &(*p)->next;
  }
  if (!m) {
    m = calloc(1, sizeof *m);
    if (!m) abort();
    snprintf(m->dep_id, sizeof m->dep_id, "%s", dep_id);
    m->minute = minute;
    m->min_ms = ms;
    m->next = metrics;
    metrics = m;
  }
  m->count++;
  m->by_class[status / 100 >= 1 && status / 100 <= 5 ? status / 100 : 0]++;
  m->sum_ms += ms;
  if (ms < m->min_ms) m->min_ms = ms;
  if (ms > m->max_ms) m->max_ms = ms;
  m->bins[metric_bin(ms)]++;
  pthread_mutex_unlock(&metrics_mu);
}

/* The metrics an online endpoint has (Azure Monitor's names, units and
 * default aggregations for Microsoft.MachineLearningServices/workspaces/
 * onlineEndpoints). */
typedef struct ml_metric_def {
  const char *name, *display, *unit, *primary;
  double pct; /* a percentile of RequestLatency; 0: not one */
} ml_metric_def;

static const ml_metric_def ml_metric_defs[] = {
    {.name = "RequestsPerMinute",
     .display = "Requests Per Minute",
     .unit = "Count",
     .primary = "Average"},
    {.name = "RequestLatency",
     .display = "Request Latency",
     .unit = "MilliSeconds",
     .primary = "Average"},
    {.name = "RequestLatency_P50",
     .display = "Request Latency P50",
     .unit = "MilliSeconds",
     .primary = "Average",
     .pct = 0.50},
    {.name = "RequestLatency_P90",
     .display = "Request Latency P90",
     .unit = "MilliSeconds",
     .primary = "Average",
     .pct = 0.90},
    {.name = "RequestLatency_P95",
     .display = "Request Latency P95",
     .unit = "MilliSeconds",
     .primary = "Average",
     .pct = 0.95},
    {.name = "RequestLatency_P99",
     .display = "Request Latency P99",
     .unit = "MilliSeconds",
     .primary = "Average",
     .pct = 0.99},
};
#define ML_METRIC_NDEFS (sizeof ml_metric_defs / sizeof ml_metric_defs[0])

static const ml_metric_def *metric_def(const char *name) {
  for (size_t i = 0; i < ML_METRIC_NDEFS; i++)
    if (!strcasecmp(ml_metric_defs[i].name, name)) return &ml_metric_defs[i];
  return NULL;
}

void ml_scoring_metric_definitions(http_req *r, const char *ep_id) {
  json_t *arr = json_array();
  for (size_t i = 0; i < ML_METRIC_NDEFS; i++) {
    const ml_metric_def *d = &ml_metric_defs[i];
    json_t *aggs = json_pack("[s,s,s,s,s]", "None", "Average", "Minimum", "Maximum", "Total");
    json_array_append_new(
        arr,
        json_pack(
            "{s:s,s:s,s:s,s:b,s:{s:s,s:s},s:s,s:s,s:s,s:o,s:[{s:s,s:s}],s:[{s:s,s:s}]}", "id",
            http_printf(r, "%s/providers/microsoft.insights/metricdefinitions/%s", ep_id, d->name),
            "resourceId", ep_id, "namespace", ML_NS "/workspaces/onlineEndpoints",
            "isDimensionRequired", 0, "name", "value", d->name, "localizedValue", d->display,
            "displayDescription", d->display, "unit", d->unit, "primaryAggregationType", d->primary,
            "supportedAggregationTypes", aggs, "metricAvailabilities", "timeGrain", "PT1M",
            "retention", "P1D", "dimensions", "value", "deployment", "localizedValue",
            "deployment"));
  }
  http_reply_json(r, 200, json_pack("{s:o}", "value", arr));
}

/* One point of a metric over the buckets [from, to) of a deployment (or of
 * all when dep is NULL); NULL when no request fell there. */
static json_t *metric_point(const ml_metric_def *d, const char *ep_id, const char *dep,
                            int64_t from, int64_t to, const char *aggs, char stamp[40]) {
  int64_t count = 0, bins[METRIC_BINS] = {0}, minutes = 0;
  double sum = 0, mn = 0, mx = 0;
  size_t plen = strlen(ep_id);
  for (ml_metric_min *m = metrics; m; m = m->next) {
    if (m->minute < from || m->minute >= to) continue;
    if (strncasecmp(m->dep_id, ep_id, plen) || strncmp(m->dep_id + plen, "/deployments/", 13))
      continue;
    if (dep && strcasecmp(m->dep_id + plen + 13, dep)) continue;
    if (!count || m->min_ms < mn) mn = m->min_ms;
    if (m->max_ms > mx) mx = m->max_ms;
    count += m->count;
    sum += m->sum_ms;
    minutes++;
    for (int i = 0; i < METRIC_BINS; i++)
      bins[i] += m->bins[i];
  }
  json_t *p = json_pack("{s:s}", "timeStamp", stamp);
  if (!count) return p; /* Azure leaves the values out of an empty grain */
  double avg, total, lo, hi;
  int64_t n;
  if (!strcmp(d->name, "RequestsPerMinute")) {
    /* One sample per minute: the requests in it. */
    int64_t span = to - from;
    total = (double)count;
    avg = (double)count / (double)(span > 0 ? span : 1);
    lo = hi = avg;
    n = span;
  } else if (d->pct > 0) {
    int64_t want = (int64_t)((double)count * d->pct + 0.999999), seen = 0;
    int i = 0;
    for (; i < METRIC_BINS - 1; i++)
      if ((seen += bins[i]) >= want) break;
    avg = total = lo = hi = metric_bin_upper(i);
    if (avg > mx) avg = total = lo = hi = mx;
    n = minutes;
  } else {
    avg = sum / (double)count;
    total = sum;
    lo = mn;
    hi = mx;
    n = count;
  }
  if (strcasestr(aggs, "average")) json_object_set_new(p, "average", json_real(avg));
  if (strcasestr(aggs, "total")) json_object_set_new(p, "total", json_real(total));
  if (strcasestr(aggs, "minimum")) json_object_set_new(p, "minimum", json_real(lo));
  if (strcasestr(aggs, "maximum")) json_object_set_new(p, "maximum", json_real(hi));
  if (strcasestr(aggs, "count")) json_object_set_new(p, "count", json_real((double)n));
  return p;
}

/* "PT1M", "PT5M", "PT1H", "P1D": minutes, or -1. */
static int64_t metric_interval(const char *s) {
  if (!s || !*s) return 1;
  long n = 0;
  char unit = 0;
  if (sscanf(s, "PT%ld%c", &n, &unit) == 2 && n > 0) {
    if (unit == 'M' || unit == 'm') return n;
    if (unit == 'H' || unit == 'h') return n * 60;
  }
  if (sscanf(s, "P%ld%c", &n, &unit) == 2 && n > 0 && (unit == 'D' || unit == 'd')) return n * 1440;
  return -1;
}

void ml_scoring_metrics(http_req *r, const char *ep_id, const char *region) {
  const char *names = http_query_get(r, "metricnames");
  const char *aggs = http_query_get(r, "aggregation");
  const char *span = http_query_get(r, "timespan");
  const char *filter = http_query_get(r, "$filter");
  int64_t interval = metric_interval(http_query_get(r, "interval"));
  if (interval <= 0) {
    http_fail(r, ML_ERR_BAD_REQUEST, "Invalid interval '%s': use PT1M, PT5M, PT1H or P1D.",
              http_query_get(r, "interval"));
    return;
  }
  int64_t now = clock_now_ms(r->srv), end_ms = now + 1, start_ms = now - 3600000;
  if (span && *span) {
    /* az (azure-mgmt-monitor) sends the timespan percent-encoded twice, and
     * its times without a zone (UTC). */
    char *dec = http_strdup(r, span), *o = dec;
    for (const char *c = span; *c; c++) {
      unsigned h;
      if (c[0] == '%' && sscanf(c + 1, "%2x", &h) == 1) {
        *o++ = (char)h;
        c += 2;
      } else {
        *o++ = *c;
      }
    }
    *o = 0;
    const char *slash = strchr(dec, '/');
    char a[64], b[64];
    snprintf(a, sizeof a, "%.*s", slash ? (int)(slash - dec) : (int)strlen(dec), dec);
    snprintf(b, sizeof b, "%s", slash ? slash + 1 : "");
    for (char *t = a; t; t = t == a ? b : NULL)
      if (*t && !strchr(t + 10, 'Z') && !strchr(t + 10, '+') && !strchr(t + 10, '-') &&
          strlen(t) + 2 < sizeof a)
        strcat(t, "Z");
    start_ms = clock_parse_iso8601(a);
    end_ms = b[0] ? clock_parse_iso8601(b) : now;
    if (start_ms < 0 || end_ms < 0 || end_ms <= start_ms) {
      http_fail(r, ML_ERR_BAD_REQUEST,
                "Invalid timespan '%s': give start/end as ISO 8601 date-times.", span);
      return;
    }
  }
  if (!aggs || !*aggs) aggs = "Average";
  /* $filter "deployment eq '*'" splits by deployment; "deployment eq 'x'"
   * keeps one. */
  char one[200] = "";
  int split = 0;
  if (filter && strcasestr(filter, "deployment")) {
    const char *q = strchr(filter, '\'');
    const char *qe = q ? strchr(q + 1, '\'') : NULL;
    if (!qe) {
      http_fail(r, ML_ERR_BAD_REQUEST, "Invalid $filter '%s'.", filter);
      return;
    }
    snprintf(one, sizeof one, "%.*s", (int)(qe - q - 1), q + 1);
    split = !strcmp(one, "*");
  }
  int64_t from = start_ms / 60000, to = (end_ms + 59999) / 60000;
  from -= from % interval;
  json_t *value = json_array();
  char *list = strdup(names && *names ? names : "RequestsPerMinute");
  if (!list) abort();
  http_defer(r, free, list);
  char *save = NULL;
  pthread_mutex_lock(&metrics_mu);
  for (char *nm = strtok_r(list, ",", &save); nm; nm = strtok_r(NULL, ",", &save)) {
    while (*nm == ' ')
      nm++;
    const ml_metric_def *d = metric_def(nm);
    if (!d) {
      pthread_mutex_unlock(&metrics_mu);
      json_decref(value);
      http_fail(r, ML_ERR_BAD_REQUEST,
                "Failed to find metric configuration for provider: "
                "Microsoft.MachineLearningServices, resource Type: "
                "workspaces/onlineEndpoints, metric: %s, Valid metrics: RequestsPerMinute,"
                "RequestLatency,RequestLatency_P50,RequestLatency_P90,RequestLatency_P95,"
                "RequestLatency_P99",
                nm);
      return;
    }
    /* The series: one for all, or one per deployment seen. */
    json_t *deps = json_array();
    if (split) {
      size_t plen = strlen(ep_id);
      for (ml_metric_min *m = metrics; m; m = m->next) {
        if (m->minute < from || m->minute >= to || strncasecmp(m->dep_id, ep_id, plen) ||
            strncmp(m->dep_id + plen, "/deployments/", 13))
          continue;
        const char *dn = m->dep_id + plen + 13;
        int have = 0;
        size_t i;
        json_t *v;
        json_array_foreach(deps, i, v) have |= !strcasecmp(json_string_value(v), dn);
        if (!have) json_array_append_new(deps, json_string(dn));
      }
    } else {
      json_array_append_new(deps, one[0] ? json_string(one) : json_null());
    }
    json_t *series = json_array();
    size_t i;
    json_t *dv;
    json_array_foreach(deps, i, dv) {
      const char *dn = json_string_value(dv);
      json_t *data = json_array();
      for (int64_t t = from; t < to; t += interval) {
        char stamp[40];
        clock_iso8601(t * 60000, stamp);
        json_array_append_new(data, metric_point(d, ep_id, dn, t, t + interval, aggs, stamp));
      }
      json_t *meta = json_array();
      if (dn)
        json_array_append_new(meta, json_pack("{s:{s:s,s:s},s:s}", "name", "value", "deployment",
                                              "localizedValue", "deployment", "value", dn));
      json_array_append_new(series, json_pack("{s:o,s:o}", "metadatavalues", meta, "data", data));
    }
    json_decref(deps);
    json_array_append_new(
        value,
        json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:o,s:s}", "id",
                  http_printf(r, "%s/providers/Microsoft.Insights/metrics/%s", ep_id, d->name),
                  "type", "Microsoft.Insights/metrics", "name", "value", d->name, "localizedValue",
                  d->display, "displayDescription", d->display, "unit", d->unit, "timeseries",
                  series, "errorCode", "Success"));
  }
  pthread_mutex_unlock(&metrics_mu);
  char a[40], b[40], grain[24];
  clock_iso8601(from * 60000, a);
  clock_iso8601(to * 60000, b);
  if (interval % 1440 == 0)
    snprintf(grain, sizeof grain, "P%lldD", (long long)(interval / 1440));
  else if (interval % 60 == 0)
    snprintf(grain, sizeof grain, "PT%lldH", (long long)(interval / 60));
  else
    snprintf(grain, sizeof grain, "PT%lldM", (long long)interval);
  http_reply_json(r, 200,
                  json_pack("{s:i,s:s,s:s,s:o,s:s,s:s}", "cost", 0, "timespan",
                            http_printf(r, "%s/%s", a, b), "interval", grain, "value", value,
                            "namespace", ML_NS "/workspaces/onlineEndpoints", "resourceregion",
                            region ? region : ""));
}
