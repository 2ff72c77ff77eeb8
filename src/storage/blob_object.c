/* blob_object.c: one blob as a whole: Put Blob, Get Blob (ranges, zero-copy),
 * Get Blob Properties, Delete Blob, Set Blob Properties, Get/Set Blob
 * Metadata; and what every blob write shares: loading the row, the lease
 * check, and replacing a blob's content with a new list of extents.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"
#include "mgmt.h"

static const char BLOB_COLS[] =
    "id, container_id, name, snapshot, type, size, etag, last_modified_ms, created_ms,"
    " content_type, content_encoding, content_language, content_md5, content_disposition,"
    " cache_control, metadata, tier, tier_change_ms, lease_id, lease_state, lease_duration_s,"
    " lease_expires_ms, lease_break_ms, seq_number, committed_blocks,"
    " (SELECT count(*) FROM blob_tags t WHERE t.blob_id=blobs.id),"
    " copy_id, copy_status, copy_source, copy_progress, copy_status_description,"
    " copy_completion_ms, archive_status, rehydrate_priority, last_access_ms, sealed,"
    " version_id, deleted_ms, purge_ms";

static const char *col_text(blob_ctx *c, sqlite3_stmt *q, int i) {
  const char *t = (const char *)sqlite3_column_text(q, i);
  return t ? http_strdup(c->r, t) : NULL;
}

static int64_t col_i64(sqlite3_stmt *q, int i) {
  return sqlite3_column_type(q, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(q, i);
}

int blob_row_load(blob_ctx *c, int64_t container_id, const char *name, const char *snapshot,
                  blob_row *out) {
  sqlite3_stmt *q;
  char *sql = sqlite3_mprintf("SELECT %s FROM blobs WHERE container_id=? AND name=? AND snapshot=?",
                              BLOB_COLS);
  int rc = store_prepare(store_db(c->s), sql, -1, &q, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) return -1;
  sqlite3_bind_int64(q, 1, container_id);
  sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, snapshot ? snapshot : "", -1, SQLITE_STATIC);
  rc = sqlite3_step(q);
  if (rc != SQLITE_ROW) {
    store_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
  }
  memset(out, 0, sizeof *out);
  int i = 0;
  out->id = sqlite3_column_int64(q, i++);
  out->container_id = sqlite3_column_int64(q, i++);
  out->name = col_text(c, q, i++);
  out->snapshot = col_text(c, q, i++);
  out->type = col_text(c, q, i++);
  out->size = sqlite3_column_int64(q, i++);
  snprintf(out->etag, sizeof out->etag, "%s", (const char *)sqlite3_column_text(q, i++));
  out->last_modified_ms = sqlite3_column_int64(q, i++);
  out->created_ms = sqlite3_column_int64(q, i++);
  out->content_type = col_text(c, q, i++);
  out->content_encoding = col_text(c, q, i++);
  out->content_language = col_text(c, q, i++);
  out->content_md5 = col_text(c, q, i++);
  out->content_disposition = col_text(c, q, i++);
  out->cache_control = col_text(c, q, i++);
  out->metadata = col_text(c, q, i++);
  out->tier = col_text(c, q, i++);
  out->tier_change_ms = col_i64(q, i++);
  out->lease.id = col_text(c, q, i++);
  out->lease.state = col_text(c, q, i++);
  out->lease.duration_s = col_i64(q, i++);
  out->lease.expires_ms = col_i64(q, i++);
  out->lease.break_ms = col_i64(q, i++);
  out->seq_number = col_i64(q, i++);
  out->committed_blocks = col_i64(q, i++);
  out->tag_count = (int)col_i64(q, i++);
  out->copy_id = col_text(c, q, i++);
  out->copy_status = col_text(c, q, i++);
  out->copy_source = col_text(c, q, i++);
  out->copy_progress = col_text(c, q, i++);
  out->copy_status_description = col_text(c, q, i++);
  out->copy_completion_ms = col_i64(q, i++);
  out->archive_status = col_text(c, q, i++);
  out->rehydrate_priority = col_text(c, q, i++);
  out->last_access_ms = col_i64(q, i++);
  out->sealed = (int)col_i64(q, i++);
  out->version_id = col_text(c, q, i++);
  out->deleted_ms = col_i64(q, i++);
  out->purge_ms = col_i64(q, i++);
  store_finalize(q);
  return 1;
}

/* ---- shared by the operations on one blob ----------------------------------------- */

