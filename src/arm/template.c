/* template.c: ARM templates (template.h): the expression language parsed to a
 * small tree and evaluated over jansson values, parameters bound with their
 * constraints, variables evaluated lazily (so they may refer to one another)
 * but all at load, resources expanded by copy loops and conditions with
 * their ids and dependsOn resolved, and outputs.  What needs the world comes
 * through tpl_env's callbacks.  Strings are treated as bytes: length() and
 * substring() count UTF-8 bytes where ARM counts UTF-16 units. */
#include "template.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { PH_PARAM, PH_LOAD, PH_BODY, PH_OUTPUT };
enum { FR_RESOURCE, FR_PROPERTY, FR_VARIABLE, FR_OUTPUT };
#define TPL_MAX_FRAMES 8
#define TPL_MAX_COPY 800

typedef struct frame {
  const char *name; /* loop name; NULL for an output loop */
  int index, kind;
} frame;

typedef struct res {
  json_t *def; /* borrowed from the template */
  char *path, *id, *type, *name, *api, *symbol, *loop;
  int parent, included, pub;
  frame frames[TPL_MAX_FRAMES];
  int nframes;
  int *deps, ndeps; /* internal indexes */
} res;

struct tpl_ctx {
  const tpl_env *env;
  json_t *tpl, *given, *params, *param_busy, *vars, *var_busy, *var_copies;
  res *res;
  int nres, cap;
  tpl_resource *pub;
  int npub, *order;
  /* The evaluation's position: phase, loops, where (for errors). */
  int phase;
  frame frames[TPL_MAX_FRAMES];
  int nframes;
  char path[512];
  char what[256];
  const char *body_id;
  /* The first error: expression detail (plain == 0) or a whole sentence. */
  int failed, plain, passthrough;
  char emsg[900];
  tpl_error cb;
};

typedef struct tnode {
  enum { T_STR, T_INT, T_CALL, T_MEMBER, T_INDEX } kind;
  char *str;
  long long num;
  struct tnode **args;
  int nargs;
  struct tnode *base, *index;
} tnode;

static void *fail(tpl_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *fail(tpl_ctx *c, const char *fmt, ...) {
  if (c->failed) return NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->emsg, sizeof c->emsg, fmt, ap);
  va_end(ap);
  c->failed = 1;
  c->plain = 0;
  return NULL;
}

/* A failure that is a whole sentence (not an expression's). */
static void *fail_plain(tpl_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void *fail_plain(tpl_ctx *c, const char *fmt, ...) {
  if (c->failed) return NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->emsg, sizeof c->emsg, fmt, ap);
  va_end(ap);
  c->failed = 1;
  c->plain = 1;
  return NULL;
}

/* A message cut at the buffer's end (vsnprintf: truncation is intended). */
static void set_msg(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, n, fmt, ap);
  va_end(ap);
}

static void report(tpl_ctx *c, tpl_error *err) {
  if (!err) return;
  if (c->passthrough) {
    *err = c->cb;
    return;
  }
  snprintf(err->code, sizeof err->code, "InvalidTemplate");
  if (c->plain)
    set_msg(err->message, sizeof err->message, "Deployment template validation failed: '%s'.",
            c->emsg);
  else if (c->phase == PH_BODY)
    set_msg(err->message, sizeof err->message,
            "Unable to process template language expressions for resource '%s' at '%s'. '%s'",
            c->body_id ? c->body_id : "", c->path, c->emsg);
  else
    set_msg(err->message, sizeof err->message,
            "Deployment template validation failed: 'The template %s at '%s' is not valid: %s. "
            "Please see https://aka.ms/arm-template-expressions for usage details.'.",
            c->what, c->path, c->emsg);
}

static void path_key(tpl_ctx *c, const char *k) {
  size_t n = strlen(c->path);
  snprintf(c->path + n, sizeof c->path - n, "%s%s", n ? "." : "", k);
}
static void path_idx(tpl_ctx *c, size_t i) {
  size_t n = strlen(c->path);
  snprintf(c->path + n, sizeof c->path - n, "[%zu]", i);
}

static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    return "String";
  case JSON_INTEGER:
    return "Integer";
  case JSON_REAL:
    return "Float";
  case JSON_TRUE:
  case JSON_FALSE:
    return "Boolean";
  case JSON_OBJECT:
    return "Object";
  case JSON_ARRAY:
    return "Array";
  default:
    return "Null";
  }
}

static json_t *obj_get_ci(const json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  if (v || !json_is_object(o)) return v;
  const char *key;
  json_object_foreach((json_t *)o, key, v) if (!strcasecmp(key, k)) return v;
  return NULL;
}

/* The text ARM gives a value in concat(), format() and string(). */
static char *to_text(const json_t *v) {
  char buf[64];
  switch (json_typeof(v)) {
  case JSON_STRING:
    return strdup(json_string_value(v));
  case JSON_INTEGER:
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    break;
  case JSON_REAL:
    snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    break;
  case JSON_TRUE:
    return strdup("True");
  case JSON_FALSE:
    return strdup("False");
  case JSON_NULL:
    return strdup("");
  default:
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  }
  return strdup(buf);
}

/* A growable string. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;
static void sb_addn(sbuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void sb_add(sbuf *b, const char *s) {
  sb_addn(b, s, strlen(s));
}
static json_t *sb_json(sbuf *b) {
  json_t *r = json_stringn(b->p ? b->p : "", b->n);
  free(b->p);
  return r;
}

/* ---- parsing ---- */

typedef struct parser {
  const char *s;
  size_t i, n;
  char err[256];
} parser;

static void node_free(tnode *n) {
  if (!n) return;
  free(n->str);
  for (int i = 0; i < n->nargs; i++)
    node_free(n->args[i]);
  free(n->args);
  node_free(n->base);
  node_free(n->index);
  free(n);
}

static void skip_ws(parser *p) {
  while (p->i < p->n && isspace((unsigned char)p->s[p->i]))
    p->i++;
}

static tnode *perr(parser *p, const char *what) {
  if (!p->err[0]) {
    if (p->i >= p->n)
      snprintf(p->err, sizeof p->err, "expected %s and actual 'EndOfData'", what);
    else
      snprintf(p->err, sizeof p->err, "expected %s and actual '%c' at position %zu", what,
               p->s[p->i], p->i);
  }
  return NULL;
}

static tnode *new_node(int kind) {
  tnode *n = calloc(1, sizeof *n);
  n->kind = kind;
  return n;
}

static tnode *parse_expr(parser *p);

static tnode *parse_postfix(parser *p, tnode *base) {
  for (;;) {
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == '.') {
      p->i++;
      skip_ws(p);
      size_t st = p->i;
      while (p->i < p->n && (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '_' ||
                             p->s[p->i] == '$' || p->s[p->i] == '-'))
        p->i++;
      if (p->i == st) {
        node_free(base);
        return perr(p, "token 'Identifier'");
      }
      tnode *m = new_node(T_MEMBER);
      m->str = strndup(p->s + st, p->i - st);
      m->base = base;
      base = m;
    } else if (p->i < p->n && p->s[p->i] == '[') {
      p->i++;
      tnode *ix = parse_expr(p);
      if (!ix) {
        node_free(base);
        return NULL;
      }
      skip_ws(p);
      if (p->i >= p->n || p->s[p->i] != ']') {
        node_free(ix);
        node_free(base);
        return perr(p, "token 'RightSquareBracket'");
      }
      p->i++;
      tnode *m = new_node(T_INDEX);
      m->base = base;
      m->index = ix;
      base = m;
    } else
      return base;
  }
}

static tnode *parse_expr(parser *p) {
  skip_ws(p);
  if (p->i >= p->n) return perr(p, "a literal or a function");
  char ch = p->s[p->i];
  if (ch == '\'') {
    sbuf b = {0};
    p->i++;
    for (;;) {
      if (p->i >= p->n) {
        free(b.p);
        return perr(p, "token 'Literal' closed by a quote");
      }
      if (p->s[p->i] == '\'') {
        if (p->i + 1 < p->n && p->s[p->i + 1] == '\'') {
          sb_addn(&b, "'", 1);
          p->i += 2;
          continue;
        }
        p->i++;
        break;
      }
      sb_addn(&b, p->s + p->i, 1);
      p->i++;
    }
    tnode *n = new_node(T_STR);
    n->str = b.p ? b.p : strdup("");
    return parse_postfix(p, n);
  }
  if (isdigit((unsigned char)ch) || ch == '-' || ch == '+') {
    size_t st = p->i++;
    while (p->i < p->n && isdigit((unsigned char)p->s[p->i]))
      p->i++;
    if (p->i < p->n && p->s[p->i] == '.') return perr(p, "an integer (no floating point)");
    char tmp[32];
    size_t len = p->i - st;
    if (len >= sizeof tmp || (len == 1 && !isdigit((unsigned char)ch)))
      return perr(p, "token 'Integer'");
    memcpy(tmp, p->s + st, len);
    tmp[len] = 0;
    tnode *n = new_node(T_INT);
    n->num = strtoll(tmp, NULL, 10);
    return n;
  }
  if (isalpha((unsigned char)ch) || ch == '_') {
    size_t st = p->i;
    while (p->i < p->n &&
           (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '_' || p->s[p->i] == '.'))
      p->i++;
    tnode *n = new_node(T_CALL);
    n->str = strndup(p->s + st, p->i - st);
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '(') {
      node_free(n);
      return perr(p, "token 'LeftParenthesis'");
    }
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ')') {
      p->i++;
      return parse_postfix(p, n);
    }
    for (;;) {
      tnode *a = parse_expr(p);
      if (!a) {
        node_free(n);
        return NULL;
      }
      n->args = realloc(n->args, sizeof *n->args * (n->nargs + 1));
      n->args[n->nargs++] = a;
      skip_ws(p);
      if (p->i < p->n && p->s[p->i] == ',') {
        p->i++;
        continue;
      }
      if (p->i < p->n && p->s[p->i] == ')') {
        p->i++;
        break;
      }
      node_free(n);
      return perr(p, "token 'Comma' or 'RightParenthesis'");
    }
    return parse_postfix(p, n);
  }
  return perr(p, "a literal or a function");
}

/* The tree of the expression inside "[...]", or NULL with c's error. */
static tnode *parse_expression(tpl_ctx *c, const char *s, size_t n) {
  parser p = {.s = s, .n = n};
  tnode *t = parse_expr(&p);
  if (t) {
    skip_ws(&p);
    if (p.i != p.n) {
      node_free(t);
      t = perr(&p, "'EndOfData'");
    }
  }
  if (!t) fail(c, "Unable to parse language expression '%.*s': %s", (int)n, s, p.err);
  return t;
}

/* ---- evaluation ---- */

static json_t *eval_string(tpl_ctx *c, const char *s);
static json_t *eval_value(tpl_ctx *c, json_t *v);
static json_t *param_get(tpl_ctx *c, const char *name);
static json_t *var_get(tpl_ctx *c, const char *name);
static int resolve_name(tpl_ctx *c, const char *s, int **out);

typedef json_t *(*tfn)(tpl_ctx *c, const char *fn, json_t **a, int n);
typedef struct tfunc {
  const char *name;
  int min, max; /* max -1: any */
  tfn fn;
} tfunc;

static int want(tpl_ctx *c, const char *fn, json_t *v, json_type t, int i) {
  if (json_typeof(v) == t || (t == JSON_TRUE && json_is_boolean(v))) return 1;
  static const char *names[] = {"Object", "Array",   "String",  "Integer",
                                "Float",  "Boolean", "Boolean", "Null"};
  fail(c,
       "The template language function '%s' expects its parameter '%d' to be of type '%s'. "
       "The provided value is of type '%s'",
       fn, i + 1, names[t], type_name(v));
  return 0;
}
#define WANT(i, t)                                                                                 \
  do {                                                                                             \
    if (!want(c, fn, a[i], t, i)) return NULL;                                                     \
  } while (0)

static json_t *f_parameters(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  json_t *v = param_get(c, json_string_value(a[0]));
  return v ? json_incref(v) : NULL;
}
static json_t *f_variables(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  json_t *v = var_get(c, json_string_value(a[0]));
  return v ? json_incref(v) : NULL;
}

