/* blob_append.c: append blobs (Put Blob of an empty AppendBlob, Append Block,
 * Append Block From URL, Seal) and the creation of typed blobs that start
 * without content, which page blobs share.
 *
 * An append is one more extent at the blob's end: the body is placed as a
 * complete data file first, then one transaction adds the extent and moves
 * size and committed_blocks, so a crash leaves either the old blob or the
 * appended one.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"
#include "mgmt.h"

#define APPEND_MAX_BLOCKS 50000
#define APPEND_MAX_BLOCK (100LL * 1024 * 1024)

int blob_create_typed(blob_ctx *c, const char *type, int64_t size, int64_t seq) {
  http_req *r = c->r;
  if (r->body_len != 0) {
    blob_fail_header(c, "Content-Length", http_header_get(r, "Content-Length"));
    return -1;
  }
  blob_http_props props;
  blob_http_props_read(c, 1, &props);
  const char *tier;
  if (blob_tier_read(c, &tier) != 0) return -1;
  if (tier && strcmp(type, "AppendBlob") == 0) {
    http_fail(r, STORAGE_ERR_ACCESS_TIER_NOT_SUPPORTED_FOR_BLOB_TYPE,
              "The access tier is not supported for this blob type.");
    return -1;
  }
  blob_tagset tags;
  int has_tags;
  if (blob_tags_from_header(c, &tags, &has_tags) != 0) return -1;
  char *meta = blob_metadata_from_headers(c);
  if (!meta) return -1;
  blob_container_row ct;
  blob_row old;
  blob_ids freed = {0};
  int64_t blob_id;
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_begin(c->s) != 0) {
    free(meta);
    blob_fail_internal(c, "starting a transaction");
    return -1;
  }
  int exists = blob_write_target(c, &ct, &old);
  if (exists < 0) goto fail;
  blob_write w = {type, size, etag, &props, meta, tier, NULL, 0};
  if (blob_write_content(c, &ct, exists ? &old : NULL, &w, &blob_id, &freed) != 0 ||
      (has_tags && blob_tags_store(c, blob_id, &tags) != 0) ||
      (seq && store_exec(c->s, "UPDATE blobs SET seq_number=%lld WHERE id=%lld", (long long)seq,
                         (long long)blob_id) != 0) ||
      store_commit(c->s) != 0) {
    blob_fail_internal(c, "creating the blob");
    goto fail;
  }
  free(meta);
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 201);
  return 0;
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
  free(meta);
  return -1;
}

void blob_append_create(blob_ctx *c) {
  blob_create_typed(c, "AppendBlob", 0, 0);
}

/* Reads an optional non-negative integer header; -1 when absent, -2 when bad (failed). */
static int64_t opt_int(blob_ctx *c, const char *name) {
  const char *v = http_header_get(c->r, name);
  if (!v) return -1;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (!*v || *end || x < 0) {
    blob_fail_header(c, name, v);
    return -2;
  }
  return x;
}

/* The append blob the URL names, checked for an append: type, conditions,
 * lease, seal, and the append-position / max-size conditions for adding len
 * bytes.  Inside the caller's transaction; 0 ok. */
static int append_target(blob_ctx *c, blob_container_row *ct, blob_row *b, int64_t len) {
  int64_t maxsize = opt_int(c, "x-ms-blob-condition-maxsize");
  int64_t appendpos = opt_int(c, "x-ms-blob-condition-appendpos");
  if (maxsize == -2 || appendpos == -2) return -1;
  if (blob_need_container(c, ct) != 0 || blob_need_blob(c, ct, b, 1) != 1) return -1;
  if (strcmp(b->type, "AppendBlob") != 0) {
    http_fail(c->r, STORAGE_ERR_INVALID_BLOB_TYPE, "The blob type is invalid for this operation.");
    return -1;
  }
  if (blob_conditions_check(c, 1, b->etag, b->last_modified_ms, 0) != 0 ||
      blob_lease_check_write(c, &b->lease) != 0)
    return -1;
  if (b->sealed) {
    http_fail(c->r, STORAGE_ERR_BLOB_IS_SEALED,
              "The specified blob is sealed and its contents can't be modified.");
    return -1;
  }
  if (appendpos >= 0 && appendpos != b->size) {
    http_fail(c->r, STORAGE_ERR_APPEND_POSITION_CONDITION_NOT_MET,
              "The append position condition specified was not met.");
    return -1;
  }
  if (maxsize >= 0 && b->size + len > maxsize) {
    http_fail(c->r, STORAGE_ERR_MAX_BLOB_SIZE_CONDITION_NOT_MET,
              "The max blob size condition specified was not met.");
    return -1;
  }
  if (b->committed_blocks >= APPEND_MAX_BLOCKS) {
    http_fail(c->r, STORAGE_ERR_BLOCK_COUNT_EXCEEDS_LIMIT,
              "The committed block count cannot exceed the maximum limit of 50,000 blocks.");
    return -1;
  }
  return 0;
}

