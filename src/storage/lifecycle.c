/* lifecycle.c: blob lifecycle management.  The ARM resource
 * storageAccounts/{a}/managementPolicies/default (PUT, GET, DELETE), with
 * Azure's validation; the scheduler pass that runs every enabled rule against
 * azlite's clock; and the per-account action log a user (and cost
 * management) reads.
 *
 * A pass runs once a day of azlite's clock (a clock advance of days runs it at
 * once).  It reads the account's blobs in one read transaction, decides one
 * action per blob (Azure applies the cheapest: delete, then tierToArchive,
 * tierToCold, tierToCool), then applies the decisions in short write
 * transactions, each re-checking that the blob did not change in between
 * (same ETag, same tier) so a concurrent write always wins.  Tier changes do
 * not touch ETag or Last-Modified, as in Azure.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../arm/arm.h"
#include "mgmt.h"
#include "storage.h"

#define DAY_MS (24LL * 3600 * 1000)
/* Azure runs a policy once a day; so does azlite, by its clock, and at once
 * when the policy is set.  The day matters: a blob rehydrated out of Archive
 * that a rule would archive again stays online until the next run, as in
 * Azure (daysAfterLastTierChangeGreaterThan keeps it online for good). */
#define LC_PERIOD_MS DAY_MS
/* Decisions applied per write transaction. */
#define LC_BATCH 256
#define LC_MAX_RULES 100
#define LC_MAX_PREFIXES 10
#define LC_MAX_TAGS 10

/* In increasing precedence: when several actions are due, the last wins. */
enum lc_action { LC_TIER_HOT, LC_TIER_COOL, LC_TIER_COLD, LC_TIER_ARCHIVE, LC_DELETE, LC_N };
static const char *const ACTION_NAMES[LC_N] = {"tierToHot", "tierToCool", "tierToCold",
                                               "tierToArchive", "delete"};
static const char *const ACTION_TIERS[LC_N] = {"Hot", "Cool", "Cold", "Archive", NULL};

enum lc_since { LC_MODIFIED, LC_CREATED, LC_ACCESSED };
static const char *const SINCE_NAMES[] = {"daysAfterModificationGreaterThan",
                                          "daysAfterCreationGreaterThan",
                                          "daysAfterLastAccessTimeGreaterThan"};
#define TIER_CHANGE_NAME "daysAfterLastTierChangeGreaterThan"

typedef struct lc_cond {
  int set;
  enum lc_since since;
  int64_t days;
  int64_t tier_days; /* daysAfterLastTierChangeGreaterThan, -1 when absent */
} lc_cond;

typedef struct lc_rule {
  char *name;
  int enabled;
  int block_blobs, append_blobs;
  int nprefix;
  char *prefix[LC_MAX_PREFIXES];
  int ntags;
  char *tag_name[LC_MAX_TAGS], *tag_value[LC_MAX_TAGS];
  lc_cond base[LC_N], snap[LC_N], version[LC_N];
  int auto_hot; /* enableAutoTierToHotFromCool */
} lc_rule;

typedef struct lc_policy {
  lc_rule rule[LC_MAX_RULES];
  int n;
  int uses_last_access;
} lc_policy;

static void policy_free(lc_policy *p) {
  for (int i = 0; i < p->n; i++) {
    lc_rule *r = &p->rule[i];
    free(r->name);
    for (int k = 0; k < r->nprefix; k++)
      free(r->prefix[k]);
    for (int k = 0; k < r->ntags; k++) {
      free(r->tag_name[k]);
      free(r->tag_value[k]);
    }
  }
  free(p);
}

/* ---- validation ------------------------------------------------------------------ */

typedef struct lc_err {
  const char *code;
  char msg[512];
} lc_err;

