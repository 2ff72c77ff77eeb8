/* env.c: `azlite env` prints export lines so SDK code and tools run unchanged. */
#include <stdio.h>

#include "cli.h"

int cmd_env(int argc, char **argv) {
  srv s = {0};
  srv_config_defaults(&s.cfg);
  argc = cli_common_options(&s.cfg, argc, argv);
  if (argc != 1) {
    fprintf(stderr, "usage: %s env [--data-dir DIR]\n", cli_prog);
    return 2;
  }
  /* What env prints is a running server's: without one it would invent a
   * tenant in a data dir nobody serves. */
  char what[256];
  snprintf(what, sizeof what, "%s env", cli_prog);
  if (cli_require_server(&s, what) != 0) return 1;
  if (cli_open(&s) != 0) {
    srv_close(&s);
    return 1;
  }
  printf("export AZLITE_DATA_DIR=%s\n", s.cfg.data_dir);
  for (int i = 0; providers[i]; i++)
    if (providers[i]->env) providers[i]->env(&s, stdout);
  srv_close(&s);
  return 0;
}
