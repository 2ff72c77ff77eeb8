/* blob_version.c: blob versions and soft delete, the data protection Azure
 * turns on through the blob service properties (isVersioningEnabled,
 * deleteRetentionPolicy, containerDeleteRetentionPolicy).
 *
 * Every row of a blob name lives in blobs, keyed by the snapshot column:
 *   ''               the base blob; version_id is its current version (NULL when
 *                    it was written while versioning was off)
 *   <time>           a snapshot
 *   '@'<versionId>   a previous version
 *   '~'<time>        a soft-deleted base blob (deleted_ms set)
 * A soft-deleted snapshot or version keeps its key and has deleted_ms set.
 * Keeping a version or a deleted blob copies rows (the blob, its extents, its
 * tags) inside the write's own transaction: no byte moves, and a crash leaves
 * either the old state or the new one.  The scheduler purges what passed its
 * retention (purge_ms, fixed when it was deleted) on azlite's clock.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"
#include "mgmt.h"

#define DAY_MS (24LL * 3600 * 1000)

/* ---- the account's settings ---------------------------------------------------- */

static int policy_days(json_t *p, const char *enabled_key, const char *days_key) {
  json_t *en = json_object_get(p, enabled_key);
  int on = json_is_true(en) || (json_is_string(en) && !strcasecmp(json_string_value(en), "true"));
  if (!on) return 0;
  json_t *d = json_object_get(p, days_key);
  int days = json_is_integer(d)  ? (int)json_integer_value(d)
             : json_is_string(d) ? atoi(json_string_value(d))
                                 : 7;
  return days > 0 ? days : 7;
}

static json_t *props_of(srv *s, const char *sql, const char *account) {
  sqlite3_stmt *q;
  json_t *p = NULL;
  if (store_prepare(store_db(s), sql, -1, &q, NULL) != SQLITE_OK) return NULL;
  sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    p = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
  store_finalize(q);
  return p;
}

int blob_protection_read(srv *s, const char *account, blob_protection *out) {
  memset(out, 0, sizeof *out);
  /* Resource Manager's blobServices/default properties. */
  json_t *arm = props_of(s, "SELECT props FROM storage_blob_services WHERE account=?", account);
  json_t *drp = json_object_get(arm, "deleteRetentionPolicy");
  out->versioning = json_is_true(json_object_get(arm, "isVersioningEnabled"));
  out->blob_days = policy_days(drp, "enabled", "days");
  out->container_days =
      policy_days(json_object_get(arm, "containerDeleteRetentionPolicy"), "enabled", "days");
  /* Set Blob Service Properties' DeleteRetentionPolicy is the same setting on
   * the data plane (the emulator accounts have no ARM side). */
  out->blob_days_arm = drp != NULL;
  if (!drp) {
    json_t *dp = props_of(s, "SELECT props FROM blob_service_props WHERE account=?", account);
    out->blob_days = policy_days(json_object_get(dp, "DeleteRetentionPolicy"), "Enabled", "Days");
    json_decref(dp);
  }
  json_decref(arm);
  return 0;
}

const blob_protection *blob_protection_of(blob_ctx *c) {
  if (!c->protection_loaded) {
    blob_protection_read(c->s, c->account, &c->protection);
    c->protection_loaded = 1;
  }
  return &c->protection;
}

/* ---- keys ----------------------------------------------------------------------- */

int blob_unique_time(srv *s, int64_t container_id, const char *name, const char *prefix, int64_t ms,
                     char out[48]) {
  char iso[40];
  clock_iso8601(ms, iso);
  size_t pl = strlen(prefix);
  snprintf(out, 48, "%s%s", prefix, iso);
  /* The clock has milliseconds, Azure's times 100 ns ticks: two keys in one
   * millisecond take the next free ticks. */
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT max(snapshot) FROM blobs WHERE container_id=? AND name=?"
                    " AND snapshot>=? AND snapshot<?",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  char hi[48];
  memcpy(hi, out, 48);
  hi[pl + 23] = '9' + 1; /* past every tick of this millisecond */
  sqlite3_bind_int64(q, 1, container_id);
  sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, out, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, hi, (int)pl + 24, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  const char *last = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
  if (last && strlen(last) == pl + 28) {
    int ticks = atoi(last + pl + 20); /* the 7 fractional digits */
    if (ticks % 10000 == 9999) {
      store_finalize(q);
      return -1;
    }
    char frac[16];
    snprintf(frac, sizeof frac, "%07dZ", (ticks + 1) % 10000000);
    memcpy(out + pl + 20, frac, 9);
  }
  store_finalize(q);
  return rc == SQLITE_ROW ? 0 : -1;
}