/* The container named by the URL, inside the caller's transaction; fails when absent. */
int blob_need_container(blob_ctx *c, blob_container_row *ct) {
  int found = blob_container_load(c, c->container, ct);
  if (found < 0) blob_fail_internal(c, "loading the container");
  if (found == 0) blob_fail_container_not_found(c);
  return found == 1 ? 0 : -1;
}

/* Loads the blob the URL names (?snapshot= selects a snapshot, ?versionid= a
 * version); 1 found, 0 absent (request failed with BlobNotFound when
 * must_exist), -1 failed.  Soft-deleted rows are not found. */
int blob_need_blob(blob_ctx *c, const blob_container_row *ct, blob_row *b, int must_exist) {
  const char *snap = http_query_get(c->r, "snapshot");
  const char *vid = http_query_get(c->r, "versionid");
  if (vid && (snap || clock_parse_iso8601(vid) < 0)) {
    blob_fail_query(c, "versionid", vid);
    return -1;
  }
  int found;
  if (snap && (snap[0] == '@' || snap[0] == '~')) {
    found = 0; /* the keys of versions and deleted blobs are no snapshot times */
  } else if (vid) {
    /* The current version is the base blob; the others are rows of their own. */
    found = blob_row_load(c, ct->id, c->blob, "", b);
    if (found == 0 || (found == 1 && !(b->version_id && strcmp(b->version_id, vid) == 0))) {
      char *key = http_printf(c->r, "@%s", vid);
      found = blob_row_load(c, ct->id, c->blob, key, b);
    }
  } else {
    found = blob_row_load(c, ct->id, c->blob, snap ? snap : "", b);
  }
  if (found == 1 && b->deleted_ms) found = 0;
  if (found < 0) {
    blob_fail_internal(c, "loading the blob");
    return -1;
  }
  if (found == 0 && must_exist) {
    blob_fail_blob_not_found(c);
    return -1;
  }
  if (found == 1 && blob_tags_condition_check(c, "x-ms-if-tags", b->id) != 0) return -1;
  return found;
}

void blob_http_props_read(blob_ctx *c, int put_blob, blob_http_props *p) {
  /* Put Blob also takes the plain HTTP headers; Put Block List and Set Blob
   * Properties only the x-ms-blob-* ones. */
  http_req *r = c->r;
#define PROP(field, xms, plain)                                                                    \
  p->field = http_header_get(r, xms);                                                              \
  if (!p->field && put_blob && plain) p->field = http_header_get(r, plain)
  PROP(content_type, "x-ms-blob-content-type", "Content-Type");
  PROP(content_encoding, "x-ms-blob-content-encoding", "Content-Encoding");
  PROP(content_language, "x-ms-blob-content-language", "Content-Language");
  PROP(content_disposition, "x-ms-blob-content-disposition", NULL);
  PROP(cache_control, "x-ms-blob-cache-control", "Cache-Control");
  PROP(content_md5, "x-ms-blob-content-md5", NULL);
#undef PROP
}

static const char *const TIERS[] = {"Hot", "Cool", "Cold", "Archive", "P4",  "P6",  "P10", "P15",
                                    "P20", "P30",  "P40",  "P50",     "P60", "P70", "P80", NULL};

/* x-ms-access-tier, normalized to Azure's spelling; *out NULL when absent. */
int blob_tier_read(blob_ctx *c, const char **out) {
  const char *t = http_header_get(c->r, "x-ms-access-tier");
  *out = NULL;
  if (!t) return 0;
  for (int i = 0; TIERS[i]; i++)
    if (strcasecmp(t, TIERS[i]) == 0) {
      *out = TIERS[i];
      return 0;
    }
  blob_fail_header(c, "x-ms-access-tier", t);
  return -1;
}

