/* unit.h: the smallest test harness: CHECK records a failure and goes on;
 * UNIT_MAIN prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef AZLITE_UNIT_H
#define AZLITE_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_pass, unit_fail;
#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (cond) {                                                                        \
      unit_pass++;                                                                     \
    } else {                                                                           \
      unit_fail++;                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
    }                                                                                  \
  } while (0)
#define CHECK_STR(a, b) CHECK((a) != NULL && (b) != NULL && strcmp((a), (b)) == 0)
#define UNIT_MAIN(name, body)                                                          \
  int main(void) {                                                                     \
    body;                                                                              \
    printf("%s: %d passed, %d failed\n", name, unit_pass, unit_fail);                  \
    return unit_fail ? 1 : 0;                                                          \
  }
#endif
