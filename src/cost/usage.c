/* usage.c: priced usage.  The scheduler's tick reads the usage events every
 * provider records (usage_since, core.h) and adds each, priced at its time,
 * to cost_daily: one row per day, resource and meter.  The cursor (the last
 * event id priced) moves in the same transaction, so after a restart every
 * event is priced exactly once.  usageDetails lists those rows as
 * Microsoft.Consumption answers them: "legacy" at subscription and
 * resource-group scope, "modern" at a billing account's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* ---- the calendar (UTC) ------------------------------------------------------ */

int64_t cost_month_start(int64_t ms) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  return (int64_t)timegm(&tm) * 1000;
}

int64_t cost_add_months(int64_t ms, int n) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  tm.tm_mon += n;
  return (int64_t)timegm(&tm) * 1000 + ms % 1000;
}

int cost_days_in_month(int64_t ms) {
  int64_t a = cost_month_start(ms);
  return (int)((cost_add_months(a, 1) - a) / COST_DAY_MS);
}

void cost_id_group(const char *id, char out[128]) {
  out[0] = 0;
  const char *p = strcasestr(id, "/resourceGroups/");
  if (!p) return;
  p += 16;
  size_t n = strcspn(p, "/");
  snprintf(out, 128, "%.*s", (int)(n < 127 ? n : 127), p);
}

/* ---- pricing the events -------------------------------------------------------- */

typedef struct ingest_ctx {
  srv *s;
  int n, failed;
} ingest_ctx;

static void ingest_one(void *cls, const usage_event *e) {
  ingest_ctx *c = cls;
  srv *s = c->s;
  if (c->failed) return;
  json_t *item = cost_price_item(s, e->meter);
  char rg[128], sub[40] = "";
  cost_id_group(e->resource_id, rg);
  sscanf(e->resource_id, "/subscriptions/%39[^/]", sub);
  json_t *res = arm_resource_get(s, e->resource_id);
  const char *loc = json_string_value(json_object_get(res, "location"));
  char location[32];
  snprintf(location, sizeof location, "%s", loc ? loc : "eastus");
  json_decref(res);
  double price = cost_price_at(s, e->meter, location, e->time_ms);
  double qty = item ? cost_quantity_convert(item, e->unit, e->quantity, e->time_ms) : e->quantity;
  const char *unit = item ? json_string_value(json_object_get(item, "unitOfMeasure")) : e->unit;
  double cost = price > 0 ? qty * price : 0;
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "INSERT INTO cost_daily(day, resource_id, meter, subscription, resource_group,"
                    " location, quantity, unit, cost) VALUES(?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(day, resource_id, meter) DO UPDATE SET"
                    " quantity=quantity+excluded.quantity, cost=cost+excluded.cost",
                    -1, &st, NULL) != SQLITE_OK) {
    c->failed = 1;
    return;
  }
  sqlite3_bind_int64(st, 1, e->time_ms / COST_DAY_MS);
  sqlite3_bind_text(st, 2, e->resource_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, e->meter, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, sub, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, rg, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, location, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 7, qty);
  sqlite3_bind_text(st, 8, unit ? unit : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 9, cost);
  if (sqlite3_step(st) != SQLITE_DONE) c->failed = 1;
  store_finalize(st);
  c->n++;
}

/* Are there events after the cursor?  Asked before taking the write lock, so
 * that a pass with nothing new writes nothing. */
static int usage_pending(srv *s) {
  char *v = store_get(s, "cost.usage_cursor");
  int64_t after = v ? strtoll(v, NULL, 10) : 0;
  free(v);
  sqlite3_stmt *q;
  int any = 1;
  if (store_prepare(store_db(s), "SELECT 1 FROM usage_events WHERE id>? LIMIT 1", -1, &q, NULL) ==
      SQLITE_OK) {
    sqlite3_bind_int64(q, 1, after);
    any = sqlite3_step(q) == SQLITE_ROW;
    store_finalize(q);
  }
  return any;
}