__attribute__((format(printf, 3, 4))) static int bad(lc_err *e, const char *code, const char *fmt,
                                                     ...) {
  va_list ap;
  va_start(ap, fmt);
  e->code = code;
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

/* A whole number of days >= 0 (the SDKs send 30.0). */
static int days_value(json_t *v, int64_t *out) {
  if (!json_is_number(v)) return -1;
  double d = json_number_value(v);
  if (d < 0 || d > 1e7 || floor(d) != d) return -1;
  *out = (int64_t)d;
  return 0;
}

/* One action's run conditions.  `where` names it for messages, e.g.
 * "rules[0].definition.actions.baseBlob.tierToCool". */
static int cond_parse(json_t *j, const char *where, int base_blob, enum lc_action a, lc_cond *c,
                      lc_err *e) {
  if (!json_is_object(j))
    return bad(e, "InvalidRequestPropertyValue", "'%s' must be an object of run conditions.",
               where);
  c->set = 1;
  c->tier_days = -1;
  int nsince = 0;
  const char *k;
  json_t *v;
  json_object_foreach(j, k, v) {
    int64_t days;
    int which = -1;
    for (int i = 0; i < 3; i++)
      if (strcmp(k, SINCE_NAMES[i]) == 0) which = i;
    if (which < 0 && strcmp(k, TIER_CHANGE_NAME) != 0)
      return bad(e, "InvalidRequestPropertyValue", "'%s.%s' is not a valid run condition.", where,
                 k);
    if (days_value(v, &days) != 0)
      return bad(e, "InvalidRequestPropertyValue",
                 "'%s.%s' must be a whole number of days, 0 or more.", where, k);
    if (which < 0) {
      c->tier_days = days;
      continue;
    }
    if (!base_blob && which != LC_CREATED)
      return bad(e, "InvalidRequestPropertyValue",
                 "'%s.%s' is not supported for snapshots and versions; use "
                 "daysAfterCreationGreaterThan.",
                 where, k);
    nsince++;
    c->since = (enum lc_since)which;
    c->days = days;
  }
  if (nsince == 0)
    return bad(e, "InvalidRequestPropertyValue", "'%s' needs a run condition (%s).", where,
               base_blob ? "daysAfterModificationGreaterThan, daysAfterCreationGreaterThan or "
                           "daysAfterLastAccessTimeGreaterThan"
                         : "daysAfterCreationGreaterThan");
  if (nsince > 1)
    return bad(e, "InvalidRequestPropertyValue",
               "'%s' has conflicting run conditions: use only one of "
               "daysAfterModificationGreaterThan, daysAfterCreationGreaterThan and "
               "daysAfterLastAccessTimeGreaterThan per action.",
               where);
  if (c->tier_days >= 0 && (a != LC_TIER_ARCHIVE || (base_blob && c->since != LC_MODIFIED)))
    return bad(e, "InvalidRequestPropertyValue", "'%s.%s' is only supported on tierToArchive%s.",
               where, TIER_CHANGE_NAME,
               base_blob ? " together with daysAfterModificationGreaterThan" : "");
  return 0;
}

/* The actions on base blobs, snapshots or versions. */
static int actions_parse(json_t *j, const char *where, int base_blob, lc_cond *out, int *auto_hot,
                         lc_err *e) {
  if (!json_is_object(j))
    return bad(e, "InvalidRequestPropertyValue", "'%s' must be an object.", where);
  const char *k;
  json_t *v;
  int n = 0;
  json_object_foreach(j, k, v) {
    char sub[256];
    snprintf(sub, sizeof sub, "%s.%s", where, k);
    if (base_blob && strcmp(k, "enableAutoTierToHotFromCool") == 0) {
      if (!json_is_boolean(v))
        return bad(e, "InvalidRequestPropertyValue", "'%s' must be true or false.", sub);
      *auto_hot = json_is_true(v);
      continue;
    }
    int a = -1;
    for (int i = 0; i < LC_N; i++)
      if (strcmp(k, ACTION_NAMES[i]) == 0) a = i;
    if (a < 0)
      return bad(e, "InvalidRequestPropertyValue",
                 "'%s' is not a valid action. Valid actions: tierToCool, tierToCold, "
                 "tierToArchive, tierToHot, delete%s.",
                 sub, base_blob ? ", enableAutoTierToHotFromCool" : "");
    if (cond_parse(v, sub, base_blob, (enum lc_action)a, &out[a], e) != 0) return -1;
    n++;
  }
  return n;
}

static int filters_parse(json_t *f, const char *where, lc_rule *r, lc_err *e) {
  if (!json_is_object(f))
    return bad(e, "InvalidRequestPropertyValue",
               "'%s.filters' is required and must name blobTypes.", where);
  const char *k;
  json_t *v;
  json_object_foreach(f, k, v) {
    if (strcmp(k, "blobTypes") && strcmp(k, "prefixMatch") && strcmp(k, "blobIndexMatch"))
      return bad(e, "InvalidRequestPropertyValue", "'%s.filters.%s' is not a valid filter.", where,
                 k);
  }
  json_t *types = json_object_get(f, "blobTypes");
  if (!json_is_array(types) || json_array_size(types) == 0)
    return bad(e, "InvalidRequestPropertyValue",
               "'%s.filters.blobTypes' is required: an array of blockBlob and/or appendBlob.",
               where);
  size_t i;
  json_array_foreach(types, i, v) {
    const char *t = json_string_value(v);
    if (t && !strcasecmp(t, "blockBlob"))
      r->block_blobs = 1;
    else if (t && !strcasecmp(t, "appendBlob"))
      r->append_blobs = 1;
    else
      return bad(e, "InvalidRequestPropertyValue",
                 "'%s' is not a valid blob type in '%s.filters.blobTypes'; valid types are "
                 "blockBlob and appendBlob.",
                 t ? t : "(not a string)", where);
  }
  json_t *pm = json_object_get(f, "prefixMatch");
  if (pm && !json_is_null(pm)) {
    if (!json_is_array(pm) || json_array_size(pm) > LC_MAX_PREFIXES)
      return bad(e, "InvalidRequestPropertyValue",
                 "'%s.filters.prefixMatch' must be an array of at most %d prefixes.", where,
                 LC_MAX_PREFIXES);
    json_array_foreach(pm, i, v) {
      const char *p = json_string_value(v);
      /* A prefix starts with a container name: "container/blobprefix". */
      if (!p || !*p || strlen(p) > 1024 || p[0] == '/')
        return bad(e, "InvalidRequestPropertyValue",
                   "'%s.filters.prefixMatch[%zu]' must be a prefix that starts with a container "
                   "name, such as \"container/blob\".",
                   where, i);
      r->prefix[r->nprefix++] = strdup(p);
    }
  }
  json_t *tm = json_object_get(f, "blobIndexMatch");
  if (tm && !json_is_null(tm)) {
    if (!json_is_array(tm) || json_array_size(tm) > LC_MAX_TAGS)
      return bad(e, "InvalidRequestPropertyValue",
                 "'%s.filters.blobIndexMatch' must be an array of at most %d tag filters.", where,
                 LC_MAX_TAGS);
    json_array_foreach(tm, i, v) {
      const char *n = json_string_value(json_object_get(v, "name"));
      const char *op = json_string_value(json_object_get(v, "op"));
      const char *val = json_string_value(json_object_get(v, "value"));
      if (!n || !*n || strlen(n) > 128 || !val || strlen(val) > 256)
        return bad(e, "InvalidRequestPropertyValue",
                   "'%s.filters.blobIndexMatch[%zu]' needs a name (1-128 characters) and a "
                   "value (at most 256).",
                   where, i);
      if (!op || strcmp(op, "==") != 0)
        return bad(e, "InvalidRequestPropertyValue",
                   "'%s.filters.blobIndexMatch[%zu].op' must be \"==\".", where, i);
      r->tag_name[r->ntags] = strdup(n);
      r->tag_value[r->ntags++] = strdup(val);
    }
  }
  return 0;
}

static int rule_parse(json_t *j, int idx, lc_policy *p, lc_err *e) {
  char where[64];
  snprintf(where, sizeof where, "rules[%d]", idx);
  lc_rule *r = &p->rule[p->n++];
  if (!json_is_object(j))
    return bad(e, "InvalidRequestPropertyValue", "'%s' must be an object.", where);
  const char *name = json_string_value(json_object_get(j, "name"));
  if (!name || !*name || strlen(name) > 256)
    return bad(e, "InvalidRequestPropertyValue",
               "'%s.name' is required: a rule name of at most 256 characters.", where);
  r->name = strdup(name);
  for (int i = 0; i < p->n - 1; i++)
    if (strcmp(p->rule[i].name, name) == 0)
      return bad(e, "InvalidRequestPropertyValue",
                 "The rule name '%s' is used more than once; rule names must be unique.", name);
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type || strcmp(type, "Lifecycle") != 0)
    return bad(e, "InvalidRequestPropertyValue", "'%s.type' must be \"Lifecycle\".", where);
  json_t *en = json_object_get(j, "enabled");
  if (en && !json_is_boolean(en))
    return bad(e, "InvalidRequestPropertyValue", "'%s.enabled' must be true or false.", where);
  r->enabled = !en || json_is_true(en);
  json_t *def = json_object_get(j, "definition");
  if (!json_is_object(def))
    return bad(e, "InvalidRequestPropertyValue", "'%s.definition' is required.", where);
  if (filters_parse(json_object_get(def, "filters"), where, r, e) != 0) return -1;
  json_t *acts = json_object_get(def, "actions");
  if (!json_is_object(acts))
    return bad(e, "InvalidRequestPropertyValue", "'%s.definition.actions' is required.", where);
  int n = 0, got;
  const char *k;
  json_t *v;
  json_object_foreach(acts, k, v) {
    char sub[128];
    snprintf(sub, sizeof sub, "%s.definition.actions.%s", where, k);
    if (!strcmp(k, "baseBlob"))
      got = actions_parse(v, sub, 1, r->base, &r->auto_hot, e);
    else if (!strcmp(k, "snapshot"))
      got = actions_parse(v, sub, 0, r->snap, NULL, e);
    else if (!strcmp(k, "version"))
      got = actions_parse(v, sub, 0, r->version, NULL, e);
    else
      return bad(e, "InvalidRequestPropertyValue",
                 "'%s' is not valid; actions apply to baseBlob, snapshot or version.", sub);
    if (got < 0) return -1;
    n += got;
  }
  if (n == 0 && !r->auto_hot)
    return bad(e, "InvalidRequestPropertyValue", "'%s.definition.actions' names no action.", where);
  if (r->auto_hot && !(r->base[LC_TIER_COOL].set && r->base[LC_TIER_COOL].since == LC_ACCESSED))
    return bad(e, "InvalidRequestPropertyValue",
               "'%s': enableAutoTierToHotFromCool needs a tierToCool action with "
               "daysAfterLastAccessTimeGreaterThan.",
               where);
  if (r->append_blobs)
    for (int a = 0; a < LC_DELETE; a++)
      if (r->base[a].set || r->snap[a].set || r->version[a].set)
        return bad(e, "InvalidRequestPropertyValue",
                   "'%s': append blobs support only the delete action; %s is for block blobs.",
                   where, ACTION_NAMES[a]);
  for (int a = 0; a < LC_N; a++)
    if (r->base[a].set && r->base[a].since == LC_ACCESSED) p->uses_last_access = 1;
  return 0;
}

