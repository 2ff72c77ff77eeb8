/* test_blob_util.c: the pure pieces of the blob data plane: container and blob
 * name rules, Range headers, ETags and conditional headers, block ids and
 * Put Block List bodies, base64, and the prefix bound the listings seek with.
 */
#include <stdlib.h>
#include <string.h>

#include "storage/blob.h"
#include "unit.h"

static void test_container_names(void) {
  CHECK(blob_container_name_check("abc") == NULL);
  CHECK(blob_container_name_check("my-container-01") == NULL);
  CHECK(blob_container_name_check("$root") == NULL);
  CHECK(blob_container_name_check("$web") == NULL);
  CHECK_STR(blob_container_name_check("ab"), "OutOfRangeInput");
  char long64[65];
  memset(long64, 'a', 64);
  long64[64] = 0;
  CHECK_STR(blob_container_name_check(long64), "OutOfRangeInput");
  long64[63] = 0;
  CHECK(blob_container_name_check(long64) == NULL);
  CHECK_STR(blob_container_name_check("Upper"), "InvalidResourceName");
  CHECK_STR(blob_container_name_check("a_b"), "InvalidResourceName");
  CHECK_STR(blob_container_name_check("-abc"), "InvalidResourceName");
  CHECK_STR(blob_container_name_check("abc-"), "InvalidResourceName");
  CHECK_STR(blob_container_name_check("a--b"), "InvalidResourceName");
  CHECK_STR(blob_container_name_check("$other"), "InvalidResourceName");
}

static void test_blob_names(void) {
  CHECK(blob_name_check("a") == NULL);
  CHECK(blob_name_check("dir/sub/file.txt") == NULL);
  CHECK_STR(blob_name_check(""), "InvalidResourceName");
  char *n = malloc(2100);
  memset(n, 'x', 1024);
  n[1024] = 0;
  CHECK(blob_name_check(n) == NULL);
  n[1024] = 'x';
  n[1025] = 0;
  CHECK_STR(blob_name_check(n), "OutOfRangeInput");
  /* 1024 characters of two bytes each are still 1024 characters. */
  for (int i = 0; i < 1024; i++)
    memcpy(n + 2 * i, "\xc3\xa9", 2);
  n[2048] = 0;
  CHECK(blob_name_check(n) == NULL);
  free(n);
}

static void test_metadata_names(void) {
  CHECK(blob_metadata_name_valid("Color"));
  CHECK(blob_metadata_name_valid("_x1"));
  CHECK(!blob_metadata_name_valid("1abc"));
  CHECK(!blob_metadata_name_valid("a-b"));
  CHECK(!blob_metadata_name_valid(""));
}

static void test_ranges(void) {
  int64_t s, e;
  uint64_t off, len;
  CHECK(blob_range_parse(NULL, &s, &e) == 0);
  CHECK(blob_range_parse("bytes=0-99", &s, &e) == 1 && s == 0 && e == 99);
  CHECK(blob_range_parse("bytes=100-", &s, &e) == 1 && s == 100 && e == -1);
  CHECK(blob_range_parse("bytes=-500", &s, &e) == 0); /* suffix: whole blob */
  CHECK(blob_range_parse("bytes=0-1,5-6", &s, &e) == 0);
  CHECK(blob_range_parse("items=0-1", &s, &e) == 0);
  CHECK(blob_range_parse("bytes=9-3", &s, &e) == -1);
  CHECK(blob_range_parse("bytes=a-3", &s, &e) == -1);
  CHECK(blob_range_parse("bytes=1-2x", &s, &e) == -1);
  CHECK(blob_range_parse("bytes=99999999999999999999-", &s, &e) == -1);

  CHECK(blob_range_resolve(1000, 0, 99, &off, &len) == 0 && off == 0 && len == 100);
  CHECK(blob_range_resolve(1000, 990, 2000, &off, &len) == 0 && off == 990 && len == 10);
  CHECK(blob_range_resolve(1000, 500, -1, &off, &len) == 0 && off == 500 && len == 500);
  CHECK(blob_range_resolve(1000, 1000, -1, &off, &len) == -1);
  CHECK(blob_range_resolve(0, 0, -1, &off, &len) == -1); /* Azure: 416 on an empty blob */
}

