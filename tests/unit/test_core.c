/* test_core.c: the core's pure pieces: durations, timestamps, URL decoding,
 * HTTP dates, ARM action/scope mapping, JWT signing and verification. */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>

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
}

static void test_url_decode(void) {
  char *s = http_url_decode("a%2Fb%20c%zz%4", 14);
  CHECK_STR(s, "a/b c%zz%4");
  free(s);
  s = http_url_decode("%41%42", 6);
  CHECK_STR(s, "AB");
  free(s);
}

static void test_actions(void) {
  char out[256];
  arm_action_for("PUT", "/subscriptions/s/resourceGroups/g", out, sizeof out);
  CHECK_STR(out, "Microsoft.Resources/subscriptions/resourceGroups/write");
  arm_action_for("GET", "/subscriptions/s/resourcegroups", out, sizeof out);
  CHECK_STR(out, "Microsoft.Resources/subscriptions/resourcegroups/read");
  arm_action_for("DELETE", "/subscriptions/s/resourceGroups/g", out, sizeof out);
  CHECK_STR(out, "Microsoft.Resources/subscriptions/resourceGroups/delete");
  arm_action_for("POST",
                 "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/"
                 "a/listKeys",
                 out, sizeof out);
  CHECK_STR(out, "Microsoft.Storage/storageAccounts/listKeys/action");
  arm_action_for("PUT",
                 "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/"
                 "a/managementPolicies/default",
                 out, sizeof out);
  CHECK_STR(out, "Microsoft.Storage/storageAccounts/managementPolicies/write");
  arm_action_for("POST", "/subscriptions/s/providers/Microsoft.Compute/register", out,
                 sizeof out);
  CHECK_STR(out, "Microsoft.Compute/register/action");
  arm_action_for("PUT",
                 "/subscriptions/s/resourceGroups/g/providers/Microsoft.Authorization/"
                 "roleAssignments/x",
                 out, sizeof out);
  CHECK_STR(out, "Microsoft.Authorization/roleAssignments/write");

  arm_scope_for("/subscriptions/s/resourceGroups/g", out, sizeof out);
  CHECK_STR(out, "/subscriptions/s/resourceGroups/g");
  arm_scope_for("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/"
                "a/listKeys",
                out, sizeof out);
  CHECK_STR(out, "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a");
  arm_scope_for("/subscriptions/s/providers/Microsoft.Compute/register", out, sizeof out);
  CHECK_STR(out, "/subscriptions/s");
  arm_scope_for("/subscriptions", out, sizeof out);
  CHECK_STR(out, "/");
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
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0),
                                              "e")),
            "AQAB");
  json_decref(jwks);
  json_decref(claims);
  free(tok);
  EVP_PKEY_free(k);
  EVP_PKEY_free(other);
}

UNIT_MAIN("core", {
  test_durations();
  test_iso8601();
  test_http_date();
  test_url_decode();
  test_actions();
  test_jwt();
})
