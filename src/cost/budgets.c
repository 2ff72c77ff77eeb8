/* budgets.c: budgets (Microsoft.Consumption/budgets and the same budgets
 * through Microsoft.CostManagement/budgets) at subscription and resource
 * group scope, and action groups (Microsoft.Insights/actionGroups: email and
 * webhook receivers), which budgets name in contactGroups.
 *
 * Both are kept in ARM's resource table (arm_resource_put and friends, so a
 * resource group's deletion takes them); budgets are extension resources at
 * a scope, which the tracked-resource layer (resource.h) does not serve, so
 * their PUT, GET, DELETE and list are here, with Consumption's validation.
 * A budget is stored once, under its Consumption id; the CostManagement
 * paths show it with their own id and type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

#define BUDGET_TYPE "Microsoft.Consumption/budgets"
#define AG_TYPE "Microsoft.Insights/actionGroups"

char *cost_budget_scope(const char *id) {
  const char *p = strcasestr(id, "/providers/");
  return strndup(id, p ? (size_t)(p - id) : strlen(id));
}

/* The route's namespace (its data): "Microsoft.Consumption" or "Microsoft.CostManagement". */
static const char *route_ns(http_req *r) {
  const char *ns = http_route_data(r);
  return ns ? ns : "Microsoft.Consumption";
}

int cost_route_scope(http_req *r, char scope[512]) {
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  if (arm_require_subscription(r, sub) != 0) return -1;
  if (rg) {
    char canon[128];
    if (!arm_group_exists(r->srv, r->srv->subscription_id, rg, canon, sizeof canon)) {
      http_fail(r, COST_ERR_RESOURCE_GROUP_NOT_FOUND, "Resource group '%s' could not be found.",
                rg);
      return -1;
    }
    snprintf(scope, 512, "/subscriptions/%s/resourceGroups/%s", r->srv->subscription_id, canon);
  } else {
    snprintf(scope, 512, "/subscriptions/%s", r->srv->subscription_id);
  }
  return 0;
}

static int64_t iso_first_of_month(const char *s) {
  int64_t ms = s ? clock_parse_iso8601(s) : -1;
  return ms >= 0 && cost_month_start(ms) == ms ? ms : -1;
}

static int grain_months(const char *g) {
  if (!g) return 0;
  if (!strcasecmp(g, "Monthly") || !strcasecmp(g, "BillingMonth")) return 1;
  if (!strcasecmp(g, "Quarterly") || !strcasecmp(g, "BillingQuarter")) return 3;
  if (!strcasecmp(g, "Annually") || !strcasecmp(g, "BillingAnnual")) return 12;
  return 0;
}

int cost_budget_period(json_t *b, int64_t now, int64_t *from, int64_t *to) {
  json_t *p = json_object_get(b, "properties");
  json_t *tp = json_object_get(p, "timePeriod");
  int64_t start = clock_parse_iso8601(json_string_value(json_object_get(tp, "startDate")));
  const char *e = json_string_value(json_object_get(tp, "endDate"));
  int64_t end = e ? clock_parse_iso8601(e) : INT64_MAX;
  int m = grain_months(json_string_value(json_object_get(p, "timeGrain")));
  if (start < 0 || m == 0 || now < start || now >= end) return -1;
  int k = 0;
  while (cost_add_months(start, (k + 1) * m) <= now)
    k++;
  *from = cost_add_months(start, k * m);
  *to = cost_add_months(start, (k + 1) * m);
  if (*to > end) *to = end;
  return 0;
}