int blob_write_content(blob_ctx *c, const blob_container_row *ct, const blob_row *old,
                       const blob_write *w, int64_t *blob_id, blob_ids *freed) {
  srv *s = c->s;
  sqlite3 *db = store_db(s);
  sqlite3_stmt *q;
  const blob_http_props *p = w->props;
  if (blob_protect_before_write(c, old) != 0) return -1;
  const char *sql =
      old ? "UPDATE blobs SET type=?1, size=?2, etag=?3, last_modified_ms=?4, created_ms=?5,"
            " content_type=?6, content_encoding=?7, content_language=?8, content_md5=?9,"
            " content_disposition=?10, cache_control=?11, metadata=?12, tier=?13,"
            " tier_change_ms=?14, committed_blocks=0, seq_number=0, sealed=0,"
            " archive_status=NULL, rehydrate_priority=NULL, rehydrate_done_ms=NULL,"
            " copy_id=NULL, copy_status=NULL, copy_source=NULL, copy_progress=NULL,"
            " copy_completion_ms=NULL, copy_status_description=NULL WHERE id=?17"
          : "INSERT INTO blobs(type,size,etag,last_modified_ms,created_ms,content_type,"
            "content_encoding,content_language,content_md5,content_disposition,cache_control,"
            "metadata,tier,tier_change_ms,container_id,name,snapshot)"
            " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,'')";
  if (store_prepare(db, sql, -1, &q, NULL) != SQLITE_OK) return -1;
  sqlite3_bind_text(q, 1, w->type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, w->size);
  sqlite3_bind_text(q, 3, w->etag, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 4, c->now_ms);
  sqlite3_bind_int64(q, 5, c->now_ms);
  sqlite3_bind_text(q, 6, p->content_type ? p->content_type : "application/octet-stream", -1,
                    SQLITE_STATIC);
  sqlite3_bind_text(q, 7, p->content_encoding, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 8, p->content_language, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 9, p->content_md5, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 10, p->content_disposition, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 11, p->cache_control, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 12, w->metadata, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 13, w->tier, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 14, c->now_ms);
  if (old) {
    sqlite3_bind_int64(q, 17, old->id);
  } else {
    sqlite3_bind_int64(q, 15, ct->id);
    sqlite3_bind_text(q, 16, c->blob, -1, SQLITE_STATIC);
  }
  int rc = sqlite3_step(q);
  store_finalize(q);
  if (rc != SQLITE_DONE) {
    log_error("blob: writing %s: %s", c->blob, sqlite3_errmsg(db));
    return -1;
  }
  int64_t id = old ? old->id : sqlite3_last_insert_rowid(db);
  *blob_id = id;
  if ((blob_protection_of(c)->versioning || (old && old->version_id)) &&
      blob_version_after_write(c, ct->id, c->blob, id) != 0)
    return -1;
  if (old) {
    if (blob_ids_of_extents(s, id, freed) != 0) return -1;
    if (store_run(s, "DELETE FROM blob_extents WHERE blob_id=?", "i", id) != 0 ||
        store_run(s, "DELETE FROM blob_tags WHERE blob_id=?", "i", id) != 0)
      return -1;
  }
  if (store_prepare(db,
                    "INSERT INTO blob_extents(blob_id,pos,len,file_id,file_off,block_id)"
                    " VALUES(?,?,?,?,?,?)",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  int64_t pos = 0;
  for (int i = 0; i < w->nextents; i++) {
    const blob_new_extent *e = &w->extents[i];
    if (e->len == 0) continue;
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, pos);
    sqlite3_bind_int64(q, 3, e->len);
    sqlite3_bind_int64(q, 4, e->file_id);
    sqlite3_bind_int64(q, 5, e->file_off);
    sqlite3_bind_text(q, 6, e->block_id, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) {
      log_error("blob: writing extents of %s: %s", c->blob, sqlite3_errmsg(db));
      store_finalize(q);
      return -1;
    }
    pos += e->len;
  }
  store_finalize(q);
  /* A committed blob drops the name's uncommitted blocks (Azure discards them). */
  if (blob_ids_of_blocks(s, ct->id, c->blob, freed) != 0 ||
      store_run(s, "DELETE FROM blob_blocks WHERE container_id=? AND blob_name=?", "it", ct->id,
                c->blob) != 0)
    return -1;
  return 0;
}

/* ---- Put Blob ------------------------------------------------------------------------ */

int blob_digest_headers_check(blob_ctx *c) {
  static const char *const pairs[][2] = {{"Content-MD5", "x-ms-content-crc64"},
                                         {"x-ms-source-content-md5", "x-ms-source-content-crc64"}};
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
    if (http_header_get(c->r, pairs[i][0]) && http_header_get(c->r, pairs[i][1])) {
      http_fail(c->r, STORAGE_ERR_INVALID_HEADER_VALUE, "Both %s header and %s header are present.",
                pairs[i][1], pairs[i][0]);
      http_fail_detail(c->r, "HeaderName", pairs[i][1]);
      return -1;
    }
  return 0;
}

void blob_put_blob(blob_ctx *c) {
  http_req *r = c->r;
  if (http_header_get(r, "x-ms-copy-source")) {
    blob_copy_dispatch(c);
    return;
  }
  const char *type = http_header_get(r, "x-ms-blob-type");
  if (!type) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(r, "HeaderName", "x-ms-blob-type");
    return;
  }
  if (strcmp(type, "AppendBlob") == 0) {
    blob_append_create(c);
    return;
  }
  if (strcmp(type, "PageBlob") == 0) {
    blob_page_create(c);
    return;
  }
  if (strcmp(type, "BlockBlob") != 0) {
    blob_fail_header(c, "x-ms-blob-type", type);
    return;
  }
  blob_http_props props;
  blob_http_props_read(c, 1, &props);
  const char *tier;
  if (blob_tier_read(c, &tier) != 0) return;
  blob_tagset tags;
  int has_tags;
  if (blob_tags_from_header(c, &tags, &has_tags) != 0) return;
  char *meta = blob_metadata_from_headers(c);
  if (!meta) return;
  blob_pending body;
  if (blob_digest_headers_check(c) != 0 || blob_data_accept_body(c, 1, &body) != 0) {
    free(meta);
    return;
  }
  char md5[25];
  blob_b64_md5(body.md5, md5);
  /* Azure stores the MD5 it computed unless the client names one. */
  if (!props.content_md5) props.content_md5 = md5;

  blob_container_row ct;
  blob_row old;
  blob_ids freed = {0};
  int64_t blob_id;
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_begin(c->s) != 0) {
    blob_data_discard(c, &body);
    free(meta);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  int exists = blob_write_target(c, &ct, &old);
  if (exists < 0) goto fail;
  if (blob_data_register(c, &body) != 0) goto fail_internal;
  blob_new_extent ext = {body.file_id, 0, (int64_t)body.len, NULL};
  blob_write w = {"BlockBlob", (int64_t)body.len, etag, &props, meta, tier, &ext, 1};
  if (blob_write_content(c, &ct, exists ? &old : NULL, &w, &blob_id, &freed) != 0)
    goto fail_internal;
  if (has_tags && blob_tags_store(c, blob_id, &tags) != 0) goto fail_internal;
  if (store_commit(c->s) != 0) goto fail_internal;
  free(meta);
  free(body.rel);
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  blob_data_reply_digests(c, &body);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 201);
  return;
