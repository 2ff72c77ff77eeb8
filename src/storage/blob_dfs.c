/* blob_dfs.c: the Data Lake Storage Gen2 (dfs) operations on paths: create a
 * file or directory, append and flush, rename, delete (recursively) and list
 * paths.  A filesystem is a container (its own operations go through the
 * Blob API, as the SDKs send them); a file is a block blob; a directory is a
 * zero-byte blob with metadata hdi_isfolder=true, as Azure shows directories
 * on the blob endpoint, so the same data is seen through both endpoints.
 *
 * Appended data waits as uncommitted blocks named by their position
 * ("dfs:<20 digits>"), on disk before the append is acknowledged; a flush
 * commits the blocks up to its position after the file's content, in one
 * transaction.  A rename or recursive delete of a directory changes every row
 * under it in one transaction: readers see the tree before or after, never
 * half of it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "blob.h"
#include "mgmt.h"

#define DFS_BLOCK_PREFIX "dfs:"
#define DFS_OWNER "$superuser"
#define DFS_DIR_PERMISSIONS "rwxr-x---"
#define DFS_FILE_PERMISSIONS "rw-r-----"

static int path_owner_set(blob_ctx *c, int64_t container_id, const char *path, int64_t blob_id,
                          int dir, int mode);
static int umask_of(blob_ctx *c);

static int is_dir(const blob_row *b) {
  json_t *m = json_loads(b->metadata ? b->metadata : "{}", 0, NULL);
  const char *v = json_string_value(json_object_get(m, "hdi_isfolder"));
  int dir = v && !strcasecmp(v, "true");
  json_decref(m);
  return dir;
}

static void fail_path_not_found(blob_ctx *c) {
  http_fail(c->r, STORAGE_ERR_PATH_NOT_FOUND, "The specified path does not exist.");
}

/* Does any live base blob lie under dir/ (dir "" = the root)? */
static int has_children(blob_ctx *c, int64_t container_id, const char *dir) {
  char *lo = http_printf(c->r, "%s/", dir);
  char *hi = http_printf(c->r, "%s0", dir); /* '0' follows '/' */
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT 1 FROM blobs WHERE container_id=? AND name>=? AND name<? AND"
                    " snapshot='' LIMIT 1",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, container_id);
  sqlite3_bind_text(q, 2, lo, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, hi, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  store_finalize(q);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* A path that exists: 1 with *b loaded (a blob at the name), 2 a directory only
 * implied by blobs under it, 0 absent, -1 store error. */
static int path_load(blob_ctx *c, int64_t container_id, const char *path, blob_row *b) {
  int found = blob_row_load(c, container_id, path, "", b);
  if (found != 0) return found;
  int kids = has_children(c, container_id, path);
  return kids < 0 ? -1 : kids ? 2 : 0;
}

/* x-ms-properties: "k1=base64,k2=base64" into a metadata JSON object (adds to m). */
static int properties_read(blob_ctx *c, json_t *m) {
  const char *p = http_header_get(c->r, "x-ms-properties");
  if (!p || !*p) return 0;
  char *dup = http_strdup(c->r, p), *save = NULL;
  for (char *kv = strtok_r(dup, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    unsigned char val[1024];
    int n = eq ? blob_b64_decode(eq + 1, val, (int)sizeof val - 1) : -1;
    if (eq) *eq = 0;
    if (n < 0 || !blob_metadata_name_valid(kv)) {
      blob_fail_header(c, "x-ms-properties", p);
      return -1;
    }
    val[n] = 0;
    json_object_set_new(m, kv, json_string((const char *)val));
  }
  return 0;
}

/* Creates a directory marker at name unless a blob stands there; 0 ok. */
static int ensure_dir(blob_ctx *c, const blob_container_row *ct, const char *name,
                      blob_ids *freed) {
  blob_row b;
  int found = blob_row_load(c, ct->id, name, "", &b);
  if (found != 0) return found < 0 ? -1 : 0;
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  blob_http_props props = {0};
  blob_write w = {"BlockBlob", 0, etag, &props, "{\"hdi_isfolder\":\"true\"}", NULL, NULL, 0};
  const char *saved = c->blob;
  int64_t id;
  c->blob = name;
  int rc = blob_write_content(c, ct, NULL, &w, &id, freed);
  c->blob = saved;
  return rc == 0 ? path_owner_set(c, ct->id, name, id, 1, -1) : rc;
}

/* The parent directories of path, created as Azure creates them. */
static int ensure_parents(blob_ctx *c, const blob_container_row *ct, const char *path,
                          blob_ids *freed) {
  for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
    char *dir = http_printf(c->r, "%.*s", (int)(p - path), path);
    if (*dir && ensure_dir(c, ct, dir, freed) != 0) return -1;
  }
  return 0;
}

/* ---- POSIX access control ------------------------------------------------------------ */

#define ACL_MAX_ENTRIES 32

typedef struct dfs_acl {
  char owner[64], group[64];
  char acl[2048];
} dfs_acl;

typedef struct acl_ent {
  int dflt;     /* a default: entry (inherited by new children; not checked) */
  char type[8]; /* user, group, mask, other */
  char id[64];  /* "" for the owning user/group, mask and other */
  int bits;     /* 4 r, 2 w, 1 x */
} acl_ent;

static void acl_add_mask(acl_ent *e, int *n);

/* The first three characters of p ("r-x") as bits; -1 when they are no such triple. */
static int perm_bits(const char *p) {
  if (strnlen(p, 3) != 3 || !strchr("r-", p[0]) || !strchr("w-", p[1]) || !strchr("xX-tT", p[2]))
    return -1;
  return (p[0] == 'r' ? 4 : 0) | (p[1] == 'w' ? 2 : 0) | (strchr("xXtT", p[2]) ? 1 : 0);
}

static void bits_str(int b, char out[4]) {
  out[0] = b & 4 ? 'r' : '-';
  out[1] = b & 2 ? 'w' : '-';
  out[2] = b & 1 ? 'x' : '-';
  out[3] = 0;
}

/* x-ms-permissions, symbolic ("rwxr-x---", a trailing '+' allowed) or four
 * octal digits ("0750"), as the owner/group/other bits; -1 when invalid.  The
 * sticky bit is accepted and not kept. */
static int perms_mode(const char *p) {
  size_t l = strlen(p);
  if (l == 4 && strspn(p, "01234567") == 4) return (int)strtol(p, NULL, 8) & 0777;
  if ((l == 9 || (l == 10 && p[9] == '+')) && perm_bits(p) >= 0 && perm_bits(p + 3) >= 0 &&
      perm_bits(p + 6) >= 0)
    return perm_bits(p) << 6 | perm_bits(p + 3) << 3 | perm_bits(p + 6);
  return -1;
}

/* Parses "[default:]type:id:perms,…"; the entry count, or -1 when it does not parse. */
static int acl_parse(const char *s, acl_ent *e, int max) {
  int n = 0;
  char *dup = strdup(s), *save = NULL;
  if (!dup) abort();
  for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    if (n == max) goto bad;
    acl_ent *x = &e[n];
    memset(x, 0, sizeof *x);
    if (!strncmp(t, "default:", 8)) {
      x->dflt = 1;
      t += 8;
    }
    char *c1 = strchr(t, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || strchr(c2 + 1, ':') || (size_t)(c1 - t) >= sizeof x->type ||
        (size_t)(c2 - c1 - 1) >= sizeof x->id)
      goto bad;
    memcpy(x->type, t, (size_t)(c1 - t));
    memcpy(x->id, c1 + 1, (size_t)(c2 - c1 - 1));
    if (strcmp(x->type, "user") && strcmp(x->type, "group") && strcmp(x->type, "mask") &&
        strcmp(x->type, "other"))
      goto bad;
    if ((!strcmp(x->type, "mask") || !strcmp(x->type, "other")) && x->id[0]) goto bad;
    if (strlen(c2 + 1) != 3 || (x->bits = perm_bits(c2 + 1)) < 0) goto bad;
    n++;
  }
  free(dup);
  return n;
bad:
  free(dup);
  return -1;
}

