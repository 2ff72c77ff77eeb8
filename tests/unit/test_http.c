/* test_http.c: request-scoped cleanup (http_defer, http_json_own) on requests
 * made without a connection, and the core's access questions for a request
 * that has no caller. */
#include <jansson.h>
#include <stdlib.h>

#include "core/internal.h"
#include "unit.h"

static srv S;
static char order[16];
static int norder;

static void note(void *p) {
  if (norder < (int)sizeof order - 1) order[norder++] = *(const char *)p;
}

/* Cleanups run when the request ends, newest first; a sub-request's with its
 * parent's (before them: it was made later). */
static void test_defer_order(void) {
  norder = 0;
  memset(order, 0, sizeof order);
  http_req *r = http_req_detached(&S, LISTEN_MGMT, "GET", "/a?x=1");
  CHECK_STR(r->path, "/a");
  CHECK_STR(http_query_get(r, "x"), "1");
  http_defer(r, note, "1");
  http_defer(r, note, "2");
  http_req *sub = http_subreq_new(r, "GET", "/b", NULL, 0);
  http_defer(sub, note, "s");
  http_defer(r, note, "3");
  http_reply_empty(r, 204);
  CHECK(norder == 0); /* nothing runs before the request ends */
  http_req_free(r);
  CHECK_STR(order, "s321");
}

static void test_json_own(void) {
  json_t *j = json_object();
  json_incref(j); /* the test's own reference, to watch the request's go */
  http_req *r = http_req_detached(&S, LISTEN_MGMT, "PUT", "/x");
  CHECK(http_json_own(r, j) == j);
  CHECK(http_json_own(r, NULL) == NULL);
  CHECK(j->refcount == 2);
  http_req_free(r);
  CHECK(j->refcount == 1);
  json_decref(j);
}

/* A request nobody authenticated may do nothing, and is told so in Azure's words. */
static void test_access_without_caller(void) {
  http_req *r = http_req_detached(&S, LISTEN_MGMT, "GET", "/subscriptions/s");
  CHECK(r->caller == NULL);
  CHECK(access_allowed(r, "Microsoft.Resources/subscriptions/read", "/subscriptions/s", 0) == 0);
  CHECK(access_any_at_or_below(r, "/subscriptions/s") == 0);
  access_fail_denied(r, "Microsoft.Resources/subscriptions/read", "/subscriptions/s");
  const char *code = NULL, *msg = NULL;
  CHECK(http_reply_status(r, &code, &msg) == 403);
  CHECK_STR(code, "AuthorizationFailed");
  CHECK(msg && strstr(msg, "'Microsoft.Resources/subscriptions/read' over scope "
                           "'/subscriptions/s'") != NULL);
  http_req_free(r);
}

/* The hosts whose first labels name a resource (azure_hosts.h): an online
 * endpoint's scoring host in a region azlite knows, nothing else. */
static void test_host_routed(void) {
  CHECK(http_host_is_routed("lin-ep.eastus.inference.ml.azure.com"));
  CHECK(http_host_is_routed("Lin-Ep.WestEurope.inference.ml.azure.com:443"));
  CHECK(http_host_is_azure("lin-ep.uaenorth.inference.ml.azure.com"));
  CHECK(!http_host_is_routed("lin-ep.nowhere.inference.ml.azure.com"));
  CHECK(!http_host_is_routed("a.b.eastus.inference.ml.azure.com"));
  CHECK(!http_host_is_routed("inference.ml.azure.com"));
  CHECK(!http_host_is_routed("management.azure.com"));
  CHECK(!http_host_is_routed("127.0.0.1:8443"));
  CHECK(!http_host_is_routed(NULL));
}

UNIT_MAIN("http", {
  test_host_routed();
  test_defer_order();
  test_json_own();
  test_access_without_caller();
})
