/* blob_service.c: the account-level blob operations: List Containers,
 * Get/Set Blob Service Properties, Get Account Information.
 *
 * Service properties are kept as JSON, one member per top-level element of
 * <StorageServiceProperties>, converted generically (an element with children
 * becomes an object, a repeated child an array, a leaf a string), so that a
 * Set replaces exactly the elements it names, as Azure does, and the CORS
 * rules can be read back without XML.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/xml.h"
#include "../identity/identity.h"
#include "blob.h"

#define MAX_CORS_RULES 5

/* ---- List Containers ------------------------------------------------------------ */

void blob_service_list_containers(blob_ctx *c) {
  http_req *r = c->r;
  const char *prefix = http_query_get(r, "prefix");
  const char *marker = http_query_get(r, "marker");
  const char *include = http_query_get(r, "include");
  int max;
  if (blob_read_maxresults(c, &max) != 0) return;
  int with_meta = 0, with_deleted = 0;
  if (include) {
    for (const char *p = include; *p;) {
      size_t n = strcspn(p, ",");
      if (n == 8 && strncasecmp(p, "metadata", 8) == 0)
        with_meta = 1;
      else if (n == 7 && strncasecmp(p, "deleted", 7) == 0)
        with_deleted = 1;
      else if (!(n == 6 && strncasecmp(p, "system", 6) == 0)) {
        blob_fail_query(c, "include", include);
        return;
      }
      p += n;
      if (*p == ',') p++;
    }
  }
  const char *pfx = prefix ? prefix : "";
  const char *from = marker && strcmp(marker, pfx) > 0 ? marker : pfx;
  char *upper = blob_prefix_upper(pfx);
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    /* A soft-deleted container lists under its own name
                       (include=deleted), after a live one of that name. */
                    "SELECT coalesce(deleted_name, name) AS lname, etag, last_modified_ms,"
                    " metadata, public_access, lease_state, lease_duration_s, lease_expires_ms,"
                    " lease_break_ms, deleted_version, deleted_ms, purge_ms"
                    " FROM blob_containers WHERE account=?1 AND lname>=?2"
                    " AND (?3 IS NULL OR lname<?3) AND (?5 OR deleted_ms IS NULL)"
                    " ORDER BY lname, deleted_ms IS NOT NULL, deleted_ms LIMIT ?4",
                    -1, &q, NULL) != SQLITE_OK) {
    free(upper);
    blob_fail_internal(c, "listing containers");
    return;
  }
  sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, from, -1, SQLITE_STATIC);
  if (upper)
    sqlite3_bind_text(q, 3, upper, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 3);
  sqlite3_bind_int(q, 4, max + 1);
  sqlite3_bind_int(q, 5, with_deleted);
  xmlw w_;
  xmlw_init(&w_);
  xmlw_prolog(&w_);
  xmlw *w = &w_;
  xmlw_open(w, "EnumerationResults");
  xmlw_attr(w, "ServiceEndpoint", c->endpoint);
  if (prefix) xmlw_elem(w, "Prefix", prefix);
  if (marker) xmlw_elem(w, "Marker", marker);
  if (http_query_get(r, "maxresults")) xmlw_elemf(w, "MaxResults", "%d", max);
  xmlw_open(w, "Containers");
  int count = 0;
  char *next = NULL;
  while (sqlite3_step(q) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(q, 0);
    if (count == max) {
      next = strdup(name);
      break;
    }
    count++;
    xmlw_open(w, "Container");
    xmlw_elem(w, "Name", name);
    const char *deleted_version = (const char *)sqlite3_column_text(q, 9);
    if (deleted_version) {
      xmlw_elem(w, "Deleted", "true");
      xmlw_elem(w, "Version", deleted_version);
    }
    xmlw_open(w, "Properties");
    char d[32];
    http_date(sqlite3_column_int64(q, 2), d);
    xmlw_elem(w, "Last-Modified", d);
    xmlw_elemf(w, "Etag", "\"%s\"", (const char *)sqlite3_column_text(q, 1));
    blob_lease l = {NULL, (const char *)sqlite3_column_text(q, 5), sqlite3_column_int64(q, 6),
                    sqlite3_column_int64(q, 7), sqlite3_column_int64(q, 8)};
    const char *state = blob_lease_state_now(&l, c->now_ms);
    int locked = strcmp(state, "leased") == 0 || strcmp(state, "breaking") == 0;
    xmlw_elem(w, "LeaseStatus", locked ? "locked" : "unlocked");
    xmlw_elem(w, "LeaseState", state);
    if (strcmp(state, "leased") == 0)
      xmlw_elem(w, "LeaseDuration", l.duration_s < 0 ? "infinite" : "fixed");
    const char *pa = (const char *)sqlite3_column_text(q, 4);
    if (pa && *pa) xmlw_elem(w, "PublicAccess", pa);
    xmlw_elem(w, "DefaultEncryptionScope", "$account-encryption-key");
    xmlw_elem(w, "DenyEncryptionScopeOverride", "false");
    xmlw_elem(w, "HasImmutabilityPolicy", "false");
    xmlw_elem(w, "HasLegalHold", "false");
    xmlw_elem(w, "ImmutableStorageWithVersioningEnabled", "false");
    if (deleted_version) {
      http_date(sqlite3_column_int64(q, 10), d);
      xmlw_elem(w, "DeletedTime", d);
      int64_t left = sqlite3_column_int64(q, 11) - c->now_ms;
      xmlw_elemf(w, "RemainingRetentionDays", "%lld",
                 (long long)(left > 0 ? (left + 86399999) / 86400000 : 0));
    }
    xmlw_close(w);
    if (with_meta) blob_metadata_xml(w, (const char *)sqlite3_column_text(q, 3));
    xmlw_close(w);
  }
  store_finalize(q);
  free(upper);
  xmlw_close(w);
  xmlw_elem(w, "NextMarker", next ? next : "");
  xmlw_close(w);
  free(next);
  blob_reply_xml(c, w);
}

