/* provider.c: Microsoft.MachineLearningServices as a provider: its one route
 * table (every URL the ML provider serves), its schema and the api-versions
 * it takes.  Workspaces are a type of the generic ARM resource layer
 * (workspace.c); what lives inside a workspace (datastores, datastore.c) is
 * kept in the provider's own tables and goes with the workspace. */
#include <string.h>

#include "internal.h"

/* The versions azure-ai-ml 1.4.0 sends (2022-01-01-preview to
 * 2022-10-01-preview) and the stable ones around them
 * (azure-rest-api-specs, specification/machinelearningservices). */
static const char *const ml_api_versions[] = {"2024-04-01",
                                              "2023-10-01",
                                              "2023-04-01",
                                              "2023-04-01-preview",
                                              "2023-02-01-preview",
                                              "2022-12-01-preview",
                                              "2022-10-01",
                                              "2022-10-01-preview",
                                              "2022-06-01-preview",
                                              "2022-05-01",
                                              "2022-02-01-preview",
                                              "2022-01-01-preview",
                                              "2021-07-01",
                                              "2021-04-01",
                                              "2021-01-01",
                                              "2020-06-01",
                                              "2020-09-01-dataplanepreview",
                                              "2021-10-01-dataplanepreview",
                                              NULL};

static const resource_type ml_resource_types[] = {
    {.type = ML_WS_TYPE, .api_versions = ml_api_versions, .generic = &ml_workspace_type},
    {.type = ML_WS_TYPE "/datastores", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/computes", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/data", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/jobs", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/codes", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/models", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/environments", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/onlineEndpoints", .api_versions = ml_api_versions},
    {.type = ML_WS_TYPE "/onlineEndpoints/deployments", .api_versions = ml_api_versions},
    {.type = ML_NS "/locations", .api_versions = ml_api_versions},
    {.type = NULL},
};

#define ARM(m, p, f)                                                                               \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM                                                                          \
  }
#define ARM_D(m, p, f, d)                                                                          \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .data = d                                                               \
  }
#define WS "/subscriptions/{sub}/resourceGroups/{rg}/providers/" ML_WS_TYPE "/{ws}"
#define MLF(m, p, f)                                                                               \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m,                                                          \
    .pattern = "/mlflow/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/" ML_WS_TYPE        \
               "/{ws}/api/2.0/mlflow" p,                                                           \
    .fn = f, .auth = AUTH_PROVIDER, .style = HTTP_ERR_MLFLOW                                       \
  }
#define HIST(m, p, f)                                                                              \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m,                                                          \
    .pattern =                                                                                     \
        "/history/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/" ML_WS_TYPE "/{ws}" p,   \
    .fn = f, .auth = AUTH_PROVIDER, .style = HTTP_ERR_ARM                                          \
  }

