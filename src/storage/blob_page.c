/* blob_page.c: page blobs: creation with a fixed size (Put Blob PageBlob),
 * Put Page (update, clear, from a URL), Get Page Ranges (and the diff against
 * a snapshot), Resize and the sequence number (Set Blob Properties).
 *
 * A page blob is a sparse list of extents: pages never written, or cleared,
 * are gaps and read as zeros.  A Put Page punches its range out of the
 * extents (trimming or splitting those it overlaps) and, for an update, adds
 * one extent for the new data file; the files that lose references go to the
 * garbage collector after the commit.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/xml.h"
#include "blob.h"
#include "mgmt.h"

#define PAGE 512
#define PAGE_BLOB_MAX (8LL * 1024 * 1024 * 1024 * 1024)
#define PUT_PAGE_MAX (4LL * 1024 * 1024)

static int64_t header_int(blob_ctx *c, const char *name, int *bad) {
  const char *v = http_header_get(c->r, name);
  char *end;
  long long x = v ? strtoll(v, &end, 10) : -1;
  if (v && (!*v || *end || x < 0)) {
    blob_fail_header(c, name, v);
    *bad = 1;
  }
  return x;
}

void blob_page_create(blob_ctx *c) {
  int bad = 0;
  const char *len_hdr = http_header_get(c->r, "x-ms-blob-content-length");
  if (!len_hdr) {
    http_fail(c->r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(c->r, "HeaderName", "x-ms-blob-content-length");
    return;
  }
  int64_t size = header_int(c, "x-ms-blob-content-length", &bad);
  if (bad) return;
  if (size % PAGE != 0 || size > PAGE_BLOB_MAX) {
    blob_fail_header(c, "x-ms-blob-content-length", len_hdr);
    return;
  }
  int64_t seq = header_int(c, "x-ms-blob-sequence-number", &bad);
  if (bad) return;
  blob_create_typed(c, "PageBlob", size, seq < 0 ? 0 : seq);
}

/* Removes [a, e) from a blob's extents, keeping what lies outside; the data
 * files touched become GC candidates. */
static int extents_punch(blob_ctx *c, int64_t blob_id, int64_t a, int64_t e, blob_ids *freed) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "DELETE FROM blob_extents WHERE blob_id=?1 AND pos<?3 AND pos+len>?2"
                    " RETURNING pos, len, file_id, file_off",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, blob_id);
  sqlite3_bind_int64(q, 2, a);
  sqlite3_bind_int64(q, 3, e);
  blob_extent *cut = NULL;
  int n = 0, cap = 0, rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      cut = realloc(cut, sizeof *cut * (size_t)cap);
      if (!cut) abort();
    }
    cut[n].pos = sqlite3_column_int64(q, 0);
    cut[n].len = sqlite3_column_int64(q, 1);
    cut[n].file_id = sqlite3_column_int64(q, 2);
    cut[n].file_off = sqlite3_column_int64(q, 3);
    n++;
  }
  store_finalize(q);
  if (rc != SQLITE_DONE) {
    free(cut);
    return -1;
  }
  for (int i = 0; i < n && rc == SQLITE_DONE; i++) {
    const blob_extent *x = &cut[i];
    blob_ids_add(freed, x->file_id);
    if (x->pos < a && store_exec(c->s,
                                 "INSERT INTO blob_extents(blob_id, pos, len, file_id, file_off)"
                                 " VALUES(%lld, %lld, %lld, %lld, %lld)",
                                 (long long)blob_id, (long long)x->pos, (long long)(a - x->pos),
                                 (long long)x->file_id, (long long)x->file_off) != 0)
      rc = SQLITE_ERROR;
    if (x->pos + x->len > e &&
        store_exec(c->s,
                   "INSERT INTO blob_extents(blob_id, pos, len, file_id, file_off)"
                   " VALUES(%lld, %lld, %lld, %lld, %lld)",
                   (long long)blob_id, (long long)e, (long long)(x->pos + x->len - e),
                   (long long)x->file_id, (long long)(x->file_off + (e - x->pos))) != 0)
      rc = SQLITE_ERROR;
  }
  free(cut);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* x-ms-if-sequence-number-le / -lt / -eq against the blob's number. */
static int seq_conditions(blob_ctx *c, int64_t seq) {
  int bad = 0;
  int64_t le = header_int(c, "x-ms-if-sequence-number-le", &bad);
  int64_t lt = header_int(c, "x-ms-if-sequence-number-lt", &bad);
  int64_t eq = header_int(c, "x-ms-if-sequence-number-eq", &bad);
  if (bad) return -1;
  if ((le >= 0 && seq > le) || (lt >= 0 && seq >= lt) || (eq >= 0 && seq != eq)) {
    http_fail(c->r, STORAGE_ERR_SEQUENCE_NUMBER_CONDITION_NOT_MET,
              "The sequence number condition specified was not met.");
    return -1;
  }
  return 0;
}