/* Turns a request body into a budget's properties; fails r and returns NULL. */
static json_t *budget_build(http_req *r, json_t *in) {
  json_t *p = json_object_get(in, "properties");
  if (!json_is_object(p)) {
    http_fail(r, COST_ERR_BAD_REQUEST, "The budget must have properties.");
    return NULL;
  }
  const char *cat = json_string_value(json_object_get(p, "category"));
  if (cat && strcasecmp(cat, "Cost")) {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Budget category '%s' is not supported: azlite budgets track Cost.", cat);
    return NULL;
  }
  json_t *amount = json_object_get(p, "amount");
  if (!json_is_number(amount) || json_number_value(amount) <= 0) {
    http_fail(r, COST_ERR_BAD_REQUEST, "The budget amount must be a number greater than 0.");
    return NULL;
  }
  const char *grain = json_string_value(json_object_get(p, "timeGrain"));
  if (!grain_months(grain)) {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Invalid time grain '%s'. The time grain must be one of Monthly, Quarterly, "
              "Annually, BillingMonth, BillingQuarter, BillingAnnual.",
              grain ? grain : "");
    return NULL;
  }
  json_t *tp = json_object_get(p, "timePeriod");
  const char *sd = json_string_value(json_object_get(tp, "startDate"));
  const char *ed = json_string_value(json_object_get(tp, "endDate"));
  int64_t start = iso_first_of_month(sd);
  if (start < 0) {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Invalid budget start date '%s': the start date must be the first of a month.",
              sd ? sd : "");
    return NULL;
  }
  int64_t end = ed ? clock_parse_iso8601(ed) : cost_add_months(start, 120);
  if (end < 0 || end <= start) {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Invalid budget time period: the end date '%s' must be after the start date '%s'.",
              ed ? ed : "", sd);
    return NULL;
  }
  json_t *filter = json_object_get(p, "filter");
  if (filter && !json_is_null(filter) && json_object_size(filter) > 0) {
    http_fail(r, COST_ERR_UNSUPPORTED,
              "Budget filters are not supported by azlite: a budget covers its whole scope.");
    return NULL;
  }
  json_t *notes = json_object_get(p, "notifications");
  if (notes && !json_is_object(notes)) {
    http_fail(r, COST_ERR_BAD_REQUEST, "notifications must be an object of notifications.");
    return NULL;
  }
  if (json_object_size(notes) > 5) {
    http_fail(r, COST_ERR_BAD_REQUEST, "A budget can have at most 5 notifications.");
    return NULL;
  }
  json_t *onotes = json_object();
  const char *key;
  json_t *n;
  json_object_foreach(notes, key, n) {
    json_t *thr = json_object_get(n, "threshold");
    const char *op = json_string_value(json_object_get(n, "operator"));
    const char *tt = json_string_value(json_object_get(n, "thresholdType"));
    json_t *emails = json_object_get(n, "contactEmails");
    json_t *groups = json_object_get(n, "contactGroups");
    json_t *roles = json_object_get(n, "contactRoles");
    const char *err = NULL;
    if (!json_is_number(thr) || json_number_value(thr) <= 0 || json_number_value(thr) > 1000)
      err = "The threshold must be a number greater than 0 and at most 1000 (percent).";
    else if (!op || (strcasecmp(op, "EqualTo") && strcasecmp(op, "GreaterThan") &&
                     strcasecmp(op, "GreaterThanOrEqualTo")))
      err = "The operator must be EqualTo, GreaterThan or GreaterThanOrEqualTo.";
    else if (tt && strcasecmp(tt, "Actual") && strcasecmp(tt, "Forecasted"))
      err = "The thresholdType must be Actual or Forecasted.";
    else if (!json_is_boolean(json_object_get(n, "enabled")))
      err = "enabled (true or false) is required.";
    else if ((emails && !json_is_array(emails)) || (groups && !json_is_array(groups)) ||
             (roles && !json_is_array(roles)))
      err = "contactEmails, contactGroups and contactRoles must be arrays.";
    else if (json_array_size(emails) == 0 && json_array_size(groups) == 0 &&
             json_array_size(roles) == 0)
      err = "At least one of contactEmails, contactGroups or contactRoles is required.";
    if (err) {
      http_fail(r, COST_ERR_BAD_REQUEST, "Invalid notification '%s': %s", key, err);
      json_decref(onotes);
      return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(emails, i, v) {
      const char *a = json_string_value(v);
      if (!a || !strchr(a, '@') || strchr(a, '/') || strlen(a) > 200) {
        http_fail(r, COST_ERR_BAD_REQUEST,
                  "Invalid notification '%s': '%s' is not an email "
                  "address.",
                  key, a ? a : "");
        json_decref(onotes);
        return NULL;
      }
    }
    json_array_foreach(groups, i, v) {
      const char *g = json_string_value(v);
      json_t *ag = g ? arm_resource_get(r->srv, g) : NULL;
      json_decref(ag);
      if (!ag) {
        http_fail(r, COST_ERR_BAD_REQUEST,
                  "Invalid notification '%s': the action group '%s' does not exist.", key,
                  g ? g : "");
        json_decref(onotes);
        return NULL;
      }
    }
    json_object_set_new(
        onotes, key,
        json_pack("{s:O,s:s,s:O,s:o,s:o,s:o,s:s,s:s}", "enabled", json_object_get(n, "enabled"),
                  "operator", op, "threshold", thr, "contactEmails",
                  emails ? json_deep_copy(emails) : json_array(), "contactGroups",
                  groups ? json_deep_copy(groups) : json_array(), "contactRoles",
                  roles ? json_deep_copy(roles) : json_array(), "thresholdType",
                  tt ? (strcasecmp(tt, "Actual") ? "Forecasted" : "Actual") : "Actual", "locale",
                  json_string_value(json_object_get(n, "locale"))
                      ? json_string_value(json_object_get(n, "locale"))
                      : "en-us"));
  }
  char sbuf[40], ebuf[40];
  clock_iso8601(start, sbuf);
  clock_iso8601(end, ebuf);
  /* Azure shows dates without fractions. */
  snprintf(sbuf + 19, sizeof sbuf - 19, "Z");
  snprintf(ebuf + 19, sizeof ebuf - 19, "Z");
  return json_pack("{s:s,s:O,s:s,s:{s:s,s:s},s:o}", "category", "Cost", "amount", amount,
                   "timeGrain", grain, "timePeriod", "startDate", sbuf, "endDate", ebuf,
                   "notifications", onotes);
}

