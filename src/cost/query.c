/* query.c: Microsoft.CostManagement/query and forecast at subscription and
 * resource-group scope, over cost_daily (usage.c).  AmortizedCost equals
 * ActualCost (azlite sells no reservations). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* The body's time range [*from, *to) (ms); fails r. */
static int query_range(http_req *r, json_t *in, int64_t *from, int64_t *to) {
  int64_t now = clock_now_ms(r->srv);
  const char *tf = json_string_value(json_object_get(in, "timeframe"));
  int64_t today = now - now % COST_DAY_MS;
  if (!tf) {
    http_fail(r, COST_ERR_BAD_REQUEST, "timeframe is required.");
    return -1;
  }
  if (!strcasecmp(tf, "MonthToDate") || !strcasecmp(tf, "BillingMonthToDate")) {
    *from = cost_month_start(now);
    *to = today + COST_DAY_MS;
  } else if (!strcasecmp(tf, "TheLastMonth") || !strcasecmp(tf, "TheLastBillingMonth")) {
    *to = cost_month_start(now);
    *from = cost_add_months(*to, -1);
  } else if (!strcasecmp(tf, "TheCurrentMonth")) {
    *from = cost_month_start(now);
    *to = cost_add_months(*from, 1);
  } else if (!strcasecmp(tf, "WeekToDate")) {
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    *from = today - (int64_t)tm.tm_wday * COST_DAY_MS;
    *to = today + COST_DAY_MS;
  } else if (!strcasecmp(tf, "Custom")) {
    json_t *tp = json_object_get(in, "timePeriod");
    int64_t a = clock_parse_iso8601(json_string_value(json_object_get(tp, "from")));
    int64_t b = clock_parse_iso8601(json_string_value(json_object_get(tp, "to")));
    if (a < 0 || b < 0 || b < a) {
      http_fail(r, COST_ERR_BAD_REQUEST,
                "A Custom timeframe needs timePeriod.from and timePeriod.to (ISO 8601), from "
                "not after to.");
      return -1;
    }
    *from = a - a % COST_DAY_MS;
    *to = b - b % COST_DAY_MS + COST_DAY_MS; /* `to` is inclusive of its day */
  } else {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Invalid timeframe '%s': azlite takes MonthToDate, BillingMonthToDate, "
              "TheLastMonth, TheLastBillingMonth, TheCurrentMonth, WeekToDate or Custom.",
              tf);
    return -1;
  }
  return 0;
}

