/* test_usage.c: usage events (core's usage_record and usage_since): written with
 * the clock's time, inside the caller's transaction, read back in order and in
 * pages by their cursor. */
#include <stdlib.h>
#include <unistd.h>

#include "core/internal.h"
#include "unit.h"

static srv S;

typedef struct seen {
  int n;
  int64_t ids[8], times[8];
  char meters[8][64], ids_of[8][64];
  double qty[8];
} seen;

static void collect(void *cls, const usage_event *e) {
  seen *w = cls;
  if (w->n >= 8) return;
  w->ids[w->n] = e->id;
  w->times[w->n] = e->time_ms;
  snprintf(w->meters[w->n], sizeof w->meters[0], "%s:%s", e->meter, e->unit);
  snprintf(w->ids_of[w->n], sizeof w->ids_of[0], "%s", e->resource_id);
  w->qty[w->n] = e->quantity;
  w->n++;
}

static void test_usage(void) {
  char dir[] = "/tmp/azlite-usage-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/azlite.db", dir);
  S.db_path = path;
  CHECK(store_init(&S) == 0);
  CHECK(clock_init(&S) == 0);

  seen w = {0};
  CHECK(usage_since(&S, 0, 0, collect, &w) == 0 && w.n == 0);

  int64_t before = clock_now_ms(&S);
  CHECK(usage_record(&S, "/r/a", "m/one", 5, "Bytes") == 0);
  /* Inside a transaction: a rollback drops the event, a commit keeps it. */
  CHECK(store_begin(&S) == 0);
  CHECK(usage_record(&S, "/r/a", "m/dropped", 1, "Bytes") == 0);
  store_rollback(&S);
  CHECK(store_begin(&S) == 0);
  CHECK(usage_record(&S, "/r/b", "m/two", 2.5, "Hours") == 0);
  CHECK(store_commit(&S) == 0);
  CHECK(usage_record(&S, "/r/a", "m/three", 0, "Operations") == 0);
  CHECK(usage_record(&S, NULL, "m", 1, "Bytes") == -1);

  int64_t last = usage_since(&S, 0, 0, collect, &w);
  CHECK(w.n == 3);
  CHECK_STR(w.meters[0], "m/one:Bytes");
  CHECK_STR(w.meters[1], "m/two:Hours");
  CHECK_STR(w.meters[2], "m/three:Operations");
  CHECK_STR(w.ids_of[1], "/r/b");
  CHECK(w.qty[0] == 5 && w.qty[1] == 2.5 && w.qty[2] == 0);
  CHECK(w.ids[0] < w.ids[1] && w.ids[1] < w.ids[2] && last == w.ids[2]);
  CHECK(w.times[0] >= before && w.times[2] >= w.times[0] && w.times[2] <= clock_now_ms(&S));

  /* Pages: the cursor a call returns is where the next one starts. */
  seen p = {0};
  int64_t cur = usage_since(&S, 0, 2, collect, &p);
  CHECK(p.n == 2 && cur == w.ids[1]);
  cur = usage_since(&S, cur, 2, collect, &p);
  CHECK(p.n == 3 && cur == w.ids[2]);
  CHECK(usage_since(&S, cur, 2, collect, &p) == cur && p.n == 3);

  store_fini(&S);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

UNIT_MAIN("usage", { test_usage(); })
