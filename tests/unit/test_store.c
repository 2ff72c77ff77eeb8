/* test_store.c: the store under concurrent writers (each thread its own
 * connection and statement cache), and nested transactions. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "unit.h"

#define WRITERS 4
#define COMMITS 2500

static srv S;

static void *writer(void *arg) {
  long w = (long)arg;
  char key[32], value[2048];
  memset(value, 'a' + (int)w, sizeof value - 1);
  value[sizeof value - 1] = 0;
  long failures = 0;
  for (int i = 0; i < COMMITS; i++) {
    snprintf(key, sizeof key, "w%ld-%d", w, i);
    if (store_set(&S, key, value) != 0) failures++;
  }
  store_fini(&S);
  return (void *)failures;
}

static int hook_calls[4];

static void hook(srv *s, void *arg, int committed) {
  (void)s;
  hook_calls[(long)arg] = committed ? 1 : -1;
}

/* store_after_commit: after the outermost COMMIT, never after a rollback
 * (nested or not), at once outside a transaction. */
static void test_after_commit(void) {
  store_after_commit(&S, hook, (void *)0);
  CHECK(hook_calls[0] == 1);
  CHECK(store_begin(&S) == 0);
  CHECK(store_begin(&S) == 0);
  store_after_commit(&S, hook, (void *)1);
  CHECK(store_commit(&S) == 0);
  CHECK(hook_calls[1] == 0); /* not yet: the outer one is open */
  CHECK(store_commit(&S) == 0);
  CHECK(hook_calls[1] == 1);
  CHECK(store_begin(&S) == 0);
  CHECK(store_begin(&S) == 0);
  store_after_commit(&S, hook, (void *)2);
  store_rollback(&S);
  CHECK(store_commit(&S) == -1);
  CHECK(hook_calls[2] == -1);
  CHECK(store_begin(&S) == 0);
  store_after_commit(&S, hook, (void *)3);
  store_rollback(&S);
  CHECK(hook_calls[3] == -1);
}

/* store_run binds in order: 'i' int64, 'd' double (NaN binds NULL), 't'
 * text (NULL binds NULL). */
static void test_store_run_binds(void) {
  CHECK(store_exec(&S, "CREATE TABLE binds(i INTEGER, d REAL, t TEXT)") == 0);
  CHECK(store_run(&S, "INSERT INTO binds VALUES(?,?,?)", "idt", (int64_t)1 << 40, 0.25, "x") ==
        0);
  CHECK(store_run(&S, "INSERT INTO binds VALUES(?,?,?)", "idt", (int64_t)-7, NAN, NULL) == 0);
  sqlite3_stmt *q = NULL;
  CHECK(store_prepare(store_db(&S), "SELECT i, d, t FROM binds ORDER BY rowid", -1, &q, NULL) ==
        SQLITE_OK);
  CHECK(sqlite3_step(q) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(q, 0) == (int64_t)1 << 40);
  CHECK(sqlite3_column_double(q, 1) == 0.25);
  CHECK(!strcmp((const char *)sqlite3_column_text(q, 2), "x"));
  CHECK(sqlite3_step(q) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(q, 0) == -7);
  CHECK(sqlite3_column_type(q, 1) == SQLITE_NULL);
  CHECK(sqlite3_column_type(q, 2) == SQLITE_NULL);
  CHECK(sqlite3_step(q) == SQLITE_DONE);
  store_finalize(q);
}

static void test_writers_and_transactions(void) {
  char dir[] = "/tmp/azlite-store-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/azlite.db", dir);
  S.db_path = path;
  S.serving = 1;
  CHECK(store_init(&S) == 0);

  pthread_t t[WRITERS];
  for (long w = 0; w < WRITERS; w++)
    CHECK(pthread_create(&t[w], NULL, writer, (void *)w) == 0);
  long failures = 0;
  for (int w = 0; w < WRITERS; w++) {
    void *rv;
    pthread_join(t[w], &rv);
    failures += (long)rv;
  }
  CHECK(failures == 0);
  /* Everything committed is there, and nested transactions join the outer one. */
  char *v = store_get(&S, "w3-2499");
  CHECK(v != NULL && strlen(v) == 2047 && v[0] == 'd');
  free(v);
  CHECK(store_begin(&S) == 0);
  CHECK(store_begin(&S) == 0);
  CHECK(store_set(&S, "nested", "1") == 0);
  store_rollback(&S);            /* the inner one fails... */
  CHECK(store_commit(&S) == -1); /* ...so the outer commit rolls back */
  v = store_get(&S, "nested");
  CHECK(v == NULL);
  free(v);

  /* The statement cache: a statement in use is not handed out twice, and a
   * finalized one is handed out again. */
  sqlite3 *db = store_db(&S);
  sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
  CHECK(store_prepare(db, "SELECT value FROM settings WHERE key=?", -1, &a, NULL) == SQLITE_OK);
  CHECK(store_prepare(db, "SELECT value FROM settings WHERE key=?", -1, &b, NULL) == SQLITE_OK);
  CHECK(a && b && a != b);
  sqlite3_bind_text(a, 1, "w0-0", -1, SQLITE_STATIC);
  CHECK(sqlite3_step(a) == SQLITE_ROW);
  store_finalize(b);
  store_finalize(a);
  CHECK(store_prepare(db, "SELECT value FROM settings WHERE key=?", -1, &c, NULL) == SQLITE_OK);
  CHECK(c == a);
  CHECK(sqlite3_step(c) == SQLITE_DONE); /* bindings were cleared: key=NULL matches none */
  store_finalize(c);
  test_after_commit();
  test_store_run_binds();

  store_fini(&S);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

UNIT_MAIN("store", { test_writers_and_transactions(); })
