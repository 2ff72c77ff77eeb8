/* lro.c: long-running operations, as ARM runs them.  The work runs on a
 * detached thread; its status lives in the `operations` table so clients can
 * poll either URL Azure hands out:
 *   Azure-AsyncOperation: .../providers/Microsoft.Resources/operationStatuses/{id}
 *       -> 200 {"status":"InProgress|Succeeded|Failed", "error":{...}}
 *   Location: .../operationresults/{id} -> 202 while running, then 200.
 * Retry-After: 1 keeps azure-core from sleeping 30 s between polls.
 * An operation still InProgress when azlite stopped is failed at the next start,
 * unless it is resumable (a resource group's deletion: operations.resume names
 * the group), which then runs again from the start on the scheduler's first pass. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/internal.h"
#include "arm.h"
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

/* The operation the calling thread runs (arm_lro_set_result). */
static __thread const char *lro_current;

int arm_lro_set_result(srv *s, json_t *result) {
  if (!lro_current) return -1;
  char *txt = json_dumps(result, JSON_COMPACT);
  int rc =
      txt ? store_exec(s, "UPDATE operations SET result=%Q WHERE id=%Q", txt, lro_current) : -1;
  free(txt);
  return rc;
}

static void *lro_thread(void *arg) {
  lro_job *j = arg;
  lro_current = j->id;
  srv *s = j->s;
  char code[128] = "InternalServerError", msg[1024] = "The operation failed.";
  /* Test-only: holds each operation so tests see it InProgress on every run. */
  arm_test_delay("AZLITE_TEST_LRO_DELAY_MS");
  int rc = j->fn(s, j->ctx, code, sizeof code, msg, sizeof msg);
  lro_finish(s, j->id, rc == 0, code, msg);
  lro_current = NULL;
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

/* Runs fn on a detached thread for operation id; 0 when it started (fn then
 * owns ctx), -1 when not (ctx freed, the operation failed). */
static int lro_spawn(srv *s, const char *id, arm_lro_fn fn, void *ctx, void (*free_ctx)(void *)) {
  lro_job *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->s = s;
  snprintf(j->id, sizeof j->id, "%s", id);
  j->fn = fn;
  j->ctx = ctx;
  j->free_ctx = free_ctx;
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  lro_count(s, 1);
  int rc = pthread_create(&t, &attr, lro_thread, j);
  pthread_attr_destroy(&attr);
  if (rc == 0) return 0;
  lro_count(s, -1);
  lro_finish(s, id, 0, "InternalServerError", "The operation could not be started.");
  if (free_ctx) free_ctx(ctx);
  free(j);
  return -1;
}

void arm_lro_start_resumable(http_req *r, int status, json_t *body, const char *resume,
                             arm_lro_fn fn, void *ctx, void (*free_ctx)(void *)) {
  srv *s = r->srv;
  char id[37];
  uuid_v4(id);
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  if (store_exec(s,
                 "INSERT INTO operations(id,status,start_time,resume) "
                 "VALUES(%Q,'InProgress',%Q,%Q)",
                 id, iso, resume) != 0) {
    if (free_ctx) free_ctx(ctx);
    json_decref(body);
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The operation could not be started.");
    return;
  }
  /* The status URLs carry the request's api-version, as Azure's do (the
   * front door takes any there: arm_api_version_check). */
  const char *api = http_query_get(r, "api-version");
  http_set_headerf(r, "Azure-AsyncOperation",
                   "%s/subscriptions/%s/providers/Microsoft.Resources/operationStatuses/%s"
                   "?api-version=%s",
                   http_mgmt_base(r), s->subscription_id, id, api ? api : "2022-09-01");
  http_set_headerf(r, "Location", "%s/subscriptions/%s/operationresults/%s?api-version=%s",
                   http_mgmt_base(r), s->subscription_id, id, api ? api : "2022-09-01");
  http_set_header(r, "Retry-After", "1");
  lro_spawn(s, id, fn, ctx, free_ctx);
  http_reply_json(r, status, body);
}

void arm_lro_start(http_req *r, int status, json_t *body, arm_lro_fn fn, void *ctx,
                   void (*free_ctx)(void *)) {
  arm_lro_start_resumable(r, status, body, NULL, fn, ctx, free_ctx);
}

int arm_lro_resume(srv *s, const char *resume, arm_lro_fn fn, void *ctx, void (*free_ctx)(void *)) {
  char id[37] = "";
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT id FROM operations WHERE status='InProgress' AND resume=? LIMIT 1", -1,
                    &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, resume, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) snprintf(id, sizeof id, "%s", sqlite3_column_text(st, 0));
    store_finalize(st);
  }
  if (!id[0]) {
    /* Interrupted before operations were resumable: a new one, that no client polls. */
    char iso[40];
    clock_iso8601(clock_now_ms(s), iso);
    uuid_v4(id);
    if (store_exec(s,
                   "INSERT INTO operations(id,status,start_time,resume) "
                   "VALUES(%Q,'InProgress',%Q,%Q)",
                   id, iso, resume) != 0) {
      if (free_ctx) free_ctx(ctx);
      return -1;
    }
  }
  log_info("arm: resuming interrupted operation %s (%s)", id, resume);
  return lro_spawn(s, id, fn, ctx, free_ctx);
}

