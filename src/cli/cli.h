/* cli.h: the `azlite` command-line tool: one file per subcommand (git's
 * builtin/ layout), sharing option parsing and the server context. */
#ifndef AZLITE_CLI_H
#define AZLITE_CLI_H

#include "../core/internal.h"

/* Parses the options every subcommand accepts (--data-dir, --log-level, ports)
 * from argv, removing them; returns the new argc or -1 on a bad option. */
int cli_common_options(srv_config *c, int argc, char **argv);
/* Opens the store beside (or without) a running server, with serving = 0. */
int cli_open(srv *s);
/* Reads the endpoints a running server wrote (<data>/endpoints.json) into s. */
void cli_load_endpoints(srv *s);
/* Is a server running for s's data dir (endpoints.json names a live process)? */
int cli_server_running(srv *s);

int cmd_serve(int argc, char **argv);
int cmd_env(int argc, char **argv);
int cmd_az(int argc, char **argv);
int cmd_clock(int argc, char **argv);

#endif
