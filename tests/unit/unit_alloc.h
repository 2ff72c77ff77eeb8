/* unit_alloc.h: allocation-failure injection for unit tests.  Including it
 * replaces malloc/calloc/realloc/free in the test binary: set alloc_countdown
 * to N and the Nth allocation from then on fails (alloc_injected says one
 * did); alloc_live counts live blocks, for leak checks.  Valgrind replaces
 * these functions itself, which turns the injection off.
 *
 * Under AddressSanitizer the replacements call ASan's allocator (its
 * __interceptor_* entry points, which gcc's and clang's runtimes both export)
 * instead of glibc's, so injection still works and ASan still sees every
 * block: calling __libc_malloc there would hand glibc blocks to ASan's free.
 * ASan also allocates for functions it intercepts (strdup, ...) without going
 * through these, so there alloc_live is the bytes ASan has live, from its own
 * accounting; tests only compare it before and after. */
#ifndef AZLITE_UNIT_ALLOC_H
#define AZLITE_UNIT_ALLOC_H
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNIT_ALLOC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNIT_ALLOC_ASAN 1
#endif
#endif

#ifdef UNIT_ALLOC_ASAN
extern void *__interceptor_malloc(size_t);
extern void *__interceptor_calloc(size_t, size_t);
extern void *__interceptor_realloc(void *, size_t);
extern void __interceptor_free(void *);
#define __libc_malloc __interceptor_malloc
#define __libc_calloc __interceptor_calloc
#define __libc_realloc __interceptor_realloc
#define __libc_free __interceptor_free
extern size_t __sanitizer_get_current_allocated_bytes(void);
#define alloc_live ((long)__sanitizer_get_current_allocated_bytes())
#define UNIT_ALLOC_COUNT(d) ((void)0)
#else
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static long alloc_live;
#define UNIT_ALLOC_COUNT(d) (alloc_live += (d))
#endif

static long alloc_countdown; /* fail when it reaches 0; < 0: never */
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
  UNIT_ALLOC_COUNT(p != NULL);
  return p;
}

__attribute__((noinline)) void *calloc(size_t a, size_t b) {
  void *p = alloc_fails() ? NULL : __libc_calloc(a, b);
  UNIT_ALLOC_COUNT(p != NULL);
  return p;
}

__attribute__((noinline)) void *realloc(void *old, size_t n) {
  if (alloc_fails()) return NULL;
  void *p = __libc_realloc(old, n);
  UNIT_ALLOC_COUNT((old == NULL && p != NULL) - (old != NULL && n == 0));
  return p;
}

__attribute__((noinline)) void free(void *p) {
  UNIT_ALLOC_COUNT(-(p != NULL));
  __libc_free(p);
}

#endif