/* Compiles a policy document ({"rules":[...]}); NULL with e filled when invalid. */
static lc_policy *policy_compile(json_t *policy, lc_err *e) {
  lc_policy *p = calloc(1, sizeof *p);
  json_t *rules = json_object_get(policy, "rules");
  if (!json_is_object(policy) || !json_is_array(rules) || json_array_size(rules) == 0 ||
      json_array_size(rules) > LC_MAX_RULES) {
    bad(e, "InvalidRequestPropertyValue",
        "'properties.policy.rules' is required: an array of 1 to %d rules.", LC_MAX_RULES);
    policy_free(p);
    return NULL;
  }
  size_t i;
  json_t *j;
  json_array_foreach(rules, i, j) {
    if (rule_parse(j, (int)i, p, e) != 0) {
      policy_free(p);
      return NULL;
    }
  }
  return p;
}

/* ---- the ARM resource ---------------------------------------------------------------------- */

typedef struct policy_row {
  json_t *policy;
  int64_t modified_ms;
} policy_row;

static int policy_load(srv *s, const char *account, policy_row *out) {
  sqlite3_stmt *q;
  int found = 0;
  if (store_prepare(store_db(s),
                    "SELECT policy, last_modified_ms FROM storage_management_policies"
                    " WHERE account=?",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) {
    out->policy = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    out->modified_ms = sqlite3_column_int64(q, 1);
    found = out->policy != NULL;
  }
  store_finalize(q);
  return found;
}

static json_t *policy_render(json_t *account, json_t *policy, int64_t modified_ms) {
  char iso[40];
  clock_iso8601(modified_ms, iso);
  return json_pack("{s:o,s:s,s:s,s:{s:s,s:O}}", "id",
                   json_sprintf("%s/managementPolicies/default",
                                json_string_value(json_object_get(account, "id"))),
                   "name", "DefaultManagementPolicy", "type",
                   "Microsoft.Storage/storageAccounts/managementPolicies", "properties",
                   "lastModifiedTime", iso, "policy", policy);
}

/* The account for a management policy request; NULL after failing r. */
static json_t *policy_account(http_req *r) {
  json_t *acct = storage_account_require(r, "StorageAccountNotFound");
  if (!acct) return NULL;
  const char *kind = json_string_value(json_object_get(acct, "kind"));
  if (kind && (!strcmp(kind, "Storage") || !strcmp(kind, "FileStorage"))) {
    http_fail(r, STORAGE_ERR_OPERATION_NOT_ALLOWED_ON_KIND,
              "The operation is not allowed on account kind %s.", kind);
    json_decref(acct);
    return NULL;
  }
  return acct;
}

void storage_policy_put(http_req *r) {
  srv *s = r->srv;
  json_t *acct = policy_account(r);
  if (!acct) return;
  const char *account = json_string_value(json_object_get(acct, "name"));
  json_t *in = http_body_json(r);
  lc_policy *p = NULL;
  if (!in) goto done;
  json_t *policy = json_object_get(json_object_get(in, "properties"), "policy");
  lc_err e = {0};
  p = policy_compile(policy, &e);
  if (!p) {
    http_fail(r, 400, e.code, "%s", e.msg);
    goto done;
  }
  if (p->uses_last_access && !storage_last_access_tracking(s, account, NULL)) {
    http_fail(r, STORAGE_ERR_MISSING_LAST_ACCESS_TIME_BASED_TRACKING_POLICY,
              "Last access time based tracking policy must be enabled before using its specific "
              "actions in object lifecycle management policy");
    goto done;
  }
  int64_t now = clock_now_ms(s);
  char *pj = json_dumps(policy, JSON_COMPACT);
  /* evaluated_ms 0: the next scheduler pass runs the new rules at once. */
  int rc = store_exec(s,
                      "INSERT INTO storage_management_policies(account,policy,last_modified_ms,"
                      "evaluated_ms) VALUES(%Q,%Q,%lld,0) ON CONFLICT(account) DO UPDATE SET"
                      " policy=excluded.policy, last_modified_ms=excluded.last_modified_ms,"
                      " evaluated_ms=0",
                      account, pj, (long long)now);
  free(pj);
  if (rc != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The management policy could not be saved.");
    goto done;
  }
  sched_wake(s);
  /* Only 200: the SDKs treat anything else (201 included) as an error. */
  http_reply_json(r, 200, policy_render(acct, policy, now));
done:
  if (p) policy_free(p);
  json_decref(in);
  json_decref(acct);
}

void storage_policy_get(http_req *r) {
  json_t *acct = policy_account(r);
  if (!acct) return;
  const char *account = json_string_value(json_object_get(acct, "name"));
  policy_row row = {0};
  int found = policy_load(r->srv, account, &row);
  if (found == 1)
    http_reply_json(r, 200, policy_render(acct, row.policy, row.modified_ms));
  else if (found == 0)
    http_fail(r, STORAGE_ERR_MANAGEMENT_POLICY_NOT_FOUND,
              "No ManagementPolicy found for account %s", account);
  else
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The management policy could not be read.");
  json_decref(row.policy);
  json_decref(acct);
}

void storage_policy_delete(http_req *r) {
  json_t *acct = policy_account(r);
  if (!acct) return;
  const char *account = json_string_value(json_object_get(acct, "name"));
  if (store_exec(r->srv, "DELETE FROM storage_management_policies WHERE account=%Q", account) != 0)
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The management policy could not be deleted.");
  else
    http_reply_empty(r, sqlite3_changes(store_db(r->srv)) ? 200 : 204);
  json_decref(acct);
}

/* ---- the action log -------------------------------------------------------------------------- */

/* Each logged action is also a usage event of the account, for cost management:
 * meter Microsoft.Storage/blobs/<action> (setTier/<tier> for Set Blob Tier),
 * the blob's size in bytes.  The resource is the account's ARM id, or its name
 * for an account of the data plane only (devstoreaccount1, AZURITE_ACCOUNTS). */
static int lifecycle_usage(srv *s, const char *account, const char *action, const char *to_tier,
                           int64_t size) {
  sqlite3_stmt *q;
  char *id = NULL;
  if (store_prepare(store_db(s), "SELECT id FROM storage_accounts WHERE name=?", -1, &q, NULL) !=
      SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
    id = strdup((const char *)sqlite3_column_text(q, 0));
  store_finalize(q);
  char meter[128];
  if (!strcmp(action, "setTier") && to_tier)
    snprintf(meter, sizeof meter, "Microsoft.Storage/blobs/setTier/%s", to_tier);
  else
    snprintf(meter, sizeof meter, "Microsoft.Storage/blobs/%s", action);
  int rc = usage_record(s, id ? id : account, meter, (double)size, "Bytes");
  free(id);
  return rc;
}

int lifecycle_log(srv *s, const char *account, int64_t now_ms, const char *source, const char *rule,
                  const char *action, const char *container, const char *blob, const char *snapshot,
                  const char *from_tier, const char *to_tier, int64_t size) {
  if (store_exec(s,
                 "INSERT INTO storage_action_log(account,time_ms,source,rule,action,container,"
                 "blob,snapshot,from_tier,to_tier,size) VALUES(%Q,%lld,%Q,%Q,%Q,%Q,%Q,%Q,%Q,"
                 "%Q,%lld)",
                 account, (long long)now_ms, source, rule, action, container, blob,
                 snapshot ? snapshot : "", from_tier, to_tier, (long long)size) != 0)
    return -1;
  return lifecycle_usage(s, account, action, to_tier, size);
}

/* A decimal of digits only, at most max: 0 ok, -1 otherwise (sign, space,
 * junk, overflow). */
static int lc_parse_count(const char *s, int64_t max, int64_t *out) {
  int64_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    if (v > (max - (*s - '0')) / 10) return -1;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return 0;
}

/* GET .../storageAccounts/{a}/lifecycleActions[?$skiptoken=ID][&$top=N]: the
 * account's log, oldest first, paged with nextLink. */
void storage_lifecycle_actions_list(http_req *r) {
  srv *s = r->srv;
  json_t *acct = storage_account_require(r, "StorageAccountNotFound");
  if (!acct) return;
  const char *account = json_string_value(json_object_get(acct, "name"));
  const char *skip = http_query_get(r, "$skiptoken"), *top_s = http_query_get(r, "$top");
  /* The token is the id of the last entry of the page before: a decimal the
   * nextLink wrote, never anything else. */
  int64_t after = 0, top = 1000;
  if (skip && lc_parse_count(skip, INT64_MAX, &after) != 0) {
    http_fail(r, ARM_ERR_INVALID_PARAMETER,
              "The value '%s' of query parameter '$skiptoken' is not a valid continuation token.",
              skip);
    json_decref(acct);
    return;
  }
  if (top_s && (lc_parse_count(top_s, 5000, &top) != 0 || top < 1)) {
    http_fail(r, ARM_ERR_INVALID_PARAMETER,
              "The value '%s' of query parameter '$top' is not valid: it must be an integer "
              "from 1 to 5000.",
              top_s);
    json_decref(acct);
    return;
  }
  sqlite3_stmt *q;
  json_t *list = json_array();
  int64_t last = after;
  if (store_prepare(store_db(s),
                    "SELECT id, time_ms, source, rule, action, container, blob, snapshot,"
                    " from_tier, to_tier, size FROM storage_action_log"
                    " WHERE account=? AND id>? ORDER BY id LIMIT ?",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, after);
    sqlite3_bind_int64(q, 3, top);
    while (sqlite3_step(q) == SQLITE_ROW) {
      char iso[40];
      clock_iso8601(sqlite3_column_int64(q, 1), iso);
      last = sqlite3_column_int64(q, 0);
      json_t *e =
          json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I}", "id", (json_int_t)last, "time", iso, "source",
                    sqlite3_column_text(q, 2), "action", sqlite3_column_text(q, 4), "container",
                    sqlite3_column_text(q, 5), "blob", sqlite3_column_text(q, 6), "contentLength",
                    (json_int_t)sqlite3_column_int64(q, 10));
      const char *snap = (const char *)sqlite3_column_text(q, 7);
      if (sqlite3_column_text(q, 3))
        json_object_set_new(e, "rule", json_string((const char *)sqlite3_column_text(q, 3)));
      if (snap && *snap) json_object_set_new(e, "snapshot", json_string(snap));
      if (sqlite3_column_text(q, 8))
        json_object_set_new(e, "fromTier", json_string((const char *)sqlite3_column_text(q, 8)));
      if (sqlite3_column_text(q, 9))
        json_object_set_new(e, "toTier", json_string((const char *)sqlite3_column_text(q, 9)));
      json_array_append_new(list, e);
    }
    store_finalize(q);
  }
  json_t *out = json_pack("{s:o}", "value", list);
  if ((int64_t)json_array_size(list) == top)
    json_object_set_new(
        out, "nextLink",
        json_sprintf(
            "%s%s?api-version=%s&$top=%lld&$skiptoken=%lld", http_mgmt_base(r), r->raw_path,
            http_query_get(r, "api-version") ? http_query_get(r, "api-version") : "2023-01-01",
            (long long)top, (long long)last));
  http_reply_json(r, 200, out);
  json_decref(acct);
}