static void acl_join(const acl_ent *e, int n, char *out, size_t cap) {
  size_t at = 0;
  out[0] = 0;
  for (int i = 0; i < n; i++) {
    char b[4];
    bits_str(e[i].bits, b);
    at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, "%s%s%s:%s:%s", i ? "," : "",
                           e[i].dflt ? "default:" : "", e[i].type, e[i].id, b);
  }
}

static acl_ent *acl_find(acl_ent *e, int n, const char *type, const char *id) {
  for (int i = 0; i < n; i++)
    if (!e[i].dflt && !strcmp(e[i].type, type) && !strcmp(e[i].id, id)) return &e[i];
  return NULL;
}

static void acl_default(int dir, dfs_acl *a) {
  snprintf(a->owner, sizeof a->owner, "%s", DFS_OWNER);
  snprintf(a->group, sizeof a->group, "%s", DFS_OWNER);
  snprintf(a->acl, sizeof a->acl, "%s",
           dir ? "user::rwx,group::r-x,other::---" : "user::rw-,group::r--,other::---");
}

/* The path's access control (the defaults when none was set). */
static void acl_load(blob_ctx *c, int64_t blob_id, int dir, dfs_acl *a) {
  acl_default(dir, a);
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s), "SELECT owner, grp, acl FROM blob_acl WHERE blob_id=?", -1, &q,
                    NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int64(q, 1, blob_id);
  if (sqlite3_step(q) == SQLITE_ROW) {
    snprintf(a->owner, sizeof a->owner, "%s", (const char *)sqlite3_column_text(q, 0));
    snprintf(a->group, sizeof a->group, "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(a->acl, sizeof a->acl, "%s", (const char *)sqlite3_column_text(q, 2));
  }
  store_finalize(q);
}

static int acl_store(blob_ctx *c, int64_t blob_id, const dfs_acl *a) {
  return store_run(c->s,
                   "INSERT OR REPLACE INTO blob_acl(blob_id, owner, grp, acl) VALUES(?,?,?,?)",
                   "itt"
                   "t",
                   blob_id, a->owner, a->group, a->acl);
}

/* "rwxr-x---": the owner's, the group's (the mask when there is one) and other's
 * bits, with a '+' after them when the ACL has more entries (Azure's form). */
static void acl_permissions(const dfs_acl *a, char out[11]) {
  acl_ent e[ACL_MAX_ENTRIES];
  int n = acl_parse(a->acl, e, ACL_MAX_ENTRIES);
  const acl_ent *u = n > 0 ? acl_find(e, n, "user", "") : NULL;
  const acl_ent *m = n > 0 ? acl_find(e, n, "mask", "") : NULL;
  const acl_ent *g = m ? m : n > 0 ? acl_find(e, n, "group", "") : NULL;
  const acl_ent *o = n > 0 ? acl_find(e, n, "other", "") : NULL;
  bits_str(u ? u->bits : 0, out);
  bits_str(g ? g->bits : 0, out + 3);
  bits_str(o ? o->bits : 0, out + 6);
  for (int i = 0; i < n; i++)
    if (!e[i].dflt && (e[i].id[0] || !strcmp(e[i].type, "mask"))) {
      out[9] = '+';
      out[10] = 0;
      break;
    }
}

/* The bits a principal has under an ACL: the owner's, a named user's (under
 * the mask), else other's.  Groups are not resolved. */
static int acl_bits(const dfs_acl *a, const char *oid) {
  acl_ent e[ACL_MAX_ENTRIES];
  int n = acl_parse(a->acl, e, ACL_MAX_ENTRIES);
  if (n < 0) return 0;
  const acl_ent *x;
  if (oid && !strcmp(oid, a->owner)) return (x = acl_find(e, n, "user", "")) ? x->bits : 0;
  if (oid && (x = acl_find(e, n, "user", oid))) {
    const acl_ent *m = acl_find(e, n, "mask", "");
    return x->bits & (m ? m->bits : 7);
  }
  return (x = acl_find(e, n, "other", "")) ? x->bits : 0;
}

/* The access control of path (a directory implied by blobs has the defaults). */
static int acl_of_path(blob_ctx *c, int64_t container_id, const char *path, dfs_acl *a,
                       int *is_directory) {
  blob_row b;
  int found = path_load(c, container_id, path, &b);
  if (found <= 0) return found;
  int dir = found == 2 || is_dir(&b);
  if (is_directory) *is_directory = dir;
  if (found == 2)
    acl_default(1, a);
  else
    acl_load(c, b.id, dir, a);
  return 1;
}

/* Execute on every directory above path (the root is open to all). */
static int ancestors_traversable(blob_ctx *c, int64_t container_id, const char *path) {
  for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
    dfs_acl a;
    char *dir = http_printf(c->r, "%.*s", (int)(p - path), path);
    if (acl_of_path(c, container_id, dir, &a, NULL) != 1 || !(acl_bits(&a, c->caller_oid) & 1))
      return 0;
  }
  return 1;
}

int blob_dfs_acl_allows(blob_ctx *c) {
  if (!c->caller_oid || !c->container) return 0;
  blob_container_row ct;
  if (blob_container_load(c, c->container, &ct) != 1) return 0;
  const char *act = c->op->action;
  int reading = strstr(act, "/blobs/read") != NULL;
  if (!c->blob) {
    /* List Paths of a directory: read and execute on it, execute above it. */
    const char *d = http_query_get(c->r, "directory");
    if (strcmp(c->op->name, "ListPaths") != 0 || !d || !*d) return 0;
    dfs_acl a;
    return acl_of_path(c, ct.id, d, &a, NULL) == 1 && (acl_bits(&a, c->caller_oid) & 5) == 5 &&
           ancestors_traversable(c, ct.id, d);
  }
  if (!ancestors_traversable(c, ct.id, c->blob)) return 0;
  dfs_acl a;
  int dir = 0, found = acl_of_path(c, ct.id, c->blob, &a, &dir);
  if (strstr(act, "/modifyPermissions/")) return found == 1 && !strcmp(a.owner, c->caller_oid);
  if (reading) return found == 1 && (acl_bits(&a, c->caller_oid) & 4);
  if (strstr(act, "/blobs/write") && found == 1) return (acl_bits(&a, c->caller_oid) & 2) != 0;
  if (strstr(act, "/blobs/write") || strstr(act, "/blobs/delete") || strstr(act, "/move/")) {
    /* Creating, deleting or moving a path: write and execute on its parent. */
    const char *slash = strrchr(c->blob, '/');
    if (!slash) return 0; /* the root's children: RBAC only */
    dfs_acl pa;
    char *parent = http_printf(c->r, "%.*s", (int)(slash - c->blob), c->blob);
    return acl_of_path(c, ct.id, parent, &pa, NULL) == 1 && (acl_bits(&pa, c->caller_oid) & 3) == 3;
  }
  return 0;
}

