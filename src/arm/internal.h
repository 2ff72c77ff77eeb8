/* internal.h: shared between Resource Manager's files only. */
#ifndef AZLITE_ARM_INTERNAL_H
#define AZLITE_ARM_INTERNAL_H

#include "arm.h"

/* Resource Manager's state: the long-running operations still running, so
 * that shutdown waits for them instead of freeing what they use. */
typedef struct arm_state {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int lro_running;
  int resume_pending; /* interrupted operations to resume on the first tick (scheduler only) */
} arm_state;

extern const provider arm_provider;
void arm_lro_wait_all(srv *s, int timeout_s);

void arm_operation_status(http_req *r);
void arm_operation_result(http_req *r);
void arm_lro_recover(srv *s);
void arm_lro_tick(srv *s, int64_t now_ms);
/* An operation the next start resumes if azlite stops while it runs: `resume`
 * names what it works on (a resource group's id for its deletion). */
void arm_lro_start_resumable(http_req *r, int status, json_t *body, const char *resume,
                             arm_lro_fn fn, void *ctx, void (*free_ctx)(void *));
/* Runs fn again under the interrupted operation for `resume` (a new one when
 * none is recorded); 0 when it started. */
int arm_lro_resume(srv *s, const char *resume, arm_lro_fn fn, void *ctx, void (*free_ctx)(void *));
/* Marks the interrupted operations for `resume` succeeded: their work is done. */
void arm_lro_finish_resumable(srv *s, const char *resume);
/* Resumes the deletion of every group left Deleting (scheduler, first pass). */
void arm_group_delete_resume(srv *s);

void arm_group_put(http_req *r);
void arm_group_get(http_req *r);
void arm_group_head(http_req *r);
void arm_group_patch(http_req *r);
void arm_group_delete(http_req *r);
void arm_group_list(http_req *r);
void arm_resources_list(http_req *r);
void arm_tags_get(http_req *r);
void arm_tags_put(http_req *r);

/* Deployments (deployments.c): the handlers arm.c's route table lists. */
void arm_deployment_list(http_req *r);
void arm_deployment_put(http_req *r);
void arm_deployment_get(http_req *r);
void arm_deployment_head(http_req *r);
void arm_deployment_delete(http_req *r);
void arm_deployment_cancel(http_req *r);
void arm_deployment_validate(http_req *r);
void arm_deployment_what_if(http_req *r);
void arm_deployment_export(http_req *r);
void arm_deployment_operations(http_req *r);
void arm_deployment_operation_get(http_req *r);
/* At start: deployments left Accepted or Running end Failed. */
void arm_deployments_recover(srv *s);
/* A resource group's deployments go with it. */
void arm_deployments_resource_deleted(srv *s, const char *id, const char *type);

#endif
