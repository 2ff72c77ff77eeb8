/* workspaces.c: Microsoft.OperationalInsights workspaces (Log Analytics) as
 * Resource Manager resources.
 *
 * The workspace's ARM side only (through the generic resource layer): what
 * azure-ai-ml's workspace template makes for a new Application Insights
 * component (DefaultWorkspace-<subscription>-<region> in
 * DefaultResourceGroup-<region>, by a nested deployment).  Its customer id is
 * real and stable; ingestion and queries (*.ods.opinsights.azure.com,
 * api.loganalytics.io) are not served: under `azlite exec` those names fail
 * at once as ones azlite does not serve. */
#include <string.h>

#include "../arm/resource.h"

#define LOGANALYTICS_TYPE "Microsoft.OperationalInsights/workspaces"
#define LOGANALYTICS_ERR_BAD_REQUEST 400, "BadRequest"

/* 4-63 of letters, digits and hyphens, starting and ending alphanumeric. */
static int loganalytics_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 4 || len > 63 || n[0] == '-' || n[len - 1] == '-') return 0;
  for (size_t i = 0; i < len; i++) {
    char c = n[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return 0;
  }
  return 1;
}

static int loganalytics_build(arm_op *op) {
  json_t *in = json_object_get(op->in, "properties");
  if (in && !json_is_object(in)) {
    http_fail(op->r, LOGANALYTICS_ERR_BAD_REQUEST, "The parameter properties must be an object.");
    return -1;
  }
  json_t *props = json_object_get(op->body, "properties");
  if (!json_is_object(props)) {
    props = json_object();
    json_object_set_new(op->body, "properties", props);
  }
  if (json_is_object(in)) json_object_update(props, in);
  json_t *was = json_object_get(op->cur, "properties");
  if (json_is_string(json_object_get(was, "customerId"))) {
    json_object_set(props, "customerId", json_object_get(was, "customerId"));
    json_object_set(props, "createdDate", json_object_get(was, "createdDate"));
  } else {
    char id[37], iso[40];
    uuid_v4(id);
    clock_iso8601(clock_now_ms(op->s), iso);
    json_object_set_new(props, "customerId", json_string(id));
    json_object_set_new(props, "createdDate", json_string(iso));
  }
  if (!json_is_object(json_object_get(props, "sku")))
    json_object_set_new(props, "sku", json_pack("{s:s}", "name", "PerGB2018"));
  json_t *days = json_object_get(props, "retentionInDays");
  if (days &&
      (!json_is_integer(days) || json_integer_value(days) < 30 || json_integer_value(days) > 730)) {
    http_fail(op->r, LOGANALYTICS_ERR_BAD_REQUEST,
              "retentionInDays must be an integer from 30 to 730.");
    return -1;
  }
  if (!days) json_object_set_new(props, "retentionInDays", json_integer(30));
  json_object_set_new(props, "publicNetworkAccessForIngestion", json_string("Enabled"));
  json_object_set_new(props, "publicNetworkAccessForQuery", json_string("Enabled"));
  return 0;
}

static const arm_type loganalytics_workspace_type = {
    .type = LOGANALYTICS_TYPE,
    .display = "workspace",
    .name_valid = loganalytics_name_valid,
    .name_code = "InvalidWorkspaceName",
    .name_message = "The workspace name '%s' is invalid: it must be 4-63 letters, digits or "
                    "hyphens, starting and ending with a letter or digit.",
    .create_status = 200,
    .build = loganalytics_build,
    .example_name = "contract-law",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"properties\":{}}",
};

static const route loganalytics_routes[] = {
    ARM_TRACKED_ROUTES(LOGANALYTICS_TYPE, &loganalytics_workspace_type),
    {.pattern = NULL},
};

/* Newest first: Debian's azure-mgmt-loganalytics (2022-10-01) and what
 * azure-ai-ml's nested deployment names (2020-08-01). */
static const char *const loganalytics_api_versions[] = {
    "2022-10-01", "2021-12-01-preview", "2021-06-01",         "2020-10-01",
    "2020-08-01", "2020-03-01-preview", "2015-11-01-preview", NULL};

static const resource_type loganalytics_resource_types[] = {
    {.type = LOGANALYTICS_TYPE,
     .api_versions = loganalytics_api_versions,
     .generic = &loganalytics_workspace_type},
    {.type = NULL},
};

const provider loganalytics_provider = {
    .name = "Microsoft.OperationalInsights",
    .routes = loganalytics_routes,
    .nroutes = (int)(sizeof loganalytics_routes / sizeof loganalytics_routes[0]) - 1,
    .resource_types = loganalytics_resource_types,
};
