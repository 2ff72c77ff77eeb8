/* unit_alloc.h: allocation-failure injection for unit tests.  Including it
 * replaces malloc/calloc/realloc/free in the test binary: set alloc_countdown
 * to N and the Nth allocation from then on fails (alloc_injected says one
 * did); alloc_live counts live blocks, for leak checks.  Valgrind replaces
 * these functions itself, which turns the injection off. */
#ifndef AZLITE_UNIT_ALLOC_H
#define AZLITE_UNIT_ALLOC_H
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static long alloc_countdown; /* fail when it reaches 0; < 0: never */
static long alloc_live;
static int alloc_injected;

static int alloc_fails(void) {
  if (alloc_countdown > 0 && --alloc_countdown == 0) {
    alloc_injected = 1;
    return 1;
  }
  return 0;
}

__attribute__((noinline)) void *malloc(size_t n) {
  void *p = alloc_fails() ? NULL : __libc_malloc(n);
  alloc_live += p != NULL;
  return p;
}

__attribute__((noinline)) void *calloc(size_t a, size_t b) {
  void *p = alloc_fails() ? NULL : __libc_calloc(a, b);
  alloc_live += p != NULL;
  return p;
}

__attribute__((noinline)) void *realloc(void *old, size_t n) {
  if (alloc_fails()) return NULL;
  void *p = __libc_realloc(old, n);
  alloc_live += (old == NULL && p != NULL) - (old != NULL && n == 0);
  return p;
}

__attribute__((noinline)) void free(void *p) {
  alloc_live -= p != NULL;
  __libc_free(p);
}

#endif
