/* main.c: `azlite` dispatches to its subcommands (a table, not a switch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
    {"serve", cmd_serve, "start the local Azure cloud"},
    {"env", cmd_env, "print export lines that point SDKs and tools at azlite"},
    {"az", cmd_az, "run the real `az` CLI against azlite (like awslocal)"},
    {"clock", cmd_clock, "show or advance azlite's clock: `azlite clock advance 30d`"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: azlite <command> [--data-dir DIR] [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].help);
  fprintf(f,
          "\ncommon options:\n"
          "  --data-dir DIR        state directory (env AZLITE_DATA_DIR; default ./azlite-data)\n"
          "  --log-level LEVEL     error|warn|info|debug (env AZLITE_LOG_LEVEL)\n"
          "  --mgmt-port N         HTTPS port of ARM, Azure AD and Graph (default 8443)\n"
          "  --blob-port N         HTTP port of Blob Storage (default 10000)\n"
          "  --blob-tls-port N     HTTPS port of Blob Storage (default 10443)\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
      !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    printf("azlite 0.1.0\n");
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "azlite: '%s' is not a command. See 'azlite --help'.\n", argv[1]);
  return 2;
}
