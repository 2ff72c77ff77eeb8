/* action.c: how an ARM request maps to an RBAC action and scope.
 *
 * A path alternates names and values below /subscriptions/{s}: resourceGroups/{g},
 * then providers/{Namespace}/{type}/{name}[/{subtype}/{subname}...].  The
 * action is the namespace plus the type names, then the verb: read (GET,
 * HEAD), write (PUT, PATCH), delete (DELETE), or, for POST, the trailing
 * operation name and "/action". */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arm.h"

#define MAX_SEGS 64

static int split(const char *path, char buf[1024], char *segs[MAX_SEGS]) {
  snprintf(buf, 1024, "%s", path);
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, "/", &save); t && n < MAX_SEGS; t = strtok_r(NULL, "/", &save))
    segs[n++] = t;
  return n;
}

static const char *verb_for(const char *method) {
  if (!strcasecmp(method, "GET") || !strcasecmp(method, "HEAD")) return "read";
  if (!strcasecmp(method, "DELETE")) return "delete";
  return "write";
}

void arm_action_for(const char *method, const char *path, char *out, size_t n) {
  char buf[1024];
  char *seg[MAX_SEGS];
  int ns = split(path, buf, seg);
  int post = strcasecmp(method, "POST") == 0;
  /* The operation of a POST is its last segment; it is not part of the type. */
  int end = post && ns > 0 ? ns - 1 : ns;
  int prov = -1;
  for (int i = 0; i < end; i++)
    if (!strcasecmp(seg[i], "providers") && i + 1 < end) prov = i; /* the last one wins */
  size_t len = 0;
  out[0] = 0;
#define ADD(...) (len += (size_t)snprintf(out + len, len < n ? n - len : 0, __VA_ARGS__))
  if (prov >= 0) {
    ADD("%s", seg[prov + 1]);
    for (int i = prov + 2; i < end; i += 2) ADD("/%s", seg[i]);
  } else {
    /* Microsoft.Resources: subscriptions[/resourceGroups][/...] */
    ADD("Microsoft.Resources");
    for (int i = 0; i < end; i += 2) ADD("/%s", seg[i]);
  }
  if (post)
    ADD("/%s/action", ns > 0 ? seg[ns - 1] : "");
  else
    ADD("/%s", verb_for(method));
#undef ADD
  if (len >= n && n) out[n - 1] = 0;
}

void arm_scope_for(const char *path, char *out, size_t n) {
  char buf[1024];
  char *seg[MAX_SEGS];
  int ns = split(path, buf, seg);
  size_t len = 0;
  out[0] = 0;
  /* Keep name/value pairs: the scope is the deepest resource the path names. */
  for (int i = 0; i + 1 < ns; i += 2) {
    if (!strcasecmp(seg[i], "providers")) {
      /* providers/{ns}/{type}/{name}: the namespace pairs with nothing */
      if (i + 3 >= ns) break;
      len += (size_t)snprintf(out + len, len < n ? n - len : 0, "/%s/%s/%s/%s", seg[i],
                              seg[i + 1], seg[i + 2], seg[i + 3]);
      i += 2;
      continue;
    }
    len += (size_t)snprintf(out + len, len < n ? n - len : 0, "/%s/%s", seg[i], seg[i + 1]);
  }
  if (!out[0]) snprintf(out, n, "/");
}