/* ---- the pass ------------------------------------------------------------------------------ */

/* One blob (or snapshot) as a pass sees it. */
typedef struct lc_blob {
  int64_t id, container_id, size;
  const char *container, *name, *snapshot, *type, *etag, *tier, *archive_status;
  int64_t created_ms, modified_ms, tier_change_ms, last_access_ms; /* last_access 0: never */
  int leased;
} lc_blob;

/* A decision, applied after the read. */
typedef struct lc_do {
  int64_t id, container_id, size;
  char *container, *name, *snapshot, *etag, *from_tier; /* from_tier NULL: inferred */
  const char *rule;
  enum lc_action action;
} lc_do;

typedef struct lc_pass {
  srv *s;
  const char *account;
  const lc_policy *p;
  int64_t now;
  int64_t policy_ms;   /* when the policy was last written */
  int tracking;        /* last access time tracking on */
  int64_t tracking_ms; /* since when */
  const char *default_tier;
  sqlite3_stmt *tag_q;
  lc_do *todo;
  int ntodo, cap;
} lc_pass;

/* A prefix is matched against "container/blob", so "models/" selects the
 * container named models, as in Azure. */
static int prefix_match(const lc_rule *r, const char *container, const char *name) {
  if (r->nprefix == 0) return 1;
  size_t cl = strlen(container);
  for (int i = 0; i < r->nprefix; i++) {
    const char *p = r->prefix[i];
    size_t pl = strlen(p);
    if (pl <= cl) {
      if (strncmp(container, p, pl) == 0) return 1;
    } else if (strncmp(container, p, cl) == 0 && p[cl] == '/' &&
               strncmp(name, p + cl + 1, pl - cl - 1) == 0) {
      return 1;
    }
  }
  return 0;
}