/* ---- Create (PUT ?resource=file|directory) ---------------------------------------- */

void blob_dfs_create(blob_ctx *c) {
  http_req *r = c->r;
  const char *resource = http_query_get(r, "resource");
  int dir = !strcasecmp(resource, "directory");
  const char *perms = http_header_get(r, "x-ms-permissions"),
             *um = http_header_get(r, "x-ms-umask");
  int mode = perms ? perms_mode(perms) : -1;
  if (perms && mode < 0) {
    http_fail(r, STORAGE_ERR_INVALID_PERMISSION, "The permission value is invalid: '%s'.", perms);
    return;
  }
  if (um && umask_of(c) < 0) {
    blob_fail_header(c, "x-ms-umask", um);
    return;
  }
  json_t *meta = json_object();
  if (properties_read(c, meta) != 0) {
    json_decref(meta);
    return;
  }
  if (dir) json_object_set_new(meta, "hdi_isfolder", json_string("true"));
  char *mj = json_dumps(meta, JSON_COMPACT);
  json_decref(meta);
  blob_http_props props = {0};
  props.content_type = http_header_get(r, "x-ms-content-type");
  props.content_encoding = http_header_get(r, "x-ms-content-encoding");
  props.content_language = http_header_get(r, "x-ms-content-language");
  props.content_disposition = http_header_get(r, "x-ms-content-disposition");
  props.cache_control = http_header_get(r, "x-ms-cache-control");
  blob_container_row ct;
  blob_row old;
  blob_ids freed = {0};
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_begin(c->s) != 0) {
    free(mj);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  int exists = blob_write_target(c, &ct, &old);
  if (exists < 0) goto fail;
  if (exists && is_dir(&old) != dir) {
    http_fail(r, STORAGE_ERR_PATH_CONFLICT,
              "The specified path, or an element of the path, "
              "exists and its resource type is invalid for this "
              "operation.");
    goto fail;
  }
  if (!exists && !dir) {
    int kids = has_children(c, ct.id, c->blob);
    if (kids != 0) {
      if (kids < 0) goto fail_internal;
      http_fail(r, STORAGE_ERR_PATH_CONFLICT,
                "The specified path, or an element of the path, exists and its resource type "
                "is invalid for this operation.");
      goto fail;
    }
  }
  if (ensure_parents(c, &ct, c->blob, &freed) != 0) goto fail_internal;
  int64_t id;
  blob_write w = {"BlockBlob", 0, etag, &props, mj, NULL, NULL, 0};
  if (blob_write_content(c, &ct, exists ? &old : NULL, &w, &id, &freed) != 0 ||
      (!exists && path_owner_set(c, ct.id, c->blob, id, dir, mode) != 0) || store_commit(c->s) != 0)
    goto fail_internal;
  free(mj);
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 201);
  return;
fail_internal:
  blob_fail_internal(c, "creating the path");
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
  free(mj);
}

/* ---- Append, Flush (PATCH ?action=append|flush) ---------------------------------- */

static int position_read(blob_ctx *c, int64_t *out) {
  const char *p = http_query_get(c->r, "position");
  char *end = NULL;
  long long v = p ? strtoll(p, &end, 10) : -1;
  if (!p || *end || v < 0) {
    if (!p) {
      http_fail(c->r, STORAGE_ERR_MISSING_REQUIRED_QUERY_PARAMETER,
                "A query parameter that's mandatory for this request is not specified.");
      http_fail_detail(c->r, "QueryParameterName", "position");
    } else {
      blob_fail_query(c, "position", p);
    }
    return -1;
  }
  *out = v;
  return 0;
}

/* The file the URL names, inside the caller's transaction; fails when it is
 * absent or a directory. */
static int need_file(blob_ctx *c, blob_container_row *ct, blob_row *b) {
  if (blob_need_container(c, ct) != 0) return -1;
  int found = blob_row_load(c, ct->id, c->blob, "", b);
  if (found < 0) {
    blob_fail_internal(c, "loading the path");
    return -1;
  }
  if (found == 0) {
    fail_path_not_found(c);
    return -1;
  }
  if (is_dir(b) || strcmp(b->type, "BlockBlob") != 0) {
    http_fail(c->r, STORAGE_ERR_INVALID_FLUSH_OPERATION,
              "The resource type is invalid for this operation.");
    return -1;
  }
  return blob_lease_check_write(c, &b->lease);
}

void blob_dfs_append(blob_ctx *c) {
  http_req *r = c->r;
  int64_t pos;
  if (position_read(c, &pos) != 0) return;
  blob_pending body = {0};
  if (r->body_len > 0 && blob_data_accept_body(c, 0, &body) != 0) return;
  blob_container_row ct;
  blob_row b;
  if (store_begin(c->s) != 0) {
    blob_data_discard(c, &body);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (need_file(c, &ct, &b) != 0) goto fail;
  if (pos < b.size) {
    http_fail(r, STORAGE_ERR_INVALID_FLUSH_POSITION,
              "The uploaded data is not contiguous or the position query parameter value is not "
              "equal to the length of the file after appending the uploaded data.");
    goto fail;
  }
  if (body.len > 0) {
    char id[32];
    snprintf(id, sizeof id, DFS_BLOCK_PREFIX "%020lld", (long long)pos);
    if (blob_data_register(c, &body) != 0 ||
        store_run(c->s,
                  "INSERT OR REPLACE INTO blob_blocks(container_id,blob_name,block_id,file_id,"
                  "file_off,len,created_ms,seq) VALUES(?,?,?,?,0,?,?,0)",
                  "ittiii", ct.id, c->blob, id, body.file_id, (int64_t)body.len, c->now_ms) != 0)
      goto fail_internal;
  }
  if (store_commit(c->s) != 0) goto fail_internal;
  free(body.rel);
  blob_data_reply_digests(c, &body);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 202);
  return;
fail_internal:
  blob_fail_internal(c, "appending");
fail:
  store_rollback(c->s);
  blob_data_discard(c, &body);
}

