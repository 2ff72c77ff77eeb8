/* main.c: `azlite` dispatches to its subcommands (a table, not a switch), and
 * answers `--help` for itself and for each of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_prog = "azlite";

/* What each command takes; %1$s is the program name as invoked. */
#define OPT_DATA_DIR                                                                               \
  "  --data-dir DIR        state directory (default ./azlite-data; env AZLITE_DATA_DIR)\n"
#define OPT_SERVER                                                                                 \
  "  --log-level LEVEL     error|warn|info|debug (default info; env AZLITE_LOG_LEVEL)\n"           \
  "  --mgmt-port N         HTTPS port of ARM, Azure AD and Graph (default 8443;\n"                 \
  "                        env AZLITE_MGMT_PORT)\n"                                                \
  "  --blob-port N         HTTP port of Blob Storage (default 10000; env AZLITE_BLOB_PORT)\n"      \
  "  --blob-tls-port N     HTTPS port of Blob Storage (default 10443;\n"                           \
  "                        env AZLITE_BLOB_TLS_PORT)\n"                                            \
  "  --dfs-port N          HTTP port of Data Lake Storage, dfs (default 10004; 0: none;\n"         \
  "                        env AZLITE_DFS_PORT)\n"                                                 \
  "  --threads N           request threads per listener (default 4)\n"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
  const char *usage; /* a printf format: every %1$s is the program name */
} commands[] = {
    {"serve", cmd_serve, "start the local Azure cloud",
     "usage: %1$s serve [options]\n\n"
     "Starts azlite: ARM, Azure AD and Graph over HTTPS, Blob Storage over HTTP and\n"
     "HTTPS, until SIGINT or SIGTERM.  One server per data dir: a second one on the\n"
     "same data dir exits with status 1 naming the first one's pid.  The first start\n"
     "creates the tenant, the subscription, the admin service principal and the CA.\n\n"
     "options:\n" OPT_DATA_DIR OPT_SERVER},
    {"env", cmd_env, "print export lines that point SDKs and tools at azlite",
     "usage: %1$s env [--data-dir DIR]\n\n"
     "Prints `export NAME=value` lines (the admin's credentials, the tenant, the\n"
     "subscription, the endpoints, the CA bundle) for the server running on the data\n"
     "dir:  eval \"$(%1$s env)\".  Fails (status 1) when no server runs there; start one\n"
     "with `%1$s serve --data-dir DIR`.\n\n"
     "options:\n" OPT_DATA_DIR},
    {"az", cmd_az, "run the real `az` CLI against azlite (like awslocal)",
     "usage: %1$s az [--data-dir DIR] [--mgmt-port N] AZ-ARGUMENTS...\n\n"
     "Runs Debian's `az` against the server running on the data dir, logged in as\n"
     "the admin service principal, with its own config dir (DIR/az; ~/.azure is not\n"
     "touched).  az's output and exit status pass through.  az's own help:\n"
     "`%1$s az GROUP --help`.\n\n"
     "options (before the az arguments):\n" OPT_DATA_DIR
     "  --mgmt-port N         accepted for symmetry; the port comes from the running\n"
     "                        server's DIR/endpoints.json\n"},
    {"exec", cmd_exec, "run a command written for Azure, unchanged, against azlite",
     "usage: %1$s exec [--data-dir DIR] [--] COMMAND [ARGS...]\n\n"
     "Runs COMMAND with Azure's host names (management.azure.com,\n"
     "login.microsoftonline.com, graph.microsoft.com, <account>.blob.core.windows.net,\n"
     "...) answered by the server running on the data dir, through a preloaded\n"
     "library (libazlite_preload.so beside %1$s), with the environment of\n"
     "`%1$s env` (the real tenant id, the default authority) and a CA bundle of the\n"
     "system's CAs plus azlite's.  Azure names azlite does not serve fail at once\n"
     "(never the internet); other names resolve as usual.  Statically linked\n"
     "programs are not covered.\n\n"
     "options:\n" OPT_DATA_DIR},
    {"cost", cmd_cost, "this month's cost by group and service; `azlite cost mail`: alerts",
     "usage: %1$s cost [--data-dir DIR]\n"
     "       %1$s cost mail [--data-dir DIR]\n\n"
     "Prints this month's cost (azlite's clock, USD at the catalog's prices) by\n"
     "resource group and by service, and a chart of the cost per day.  `mail` lists\n"
     "the budget alert messages in the mailbox (DIR/mail/<address>/new, a Maildir).\n"
     "Works with or without a server running on the data dir.\n\n"
     "options:\n" OPT_DATA_DIR},
    {"clock", cmd_clock, "show or advance azlite's clock: `azlite clock advance 30d`",
     "usage: %1$s clock [show] [--data-dir DIR]\n"
     "       %1$s clock advance DURATION [--data-dir DIR]\n\n"
     "Shows azlite's clock, or moves it forward (never back) by DURATION: terms like\n"
     "30d, 12h, 90m, 45s, 1500ms, 2w, summed (2d12h); a bare number is seconds.  The\n"
     "clock drives time-based state (lifecycle rules, rehydration, budgets); tokens\n"
     "and client secrets follow the wall clock, so credentials keep working.  It\n"
     "cannot pass 9999-12-31T23:59:59Z.  With a server running the change goes\n"
     "through it; without one it is written to the data dir.\n\n"
     "options:\n" OPT_DATA_DIR},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: %s <command> [options]\n\ncommands:\n", cli_prog);
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].help);
  fprintf(f,
          "\n`%s <command> --help` shows a command's options.\n\ncommon options:\n" OPT_DATA_DIR
              OPT_SERVER,
          cli_prog);
}

static int wants_help(int argc, char **argv, int only_first) {
  for (int i = 1; i < argc && (!only_first || i == 1); i++) {
    if (!strcmp(argv[i], "--")) break;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argv[0] && *argv[0]) cli_prog = argv[0];
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    printf("azlite 0.1.0\n");
    return 0;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(argv[1], commands[i].name)) {
      /* az's arguments after its own are az's: `azlite az group --help` is az's help. */
      if (wants_help(argc - 1, argv + 1, commands[i].fn == cmd_az)) {
        printf(commands[i].usage, cli_prog);
        return 0;
      }
      return commands[i].fn(argc - 1, argv + 1);
    }
  fprintf(stderr, "%s: '%s' is not a command. See '%s --help'.\n", cli_prog, argv[1], cli_prog);
  return 2;
}
