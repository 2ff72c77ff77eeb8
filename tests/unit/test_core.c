/* test_core.c: the core's pure pieces: durations, timestamps, URL decoding,
 * HTTP dates, ARM action/scope mapping, JWT signing and verification, CRC64. */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <unistd.h>

#include "arm/arm.h"
#include "core/core.h"
#include "identity/jwt.h"
#include "unit.h"

static void test_durations(void) {
  CHECK(clock_parse_duration("30d") == 30LL * 86400000);
  CHECK(clock_parse_duration("12h") == 12LL * 3600000);
  CHECK(clock_parse_duration("90m") == 90LL * 60000);
  CHECK(clock_parse_duration("45s") == 45000);
  CHECK(clock_parse_duration("45") == 45000);
  CHECK(clock_parse_duration("1500ms") == 1500);
  CHECK(clock_parse_duration("2w") == 14LL * 86400000);
  CHECK(clock_parse_duration("1.5d") == 36LL * 3600000);
  CHECK(clock_parse_duration("") == -1);
  CHECK(clock_parse_duration("-1d") == -1);
  CHECK(clock_parse_duration("3 days") == -1);
  CHECK(clock_parse_duration("d") == -1);
  CHECK(clock_parse_duration(NULL) == -1);
  CHECK(clock_parse_duration("2d12h") == 60LL * 3600000);
  CHECK(clock_parse_duration("1m30s") == 90000);
  CHECK(clock_parse_duration("1h5ms") == 3600005);
  CHECK(clock_parse_duration("1h-5m") == -1);
  CHECK(clock_parse_duration("1hx") == -1);
}

static void test_iso8601(void) {
  char buf[40];
  clock_iso8601(0, buf);
  CHECK_STR(buf, "1970-01-01T00:00:00.0000000Z");
  clock_iso8601(1795686896123LL, buf);
  CHECK_STR(buf, "2026-11-26T09:54:56.1230000Z");
  CHECK(clock_parse_iso8601(buf) == 1795686896123LL);
  CHECK(clock_parse_iso8601("2026-11-26") == 1795651200000LL);
  CHECK(clock_parse_iso8601("2026-11-26T09:54:56Z") == 1795686896000LL);
  CHECK(clock_parse_iso8601("2026-11-26T10:54:56+01:00") == 1795686896000LL);
  CHECK(clock_parse_iso8601("2026-11-26T09:54Z") == 1795686840000LL);
  CHECK(clock_parse_iso8601("2026-13-01") == -1);
  CHECK(clock_parse_iso8601("yesterday") == -1);
  CHECK(clock_parse_iso8601("2026-11-26T09:54:56Zjunk") == -1);
}

