/* blob_container.c: containers: Create, Delete, Get Properties, Get/Set
 * Metadata, Get/Set ACL (stored access policies and the public access level).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/xml.h"
#include "blob.h"
#include "storage.h"

#define MAX_POLICIES 5

static const char *col_text(blob_ctx *c, sqlite3_stmt *q, int i) {
  const char *t = (const char *)sqlite3_column_text(q, i);
  return t ? http_strdup(c->r, t) : NULL;
}

static int64_t col_i64_or(sqlite3_stmt *q, int i, int64_t dflt) {
  return sqlite3_column_type(q, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(q, i);
}

int blob_container_load(blob_ctx *c, const char *name, blob_container_row *out) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT id, name, etag, last_modified_ms, created_ms, metadata,"
                    " public_access, acl, lease_id, lease_state, lease_duration_s,"
                    " lease_expires_ms, lease_break_ms"
                    " FROM blob_containers WHERE account=? AND name=?",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc != SQLITE_ROW) {
    store_finalize(q);
    return rc == SQLITE_DONE ? 0 : -1;
  }
  memset(out, 0, sizeof *out);
  out->id = sqlite3_column_int64(q, 0);
  out->name = col_text(c, q, 1);
  snprintf(out->etag, sizeof out->etag, "%s", (const char *)sqlite3_column_text(q, 2));
  out->last_modified_ms = sqlite3_column_int64(q, 3);
  out->created_ms = sqlite3_column_int64(q, 4);
  out->metadata = col_text(c, q, 5);
  out->public_access = col_text(c, q, 6);
  out->acl = col_text(c, q, 7);
  out->lease.id = col_text(c, q, 8);
  out->lease.state = col_text(c, q, 9);
  out->lease.duration_s = sqlite3_column_int64(q, 10);
  out->lease.expires_ms = col_i64_or(q, 11, 0);
  out->lease.break_ms = col_i64_or(q, 12, 0);
  store_finalize(q);
  return 1;
}

/* Loads the container named by the URL; fails the request when absent. */
static int load_or_fail(blob_ctx *c, blob_container_row *ct) {
  int found = blob_container_load(c, c->container, ct);
  if (found < 0) blob_fail_internal(c, "loading the container");
  if (found == 0) blob_fail_container_not_found(c);
  return found == 1 ? 0 : -1;
}

void blob_metadata_headers(blob_ctx *c, const char *metadata_json) {
  json_t *m = json_loads(metadata_json ? metadata_json : "{}", 0, NULL);
  const char *k;
  json_t *v;
  json_object_foreach(m, k, v) {
    char *name = http_printf(c->r, "x-ms-meta-%s", k);
    http_set_header(c->r, name, json_string_value(v));
  }
  json_decref(m);
}

/* x-ms-blob-public-access: absent or "" is private; anything but blob/container is refused. */
static int read_public_access(blob_ctx *c, const char **out) {
  const char *pa = http_header_get(c->r, "x-ms-blob-public-access");
  if (!pa || !*pa) {
    *out = "";
    return 0;
  }
  if (strcmp(pa, "blob") != 0 && strcmp(pa, "container") != 0) {
    blob_fail_header(c, "x-ms-blob-public-access", pa);
    return -1;
  }
  if (!c->allow_public) {
    http_fail(c->r, STORAGE_ERR_PUBLIC_ACCESS_NOT_PERMITTED,
              "Public access is not permitted on this storage account.");
    return -1;
  }
  *out = pa;
  return 0;
}

void blob_container_create(blob_ctx *c) {
  const char *pa;
  if (read_public_access(c, &pa) != 0) return;
  char *meta = blob_metadata_from_headers(c);
  if (!meta) return;
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  const char *scope = http_header_get(c->r, "x-ms-default-encryption-scope");
  const char *deny = http_header_get(c->r, "x-ms-deny-encryption-scope-override");
  int rc = store_exec(c->s,
                      "INSERT INTO blob_containers(account,name,etag,last_modified_ms,created_ms,"
                      "metadata,public_access,encryption_scope,deny_encryption_scope_override)"
                      " VALUES(%Q,%Q,%Q,%lld,%lld,%Q,%Q,%Q,%d) ON CONFLICT DO NOTHING",
                      c->account, c->container, etag, (long long)c->now_ms, (long long)c->now_ms,
                      meta, pa, scope, deny && strcasecmp(deny, "true") == 0);
  free(meta);
  if (rc != 0) {
    blob_fail_internal(c, "creating the container");
    return;
  }
  if (sqlite3_changes(store_db(c->s)) == 0) {
    http_fail(c->r, STORAGE_ERR_CONTAINER_ALREADY_EXISTS,
              "The specified container already exists.");
    return;
  }
  blob_set_etag_lm(c, etag, c->now_ms);
  http_reply_empty(c->r, 201);
}

