/* cli.h: the `azlite` command-line tool: one file per subcommand (git's
 * builtin/ layout), sharing option parsing and the server context. */
#ifndef AZLITE_CLI_H
#define AZLITE_CLI_H

#include <sys/types.h>

#include "../core/internal.h"

/* Parses the options every subcommand accepts (--data-dir, --log-level, ports)
 * from argv, removing them; returns the new argc or -1 on a bad option. */
int cli_common_options(srv_config *c, int argc, char **argv);
/* Opens the store beside (or without) a running server, with serving = 0. */
int cli_open(srv *s);
/* Reads the endpoints a running server wrote (<data>/endpoints.json) into s. */
void cli_load_endpoints(srv *s);
/* The program's name as invoked (argv[0], e.g. build/azlite), for messages. */
extern const char *cli_prog;

/* The data dir's locks (common.c): one server per data dir, one first start.
 * Takes the server lock for this process's lifetime; -1 (and a message naming
 * the pid that holds it) when another server has it. */
int cli_serve_lock(const char *data_dir, const char *prog);
/* The pid of the server holding the data dir's server lock, 0 when none. */
pid_t cli_server_pid(const char *data_dir);
/* srv_open under the data dir's init lock: migrations and first-start
 * creation happen once, whoever comes first. */
int cli_open_store(srv *s);
/* Waits (up to 30 s) for the server holding the data dir to be ready and loads
 * its endpoints: 1 ready, 0 no server holds the data dir, -1 not ready in time. */
int cli_find_server(srv *s);
/* cli_find_server, printing what to do when there is no ready server; 0 = ready. */
int cli_require_server(srv *s, const char *what);
/* Preloads azlite's library into what is exec'd next (exec.c); 0 or -1. */
int cli_preload(const char *mgmt_port);

int cmd_serve(int argc, char **argv);
int cmd_env(int argc, char **argv);
int cmd_az(int argc, char **argv);
int cmd_clock(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_cost(int argc, char **argv);

#endif
