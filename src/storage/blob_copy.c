/* blob_copy.c: copies from a blob named by URL: Copy Blob (asynchronous in
 * Azure; azlite finishes it before answering, so x-ms-copy-status is
 * "success" at once), Copy Blob From URL (synchronous), Put Blob From URL,
 * Abort Copy Blob, and the pieces Put Block / Append Block / Put Page From
 * URL share (the source range and its extents).
 *
 * The source must be a blob of this azlite (any of its accounts): it is
 * resolved and authorized in blob_source_open(), and its extents are copied
 * as rows, so a copy moves no bytes.  Only a From-URL block that must be one
 * data file while its source range spans several gets a file of its own.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"
#include "mgmt.h"

int blob_source_slice(blob_ctx *c, const blob_source *src, uint64_t *off, uint64_t *len) {
  const char *h = http_header_get(c->r, "x-ms-source-range");
  *off = 0;
  *len = (uint64_t)src->b.size;
  if (!h) return 0;
  int64_t start = 0, end = -1;
  int rc = blob_range_parse(h, &start, &end);
  if (rc < 0) {
    blob_fail_header(c, "x-ms-source-range", h);
    return -1;
  }
  if (rc == 0) return 0;
  if (blob_range_resolve(src->b.size, start, end, off, len) != 0 ||
      (end >= 0 && end >= src->b.size)) {
    http_fail(c->r, STORAGE_ERR_INVALID_RANGE,
              "The range specified is invalid for the current size of the resource.");
    return -1;
  }
  return 0;
}

int blob_source_extents(blob_ctx *c, const blob_source *src, uint64_t off, uint64_t len, int single,
                        blob_new_extent **ext, int *n, blob_pending *mat) {
  memset(mat, 0, sizeof *mat);
  *ext = NULL;
  *n = 0;
  blob_extent *se;
  int sn;
  if (blob_extents_load(c, src->b.id, off, len, &se, &sn) != 0) {
    blob_fail_internal(c, "loading the source");
    return -1;
  }
  /* Do the source's extents cover the range without a gap? */
  uint64_t at = off;
  for (int i = 0; i < sn && at < off + len; i++) {
    if ((uint64_t)se[i].pos > at) break;
    at = (uint64_t)(se[i].pos + se[i].len);
  }
  int covered = at >= off + len;
  if (len > 0 && covered && (!single || sn == 1)) {
    *ext = calloc((size_t)sn, sizeof **ext);
    if (!*ext) abort();
    for (int i = 0; i < sn; i++) {
      uint64_t a = (uint64_t)se[i].pos > off ? (uint64_t)se[i].pos : off;
      uint64_t e = (uint64_t)(se[i].pos + se[i].len);
      if (e > off + len) e = off + len;
      (*ext)[i] =
          (blob_new_extent){se[i].file_id, se[i].file_off + (int64_t)(a - (uint64_t)se[i].pos),
                            (int64_t)(e - a), NULL};
    }
    *n = sn;
    return 0;
  }
  if (len == 0) return 0;
  if (blob_data_materialize(c, se, sn, off, len, mat) != 0 || blob_data_register(c, mat) != 0) {
    blob_data_discard(c, mat);
    blob_fail_internal(c, "copying the source range");
    return -1;
  }
  *ext = calloc(1, sizeof **ext);
  if (!*ext) abort();
  (*ext)[0] = (blob_new_extent){mat->file_id, 0, (int64_t)len, NULL};
  *n = 1;
  return 0;
}

/* ---- Copy Blob, Copy Blob From URL, Put Blob From URL -------------------------------------- */

enum copy_mode { COPY_ASYNC, COPY_SYNC, PUT_FROM_URL };

static int extents_insert(blob_ctx *c, int64_t blob_id, const blob_extent_row *v, int n) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "INSERT INTO blob_extents(blob_id, pos, len, file_id, file_off, block_id)"
                    " VALUES(?,?,?,?,?,?)",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  int rc = SQLITE_DONE;
  for (int i = 0; i < n && rc == SQLITE_DONE; i++) {
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, blob_id);
    sqlite3_bind_int64(q, 2, v[i].pos);
    sqlite3_bind_int64(q, 3, v[i].len);
    sqlite3_bind_int64(q, 4, v[i].file_id);
    sqlite3_bind_int64(q, 5, v[i].file_off);
    sqlite3_bind_text(q, 6, v[i].block_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
  }
  store_finalize(q);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* The destination's tags: x-ms-tags, or with x-ms-copy-source-tag-option: COPY
 * (synchronous copies) the source's. */