static json_t *f_concat(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn;
  if (json_is_array(a[0])) {
    json_t *r = json_array();
    for (int i = 0; i < n; i++) {
      if (json_is_array(a[i]))
        json_array_extend(r, a[i]);
      else if (!json_is_null(a[i]))
        json_array_append(r, a[i]);
    }
    return r;
  }
  sbuf b = {0};
  for (int i = 0; i < n; i++) {
    char *t = to_text(a[i]);
    sb_add(&b, t);
    free(t);
  }
  return sb_json(&b);
}

static json_t *f_format(tpl_ctx *c, const char *fn, json_t **a, int n) {
  WANT(0, JSON_STRING);
  const char *s = json_string_value(a[0]);
  sbuf b = {0};
  while (*s) {
    if (s[0] == '{' && s[1] == '{') {
      sb_add(&b, "{");
      s += 2;
    } else if (s[0] == '}' && s[1] == '}') {
      sb_add(&b, "}");
      s += 2;
    } else if (*s == '{') {
      char *end;
      long idx = strtol(s + 1, &end, 10);
      long align = 0;
      char spec[16] = "";
      if (end == s + 1) goto bad;
      if (*end == ',') align = strtol(end + 1, &end, 10);
      if (*end == ':') {
        size_t k = 0;
        for (end++; *end && *end != '}' && k < sizeof spec - 1;)
          spec[k++] = *end++;
        spec[k] = 0;
      }
      if (*end != '}') goto bad;
      if (idx < 0 || idx + 1 >= n) {
        free(b.p);
        return fail(c,
                    "The template language function 'format': the index '%ld' is out of the "
                    "range of the arguments",
                    idx);
      }
      char *t;
      json_t *v = a[idx + 1];
      if (json_is_integer(v) && (spec[0] == 'D' || spec[0] == 'd')) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%0*lld", atoi(spec + 1), (long long)json_integer_value(v));
        t = strdup(tmp);
      } else if (json_is_integer(v) && (spec[0] == 'X' || spec[0] == 'x')) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, spec[0] == 'X' ? "%0*llX" : "%0*llx", atoi(spec + 1),
                 (long long)json_integer_value(v));
        t = strdup(tmp);
      } else
        t = to_text(v);
      long pad = labs(align) - (long)strlen(t);
      for (long k = 0; align > 0 && k < pad; k++)
        sb_add(&b, " ");
      sb_add(&b, t);
      for (long k = 0; align < 0 && k < pad; k++)
        sb_add(&b, " ");
      free(t);
      s = end + 1;
    } else
      sb_addn(&b, s++, 1);
  }
  return sb_json(&b);
bad:
  free(b.p);
  return fail(c, "The template language function 'format': the format string '%s' is not valid",
              json_string_value(a[0]));
}

/* The "/{type}/{name}" path of a resource type and its names:
 * ("Microsoft.Network/virtualNetworks/subnets", ["v", "s"]) ->
 * "Microsoft.Network/virtualNetworks/v/subnets/s", or NULL when the segment
 * counts differ. */
static char *type_names_path(const char *type, json_t **names, int nnames) {
  const char *slash = strchr(type, '/');
  if (!slash) return NULL;
  /* Names may themselves hold several segments ("vnet/subnet"). */
  json_t *segs = json_array();
  for (int i = 0; i < nnames; i++) {
    char *t = to_text(names[i]), *save, *tok;
    for (tok = strtok_r(t, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
      json_array_append_new(segs, json_string(tok));
    free(t);
  }
  char *tcopy = strdup(slash + 1), *save, *tok;
  sbuf b = {0};
  sb_addn(&b, type, slash - type);
  size_t k = 0;
  int ok = 1;
  for (tok = strtok_r(tcopy, "/", &save); tok; tok = strtok_r(NULL, "/", &save), k++) {
    if (k >= json_array_size(segs)) {
      ok = 0;
      break;
    }
    sb_add(&b, "/");
    sb_add(&b, tok);
    sb_add(&b, "/");
    sb_add(&b, json_string_value(json_array_get(segs, k)));
  }
  if (k != json_array_size(segs)) ok = 0;
  free(tcopy);
  json_decref(segs);
  if (!ok) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

static json_t *id_json(tpl_ctx *c, const char *fn, const char *prefix, const char *type,
                       json_t **names, int nnames) {
  char *tp = type_names_path(type, names, nnames);
  if (!tp)
    return fail(c,
                "Unable to evaluate template language function '%s': the type '%s' requires %s "
                "resource name argument(s)",
                fn, type, "a matching number of");
  sbuf b = {0};
  sb_add(&b, prefix);
  sb_add(&b, "/providers/");
  sb_add(&b, tp);
  free(tp);
  return sb_json(&b);
}

/* resourceId([subscriptionId], [resourceGroupName], type, name1, ...): the
 * type is the first argument holding a '/'. */
static json_t *f_resourceid(tpl_ctx *c, const char *fn, json_t **a, int n) {
  for (int i = 0; i < n; i++)
    WANT(i, JSON_STRING);
  int t = -1;
  for (int i = 0; i < n && i < 3; i++)
    if (strchr(json_string_value(a[i]), '/')) {
      t = i;
      break;
    }
  if (t < 0)
    return fail(c,
                "Unable to evaluate template language function '%s': no resource type "
                "argument (namespace/type) was given",
                fn);
  const char *sub = c->env->subscription_id, *rg = c->env->resource_group;
  if (!strcasecmp(fn, "subscriptionResourceId")) {
    if (t > 1)
      return fail(
          c,
          "The template language function '%s' takes at most one subscription id before the type",
          fn);
    if (t == 1) sub = json_string_value(a[0]);
    rg = NULL;
  } else if (t == 2) {
    sub = json_string_value(a[0]);
    rg = json_string_value(a[1]);
  } else if (t == 1)
    rg = json_string_value(a[0]);
  const char *type = json_string_value(a[t]);
  char prefix[512];
  if (rg)
    snprintf(prefix, sizeof prefix, "/subscriptions/%s/resourceGroups/%s", sub, rg);
  else
    snprintf(prefix, sizeof prefix, "/subscriptions/%s", sub);
  if (!strcasecmp(type, "Microsoft.Resources/resourceGroups") && n - t - 1 == 1) {
    snprintf(prefix, sizeof prefix, "/subscriptions/%s/resourceGroups/%s", sub,
             json_string_value(a[t + 1]));
    return json_string(prefix);
  }
  if (!strcasecmp(type, "Microsoft.Resources/subscriptions") && n - t - 1 == 1) {
    snprintf(prefix, sizeof prefix, "/subscriptions/%s", json_string_value(a[t + 1]));
    return json_string(prefix);
  }
  return id_json(c, fn, prefix, type, a + t + 1, n - t - 1);
}

static json_t *f_tenantresourceid(tpl_ctx *c, const char *fn, json_t **a, int n) {
  for (int i = 0; i < n; i++)
    WANT(i, JSON_STRING);
  return id_json(c, fn, "", json_string_value(a[0]), a + 1, n - 1);
}

static json_t *f_extensionresourceid(tpl_ctx *c, const char *fn, json_t **a, int n) {
  for (int i = 0; i < n; i++)
    WANT(i, JSON_STRING);
  return id_json(c, fn, json_string_value(a[0]), json_string_value(a[1]), a + 2, n - 2);
}

static json_t *f_resourcegroup(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)a, (void)n;
  const tpl_env *e = c->env;
  if (!e->resource_group)
    return fail(c,
                "The template function '%s' is not expected at this location (a subscription "
                "scope deployment has no resource group)",
                fn);
  char id[512];
  snprintf(id, sizeof id, "/subscriptions/%s/resourceGroups/%s", e->subscription_id,
           e->resource_group);
  return json_pack("{s:s, s:s, s:s, s:s, s:{s:s}}", "id", id, "name", e->resource_group, "type",
                   "Microsoft.Resources/resourceGroups", "location",
                   e->rg_location ? e->rg_location : "", "properties", "provisioningState",
                   "Succeeded");
}

static json_t *f_subscription(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)fn, (void)a, (void)n;
  const tpl_env *e = c->env;
  char id[256];
  snprintf(id, sizeof id, "/subscriptions/%s", e->subscription_id);
  return json_pack("{s:s, s:s, s:s, s:s}", "id", id, "subscriptionId", e->subscription_id,
                   "tenantId", e->tenant_id ? e->tenant_id : "", "displayName",
                   e->subscription_name ? e->subscription_name : e->subscription_id);
}

static json_t *f_deployment(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)fn, (void)a, (void)n;
  return json_pack("{s:s, s:{s:O, s:O, s:s, s:s}}", "name",
                   c->env->deployment_name ? c->env->deployment_name : "", "properties", "template",
                   c->tpl, "parameters", c->given ? c->given : json_null(), "mode", "Incremental",
                   "provisioningState", "Accepted");
}

static int world_allowed(tpl_ctx *c, const char *fn) {
  if (c->phase == PH_BODY || c->phase == PH_OUTPUT) return 1;
  fail(c,
       "The template function '%s' is not expected at this location. Please see "
       "https://aka.ms/arm-functions for usage details",
       fn);
  return 0;
}

/* A name of a resource of the template, or a full id: its full id (new). */
static char *to_resource_id(tpl_ctx *c, const char *s, const char **api) {
  int *ix = NULL, k = resolve_name(c, s, &ix);
  char *r = NULL;
  if (k > 0) {
    r = strdup(c->res[ix[0]].id);
    if (api) *api = c->res[ix[0]].api;
  } else if (s[0] == '/')
    r = strdup(s);
  else
    fail(c,
         "The template reference '%s' is not valid: could not find template resource or "
         "resource copy with this name",
         s);
  free(ix);
  return r;
}

static json_t *f_reference(tpl_ctx *c, const char *fn, json_t **a, int n) {
  WANT(0, JSON_STRING);
  if (n > 1) WANT(1, JSON_STRING);
  if (n > 2) WANT(2, JSON_STRING);
  if (!world_allowed(c, fn)) return NULL;
  const char *api = NULL;
  char *id = to_resource_id(c, json_string_value(a[0]), &api);
  if (!id) return NULL;
  if (n > 1) api = json_string_value(a[1]);
  int full = n > 2 && !strcasecmp(json_string_value(a[2]), "Full");
  json_t *r = NULL;
  if (!c->env->reference)
    fail(c, "The template function '%s' is not supported here", fn);
  else {
    tpl_error e = {0};
    r = c->env->reference(c->env->cls, id, api, full, &e);
    if (!r && !c->failed) {
      c->cb = e;
      c->passthrough = 1;
      fail(c, "%s", e.message);
    }
  }
  free(id);
  return r;
}

static json_t *f_list(tpl_ctx *c, const char *fn, json_t **a, int n) {
  if (n < 2)
    return fail(c, "The template language function '%s' must have at least 2 parameters", fn);
  WANT(0, JSON_STRING);
  WANT(1, JSON_STRING);
  if (!world_allowed(c, fn)) return NULL;
  char *id = to_resource_id(c, json_string_value(a[0]), NULL);
  if (!id) return NULL;
  json_t *r = NULL;
  if (!c->env->list)
    fail(c, "The template function '%s' is not supported here", fn);
  else {
    tpl_error e = {0};
    r = c->env->list(c->env->cls, id, fn, json_string_value(a[1]), &e);
    if (!r && !c->failed) {
      c->cb = e;
      c->passthrough = 1;
      fail(c, "%s", e.message);
    }
  }
  free(id);
  return r;
}

static json_t *f_providers(tpl_ctx *c, const char *fn, json_t **a, int n) {
  WANT(0, JSON_STRING);
  if (n > 1) WANT(1, JSON_STRING);
  if (!c->env->providers) return fail(c, "The template function '%s' is not supported here", fn);
  tpl_error e = {0};
  json_t *r = c->env->providers(c->env->cls, json_string_value(a[0]),
                                n > 1 ? json_string_value(a[1]) : NULL, &e);
  if (!r) {
    c->cb = e;
    c->passthrough = 1;
    fail(c, "%s", e.message);
  }
  return r;
}

/* Azure's uniqueString(): its MurmurHash64 variant (two 32-bit lanes, its
 * own constants) over the UTF-8 of the arguments joined by '-', the 64-bit
 * hash written as 13 base-32 letters from its high bits. */
