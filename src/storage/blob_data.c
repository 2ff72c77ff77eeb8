/* blob_data.c: where blob bytes live.  Data files under <data>/blobs/xx/…,
 * small Put Blob bodies inline in blob_files.data, and the extents that
 * stitch them into blobs.
 *
 * Crash safety rests on one order: a data file is complete and renamed into
 * place before the transaction that names it commits, and it is unlinked only
 * after the transaction that dropped its last reference commits (plus a grace
 * period for readers).  A crash in between leaves at worst a file no row
 * names, which blob_data_sweep() removes on the next start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *abs_path(srv *s, const char *rel) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", blob_state_of(s)->blobs_dir, rel) < 0) abort();
  return p;
}

/* ---- digests over the body ----------------------------------------------- */

int blob_body_digests_for(http_req *r, int whole_blob) {
  const char *md5_hdr = whole_blob ? http_header_get(r, "x-ms-blob-content-md5") : NULL;
  if (!md5_hdr) md5_hdr = http_header_get(r, "Content-MD5");
  int d = http_header_get(r, "x-ms-content-crc64") ? HTTP_DIGEST_CRC64 : 0;
  /* A whole blob stores its MD5.  A block, append block or page reports
   * Content-MD5 only when the request sent one (from 2019-02-02; always
   * before), and x-ms-content-crc64 otherwise. */
  if (whole_blob || md5_hdr || strcmp(blob_request_version(r), "2019-02-02") < 0)
    d |= HTTP_DIGEST_MD5;
  else
    d |= HTTP_DIGEST_CRC64;
  return d;
}

int blob_body_digests(http_req *r) {
  /* Data Lake Append Data: a block's digests. */
  if (!strcmp(r->method, "PATCH")) {
    const char *action = http_query_get(r, "action");
    return action && !strcmp(action, "append") ? blob_body_digests_for(r, 0) : 0;
  }
  if (strcmp(r->method, "PUT") != 0 || http_header_get(r, "x-ms-copy-source")) return 0;
  const char *comp = http_query_get(r, "comp");
  if (!comp) return http_query_get(r, "restype") ? 0 : blob_body_digests_for(r, 1);
  if (!strcmp(comp, "block") || !strcmp(comp, "appendblock") || !strcmp(comp, "page"))
    return blob_body_digests_for(r, 0);
  return 0;
}

/* Fills what the core did not compute as the body arrived (a sub-request,
 * or a digest the route did not ask for) by reading the body. */
static int digest_body(http_req *r, int want, blob_pending *d) {
  if (r->body_md5_set) memcpy(d->md5, r->body_md5, 16);
  if (r->body_crc64_set) d->crc64 = r->body_crc64;
  int need = want & ~((r->body_md5_set ? HTTP_DIGEST_MD5 : 0) |
                      (r->body_crc64_set ? HTTP_DIGEST_CRC64 : 0));
  d->digests = want;
  if (!need) return 0;
  EVP_MD_CTX *ctx = NULL;
  if (need & HTTP_DIGEST_MD5) {
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
      EVP_MD_CTX_free(ctx);
      return -1;
    }
  }
  uint64_t crc = 0;
  int rc = 0;
  if (r->body_mem && r->body_len) {
    if (ctx) EVP_DigestUpdate(ctx, r->body_mem, r->body_len);
    if (need & HTTP_DIGEST_CRC64) crc = crc64_update(0, r->body_mem, r->body_len);
  } else if (r->body_file) {
    int fd = open(r->body_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) rc = -1;
    char *buf = malloc(1 << 20);
    uint64_t got = 0;
    while (rc == 0 && got < r->body_len) {
      ssize_t n = read(fd, buf, 1 << 20);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        rc = -1;
        break;
      }
      if (ctx) EVP_DigestUpdate(ctx, buf, (size_t)n);
      if (need & HTTP_DIGEST_CRC64) crc = crc64_update(crc, buf, (size_t)n);
      got += (uint64_t)n;
    }
    free(buf);
    if (fd >= 0) close(fd);
  }
  if (ctx) {
    unsigned int mdlen = 16;
    EVP_DigestFinal_ex(ctx, d->md5, &mdlen);
    EVP_MD_CTX_free(ctx);
  }
  if (need & HTTP_DIGEST_CRC64) d->crc64 = crc;
  return rc;
}