/* tag_q: "SELECT value FROM blob_tags WHERE blob_id=? AND key=?". */
static int tags_match(sqlite3_stmt *tag_q, const lc_rule *r, int64_t blob_id) {
  for (int i = 0; i < r->ntags; i++) {
    sqlite3_reset(tag_q);
    sqlite3_bind_int64(tag_q, 1, blob_id);
    sqlite3_bind_text(tag_q, 2, r->tag_name[i], -1, SQLITE_STATIC);
    int ok = sqlite3_step(tag_q) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(tag_q, 0), r->tag_value[i]) == 0;
    if (!ok) return 0;
  }
  return 1;
}

/* Does rule r's filter select this blob? */
static int rule_selects(sqlite3_stmt *tag_q, const lc_rule *r, const char *type,
                        const char *container, const char *name, int64_t blob_id) {
  if (!r->enabled) return 0;
  if (!strcmp(type, "BlockBlob")    ? !r->block_blobs
      : !strcmp(type, "AppendBlob") ? !r->append_blobs
                                    : 1)
    return 0;
  if (!prefix_match(r, container, name)) return 0;
  return r->ntags == 0 || tags_match(tag_q, r, blob_id);
}

static int64_t last_access_of(const lc_pass *ps, const lc_blob *b) {
  if (ps->tracking) {
    /* A write is an access too; writes before tracking began are not known. */
    int64_t w = b->modified_ms >= ps->tracking_ms ? b->modified_ms : 0;
    int64_t t = b->last_access_ms > w ? b->last_access_ms : w;
    if (t) return t;
  }
  /* Azure uses the date the policy was set when there is no access time. */
  return ps->policy_ms;
}

