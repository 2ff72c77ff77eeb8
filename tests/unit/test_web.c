/* test_web.c: the function host's pure parts: NCRONTAB schedules (six
 * fields, steps, ranges, lists, day-of-week 7 as Sunday, bad expressions)
 * and HTTP trigger route templates ({name}, {name:int}, {name?}, {*rest}). */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "web/internal.h"

/* 2026-12-04T21:07:30Z, a Friday. */
#define T0 1796418450000LL

static void test_ncrontab(void) {
  /* Every five minutes, at second 0: the next is 21:10:00. */
  CHECK(web_ncrontab_next("0 */5 * * * *", T0) == T0 + (2 * 60 + 30) * 1000);
  /* Strictly after: from 21:10:00 itself, 21:15:00. */
  CHECK(web_ncrontab_next("0 */5 * * * *", T0 + 150000) == T0 + 150000 + 300000);
  /* Every 30 seconds. */
  CHECK(web_ncrontab_next("*/30 * * * * *", T0) == T0 + 30000);
  /* 09:30 on weekdays (1-5): Monday 2026-12-07 09:30. */
  CHECK(web_ncrontab_next("0 30 9 * * 1-5", T0) == 1796635800000LL);
  /* Sunday as 7 and as 0 agree. */
  CHECK(web_ncrontab_next("0 0 12 * * 7", T0) == web_ncrontab_next("0 0 12 * * 0", T0));
  /* Lists. */
  CHECK(web_ncrontab_next("0 8,22 * * * *", T0) == T0 + 30000);
  CHECK(web_ncrontab_next("0 8,22 * * * *", T0 + 30000) == T0 + 30000 + 14 * 60000);
  /* Bad expressions. */
  CHECK(web_ncrontab_next("*/5 * * * *", T0) == -1); /* five fields */
  CHECK(web_ncrontab_next("0 61 * * * *", T0) == -1);
  CHECK(web_ncrontab_next("0 */0 * * * *", T0) == -1);
  CHECK(web_ncrontab_next("0 5-2 * * * *", T0) == -1);
  CHECK(web_ncrontab_next("x * * * * *", T0) == -1);
  /* February 30th never comes. */
  CHECK(web_ncrontab_next("0 0 0 30 2 *", T0) == -1);
}

static void test_routes(void) {
  json_t *p = json_object();
  CHECK(web_route_match("predict", "predict", p) == 1);
  CHECK(web_route_match("predict", "PREDICT", p) == 1);
  CHECK(web_route_match("predict", "predict/x", p) == 0);
  CHECK(web_route_match("predict", "predic", p) == 0);
  CHECK(web_route_match("items/{id}", "items/42", p) == 1);
  CHECK_STR(json_string_value(json_object_get(p, "id")), "42");
  json_object_clear(p);
  CHECK(web_route_match("items/{id:int}", "items/abc", p) == 0);
  CHECK(web_route_match("items/{id:int}", "items/7", p) == 1);
  CHECK(web_route_match("items/{id?}", "items", p) == 1);
  CHECK(web_route_match("items/{id}", "items", p) == 0);
  json_object_clear(p);
  CHECK(web_route_match("files/{*rest}", "files/a/b/c.txt", p) == 1);
  CHECK_STR(json_string_value(json_object_get(p, "rest")), "a/b/c.txt");
  CHECK(web_route_match("a/{x}/b", "a/1/b", p) == 1);
  CHECK(web_route_match("a/{x}/b", "a/1/c", p) == 0);
  json_decref(p);
}

UNIT_MAIN("web", {
  test_ncrontab();
  test_routes();
})