void blob_dfs_flush(blob_ctx *c) {
  http_req *r = c->r;
  int64_t pos;
  if (position_read(c, &pos) != 0) return;
  blob_container_row ct;
  blob_row b;
  blob_ids freed = {0};
  blob_extent_row *rows = NULL;
  blob_new_extent *ext = NULL;
  int n = 0, next = 0;
  sqlite3_stmt *q = NULL;
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (need_file(c, &ct, &b) != 0) goto fail;
  if (blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0) goto fail;
  if (blob_extent_rows_load(c, b.id, &rows, &n) != 0) goto fail_internal;
  /* The file's content, then the appended blocks in position order. */
  int cap = n + 16;
  ext = calloc((size_t)cap, sizeof *ext);
  if (!ext) abort();
  for (int i = 0; i < n; i++)
    ext[next++] = (blob_new_extent){rows[i].file_id, rows[i].file_off, rows[i].len, NULL};
  int64_t size = b.size;
  if (store_prepare(store_db(c->s),
                    "SELECT block_id, file_id, file_off, len FROM blob_blocks WHERE"
                    " container_id=? AND blob_name=? AND block_id>=? AND block_id<? ORDER BY"
                    " block_id",
                    -1, &q, NULL) != SQLITE_OK)
    goto fail_internal;
  char lo[32], hi[32];
  snprintf(lo, sizeof lo, DFS_BLOCK_PREFIX "%020lld", (long long)b.size);
  snprintf(hi, sizeof hi, DFS_BLOCK_PREFIX "%020lld", (long long)pos);
  sqlite3_bind_int64(q, 1, ct.id);
  sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, lo, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, hi, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW) {
    int64_t at = atoll((const char *)sqlite3_column_text(q, 0) + strlen(DFS_BLOCK_PREFIX));
    if (at != size) break; /* not contiguous: the check below fails */
    if (next == cap) {
      cap *= 2;
      ext = realloc(ext, (size_t)cap * sizeof *ext);
      if (!ext) abort();
    }
    ext[next++] = (blob_new_extent){sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2),
                                    sqlite3_column_int64(q, 3), NULL};
    size += sqlite3_column_int64(q, 3);
  }
  store_finalize(q);
  q = NULL;
  if (size != pos) {
    http_fail(r, STORAGE_ERR_INVALID_FLUSH_POSITION,
              "The uploaded data is not contiguous or the position query parameter value is not "
              "equal to the length of the file after appending the uploaded data.");
    goto fail;
  }
  blob_http_props props = {b.content_type, b.content_encoding,    b.content_language,
                           b.content_md5,  b.content_disposition, b.cache_control};
#define OVERRIDE(field, header)                                                                    \
  if (http_header_get(r, header)) props.field = http_header_get(r, header)
  OVERRIDE(content_type, "x-ms-content-type");
  OVERRIDE(content_encoding, "x-ms-content-encoding");
  OVERRIDE(content_language, "x-ms-content-language");
  OVERRIDE(content_disposition, "x-ms-content-disposition");
  OVERRIDE(cache_control, "x-ms-cache-control");
  OVERRIDE(content_md5, "x-ms-content-md5");
#undef OVERRIDE
  if (!http_header_get(r, "x-ms-content-md5")) props.content_md5 = NULL;
  int64_t id;
  blob_write w = {"BlockBlob", size, etag, &props, b.metadata, b.tier, ext, next};
  if (blob_write_content(c, &ct, &b, &w, &id, &freed) != 0 || store_commit(c->s) != 0)
    goto fail_internal;
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  free(ext);
  blob_set_etag_lm(c, etag, c->now_ms);
  http_set_header(r, "x-ms-request-server-encrypted", "true");
  http_reply_empty(r, 200);
  return;
fail_internal:
  blob_fail_internal(c, "flushing");
fail:
  if (q) store_finalize(q);
  store_rollback(c->s);
  blob_ids_free(&freed);
  free(ext);
}

/* ---- Delete (DELETE ?recursive=) ------------------------------------------------- */