static int day_yyyymmdd(int64_t day) {
  time_t t = (time_t)(day * 86400);
  struct tm tm;
  gmtime_r(&t, &tm);
  return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* A grouping dimension's value for a cost_daily row. */
static const char *dim_value(srv *s, const char *dim, const char *rid, const char *meter,
                             const char *rg, const char *loc) {
  json_t *item = cost_price_item(s, meter);
  if (!strcasecmp(dim, "ResourceGroup") || !strcasecmp(dim, "ResourceGroupName")) return rg;
  if (!strcasecmp(dim, "ResourceId")) return rid;
  if (!strcasecmp(dim, "ResourceLocation")) return loc;
  if (!strcasecmp(dim, "Meter")) {
    const char *m = json_string_value(json_object_get(item, "meterName"));
    return m ? m : meter;
  }
  if (!strcasecmp(dim, "MeterCategory") || !strcasecmp(dim, "ServiceName")) {
    const char *m = json_string_value(json_object_get(item, "serviceName"));
    return m ? m : (!strncasecmp(meter, "Microsoft.Compute", 17) ? "Virtual Machines" : "Storage");
  }
  return NULL;
}

static const char *const dims_known[] = {
    "ResourceGroup", "ResourceGroupName", "ResourceId", "ResourceLocation",
    "Meter",         "MeterCategory",     "ServiceName"};

void cost_query(http_req *r) {
  srv *s = r->srv;
  char scope[512];
  if (cost_route_scope(r, scope) != 0) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  const char *type = json_string_value(json_object_get(in, "type"));
  if (!type || (strcasecmp(type, "ActualCost") && strcasecmp(type, "AmortizedCost") &&
                strcasecmp(type, "Usage"))) {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Invalid query type '%s': ActualCost, AmortizedCost or Usage.", type ? type : "");
    return;
  }
  int64_t from, to;
  if (query_range(r, in, &from, &to) != 0) return;
  json_t *ds = json_object_get(in, "dataset");
  const char *gran = json_string_value(json_object_get(ds, "granularity"));
  int daily = gran && !strcasecmp(gran, "Daily");
  if (gran && !daily && strcasecmp(gran, "None")) {
    http_fail(r, COST_ERR_BAD_REQUEST, "Invalid granularity '%s': Daily or None.", gran);
    return;
  }
  if (json_object_get(ds, "filter")) {
    http_fail(r, COST_ERR_UNSUPPORTED, "Query filters are not supported by azlite.");
    return;
  }
  /* Aggregations: alias -> {name: Cost|PreTaxCost|CostUSD|PreTaxCostUSD|UsageQuantity, function:
   * Sum}. */
  json_t *aggs = json_object_get(ds, "aggregation");
  const char *akey[8], *aname[8];
  int aq[8], na = 0;
  const char *k;
  json_t *v;
  json_object_foreach(aggs, k, v) {
    const char *n = json_string_value(json_object_get(v, "name"));
    const char *fn = json_string_value(json_object_get(v, "function"));
    if (na == 8 || !n || (fn && strcasecmp(fn, "Sum")) ||
        (strcasecmp(n, "Cost") && strcasecmp(n, "PreTaxCost") && strcasecmp(n, "CostUSD") &&
         strcasecmp(n, "PreTaxCostUSD") && strcasecmp(n, "UsageQuantity"))) {
      http_fail(r, COST_ERR_BAD_REQUEST,
                "Invalid aggregation '%s': Sum of Cost, PreTaxCost, CostUSD, PreTaxCostUSD or "
                "UsageQuantity.",
                k);
      return;
    }
    akey[na] = k;
    aname[na] = n;
    aq[na++] = !strcasecmp(n, "UsageQuantity");
  }
  if (na == 0) {
    akey[0] = "totalCost", aname[0] = "Cost", aq[0] = 0;
    na = 1;
  }
  json_t *grouping = json_object_get(ds, "grouping");
  const char *gdim[4];
  int ng = 0;
  size_t i;
  json_array_foreach(grouping, i, v) {
    const char *n = json_string_value(json_object_get(v, "name"));
    int ok = 0;
    for (size_t j = 0; n && j < sizeof dims_known / sizeof dims_known[0]; j++)
      if (!strcasecmp(n, dims_known[j])) ok = 1;
    if (!ok || ng == 2) {
      http_fail(r, COST_ERR_BAD_REQUEST,
                "Invalid grouping '%s': at most 2 of ResourceGroup, ResourceGroupName, "
                "ResourceId, ResourceLocation, Meter, MeterCategory, ServiceName.",
                n ? n : "");
      return;
    }
    gdim[ng++] = n;
  }
  cost_usage_ingest(s);
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT day, resource_id, meter, resource_group, location, quantity, cost"
                    " FROM cost_daily WHERE day>=? AND day<? AND resource_id LIKE ?"
                    " ORDER BY day",
                    -1, &q, NULL) != SQLITE_OK) {
    http_fail(r, COST_ERR_INTERNAL, "The costs could not be read.");
    return;
  }
  sqlite3_bind_int64(q, 1, from / COST_DAY_MS);
  sqlite3_bind_int64(q, 2, to / COST_DAY_MS);
  sqlite3_bind_text(q, 3, sqlite3_mprintf("%s/%%", scope), -1, sqlite3_free);
  /* key -> row (an array whose first na entries are the sums) */
  json_t *rows = json_object(), *order = json_array();
  while (sqlite3_step(q) == SQLITE_ROW) {
    int64_t day = sqlite3_column_int64(q, 0);
    const char *rid = (const char *)sqlite3_column_text(q, 1);
    const char *meter = (const char *)sqlite3_column_text(q, 2);
    const char *rg = (const char *)sqlite3_column_text(q, 3);
    const char *loc = (const char *)sqlite3_column_text(q, 4);
    double qty = sqlite3_column_double(q, 5), cost = sqlite3_column_double(q, 6);
    char key[2048];
    int n = snprintf(key, sizeof key, "%lld", daily ? (long long)day : 0LL);
    const char *gv[4];
    for (int g = 0; g < ng; g++) {
      gv[g] = dim_value(s, gdim[g], rid, meter, rg, loc);
      n += snprintf(key + n, sizeof key - (size_t)n, "|%s", gv[g] ? gv[g] : "");
      if (n >= (int)sizeof key) n = sizeof key - 1;
    }
    json_t *row = json_object_get(rows, key);
    if (!row) {
      row = json_array();
      for (int a = 0; a < na; a++)
        json_array_append_new(row, json_real(0));
      if (daily) json_array_append_new(row, json_integer(day_yyyymmdd(day)));
      for (int g = 0; g < ng; g++)
        json_array_append_new(
            row,
            json_string(gv[g] && strcmp(gdim[g], "ResourceId") ? gv[g] : (gv[g] ? gv[g] : "")));
      json_array_append_new(row, json_string("USD"));
      json_object_set_new(rows, key, row);
      json_array_append(order, row);
    }
    for (int a = 0; a < na; a++)
      json_array_set_new(row, a,
                         json_real(json_real_value(json_array_get(row, a)) + (aq[a] ? qty : cost)));
  }
  store_finalize(q);
  json_decref(rows);
  json_t *cols = json_array();
  for (int a = 0; a < na; a++)
    json_array_append_new(cols, json_pack("{s:s,s:s}", "name", aname[a], "type", "Number"));
  if (daily)
    json_array_append_new(cols, json_pack("{s:s,s:s}", "name", "UsageDate", "type", "Number"));
  for (int g = 0; g < ng; g++)
    json_array_append_new(cols, json_pack("{s:s,s:s}", "name", gdim[g], "type", "String"));
  json_array_append_new(cols, json_pack("{s:s,s:s}", "name", "Currency", "type", "String"));
  (void)akey;
  char qid[37];
  uuid_v4(qid);
  http_reply_json(
      r, 200,
      json_pack("{s:s,s:s,s:s,s:n,s:n,s:n,s:{s:n,s:o,s:o}}", "id",
                http_printf(r, "%s/providers/Microsoft.CostManagement/query/%s", scope, qid),
                "name", qid, "type", "Microsoft.CostManagement/query", "location", "sku", "eTag",
                "properties", "nextLink", "columns", cols, "rows", order));
}