/* Copies row src_id (with its extents and tags) to a new row of the same name
 * keyed `key`, with version_id and the deletion times given; 0 ok. */
static int copy_row(blob_ctx *c, int64_t src_id, const char *key, const char *version_id,
                    int64_t deleted_ms, int64_t purge_ms) {
  char del[24] = "NULL", purge[24] = "NULL";
  if (deleted_ms) snprintf(del, sizeof del, "%lld", (long long)deleted_ms);
  if (purge_ms) snprintf(purge, sizeof purge, "%lld", (long long)purge_ms);
  if (store_exec(c->s,
                 "INSERT INTO blobs(container_id, name, snapshot, version_id, type, size, etag,"
                 " last_modified_ms, created_ms, content_type, content_encoding, content_language,"
                 " content_md5, content_disposition, cache_control, metadata, tier, tier_change_ms,"
                 " archive_status, rehydrate_priority, rehydrate_done_ms,"
                 " seq_number, committed_blocks, sealed, copy_id, copy_status, copy_source,"
                 " copy_progress, copy_completion_ms, copy_status_description, last_access_ms,"
                 " deleted_ms, purge_ms)"
                 " SELECT container_id, name, %Q, %Q, type, size, etag, last_modified_ms,"
                 " created_ms, content_type, content_encoding, content_language, content_md5,"
                 " content_disposition, cache_control, metadata, tier, tier_change_ms,"
                 " archive_status, rehydrate_priority, rehydrate_done_ms,"
                 " seq_number, committed_blocks, sealed, copy_id, copy_status,"
                 " copy_source, copy_progress, copy_completion_ms, copy_status_description,"
                 " last_access_ms, %s, %s FROM blobs WHERE id=%lld",
                 key, version_id, del, purge, (long long)src_id) != 0)
    return -1;
  long long id = (long long)sqlite3_last_insert_rowid(store_db(c->s));
  return store_exec(c->s,
                    "INSERT INTO blob_extents(blob_id, pos, len, file_id, file_off, block_id)"
                    " SELECT %lld, pos, len, file_id, file_off, block_id FROM blob_extents"
                    " WHERE blob_id=%lld;"
                    "INSERT INTO blob_tags(blob_id, key, value)"
                    " SELECT %lld, key, value FROM blob_tags WHERE blob_id=%lld",
                    id, (long long)src_id, id, (long long)src_id);
}

/* The version id a base blob is known by: its own, or (written before
 * versioning was on) one made from its last modification. */
static int version_of(blob_ctx *c, const blob_row *b, char out[48]) {
  if (b->version_id && b->version_id[0]) {
    snprintf(out, 48, "%s", b->version_id);
    return 0;
  }
  char key[48];
  if (blob_unique_time(c->s, b->container_id, b->name, "@", b->last_modified_ms, key) != 0)
    return -1;
  snprintf(out, 48, "%s", key + 1);
  return 0;
}

/* ---- what a write keeps --------------------------------------------------------- */

int blob_protect_before_write(blob_ctx *c, const blob_row *old) {
  if (!old) return 0;
  const blob_protection *p = blob_protection_of(c);
  if (p->versioning) {
    char vid[48], key[56];
    if (version_of(c, old, vid) != 0) return -1;
    snprintf(key, sizeof key, "@%s", vid);
    return copy_row(c, old->id, key, vid, 0, 0);
  }
  if (p->blob_days > 0) {
    /* Without versions, Azure keeps what an overwrite replaced as a
     * soft-deleted snapshot. */
    char key[48];
    if (blob_unique_time(c->s, old->container_id, old->name, "", c->now_ms, key) != 0) return -1;
    return copy_row(c, old->id, key, NULL, c->now_ms, c->now_ms + p->blob_days * DAY_MS);
  }
  return 0;
}

