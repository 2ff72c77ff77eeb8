/* blob_lease.c: leases on blobs and containers: Lease Blob and Lease
 * Container (acquire, renew, change, release, break), and the rules every
 * other operation follows when a lease is in force (x-ms-lease-id).
 *
 * A lease is stored as it was last set (state leased / breaking / broken /
 * available, with its id, duration and deadlines); time moves it on without a
 * write: a fixed lease past lease_expires_ms reads "expired", a breaking lease
 * past lease_break_ms reads "broken".  All times are azlite's clock, so
 * `azlite clock advance` expires leases as waiting would.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"

#define LEASE_MIN_S 15
#define LEASE_MAX_S 60
#define LEASE_BREAK_MAX_S 60

int blob_lease_active(const blob_lease *l, int64_t now) {
  if (!l->state) return 0;
  if (strcmp(l->state, "leased") == 0) return l->duration_s < 0 || l->expires_ms > now;
  if (strcmp(l->state, "breaking") == 0) return l->break_ms > now;
  return 0;
}

const char *blob_lease_state_now(const blob_lease *l, int64_t now) {
  if (!l->state) return "available";
  if (strcmp(l->state, "leased") == 0 && !blob_lease_active(l, now)) return "expired";
  if (strcmp(l->state, "breaking") == 0 && !blob_lease_active(l, now)) return "broken";
  return l->state;
}

void blob_lease_headers(blob_ctx *c, const blob_lease *l) {
  const char *state = blob_lease_state_now(l, c->now_ms);
  http_set_header(c->r, "x-ms-lease-status",
                  blob_lease_active(l, c->now_ms) ? "locked" : "unlocked");
  http_set_header(c->r, "x-ms-lease-state", state);
  if (strcmp(state, "leased") == 0)
    http_set_header(c->r, "x-ms-lease-duration", l->duration_s < 0 ? "infinite" : "fixed");
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Azure takes a lease ID in the Guid constructor's common formats: 32 hex
 * digits (N), 8-4-4-4-12 (D), D in braces (B) or parentheses (P); an ID is
 * then compared as a GUID, whatever its spelling.  Returns 1 and the 16 bytes
 * when s is one. */
static int guid_parse(const char *s, unsigned char out[16]) {
  size_t n = strlen(s);
  if (n == 38 && ((s[0] == '{' && s[37] == '}') || (s[0] == '(' && s[37] == ')'))) {
    s++;
    n = 36;
  }
  if (n != 36 && n != 32) return 0;
  int k = 0;
  for (size_t i = 0; i < n; i++) {
    if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (s[i] != '-') return 0;
      continue;
    }
    int d = hexval(s[i]);
    if (d < 0) return 0;
    if (k % 2 == 0)
      out[k / 2] = (unsigned char)(d << 4);
    else
      out[k / 2] |= (unsigned char)d;
    k++;
  }
  return k == 32;
}

static int guid_valid(const char *s) {
  unsigned char g[16];
  return guid_parse(s, g);
}

static int same_id(const char *a, const char *b) {
  unsigned char ga[16], gb[16];
  if (!a || !b) return 0;
  if (guid_parse(a, ga) && guid_parse(b, gb)) return memcmp(ga, gb, 16) == 0;
  return strcasecmp(a, b) == 0;
}

/* The codes differ between blobs and containers only in their last word. */
static int lease_check(blob_ctx *c, const blob_lease *l, int write, int container) {
  const char *lid = http_header_get(c->r, "x-ms-lease-id");
  const char *what = container ? "container" : "blob";
  if (blob_lease_active(l, c->now_ms)) {
    if (!lid) {
      if (!write) return 0;
      http_fail(c->r, STORAGE_ERR_LEASE_ID_MISSING,
                "There is currently a lease on the %s and no lease ID was specified in the "
                "request.",
                what);
      return -1;
    }
    if (!same_id(lid, l->id)) {
      const char *msg = "The lease ID specified did not match the lease ID for the %s.";
      if (container)
        http_fail(c->r, STORAGE_ERR_LEASE_ID_MISMATCH_WITH_CONTAINER_OPERATION, msg, what);
      else
        http_fail(c->r, STORAGE_ERR_LEASE_ID_MISMATCH_WITH_BLOB_OPERATION, msg, what);
      return -1;
    }
    return 0;
  }
  if (!lid) return 0;
  const char *state = blob_lease_state_now(l, c->now_ms);
  if (strcmp(state, "expired") == 0 || strcmp(state, "broken") == 0) {
    http_fail(c->r, STORAGE_ERR_LEASE_LOST,
              "A lease ID was specified, but the lease for the %s has expired.", what);
    return -1;
  }
  if (container)
    http_fail(c->r, STORAGE_ERR_LEASE_NOT_PRESENT_WITH_CONTAINER_OPERATION,
              "There is currently no lease on the %s.", what);
  else
    http_fail(c->r, STORAGE_ERR_LEASE_NOT_PRESENT_WITH_BLOB_OPERATION,
              "There is currently no lease on the %s.", what);
  return -1;
}