static void test_etags(void) {
  char a[24], b[24];
  blob_etag_make(1780000000000LL, 1, a);
  blob_etag_make(1780000000000LL, 2, b);
  CHECK(strncmp(a, "0x8D", 4) == 0);
  CHECK(strlen(a) == 18);
  CHECK(strcmp(a, b) != 0);
  blob_etag_make(1780000000001LL, 0, b);
  CHECK(strcmp(a, b) < 0); /* later changes sort later */
}

static void test_conditions(void) {
  const int64_t lm = 1780000000500LL; /* .5 s into a second */
  const int64_t lm_s = 1780000000000LL;
  blob_conditions none = {NULL, NULL, -1, -1};
  CHECK(blob_conditions_eval(&none, 1, "0x8DA", lm, 1) == 0);
  CHECK(!blob_conditions_any(&none));

  blob_conditions m = {"\"0x8DA\"", NULL, -1, -1};
  CHECK(blob_conditions_any(&m));
  CHECK(blob_conditions_eval(&m, 1, "0x8DA", lm, 0) == 0);
  CHECK(blob_conditions_eval(&m, 1, "0x8DB", lm, 0) == 412);
  CHECK(blob_conditions_eval(&m, 1, "0x8DB", lm, 1) == 412);
  CHECK(blob_conditions_eval(&m, 0, "", 0, 0) == 412); /* nothing to match */
  blob_conditions list = {"\"0x8DX\", W/\"0x8DB\"", NULL, -1, -1};
  CHECK(blob_conditions_eval(&list, 1, "0x8DB", lm, 0) == 0);
  /* An element with junk in it names nothing; the list's other elements still count. */
  const char *const junk[] = {
      "\"0x8DB\"junk",      "\"0x8DB\" junk", "\"0x8DB", "0x8DB\"", "x\"0x8DB\"",
      "\"0x8DB\"\"0x8DB\"", "0x8DBjunk",      "\"*\"",   "0x8D",    ""};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    blob_conditions j = {junk[i], NULL, -1, -1};
    CHECK(blob_conditions_eval(&j, 1, "0x8DB", lm, 0) == 412);
    blob_conditions jn = {NULL, junk[i], -1, -1};
    CHECK(blob_conditions_eval(&jn, 1, "0x8DB", lm, 1) == 0);
  }
  const char *const lists[] = {"\"0x8DB\", junk",  "junk,\"0x8DB\"", " 0x8DB ",
                               "\"a\"junk, 0x8DB", "\t\"0x8DB\"\t,", ",,\"0x8DB\""};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    blob_conditions l = {lists[i], NULL, -1, -1};
    CHECK(blob_conditions_eval(&l, 1, "0x8DB", lm, 0) == 0);
  }
  blob_conditions star = {"*", NULL, -1, -1};
  CHECK(blob_conditions_eval(&star, 1, "0x8DQ", lm, 0) == 0);

  blob_conditions nm = {NULL, "\"0x8DA\"", -1, -1};
  CHECK(blob_conditions_eval(&nm, 1, "0x8DA", lm, 1) == 304);
  CHECK(blob_conditions_eval(&nm, 1, "0x8DA", lm, 0) == 412);
  CHECK(blob_conditions_eval(&nm, 1, "0x8DB", lm, 1) == 0);
  CHECK(blob_conditions_eval(&nm, 0, "", 0, 0) == 0);
  blob_conditions nstar = {NULL, "*", -1, -1};
  CHECK(blob_conditions_eval(&nstar, 1, "0x8DA", lm, 0) == 412);
  CHECK(blob_conditions_eval(&nstar, 0, "", 0, 0) == 0);

  /* Dates compare at whole seconds. */
  blob_conditions ims = {NULL, NULL, lm_s, -1};
  CHECK(blob_conditions_eval(&ims, 1, "e", lm, 1) == 304);
  ims.if_modified_since = lm_s - 1000;
  CHECK(blob_conditions_eval(&ims, 1, "e", lm, 1) == 0);
  blob_conditions ius = {NULL, NULL, -1, lm_s};
  CHECK(blob_conditions_eval(&ius, 1, "e", lm, 0) == 0);
  ius.if_unmodified_since = lm_s - 1000;
  CHECK(blob_conditions_eval(&ius, 1, "e", lm, 0) == 412);
  CHECK(blob_conditions_eval(&ius, 0, "", 0, 0) == 0);
  /* If-Match wins over If-Unmodified-Since (RFC 7232 order). */
  blob_conditions both = {"\"e\"", NULL, -1, lm_s - 1000};
  CHECK(blob_conditions_eval(&both, 1, "e", lm, 0) == 0);
}