int cost_usage_ingest(srv *s) {
  int total = 0;
  if (!usage_pending(s)) return 0;
  for (;;) {
    /* The cursor is read inside the (immediate) transaction: the scheduler,
     * a request and a CLI command may all price at once, each event once. */
    if (store_begin(s) != 0) return total;
    char *v = store_get(s, "cost.usage_cursor");
    int64_t after = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    ingest_ctx c = {.s = s};
    int64_t last = usage_since(s, after, 500, ingest_one, &c);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)last);
    if (c.failed || (last != after && store_set(s, "cost.usage_cursor", buf) != 0)) {
      store_rollback(s);
      log_error("cost: pricing usage events after %lld failed", (long long)after);
      return total;
    }
    store_commit(s);
    total += c.n;
    if (c.n < 500) return total;
  }
}

double cost_sum(srv *s, const char *scope, int64_t from_ms, int64_t to_ms) {
  sqlite3_stmt *st;
  double sum = 0;
  if (store_prepare(store_db(s),
                    "SELECT TOTAL(cost) FROM cost_daily WHERE day>=? AND day<? AND"
                    " (resource_id LIKE ? ESCAPE '\\')",
                    -1, &st, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_int64(st, 1, from_ms / COST_DAY_MS);
  sqlite3_bind_int64(st, 2, (to_ms + COST_DAY_MS - 1) / COST_DAY_MS);
  char *like = sqlite3_mprintf("%s/%%", scope);
  sqlite3_bind_text(st, 3, like, -1, sqlite3_free);
  if (sqlite3_step(st) == SQLITE_ROW) sum = sqlite3_column_double(st, 0);
  store_finalize(st);
  return sum;
}

/* ---- usageDetails ------------------------------------------------------------------ */

/* $filter on dates: "properties/usageStart ge '2026-12-01' and
 * properties/usageEnd le '2026-12-31'" (legacy), "properties/date ge ..."
 * (modern).  Narrows [*from_day, *to_day] (inclusive); -1 on a bad filter. */
static int filter_days(const char *f, int64_t *from_day, int64_t *to_day, char *rg, size_t rgn) {
  const char *p = f;
  int n = 0;
  while ((p = strstr(p, "properties/"))) {
    p += 11;
    n++;
    const char *fe = p + strcspn(p, " ");
    char field[32], op[4] = "", val[64] = "";
    snprintf(field, sizeof field, "%.*s", (int)(fe - p < 31 ? fe - p : 31), p);
    if (sscanf(fe, " %3s '%63[^']'", op, val) != 2) return -1;
    if (!strcasecmp(field, "resourceGroup") && !strcasecmp(op, "eq")) {
      snprintf(rg, rgn, "%s", val);
      continue;
    }
    if (strcasecmp(field, "usageStart") && strcasecmp(field, "usageEnd") &&
        strcasecmp(field, "date"))
      return -1;
    int64_t ms = clock_parse_iso8601(val);
    if (ms < 0) return -1;
    int64_t d = ms / COST_DAY_MS;
    if (!strcasecmp(op, "ge")) {
      if (d > *from_day) *from_day = d;
    } else if (!strcasecmp(op, "gt")) {
      if (d + 1 > *from_day) *from_day = d + 1;
    } else if (!strcasecmp(op, "le")) {
      if (d < *to_day) *to_day = d;
    } else if (!strcasecmp(op, "lt")) {
      if (d - 1 < *to_day) *to_day = d - 1;
    } else if (!strcasecmp(op, "eq")) {
      *from_day = *to_day = d;
    } else {
      return -1;
    }
  }
  return n > 0 ? 0 : -1;
}

static void day_iso(int64_t day, char out[40]) {
  time_t t = (time_t)(day * 86400);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 40, "%Y-%m-%dT00:00:00.0000000Z", &tm);
}

static const char *meter_category(json_t *item, const char *meter) {
  const char *sn = json_string_value(json_object_get(item, "serviceName"));
  if (sn) return sn;
  return !strncasecmp(meter, "Microsoft.Compute", 17) ? "Virtual Machines" : "Storage";
}

static json_t *detail_row(http_req *r, const char *scope, int modern, sqlite3_stmt *q) {
  srv *s = r->srv;
  int64_t day = sqlite3_column_int64(q, 0);
  const char *rid = (const char *)sqlite3_column_text(q, 1);
  const char *meter = (const char *)sqlite3_column_text(q, 2);
  const char *rg = (const char *)sqlite3_column_text(q, 4);
  const char *loc = (const char *)sqlite3_column_text(q, 5);
  double qty = sqlite3_column_double(q, 6);
  const char *unit = (const char *)sqlite3_column_text(q, 7);
  double cost = sqlite3_column_double(q, 8);
  json_t *item = cost_price_item(s, meter);
  double price = qty > 0 ? cost / qty : 0;
  char date[40], bps[40], bpe[40];
  day_iso(day, date);
  int64_t ms0 = cost_month_start(day * COST_DAY_MS);
  day_iso(ms0 / COST_DAY_MS, bps);
  day_iso(cost_add_months(ms0, 1) / COST_DAY_MS - 1, bpe);
  /* The row's name: a stable GUID from its key. */
  uint64_t h = 1469598103934665603ULL;
  char key[1024];
  snprintf(key, sizeof key, "%lld|%s|%s", (long long)day, rid, meter);
  for (const char *c = key; *c; c++)
    h = (h ^ (unsigned char)*c) * 1099511628211ULL;
  char name[40];
  snprintf(name, sizeof name, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(h >> 32),
           (unsigned)(h >> 16) & 0xffff, (unsigned)h & 0xffff, (unsigned)(day & 0xffff),
           (unsigned long long)(h & 0xffffffffffffULL));
  const char *slash = strrchr(rid, '/');
  const char *rname = slash ? slash + 1 : rid;
  const char *mname = item ? json_string_value(json_object_get(item, "meterName")) : meter;
  const char *meter_id = item ? json_string_value(json_object_get(item, "meterId")) : "";
  const char *product = item ? json_string_value(json_object_get(item, "productName")) : meter;
  const char *cat = meter_category(item, meter);
  const char *family = item ? json_string_value(json_object_get(item, "serviceFamily")) : "";
  const char *consumed =
      !strncasecmp(meter, "Microsoft.Compute", 17) ? "Microsoft.Compute" : "Microsoft.Storage";
  const char *pricing = strstr(meter, "/Spot") || strstr(meter, "/Low") ? "Spot" : "OnDemand";
  json_t *p;
  if (!modern) {
    p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s},s:f,s:f,s:f,s:f,s:s,"
                  "s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s}",
                  "billingAccountId", s->subscription_id, "billingAccountName", "azlite",
                  "billingPeriodStartDate", bps, "billingPeriodEndDate", bpe, "subscriptionId",
                  s->subscription_id, "subscriptionName", "azlite", "date", date, "meterDetails",
                  "meterName", mname ? mname : meter, "meterCategory", cat, "meterSubCategory",
                  product ? product : "", "unitOfMeasure", unit, "serviceFamily",
                  family ? family : "", "quantity", qty, "effectivePrice", price, "cost", cost,
                  "unitPrice", price, "billingCurrency", "USD", "resourceLocation", loc,
                  "consumedService", consumed, "resourceId", rid, "resourceName", rname,
                  "resourceGroup", rg, "product", product ? product : "", "chargeType", "Usage",
                  "frequency", "UsageBased", "isAzureCreditEligible", 1, "pricingModel", pricing,
                  "meterId", meter_id ? meter_id : "");
  } else {
    p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:s,s:f,s:f,s:f,s:f,s:f,s:s,s:s,s:s,"
                  "s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
                  "billingAccountId", "azlite", "billingPeriodStartDate", bps,
                  "billingPeriodEndDate", bpe, "date", date, "meterId", meter_id ? meter_id : "",
                  "meterName", mname ? mname : meter, "meterCategory", cat, "meterSubCategory",
                  product ? product : "", "unitOfMeasure", unit, "quantity", qty, "instanceName",
                  rid, "costInBillingCurrency", cost, "costInUSD", cost, "paygCostInUSD", cost,
                  "effectivePrice", price, "unitPrice", price, "billingCurrencyCode", "USD",
                  "resourceLocation", loc, "consumedService", consumed, "serviceFamily",
                  family ? family : "", "resourceGroup", rg, "subscriptionGuid", s->subscription_id,
                  "subscriptionName", "azlite", "chargeType", "Usage", "pricingModel", pricing,
                  "product", product ? product : "");
  }
  return json_pack(
      "{s:s,s:s,s:s,s:s,s:o,s:o}", "id",
      http_printf(r, "%s/providers/Microsoft.Consumption/usageDetails/%s", scope, name), "name",
      name, "type", "Microsoft.Consumption/usageDetails", "kind", modern ? "modern" : "legacy",
      "tags", json_null(), "properties", p);
}