fail_internal:
  blob_fail_internal(c, "storing the blob");
fail:
  store_rollback(c->s);
  blob_data_discard(c, &body);
  blob_ids_free(&freed);
  free(meta);
}

/* ---- Get Blob, Get Blob Properties ------------------------------------------------ */

void blob_row_headers(blob_ctx *c, const blob_row *b) {
  http_req *r = c->r;
  char d[32];
  blob_set_etag_lm(c, b->etag, b->last_modified_ms);
  http_date(b->created_ms, d);
  http_set_header(r, "x-ms-creation-time", d);
  blob_metadata_headers(c, b->metadata);
  http_set_header(r, "x-ms-blob-type", b->type);
  if (b->content_encoding) http_set_header(r, "Content-Encoding", b->content_encoding);
  if (b->content_language) http_set_header(r, "Content-Language", b->content_language);
  if (b->content_disposition) http_set_header(r, "Content-Disposition", b->content_disposition);
  if (b->cache_control) http_set_header(r, "Cache-Control", b->cache_control);
  blob_lease_headers(c, &b->lease);
  http_set_header(r, "x-ms-server-encrypted", "true");
  http_set_header(r, "Accept-Ranges", "bytes");
  if (b->tag_count > 0) http_set_headerf(r, "x-ms-tag-count", "%d", b->tag_count);
  if (strcmp(b->type, "PageBlob") == 0)
    http_set_headerf(r, "x-ms-blob-sequence-number", "%lld", (long long)b->seq_number);
  if (strcmp(b->type, "AppendBlob") == 0) {
    http_set_headerf(r, "x-ms-blob-committed-block-count", "%lld", (long long)b->committed_blocks);
    /* Sent for every append blob (from 2019-12-12), as listings do with <Sealed>. */
    if (strcmp(blob_request_version(r), "2019-12-12") >= 0)
      http_set_header(r, "x-ms-blob-sealed", b->sealed ? "true" : "false");
  }
  if (b->copy_id) {
    http_set_header(r, "x-ms-copy-id", b->copy_id);
    if (b->copy_status) http_set_header(r, "x-ms-copy-status", b->copy_status);
    if (b->copy_source) http_set_header(r, "x-ms-copy-source", b->copy_source);
    if (b->copy_progress) http_set_header(r, "x-ms-copy-progress", b->copy_progress);
    if (b->copy_status_description)
      http_set_header(r, "x-ms-copy-status-description", b->copy_status_description);
    if (b->copy_completion_ms) {
      http_date(b->copy_completion_ms, d);
      http_set_header(r, "x-ms-copy-completion-time", d);
    }
  }
  if (b->snapshot && b->snapshot[0] && b->snapshot[0] != '@')
    http_set_header(r, "x-ms-snapshot", b->snapshot);
  if (b->version_id) {
    http_set_header(r, "x-ms-version-id", b->version_id);
    if (!b->snapshot || !b->snapshot[0]) http_set_header(r, "x-ms-is-current-version", "true");
  }
}