static const route ml_routes[] = {
    ARM_TRACKED_ROUTES(ML_WS_TYPE, &ml_workspace_type),
    ARM("GET", "/subscriptions/{sub}/providers/" ML_NS "/locations/{location}/vmSizes",
        ml_vm_sizes),
    ARM("POST", WS "/listKeys", ml_workspace_list_keys),
    ARM("POST", WS "/resyncKeys", ml_workspace_resync_keys),
    ARM("GET", WS "/datastores", ml_datastore_list),
    ARM("GET", WS "/datastores/{name}", ml_datastore_get),
    ARM("PUT", WS "/datastores/{name}", ml_datastore_put),
    ARM("DELETE", WS "/datastores/{name}", ml_datastore_delete),
    ARM("POST", WS "/datastores/{name}/listSecrets", ml_datastore_list_secrets),
    ARM("GET", WS "/computes", ml_compute_list),
    ARM("GET", WS "/computes/{name}", ml_compute_get),
    ARM("PUT", WS "/computes/{name}", ml_compute_put),
    ARM("PATCH", WS "/computes/{name}", ml_compute_patch),
    ARM("DELETE", WS "/computes/{name}", ml_compute_delete),
    ARM("POST", WS "/computes/{name}/listNodes", ml_compute_list_nodes),
    ARM("POST", WS "/computes/{name}/start", ml_compute_start),
    ARM("POST", WS "/computes/{name}/stop", ml_compute_stop),
    ARM("POST", WS "/computes/{name}/restart", ml_compute_restart),
/* Versioned assets (assets.c): one set of handlers, the kind in .data. */
#define ASSET(kind)                                                                                \
  ARM_D("GET", WS "/" kind, ml_asset_container_list, kind),                                        \
      ARM_D("GET", WS "/" kind "/{name}", ml_asset_container_get, kind),                           \
      ARM_D("PUT", WS "/" kind "/{name}", ml_asset_container_put, kind),                           \
      ARM_D("DELETE", WS "/" kind "/{name}", ml_asset_container_delete, kind),                     \
      ARM_D("GET", WS "/" kind "/{name}/versions", ml_asset_version_list, kind),                   \
      ARM_D("GET", WS "/" kind "/{name}/versions/{version}", ml_asset_version_get, kind),          \
      ARM_D("PUT", WS "/" kind "/{name}/versions/{version}", ml_asset_version_put, kind),          \
      ARM_D("DELETE", WS "/" kind "/{name}/versions/{version}", ml_asset_version_delete, kind)
    ASSET("environments"),
    ASSET("models"),
    ASSET("codes"),
    ASSET("data"),
#undef ASSET
    ARM("GET", WS "/jobs", ml_job_list),
    ARM("GET", WS "/jobs/{name}", ml_job_get),
    ARM("PUT", WS "/jobs/{name}", ml_job_put),
    ARM("DELETE", WS "/jobs/{name}", ml_job_delete),
    ARM("POST", WS "/jobs/{name}/cancel", ml_job_cancel),
/* Managed online endpoints and their deployments (endpoints.c). */
#define EP WS "/onlineEndpoints/{ep}"
    ARM("GET", WS "/onlineEndpoints", ml_endpoint_list),
    ARM("GET", EP, ml_endpoint_get),
    ARM("PUT", EP, ml_endpoint_put),
    ARM("PATCH", EP, ml_endpoint_patch),
    ARM("DELETE", EP, ml_endpoint_delete),
    ARM("POST", EP "/listKeys", ml_endpoint_list_keys),
    ARM("POST", EP "/regenerateKeys", ml_endpoint_regenerate_keys),
    ARM("POST", EP "/token", ml_endpoint_token),
    ARM("GET", EP "/providers/Microsoft.Insights/metrics", ml_endpoint_metrics),
    ARM("GET", EP "/providers/Microsoft.Insights/metricDefinitions",
        ml_endpoint_metric_definitions),
    ARM("GET", EP "/deployments", ml_deployment_list),
    ARM("GET", EP "/deployments/{dep}", ml_deployment_get),
    ARM("PUT", EP "/deployments/{dep}", ml_deployment_put),
    ARM("PATCH", EP "/deployments/{dep}", ml_deployment_patch),
    ARM("DELETE", EP "/deployments/{dep}", ml_deployment_delete),
    ARM("POST", EP "/deployments/{dep}/getLogs", ml_deployment_get_logs),
    ARM("GET", EP "/deployments/{dep}/skus", ml_deployment_skus),
#undef EP
    /* Scoring (scoring.c): the endpoint's token in the path; the handler
     * checks the endpoint's key or token. */
    {.listener = LISTEN_MGMT,
     .method = "POST",
     .pattern = "/azlite/ml/endpoints/{token}/score",
     .fn = ml_score,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/ml/endpoints/{token}/swagger.json",
     .fn = ml_score_swagger,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    /* The same at Azure's <endpoint>.<region>.inference.ml.azure.com (under
     * `azlite exec`; the server puts such a host's paths here). */
    {.listener = LISTEN_MGMT,
     .method = "POST",
     .pattern = "/azlite/host/{host}/score",
     .fn = ml_score,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/host/{host}/swagger.json",
     .fn = ml_score_swagger,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    /* Run history, at the discovery document's "history" (no api-version;
     * the handlers check the bearer token and the caller's access). */
    HIST("GET", "/runs/{run}/details", ml_history_run_details),
    HIST("GET", "/runs/{run}/children", ml_history_run_children),
    HIST("GET", "/runs/{run}", ml_history_run),
    HIST("POST", "/rundata", ml_history_rundata),
    /* MLflow tracking (mlflow.c), at the workspace's mlFlowTrackingUri; the
     * handlers check the bearer (a management token, or a job's run key). */
    MLF("POST", "/experiments/create", ml_mlflow_exp_create),
    MLF("GET", "/experiments/get", ml_mlflow_exp_get),
    MLF("GET", "/experiments/get-by-name", ml_mlflow_exp_get_by_name),
    MLF("GET", "/experiments/search", ml_mlflow_exp_search),
    MLF("POST", "/experiments/search", ml_mlflow_exp_search),
    MLF("GET", "/experiments/list", ml_mlflow_exp_search),
    MLF("POST", "/experiments/delete", ml_mlflow_exp_delete),
    MLF("POST", "/experiments/restore", ml_mlflow_exp_restore),
    MLF("POST", "/experiments/update", ml_mlflow_exp_update),
    MLF("POST", "/experiments/set-experiment-tag", ml_mlflow_exp_set_tag),
    MLF("POST", "/runs/create", ml_mlflow_run_create),
    MLF("GET", "/runs/get", ml_mlflow_run_get),
    MLF("POST", "/runs/update", ml_mlflow_run_update),
    MLF("POST", "/runs/delete", ml_mlflow_run_delete),
    MLF("POST", "/runs/restore", ml_mlflow_run_restore),
    MLF("POST", "/runs/log-metric", ml_mlflow_log_metric),
    MLF("POST", "/runs/log-parameter", ml_mlflow_log_param),
    MLF("POST", "/runs/set-tag", ml_mlflow_set_tag),
    MLF("POST", "/runs/delete-tag", ml_mlflow_delete_tag),
    MLF("POST", "/runs/log-batch", ml_mlflow_log_batch),
    MLF("POST", "/runs/search", ml_mlflow_run_search),
    MLF("GET", "/metrics/get-history", ml_mlflow_metric_history),
    MLF("GET", "/artifacts/list", ml_mlflow_artifacts_list),
    MLF("*", "/*", ml_mlflow_unsupported),
    /* A run's log while it grows; the run's uuid in the path is the key. */
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/ml/logs/{token}/*",
     .fn = ml_job_log,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    /* The discovery document is anonymous, as Azure's is. */
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/discovery/workspaces/{id}",
     .fn = ml_discovery,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
};
#undef ARM
#undef ARM_D
#undef WS
#undef HIST
#undef MLF

/* Schema, version 1: what lives in a workspace (keyed by the workspace's
 * canonical ARM id; the workspace's remove hook drops it). */
static const char *const ml_schema[] = {
    "CREATE TABLE ml_datastores("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL COLLATE NOCASE,"
    "  body TEXT NOT NULL /*json, as GET answers*/, secret TEXT /*key or SAS; NULL: none*/,"
    "  PRIMARY KEY(ws_id, name));"
    "CREATE TABLE ml_computes("
    "  id TEXT PRIMARY KEY COLLATE NOCASE, ws_id TEXT NOT NULL COLLATE NOCASE,"
    "  body TEXT NOT NULL /*json, less the node counts GET adds*/);"
    "CREATE TABLE ml_asset_containers("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, kind TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE,"
    "  body TEXT NOT NULL, PRIMARY KEY(ws_id, kind, name));"
    "CREATE TABLE ml_asset_versions("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, kind TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE,"
    "  version TEXT NOT NULL, body TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(ws_id, kind, name, version));"
    "CREATE TABLE ml_jobs("
    "  id TEXT PRIMARY KEY COLLATE NOCASE, ws_id TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL,"
    "  body TEXT NOT NULL /*as submitted, with what azlite resolved*/,"
    "  status TEXT NOT NULL, token TEXT NOT NULL UNIQUE /*the run uuid: log URL key*/,"
    "  error TEXT /*json {error:{code,message}}*/, exit_code INTEGER,"
    "  created_ms INTEGER NOT NULL, start_ms INTEGER, end_ms INTEGER);",
    /* Version 2: managed online endpoints (endpoints.c), keyed by their
     * canonical ARM ids; the workspace's remove hook drops them. */
    "CREATE TABLE ml_endpoints("
    "  id TEXT PRIMARY KEY COLLATE NOCASE, ws_id TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL,"
    "  token TEXT NOT NULL UNIQUE /*the scoring URL's key*/, key1 TEXT NOT NULL, key2 TEXT NOT "
    "NULL,"
    "  body TEXT NOT NULL /*json, less scoringUri and swaggerUri*/);"
    "CREATE TABLE ml_deployments("
    "  id TEXT PRIMARY KEY COLLATE NOCASE, ep_id TEXT NOT NULL COLLATE NOCASE,"
    "  ws_id TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL, uuid TEXT NOT NULL /*log name*/,"
    "  body TEXT NOT NULL, error TEXT /*json {error:{code,message}}*/,"
    "  meter_ms INTEGER /*instances running since; NULL: none*/, meter_n INTEGER,"
    "  meter_size TEXT);",
    /* Version 3: the MLflow tracking API (mlflow.c), per workspace.  A tag's
     * owner is "e:<experiment id>" or "r:<run id>"; a job's run names its
     * job (its status and times are the job's) and holds the job's key. */
    "CREATE TABLE mlflow_experiments("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, name TEXT NOT NULL,"
    "  artifact_location TEXT NOT NULL, lifecycle TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(ws_id, id), UNIQUE(ws_id, name));"
    "CREATE TABLE mlflow_runs("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, exp_id TEXT NOT NULL,"
    "  name TEXT NOT NULL, user_id TEXT NOT NULL, status TEXT NOT NULL,"
    "  start_ms INTEGER NOT NULL, end_ms INTEGER, lifecycle TEXT NOT NULL,"
    "  job_id TEXT COLLATE NOCASE, run_key TEXT UNIQUE, PRIMARY KEY(ws_id, id));"
    "CREATE INDEX mlflow_runs_exp ON mlflow_runs(ws_id, exp_id);"
    "CREATE TABLE mlflow_tags("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, owner TEXT NOT NULL, key TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY(ws_id, owner, key));"
    "CREATE TABLE mlflow_params("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, run_id TEXT NOT NULL, key TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY(ws_id, run_id, key));"
    "CREATE TABLE mlflow_metrics("
    "  ws_id TEXT NOT NULL COLLATE NOCASE, run_id TEXT NOT NULL, key TEXT NOT NULL,"
    "  value REAL /*NULL: NaN*/, ts INTEGER NOT NULL, step INTEGER NOT NULL);"
    "CREATE INDEX mlflow_metrics_run ON mlflow_metrics(ws_id, run_id, key);",
};

