/* blob_block.c: block blobs assembled from blocks: Put Block (stage bytes
 * under a block id), Put Block List (commit an ordered list of staged and
 * committed blocks: rows only, no bytes move), Get Block List.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/xml.h"
#include "blob.h"

#define MAX_UNCOMMITTED 100000
#define MAX_BLOCK_SIZE (4000LL * 1024 * 1024)
#define MAX_BLOCK_LIST_XML (8u * 1024 * 1024)

static void fail_invalid_block_list(blob_ctx *c) {
  http_fail(c->r, STORAGE_ERR_INVALID_BLOCK_LIST, "The specified block list is invalid.");
}

/* The blob the URL names must be a block blob when it exists. */
static int check_block_blob(blob_ctx *c, const blob_row *b) {
  if (strcmp(b->type, "BlockBlob") == 0) return 0;
  http_fail(c->r, STORAGE_ERR_INVALID_BLOB_TYPE, "The blob type is invalid for this operation.");
  return -1;
}

void blob_put_block(blob_ctx *c) {
  http_req *r = c->r;
  const char *id = http_query_get(r, "blockid");
  int id_len;
  if (!id) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_QUERY_PARAMETER,
              "A query parameter that's mandatory for this request is not specified.");
    http_fail_detail(r, "QueryParameterName", "blockid");
    return;
  }
  if (blob_block_id_check(id, &id_len) != 0) {
    blob_fail_query(c, "blockid", id);
    return;
  }
  /* Put Block From URL: the block's bytes are a range of another blob. */
  const char *source = http_header_get(r, "x-ms-copy-source");
  if (source ? r->body_len != 0 : (r->body_len == 0 || (int64_t)r->body_len > MAX_BLOCK_SIZE)) {
    blob_fail_header(c, "Content-Length", http_header_get(r, "Content-Length"));
    return;
  }
  blob_pending body = {0};
  if (blob_digest_headers_check(c) != 0) return;
  if (!source && blob_data_accept_body(c, 0, &body) != 0) return;
  blob_container_row ct;
  blob_row old;
  blob_ids freed = {0};
  sqlite3_stmt *q = NULL;
  if (store_begin(c->s) != 0) {
    blob_data_discard(c, &body);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  int exists = -1;
  if (blob_need_container(c, &ct) == 0) exists = blob_row_load(c, ct.id, c->blob, "", &old);
  if (exists < 0) {
    if (!http_failed(r)) blob_fail_internal(c, "loading the blob");
    goto fail;
  }
  if (exists && (check_block_blob(c, &old) != 0 || blob_lease_check_write(c, &old.lease) != 0))
    goto fail;
  /* Azure wants every block id of a blob to have the same length, and caps the count. */
  if (store_prepare(store_db(c->s),
                    "SELECT count(*), sum(length(block_id) <> ?3),"
                    " coalesce(max(seq), 0) FROM blob_blocks"
                    " WHERE container_id=?1 AND blob_name=?2",
                    -1, &q, NULL) != SQLITE_OK)
    goto fail_internal;
  sqlite3_bind_int64(q, 1, ct.id);
  sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 3, (int)strlen(id));
  if (sqlite3_step(q) != SQLITE_ROW) goto fail_internal;
  int64_t count = sqlite3_column_int64(q, 0), odd = sqlite3_column_int64(q, 1);
  int64_t seq = sqlite3_column_int64(q, 2) + 1;
  store_finalize(q);
  q = NULL;
  /* The blob's committed blocks count too. */
  if (odd == 0 && exists) {
    if (store_prepare(store_db(c->s),
                      "SELECT count(*) FROM blob_extents WHERE blob_id=? AND block_id IS NOT NULL"
                      " AND length(block_id)<>?",
                      -1, &q, NULL) != SQLITE_OK)
      goto fail_internal;
    sqlite3_bind_int64(q, 1, old.id);
    sqlite3_bind_int(q, 2, (int)strlen(id));
    if (sqlite3_step(q) != SQLITE_ROW) goto fail_internal;
    odd = sqlite3_column_int64(q, 0);
    store_finalize(q);
    q = NULL;
  }
  if (odd > 0) {
    http_fail(r, STORAGE_ERR_INVALID_BLOB_OR_BLOCK,
              "The specified blob or block content is invalid.");
    goto fail;
  }
  if (count >= MAX_UNCOMMITTED) {
    http_fail(r, STORAGE_ERR_BLOCK_COUNT_EXCEEDS_LIMIT,
              "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.");
    goto fail;
  }
  int64_t file_id, file_off = 0, len;
  if (source) {
    blob_source src;
    uint64_t soff, slen;
    blob_new_extent *ext = NULL;
    int n;
    if (blob_source_open(c, source, 0, &src) != 0 || blob_source_slice(c, &src, &soff, &slen) != 0)
      goto fail;
    if (slen == 0 || (int64_t)slen > MAX_BLOCK_SIZE) {
      blob_fail_header(c, "x-ms-source-range", http_header_get(r, "x-ms-source-range"));
      goto fail;
    }
    if (blob_source_extents(c, &src, soff, slen, 1, &ext, &n, &body) != 0) goto fail;
    file_id = ext[0].file_id;
    file_off = ext[0].file_off;
    len = ext[0].len;
    free(ext);
  } else {
    if (blob_data_register(c, &body) != 0) goto fail_internal;
    file_id = body.file_id;
    len = (int64_t)body.len;
  }
  /* Staging an id again replaces the earlier block. */
  if (store_prepare(store_db(c->s),
                    "SELECT file_id FROM blob_blocks WHERE container_id=? AND blob_name=?"
                    " AND block_id=?",
                    -1, &q, NULL) != SQLITE_OK)
    goto fail_internal;
  sqlite3_bind_int64(q, 1, ct.id);
  sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, id, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    blob_ids_add(&freed, sqlite3_column_int64(q, 0));
  store_finalize(q);
  q = NULL;
  if (store_run(c->s,
                "INSERT OR REPLACE INTO blob_blocks(container_id,blob_name,block_id,file_id,"
                "file_off,len,created_ms,seq) VALUES(?,?,?,?,?,?,?,?)",
                "ittiiiii", ct.id, c->blob, id, file_id, file_off, len, c->now_ms, seq) != 0 ||
      store_commit(c->s) != 0)
    goto fail_internal;
  free(body.rel);
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  if (!source) blob_data_reply_digests(c, &body);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 201);
  return;
