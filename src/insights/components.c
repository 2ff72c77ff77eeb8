/* components.c: Microsoft.Insights components (Application Insights) as
 * Resource Manager resources.
 *
 * The component's ARM side only (through the generic resource layer), so
 * templates that make one deploy (azure-ai-ml's workspace template names a
 * new one): its ids, instrumentation key and connection string are real
 * and stable.  Telemetry ingestion (*.applicationinsights.azure.com) is not
 * served: under `azlite exec` that name fails at once as one azlite does not
 * serve. */
#include <string.h>
#include <strings.h>

#include "../arm/resource.h"

#define INSIGHTS_COMPONENT_TYPE "Microsoft.Insights/components"
#define INSIGHTS_ERR_BAD_REQUEST 400, "BadRequest"

static int insights_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 260) return 0; /* Azure: 1-260 */
  for (size_t i = 0; i < len; i++)
    if (strchr("%&\\?/<>*#", n[i]) || (unsigned char)n[i] < 32) return 0;
  return 1;
}

static int insights_build(arm_op *op) {
  json_t *in = json_object_get(op->in, "properties");
  const char *kind = json_string_value(json_object_get(op->in, "kind"));
  if (op->created && !kind) {
    http_fail(op->r, INSIGHTS_ERR_BAD_REQUEST, "The parameter kind is required.");
    return -1;
  }
  if (kind) json_object_set_new(op->body, "kind", json_string(kind));
  json_t *props = json_object_get(op->body, "properties");
  if (!json_is_object(props)) {
    props = json_object();
    json_object_set_new(op->body, "properties", props);
  }
  if (json_is_object(in)) json_object_update(props, in);
  /* Ids minted once, kept across updates (a PUT's body starts afresh). */
  json_t *was = json_object_get(op->cur, "properties");
  static const char *const kept[] = {"InstrumentationKey", "AppId", "ConnectionString",
                                     "CreationDate"};
  for (size_t i = 0; was && i < sizeof kept / sizeof *kept; i++)
    if (json_object_get(was, kept[i]))
      json_object_set(props, kept[i], json_object_get(was, kept[i]));
  if (!json_is_string(json_object_get(props, "Application_Type")))
    json_object_set_new(props, "Application_Type", json_string("web"));
  if (!json_is_string(json_object_get(props, "InstrumentationKey"))) {
    char key[37], app[37];
    uuid_v4(key);
    uuid_v4(app);
    json_object_set_new(props, "InstrumentationKey", json_string(key));
    json_object_set_new(props, "AppId", json_string(app));
    json_object_set_new(props, "ConnectionString",
                        json_sprintf("InstrumentationKey=%s;IngestionEndpoint=https://%s-0.in."
                                     "applicationinsights.azure.com/",
                                     key, op->location));
    char iso[40];
    clock_iso8601(clock_now_ms(op->s), iso);
    json_object_set_new(props, "CreationDate", json_string(iso));
  }
  json_object_set_new(props, "ApplicationId", json_string(op->name));
  json_object_set_new(props, "Name", json_string(op->name));
  json_object_set_new(props, "TenantId", json_string(op->s->subscription_id));
  return 0;
}

static const arm_type insights_component_type = {
    .type = INSIGHTS_COMPONENT_TYPE,
    .display = "component",
    .name_valid = insights_name_valid,
    .create_status = 200,
    .build = insights_build,
    .example_name = "contract-appi",
    .example_bad_name = "bad*name",
    .example_body = "{\"location\":\"eastus\",\"kind\":\"web\",\"properties\":{"
                    "\"Application_Type\":\"web\"}}",
};

static const route insights_routes[] = {
    ARM_TRACKED_ROUTES(INSIGHTS_COMPONENT_TYPE, &insights_component_type),
    {.pattern = NULL},
};

/* Newest first: Debian's azure-mgmt-applicationinsights (components at
 * 2020-02-02), and what azure-ai-ml's workspace template names
 * (2020-02-02-preview). */
static const char *const insights_api_versions[] = {"2020-02-02", "2020-02-02-preview",
                                                    "2018-05-01-preview", "2015-05-01", NULL};

/* Azure Monitor's metrics of a resource ({resource}/providers/Microsoft.Insights/
 * metrics and metricDefinitions), served by the resource's provider (ML's
 * online endpoints); the versions of azure-rest-api-specs' monitor specs. */
static const char *const insights_metrics_api_versions[] = {"2023-10-01", "2021-05-01",
                                                            "2019-07-01", "2018-01-01", NULL};

static const resource_type insights_resource_types[] = {
    {.type = INSIGHTS_COMPONENT_TYPE,
     .api_versions = insights_api_versions,
     .generic = &insights_component_type},
    {.type = "Microsoft.Insights/metrics", .api_versions = insights_metrics_api_versions},
    {.type = "Microsoft.Insights/metricDefinitions", .api_versions = insights_metrics_api_versions},
    {.type = NULL},
};

const provider insights_provider = {
    .name = "Microsoft.Insights",
    .routes = insights_routes,
    .nroutes = (int)(sizeof insights_routes / sizeof insights_routes[0]) - 1,
    .resource_types = insights_resource_types,
};
