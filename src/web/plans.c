/* plans.c: Microsoft.Web/serverfarms, App Service plans.  A plan's SKU says
 * how its apps run: Consumption (Y1, tier Dynamic: workers start on demand),
 * Elastic Premium (EP1-EP3, tier ElasticPremium) and Dedicated (F1, B1-B3,
 * S1-S3, P1v2-P3v3).  Linux plans are "reserved".  A plan with apps cannot be
 * deleted (409), as on Azure. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const struct {
  const char *name, *tier, *family;
  int workers;
} SKUS[] = {
    {"Y1", "Dynamic", "Y", 200},
    {"EP1", "ElasticPremium", "EP", 20},
    {"EP2", "ElasticPremium", "EP", 20},
    {"EP3", "ElasticPremium", "EP", 20},
    {"F1", "Free", "F", 1},
    {"B1", "Basic", "B", 3},
    {"B2", "Basic", "B", 3},
    {"B3", "Basic", "B", 3},
    {"S1", "Standard", "S", 10},
    {"S2", "Standard", "S", 10},
    {"S3", "Standard", "S", 10},
    {"P1v2", "PremiumV2", "Pv2", 30},
    {"P2v2", "PremiumV2", "Pv2", 30},
    {"P3v2", "PremiumV2", "Pv2", 30},
    {"P1v3", "PremiumV3", "Pv3", 30},
    {"P2v3", "PremiumV3", "Pv3", 30},
    {"P3v3", "PremiumV3", "Pv3", 30},
};

int web_plan_is_dynamic(json_t *plan) {
  const char *tier = json_string_value(json_object_get(json_object_get(plan, "sku"), "tier"));
  return tier && !strcasecmp(tier, "Dynamic");
}

/* 1-60 letters, digits, hyphens and underscores. */
static int plan_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 60) return 0;
  for (const char *p = n; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

static int plan_build(arm_op *op) {
  http_req *r = op->r;
  json_t *sku = json_object_get(op->patch ? op->body : op->in, "sku");
  if (op->patch && json_object_get(op->in, "sku")) sku = json_object_get(op->in, "sku");
  const char *want = json_string_value(json_object_get(sku, "name"));
  if (!want) {
    http_fail(r, WEB_ERR_INVALID_PARAMETER, "The parameter 'sku.name' is required.");
    return -1;
  }
  int i = -1;
  for (size_t k = 0; k < sizeof SKUS / sizeof SKUS[0]; k++)
    if (!strcasecmp(SKUS[k].name, want)) i = (int)k;
  if (i < 0) {
    http_fail(r, WEB_ERR_INVALID_PARAMETER,
              "The pricing tier '%s' is not allowed. Allowed tiers: Y1, EP1-EP3, F1, B1-B3, "
              "S1-S3, P1v2-P3v2, P1v3-P3v3.",
              want);
    return -1;
  }
  json_int_t capacity = json_integer_value(json_object_get(sku, "capacity"));
  if (capacity <= 0) capacity = !strcmp(SKUS[i].tier, "Dynamic") ? 0 : 1;
  json_object_set_new(op->body, "sku",
                      json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", SKUS[i].name, "tier", SKUS[i].tier,
                                "size", SKUS[i].name, "family", SKUS[i].family, "capacity",
                                capacity));
  json_t *in = json_object_get(op->in, "properties");
  json_t *cur = json_object_get(op->cur, "properties");
  json_t *reserved = json_object_get(in, "reserved");
  if (!json_is_boolean(reserved)) reserved = json_object_get(cur, "reserved");
  const char *kind = json_string_value(json_object_get(op->in, "kind"));
  if (!kind) kind = json_string_value(json_object_get(op->cur, "kind"));
  int is_linux = json_is_true(reserved) || (kind && strcasestr(kind, "linux"));
  if (!kind)
    kind = !strcmp(SKUS[i].tier, "Dynamic")          ? "functionapp"
           : !strcmp(SKUS[i].tier, "ElasticPremium") ? "elastic"
           : is_linux                                ? "linux"
                                                     : "app";
  json_object_set_new(op->body, "kind", json_string(kind));
  json_int_t maxel = json_integer_value(json_object_get(in, "maximumElasticWorkerCount"));
  if (maxel <= 0) maxel = !strcmp(SKUS[i].tier, "ElasticPremium") ? 20 : 1;
  json_object_set_new(op->body, "properties",
                      json_pack("{s:s,s:b,s:b,s:b,s:I,s:I,s:s,s:b,s:b,s:b,s:i,s:s}", "status",
                                "Ready", "reserved", is_linux, "isXenon", 0, "hyperV", 0,
                                "maximumNumberOfWorkers", (json_int_t)SKUS[i].workers,
                                "maximumElasticWorkerCount", maxel, "geoRegion", op->location,
                                "perSiteScaling", 0, "elasticScaleEnabled",
                                !strcmp(SKUS[i].tier, "ElasticPremium"), "zoneRedundant", 0,
                                "numberOfSites", 0, "resourceGroup", op->group));
  return 0;
}

/* numberOfSites, counted now. */
static json_t *plan_render(http_req *r, json_t *body) {
  srv *s = r->srv;
  const char *id = json_string_value(json_object_get(body, "id"));
  sqlite3_stmt *st;
  int n = 0;
  if (id && store_prepare(store_db(s), "SELECT count(*) FROM web_sites WHERE plan=?", -1, &st,
                          NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
    store_finalize(st);
  }
  json_t *props = json_object_get(body, "properties");
  if (json_is_object(props)) json_object_set_new(props, "numberOfSites", json_integer(n));
  return body;
}

static int plan_delete_check(http_req *r, json_t *body) {
  json_t *b = plan_render(r, json_incref(body));
  json_int_t n =
      json_integer_value(json_object_get(json_object_get(b, "properties"), "numberOfSites"));
  json_decref(b);
  if (n == 0) return 0;
  http_fail(r, WEB_ERR_PLAN_IN_USE,
            "Server farm '%s' cannot be deleted because it has web app(s) assigned to it.",
            json_string_value(json_object_get(body, "name")));
  return -1;
}

const arm_type web_plan_type = {
    .type = WEB_PLAN_TYPE,
    .display = "App Service plan",
    .name_valid = plan_name_valid,
    .name_message = "The plan name '%s' is invalid: use 1-60 letters, digits, '-' and '_'.",
    .create_status = 200,
    .build = plan_build,
    .render = plan_render,
    .delete_check = plan_delete_check,
    .example_name = "plan1",
    .example_bad_name = "bad.plan!",
    .example_body = "{\"location\":\"eastus\",\"sku\":{\"name\":\"Y1\",\"tier\":\"Dynamic\"},"
                    "\"properties\":{\"reserved\":true}}",
};