/* Azure sends a CRC64 as 8 little-endian bytes, base64-encoded. */
static void b64_crc64(uint64_t crc, char out[13]) {
  unsigned char le[8];
  for (int i = 0; i < 8; i++)
    le[i] = (unsigned char)(crc >> (8 * i));
  EVP_EncodeBlock((unsigned char *)out, le, 8);
}

/* Checks Content-MD5 (for a whole blob, x-ms-blob-content-md5 first, as Azure
 * does) and x-ms-content-crc64 against the body; 0 ok, -1 failed. */
static int check_body_digests(blob_ctx *c, int whole_blob, blob_pending *d) {
  const char *md5_hdr = whole_blob ? http_header_get(c->r, "x-ms-blob-content-md5") : NULL;
  if (!md5_hdr) md5_hdr = http_header_get(c->r, "Content-MD5");
  const char *crc_hdr = http_header_get(c->r, "x-ms-content-crc64");
  unsigned char want_md5[16], want_crc[8];
  if (md5_hdr && blob_b64_decode(md5_hdr, want_md5, sizeof want_md5) != 16) {
    http_fail(c->r, STORAGE_ERR_INVALID_MD5,
              "The MD5 value specified in the request is invalid. The MD5 value must be 128 "
              "bits and Base64-encoded.");
    return -1;
  }
  if (crc_hdr && blob_b64_decode(crc_hdr, want_crc, sizeof want_crc) != 8) {
    blob_fail_header(c, "x-ms-content-crc64", crc_hdr);
    return -1;
  }
  if (digest_body(c->r, blob_body_digests_for(c->r, whole_blob), d) != 0) {
    blob_fail_internal(c, "reading the request body");
    return -1;
  }
  if (md5_hdr && memcmp(want_md5, d->md5, 16) != 0) {
    char got[25];
    blob_b64_md5(d->md5, got);
    http_fail(c->r, STORAGE_ERR_MD5_MISMATCH,
              "The MD5 value specified in the request did not match with the MD5 value "
              "calculated by the server.");
    http_fail_detail(c->r, "UserSpecifiedMd5", md5_hdr);
    http_fail_detail(c->r, "ServerCalculatedMd5", got);
    return -1;
  }
  if (crc_hdr) {
    uint64_t want = 0;
    for (int i = 7; i >= 0; i--)
      want = want << 8 | want_crc[i];
    if (want != d->crc64) {
      http_fail(c->r, STORAGE_ERR_CRC64_MISMATCH,
                "The CRC64 value specified in the request did not match with the CRC64 value "
                "calculated by the server.");
      return -1;
    }
  }
  return 0;
}

void blob_data_reply_digests(blob_ctx *c, const blob_pending *p) {
  if (p->digests & HTTP_DIGEST_MD5) {
    char md5[25];
    blob_b64_md5(p->md5, md5);
    http_set_header(c->r, "Content-MD5", md5);
  }
  if (p->digests & HTTP_DIGEST_CRC64) {
    char crc[13];
    b64_crc64(p->crc64, crc);
    http_set_header(c->r, "x-ms-content-crc64", crc);
  }
}

/* ---- placing a body ---------------------------------------------------------- */

static void random_rel(char out[40]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) abort();
  static const char hex[] = "0123456789abcdef";
  int o = 0;
  for (int i = 0; i < 16; i++) {
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 15];
    if (i == 0) out[o++] = '/';
  }
  out[o] = 0;
}

