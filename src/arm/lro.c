/* lro.c: long-running operations, as ARM runs them.  The work runs on a
 * detached thread; its status lives in the `operations` table so clients can
 * poll either URL Azure hands out:
 *   Azure-AsyncOperation: .../providers/Microsoft.Resources/operationStatuses/{id}
 *       -> 200 {"status":"InProgress|Succeeded|Failed", "error":{...}}
 *   Location: .../operationresults/{id} -> 202 while running, then 200.
 * Retry-After: 1 keeps azure-core from sleeping 30 s between polls.
 * An operation still InProgress when azlite stopped is failed at the next start. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arm.h"
#include "../core/internal.h"
#include "internal.h"

typedef struct lro_job {
  srv *s;
  char id[37];
  arm_lro_fn fn;
  void *ctx;
  void (*free_ctx)(void *);
} lro_job;

static void lro_finish(srv *s, const char *id, int ok, const char *code, const char *msg) {
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  store_exec(s,
             "UPDATE operations SET status=%Q, error_code=%Q, error_message=%Q, end_time=%Q "
             "WHERE id=%Q",
             ok ? "Succeeded" : "Failed", ok ? NULL : code, ok ? NULL : msg, iso, id);
}

static arm_state *arm_st(srv *s) {
  return *srv_provider_state(s, &arm_provider);
}

static void lro_count(srv *s, int delta) {
  arm_state *a = arm_st(s);
  pthread_mutex_lock(&a->mu);
  a->lro_running += delta;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
}

static void *lro_thread(void *arg) {
  lro_job *j = arg;
  srv *s = j->s;
  char code[128] = "InternalServerError", msg[1024] = "The operation failed.";
  int rc = j->fn(s, j->ctx, code, sizeof code, msg, sizeof msg);
  lro_finish(s, j->id, rc == 0, code, msg);
  if (j->free_ctx) j->free_ctx(j->ctx);
  store_fini(s);
  free(j);
  lro_count(s, -1); /* the last touch of s: shutdown may proceed */
  return NULL;
}

void arm_lro_wait_all(srv *s, int timeout_s) {
  arm_state *a = arm_st(s);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_s;
  pthread_mutex_lock(&a->mu);
  while (a->lro_running > 0)
    if (pthread_cond_timedwait(&a->cv, &a->mu, &until) != 0) break;
  if (a->lro_running > 0)
    log_warn("arm: %d long-running operations still running at shutdown", a->lro_running);
  pthread_mutex_unlock(&a->mu);
}

void arm_lro_start(http_req *r, int status, json_t *body, arm_lro_fn fn, void *ctx,
                   void (*free_ctx)(void *)) {
  srv *s = r->srv;
  lro_job *j = calloc(1, sizeof *j);
  j->s = s;
  uuid_v4(j->id);
  j->fn = fn;
  j->ctx = ctx;
  j->free_ctx = free_ctx;
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  if (store_exec(s,
                 "INSERT INTO operations(id,status,start_time) VALUES(%Q,'InProgress',%Q)",
                 j->id, iso) != 0) {
    if (free_ctx) free_ctx(ctx);
    free(j);
    json_decref(body);
    http_fail(r, 500, "InternalServerError", "The operation could not be started.");
    return;
  }
  const char *api = http_query_get(r, "api-version");
  http_set_headerf(r, "Azure-AsyncOperation",
                   "%s/subscriptions/%s/providers/Microsoft.Resources/operationStatuses/%s"
                   "?api-version=%s",
                   s->mgmt_url, s->subscription_id, j->id, api ? api : "2022-09-01");
  http_set_headerf(r, "Location", "%s/subscriptions/%s/operationresults/%s?api-version=%s",
                   s->mgmt_url, s->subscription_id, j->id, api ? api : "2022-09-01");
  http_set_header(r, "Retry-After", "1");
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  lro_count(s, 1);
  if (pthread_create(&t, &attr, lro_thread, j) != 0) {
    lro_count(s, -1);
    lro_finish(s, j->id, 0, "InternalServerError", "The operation could not be started.");
    if (free_ctx) free_ctx(ctx);
    free(j);
  }
  pthread_attr_destroy(&attr);
  http_reply_json(r, status, body);
}

/* Returns 0 and fills status/code/message when the operation exists. */
static int lro_load(srv *s, const char *id, char status[16], char code[128], char msg[1024]) {
  sqlite3_stmt *st;
  int rc = -1;
  if (store_prepare(store_db(s),
                         "SELECT status, error_code, error_message FROM operations WHERE id=?",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(status, 16, "%s", sqlite3_column_text(st, 0));
    snprintf(code, 128, "%s", sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
    snprintf(msg, 1024, "%s", sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "");
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

void arm_operation_status(http_req *r) {
  char status[16], code[128], msg[1024];
  const char *id = http_param(r, "id");
  if (lro_load(r->srv, id, status, code, msg) != 0) {
    http_fail(r, 404, "OperationNotFound", "The operation '%s' could not be found.", id);
    return;
  }
  json_t *j = json_pack("{s:s,s:s}", "id", r->path, "status", status);
  if (strcmp(status, "Failed") == 0)
    json_object_set_new(j, "error", json_pack("{s:s,s:s}", "code", code, "message", msg));
  /* While it runs: without Retry-After azure-core waits 30 s before the next poll. */
  if (strcmp(status, "InProgress") == 0) http_set_header(r, "Retry-After", "1");
  http_reply_json(r, 200, j);
}

void arm_operation_result(http_req *r) {
  char status[16], code[128], msg[1024];
  const char *id = http_param(r, "id");
  if (lro_load(r->srv, id, status, code, msg) != 0) {
    http_fail(r, 404, "OperationNotFound", "The operation '%s' could not be found.", id);
    return;
  }
  if (strcmp(status, "InProgress") == 0) {
    http_set_header(r, "Retry-After", "1");
    http_set_headerf(r, "Location", "%s%s?%s", r->srv->mgmt_url, r->raw_path, r->raw_query);
    http_reply_empty(r, 202);
  } else if (strcmp(status, "Failed") == 0) {
    http_fail(r, 409, code[0] ? code : "OperationFailed", "%s", msg);
  } else {
    http_reply_empty(r, 200);
  }
}

void arm_lro_recover(srv *s) {
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  store_exec(s,
             "UPDATE operations SET status='Failed', error_code='OperationInterrupted', "
             "error_message='azlite stopped while the operation ran; run it again.', "
             "end_time=%Q WHERE status='InProgress'",
             iso);
}
