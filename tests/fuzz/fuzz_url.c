/* fuzz_url.c: the request target as the core reads it: percent-decoding
 * (http_url_decode) of the path and of each query name and value, the path split
 * into segments the way the router splits it, and the date headers
 * (http_date_parse: Date, x-ms-date, If-Modified-Since, ...). */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  size_t plen = 0;
  while (plen < size && s[plen] != '?')
    plen++;
  char *path = http_url_decode(s, plen);
  /* Decoding never lengthens: each %XX is one byte. */
  FUZZ_ASSERT(strlen(path) <= plen);
  char *save = NULL;
  size_t segs = 0, seglen = 0;
  for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    segs++;
    seglen += strlen(t);
  }
  FUZZ_ASSERT(seglen <= plen);
  free(path);

  /* The query after '?': name[=value] pairs split on '&', each side decoded. */
  for (size_t q = plen + 1; q < size;) {
    size_t n = 0, k;
    while (q + n < size && s[q + n] != '&')
      n++;
    for (k = 0; k < n && s[q + k] != '='; k++) {
    }
    char *name = http_url_decode(s + q, k);
    char *val = k < n ? http_url_decode(s + q + k + 1, n - k - 1) : NULL;
    FUZZ_ASSERT(strlen(name) <= k);
    free(name);
    free(val);
    q += n + 1;
  }

  char *str = fuzz_cstr(data, size);
  int64_t ms = http_date_parse(str);
  /* What http_date writes, http_date_parse reads back to the same second. */
  if (ms >= 0 && ms < 253402300800000LL) {
    char out[32];
    http_date(ms, out);
    FUZZ_ASSERT(http_date_parse(out) == ms / 1000 * 1000);
  }
  free(str);
  (void)segs;
  return 0;
}