/* Renames src to blobs/<rel>, creating the fan-out directory on first use. */
static int place_file(srv *s, const char *src, const char *rel) {
  char *dst = abs_path(s, rel);
  int rc = rename(src, dst);
  if (rc != 0 && errno == ENOENT) {
    char *dir = strdup(dst);
    *strrchr(dir, '/') = 0;
    if (mkdir(dir, 0700) == 0 || errno == EEXIST) rc = rename(src, dst);
    free(dir);
  }
  if (rc != 0) log_error("blob: rename %s -> %s: %s", src, dst, strerror(errno));
  free(dst);
  return rc;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int blob_data_accept_body(blob_ctx *c, int whole_blob, blob_pending *out) {
  http_req *r = c->r;
  memset(out, 0, sizeof *out);
  if (check_body_digests(c, whole_blob, out) != 0) return -1;
  out->len = r->body_len;
  if (r->body_len == 0) return 0;
  if (whole_blob && r->body_mem && r->body_len <= BLOB_INLINE_MAX) {
    out->inline_data = r->body_mem;
    return 0;
  }
  char rel[40];
  random_rel(rel);
  char *src = http_body_take_file(r);
  if (!src) {
    /* The body is in memory: write it to a temp file first, so that the file
     * under blobs/ is complete from the moment it has its name. */
    if (asprintf(&src, "%s/blob-XXXXXX", c->s->tmp_dir) < 0) abort();
    int fd = mkstemp(src);
    if (fd < 0 || write_all(fd, r->body_mem, r->body_len) != 0) {
      log_error("blob: writing %s: %s", src, strerror(errno));
      if (fd >= 0) close(fd);
      unlink(src);
      free(src);
      blob_fail_internal(c, "writing the body");
      return -1;
    }
    close(fd);
  }
  if (place_file(c->s, src, rel) != 0) {
    unlink(src);
    free(src);
    blob_fail_internal(c, "placing the body");
    return -1;
  }
  free(src);
  out->rel = strdup(rel);
  return 0;
}

int blob_data_register(blob_ctx *c, blob_pending *p) {
  p->file_id = 0;
  if (p->len == 0) return 0;
  sqlite3_stmt *q;
  sqlite3 *db = store_db(c->s);
  if (store_prepare(db, "INSERT INTO blob_files(path,size,data,created_ms) VALUES(?,?,?,?)", -1, &q,
                    NULL) != SQLITE_OK)
    return -1;
  if (p->rel)
    sqlite3_bind_text(q, 1, p->rel, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 1);
  sqlite3_bind_int64(q, 2, (sqlite3_int64)p->len);
  if (p->inline_data)
    sqlite3_bind_blob64(q, 3, p->inline_data, p->len, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 3);
  sqlite3_bind_int64(q, 4, c->now_ms);
  int rc = sqlite3_step(q);
  store_finalize(q);
  if (rc != SQLITE_DONE) {
    log_error("blob: registering a data file: %s", sqlite3_errmsg(db));
    return -1;
  }
  p->file_id = sqlite3_last_insert_rowid(db);
  return 0;
}

void blob_data_discard(blob_ctx *c, blob_pending *p) {
  if (p->rel) {
    char *path = abs_path(c->s, p->rel);
    unlink(path);
    free(path);
  }
  free(p->rel);
  p->rel = NULL;
}

/* ---- references and garbage collection ---------------------------------------- */

void blob_ids_add(blob_ids *l, int64_t id) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 16;
    l->v = realloc(l->v, sizeof *l->v * (size_t)l->cap);
    if (!l->v) abort();
  }
  l->v[l->n++] = id;
}

void blob_ids_free(blob_ids *l) {
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

static int ids_query(srv *s, const char *sql, int64_t a, const char *b, blob_ids *out) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), sql, -1, &q, NULL) != SQLITE_OK) return -1;
  if (sqlite3_bind_parameter_count(q) >= 1) sqlite3_bind_int64(q, 1, a);
  if (b) sqlite3_bind_text(q, 2, b, -1, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    blob_ids_add(out, sqlite3_column_int64(q, 0));
  store_finalize(q);
  return rc == SQLITE_DONE ? 0 : -1;
}

int blob_ids_of_extents(srv *s, int64_t blob_id, blob_ids *out) {
  return ids_query(s, "SELECT DISTINCT file_id FROM blob_extents WHERE blob_id=?", blob_id, NULL,
                   out);
}

