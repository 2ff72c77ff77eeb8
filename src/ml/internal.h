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
/* Scales every cluster: boots up to minNodeCount, stops nodes idle past
 * nodeIdleTimeBeforeScaleDown (on the scheduler thread; never waits). */
void ml_compute_tick(srv *s, int64_t now_ms);
/* Inside the workspace's deleting transaction: its clusters' rows (their
 * nodes go at the next tick). */
int ml_computes_remove(srv *s, const char *ws_id);
/* Stops every node and waits for them (shutdown). */
void ml_compute_fini(srv *s);

/* Shared helpers (provider.c). */
/* systemData as Azure ML shows it, for a resource made at ms by the caller. */
json_t *ml_system_data(http_req *r, int64_t created_ms, int64_t modified_ms);

#endif
