/* prices.c: the price catalog, in the shape of the Azure Retail Prices API
 * (https://prices.azure.com/api/retail/prices): items with meterId,
 * meterName, productName, skuName, armRegionName, unitOfMeasure,
 * retailPrice, type.  The shipped file (src/cost/prices.json, built in; its
 * _source and _date say where the figures come from) holds storage, disks,
 * IP addresses and Functions; VM hours come from the compute catalog
 * (compute.h), pay-as-you-go from sizes.c and spot live from spot.c, so a
 * size has one price in azlite.  --prices FILE (AZLITE_PRICES) replaces the
 * shipped file; an item there with an azliteMeter a VM row also has wins.
 *
 * Each item names the azlite meter it prices in "azliteMeter" (not part of
 * Azure's shape; the endpoint leaves it out). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../compute/compute.h"
#include "internal.h"

/* The shipped catalog, built into the binary. */
__asm__(".section .rodata\n"
        ".global cost_prices_json\n"
        "cost_prices_json:\n"
        ".incbin \"src/cost/prices.json\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char cost_prices_json[];

#define VM_METER "Microsoft.Compute/virtualMachines/"

/* "Standard_NC6s_v3" -> "NC6s v3" (the Retail Prices API's skuName). */
static void vm_sku_name(const char *size, const char *suffix, char out[96]) {
  const char *p = strncasecmp(size, "Standard_", 9) == 0 ? size + 9 : size;
  snprintf(out, 96, "%s%s", p, suffix);
  for (char *c = out; *c; c++)
    if (*c == '_') *c = ' ';
}

static json_t *vm_item(const char *size, double price, int spot) {
  char sku[96], meter[160], id[40];
  vm_sku_name(size, spot ? " Spot" : "", sku);
  snprintf(meter, sizeof meter, VM_METER "%s/%s", size, spot ? "Spot" : "Regular");
  /* A stable id per meter: the FNV-1a hash of its name, spread as a GUID. */
  uint64_t h = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
  for (const char *c = meter; *c; c++) {
    h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    h2 = (h2 ^ (unsigned char)*c) * 0x100000001b3ULL + 7;
  }
  snprintf(id, sizeof id, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(h >> 32),
           (unsigned)(h >> 16) & 0xffff, (unsigned)h & 0xffff, (unsigned)(h2 >> 48),
           (unsigned long long)(h2 & 0xffffffffffffULL));
  return json_pack("{s:s,s:f,s:f,s:f,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,"
                   "s:s}",
                   "currencyCode", "USD", "tierMinimumUnits", 0.0, "retailPrice", price,
                   "unitPrice", price, "armRegionName", "eastus", "location", "US East",
                   "effectiveStartDate", "2024-01-01T00:00:00Z", "meterId", id, "meterName", sku,
                   "productName", "Virtual Machines", "skuName", sku, "serviceName",
                   "Virtual Machines", "serviceFamily", "Compute", "unitOfMeasure", "1 Hour",
                   "type", "Consumption", "armSkuName", size, "skuId", "", "isPrimaryMeterRegion",
                   1, "productId", "DZH318Z0BQ4", "azliteMeter", meter);
}

int cost_prices_load(srv *s, cost_state *c) {
  json_error_t err;
  const char *file = s->cfg.prices_file;
  json_t *doc = file ? json_load_file(file, 0, &err) : json_loads(cost_prices_json, 0, &err);
  json_t *items = json_object_get(doc, "Items");
  if (!json_is_array(items)) {
    log_error("cost: the price catalog %s is not a Retail Prices document ({\"Items\": [...]}): "
              "%s (line %d)",
              file ? file : "(built in)", doc ? "no Items array" : err.text, err.line);
    json_decref(doc);
    return -1;
  }
  json_t *all = json_array();
  const char *name;
  double payg;
  for (int i = 0; compute_size_price(i, &name, &payg) == 0; i++) {
    for (int spot = 0; spot <= 1; spot++) {
      json_t *it = vm_item(name, spot ? round(payg * 0.2 * 100000.0) / 100000.0 : payg, spot);
      const char *m = json_string_value(json_object_get(it, "azliteMeter"));
      int overridden = 0;
      size_t k;
      json_t *v;
      json_array_foreach(items, k, v) {
        const char *vm = json_string_value(json_object_get(v, "azliteMeter"));
        if (vm && !strcasecmp(vm, m)) overridden = 1;
      }
      if (overridden)
        json_decref(it);
      else
        json_array_append_new(all, it);
    }
  }
  json_array_extend(all, items);
  json_object_set_new(doc, "Items", all);
  c->catalog = doc;
  log_info("cost: %zu prices (%s)", json_array_size(all), file ? file : "built in");
  return 0;
}

/* Azure ML bills its compute as the VMs it runs on: a cluster node's hours
 * ("Microsoft.MachineLearningServices/workspaces/computes/<size>/<priority>")
 * and an online deployment's instance hours (".../onlineEndpoints/
 * deployments/<size>", dedicated) are priced as that size's VM hours.  The
 * meter itself, else. */
#define ML_COMPUTE_METER "Microsoft.MachineLearningServices/workspaces/computes/"
#define ML_ENDPOINT_METER "Microsoft.MachineLearningServices/onlineEndpoints/deployments/"
static const char *vm_equivalent(const char *meter, char out[192]) {
  size_t a = strlen(ML_COMPUTE_METER), b = strlen(ML_ENDPOINT_METER);
  const char *slash = !strncasecmp(meter, ML_COMPUTE_METER, a) ? strchr(meter + a, '/') : NULL;
  if (slash) /* vmPriority Dedicated or LowPriority */
    snprintf(out, 192, VM_METER "%.*s/%s", (int)(slash - meter - a), meter + a,
             !strcasecmp(slash + 1, "LowPriority") ? "Low" : "Regular");
  else if (!strncasecmp(meter, ML_ENDPOINT_METER, b) && !strchr(meter + b, '/'))
    snprintf(out, 192, VM_METER "%s/Regular", meter + b);
  else
    return meter;
  return out;
}

json_t *cost_price_item(srv *s, const char *meter) {
  json_t *items = json_object_get(cost_state_of(s)->catalog, "Items");
  size_t i;
  json_t *v;
  char vm[192];
  meter = vm_equivalent(meter, vm);
  /* Low-priority VMs are billed as spot. */
  char alias[192];
  size_t n = strlen(meter);
  if (n > 4 && !strcasecmp(meter + n - 4, "/Low") && n < sizeof alias) {
    snprintf(alias, sizeof alias, "%.*s/Spot", (int)(n - 4), meter);
    meter = alias;
  }
  json_array_foreach(items, i, v) {
    const char *m = json_string_value(json_object_get(v, "azliteMeter"));
    if (m && !strcasecmp(m, meter)) return v;
  }
  return NULL;
}

static int vm_spot_meter(const char *meter, char size[96]) {
  if (strncasecmp(meter, VM_METER, strlen(VM_METER))) return 0;
  const char *p = meter + strlen(VM_METER), *slash = strchr(p, '/');
  if (!slash || (strcasecmp(slash + 1, "Spot") && strcasecmp(slash + 1, "Low"))) return 0;
  snprintf(size, 96, "%.*s", (int)(slash - p), p);
  return 1;
}

double cost_price_at(srv *s, const char *meter, const char *location, int64_t at_ms) {
  char vm[192];
  meter = vm_equivalent(meter, vm);
  json_t *it = cost_price_item(s, meter);
  char size[96];
  /* Spot: the price compute evicts by, at that time, unless a --prices file
   * sets one of its own. */
  if (vm_spot_meter(meter, size) && (!it || !s->cfg.prices_file))
    return compute_spot_price_at(s, location, size, at_ms);
  return it ? json_number_value(json_object_get(it, "retailPrice")) : -1;
}

double cost_quantity_convert(json_t *item, const char *unit, double qty, int64_t at_ms) {
  const char *u = json_string_value(json_object_get(item, "unitOfMeasure"));
  if (!u) return qty;
  /* A price per count of operations: an event that is not a count (a tier
   * change, reported with the blob's bytes) is one operation. */
  int per_count = !strcasecmp(u, "10K") || !strcasecmp(u, "10") || !strcasecmp(u, "1M");
  if (per_count && strcasecmp(unit, "Count")) qty = 1;
  if (!per_count && !strcasecmp(unit, "Bytes")) {
    double gb = qty / (1024.0 * 1024.0 * 1024.0);
    /* A day's sample of capacity is that day's share of a month. */
    if (strstr(u, "/Month")) return gb / cost_days_in_month(at_ms);
    return gb;
  }
  if (!strcasecmp(u, "10K")) return qty / 10000.0;
  if (!strcasecmp(u, "10")) return qty / 10.0;
  if (!strcasecmp(u, "1M")) return qty / 1e6;
  return qty;
}

/* ---- GET /api/retail/prices ------------------------------------------------- */

/* One clause of $filter: `field eq 'value'` (the API's own subset, joined by
 * `and`; values compare case-insensitively, as the API does for names). */
typedef struct price_clause {
  char field[64], value[160];
} price_clause;

static int parse_filter(const char *f, price_clause *out, int max) {
  int n = 0;
  const char *p = f;
  while (*p) {
    while (*p == ' ' || *p == '(')
      p++;
    if (!*p) break;
    if (n == max) return -1;
    const char *fe = p;
    while (*fe && *fe != ' ')
      fe++;
    if ((size_t)(fe - p) >= sizeof out[n].field) return -1;
    snprintf(out[n].field, sizeof out[n].field, "%.*s", (int)(fe - p), p);
    p = fe;
    while (*p == ' ')
      p++;
    if (strncasecmp(p, "eq", 2) || p[2] != ' ') return -1;
    p += 3;
    while (*p == ' ')
      p++;
    if (*p != '\'') return -1;
    const char *ve = strchr(p + 1, '\'');
    if (!ve || (size_t)(ve - p - 1) >= sizeof out[n].value) return -1;
    snprintf(out[n].value, sizeof out[n].value, "%.*s", (int)(ve - p - 1), p + 1);
    n++;
    p = ve + 1;
    while (*p == ' ' || *p == ')')
      p++;
    if (!*p) break;
    if (strncasecmp(p, "and ", 4)) return -1;
    p += 4;
  }
  return n;
}

static int item_matches(json_t *it, const price_clause *c, int n) {
  for (int i = 0; i < n; i++) {
    json_t *v = json_object_get(it, c[i].field);
    char num[64];
    const char *sv = json_string_value(v);
    if (json_is_number(v)) {
      snprintf(num, sizeof num, "%g", json_number_value(v));
      sv = num;
    } else if (json_is_boolean(v)) {
      sv = json_is_true(v) ? "true" : "false";
    }
    if (!sv || strcasecmp(sv, c[i].value)) return 0;
  }
  return 1;
}

#define PRICES_PAGE 100

void cost_retail_prices(http_req *r) {
  srv *s = r->srv;
  price_clause cl[12];
  const char *f = http_query_get(r, "$filter");
  int n = f ? parse_filter(f, cl, 12) : 0;
  if (n < 0) {
    http_fail(r, COST_ERR_BAD_REQUEST,
              "Invalid OData filter '%s': azlite takes clauses of the form field eq 'value' "
              "joined by and.",
              f);
    return;
  }
  const char *skip = http_query_get(r, "$skip");
  long off = skip ? atol(skip) : 0;
  if (off < 0) off = 0;
  json_t *items = json_object_get(cost_state_of(s)->catalog, "Items");
  json_t *out = json_array();
  long seen = 0;
  int more = 0;
  size_t i;
  json_t *v;
  int64_t now = clock_now_ms(s);
  json_array_foreach(items, i, v) {
    json_t *it = json_deep_copy(v);
    const char *m = json_string_value(json_object_get(it, "azliteMeter"));
    char size[96];
    if (m && vm_spot_meter(m, size) && !s->cfg.prices_file) {
      double p = compute_spot_price_at(s, "eastus", size, now);
      json_object_set_new(it, "retailPrice", json_real(p));
      json_object_set_new(it, "unitPrice", json_real(p));
    }
    json_object_del(it, "azliteMeter");
    if (!item_matches(it, cl, n)) {
      json_decref(it);
      continue;
    }
    if (seen++ < off || json_array_size(out) >= PRICES_PAGE) {
      if (seen > off + PRICES_PAGE) more = 1;
      json_decref(it);
      continue;
    }
    json_array_append_new(out, it);
  }
  json_t *doc = json_pack("{s:s,s:s,s:s,s:o,s:I}", "BillingCurrency", "USD", "CustomerEntityId",
                          "Default", "CustomerEntityType", "Retail", "Items", out, "Count",
                          (json_int_t)json_array_size(out));
  if (more) {
    char *link =
        http_printf(r, "%s/api/retail/prices?%s%s%s$skip=%ld", s->mgmt_url, f ? "$filter=" : "",
                    f ? http_url_encode(r, f, 0) : "", f ? "&" : "", off + PRICES_PAGE);
    json_object_set_new(doc, "NextPageLink", json_string(link));
  } else {
    json_object_set_new(doc, "NextPageLink", json_null());
  }
  http_reply_json(r, 200, doc);
}