/* ---- Service properties ------------------------------------------------------------ */

/* Azure's answer for an account whose properties were never set. */
static const char DEFAULT_PROPS[] =
    "{\"Logging\":{\"Version\":\"1.0\",\"Delete\":\"false\",\"Read\":\"false\","
    "\"Write\":\"false\",\"RetentionPolicy\":{\"Enabled\":\"false\"}},"
    "\"HourMetrics\":{\"Version\":\"1.0\",\"Enabled\":\"false\","
    "\"RetentionPolicy\":{\"Enabled\":\"false\"}},"
    "\"MinuteMetrics\":{\"Version\":\"1.0\",\"Enabled\":\"false\","
    "\"RetentionPolicy\":{\"Enabled\":\"false\"}},"
    "\"Cors\":\"\","
    "\"DeleteRetentionPolicy\":{\"Enabled\":\"false\"},"
    "\"StaticWebsite\":{\"Enabled\":\"false\"}}";

/* An element as JSON: text for a leaf, else an object of children (arrays for repeats). */
static json_t *xml_to_json(const xmlr_node *n) {
  const xmlr_node *ch = xmlr_child(n, NULL);
  if (!ch) {
    const char *t = xmlr_text(n);
    return json_string(t ? t : "");
  }
  json_t *o = json_object();
  for (; ch; ch = xmlr_next(ch, NULL)) {
    const char *k = ch->name;
    json_t *v = xml_to_json(ch);
    json_t *have = json_object_get(o, k);
    if (!have) {
      json_object_set_new(o, k, v);
    } else if (json_is_array(have)) {
      json_array_append_new(have, v);
    } else {
      json_t *arr = json_array();
      json_array_append(arr, have);
      json_array_append_new(arr, v);
      json_object_set_new(o, k, arr);
    }
  }
  return o;
}

static void json_to_xml(xmlw *w, const char *name, json_t *v) {
  if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) json_to_xml(w, name, e);
    return;
  }
  if (json_is_object(v)) {
    xmlw_open(w, name);
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) json_to_xml(w, k, e);
    xmlw_close(w);
    return;
  }
  const char *t = json_string_value(v);
  xmlw_elem(w, name, t && *t ? t : NULL);
}