static int copy_tags(blob_ctx *c, enum copy_mode mode, const blob_source *src, blob_tagset *t,
                     int *present) {
  const char *opt =
      mode == COPY_ASYNC ? NULL : http_header_get(c->r, "x-ms-copy-source-tag-option");
  if (opt && strcasecmp(opt, "COPY") != 0 && strcasecmp(opt, "REPLACE") != 0) {
    blob_fail_header(c, "x-ms-copy-source-tag-option", opt);
    return -1;
  }
  if (blob_tags_from_header(c, t, present) != 0) return -1;
  if (opt && strcasecmp(opt, "COPY") == 0) {
    if (*present) {
      http_fail(c->r, STORAGE_ERR_BOTH_USER_TAGS_AND_SOURCE_TAGS_COPY_PRESENT_EXCEPTION,
                "x-ms-tags header must not be present with x-ms-copy-source-tag-option as COPY.");
      return -1;
    }
    *present = 1;
    return blob_tags_load(c, src->b.id, t);
  }
  return 0;
}

/* x-ms-source-content-md5 must match the source's bytes (the synchronous copies). */
static int check_source_md5(blob_ctx *c, const blob_source *src) {
  const char *want = http_header_get(c->r, "x-ms-source-content-md5");
  if (!want) return 0;
  blob_extent *se;
  int sn;
  unsigned char md5[16];
  char got[25];
  if (blob_extents_load(c, src->b.id, 0, (uint64_t)src->b.size, &se, &sn) != 0 ||
      blob_data_md5(c, se, sn, 0, (uint64_t)src->b.size, md5) != 0) {
    blob_fail_internal(c, "hashing the source");
    return -1;
  }
  blob_b64_md5(md5, got);
  if (strcmp(got, want) == 0) return 0;
  http_fail(c->r, STORAGE_ERR_MD5_MISMATCH,
            "The MD5 value specified in the request did not match with the MD5 value calculated "
            "by the server.");
  http_fail_detail(c->r, "UserSpecifiedMd5", want);
  http_fail_detail(c->r, "ServerCalculatedMd5", got);
  return -1;
}

/* x-ms-rehydrate-priority of a copy that rehydrates: Standard unless High. */
static int copy_rehydrate_priority(blob_ctx *c, const char **prio) {
  const char *h = http_header_get(c->r, "x-ms-rehydrate-priority");
  *prio = "Standard";
  if (!h || !strcasecmp(h, "Standard")) return 0;
  if (!strcasecmp(h, "High")) {
    *prio = "High";
    return 0;
  }
  blob_fail_header(c, "x-ms-rehydrate-priority", h);
  return -1;
}