/* What GET answers: the stored budget with its spend now, under the
 * route's namespace. */
static json_t *budget_render(http_req *r, json_t *b) {
  srv *s = r->srv;
  json_t *out = json_deep_copy(b);
  json_decref(b);
  char *sid = http_strdup(r, json_string_value(json_object_get(out, "id")));
  const char *id = sid;
  if (!strcasecmp(route_ns(r), "Microsoft.CostManagement")) {
    char *scope = cost_budget_scope(id);
    json_object_set_new(
        out, "id",
        json_string(http_printf(r, "%s/providers/Microsoft.CostManagement/budgets/%s", scope,
                                json_string_value(json_object_get(out, "name")))));
    json_object_set_new(out, "type", json_string("Microsoft.CostManagement/budgets"));
    free(scope);
  }
  cost_usage_ingest(s);
  int64_t now = clock_now_ms(s), from, to;
  double cur = 0, fc = 0;
  char *scope = cost_budget_scope(id);
  if (cost_budget_period(out, now, &from, &to) == 0) {
    cur = cost_sum(s, scope, from, to);
    fc = cost_forecast_sum(s, scope, from, to, now);
  }
  free(scope);
  json_t *p = json_object_get(out, "properties");
  json_object_set_new(p, "currentSpend", json_pack("{s:f,s:s}", "amount", cur, "unit", "USD"));
  json_object_set_new(p, "forecastSpend", json_pack("{s:f,s:s}", "amount", fc, "unit", "USD"));
  return out;
}

static char *budget_id(http_req *r, const char *scope) {
  return http_printf(r, "%s/providers/" BUDGET_TYPE "/%s", scope, http_param(r, "name"));
}

static int budget_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 63) return 0;
  for (const char *c = n; *c; c++)
    if (!(*c == '-' || *c == '_' || (*c >= '0' && *c <= '9') ||
          ((*c | 32) >= 'a' && (*c | 32) <= 'z')))
      return 0;
  return 1;
}

