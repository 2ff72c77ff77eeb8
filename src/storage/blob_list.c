/* blob_list.c: List Blobs, flat and hierarchical (delimiter -> BlobPrefix),
 * with paging by marker and include=metadata,uncommittedblobs,snapshots,copy,
 * tags,versions,deleted.
 *
 * Names are walked in byte order straight off the (container_id, name,
 * snapshot) index.  With a delimiter, once a BlobPrefix is emitted the walk
 * jumps past every name under it, so a directory of a million blobs costs one
 * seek, not a million rows.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/xml.h"
#include "blob.h"
#include "mgmt.h"

enum {
  INC_METADATA = 1,
  INC_UNCOMMITTED = 2,
  INC_SNAPSHOTS = 4,
  INC_COPY = 8,
  INC_TAGS = 16,
  INC_VERSIONS = 32,
  INC_DELETED = 64,
};

/* Parses include=a,b,c; -1 on a value Azure does not know. */
static int parse_include(const char *s, int *out) {
  static const struct {
    const char *name;
    int bit;
  } known[] = {
      {"metadata", INC_METADATA},
      {"uncommittedblobs", INC_UNCOMMITTED},
      {"snapshots", INC_SNAPSHOTS},
      {"copy", INC_COPY},
      {"tags", INC_TAGS},
      {"versions", INC_VERSIONS},
      {"deleted", INC_DELETED},
      {"deletedwithversions", INC_DELETED},
      /* Accepted; azlite keeps no immutability policies or ACLs yet. */
      {"immutabilitypolicy", 0},
      {"legalhold", 0},
      {"permissions", 0},
  };
  *out = 0;
  if (!s) return 0;
  while (*s) {
    size_t n = strcspn(s, ",");
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
      if (strlen(known[i].name) == n && strncasecmp(s, known[i].name, n) == 0) {
        *out |= known[i].bit;
        ok = 1;
      }
    if (!ok && n > 0) return -1;
    s += n;
    if (*s == ',') s++;
  }
  return 0;
}

/* maxresults: absent -> 5000; must be a positive integer; capped at 5000. */
int blob_read_maxresults(blob_ctx *c, int *out) {
  const char *m = http_query_get(c->r, "maxresults");
  *out = BLOB_LIST_MAX;
  if (!m) return 0;
  char *end;
  long long v = strtoll(m, &end, 10);
  if (!*m || *end) {
    blob_fail_query(c, "maxresults", m);
    return -1;
  }
  if (v <= 0) {
    http_fail(c->r, STORAGE_ERR_OUT_OF_RANGE_QUERY_PARAMETER_VALUE,
              "One of the query parameters specified in the request URI is outside the "
              "permissible range.");
    http_fail_detail(c->r, "QueryParameterName", "maxresults");
    http_fail_detail(c->r, "QueryParameterValue", m);
    http_fail_detail(c->r, "MinimumAllowed", "1");
    return -1;
  }
  *out = v > BLOB_LIST_MAX ? BLOB_LIST_MAX : (int)v;
  return 0;
}

char *blob_prefix_upper(const char *prefix) {
  size_t n = strlen(prefix);
  if (n == 0) return NULL;
  char *u = strdup(prefix);
  /* The least string greater than every string that starts with prefix. */
  while (n > 0 && (unsigned char)u[n - 1] == 0xFF)
    n--;
  if (n == 0) {
    free(u);
    return NULL;
  }
  u[n - 1] = (char)((unsigned char)u[n - 1] + 1);
  u[n] = 0;
  return u;
}

/* Does a name need <Name Encoded="true">: a character XML 1.0 cannot carry? */
static int name_needs_encoding(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p < 0x20 && *p != '\t') return 1;
    if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) return 1;
  }
  return 0;
}

static void name_elem(blob_ctx *c, xmlw *w, const char *name) {
  if (name_needs_encoding(name)) {
    xmlw_open(w, "Name");
    xmlw_attr(w, "Encoded", "true");
    xmlw_text(w, http_url_encode(c->r, name, 1));
    xmlw_close(w);
  } else {
    xmlw_elem(w, "Name", name);
  }
}

static void date_elem(xmlw *w, const char *name, int64_t ms) {
  char d[32];
  http_date(ms, d);
  xmlw_elem(w, name, d);
}

