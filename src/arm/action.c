/* action.c: how an ARM request maps to an RBAC action and scope.
 *
 * A path alternates names and values below /subscriptions/{s}: resourceGroups/{g},
 * then providers/{Namespace}/{type}/{name}[/{subtype}/{subname}...].  The
 * action is the namespace plus the type names, then the verb: read (GET,
 * HEAD), write (PUT, PATCH), delete (DELETE), or, for POST, the trailing
 * operation name and "/action".
 *
 * Both work on the whole path, however long: the decision must be made on
 * exactly what the router and the handler see (empty segments are skipped by
 * all three), never on a truncated copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arm.h"

typedef struct segs {
  char *buf;   /* the path, '/' replaced by NULs */
  char **v;    /* its non-empty segments */
  int n;
} segs;

static void split(const char *path, segs *s) {
  size_t len = strlen(path);
  s->buf = malloc(len + 1);
  s->v = malloc(sizeof *s->v * (len / 2 + 1));
  if (!s->buf || !s->v) abort();
  memcpy(s->buf, path, len + 1);
  s->n = 0;
  char *save = NULL;
  for (char *t = strtok_r(s->buf, "/", &save); t; t = strtok_r(NULL, "/", &save))
    s->v[s->n++] = t;
}

static void segs_free(segs *s) {
  free(s->buf);
  free(s->v);
}

static const char *verb_for(const char *method) {
  if (!strcasecmp(method, "GET") || !strcasecmp(method, "HEAD")) return "read";
  if (!strcasecmp(method, "DELETE")) return "delete";
  return "write";
}

char *arm_action_for(const char *method, const char *path) {
  segs sg;
  split(path, &sg);
  char **seg = sg.v;
  int ns = sg.n;
  int post = strcasecmp(method, "POST") == 0;
  /* The operation of a POST is its last segment; it is not part of the type. */
  int end = post && ns > 0 ? ns - 1 : ns;
  int prov = -1;
  for (int i = 0; i < end; i++)
    if (!strcasecmp(seg[i], "providers") && i + 1 < end) prov = i; /* the last one wins */
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  if (!f) abort();
  if (prov >= 0) {
    fputs(seg[prov + 1], f);
    for (int i = prov + 2; i < end; i += 2) fprintf(f, "/%s", seg[i]);
  } else {
    /* Microsoft.Resources: subscriptions[/resourceGroups][/...] */
    fputs("Microsoft.Resources", f);
    for (int i = 0; i < end; i += 2) fprintf(f, "/%s", seg[i]);
  }
  if (post)
    fprintf(f, "/%s/action", ns > 0 ? seg[ns - 1] : "");
  else
    fprintf(f, "/%s", verb_for(method));
  fclose(f);
  segs_free(&sg);
  return out;
}

char *arm_scope_for(const char *path) {
  segs sg;
  split(path, &sg);
  char **seg = sg.v;
  int ns = sg.n;
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  if (!f) abort();
  /* Keep name/value pairs: the scope is the deepest resource the path names. */
  for (int i = 0; i + 1 < ns; i += 2) {
    if (!strcasecmp(seg[i], "providers")) {
      /* providers/{ns}/{type}/{name}: the namespace pairs with nothing */
      if (i + 3 >= ns) break;
      fprintf(f, "/%s/%s/%s/%s", seg[i], seg[i + 1], seg[i + 2], seg[i + 3]);
      i += 2;
      continue;
    }
    fprintf(f, "/%s/%s", seg[i], seg[i + 1]);
  }
  if (ftell(f) == 0) fputc('/', f);
  fclose(f);
  segs_free(&sg);
  return out;
}