/* SAS rsc* parameters override the stored response headers. */
static const char *sas_override(const char *sas, const char *stored) {
  return sas ? sas : stored;
}

static void sas_header_overrides(blob_ctx *c) {
  const sauth_result *a = &c->auth;
  if (a->rscc) http_set_header(c->r, "Cache-Control", a->rscc);
  if (a->rscd) http_set_header(c->r, "Content-Disposition", a->rscd);
  if (a->rsce) http_set_header(c->r, "Content-Encoding", a->rsce);
  if (a->rscl) http_set_header(c->r, "Content-Language", a->rscl);
}

/* Shared by Get Blob and Get Blob Properties up to the reply; 0 = go on. */
static int load_for_read(blob_ctx *c, blob_row *b) {
  blob_container_row ct;
  if (blob_need_container(c, &ct) != 0) return -1;
  if (blob_need_blob(c, &ct, b, 1) != 1) return -1;
  if (blob_lease_check_read(c, &b->lease) != 0) return -1;
  if (blob_conditions_check(c, 1, b->etag, b->last_modified_ms, 1) != 0) return -1;
  return 0;
}

/* load_for_read in a read transaction of its own, for replies made of the row
 * alone (properties, metadata). */
static int load_row_for_read(blob_ctx *c, blob_row *b) {
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return -1;
  }
  int rc = load_for_read(c, b);
  blob_read_end(c);
  return rc;
}