static void test_block_ids_and_base64(void) {
  int n;
  CHECK(blob_block_id_check("YmxvY2stMQ==", &n) == 0 && n == 7);
  CHECK(blob_block_id_check("", &n) == -1);
  CHECK(blob_block_id_check("not base64!", &n) == -1);
  CHECK(blob_block_id_check("YQ", &n) == -1); /* unpadded */
  char big[120];
  memset(big, 'A', 88); /* 66 bytes */
  big[88] = 0;
  CHECK(blob_block_id_check(big, &n) == -1);
  big[84] = 0; /* 63 bytes */
  CHECK(blob_block_id_check(big, &n) == 0 && n == 63);

  unsigned char md5[16] = {0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
                           0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e};
  char b64[25];
  blob_b64_md5(md5, b64);
  CHECK_STR(b64, "1B2M2Y8AsgTpgAmY7PhCfg==");
  unsigned char back[16];
  CHECK(blob_b64_decode(b64, back, sizeof back) == 16 && memcmp(back, md5, 16) == 0);
  CHECK(blob_b64_decode("1B2M2Y8AsgTpgAmY7PhCfg==", back, 8) == -1); /* too long for out */
  CHECK(blob_b64_decode("ab=c", back, 8) == -1);
}

static void test_block_list_xml(void) {
  const char *xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>"
                    "<Latest>QUFB</Latest><Committed> QkJC </Committed>"
                    "<Uncommitted>Q0ND</Uncommitted></BlockList>";
  blob_block_ref *refs;
  int n = blob_block_list_parse(xml, strlen(xml), &refs);
  CHECK(n == 3);
  if (n == 3) {
    CHECK_STR(refs[0].id, "QUFB");
    CHECK(refs[0].from == BLOB_FROM_LATEST);
    CHECK_STR(refs[1].id, "QkJC");
    CHECK(refs[1].from == BLOB_FROM_COMMITTED);
    CHECK_STR(refs[2].id, "Q0ND");
    CHECK(refs[2].from == BLOB_FROM_UNCOMMITTED);
    blob_block_list_free(refs, n);
  }
  const char *empty = "<BlockList />";
  CHECK(blob_block_list_parse(empty, strlen(empty), &refs) == 0);
  blob_block_list_free(refs, 0);
  const char *bad[] = {"<BlockList><Latest>x</Latest>", "<Other/>",
                       "<BlockList><Block>x</Block></BlockList>", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(blob_block_list_parse(bad[i], strlen(bad[i]), &refs) == -1);
}

static void test_prefix_upper(void) {
  char *u = blob_prefix_upper("dir/");
  CHECK_STR(u, "dir0");
  free(u);
  u = blob_prefix_upper("a\xff");
  CHECK_STR(u, "b");
  free(u);
  CHECK(blob_prefix_upper("") == NULL);
  CHECK(blob_prefix_upper("\xff\xff") == NULL);
}

UNIT_MAIN("test_blob_util", {
  test_container_names();
  test_blob_names();
  test_metadata_names();
  test_ranges();
  test_etags();
  test_conditions();
  test_block_ids_and_base64();
  test_block_list_xml();
  test_prefix_upper();
})