/* Adds extents at the end of b, moves size, count and ETag; then commits. */
static int append_commit(blob_ctx *c, const blob_row *b, const blob_new_extent *ext, int n,
                         int64_t len, char etag[24]) {
  int64_t pos = b->size;
  for (int i = 0; i < n; i++) {
    if (ext[i].len == 0) continue;
    if (store_run(c->s,
                  "INSERT INTO blob_extents(blob_id, pos, len, file_id, file_off)"
                  " VALUES(?, ?, ?, ?, ?)",
                  "iiiii", b->id, pos, ext[i].len, ext[i].file_id, ext[i].file_off) != 0)
      return -1;
    pos += ext[i].len;
  }
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_run(c->s,
                "UPDATE blobs SET size=size+?, committed_blocks=committed_blocks+1, etag=?,"
                " last_modified_ms=? WHERE id=?",
                "itii", len, etag, c->now_ms, b->id) != 0)
    return -1;
  return store_commit(c->s);
}

static void append_reply(blob_ctx *c, const blob_row *b, const char *etag,
                         const blob_pending *body) {
  blob_set_etag_lm(c, etag, c->now_ms);
  if (body) blob_data_reply_digests(c, body);
  http_set_headerf(c->r, "x-ms-blob-append-offset", "%lld", (long long)b->size);
  http_set_headerf(c->r, "x-ms-blob-committed-block-count", "%lld",
                   (long long)b->committed_blocks + 1);
  http_set_header(c->r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(c->r, 201);
}

static void append_from_url(blob_ctx *c) {
  http_req *r = c->r;
  if (r->body_len != 0) {
    blob_fail_header(c, "Content-Length", http_header_get(r, "Content-Length"));
    return;
  }
  blob_container_row ct;
  blob_row b;
  blob_source src;
  blob_new_extent *ext = NULL;
  int n = 0;
  blob_pending mat = {0};
  uint64_t off, len;
  char etag[24];
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_source_open(c, http_header_get(r, "x-ms-copy-source"), 0, &src) != 0 ||
      blob_source_slice(c, &src, &off, &len) != 0)
    goto fail;
  if (len == 0 || (int64_t)len > APPEND_MAX_BLOCK) {
    http_fail(r, STORAGE_ERR_INVALID_SOURCE_BLOB_TYPE,
              "The source range is not valid for an append.");
    goto fail;
  }
  if (append_target(c, &ct, &b, (int64_t)len) != 0 ||
      blob_source_extents(c, &src, off, len, 0, &ext, &n, &mat) != 0 ||
      append_commit(c, &b, ext, n, (int64_t)len, etag) != 0) {
    if (!http_failed(r)) blob_fail_internal(c, "appending");
    goto fail;
  }
  free(ext);
  free(mat.rel);
  append_reply(c, &b, etag, NULL);
  return;
fail:
  store_rollback(c->s);
  blob_data_discard(c, &mat);
  free(ext);
}

void blob_append_block(blob_ctx *c) {
  http_req *r = c->r;
  if (blob_digest_headers_check(c) != 0) return;
  if (http_header_get(r, "x-ms-copy-source")) {
    append_from_url(c);
    return;
  }
  if (r->body_len == 0) {
    blob_fail_header(c, "Content-Length", http_header_get(r, "Content-Length"));
    return;
  }
  if ((int64_t)r->body_len > APPEND_MAX_BLOCK) {
    http_fail(r, STORAGE_ERR_REQUEST_BODY_TOO_LARGE,
              "The request body is too large and exceeds the maximum permissible limit.");
    return;
  }
  blob_pending body;
  if (blob_data_accept_body(c, 0, &body) != 0) return;
  blob_container_row ct;
  blob_row b;
  char etag[24];
  if (store_begin(c->s) != 0) {
    blob_data_discard(c, &body);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (append_target(c, &ct, &b, (int64_t)body.len) != 0) goto fail;
  if (blob_data_register(c, &body) != 0) goto fail_internal;
  blob_new_extent ext = {body.file_id, 0, (int64_t)body.len, NULL};
  if (append_commit(c, &b, &ext, 1, (int64_t)body.len, etag) != 0) goto fail_internal;
  free(body.rel);
  append_reply(c, &b, etag, &body);
  return;
fail_internal:
  blob_fail_internal(c, "appending");
fail:
  store_rollback(c->s);
  blob_data_discard(c, &body);
}

void blob_append_seal(blob_ctx *c) {
  blob_container_row ct;
  blob_row b;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  int64_t appendpos = opt_int(c, "x-ms-blob-condition-appendpos");
  if (appendpos == -2 || blob_need_container(c, &ct) != 0 || blob_need_blob(c, &ct, &b, 1) != 1)
    goto fail;
  if (strcmp(b.type, "AppendBlob") != 0) {
    http_fail(c->r, STORAGE_ERR_INVALID_BLOB_TYPE, "The blob type is invalid for this operation.");
    goto fail;
  }
  if (blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0 ||
      blob_lease_check_write(c, &b.lease) != 0)
    goto fail;
  if (appendpos >= 0 && appendpos != b.size) {
    http_fail(c->r, STORAGE_ERR_APPEND_POSITION_CONDITION_NOT_MET,
              "The append position condition specified was not met.");
    goto fail;
  }
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_exec(c->s, "UPDATE blobs SET sealed=1, etag=%Q, last_modified_ms=%lld WHERE id=%lld",
                 etag, (long long)c->now_ms, (long long)b.id) != 0 ||
      store_commit(c->s) != 0) {
    blob_fail_internal(c, "sealing");
    goto fail;
  }
  blob_set_etag_lm(c, etag, c->now_ms);
  http_set_header(c->r, "x-ms-blob-sealed", "true");
  http_reply_empty(c->r, 200);
  return;
fail:
  store_rollback(c->s);
}