static void copy_into(blob_ctx *c, enum copy_mode mode) {
  http_req *r = c->r;
  const char *url = http_header_get(r, "x-ms-copy-source");
  if (r->body_len != 0) {
    blob_fail_header(c, "Content-Length", http_header_get(r, "Content-Length"));
    return;
  }
  const char *tier;
  if (blob_tier_read(c, &tier) != 0) return;
  /* Metadata in the request replaces the source's; without any, the source's is copied. */
  int own_meta = 0;
  const http_header *hs;
  int nh = http_headers_all(r, &hs);
  for (int i = 0; i < nh; i++)
    if (strncasecmp(hs[i].name, "x-ms-meta-", 10) == 0) own_meta = 1;
  char *meta = blob_metadata_from_headers(c);
  if (!meta) return;
  blob_container_row ct;
  blob_row old;
  blob_source src;
  blob_ids freed = {0};
  blob_tagset tags;
  int has_tags = 0;
  /* The source's rows are held before the write, so a blob may be copied onto itself. */
  blob_extent_row *rows;
  int nrows;
  int64_t blob_id;
  char etag[24], copy_id[37];
  blob_etag_new(c->s, c->now_ms, etag);
  uuid_v4(copy_id);
  if (store_begin(c->s) != 0) {
    free(meta);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_source_open(c, url,
                       mode == COPY_ASYNC ? BLOB_SOURCE_CALLER_OK | BLOB_SOURCE_ARCHIVED_OK : 0,
                       &src) != 0)
    goto fail;
  const blob_row *sb = &src.b;
  /* Copy Blob of an archived blob: to Archive it copies at once; to an online
   * tier it rehydrates, the destination pending on azlite's clock (tier.c). */
  const char *rehydrate_to = NULL, *prio = "Standard";
  if (sb->tier && !strcmp(sb->tier, "Archive")) {
    if (!tier || strcmp(src.ctx->account, c->account) != 0) {
      http_fail(r, STORAGE_ERR_BLOB_ARCHIVED,
                !tier ? "This operation is not permitted on an archived blob: copying it needs "
                        "x-ms-access-tier."
                      : "An archived blob can be copied only within its storage account.");
      goto fail;
    }
    if (!(sb->snapshot && sb->snapshot[0]) && !strcmp(src.ctx->container, c->container) &&
        !strcmp(src.ctx->blob, c->blob)) {
      http_fail(r, STORAGE_ERR_BLOB_ARCHIVED,
                "An archived blob cannot be copied onto itself; use Set Blob Tier to "
                "rehydrate it.");
      goto fail;
    }
    if (strcmp(tier, "Archive") != 0) {
      rehydrate_to = tier;
      tier = "Archive";
      if (copy_rehydrate_priority(c, &prio) != 0) goto fail;
    }
  }
  if (mode == COPY_SYNC && strcmp(sb->type, "BlockBlob") != 0) {
    http_fail(r, STORAGE_ERR_CANNOT_VERIFY_COPY_SOURCE_409,
              "The source blob must be a block blob.");
    goto fail;
  }
  if (mode != COPY_ASYNC && check_source_md5(c, &src) != 0) goto fail;
  if (copy_tags(c, mode, &src, &tags, &has_tags) != 0) goto fail;
  int exists = blob_write_target(c, &ct, &old);
  if (exists < 0) goto fail;
  if (exists && mode == COPY_ASYNC && strcmp(old.type, sb->type) != 0) {
    http_fail(r, STORAGE_ERR_INVALID_BLOB_TYPE, "The blob type is invalid for this operation.");
    goto fail;
  }
  if (blob_extent_rows_load(c, sb->id, &rows, &nrows) != 0) goto fail_internal;
  /* Put Blob From URL takes the request's properties; with
   * x-ms-copy-source-blob-properties (default true) the source's fill the gaps. */
  blob_http_props props = {sb->content_type, sb->content_encoding,    sb->content_language,
                           sb->content_md5,  sb->content_disposition, sb->cache_control};
  if (mode == PUT_FROM_URL) {
    blob_http_props mine;
    blob_http_props_read(c, 1, &mine);
    const char *keep = http_header_get(r, "x-ms-copy-source-blob-properties");
    if (keep && strcasecmp(keep, "false") == 0) memset(&props, 0, sizeof props);
#define OVERRIDE(f)                                                                                \
  if (mine.f) props.f = mine.f
    OVERRIDE(content_type);
    OVERRIDE(content_encoding);
    OVERRIDE(content_language);
    OVERRIDE(content_md5);
    OVERRIDE(content_disposition);
    OVERRIDE(cache_control);
#undef OVERRIDE
  }
  const char *type = mode == PUT_FROM_URL ? "BlockBlob" : sb->type;
  /* Put Blob From URL takes only the request's metadata. */
  const char *dst_meta = own_meta || mode == PUT_FROM_URL ? meta : sb->metadata;
  blob_write w = {type, sb->size, etag, &props, dst_meta, tier, NULL, 0};
  if (blob_write_content(c, &ct, exists ? &old : NULL, &w, &blob_id, &freed) != 0 ||
      extents_insert(c, blob_id, rows, nrows) != 0 ||
      (has_tags && blob_tags_store(c, blob_id, &tags) != 0))
    goto fail_internal;
  if (strcmp(type, "BlockBlob") != 0 &&
      store_exec(c->s, "UPDATE blobs SET seq_number=%lld, committed_blocks=%lld WHERE id=%lld",
                 (long long)sb->seq_number, (long long)sb->committed_blocks,
                 (long long)blob_id) != 0)
    goto fail_internal;
  if (mode != PUT_FROM_URL && !rehydrate_to &&
      store_exec(c->s,
                 "UPDATE blobs SET copy_id=%Q, copy_status='success', copy_source=%Q,"
                 " copy_progress='%lld/%lld', copy_completion_ms=%lld WHERE id=%lld",
                 copy_id, url, (long long)sb->size, (long long)sb->size, (long long)c->now_ms,
                 (long long)blob_id) != 0)
    goto fail_internal;
  if (rehydrate_to) {
    char *status = http_printf(r, "rehydrate-pending-to-%s", rehydrate_to);
    for (char *p = status; *p; p++)
      *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    if (store_exec(c->s,
                   "UPDATE blobs SET copy_id=%Q, copy_status='pending', copy_source=%Q,"
                   " copy_progress='0/%lld', archive_status=%Q, rehydrate_priority=%Q,"
                   " rehydrate_done_ms=%lld WHERE id=%lld",
                   copy_id, url, (long long)sb->size, status, prio,
                   (long long)(c->now_ms + storage_tier_rehydrate_ms(prio)),
                   (long long)blob_id) != 0 ||
        lifecycle_log(c->s, c->account, c->now_ms, "user", NULL,
                      !strcmp(prio, "High") ? "rehydrateHigh" : "rehydrateStandard", c->container,
                      c->blob, NULL, "Archive", rehydrate_to, sb->size) != 0)
      goto fail_internal;
  }
  if (store_commit(c->s) != 0) goto fail_internal;
  free(meta);
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  if (mode == PUT_FROM_URL) {
    if (props.content_md5) http_set_header(r, "Content-MD5", props.content_md5);
    http_set_header(r, "x-ms-request-server-encrypted", "true");
    http_reply_empty(r, 201);
    return;
  }
  http_set_header(r, "x-ms-copy-id", copy_id);
  http_set_header(r, "x-ms-copy-status", rehydrate_to ? "pending" : "success");
  /* Copy Blob From URL names an MD5 only when the request had one checked. */
  const char *src_md5 = http_header_get(r, "x-ms-source-content-md5");
  if (mode == COPY_SYNC && src_md5) http_set_header(r, "Content-MD5", src_md5);
  http_reply_empty(r, 202);
  return;
fail_internal:
  blob_fail_internal(c, "copying the blob");
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
  free(meta);
}