int blob_lease_check_write(blob_ctx *c, const blob_lease *l) {
  return lease_check(c, l, 1, 0);
}

int blob_lease_check_read(blob_ctx *c, const blob_lease *l) {
  return lease_check(c, l, 0, 0);
}

int blob_container_lease_check(blob_ctx *c, const blob_lease *l, int write) {
  return lease_check(c, l, write, 1);
}

/* ---- the state machine ---------------------------------------------------------- */

enum lease_action { ACQUIRE, RENEW, CHANGE, RELEASE, BREAK };

typedef struct lease_req {
  enum lease_action action;
  const char *id;       /* x-ms-lease-id */
  const char *proposed; /* x-ms-proposed-lease-id */
  int64_t duration_s;   /* acquire: -1 or 15..60 */
  int64_t break_s;      /* break: -1 when absent */
} lease_req;

static int missing_header(blob_ctx *c, const char *name) {
  http_fail(c->r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
            "An HTTP header that's mandatory for this request is not specified.");
  http_fail_detail(c->r, "HeaderName", name);
  return -1;
}

static int read_int_header(blob_ctx *c, const char *name, int64_t *out) {
  const char *v = http_header_get(c->r, name);
  char *end;
  long long x = strtoll(v, &end, 10);
  if (!*v || *end) {
    blob_fail_header(c, name, v);
    return -1;
  }
  *out = x;
  return 0;
}

static int lease_req_read(blob_ctx *c, lease_req *q) {
  http_req *r = c->r;
  static const char *const names[] = {"acquire", "renew", "change", "release", "break"};
  const char *a = http_header_get(r, "x-ms-lease-action");
  if (!a) return missing_header(c, "x-ms-lease-action");
  int found = 0;
  for (int i = 0; i < 5; i++)
    if (strcasecmp(a, names[i]) == 0) {
      q->action = (enum lease_action)i;
      found = 1;
    }
  if (!found) {
    blob_fail_header(c, "x-ms-lease-action", a);
    return -1;
  }
  q->id = http_header_get(r, "x-ms-lease-id");
  q->proposed = http_header_get(r, "x-ms-proposed-lease-id");
  q->duration_s = -1;
  q->break_s = -1;
  if (q->id && !guid_valid(q->id)) {
    blob_fail_header(c, "x-ms-lease-id", q->id);
    return -1;
  }
  if (q->proposed && !guid_valid(q->proposed)) {
    blob_fail_header(c, "x-ms-proposed-lease-id", q->proposed);
    return -1;
  }
  switch (q->action) {
  case ACQUIRE:
    if (!http_header_get(r, "x-ms-lease-duration")) return missing_header(c, "x-ms-lease-duration");
    if (read_int_header(c, "x-ms-lease-duration", &q->duration_s) != 0) return -1;
    if (q->duration_s != -1 && (q->duration_s < LEASE_MIN_S || q->duration_s > LEASE_MAX_S)) {
      blob_fail_header(c, "x-ms-lease-duration", http_header_get(r, "x-ms-lease-duration"));
      return -1;
    }
    break;
  case RENEW:
  case RELEASE:
    if (!q->id) return missing_header(c, "x-ms-lease-id");
    break;
  case CHANGE:
    if (!q->id) return missing_header(c, "x-ms-lease-id");
    if (!q->proposed) return missing_header(c, "x-ms-proposed-lease-id");
    break;
  case BREAK:
    if (http_header_get(r, "x-ms-lease-break-period")) {
      if (read_int_header(c, "x-ms-lease-break-period", &q->break_s) != 0) return -1;
      if (q->break_s < 0 || q->break_s > LEASE_BREAK_MAX_S) {
        blob_fail_header(c, "x-ms-lease-break-period",
                         http_header_get(r, "x-ms-lease-break-period"));
        return -1;
      }
    }
    break;
  }
  return 0;
}