/* Drops every row of path and, when it is a directory, everything under it. */
static int delete_tree(blob_ctx *c, int64_t container_id, const char *path, blob_ids *freed) {
  char *lo = http_printf(c->r, "%s/", path), *hi = http_printf(c->r, "%s0", path);
  sqlite3_stmt *q;
  const char *where = " WHERE container_id=?1 AND (name=?2 OR (name>=?3 AND name<?4))";
  char *sql = sqlite3_mprintf("SELECT id FROM blobs%s", where);
  int ok = store_prepare(store_db(c->s), sql, -1, &q, NULL) == SQLITE_OK;
  sqlite3_free(sql);
  if (!ok) return -1;
  sqlite3_bind_int64(q, 1, container_id);
  sqlite3_bind_text(q, 2, path, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, lo, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, hi, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    blob_ids_of_extents(c->s, sqlite3_column_int64(q, 0), freed);
  store_finalize(q);
  if (store_prepare(store_db(c->s),
                    "SELECT file_id FROM blob_blocks WHERE container_id=?1 AND (blob_name=?2 OR"
                    " (blob_name>=?3 AND blob_name<?4))",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, container_id);
  sqlite3_bind_text(q, 2, path, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, lo, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, hi, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    blob_ids_add(freed, sqlite3_column_int64(q, 0));
  store_finalize(q);
  return store_run(c->s,
                   "DELETE FROM blobs WHERE container_id=?1 AND (name=?2 OR (name>=?3 AND"
                   " name<?4))",
                   "ittt", container_id, path, lo, hi) != 0 ||
                 store_run(c->s,
                           "DELETE FROM blob_blocks WHERE container_id=?1 AND (blob_name=?2 OR"
                           " (blob_name>=?3 AND blob_name<?4))",
                           "ittt", container_id, path, lo, hi) != 0
             ? -1
             : 0;
}

void blob_dfs_delete(blob_ctx *c) {
  http_req *r = c->r;
  const char *rec = http_query_get(r, "recursive");
  int recursive = rec && !strcasecmp(rec, "true");
  blob_container_row ct;
  blob_row b;
  blob_ids freed = {0};
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0) goto fail;
  int found = path_load(c, ct.id, c->blob, &b);
  if (found < 0) goto fail_internal;
  if (found == 0) {
    fail_path_not_found(c);
    goto fail;
  }
  if (found == 1) {
    if (blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0 ||
        blob_lease_check_write(c, &b.lease) != 0)
      goto fail;
  }
  if (!recursive && (found == 2 || is_dir(&b))) {
    int kids = has_children(c, ct.id, c->blob);
    if (kids < 0) goto fail_internal;
    if (kids) {
      http_fail(r, STORAGE_ERR_DIRECTORY_NOT_EMPTY,
                "The recursive query parameter value must "
                "be true to delete a non-empty directory.");
      goto fail;
    }
  }
  if (delete_tree(c, ct.id, c->blob, &freed) != 0 || store_commit(c->s) != 0) goto fail_internal;
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  http_reply_empty(r, 200);
  return;
fail_internal:
  blob_fail_internal(c, "deleting the path");
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
}

/* ---- Rename (PUT with x-ms-rename-source) ----------------------------------------- */

void blob_dfs_rename(blob_ctx *c) {
  http_req *r = c->r;
  const char *hdr = http_header_get(r, "x-ms-rename-source");
  /* "/filesystem/path[?sas]", URL-encoded. */
  size_t hl = strcspn(hdr, "?");
  char *src = http_url_decode(hdr, hl);
  if (!src) abort();
  char *p = src;
  while (*p == '/')
    p++;
  size_t fl = strcspn(p, "/");
  char *src_fs = http_printf(r, "%.*s", (int)fl, p);
  char *src_path = http_strdup(r, p[fl] ? p + fl + 1 : "");
  free(src);
  if (!*src_path || strcmp(src_fs, c->container) != 0) {
    http_fail(r, STORAGE_ERR_INVALID_RENAME_SOURCE_PATH,
              "The source path for a rename operation must be a path in the same file system "
              "as the destination.");
    return;
  }
  if (!strcmp(src_path, c->blob) ||
      (strlen(c->blob) > strlen(src_path) && !strncmp(c->blob, src_path, strlen(src_path)) &&
       c->blob[strlen(src_path)] == '/')) {
    http_fail(r, STORAGE_ERR_INVALID_DESTINATION_PATH,
              "The specified path, or an element of the path, is not valid for this operation: "
              "the destination lies in the source.");
    return;
  }
  blob_container_row ct;
  blob_row sb, db;
  blob_ids freed = {0};
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0) goto fail;
  int sfound = path_load(c, ct.id, src_path, &sb);
  if (sfound < 0) goto fail_internal;
  if (sfound == 0) {
    http_fail(r, STORAGE_ERR_SOURCE_PATH_NOT_FOUND,
              "The source path for a rename operation "
              "does not exist.");
    goto fail;
  }
  int src_dir = sfound == 2 || is_dir(&sb);
  /* The destination's parent must exist. */
  const char *slash = strrchr(c->blob, '/');
  if (slash) {
    blob_row pb;
    char *parent = http_printf(r, "%.*s", (int)(slash - c->blob), c->blob);
    int pf = path_load(c, ct.id, parent, &pb);
    if (pf < 0) goto fail_internal;
    if (pf == 0) {
      http_fail(r, STORAGE_ERR_RENAME_DESTINATION_PARENT_PATH_NOT_FOUND,
                "The parent directory of the destination path does not exist.");
      goto fail;
    }
  }
  int dfound = path_load(c, ct.id, c->blob, &db);
  if (dfound < 0) goto fail_internal;
  if (dfound) {
    const char *inm = http_header_get(r, "If-None-Match");
    if (src_dir || dfound == 2 || is_dir(&db) || (inm && !strcmp(inm, "*"))) {
      http_fail(r, STORAGE_ERR_PATH_ALREADY_EXISTS, "The specified path already exists.");
      goto fail;
    }
    if (blob_lease_check_write(c, &db.lease) != 0 || delete_tree(c, ct.id, c->blob, &freed) != 0)
      goto fail;
  }
  char *lo = http_printf(r, "%s/", src_path), *hi = http_printf(r, "%s0", src_path);
  int64_t sl = (int64_t)strlen(src_path);
  if (store_run(c->s,
                "UPDATE blobs SET name=?5||substr(name,?6+1) WHERE container_id=?1 AND (name=?2"
                " OR (name>=?3 AND name<?4))",
                "itttti", ct.id, src_path, lo, hi, c->blob, sl) != 0 ||
      store_run(c->s,
                "UPDATE blob_blocks SET blob_name=?5||substr(blob_name,?6+1) WHERE"
                " container_id=?1 AND (blob_name=?2 OR (blob_name>=?3 AND blob_name<?4))",
                "itttti", ct.id, src_path, lo, hi, c->blob, sl) != 0)
    goto fail_internal;
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (sfound == 1 && store_exec(c->s,
                                "UPDATE blobs SET etag=%Q, last_modified_ms=%lld WHERE"
                                " container_id=%lld AND name=%Q AND snapshot=''",
                                etag, (long long)c->now_ms, (long long)ct.id, c->blob) != 0)
    goto fail_internal;
  if (store_commit(c->s) != 0) goto fail_internal;
  blob_data_gc(c->s, &freed);
  blob_ids_free(&freed);
  blob_set_etag_lm(c, etag, c->now_ms);
  http_reply_empty(r, 201);
  return;
fail_internal:
  blob_fail_internal(c, "renaming the path");
fail:
  store_rollback(c->s);
  blob_ids_free(&freed);
}

/* ---- List Paths (GET filesystem ?resource=filesystem) ----------------------------- */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *path_entry(const char *name, int dir, const char *etag, int64_t lm_ms,
                          int64_t size) {
  char d[32];
  http_date(lm_ms, d);
  json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", name, "lastModified", d, "etag", etag,
                        "owner", DFS_OWNER, "group", DFS_OWNER, "permissions",
                        dir ? DFS_DIR_PERMISSIONS : DFS_FILE_PERMISSIONS);
  json_object_set_new(e, "contentLength", json_sprintf("%lld", (long long)size));
  if (dir) json_object_set_new(e, "isDirectory", json_string("true"));
  return e;
}

