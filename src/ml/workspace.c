/* workspace.c: Microsoft.MachineLearningServices/workspaces on the generic
 * ARM resource layer: the properties Azure ML computes (workspaceId,
 * discoveryUrl, mlFlowTrackingUri), the storage account it keeps its data in
 * (the one named, or one azlite creates in the workspace's group with the
 * caller's own token, as Azure's template would), listKeys and resyncKeys,
 * and the discovery document the SDK reads the data-plane URLs from. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../storage/storage.h"
#include "internal.h"

#define STORAGE_TYPE "Microsoft.Storage/storageAccounts"

/* Azure: 3-33 characters, letters, digits, '-' and '_', starting with a
 * letter or digit. */
static int ws_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 3 || len > 33 || !isalnum((unsigned char)n[0])) return 0;
  for (const char *p = n; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return 0;
  return 1;
}

const char *ml_workspace_account(json_t *ws) {
  const char *id =
      json_string_value(json_object_get(json_object_get(ws, "properties"), "storageAccount"));
  const char *slash = id ? strrchr(id, '/') : NULL;
  return slash ? slash + 1 : NULL;
}

/* Is id a storage account in azlite's subscription?  Writes its canonical id. */
static int account_exists(srv *s, const char *id, char *out, size_t n) {
  json_t *a = arm_resource_get(s, id);
  int ok = a && !strcasecmp(json_string_value(json_object_get(a, "type")), STORAGE_TYPE);
  if (ok) snprintf(out, n, "%s", json_string_value(json_object_get(a, "id")));
  json_decref(a);
  return ok;
}

/* Creates a StorageV2 account for the workspace through the same PUT a user
 * would send, with the caller's Authorization (their RBAC applies).  Writes
 * its id; 0, or -1 with r failed as the storage PUT failed. */
static int account_create(arm_op *op, char *id_out, size_t n) {
  char name[25], hex[37];
  size_t k = 0;
  for (const char *p = op->name; *p && k < 15; p++)
    if (isalnum((unsigned char)*p)) name[k++] = (char)tolower((unsigned char)*p);
  uuid_v4(hex);
  for (const char *p = hex; *p && k < 24; p++)
    if (isxdigit((unsigned char)*p)) name[k++] = *p;
  name[k] = 0;
  char *id = arm_resource_id(op->s->subscription_id, op->group, STORAGE_TYPE, name);
  char *target = http_printf(op->r, "%s?api-version=2022-09-01", id);
  char *body = http_printf(op->r,
                           "{\"location\":\"%s\",\"sku\":{\"name\":\"Standard_LRS\"},"
                           "\"kind\":\"StorageV2\",\"properties\":{\"minimumTlsVersion\":"
                           "\"TLS1_2\",\"allowBlobPublicAccess\":false}}",
                           op->location);
  const char *auth = http_header_get(op->r, "Authorization");
  http_header h[2] = {{"Authorization", auth ? auth : ""}, {"Content-Type", "application/json"}};
  http_req *q = http_run_internal(op->s, LISTEN_MGMT, "PUT", target, h, 2, body, strlen(body));
  const char *code = NULL, *msg = NULL;
  int st = http_reply_status(q, &code, &msg);
  int rc = 0;
  if (st >= 300) {
    http_fail(op->r, ML_ERR_VALIDATION,
              "The workspace's storage account %s could not be created: %s (%s).", name,
              msg ? msg : "failed", code ? code : "error");
    rc = -1;
  } else {
    snprintf(id_out, n, "%s", id);
    log_info("ml: created storage account %s for workspace %s", name, op->name);
  }
  http_req_free(q);
  free(id);
  return rc;
}

static const char *const WRITABLE[] = {"description",
                                       "friendlyName",
                                       "keyVault",
                                       "applicationInsights",
                                       "containerRegistry",
                                       "hbiWorkspace",
                                       "imageBuildCompute",
                                       "publicNetworkAccess",
                                       "allowPublicAccessWhenBehindVnet",
                                       "v1LegacyMode",
                                       "primaryUserAssignedIdentity",
                                       "discoveryUrl",
                                       NULL};
/* Only these change on an update (the rest are fixed at creation). */
static const char *const UPDATABLE[] = {"description",
                                        "friendlyName",
                                        "imageBuildCompute",
                                        "publicNetworkAccess",
                                        "primaryUserAssignedIdentity",
                                        "applicationInsights",
                                        "containerRegistry",
                                        NULL};