static uint32_t rotl32(uint32_t x, int r) {
  return (x << r) | (x >> (32 - r));
}
static uint32_t fmix32(uint32_t h) {
  h = (h ^ (h >> 16)) * 0x85EBCA6Bu;
  h = (h ^ (h >> 13)) * 0xC2B2AE35u;
  return h ^ (h >> 16);
}
static uint32_t le32(const unsigned char *p, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n && i < 4; i++)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t azure_murmur64(const unsigned char *p, size_t len) {
  const uint32_t c1 = 0xAB0E9789u, c2 = 0x239B961Bu;
  uint32_t h1 = 0, h2 = 0;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint32_t k1 = rotl32(le32(p + i, 4) * c2, 15) * c1;
    uint32_t k2 = rotl32(le32(p + i + 4, 4) * c1, 17) * c2;
    h1 = rotl32(h1 ^ k1, 19) + h2;
    h1 = h1 * 5 + 0x561CCD1Bu;
    h2 = rotl32(h2 ^ k2, 13) + h1;
    h2 = h2 * 5 + 0x0BCAA747u;
  }
  size_t rem = len - i;
  if (rem > 0) {
    h1 ^= rotl32(le32(p + i, rem) * c2, 15) * c1;
    if (rem > 4) h2 ^= rotl32(le32(p + i + 4, rem - 4) * c1, 17) * c2;
  }
  uint32_t r0 = h2 ^ (uint32_t)len;
  uint32_t r1 = (h1 ^ (uint32_t)len) + r0;
  uint32_t r2 = r0 + r1;
  r1 = fmix32(r1);
  r2 = fmix32(r2);
  r1 += r2;
  r2 += r1;
  return ((uint64_t)r2 << 32) | r1;
}

static char *join_strings(json_t **a, int n) {
  sbuf b = {0};
  sb_add(&b, "");
  for (int i = 0; i < n; i++) {
    if (i) sb_add(&b, "-");
    sb_add(&b, json_string_value(a[i]));
  }
  return b.p;
}

static json_t *f_uniquestring(tpl_ctx *c, const char *fn, json_t **a, int n) {
  for (int i = 0; i < n; i++)
    WANT(i, JSON_STRING);
  char *s = join_strings(a, n);
  uint64_t h = azure_murmur64((const unsigned char *)s, strlen(s));
  free(s);
  static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";
  char out[14];
  for (int i = 0; i < 13; i++, h <<= 5)
    out[i] = alpha[(h >> 59) & 31];
  out[13] = 0;
  return json_string(out);
}

static json_t *uuid_json(unsigned char *u) {
  char out[40];
  snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
           u[14], u[15]);
  return json_string(out);
}

/* guid(): RFC 4122 version 5 in ARM's namespace
 * 11fb06fb-712d-4ddd-98c7-e71bbd588830 over the arguments joined by '-'. */
static json_t *f_guid(tpl_ctx *c, const char *fn, json_t **a, int n) {
  for (int i = 0; i < n; i++)
    WANT(i, JSON_STRING);
  static const unsigned char ns[16] = {0x11, 0xfb, 0x06, 0xfb, 0x71, 0x2d, 0x4d, 0xdd,
                                       0x98, 0xc7, 0xe7, 0x1b, 0xbd, 0x58, 0x88, 0x30};
  char *s = join_strings(a, n);
  size_t len = strlen(s);
  unsigned char *buf = malloc(16 + len), md[SHA_DIGEST_LENGTH];
  memcpy(buf, ns, 16);
  memcpy(buf + 16, s, len);
  SHA1(buf, 16 + len, md);
  free(buf);
  free(s);
  md[6] = (md[6] & 0x0f) | 0x50;
  md[8] = (md[8] & 0x3f) | 0x80;
  return uuid_json(md);
}

static int in_param_default(tpl_ctx *c, const char *fn) {
  if (c->phase == PH_PARAM) return 1;
  fail(c,
       "The template function '%s' is not expected at this location. It can only be used "
       "in the default value of a parameter",
       fn);
  return 0;
}

static json_t *f_newguid(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)a, (void)n;
  if (!in_param_default(c, fn)) return NULL;
  unsigned char u[16];
  if (RAND_bytes(u, sizeof u) != 1) return fail(c, "newGuid: no random bytes");
  u[6] = (u[6] & 0x0f) | 0x40;
  u[8] = (u[8] & 0x3f) | 0x80;
  return uuid_json(u);
}

/* utcNow([format]): .NET custom format letters yyyy MM dd HH mm ss; 'u' and
 * 's' as .NET's standard ones; default yyyyMMddTHHmmssZ. */
static json_t *f_utcnow(tpl_ctx *c, const char *fn, json_t **a, int n) {
  if (n) WANT(0, JSON_STRING);
  if (!in_param_default(c, fn)) return NULL;
  const char *f = n ? json_string_value(a[0]) : "yyyyMMddTHHmmssZ";
  if (!strcmp(f, "u")) f = "yyyy-MM-dd HH:mm:ssZ";
  if (!strcmp(f, "s")) f = "yyyy-MM-ddTHH:mm:ss";
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  sbuf b = {0};
  char tmp[16];
  while (*f) {
    if (!strncmp(f, "yyyy", 4))
      snprintf(tmp, sizeof tmp, "%04d", tm.tm_year + 1900), f += 4;
    else if (!strncmp(f, "MM", 2))
      snprintf(tmp, sizeof tmp, "%02d", tm.tm_mon + 1), f += 2;
    else if (!strncmp(f, "dd", 2))
      snprintf(tmp, sizeof tmp, "%02d", tm.tm_mday), f += 2;
    else if (!strncmp(f, "HH", 2))
      snprintf(tmp, sizeof tmp, "%02d", tm.tm_hour), f += 2;
    else if (!strncmp(f, "mm", 2))
      snprintf(tmp, sizeof tmp, "%02d", tm.tm_min), f += 2;
    else if (!strncmp(f, "ss", 2))
      snprintf(tmp, sizeof tmp, "%02d", tm.tm_sec), f += 2;
    else
      snprintf(tmp, sizeof tmp, "%c", *f++);
    sb_add(&b, tmp);
  }
  return sb_json(&b);
}

static json_t *f_copyindex(tpl_ctx *c, const char *fn, json_t **a, int n) {
  const char *loop = NULL;
  long long off = 0;
  for (int i = 0; i < n; i++) {
    if (json_is_string(a[i]) && i == 0)
      loop = json_string_value(a[i]);
    else if (json_is_integer(a[i]))
      off = json_integer_value(a[i]);
    else
      return fail(c, "The template function '%s' takes a loop name and an integer offset", fn);
  }
  for (int i = c->nframes - 1; i >= 0; i--) {
    frame *f = &c->frames[i];
    if (loop ? (f->name && !strcasecmp(f->name, loop)) : f->kind != FR_PROPERTY)
      return json_integer(f->index + off);
  }
  if (loop)
    return fail(
        c, "The template function 'copyIndex' refers to the copy loop '%s', which is not found",
        loop);
  return fail(c,
              "The template function '%s' is not expected at this location: it is only valid "
              "inside a copy loop",
              fn);
}

static json_t *f_true(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)a, (void)n;
  return json_true();
}
static json_t *f_false(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)a, (void)n;
  return json_false();
}
static json_t *f_null(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)a, (void)n;
  return json_null();
}
static json_t *f_equals(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)n;
  return json_boolean(json_equal(a[0], a[1]) || (json_is_null(a[0]) && json_is_null(a[1])));
}
static json_t *f_and(tpl_ctx *c, const char *fn, json_t **a, int n) {
  int r = 1;
  for (int i = 0; i < n; i++) {
    WANT(i, JSON_TRUE);
    r = r && json_is_true(a[i]);
  }
  return json_boolean(r);
}
static json_t *f_or(tpl_ctx *c, const char *fn, json_t **a, int n) {
  int r = 0;
  for (int i = 0; i < n; i++) {
    WANT(i, JSON_TRUE);
    r = r || json_is_true(a[i]);
  }
  return json_boolean(r);
}
static json_t *f_not(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_TRUE);
  return json_boolean(!json_is_true(a[0]));
}

/* less/greater and friends: integers, or strings ordinally. */
static json_t *compare(tpl_ctx *c, const char *fn, json_t **a, int *cmp) {
  if (json_is_integer(a[0]) && json_is_integer(a[1])) {
    long long x = json_integer_value(a[0]), y = json_integer_value(a[1]);
    *cmp = x < y ? -1 : x > y;
    return json_null();
  }
  if (json_is_string(a[0]) && json_is_string(a[1])) {
    *cmp = strcmp(json_string_value(a[0]), json_string_value(a[1]));
    return json_null();
  }
  return fail(c,
              "The template language function '%s' expects two integers or two strings; got "
              "'%s' and '%s'",
              fn, type_name(a[0]), type_name(a[1]));
}
#define CMPFN(name, test)                                                                          \
  static json_t *name(tpl_ctx *c, const char *fn, json_t **a, int n) {                             \
    (void)n;                                                                                       \
    int cmp;                                                                                       \
    json_t *ok = compare(c, fn, a, &cmp);                                                          \
    if (!ok) return NULL;                                                                          \
    json_decref(ok);                                                                               \
    return json_boolean(test);                                                                     \
  }
CMPFN(f_less, cmp < 0)
CMPFN(f_lesseq, cmp <= 0)
CMPFN(f_greater, cmp > 0)
CMPFN(f_greatereq, cmp >= 0)

static json_t *f_contains(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  if (json_is_string(a[0])) {
    char *t = to_text(a[1]);
    int r = strstr(json_string_value(a[0]), t) != NULL;
    free(t);
    return json_boolean(r);
  }
  if (json_is_array(a[0])) {
    size_t i;
    json_t *v;
    json_array_foreach(a[0], i, v) if (json_equal(v, a[1])) return json_true();
    return json_false();
  }
  if (json_is_object(a[0])) {
    char *t = to_text(a[1]);
    int r = obj_get_ci(a[0], t) != NULL;
    free(t);
    return json_boolean(r);
  }
  return fail(c,
              "The template language function '%s' expects a string, an array or an object; "
              "got '%s'",
              fn, type_name(a[0]));
}

static json_t *f_empty(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)n;
  json_t *v = a[0];
  return json_boolean(json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
                      (json_is_array(v) && !json_array_size(v)) ||
                      (json_is_object(v) && !json_object_size(v)));
}

static json_t *f_length(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  if (json_is_string(a[0])) return json_integer(json_string_length(a[0]));
  if (json_is_array(a[0])) return json_integer(json_array_size(a[0]));
  if (json_is_object(a[0])) return json_integer(json_object_size(a[0]));
  return fail(c,
              "The template language function '%s' expects a string, an array or an object; "
              "got '%s'",
              fn, type_name(a[0]));
}

static json_t *f_union(tpl_ctx *c, const char *fn, json_t **a, int n) {
  if (json_is_object(a[0])) {
    json_t *r = json_object();
    for (int i = 0; i < n; i++) {
      WANT(i, JSON_OBJECT);
      json_object_update(r, a[i]);
    }
    return r;
  }
  json_t *r = json_array();
  for (int i = 0; i < n; i++) {
    if (!want(c, fn, a[i], JSON_ARRAY, i)) {
      json_decref(r);
      return NULL;
    }
    size_t k, m;
    json_t *v, *w;
    json_array_foreach(a[i], k, v) {
      int dup = 0;
      json_array_foreach(r, m, w) if (json_equal(v, w)) dup = 1;
      if (!dup) json_array_append(r, v);
    }
  }
  return r;
}