void blob_dfs_list_paths(blob_ctx *c) {
  http_req *r = c->r;
  const char *rec = http_query_get(r, "recursive");
  if (!rec) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_QUERY_PARAMETER,
              "A query parameter that's mandatory for this request is not specified.");
    http_fail_detail(r, "QueryParameterName", "recursive");
    return;
  }
  int recursive = !strcasecmp(rec, "true");
  const char *dq = http_query_get(r, "directory");
  char *dir = http_strdup(r, dq ? dq : "");
  size_t dl = strlen(dir);
  while (dl > 0 && dir[dl - 1] == '/')
    dir[--dl] = 0;
  blob_container_row ct;
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return;
  }
  if (blob_need_container(c, &ct) != 0) {
    blob_read_end(c);
    return;
  }
  if (dl > 0) {
    blob_row b;
    int found = path_load(c, ct.id, dir, &b);
    if (found <= 0 || (found == 1 && !is_dir(&b))) {
      blob_read_end(c);
      if (found < 0)
        blob_fail_internal(c, "loading the directory");
      else
        fail_path_not_found(c);
      return;
    }
  }
  char *lo = dl ? http_printf(r, "%s/", dir) : "";
  char *hi = dl ? http_printf(r, "%s0", dir) : NULL;
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT name, etag, last_modified_ms, size, metadata, a.owner, a.grp, a.acl"
                    " FROM blobs LEFT JOIN blob_acl a ON a.blob_id=blobs.id WHERE"
                    " container_id=?1 AND snapshot='' AND name>=?2 AND (?3 IS NULL OR name<?3)"
                    " ORDER BY name",
                    -1, &q, NULL) != SQLITE_OK) {
    blob_read_end(c);
    blob_fail_internal(c, "listing paths");
    return;
  }
  sqlite3_bind_int64(q, 1, ct.id);
  sqlite3_bind_text(q, 2, lo, -1, SQLITE_STATIC);
  if (hi)
    sqlite3_bind_text(q, 3, hi, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 3);
  /* Keyed by name, so that a directory implied by the blobs under it appears
   * once, and in name order (jansson keeps insertion order; sorted below). */
  json_t *seen = json_object();
  size_t lol = strlen(lo);
  while (sqlite3_step(q) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(q, 0);
    const char *etag = (const char *)sqlite3_column_text(q, 1);
    int64_t lm = sqlite3_column_int64(q, 2), size = sqlite3_column_int64(q, 3);
    json_t *m = json_loads((const char *)sqlite3_column_text(q, 4), 0, NULL);
    const char *f = json_string_value(json_object_get(m, "hdi_isfolder"));
    int isdir = f && !strcasecmp(f, "true");
    json_decref(m);
    /* The directories between the listed one and this blob. */
    for (const char *s = strchr(name + lol, '/'); s; s = strchr(s + 1, '/')) {
      char *d = http_printf(r, "%.*s", (int)(s - name), name);
      if (!json_object_get(seen, d)) json_object_set_new(seen, d, path_entry(d, 1, etag, lm, 0));
      if (!recursive) break;
    }
    if (!recursive && strchr(name + lol, '/')) continue;
    json_t *pe = path_entry(name, isdir, etag, lm, size);
    if (sqlite3_column_type(q, 5) != SQLITE_NULL) {
      dfs_acl a;
      char perms[11];
      snprintf(a.owner, sizeof a.owner, "%s", (const char *)sqlite3_column_text(q, 5));
      snprintf(a.group, sizeof a.group, "%s", (const char *)sqlite3_column_text(q, 6));
      snprintf(a.acl, sizeof a.acl, "%s", (const char *)sqlite3_column_text(q, 7));
      acl_permissions(&a, perms);
      json_object_set_new(pe, "owner", json_string(a.owner));
      json_object_set_new(pe, "group", json_string(a.group));
      json_object_set_new(pe, "permissions", json_string(perms));
    }
    json_object_set_new(seen, name, pe);
  }
  store_finalize(q);
  blob_read_end(c);
  json_t *paths = json_array();
  const char **keys = calloc(json_object_size(seen) + 1, sizeof *keys);
  if (!keys) abort();
  size_t nk = 0;
  const char *k;
  json_t *v;
  json_object_foreach(seen, k, v) keys[nk++] = k;
  qsort(keys, nk, sizeof *keys, cmp_names);
  /* Pages: maxResults (at most 5000) paths after the continuation, the last
   * path listed (base64), which x-ms-continuation names when more remain. */
  const char *mr = http_query_get(r, "maxResults"), *cont = http_query_get(r, "continuation");
  long max = mr ? strtol(mr, NULL, 10) : 5000;
  if (max <= 0 || max > 5000) max = 5000;
  unsigned char after[BLOB_MAX_NAME * 4 + 1];
  int alen = cont && *cont ? blob_b64_decode(cont, after, (int)sizeof after - 1) : -1;
  if (alen >= 0) after[alen] = 0;
  long emitted = 0;
  for (size_t i = 0; i < nk; i++) {
    if (alen >= 0 && strcmp(keys[i], (const char *)after) <= 0) continue;
    if (emitted == max) {
      const char *last = json_string_value(
          json_object_get(json_array_get(paths, json_array_size(paths) - 1), "name"));
      size_t ll = strlen(last);
      char *enc = http_alloc(r, 4 * ((ll + 2) / 3) + 1);
      EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)last, (int)ll);
      http_set_header(r, "x-ms-continuation", enc);
      break;
    }
    json_array_append(paths, json_object_get(seen, keys[i]));
    emitted++;
  }
  free(keys);
  json_decref(seen);
  http_reply_json(r, 200, json_pack("{s:o}", "paths", paths));
}

/* ---- Get Properties (HEAD ?action=getStatus) ---------------------------------------- */

void blob_dfs_get_status(blob_ctx *c) {
  http_req *r = c->r;
  blob_container_row ct;
  blob_row b;
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return;
  }
  int found = blob_need_container(c, &ct) != 0 ? -2 : path_load(c, ct.id, c->blob, &b);
  blob_read_end(c);
  if (found == -2) return;
  if (found < 0) {
    blob_fail_internal(c, "loading the path");
    return;
  }
  if (found == 0) {
    fail_path_not_found(c);
    return;
  }
  int dir = found == 2 || is_dir(&b);
  if (found == 1) blob_set_etag_lm(c, b.etag, b.last_modified_ms);
  dfs_acl a;
  char perms[11];
  if (found == 1)
    acl_load(c, b.id, dir, &a);
  else
    acl_default(1, &a);
  acl_permissions(&a, perms);
  http_set_header(r, "x-ms-resource-type", dir ? "directory" : "file");
  http_set_header(r, "x-ms-owner", a.owner);
  http_set_header(r, "x-ms-group", a.group);
  http_set_header(r, "x-ms-permissions", perms);
  http_reply_length_only(r, 200, NULL, found == 1 && !dir ? (uint64_t)b.size : 0);
}

void blob_dfs_set_access_control(blob_ctx *c) {
  http_req *r = c->r;
  const char *owner = http_header_get(r, "x-ms-owner"), *group = http_header_get(r, "x-ms-group");
  const char *perms = http_header_get(r, "x-ms-permissions"), *acl = http_header_get(r, "x-ms-acl");
  acl_ent e[ACL_MAX_ENTRIES];
  int n = 0;
  if (perms && acl) {
    http_fail(r, STORAGE_ERR_INVALID_HEADER_VALUE,
              "x-ms-permissions and x-ms-acl are mutually exclusive.");
    http_fail_detail(r, "HeaderName", "x-ms-acl");
    return;
  }
  if (acl && ((n = acl_parse(acl, e, ACL_MAX_ENTRIES)) < 0 || !acl_find(e, n, "user", "") ||
              !acl_find(e, n, "group", "") || !acl_find(e, n, "other", ""))) {
    http_fail(r, STORAGE_ERR_INVALID_ACCESS_CONTROL_LIST,
              "The access control list value is invalid: '%s'.", acl);
    return;
  }
  int mode = perms ? perms_mode(perms) : -1;
  if (perms && mode < 0) {
    http_fail(r, STORAGE_ERR_INVALID_PERMISSION, "The permission value is invalid: '%s'.", perms);
    return;
  }
  blob_container_row ct;
  blob_row b;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0) goto fail;
  int found = blob_row_load(c, ct.id, c->blob, "", &b);
  if (found < 0) goto fail_internal;
  if (!found) {
    fail_path_not_found(c);
    goto fail;
  }
  if (blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0) goto fail;
  dfs_acl a;
  acl_load(c, b.id, is_dir(&b), &a);
  if (owner) snprintf(a.owner, sizeof a.owner, "%s", owner);
  if (group) snprintf(a.group, sizeof a.group, "%s", group);
  if (acl) {
    acl_add_mask(e, &n);
    acl_join(e, n, a.acl, sizeof a.acl);
  } else if (perms) {
    int k = acl_parse(a.acl, e, ACL_MAX_ENTRIES);
    acl_ent *u = acl_find(e, k, "user", ""), *o = acl_find(e, k, "other", "");
    acl_ent *g = acl_find(e, k, "mask", "");
    if (!g) g = acl_find(e, k, "group", "");
    if (u) u->bits = mode >> 6;
    if (g) g->bits = (mode >> 3) & 7;
    if (o) o->bits = mode & 7;
    acl_join(e, k, a.acl, sizeof a.acl);
  }
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (acl_store(c, b.id, &a) != 0 ||
      store_exec(c->s, "UPDATE blobs SET etag=%Q, last_modified_ms=%lld WHERE id=%lld", etag,
                 (long long)c->now_ms, (long long)b.id) != 0 ||
      store_commit(c->s) != 0)
    goto fail_internal;
  blob_set_etag_lm(c, etag, c->now_ms);
  http_reply_empty(r, 200);
  return;
