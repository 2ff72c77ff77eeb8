/* test_blob_tags.c: the blob tag expression language (blob_tags.c): Find Blobs by
 * Tags' where= and x-ms-if-tags conditions, parsed and evaluated. */
#include <string.h>

#include "storage/blob.h"
#include "unit.h"

static blob_tagset tags(int n, const char *const *kv) {
  blob_tagset t = {.n = n};
  for (int i = 0; i < n; i++) {
    t.v[i].key = kv[2 * i];
    t.v[i].value = kv[2 * i + 1];
  }
  return t;
}

/* Parses s (condition or where) and evaluates it; -1 when it does not parse. */
static int eval(const char *s, int cond, const blob_tagset *t, const char *container) {
  char err[256];
  blob_tag_expr *e = blob_tag_expr_parse(s, cond, err, sizeof err);
  if (!e) return -1;
  int ok = blob_tag_expr_eval(e, t, container, NULL);
  blob_tag_expr_free(e);
  return ok;
}

static void test_where(void) {
  const char *kv[] = {"project", "alpha", "n", "5", "Date", "2024-03-01"};
  blob_tagset t = tags(3, kv);
  CHECK(eval("project = 'alpha'", 0, &t, "c") == 1);
  CHECK(eval("project='beta'", 0, &t, "c") == 0);
  CHECK(eval("\"project\" = 'alpha'", 0, &t, "c") == 1);
  CHECK(eval("n > '4' AND n < '6'", 0, &t, "c") == 1);
  CHECK(eval("n >= '5' and n <= '5'", 0, &t, "c") == 1);
  CHECK(eval("n > '5'", 0, &t, "c") == 0);
  /* Values compare as strings: "10" sorts before "5". */
  CHECK(eval("n > '10'", 0, &t, "c") == 1);
  CHECK(eval("Date >= '2024-01-01' AND Date < '2025-01-01'", 0, &t, "c") == 1);
  CHECK(eval("@container = 'c' AND project = 'alpha'", 0, &t, "c") == 1);
  CHECK(eval("@container = 'other' AND project = 'alpha'", 0, &t, "c") == 0);
  /* A tag the blob lacks never matches. */
  CHECK(eval("missing = ''", 0, &t, "c") == 0);
  CHECK(eval("project = 'it''s'", 0, &t, "c") == -1); /* ' is not a tag character */
}

static void test_where_rejects(void) {
  blob_tagset t = {0};
  CHECK(eval("project = 'a' OR n = '1'", 0, &t, "c") == -1);
  CHECK(eval("project <> 'a'", 0, &t, "c") == -1);
  CHECK(eval("project = 'a' AND project = 'b'", 0, &t, "c") == -1);
  CHECK(eval("n > '1' AND n > '2'", 0, &t, "c") == -1);
  CHECK(eval("n > '1' AND n < '2'", 0, &t, "c") == 0); /* a range is fine */
  CHECK(eval("@other = 'x'", 0, &t, "c") == -1);
  CHECK(eval("project 'a'", 0, &t, "c") == -1);
  CHECK(eval("project = a", 0, &t, "c") == -1);
  CHECK(eval("project = 'a", 0, &t, "c") == -1);
  CHECK(eval("", 0, &t, "c") == -1);
  CHECK(eval("project = 'a' AND", 0, &t, "c") == -1);
  CHECK(eval("pro-ject = 'a'", 0, &t, "c") == -1);
  CHECK(eval("a='1' AND b='1' AND c='1' AND d='1' AND e='1' AND f='1' AND g='1' AND h='1' AND "
             "i='1' AND j='1' AND k='1'",
             0, &t, "c") == -1);
  char err[256];
  CHECK(blob_tag_expr_parse("x = ", 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "Error parsing query at or near character position") == err);
}

static void test_conditions(void) {
  const char *kv[] = {"status", "done", "owner", "me"};
  blob_tagset t = tags(2, kv);
  CHECK(eval("status = 'done'", 1, &t, NULL) == 1);
  CHECK(eval("status <> 'done'", 1, &t, NULL) == 0);
  CHECK(eval("status = 'new' OR owner = 'me'", 1, &t, NULL) == 1);
  CHECK(eval("(status = 'new' OR owner = 'me') AND status = 'done'", 1, &t, NULL) == 1);
  CHECK(eval("status = 'new' OR (owner = 'you' AND status = 'done')", 1, &t, NULL) == 0);
  CHECK(eval("@container = 'c'", 1, &t, NULL) == -1);
  CHECK(eval("(status = 'done'", 1, &t, NULL) == -1);
}

static void test_index_key(void) {
  char err[256];
  blob_tag_expr *e = blob_tag_expr_parse("n > '1' AND project = 'alpha'", 0, err, sizeof err);
  const char *v = NULL;
  CHECK(e != NULL);
  CHECK_STR(blob_tag_expr_key(e, &v), "project");
  CHECK_STR(v, "alpha");
  blob_tag_expr_free(e);
  e = blob_tag_expr_parse("@container = 'c' AND n < '3'", 0, err, sizeof err);
  CHECK(e != NULL && blob_tag_expr_key(e, &v) == NULL);
  blob_tag_expr_free(e);
}

static void test_matched_tags(void) {
  const char *kv[] = {"a", "1", "b", "2", "c", "3"};
  blob_tagset t = tags(3, kv), m = {0};
  char err[256];
  blob_tag_expr *e = blob_tag_expr_parse("a = '1' AND c >= '3'", 0, err, sizeof err);
  CHECK(blob_tag_expr_eval(e, &t, "x", &m) == 1);
  CHECK(m.n == 2);
  CHECK_STR(m.v[0].key, "a");
  CHECK_STR(m.v[1].key, "c");
  blob_tag_expr_free(e);
}

UNIT_MAIN("blob_tags", {
  test_where();
  test_where_rejects();
  test_conditions();
  test_index_key();
  test_matched_tags();
})