fail_internal:
  if (q) store_finalize(q);
  blob_fail_internal(c, "staging the block");
fail:
  store_rollback(c->s);
  blob_data_discard(c, &body);
  blob_ids_free(&freed);
}

static int committed_cmp(const void *a, const void *b) {
  return strcmp(((const blob_extent_row *)a)->block_id, ((const blob_extent_row *)b)->block_id);
}

/* Loads the committed blocks of blob_id sorted by id, for lookups by id (request-scoped). */
static int committed_load(blob_ctx *c, int64_t blob_id, blob_extent_row **out, int *n) {
  if (blob_extent_rows_load(c, blob_id, out, n) != 0) return -1;
  int k = 0;
  for (int i = 0; i < *n; i++)
    if ((*out)[i].block_id) (*out)[k++] = (*out)[i];
  *n = k;
  if (k) qsort(*out, (size_t)k, sizeof **out, committed_cmp);
  return 0;
}

/* Checks Content-MD5 of a small body read into memory. */
static int check_body_md5(blob_ctx *c, const char *body, size_t len) {
  const char *want = http_header_get(c->r, "Content-MD5");
  if (!want) return 0;
  unsigned char md5[16];
  char got[25];
  unsigned int n = 16;
  EVP_Digest(body, len, md5, &n, EVP_md5(), NULL);
  blob_b64_md5(md5, got);
  if (strcmp(got, want) == 0) return 0;
  http_fail(c->r, STORAGE_ERR_MD5_MISMATCH,
            "The MD5 value specified in the request did not match with the MD5 value "
            "calculated by the server.");
  http_fail_detail(c->r, "UserSpecifiedMd5", want);
  http_fail_detail(c->r, "ServerCalculatedMd5", got);
  return -1;
}