int blob_version_after_write(blob_ctx *c, int64_t container_id, const char *name, int64_t blob_id) {
  if (!blob_protection_of(c)->versioning)
    return store_exec(c->s, "UPDATE blobs SET version_id=NULL WHERE id=%lld", (long long)blob_id);
  char key[48];
  if (blob_unique_time(c->s, container_id, name, "@", c->now_ms, key) != 0) return -1;
  if (store_exec(c->s, "UPDATE blobs SET version_id=%Q WHERE id=%lld", key + 1,
                 (long long)blob_id) != 0)
    return -1;
  c->version_id = http_strdup(c->r, key + 1);
  return 0;
}

/* ---- Delete Blob with versions or soft delete ------------------------------------ */

int blob_soft_delete(blob_ctx *c, const blob_row *b, int with_snapshots, int only_snapshots) {
  const blob_protection *p = blob_protection_of(c);
  int64_t purge = c->now_ms + p->blob_days * DAY_MS;
  if (p->blob_days > 0 && (with_snapshots || only_snapshots)) {
    if (store_exec(c->s,
                   "UPDATE blobs SET deleted_ms=%lld, purge_ms=%lld WHERE container_id=%lld"
                   " AND name=%Q AND " BLOB_SQL_IS_SNAPSHOT " AND deleted_ms IS NULL",
                   (long long)c->now_ms, (long long)purge, (long long)b->container_id,
                   b->name) != 0)
      return -1;
  }
  if (only_snapshots) return 0;
  if (p->versioning) {
    /* The current version becomes a previous one; no base blob remains. */
    char vid[48], key[56];
    if (version_of(c, b, vid) != 0) return -1;
    snprintf(key, sizeof key, "@%s", vid);
    return store_exec(c->s, "UPDATE blobs SET snapshot=%Q, version_id=%Q WHERE id=%lld", key, vid,
                      (long long)b->id);
  }
  char key[48];
  if (blob_unique_time(c->s, b->container_id, b->name, "~", c->now_ms, key) != 0) return -1;
  return store_exec(c->s,
                    "UPDATE blobs SET snapshot=%Q, deleted_ms=%lld, purge_ms=%lld WHERE id=%lld",
                    key, (long long)c->now_ms, (long long)purge, (long long)b->id);
}

int blob_version_soft_delete(blob_ctx *c, const blob_row *b) {
  const blob_protection *p = blob_protection_of(c);
  if (p->blob_days <= 0) return 0;
  return store_exec(c->s, "UPDATE blobs SET deleted_ms=%lld, purge_ms=%lld WHERE id=%lld",
                    (long long)c->now_ms, (long long)(c->now_ms + p->blob_days * DAY_MS),
                    (long long)b->id) == 0
             ? 1
             : -1;
}

int blob_lifecycle_delete(srv *s, const char *account, int64_t blob_id, int64_t now_ms) {
  blob_protection p;
  blob_protection_read(s, account, &p);
  if (!p.versioning && p.blob_days <= 0) return 0;
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT container_id, name, snapshot, version_id, last_modified_ms FROM blobs"
                    " WHERE id=?",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, blob_id);
  if (sqlite3_step(q) != SQLITE_ROW) {
    store_finalize(q);
    return -1;
  }
  int64_t ct = sqlite3_column_int64(q, 0), lm = sqlite3_column_int64(q, 4);
  char *name = strdup((const char *)sqlite3_column_text(q, 1));
  int base = !*(const char *)sqlite3_column_text(q, 2);
  const char *v = (const char *)sqlite3_column_text(q, 3);
  char vid[56] = "";
  if (v) snprintf(vid, sizeof vid, "%s", v);
  store_finalize(q);
  int64_t purge = now_ms + p.blob_days * DAY_MS;
  char key[56];
  int rc = 0;
  if (base && p.versioning) {
    /* As Delete Blob does: the current version becomes a previous one. */
    if (!vid[0]) {
      rc = blob_unique_time(s, ct, name, "@", lm, key);
      if (rc == 0) snprintf(vid, sizeof vid, "%s", key + 1);
    }
    snprintf(key, sizeof key, "@%s", vid);
    if (rc == 0)
      rc = store_exec(s, "UPDATE blobs SET snapshot=%Q, version_id=%Q WHERE id=%lld", key, vid,
                      (long long)blob_id);
  } else if (p.blob_days <= 0) {
    rc = 1; /* a previous version or snapshot, no soft delete: the caller drops it */
  } else if (base) {
    rc = blob_unique_time(s, ct, name, "~", now_ms, key);
    if (rc == 0)
      rc = store_exec(s,
                      "UPDATE blobs SET snapshot=%Q, deleted_ms=%lld, purge_ms=%lld WHERE id=%lld",
                      key, (long long)now_ms, (long long)purge, (long long)blob_id);
  } else {
    rc = store_exec(s, "UPDATE blobs SET deleted_ms=%lld, purge_ms=%lld WHERE id=%lld",
                    (long long)now_ms, (long long)purge, (long long)blob_id);
  }
  free(name);
  return rc < 0 ? -1 : rc == 1 ? 0 : rc == 0 ? 1 : -1;
}