#define DETAILS_PAGE 1000

void cost_usage_details(http_req *r) {
  srv *s = r->srv;
  const char *sub = http_param(r, "sub"), *rgp = http_param(r, "rg"), *ba = http_param(r, "ba");
  int modern = ba != NULL;
  char scope[512];
  if (modern) {
    /* A billing account covers the subscription: reading it takes reading the
     * subscription's usage. */
    char sub_scope[80];
    snprintf(sub_scope, sizeof sub_scope, "/subscriptions/%s", s->subscription_id);
    if (!access_allowed(r, "Microsoft.Consumption/usageDetails/read", sub_scope, 0)) {
      access_fail_denied(r, "Microsoft.Consumption/usageDetails/read", sub_scope);
      return;
    }
    snprintf(scope, sizeof scope, "/providers/Microsoft.Billing/billingAccounts/%s", ba);
  } else {
    if (arm_require_subscription(r, sub) != 0) return;
    if (rgp && arm_require_group(r, sub, rgp) != 0) return;
    if (rgp)
      snprintf(scope, sizeof scope, "/subscriptions/%s/resourceGroups/%s", s->subscription_id, rgp);
    else
      snprintf(scope, sizeof scope, "/subscriptions/%s", s->subscription_id);
  }
  cost_usage_ingest(s);
  int64_t now = clock_now_ms(s);
  /* Without a filter: the current billing period (the month). */
  int64_t from = cost_month_start(now) / COST_DAY_MS, to = now / COST_DAY_MS;
  const char *f = http_query_get(r, "$filter");
  char rgf[128] = "";
  if (f) {
    from = 0;
    to = INT64_MAX / COST_DAY_MS;
    if (filter_days(f, &from, &to, rgf, sizeof rgf) != 0) {
      http_fail(r, COST_ERR_BAD_REQUEST,
                "Invalid $filter '%s': azlite filters usage details on properties/usageStart, "
                "properties/usageEnd or properties/date (ge, gt, le, lt, eq) and "
                "properties/resourceGroup eq.",
                f);
      return;
    }
  }
  const char *top = http_query_get(r, "$top"), *skip = http_query_get(r, "$skiptoken");
  long ntop = top ? atol(top) : DETAILS_PAGE;
  if (ntop <= 0 || ntop > DETAILS_PAGE) ntop = DETAILS_PAGE;
  long off = skip ? atol(skip) : 0;
  if (off < 0) off = 0;
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT day, resource_id, meter, subscription, resource_group, location,"
                    " quantity, unit, cost FROM cost_daily WHERE day>=? AND day<=? AND"
                    " (?='' OR resource_id LIKE ? ESCAPE '\\') AND (?='' OR resource_group=?"
                    " COLLATE NOCASE) ORDER BY day, resource_id, meter LIMIT ? OFFSET ?",
                    -1, &q, NULL) != SQLITE_OK) {
    http_fail(r, COST_ERR_INTERNAL, "The usage details could not be read.");
    return;
  }
  char *like = sqlite3_mprintf("%s/%%", modern ? "" : scope);
  sqlite3_bind_int64(q, 1, from);
  sqlite3_bind_int64(q, 2, to);
  sqlite3_bind_text(q, 3, modern ? "" : "x", -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, like, -1, sqlite3_free);
  sqlite3_bind_text(q, 5, rgf, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 6, rgf, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 7, ntop + 1);
  sqlite3_bind_int64(q, 8, off);
  json_t *list = json_array();
  int more = 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    if ((long)json_array_size(list) == ntop) {
      more = 1;
      break;
    }
    json_array_append_new(list, detail_row(r, scope, modern, q));
  }
  store_finalize(q);
  json_t *doc = json_pack("{s:o}", "value", list);
  if (more) {
    const char *av = http_query_get(r, "api-version");
    char *link = http_printf(r, "%s%s?api-version=%s%s%s&$top=%ld&$skiptoken=%ld", s->mgmt_url,
                             r->raw_path, av ? av : "2021-10-01", f ? "&$filter=" : "",
                             f ? http_url_encode(r, f, 0) : "", ntop, off + ntop);
    json_object_set_new(doc, "nextLink", json_string(link));
  }
  http_reply_json(r, 200, doc);
}