static int fail_page_range(blob_ctx *c) {
  http_fail(c->r, STORAGE_ERR_INVALID_PAGE_RANGE, "The page range specified is invalid.");
  return -1;
}

/* The page range of a Put Page: aligned to 512 bytes; -1 failed. */
static int page_range(blob_ctx *c, int64_t *start, int64_t *end) {
  const char *xr = http_header_get(c->r, "x-ms-range");
  const char *h = xr ? xr : http_header_get(c->r, "Range");
  if (!h) {
    http_fail(c->r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(c->r, "HeaderName", "Range");
    return -1;
  }
  *end = -1;
  if (blob_range_parse(h, start, end) != 1 || *end < *start) return fail_page_range(c);
  if (*start % PAGE != 0 || (*end + 1) % PAGE != 0) return fail_page_range(c);
  return 0;
}

/* The page blob the URL names, for a change: type, conditions, lease, sequence. */
static int page_target(blob_ctx *c, blob_container_row *ct, blob_row *b) {
  if (blob_need_container(c, ct) != 0 || blob_need_blob(c, ct, b, 1) != 1) return -1;
  if (strcmp(b->type, "PageBlob") != 0) {
    http_fail(c->r, STORAGE_ERR_INVALID_BLOB_TYPE, "The blob type is invalid for this operation.");
    return -1;
  }
  if (blob_conditions_check(c, 1, b->etag, b->last_modified_ms, 0) != 0 ||
      blob_lease_check_write(c, &b->lease) != 0 || seq_conditions(c, b->seq_number) != 0)
    return -1;
  return 0;
}

static int touch(blob_ctx *c, const blob_row *b, char etag[24]) {
  blob_etag_new(c->s, c->now_ms, etag);
  return store_exec(c->s, "UPDATE blobs SET etag=%Q, last_modified_ms=%lld WHERE id=%lld", etag,
                    (long long)c->now_ms, (long long)b->id);
}

void blob_put_page(blob_ctx *c) {
  http_req *r = c->r;
  const char *mode = http_header_get(r, "x-ms-page-write");
  if (!mode) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(r, "HeaderName", "x-ms-page-write");
    return;
  }
  int update = strcasecmp(mode, "update") == 0;
  if (!update && strcasecmp(mode, "clear") != 0) {
    blob_fail_header(c, "x-ms-page-write", mode);
    return;
  }
  const char *source = update ? http_header_get(r, "x-ms-copy-source") : NULL;
  int64_t start, end;
  if (page_range(c, &start, &end) != 0) return;
  int64_t len = end - start + 1;
  if (update && !source && (int64_t)r->body_len != len) {
    blob_fail_header(c, "Content-Length", http_header_get(r, "Content-Length"));
    return;
  }
  if ((!update || source) && r->body_len != 0) {
    blob_fail_header(c, "Content-Length", http_header_get(r, "Content-Length"));
    return;
  }
  if (update && len > PUT_PAGE_MAX) {
    http_fail(r, STORAGE_ERR_REQUEST_BODY_TOO_LARGE,
              "The request body is too large and exceeds the maximum permissible limit.");
    return;
  }
  blob_pending body = {0}, mat = {0};
  if (blob_digest_headers_check(c) != 0) return;
  if (update && !source && blob_data_accept_body(c, 0, &body) != 0) return;
  blob_container_row ct;
  blob_row b;
  blob_ids freed = {0};
  blob_source src;
  blob_new_extent *ext = NULL;
  int n = 0;
  char etag[24];
  if (store_begin(c->s) != 0) {
    blob_data_discard(c, &body);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (page_target(c, &ct, &b) != 0) goto fail;
  if (end >= b.size) {
    fail_page_range(c);
    goto fail;
  }
  if (source) {
    uint64_t soff, slen;
    if (blob_source_open(c, source, 0, &src) != 0 || blob_source_slice(c, &src, &soff, &slen) != 0)
      goto fail;
    if ((int64_t)slen != len) {
      http_fail(r, STORAGE_ERR_INVALID_HEADER_VALUE,
                "The source range and the destination range must have the same length.");
      goto fail;
    }
    if (blob_source_extents(c, &src, soff, slen, 0, &ext, &n, &mat) != 0) goto fail;
  }
  if (extents_punch(c, b.id, start, end + 1, &freed) != 0) goto fail_internal;
  if (update && !source) {
    if (blob_data_register(c, &body) != 0) goto fail_internal;
    ext = calloc(1, sizeof *ext);
    if (!ext) abort();
    ext[0] = (blob_new_extent){body.file_id, 0, len, NULL};
    n = 1;
  }
  int64_t pos = start;
  for (int i = 0; i < n; i++) {
    if (store_exec(c->s,
                   "INSERT INTO blob_extents(blob_id, pos, len, file_id, file_off)"
                   " VALUES(%lld, %lld, %lld, %lld, %lld)",
                   (long long)b.id, (long long)pos, (long long)ext[i].len,
                   (long long)ext[i].file_id, (long long)ext[i].file_off) != 0)
      goto fail_internal;
    pos += ext[i].len;
  }
  if (touch(c, &b, etag) != 0 || store_commit(c->s) != 0) goto fail_internal;
  free(body.rel);
  free(mat.rel);
  free(ext);
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  if (update && !source) blob_data_reply_digests(c, &body);
  http_set_headerf(r, "x-ms-blob-sequence-number", "%lld", (long long)b.seq_number);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 201);
  return;
fail_internal:
  blob_fail_internal(c, "writing pages");
fail:
  store_rollback(c->s);
  blob_data_discard(c, &body);
  blob_data_discard(c, &mat);
  blob_ids_free(&freed);
  free(ext);
}

