/* cost.c: `azlite cost` (this month's cost by resource group and service,
 * and a daily chart) and `azlite cost mail` (the budget alert mailbox). */
#include <stdio.h>
#include <string.h>

#include "../cost/cost.h"
#include "cli.h"

int cmd_cost(int argc, char **argv) {
  srv s = {0};
  srv_config_defaults(&s.cfg);
  argc = cli_common_options(&s.cfg, argc, argv);
  int mail = argc == 2 && !strcmp(argv[1], "mail");
  if (argc < 0 || (argc != 1 && !mail)) {
    fprintf(stderr, "usage: %s cost [mail] [--data-dir DIR]\n", cli_prog);
    return 2;
  }
  if (cli_open(&s) != 0) {
    srv_close(&s);
    return 1;
  }
  int rc = mail ? cost_mail_report(&s, stdout) : cost_report(&s, stdout);
  srv_close(&s);
  return rc == 0 ? 0 : 1;
}