static int cond_met(const lc_pass *ps, const lc_cond *c, const lc_blob *b) {
  if (!c->set) return 0;
  int64_t since = c->since == LC_MODIFIED  ? b->modified_ms
                  : c->since == LC_CREATED ? b->created_ms
                                           : last_access_of(ps, b);
  if (ps->now - since <= c->days * DAY_MS) return 0;
  /* Only a tier someone set has a change time; an inferred tier never changed. */
  if (c->tier_days >= 0 && b->tier && ps->now - b->tier_change_ms <= c->tier_days * DAY_MS)
    return 0;
  return 1;
}

static int tier_rank(const char *t) {
  if (!strcmp(t, "Hot")) return 0;
  if (!strcmp(t, "Cool")) return 1;
  if (!strcmp(t, "Cold")) return 2;
  if (!strcmp(t, "Archive")) return 3;
  return -1; /* premium tiers: lifecycle leaves them alone */
}

static void todo_add(lc_pass *ps, const lc_blob *b, const lc_rule *r, enum lc_action a) {
  if (ps->ntodo == ps->cap) {
    ps->cap = ps->cap ? ps->cap * 2 : 64;
    ps->todo = realloc(ps->todo, (size_t)ps->cap * sizeof *ps->todo);
  }
  lc_do *d = &ps->todo[ps->ntodo++];
  d->id = b->id;
  d->container_id = b->container_id;
  d->size = b->size;
  d->container = strdup(b->container);
  d->name = strdup(b->name);
  d->snapshot = strdup(b->snapshot);
  d->etag = strdup(b->etag);
  d->from_tier = b->tier ? strdup(b->tier) : NULL;
  d->rule = r->name;
  d->action = a;
}

/* Decides what, if anything, happens to one blob or snapshot. */
static void decide(lc_pass *ps, const lc_blob *b) {
  int base = b->snapshot[0] == 0;
  int best = -1;
  const lc_rule *best_rule = NULL;
  for (int i = 0; i < ps->p->n; i++) {
    const lc_rule *r = &ps->p->rule[i];
    if (!rule_selects(ps->tag_q, r, b->type, b->container, b->name, b->id)) continue;
    /* A previous version's key is '@' and its version id. */
    const lc_cond *conds = base ? r->base : b->snapshot[0] == '@' ? r->version : r->snap;
    for (int a = LC_N - 1; a >= 0; a--)
      if (a > best && cond_met(ps, &conds[a], b)) {
        best = a;
        best_rule = r;
        break;
      }
  }
  const char *cur = b->tier ? b->tier : ps->default_tier;
  int rank = tier_rank(cur);
  if (best == LC_DELETE) {
    if (!b->leased) todo_add(ps, b, best_rule, LC_DELETE);
    return;
  }
  if (b->archive_status || rank < 0) return; /* rehydrating, or a premium tier */
  if (best == LC_TIER_ARCHIVE || best == LC_TIER_COLD) {
    if (rank < tier_rank(ACTION_TIERS[best])) todo_add(ps, b, best_rule, (enum lc_action)best);
    return;
  }
  if (best == LC_TIER_COOL && rank == 0) todo_add(ps, b, best_rule, LC_TIER_COOL);
  if (best == LC_TIER_HOT && (rank == 1 || rank == 2)) todo_add(ps, b, best_rule, LC_TIER_HOT);
}

