/* core.h: the server context, the provider interface, and the core services
 * every provider uses: routes, the store, the clock, the scheduler, the log.
 *
 * A provider (src/<provider>/) is a `const struct provider` listed once in
 * src/core/providers.c.  It declares its routes, its schema migrations and its
 * hooks; it talks to another provider only through that provider's header.
 */
#ifndef AZLITE_CORE_H
#define AZLITE_CORE_H

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>

#include "errors.h"
#include "http.h"

/* ---- configuration -------------------------------------------------- */

typedef struct srv_config {
  const char *data_dir; /* --data-dir / AZLITE_DATA_DIR, default ./azlite-data */
  const char *bind;     /* 127.0.0.1 */
  int mgmt_port;        /* HTTPS: ARM, AAD, Graph (default 8443) */
  int blob_port;        /* HTTP blob (default 10000, Azurite's) */
  int blob_tls_port;    /* HTTPS blob (default 10443) */
  int dfs_port;         /* HTTP Data Lake Storage, dfs (default 10004; 0: none) */
  int log_level;        /* LOG_ERROR..LOG_DEBUG */
  int threads;          /* HTTP worker threads per listener */
  uint64_t max_body;    /* largest request body accepted on blob listeners */
  /* Connection deadlines, in seconds: no byte either way (AZLITE_IDLE_TIMEOUT,
   * default 30), and request line to complete headers (AZLITE_HEADER_TIMEOUT,
   * default 20). */
  int idle_timeout_s;
  int header_timeout_s;
  /* --prices FILE / AZLITE_PRICES: a price catalog replacing the shipped one
   * (cost management, src/cost/); NULL: the shipped one. */
  const char *prices_file;
} srv_config;

/* ---- logging ---------------------------------------------------------- */

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
void log_set_level(int level);
int log_level_parse(const char *s); /* -1 if unknown */
/* A line identical to the one before, within a second, is counted instead of
 * written again. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* ---- routes ----------------------------------------------------------- */

/* Who may call a route. */
enum route_auth {
  AUTH_NONE,     /* anonymous: metadata, token endpoint, openid config */
  AUTH_ARM,      /* bearer token for the management audience + RBAC action check */
  AUTH_GRAPH,    /* bearer token for the Graph audience */
  AUTH_ADMIN,    /* bearer token of the admin principal (azlite admin API) */
  AUTH_PROVIDER, /* the handler authenticates itself (blob: shared key, SAS, bearer) */
};

typedef void (*route_fn)(http_req *r);

/* A pattern is a path of segments: literals match case-insensitively, "{name}"
 * captures one segment, a final "*" captures the rest (may be empty) as "*".
 * The most specific match wins (most literal segments); a path that matches
 * only with another method gets 405. */
typedef struct route {
  enum http_listener listener; /* LISTEN_BLOB routes also serve LISTEN_BLOB_TLS */
  const char *method;          /* "GET", ..., or "*" */
  const char *pattern;
  route_fn fn;
  enum route_auth auth;
  enum http_err_style style;
  /* For AUTH_ARM: the RBAC action, e.g. "Microsoft.Resources/subscriptions/resourceGroups/write".
   * NULL derives it from the path and method (see arm_action_for()); "" means any
   * authenticated caller, the handler filtering what it shows (tenant-level lists). */
  const char *action;
  /* Which digests of the body (HTTP_DIGEST_* bits) the handler will want,
   * asked once the headers are in so they are computed while the body
   * arrives; NULL: none. */
  int (*body_digests)(http_req *r);
  /* Handed to the handler (http_route_data()): e.g. the resource type
   * descriptor a generic handler of the ARM resource layer serves. */
  const void *data;
} route;

/* ---- digests ----------------------------------------------------------- */

/* The CRC64 Azure Storage sends in x-ms-content-crc64 (reflected polynomial
 * 0x9A6C9329AC4BC9B5, inverted in and out); incremental: start from 0 and
 * feed the previous result.  Uses carry-less multiply where the CPU has it. */
uint64_t crc64_update(uint64_t crc, const void *data, size_t len);
/* The same, always by tables (for tests). */
uint64_t crc64_portable(uint64_t crc, const void *data, size_t len);