static json_t *f_intersection(tpl_ctx *c, const char *fn, json_t **a, int n) {
  if (json_is_object(a[0])) {
    json_t *r = json_deep_copy(a[0]);
    for (int i = 1; i < n; i++) {
      if (!want(c, fn, a[i], JSON_OBJECT, i)) {
        json_decref(r);
        return NULL;
      }
      const char *k;
      json_t *v;
      void *tmp;
      json_object_foreach_safe(r, tmp, k, v) if (!json_equal(v, json_object_get(a[i], k)))
          json_object_del(r, k);
    }
    return r;
  }
  WANT(0, JSON_ARRAY);
  json_t *r = json_array();
  size_t k;
  json_t *v;
  json_array_foreach(a[0], k, v) {
    int all = 1;
    for (int i = 1; i < n && all; i++) {
      if (!json_is_array(a[i])) {
        json_decref(r);
        WANT(i, JSON_ARRAY);
      }
      size_t m;
      json_t *w;
      int found = 0;
      json_array_foreach(a[i], m, w) if (json_equal(v, w)) found = 1;
      all = found;
    }
    size_t m;
    json_t *w;
    json_array_foreach(r, m, w) if (json_equal(v, w)) all = 0;
    if (all) json_array_append(r, v);
  }
  return r;
}

static json_t *f_first(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  int last = !strcasecmp(fn, "last");
  if (json_is_array(a[0])) {
    size_t sz = json_array_size(a[0]);
    return sz ? json_incref(json_array_get(a[0], last ? sz - 1 : 0)) : json_null();
  }
  WANT(0, JSON_STRING);
  size_t len = json_string_length(a[0]);
  const char *s = json_string_value(a[0]);
  return len ? json_stringn(s + (last ? len - 1 : 0), 1) : json_string("");
}

static json_t *f_split(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  json_t *delims = json_array();
  if (json_is_string(a[1]))
    json_array_append(delims, a[1]);
  else if (json_is_array(a[1]))
    json_array_extend(delims, a[1]);
  else {
    json_decref(delims);
    WANT(1, JSON_STRING);
  }
  json_t *r = json_array();
  const char *s = json_string_value(a[0]), *st = s;
  while (*s) {
    size_t i, hit = 0;
    json_t *d;
    json_array_foreach(delims, i, d) {
      size_t dl = json_is_string(d) ? json_string_length(d) : 0;
      if (dl && !strncmp(s, json_string_value(d), dl)) {
        hit = dl;
        break;
      }
    }
    if (hit) {
      json_array_append_new(r, json_stringn(st, s - st));
      s += hit;
      st = s;
    } else
      s++;
  }
  json_array_append_new(r, json_string(st));
  json_decref(delims);
  return r;
}

static json_t *f_join(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_ARRAY);
  WANT(1, JSON_STRING);
  sbuf b = {0};
  size_t i;
  json_t *v;
  json_array_foreach(a[0], i, v) {
    if (i) sb_add(&b, json_string_value(a[1]));
    char *t = to_text(v);
    sb_add(&b, t);
    free(t);
  }
  return sb_json(&b);
}

static json_t *f_case(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  char *s = strdup(json_string_value(a[0]));
  int up = !strcasecmp(fn, "toUpper");
  for (char *p = s; *p; p++)
    *p = up ? toupper((unsigned char)*p) : tolower((unsigned char)*p);
  json_t *r = json_string(s);
  free(s);
  return r;
}

static json_t *f_substring(tpl_ctx *c, const char *fn, json_t **a, int n) {
  WANT(0, JSON_STRING);
  WANT(1, JSON_INTEGER);
  long long len = json_string_length(a[0]), st = json_integer_value(a[1]);
  long long cnt = len - st;
  if (n > 2) {
    WANT(2, JSON_INTEGER);
    cnt = json_integer_value(a[2]);
  }
  if (st < 0 || st > len || cnt < 0 || st + cnt > len)
    return fail(c,
                "The template language function '%s': the index and length parameters must "
                "refer to a location within the string. The index parameter: '%lld', the "
                "length parameter: '%lld', the length of the string parameter: '%lld'",
                fn, st, cnt, len);
  return json_stringn(json_string_value(a[0]) + st, cnt);
}

static json_t *f_replace(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  for (int i = 0; i < 3; i++)
    WANT(i, JSON_STRING);
  const char *s = json_string_value(a[0]), *from = json_string_value(a[1]),
             *to = json_string_value(a[2]);
  size_t fl = strlen(from);
  if (!fl) return json_incref(a[0]);
  sbuf b = {0};
  sb_add(&b, "");
  for (const char *h; (h = strstr(s, from)); s = h + fl) {
    sb_addn(&b, s, h - s);
    sb_add(&b, to);
  }
  sb_add(&b, s);
  return sb_json(&b);
}

static json_t *f_trim(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  const char *s = json_string_value(a[0]), *e = s + strlen(s);
  while (*s && isspace((unsigned char)*s))
    s++;
  while (e > s && isspace((unsigned char)e[-1]))
    e--;
  return json_stringn(s, e - s);
}

/* startsWith, endsWith, indexOf, lastIndexOf: ARM compares ignoring case. */
static json_t *f_strsearch(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  WANT(1, JSON_STRING);
  const char *s = json_string_value(a[0]), *t = json_string_value(a[1]);
  size_t sl = strlen(s), tl = strlen(t);
  if (!strcasecmp(fn, "startsWith")) return json_boolean(sl >= tl && !strncasecmp(s, t, tl));
  if (!strcasecmp(fn, "endsWith")) return json_boolean(sl >= tl && !strcasecmp(s + sl - tl, t));
  long long hit = -1;
  for (size_t i = 0; i + tl <= sl; i++)
    if (!strncasecmp(s + i, t, tl)) {
      hit = (long long)i;
      if (strcasecmp(fn, "lastIndexOf")) break;
    }
  return json_integer(hit);
}

static json_t *f_padleft(tpl_ctx *c, const char *fn, json_t **a, int n) {
  WANT(1, JSON_INTEGER);
  char pad = ' ';
  if (n > 2) {
    WANT(2, JSON_STRING);
    if (json_string_length(a[2]) != 1)
      return fail(c, "The template language function '%s' expects a single padding character", fn);
    pad = json_string_value(a[2])[0];
  }
  char *t = to_text(a[0]);
  long long want_len = json_integer_value(a[1]), len = (long long)strlen(t);
  sbuf b = {0};
  sb_add(&b, "");
  for (long long i = len; i < want_len; i++)
    sb_addn(&b, &pad, 1);
  sb_add(&b, t);
  free(t);
  return sb_json(&b);
}

static json_t *f_string(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)n;
  char *t = to_text(a[0]);
  json_t *r = json_string(t);
  free(t);
  return r;
}

static json_t *f_int(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  if (json_is_integer(a[0])) return json_incref(a[0]);
  if (json_is_real(a[0])) return json_integer((long long)json_real_value(a[0]));
  WANT(0, JSON_STRING);
  char *end;
  const char *s = json_string_value(a[0]);
  long long v = strtoll(s, &end, 10);
  if (!*s || *end)
    return fail(c,
                "The template language function '%s': the value '%s' cannot be converted to "
                "an integer",
                fn, s);
  return json_integer(v);
}

static json_t *f_bool(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  if (json_is_boolean(a[0])) return json_incref(a[0]);
  if (json_is_integer(a[0])) return json_boolean(json_integer_value(a[0]) != 0);
  WANT(0, JSON_STRING);
  const char *s = json_string_value(a[0]);
  if (!strcasecmp(s, "true") || !strcmp(s, "1")) return json_true();
  if (!strcasecmp(s, "false") || !strcmp(s, "0")) return json_false();
  return fail(c,
              "The template language function '%s': the value '%s' cannot be converted to a "
              "boolean",
              fn, s);
}

static json_t *f_json(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  json_error_t je;
  json_t *r = json_loads(json_string_value(a[0]), JSON_DECODE_ANY, &je);
  if (!r)
    return fail(c, "The template language function '%s': the argument is not valid JSON: %s", fn,
                je.text);
  return r;
}

static json_t *f_createarray(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn;
  json_t *r = json_array();
  for (int i = 0; i < n; i++)
    json_array_append(r, a[i]);
  return r;
}

/* array(x): x when it is an array, else [x]. */
static json_t *f_array(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)n;
  if (json_is_array(a[0])) return json_deep_copy(a[0]);
  json_t *r = json_array();
  json_array_append(r, a[0]);
  return r;
}

static json_t *f_createobject(tpl_ctx *c, const char *fn, json_t **a, int n) {
  if (n % 2)
    return fail(c, "The template language function '%s' expects an even number of parameters", fn);
  json_t *r = json_object();
  for (int i = 0; i < n; i += 2) {
    if (!want(c, fn, a[i], JSON_STRING, i)) {
      json_decref(r);
      return NULL;
    }
    json_object_set(r, json_string_value(a[i]), a[i + 1]);
  }
  return r;
}

static json_t *f_coalesce(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn;
  for (int i = 0; i < n; i++)
    if (!json_is_null(a[i])) return json_incref(a[i]);
  return json_null();
}

static json_t *f_arith(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_INTEGER);
  WANT(1, JSON_INTEGER);
  long long x = json_integer_value(a[0]), y = json_integer_value(a[1]);
  switch (tolower((unsigned char)fn[0]) == 'm' ? tolower((unsigned char)fn[1]) : fn[0] | 32) {
  case 'a':
    return json_integer(x + y);
  case 's':
    return json_integer(x - y);
  case 'u':
    return json_integer(x * y);
  case 'd':
  case 'o':
    if (!y) return fail(c, "The template language function '%s' cannot divide by zero", fn);
    return json_integer(fn[0] == 'd' || fn[0] == 'D' ? x / y : x % y);
  }
  return NULL;
}

static json_t *f_minmax(tpl_ctx *c, const char *fn, json_t **a, int n) {
  int mx = !strcasecmp(fn, "max");
  json_t *vals = json_array();
  for (int i = 0; i < n; i++) {
    if (json_is_array(a[i]))
      json_array_extend(vals, a[i]);
    else
      json_array_append(vals, a[i]);
  }
  long long best = 0;
  size_t i;
  json_t *v;
  json_array_foreach(vals, i, v) {
    if (!json_is_integer(v)) {
      json_decref(vals);
      return fail(c, "The template language function '%s' expects integers; got '%s'", fn,
                  type_name(v));
    }
    long long x = json_integer_value(v);
    if (!i || (mx ? x > best : x < best)) best = x;
  }
  size_t cnt = json_array_size(vals);
  json_decref(vals);
  if (!cnt) return fail(c, "The template language function '%s' needs at least one value", fn);
  return json_integer(best);
}

static json_t *f_range(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_INTEGER);
  WANT(1, JSON_INTEGER);
  long long st = json_integer_value(a[0]), cnt = json_integer_value(a[1]);
  if (cnt < 0 || cnt > 10000)
    return fail(c, "The template language function '%s': the count must be between 0 and 10000",
                fn);
  json_t *r = json_array();
  for (long long i = 0; i < cnt; i++)
    json_array_append_new(r, json_integer(st + i));
  return r;
}

static json_t *f_takeskip(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(1, JSON_INTEGER);
  int take = !strcasecmp(fn, "take");
  long long k = json_integer_value(a[1]);
  if (json_is_array(a[0])) {
    long long sz = json_array_size(a[0]);
    if (k < 0) k = 0;
    if (k > sz) k = sz;
    json_t *r = json_array();
    for (long long i = take ? 0 : k; i < (take ? k : sz); i++)
      json_array_append(r, json_array_get(a[0], i));
    return r;
  }
  WANT(0, JSON_STRING);
  long long sz = json_string_length(a[0]);
  if (k < 0) k = 0;
  if (k > sz) k = sz;
  const char *s = json_string_value(a[0]);
  return take ? json_stringn(s, k) : json_stringn(s + k, sz - k);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static json_t *f_base64(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  const unsigned char *s = (const unsigned char *)json_string_value(a[0]);
  size_t len = json_string_length(a[0]);
  sbuf b = {0};
  sb_add(&b, "");
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = s[i] << 16 | (i + 1 < len ? s[i + 1] << 8 : 0) | (i + 2 < len ? s[i + 2] : 0);
    char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < len ? b64[v >> 6 & 63] : '=',
                 i + 2 < len ? b64[v & 63] : '='};
    sb_addn(&b, q, 4);
  }
  return sb_json(&b);
}

static json_t *f_base64tostring(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  const char *s = json_string_value(a[0]);
  sbuf b = {0};
  sb_add(&b, "");
  uint32_t acc = 0;
  int bits = 0;
  for (; *s && *s != '='; s++) {
    const char *p = strchr(b64, *s);
    if (!p || !*s) {
      free(b.p);
      return fail(c, "The template language function '%s': the input is not valid base64", fn);
    }
    acc = acc << 6 | (uint32_t)(p - b64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      char ch = (char)(acc >> bits & 0xff);
      sb_addn(&b, &ch, 1);
    }
  }
  return sb_json(&b);
}

