/* internal.h: what src/core/ and the CLI use to start and stop a server;
 * providers use core.h only. */
#ifndef AZLITE_CORE_INTERNAL_H
#define AZLITE_CORE_INTERNAL_H

#include <assert.h>

#include "core.h"

int store_init(srv *s);
void store_fini(srv *s);
int clock_init(srv *s);
int sched_start(srv *s);
void sched_stop(srv *s);

/* Fills defaults, then AZLITE_* environment variables. */
void srv_config_defaults(srv_config *c);
/* Creates the data dir, opens the store, runs migrations and provider init. */
int srv_open(srv *s);
/* Starts the listeners; 0 on success. */
int srv_listen(srv *s);
/* Stops listeners and scheduler, runs provider fini, closes the store. */
void srv_close(srv *s);

/* A request made outside any connection (for tests): its own arena, no
 * body, no route.  http_req_free ends it (its deferred cleanups run then). */
http_req *http_req_detached(srv *s, enum http_listener listener, const char *method,
                            const char *target);
void http_req_free(http_req *r);

/* Checks that no two routes of the providers' tables (NULL-terminated) match
 * some request equally well (the same listener and method, the same measure
 * of specificity, and a path both match): the router would then pick by table
 * order.  -1 and a message naming both routes in err. */
int routes_check(const provider *const *list, char *err, size_t errlen);

/* Creates <data>/pki/{ca.pem,ca.key,server.pem,server.key} if missing. */
int pki_ensure(srv *s);

#endif