static json_t *props_load(blob_ctx *c) {
  json_t *props = json_loads(DEFAULT_PROPS, JSON_PRESERVE_ORDER, NULL);
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s), "SELECT props FROM blob_service_props WHERE account=?", -1, &q,
                    NULL) != SQLITE_OK)
    return props;
  sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) {
    json_t *stored = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    if (stored) json_object_update(props, stored);
    json_decref(stored);
  }
  store_finalize(q);
  return props;
}

void blob_service_get_properties(blob_ctx *c) {
  json_t *props = props_load(c);
  /* Soft delete set through Resource Manager is the same setting. */
  const blob_protection *p = blob_protection_of(c);
  if (p->blob_days_arm) {
    char days[16];
    snprintf(days, sizeof days, "%d", p->blob_days);
    json_object_set_new(props, "DeleteRetentionPolicy",
                        p->blob_days > 0 ? json_pack("{s:s,s:s}", "Enabled", "true", "Days", days)
                                         : json_pack("{s:s}", "Enabled", "false"));
  }
  xmlw w_;
  xmlw_init(&w_);
  xmlw_prolog(&w_);
  xmlw *w = &w_;
  xmlw_open(w, "StorageServiceProperties");
  const char *k;
  json_t *v;
  json_object_foreach(props, k, v) json_to_xml(w, k, v);
  xmlw_close(w);
  json_decref(props);
  blob_reply_xml(c, w);
}

void blob_service_set_properties(blob_ctx *c) {
  size_t len = 0;
  char *body = http_body_read_all(c->r, 256 * 1024, &len);
  if (!body) return;
  char xerr[128];
  xmlr_node *root = xmlr_parse(body, len, xerr, sizeof xerr);
  free(body);
  if (!root || strcmp(root->name, "StorageServiceProperties") != 0) {
    xmlr_free(root);
    http_fail(c->r, STORAGE_ERR_INVALID_XML_DOCUMENT, "XML specified is not syntactically valid.");
    return;
  }
  json_t *set = xml_to_json(root);
  xmlr_free(root);
  if (!json_is_object(set)) {
    json_decref(set);
    set = json_object();
  }
  json_t *rules = json_object_get(json_object_get(set, "Cors"), "CorsRule");
  if (json_is_array(rules) && json_array_size(rules) > MAX_CORS_RULES) {
    json_decref(set);
    http_fail(c->r, STORAGE_ERR_INVALID_XML_NODE_VALUE,
              "The value for one of the XML nodes is not in the correct format.");
    return;
  }
  /* Only the elements present change; the rest keep their stored values. */
  if (store_begin(c->s) != 0) {
    json_decref(set);
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  json_t *stored = NULL;
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s), "SELECT props FROM blob_service_props WHERE account=?", -1, &q,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
      stored = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    store_finalize(q);
  }
  if (!stored) stored = json_object();
  json_object_update(stored, set);
  json_decref(set);
  char *s = json_dumps(stored, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(stored);
  int rc = store_exec(c->s,
                      "INSERT INTO blob_service_props(account, props) VALUES(%Q,%Q)"
                      " ON CONFLICT(account) DO UPDATE SET props=excluded.props",
                      c->account, s);
  free(s);
  if (rc != 0 || store_commit(c->s) != 0) {
    store_rollback(c->s);
    blob_fail_internal(c, "storing service properties");
    return;
  }
  http_reply_empty(c->r, 202);
}

/* ---- Get Account Information ---------------------------------------------------- */

/* Get Blob Service Stats answers only on an RA-GRS account's secondary
 * endpoint; azlite serves primaries only, where Azure refuses it so. */
void blob_service_get_stats(blob_ctx *c) {
  blob_fail_query(c, "comp", "stats");
  http_fail_detail(c->r, "Reason", "This operation is only supported on the secondary endpoint.");
}