static void props_copy(json_t *dst, json_t *src, const char *const *names) {
  for (const char *const *k = names; *k; k++) {
    json_t *v = json_object_get(src, *k);
    if (v) json_object_set(dst, *k, v);
  }
}

static int ws_build(arm_op *op) {
  http_req *r = op->r;
  srv *s = op->s;
  json_t *in_props = json_object_get(op->in, "properties");
  if (in_props && !json_is_object(in_props)) {
    http_fail(r, ML_ERR_VALIDATION, "The workspace's properties must be an object.");
    return -1;
  }
  if (op->patch || op->cur) {
    /* PUT over an existing workspace and PATCH: the storage account and the
     * computed properties stay. */
    if (!op->patch) {
      json_t *props = json_deep_copy(json_object_get(op->cur, "properties"));
      json_object_set_new(op->body, "properties", props);
      json_t *sku = json_object_get(op->cur, "sku");
      if (sku) json_object_set(op->body, "sku", sku);
      json_object_set(op->body, "kind", json_object_get(op->cur, "kind"));
      json_t *sys = json_object_get(op->cur, "systemData");
      if (sys) json_object_set(op->body, "systemData", sys);
    }
    json_t *props = json_object_get(op->body, "properties");
    const char *want = json_string_value(json_object_get(in_props, "storageAccount"));
    const char *have = json_string_value(json_object_get(props, "storageAccount"));
    if (want && have && strcasecmp(want, have) != 0) {
      http_fail(r, ML_ERR_VALIDATION,
                "The storage account of a workspace cannot be changed (from %s to %s).", have,
                want);
      return -1;
    }
    props_copy(props, in_props, UPDATABLE);
    json_t *sys = json_object_get(op->body, "systemData");
    if (json_is_object(sys)) {
      char iso[40];
      clock_iso8601(clock_now_ms(s), iso);
      json_object_set_new(sys, "lastModifiedAt", json_string(iso));
    }
    return 0;
  }
  const char *kind = json_string_value(json_object_get(op->in, "kind"));
  if (kind && strcasecmp(kind, "Default") != 0) {
    http_fail(r, ML_ERR_VALIDATION,
              "azlite serves workspaces of kind Default only, not %s (hubs and projects are "
              "not implemented).",
              kind);
    return -1;
  }
  char acct[512];
  const char *named = json_string_value(json_object_get(in_props, "storageAccount"));
  if (named && *named) {
    if (!account_exists(s, named, acct, sizeof acct)) {
      http_fail(r, ML_ERR_VALIDATION,
                "The storage account %s of the workspace does not exist. Create it first, or "
                "leave storageAccount out and one is created.",
                named);
      return -1;
    }
  } else if (account_create(op, acct, sizeof acct) != 0) {
    return -1;
  }
  json_t *props = json_object();
  json_object_set_new(op->body, "properties", props);
  props_copy(props, in_props, WRITABLE);
  char uuid[37], iso[40];
  uuid_v4(uuid);
  int64_t now = clock_now_ms(s);
  clock_iso8601(now, iso);
  json_object_set_new(props, "storageAccount", json_string(acct));
  json_object_set_new(props, "workspaceId", json_string(uuid));
  json_object_set_new(props, "tenantId", json_string(s->tenant_id));
  json_object_set_new(props, "creationTime", json_string(iso));
  if (!json_object_get(props, "friendlyName"))
    json_object_set_new(props, "friendlyName", json_string(op->name));
  if (!json_object_get(props, "hbiWorkspace"))
    json_object_set_new(props, "hbiWorkspace", json_false());
  if (!json_object_get(props, "publicNetworkAccess"))
    json_object_set_new(props, "publicNetworkAccess", json_string("Enabled"));
  json_object_set_new(props, "v1LegacyMode", json_false());
  json_object_set_new(props, "storageHnsEnabled", json_false());
  json_object_set_new(props, "privateLinkCount", json_integer(0));
  json_object_set_new(props, "serviceProvisionedResourceGroup",
                      json_sprintf("azureml-rg-%s_%s", op->name, uuid));
  json_t *sku = json_object_get(op->in, "sku");
  json_object_set_new(op->body, "sku",
                      json_is_object(sku)
                          ? json_deep_copy(sku)
                          : json_pack("{s:s,s:s}", "name", "Basic", "tier", "Basic"));
  json_object_set_new(op->body, "kind", json_string("Default"));
  json_object_set_new(op->body, "systemData", ml_system_data(r, now, now));
  return 0;
}

static int ws_apply(arm_op *op) {
  if (!op->created) return 0;
  json_t *props = json_object_get(op->body, "properties");
  const char *uuid = json_string_value(json_object_get(props, "workspaceId"));
  return ml_datastores_default(op->s, op->id, uuid, ml_workspace_account(op->body));
}

