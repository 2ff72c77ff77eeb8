/* serve.c: `azlite serve`: open the store, start the listeners, print where
 * everything is, and run until SIGINT/SIGTERM. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"

/* The endpoints of this run, for `azlite env|az|clock` and for tests. */
static int write_endpoints(srv *s) {
  char *path = srv_path(s, "endpoints.json"), *tmp = srv_path(s, "endpoints.json.tmp");
  json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i}", "management", s->mgmt_url, "blob", s->blob_url,
                        "blobTls", s->blob_tls_url, "dfs", s->dfs_url, "pid", (int)getpid());
  int rc = json_dump_file(j, tmp, JSON_INDENT(2)) == 0 && rename(tmp, path) == 0 ? 0 : -1;
  json_decref(j);
  free(path);
  free(tmp);
  return rc;
}

int cmd_serve(int argc, char **argv) {
  struct timeval t0, t1;
  gettimeofday(&t0, NULL);
  srv s = {0};
  srv_config_defaults(&s.cfg);
  argc = cli_common_options(&s.cfg, argc, argv);
  if (argc < 0) return 2;
  if (argc > 1) {
    fprintf(stderr, "%s serve: unexpected argument '%s' (see '%s serve --help')\n", cli_prog,
            argv[1], cli_prog);
    return 2;
  }
  /* One server per data dir, taken before anything there is touched (the
   * tmp sweep, endpoints.json): held until the process exits. */
  if (cli_serve_lock(s.cfg.data_dir, cli_prog) < 0) return 1;
  /* Block the stop signals before any thread starts, so only sigwait sees them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  s.serving = 1;
  if (cli_open_store(&s) != 0 || srv_listen(&s) != 0 || write_endpoints(&s) != 0) {
    log_error("azlite could not start");
    srv_close(&s);
    return 1;
  }
  gettimeofday(&t1, NULL);
  char *ca = srv_path(&s, "pki/ca.pem");
  printf("azlite is ready (%.1f ms)\n"
         "  data dir        %s\n"
         "  management      %s   (ARM, Azure AD at %s/adfs, Graph at %s/graph)\n"
         "  blob            %s/<account>   https: %s/<account>\n"
         "  tenant          %s\n"
         "  subscription    %s\n"
         "  CA certificate  %s\n"
         "  credentials     eval \"$(%s env --data-dir %s)\"; or run `%s az ...`\n",
         (double)(t1.tv_sec - t0.tv_sec) * 1000.0 + (double)(t1.tv_usec - t0.tv_usec) / 1000.0,
         s.cfg.data_dir, s.mgmt_url, s.mgmt_url, s.mgmt_url, s.blob_url, s.blob_tls_url,
         s.tenant_id, s.subscription_id, ca, cli_prog, s.cfg.data_dir, cli_prog);
  fflush(stdout);
  free(ca);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  /* The path before srv_close(): it frees the data dir string srv_path() uses. */
  char *ep = srv_path(&s, "endpoints.json");
  srv_close(&s);
  unlink(ep);
  free(ep);
  log_info("azlite stopped");
  return 0;
}
