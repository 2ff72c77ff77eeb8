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
  char key[48];
  if (blob_unique_time(c->s, container_id, name, "", c->now_ms, key) != 0) return -1;
  memcpy(out, key, 40);
  return 0;
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