fail_internal:
  blob_fail_internal(c, "setting the access control");
fail:
  store_rollback(c->s);
}

void blob_dfs_get_access_control(blob_ctx *c) {
  http_req *r = c->r;
  blob_container_row ct;
  if (blob_need_container(c, &ct) != 0) return;
  dfs_acl a;
  int dir = 0, found = acl_of_path(c, ct.id, c->blob, &a, &dir);
  if (found < 0) {
    blob_fail_internal(c, "loading the path");
    return;
  }
  if (found == 0) {
    fail_path_not_found(c);
    return;
  }
  blob_row b;
  if (blob_row_load(c, ct.id, c->blob, "", &b) == 1)
    blob_set_etag_lm(c, b.etag, b.last_modified_ms);
  char perms[11];
  acl_permissions(&a, perms);
  http_set_header(r, "x-ms-owner", a.owner);
  http_set_header(r, "x-ms-group", a.group);
  http_set_header(r, "x-ms-permissions", perms);
  http_set_header(r, "x-ms-acl", a.acl);
  http_set_header(r, "x-ms-resource-type", dir ? "directory" : "file");
  http_reply_length_only(r, 200, NULL, 0);
}

/* x-ms-umask: four octal digits (the default 0027); -1 when it does not parse. */
static int umask_of(blob_ctx *c) {
  const char *u = http_header_get(c->r, "x-ms-umask");
  if (!u) return 027;
  if (strlen(u) != 4 || strspn(u, "01234567") != 4) return -1;
  return (int)strtol(u, NULL, 8) & 0777;
}

/* A new path's access control, as Azure makes it.  Owner: the bearer caller
 * who made it (other credentials leave $superuser); owning group: the
 * parent's.  When the parent has default: entries, they become the child's
 * access ACL (and a directory's default ACL too), restricted by mode (the
 * x-ms-permissions bits; -1 none: 0777 a directory, 0666 a file) on the
 * owner, mask (or owning group) and other, the umask left out; otherwise the permissions are mode
 * (0777 a directory, 0666 a file) AND NOT the umask. */
static int path_owner_set(blob_ctx *c, int64_t container_id, const char *path, int64_t blob_id,
                          int dir, int mode) {
  dfs_acl a, pa;
  acl_default(dir, &a);
  if (c->caller_oid) snprintf(a.owner, sizeof a.owner, "%s", c->caller_oid);
  acl_ent pe[ACL_MAX_ENTRIES], e[ACL_MAX_ENTRIES];
  int pn = 0, n = 0, inherit = 0;
  const char *slash = strrchr(path, '/');
  if (slash) {
    char *parent = http_printf(c->r, "%.*s", (int)(slash - path), path);
    if (acl_of_path(c, container_id, parent, &pa, NULL) == 1) {
      snprintf(a.group, sizeof a.group, "%s", pa.group);
      if ((pn = acl_parse(pa.acl, pe, ACL_MAX_ENTRIES)) < 0) pn = 0;
    }
  }
  for (int i = 0; i < pn; i++)
    if (pe[i].dflt) {
      e[n] = pe[i];
      e[n++].dflt = 0;
    }
  if (n > 0) {
    inherit = 1;
    acl_add_mask(e, &n);
    int p = mode >= 0 ? mode : dir ? 0777 : 0666;
    acl_ent *u = acl_find(e, n, "user", ""), *o = acl_find(e, n, "other", "");
    acl_ent *g = acl_find(e, n, "mask", "");
    if (!g) g = acl_find(e, n, "group", "");
    if (u) u->bits &= (p >> 6) & 7;
    if (g) g->bits &= (p >> 3) & 7;
    if (o) o->bits &= p & 7;
    for (int i = 0; dir && i < pn && n < ACL_MAX_ENTRIES; i++)
      if (pe[i].dflt) e[n++] = pe[i];
    acl_join(e, n, a.acl, sizeof a.acl);
  } else {
    int um = umask_of(c), m = (mode >= 0 ? mode : dir ? 0777 : 0666) & ~(um < 0 ? 027 : um);
    char b[3][4];
    bits_str(m >> 6, b[0]);
    bits_str((m >> 3) & 7, b[1]);
    bits_str(m & 7, b[2]);
    snprintf(a.acl, sizeof a.acl, "user::%s,group::%s,other::%s", b[0], b[1], b[2]);
  }
  dfs_acl plain;
  acl_default(dir, &plain);
  if (!c->caller_oid && !inherit && !strcmp(a.acl, plain.acl) && !strcmp(a.group, plain.group))
    return 0; /* the defaults, as a path without a row reads */
  return acl_store(c, blob_id, &a);
}

/* Named entries without a mask get one: the union of the group class's bits. */
static void acl_add_mask(acl_ent *e, int *n) {
  int named = 0, m = 0;
  for (int i = 0; i < *n; i++)
    if (!e[i].dflt && (!strcmp(e[i].type, "user") || !strcmp(e[i].type, "group"))) {
      named |= e[i].id[0] != 0;
      if (strcmp(e[i].type, "user") || e[i].id[0]) m |= e[i].bits;
    }
  if (named && !acl_find(e, *n, "mask", "") && *n < ACL_MAX_ENTRIES)
    e[(*n)++] = (acl_ent){0, "mask", "", m};
}

/* "[default:]type:id" entries of a remove request; the count or -1. */
static int acl_parse_ids(const char *s, acl_ent *e, int max) {
  int n = 0;
  char *dup = strdup(s), *save = NULL;
  if (!dup) abort();
  for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (n == max) goto bad;
    acl_ent *x = &e[n];
    memset(x, 0, sizeof *x);
    if (!strncmp(t, "default:", 8)) {
      x->dflt = 1;
      t += 8;
    }
    char *c1 = strchr(t, ':');
    if (!c1 || strchr(c1 + 1, ':') || (size_t)(c1 - t) >= sizeof x->type ||
        strlen(c1 + 1) >= sizeof x->id || !c1[1])
      goto bad;
    memcpy(x->type, t, (size_t)(c1 - t));
    snprintf(x->id, sizeof x->id, "%s", c1 + 1);
    if (strcmp(x->type, "user") && strcmp(x->type, "group")) goto bad;
    n++;
  }
  free(dup);
  return n;
