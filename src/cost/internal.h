/* internal.h: what the files of cost management share: the price catalog
 * (prices.c), priced usage (usage.c), budgets and action groups
 * (budgets.c), cost queries (query.c), alerts and their delivery
 * (alerts.c).  Route handlers are listed in provider.c's table. */
#ifndef AZLITE_COST_INTERNAL_H
#define AZLITE_COST_INTERNAL_H

#include <pthread.h>

#include "../arm/arm.h"
#include "../arm/resource.h"
#include "../core/core.h"
#include "errors.h"

extern const provider cost_provider;

#define COST_DAY_MS 86400000LL

/* ---- the provider's state ---------------------------------------------- */

typedef struct cost_state {
  json_t *catalog;  /* {"Items":[...]}: the file's items plus the VM sizes'; immutable after init */
  pthread_t worker; /* delivers webhooks (alerts.c) */
  int worker_started;
  pthread_mutex_t mu; /* guards stop and wake */
  pthread_cond_t cv;
  int stop, wake;
} cost_state;

cost_state *cost_state_of(srv *s);

/* ---- prices (prices.c) -------------------------------------------------- */

/* Loads the shipped catalog, or cfg.prices_file; -1 (logged) on a bad file. */
int cost_prices_load(srv *s, cost_state *c);
/* The catalog item that prices an azlite meter ("Microsoft.Storage/blobs/
 * capacity/Hot"), NULL when none (borrowed).  Spot VM meters have items too
 * (their retailPrice is the catalog's; cost_price_at gives the live one). */
json_t *cost_price_item(srv *s, const char *meter);
/* What one unit of the item's unitOfMeasure of meter cost at at_ms in
 * location (spot VMs: compute's spot price then); -1 when unpriced. */
double cost_price_at(srv *s, const char *meter, const char *location, int64_t at_ms);
/* An event's quantity in the item's unitOfMeasure (Hours as they are, a
 * day's Bytes as GB-months, counts per 10K, ...). */
double cost_quantity_convert(json_t *item, const char *unit, double qty, int64_t at_ms);
/* GET /api/retail/prices (the Retail Prices API's shape and $filter). */
void cost_retail_prices(http_req *r);

/* ---- usage (usage.c) ----------------------------------------------------- */

/* Prices the usage events recorded since the last call into cost_daily
 * (per resource, meter and day), the cursor moving in the same
 * transaction.  Returns the number of events priced. */
int cost_usage_ingest(srv *s);
/* Days (ms / COST_DAY_MS) and months of the UTC calendar. */
int64_t cost_month_start(int64_t ms);       /* 00:00 of the ms's month's first day */
int64_t cost_add_months(int64_t ms, int n); /* the same day n months on */
int cost_days_in_month(int64_t ms);
/* The resource group a resource id names ("" when none); out holds 128. */
void cost_id_group(const char *id, char out[128]);
/* Cost at a scope (subscription or group id) over [from_ms, to_ms). */
double cost_sum(srv *s, const char *scope, int64_t from_ms, int64_t to_ms);
void cost_usage_details(http_req *r);

/* ---- budgets and action groups (budgets.c) ------------------------------ */

void cost_budget_put(http_req *r);
void cost_budget_get(http_req *r);
void cost_budget_delete(http_req *r);
void cost_budget_list(http_req *r);
/* Microsoft.Insights/actionGroups, a type of the generic resource layer. */
extern const struct arm_type cost_action_group_type;
/* The budget's current period [*from, *to) at now; -1 when now is outside
 * its timePeriod. */
int cost_budget_period(json_t *budget, int64_t now_ms, int64_t *from, int64_t *to);
/* The scope a budget id sits at (its part before /providers/). malloc'd. */
char *cost_budget_scope(const char *id);
/* Checks the scope the route names (subscription, or group: 404
 * ResourceGroupNotFound); writes the canonical scope.  0, or -1 with r failed. */
int cost_route_scope(http_req *r, char scope[512]);

/* ---- queries (query.c) --------------------------------------------------- */

void cost_query(http_req *r);
void cost_forecast(http_req *r);
/* Forecast cost over [from, to) at scope: the actual cost until now plus
 * the recent daily average for the days left. */
double cost_forecast_sum(srv *s, const char *scope, int64_t from_ms, int64_t to_ms, int64_t now_ms);

/* ---- alerts (alerts.c) --------------------------------------------------- */

/* Evaluates every budget at now (scheduler thread): writes new alerts, their
 * mails and webhook deliveries. */
void cost_alerts_tick(srv *s, int64_t now_ms);
int cost_worker_start(srv *s, cost_state *c);
void cost_worker_stop(cost_state *c);
void cost_alerts_list(http_req *r);
void cost_mail_list(http_req *r);
/* The messages in the Maildir (for `azlite cost mail` and the admin API):
 * [{to, file, subject, date}], a new reference. */
json_t *cost_mail_messages(srv *s);

#endif