void blob_put_block_list(blob_ctx *c) {
  http_req *r = c->r;
  size_t len = 0;
  char *xml = http_body_read_all(r, MAX_BLOCK_LIST_XML, &len);
  if (!xml) return;
  if (check_body_md5(c, xml, len) != 0) {
    free(xml);
    return;
  }
  blob_block_ref *refs = NULL;
  int nrefs = blob_block_list_parse(xml, len, &refs);
  free(xml);
  if (nrefs < 0) {
    http_fail(r, STORAGE_ERR_INVALID_XML_DOCUMENT, "XML specified is not syntactically valid.");
    return;
  }
  if (nrefs > BLOB_MAX_BLOCKS) {
    blob_block_list_free(refs, nrefs);
    http_fail(r, STORAGE_ERR_BLOCK_LIST_TOO_LONG,
              "The block list may not contain more than 50,000 blocks.");
    return;
  }
  /* Every block of a blob has an id of one length. */
  for (int i = 1; i < nrefs; i++)
    if (strlen(refs[i].id) != strlen(refs[0].id)) {
      blob_block_list_free(refs, nrefs);
      http_fail(r, STORAGE_ERR_INVALID_BLOB_OR_BLOCK,
                "The specified blob or block content is invalid.");
      return;
    }
  blob_http_props props;
  blob_http_props_read(c, 0, &props);
  const char *tier;
  char *meta = NULL;
  blob_tagset tags;
  int has_tags;
  if (blob_tier_read(c, &tier) != 0 || blob_tags_from_header(c, &tags, &has_tags) != 0 ||
      !(meta = blob_metadata_from_headers(c))) {
    blob_block_list_free(refs, nrefs);
    return;
  }
  blob_container_row ct;
  blob_row old;
  blob_ids freed = {0};
  sqlite3_stmt *q = NULL;
  blob_new_extent *ext = NULL;
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    goto out;
  }
  int exists = blob_write_target(c, &ct, &old);
  if (exists < 0) goto fail;
  if (exists && check_block_blob(c, &old) != 0) goto fail;
  blob_extent_row *committed = NULL;
  int ncommitted = 0;
  if (exists && committed_load(c, old.id, &committed, &ncommitted) != 0) goto fail_internal;
  if (store_prepare(store_db(c->s),
                    "SELECT file_id, file_off, len FROM blob_blocks"
                    " WHERE container_id=? AND blob_name=? AND block_id=?",
                    -1, &q, NULL) != SQLITE_OK)
    goto fail_internal;
  ext = calloc((size_t)(nrefs ? nrefs : 1), sizeof *ext);
  if (!ext) abort();
  int64_t size = 0;
  for (int i = 0; i < nrefs; i++) {
    int found = 0;
    if (refs[i].from != BLOB_FROM_COMMITTED) {
      sqlite3_reset(q);
      sqlite3_bind_int64(q, 1, ct.id);
      sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 3, refs[i].id, -1, SQLITE_STATIC);
      if (sqlite3_step(q) == SQLITE_ROW) {
        ext[i].file_id = sqlite3_column_int64(q, 0);
        ext[i].file_off = sqlite3_column_int64(q, 1);
        ext[i].len = sqlite3_column_int64(q, 2);
        found = 1;
      }
    }
    if (!found && refs[i].from != BLOB_FROM_UNCOMMITTED && ncommitted) {
      blob_extent_row key = {.block_id = refs[i].id};
      blob_extent_row *hit =
          bsearch(&key, committed, (size_t)ncommitted, sizeof key, committed_cmp);
      if (hit) {
        ext[i].file_id = hit->file_id;
        ext[i].file_off = hit->file_off;
        ext[i].len = hit->len;
        found = 1;
      }
    }
    if (!found) {
      fail_invalid_block_list(c);
      goto fail;
    }
    ext[i].block_id = refs[i].id;
    size += ext[i].len;
  }
  store_finalize(q);
  q = NULL;
  int64_t blob_id;
  blob_write w = {"BlockBlob", size, etag, &props, meta, tier, ext, nrefs};
  if (blob_write_content(c, &ct, exists ? &old : NULL, &w, &blob_id, &freed) != 0 ||
      (has_tags && blob_tags_store(c, blob_id, &tags) != 0) || store_commit(c->s) != 0)
    goto fail_internal;
  blob_data_gc(c->s, &freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 201);
  goto out;
