/* test_cost.c: cost management's pure parts: the UTC calendar, a budget's
 * current period, converting an event's quantity to its price's unit, and the
 * built-in catalog (VM rows from the compute catalog, spot and low priority). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cost/internal.h"
#include "unit.h"

static srv S;

static int64_t at(const char *iso) {
  return clock_parse_iso8601(iso);
}

static void test_calendar(void) {
  CHECK(cost_month_start(at("2027-01-15T10:00:00Z")) == at("2027-01-01T00:00:00Z"));
  CHECK(cost_month_start(at("2027-01-01T00:00:00Z")) == at("2027-01-01T00:00:00Z"));
  CHECK(cost_add_months(at("2026-11-01T00:00:00Z"), 3) == at("2027-02-01T00:00:00Z"));
  CHECK(cost_days_in_month(at("2027-02-10T00:00:00Z")) == 28);
  CHECK(cost_days_in_month(at("2028-02-10T00:00:00Z")) == 29);
  CHECK(cost_days_in_month(at("2026-12-31T23:59:59Z")) == 31);
  char rg[128];
  cost_id_group("/subscriptions/s/resourceGroups/ml-resources/providers/X/y/z", rg);
  CHECK_STR(rg, "ml-resources");
  cost_id_group("/subscriptions/s/providers/X/y/z", rg);
  CHECK_STR(rg, "");
}

static json_t *budget(const char *grain, const char *start, const char *end) {
  return json_pack("{s:{s:s,s:{s:s,s:s?}}}", "properties", "timeGrain", grain, "timePeriod",
                   "startDate", start, "endDate", end);
}

static void test_periods(void) {
  int64_t from, to;
  json_t *b = budget("Monthly", "2027-01-01T00:00:00Z", NULL);
  CHECK(cost_budget_period(b, at("2027-03-31T23:00:00Z"), &from, &to) == 0);
  CHECK(from == at("2027-03-01T00:00:00Z") && to == at("2027-04-01T00:00:00Z"));
  CHECK(cost_budget_period(b, at("2026-12-31T23:00:00Z"), &from, &to) == -1);
  json_decref(b);
  b = budget("Quarterly", "2027-01-01T00:00:00Z", "2027-06-01T00:00:00Z");
  CHECK(cost_budget_period(b, at("2027-05-10T00:00:00Z"), &from, &to) == 0);
  CHECK(from == at("2027-04-01T00:00:00Z") && to == at("2027-06-01T00:00:00Z"));
  CHECK(cost_budget_period(b, at("2027-06-01T00:00:00Z"), &from, &to) == -1);
  json_decref(b);
  b = budget("Annually", "2027-02-01T00:00:00Z", NULL);
  CHECK(cost_budget_period(b, at("2028-01-31T00:00:00Z"), &from, &to) == 0);
  CHECK(from == at("2027-02-01T00:00:00Z") && to == at("2028-02-01T00:00:00Z"));
  json_decref(b);
  b = budget("Weekly", "2027-01-01T00:00:00Z", NULL);
  CHECK(cost_budget_period(b, at("2027-01-02T00:00:00Z"), &from, &to) == -1);
  json_decref(b);
}

static int near(double a, double b) {
  return a - b < 1e-12 && b - a < 1e-12;
}

static void test_quantities(void) {
  json_t *gbm = json_pack("{s:s}", "unitOfMeasure", "1 GB/Month");
  json_t *gb = json_pack("{s:s}", "unitOfMeasure", "1 GB");
  json_t *ops = json_pack("{s:s}", "unitOfMeasure", "10K");
  json_t *hr = json_pack("{s:s}", "unitOfMeasure", "1 Hour");
  double tib = 1024.0 * 1024 * 1024 * 1024;
  /* A day's sample of a TiB in January: 1024 GB over 31 days. */
  CHECK(near(cost_quantity_convert(gbm, "Bytes", tib, at("2027-01-05T00:00:00Z")), 1024.0 / 31));
  CHECK(near(cost_quantity_convert(gbm, "Bytes", tib, at("2027-02-05T00:00:00Z")), 1024.0 / 28));
  CHECK(near(cost_quantity_convert(gb, "Bytes", 1024.0 * 1024 * 1024, 0), 1));
  CHECK(near(cost_quantity_convert(ops, "Count", 5, 0), 5 / 10000.0));
  /* A tier change reports the blob's bytes: it is one operation. */
  CHECK(near(cost_quantity_convert(ops, "Bytes", 123456, 0), 1 / 10000.0));
  CHECK(near(cost_quantity_convert(hr, "Hours", 2.5, 0), 2.5));
  json_decref(gbm), json_decref(gb), json_decref(ops), json_decref(hr);
}

static void test_catalog(void) {
  cost_state c = {0};
  CHECK(cost_prices_load(&S, &c) == 0);
  *srv_provider_state(&S, &cost_provider) = &c;
  CHECK(json_array_size(json_object_get(c.catalog, "Items")) > 40);
  json_t *it = cost_price_item(&S, "Microsoft.Compute/virtualMachines/Standard_NC6s_v3/Regular");
  CHECK(it && near(json_number_value(json_object_get(it, "retailPrice")), 3.06));
  CHECK_STR(json_string_value(json_object_get(it, "meterName")), "NC6s v3");
  CHECK_STR(json_string_value(json_object_get(it, "armSkuName")), "Standard_NC6s_v3");
  CHECK(cost_price_at(&S, "Microsoft.Compute/virtualMachines/Standard_NC6s_v3/Regular", "eastus",
                      0) == 3.06);
  /* Low priority is billed as spot. */
  json_t *low = cost_price_item(&S, "Microsoft.Compute/virtualMachines/Standard_NC6s_v3/Low");
  CHECK(low && !strcmp(json_string_value(json_object_get(low, "meterName")), "NC6s v3 Spot"));
  /* Azure ML's compute is billed as its VMs: cluster nodes by priority, online
   * deployments' instances as dedicated VMs. */
  CHECK(cost_price_at(&S,
                      "Microsoft.MachineLearningServices/workspaces/computes/Standard_NC6s_v3/"
                      "Dedicated",
                      "eastus", 0) == 3.06);
  CHECK(cost_price_item(&S, "Microsoft.MachineLearningServices/workspaces/computes/"
                            "Standard_NC6s_v3/LowPriority") == low);
  CHECK(cost_price_at(&S,
                      "Microsoft.MachineLearningServices/onlineEndpoints/deployments/"
                      "Standard_NC6s_v3",
                      "eastus", 0) == 3.06);
  it = cost_price_item(&S, "Microsoft.Storage/blobs/capacity/Hot");
  CHECK(it && near(json_number_value(json_object_get(it, "retailPrice")), 0.018));
  CHECK(cost_price_item(&S, "Microsoft.Nothing/at/all") == NULL);
  CHECK(cost_price_at(&S, "Microsoft.Nothing/at/all", "eastus", 0) == -1);
  /* A file that is not a Retail Prices document is refused. */
  char path[] = "/tmp/azlite-prices-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0 && write(fd, "{\"Items\": 5}", 12) == 12);
  close(fd);
  cost_state bad = {0};
  S.cfg.prices_file = path;
  CHECK(cost_prices_load(&S, &bad) == -1 && bad.catalog == NULL);
  S.cfg.prices_file = NULL;
  unlink(path);
  json_decref(c.catalog);
  *srv_provider_state(&S, &cost_provider) = NULL;
}

UNIT_MAIN("cost", {
  log_set_level(-1);
  test_calendar();
  test_periods();
  test_quantities();
  test_catalog();
})