void blob_get_blob(blob_ctx *c) {
  http_req *r = c->r;
  blob_row b;
  const char *xr = http_header_get(r, "x-ms-range");
  const char *range_hdr = xr ? xr : http_header_get(r, "Range");
  int64_t start = 0, end = -1;
  int ranged = blob_range_parse(range_hdr, &start, &end);
  if (ranged < 0 && xr) {
    blob_fail_header(c, "x-ms-range", xr);
    return;
  }
  if (ranged < 0) ranged = 0;
  const char *want_md5 = http_header_get(r, "x-ms-range-get-content-md5");
  int range_md5 = want_md5 && strcasecmp(want_md5, "true") == 0;
  if (range_md5 && (!ranged || (end >= 0 && end - start + 1 > 4 * 1024 * 1024) || end < 0)) {
    http_fail(r, STORAGE_ERR_OUT_OF_RANGE_INPUT, "One of the request inputs is out of range.");
    return;
  }
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return;
  }
  if (load_for_read(c, &b) != 0 || storage_tier_require_online(c, &b) != 0) {
    blob_read_end(c);
    return;
  }
  uint64_t off = 0, len = (uint64_t)b.size;
  if (ranged && blob_range_resolve(b.size, start, end, &off, &len) != 0) {
    blob_read_end(c);
    http_set_headerf(r, "Content-Range", "bytes */%lld", (long long)b.size);
    http_fail(r, STORAGE_ERR_INVALID_RANGE,
              "The range specified is invalid for the current size of the resource.");
    return;
  }
  blob_extent *ext;
  int n;
  int rc = blob_extents_load(c, b.id, off, len, &ext, &n);
  blob_read_end(c);
  if (rc != 0) {
    blob_fail_internal(c, "loading extents");
    return;
  }
  storage_tier_note_access(c, &b);
  blob_row_headers(c, &b);
  sas_header_overrides(c);
  int status = 200;
  if (ranged) {
    status = 206;
    http_set_headerf(r, "Content-Range", "bytes %llu-%llu/%lld", (unsigned long long)off,
                     (unsigned long long)(off + len - 1), (long long)b.size);
    if (b.content_md5) http_set_header(r, "x-ms-blob-content-md5", b.content_md5);
    if (range_md5) {
      unsigned char md5[16];
      char b64[25];
      if (blob_data_md5(c, ext, n, off, len, md5) != 0) {
        blob_fail_internal(c, "hashing a range");
        return;
      }
      blob_b64_md5(md5, b64);
      http_set_header(r, "Content-MD5", b64);
    }
  } else if (b.content_md5) {
    http_set_header(r, "Content-MD5", b.content_md5);
  }
  blob_data_reply(c, status, sas_override(c->auth.rsct, b.content_type), ext, n, off, len);
}

void blob_get_properties(blob_ctx *c) {
  http_req *r = c->r;
  blob_row b;
  if (load_row_for_read(c, &b) != 0) return;
  blob_row_headers(c, &b);
  sas_header_overrides(c);
  if (b.content_md5) http_set_header(r, "Content-MD5", b.content_md5);
  storage_tier_headers(c, &b);
  /* HEAD carries the blob's Content-Length and no body. */
  http_reply_length_only(r, 200, sas_override(c->auth.rsct, b.content_type), (uint64_t)b.size);
}

/* ---- Delete Blob --------------------------------------------------------------------- */

/* Drops the rows of container ct that `which` selects (?2 the blob's id, ?3
 * its name), collecting their data files into *freed first. */