static int fail409(blob_ctx *c, const char *code, const char *msg) {
  http_fail(c->r, 409, code, "%s", msg);
  return -1;
}

static int mismatch(blob_ctx *c) {
  return fail409(c, "LeaseIdMismatchWithLeaseOperation",
                 "The lease ID specified did not match the lease ID for the blob.");
}

static int not_present(blob_ctx *c) {
  return fail409(c, "LeaseNotPresentWithLeaseOperation",
                 "There is currently no lease on the blob.");
}

/* Applies q to the lease `cur` as of now: the new lease in *out (strings
 * request-scoped), the success status, and for a break the seconds left.
 * Fails the request with Azure's 409 and returns -1 when not allowed. */
static int lease_transition(blob_ctx *c, const blob_lease *cur, const lease_req *q, blob_lease *out,
                            int *status, int64_t *lease_time) {
  int64_t now = c->now_ms;
  const char *state = blob_lease_state_now(cur, now);
  *out = *cur;
  *lease_time = -1;
  int leased = strcmp(state, "leased") == 0, breaking = strcmp(state, "breaking") == 0;
  int broken = strcmp(state, "broken") == 0, expired = strcmp(state, "expired") == 0;
  switch (q->action) {
  case ACQUIRE:
    if (breaking)
      return same_id(q->proposed, cur->id)
                 ? fail409(c, "LeaseIsBreakingAndCannotBeAcquired",
                           "There is already a breaking lease, and it can't be acquired.")
                 : fail409(c, "LeaseAlreadyPresent", "There is already a lease present.");
    if (leased && !same_id(q->proposed, cur->id))
      return fail409(c, "LeaseAlreadyPresent", "There is already a lease present.");
    if (q->proposed) {
      out->id = q->proposed;
    } else {
      char *id = http_alloc(c->r, 37);
      uuid_v4(id);
      out->id = id;
    }
    out->state = "leased";
    out->duration_s = q->duration_s;
    out->expires_ms = q->duration_s < 0 ? 0 : now + q->duration_s * 1000;
    out->break_ms = 0;
    *status = 201;
    return 0;
  case RENEW:
    if (!same_id(q->id, cur->id) || !strcmp(state, "available")) return mismatch(c);
    if (breaking || broken)
      return fail409(c, "LeaseIsBrokenAndCannotBeRenewed",
                     "The lease ID matched, but the lease has been broken explicitly and cannot "
                     "be renewed.");
    out->state = "leased";
    out->expires_ms = cur->duration_s < 0 ? 0 : now + cur->duration_s * 1000;
    *status = 200;
    return 0;
  case CHANGE:
    if (!strcmp(state, "available") || expired || broken) return not_present(c);
    if (breaking)
      return same_id(q->id, cur->id)
                 ? fail409(c, "LeaseIsBreakingAndCannotBeChanged",
                           "The lease ID matched, but the lease is currently in breaking state "
                           "and cannot be changed.")
                 : mismatch(c);
    if (!same_id(q->id, cur->id) && !same_id(q->proposed, cur->id)) return mismatch(c);
    out->id = q->proposed;
    *status = 200;
    return 0;
  case RELEASE:
    if (!same_id(q->id, cur->id) || !strcmp(state, "available")) return mismatch(c);
    memset(out, 0, sizeof *out);
    out->state = "available";
    *status = 200;
    return 0;
  case BREAK:
    if (!strcmp(state, "available")) return not_present(c);
    *status = 202;
    if (broken || expired) {
      out->state = "broken";
      *lease_time = 0;
      return 0;
    }
    int64_t until;
    if (breaking) {
      until = cur->break_ms;
      if (q->break_s >= 0 && now + q->break_s * 1000 < until) until = now + q->break_s * 1000;
    } else if (cur->duration_s < 0) {
      until = now + (q->break_s > 0 ? q->break_s * 1000 : 0);
    } else {
      /* A fixed lease breaks when it would have expired, or sooner when asked. */
      until = cur->expires_ms;
      if (q->break_s >= 0 && now + q->break_s * 1000 < until) until = now + q->break_s * 1000;
    }
    if (until <= now) {
      out->state = "broken";
      *lease_time = 0;
    } else {
      out->state = "breaking";
      out->break_ms = until;
      *lease_time = (until - now + 999) / 1000;
    }
    return 0;
  }
  return -1;
}