bad:
  free(dup);
  return -1;
}

void blob_dfs_set_access_control_recursive(blob_ctx *c) {
  http_req *r = c->r;
  const char *mode = http_query_get(r, "mode"), *acl = http_header_get(r, "x-ms-acl");
  int set = mode && !strcasecmp(mode, "set"), modify = mode && !strcasecmp(mode, "modify");
  int remove = mode && !strcasecmp(mode, "remove");
  if (!set && !modify && !remove) {
    blob_fail_query(c, "mode", mode);
    return;
  }
  acl_ent spec[ACL_MAX_ENTRIES];
  int ns = acl ? (remove ? acl_parse_ids(acl, spec, ACL_MAX_ENTRIES)
                         : acl_parse(acl, spec, ACL_MAX_ENTRIES))
               : -1;
  if (ns < 0 || (set && (!acl_find(spec, ns, "user", "") || !acl_find(spec, ns, "group", "") ||
                         !acl_find(spec, ns, "other", "")))) {
    http_fail(r, STORAGE_ERR_INVALID_ACCESS_CONTROL_LIST,
              "The access control list value is invalid: '%s'.", acl ? acl : "");
    return;
  }
  blob_container_row ct;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0) goto fail;
  blob_row top;
  int found = blob_row_load(c, ct.id, c->blob, "", &top);
  if (found < 0) goto fail_internal;
  if (!found) {
    fail_path_not_found(c);
    goto fail;
  }
  /* Every path at or under the target, in one transaction. */
  char *lo = http_printf(r, "%s/", c->blob), *hi = http_printf(r, "%s0", c->blob);
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT id, metadata FROM blobs WHERE container_id=?1 AND snapshot='' AND"
                    " (name=?2 OR (name>=?3 AND name<?4))",
                    -1, &q, NULL) != SQLITE_OK)
    goto fail_internal;
  sqlite3_bind_int64(q, 1, ct.id);
  sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, lo, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, hi, -1, SQLITE_STATIC);
  int64_t *ids = NULL;
  int *dirs = NULL, nids = 0, cap = 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    if (nids == cap) {
      cap = cap ? cap * 2 : 64;
      ids = realloc(ids, (size_t)cap * sizeof *ids);
      dirs = realloc(dirs, (size_t)cap * sizeof *dirs);
      if (!ids || !dirs) abort();
    }
    blob_row b = {.metadata = (const char *)sqlite3_column_text(q, 1)};
    ids[nids] = sqlite3_column_int64(q, 0);
    dirs[nids++] = is_dir(&b);
  }
  store_finalize(q);
  int ndirs = 0, nfiles = 0, rc = 0;
  for (int i = 0; i < nids && rc == 0; i++) {
    dfs_acl a;
    acl_ent e[ACL_MAX_ENTRIES];
    acl_load(c, ids[i], dirs[i], &a);
    int n = acl_parse(a.acl, e, ACL_MAX_ENTRIES);
    if (n < 0) n = 0;
    if (set) {
      memcpy(e, spec, (size_t)ns * sizeof *e);
      n = ns;
    } else {
      for (int k = 0; k < ns; k++) {
        /* default: entries belong to directories only. */
        if (spec[k].dflt && !dirs[i]) continue;
        int at = -1;
        for (int j = 0; j < n; j++)
          if (e[j].dflt == spec[k].dflt && !strcmp(e[j].type, spec[k].type) &&
              !strcmp(e[j].id, spec[k].id))
            at = j;
        if (remove && at >= 0) {
          memmove(&e[at], &e[at + 1], (size_t)(n - at - 1) * sizeof *e);
          n--;
        } else if (modify && at >= 0) {
          e[at].bits = spec[k].bits;
        } else if (modify && n < ACL_MAX_ENTRIES) {
          e[n++] = spec[k];
        }
      }
    }
    if (!dirs[i]) { /* files take no default: entries */
      int w = 0;
      for (int j = 0; j < n; j++)
        if (!e[j].dflt) e[w++] = e[j];
      n = w;
    }
    /* As setfacl does, the mask follows the entries unless the request names one. */
    acl_ent *mask = acl_find(e, n, "mask", "");
    if (!set && mask && !acl_find(spec, ns, "mask", "")) {
      memmove(mask, mask + 1, (size_t)(n - (mask - e) - 1) * sizeof *e);
      n--;
    }
    acl_add_mask(e, &n);
    acl_join(e, n, a.acl, sizeof a.acl);
    rc = acl_store(c, ids[i], &a);
    if (dirs[i])
      ndirs++;
    else
      nfiles++;
  }
  free(ids);
  free(dirs);
  if (rc != 0 || store_commit(c->s) != 0) goto fail_internal;
  http_reply_json(r, 200,
                  json_pack("{s:i,s:i,s:i,s:[]}", "directoriesSuccessful", ndirs, "filesSuccessful",
                            nfiles, "failureCount", 0, "failedEntries"));
  return;
fail_internal:
  blob_fail_internal(c, "setting the access control");
fail:
  store_rollback(c->s);
}

/* ---- Set Properties (PATCH ?action=setProperties) ------------------------------------ */

/* x-ms-properties replaces the path's user properties, which are its blob
 * metadata (a directory keeps hdi_isfolder): Get Blob Properties reads them
 * back as x-ms-meta-*, as on Azure. */
void blob_dfs_set_properties(blob_ctx *c) {
  http_req *r = c->r;
  json_t *meta = json_object();
  if (properties_read(c, meta) != 0) {
    json_decref(meta);
    return;
  }
  blob_container_row ct;
  blob_row b;
  char *mj = NULL;
  if (store_begin(c->s) != 0) {
    json_decref(meta);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0) goto fail;
  int found = blob_row_load(c, ct.id, c->blob, "", &b);
  if (found < 0) goto fail_internal;
  if (!found) {
    fail_path_not_found(c);
    goto fail;
  }
  if (blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0 ||
      blob_lease_check_write(c, &b.lease) != 0)
    goto fail;
  if (is_dir(&b)) json_object_set_new(meta, "hdi_isfolder", json_string("true"));
  mj = json_dumps(meta, JSON_COMPACT);
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_run(c->s, "UPDATE blobs SET metadata=?, etag=?, last_modified_ms=? WHERE id=?", "ttii",
                mj, etag, c->now_ms, b.id) != 0 ||
      store_commit(c->s) != 0)
    goto fail_internal;
  free(mj);
  json_decref(meta);
  blob_set_etag_lm(c, etag, c->now_ms);
  http_reply_empty(r, 200);
  return;
fail_internal:
  blob_fail_internal(c, "setting the properties");
fail:
  store_rollback(c->s);
  free(mj);
  json_decref(meta);
}
