/* tier.c: access tiers of block blobs: Set Blob Tier, the tier headers of Get
 * Blob Properties, archived blobs being offline (409 BlobArchived),
 * rehydration from Archive on azlite's clock, and last access time tracking.
 *
 * A blob's tier is NULL until someone sets one: it then has the account's
 * access tier, "inferred".  While a rehydration is pending the tier stays
 * Archive and archive_status says where it goes (rehydrate-pending-to-hot);
 * rehydrate_done_ms is when the scheduler completes it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mgmt.h"

#define ARCHIVE_PENDING "rehydrate-pending-to-"

const char *storage_tier_account_default(blob_ctx *c) {
  if (c->tier_default) return c->tier_default;
  sqlite3_stmt *q;
  const char *t = NULL;
  if (store_prepare(store_db(c->s),
                    "SELECT json_extract(props,'$.accessTier') FROM storage_accounts"
                    " WHERE name=?",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
      t = http_strdup(c->r, (const char *)sqlite3_column_text(q, 0));
    store_finalize(q);
  }
  c->tier_default = t ? t : "Hot";
  return c->tier_default;
}

void storage_tier_headers(blob_ctx *c, const blob_row *b) {
  http_req *r = c->r;
  char d[32];
  if (strcmp(b->type, "BlockBlob") == 0) {
    http_set_header(r, "x-ms-access-tier", b->tier ? b->tier : storage_tier_account_default(c));
    if (!b->tier) {
      http_set_header(r, "x-ms-access-tier-inferred", "true");
    } else {
      http_date(b->tier_change_ms, d);
      http_set_header(r, "x-ms-access-tier-change-time", d);
    }
    if (b->archive_status) {
      http_set_header(r, "x-ms-archive-status", b->archive_status);
      if (b->rehydrate_priority)
        http_set_header(r, "x-ms-rehydrate-priority", b->rehydrate_priority);
    }
  } else if (b->tier) {
    http_set_header(r, "x-ms-access-tier", b->tier); /* premium page blobs */
  }
  if (b->last_access_ms) {
    http_date(b->last_access_ms, d);
    http_set_header(r, "x-ms-last-access-time", d);
  }
}

int storage_tier_require_online(blob_ctx *c, const blob_row *b) {
  if (!b->tier || strcmp(b->tier, "Archive") != 0) return 0;
  http_fail(c->r, STORAGE_ERR_BLOB_ARCHIVED,
            "This operation is not permitted on an archived blob.");
  return -1;
}

void storage_tier_note_access(blob_ctx *c, const blob_row *b) {
  int64_t since;
  if (!storage_last_access_tracking(c->s, c->account, &since)) return;
  srv *s = c->s;
  /* enableAutoTierToHotFromCool: a cool blob that is read goes back to hot at once. */
  char *rule = NULL;
  if (b->tier && !strcmp(b->tier, "Cool") && !(b->snapshot && b->snapshot[0]))
    rule = lifecycle_auto_hot_rule(s, c->account, c->container, c->blob, b->type, b->id);
  if (rule) {
    int rc = store_begin(s);
    if (rc == 0)
      rc = store_exec(s,
                      "UPDATE blobs SET tier='Hot', tier_change_ms=%lld, last_access_ms=%lld"
                      " WHERE id=%lld AND tier='Cool'",
                      (long long)c->now_ms, (long long)c->now_ms, (long long)b->id);
    if (rc == 0 && sqlite3_changes(store_db(s)) == 1)
      rc = lifecycle_log(s, c->account, c->now_ms, "lifecycle", rule, "tierToHot", c->container,
                         c->blob, NULL, "Cool", "Hot", b->size);
    if (rc == 0) rc = store_commit(s);
    if (rc != 0) store_rollback(s);
    free(rule);
    return;
  }
  /* Once a day is enough for rules counted in days (Azure's granularity). */
  if (b->last_access_ms && c->now_ms - b->last_access_ms < TIER_LAST_ACCESS_GRANULARITY_MS) return;
  store_exec(s, "UPDATE blobs SET last_access_ms=%lld WHERE id=%lld", (long long)c->now_ms,
             (long long)b->id);
}