static json_t *f_uricomponent(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  sbuf b = {0};
  sb_add(&b, "");
  for (const unsigned char *p = (const unsigned char *)json_string_value(a[0]); *p; p++) {
    char tmp[4];
    if (isalnum(*p) || strchr("-_.~", *p))
      snprintf(tmp, sizeof tmp, "%c", *p);
    else
      snprintf(tmp, sizeof tmp, "%%%02X", *p);
    sb_add(&b, tmp);
  }
  return sb_json(&b);
}

static json_t *f_uricomponenttostring(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  sbuf b = {0};
  sb_add(&b, "");
  for (const char *p = json_string_value(a[0]); *p; p++) {
    if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
      char hex[3] = {p[1], p[2], 0}, ch = (char)strtol(hex, NULL, 16);
      sb_addn(&b, &ch, 1);
      p += 2;
    } else
      sb_addn(&b, p, 1);
  }
  return sb_json(&b);
}

/* uri(base, relative) as .NET's Uri(Uri, string): an absolute relative
 * replaces; "/x" keeps scheme and host; otherwise it replaces base's last
 * segment. */
static json_t *f_uri(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_STRING);
  WANT(1, JSON_STRING);
  const char *base = json_string_value(a[0]), *rel = json_string_value(a[1]);
  const char *scheme = strstr(base, "://");
  if (!scheme)
    return fail(c, "The template language function '%s': '%s' is not an absolute URI", fn, base);
  if (strstr(rel, "://")) return json_string(rel);
  sbuf b = {0};
  if (rel[0] == '/') {
    const char *host_end = strchr(scheme + 3, '/');
    sb_addn(&b, base, host_end ? (size_t)(host_end - base) : strlen(base));
  } else {
    const char *last = strrchr(scheme + 3, '/');
    if (last)
      sb_addn(&b, base, last - base + 1);
    else {
      sb_add(&b, base);
      sb_add(&b, "/");
    }
  }
  sb_add(&b, rel);
  return sb_json(&b);
}

static json_t *f_datauri(tpl_ctx *c, const char *fn, json_t **a, int n) {
  json_t *enc = f_base64(c, fn, a, n);
  if (!enc) return NULL;
  sbuf b = {0};
  sb_add(&b, "data:text/plain;charset=utf8;base64,");
  sb_add(&b, json_string_value(enc));
  json_decref(enc);
  return sb_json(&b);
}

static json_t *f_objectkeys(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_OBJECT);
  json_t *r = json_array(), *v;
  const char *k;
  json_object_foreach(a[0], k, v) json_array_append_new(r, json_string(k));
  return r;
}

static json_t *f_items(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)n;
  WANT(0, JSON_OBJECT);
  json_t *r = json_array(), *v;
  const char *k;
  json_object_foreach(a[0], k, v)
      json_array_append_new(r, json_pack("{s:s, s:O}", "key", k, "value", v));
  return r;
}

/* environment(): the public cloud's names, as templates build endpoints
 * from them (environment().suffixes.storage). */
static json_t *f_environment(tpl_ctx *c, const char *fn, json_t **a, int n) {
  (void)c, (void)fn, (void)a, (void)n;
  return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}}", "name", "AzureCloud",
                   "resourceManager", "https://management.azure.com/", "portal",
                   "https://portal.azure.com", "authentication", "loginEndpoint",
                   "https://login.microsoftonline.com/", "tenant", "common", "suffixes", "storage",
                   "core.windows.net", "keyvaultDns", ".vault.azure.net", "acrLoginServer",
                   ".azurecr.io");
}

static const tfunc funcs[] = {
    {"objectKeys", 1, 1, f_objectkeys},
    {"items", 1, 1, f_items},
    {"environment", 0, 0, f_environment},
    {"parameters", 1, 1, f_parameters},
    {"variables", 1, 1, f_variables},
    {"concat", 1, -1, f_concat},
    {"format", 1, -1, f_format},
    {"resourceId", 2, -1, f_resourceid},
    {"subscriptionResourceId", 2, -1, f_resourceid},
    {"tenantResourceId", 2, -1, f_tenantresourceid},
    {"extensionResourceId", 3, -1, f_extensionresourceid},
    {"resourceGroup", 0, 0, f_resourcegroup},
    {"subscription", 0, 0, f_subscription},
    {"deployment", 0, 0, f_deployment},
    {"reference", 1, 3, f_reference},
    {"providers", 1, 2, f_providers},
    {"uniqueString", 1, -1, f_uniquestring},
    {"guid", 1, -1, f_guid},
    {"newGuid", 0, 0, f_newguid},
    {"utcNow", 0, 1, f_utcnow},
    {"copyIndex", 0, 2, f_copyindex},
    {"true", 0, 0, f_true},
    {"false", 0, 0, f_false},
    {"null", 0, 0, f_null},
    {"equals", 2, 2, f_equals},
    {"and", 2, -1, f_and},
    {"or", 2, -1, f_or},
    {"not", 1, 1, f_not},
    {"less", 2, 2, f_less},
    {"lessOrEquals", 2, 2, f_lesseq},
    {"greater", 2, 2, f_greater},
    {"greaterOrEquals", 2, 2, f_greatereq},
    {"contains", 2, 2, f_contains},
    {"empty", 1, 1, f_empty},
    {"length", 1, 1, f_length},
    {"union", 1, -1, f_union},
    {"intersection", 1, -1, f_intersection},
    {"first", 1, 1, f_first},
    {"last", 1, 1, f_first},
    {"split", 2, 2, f_split},
    {"join", 2, 2, f_join},
    {"toLower", 1, 1, f_case},
    {"toUpper", 1, 1, f_case},
    {"substring", 2, 3, f_substring},
    {"replace", 3, 3, f_replace},
    {"trim", 1, 1, f_trim},
    {"startsWith", 2, 2, f_strsearch},
    {"endsWith", 2, 2, f_strsearch},
    {"indexOf", 2, 2, f_strsearch},
    {"lastIndexOf", 2, 2, f_strsearch},
    {"padLeft", 2, 3, f_padleft},
    {"string", 1, 1, f_string},
    {"int", 1, 1, f_int},
    {"bool", 1, 1, f_bool},
    {"json", 1, 1, f_json},
    {"createArray", 0, -1, f_createarray},
    {"array", 1, 1, f_array},
    {"createObject", 0, -1, f_createobject},
    {"coalesce", 1, -1, f_coalesce},
    {"add", 2, 2, f_arith},
    {"sub", 2, 2, f_arith},
    {"mul", 2, 2, f_arith},
    {"div", 2, 2, f_arith},
    {"mod", 2, 2, f_arith},
    {"min", 1, -1, f_minmax},
    {"max", 1, -1, f_minmax},
    {"range", 2, 2, f_range},
    {"take", 2, 2, f_takeskip},
    {"skip", 2, 2, f_takeskip},
    {"base64", 1, 1, f_base64},
    {"base64ToString", 1, 1, f_base64tostring},
    {"uri", 2, 2, f_uri},
    {"uriComponent", 1, 1, f_uricomponent},
    {"uriComponentToString", 1, 1, f_uricomponenttostring},
    {"dataUri", 1, 1, f_datauri},
};
static const tfunc list_func = {"list*", 2, 3, f_list};

static json_t *eval_node(tpl_ctx *c, tnode *t) {
  switch (t->kind) {
  case T_STR:
    return json_string(t->str);
  case T_INT:
    return json_integer(t->num);
  case T_MEMBER:
  case T_INDEX: {
    json_t *b = eval_node(c, t->base);
    if (!b) return NULL;
    json_t *r = NULL;
    if (t->kind == T_MEMBER) {
      if (!json_is_object(b))
        fail(c,
             "The language expression property '%s' can't be evaluated, the value is of type "
             "'%s'",
             t->str, type_name(b));
      else if (!(r = obj_get_ci(b, t->str))) {
        sbuf ks = {0};
        const char *k;
        json_t *v;
        sb_add(&ks, "");
        json_object_foreach(b, k, v) {
          if (ks.n) sb_add(&ks, ", ");
          sb_add(&ks, k);
        }
        fail(c,
             "The language expression property '%s' doesn't exist, available properties are "
             "'%s'",
             t->str, ks.p);
        free(ks.p);
      }
    } else {
      json_t *ix = eval_node(c, t->index);
      if (ix && json_is_array(b) && json_is_integer(ix)) {
        long long i = json_integer_value(ix);
        if (i < 0 || (size_t)i >= json_array_size(b))
          fail(c, "The language expression property array index '%lld' is out of bounds", i);
        else
          r = json_array_get(b, i);
      } else if (ix && json_is_object(b) && json_is_string(ix)) {
        if (!(r = obj_get_ci(b, json_string_value(ix))))
          fail(c, "The language expression property '%s' doesn't exist", json_string_value(ix));
      } else if (ix)
        fail(c,
             "The language expression can't index a value of type '%s' with a value of type "
             "'%s'",
             type_name(b), type_name(ix));
      json_decref(ix);
    }
    json_incref(r);
    json_decref(b);
    return r;
  }
  case T_CALL:
    break;
  }
  const char *fn = t->str;
  /* if() evaluates only the branch it takes. */
  if (!strcasecmp(fn, "if")) {
    if (t->nargs != 3)
      return fail(c,
                  "Unable to evaluate template language function 'if'. The function expects "
                  "'3' parameters, but '%d' were provided",
                  t->nargs);
    json_t *cond = eval_node(c, t->args[0]);
    if (!cond) return NULL;
    if (!json_is_boolean(cond)) {
      fail(c,
           "The template language function 'if' expects its first parameter to be of type "
           "'Boolean'. The provided value is of type '%s'",
           type_name(cond));
      json_decref(cond);
      return NULL;
    }
    int which = json_is_true(cond) ? 1 : 2;
    json_decref(cond);
    return eval_node(c, t->args[which]);
  }
  const tfunc *f = NULL;
  for (size_t i = 0; i < sizeof funcs / sizeof *funcs; i++)
    if (!strcasecmp(funcs[i].name, fn)) f = &funcs[i];
  if (!f && !strncasecmp(fn, "list", 4) && !strchr(fn, '.')) f = &list_func;
  if (!f)
    return fail(c,
                "The template function '%s' is not valid. Please see "
                "https://aka.ms/arm-functions for usage details",
                fn);
  if (t->nargs < f->min || (f->max >= 0 && t->nargs > f->max)) {
    if (f->max == f->min)
      return fail(c,
                  "Unable to evaluate template language function '%s'. The function expects "
                  "'%d' parameter(s), but '%d' were provided",
                  fn, f->min, t->nargs);
    if (f->max < 0)
      return fail(c,
                  "Unable to evaluate template language function '%s'. The function expects "
                  "at least '%d' parameter(s), but '%d' were provided",
                  fn, f->min, t->nargs);
    return fail(c,
                "Unable to evaluate template language function '%s'. The function expects "
                "between '%d' and '%d' parameters, but '%d' were provided",
                fn, f->min, f->max, t->nargs);
  }
  json_t **a = calloc(t->nargs + 1, sizeof *a);
  json_t *r = NULL;
  int i;
  for (i = 0; i < t->nargs; i++)
    if (!(a[i] = eval_node(c, t->args[i]))) break;
  if (i == t->nargs) r = f->fn(c, fn, a, t->nargs);
  for (int k = 0; k < t->nargs; k++)
    json_decref(a[k]);
  free(a);
  return r;
}

/* A template string's value: "[expr]" evaluated, "[[x" the literal "[x",
 * anything else itself.  New reference or NULL with c's error. */
static json_t *eval_string(tpl_ctx *c, const char *s) {
  size_t n = strlen(s);
  if (n < 2 || s[0] != '[' || s[n - 1] != ']') return json_string(s);
  if (s[1] == '[') return json_string(s + 1);
  tnode *t = parse_expression(c, s + 1, n - 2);
  if (!t) return NULL;
  json_t *r = eval_node(c, t);
  node_free(t);
  return r;
}