int blob_ids_of_blocks(srv *s, int64_t container_id, const char *name, blob_ids *out) {
  return ids_query(s,
                   "SELECT DISTINCT file_id FROM blob_blocks WHERE container_id=? AND blob_name=?",
                   container_id, name, out);
}

static void trash_add(srv *s, char *abs) {
  blob_state *st = blob_state_of(s);
  blob_trash *t = malloc(sizeof *t);
  if (!t) abort();
  t->path = abs;
  t->since_mono_ms = mono_ms();
  pthread_mutex_lock(&st->mu);
  t->next = st->trash;
  st->trash = t;
  pthread_mutex_unlock(&st->mu);
}

static int readers_pin(const struct blob_reader *readers, uint64_t h);

static uint64_t path_hash(const char *p) {
  uint64_t h = 1469598103934665603ULL;
  for (; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  return h;
}

/* Is the file one a download in progress will still open?  Under st->mu. */
static int trash_pinned(blob_state *st, const char *path) {
  return st->readers && readers_pin(st->readers, path_hash(path));
}

void blob_trash_empty(srv *s, int force) {
  blob_state *st = blob_state_of(s);
  if (!st) return;
  int64_t cutoff = mono_ms() - BLOB_TRASH_GRACE_S * 1000;
  blob_trash *due = NULL;
  pthread_mutex_lock(&st->mu);
  for (blob_trash **pp = &st->trash; *pp;) {
    blob_trash *t = *pp;
    if (force || (t->since_mono_ms <= cutoff && !trash_pinned(st, t->path))) {
      *pp = t->next;
      t->next = due;
      due = t;
    } else {
      pp = &t->next;
    }
  }
  pthread_mutex_unlock(&st->mu);
  while (due) {
    blob_trash *n = due->next;
    if (unlink(due->path) != 0 && errno != ENOENT)
      log_warn("blob: unlink %s: %s", due->path, strerror(errno));
    free(due->path);
    free(due);
    due = n;
  }
}

static const char gc_sql[] = "DELETE FROM blob_files WHERE id=?1"
                             " AND NOT EXISTS(SELECT 1 FROM blob_extents WHERE file_id=?1)"
                             " AND NOT EXISTS(SELECT 1 FROM blob_blocks WHERE file_id=?1)"
                             " RETURNING path";

static void gc_now(srv *s, const blob_ids *candidates) {
  if (store_begin(s) != 0) return;
  sqlite3_stmt *q;
  char **paths = calloc((size_t)candidates->n, sizeof *paths);
  int npaths = 0;
  if (store_prepare(store_db(s), gc_sql, -1, &q, NULL) != SQLITE_OK) {
    store_rollback(s);
    free(paths);
    return;
  }
  for (int i = 0; i < candidates->n; i++) {
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, candidates->v[i]);
    while (sqlite3_step(q) == SQLITE_ROW) {
      const char *p = (const char *)sqlite3_column_text(q, 0);
      if (p) paths[npaths++] = abs_path(s, p);
    }
  }
  store_finalize(q);
  if (store_commit(s) != 0) {
    /* The rows stay; the next start's sweep finds them unreferenced. */
    for (int i = 0; i < npaths; i++)
      free(paths[i]);
    free(paths);
    return;
  }
  for (int i = 0; i < npaths; i++)
    trash_add(s, paths[i]);
  free(paths);
}

static void gc_after_commit(srv *s, void *arg, int committed) {
  blob_ids *ids = arg;
  if (committed) gc_now(s, ids);
  blob_ids_free(ids);
  free(ids);
}

void blob_data_gc(srv *s, const blob_ids *candidates) {
  if (candidates->n == 0) return;
  blob_ids *copy = calloc(1, sizeof *copy);
  if (!copy) abort();
  for (int i = 0; i < candidates->n; i++)
    blob_ids_add(copy, candidates->v[i]);
  store_after_commit(s, gc_after_commit, copy);
}