void blob_metadata_xml(xmlw *w, const char *metadata_json) {
  json_t *m = json_loads(metadata_json ? metadata_json : "{}", 0, NULL);
  xmlw_open(w, "Metadata");
  const char *k;
  json_t *v;
  json_object_foreach(m, k, v) xmlw_elem(w, k, json_string_value(v));
  xmlw_close(w);
  json_decref(m);
}

static void blob_xml(blob_ctx *c, xmlw *w, const blob_row *b, int include) {
  xmlw_open(w, "Blob");
  name_elem(c, w, b->name);
  if (b->deleted_ms) xmlw_elem(w, "Deleted", "true");
  /* The other keys (blob_version.c) are no snapshot times. */
  if (b->snapshot[0] && b->snapshot[0] != '@' && b->snapshot[0] != '~')
    xmlw_elem(w, "Snapshot", b->snapshot);
  if (b->version_id) {
    xmlw_elem(w, "VersionId", b->version_id);
    if (!b->snapshot[0]) xmlw_elem(w, "IsCurrentVersion", "true");
  }
  xmlw_open(w, "Properties");
  date_elem(w, "Creation-Time", b->created_ms);
  date_elem(w, "Last-Modified", b->last_modified_ms);
  xmlw_elem(w, "Etag", b->etag);
  xmlw_elemf(w, "Content-Length", "%lld", (long long)b->size);
  xmlw_elem(w, "Content-Type", b->content_type ? b->content_type : "");
  xmlw_elem(w, "Content-Encoding", b->content_encoding ? b->content_encoding : "");
  xmlw_elem(w, "Content-Language", b->content_language ? b->content_language : "");
  xmlw_elem(w, "Content-CRC64", "");
  xmlw_elem(w, "Content-MD5", b->content_md5 ? b->content_md5 : "");
  xmlw_elem(w, "Content-Disposition", b->content_disposition ? b->content_disposition : "");
  xmlw_elem(w, "Cache-Control", b->cache_control ? b->cache_control : "");
  if (strcmp(b->type, "PageBlob") == 0)
    xmlw_elemf(w, "x-ms-blob-sequence-number", "%lld", (long long)b->seq_number);
  xmlw_elem(w, "BlobType", b->type);
  if (strcmp(b->type, "BlockBlob") == 0 || b->tier) {
    xmlw_elem(w, "AccessTier", b->tier ? b->tier : storage_tier_account_default(c));
    if (!b->tier) xmlw_elem(w, "AccessTierInferred", "true");
    if (b->archive_status) xmlw_elem(w, "ArchiveStatus", b->archive_status);
  }
  const char *state = blob_lease_state_now(&b->lease, c->now_ms);
  int locked = strcmp(state, "leased") == 0 || strcmp(state, "breaking") == 0;
  xmlw_elem(w, "LeaseStatus", locked ? "locked" : "unlocked");
  xmlw_elem(w, "LeaseState", state);
  if (strcmp(state, "leased") == 0)
    xmlw_elem(w, "LeaseDuration", b->lease.duration_s < 0 ? "infinite" : "fixed");
  if ((include & INC_COPY) && b->copy_id) {
    xmlw_elem(w, "CopyId", b->copy_id);
    if (b->copy_status) xmlw_elem(w, "CopyStatus", b->copy_status);
    if (b->copy_source) xmlw_elem(w, "CopySource", b->copy_source);
    if (b->copy_progress) xmlw_elem(w, "CopyProgress", b->copy_progress);
    if (b->copy_completion_ms) date_elem(w, "CopyCompletionTime", b->copy_completion_ms);
    if (b->copy_status_description)
      xmlw_elem(w, "CopyStatusDescription", b->copy_status_description);
  }
  xmlw_elem(w, "ServerEncrypted", "true");
  if (b->tier) date_elem(w, "AccessTierChangeTime", b->tier_change_ms);
  if (b->tag_count > 0) xmlw_elemf(w, "TagCount", "%d", b->tag_count);
  if (strcmp(b->type, "AppendBlob") == 0) xmlw_elem(w, "Sealed", b->sealed ? "true" : "false");
  if (b->archive_status && b->rehydrate_priority)
    xmlw_elem(w, "RehydratePriority", b->rehydrate_priority);
  if (b->last_access_ms) date_elem(w, "LastAccessTime", b->last_access_ms);
  if (b->deleted_ms) {
    date_elem(w, "DeletedTime", b->deleted_ms);
    int64_t left = b->purge_ms - c->now_ms;
    xmlw_elemf(w, "RemainingRetentionDays", "%lld",
               (long long)(left > 0 ? (left + 86399999) / 86400000 : 0));
  }
  xmlw_close(w);
  if (include & INC_METADATA) blob_metadata_xml(w, b->metadata);
  if ((include & INC_TAGS) && b->tag_count > 0) {
    blob_tagset tags;
    if (blob_tags_load(c, b->id, &tags) == 0) blob_tags_xml(w, &tags);
  }
  xmlw_close(w);
}