static int delete_rows(blob_ctx *c, const blob_container_row *ct, const blob_row *b,
                       const char *which, blob_ids *freed) {
  sqlite3_stmt *q;
  /* Collect the data files first: the cascade drops the extents with the rows. */
  char *sql = sqlite3_mprintf("SELECT id FROM blobs WHERE container_id=?1 AND %s", which);
  int ok = store_prepare(store_db(c->s), sql, -1, &q, NULL) == SQLITE_OK;
  sqlite3_free(sql);
  if (!ok) return -1;
  sqlite3_bind_int64(q, 1, ct->id);
  sqlite3_bind_int64(q, 2, b->id);
  sqlite3_bind_text(q, 3, c->blob, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    blob_ids_of_extents(c->s, sqlite3_column_int64(q, 0), freed);
  store_finalize(q);
  sql = sqlite3_mprintf("DELETE FROM blobs WHERE container_id=?1 AND %s", which);
  ok = store_prepare(store_db(c->s), sql, -1, &q, NULL) == SQLITE_OK;
  sqlite3_free(sql);
  if (!ok) return -1;
  sqlite3_bind_int64(q, 1, ct->id);
  sqlite3_bind_int64(q, 2, b->id);
  sqlite3_bind_text(q, 3, c->blob, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  store_finalize(q);
  return rc == SQLITE_DONE ? 0 : -1;
}

void blob_delete_blob(blob_ctx *c) {
  http_req *r = c->r;
  const char *ds = http_header_get(r, "x-ms-delete-snapshots");
  const char *snap = http_query_get(r, "snapshot");
  if (ds && strcmp(ds, "include") != 0 && strcmp(ds, "only") != 0) {
    blob_fail_header(c, "x-ms-delete-snapshots", ds);
    return;
  }
  if (ds && (snap || http_query_get(r, "versionid"))) {
    http_fail(r, STORAGE_ERR_INVALID_QUERY_PARAMETER_VALUE,
              "Value for one of the query parameters specified in the request URI is invalid.");
    return;
  }
  blob_container_row ct;
  blob_row b;
  blob_ids freed = {0};
  int permanent = 1;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0 || blob_need_blob(c, &ct, &b, 1) != 1) goto fail;
  if (blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0) goto fail;
  int base = b.snapshot[0] == 0;
  if (base && blob_lease_check_write(c, &b.lease) != 0) goto fail;
  const blob_protection *prot = blob_protection_of(c);
  if (!base) {
    /* One snapshot or previous version. */
    int soft = blob_version_soft_delete(c, &b);
    if (soft < 0) goto fail_internal;
    permanent = !soft;
    if (!soft && delete_rows(c, &ct, &b, "id=?2", &freed) != 0) goto fail_internal;
  } else {
    int only = ds && strcmp(ds, "only") == 0, with = ds && strcmp(ds, "include") == 0;
    if (!ds) {
      int has_snaps = 0;
      sqlite3_stmt *q;
      if (store_prepare(store_db(c->s),
                        "SELECT 1 FROM blobs WHERE container_id=? AND name=? AND "
                        "deleted_ms IS NULL AND " BLOB_SQL_IS_SNAPSHOT,
                        -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, ct.id);
        sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
        has_snaps = sqlite3_step(q) == SQLITE_ROW;
        store_finalize(q);
      }
      if (has_snaps) {
        http_fail(r, STORAGE_ERR_SNAPSHOTS_PRESENT,
                  "This operation is not permitted because the blob has snapshots.");
        goto fail;
      }
    }
    if ((only || with) && prot->blob_days <= 0 &&
        delete_rows(c, &ct, &b, "name=?3 AND " BLOB_SQL_IS_SNAPSHOT, &freed) != 0)
      goto fail_internal;
    if (prot->versioning || prot->blob_days > 0) {
      /* The base blob stays as a version or a soft-deleted blob (and, under
       * soft delete, the snapshots as soft-deleted ones). */
      int soft_snaps = prot->blob_days > 0;
      if ((!only || soft_snaps) && blob_soft_delete(c, &b, with && soft_snaps, only) != 0)
        goto fail_internal;
      permanent = !only || soft_snaps ? 0 : 1;
    } else if (!only && delete_rows(c, &ct, &b, "id=?2", &freed) != 0) {
      goto fail_internal;
    }
    /* Deleting the base blob also drops the name's uncommitted blocks. */
    if (!only && (blob_ids_of_blocks(c->s, ct.id, c->blob, &freed) != 0 ||
                  store_run(c->s, "DELETE FROM blob_blocks WHERE container_id=? AND blob_name=?",
                            "it", ct.id, c->blob) != 0))
      goto fail_internal;
  }
  if (store_commit(c->s) != 0) goto fail_internal;
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  http_set_header(r, "x-ms-delete-type-permanent", permanent ? "true" : "false");
  http_reply_empty(r, 202);
  return;
fail_internal:
  blob_fail_internal(c, "deleting the blob");
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
}

/* ---- Set Blob Properties, Get/Set Blob Metadata ------------------------------------ */

/* Loads the base blob for an update of its properties; runs conditions and the
 * lease check.  0 = in a transaction, go on; -1 = failed (rolled back). */
static int begin_update(blob_ctx *c, blob_container_row *ct, blob_row *b) {
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return -1;
  }
  if (blob_need_container(c, ct) != 0 || blob_need_blob(c, ct, b, 1) != 1 ||
      blob_conditions_check(c, 1, b->etag, b->last_modified_ms, 0) != 0 ||
      blob_lease_check_write(c, &b->lease) != 0 || storage_tier_require_online(c, b) != 0) {
    store_rollback(c->s);
    return -1;
  }
  return 0;
}

/* Commits an UPDATE of the blob with a fresh ETag; replies 200. */
static void finish_update(blob_ctx *c, const blob_row *b, const char *set) {
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_exec(c->s, "UPDATE blobs SET %s, etag=%Q, last_modified_ms=%lld WHERE id=%lld", set,
                 etag, (long long)c->now_ms, (long long)b->id) != 0 ||
      store_commit(c->s) != 0) {
    store_rollback(c->s);
    blob_fail_internal(c, "updating the blob");
    return;
  }
  blob_set_etag_lm(c, etag, c->now_ms);
  http_set_header(c->r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(c->r, 200);
}

