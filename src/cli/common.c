/* common.c: what every subcommand shares: options, opening the store, and
 * finding a running server's endpoints. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_common_options(srv_config *c, int argc, char **argv) {
  int out = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) {
      while (i < argc) argv[out++] = argv[i++];
      break;
    }
    if (!strcmp(a, "--data-dir") && v) {
      c->data_dir = v;
    } else if (!strcmp(a, "--log-level") && v) {
      if (log_level_parse(v) < 0) {
        fprintf(stderr, "azlite: unknown log level '%s' (error|warn|info|debug)\n", v);
        return -1;
      }
      c->log_level = log_level_parse(v);
    } else if (!strcmp(a, "--mgmt-port") && v) {
      c->mgmt_port = atoi(v);
    } else if (!strcmp(a, "--blob-port") && v) {
      c->blob_port = atoi(v);
    } else if (!strcmp(a, "--blob-tls-port") && v) {
      c->blob_tls_port = atoi(v);
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
  json_decref(j);
}

int cli_server_running(srv *s) {
  char *path = srv_path(s, "endpoints.json");
  json_t *j = json_load_file(path, 0, NULL);
  free(path);
  json_int_t pid = j ? json_integer_value(json_object_get(j, "pid")) : 0;
  json_decref(j);
  /* A crashed server leaves its file behind: the pid must be alive too. */
  return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int cli_open(srv *s) {
  s->serving = 0;
  log_set_level(LOG_WARN);
  s->cfg.log_level = LOG_WARN;
  if (srv_open(s) != 0) return -1;
  cli_load_endpoints(s);
  return 0;
}