/* ---- Undelete Blob --------------------------------------------------------------- */

void blob_undelete_blob(blob_ctx *c) {
  blob_container_row ct;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0) goto fail;
  /* What is past its retention is gone, even before the next purge. */
  sqlite3_stmt *q;
  int found = 0, live_base = 0;
  if (store_prepare(store_db(c->s),
                    "SELECT count(*), (SELECT count(*) FROM blobs WHERE container_id=?1 AND"
                    " name=?2 AND snapshot='') FROM blobs WHERE container_id=?1 AND name=?2"
                    " AND deleted_ms IS NOT NULL AND purge_ms>?3",
                    -1, &q, NULL) != SQLITE_OK)
    goto fail_internal;
  sqlite3_bind_int64(q, 1, ct.id);
  sqlite3_bind_text(q, 2, c->blob, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, c->now_ms);
  if (sqlite3_step(q) == SQLITE_ROW) {
    found = sqlite3_column_int(q, 0);
    live_base = sqlite3_column_int(q, 1);
  }
  store_finalize(q);
  if (!found && !live_base) {
    blob_fail_blob_not_found(c);
    goto fail;
  }
  /* Snapshots and versions come back as they were; the latest deleted base blob
   * comes back unless a blob stands at the name again. */
  if (store_exec(c->s,
                 "UPDATE blobs SET deleted_ms=NULL, purge_ms=NULL WHERE container_id=%lld AND"
                 " name=%Q AND deleted_ms IS NOT NULL AND purge_ms>%lld AND snapshot NOT GLOB '~*'",
                 (long long)ct.id, c->blob, (long long)c->now_ms) != 0)
    goto fail_internal;
  if (!live_base &&
      store_exec(c->s,
                 "UPDATE blobs SET snapshot='', deleted_ms=NULL, purge_ms=NULL WHERE id=(SELECT id"
                 " FROM blobs WHERE container_id=%lld AND name=%Q AND snapshot GLOB '~*' AND"
                 " purge_ms>%lld ORDER BY snapshot DESC LIMIT 1)",
                 (long long)ct.id, c->blob, (long long)c->now_ms) != 0)
    goto fail_internal;
  if (store_commit(c->s) != 0) goto fail_internal;
  http_reply_empty(c->r, 200);
  return;
fail_internal:
  blob_fail_internal(c, "undeleting the blob");
fail:
  store_rollback(c->s);
}

/* ---- containers ------------------------------------------------------------------ */

int blob_container_soft_delete(blob_ctx *c, const blob_container_row *ct) {
  const blob_protection *p = blob_protection_of(c);
  if (p->container_days <= 0) return 0;
  /* The deleted container's version: Azure's is a hex time, unique per name. */
  char version[32];
  snprintf(version, sizeof version, "%016llX",
           (unsigned long long)c->now_ms * 10000ULL + (unsigned long long)(ct->id % 10000));
  if (store_exec(c->s,
                 "UPDATE blob_containers SET name='~'||%Q||'/'||name, deleted_name=name,"
                 " deleted_version=%Q, deleted_ms=%lld, purge_ms=%lld WHERE id=%lld",
                 version, version, (long long)c->now_ms,
                 (long long)(c->now_ms + p->container_days * DAY_MS), (long long)ct->id) != 0)
    return -1;
  return 1;
}

