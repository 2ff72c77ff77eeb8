/* usage.c: usage events, the one way providers report what cost management
 * prices (the usage_events table, core's schema in store.c). */
#include "core.h"

int usage_record(srv *s, const char *resource_id, const char *meter, double quantity,
                 const char *unit) {
  return usage_record_at(s, clock_now_ms(s), resource_id, meter, quantity, unit);
}

int usage_record_at(srv *s, int64_t time_ms, const char *resource_id, const char *meter,
                    double quantity, const char *unit) {
  if (!resource_id || !meter || !unit) return -1;
  sqlite3 *db = store_db(s);
  sqlite3_stmt *st;
  if (!db || store_prepare(db,
                           "INSERT INTO usage_events(time_ms,resource_id,meter,quantity,unit)"
                           " VALUES(?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(st, 1, time_ms);
  sqlite3_bind_text(st, 2, resource_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, meter, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 4, quantity);
  sqlite3_bind_text(st, 5, unit, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) log_error("usage: %s: %s", meter, sqlite3_errmsg(db));
  store_finalize(st);
  return rc == SQLITE_DONE ? 0 : -1;
}

int64_t usage_since(srv *s, int64_t after_id, int limit,
                    void (*fn)(void *cls, const usage_event *e), void *cls) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT id, time_ms, resource_id, meter, quantity, unit FROM usage_events"
                    " WHERE id>? ORDER BY id LIMIT ?",
                    -1, &q, NULL) != SQLITE_OK)
    return after_id;
  sqlite3_bind_int64(q, 1, after_id);
  sqlite3_bind_int(q, 2, limit > 0 ? limit : 1000);
  while (sqlite3_step(q) == SQLITE_ROW) {
    usage_event e = {
        .id = sqlite3_column_int64(q, 0),
        .time_ms = sqlite3_column_int64(q, 1),
        .resource_id = (const char *)sqlite3_column_text(q, 2),
        .meter = (const char *)sqlite3_column_text(q, 3),
        .quantity = sqlite3_column_double(q, 4),
        .unit = (const char *)sqlite3_column_text(q, 5),
    };
    fn(cls, &e);
    after_id = e.id;
  }
  store_finalize(q);
  return after_id;
}
