/* meters.c: what storage reports as usage (usage_record_at, core.h) for cost
 * management: blob capacity per access tier, sampled once a day of azlite's
 * clock, and blob operations counted by billing class.
 *
 * Capacity.
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

#include <string.h>
#include <strings.h>

#include "blob.h"
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

/* ---- operations ------------------------------------------------------------------
 *
 * Each blob request that succeeds is counted in memory per account and
 * billing class (storage_op_count: blob_state.ops, under blob_state.mu) and
 * the tick writes the counts as usage (meter
 * "Microsoft.Storage/blobs/<class>Operations/<Tier>", unit "Count") and
 * clears them, so a kill -9 loses at most the second since the last tick and
 * a request pays no store write.  Classes as Azure bills them: write (Put
 * Blob, Put Block, Put Block List, Append Block, copies, metadata, tier ...),
 * list (List Containers, List Blobs, Create Container), read (Get Blob, Get
 * Blob Properties), other (everything else); deletes are free.  The tier is
 * the account's access tier (Azure prices an operation by its blob's). */

struct storage_op_count {
  char account[64];
  int64_t n[4];
  struct storage_op_count *next;
};

static const char *const op_class_names[4] = {"write", "list", "read", "other"};

void storage_ops_count(blob_ctx *c) {
  http_req *r = c->r;
  int st = http_reply_status(r, NULL, NULL);
  if (!c->op || !c->account || st >= 400 || !strcasecmp(r->method, "DELETE")) return;
  const char *comp = http_query_get(r, "comp"), *restype = http_query_get(r, "restype");
  int get = !strcasecmp(r->method, "GET") || !strcasecmp(r->method, "HEAD");
  int cls;
  if ((comp && !strcmp(comp, "list")) ||
      (!strcasecmp(r->method, "PUT") && restype && !strcmp(restype, "container") && !comp))
    cls = 1;
  else if (!get)
    cls = 0;
  else if (c->blob && !comp)
    cls = 2;
  else
    cls = 3;
  blob_state *bs = blob_state_of(c->s);
  pthread_mutex_lock(&bs->mu);
  struct storage_op_count *o = bs->ops;
  while (o && strcmp(o->account, c->account))
    o = o->next;
  if (!o && strlen(c->account) < sizeof o->account && (o = calloc(1, sizeof *o))) {
    strcpy(o->account, c->account);
    o->next = bs->ops;
    bs->ops = o;
  }
  if (o) o->n[cls]++;
  pthread_mutex_unlock(&bs->mu);
}

void storage_ops_flush(srv *s) {
  blob_state *bs = blob_state_of(s);
  pthread_mutex_lock(&bs->mu);
  struct storage_op_count *list = bs->ops;
  bs->ops = NULL;
  pthread_mutex_unlock(&bs->mu);
  if (!list) return;
  sqlite3_stmt *q;
  int ok = store_begin(s) == 0;
  for (struct storage_op_count *o = list; ok && o; o = o->next) {
    if (store_prepare(store_db(s),
                      "SELECT id, COALESCE(json_extract(props,'$.accessTier'),'Hot') FROM"
                      " storage_accounts WHERE name=? AND id IS NOT NULL",
                      -1, &q, NULL) != SQLITE_OK)
      break;
    sqlite3_bind_text(q, 1, o->account, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) /* emulator accounts have no ARM id: not billed */
      for (int k = 0; k < 4; k++)
        if (o->n[k] > 0) {
          char meter[96];
          snprintf(meter, sizeof meter, "Microsoft.Storage/blobs/%sOperations/%s",
                   op_class_names[k], (const char *)sqlite3_column_text(q, 1));
          usage_record(s, (const char *)sqlite3_column_text(q, 0), meter, (double)o->n[k], "Count");
        }
    store_finalize(q);
  }
  if (ok) store_commit(s);
  while (list) {
    struct storage_op_count *n = list->next;
    free(list);
    list = n;
  }
}