/* ---- Set Blob Tier --------------------------------------------------------------------- */

static int is_online_standard(const char *t) {
  return !strcmp(t, "Hot") || !strcmp(t, "Cool") || !strcmp(t, "Cold");
}

int64_t storage_tier_rehydrate_ms(const char *prio) {
  return strcmp(prio, "High") == 0 ? TIER_REHYDRATE_HIGH_MS : TIER_REHYDRATE_STANDARD_MS;
}

void blob_set_tier(blob_ctx *c) {
  http_req *r = c->r;
  srv *s = c->s;
  const char *tier;
  if (blob_tier_read(c, &tier) != 0) return;
  if (!tier) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(r, "HeaderName", "x-ms-access-tier");
    return;
  }
  const char *ph = http_header_get(r, "x-ms-rehydrate-priority"), *prio = "Standard";
  if (ph) {
    if (!strcasecmp(ph, "High"))
      prio = "High";
    else if (strcasecmp(ph, "Standard") != 0) {
      blob_fail_header(c, "x-ms-rehydrate-priority", ph);
      return;
    }
  }
  blob_container_row ct;
  blob_row b;
  if (store_begin(s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0 || blob_need_blob(c, &ct, &b, 1) != 1) goto fail;
  if (http_header_get(r, "x-ms-lease-id") && blob_lease_check_write(c, &b.lease) != 0) goto fail;
  if (strcmp(b.type, "BlockBlob") != 0) {
    if (strcmp(b.type, "PageBlob") == 0)
      http_fail(r, STORAGE_ERR_INVALID_BLOB_TIER, "The specified blob tier is invalid.");
    else
      http_fail(r, STORAGE_ERR_INVALID_BLOB_TYPE, "The blob type is invalid for this operation.");
    goto fail;
  }
  if (!is_online_standard(tier) && strcmp(tier, "Archive") != 0) {
    http_fail(r, STORAGE_ERR_INVALID_BLOB_TIER, "The specified blob tier is invalid.");
    goto fail;
  }
  const char *snap = b.snapshot && b.snapshot[0] ? b.snapshot : NULL;
  const char *cur = b.tier ? b.tier : storage_tier_account_default(c);
  int status = 200, rc = 0;
  const char *action = "setTier";
  if (b.archive_status) {
    /* A pending rehydration: only its own target (perhaps faster) is accepted. */
    const char *to = b.archive_status + strlen(ARCHIVE_PENDING);
    if (strcasecmp(to, tier) != 0) {
      http_fail(r, STORAGE_ERR_BLOB_BEING_REHYDRATED,
                "This operation is not permitted because the blob is being rehydrated.");
      goto fail;
    }
    status = 202;
    action = NULL;
    if (!strcmp(prio, "High") && b.rehydrate_priority && strcmp(b.rehydrate_priority, "High")) {
      rc = store_exec(s,
                      "UPDATE blobs SET rehydrate_priority='High',"
                      " rehydrate_done_ms=min(rehydrate_done_ms, %lld) WHERE id=%lld",
                      (long long)(c->now_ms + TIER_REHYDRATE_HIGH_MS), (long long)b.id);
      action = "rehydrateHigh";
    }
  } else if (!strcmp(cur, "Archive") && b.tier) {
    if (!strcmp(tier, "Archive")) {
      action = NULL;
    } else if (snap) {
      /* Azure cannot rehydrate snapshots or versions in place; copy them instead. */
      http_fail(r, STORAGE_ERR_BLOB_ARCHIVED,
                "This operation is not permitted on an archived blob.");
      goto fail;
    } else {
      char *lower = http_printf(r, "%s%s", ARCHIVE_PENDING, tier);
      for (char *p = lower; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
      rc = store_exec(s,
                      "UPDATE blobs SET archive_status=%Q, rehydrate_priority=%Q,"
                      " rehydrate_done_ms=%lld WHERE id=%lld",
                      lower, prio, (long long)(c->now_ms + storage_tier_rehydrate_ms(prio)),
                      (long long)b.id);
      status = 202;
      action = !strcmp(prio, "High") ? "rehydrateHigh" : "rehydrateStandard";
    }
  } else if (b.tier && !strcmp(b.tier, tier)) {
    action = NULL; /* already there: nothing changes, not even the change time */
  } else {
    /* Set Blob Tier changes neither the ETag nor Last-Modified. */
    rc = store_exec(s, "UPDATE blobs SET tier=%Q, tier_change_ms=%lld WHERE id=%lld", tier,
                    (long long)c->now_ms, (long long)b.id);
  }
  if (rc == 0 && action)
    rc = lifecycle_log(s, c->account, c->now_ms, "user", NULL, action, c->container, c->blob, snap,
                       cur, tier, b.size);
  if (rc != 0 || store_commit(s) != 0) {
    blob_fail_internal(c, "setting the tier");
    goto fail;
  }
  http_reply_empty(r, status);
  return;
fail:
  store_rollback(s);
}

/* ---- rehydration ------------------------------------------------------------------------- */

void storage_tier_tick(srv *s, int64_t now_ms) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT b.id, c.account, c.name, b.name, b.snapshot, b.archive_status,"
                    " b.rehydrate_done_ms, b.size"
                    " FROM blobs b JOIN blob_containers c ON c.id=b.container_id"
                    " WHERE b.archive_status IS NOT NULL AND b.rehydrate_done_ms<=?"
                    " LIMIT 1000",
                    -1, &q, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int64(q, 1, now_ms);
  json_t *due = json_array();
  while (sqlite3_step(q) == SQLITE_ROW)
    json_array_append_new(
        due,
        json_pack("[I,s,s,s,s,s,I,I]", (json_int_t)sqlite3_column_int64(q, 0),
                  sqlite3_column_text(q, 1), sqlite3_column_text(q, 2), sqlite3_column_text(q, 3),
                  sqlite3_column_text(q, 4), sqlite3_column_text(q, 5),
                  (json_int_t)sqlite3_column_int64(q, 6), (json_int_t)sqlite3_column_int64(q, 7)));
  store_finalize(q);
  if (json_array_size(due) == 0 || store_begin(s) != 0) {
    json_decref(due);
    return;
  }
  size_t i;
  json_t *e;
  int rc = 0;
  json_array_foreach(due, i, e) {
    json_int_t id = json_integer_value(json_array_get(e, 0));
    const char *status = json_string_value(json_array_get(e, 5));
    json_int_t done = json_integer_value(json_array_get(e, 6));
    const char *to = status + strlen(ARCHIVE_PENDING);
    char tier[16];
    snprintf(tier, sizeof tier, "%s", to);
    tier[0] = (char)(tier[0] >= 'a' && tier[0] <= 'z' ? tier[0] - 32 : tier[0]);
    /* The tier changed when the rehydration finished, not when the scheduler noticed. */
    /* A copy that rehydrates succeeds when its destination is online. */
    rc |= store_exec(
        s,
        "UPDATE blobs SET tier=%Q, tier_change_ms=%lld, archive_status=NULL,"
        " rehydrate_priority=NULL, rehydrate_done_ms=NULL,"
        " copy_status=CASE WHEN copy_status='pending' THEN 'success' ELSE copy_status END,"
        " copy_progress=CASE WHEN copy_status='pending' THEN size || '/' || size"
        " ELSE copy_progress END,"
        " copy_completion_ms=CASE WHEN copy_status='pending' THEN %lld"
        " ELSE copy_completion_ms END WHERE id=%lld",
        tier, (long long)done, (long long)done, (long long)id);
    rc |= lifecycle_log(s, json_string_value(json_array_get(e, 1)), done, "rehydrate", NULL,
                        "rehydrateComplete", json_string_value(json_array_get(e, 2)),
                        json_string_value(json_array_get(e, 3)),
                        json_string_value(json_array_get(e, 4)), "Archive", tier,
                        json_integer_value(json_array_get(e, 7)));
  }
  if (rc != 0 || store_commit(s) != 0) {
    store_rollback(s);
    log_error("storage: completing rehydrations failed");
  }
  json_decref(due);
}