fail_internal:
  blob_fail_internal(c, "committing the block list");
fail:
  if (q) store_finalize(q);
  store_rollback(c->s);
out:
  free(ext);
  blob_ids_free(&freed);
  free(meta);
  blob_block_list_free(refs, nrefs);
}

static void block_elem(xmlw *w, const char *id, int64_t size) {
  xmlw_open(w, "Block");
  xmlw_elem(w, "Name", id);
  xmlw_elemf(w, "Size", "%lld", (long long)size);
  xmlw_close(w);
}

void blob_get_block_list(blob_ctx *c) {
  http_req *r = c->r;
  const char *type = http_query_get(r, "blocklisttype");
  if (!type) type = "committed";
  int want_c = strcasecmp(type, "committed") == 0 || strcasecmp(type, "all") == 0;
  int want_u = strcasecmp(type, "uncommitted") == 0 || strcasecmp(type, "all") == 0;
  if (!want_c && !want_u) {
    blob_fail_query(c, "blocklisttype", type);
    return;
  }
  blob_container_row ct;
  blob_row b;
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return;
  }
  int exists = -1;
  if (blob_need_container(c, &ct) == 0) exists = blob_need_blob(c, &ct, &b, 0);
  if (exists < 0) {
    blob_read_end(c);
    return;
  }
  if (exists && (check_block_blob(c, &b) != 0 || blob_lease_check_read(c, &b.lease) != 0 ||
                 blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 1) != 0)) {
    blob_read_end(c);
    return;
  }
  sqlite3_stmt *q;
  int nblocks = 0;
  xmlw w_;
  xmlw_init(&w_);
  xmlw_prolog(&w_);
  xmlw *w = &w_;
  xmlw_open(w, "BlockList");
  if (want_c) {
    xmlw_open(w, "CommittedBlocks");
    if (exists && store_prepare(store_db(c->s),
                                "SELECT block_id, len FROM blob_extents WHERE blob_id=?"
                                " AND block_id IS NOT NULL ORDER BY pos",
                                -1, &q, NULL) == SQLITE_OK) {
      sqlite3_bind_int64(q, 1, b.id);
      while (sqlite3_step(q) == SQLITE_ROW)
        block_elem(w, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1));
      store_finalize(q);
    }
    xmlw_close(w);
  }
  if (store_prepare(store_db(c->s),
                    "SELECT block_id, len FROM blob_blocks WHERE container_id=?"
                    " AND blob_name=? ORDER BY seq",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(q, 1, ct.id);
    sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
    if (want_u) xmlw_open(w, "UncommittedBlocks");
    while (sqlite3_step(q) == SQLITE_ROW) {
      nblocks++;
      if (want_u)
        block_elem(w, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1));
    }
    if (want_u) xmlw_close(w);
    store_finalize(q);
  }
  xmlw_close(w);
  blob_read_end(c);
  /* A name with only staged blocks is an uncommitted blob: it has a block list. */
  if (!exists && nblocks == 0) {
    xmlw_free(w);
    blob_fail_blob_not_found(c);
    return;
  }
  if (exists) {
    blob_set_etag_lm(c, b.etag, b.last_modified_ms);
    http_set_headerf(r, "x-ms-blob-content-length", "%lld", (long long)b.size);
  }
  blob_reply_xml(c, w);
}