static int eval_count(tpl_ctx *c, json_t *v, long long *out) {
  json_t *r = eval_value(c, v);
  if (!r) return -1;
  int ok = json_is_integer(r);
  *out = ok ? json_integer_value(r) : 0;
  if (!ok) fail(c, "The copy count must be an integer, not '%s'", type_name(r));
  json_decref(r);
  if (ok && (*out < 0 || *out > TPL_MAX_COPY)) {
    fail(c, "The copy count '%lld' is not valid: it must be between 0 and %d", *out, TPL_MAX_COPY);
    return -1;
  }
  return ok ? 0 : -1;
}

static int push_frame(tpl_ctx *c, const char *name, int kind) {
  if (c->nframes >= TPL_MAX_FRAMES) {
    fail(c, "copy loops are nested too deeply");
    return -1;
  }
  c->frames[c->nframes++] = (frame){.name = name, .index = 0, .kind = kind};
  return 0;
}

/* A property copy loop ("copy": [{name, count, input}]) into obj: each name
 * becomes an array of input evaluated per index. */
static int expand_property_copy(tpl_ctx *c, json_t *copies, json_t *obj) {
  size_t plen = strlen(c->path), i;
  json_t *cp;
  path_key(c, "copy");
  size_t clen = strlen(c->path);
  json_array_foreach(copies, i, cp) {
    c->path[clen] = 0;
    path_idx(c, i);
    const char *name = json_string_value(obj_get_ci(cp, "name"));
    json_t *input = obj_get_ci(cp, "input"), *count = obj_get_ci(cp, "count");
    long long n;
    if (!name || !input || !count) {
      fail(c, "The copy property must have 'name', 'count' and 'input'");
      return -1;
    }
    if (eval_count(c, count, &n)) return -1;
    json_t *arr = json_array();
    if (push_frame(c, name, FR_PROPERTY)) return -1;
    path_key(c, "input");
    for (long long k = 0; k < n; k++) {
      c->frames[c->nframes - 1].index = (int)k;
      json_t *v = eval_value(c, input);
      if (!v) {
        json_decref(arr);
        c->nframes--;
        return -1;
      }
      json_array_append_new(arr, v);
    }
    c->nframes--;
    json_object_set_new(obj, name, arr);
  }
  c->path[plen] = 0;
  return 0;
}

/* A template value with every expression in it evaluated (property copy
 * loops expanded).  New reference or NULL with c's error. */
static json_t *eval_value(tpl_ctx *c, json_t *v) {
  size_t plen = strlen(c->path);
  if (json_is_string(v)) return eval_string(c, json_string_value(v));
  if (json_is_array(v)) {
    json_t *r = json_array(), *e;
    size_t i;
    json_array_foreach(v, i, e) {
      path_idx(c, i);
      json_t *x = eval_value(c, e);
      if (!x) {
        json_decref(r);
        return NULL;
      }
      c->path[plen] = 0;
      json_array_append_new(r, x);
    }
    return r;
  }
  if (json_is_object(v)) {
    json_t *r = json_object(), *e;
    const char *k;
    json_object_foreach(v, k, e) {
      if (!strcmp(k, "copy") && json_is_array(e)) continue;
      path_key(c, k);
      json_t *x = eval_value(c, e);
      if (!x) {
        json_decref(r);
        return NULL;
      }
      c->path[plen] = 0;
      json_object_set_new(r, k, x);
    }
    json_t *copies = json_object_get(v, "copy");
    if (json_is_array(copies) && expand_property_copy(c, copies, r)) {
      json_decref(r);
      return NULL;
    }
    return r;
  }
  return json_incref(v);
}

/* ---- parameters and variables ---- */

typedef struct saved {
  int phase, nframes;
  frame frames[TPL_MAX_FRAMES];
  char path[512], what[256];
} saved;
static void enter(tpl_ctx *c, saved *s, int phase, const char *what, const char *path) {
  s->phase = c->phase;
  s->nframes = c->nframes;
  memcpy(s->frames, c->frames, sizeof s->frames);
  memcpy(s->path, c->path, sizeof s->path);
  memcpy(s->what, c->what, sizeof s->what);
  c->phase = phase;
  c->nframes = 0;
  snprintf(c->what, sizeof c->what, "%s", what);
  snprintf(c->path, sizeof c->path, "%s", path);
}
static void leave(tpl_ctx *c, saved *s) {
  /* On failure the position of the error stays for report(). */
  if (c->failed) return;
  c->phase = s->phase;
  c->nframes = s->nframes;
  memcpy(c->frames, s->frames, sizeof s->frames);
  memcpy(c->path, s->path, sizeof s->path);
  memcpy(c->what, s->what, sizeof s->what);
}

static const char *const param_types[][2] = {
    {"string", "String"}, {"securestring", "SecureString"}, {"int", "Int"},     {"bool", "Bool"},
    {"object", "Object"}, {"secureobject", "SecureObject"}, {"array", "Array"},
};
static const char *type_display(const char *t) {
  for (size_t i = 0; t && i < sizeof param_types / sizeof *param_types; i++)
    if (!strcasecmp(t, param_types[i][0])) return param_types[i][1];
  return NULL;
}
static int type_matches(const char *disp, json_t *v) {
  if (!strcmp(disp, "String") || !strcmp(disp, "SecureString")) return json_is_string(v);
  if (!strcmp(disp, "Int")) return json_is_integer(v);
  if (!strcmp(disp, "Bool")) return json_is_boolean(v);
  if (!strcmp(disp, "Array")) return json_is_array(v);
  return json_is_object(v);
}

static json_t *param_check(tpl_ctx *c, const char *name, json_t *def, json_t *v) {
  const char *disp = type_display(json_string_value(obj_get_ci(def, "type")));
  if (!disp)
    return fail_plain(c,
                      "The template parameter '%s' at 'parameters.%s' has type '%s', which is not "
                      "valid. The allowed types are 'String, SecureString, Int, Bool, Object, "
                      "SecureObject, Array'",
                      name, name, json_string_value(obj_get_ci(def, "type")) ?: "(none)");
  if (json_is_real(v) && !strcmp(disp, "Int") &&
      json_real_value(v) == (double)(long long)json_real_value(v))
    v = json_integer((long long)json_real_value(v));
  else
    json_incref(v);
  if (!type_matches(disp, v)) {
    fail_plain(c,
               "Template parameter JToken type is not valid. Expected '%s'. Actual '%s'. The "
               "template parameter '%s' at 'parameters.%s'",
               disp, type_name(v), name, name);
    json_decref(v);
    return NULL;
  }
  json_t *allowed = obj_get_ci(def, "allowedValues");
  if (json_is_array(allowed)) {
    size_t i;
    json_t *a;
    int ok = 0;
    json_array_foreach(allowed, i, a) if (json_equal(a, v)) ok = 1;
    if (!ok) {
      char *vs = to_text(v), *as = json_dumps(allowed, JSON_COMPACT);
      fail_plain(c,
                 "The provided value for the template parameter '%s' at 'parameters.%s' is not "
                 "valid. The value '%s' is not part of the allowed value(s): '%s'",
                 name, name, vs, as);
      free(vs);
      free(as);
      json_decref(v);
      return NULL;
    }
  }
  json_t *mn = obj_get_ci(def, "minValue"), *mx = obj_get_ci(def, "maxValue");
  if (json_is_integer(v) && json_is_integer(mn) && json_integer_value(v) < json_integer_value(mn)) {
    fail_plain(c,
               "The provided value '%lld' for the template parameter '%s' at 'parameters.%s' is "
               "not valid. The value must be greater than or equal to '%lld'",
               (long long)json_integer_value(v), name, name, (long long)json_integer_value(mn));
    json_decref(v);
    return NULL;
  }
  if (json_is_integer(v) && json_is_integer(mx) && json_integer_value(v) > json_integer_value(mx)) {
    fail_plain(c,
               "The provided value '%lld' for the template parameter '%s' at 'parameters.%s' is "
               "not valid. The value must be less than or equal to '%lld'",
               (long long)json_integer_value(v), name, name, (long long)json_integer_value(mx));
    json_decref(v);
    return NULL;
  }
  long long len = json_is_string(v)  ? (long long)json_string_length(v)
                  : json_is_array(v) ? (long long)json_array_size(v)
                                     : -1;
  json_t *ml = obj_get_ci(def, "minLength"), *xl = obj_get_ci(def, "maxLength");
  if (len >= 0 && json_is_integer(ml) && len < json_integer_value(ml)) {
    fail_plain(c,
               "The provided value for the template parameter '%s' at 'parameters.%s' is not "
               "valid. Its length '%lld' is less than the minimum length '%lld'",
               name, name, len, (long long)json_integer_value(ml));
    json_decref(v);
    return NULL;
  }
  if (len >= 0 && json_is_integer(xl) && len > json_integer_value(xl)) {
    fail_plain(c,
               "The provided value for the template parameter '%s' at 'parameters.%s' is not "
               "valid. Its length '%lld' is greater than the maximum length '%lld'",
               name, name, len, (long long)json_integer_value(xl));
    json_decref(v);
    return NULL;
  }
  return v;
}

/* The bound value of a parameter (borrowed): given, or its defaultValue
 * evaluated now (it may use earlier parameters, newGuid(), utcNow()). */
static json_t *param_get(tpl_ctx *c, const char *name) {
  json_t *defs = json_object_get(c->tpl, "parameters"), *def = obj_get_ci(defs, name);
  if (!json_is_object(def))
    return fail(c,
                "The template parameter '%s' is not found. Please see "
                "https://aka.ms/arm-template/#parameters for usage details",
                name);
  /* Use the template's spelling as the key. */
  const char *k;
  json_t *d;
  json_object_foreach(defs, k, d) if (d == def) name = k;
  json_t *v = json_object_get(c->params, name);
  if (v) return v;
  if (json_object_get(c->param_busy, name))
    return fail_plain(c,
                      "The template parameter '%s' at 'parameters.%s' refers to itself through "
                      "its default value",
                      name, name);
  if (!type_display(json_string_value(obj_get_ci(def, "type"))))
    return param_check(c, name, def, json_null());
  json_t *given = obj_get_ci(c->given, name), *val = NULL;
  if (given) {
    if (!json_is_object(given) || !json_object_get(given, "value")) {
      if (json_is_object(given) && json_object_get(given, "reference"))
        return fail_plain(c,
                          "The template parameter '%s' is a Key Vault reference, which is not "
                          "supported",
                          name);
      return fail_plain(c,
                        "The value of the template parameter '%s' must be an object with a "
                        "'value' property",
                        name);
    }
    val = json_incref(json_object_get(given, "value"));
  } else if (json_object_get(def, "defaultValue")) {
    char what[300], where[300];
    snprintf(what, sizeof what, "parameter '%s'", name);
    snprintf(where, sizeof where, "parameters.%s.defaultValue", name);
    saved s;
    json_object_set_new(c->param_busy, name, json_true());
    enter(c, &s, PH_PARAM, what, where);
    val = eval_value(c, json_object_get(def, "defaultValue"));
    leave(c, &s);
    json_object_del(c->param_busy, name);
    if (!val) return NULL;
  } else
    return fail_plain(c,
                      "The value for the template parameter '%s' at 'parameters.%s' is not "
                      "provided. Please see https://aka.ms/arm-create-parameter-file for usage "
                      "details",
                      name, name);
  json_t *checked = param_check(c, name, def, val);
  json_decref(val);
  if (!checked) return NULL;
  json_object_set_new(c->params, name, checked);
  return checked;
}

