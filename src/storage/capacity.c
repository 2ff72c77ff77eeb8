/* capacity.c: blob capacity per access tier, sampled once a day of azlite's
 * clock and reported as usage (usage_record_at, core.h) for cost management.
 *
 * A blob counts by its content length (blobs.size), not by the bytes written:
 * a 1 TiB page blob that is mostly gaps, or a block blob committed from few
 * blocks, counts as what GET would return, as Azure bills page blobs by
 * length for premium and block blobs by content.  Snapshots count in full.
 * A day's sample is taken at the first tick after the day ends (so a blob
 * written during the day is in it); days the clock jumped over get the
 * capacity of now, which is what they held since nothing ran meanwhile.
 * The day last sampled is kept in the settings ("storage.capacity_day"). */
#include <stdio.h>
#include <stdlib.h>

#include "storage.h"

#define DAY_MS 86400000LL

static void capacity_record_day(srv *s, int64_t day) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT a.id, COALESCE(b.tier, json_extract(a.props,'$.accessTier'), 'Hot') t,"
                    " SUM(b.size) FROM blobs b JOIN blob_containers c ON b.container_id=c.id"
                    " JOIN storage_accounts a ON c.account=a.name WHERE a.id IS NOT NULL"
                    " GROUP BY a.name, t",
                    -1, &q, NULL) != SQLITE_OK)
    return;
  while (sqlite3_step(q) == SQLITE_ROW) {
    char meter[96];
    snprintf(meter, sizeof meter, "Microsoft.Storage/blobs/capacity/%s",
             (const char *)sqlite3_column_text(q, 1));
    usage_record_at(s, day * DAY_MS, (const char *)sqlite3_column_text(q, 0), meter,
                    (double)sqlite3_column_int64(q, 2), "Bytes");
  }
  store_finalize(q);
}

void storage_capacity_tick(srv *s, int64_t now_ms) {
  int64_t today = now_ms / DAY_MS;
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)(today - 1));
  char *v = store_get(s, "storage.capacity_day");
  if (!v) { /* a new data dir: its first day is sampled when it ends */
    store_set(s, "storage.capacity_day", buf);
    return;
  }
  int64_t last = strtoll(v, NULL, 10);
  free(v);
  if (last >= today - 1 || store_begin(s) != 0) return;
  for (int64_t d = last + 1; d < today; d++)
    capacity_record_day(s, d);
  if (store_set(s, "storage.capacity_day", buf) == 0)
    store_commit(s);
  else
    store_rollback(s);
}