static int ws_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  return ml_datastores_remove(s, id) | ml_computes_remove(s, id) | ml_assets_remove(s, id) |
                 ml_jobs_remove(s, id) | ml_endpoints_remove(s, id) | ml_mlflow_remove(s, id)
             ? -1
             : 0;
}

/* The workspace's data-plane host as its caller reaches azlite, without a
 * scheme: <region>.api.azureml.ms under `azlite exec`, as Azure names it,
 * else the management endpoint's host:port. */
const char *ml_api_host(http_req *r, const char *location) {
  if (http_req_transparent(r)) return http_printf(r, "%s.api.azureml.ms", location);
  return r->srv->mgmt_url + strlen("https://");
}

/* discoveryUrl and mlFlowTrackingUri, named as the caller reaches azlite. */
static json_t *ws_render(http_req *r, json_t *body) {
  json_t *props = json_object_get(body, "properties");
  const char *id = json_string_value(json_object_get(body, "id"));
  const char *wid = json_string_value(json_object_get(props, "workspaceId"));
  const char *loc = json_string_value(json_object_get(body, "location"));
  if (!json_is_object(props) || !id || !wid || !loc) return body;
  const char *host = ml_api_host(r, loc);
  json_object_set_new(props, "discoveryUrl",
                      json_sprintf("https://%s/discovery/workspaces/%s", host, wid));
  /* The SDK turns azureml://<host>/mlflow/... into https://<host>/mlflow/... */
  json_object_set_new(props, "mlFlowTrackingUri",
                      json_sprintf("azureml://%s/mlflow/v1.0%s", host, id));
  return body;
}

const arm_type ml_workspace_type = {
    .type = ML_WS_TYPE,
    .display = "workspace",
    .name_valid = ws_name_valid,
    .name_message = "Resource name %s is invalid. It can include letters, digits, dashes and "
                    "underscores, must start with a letter or digit, and be 3 to 33 characters.",
    .identity = 1,
    .build = ws_build,
    .render = ws_render,
    .apply = ws_apply,
    .remove = ws_remove,
    .example_name = "contractws",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"identity\":{\"type\":\"SystemAssigned\"},"
                    "\"properties\":{\"friendlyName\":\"contract\"}}",
};

json_t *ml_workspace_require(http_req *r) {
  return arm_res_require(r, &ml_workspace_type, http_param(r, "rg"), http_param(r, "ws"), NULL);
}

/* POST .../listKeys: the storage account's key as the workspace sees it
 * (userStorageKey), nothing for the resources azlite does not make. */
void ml_workspace_list_keys(http_req *r) {
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  if (!ws) return;
  char k1[128], k2[128];
  const char *acct = ml_workspace_account(ws);
  if (!acct || storage_account_keys(r->srv, acct, k1, k2) != 0) {
    http_fail(r, ML_ERR_USER_ERROR, "The workspace's storage account %s no longer exists.",
              acct ? acct : "");
    return;
  }
  json_t *props = json_object_get(ws, "properties");
  http_reply_json(r, 200,
                  json_pack("{s:s,s:O,s:n,s:n,s:n}", "userStorageKey", k1, "userStorageResourceId",
                            json_object_get(props, "storageAccount"),
                            "appInsightsInstrumentationKey", "containerRegistryCredentials",
                            "notebookAccessKeys"));
}

/* POST .../resyncKeys: Azure re-reads the keys of the dependent resources;
 * azlite reads them at each use, so there is nothing to refresh: 200, as
 * Azure answers one that finished at once. */
void ml_workspace_resync_keys(http_req *r) {
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  if (!ws) return;
  http_reply_empty(r, 200);
}

/* GET /discovery/workspaces/{id}: the data-plane base URLs (all azlite's
 * management endpoint; the SDK appends /mferp/managementfrontend to "api"
 * for the management front end, and /history/v1.0 for run history). */
void ml_discovery(http_req *r) {
  /* Under exec, the host it was asked at (<region>.api.azureml.ms). */
  const char *u = http_req_transparent(r) && http_host_is_azure(r->host)
                      ? http_printf(r, "https://%.*s", (int)strcspn(r->host, ":"), r->host)
                      : r->srv->mgmt_url;
  http_reply_json(r, 200,
                  json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "api", u, "catalog", u,
                            "experimentation", u, "gallery", u, "history", u, "hyperdrive", u,
                            "labeling", u, "modelmanagement", u));
}