static void test_http_date(void) {
  char buf[32];
  http_date(1795686896000LL, buf);
  CHECK_STR(buf, "Thu, 26 Nov 2026 09:54:56 GMT");
  CHECK(http_date_parse(buf) == 1795686896000LL);
  CHECK(http_date_parse("not a date") == -1);
  CHECK(http_date_parse("Thu, 26 Foo 2026 09:54:56 GMT") == -1);
  http_date(0, buf);
  CHECK_STR(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
  http_date(951868799000LL, buf); /* a leap day */
  CHECK_STR(buf, "Tue, 29 Feb 2000 23:59:59 GMT");
}

static void test_uuid(void) {
  char a[37], b[37];
  uuid_v4(a);
  uuid_v4(b);
  CHECK(strlen(a) == 36 && strcmp(a, b) != 0);
  CHECK(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
  CHECK(a[14] == '4' && strchr("89ab", a[19]) != NULL);
  CHECK(strspn(a, "0123456789abcdef-") == 36);
}

static void test_url_decode(void) {
  char *s = http_url_decode("a%2Fb%20c%zz%4", 14);
  CHECK_STR(s, "a/b c%zz%4");
  free(s);
  s = http_url_decode("%41%42", 6);
  CHECK_STR(s, "AB");
  free(s);
}

static void check_action(const char *method, const char *path, const char *want) {
  char *got = arm_action_for(method, path);
  CHECK_STR(got, want);
  if (!got || strcmp(got, want) != 0) fprintf(stderr, "  action of %s: %s\n", path, got);
  free(got);
}

static void check_scope(const char *path, const char *want) {
  char *got = arm_scope_for(path);
  CHECK_STR(got, want);
  if (!got || strcmp(got, want) != 0) fprintf(stderr, "  scope of %s: %s\n", path, got);
  free(got);
}

static void test_actions(void) {
  check_action("PUT", "/subscriptions/s/resourceGroups/g",
               "Microsoft.Resources/subscriptions/resourceGroups/write");
  check_action("GET", "/subscriptions/s/resourcegroups",
               "Microsoft.Resources/subscriptions/resourcegroups/read");
  check_action("DELETE", "/subscriptions/s/resourceGroups/g",
               "Microsoft.Resources/subscriptions/resourceGroups/delete");
  check_action("POST",
               "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/"
               "a/listKeys",
               "Microsoft.Storage/storageAccounts/listKeys/action");
  check_action("PUT",
               "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/"
               "a/managementPolicies/default",
               "Microsoft.Storage/storageAccounts/managementPolicies/write");
  check_action("POST", "/subscriptions/s/providers/Microsoft.Compute/register",
               "Microsoft.Compute/register/action");
  check_action("PUT",
               "/subscriptions/s/resourceGroups/g/providers/Microsoft.Authorization/"
               "roleAssignments/x",
               "Microsoft.Authorization/roleAssignments/write");

  check_scope("/subscriptions/s/resourceGroups/g", "/subscriptions/s/resourceGroups/g");
  check_scope("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/"
              "a/listKeys",
              "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a");
  check_scope("/subscriptions/s/providers/Microsoft.Compute/register", "/subscriptions/s");
  check_scope("/subscriptions", "/");
}

/* Issue 16 item 1: the decision is made on the whole path, however long. */
static void test_actions_long_paths(void) {
  /* 1000 '/' of padding: empty segments are skipped, as the router skips them. */
  char *pad = malloc(1200);
  memset(pad, '/', 1000);
  pad[1000] = 0;
  char *p = NULL;
  if (asprintf(&p, "/subscriptions/s%s/providers/Microsoft.Authorization/roleAssignments/x", pad) <
      0)
    abort();
  check_action("PUT", p, "Microsoft.Authorization/roleAssignments/write");
  check_scope(p, "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/x");
  free(p);
  if (asprintf(&p,
               "/subscriptions/s/resourceGroups/g%s/providers/Microsoft.Authorization/"
               "roleAssignments/x",
               pad) < 0)
    abort();
  check_action("DELETE", p, "Microsoft.Authorization/roleAssignments/delete");
  check_scope(p, "/subscriptions/s/resourceGroups/g/providers/Microsoft.Authorization/"
                 "roleAssignments/x");
  free(p);
  /* More than 64 segments and 1024 bytes of real ones: nothing is cut off. */
  char *seg = malloc(8192), *o = seg;
  o +=
      sprintf(o, "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a");
  for (int i = 0; i < 80; i++)
    o += sprintf(o, "/child%02d/name%02d", i, i);
  sprintf(o, "/providers/Microsoft.Authorization/roleAssignments/x");
  CHECK(strlen(seg) > 1024);
  check_action("PUT", seg, "Microsoft.Authorization/roleAssignments/write");
  char *scope = arm_scope_for(seg);
  CHECK(scope && strlen(scope) > 1024 && strstr(scope, "/child79/name79") != NULL);
  free(scope);
  free(seg);
  free(pad);
}

/* Issue 16 item 11: a line repeated in a loop is written once, then counted. */
static void test_log_repeats(void) {
  char path[] = "/tmp/azlite-log-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  for (int i = 0; i < 1000; i++)
    log_error("accept: Too many open files");
  log_error("something else");
  dup2(saved, STDERR_FILENO);
  close(saved);
  char buf[4096] = "";
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  close(fd);
  unlink(path);
  if (n < 0) n = 0;
  buf[n] = 0;
  int lines = 0;
  for (char *c = buf; *c; c++)
    lines += *c == '\n';
  CHECK(lines == 3);
  CHECK(strstr(buf, "Too many open files") != NULL);
  CHECK(strstr(buf, "repeated 999 more times") != NULL);
  CHECK(strstr(buf, "something else") != NULL);
}

static void test_jwt(void) {
  EVP_PKEY *k = EVP_RSA_gen(2048), *other = EVP_RSA_gen(2048);
  char kid[44];
  jwt_kid(k, kid);
  CHECK(strlen(kid) == 27);
  json_t *claims = json_pack("{s:s,s:i}", "aud", "x", "exp", 42);
  char *tok = jwt_sign(k, kid, claims);
  const char *err = NULL;
  json_t *back = jwt_verify(k, tok, &err);
  CHECK(back != NULL);
  CHECK_STR(json_string_value(json_object_get(back, "aud")), "x");
  json_decref(back);
  CHECK(jwt_verify(other, tok, &err) == NULL);

  /* a flipped character in the claims breaks the signature */
  char *bad = strdup(tok);
  char *dot = strchr(bad, '.');
  dot[3] = dot[3] == 'A' ? 'B' : 'A';
  CHECK(jwt_verify(k, bad, &err) == NULL);
  free(bad);

  /* alg none is refused even with an empty signature */
  char *h = jwt_b64url_encode((const unsigned char *)"{\"alg\":\"none\"}", 14);
  char *c = jwt_b64url_encode((const unsigned char *)"{\"aud\":\"x\"}", 11);
  char none[512];
  snprintf(none, sizeof none, "%s.%s.", h, c);
  CHECK(jwt_verify(k, none, &err) == NULL);
  CHECK_STR(err, "unsupported signing algorithm");
  free(h);
  free(c);
  CHECK(jwt_verify(k, "a.b", &err) == NULL);
  CHECK(jwt_verify(k, "a.b.c.d", &err) == NULL);

  size_t n;
  unsigned char *d = jwt_b64url_decode("aGVsbG8", 7, &n);
  CHECK(d && n == 5 && memcmp(d, "hello", 5) == 0);
  free(d);
  CHECK(jwt_b64url_decode("a", 1, &n) == NULL);
  CHECK(jwt_b64url_decode("a*bc", 4, &n) == NULL);

  json_t *jwks = jwt_jwks(k, kid);
  CHECK_STR(
      json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "e")),
      "AQAB");
  json_decref(jwks);
  json_decref(claims);
  free(tok);
  EVP_PKEY_free(k);
  EVP_PKEY_free(other);
}