/* Unlinks the files under blobs/ that no blob_files row names. */
static void sweep_orphans(srv *s) {
  blob_state *st = blob_state_of(s);
  DIR *top = opendir(st->blobs_dir);
  if (!top) return;
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "SELECT 1 FROM blob_files WHERE path=?", -1, &q, NULL) !=
      SQLITE_OK) {
    closedir(top);
    return;
  }
  int removed = 0;
  struct dirent *de;
  while ((de = readdir(top))) {
    if (de->d_name[0] == '.') continue;
    char *dir = abs_path(s, de->d_name);
    DIR *sub = opendir(dir);
    if (sub) {
      struct dirent *fe;
      while ((fe = readdir(sub))) {
        if (fe->d_name[0] == '.') continue;
        char rel[600];
        snprintf(rel, sizeof rel, "%s/%s", de->d_name, fe->d_name);
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, rel, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) != SQLITE_ROW) {
          char *p = abs_path(s, rel);
          if (unlink(p) == 0) removed++;
          free(p);
        }
      }
      closedir(sub);
    }
    free(dir);
  }
  store_finalize(q);
  closedir(top);
  if (removed) log_info("blob: removed %d orphaned data files", removed);
}

/* Removes the temp files of bodies being placed when the last run stopped. */
static void sweep_tmp(srv *s) {
  DIR *d = opendir(s->tmp_dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, "blob-", 5) != 0) continue;
    char *p = NULL;
    if (asprintf(&p, "%s/%s", s->tmp_dir, de->d_name) < 0) abort();
    unlink(p);
    free(p);
  }
  closedir(d);
}

void blob_data_sweep(srv *s) {
  blob_ids ids = {0};
  ids_query(s,
            "SELECT id FROM blob_files f WHERE"
            " NOT EXISTS(SELECT 1 FROM blob_extents WHERE file_id=f.id)"
            " AND NOT EXISTS(SELECT 1 FROM blob_blocks WHERE file_id=f.id)",
            0, NULL, &ids);
  blob_data_gc(s, &ids);
  blob_ids_free(&ids);
  /* Nothing reads yet at startup: no grace period is needed. */
  blob_trash_empty(s, 1);
  sweep_orphans(s);
  sweep_tmp(s);
}

/* ---- reading ------------------------------------------------------------------ */

int blob_extents_load(blob_ctx *c, int64_t blob_id, uint64_t off, uint64_t len, blob_extent **out,
                      int *n) {
  *out = NULL;
  *n = 0;
  if (len == 0) return 0;
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT e.pos, e.len, e.file_id, e.file_off, f.path FROM blob_extents e"
                    " JOIN blob_files f ON f.id=e.file_id WHERE e.blob_id=?1 AND e.pos < ?3"
                    " AND e.pos >= COALESCE((SELECT max(pos) FROM blob_extents WHERE blob_id=?1"
                    " AND pos <= ?2), 0) ORDER BY e.pos",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, blob_id);
  sqlite3_bind_int64(q, 2, (sqlite3_int64)off);
  sqlite3_bind_int64(q, 3, (sqlite3_int64)(off + len));
  int cap = 0, rc;
  blob_extent *v = NULL;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t pos = sqlite3_column_int64(q, 0), elen = sqlite3_column_int64(q, 1);
    if ((uint64_t)(pos + elen) <= off) continue;
    if (*n == cap) {
      int ncap = cap ? cap * 2 : 8;
      blob_extent *nv = http_alloc(c->r, sizeof *nv * (size_t)ncap);
      if (*n) memcpy(nv, v, sizeof *nv * (size_t)*n);
      v = nv;
      cap = ncap;
    }
    blob_extent *e = &v[(*n)++];
    e->pos = pos;
    e->len = elen;
    e->file_id = sqlite3_column_int64(q, 2);
    e->file_off = sqlite3_column_int64(q, 3);
    const char *p = (const char *)sqlite3_column_text(q, 4);
    e->path = NULL;
    if (p) {
      char *ap = abs_path(c->s, p);
      e->path = http_strdup(c->r, ap);
      free(ap);
    }
  }
  store_finalize(q);
  *out = v;
  return rc == SQLITE_DONE ? 0 : -1;
}

