/* internal.h: what the files of the ML provider share (nothing outside
 * src/ml/ includes it). */
#ifndef AZLITE_ML_INTERNAL_H
#define AZLITE_ML_INTERNAL_H

#include <jansson.h>

#include "../arm/arm.h"
#include "../core/core.h"
#include "errors.h"

#define ML_NS "Microsoft.MachineLearningServices"
#define ML_WS_TYPE ML_NS "/workspaces"
/* Where a node finds azlite's CA (the VMs' path too). */
#define ML_CA_INSIDE "/etc/azlite/ca.pem"

extern const provider ml_provider;
extern const arm_type ml_workspace_type;

/* workspace.c */
void ml_workspace_list_keys(http_req *r);
void ml_workspace_resync_keys(http_req *r);
void ml_discovery(http_req *r);
/* The stored workspace the route's {sub}/{rg}/{ws} name (a new reference),
 * or NULL with r failed (404). */
json_t *ml_workspace_require(http_req *r);
/* The workspace's storage account name (from its stored body), or NULL. */
const char *ml_workspace_account(json_t *ws);

/* datastore.c */
/* Inside the workspace's saving transaction: its two built-in datastores and
 * their containers.  0 or -1. */
int ml_datastores_default(srv *s, const char *ws_id, const char *ws_uuid, const char *account);
int ml_datastores_remove(srv *s, const char *ws_id);
void ml_datastore_list(http_req *r);
void ml_datastore_get(http_req *r);
void ml_datastore_put(http_req *r);
void ml_datastore_delete(http_req *r);
void ml_datastore_list_secrets(http_req *r);

/* compute.c */
void ml_compute_list(http_req *r);
void ml_compute_get(http_req *r);
void ml_compute_put(http_req *r);
void ml_compute_delete(http_req *r);
void ml_compute_list_nodes(http_req *r);
/* A cluster's resize (PATCH); a compute instance's start, stop and restart
 * (long-running). */
void ml_compute_patch(http_req *r);
void ml_compute_start(http_req *r);
void ml_compute_stop(http_req *r);
void ml_compute_restart(http_req *r);
void ml_vm_sizes(http_req *r);
/* Scales every cluster: boots up to minNodeCount, stops nodes idle past
 * nodeIdleTimeBeforeScaleDown (on the scheduler thread; never waits). */
void ml_compute_tick(srv *s, int64_t now_ms);
/* Inside the workspace's deleting transaction: its clusters' rows (their
 * nodes go at the next tick). */
int ml_computes_remove(srv *s, const char *ws_id);
/* Removes node disks a crash left (start). */
int ml_compute_init(srv *s);
/* Stops every node and waits for them (shutdown). */
void ml_compute_fini(srv *s);

/* A node of a cluster held for a job: an idle one, or one booted for it
 * (while the cluster is under maxNodeCount), else waits for one to be free;
 * NULL with why when *cancel was set or none could boot. */
typedef struct ml_node_lease ml_node_lease;
struct rt_sandbox;
ml_node_lease *ml_cluster_acquire(srv *s, const char *compute_id, const char *run_id,
                                  volatile int *cancel, char *err, size_t errn);
struct rt_sandbox *ml_lease_sandbox(ml_node_lease *l);
const char *ml_lease_disk(ml_node_lease *l); /* on the host; /mnt inside is <disk>/own/mnt */
const char *ml_lease_node_id(ml_node_lease *l);
/* The node is idle again (its idle time starts now) and l is freed. */
void ml_cluster_release(srv *s, ml_node_lease *l);

/* assets.c */
void ml_asset_container_list(http_req *r);
void ml_asset_container_get(http_req *r);
void ml_asset_container_put(http_req *r);
void ml_asset_container_delete(http_req *r);
void ml_asset_version_list(http_req *r);
void ml_asset_version_get(http_req *r);
void ml_asset_version_put(http_req *r);
void ml_asset_version_delete(http_req *r);
int ml_assets_remove(srv *s, const char *ws_id);
/* An asset version (kind "environments", "codes", ...) by ARM id or
 * azureml:name:version / name@latest; a new reference, or NULL. */
json_t *ml_asset_resolve(srv *s, const char *ws_id, const char *kind, const char *ref);