/* CRC64 computed bit by bit in Python. */
static const struct {
  const char *data;
  uint64_t crc;
} CRC64_VECTORS[] = {
    {"", 0x0000000000000000ULL},
    {"Hello Azure!", 0xC7A37FBFA4D9D80EULL},
    {"123456789", 0xAE8B14860A799888ULL},
    {"The quick brown fox jumps over the lazy dog", 0xD76C54054954C143ULL},
    {"\001\002\003\004\005\006\007\010\011\n\013\014\015\016\017\020\021\022\023\024\025\026\027"
     "\030\031\032\033\034\035\036\037 "
     "!\"#$%&'()*+,-./"
     "0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\177",
     0x8171B4550E383B7DULL},
};
/* 1 MiB of (i * 31 + 7) & 0xff */
static const uint64_t CRC64_1MIB = 0x9D6AEC54DA2099E5ULL;
/* Hello Azure! little-endian base64, as the C++ SDK's test has it: DtjZpL9/o8c= */

/* ---- CRC64 ---------------------------------------------------------------------------- */

static void test_crc64(void) {
  for (size_t i = 0; i < sizeof(CRC64_VECTORS) / sizeof(CRC64_VECTORS[0]); i++) {
    const char *d = CRC64_VECTORS[i].data;
    CHECK(crc64_update(0, d, strlen(d)) == CRC64_VECTORS[i].crc);
  }
  /* x-ms-content-crc64 of "Hello Azure!" is "DtjZpL9/o8c=": the value little-endian. */
  uint64_t c = crc64_update(0, "Hello Azure!", 12);
  unsigned char le[8];
  for (int i = 0; i < 8; i++)
    le[i] = (unsigned char)(c >> (8 * i));
  static const unsigned char want_le[8] = {0x0e, 0xd8, 0xd9, 0xa4, 0xbf, 0x7f, 0xa3, 0xc7};
  CHECK(memcmp(le, want_le, 8) == 0);

  /* Incremental: any split gives the whole. */
  const char *fox = CRC64_VECTORS[3].data;
  size_t n = strlen(fox);
  int all = 1;
  for (size_t k = 0; k <= n; k++)
    all &= crc64_update(crc64_update(0, fox, k), fox + k, n - k) == CRC64_VECTORS[3].crc;
  CHECK(all);
  CHECK(crc64_update(12345, "", 0) == 12345);

  size_t big = 1 << 20;
  unsigned char *buf = malloc(big);
  CHECK(buf != NULL);
  if (!buf) return;
  for (size_t i = 0; i < big; i++)
    buf[i] = (unsigned char)((i * 31 + 7) & 0xff);
  CHECK(crc64_update(0, buf, big) == CRC64_1MIB);
  uint64_t inc = 0;
  for (size_t off = 0, step = 1; off < big; off += step, step = step * 3 % 9973 + 1)
    inc = crc64_update(inc, buf + off, off + step > big ? big - off : step);
  CHECK(inc == CRC64_1MIB);
  /* Unaligned start. */
  CHECK(crc64_update(crc64_update(0, buf, 3), buf + 3, big - 3) == CRC64_1MIB);
  free(buf);
}

/* The folded (carry-less multiply) path and the tables agree for every
 * length around the fold sizes, at every alignment. */
static void test_crc64_paths(void) {
  size_t big = 70000;
  unsigned char *buf = malloc(big + 16);
  CHECK(buf != NULL);
  if (!buf) return;
  uint32_t x = 12345;
  for (size_t i = 0; i < big + 16; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (unsigned char)(x >> 16);
  }
  int all = 1;
  for (size_t len = 0; len < 600; len++)
    for (size_t off = 0; off < 16; off += 5)
      all &= crc64_update(0, buf + off, len) == crc64_portable(0, buf + off, len);
  CHECK(all);
  all = 1;
  for (size_t len = big - 300; len <= big; len += 7)
    all &= crc64_update(77, buf + 3, len) == crc64_portable(77, buf + 3, len);
  CHECK(all);
  /* Incremental across paths: tables then folding then tables. */
  uint64_t c = crc64_portable(0, buf, 5);
  c = crc64_update(c, buf + 5, 4000);
  c = crc64_portable(c, buf + 4005, big - 4005);
  CHECK(c == crc64_portable(0, buf, big));
  free(buf);
}

UNIT_MAIN("core", {
  test_durations();
  test_iso8601();
  test_http_date();
  test_uuid();
  test_url_decode();
  test_actions();
  test_actions_long_paths();
  test_log_repeats();
  test_jwt();
  test_crc64();
  test_crc64_paths();
})