void blob_container_delete(blob_ctx *c) {
  blob_conditions cd;
  if (blob_container_conditions_read(c, &cd, 1) != 0) return;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  blob_container_row ct;
  blob_ids ids = {0};
  if (load_or_fail(c, &ct) != 0 ||
      blob_conditions_check(c, 1, ct.etag, ct.last_modified_ms, 0) != 0) {
    store_rollback(c->s);
    return;
  }
  if (blob_container_lease_check(c, &ct.lease, 1) != 0) {
    store_rollback(c->s);
    return;
  }
  /* The files the container's blobs and blocks use: candidates once it is gone. */
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT DISTINCT e.file_id FROM blob_extents e JOIN blobs b"
                    " ON b.id=e.blob_id WHERE b.container_id=?1"
                    " UNION SELECT file_id FROM blob_blocks WHERE container_id=?1",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_int64(q, 1, ct.id);
    while (sqlite3_step(q) == SQLITE_ROW)
      blob_ids_add(&ids, sqlite3_column_int64(q, 0));
    store_finalize(q);
  }
  /* Under soft delete the container stays, renamed, until its retention ends. */
  int soft = blob_container_soft_delete(c, &ct);
  if (soft > 0) blob_ids_free(&ids);
  if (soft < 0 ||
      (!soft &&
       store_exec(c->s, "DELETE FROM blob_containers WHERE id=%lld", (long long)ct.id) != 0) ||
      store_commit(c->s) != 0) {
    store_rollback(c->s);
    blob_ids_free(&ids);
    blob_fail_internal(c, "deleting the container");
    return;
  }
  blob_data_gc(c->s, &ids);
  blob_ids_free(&ids);
  http_reply_empty(c->r, 202);
}

void blob_container_get_properties(blob_ctx *c) {
  blob_container_row ct;
  if (load_or_fail(c, &ct) != 0 || blob_container_lease_check(c, &ct.lease, 0) != 0) return;
  blob_set_etag_lm(c, ct.etag, ct.last_modified_ms);
  blob_metadata_headers(c, ct.metadata);
  blob_lease_headers(c, &ct.lease);
  if (ct.public_access[0]) http_set_header(c->r, "x-ms-blob-public-access", ct.public_access);
  http_set_header(c->r, "x-ms-has-immutability-policy", "false");
  http_set_header(c->r, "x-ms-has-legal-hold", "false");
  http_set_header(c->r, "x-ms-default-encryption-scope", "$account-encryption-key");
  http_set_header(c->r, "x-ms-deny-encryption-scope-override", "false");
  http_set_header(c->r, "x-ms-immutable-storage-with-versioning-enabled", "false");
  http_reply_empty(c->r, 200);
}

void blob_container_get_metadata(blob_ctx *c) {
  blob_container_row ct;
  if (load_or_fail(c, &ct) != 0 || blob_container_lease_check(c, &ct.lease, 0) != 0) return;
  blob_set_etag_lm(c, ct.etag, ct.last_modified_ms);
  blob_metadata_headers(c, ct.metadata);
  http_reply_empty(c->r, 200);
}

/* Runs UPDATE … SET <set> plus a fresh ETag on the container, after its conditions. */
static void container_update(blob_ctx *c, const char *set) {
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  blob_container_row ct;
  if (load_or_fail(c, &ct) != 0 || blob_container_lease_check(c, &ct.lease, 0) != 0 ||
      blob_conditions_check(c, 1, ct.etag, ct.last_modified_ms, 0) != 0) {
    store_rollback(c->s);
    return;
  }
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_exec(c->s,
                 "UPDATE blob_containers SET %s, etag=%Q, last_modified_ms=%lld WHERE id=%lld", set,
                 etag, (long long)c->now_ms, (long long)ct.id) != 0 ||
      store_commit(c->s) != 0) {
    store_rollback(c->s);
    blob_fail_internal(c, "updating the container");
    return;
  }
  blob_set_etag_lm(c, etag, c->now_ms);
  http_reply_empty(c->r, 200);
}

int blob_container_conditions_read(blob_ctx *c, blob_conditions *cd, int unmodified_ok) {
  blob_conditions_read(c->r, cd);
  const char *bad = cd->if_match                                     ? "If-Match"
                    : cd->if_none_match                              ? "If-None-Match"
                    : !unmodified_ok && cd->if_unmodified_since >= 0 ? "If-Unmodified-Since"
                                                                     : NULL;
  if (!bad) return 0;
  http_fail(c->r, STORAGE_ERR_UNSUPPORTED_HEADER,
            "One of the HTTP headers specified in the request is not supported.");
  http_fail_detail(c->r, "HeaderName", bad);
  return -1;
}

void blob_container_set_metadata(blob_ctx *c) {
  blob_conditions cd;
  if (blob_container_conditions_read(c, &cd, 0) != 0) return;
  char *meta = blob_metadata_from_headers(c);
  if (!meta) return;
  char *set = sqlite3_mprintf("metadata=%Q", meta);
  free(meta);
  container_update(c, set);
  sqlite3_free(set);
}

/* ---- ACL ----------------------------------------------------------------------- */

