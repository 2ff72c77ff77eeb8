/* provider.c: cost management: Microsoft.Consumption (usageDetails,
 * budgets), Microsoft.CostManagement (query, forecast, budgets, alerts),
 * Microsoft.Insights action groups, the Retail Prices endpoint, and the
 * admin mailbox.  Every URL it serves is in cost_routes below.
 *
 * The tick runs after every metering provider's (providers.c): it prices
 * the usage they recorded this pass and evaluates the budgets (alerts.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* cost_daily: priced usage per day (ms / 86400000), resource and meter
 * (usage.c); quantity in the price's unitOfMeasure, cost in USD.
 * cost_alerts: one per budget, notification and period (alerts.c);
 * cost_deliveries: its mails and webhook POSTs, and how they went. */
static const char *const cost_schema[] = {
    "CREATE TABLE cost_daily(day INTEGER NOT NULL, resource_id TEXT NOT NULL COLLATE NOCASE,"
    "  meter TEXT NOT NULL, subscription TEXT, resource_group TEXT COLLATE NOCASE,"
    "  location TEXT, quantity REAL NOT NULL, unit TEXT NOT NULL, cost REAL NOT NULL,"
    "  PRIMARY KEY(day, resource_id, meter));"
    "CREATE TABLE cost_alerts(id TEXT PRIMARY KEY, scope TEXT NOT NULL COLLATE NOCASE,"
    "  budget_id TEXT NOT NULL COLLATE NOCASE, notification TEXT NOT NULL,"
    "  period_start INTEGER NOT NULL, threshold REAL NOT NULL, threshold_type TEXT NOT NULL,"
    "  spend REAL NOT NULL, amount REAL NOT NULL, created_ms INTEGER NOT NULL, details TEXT,"
    "  UNIQUE(budget_id, notification, period_start));"
    "CREATE TABLE cost_deliveries(id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL"
    "  REFERENCES cost_alerts(id) ON DELETE CASCADE, kind TEXT NOT NULL /* email, webhook */,"
    "  target TEXT NOT NULL, payload TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_ms INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'Pending', last_error TEXT,"
    "  done_ms INTEGER);"
    "CREATE INDEX cost_deliveries_pending ON cost_deliveries(kind, status);",
};

#define ROW_(m, p, f, d)                                                                           \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .data = d                                                               \
  }
#define SUB "/subscriptions/{sub}"
#define RG SUB "/resourceGroups/{rg}"
#define BUDGETS(scope, ns)                                                                         \
  ROW_("GET", scope "/providers/" ns "/budgets", cost_budget_list, ns),                            \
      ROW_("PUT", scope "/providers/" ns "/budgets/{name}", cost_budget_put, ns),                  \
      ROW_("GET", scope "/providers/" ns "/budgets/{name}", cost_budget_get, ns),                  \
      ROW_("DELETE", scope "/providers/" ns "/budgets/{name}", cost_budget_delete, ns)

static const route cost_routes[] = {
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/api/retail/prices",
     .fn = cost_retail_prices,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/cost/mail",
     .fn = cost_mail_list,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},
    ROW_("GET", SUB "/providers/Microsoft.Consumption/usageDetails", cost_usage_details, NULL),
    ROW_("GET", RG "/providers/Microsoft.Consumption/usageDetails", cost_usage_details, NULL),
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/providers/Microsoft.Billing/billingAccounts/{ba}/providers/"
                "Microsoft.Consumption/usageDetails",
     .fn = cost_usage_details,
     .auth = AUTH_ARM,
     .style = HTTP_ERR_ARM,
     .action = ""},
    BUDGETS(SUB, "Microsoft.Consumption"),
    BUDGETS(RG, "Microsoft.Consumption"),
    BUDGETS(SUB, "Microsoft.CostManagement"),
    BUDGETS(RG, "Microsoft.CostManagement"),
    ROW_("POST", SUB "/providers/Microsoft.CostManagement/query", cost_query, NULL),
    ROW_("POST", RG "/providers/Microsoft.CostManagement/query", cost_query, NULL),
    ROW_("POST", SUB "/providers/Microsoft.CostManagement/forecast", cost_forecast, NULL),
    ROW_("POST", RG "/providers/Microsoft.CostManagement/forecast", cost_forecast, NULL),
    ROW_("GET", SUB "/providers/Microsoft.CostManagement/alerts", cost_alerts_list, NULL),
    ROW_("GET", RG "/providers/Microsoft.CostManagement/alerts", cost_alerts_list, NULL),
    ROW_("GET", SUB "/providers/Microsoft.CostManagement/alerts/{name}", cost_alerts_list, NULL),
    ROW_("GET", RG "/providers/Microsoft.CostManagement/alerts/{name}", cost_alerts_list, NULL),
    ARM_TRACKED_ROUTES("Microsoft.Insights/actionGroups", &cost_action_group_type),
};

