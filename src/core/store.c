/* store.c: the embedded store.  One SQLite database in WAL mode; each thread
 * gets its own connection (SQLite serializes writers, readers run alongside).
 * synchronous=NORMAL: in WAL mode a committed transaction survives a process
 * crash (kill -9); only a power loss may drop the last commits.
 *
 * Schema versions are kept per provider in `schema_versions`, so providers
 * migrate independently and in order.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <assert.h>

#include "core.h"

/* Per-thread transaction depth: nested store_begin() calls join the outer one. */
static __thread int tx_depth;
static __thread int tx_failed;

/* What the outermost transaction runs when it ends (store_after_commit), in order. */
typedef struct tx_hook {
  void (*fn)(srv *s, void *arg, int committed);
  void *arg;
  struct tx_hook *next;
} tx_hook;
static __thread tx_hook *tx_hooks, **tx_hooks_tail;

static void tx_hooks_run(srv *s, int committed) {
  tx_hook *h = tx_hooks;
  tx_hooks = NULL;
  tx_hooks_tail = NULL;
  while (h) {
    tx_hook *n = h->next;
    h->fn(s, h->arg, committed);
    free(h);
    h = n;
  }
}

void store_after_commit(srv *s, void (*fn)(srv *s, void *arg, int committed), void *arg) {
  if (tx_depth <= 0) {
    fn(s, arg, 1);
    return;
  }
  tx_hook *h = calloc(1, sizeof *h);
  if (!h) abort();
  h->fn = fn;
  h->arg = arg;
  if (!tx_hooks_tail) tx_hooks_tail = &tx_hooks;
  *tx_hooks_tail = h;
  tx_hooks_tail = &h->next;
}

/* Prepared statements are cached per connection: parsing SQL was most of the
 * cost of a small request.  A cached statement is handed to one user at a
 * time (in_use); a second user of the same SQL at once (nested loops) gets a
 * fresh statement that store_finalize() really finalizes. */
#define STMT_CACHE 192

typedef struct stmt_entry {
  uint64_t hash;
  char *sql;
  sqlite3_stmt *st;
  int in_use;
} stmt_entry;

#define STMT_SLOTS 256 /* a power of two, well above STMT_CACHE */

typedef struct store_conn {
  sqlite3 *db;
  int n;
  stmt_entry cache[STMT_CACHE];
  unsigned char slot[STMT_SLOTS]; /* by hash, open addressing: cache index + 1, 0 free */
} store_conn;

/* The calling thread's connection, for the statement cache. */
static __thread store_conn *tls_conn;

static void store_close_conn(void *arg) {
  store_conn *c = arg;
  for (int i = 0; i < c->n; i++) {
    sqlite3_finalize(c->cache[i].st);
    free(c->cache[i].sql);
  }
  sqlite3_close_v2(c->db);
  free(c);
}

static sqlite3 *store_open(srv *s) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(s->db_path, &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    log_error("store: cannot open %s: %s", s->db_path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
               "PRAGMA temp_store=MEMORY;",
               NULL, NULL, NULL);
  return db;
}

static store_conn *store_conn_get(srv *s) {
  store_conn *c = pthread_getspecific(s->db_key);
  if (c) return c;
  sqlite3 *db = store_open(s);
  if (!db) return NULL;
  c = calloc(1, sizeof *c);
  if (!c) abort();
  c->db = db;
  pthread_setspecific(s->db_key, c);
  return c;
}

sqlite3 *store_db(srv *s) {
  store_conn *c = store_conn_get(s);
  tls_conn = c;
  return c ? c->db : NULL;
}

static uint64_t sql_hash(const char *sql, int n) {
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; n < 0 ? sql[i] != 0 : i < n; i++)
    h = (h ^ (unsigned char)sql[i]) * 1099511628211ULL;
  return h;
}

