/* report.c: `azlite cost` and `azlite cost mail`: this month's cost by
 * resource group and service with a daily chart, and the alert mailbox. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cost.h"
#include "internal.h"

static const char *service_of(srv *s, const char *meter) {
  const char *n = json_string_value(json_object_get(cost_price_item(s, meter), "serviceName"));
  return n ? n : (!strncasecmp(meter, "Microsoft.Compute", 17) ? "Virtual Machines" : "Storage");
}

static void print_table(FILE *out, const char *title, json_t *sums) {
  fprintf(out, "\n%-40s %14s\n", title, "USD");
  const char *k;
  json_t *v;
  json_object_foreach(sums, k, v)
      fprintf(out, "%-40s %14.2f\n", k[0] ? k : "(none)", json_real_value(v));
}

static void add(json_t *o, const char *k, double c) {
  json_object_set_new(o, k, json_real(json_real_value(json_object_get(o, k)) + c));
}

int cost_report(srv *s, FILE *out) {
  cost_usage_ingest(s);
  int64_t now = clock_now_ms(s), from = cost_month_start(now);
  int ndays = cost_days_in_month(now);
  double day_cost[31] = {0}, total = 0;
  json_t *by_rg = json_object(), *by_svc = json_object();
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT day, resource_group, meter, cost FROM cost_daily WHERE day>=? AND day<?"
                    " AND resource_id LIKE ?",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, from / COST_DAY_MS);
  sqlite3_bind_int64(q, 2, from / COST_DAY_MS + ndays);
  sqlite3_bind_text(q, 3, sqlite3_mprintf("/subscriptions/%s/%%", s->subscription_id), -1,
                    sqlite3_free);
  while (sqlite3_step(q) == SQLITE_ROW) {
    int d = (int)(sqlite3_column_int64(q, 0) - from / COST_DAY_MS);
    double c = sqlite3_column_double(q, 3);
    if (d >= 0 && d < 31) day_cost[d] += c;
    total += c;
    add(by_rg, (const char *)sqlite3_column_text(q, 1), c);
    add(by_svc, service_of(s, (const char *)sqlite3_column_text(q, 2)), c);
  }
  store_finalize(q);
  char month[32];
  time_t t = (time_t)(now / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(month, sizeof month, "%B %Y", &tm);
  fprintf(out, "Cost for %s (subscription %s), to %04d-%02d-%02d: %.2f USD\n", month,
          s->subscription_id, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, total);
  print_table(out, "Resource group", by_rg);
  print_table(out, "Service", by_svc);
  double max = 0;
  for (int d = 0; d < ndays; d++)
    if (day_cost[d] > max) max = day_cost[d];
  fprintf(out, "\nPer day\n");
  for (int d = 0; d < ndays && d < tm.tm_mday; d++) {
    int w = max > 0 ? (int)(day_cost[d] / max * 50 + 0.5) : 0;
    fprintf(out, "%02d %10.2f ", d + 1, day_cost[d]);
    for (int i = 0; i < w; i++)
      fputs("#", out);
    fputc('\n', out);
  }
  json_decref(by_rg);
  json_decref(by_svc);
  return 0;
}

int cost_mail_report(srv *s, FILE *out) {
  json_t *list = cost_mail_messages(s);
  size_t i;
  json_t *m;
  if (json_array_size(list) == 0) fprintf(out, "no messages\n");
  json_array_foreach(list, i, m)
      fprintf(out, "%s  %-28s %s\n    %s\n", json_string_value(json_object_get(m, "date")),
              json_string_value(json_object_get(m, "mailbox")),
              json_string_value(json_object_get(m, "subject")),
              json_string_value(json_object_get(m, "file")));
  json_decref(list);
  return 0;
}
