/* test_routes.c: routes_check refuses route tables whose routes some request
 * matches equally well (the router would pick by table order), and passes
 * the tables azlite ships. */
#include <string.h>

#include "core/internal.h"
#include "unit.h"

static void h(http_req *r) {
  (void)r;
}

#define ROW(l, m, p)                                                                               \
  { .listener = l, .method = m, .pattern = p, .fn = h }

/* 0 when the two routes (in one provider, or in two) pass. */
static int pair(const char *m1, const char *p1, const char *m2, const char *p2, int split) {
  route a[2] = {ROW(LISTEN_MGMT, m1, p1), ROW(LISTEN_MGMT, m2, p2)};
  provider one = {.name = "one", .routes = a, .nroutes = split ? 1 : 2};
  provider two = {.name = "two", .routes = a + 1, .nroutes = 1};
  const provider *list[] = {&one, split ? &two : NULL, NULL};
  char err[512] = "";
  int rc = routes_check(list, err, sizeof err);
  if (rc != 0) CHECK(strstr(err, p1) && strstr(err, p2) && strstr(err, "route conflict"));
  return rc;
}

static void test_conflicts(void) {
  for (int split = 0; split < 2; split++) {
    CHECK(pair("GET", "/a/{x}", "GET", "/a/{x}", split) != 0);     /* identical */
    CHECK(pair("GET", "/A/b/{x}", "GET", "/a/B/{y}", split) != 0); /* case, param names */
    CHECK(pair("GET", "/a/{x}/c", "get", "/a/{y}/c", split) != 0); /* method case */
    CHECK(pair("*", "/a/{x}", "*", "/a/{y}", split) != 0);         /* both any method */
    CHECK(pair("GET", "/{t}/x/{n}", "GET", "/{u}/x/{m}", split) != 0);
    CHECK(pair("PUT", "/a/*", "PUT", "/a/*", split) != 0); /* tails */
    CHECK(pair("GET", "/a/{x}/*", "GET", "/a/{y}/*", split) != 0);
    CHECK(pair("GET", "/{a}/b", "GET", "/a/{b}", split) != 0); /* /a/b matches both */
  }
}

static void test_no_conflicts(void) {
  CHECK(pair("GET", "/a/{x}", "PUT", "/a/{x}", 0) == 0);     /* methods */
  CHECK(pair("GET", "/a/{x}", "*", "/a/{x}", 0) == 0);       /* a method beats "*" */
  CHECK(pair("GET", "/a/b", "GET", "/a/{x}", 0) == 0);       /* more literals win */
  CHECK(pair("GET", "/a/{x}", "GET", "/a/*", 0) == 0);       /* no tail beats a tail */
  CHECK(pair("GET", "/a/{x}", "GET", "/b/{x}", 0) == 0);     /* disjoint */
  CHECK(pair("GET", "/a/{x}", "GET", "/a/{x}/{y}", 0) == 0); /* lengths */
  CHECK(pair("GET", "/a/{x}/c", "GET", "/a/{x}/d", 0) == 0);
  CHECK(pair("GET", "/a/*", "GET", "/b/*", 0) == 0);
  /* Another listener never conflicts. */
  route a[2] = {ROW(LISTEN_MGMT, "GET", "/x"), ROW(LISTEN_BLOB, "GET", "/x")};
  provider p = {.name = "p", .routes = a, .nroutes = 2};
  const provider *list[] = {&p, NULL};
  char err[256];
  CHECK(routes_check(list, err, sizeof err) == 0);
}

/* The tables azlite ships pass (startup refuses them otherwise). */
static void test_shipped_tables(void) {
  char err[1024] = "";
  CHECK(routes_check(providers, err, sizeof err) == 0);
  if (err[0]) fprintf(stderr, "%s\n", err);
}

UNIT_MAIN("routes", {
  test_conflicts();
  test_no_conflicts();
  test_shipped_tables();
})