json_t *ml_system_data(http_req *r, int64_t created_ms, int64_t modified_ms) {
  (void)r;
  char c[40], m[40];
  clock_iso8601(created_ms, c);
  clock_iso8601(modified_ms, m);
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "createdAt", c, "createdBy", "azlite",
                   "createdByType", "Application", "lastModifiedAt", m, "lastModifiedBy", "azlite",
                   "lastModifiedByType", "Application");
}

static int ml_init(srv *s) {
  return ml_compute_init(s) | ml_jobs_init(s) | ml_endpoints_init(s) ? -1 : 0;
}

static void ml_tick(srv *s, int64_t now_ms) {
  ml_compute_tick(s, now_ms);
  ml_endpoints_tick(s, now_ms);
}

/* Sweeps first (they submit jobs), jobs (they hold nodes), then the nodes. */
static void ml_fini(srv *s) {
  ml_sweeps_fini(s);
  ml_jobs_fini(s);
  ml_endpoints_fini(s);
  ml_compute_fini(s);
}

const provider ml_provider = {
    .name = ML_NS,
    .routes = ml_routes,
    .nroutes = (int)(sizeof ml_routes / sizeof ml_routes[0]),
    .schema = {ml_schema, (int)(sizeof ml_schema / sizeof ml_schema[0])},
    .resource_types = ml_resource_types,
    .init = ml_init,
    .tick = ml_tick,
    .fini = ml_fini,
};