/* A variable's value (borrowed), evaluated the first time it is asked. */
static json_t *var_get(tpl_ctx *c, const char *name) {
  json_t *v = obj_get_ci(c->vars, name);
  if (v) return v;
  json_t *defs = json_object_get(c->tpl, "variables"), *def = NULL, *copy = NULL;
  const char *k;
  json_t *d;
  json_object_foreach(defs, k, d) if (strcmp(k, "copy") && !strcasecmp(k, name)) {
    def = d;
    name = k;
  }
  size_t i;
  json_array_foreach(c->var_copies, i, d) {
    const char *n = json_string_value(obj_get_ci(d, "name"));
    if (n && !strcasecmp(n, name)) {
      copy = d;
      name = n;
      break;
    }
  }
  if (!def && !copy)
    return fail(c,
                "The template variable '%s' is not found. Please see "
                "https://aka.ms/arm-template/#variables for usage details",
                name);
  if (json_object_get(c->var_busy, name))
    return fail(c, "The template variable '%s' refers to itself", name);
  char what[300], where[300];
  snprintf(what, sizeof what, "variable '%s'", name);
  if (copy)
    snprintf(where, sizeof where, "variables.copy[%zu]", i);
  else
    snprintf(where, sizeof where, "variables.%s", name);
  saved s;
  json_object_set_new(c->var_busy, name, json_true());
  enter(c, &s, PH_LOAD, what, where);
  json_t *val = NULL;
  if (def)
    val = eval_value(c, def);
  else {
    long long n;
    json_t *input = obj_get_ci(copy, "input");
    if (!input)
      fail(c, "The copy of variable '%s' must have 'input'", name);
    else if (!eval_count(c, obj_get_ci(copy, "count"), &n) && !push_frame(c, name, FR_VARIABLE)) {
      val = json_array();
      path_key(c, "input");
      for (long long j = 0; j < n; j++) {
        c->frames[c->nframes - 1].index = (int)j;
        json_t *x = eval_value(c, input);
        if (!x) {
          json_decref(val);
          val = NULL;
          break;
        }
        json_array_append_new(val, x);
      }
    }
  }
  leave(c, &s);
  json_object_del(c->var_busy, name);
  if (!val) return NULL;
  json_object_set_new(c->vars, name, val);
  return val;
}

/* ---- resources ---- */

static int add_dep(res *r, int d) {
  for (int i = 0; i < r->ndeps; i++)
    if (r->deps[i] == d) return 0;
  r->deps = realloc(r->deps, sizeof *r->deps * (r->ndeps + 1));
  r->deps[r->ndeps++] = d;
  return 0;
}

/* The "type/name" form of an id: what follows its last "/providers/". */
static const char *type_name_form(const char *id) {
  const char *p = NULL, *q = id;
  while ((q = strcasestr(q, "/providers/")))
    p = q += 1;
  if (p) return p + strlen("providers/");
  q = strcasestr(id, "/resourceGroups/");
  return q ? id : id;
}

/* The resources of the template a dependsOn (or reference) string names:
 * a copy loop's name (all its copies), a full id, "type/name", or a name.
 * Returns how many (their indexes in *out, caller frees). */
static int resolve_name(tpl_ctx *c, const char *s, int **out) {
  int n = 0;
  *out = NULL;
  for (int pass = 0; pass < 4 && !n; pass++)
    for (int i = 0; i < c->nres; i++) {
      res *r = &c->res[i];
      int hit = 0;
      if (pass == 0) hit = r->loop && !strcasecmp(r->loop, s);
      if (pass == 1) hit = !strcasecmp(r->id, s);
      if (pass == 2) {
        char tn[1024];
        snprintf(tn, sizeof tn, "%s", type_name_form(r->id));
        if (!strcasecmp(r->type, "Microsoft.Resources/resourceGroups"))
          snprintf(tn, sizeof tn, "%s/%s", r->type, r->name);
        hit = !strcasecmp(tn, s);
      }
      if (pass == 3) hit = !strcasecmp(r->name, s);
      if (hit) {
        *out = realloc(*out, sizeof **out * (n + 1));
        (*out)[n++] = i;
      }
    }
  return n;
}

static char *eval_header(tpl_ctx *c, json_t *def, const char *key, int required) {
  json_t *v = obj_get_ci(def, key);
  if (!v) {
    if (required)
      fail_plain(c, "Required property '%s' not found in JSON. Path '%s'", key, c->path);
    return NULL;
  }
  size_t plen = strlen(c->path);
  path_key(c, key);
  json_t *r = eval_value(c, v);
  char *s = NULL;
  if (r && !json_is_string(r))
    fail(c, "The resource's '%s' must be a string, not '%s'", key, type_name(r));
  else if (r)
    s = strdup(json_string_value(r));
  json_decref(r);
  if (s) c->path[plen] = 0;
  return s;
}

static int expand_list(tpl_ctx *c, json_t *arr, int parent);

static int expand_one(tpl_ctx *c, json_t *def, int parent, const char *loop) {
  int included = parent < 0 || c->res[parent].included;
  json_t *cond = obj_get_ci(def, "condition");
  size_t plen = strlen(c->path);
  if (cond) {
    path_key(c, "condition");
    json_t *v = eval_value(c, cond);
    if (!v) return -1;
    if (!json_is_boolean(v)) {
      fail(c, "The condition must be a boolean, not '%s'", type_name(v));
      json_decref(v);
      return -1;
    }
    if (json_is_false(v)) included = 0;
    json_decref(v);
    c->path[plen] = 0;
  }
  char *name = eval_header(c, def, "name", 1), *type = name ? eval_header(c, def, "type", 1) : NULL;
  char *api = type ? eval_header(c, def, "apiVersion", 1) : NULL;
  if (!api) {
    free(name);
    free(type);
    return -1;
  }
  if (parent >= 0 && !strchr(type, '/')) {
    /* A child: its short type and name join its parent's. */
    char *t, *n;
    if (asprintf(&t, "%s/%s", c->res[parent].type, type) < 0 ||
        asprintf(&n, "%s/%s", c->res[parent].name, name) < 0)
      abort();
    free(type);
    free(name);
    type = t;
    name = n;
  }
  /* Where it lives: the resource's own subscriptionId / resourceGroup. */
  char *sub = eval_header(c, def, "subscriptionId", 0),
       *rg = eval_header(c, def, "resourceGroup", 0);
  if (c->failed) {
    free(name), free(type), free(api), free(sub), free(rg);
    return -1;
  }
  const char *s = sub ? sub : c->env->subscription_id;
  const char *g = rg ? rg : c->env->resource_group;
  char prefix[512], *id = NULL;
  if (g)
    snprintf(prefix, sizeof prefix, "/subscriptions/%s/resourceGroups/%s", s, g);
  else
    snprintf(prefix, sizeof prefix, "/subscriptions/%s", s);
  json_t *nj = json_string(name);
  char *tp = type_names_path(type, &nj, 1);
  json_decref(nj);
  if (!strcasecmp(type, "Microsoft.Resources/resourceGroups") && !strchr(name, '/')) {
    if (asprintf(&id, "/subscriptions/%s/resourceGroups/%s", s, name) < 0) abort();
  } else if (tp) {
    if (asprintf(&id, "%s/providers/%s", prefix, tp) < 0) abort();
  }
  free(tp);
  free(sub);
  free(rg);
  if (!id) {
    fail_plain(c,
               "The template resource '%s' for type '%s' at '%s' has incorrect segment lengths. "
               "A nested resource type must have identical number of segments as its resource "
               "name. A root resource type must have segment length one greater than its "
               "resource name",
               name, type, c->path);
    free(name), free(type), free(api);
    return -1;
  }
  if (c->nres == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 16;
    c->res = realloc(c->res, sizeof *c->res * c->cap);
  }
  int me = c->nres++;
  res *r = &c->res[me];
  memset(r, 0, sizeof *r);
  r->def = def;
  r->path = strdup(c->path);
  r->id = id;
  r->type = type;
  r->name = name;
  r->api = api;
  r->loop = loop ? strdup(loop) : NULL;
  r->symbol = strdup(loop ? loop
                     : json_string_value(obj_get_ci(def, "name"))
                         ? json_string_value(obj_get_ci(def, "name"))
                         : name);
  r->parent = parent;
  r->included = included;
  r->nframes = c->nframes;
  memcpy(r->frames, c->frames, sizeof r->frames);
  if (parent >= 0) add_dep(r, parent);
  json_t *children = obj_get_ci(def, "resources");
  if (json_is_array(children)) {
    path_key(c, "resources");
    if (expand_list(c, children, me)) return -1;
    c->path[plen] = 0;
  }
  return 0;
}

static int expand_list(tpl_ctx *c, json_t *arr, int parent) {
  size_t i, plen = strlen(c->path);
  json_t *def;
  json_array_foreach(arr, i, def) {
    c->path[plen] = 0;
    path_idx(c, i);
    if (!json_is_object(def)) {
      fail_plain(c, "The template resource at '%s' must be an object", c->path);
      return -1;
    }
    snprintf(c->what, sizeof c->what, "resource '%s'",
             json_is_string(obj_get_ci(def, "name")) ? json_string_value(obj_get_ci(def, "name"))
                                                     : "");
    json_t *copy = obj_get_ci(def, "copy");
    if (!copy) {
      if (expand_one(c, def, parent, NULL)) return -1;
      continue;
    }
    size_t rlen = strlen(c->path);
    path_key(c, "copy");
    const char *loop = json_string_value(obj_get_ci(copy, "name"));
    long long n;
    if (!json_is_object(copy) || !loop) {
      fail_plain(c, "The copy of the template resource at '%s' must have a 'name'", c->path);
      return -1;
    }
    path_key(c, "count");
    if (eval_count(c, obj_get_ci(copy, "count"), &n)) return -1;
    c->path[rlen] = 0;
    /* Serial mode: each batch of batchSize copies waits for the one before
     * (as dependencies, so tpl_order and depends_on carry it). */
    long long batch = 0;
    const char *mode = json_string_value(obj_get_ci(copy, "mode"));
    if (mode && !strcasecmp(mode, "serial")) {
      json_t *bs = obj_get_ci(copy, "batchSize");
      batch = 1;
      if (bs) {
        path_key(c, "batchSize");
        if (eval_count(c, bs, &batch)) return -1;
        c->path[rlen] = 0;
        if (batch < 1) batch = 1;
      }
    }
    if (push_frame(c, loop, FR_RESOURCE)) return -1;
    int *copies = calloc(n + 1, sizeof *copies);
    for (long long k = 0; k < n; k++) {
      c->frames[c->nframes - 1].index = (int)k;
      copies[k] = c->nres;
      if (expand_one(c, def, parent, loop)) {
        free(copies);
        return -1;
      }
      if (batch && k >= batch)
        for (long long j = (k / batch - 1) * batch; j < (k / batch) * batch; j++)
          add_dep(&c->res[copies[k]], copies[j]);
    }
    free(copies);
    c->nframes--;
  }
  c->path[plen] = 0;
  return 0;
}

/* The resources a reference()/list*() inside a string names, when its
 * first argument can be known at load: implicit dependencies. */
static void scan_refs(tpl_ctx *c, tnode *t, res *r) {
  if (!t) return;
  if (t->kind == T_CALL && t->nargs > 0 &&
      (!strcasecmp(t->str, "reference") || !strncasecmp(t->str, "list", 4))) {
    json_t *v = eval_node(c, t->args[0]);
    if (v && json_is_string(v)) {
      int *ix, k = resolve_name(c, json_string_value(v), &ix);
      for (int i = 0; i < k; i++)
        if (&c->res[ix[i]] != r) add_dep(r, ix[i]);
      free(ix);
    }
    json_decref(v);
    c->failed = 0;
    c->passthrough = 0;
  }
  for (int i = 0; i < t->nargs; i++)
    scan_refs(c, t->args[i], r);
  scan_refs(c, t->base, r);
  scan_refs(c, t->index, r);
}
static void scan_value(tpl_ctx *c, json_t *v, res *r) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n > 2 && s[0] == '[' && s[1] != '[' && s[n - 1] == ']' && strcasestr(s, "(")) {
      tnode *t = parse_expression(c, s + 1, n - 2);
      scan_refs(c, t, r);
      node_free(t);
      c->failed = 0;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) scan_value(c, e, r);
  } else if (json_is_object(v)) {
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) if (strcmp(k, "resources") && strcmp(k, "dependsOn"))
        scan_value(c, e, r);
  }
}

