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
} arm_state;

extern const provider arm_provider;
void arm_lro_wait_all(srv *s, int timeout_s);

void arm_operation_status(http_req *r);
void arm_operation_result(http_req *r);
void arm_lro_recover(srv *s);

void arm_group_put(http_req *r);
void arm_group_get(http_req *r);
void arm_group_head(http_req *r);
void arm_group_patch(http_req *r);
void arm_group_delete(http_req *r);
void arm_group_list(http_req *r);
void arm_resources_list(http_req *r);
void arm_tags_get(http_req *r);
void arm_tags_put(http_req *r);

#endif