/* ---- the store -------------------------------------------------------- */

/* Migrations: each provider lists SQL scripts; script i is schema version i+1
 * of that provider, applied once, in order, in a transaction. */
typedef struct migrations {
  const char *const *scripts;
  int count;
} migrations;

/* The calling thread's connection (opened on first use, WAL, busy timeout). */
sqlite3 *store_db(struct srv *s);
/* Drop-in for sqlite3_prepare_v2/sqlite3_finalize on store_db(): statements
 * are cached per connection, and "finalize" returns them to the cache. Use
 * these everywhere (a cached statement must never see sqlite3_finalize). */
int store_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **out, const char **tail);
int store_finalize(sqlite3_stmt *st);
/* Runs a statement with printf-style %Q/%q (sqlite3_mprintf) formatting; 0 on success. */
int store_exec(struct srv *s, const char *fmt, ...);
/* Runs one statement from the cache, binding its parameters in order: fmt has
 * a letter each, 'i' int64_t, 'd' double (NaN binds NULL) or 't' const char *
 * (NULL binds NULL).  Prefer it
 * to store_exec on hot paths: no formatting, no parsing.  0 on success. */
int store_run(struct srv *s, const char *sql, const char *fmt, ...);
/* Transactions that nest (only the outermost commits). BEGIN IMMEDIATE. */
/* A thread of its own that used the store closes its connection as it ends. */
void store_fini(struct srv *s);
int store_begin(struct srv *s);
int store_commit(struct srv *s);
void store_rollback(struct srv *s);
/* Runs fn(s, arg, committed) when the calling thread's outermost transaction
 * ends (committed 1 after COMMIT, 0 after a rollback), or at once (1) outside
 * one: for work that must follow the commit, such as unlinking the files the
 * deleted rows named.  fn owns arg. */
void store_after_commit(struct srv *s, void (*fn)(struct srv *s, void *arg, int committed),
                        void *arg);
/* Key/value settings (tenant id, subscription id, clock offset, ...). Returned string is malloc'd.
 */
char *store_get(struct srv *s, const char *key);
int store_set(struct srv *s, const char *key, const char *value);

/* ---- usage ------------------------------------------------------------ */

/* Usage that cost management prices: every provider records what it meters
 * here, one call per event, and readers pull the events in order.  A record
 * is written inside the caller's transaction when there is one (a rollback
 * drops it), with the clock's time.  meter names what was used
 * ("Microsoft.Storage/blobs/tierToCool"), quantity how much of unit ("Bytes").
 * 0 on success. */
int usage_record(struct srv *s, const char *resource_id, const char *meter, double quantity,
                 const char *unit);
/* The same, for usage that happened at time_ms (a day's share of a VM's
 * running hours, a day's capacity sample) rather than now. */
int usage_record_at(struct srv *s, int64_t time_ms, const char *resource_id, const char *meter,
                    double quantity, const char *unit);

typedef struct usage_event {
  int64_t id, time_ms;
  const char *resource_id, *meter, *unit;
  double quantity;
} usage_event;

/* Calls fn for up to `limit` events (<= 0: 1000) with id > after_id, oldest
 * first; returns the last id passed to fn (after_id if none), the cursor of the
 * next call.  Ids grow in commit order, so a reader misses nothing.  The
 * strings live until fn returns. */
int64_t usage_since(struct srv *s, int64_t after_id, int limit,
                    void (*fn)(void *cls, const usage_event *e), void *cls);

/* ---- the clock -------------------------------------------------------- */

/* Every timestamp comes from here: wall time plus a persisted offset that
 * `azlite clock advance` grows.  It never goes backwards. */
int64_t clock_now_ms(struct srv *s);
/* Advances the clock by ms (>= 0), persists it, and wakes the scheduler.
 * -2 (and no change) when it would pass CLOCK_MAX_MS, -1 on other errors. */
int clock_advance(struct srv *s, int64_t ms);
#define CLOCK_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */
/* Parses "30d", "12h", "90m", "45s", "1500ms", "2w", and sums like "2d12h"; ms or -1. */
int64_t clock_parse_duration(const char *s);
/* ISO 8601 UTC, e.g. "2026-11-26T10:00:00.0000000Z" (7 fractional digits, as ARM). */
void clock_iso8601(int64_t ms, char out[40]);
/* Parses ISO 8601 (date or date-time, with Z or offset); returns ms or -1. */
int64_t clock_parse_iso8601(const char *s);