static int resolve_deps(tpl_ctx *c) {
  for (int i = 0; i < c->nres; i++) {
    res *r = &c->res[i];
    json_t *deps = obj_get_ci(r->def, "dependsOn");
    snprintf(c->path, sizeof c->path, "%s.dependsOn", r->path);
    snprintf(c->what, sizeof c->what, "resource '%s'", r->name);
    c->nframes = r->nframes;
    memcpy(c->frames, r->frames, sizeof c->frames);
    if (deps && !json_is_array(deps)) {
      fail_plain(c, "The dependsOn of the template resource '%s' at '%s' must be an array", r->name,
                 c->path);
      return -1;
    }
    size_t k;
    json_t *d;
    json_array_foreach(deps, k, d) {
      json_t *v = eval_value(c, d);
      if (!v) return -1;
      if (!json_is_string(v)) {
        fail(c, "A dependsOn entry must be a string, not '%s'", type_name(v));
        json_decref(v);
        return -1;
      }
      int *ix, n = resolve_name(c, json_string_value(v), &ix);
      if (!n) {
        fail_plain(c,
                   "The resource '%s' is not defined in the template. Please see "
                   "https://aka.ms/arm-syntax for usage details",
                   json_string_value(v));
        json_decref(v);
        return -1;
      }
      for (int j = 0; j < n; j++)
        if (ix[j] != i) add_dep(r, ix[j]);
      free(ix);
      json_decref(v);
    }
    /* The implicit dependencies of reference() in the body. */
    const char *key;
    json_t *e;
    json_object_foreach(r->def, key, e) if (strcasecmp(key, "resources") &&
                                            strcasecmp(key, "dependsOn") && strcasecmp(key, "copy"))
        scan_value(c, e, r);
  }
  return 0;
}

/* The public view: included resources, their dependencies (on included
 * ones) and an order; a cycle fails. */
static int publish(tpl_ctx *c) {
  c->pub = calloc(c->nres + 1, sizeof *c->pub);
  c->order = calloc(c->nres + 1, sizeof *c->order);
  for (int i = 0; i < c->nres; i++) {
    res *r = &c->res[i];
    r->pub = -1;
    if (!r->included) continue;
    for (int j = 0; j < c->npub; j++)
      if (!strcasecmp(c->pub[j].id, r->id)) {
        fail_plain(c,
                   "The resource '%s' at '%s' is defined multiple times in a template. Please "
                   "see https://aka.ms/arm-template/#resources for usage details",
                   r->id, r->path);
        return -1;
      }
    r->pub = c->npub;
    c->pub[c->npub++] = (tpl_resource){
        .id = r->id, .type = r->type, .name = r->name, .api_version = r->api, .symbol = r->symbol};
  }
  for (int i = 0; i < c->nres; i++) {
    res *r = &c->res[i];
    if (r->pub < 0) continue;
    int *d = calloc(r->ndeps + 1, sizeof *d), nd = 0;
    for (int k = 0; k < r->ndeps; k++)
      if (c->res[r->deps[k]].pub >= 0) d[nd++] = c->res[r->deps[k]].pub;
    c->pub[r->pub].depends_on = d;
    c->pub[r->pub].ndepends = nd;
  }
  /* Kahn's algorithm, always taking the first ready resource in template
   * order, so independent resources keep their order. */
  char *placed = calloc(c->npub + 1, 1);
  for (int n = 0; n < c->npub; n++) {
    int pick = -1;
    for (int i = 0; i < c->npub && pick < 0; i++) {
      if (placed[i]) continue;
      int ready = 1;
      for (int k = 0; k < c->pub[i].ndepends; k++)
        if (!placed[c->pub[i].depends_on[k]]) ready = 0;
      if (ready) pick = i;
    }
    if (pick < 0) {
      int i = 0;
      while (placed[i])
        i++;
      free(placed);
      fail_plain(c,
                 "Circular dependency detected on resource: '%s'. Please see "
                 "https://aka.ms/arm-template/#resources for usage details",
                 c->pub[i].id);
      return -1;
    }
    placed[pick] = 1;
    c->order[n] = pick;
  }
  free(placed);
  return 0;
}

/* ---- the interface ---- */

tpl_ctx *tpl_load(json_t *template, json_t *parameters, const tpl_env *env, tpl_error *err) {
  tpl_ctx *c = calloc(1, sizeof *c);
  c->env = env;
  c->tpl = json_incref(template);
  c->given = json_incref(parameters);
  c->params = json_object();
  c->param_busy = json_object();
  c->vars = json_object();
  c->var_busy = json_object();
  c->var_copies = json_array();
  c->phase = PH_LOAD;
  snprintf(c->what, sizeof c->what, "template");
  if (!json_is_object(template)) {
    fail_plain(c, "The template must be a JSON object");
    goto bad;
  }
  json_t *resources = json_object_get(template, "resources");
  if (resources && !json_is_array(resources)) {
    fail_plain(c, "The template's 'resources' must be an array: symbolic names "
                  "(languageVersion 2.0) are not supported");
    goto bad;
  }
  json_t *defs = json_object_get(template, "parameters");
  const char *k;
  json_t *v;
  json_object_foreach(parameters, k, v) if (!obj_get_ci(defs, k)) {
    sbuf names = {0};
    const char *pk;
    json_t *pv;
    sb_add(&names, "");
    json_object_foreach(defs, pk, pv) {
      if (names.n) sb_add(&names, ", ");
      sb_add(&names, pk);
    }
    fail_plain(c,
               "The template parameters '%s' in the parameters file are not valid; they are not "
               "present in the original template and can therefore not be provided at "
               "deployment time. The only supported parameters for this template are '%s'",
               k, names.p);
    free(names.p);
    goto bad;
  }
  json_object_foreach(defs, k, v) if (!param_get(c, k)) goto bad;
  json_t *vars = json_object_get(template, "variables"), *copies = json_object_get(vars, "copy");
  if (json_is_array(copies)) json_array_extend(c->var_copies, copies);
  json_object_foreach(vars, k, v) if (strcmp(k, "copy") && !var_get(c, k)) goto bad;
  size_t i;
  json_array_foreach(c->var_copies, i, v) {
    const char *n = json_string_value(obj_get_ci(v, "name"));
    if (!n) {
      fail_plain(c, "The variable copy at 'variables.copy[%zu]' must have a 'name'", i);
      goto bad;
    }
    if (!var_get(c, n)) goto bad;
  }
  snprintf(c->path, sizeof c->path, "resources");
  if (resources && expand_list(c, resources, -1)) goto bad;
  if (resolve_deps(c) || publish(c)) goto bad;
  c->nframes = 0;
  c->path[0] = 0;
  return c;
bad:
  report(c, err);
  tpl_free(c);
  return NULL;
}

void tpl_free(tpl_ctx *c) {
  if (!c) return;
  for (int i = 0; i < c->nres; i++) {
    res *r = &c->res[i];
    free(r->path), free(r->id), free(r->type), free(r->name), free(r->api);
    free(r->symbol), free(r->loop), free(r->deps);
  }
  for (int i = 0; i < c->npub; i++)
    free((void *)c->pub[i].depends_on);
  free(c->res);
  free(c->pub);
  free(c->order);
  json_decref(c->tpl);
  json_decref(c->given);
  json_decref(c->params);
  json_decref(c->param_busy);
  json_decref(c->vars);
  json_decref(c->var_busy);
  json_decref(c->var_copies);
  free(c);
}

int tpl_resource_count(tpl_ctx *c) {
  return c->npub;
}

const tpl_resource *tpl_resource_at(tpl_ctx *c, int i) {
  return i >= 0 && i < c->npub ? &c->pub[i] : NULL;
}

const int *tpl_order(tpl_ctx *c) {
  return c->order;
}

static void reset(tpl_ctx *c, int phase) {
  c->failed = c->passthrough = 0;
  c->phase = phase;
  c->nframes = 0;
  c->path[0] = 0;
  c->body_id = NULL;
}

static const char *const header_keys[] = {
    "name",      "type",     "apiVersion", "dependsOn",      "copy",
    "condition", "comments", "resources",  "subscriptionId", "resourceGroup"};

json_t *tpl_resource_body(tpl_ctx *c, int i, tpl_error *err) {
  res *r = NULL;
  for (int k = 0; k < c->nres; k++)
    if (c->res[k].pub == i) r = &c->res[k];
  if (!r) {
    snprintf(err->code, sizeof err->code, "InvalidTemplate");
    snprintf(err->message, sizeof err->message, "No resource %d in the template", i);
    return NULL;
  }
  reset(c, PH_BODY);
  c->body_id = r->id;
  c->nframes = r->nframes;
  memcpy(c->frames, r->frames, sizeof c->frames);
  snprintf(c->what, sizeof c->what, "resource '%s'", r->name);
  json_t *body = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(r->def, k, v) {
    int skip = 0;
    for (size_t h = 0; h < sizeof header_keys / sizeof *header_keys; h++)
      if (!strcasecmp(k, header_keys[h])) skip = 1;
    if (skip) continue;
    snprintf(c->path, sizeof c->path, "%s.%s", r->path, k);
    json_t *x;
    /* A nested deployment in the inner scope evaluates its own template. */
    json_t *scope = json_object_get(json_object_get(v, "expressionEvaluationOptions"), "scope");
    if (!strcasecmp(k, "properties") && !strcasecmp(r->type, "Microsoft.Resources/deployments") &&
        json_is_string(scope) && !strcasecmp(json_string_value(scope), "inner")) {
      json_t *tpl = json_object_get(v, "template"), *copy = json_deep_copy(v);
      json_object_del(copy, "template");
      x = eval_value(c, copy);
      json_decref(copy);
      if (x && tpl) json_object_set(x, "template", tpl);
    } else
      x = eval_value(c, v);
    if (!x) {
      json_decref(body);
      report(c, err);
      return NULL;
    }
    json_object_set_new(body, k, x);
  }
  return body;
}

json_t *tpl_outputs(tpl_ctx *c, tpl_error *err) {
  reset(c, PH_OUTPUT);
  json_t *outs = json_object(), *defs = json_object_get(c->tpl, "outputs");
  const char *k;
  json_t *def;
  json_object_foreach(defs, k, def) {
    snprintf(c->what, sizeof c->what, "output '%s'", k);
    snprintf(c->path, sizeof c->path, "outputs.%s", k);
    c->nframes = 0;
    const char *disp = type_display(json_string_value(obj_get_ci(def, "type")));
    json_t *cond = obj_get_ci(def, "condition"), *copy = obj_get_ci(def, "copy"), *val = NULL;
    if (!disp) {
      fail_plain(c, "The template output '%s' has no valid type", k);
      goto bad;
    }
    if (cond) {
      path_key(c, "condition");
      json_t *cv = eval_value(c, cond);
      if (!cv) goto bad;
      int skip = !json_is_true(cv);
      json_decref(cv);
      snprintf(c->path, sizeof c->path, "outputs.%s", k);
      if (skip) continue;
    }
    if (copy) {
      long long n;
      path_key(c, "copy.count");
      if (eval_count(c, obj_get_ci(copy, "count"), &n)) goto bad;
      snprintf(c->path, sizeof c->path, "outputs.%s.copy.input", k);
      push_frame(c, NULL, FR_OUTPUT);
      val = json_array();
      for (long long j = 0; j < n; j++) {
        c->frames[0].index = (int)j;
        json_t *x = eval_value(c, obj_get_ci(copy, "input"));
        if (!x) {
          json_decref(val);
          goto bad;
        }
        json_array_append_new(val, x);
      }
    } else {
      path_key(c, "value");
      if (!(val = eval_value(c, obj_get_ci(def, "value") ?: json_null()))) goto bad;
    }
    if (!type_matches(disp, val)) {
      fail_plain(c,
                 "The template output '%s' is not valid: Template output JToken type is not "
                 "valid. Expected '%s'. Actual '%s'",
                 k, disp, type_name(val));
      json_decref(val);
      goto bad;
    }
    json_t *o = json_pack("{s:s}", "type", disp);
    /* Secure outputs are reported without their value, as ARM does. */
    if (strncmp(disp, "Secure", 6))
      json_object_set_new(o, "value", val);
    else
      json_decref(val);
    json_object_set_new(outs, k, o);
  }
  return outs;
bad:
  json_decref(outs);
  report(c, err);
  return NULL;
}

json_t *tpl_eval(tpl_ctx *c, const char *s, tpl_error *err) {
  reset(c, PH_OUTPUT);
  snprintf(c->what, sizeof c->what, "expression");
  snprintf(c->path, sizeof c->path, "expression");
  json_t *r = eval_string(c, s);
  if (!r) report(c, err);
  return r;
}