/* A name with staged blocks only (include=uncommittedblobs). */
static void uncommitted_xml(blob_ctx *c, xmlw *w, const char *name, int64_t created_ms,
                            int include) {
  xmlw_open(w, "Blob");
  name_elem(c, w, name);
  xmlw_open(w, "Properties");
  date_elem(w, "Creation-Time", created_ms);
  date_elem(w, "Last-Modified", created_ms);
  xmlw_elem(w, "Etag", "");
  xmlw_elem(w, "Content-Length", "0");
  xmlw_elem(w, "BlobType", "BlockBlob");
  xmlw_elem(w, "LeaseStatus", "unlocked");
  xmlw_elem(w, "LeaseState", "available");
  xmlw_elem(w, "ServerEncrypted", "true");
  xmlw_close(w);
  if (include & INC_METADATA) xmlw_elem(w, "Metadata", NULL);
  xmlw_close(w);
}

/* One page of the walk: the names at or after cursor, before upper. */
static sqlite3_stmt *page_query(blob_ctx *c, int64_t container_id, const char *cursor,
                                const char *cursor_snap, const char *upper, int include,
                                int limit) {
  sqlite3_stmt *q;
  char *sql =
      sqlite3_mprintf("SELECT name, snapshot, unc, created FROM ("
                      " SELECT name, snapshot, 0 AS unc, created_ms AS created FROM blobs"
                      "  WHERE container_id=?1 AND name>=?2 AND (name>?2 OR snapshot>=?5)"
                      "  AND (?3 IS NULL OR name<?3)"
                      "  AND (snapshot='' OR (%d AND snapshot GLOB '@*') OR"
                      "   (%d AND snapshot GLOB '~*') OR (%d AND snapshot NOT GLOB '[@~]*'))"
                      "  AND (deleted_ms IS NULL OR %d)"
                      " %s) ORDER BY name, snapshot LIMIT ?4",
                      !!(include & INC_VERSIONS), !!(include & INC_DELETED),
                      !!(include & INC_SNAPSHOTS), !!(include & INC_DELETED),
                      include & INC_UNCOMMITTED
                          ? "UNION ALL SELECT blob_name, '', 1, min(created_ms) FROM blob_blocks bb"
                            "  WHERE container_id=?1 AND blob_name>=?2 AND (blob_name>?2 OR ''>=?5)"
                            "  AND (?3 IS NULL OR blob_name<?3)"
                            "  AND NOT EXISTS(SELECT 1 FROM blobs WHERE container_id=?1"
                            "   AND name=bb.blob_name AND snapshot='') GROUP BY blob_name"
                          : "");
  int rc = store_prepare(store_db(c->s), sql, -1, &q, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) return NULL;
  sqlite3_bind_int64(q, 1, container_id);
  sqlite3_bind_text(q, 2, cursor, -1, SQLITE_TRANSIENT);
  if (upper)
    sqlite3_bind_text(q, 3, upper, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(q, 3);
  sqlite3_bind_int(q, 4, limit);
  sqlite3_bind_text(q, 5, cursor_snap, -1, SQLITE_TRANSIENT);
  return q;
}

void blob_list_blobs(blob_ctx *c) {
  http_req *r = c->r;
  const char *prefix = http_query_get(r, "prefix");
  const char *delim = http_query_get(r, "delimiter");
  const char *marker = http_query_get(r, "marker");
  int include, max;
  if (parse_include(http_query_get(r, "include"), &include) != 0) {
    blob_fail_query(c, "include", http_query_get(r, "include"));
    return;
  }
  if (blob_read_maxresults(c, &max) != 0) return;
  if (delim && !*delim) delim = NULL;
  const char *pfx = prefix ? prefix : "";
  blob_container_row ct;
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return;
  }
  if (blob_need_container(c, &ct) != 0) {
    blob_read_end(c);
    return;
  }
  xmlw w_;
  xmlw_init(&w_);
  xmlw_prolog(&w_);
  xmlw *w = &w_;
  xmlw_open(w, "EnumerationResults");
  xmlw_attr(w, "ServiceEndpoint", c->endpoint);
  xmlw_attr(w, "ContainerName", c->container);
  if (prefix) xmlw_elem(w, "Prefix", prefix);
  if (marker) xmlw_elem(w, "Marker", marker);
  if (http_query_get(r, "maxresults")) xmlw_elemf(w, "MaxResults", "%d", max);
  if (delim) xmlw_elem(w, "Delimiter", delim);
  xmlw_open(w, "Blobs");

  char *upper = blob_prefix_upper(pfx);
  /* The walk's position: names >= cursor, and for the name == cursor itself only
   * snapshots >= cursor_snap (markers are "name" or "name\nsnapshot"). */
  char *cursor, *cursor_snap;
  const char *nl = marker ? strrchr(marker, '\n') : NULL;
  if (nl) {
    cursor = strndup(marker, (size_t)(nl - marker));
    cursor_snap = strdup(nl + 1);
  } else {
    cursor = strdup(marker ? marker : "");
    cursor_snap = strdup("");
  }
  if (strcmp(cursor, pfx) < 0) {
    free(cursor);
    free(cursor_snap);
    cursor = strdup(pfx);
    cursor_snap = strdup("");
  }
  char *next_marker = NULL;
  int count = 0, done = 0, failed = 0;
  size_t dlen = delim ? strlen(delim) : 0;
  while (!done && !failed) {
    sqlite3_stmt *q = page_query(c, ct.id, cursor, cursor_snap, upper, include, 256);
    if (!q) {
      failed = 1;
      break;
    }
    int rows = 0, jumped = 0;
    char *last = NULL, *last_snap = NULL;
    while (!jumped && sqlite3_step(q) == SQLITE_ROW) {
      rows++;
      const char *name = (const char *)sqlite3_column_text(q, 0);
      const char *snap = (const char *)sqlite3_column_text(q, 1);
      const char *hit = delim ? strstr(name + strlen(pfx), delim) : NULL;
      if (count == max) {
        if (snap[0] && !hit) {
          if (asprintf(&next_marker, "%s\n%s", name, snap) < 0) abort();
        } else {
          next_marker = strdup(name);
        }
        done = 1;
        break;
      }
      if (hit) {
        /* Everything under this prefix collapses into one BlobPrefix. */
        size_t n = (size_t)(hit - name) + dlen;
        char *bp = strndup(name, n);
        xmlw_open(w, "BlobPrefix");
        name_elem(c, w, bp);
        xmlw_close(w);
        count++;
        char *skip = blob_prefix_upper(bp);
        free(bp);
        free(cursor);
        free(cursor_snap);
        cursor = skip;
        cursor_snap = strdup("");
        jumped = 1;
        if (!skip || (upper && strcmp(skip, upper) >= 0)) done = 1;
        continue;
      }
      if (sqlite3_column_int(q, 2)) {
        uncommitted_xml(c, w, name, sqlite3_column_int64(q, 3), include);
      } else {
        blob_row b;
        if (blob_row_load(c, ct.id, name, snap, &b) != 1) {
          failed = 1;
          break;
        }
        blob_xml(c, w, &b, include);
      }
      count++;
      free(last);
      free(last_snap);
      last = strdup(name);
      last_snap = strdup(snap);
    }
    store_finalize(q);
    if (!jumped && !done && !failed) {
      if (rows < 256) {
        done = 1; /* a short page: the walk reached the end */
      } else {
        /* Go on just after the last row: same name, a greater snapshot. */
        free(cursor);
        free(cursor_snap);
        cursor = last;
        if (asprintf(&cursor_snap, "%s\x01", last_snap) < 0) abort();
        last = NULL;
      }
    }
    free(last);
    free(last_snap);
  }
  blob_read_end(c);
  free(cursor);
  free(cursor_snap);
  free(upper);
  if (failed) {
    free(next_marker);
    xmlw_free(w);
    blob_fail_internal(c, "listing blobs");
    return;
  }
  xmlw_close(w);
  xmlw_elem(w, "NextMarker", next_marker ? next_marker : "");
  xmlw_close(w);
  free(next_marker);
  blob_reply_xml(c, w);
}