/* jobs.c */
void ml_job_list(http_req *r);
void ml_job_get(http_req *r);
void ml_job_put(http_req *r);
void ml_job_delete(http_req *r);
void ml_job_cancel(http_req *r);
void ml_history_run_details(http_req *r);
void ml_history_run(http_req *r);
void ml_history_run_children(http_req *r);
void ml_history_rundata(http_req *r);
void ml_job_log(http_req *r);
int ml_jobs_remove(srv *s, const char *ws_id);
int ml_job_insert(http_req *r, json_t *ws, json_t *b, const char *token, char mlflow_key[80]);
/* A line appended to a job's log (a host file). */
void ml_log_append(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A job's status (Running sets its start, a terminal one its end and error). */
void ml_job_set(srv *s, const char *id, const char *status, const char *error_json);

/* sweep.c: sweep jobs, whose trials are command jobs <sweep>_<i>. */
/* The PUT of a new sweep (its name and inputs checked): replies. */
void ml_sweep_put(http_req *r, json_t *ws, const char *id, const char *name, json_t *in);
/* Cancels a running sweep; 1 when one ran. */
int ml_sweep_cancel(const char *id);
/* Waits until the sweep (every sweep: NULL) has ended. */
void ml_sweep_wait(const char *id);
void ml_sweeps_fini(srv *s);
/* Cancels the job (its ARM id) if it runs here: its process is killed. */
void ml_job_cancel_id(const char *id);
/* Jobs interrupted by a stop end Failed at start. */
int ml_jobs_init(srv *s);
/* Kills every running job and waits for their threads (shutdown). */
void ml_jobs_fini(srv *s);
/* For a model registered from a job output: fails r (400) unless the job
 * completed and uploaded the path. */
int ml_job_output_check(http_req *r, json_t *ws, const char *job, const char *path);
/* Copies the job output path (a file, or every file under a folder) into the
 * workspace's blob store at dest (its files under dest/...); fails r, -1. */
int ml_job_output_copy(http_req *r, json_t *ws, const char *job, const char *path,
                       const char *dest);

/* mlflow.c: the MLflow tracking API 2.0 of a workspace. */
void ml_mlflow_exp_create(http_req *r);
void ml_mlflow_exp_get(http_req *r);
void ml_mlflow_exp_get_by_name(http_req *r);
void ml_mlflow_exp_search(http_req *r);
void ml_mlflow_exp_delete(http_req *r);
void ml_mlflow_exp_restore(http_req *r);
void ml_mlflow_exp_update(http_req *r);
void ml_mlflow_exp_set_tag(http_req *r);
void ml_mlflow_run_create(http_req *r);
void ml_mlflow_run_get(http_req *r);
void ml_mlflow_run_update(http_req *r);
void ml_mlflow_run_delete(http_req *r);
void ml_mlflow_run_restore(http_req *r);
void ml_mlflow_log_metric(http_req *r);
void ml_mlflow_log_param(http_req *r);
void ml_mlflow_set_tag(http_req *r);
void ml_mlflow_delete_tag(http_req *r);
void ml_mlflow_log_batch(http_req *r);
void ml_mlflow_run_search(http_req *r);
void ml_mlflow_metric_history(http_req *r);
void ml_mlflow_artifacts_list(http_req *r);
void ml_mlflow_unsupported(http_req *r);
/* A submitted job's run (in the caller's transaction): run_id the job's
 * name, in the experiment named (made when missing); key gets the job's
 * MLFLOW_TRACKING_TOKEN.  0 or -1. */
int ml_mlflow_job_run(srv *s, const char *ws_id, const char *run_id, const char *experiment,
                      const char *display_name, const char *job_id, const char *user, int64_t now,
                      char key[80]);
int ml_mlflow_job_removed(srv *s, const char *ws_id, const char *run_id);
int ml_mlflow_set_run_tag(srv *s, const char *ws_id, const char *run_id, const char *key,
                          const char *value);
/* The latest value of a run's metric (the highest step's); 0, or -1: none. */
int ml_mlflow_latest_metric(srv *s, const char *ws_id, const char *run_id, const char *key,
                            double *out);
int ml_mlflow_remove(srv *s, const char *ws_id);
/* Does azlite understand this runs (experiments: 1, experiments) search
 * filter?  0, or -1 with why. */
int ml_mlflow_filter_check(const char *text, int experiments, char *err, size_t n);

/* Seconds in an ISO 8601 duration (PT300S, PT5M, P1DT2H, PT0H5M0S), or -1
 * (NULL too); compute.c. */
int64_t ml_iso_duration_s(const char *d);

/* endpoints.c: managed online endpoints and their deployments. */
void ml_endpoint_list(http_req *r);
void ml_endpoint_get(http_req *r);
void ml_endpoint_metrics(http_req *r);
void ml_endpoint_metric_definitions(http_req *r);
void ml_endpoint_put(http_req *r);
void ml_endpoint_patch(http_req *r);
void ml_endpoint_delete(http_req *r);
void ml_endpoint_list_keys(http_req *r);
void ml_endpoint_regenerate_keys(http_req *r);
void ml_endpoint_token(http_req *r);
void ml_deployment_list(http_req *r);
void ml_deployment_get(http_req *r);
void ml_deployment_put(http_req *r);
void ml_deployment_patch(http_req *r);
void ml_deployment_delete(http_req *r);
void ml_deployment_get_logs(http_req *r);
void ml_deployment_skus(http_req *r);
int ml_endpoints_remove(srv *s, const char *ws_id);
/* At start: instance disks a crash left go, deployments caught mid-way end
 * Failed; those that were running boot again at the first tick. */
int ml_endpoints_init(srv *s);
void ml_endpoints_tick(srv *s, int64_t now_ms);
void ml_endpoints_fini(srv *s);
/* What the scoring front needs of an endpoint (by its URL token). */
typedef struct ml_endpoint_view {
  char id[600];
  char key1[80], key2[80];
  json_t *body; /* the stored body (a new reference) */
} ml_endpoint_view;
int ml_endpoint_by_token(srv *s, const char *token, ml_endpoint_view *out);
/* By its scoring host, <endpoint>.<region>.inference.ml.azure.com. */
int ml_endpoint_by_host(srv *s, const char *host, ml_endpoint_view *out);

/* scoring.c: a deployment's instances and the scoring front. */
typedef struct ml_scoring_spec {
  const char *dep_id, *ws_id, *name, *instance_type;
  const char *model_uri, *model_name, *model_version; /* model_uri NULL: none */
  const char *code_uri, *scoring_script;
  json_t *env; /* environmentVariables (borrowed) */
  int instance_count, vcpus;
  int64_t memory_mb;
  int max_concurrent, timeout_ms, queue_ms, ready_timeout_ms;
  const char *log_path;
} ml_scoring_spec;
/* Boots the deployment's instances (replacing running ones) and waits until
 * each has run init(); -1 with why (init()'s traceback) and nothing left. */
int ml_scoring_start(srv *s, const ml_scoring_spec *sp, char *err, size_t en);
/* Stops the deployment's instances (after the requests in flight) and removes
 * their disks. */
void ml_scoring_stop(srv *s, const char *dep_id);
int ml_scoring_instances(const char *dep_id);
void ml_scoring_fini(srv *s);
char *ml_scoring_log_path(srv *s, const char *dep_uuid); /* malloc'd */
char *ml_scoring_log_tail(const char *path, size_t n);   /* malloc'd */
void ml_score(http_req *r);
void ml_score_swagger(http_req *r);
/* GET {endpoint}/providers/Microsoft.Insights/metrics and metricDefinitions
 * (Azure Monitor's shape) from the requests the front answered: ep_id
 * canonical, the endpoint known to exist. */
void ml_scoring_metrics(http_req *r, const char *ep_id, const char *region);
void ml_scoring_metric_definitions(http_req *r, const char *ep_id);

/* Shared helpers (provider.c). */
/* systemData as Azure ML shows it, for a resource made at ms by the caller. */
json_t *ml_system_data(http_req *r, int64_t created_ms, int64_t modified_ms);

/* The workspace's data-plane host as r's caller reaches azlite, without a
 * scheme: <location>.api.azureml.ms under `azlite exec`, else the management
 * endpoint's host:port (in r's arena or static). */
const char *ml_api_host(http_req *r, const char *location);

/* jobs.c: mkdir -p (0755); 0 or -1.  ml_blob_download: every blob under
 * prefix into dir (the rest of each name as its path there; names with ".."
 * skipped); the count, or -1 when the list or any file failed. */
int ml_mkdir_p(const char *path);
int ml_blob_download(srv *s, const char *account, const char *container, const char *prefix,
                     const char *dir);

#endif
