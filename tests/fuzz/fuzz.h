/* fuzz.h: what the libFuzzer targets (tests/fuzz/fuzz_*.c) share.  Each target
 * defines LLVMFuzzerTestOneInput; a target that finds a broken invariant (not
 * only a crash) calls FUZZ_ASSERT, which aborts with the condition so libFuzzer
 * saves the input. */
#ifndef AZLITE_FUZZ_H
#define AZLITE_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                              \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);     \
      abort();                                                                         \
    }                                                                                  \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (cut at its first NUL); malloc'd. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}

/* Splits off the next line of *p (up to '\n', without a trailing '\r'), NUL-terminating
 * it in place; NULL at the end. */
static inline char *fuzz_line(char **p) {
  if (!*p || !**p) return NULL;
  char *line = *p, *nl = strchr(line, '\n');
  if (nl) {
    *nl = 0;
    *p = nl + 1;
  } else {
    *p = line + strlen(line);
  }
  size_t n = strlen(line);
  if (n && line[n - 1] == '\r') line[n - 1] = 0;
  return line;
}

#endif