static const char *col(sqlite3_stmt *q, int i) {
  return (const char *)sqlite3_column_text(q, i);
}

/* Reads the account's blobs and decides; 0 ok. */
static int pass_read(lc_pass *ps) {
  sqlite3 *db = store_db(ps->s);
  sqlite3_stmt *q;
  if (store_prepare(db,
                    "SELECT b.id, b.container_id, c.name, b.name, b.snapshot, b.type, b.size,"
                    " b.etag, b.created_ms, b.last_modified_ms, b.tier,"
                    " coalesce(b.tier_change_ms, b.created_ms), b.archive_status,"
                    " coalesce(b.last_access_ms, 0),"
                    " b.lease_state='leased' AND (b.lease_duration_s<0 OR"
                    "   coalesce(b.lease_expires_ms,0)>?2)"
                    " FROM blobs b JOIN blob_containers c ON c.id=b.container_id"
                    " WHERE c.account=?1 AND c.name NOT IN ('$logs','$web')"
                    " AND b.deleted_ms IS NULL AND c.deleted_ms IS NULL"
                    " ORDER BY c.name, b.name, b.snapshot",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  if (store_prepare(db, "SELECT value FROM blob_tags WHERE blob_id=? AND key=?", -1, &ps->tag_q,
                    NULL) != SQLITE_OK) {
    store_finalize(q);
    return -1;
  }
  sqlite3_bind_text(q, 1, ps->account, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, ps->now);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    lc_blob b = {0};
    b.id = sqlite3_column_int64(q, 0);
    b.container_id = sqlite3_column_int64(q, 1);
    b.container = col(q, 2);
    b.name = col(q, 3);
    b.snapshot = col(q, 4);
    b.type = col(q, 5);
    b.size = sqlite3_column_int64(q, 6);
    b.etag = col(q, 7);
    b.created_ms = sqlite3_column_int64(q, 8);
    b.modified_ms = sqlite3_column_int64(q, 9);
    b.tier = col(q, 10);
    b.tier_change_ms = sqlite3_column_int64(q, 11);
    b.archive_status = col(q, 12);
    b.last_access_ms = sqlite3_column_int64(q, 13);
    b.leased = sqlite3_column_int(q, 14);
    if (b.snapshot[0]) {
      /* A snapshot's age counts from when it was taken (its name), a previous
       * version's from when it was written (its version id). */
      int64_t t = clock_parse_iso8601(b.snapshot + (b.snapshot[0] == '@'));
      if (t > 0) b.created_ms = t;
    }
    decide(ps, &b);
  }
  store_finalize(q);
  store_finalize(ps->tag_q);
  ps->tag_q = NULL;
  return rc == SQLITE_DONE ? 0 : -1;
}

/* Applies one decision inside the caller's transaction; 1 applied, 0 skipped
 * (the blob changed since the read), -1 store error. */
static int apply_one(lc_pass *ps, const lc_do *d, blob_ids *freed) {
  srv *s = ps->s;
  sqlite3 *db = store_db(s);
  const char *to = ACTION_TIERS[d->action];
  if (d->action != LC_DELETE) {
    sqlite3_stmt *q;
    if (store_prepare(db,
                      "UPDATE blobs SET tier=?1, tier_change_ms=?2 WHERE id=?3 AND etag=?4"
                      " AND tier IS ?5 AND archive_status IS NULL",
                      -1, &q, NULL) != SQLITE_OK)
      return -1;
    sqlite3_bind_text(q, 1, to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, ps->now);
    sqlite3_bind_int64(q, 3, d->id);
    sqlite3_bind_text(q, 4, d->etag, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, d->from_tier, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    store_finalize(q);
    if (rc != SQLITE_DONE) return -1;
    if (sqlite3_changes(db) == 0) return 0;
  } else {
    sqlite3_stmt *q;
    /* The blob must be as it was read; a base blob with snapshots stays (Azure's
     * Delete Blob refuses it too), until a snapshot rule removes them. */
    if (store_prepare(db,
                      "SELECT 1 FROM blobs b WHERE id=?1 AND etag=?2 AND (snapshot<>'' OR NOT"
                      " EXISTS(SELECT 1 FROM blobs s WHERE s.container_id=b.container_id"
                      " AND s.name=b.name AND s.snapshot<>'' AND s.snapshot NOT GLOB '[@~]*'"
                      " AND s.deleted_ms IS NULL))",
                      -1, &q, NULL) != SQLITE_OK)
      return -1;
    sqlite3_bind_int64(q, 1, d->id);
    sqlite3_bind_text(q, 2, d->etag, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    store_finalize(q);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return -1;
    /* Under versioning or soft delete the blob is kept, as Delete Blob keeps it. */
    int kept = blob_lifecycle_delete(s, ps->account, d->id, ps->now);
    if (kept < 0) return -1;
    if (!kept && blob_ids_of_extents(s, d->id, freed) != 0) return -1;
    if (!kept && store_exec(s, "DELETE FROM blobs WHERE id=%lld", (long long)d->id) != 0) return -1;
    if (!d->snapshot[0] &&
        (blob_ids_of_blocks(s, d->container_id, d->name, freed) != 0 ||
         store_exec(s, "DELETE FROM blob_blocks WHERE container_id=%lld AND blob_name=%Q",
                    (long long)d->container_id, d->name) != 0))
      return -1;
  }
  const char *from = d->from_tier ? d->from_tier : ps->default_tier;
  if (lifecycle_log(s, ps->account, ps->now, "lifecycle", d->rule, ACTION_NAMES[d->action],
                    d->container, d->name, d->snapshot, from, to, d->size) != 0)
    return -1;
  return 1;
}

static void pass_apply(lc_pass *ps) {
  int done = 0, applied = 0;
  while (done < ps->ntodo) {
    int end = done + LC_BATCH < ps->ntodo ? done + LC_BATCH : ps->ntodo, ok = 1, n = 0;
    if (store_begin(ps->s) != 0) break;
    blob_ids freed = {0};
    for (int i = done; i < end && ok; i++) {
      int rc = apply_one(ps, &ps->todo[i], &freed);
      if (rc < 0) ok = 0;
      n += rc > 0;
    }
    if (ok && store_commit(ps->s) == 0) {
      blob_data_gc(ps->s, &freed);
      applied += n;
    } else {
      store_rollback(ps->s);
      log_error("storage: lifecycle of %s: applying actions failed", ps->account);
    }
    blob_ids_free(&freed);
    done = end;
  }
  if (applied) log_info("storage: lifecycle of %s: %d actions", ps->account, applied);
}

/* The account's default access tier (what an inferred tier is). */
static char *account_default_tier(srv *s, const char *account) {
  sqlite3_stmt *q;
  char *t = NULL;
  if (store_prepare(store_db(s),
                    "SELECT json_extract(props,'$.accessTier') FROM storage_accounts"
                    " WHERE name=?",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
      t = strdup((const char *)sqlite3_column_text(q, 0));
    store_finalize(q);
  }
  return t ? t : strdup("Hot");
}

static void lifecycle_pass(srv *s, const char *account, const lc_policy *p, int64_t policy_ms,
                           int64_t now) {
  lc_pass ps = {0};
  ps.s = s;
  ps.account = account;
  ps.p = p;
  ps.now = now;
  ps.policy_ms = policy_ms;
  ps.tracking = storage_last_access_tracking(s, account, &ps.tracking_ms);
  char *dt = account_default_tier(s, account);
  ps.default_tier = dt;
  int rc = sqlite3_exec(store_db(s), "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
  if (rc == 0) {
    rc = pass_read(&ps);
    sqlite3_exec(store_db(s), "COMMIT", NULL, NULL, NULL);
  }
  if (rc == 0)
    pass_apply(&ps);
  else
    log_error("storage: lifecycle of %s: reading blobs failed", account);
  for (int i = 0; i < ps.ntodo; i++) {
    lc_do *d = &ps.todo[i];
    free(d->container);
    free(d->name);
    free(d->snapshot);
    free(d->etag);
    free(d->from_tier);
  }
  free(ps.todo);
  free(dt);
}

void lifecycle_tick(srv *s, int64_t now) {
  sqlite3_stmt *q;
  /* Collect first: a pass writes, and must not run under this statement. */
  json_t *due = json_array();
  if (store_prepare(store_db(s),
                    "SELECT account, policy, last_modified_ms FROM storage_management_policies"
                    " WHERE evaluated_ms <= ?",
                    -1, &q, NULL) != SQLITE_OK) {
    json_decref(due);
    return;
  }
  sqlite3_bind_int64(q, 1, now - LC_PERIOD_MS);
  while (sqlite3_step(q) == SQLITE_ROW)
    json_array_append_new(
        due, json_pack("[s,s,I]", col(q, 0), col(q, 1), (json_int_t)sqlite3_column_int64(q, 2)));
  store_finalize(q);
  size_t i;
  json_t *e;
  json_array_foreach(due, i, e) {
    const char *account = json_string_value(json_array_get(e, 0));
    json_t *policy = json_loads(json_string_value(json_array_get(e, 1)), 0, NULL);
    lc_err err = {0};
    lc_policy *p = policy ? policy_compile(policy, &err) : NULL;
    if (p) {
      lifecycle_pass(s, account, p, json_integer_value(json_array_get(e, 2)), now);
      policy_free(p);
    } else {
      log_error("storage: the lifecycle policy of %s no longer compiles: %s", account, err.msg);
    }
    json_decref(policy);
    store_exec(s, "UPDATE storage_management_policies SET evaluated_ms=%lld WHERE account=%Q",
               (long long)now, account);
  }
  json_decref(due);
}

char *lifecycle_auto_hot_rule(srv *s, const char *account, const char *container, const char *name,
                              const char *type, int64_t blob_id) {
  policy_row row = {0};
  if (policy_load(s, account, &row) != 1) return NULL;
  lc_err e;
  lc_policy *p = policy_compile(row.policy, &e);
  json_decref(row.policy);
  if (!p) return NULL;
  char *found = NULL;
  sqlite3_stmt *tag_q = NULL;
  store_prepare(store_db(s), "SELECT value FROM blob_tags WHERE blob_id=? AND key=?", -1, &tag_q,
                NULL);
  for (int i = 0; i < p->n && !found && tag_q; i++)
    if (p->rule[i].auto_hot && rule_selects(tag_q, &p->rule[i], type, container, name, blob_id))
      found = strdup(p->rule[i].name);
  store_finalize(tag_q);
  policy_free(p);
  return found;
}
