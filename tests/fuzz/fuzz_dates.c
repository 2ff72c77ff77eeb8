/* fuzz_dates.c: the time values requests carry: ISO 8601 instants
 * (clock_parse_iso8601: SAS st/se, x-ms-expiry-time, lifecycle and ARM bodies),
 * durations (clock_parse_duration: `azlite clock advance`, the admin API) and
 * RFC 1123 dates (http_date_parse).  What the writers produce must read back. */
#include "core/core.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_cstr(data, size);
  int64_t ms = clock_parse_iso8601(s);
  if (ms >= 0 && ms < 253402300800000LL) {
    char out[40];
    clock_iso8601(ms, out);
    FUZZ_ASSERT(clock_parse_iso8601(out) == ms);
  }
  int64_t d = clock_parse_duration(s);
  FUZZ_ASSERT(d >= -1);
  int64_t h = http_date_parse(s);
  if (h >= 0 && h < 253402300800000LL) {
    char out[32];
    http_date(h, out);
    FUZZ_ASSERT(http_date_parse(out) == h);
  }
  free(s);
  return 0;
}