void blob_container_restore(blob_ctx *c) {
  http_req *r = c->r;
  const char *dn = http_header_get(r, "x-ms-deleted-container-name");
  const char *dv = http_header_get(r, "x-ms-deleted-container-version");
  if (!dn || !dv) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(r, "HeaderName",
                     !dn ? "x-ms-deleted-container-name" : "x-ms-deleted-container-version");
    return;
  }
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  blob_container_row live;
  int exists = blob_container_load(c, c->container, &live);
  if (exists < 0) goto fail_internal;
  if (exists) {
    http_fail(r, STORAGE_ERR_CONTAINER_ALREADY_EXISTS, "The specified container already exists.");
    goto fail;
  }
  sqlite3_stmt *q;
  int64_t id = 0;
  if (store_prepare(store_db(c->s),
                    "SELECT id FROM blob_containers WHERE account=? AND deleted_name=? AND"
                    " deleted_version=? AND purge_ms>?",
                    -1, &q, NULL) != SQLITE_OK)
    goto fail_internal;
  sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, dn, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, dv, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 4, c->now_ms);
  if (sqlite3_step(q) == SQLITE_ROW) id = sqlite3_column_int64(q, 0);
  store_finalize(q);
  if (!id) {
    http_fail(r, STORAGE_ERR_CONTAINER_NOT_FOUND, "The specified container does not exist.");
    goto fail;
  }
  char etag[24];
  blob_etag_new(c->s, c->now_ms, etag);
  if (store_exec(c->s,
                 "UPDATE blob_containers SET name=%Q, deleted_name=NULL, deleted_version=NULL,"
                 " deleted_ms=NULL, purge_ms=NULL, etag=%Q, last_modified_ms=%lld WHERE id=%lld",
                 c->container, etag, (long long)c->now_ms, (long long)id) != 0 ||
      store_commit(c->s) != 0)
    goto fail_internal;
  blob_set_etag_lm(c, etag, c->now_ms);
  http_reply_empty(r, 201);
  return;
fail_internal:
  blob_fail_internal(c, "restoring the container");
fail:
  store_rollback(c->s);
}

/* ---- the purge (scheduler) -------------------------------------------------------- */

void blob_soft_delete_purge(srv *s, int64_t now_ms) {
  blob_ids ids = {0};
  sqlite3_stmt *q;
  /* Most ticks have nothing to purge: look before taking the write lock. */
  int due = 0;
  if (store_prepare(store_db(s),
                    "SELECT EXISTS(SELECT 1 FROM blobs WHERE purge_ms<=?1) OR"
                    " EXISTS(SELECT 1 FROM blob_containers WHERE purge_ms<=?1)",
                    -1, &q, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int64(q, 1, now_ms);
  if (sqlite3_step(q) == SQLITE_ROW) due = sqlite3_column_int(q, 0);
  store_finalize(q);
  if (!due || store_begin(s) != 0) return;
  /* The data files of what goes: candidates once the rows are gone. */
  if (store_prepare(store_db(s),
                    "SELECT DISTINCT e.file_id FROM blob_extents e JOIN blobs b ON b.id=e.blob_id"
                    " WHERE b.purge_ms<=?1"
                    " UNION SELECT e.file_id FROM blob_extents e JOIN blobs b ON b.id=e.blob_id"
                    " JOIN blob_containers ct ON ct.id=b.container_id WHERE ct.purge_ms<=?1"
                    " UNION SELECT bb.file_id FROM blob_blocks bb JOIN blob_containers ct"
                    " ON ct.id=bb.container_id WHERE ct.purge_ms<=?1",
                    -1, &q, NULL) != SQLITE_OK) {
    store_rollback(s);
    return;
  }
  sqlite3_bind_int64(q, 1, now_ms);
  while (sqlite3_step(q) == SQLITE_ROW)
    blob_ids_add(&ids, sqlite3_column_int64(q, 0));
  store_finalize(q);
  if (store_exec(s,
                 "DELETE FROM blobs WHERE purge_ms<=%lld;"
                 "DELETE FROM blob_containers WHERE purge_ms<=%lld",
                 (long long)now_ms, (long long)now_ms) != 0 ||
      store_commit(s) != 0) {
    store_rollback(s);
    blob_ids_free(&ids);
    return;
  }
  blob_data_gc(s, &ids);
  blob_ids_free(&ids);
}
