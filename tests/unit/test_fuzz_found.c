/* test_fuzz_found.c: inputs the fuzz targets (tests/fuzz/) found that broke a
 * parser, each pinned here with what it must do now. */
#include "core/core.h"
#include "unit.h"

/* fuzz_dates: a year past int range in an RFC 1123 date overflowed the
 * milliseconds (signed overflow: UBSan abort, garbage in a plain build). */
static void test_http_date_bounds(void) {
  CHECK(http_date_parse("Sa, 2Mar 2602026020 2:9:6 2:9:6") == -1);
  CHECK(http_date_parse("Thu, 26 Nov 99999 10:00:00 GMT") == -1);
  CHECK(http_date_parse("Thu, 26 Nov 2026 24:00:00 GMT") == -1);
  CHECK(http_date_parse("Thu, 0 Nov 2026 10:00:00 GMT") == -1);
  CHECK(http_date_parse("Thu, 26 Nov 2026 10:-1:00 GMT") == -1);
  CHECK(http_date_parse("Fri, 31 Dec 9999 23:59:59 GMT") == 253402300799000LL);
  CHECK(http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
}

UNIT_MAIN("fuzz_found", { test_http_date_bounds(); })