int store_prepare(sqlite3 *db, const char *sql, int n, sqlite3_stmt **out, const char **tail) {
  store_conn *c = tls_conn;
  if (tail || !c || c->db != db) return sqlite3_prepare_v2(db, sql, n, out, tail);
  uint64_t h = sql_hash(sql, n);
  size_t len = n < 0 ? strlen(sql) : (size_t)n;
  unsigned k = (unsigned)h & (STMT_SLOTS - 1);
  for (; c->slot[k]; k = (k + 1) & (STMT_SLOTS - 1)) {
    stmt_entry *e = &c->cache[c->slot[k] - 1];
    if (e->hash == h && strncmp(e->sql, sql, len) == 0 && e->sql[len] == 0) {
      if (e->in_use) break; /* held by a caller further up: a fresh one below */
      e->in_use = 1;
      *out = e->st;
      return SQLITE_OK;
    }
  }
  int rc = sqlite3_prepare_v3(db, sql, n, SQLITE_PREPARE_PERSISTENT, out, NULL);
  if (rc == SQLITE_OK && *out && !c->slot[k] && c->n < STMT_CACHE) {
    stmt_entry *e = &c->cache[c->n++];
    e->hash = h;
    e->sql = strndup(sql, len);
    e->st = *out;
    e->in_use = 1;
    c->slot[k] = (unsigned char)c->n;
  }
  return rc;
}

int store_finalize(sqlite3_stmt *st) {
  store_conn *c = tls_conn;
  if (!st) return SQLITE_OK;
  for (int i = 0; c && i < c->n; i++)
    if (c->cache[i].st == st) {
      int rc = sqlite3_reset(st);
      sqlite3_clear_bindings(st);
      c->cache[i].in_use = 0;
      return rc;
    }
  return sqlite3_finalize(st);
}

int store_exec(srv *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *sql = sqlite3_vmprintf(fmt, ap);
  va_end(ap);
  if (!sql) return -1;
  char *err = NULL;
  int rc = sqlite3_exec(store_db(s), sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    log_error("store: %s: %s", err ? err : "?", sql);
    sqlite3_free(err);
  }
  sqlite3_free(sql);
  return rc == SQLITE_OK ? 0 : -1;
}