int blob_extent_rows_load(blob_ctx *c, int64_t blob_id, blob_extent_row **out, int *n) {
  sqlite3_stmt *q;
  *out = NULL;
  *n = 0;
  if (store_prepare(store_db(c->s),
                    "SELECT pos, len, file_id, file_off, block_id FROM blob_extents"
                    " WHERE blob_id=? ORDER BY pos",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, blob_id);
  int cap = 0, rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      blob_extent_row *v = http_alloc(c->r, sizeof *v * (size_t)cap);
      if (*n) memcpy(v, *out, sizeof *v * (size_t)*n);
      *out = v;
    }
    blob_extent_row *x = &(*out)[(*n)++];
    x->pos = sqlite3_column_int64(q, 0);
    x->len = sqlite3_column_int64(q, 1);
    x->file_id = sqlite3_column_int64(q, 2);
    x->file_off = sqlite3_column_int64(q, 3);
    const char *b = (const char *)sqlite3_column_text(q, 4);
    x->block_id = b ? http_strdup(c->r, b) : NULL;
  }
  store_finalize(q);
  return rc == SQLITE_DONE ? 0 : -1;
}

/* Reads len bytes at file_off of an inline file. */
static ssize_t inline_read(srv *s, int64_t file_id, int64_t file_off, char *buf, size_t len) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "SELECT substr(data, ?2, ?3) FROM blob_files WHERE id=?1", -1, &q,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, file_id);
  sqlite3_bind_int64(q, 2, file_off + 1);
  sqlite3_bind_int64(q, 3, (sqlite3_int64)len);
  ssize_t got = -1;
  if (sqlite3_step(q) == SQLITE_ROW) {
    got = sqlite3_column_bytes(q, 0);
    if ((size_t)got > len) got = (ssize_t)len;
    memcpy(buf, sqlite3_column_blob(q, 0), (size_t)got);
  }
  store_finalize(q);
  return got;
}

/* A reader over a list of extents, for streaming and for digests.  It opens
 * each data file only when it reaches it and closes it when it moves on, so a
 * download holds one descriptor whatever the number of blocks.  A download in
 * progress still reads a consistent blob if the blob is overwritten meanwhile:
 * the reader registers the files it names (as hashes, sorted) with the
 * provider, and the trash keeps those until the reader is done.  The grace
 * period covers the moment between loading the extents and registering. */
typedef struct blob_reader {
  srv *s;
  blob_extent *ext; /* malloc'd copy, paths malloc'd */
  int n;
  uint64_t off;   /* blob offset of reply position 0 */
  int cur;        /* index of the extent whose file is open, -1 none */
  int fd;         /* its descriptor */
  uint64_t *pins; /* path hashes of ext, sorted */
  int npins;
  struct blob_reader *next, *prev; /* in blob_state.readers, under its mu */
} extent_reader;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Does any of these readers name the file of path hash h? */
static int readers_pin(const struct blob_reader *rd, uint64_t h) {
  for (; rd; rd = rd->next)
    if (rd->npins && bsearch(&h, rd->pins, (size_t)rd->npins, sizeof h, cmp_u64)) return 1;
  return 0;
}

static extent_reader *reader_new(srv *s, const blob_extent *ext, int n, uint64_t off) {
  extent_reader *rd = calloc(1, sizeof *rd);
  if (!rd) abort();
  rd->s = s;
  rd->n = n;
  rd->off = off;
  rd->cur = -1;
  rd->fd = -1;
  rd->ext = calloc((size_t)(n ? n : 1), sizeof *rd->ext);
  rd->pins = calloc((size_t)(n ? n : 1), sizeof *rd->pins);
  if (!rd->ext || !rd->pins) abort();
  for (int i = 0; i < n; i++) {
    rd->ext[i] = ext[i];
    rd->ext[i].path = ext[i].path ? strdup(ext[i].path) : NULL;
    if (ext[i].path) rd->pins[rd->npins++] = path_hash(ext[i].path);
  }
  qsort(rd->pins, (size_t)rd->npins, sizeof *rd->pins, cmp_u64);
  if (rd->npins) {
    blob_state *st = blob_state_of(s);
    pthread_mutex_lock(&st->mu);
    rd->next = st->readers;
    if (st->readers) st->readers->prev = rd;
    st->readers = rd;
    pthread_mutex_unlock(&st->mu);
  }
  return rd;
}