void blob_service_get_account_info(blob_ctx *c) {
  sqlite3_stmt *q;
  const char *sku = "Standard_LRS", *kind = "StorageV2";
  if (store_prepare(store_db(c->s), "SELECT sku, kind FROM storage_accounts WHERE name=?", -1, &q,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
      const char *s1 = (const char *)sqlite3_column_text(q, 0);
      const char *s2 = (const char *)sqlite3_column_text(q, 1);
      if (s1) sku = http_strdup(c->r, s1);
      if (s2) kind = http_strdup(c->r, s2);
    }
    store_finalize(q);
  }
  http_set_header(c->r, "x-ms-sku-name", sku);
  http_set_header(c->r, "x-ms-account-kind", kind);
  http_set_header(c->r, "x-ms-is-hns-enabled", c->hns ? "true" : "false");
  http_reply_empty(c->r, 200);
}

/* Get User Delegation Key: for bearer callers only.  The key is derived from
 * the fields returned (identity_user_delegation_key), so nothing is stored and
 * a SAS signed with it is verified by deriving it again.  At most 7 days. */
void blob_service_get_udk(blob_ctx *c) {
  http_req *r = c->r;
  if (c->auth.kind != SAUTH_BEARER || !r->caller) {
    http_fail(r, STORAGE_ERR_AUTHENTICATION_FAILED,
              "Server failed to authenticate the request. Make sure the value of Authorization "
              "header is formed correctly including the signature.");
    http_fail_detail(r, "AuthenticationErrorDetail",
                     "Only authentication scheme Bearer is allowed for this operation.");
    return;
  }
  size_t len = 0;
  char *body = http_body_read_all(r, 64 * 1024, &len);
  if (!body) return;
  char xerr[128];
  xmlr_node *root = xmlr_parse(body, len, xerr, sizeof xerr);
  free(body);
  const char *start = root ? xmlr_child_text(root, "Start") : NULL;
  const char *expiry = root ? xmlr_child_text(root, "Expiry") : NULL;
  int64_t st = start && *start ? clock_parse_iso8601(start) : c->now_ms;
  int64_t ex = expiry ? clock_parse_iso8601(expiry) : -1;
  if (!root || strcmp(root->name, "KeyInfo") != 0 || !expiry) {
    http_fail(r, STORAGE_ERR_INVALID_XML_DOCUMENT, "XML specified is not syntactically valid.");
  } else if (st < 0 || ex < 0 || ex <= st || ex <= c->now_ms || ex - c->now_ms > 7LL * 86400000) {
    http_fail(r, STORAGE_ERR_INVALID_HEADER_VALUE,
              "The value for one of the HTTP headers is not in the correct format: the key's "
              "expiry must be after its start, in the future, and at most 7 days away.");
  } else {
    char skt[40], ske[40], value[48];
    clock_iso8601(st, skt);
    clock_iso8601(ex, ske);
    /* Azure returns whole seconds: "2026-11-26T10:00:00Z". */
    skt[19] = 'Z', skt[20] = 0;
    ske[19] = 'Z', ske[20] = 0;
    const char *skv = http_header_get(r, "x-ms-version");
    if (!skv || !*skv) skv = BLOB_DEFAULT_VERSION;
    identity_user_delegation_key(c->s, r->caller->oid, c->s->tenant_id, skt, ske, "b", skv, value);
    xmlw w_;
    xmlw *w = &w_;
    xmlw_init(w);
    xmlw_prolog(w);
    xmlw_open(w, "UserDelegationKey");
    xmlw_elem(w, "SignedOid", r->caller->oid);
    xmlw_elem(w, "SignedTid", c->s->tenant_id);
    xmlw_elem(w, "SignedStart", skt);
    xmlw_elem(w, "SignedExpiry", ske);
    xmlw_elem(w, "SignedService", "b");
    xmlw_elem(w, "SignedVersion", skv);
    xmlw_elem(w, "Value", value);
    xmlw_close(w);
    blob_reply_xml(c, w);
  }
  xmlr_free(root);
}