/* Stores the lease of one row (table "blobs" or "blob_containers"). */
static int lease_store(blob_ctx *c, const char *table, int64_t id, const blob_lease *l) {
  char *sql = sqlite3_mprintf("UPDATE %s SET lease_id=?, lease_state=?, lease_duration_s=?,"
                              " lease_expires_ms=?, lease_break_ms=? WHERE id=?",
                              table);
  sqlite3_stmt *q;
  int rc = store_prepare(store_db(c->s), sql, -1, &q, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) return -1;
  sqlite3_bind_text(q, 1, l->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, l->state ? l->state : "available", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, l->duration_s);
  if (l->expires_ms)
    sqlite3_bind_int64(q, 4, l->expires_ms);
  else
    sqlite3_bind_null(q, 4);
  if (l->break_ms)
    sqlite3_bind_int64(q, 5, l->break_ms);
  else
    sqlite3_bind_null(q, 5);
  sqlite3_bind_int64(q, 6, id);
  rc = sqlite3_step(q);
  store_finalize(q);
  return rc == SQLITE_DONE ? 0 : -1;
}

static void lease_reply(blob_ctx *c, const lease_req *q, const blob_lease *nl, int status,
                        int64_t lease_time, const char *etag, int64_t lm) {
  blob_set_etag_lm(c, etag, lm);
  if (q->action == ACQUIRE || q->action == RENEW || q->action == CHANGE)
    http_set_header(c->r, "x-ms-lease-id", nl->id);
  if (q->action == BREAK) http_set_headerf(c->r, "x-ms-lease-time", "%lld", (long long)lease_time);
  http_reply_empty(c->r, status);
}

void blob_lease_blob(blob_ctx *c) {
  lease_req q;
  if (lease_req_read(c, &q) != 0) return;
  if (http_query_get(c->r, "snapshot")) {
    blob_fail_query(c, "snapshot", http_query_get(c->r, "snapshot"));
    return;
  }
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  blob_container_row ct;
  blob_row b;
  blob_lease nl;
  int status;
  int64_t lease_time;
  if (blob_need_container(c, &ct) != 0 || blob_need_blob(c, &ct, &b, 1) != 1 ||
      blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 0) != 0 ||
      lease_transition(c, &b.lease, &q, &nl, &status, &lease_time) != 0) {
    store_rollback(c->s);
    return;
  }
  if (lease_store(c, "blobs", b.id, &nl) != 0 || store_commit(c->s) != 0) {
    store_rollback(c->s);
    blob_fail_internal(c, "storing the lease");
    return;
  }
  lease_reply(c, &q, &nl, status, lease_time, b.etag, b.last_modified_ms);
}

void blob_lease_container(blob_ctx *c) {
  lease_req q;
  if (lease_req_read(c, &q) != 0) return;
  blob_conditions cd;
  if (blob_container_conditions_read(c, &cd, 1) != 0) return;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  blob_container_row ct;
  blob_lease nl;
  int status;
  int64_t lease_time;
  if (blob_need_container(c, &ct) != 0 ||
      blob_conditions_check(c, 1, ct.etag, ct.last_modified_ms, 0) != 0 ||
      lease_transition(c, &ct.lease, &q, &nl, &status, &lease_time) != 0) {
    store_rollback(c->s);
    return;
  }
  if (lease_store(c, "blob_containers", ct.id, &nl) != 0 || store_commit(c->s) != 0) {
    store_rollback(c->s);
    blob_fail_internal(c, "storing the lease");
    return;
  }
  lease_reply(c, &q, &nl, status, lease_time, ct.etag, ct.last_modified_ms);
}