double cost_forecast_sum(srv *s, const char *scope, int64_t from, int64_t to, int64_t now) {
  if (now <= from) return 0;
  double actual = cost_sum(s, scope, from, now);
  if (now >= to) return actual;
  /* Costs up to the last whole hour are in; spread them over the period. */
  return actual * (double)(to - from) / (double)(now - from);
}

void cost_forecast(http_req *r) {
  srv *s = r->srv;
  char scope[512];
  if (cost_route_scope(r, scope) != 0) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  int64_t from, to;
  json_t *tf = json_object_get(in, "timeframe");
  if (!tf)
    json_object_set_new(in, "timeframe", json_string("TheCurrentMonth"));
  else if (!strcasecmp(json_string_value(tf) ? json_string_value(tf) : "", "MonthToDate"))
    json_object_set_new(in, "timeframe", json_string("TheCurrentMonth"));
  if (query_range(r, in, &from, &to) != 0) return;
  int incl = !json_is_false(json_object_get(in, "includeActualCost"));
  cost_usage_ingest(s);
  int64_t now = clock_now_ms(s);
  int64_t today = now / COST_DAY_MS;
  json_t *rows = json_array();
  /* Actual per day, then each remaining day at the average so far. */
  int64_t first = from / COST_DAY_MS, last = to / COST_DAY_MS;
  double sofar = 0;
  for (int64_t d = first; d < last && d < today; d++) {
    double c = cost_sum(s, scope, d * COST_DAY_MS, (d + 1) * COST_DAY_MS);
    sofar += c;
    if (incl)
      json_array_append_new(rows, json_pack("[f,i,s,s]", c, day_yyyymmdd(d), "Actual", "USD"));
  }
  double avg = today > first ? sofar / (double)(today - first) : 0;
  for (int64_t d = today > first ? today : first; d < last; d++)
    json_array_append_new(rows, json_pack("[f,i,s,s]", avg, day_yyyymmdd(d), "Forecast", "USD"));
  json_t *cols = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "name", "Cost", "type",
                           "Number", "name", "UsageDate", "type", "Number", "name", "CostStatus",
                           "type", "String", "name", "Currency", "type", "String");
  char qid[37];
  uuid_v4(qid);
  http_reply_json(
      r, 200,
      json_pack("{s:s,s:s,s:s,s:{s:n,s:o,s:o}}", "id",
                http_printf(r, "%s/providers/Microsoft.CostManagement/forecast/%s", scope, qid),
                "name", qid, "type", "Microsoft.CostManagement/forecast", "properties", "nextLink",
                "columns", cols, "rows", rows));
}
