/* catalog.c: what Microsoft.Web lists without a resource: the regions a
 * SKU is offered in (geoRegions) and the language stacks function apps run
 * (functionAppStacks).  The stacks are the ones this host runs for real:
 * Python, on Linux, Functions ~4. */
#include <string.h>
#include <strings.h>

#include "internal.h"

static const struct {
  const char *display;
} REGIONS[] = {{"East US"},     {"East US 2"},  {"West US"},          {"West US 2"},
               {"West US 3"},   {"Central US"}, {"South Central US"}, {"North Europe"},
               {"West Europe"}, {"UK South"}};

void web_geo_regions(http_req *r) {
  const char *sku = http_query_get(r, "sku");
  static const char *const SKUS[] = {"Free",           "Shared",    "Basic",     "Standard",
                                     "Premium",        "PremiumV2", "PremiumV3", "Dynamic",
                                     "ElasticPremium", "Isolated",  NULL};
  if (sku) {
    int ok = 0;
    for (int i = 0; SKUS[i]; i++)
      ok |= !strcasecmp(SKUS[i], sku);
    if (!ok) {
      http_fail(r, WEB_ERR_INVALID_PARAMETER, "The sku '%s' is not valid.", sku);
      return;
    }
  }
  json_t *out = json_array();
  for (size_t i = 0; i < sizeof REGIONS / sizeof REGIONS[0]; i++)
    json_array_append_new(
        out, json_pack("{s:o,s:s,s:s,s:{s:s,s:s,s:s}}", "id",
                       json_sprintf("/subscriptions/%s/providers/Microsoft.Web/geoRegions/%s",
                                    r->srv->subscription_id, REGIONS[i].display),
                       "name", REGIONS[i].display, "type", "Microsoft.Web/geoRegions", "properties",
                       "name", REGIONS[i].display, "displayName", REGIONS[i].display, "orgDomain",
                       "PUBLIC;DSERIES;LINUX;ELASTICPREMIUM;FUNCTIONS;DYNAMIC;LINUXDYNAMIC"));
  http_reply_json(r, 200, json_pack("{s:o,s:n}", "value", out, "nextLink"));
}

static json_t *python_minor(const char *version, int is_default) {
  char fx[32];
  snprintf(fx, sizeof fx, "Python|%s", version);
  return json_pack(
      "{s:o,s:s,s:{s:{s:s,s:b,s:b,s:b,s:b,s:{s:b},s:{s:b,s:s},s:{s:s},s:{s:b,s:s},s:[s],s:b}}}",
      "displayText", json_sprintf("Python %s", version), "value", version, "stackSettings",
      "linuxRuntimeSettings", "runtimeVersion", fx, "isPreview", 0, "isDeprecated", 0, "isHidden",
      0, "remoteDebuggingSupported", 0,
      /* No Application Insights here: az then sets AzureWebJobsDashboard. */
      "appInsightsSettings", "isSupported", 0, "gitHubActionSettings", "isSupported", 1,
      "supportedVersion", version, "appSettingsDictionary", "FUNCTIONS_WORKER_RUNTIME", "python",
      "siteConfigPropertiesDictionary", "use32BitWorkerProcess", 0, "linuxFxVersion", fx,
      "supportedFunctionsExtensionVersions", "~4", "isDefault", is_default);
}

void web_function_app_stacks(http_req *r) {
  const char *os = http_query_get(r, "stackOsType");
  json_t *out = json_array();
  if (!os || !strcasecmp(os, "Linux") || !strcasecmp(os, "All")) {
    json_t *minors = json_pack("[o,o,o]", python_minor("3.11", 1), python_minor("3.10", 0),
                               python_minor("3.9", 0));
    json_array_append_new(
        out, json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s,s:[{s:s,s:s,s:o}]}}", "id",
                       "/providers/Microsoft.Web/functionAppStacks/python", "name", "python",
                       "type", "Microsoft.Web/functionAppStacks", "properties", "displayText",
                       "Python", "value", "python", "preferredOs", "linux", "majorVersions",
                       "displayText", "Python 3", "value", "3", "minorVersions", minors));
  } else if (strcasecmp(os, "Windows")) {
    http_fail(r, WEB_ERR_INVALID_PARAMETER,
              "The stackOsType '%s' is not valid: Windows, Linux or All.", os);
    return;
  }
  http_reply_json(r, 200, json_pack("{s:o,s:n}", "value", out, "nextLink"));
}
