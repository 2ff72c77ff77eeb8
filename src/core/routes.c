/* routes.c: the route tables check themselves before azlite listens.  The
 * router (server.c, route_find) picks the most specific route: literal
 * segments first, then no trailing '*', then a named method over "*".  Two
 * routes that some path matches equally well would be decided by table
 * order, silently; such a pair stops startup instead. */
#include <string.h>
#include <strings.h>

#include "internal.h"

typedef struct pat {
  const char *seg[64];
  size_t len[64];
  int nseg, tail, literals;
} pat;

static void pat_parse(const char *pattern, pat *p) {
  memset(p, 0, sizeof *p);
  for (const char *s = pattern; *s;) {
    while (*s == '/')
      s++;
    if (!*s) break;
    size_t n = strcspn(s, "/");
    if (n == 1 && *s == '*') {
      p->tail = 1;
      break;
    }
    assert(p->nseg < 64);
    p->seg[p->nseg] = s;
    p->len[p->nseg] = n;
    p->literals += *s != '{';
    p->nseg++;
    s += n;
  }
}

/* Does some path match both patterns?  A parameter matches any segment;
 * literals match case-insensitively; a tail matches what follows. */
static int pat_overlap(const pat *a, const pat *b) {
  if (!a->tail && !b->tail && a->nseg != b->nseg) return 0;
  if (!a->tail && b->tail && a->nseg < b->nseg) return 0;
  if (a->tail && !b->tail && b->nseg < a->nseg) return 0;
  int n = a->nseg < b->nseg ? a->nseg : b->nseg;
  for (int i = 0; i < n; i++) {
    int la = a->seg[i][0] != '{', lb = b->seg[i][0] != '{';
    if (la && lb && (a->len[i] != b->len[i] || strncasecmp(a->seg[i], b->seg[i], a->len[i]) != 0))
      return 0;
  }
  return 1;
}

static int methods_overlap(const char *a, const char *b) {
  return !strcmp(a, "*") || !strcmp(b, "*") || !strcasecmp(a, b);
}

int routes_check(const provider *const *list, char *err, size_t errlen) {
  for (int i = 0; list[i]; i++)
    for (int k = 0; k < list[i]->nroutes; k++) {
      const route *x = &list[i]->routes[k];
      pat px;
      pat_parse(x->pattern, &px);
      for (int j = i; list[j]; j++)
        for (int m = j == i ? k + 1 : 0; m < list[j]->nroutes; m++) {
          const route *y = &list[j]->routes[m];
          if (x->listener != y->listener || !methods_overlap(x->method, y->method)) continue;
          pat py;
          pat_parse(y->pattern, &py);
          /* Equally specific by route_find's measure, and one path for both. */
          if (px.literals != py.literals || px.tail != py.tail ||
              !strcmp(x->method, "*") != !strcmp(y->method, "*") || !pat_overlap(&px, &py))
            continue;
          snprintf(err, errlen,
                   "route conflict: %s %s %s and %s %s %s match the same requests equally "
                   "well",
                   list[i]->name, x->method, x->pattern, list[j]->name, y->method, y->pattern);
          return -1;
        }
    }
  return 0;
}
