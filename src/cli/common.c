/* common.c: what every subcommand shares: options, opening the store, and
 * finding a running server's endpoints. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_common_options(srv_config *c, int argc, char **argv) {
  int out = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) {
      while (i < argc)
        argv[out++] = argv[i++];
      break;
    }
    if (!strcmp(a, "--data-dir") && v) {
      c->data_dir = v;
    } else if (!strcmp(a, "--log-level") && v) {
      if (log_level_parse(v) < 0) {
        fprintf(stderr, "%s: unknown log level '%s' (error|warn|info|debug)\n", cli_prog, v);
        return -1;
      }
      c->log_level = log_level_parse(v);
    } else if (!strcmp(a, "--mgmt-port") && v) {
      c->mgmt_port = atoi(v);
    } else if (!strcmp(a, "--blob-port") && v) {
      c->blob_port = atoi(v);
    } else if (!strcmp(a, "--blob-tls-port") && v) {
      c->blob_tls_port = atoi(v);
    } else if (!strcmp(a, "--prices") && v) {
      c->prices_file = v;
    } else if (!strcmp(a, "--dfs-port") && v) {
      c->dfs_port = atoi(v);
    } else if (!strcmp(a, "--threads") && v) {
      c->threads = atoi(v);
    } else {
      argv[out++] = argv[i];
      continue;
    }
    i++;
  }
  argv[out] = NULL;
  return out;
}

void cli_load_endpoints(srv *s) {
  char *path = srv_path(s, "endpoints.json");
  json_t *j = json_load_file(path, 0, NULL);
  free(path);
  if (!j) return;
  const char *m = json_string_value(json_object_get(j, "management"));
  const char *b = json_string_value(json_object_get(j, "blob"));
  const char *bt = json_string_value(json_object_get(j, "blobTls"));
  if (m) snprintf(s->mgmt_url, sizeof s->mgmt_url, "%s", m);
  if (b) snprintf(s->blob_url, sizeof s->blob_url, "%s", b);
  if (bt) snprintf(s->blob_tls_url, sizeof s->blob_tls_url, "%s", bt);
  const char *df = json_string_value(json_object_get(j, "dfs"));
  if (df) snprintf(s->dfs_url, sizeof s->dfs_url, "%s", df);
  json_decref(j);
}

/* ---- the data dir's locks ----------------------------------------------------
 * serve.lock: a POSIX record lock (fcntl) the one server holds while it runs.
 * F_GETLK reports the holder's pid without taking the lock, so a probe never
 * makes a starting server fail, and the kernel drops it when the server dies.
 * init.lock: an flock every process holds around srv_open (migrations and the
 * first start's tenant, admin and keys), so they happen once, whoever is first. */

static char *dir_file(const char *dir, const char *name) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", dir, name) < 0) abort();
  return p;
}

static int mkdir_parents(const char *dir) {
  char *p = strdup(dir);
  for (char *q = p + 1; *q; q++)
    if (*q == '/') {
      *q = 0;
      mkdir(p, 0700);
      *q = '/';
    }
  int rc = mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
  free(p);
  return rc;
}

pid_t cli_server_pid(const char *data_dir) {
  char *path = dir_file(data_dir, "serve.lock");
  int fd = open(path, O_RDWR | O_CLOEXEC);
  free(path);
  if (fd < 0) return 0;
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  pid_t pid = fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK ? l.l_pid : 0;
  close(fd);
  return pid;
}

int cli_serve_lock(const char *data_dir, const char *prog) {
  if (mkdir_parents(data_dir) != 0) {
    fprintf(stderr, "%s serve: cannot create data dir %s: %s\n", prog, data_dir, strerror(errno));
    return -1;
  }
  char *path = dir_file(data_dir, "serve.lock");
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  free(path);
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fd >= 0 && fcntl(fd, F_SETLK, &l) == 0) {
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || write(fd, buf, (size_t)n) != n) {
      /* the pid in the file is informative; the lock is what counts */
    }
    return fd;
  }
  pid_t other = cli_server_pid(data_dir);
  if (other > 0)
    fprintf(stderr,
            "%s serve: data dir %s is already being served by azlite (pid %d); stop that "
            "server or choose another --data-dir\n",
            prog, data_dir, (int)other);
  else
    fprintf(stderr, "%s serve: cannot lock data dir %s: %s\n", prog, data_dir, strerror(errno));
  if (fd >= 0) close(fd);
  return -1;
}

int cli_open_store(srv *s) {
  if (mkdir_parents(s->cfg.data_dir) != 0) {
    fprintf(stderr, "%s: cannot create data dir %s: %s\n", cli_prog, s->cfg.data_dir,
            strerror(errno));
    return -1;
  }
  char *path = dir_file(s->cfg.data_dir, "init.lock");
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  free(path);
  if (fd < 0 || flock(fd, LOCK_EX) != 0) {
    fprintf(stderr, "%s: cannot lock %s/init.lock: %s\n", cli_prog, s->cfg.data_dir,
            strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  int rc = srv_open(s);
  close(fd);
  return rc;
}

int cli_find_server(srv *s) {
  struct timespec nap = {0, 20 * 1000000L};
  for (int i = 0; i < 30 * 50; i++) {
    pid_t pid = cli_server_pid(s->cfg.data_dir);
    if (pid <= 0) return 0;
    char *path = srv_path(s, "endpoints.json");
    json_t *j = json_load_file(path, 0, NULL);
    free(path);
    json_int_t epid = j ? json_integer_value(json_object_get(j, "pid")) : 0;
    json_decref(j);
    /* The server writes its endpoints once it listens; until then it is starting. */
    if (epid == pid) {
      cli_load_endpoints(s);
      return 1;
    }
    nanosleep(&nap, NULL);
  }
  return -1;
}

int cli_require_server(srv *s, const char *what) {
  int found = cli_find_server(s);
  if (found == 1) return 0;
  if (found == 0)
    fprintf(stderr,
            "%s: no azlite server is running with data dir %s; start one with "
            "`%s serve --data-dir %s`\n",
            what, s->cfg.data_dir, cli_prog, s->cfg.data_dir);
  else
    fprintf(stderr,
            "%s: the azlite server (pid %d) for data dir %s did not become ready "
            "within 30 s\n",
            what, (int)cli_server_pid(s->cfg.data_dir), s->cfg.data_dir);
  return -1;
}

int cli_open(srv *s) {
  s->serving = 0;
  log_set_level(LOG_WARN);
  s->cfg.log_level = LOG_WARN;
  if (cli_open_store(s) != 0) return -1;
  cli_load_endpoints(s);
  return 0;
}