/* ---- the scheduler ---------------------------------------------------- */

/* One background thread calls every provider's tick (about once a second of
 * wall time, and at once after the clock is advanced).  Ticks must not block
 * for long; long work (a job's process) runs in its own thread or process. */
void sched_wake(struct srv *s);
/* Wakes the scheduler and waits (up to timeout_ms) until a whole pass that
 * started after this call has run: what time-based work the clock now calls
 * for is done when it returns 0. */
int sched_wake_and_wait(struct srv *s, int timeout_ms);

/* ---- connections from sandboxes ------------------------------------------ */

/* Serves an accepted connection (fd, which the server owns from now on) on a
 * listener as if it had arrived on the listener's socket; client_ip (IPv4
 * text) is the client address handlers see (http_req.client_ip): for
 * LISTEN_IMDS, the key of the sandbox the connection comes from.  0, or -1
 * (fd closed) when the server is not listening or the address is bad. */
int srv_add_connection(struct srv *s, enum http_listener l, int fd, const char *client_ip);

/* ---- transparent mode (hosts.c) ------------------------------------------ */

/* Whether host (a Host header, port allowed) is one of the Azure names azlite
 * answers under `azlite exec` (azure_hosts.h). */
int http_host_is_azure(const char *host);
/* The listener that serves host when it reaches the management port (under
 * `azlite exec`): <account>.blob.core.windows.net the blob HTTPS one,
 * <app>[.scm].azurewebsites.net the function apps'.  1 with *out set, or 0. */
int http_host_listener(const char *host, enum http_listener *out);
/* Whether host is one whose first labels name a resource (azure_hosts.h's
 * AZURE_HOSTS_ROUTED: <endpoint>.<region>.inference.ml.azure.com); the server
 * puts such a request's path under /azlite/host/<host>. */
int http_host_is_routed(const char *host);
/* Whether r came by an Azure name: then what azlite returns names Azure's
 * hosts, as Azure would; otherwise azlite's own 127.0.0.1 URLs. */
int http_req_transparent(const http_req *r);
/* The management plane as r's caller reaches it, without a trailing slash:
 * https://management.azure.com or mgmt_url. */
const char *http_mgmt_base(http_req *r);
/* An account's blob endpoint as r's caller reaches it, with a trailing slash
 * (in r's arena): https://<account>.blob.core.windows.net/, or azlite's path
 * style URL on the HTTPS (https) or HTTP blob listener. */
const char *http_blob_endpoint(http_req *r, const char *account, int https);
/* The Data Lake (dfs) endpoint of account, "…/" (primaryEndpoints.dfs): Azure's
 * <account>.dfs.core.windows.net in transparent mode, else the dfs port (the
 * blob one when that listener is off: the blob listeners serve dfs too). */
const char *http_dfs_endpoint(http_req *r, const char *account, int https);

/* ---- the provider interface -------------------------------------------- */

/* An ARM resource type a provider serves and the api-versions it takes, as
 * GET /providers/{namespace} lists them (resourceTypes[].apiVersions) and the
 * ARM front door checks them before any handler runs. */
struct arm_type;
typedef struct resource_type {
  const char *type;                /* "Microsoft.Storage/storageAccounts" */
  const char *const *api_versions; /* NULL-terminated, newest first */
  /* The descriptor when the generic ARM resource layer serves the type
   * (src/arm/resource.h); opaque here. */
  const struct arm_type *generic;
} resource_type;

/* The authorization questions other providers ask about a request's caller
 * (lists filtered by what the caller may read), answered by the provider that
 * authenticates callers (identity) through provider.access_ops. */
typedef struct access_ops {
  /* 1 when the caller may perform action at scope (data: a data action). */
  int (*allowed)(http_req *r, const char *action, const char *scope, int data);
  /* 1 when the caller holds a role at, below or above scope. */
  int (*any_at_or_below)(http_req *r, const char *scope);
  /* Fails r with 403 AuthorizationFailed, naming the caller, action and scope. */
  void (*fail_denied)(http_req *r, const char *action, const char *scope);
} access_ops;