void cost_budget_put(http_req *r) {
  char scope[512];
  if (cost_route_scope(r, scope) != 0) return;
  const char *name = http_param(r, "name");
  if (!budget_name_valid(name)) {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Invalid budget name '%s': 1 to 63 letters, digits, '-' and '_'.", name);
    return;
  }
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *props = budget_build(r, in);
  if (!props) return;
  char *id = budget_id(r, scope);
  json_t *cur = arm_resource_get(r->srv, id);
  /* An update that names the eTag it read must be of that version. */
  const char *want = json_string_value(json_object_get(in, "eTag"));
  const char *have = json_string_value(json_object_get(cur, "eTag"));
  if (cur && want && have && strcmp(want, have)) {
    /* have lives in cur: the message is made before cur goes. */
    http_fail(r, COST_ERR_PRECONDITION_FAILED,
              "The budget '%s' was changed since eTag %s was read (it is now %s).", name, want,
              have);
    json_decref(cur);
    json_decref(props);
    return;
  }
  char etag[37];
  uuid_v4(etag);
  json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "name", name, "type", BUDGET_TYPE,
                        "eTag", http_printf(r, "\"%s\"", etag), "properties", props);
  if (arm_resource_put(r->srv, id, BUDGET_TYPE, b) != 0) {
    json_decref(b);
    json_decref(cur);
    http_fail(r, COST_ERR_INTERNAL, "The budget could not be saved.");
    return;
  }
  sched_wake(r->srv);
  http_reply_json(r, cur ? 200 : 201, budget_render(r, b));
  json_decref(cur);
}

void cost_budget_get(http_req *r) {
  char scope[512];
  if (cost_route_scope(r, scope) != 0) return;
  json_t *b = arm_resource_get(r->srv, budget_id(r, scope));
  if (!b) {
    http_fail(r, COST_ERR_NOT_FOUND, "The budget '%s' was not found at scope '%s'.",
              http_param(r, "name"), scope);
    return;
  }
  http_reply_json(r, 200, budget_render(r, b));
}

void cost_budget_delete(http_req *r) {
  char scope[512];
  if (cost_route_scope(r, scope) != 0) return;
  char *id = budget_id(r, scope);
  json_t *b = arm_resource_get(r->srv, id);
  if (!b) {
    http_fail(r, COST_ERR_NOT_FOUND, "The budget '%s' was not found at scope '%s'.",
              http_param(r, "name"), scope);
    return;
  }
  json_decref(b);
  /* Its alerts go with it (the provider's resource_deleted hook). */
  if (store_begin(r->srv) != 0 || arm_resource_delete(r->srv, id) != 0 ||
      store_commit(r->srv) != 0) {
    store_rollback(r->srv);
    http_fail(r, COST_ERR_INTERNAL, "The budget could not be deleted.");
    return;
  }
  http_reply_empty(r, 200);
}

void cost_budget_list(http_req *r) {
  char scope[512];
  if (cost_route_scope(r, scope) != 0) return;
  json_t *all = arm_resource_list(r->srv, scope, BUDGET_TYPE), *out = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(all, i, v) {
    char *sc = cost_budget_scope(json_string_value(json_object_get(v, "id")));
    if (!strcasecmp(sc, scope)) json_array_append_new(out, budget_render(r, json_incref(v)));
    free(sc);
  }
  json_decref(all);
  http_reply_json(r, 200, json_pack("{s:o}", "value", out));
}

/* ---- action groups (the generic resource layer) --------------------------------- */

static int receivers_check(http_req *r, json_t *list, const char *what, const char *field) {
  if (list && !json_is_array(list)) {
    http_fail(r, COST_ERR_ACTION_GROUP_BAD, "%s must be an array.", what);
    return -1;
  }
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    const char *n = json_string_value(json_object_get(v, "name"));
    const char *f = json_string_value(json_object_get(v, field));
    if (!n || !*n || !f || !*f) {
      http_fail(r, COST_ERR_ACTION_GROUP_BAD, "Each of %s needs a name and %s.", what, field);
      return -1;
    }
    if (!strcmp(field, "emailAddress") && !strchr(f, '@')) {
      http_fail(r, COST_ERR_ACTION_GROUP_BAD, "'%s' is not a valid email address.", f);
      return -1;
    }
    if (!strcmp(field, "serviceUri") && strncasecmp(f, "http://", 7) &&
        strncasecmp(f, "https://", 8)) {
      http_fail(r, COST_ERR_ACTION_GROUP_BAD, "'%s' is not a valid webhook URI (http or https).",
                f);
      return -1;
    }
    json_object_set_new(v, "useCommonAlertSchema",
                        json_boolean(json_is_true(json_object_get(v, "useCommonAlertSchema"))));
    if (!strcmp(field, "emailAddress")) json_object_set_new(v, "status", json_string("Enabled"));
  }
  return 0;
}