int store_run(srv *s, const char *sql, const char *fmt, ...) {
  sqlite3 *db = store_db(s);
  sqlite3_stmt *st;
  if (!db || store_prepare(db, sql, -1, &st, NULL) != SQLITE_OK) {
    log_error("store: %s: %s", db ? sqlite3_errmsg(db) : "no connection", sql);
    return -1;
  }
  va_list ap;
  va_start(ap, fmt);
  for (int i = 0; fmt[i]; i++) {
    if (fmt[i] == 'i') {
      sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
    } else if (fmt[i] == 'd') {
      sqlite3_bind_double(st, i + 1, va_arg(ap, double));
    } else {
      const char *t = va_arg(ap, const char *);
      if (t)
        sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_null(st, i + 1);
    }
  }
  va_end(ap);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) log_error("store: %s: %s", sqlite3_errmsg(db), sql);
  store_finalize(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* BEGIN, COMMIT and ROLLBACK come from the statement cache too: parsing them
 * was a tenth of a small upload's work in SQLite. */
static int tx_statement(srv *s, const char *sql) {
  sqlite3 *db = store_db(s);
  sqlite3_stmt *st;
  if (!db || store_prepare(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  int rc = sqlite3_step(st);
  store_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int store_begin(srv *s) {
  if (tx_depth++ > 0) return 0;
  tx_failed = 0;
  if (tx_statement(s, "BEGIN IMMEDIATE") != 0) {
    log_error("store: BEGIN: %s", sqlite3_errmsg(store_db(s)));
    tx_depth = 0;
    return -1;
  }
  return 0;
}

int store_commit(srv *s) {
  /* A commit without its begin is a bug in the caller (a rollback is not:
   * error paths may roll back a begin that failed). */
  assert(tx_depth > 0);
  if (tx_depth <= 0) return -1;
  if (--tx_depth > 0) return tx_failed ? -1 : 0;
  if (tx_failed) {
    tx_statement(s, "ROLLBACK");
    tx_hooks_run(s, 0);
    return -1;
  }
  if (tx_statement(s, "COMMIT") != 0) {
    log_error("store: COMMIT: %s", sqlite3_errmsg(store_db(s)));
    tx_statement(s, "ROLLBACK");
    tx_hooks_run(s, 0);
    return -1;
  }
  tx_hooks_run(s, 1);
  return 0;
}

void store_rollback(srv *s) {
  if (tx_depth <= 0) return;
  if (--tx_depth > 0) {
    tx_failed = 1; /* the outermost commit turns into a rollback */
    return;
  }
  tx_statement(s, "ROLLBACK");
  tx_hooks_run(s, 0);
}

char *store_get(srv *s, const char *key) {
  sqlite3_stmt *st;
  char *out = NULL;
  if (sqlite3_prepare_v2(store_db(s), "SELECT value FROM settings WHERE key=?", -1, &st, NULL) !=
      SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    out = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return out;
}

int store_set(srv *s, const char *key, const char *value) {
  return store_exec(s,
                    "INSERT INTO settings(key,value) VALUES(%Q,%Q) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    key, value);
}

static int store_migrate_one(srv *s, const char *name, const migrations *m) {
  sqlite3 *db = store_db(s);
  sqlite3_stmt *st;
  int have = 0;
  if (sqlite3_prepare_v2(db, "SELECT version FROM schema_versions WHERE provider=?", -1, &st,
                         NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) have = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  if (have > m->count) {
    log_error("store: %s schema is version %d, newer than this azlite (%d)", name, have, m->count);
    return -1;
  }
  for (int v = have; v < m->count; v++) {
    if (store_begin(s) != 0) return -1;
    char *err = NULL;
    if (sqlite3_exec(db, m->scripts[v], NULL, NULL, &err) != SQLITE_OK) {
      log_error("store: %s migration %d: %s", name, v + 1, err ? err : "?");
      sqlite3_free(err);
      store_rollback(s);
      return -1;
    }
    if (store_exec(s,
                   "INSERT INTO schema_versions(provider,version) VALUES(%Q,%d) "
                   "ON CONFLICT(provider) DO UPDATE SET version=excluded.version",
                   name, v + 1) != 0 ||
        store_commit(s) != 0) {
      store_rollback(s);
      return -1;
    }
    log_debug("store: %s schema now version %d", name, v + 1);
  }
  return 0;
}

/* Core's own tables beyond schema_versions and settings, migrated like a
 * provider's (as "core", before every provider). */
static const char *const core_schema[] = {
    /* usage.c: usage events.  id is the readers' cursor: rows are only ever
     * appended, and one writer at a time makes ids grow in commit order. */
    "CREATE TABLE usage_events("
    "  id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, resource_id TEXT NOT NULL,"
    "  meter TEXT NOT NULL, quantity REAL NOT NULL, unit TEXT NOT NULL);",
};

/* Opens the store and brings core's and every provider's schema up to date. */
int store_init(srv *s) {
  /* Each thread has its own connection: no SQLite-level mutexes needed, and
   * no global memory statistics (a mutex on every allocation). */
  sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  if (pthread_key_create(&s->db_key, store_close_conn) != 0) return -1;
  if (!store_db(s)) return -1;
  if (store_exec(s, "CREATE TABLE IF NOT EXISTS schema_versions("
                    "provider TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                    "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT);") != 0)
    return -1;
  const migrations core = {core_schema, sizeof core_schema / sizeof core_schema[0]};
  if (store_migrate_one(s, "core", &core) != 0) return -1;
  for (int i = 0; providers[i]; i++)
    if (providers[i]->schema.count &&
        store_migrate_one(s, providers[i]->name, &providers[i]->schema) != 0)
      return -1;
  return 0;
}

/* Closes the calling thread's connection (others close when their threads exit). */
void store_fini(srv *s) {
  store_conn *c = pthread_getspecific(s->db_key);
  if (c) {
    store_close_conn(c);
    pthread_setspecific(s->db_key, NULL);
    tls_conn = NULL;
  }
}