/* api-versions: Debian's azure-mgmt-consumption (2021-10-01) and
 * azure-mgmt-costmanagement (2022-10-01) defaults, azure-mgmt-monitor's for
 * action groups (2022-06-01), and the others in azure-rest-api-specs. */
static const char *const consumption_versions[] = {
    "2024-08-01",         "2023-11-01", "2023-05-01",         "2023-03-01", "2021-10-01",
    "2021-05-01",         "2019-11-01", "2019-10-01",         "2019-06-01", "2019-05-01",
    "2019-01-01",         "2018-10-01", "2018-08-31",         "2018-06-30", "2018-05-31",
    "2018-03-31",         "2018-01-31", "2017-12-30-preview", "2017-11-30", "2017-06-30-preview",
    "2017-04-24-preview", NULL};
static const char *const costmanagement_versions[] = {
    "2025-03-01",         "2024-08-01",         "2023-11-01", "2023-09-01", "2023-08-01",
    "2023-07-01-preview", "2023-04-01-preview", "2023-03-01", "2022-10-01", "2022-10-01-preview",
    "2022-06-01-preview", "2022-04-01-preview", "2021-10-01", "2020-06-01", "2019-11-01",
    "2019-10-01",         "2019-01-01",         "2018-05-31", NULL};
static const char *const insights_ag_versions[] = {
    "2024-10-01-preview", "2023-09-01-preview", "2023-01-01", "2022-06-01",
    "2022-04-01",         "2021-09-01",         "2019-06-01", "2019-03-01",
    "2018-09-01",         "2018-03-01",         "2017-04-01", NULL};

static const resource_type cost_types[] = {
    {.type = "Microsoft.Consumption/budgets", .api_versions = consumption_versions},
    {.type = "Microsoft.Consumption/usageDetails", .api_versions = consumption_versions},
    {.type = "Microsoft.CostManagement/budgets", .api_versions = costmanagement_versions},
    {.type = "Microsoft.CostManagement/query", .api_versions = costmanagement_versions},
    {.type = "Microsoft.CostManagement/forecast", .api_versions = costmanagement_versions},
    {.type = "Microsoft.CostManagement/alerts", .api_versions = costmanagement_versions},
    {.type = "Microsoft.Insights/actionGroups",
     .api_versions = insights_ag_versions,
     .generic = &cost_action_group_type},
    {.type = NULL},
};

cost_state *cost_state_of(srv *s) {
  return *srv_provider_state(s, &cost_provider);
}

static int cost_init(srv *s) {
  cost_state *c = calloc(1, sizeof *c);
  if (!c) return -1;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  *srv_provider_state(s, &cost_provider) = c;
  if (cost_prices_load(s, c) != 0) return -1;
  if (s->serving && cost_worker_start(s, c) != 0) return -1;
  return 0;
}

static void cost_tick(srv *s, int64_t now_ms) {
  cost_alerts_tick(s, now_ms);
}

/* A budget, or the group holding budgets, is going: its alerts go with it
 * (the priced usage stays: it happened). */
static void cost_resource_deleted(srv *s, const char *id, const char *type) {
  (void)type;
  store_exec(s, "DELETE FROM cost_alerts WHERE budget_id=%Q OR budget_id LIKE %Q || '/%%'", id, id);
}

static void cost_fini(srv *s) {
  cost_state *c = cost_state_of(s);
  if (!c) return;
  cost_worker_stop(c);
  json_decref(c->catalog);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
  *srv_provider_state(s, &cost_provider) = NULL;
}

const provider cost_provider = {
    .name = "Microsoft.CostManagement",
    .routes = cost_routes,
    .nroutes = sizeof cost_routes / sizeof cost_routes[0],
    .schema = {.scripts = cost_schema, .count = sizeof cost_schema / sizeof cost_schema[0]},
    .resource_types = cost_types,
    .init = cost_init,
    .tick = cost_tick,
    .resource_deleted = cost_resource_deleted,
    .fini = cost_fini,
};
