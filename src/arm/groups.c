/* groups.c: resource groups, the generic resource table every provider's
 * resources live in, and resource listing.  Deleting a group deletes what it
 * contains: each resource's provider is told (resource_deleted) before the
 * rows go, all in one transaction, so a crash leaves the group whole (and
 * `Deleting`: the next start resumes the deletion).  While it is Deleting,
 * nothing may be created in it (409 ResourceGroupBeingDeleted). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* Azure: 1-90 characters, letters, digits, '_', '(', ')', '-', '.', Unicode
 * letters; must not end in '.'. */
static int group_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 90 || n[len - 1] == '.') return 0;
  for (const unsigned char *p = (const unsigned char *)n; *p; p++)
    if (!(isalnum(*p) || *p == '_' || *p == '(' || *p == ')' || *p == '-' || *p == '.' ||
          *p >= 0x80))
      return 0;
  return 1;
}

int arm_group_exists(srv *s, const char *sub, const char *rg, char *out, size_t n) {
  sqlite3_stmt *st;
  int found = 0;
  if (store_prepare(store_db(s), "SELECT name FROM resource_groups WHERE subscription=? AND name=?",
                    -1, &st, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, sub, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rg, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    found = 1;
    if (out) snprintf(out, n, "%s", sqlite3_column_text(st, 0));
  }
  store_finalize(st);
  return found;
}

/* 1 the group exists and is usable, 0 it is being deleted, -1 absent. */
static int group_state(srv *s, const char *sub, const char *rg) {
  sqlite3_stmt *st;
  int state = -1;
  if (store_prepare(store_db(s),
                    "SELECT state FROM resource_groups WHERE subscription=? AND name=?", -1, &st,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, sub, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rg, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW)
    state = strcmp((const char *)sqlite3_column_text(st, 0), "Deleting") != 0;
  store_finalize(st);
  return state;
}

int arm_group_writable(http_req *r, const char *sub, const char *rg) {
  if (arm_require_subscription(r, sub) != 0) return -1;
  int state = group_state(r->srv, r->srv->subscription_id, rg);
  if (state == 1) return 0;
  if (state == 0)
    http_fail(r, ARM_ERR_RESOURCE_GROUP_BEING_DELETED,
              "The resource group '%s' is in deprovisioning state and cannot perform this "
              "operation.",
              rg);
  else
    http_fail(r, ARM_ERR_RESOURCE_GROUP_NOT_FOUND, "Resource group '%s' could not be found.", rg);
  return -1;
}

/* Splits "/subscriptions/{s}/resourceGroups/{g}/..." (any case) into parts. */
static void id_parts(const char *id, char sub[40], char rg[128]) {
  sub[0] = rg[0] = 0;
  sscanf(id, "/subscriptions/%39[^/]", sub);
  const char *p = strchr(id + (id[0] == '/'), '/');
  p = p ? strchr(p + 1, '/') : NULL; /* after the subscription id */
  if (p && strncasecmp(p, "/resourceGroups/", 16) == 0) sscanf(p + 16, "%127[^/]", rg);
}

int arm_scope_writable(http_req *r, const char *scope) {
  char sub[40], rg[128];
  id_parts(scope, sub, rg);
  return rg[0] ? arm_group_writable(r, sub, rg) : 0;
}

void arm_test_delete_delay(void) {
  arm_test_delay("AZLITE_TEST_DELAY_DELETE_MS");
}

void arm_test_delay(const char *var) {
  const char *v = getenv(var);
  long ms = v ? strtol(v, NULL, 10) : 0;
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int arm_require_subscription(http_req *r, const char *sub) {
  if (sub && strcasecmp(sub, r->srv->subscription_id) == 0) return 0;
  http_fail(r, ARM_ERR_SUBSCRIPTION_NOT_FOUND, "The subscription '%s' could not be found.",
            sub ? sub : "");
  return -1;
}

int arm_require_group(http_req *r, const char *sub, const char *rg) {
  if (arm_require_subscription(r, sub) != 0) return -1;
  if (arm_group_exists(r->srv, sub, rg, NULL, 0)) return 0;
  http_fail(r, ARM_ERR_RESOURCE_GROUP_NOT_FOUND, "Resource group '%s' could not be found.", rg);
  return -1;
}

static json_t *group_json(srv *s, sqlite3_stmt *st) {
  const char *name = (const char *)sqlite3_column_text(st, 0);
  json_t *tags = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
  json_t *j =
      json_pack("{s:o,s:s,s:s,s:s,s:o,s:{s:s}}", "id",
                json_sprintf("/subscriptions/%s/resourceGroups/%s", s->subscription_id, name),
                "name", name, "type", "Microsoft.Resources/resourceGroups", "location",
                (const char *)sqlite3_column_text(st, 1), "tags", tags ? tags : json_object(),
                "properties", "provisioningState", (const char *)sqlite3_column_text(st, 4));
  if (sqlite3_column_text(st, 3))
    json_object_set_new(j, "managedBy", json_string((const char *)sqlite3_column_text(st, 3)));
  return j;
}

static json_t *group_load(srv *s, const char *rg) {
  sqlite3_stmt *st;
  json_t *j = NULL;
  if (store_prepare(store_db(s),
                    "SELECT name, location, tags, managed_by, state FROM resource_groups "
                    "WHERE subscription=? AND name=?",
                    -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, s->subscription_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rg, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) j = group_json(s, st);
  store_finalize(st);
  return j;
}

static int tags_valid(http_req *r, json_t *tags) {
  return arm_tags_check(r, tags) == 0;
}

void arm_group_put(http_req *r) {
  srv *s = r->srv;
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  if (arm_require_subscription(r, sub) != 0) return;
  if (!group_name_valid(rg)) {
    http_fail(r, ARM_ERR_INVALID_RESOURCE_GROUP_NAME,
              "The resource group name '%s' is invalid. It must be 1-90 characters of letters, "
              "digits, underscores, parentheses, hyphens and periods, and not end in a period.",
              rg);
    return;
  }
  json_t *body = http_json_own(r, http_body_json(r));
  if (!body) return;
  const char *loc = json_string_value(json_object_get(body, "location"));
  json_t *tags = json_object_get(body, "tags");
  char canon[32], existing[128];
  if (!loc) {
    http_fail(r, ARM_ERR_LOCATION_REQUIRED,
              "The location property is required for this definition.");
  } else if (!arm_location_normalize(loc, canon)) {
    http_fail(r, ARM_ERR_LOCATION_NOT_AVAILABLE_FOR_RESOURCE_GROUP,
              "The provided location '%s' is not available for resource group. List of "
              "available regions is 'eastus,eastus2,westus,westus2,westus3,centralus,"
              "northcentralus,southcentralus,westcentralus,canadacentral,northeurope,"
              "westeurope,uksouth,francecentral,germanywestcentral,swedencentral,"
              "switzerlandnorth,norwayeast,southeastasia,eastasia,japaneast,koreacentral,"
              "centralindia,australiaeast,brazilsouth,southafricanorth,uaenorth'.",
              loc);
  } else if (tags_valid(r, tags)) {
    json_t *none = http_json_own(r, json_object());
    char *tj = json_dumps(tags && json_is_object(tags) ? tags : none, JSON_COMPACT);
    http_defer(r, free, tj);
    const char *managed = json_string_value(json_object_get(body, "managedBy"));
    int exists = arm_group_exists(s, sub, rg, existing, sizeof existing);
    int rc;
    if (exists && arm_group_writable(r, sub, existing) != 0) return;
    if (exists) {
      json_t *cur = http_json_own(r, group_load(s, existing));
      const char *curloc = json_string_value(json_object_get(cur, "location"));
      if (curloc && strcasecmp(curloc, canon) != 0) {
        http_fail(r, ARM_ERR_INVALID_RESOURCE_GROUP_LOCATION,
                  "Invalid resource group location '%s'. The Resource group already exists in "
                  "location '%s'.",
                  canon, curloc);
        return;
      }
      rc = store_exec(s,
                      "UPDATE resource_groups SET tags=%Q, managed_by=%Q WHERE subscription=%Q "
                      "AND name=%Q",
                      tj, managed, sub, existing);
    } else {
      rc = store_exec(s,
                      "INSERT INTO resource_groups(subscription,name,location,tags,managed_by,"
                      "state,created_ms) VALUES(%Q,%Q,%Q,%Q,%Q,'Succeeded',%lld)",
                      s->subscription_id, rg, canon, tj, managed, (long long)clock_now_ms(s));
    }
    if (rc != 0)
      http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The resource group could not be saved.");
    else
      http_reply_json(r, exists ? 200 : 201, group_load(s, exists ? existing : rg));
  }
}

void arm_group_get(http_req *r) {
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  if (arm_require_group(r, sub, rg) != 0) return;
  http_reply_json(r, 200, group_load(r->srv, rg));
}

void arm_group_head(http_req *r) {
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  int found =
      strcasecmp(sub, r->srv->subscription_id) == 0 && arm_group_exists(r->srv, sub, rg, NULL, 0);
  http_reply_empty(r, found ? 204 : 404);
}

void arm_group_patch(http_req *r) {
  srv *s = r->srv;
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  char name[128];
  if (arm_require_group(r, sub, rg) != 0) return;
  arm_group_exists(s, sub, rg, name, sizeof name);
  if (arm_group_writable(r, sub, name) != 0) return;
  json_t *body = http_body_json(r);
  if (!body) return;
  json_t *tags = json_object_get(body, "tags");
  if (tags_valid(r, tags)) {
    if (tags && json_is_object(tags)) {
      char *tj = json_dumps(tags, JSON_COMPACT);
      store_exec(s, "UPDATE resource_groups SET tags=%Q WHERE subscription=%Q AND name=%Q", tj, sub,
                 name);
      free(tj);
    }
    const char *managed = json_string_value(json_object_get(body, "managedBy"));
    if (managed)
      store_exec(s, "UPDATE resource_groups SET managed_by=%Q WHERE subscription=%Q AND name=%Q",
                 managed, sub, name);
    http_reply_json(r, 200, group_load(s, name));
  }
  json_decref(body);
}

/* Tells the provider that owns `type` (by namespace) that a resource goes. */
static void notify_deleted(srv *s, const char *id, const char *type) {
  for (int i = 0; providers[i]; i++) {
    const provider *p = providers[i];
    if (!p->resource_deleted) continue;
    size_t n = strlen(p->name);
    if ((strncasecmp(type, p->name, n) == 0 && type[n] == '/') ||
        strcasecmp(type, "Microsoft.Resources/resourceGroups") == 0)
      p->resource_deleted(s, id, type);
  }
}

typedef struct group_delete {
  char sub[40];
  char name[128];
} group_delete;

/* Deletes the group and everything in it in one transaction.  On failure the
 * group is usable again (Azure rolls its provisioning state back too). */
static int group_delete_run(srv *s, void *ctx, char *code, size_t cl, char *msg, size_t ml) {
  group_delete *g = ctx;
  char gid[256];
  snprintf(gid, sizeof gid, "/subscriptions/%s/resourceGroups/%s", g->sub, g->name);
  int rc = store_begin(s);
  /* Children before parents: longest ids first. */
  sqlite3_stmt *st;
  json_t *ids = json_array();
  if (rc == 0 && store_prepare(store_db(s),
                               "SELECT id, type FROM resources WHERE subscription=? AND "
                               "resource_group=? ORDER BY length(id) DESC",
                               -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, g->sub, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, g->name, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
      json_array_append_new(
          ids, json_pack("[s,s]", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1)));
    store_finalize(st);
  } else if (rc == 0) {
    rc = -1;
  }
  size_t i;
  json_t *e;
  json_array_foreach(ids, i, e) {
    if (rc != 0) break;
    const char *id = json_string_value(json_array_get(e, 0));
    notify_deleted(s, id, json_string_value(json_array_get(e, 1)));
    rc = arm_resource_delete(s, id); /* holds the test delay between resources */
  }
  json_decref(ids);
  if (rc == 0) {
    notify_deleted(s, gid, "Microsoft.Resources/resourceGroups");
    rc = store_exec(s,
                    "DELETE FROM resources WHERE subscription=%Q AND resource_group=%Q;"
                    "DELETE FROM resource_groups WHERE subscription=%Q AND name=%Q",
                    g->sub, g->name, g->sub, g->name);
  }
  if (rc == 0)
    rc = store_commit(s);
  else
    store_rollback(s);
  if (rc != 0) {
    store_exec(s, "UPDATE resource_groups SET state='Succeeded' WHERE subscription=%Q AND name=%Q",
               g->sub, g->name);
    snprintf(code, cl, "ResourceGroupDeletionBlocked");
    snprintf(msg, ml,
             "Deletion of resource group '%s' failed: azlite could not commit it. The "
             "provisioning state of the resource group has been rolled back.",
             g->name);
    log_error("arm: deleting resource group %s failed", g->name);
    return -1;
  }
  log_info("arm: deleted resource group %s", g->name);
  return 0;
}

void arm_group_delete(http_req *r) {
  srv *s = r->srv;
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  if (arm_require_group(r, sub, rg) != 0) return;
  group_delete *g = calloc(1, sizeof *g);
  snprintf(g->sub, sizeof g->sub, "%s", s->subscription_id);
  arm_group_exists(s, sub, rg, g->name, sizeof g->name);
  char gid[256];
  snprintf(gid, sizeof gid, "/subscriptions/%s/resourceGroups/%s", g->sub, g->name);
  store_exec(s, "UPDATE resource_groups SET state='Deleting' WHERE subscription=%Q AND name=%Q",
             g->sub, g->name);
  arm_lro_start_resumable(r, 202, NULL, gid, group_delete_run, g, free);
}

void arm_group_delete_resume(srv *s) {
  sqlite3_stmt *st;
  json_t *names = json_array();
  if (store_prepare(store_db(s),
                    "SELECT name FROM resource_groups WHERE subscription=? AND state='Deleting'",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, s->subscription_id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
      json_array_append_new(names, json_string((const char *)sqlite3_column_text(st, 0)));
    store_finalize(st);
  }
  size_t i;
  json_t *n;
  json_array_foreach(names, i, n) {
    group_delete *g = calloc(1, sizeof *g);
    if (!g) abort();
    snprintf(g->sub, sizeof g->sub, "%s", s->subscription_id);
    snprintf(g->name, sizeof g->name, "%s", json_string_value(n));
    char gid[256];
    snprintf(gid, sizeof gid, "/subscriptions/%s/resourceGroups/%s", g->sub, g->name);
    arm_lro_resume(s, gid, group_delete_run, g, free);
  }
  json_decref(names);
  /* Deletions that committed but stopped before recording it: done. */
  if (store_prepare(store_db(s),
                    "SELECT resume FROM operations WHERE status='InProgress' AND resume IS NOT "
                    "NULL",
                    -1, &st, NULL) == SQLITE_OK) {
    json_t *done = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
      json_array_append_new(done, json_string((const char *)sqlite3_column_text(st, 0)));
    store_finalize(st);
    json_array_foreach(done, i, n) {
      char sub[40], rg[128];
      id_parts(json_string_value(n), sub, rg);
      if (group_state(s, sub, rg) == -1) arm_lro_finish_resumable(s, json_string_value(n));
    }
    json_decref(done);
  }
}

/* Reads "<field> eq '<value>'" at *p and a following "and"; 1 on a match,
 * advancing *p.  Names and operators are case-insensitive in OData, and az
 * sends them in lower case ("tagname eq 'env' and tagvalue eq 'dev'"). */
static int odata_eq(const char **p, const char *field, char *out, size_t n) {
  const char *s = *p;
  size_t fl = strlen(field);
  while (*s == ' ')
    s++;
  if (strncasecmp(s, field, fl) != 0 || strncasecmp(s + fl, " eq '", 5) != 0) return 0;
  s += fl + 5;
  const char *end = strchr(s, '\'');
  if (!end || (size_t)(end - s) >= n) return 0;
  memcpy(out, s, (size_t)(end - s));
  out[end - s] = 0;
  for (s = end + 1; *s == ' ';)
    s++;
  if (strncasecmp(s, "and ", 4) == 0) s += 4;
  *p = s;
  return 1;
}

/* Consumes what follows a filter term: spaces and one "and". */
static const char *odata_next(const char *s) {
  while (*s == ' ')
    s++;
  if (strncasecmp(s, "and ", 4) == 0) s += 4;
  return s;
}

/* Reads "'<value>'" at s into out; the end of the quote, or NULL. */
static const char *odata_quoted(const char *s, char *out, size_t n) {
  if (*s != '\'') return NULL;
  const char *end = strchr(++s, '\'');
  if (!end || (size_t)(end - s) >= n) return NULL;
  memcpy(out, s, (size_t)(end - s));
  out[end - s] = 0;
  return end + 1;
}

/* "substringof('<value>', <field>)" (value first) or "startswith(<field>, '<value>')"
 * (field first), the two functions Resources_List documents. */
static int odata_call(const char **p, const char *fn, const char *field, char *dst, size_t n) {
  const char *s = *p;
  char out[256]; /* dst is written only on a match */
  if (n > sizeof out) n = sizeof out;
  size_t fnl = strlen(fn), fl = strlen(field);
  while (*s == ' ')
    s++;
  if (strncasecmp(s, fn, fnl) != 0 || s[fnl] != '(') return 0;
  s += fnl + 1;
  while (*s == ' ')
    s++;
  int value_first = strcasecmp(fn, "substringof") == 0;
  if (value_first) {
    if (!(s = odata_quoted(s, out, n))) return 0;
    while (*s == ' ')
      s++;
    if (*s++ != ',') return 0;
    while (*s == ' ')
      s++;
    if (strncasecmp(s, field, fl) != 0) return 0;
    s += fl;
  } else {
    if (strncasecmp(s, field, fl) != 0) return 0;
    s += fl;
    while (*s == ' ')
      s++;
    if (*s++ != ',') return 0;
    while (*s == ' ')
      s++;
    if (!(s = odata_quoted(s, out, n))) return 0;
  }
  while (*s == ' ')
    s++;
  if (*s++ != ')') return 0;
  memcpy(dst, out, strlen(out) + 1);
  *p = odata_next(s);
  return 1;
}

static int has_substr_nocase(const char *hay, const char *needle) {
  return hay && strcasestr(hay, needle) != NULL;
}

/* Tag names are case-insensitive in Azure; values are not. */
static json_t *tag_get(json_t *tags, const char *name) {
  const char *k;
  json_t *v;
  json_object_foreach(tags, k, v) {
    if (strcasecmp(k, name) == 0) return v;
  }
  return NULL;
}

/* Lists show what the caller may read, as Azure filters them; a caller with
 * no role anywhere under `scope` is refused outright. */
static int list_allowed(http_req *r, const char *action, const char *scope) {
  if (access_any_at_or_below(r, scope)) return 1;
  access_fail_denied(r, action, scope);
  return 0;
}

static int item_visible(http_req *r, const char *type, const char *id) {
  char action[300];
  snprintf(action, sizeof action, "%s/read",
           strcasecmp(type, "Microsoft.Resources/resourceGroups") == 0
               ? "Microsoft.Resources/subscriptions/resourceGroups"
               : type);
  return access_allowed(r, action, id, 0);
}

json_t *arm_visible_only(http_req *r, json_t *list) {
  json_t *kept = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *id = json_string_value(json_object_get(e, "id"));
    if (type && id && item_visible(r, type, id)) json_array_append(kept, e);
  }
  json_decref(list);
  return kept;
}

void arm_group_list(http_req *r) {
  srv *s = r->srv;
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  char subscope[80];
  snprintf(subscope, sizeof subscope, "/subscriptions/%s", s->subscription_id);
  if (!list_allowed(r, "Microsoft.Resources/subscriptions/resourceGroups/read", subscope)) return;
  sqlite3_stmt *st;
  json_t *list = json_array();
  if (store_prepare(store_db(s),
                    "SELECT name, location, tags, managed_by, state FROM resource_groups "
                    "WHERE subscription=? ORDER BY name COLLATE NOCASE",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, s->subscription_id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
      json_array_append_new(list, group_json(s, st));
    store_finalize(st);
  }
  const char *filter = http_query_get(r, "$filter");
  if (filter && *filter) {
    /* az uses "tagName eq 'x' and tagValue eq 'y'"; anything else is refused. */
    char tn[256] = "", tv[256] = "";
    const char *f = filter;
    int n = 0;
    if (odata_eq(&f, "tagName", tn, sizeof tn)) n = odata_eq(&f, "tagValue", tv, sizeof tv) ? 2 : 1;
    if (n < 1 || *f) {
      json_decref(list);
      http_fail(r, ARM_ERR_INVALID_FILTER_IN_QUERY_STRING,
                "The $filter '%s' is not supported; azlite supports \"tagName eq '...'\" and "
                "\"tagName eq '...' and tagValue eq '...'\".",
                filter);
      return;
    }
    json_t *kept = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(list, i, g) {
      json_t *v = tag_get(json_object_get(g, "tags"), tn);
      if (v && (n < 2 || strcmp(json_string_value(v), tv) == 0)) json_array_append(kept, g);
    }
    json_decref(list);
    list = kept;
  }
  list = arm_visible_only(r, list);
  arm_reply_list(r, list);
}

/* ---- the generic resource table ---------------------------------------- */

int arm_resource_put(srv *s, const char *id, const char *type, json_t *body) {
  char sub[40], rg[128];
  id_parts(id, sub, rg);
  char *bj = json_dumps(body, JSON_COMPACT);
  const char *name = json_string_value(json_object_get(body, "name"));
  const char *loc = json_string_value(json_object_get(body, "location"));
  int64_t now = clock_now_ms(s);
  /* The group check and the write in one transaction: a group delete that
   * starts meanwhile sees this resource, or this sees the group Deleting. */
  int rc = store_begin(s);
  if (rc == 0 && rg[0] && group_state(s, sub, rg) != 1) {
    log_warn("arm: refused to write %s: its resource group is gone or being deleted", id);
    rc = -1;
  }
  if (rc == 0)
    rc = store_exec(s,
                    "INSERT INTO resources(id,subscription,resource_group,type,name,location,"
                    "body,created_ms,changed_ms) VALUES(%Q,%Q,%Q,%Q,%Q,%Q,%Q,%lld,%lld) "
                    "ON CONFLICT(id) DO UPDATE SET body=excluded.body, "
                    "location=excluded.location, changed_ms=excluded.changed_ms",
                    id, sub, rg, type, name ? name : "", loc, bj, (long long)now, (long long)now);
  if (rc == 0)
    rc = store_commit(s);
  else
    store_rollback(s);
  free(bj);
  return rc;
}

json_t *arm_resource_get(srv *s, const char *id) {
  sqlite3_stmt *st;
  json_t *j = NULL;
  if (store_prepare(store_db(s), "SELECT body FROM resources WHERE id=?", -1, &st, NULL) !=
      SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW)
    j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
  store_finalize(st);
  return j;
}

/* Removing a resource: the generic layer's type removes its own state
 * (remove hook), then the providers that keep state about other providers'
 * resources (role assignments at its scope, its managed identity) are told. */
int arm_resource_delete(srv *s, const char *id) {
  char type[256] = "";
  json_t *body = NULL;
  sqlite3_stmt *st;
  if (store_begin(s) != 0) return -1;
  if (store_prepare(store_db(s), "SELECT type, body FROM resources WHERE id=?", -1, &st, NULL) ==
      SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
      snprintf(type, sizeof type, "%s", sqlite3_column_text(st, 0));
      body = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
    }
    store_finalize(st);
  }
  int rc = 0;
  const arm_type *t = type[0] ? arm_type_find(type) : NULL;
  if (t && t->remove) rc = t->remove(s, id, body);
  json_decref(body);
  if (rc == 0 && type[0])
    for (int i = 0; providers[i]; i++) {
      const provider *p = providers[i];
      size_t n = strlen(p->name);
      if (p->resource_deleted && !(strncasecmp(type, p->name, n) == 0 && type[n] == '/'))
        p->resource_deleted(s, id, type);
    }
  arm_test_delete_delay();
  if (rc != 0 || store_exec(s, "DELETE FROM resources WHERE id=%Q", id) != 0) {
    store_rollback(s);
    return -1;
  }
  return store_commit(s);
}

json_t *arm_resource_list(srv *s, const char *scope, const char *type) {
  sqlite3_stmt *st;
  json_t *list = json_array();
  /* A prefix test, not LIKE: '_' and '%' are legal in resource group names. */
  char *prefix = sqlite3_mprintf("%s/", scope);
  if (store_prepare(store_db(s),
                    "SELECT body FROM resources WHERE substr(id, 1, length(?1)) = ?1 "
                    "COLLATE NOCASE AND (?2 IS NULL OR type=?2) ORDER BY id",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    if (type)
      sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 2);
    while (sqlite3_step(st) == SQLITE_ROW) {
      json_t *j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
      if (j) json_array_append_new(list, j);
    }
    store_finalize(st);
  }
  sqlite3_free(prefix);
  return list;
}

char *arm_resource_id(const char *sub, const char *rg, const char *type, const char *name) {
  char *id = NULL;
  if (asprintf(&id, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s", sub, rg, type, name) < 0)
    abort();
  return id;
}

int arm_list_scope(http_req *r, const char *action, char *scope, size_t n) {
  srv *s = r->srv;
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  if (rg) {
    if (arm_require_group(r, sub, rg) != 0) return -1;
    char name[128];
    arm_group_exists(s, sub, rg, name, sizeof name);
    snprintf(scope, n, "/subscriptions/%s/resourceGroups/%s", s->subscription_id, name);
  } else {
    if (arm_require_subscription(r, sub) != 0) return -1;
    snprintf(scope, n, "/subscriptions/%s", s->subscription_id);
  }
  return list_allowed(r, action, scope) ? 0 : -1;
}

/* GET /subscriptions/{sub}[/resourceGroups/{rg}]/resources: the generic view
 * (id, name, type, location, tags, kind, sku, identity). */
void arm_resources_list(http_req *r) {
  srv *s = r->srv;
  char scope[256];
  if (arm_list_scope(r, "Microsoft.Resources/subscriptions/resources/read", scope, sizeof scope))
    return;
  /* The $filter forms az and the SDKs send: "<field> eq '<value>'" over
   * resourceGroup, resourceType, name, location, tagName, tagValue;
   * substringof('<value>', name|resourceGroup); startswith(tagName, '<prefix>');
   * joined by "and". */
  enum { F_GROUP, F_TYPE, F_NAME, F_LOC, F_TAG, F_TAGVAL, F_SUB_NAME, F_SUB_GROUP, F_TAG_PRE, NF };
  static const char *const fields[] = {"resourceGroup", "resourceType", "name",
                                       "location",      "tagName",      "tagValue"};
  char want[NF][256] = {{0}};
  const char *filter = http_query_get(r, "$filter"), *f = filter;
  while (f && *f) {
    size_t k = 0;
    for (; k < 6; k++)
      if (odata_eq(&f, fields[k], want[k], sizeof want[k])) break;
    if (k < 6) continue;
    if (odata_call(&f, "substringof", "name", want[F_SUB_NAME], sizeof want[0]) ||
        odata_call(&f, "substringof", "resourceGroup", want[F_SUB_GROUP], sizeof want[0]) ||
        odata_call(&f, "startswith", "tagName", want[F_TAG_PRE], sizeof want[0]))
      continue;
    http_fail(r, ARM_ERR_INVALID_FILTER_IN_QUERY_STRING,
              "The $filter '%s' is not supported; azlite supports \"<field> eq '<value>'\" "
              "for resourceGroup, resourceType, name, location, tagName and tagValue, "
              "substringof('<value>', name|resourceGroup) and startswith(tagName, '<prefix>'), "
              "joined by \"and\".",
              filter);
    return;
  }
  json_t *all =
      arm_visible_only(r, arm_resource_list(s, scope, want[F_TYPE][0] ? want[F_TYPE] : NULL));
  /* Extension resources kept in the table (budgets: stored without a
   * location) are not the scope's resources: Azure does not list them here. */
  for (size_t i = json_array_size(all); i-- > 0;)
    if (!json_is_string(json_object_get(json_array_get(all, i), "location")))
      json_array_remove(all, i);
  int filtered = 0;
  for (int k = 0; k < NF; k++)
    if (k != F_TYPE && want[k][0]) filtered = 1;
  if (filtered) {
    json_t *kept = json_array();
    size_t i;
    json_t *e;
    char rgpre[400];
    snprintf(rgpre, sizeof rgpre, "/subscriptions/%s/resourceGroups/%s/", s->subscription_id,
             want[F_GROUP]);
    size_t gpl = strlen("/subscriptions//resourceGroups/") + strlen(s->subscription_id);
    json_array_foreach(all, i, e) {
      const char *id = json_string_value(json_object_get(e, "id"));
      const char *nm = json_string_value(json_object_get(e, "name"));
      const char *loc = json_string_value(json_object_get(e, "location"));
      json_t *tags = json_object_get(e, "tags");
      json_t *tv = want[F_TAG][0] ? tag_get(tags, want[F_TAG]) : NULL;
      /* The group is the id's segment after resourceGroups/. */
      char grp[256] = "";
      if (id && strlen(id) > gpl) {
        const char *g = id + gpl, *end = strchr(g, '/');
        size_t gl = end ? (size_t)(end - g) : strlen(g);
        if (gl < sizeof grp) memcpy(grp, g, gl), grp[gl] = 0;
      }
      int tag_pre_ok = 1;
      if (want[F_TAG_PRE][0]) {
        tag_pre_ok = 0;
        const char *tk;
        json_t *tval;
        json_object_foreach(tags, tk, tval) {
          if (strncasecmp(tk, want[F_TAG_PRE], strlen(want[F_TAG_PRE])) == 0) tag_pre_ok = 1;
        }
      }
      if ((want[F_GROUP][0] && (!id || strncasecmp(id, rgpre, strlen(rgpre)) != 0)) ||
          (want[F_NAME][0] && (!nm || strcasecmp(nm, want[F_NAME]) != 0)) ||
          (want[F_LOC][0] && (!loc || strcasecmp(loc, want[F_LOC]) != 0)) ||
          (want[F_TAG][0] &&
           (!tv || (want[F_TAGVAL][0] && strcmp(json_string_value(tv), want[F_TAGVAL]) != 0))) ||
          (want[F_SUB_NAME][0] && !has_substr_nocase(nm, want[F_SUB_NAME])) ||
          (want[F_SUB_GROUP][0] && !has_substr_nocase(grp, want[F_SUB_GROUP])) || !tag_pre_ok)
        continue;
      json_array_append(kept, e);
    }
    json_decref(all);
    all = kept;
  }
  json_t *out = json_array();
  size_t i;
  json_t *res;
  static const char *const keep[] = {"id",   "name", "type",     "location", "tags",
                                     "kind", "sku",  "identity", "managedBy"};
  json_array_foreach(all, i, res) {
    json_t *g = json_object();
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
      json_t *v = json_object_get(res, keep[k]);
      if (v) json_object_set(g, keep[k], v);
    }
    json_array_append_new(out, g);
  }
  json_decref(all);
  arm_reply_list(r, out);
}

void arm_reply_list(http_req *r, json_t *list) {
  http_reply_json(r, 200, json_pack("{s:o}", "value", list));
}