static void reader_free(void *cls) {
  extent_reader *rd = cls;
  if (rd->npins) {
    blob_state *st = blob_state_of(rd->s);
    pthread_mutex_lock(&st->mu);
    if (rd->prev)
      rd->prev->next = rd->next;
    else
      st->readers = rd->next;
    if (rd->next) rd->next->prev = rd->prev;
    pthread_mutex_unlock(&st->mu);
  }
  if (rd->fd >= 0) close(rd->fd);
  for (int i = 0; i < rd->n; i++)
    free((char *)rd->ext[i].path);
  free(rd->pins);
  free(rd->ext);
  free(rd);
}

/* The open file of extent i, closing the one before; -1 on error. */
static int reader_fd(extent_reader *rd, int i) {
  if (rd->cur == i) return rd->fd;
  if (rd->fd >= 0) close(rd->fd);
  rd->cur = -1;
  rd->fd = open(rd->ext[i].path, O_RDONLY | O_CLOEXEC);
  if (rd->fd < 0) {
    log_error("blob: open %s: %s", rd->ext[i].path, strerror(errno));
    return -1;
  }
  rd->cur = i;
  return rd->fd;
}

/* Index of the first extent ending after abs (extents are sorted and disjoint). */
static int reader_find(extent_reader *rd, uint64_t abs) {
  int lo = 0, hi = rd->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if ((uint64_t)(rd->ext[mid].pos + rd->ext[mid].len) <= abs)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Reads at reply position pos; -1 on any failure, never 0, so that the core
 * aborts the reply instead of ending it short. */
static ssize_t reader_read(void *cls, uint64_t pos, char *buf, size_t max) {
  extent_reader *rd = cls;
  uint64_t abs = rd->off + pos;
  int i = reader_find(rd, abs);
  if (i >= rd->n || (uint64_t)rd->ext[i].pos > abs) {
    /* A gap: zeros up to the next extent. */
    uint64_t stop = i < rd->n ? (uint64_t)rd->ext[i].pos : abs + max;
    size_t k = stop - abs < max ? (size_t)(stop - abs) : max;
    memset(buf, 0, k);
    return (ssize_t)k;
  }
  const blob_extent *e = &rd->ext[i];
  uint64_t in = abs - (uint64_t)e->pos;
  size_t k = (uint64_t)e->len - in < max ? (size_t)((uint64_t)e->len - in) : max;
  if (!e->path) {
    ssize_t got = inline_read(rd->s, e->file_id, e->file_off + (int64_t)in, buf, k);
    return got > 0 ? got : -1;
  }
  int fd = reader_fd(rd, i);
  if (fd < 0) return -1;
  ssize_t got;
  do {
    got = pread(fd, buf, k, (off_t)(e->file_off + (int64_t)in));
  } while (got < 0 && errno == EINTR);
  if (got <= 0)
    log_error("blob: reading %s: %s", e->path, got < 0 ? strerror(errno) : "short file");
  /* The last byte of this extent read: its file is not needed any more. */
  if (got > 0 && in + (uint64_t)got >= (uint64_t)e->len) {
    close(rd->fd);
    rd->fd = -1;
    rd->cur = -1;
  }
  return got > 0 ? got : -1;
}

void blob_data_reply(blob_ctx *c, int status, const char *ctype, const blob_extent *ext, int n,
                     uint64_t off, uint64_t len) {
  if (len == 0) {
    http_reply_bytes(c->r, status, ctype, "", 0);
    return;
  }
  if (n == 1 && (uint64_t)ext[0].pos <= off && (uint64_t)(ext[0].pos + ext[0].len) >= off + len) {
    uint64_t in = off - (uint64_t)ext[0].pos;
    if (ext[0].path) {
      int fd = open(ext[0].path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        log_error("blob: open %s: %s", ext[0].path, strerror(errno));
        blob_fail_internal(c, "opening a data file");
        return;
      }
      http_reply_fd(c->r, status, ctype, fd, (uint64_t)ext[0].file_off + in, len);
      return;
    }
    char *buf = malloc(len);
    if (!buf) abort();
    if (inline_read(c->s, ext[0].file_id, ext[0].file_off + (int64_t)in, buf, len) !=
        (ssize_t)len) {
      free(buf);
      blob_fail_internal(c, "reading inline data");
      return;
    }
    http_reply_owned(c->r, status, ctype, buf, len);
    return;
  }
  extent_reader *rd = reader_new(c->s, ext, n, off);
  http_reply_stream(c->r, status, ctype, len, reader_read, rd, reader_free);
}

int blob_data_md5(blob_ctx *c, const blob_extent *ext, int n, uint64_t off, uint64_t len,
                  unsigned char md5[16]) {
  extent_reader *rd = reader_new(c->s, ext, n, off);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
  char *buf = malloc(1 << 20);
  int rc = 0;
  for (uint64_t pos = 0; pos < len;) {
    size_t want = len - pos < (1u << 20) ? (size_t)(len - pos) : (1u << 20);
    ssize_t got = reader_read(rd, pos, buf, want);
    if (got <= 0) {
      rc = -1;
      break;
    }
    EVP_DigestUpdate(ctx, buf, (size_t)got);
    pos += (uint64_t)got;
  }
  unsigned int mdlen = 16;
  EVP_DigestFinal_ex(ctx, md5, &mdlen);
  EVP_MD_CTX_free(ctx);
  free(buf);
  reader_free(rd);
  return rc;
}

char *blob_data_read_all(blob_ctx *c, const blob_extent *ext, int n, uint64_t len) {
  char *buf = malloc(len + 1);
  if (!buf) return NULL;
  extent_reader *rd = reader_new(c->s, ext, n, 0);
  for (uint64_t pos = 0; pos < len;) {
    ssize_t got = reader_read(rd, pos, buf + pos, (size_t)(len - pos));
    if (got <= 0) {
      free(buf);
      buf = NULL;
      break;
    }
    pos += (uint64_t)got;
  }
  reader_free(rd);
  if (buf) buf[len] = 0;
  return buf;
}

int blob_data_materialize(blob_ctx *c, const blob_extent *ext, int n, uint64_t off, uint64_t len,
                          blob_pending *out) {
  memset(out, 0, sizeof *out);
  out->len = len;
  char *tmp = NULL;
  if (asprintf(&tmp, "%s/blob-XXXXXX", c->s->tmp_dir) < 0) abort();
  int fd = mkstemp(tmp);
  if (fd < 0) {
    log_error("blob: %s: %s", tmp, strerror(errno));
    free(tmp);
    return -1;
  }
  extent_reader *rd = reader_new(c->s, ext, n, off);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_md5(), NULL);
  char *buf = malloc(1 << 20);
  int rc = buf ? 0 : -1;
  for (uint64_t pos = 0; rc == 0 && pos < len;) {
    size_t want = len - pos < (1u << 20) ? (size_t)(len - pos) : (1u << 20);
    ssize_t got = reader_read(rd, pos, buf, want);
    if (got <= 0 || write_all(fd, buf, (size_t)got) != 0) {
      rc = -1;
      break;
    }
    EVP_DigestUpdate(md, buf, (size_t)got);
    pos += (uint64_t)got;
  }
  unsigned int mdlen = 16;
  EVP_DigestFinal_ex(md, out->md5, &mdlen);
  EVP_MD_CTX_free(md);
  free(buf);
  reader_free(rd);
  close(fd);
  char rel[40];
  random_rel(rel);
  if (rc != 0 || place_file(c->s, tmp, rel) != 0) {
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  out->rel = strdup(rel);
  return 0;
}