/* ---- Get Page Ranges --------------------------------------------------------------- */

typedef struct span {
  int64_t a, e; /* [a, e) */
  int clear;
} span;

typedef struct spans {
  span *v;
  int n, cap;
} spans;

/* Adds [a, e), merging with the previous span of the same kind when they touch. */
static void spans_add(spans *s, int64_t a, int64_t e, int clear) {
  if (a >= e) return;
  if (s->n && s->v[s->n - 1].e == a && s->v[s->n - 1].clear == clear) {
    s->v[s->n - 1].e = e;
    return;
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 16;
    s->v = realloc(s->v, sizeof *s->v * (size_t)s->cap);
    if (!s->v) abort();
  }
  s->v[s->n++] = (span){a, e, clear};
}

/* Where does offset x of the blob come from: 1 and (*file, *foff) for data,
 * 0 for a gap; *next is where that answer may change. */
static int where_from(const blob_extent *ext, int n, int *i, int64_t x, int64_t *file,
                      int64_t *foff, int64_t *next) {
  while (*i < n && ext[*i].pos + ext[*i].len <= x)
    (*i)++;
  if (*i >= n) {
    *next = INT64_MAX;
    return 0;
  }
  const blob_extent *e = &ext[*i];
  if (e->pos > x) {
    *next = e->pos;
    return 0;
  }
  *file = e->file_id;
  *foff = e->file_off + (x - e->pos);
  *next = e->pos + e->len;
  return 1;
}

/* The ranges of cur in [a, e) that differ from prev (prev NULL: every data range).
 * Changed data is a page range; data in prev that cur no longer has is a clear range. */
static void page_diff(const blob_extent *cur, int ncur, const blob_extent *prev, int nprev,
                      int have_prev, int64_t a, int64_t e, spans *out) {
  int ic = 0, ip = 0;
  for (int64_t x = a; x < e;) {
    int64_t fc = 0, oc = 0, fp = 0, op = 0, nc, np = INT64_MAX;
    int dc = where_from(cur, ncur, &ic, x, &fc, &oc, &nc);
    int dp = have_prev ? where_from(prev, nprev, &ip, x, &fp, &op, &np) : 0;
    int64_t next = nc < np ? nc : np;
    if (next > e) next = e;
    if (dc && (!dp || fc != fp || oc != op))
      spans_add(out, x, next, 0);
    else if (!dc && dp)
      spans_add(out, x, next, 1);
    x = next;
  }
}