static const char *const ag_unsupported[] = {
    "smsReceivers",     "itsmReceivers",     "azureAppPushReceivers",  "automationRunbookReceivers",
    "voiceReceivers",   "logicAppReceivers", "azureFunctionReceivers", "armRoleReceivers",
    "eventHubReceivers"};

/* The request's properties as stored: the email and webhook receivers checked,
 * every other kind empty (asking for one is refused). */
static int ag_build(arm_op *op) {
  if (op->patch) return 0;
  http_req *r = op->r;
  json_t *p = json_object_get(op->in, "properties");
  if (!json_is_object(p)) {
    http_fail(r, COST_ERR_ACTION_GROUP_BAD, "The action group must have properties.");
    return -1;
  }
  const char *sn = json_string_value(json_object_get(p, "groupShortName"));
  if (!sn || !*sn || strlen(sn) > 12) {
    http_fail(r, COST_ERR_ACTION_GROUP_BAD,
              "groupShortName is required and must be at most 12 characters.");
    return -1;
  }
  for (size_t i = 0; i < sizeof ag_unsupported / sizeof ag_unsupported[0]; i++)
    if (json_array_size(json_object_get(p, ag_unsupported[i])) > 0) {
      http_fail(r, COST_ERR_UNSUPPORTED,
                "%s are not supported by azlite: action groups take emailReceivers and "
                "webhookReceivers.",
                ag_unsupported[i]);
      return -1;
    }
  json_t *emails = json_deep_copy(json_object_get(p, "emailReceivers"));
  json_t *hooks = json_deep_copy(json_object_get(p, "webhookReceivers"));
  http_json_own(r, emails);
  http_json_own(r, hooks);
  if (receivers_check(r, emails, "emailReceivers", "emailAddress") != 0 ||
      receivers_check(r, hooks, "webhookReceivers", "serviceUri") != 0)
    return -1;
  json_t *enabled = json_object_get(p, "enabled");
  json_t *props =
      json_pack("{s:s,s:b,s:O,s:O}", "groupShortName", sn, "enabled",
                enabled ? json_is_true(enabled) : 1, "emailReceivers",
                emails ? emails : json_array(), "webhookReceivers", hooks ? hooks : json_array());
  if (!emails) json_decref(json_object_get(props, "emailReceivers"));
  if (!hooks) json_decref(json_object_get(props, "webhookReceivers"));
  for (size_t i = 0; i < sizeof ag_unsupported / sizeof ag_unsupported[0]; i++)
    json_object_set_new(props, ag_unsupported[i], json_array());
  json_object_set_new(op->body, "properties", props);
  return 0;
}

/* Azure's rule: 1 to 260 characters, none of <>*%&:\?/+#| or a control
 * character, not ending in a period or a space. */
static int ag_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 260 || n[len - 1] == '.' || n[len - 1] == ' ') return 0;
  for (const char *c = n; *c; c++)
    if ((unsigned char)*c < 0x20 || strchr("<>*%&:\\?/+#|", *c)) return 0;
  return 1;
}

const arm_type cost_action_group_type = {
    .type = AG_TYPE,
    .display = "action group",
    .name_valid = ag_name_valid,
    .name_message = "The action group name '%s' is invalid.",
    .fixed_location = "Global",
    .build = ag_build,
    .example_name = "contract-ag",
    .example_bad_name = "bad.",
    .example_body = "{\"location\":\"Global\",\"properties\":{\"groupShortName\":\"contract\","
                    "\"enabled\":true,\"emailReceivers\":[{\"name\":\"ops\",\"emailAddress\":"
                    "\"ops@example.com\"}]}}",
};