void blob_copy_dispatch(blob_ctx *c) {
  const char *type = http_header_get(c->r, "x-ms-blob-type");
  const char *sync = http_header_get(c->r, "x-ms-requires-sync");
  if (blob_digest_headers_check(c) != 0) return;
  if (type) {
    if (strcmp(type, "BlockBlob") != 0) {
      blob_fail_header(c, "x-ms-blob-type", type);
      return;
    }
    copy_into(c, PUT_FROM_URL);
  } else if (sync && strcasecmp(sync, "true") == 0) {
    copy_into(c, COPY_SYNC);
  } else {
    copy_into(c, COPY_ASYNC);
  }
}

/* ---- Abort Copy Blob ------------------------------------------------------------------- */

void blob_abort_copy(blob_ctx *c) {
  http_req *r = c->r;
  const char *action = http_header_get(r, "x-ms-copy-action");
  const char *id = http_query_get(r, "copyid");
  if (!action) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(r, "HeaderName", "x-ms-copy-action");
    return;
  }
  if (strcasecmp(action, "abort") != 0) {
    blob_fail_header(c, "x-ms-copy-action", action);
    return;
  }
  if (!id) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_QUERY_PARAMETER,
              "A query parameter that's mandatory for this request is not specified.");
    http_fail_detail(r, "QueryParameterName", "copyid");
    return;
  }
  blob_container_row ct;
  blob_row b;
  blob_ids freed = {0};
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  int ok = blob_need_container(c, &ct) == 0 && blob_need_blob(c, &ct, &b, 1) == 1 &&
           blob_lease_check_write(c, &b.lease) == 0;
  if (!ok) goto fail;
  /* Only a copy that rehydrates from Archive is ever pending: the others
   * finish before Copy Blob answers. */
  if (!b.copy_id || strcasecmp(b.copy_id, id) != 0) {
    http_fail(r, STORAGE_ERR_COPY_ID_MISMATCH,
              "The specified copy ID did not match the copy ID for the pending copy operation.");
    goto fail;
  }
  if (!b.copy_status || strcmp(b.copy_status, "pending") != 0) {
    http_fail(r, STORAGE_ERR_NO_PENDING_COPY_OPERATION,
              "There is currently no pending copy operation.");
    goto fail;
  }
  /* An aborted copy leaves its destination empty, with its metadata. */
  if (blob_ids_of_extents(c->s, b.id, &freed) != 0 ||
      store_run(c->s, "DELETE FROM blob_extents WHERE blob_id=?", "i", b.id) != 0 ||
      store_exec(c->s,
                 "UPDATE blobs SET size=0, copy_status='aborted', copy_status_description=%Q,"
                 " copy_completion_ms=%lld, archive_status=NULL, rehydrate_priority=NULL,"
                 " rehydrate_done_ms=NULL, tier=NULL WHERE id=%lld",
                 "Copy aborted by Abort Copy Blob.", (long long)c->now_ms, (long long)b.id) != 0 ||
      store_commit(c->s) != 0) {
    blob_fail_internal(c, "aborting the copy");
    goto fail;
  }
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  http_reply_empty(r, 204);
  return;
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
}