void blob_set_http_headers(blob_ctx *c) {
  /* Resize and Update Sequence Number share the URL; their headers pick them. */
  if (http_header_get(c->r, "x-ms-blob-content-length") ||
      http_header_get(c->r, "x-ms-sequence-number-action")) {
    blob_page_set_properties(c);
    return;
  }
  if (http_query_get(c->r, "snapshot") || http_query_get(c->r, "versionid")) {
    const char *k = http_query_get(c->r, "snapshot") ? "snapshot" : "versionid";
    blob_fail_query(c, k, http_query_get(c->r, k));
    return;
  }
  blob_http_props p;
  blob_http_props_read(c, 0, &p);
  const char *ct_hdr = p.content_type;
  blob_container_row ct;
  blob_row b;
  if (begin_update(c, &ct, &b) != 0) return;
  /* Azure replaces every HTTP property: one left out of the request is cleared. */
  char *set = sqlite3_mprintf("content_type=%Q, content_encoding=%Q, content_language=%Q,"
                              " content_md5=%Q, content_disposition=%Q, cache_control=%Q",
                              ct_hdr, p.content_encoding, p.content_language, p.content_md5,
                              p.content_disposition, p.cache_control);
  finish_update(c, &b, set);
  sqlite3_free(set);
}

void blob_set_metadata(blob_ctx *c) {
  if (http_query_get(c->r, "snapshot") || http_query_get(c->r, "versionid")) {
    const char *k = http_query_get(c->r, "snapshot") ? "snapshot" : "versionid";
    blob_fail_query(c, k, http_query_get(c->r, k));
    return;
  }
  char *meta = blob_metadata_from_headers(c);
  if (!meta) return;
  blob_container_row ct;
  blob_row b;
  if (begin_update(c, &ct, &b) != 0) {
    free(meta);
    return;
  }
  /* Set Blob Metadata is a write that makes a new version (Azure). */
  if (blob_protection_of(c)->versioning &&
      (blob_protect_before_write(c, &b) != 0 ||
       blob_version_after_write(c, ct.id, c->blob, b.id) != 0)) {
    store_rollback(c->s);
    free(meta);
    blob_fail_internal(c, "keeping the version");
    return;
  }
  char *set = sqlite3_mprintf("metadata=%Q", meta);
  free(meta);
  finish_update(c, &b, set);
  sqlite3_free(set);
}

void blob_get_metadata(blob_ctx *c) {
  blob_row b;
  if (load_row_for_read(c, &b) != 0) return;
  blob_set_etag_lm(c, b.etag, b.last_modified_ms);
  blob_metadata_headers(c, b.metadata);
  http_reply_empty(c->r, 200);
}

int blob_write_target(blob_ctx *c, blob_container_row *ct, blob_row *old) {
  http_req *r = c->r;
  int exists = -1;
  if (blob_need_container(c, ct) == 0) exists = blob_row_load(c, ct->id, c->blob, "", old);
  if (exists < 0) {
    if (!http_failed(r)) blob_fail_internal(c, "loading the blob");
    return -1;
  }
  if (exists && c->sas_create_only) {
    http_fail(r, STORAGE_ERR_AUTHORIZATION_PERMISSION_MISMATCH,
              "This request is not authorized to perform this operation using this permission.");
    return -1;
  }
  blob_conditions cd;
  blob_conditions_read(r, &cd);
  if (exists && cd.if_none_match && strcmp(cd.if_none_match, "*") == 0) {
    http_fail(r, STORAGE_ERR_BLOB_ALREADY_EXISTS, "The specified blob already exists.");
    return -1;
  }
  if (blob_conditions_check(c, exists, exists ? old->etag : "", exists ? old->last_modified_ms : 0,
                            0) != 0 ||
      blob_tags_condition_check(c, "x-ms-if-tags", exists ? old->id : 0) != 0 ||
      (exists && blob_lease_check_write(c, &old->lease) != 0))
    return -1;
  return exists;
}
