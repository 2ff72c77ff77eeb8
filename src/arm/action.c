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
  char *buf; /* the path, '/' replaced by NULs */
  char **v;  /* its non-empty segments */
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
    for (int i = prov + 2; i < end; i += 2)
      fprintf(f, "/%s", seg[i]);
  } else {
    /* Microsoft.Resources: subscriptions[/resourceGroups][/...] */
    fputs("Microsoft.Resources", f);
    for (int i = 0; i < end; i += 2)
      fprintf(f, "/%s", seg[i]);
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

/* ---- api-versions -------------------------------------------------------- */

/* Is v shaped like an api-version, "2021-04-01" or "2021-04-01-preview"? */
static int api_version_well_formed(const char *v) {
  static const char shape[] = "dddd-dd-dd";
  for (size_t i = 0; i < sizeof shape - 1; i++)
    if (shape[i] == 'd' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != shape[i]) return 0;
  const char *p = v + sizeof shape - 1;
  if (!*p) return 1;
  if (*p++ != '-' || !*p) return 0;
  for (; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return 0;
  return 1;
}

int arm_api_version_require(http_req *r, const char *type, const char *const *versions) {
  const char *v = http_query_get(r, "api-version");
  for (int i = 0; v && versions[i]; i++)
    if (strcmp(v, versions[i]) == 0) return 0;
  const char *slash = strchr(type, '/');
  int resources = slash && strncasecmp(type, "Microsoft.Resources/", 20) == 0;
  /* ARM's own types list versions as "a,b"; providers' as "a, b". */
  char *list = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&list, &len);
  if (!f) abort();
  for (int i = 0; versions[i]; i++)
    fprintf(f, "%s%s", i ? (resources ? "," : ", ") : "", versions[i]);
  fclose(f);
  if (resources || !v || !api_version_well_formed(v))
    http_fail(r, ARM_ERR_INVALID_API_VERSION_PARAMETER,
              "The api-version '%s' is invalid. The supported versions are '%s'.", v ? v : "",
              list);
  else
    http_fail(r, ARM_ERR_NO_REGISTERED_PROVIDER_FOUND,
              "No registered resource provider found for location 'global' and API version '%s' "
              "for type '%s'. The supported api-versions are '%s'.",
              v, slash ? slash + 1 : type, list);
  free(list);
  return -1;
}

/* The declared row of exactly this type, or NULL. */
static const resource_type *type_row(const char *type) {
  for (int i = 0; providers[i]; i++)
    for (const resource_type *t = providers[i]->resource_types; t && t->type; t++)
      if (strcasecmp(t->type, type) == 0) return t;
  return NULL;
}

/* Every version declared for some type of the namespace, without repeats
 * (malloc'd, NULL-terminated); NULL when the namespace declares no type. */
static const char **namespace_versions(const char *ns) {
  size_t nl = strlen(ns), n = 0, cap = 0;
  const char **out = NULL;
  for (int i = 0; providers[i]; i++)
    for (const resource_type *t = providers[i]->resource_types; t && t->type; t++) {
      if (strncasecmp(t->type, ns, nl) != 0 || t->type[nl] != '/') continue;
      for (const char *const *v = t->api_versions; v && *v; v++) {
        size_t k = 0;
        while (k < n && strcmp(out[k], *v) != 0)
          k++;
        if (k < n) continue;
        if (n + 2 > cap) {
          cap = cap ? cap * 2 : 64;
          out = realloc(out, sizeof *out * cap);
          if (!out) abort();
        }
        out[n++] = *v;
        out[n] = NULL;
      }
    }
  return out;
}

int arm_api_version_check(http_req *r) {
  segs sg;
  split(r->path, &sg);
  char **seg = sg.v;
  int ns = sg.n;
  int post = strcasecmp(r->method, "POST") == 0;
  int end = post && ns > 0 ? ns - 1 : ns;
  int prov = -1;
  for (int i = 0; i < end; i++)
    if (!strcasecmp(seg[i], "providers") && i + 1 < end) prov = i;
  char *type = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&type, &len);
  if (!f) abort();
  const char *op = post && ns > 0 ? seg[ns - 1] : "";
  if (prov >= 0 && (prov + 2 < end || (post && strcasecmp(op, "register") != 0 &&
                                       strcasecmp(op, "unregister") != 0))) {
    fputs(seg[prov + 1], f);
    for (int i = prov + 2; i < end; i += 2)
      fprintf(f, "/%s", seg[i]);
  } else if (prov >= 0) {
    fputs("Microsoft.Resources/providers", f); /* reading or registering a provider */
  } else {
    /* ARM's own: the last type name, e.g. .../resourceGroups/{g} -> resourceGroups */
    int last = end > 0 ? (end - 1) & ~1 : -1;
    fprintf(f, "Microsoft.Resources/%s", last >= 0 ? seg[last] : "");
  }
  fclose(f);
  segs_free(&sg);
  /* The type itself, else its nearest declared parent, else anything its
   * namespace declares (operations such as checkNameAvailability). */
  int rc = 0;
  const resource_type *row = NULL;
  char *t = http_strdup(r, type);
  /* An operation's status URLs carry the api-version of the request that
   * started it (any provider's: Azure serves them under that provider). */
  if (!strcasecmp(t, "Microsoft.Resources/operationStatuses") ||
      !strcasecmp(t, "Microsoft.Resources/operationresults")) {
    free(type);
    return 0;
  }
  for (char *cut; !(row = type_row(t)) && (cut = strrchr(t, '/')) && strchr(t, '/') != cut;)
    *cut = 0;
  if (row) {
    rc = arm_api_version_require(r, type, row->api_versions);
  } else {
    *strchrnul(t, '/') = 0;
    const char **all = namespace_versions(t);
    if (all) rc = arm_api_version_require(r, type, all);
    free(all);
  }
  free(type);
  return rc;
}