/* Reformats an ISO 8601 time as Azure echoes it (7 fractional digits), or keeps it. */
static char *acl_time(const char *s) {
  if (!s || !*s) return strdup("");
  int64_t ms = clock_parse_iso8601(s);
  if (ms < 0) return NULL;
  char out[40];
  clock_iso8601(ms, out);
  return strdup(out);
}

/* Parses <SignedIdentifiers> into the JSON array we store; NULL (request failed) on error. */
static json_t *acl_parse(blob_ctx *c, const char *xml, size_t len) {
  json_t *arr = json_array();
  if (len == 0) return arr;
  char xerr[128];
  xmlr_node *root = xmlr_parse(xml, len, xerr, sizeof xerr);
  if (!root || strcmp(root->name, "SignedIdentifiers") != 0) {
    xmlr_free(root);
    json_decref(arr);
    http_fail(c->r, STORAGE_ERR_INVALID_XML_DOCUMENT, "XML specified is not syntactically valid.");
    return NULL;
  }
  for (const xmlr_node *si = xmlr_child(root, "SignedIdentifier"); si;
       si = xmlr_next(si, "SignedIdentifier")) {
    const char *id = xmlr_child_text(si, "Id");
    const xmlr_node *ap = xmlr_child(si, "AccessPolicy");
    char *start = acl_time(ap ? xmlr_child_text(ap, "Start") : NULL);
    char *expiry = acl_time(ap ? xmlr_child_text(ap, "Expiry") : NULL);
    const char *perm = ap ? xmlr_child_text(ap, "Permission") : NULL;
    if (!id || !*id || strlen(id) > 64 || !start || !expiry) {
      free(start);
      free(expiry);
      xmlr_free(root);
      json_decref(arr);
      http_fail(c->r, STORAGE_ERR_INVALID_XML_NODE_VALUE,
                "The value for one of the XML nodes is not in the correct format.");
      return NULL;
    }
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "id", id, "start", start, "expiry",
                                         expiry, "permission", perm ? perm : ""));
    free(start);
    free(expiry);
  }
  xmlr_free(root);
  if (json_array_size(arr) > MAX_POLICIES) {
    json_decref(arr);
    http_fail(c->r, STORAGE_ERR_INVALID_XML_DOCUMENT, "XML specified is not syntactically valid.");
    return NULL;
  }
  return arr;
}

void blob_container_set_acl(blob_ctx *c) {
  const char *pa;
  if (read_public_access(c, &pa) != 0) return;
  size_t len = 0;
  char *body = http_body_read_all(c->r, 64 * 1024, &len);
  if (!body) return;
  json_t *acl = acl_parse(c, body, len);
  free(body);
  if (!acl) return;
  char *acl_s = json_dumps(acl, JSON_COMPACT);
  json_decref(acl);
  char *set = sqlite3_mprintf("acl=%Q, public_access=%Q", acl_s, pa);
  free(acl_s);
  container_update(c, set);
  sqlite3_free(set);
}

void blob_container_get_acl(blob_ctx *c) {
  blob_container_row ct;
  if (load_or_fail(c, &ct) != 0 || blob_container_lease_check(c, &ct.lease, 0) != 0) return;
  blob_set_etag_lm(c, ct.etag, ct.last_modified_ms);
  if (ct.public_access[0]) http_set_header(c->r, "x-ms-blob-public-access", ct.public_access);
  json_t *acl = json_loads(ct.acl, 0, NULL);
  xmlw w_;
  xmlw_init(&w_);
  xmlw_prolog(&w_);
  xmlw *w = &w_;
  xmlw_open(w, "SignedIdentifiers");
  size_t i;
  json_t *e;
  json_array_foreach(acl, i, e) {
    xmlw_open(w, "SignedIdentifier");
    xmlw_elem(w, "Id", json_string_value(json_object_get(e, "id")));
    xmlw_open(w, "AccessPolicy");
    const char *start = json_string_value(json_object_get(e, "start"));
    const char *expiry = json_string_value(json_object_get(e, "expiry"));
    const char *perm = json_string_value(json_object_get(e, "permission"));
    if (start && *start) xmlw_elem(w, "Start", start);
    if (expiry && *expiry) xmlw_elem(w, "Expiry", expiry);
    if (perm && *perm) xmlw_elem(w, "Permission", perm);
    xmlw_close(w);
    xmlw_close(w);
  }
  xmlw_close(w);
  json_decref(acl);
  blob_reply_xml(c, w);
}

/* For other providers (storage.h): a container made as Create Container
 * makes one, private and without metadata, when it is not there yet. */
int storage_container_ensure(srv *s, const char *account, const char *container) {
  int64_t now = clock_now_ms(s);
  char etag[24];
  blob_etag_new(s, now, etag);
  return store_exec(s,
                    "INSERT INTO blob_containers(account,name,etag,last_modified_ms,created_ms)"
                    " SELECT %Q,%Q,%Q,%lld,%lld WHERE EXISTS(SELECT 1 FROM storage_accounts"
                    " WHERE name=%Q) ON CONFLICT DO NOTHING",
                    account, container, etag, (long long)now, (long long)now, account);
}