void arm_lro_finish_resumable(srv *s, const char *resume) {
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  store_exec(s,
             "UPDATE operations SET status='Succeeded', end_time=%Q WHERE status='InProgress' "
             "AND resume=%Q",
             iso, resume);
}

/* Returns 0 and fills status/code/message when the operation exists. */
static int lro_load(srv *s, const char *id, char status[16], char code[128], char msg[1024],
                    json_t **result) {
  sqlite3_stmt *st;
  int rc = -1;
  if (result) *result = NULL;
  if (store_prepare(store_db(s),
                    "SELECT status, error_code, error_message, result FROM operations WHERE id=?",
                    -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(status, 16, "%s", sqlite3_column_text(st, 0));
    snprintf(code, 128, "%s",
             sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1) : "");
    snprintf(msg, 1024, "%s",
             sqlite3_column_text(st, 2) ? (const char *)sqlite3_column_text(st, 2) : "");
    const char *res = (const char *)sqlite3_column_text(st, 3);
    if (res && result) *result = json_loads(res, 0, NULL);
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

void arm_operation_status(http_req *r) {
  char status[16], code[128], msg[1024];
  const char *id = http_param(r, "id");
  json_t *result = NULL;
  if (lro_load(r->srv, id, status, code, msg, &result) != 0) {
    http_fail(r, ARM_ERR_OPERATION_NOT_FOUND, "The operation '%s' could not be found.", id);
    return;
  }
  json_t *j = json_pack("{s:s,s:s}", "id", r->path, "status", status);
  if (result) {
    /* Azure puts an operation's result at properties.output; the Python SDK
     * deserializes the status document itself (final-state-via
     * azure-async-operation on a POST), so its fields are at the top too. */
    if (json_is_object(result)) json_object_update_missing(j, result);
    json_object_set_new(j, "properties", json_pack("{s:o}", "output", result));
  }
  if (strcmp(status, "Failed") == 0)
    json_object_set_new(j, "error", json_pack("{s:s,s:s}", "code", code, "message", msg));
  /* While it runs: without Retry-After azure-core waits 30 s before the next poll. */
  if (strcmp(status, "InProgress") == 0) http_set_header(r, "Retry-After", "1");
  http_reply_json(r, 200, j);
}

void arm_operation_result(http_req *r) {
  char status[16], code[128], msg[1024];
  const char *id = http_param(r, "id");
  json_t *result = NULL;
  if (lro_load(r->srv, id, status, code, msg, &result) != 0) {
    http_fail(r, ARM_ERR_OPERATION_NOT_FOUND, "The operation '%s' could not be found.", id);
    return;
  }
  if (result && strcmp(status, "Succeeded") == 0) {
    http_reply_json(r, 200, result);
    return;
  }
  json_decref(result);
  if (strcmp(status, "InProgress") == 0) {
    http_set_header(r, "Retry-After", "1");
    http_set_headerf(r, "Location", "%s%s?%s", http_mgmt_base(r), r->raw_path, r->raw_query);
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
             "end_time=%Q WHERE status='InProgress' AND resume IS NULL",
             iso);
  arm_st(s)->resume_pending = 1;
}

void arm_lro_tick(srv *s, int64_t now_ms) {
  (void)now_ms;
  arm_state *a = arm_st(s);
  if (!a->resume_pending) return;
  a->resume_pending = 0; /* the scheduler's first pass: every provider is up */
  arm_group_delete_resume(s);
}