typedef struct provider {
  const char *name; /* "Microsoft.Storage", or "core" */
  const route *routes;
  int nroutes;
  migrations schema;
  /* ARM resource types this provider serves (ends with a row whose type is NULL). */
  const resource_type *resource_types;
  /* Runs once after migrations, on the first start and every start. 0 = ok. */
  int (*init)(struct srv *s);
  /* Runs on the scheduler thread with the clock's current time. */
  void (*tick)(struct srv *s, int64_t now_ms);
  /* A resource (or a resource group, type "Microsoft.Resources/resourceGroups")
   * is being deleted: remove what the provider keeps for it. */
  void (*resource_deleted)(struct srv *s, const char *id, const char *type);
  /* Adds lines to `azlite env` (e.g. AZURE_STORAGE_CONNECTION_STRING). */
  void (*env)(struct srv *s, FILE *out);
  /* Frees what init allocated; runs at shutdown. */
  void (*fini)(struct srv *s);
  /* The access phase: runs for every routed request before its handler, for
   * each provider that sets it, in providers[] order; returns nonzero after
   * failing r (the handler then does not run). */
  int (*access)(http_req *r, const route *rt);
  /* A management request no route serves (for any method): returns 1 after
   * failing r, else 0 (the next provider is asked; none: 404). */
  int (*unrouted)(http_req *r);
  /* The answers to access_allowed() and friends; the first provider that sets
   * it answers. */
  const access_ops *access_ops;
} provider;

extern const provider *const providers[]; /* NULL-terminated, src/core/providers.c */

/* ---- access ----------------------------------------------------------------- */

/* What a handler asks about its request's caller, answered by the provider that
 * registers access_ops; with none, every question is answered no.
 * access_allowed: 1 when the caller may perform action (data: a data action)
 * at scope.  access_any_at_or_below: 1 when the caller holds a role at, below
 * or above scope (lists show what it can see).  access_fail_denied: fails r with
 * 403 AuthorizationFailed naming the caller, the action and the scope. */
int access_allowed(http_req *r, const char *action, const char *scope, int data);
int access_any_at_or_below(http_req *r, const char *scope);
void access_fail_denied(http_req *r, const char *action, const char *scope);

/* ---- the server context ----------------------------------------------- */

typedef struct srv {
  srv_config cfg;
  char *db_path;
  char *data_dir_abs;   /* cfg.data_dir points here once resolved */
  char *tmp_dir;        /* <data>/tmp: spooled bodies */
  pthread_key_t db_key; /* per-thread sqlite3* */
  pthread_mutex_t clock_mu;
  int64_t clock_offset_ms; /* added to wall time */
  int64_t clock_last_ms;   /* monotonic guard */
  pthread_t sched_thread;
  pthread_mutex_t sched_mu;
  pthread_cond_t sched_cv;
  pthread_cond_t sched_done_cv;
  uint64_t sched_passes_started, sched_passes_done;
  int sched_wakeups;
  int stopping;
  /* 1 in `azlite serve`; 0 when a CLI command opens the store beside a running
   * server: init hooks must then do no background work, cleanup or GC. */
  int serving;
  /* Identity facts loaded at start (identity provider fills them). */
  char tenant_id[40];
  char subscription_id[40];
  char mgmt_url[64]; /* https://127.0.0.1:8443 */
  char blob_url[64]; /* http://127.0.0.1:10000 */
  char blob_tls_url[64];
  char dfs_url[64];         /* http://127.0.0.1:10004; "" when its port could not be had */
  void *provider_state[16]; /* indexed by provider position; owned by each provider */
  void *priv;               /* private to server.c */
} srv;

/* The state slot of a provider (by its position in providers[]). */
void **srv_provider_state(srv *s, const provider *p);

/* Loads or creates an RSA key (PEM) at a path under the data dir; caller frees
 * with EVP_PKEY_free. */
struct evp_pkey_st *pki_load_or_create_key(struct srv *s, const char *rel);

/* A random (version 4) UUID, lowercase. */
void uuid_v4(char out[37]);

/* Paths under the data dir; malloc'd. */
char *srv_path(srv *s, const char *rel);

#endif