void blob_get_page_ranges(blob_ctx *c) {
  http_req *r = c->r;
  const char *xr = http_header_get(r, "x-ms-range");
  const char *rh = xr ? xr : http_header_get(r, "Range");
  int64_t rs = 0, re = -1;
  int ranged = blob_range_parse(rh, &rs, &re);
  if (ranged < 0 || (ranged && re >= 0 && re < rs)) {
    blob_fail_header(c, xr ? "x-ms-range" : "Range", rh);
    return;
  }
  const char *prev_snap = http_query_get(r, "prevsnapshot");
  blob_container_row ct;
  blob_row b, pb;
  blob_extent *cur = NULL, *prev = NULL;
  int ncur = 0, nprev = 0;
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return;
  }
  if (blob_need_container(c, &ct) != 0 || blob_need_blob(c, &ct, &b, 1) != 1) goto fail;
  if (strcmp(b.type, "PageBlob") != 0) {
    http_fail(r, STORAGE_ERR_INVALID_BLOB_TYPE, "The blob type is invalid for this operation.");
    goto fail;
  }
  if (blob_lease_check_read(c, &b.lease) != 0 ||
      blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 1) != 0)
    goto fail;
  /* A range that starts past the end is refused, as Get Blob refuses it; one
   * that ends past it is cut at the end. */
  if (ranged && rs >= b.size) {
    http_fail(r, STORAGE_ERR_INVALID_RANGE,
              "The range specified is invalid for the current size of the resource.");
    goto fail;
  }
  int64_t a = ranged ? rs : 0, e = ranged && re >= 0 ? re + 1 : b.size;
  if (e > b.size) e = b.size;
  if (a > e) a = e;
  if (prev_snap) {
    int found = blob_row_load(c, ct.id, c->blob, prev_snap, &pb);
    if (found != 1 || !prev_snap[0]) {
      http_fail(r, STORAGE_ERR_PREVIOUS_SNAPSHOT_NOT_FOUND, "The previous snapshot is not found.");
      goto fail;
    }
  }
  if (e > a && (blob_extents_load(c, b.id, (uint64_t)a, (uint64_t)(e - a), &cur, &ncur) != 0 ||
                (prev_snap && blob_extents_load(c, pb.id, (uint64_t)a, (uint64_t)(e - a), &prev,
                                                &nprev) != 0))) {
    blob_fail_internal(c, "loading extents");
    goto fail;
  }
  blob_read_end(c);
  spans s = {0};
  if (e > a) page_diff(cur, ncur, prev, nprev, prev_snap != NULL, a, e, &s);
  xmlw w_;
  xmlw_init(&w_);
  xmlw_prolog(&w_);
  xmlw *w = &w_;
  xmlw_open(w, "PageList");
  for (int i = 0; i < s.n; i++) {
    xmlw_open(w, s.v[i].clear ? "ClearRange" : "PageRange");
    xmlw_elemf(w, "Start", "%lld", (long long)s.v[i].a);
    xmlw_elemf(w, "End", "%lld", (long long)s.v[i].e - 1);
    xmlw_close(w);
  }
  xmlw_close(w);
  free(s.v);
  blob_set_etag_lm(c, b.etag, b.last_modified_ms);
  http_set_headerf(r, "x-ms-blob-content-length", "%lld", (long long)b.size);
  blob_reply_xml(c, w);
  return;
fail:
  blob_read_end(c);
}

/* ---- Resize, Update Sequence Number ----------------------------------------------------- */

void blob_page_set_properties(blob_ctx *c) {
  http_req *r = c->r;
  int bad = 0;
  const char *len_hdr = http_header_get(r, "x-ms-blob-content-length");
  int64_t size = header_int(c, "x-ms-blob-content-length", &bad);
  const char *action = http_header_get(r, "x-ms-sequence-number-action");
  int64_t num = header_int(c, "x-ms-blob-sequence-number", &bad);
  if (bad) return;
  if (len_hdr && (size % PAGE != 0 || size > PAGE_BLOB_MAX)) {
    blob_fail_header(c, "x-ms-blob-content-length", len_hdr);
    return;
  }
  if (action) {
    int incr = strcasecmp(action, "increment") == 0;
    if (!incr && strcasecmp(action, "max") != 0 && strcasecmp(action, "update") != 0) {
      blob_fail_header(c, "x-ms-sequence-number-action", action);
      return;
    }
    /* increment takes no number; max and update need one. */
    if (incr != (num < 0)) {
      if (incr) {
        blob_fail_header(c, "x-ms-blob-sequence-number",
                         http_header_get(r, "x-ms-blob-sequence-number"));
      } else {
        http_fail(r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
                  "An HTTP header that's mandatory for this request is not specified.");
        http_fail_detail(r, "HeaderName", "x-ms-blob-sequence-number");
      }
      return;
    }
  }
  blob_container_row ct;
  blob_row b;
  blob_ids freed = {0};
  char etag[24];
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (page_target(c, &ct, &b) != 0) goto fail;
  int64_t seq = b.seq_number;
  if (action) {
    if (strcasecmp(action, "increment") == 0)
      seq++;
    else if (strcasecmp(action, "update") == 0)
      seq = num;
    else if (num > seq)
      seq = num;
  }
  if (len_hdr && size < b.size && extents_punch(c, b.id, size, b.size, &freed) != 0)
    goto fail_internal;
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_exec(c->s,
                 "UPDATE blobs SET size=%lld, seq_number=%lld, etag=%Q, last_modified_ms=%lld"
                 " WHERE id=%lld",
                 (long long)(len_hdr ? size : b.size), (long long)seq, etag, (long long)c->now_ms,
                 (long long)b.id) != 0 ||
      store_commit(c->s) != 0)
    goto fail_internal;
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  http_set_headerf(r, "x-ms-blob-sequence-number", "%lld", (long long)seq);
  http_reply_empty(r, 200);
  return;
fail_internal:
  blob_fail_internal(c, "updating the page blob");
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
}
