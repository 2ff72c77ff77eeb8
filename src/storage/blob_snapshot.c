/* blob_snapshot.c: Snapshot Blob.  A snapshot is a row of blobs with
 * snapshot = its time, and copies of the base blob's extents and tags: no
 * byte moves.  Reading, listing and deleting snapshots live with the
 * operations on blobs (?snapshot=, include=snapshots, x-ms-delete-snapshots).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"
#include "mgmt.h"

int blob_snapshot_time(blob_ctx *c, int64_t container_id, const char *name, char out[40]) {
  clock_iso8601(c->now_ms, out);
  /* The clock has milliseconds, Azure's snapshot times 100 ns ticks: two
   * snapshots in one millisecond take the next free ticks. */
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT max(snapshot) FROM blobs WHERE container_id=? AND name=?"
                    " AND snapshot>=? AND snapshot<?",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  char hi[40];
  memcpy(hi, out, 40);
  hi[23] = '9' + 1; /* past every tick of this millisecond */
  sqlite3_bind_int64(q, 1, container_id);
  sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, out, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, hi, 24, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  const char *last = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
  if (last && strlen(last) == 28) {
    int ticks = atoi(last + 20); /* the 7 fractional digits */
    if (ticks % 10000 == 9999) {
      store_finalize(q);
      return -1;
    }
    char frac[16];
    snprintf(frac, sizeof frac, "%07dZ", (ticks + 1) % 10000000);
    memcpy(out + 20, frac, 9);
  }
  store_finalize(q);
  return rc == SQLITE_ROW ? 0 : -1;
}

void blob_snapshot_blob(blob_ctx *c) {
  http_req *r = c->r;
  if (http_query_get(r, "snapshot")) {
    blob_fail_query(c, "snapshot", http_query_get(r, "snapshot"));
    return;
  }
  /* Metadata in the request replaces the base blob's on the snapshot. */
  char *meta = NULL;
  const http_header *h;
  int nh = http_headers_all(r, &h);
  for (int i = 0; i < nh; i++)
    if (strncasecmp(h[i].name, "x-ms-meta-", 10) == 0) {
      if (!(meta = blob_metadata_from_headers(c))) return;
      break;
    }
  blob_container_row ct;
  blob_row b;
  char snap[40];
  if (store_begin(c->s) != 0) {
    free(meta);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0 || blob_need_blob(c, &ct, &b, 1) != 1 ||
      blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0 ||
      blob_lease_check_read(c, &b.lease) != 0 || storage_tier_require_online(c, &b) != 0)
    goto fail;
  if (blob_snapshot_time(c, ct.id, c->blob, snap) != 0) goto fail_internal;
  if (store_exec(c->s,
                 "INSERT INTO blobs(container_id, name, snapshot, type, size, etag,"
                 " last_modified_ms, created_ms, content_type, content_encoding, content_language,"
                 " content_md5, content_disposition, cache_control, metadata, tier, tier_change_ms,"
                 " seq_number, committed_blocks, sealed, copy_id, copy_status, copy_source,"
                 " copy_progress, copy_completion_ms, copy_status_description)"
                 " SELECT container_id, name, %Q, type, size, etag, last_modified_ms, created_ms,"
                 " content_type, content_encoding, content_language, content_md5,"
                 " content_disposition, cache_control, coalesce(%Q, metadata), tier,"
                 " tier_change_ms, seq_number, committed_blocks, sealed, copy_id, copy_status,"
                 " copy_source, copy_progress, copy_completion_ms, copy_status_description"
                 " FROM blobs WHERE id=%lld",
                 snap, meta, (long long)b.id) != 0)
    goto fail_internal;
  long long snap_id = (long long)sqlite3_last_insert_rowid(store_db(c->s));
  if (store_exec(c->s,
                 "INSERT INTO blob_extents(blob_id, pos, len, file_id, file_off, block_id)"
                 " SELECT %lld, pos, len, file_id, file_off, block_id FROM blob_extents"
                 " WHERE blob_id=%lld;"
                 "INSERT INTO blob_tags(blob_id, key, value)"
                 " SELECT %lld, key, value FROM blob_tags WHERE blob_id=%lld",
                 snap_id, (long long)b.id, snap_id, (long long)b.id) != 0 ||
      store_commit(c->s) != 0)
    goto fail_internal;
  free(meta);
  blob_set_etag_lm(c, b.etag, b.last_modified_ms);
  http_set_header(r, "x-ms-snapshot", snap);
  http_set_header(r, "x-ms-request-server-encrypted", "false");
  http_reply_empty(r, 201);
  return;
fail_internal:
  blob_fail_internal(c, "creating the snapshot");
fail:
  store_rollback(c->s);
  free(meta);
}
