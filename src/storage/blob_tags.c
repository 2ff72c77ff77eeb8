/* blob_tags.c: blob index tags: Set/Get Blob Tags, x-ms-tags on uploads,
 * x-ms-if-tags conditions, and Find Blobs by Tags (service and container
 * level), with the tag expression language both share.
 *
 * Tags live in blob_tags (blob_id, key, value), indexed by (key, value), so a
 * Find whose expression pins one tag with '=' starts from the index; every
 * candidate is then checked against the whole expression in C.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/xml.h"
#include "blob.h"

#define TAG_KEY_MAX 128
#define TAG_VALUE_MAX 256
#define TAGS_BODY_MAX (64 * 1024)

/* Azure allows letters, digits, space and + - . / : = _ in keys and values. */
static int tag_char_ok(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         strchr(" +-./:=_", ch) != NULL;
}

static int tag_text_ok(const char *s) {
  for (; *s; s++)
    if (!tag_char_ok((unsigned char)*s)) return 0;
  return 1;
}

/* ---- the expression language -------------------------------------------------- */

enum tag_op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE };
enum tag_kind { N_CMP, N_AND, N_OR };

typedef struct tag_node {
  enum tag_kind kind;
  enum tag_op op;
  char *key, *value;
  struct tag_node *l, *r;
} tag_node;

struct blob_tag_expr {
  tag_node *root;
};

typedef struct parser {
  const char *s;
  size_t pos;
  int cond;
  char *err;
  size_t errlen;
  int failed;
  /* Find Blobs: the comparisons made per key (bit 1 =, 2 >/>=, 4 </<=). */
  char *keys[BLOB_MAX_TAGS + 1];
  int kinds[BLOB_MAX_TAGS + 1];
  int nkeys;
} parser;

static void p_fail(parser *p, const char *msg) {
  if (p->failed) return;
  p->failed = 1;
  snprintf(p->err, p->errlen, "Error parsing query at or near character position %zu: %s",
           p->pos + 1, msg);
}

static void p_ws(parser *p) {
  while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r' ||
         p->s[p->pos] == '\n')
    p->pos++;
}

/* Consumes a keyword (case-insensitive) that is followed by a space or '('. */
static int p_keyword(parser *p, const char *kw) {
  size_t n = strlen(kw);
  if (strncasecmp(p->s + p->pos, kw, n) != 0) return 0;
  char next = p->s[p->pos + n];
  if (next != ' ' && next != '(' && next != '\t' && next != '"') return 0;
  p->pos += n;
  return 1;
}

static void node_free(tag_node *n) {
  if (!n) return;
  node_free(n->l);
  node_free(n->r);
  free(n->key);
  free(n->value);
  free(n);
}

/* A quoted string opened by q; a doubled q is a literal q.  malloc'd. */
static char *p_quoted(parser *p, char q) {
  p->pos++;
  size_t cap = strlen(p->s + p->pos) + 1, n = 0;
  char *out = malloc(cap);
  if (!out) abort();
  for (;;) {
    char ch = p->s[p->pos];
    if (!ch) {
      free(out);
      p_fail(p, q == '\'' ? "unterminated string" : "unterminated quoted tag name");
      return NULL;
    }
    p->pos++;
    if (ch == q) {
      if (p->s[p->pos] != q) break;
      p->pos++;
    }
    out[n++] = ch;
  }
  out[n] = 0;
  return out;
}

static tag_node *p_or(parser *p);

/* Find Blobs allows several comparisons of one tag only when they make a range. */
static int p_note_key(parser *p, const char *key, enum tag_op op) {
  if (p->cond) return 0;
  int kind = op == OP_EQ ? 1 : (op == OP_GT || op == OP_GE) ? 2 : 4;
  for (int i = 0; i < p->nkeys; i++) {
    if (strcmp(p->keys[i], key) != 0) continue;
    if (kind == 1 || (p->kinds[i] & (1 | kind))) {
      p_fail(p, "can't have multiple conditions for a single tag unless they define a range");
      return -1;
    }
    p->kinds[i] |= kind;
    return 0;
  }
  if (strcmp(key, "@container") != 0) {
    int unique = 0;
    for (int i = 0; i < p->nkeys; i++)
      if (strcmp(p->keys[i], "@container") != 0) unique++;
    if (unique >= BLOB_MAX_TAGS) {
      p_fail(p, "there can be at most 10 unique tags in a query");
      return -1;
    }
  }
  if (p->nkeys > BLOB_MAX_TAGS) {
    p_fail(p, "too many conditions");
    return -1;
  }
  p->keys[p->nkeys] = strdup(key);
  p->kinds[p->nkeys++] = kind;
  return 0;
}

static tag_node *p_comparison(parser *p) {
  p_ws(p);
  char *key;
  int quoted = p->s[p->pos] == '"';
  if (quoted) {
    if (!(key = p_quoted(p, '"'))) return NULL;
  } else {
    size_t start = p->pos;
    while (p->s[p->pos] && !strchr(" \t\r\n=<>()'\"", p->s[p->pos]))
      p->pos++;
    if (p->pos == start) {
      p_fail(p, "expecting a tag name");
      return NULL;
    }
    key = strndup(p->s + start, p->pos - start);
  }
  if (key[0] == '@') {
    if (p->cond || strcmp(key, "@container") != 0) {
      p_fail(p, "unsupported parameter");
      free(key);
      return NULL;
    }
  } else if (!*key || strlen(key) > TAG_KEY_MAX) {
    p_fail(p, "tag must be between 1 and 128 characters in length");
    free(key);
    return NULL;
  } else {
    for (const char *k = key; *k; k++) {
      int ok = quoted ? tag_char_ok((unsigned char)*k)
                      : ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
                         (*k >= '0' && *k <= '9') || *k == '_');
      if (!ok) {
        p_fail(p, "character not permitted in tag name");
        free(key);
        return NULL;
      }
    }
  }
  p_ws(p);
  static const struct {
    const char *tok;
    enum tag_op op;
  } ops[] = {{"<>", OP_NE}, {">=", OP_GE}, {"<=", OP_LE}, {"=", OP_EQ}, {">", OP_GT}, {"<", OP_LT}};
  int found = -1;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strncmp(p->s + p->pos, ops[i].tok, strlen(ops[i].tok)) == 0) {
      found = (int)i;
      p->pos += strlen(ops[i].tok);
      break;
    }
  if (found < 0 || (ops[found].op == OP_NE && !p->cond)) {
    p_fail(p, "expected an operator");
    free(key);
    return NULL;
  }
  if (strcmp(key, "@container") == 0 && ops[found].op != OP_EQ) {
    p_fail(p, "@container supports only '='");
    free(key);
    return NULL;
  }
  p_ws(p);
  if (p->s[p->pos] != '\'') {
    p_fail(p, "expecting tag value");
    free(key);
    return NULL;
  }
  char *value = p_quoted(p, '\'');
  if (!value) {
    free(key);
    return NULL;
  }
  if (strlen(value) > TAG_VALUE_MAX || !tag_text_ok(value)) {
    p_fail(p, "character not permitted in tag value");
    free(key);
    free(value);
    return NULL;
  }
  if (p_note_key(p, key, ops[found].op) != 0) {
    free(key);
    free(value);
    return NULL;
  }
  tag_node *n = calloc(1, sizeof *n);
  if (!n) abort();
  n->kind = N_CMP;
  n->op = ops[found].op;
  n->key = key;
  n->value = value;
  return n;
}

static tag_node *p_primary(parser *p) {
  p_ws(p);
  if (p->s[p->pos] != '(') return p_comparison(p);
  p->pos++;
  tag_node *n = p_or(p);
  if (!n) return NULL;
  p_ws(p);
  if (p->s[p->pos] != ')') {
    p_fail(p, "expected a ')'");
    node_free(n);
    return NULL;
  }
  p->pos++;
  return n;
}

static tag_node *p_binary(parser *p, enum tag_kind kind) {
  tag_node *l = kind == N_OR ? p_binary(p, N_AND) : p_primary(p);
  while (l) {
    p_ws(p);
    if (!p_keyword(p, kind == N_OR ? "or" : "and")) break;
    if (kind == N_OR && !p->cond) {
      p_fail(p, "unexpected 'or'");
      node_free(l);
      return NULL;
    }
    tag_node *r = kind == N_OR ? p_binary(p, N_AND) : p_primary(p);
    if (!r) {
      node_free(l);
      return NULL;
    }
    tag_node *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->kind = kind;
    n->l = l;
    n->r = r;
    l = n;
  }
  return l;
}

static tag_node *p_or(parser *p) {
  return p_binary(p, N_OR);
}

blob_tag_expr *blob_tag_expr_parse(const char *s, int condition, char *err, size_t errlen) {
  parser p = {.s = s, .cond = condition, .err = err, .errlen = errlen};
  if (errlen) err[0] = 0;
  tag_node *root = p_or(&p);
  if (root) {
    p_ws(&p);
    if (p.s[p.pos]) {
      p_fail(&p, "unexpected token");
      node_free(root);
      root = NULL;
    }
  } else if (!p.failed) {
    p_fail(&p, "expected an expression");
  }
  for (int i = 0; i < p.nkeys; i++)
    free(p.keys[i]);
  if (!root) return NULL;
  blob_tag_expr *e = malloc(sizeof *e);
  if (!e) abort();
  e->root = root;
  return e;
}

void blob_tag_expr_free(blob_tag_expr *e) {
  if (!e) return;
  node_free(e->root);
  free(e);
}

static void matched_add(blob_tagset *m, const char *key, const char *value) {
  if (!m || strcmp(key, "@container") == 0) return;
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->v[i].key, key) == 0) return;
  if (m->n < BLOB_MAX_TAGS) m->v[m->n++] = (blob_tag){key, value};
}

static int node_eval(const tag_node *n, const blob_tagset *tags, const char *container,
                     blob_tagset *matched) {
  if (n->kind == N_AND) {
    blob_tagset tmp = matched ? *matched : (blob_tagset){0};
    if (!node_eval(n->l, tags, container, matched ? &tmp : NULL) ||
        !node_eval(n->r, tags, container, matched ? &tmp : NULL))
      return 0;
    if (matched) *matched = tmp;
    return 1;
  }
  if (n->kind == N_OR)
    return node_eval(n->l, tags, container, matched) || node_eval(n->r, tags, container, matched);
  const char *have = NULL;
  if (strcmp(n->key, "@container") == 0) {
    have = container;
  } else {
    for (int i = 0; i < tags->n; i++)
      if (strcmp(tags->v[i].key, n->key) == 0) have = tags->v[i].value;
  }
  /* A comparison with a tag the blob does not have is false, whatever the operator. */
  if (!have) return 0;
  int cmp = strcmp(have, n->value);
  int ok = 0;
  switch (n->op) {
  case OP_EQ:
    ok = cmp == 0;
    break;
  case OP_NE:
    ok = cmp != 0;
    break;
  case OP_GT:
    ok = cmp > 0;
    break;
  case OP_GE:
    ok = cmp >= 0;
    break;
  case OP_LT:
    ok = cmp < 0;
    break;
  case OP_LE:
    ok = cmp <= 0;
    break;
  }
  if (ok) {
    for (int i = 0; i < tags->n; i++)
      if (strcmp(tags->v[i].key, n->key) == 0) matched_add(matched, tags->v[i].key, have);
  }
  return ok;
}

int blob_tag_expr_eval(const blob_tag_expr *e, const blob_tagset *tags, const char *container,
                       blob_tagset *matched) {
  return node_eval(e->root, tags, container ? container : "", matched);
}

const char *blob_tag_expr_key(const blob_tag_expr *e, const char **value) {
  /* Walk the top-level ANDs for an equality on a real tag. */
  const tag_node *stack[64];
  int sp = 0;
  stack[sp++] = e->root;
  while (sp) {
    const tag_node *n = stack[--sp];
    if (n->kind == N_AND) {
      if (sp < 62) {
        stack[sp++] = n->r;
        stack[sp++] = n->l;
      }
    } else if (n->kind == N_CMP && n->op == OP_EQ && strcmp(n->key, "@container") != 0) {
      if (value) *value = n->value;
      return n->key;
    }
  }
  return NULL;
}

/* ---- tags on a blob -------------------------------------------------------------- */

/* Checks a whole tag set as Azure does; fails the request on a violation. */
static int tagset_check(blob_ctx *c, const blob_tagset *t, int overflow) {
  if (overflow) {
    http_fail(c->r, STORAGE_ERR_TAGS_TOO_LARGE,
              "The tags specified exceed the maximum permissible limit.");
    return -1;
  }
  for (int i = 0; i < t->n; i++) {
    size_t kl = strlen(t->v[i].key), vl = strlen(t->v[i].value);
    if (kl == 0 || kl > TAG_KEY_MAX || vl > TAG_VALUE_MAX || !tag_text_ok(t->v[i].key) ||
        !tag_text_ok(t->v[i].value)) {
      http_fail(c->r, STORAGE_ERR_INVALID_TAG,
                "The tags specified are invalid. It contains characters that are not permitted.");
      return -1;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(t->v[j].key, t->v[i].key) == 0) {
        http_fail(c->r, STORAGE_ERR_DUPLICATE_TAG_NAMES,
                  "The tags specified contain duplicate names.");
        return -1;
      }
  }
  return 0;
}

/* Decodes one x-ms-tags component ('+' is a space, as in a form). */
static char *tag_decode(blob_ctx *c, const char *s, size_t n) {
  char *tmp = strndup(s, n);
  for (char *p = tmp; *p; p++)
    if (*p == '+') *p = ' ';
  char *dec = http_url_decode(tmp, strlen(tmp));
  free(tmp);
  char *out = http_strdup(c->r, dec);
  free(dec);
  return out;
}

int blob_tags_from_header(blob_ctx *c, blob_tagset *out, int *present) {
  out->n = 0;
  const char *h = http_header_get(c->r, "x-ms-tags");
  *present = h != NULL;
  if (!h) return 0;
  int overflow = 0;
  for (const char *p = h; *p;) {
    size_t n = strcspn(p, "&");
    if (n > 0) {
      size_t k = strcspn(p, "=");
      if (out->n == BLOB_MAX_TAGS) {
        overflow = 1;
      } else {
        blob_tag *t = &out->v[out->n++];
        t->key = tag_decode(c, p, k < n ? k : n);
        t->value = k < n ? tag_decode(c, p + k + 1, n - k - 1) : "";
      }
    }
    p += n;
    if (*p == '&') p++;
  }
  return tagset_check(c, out, overflow);
}

int blob_tags_store(blob_ctx *c, int64_t blob_id, const blob_tagset *t) {
  if (store_exec(c->s, "DELETE FROM blob_tags WHERE blob_id=%lld", (long long)blob_id) != 0)
    return -1;
  for (int i = 0; i < t->n; i++)
    if (store_exec(c->s, "INSERT INTO blob_tags(blob_id, key, value) VALUES(%lld, %Q, %Q)",
                   (long long)blob_id, t->v[i].key, t->v[i].value) != 0)
      return -1;
  return 0;
}

int blob_tags_load(blob_ctx *c, int64_t blob_id, blob_tagset *out) {
  out->n = 0;
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s), "SELECT key, value FROM blob_tags WHERE blob_id=?", -1, &q,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_int64(q, 1, blob_id);
  while (sqlite3_step(q) == SQLITE_ROW && out->n < BLOB_MAX_TAGS) {
    out->v[out->n].key = http_strdup(c->r, (const char *)sqlite3_column_text(q, 0));
    out->v[out->n].value = http_strdup(c->r, (const char *)sqlite3_column_text(q, 1));
    out->n++;
  }
  store_finalize(q);
  return 0;
}

int blob_tags_condition_check(blob_ctx *c, const char *header, int64_t blob_id) {
  const char *cond = http_header_get(c->r, header);
  if (!cond) return 0;
  char err[256];
  blob_tag_expr *e = blob_tag_expr_parse(cond, 1, err, sizeof err);
  if (!e) {
    blob_fail_header(c, header, cond);
    return -1;
  }
  blob_tagset tags = {0};
  if (blob_id && blob_tags_load(c, blob_id, &tags) != 0) {
    blob_tag_expr_free(e);
    blob_fail_internal(c, "loading tags");
    return -1;
  }
  int ok = blob_tag_expr_eval(e, &tags, NULL, NULL);
  blob_tag_expr_free(e);
  if (ok) return 0;
  http_fail(c->r, STORAGE_ERR_CONDITION_NOT_MET,
            "The condition specified using HTTP conditional header(s) is not met.");
  return -1;
}

void blob_tags_xml(xmlw *w, const blob_tagset *t) {
  xmlw_open(w, "Tags");
  xmlw_open(w, "TagSet");
  for (int i = 0; i < t->n; i++) {
    xmlw_open(w, "Tag");
    xmlw_elem(w, "Key", t->v[i].key);
    xmlw_elem(w, "Value", t->v[i].value);
    xmlw_close(w);
  }
  xmlw_close(w);
  xmlw_close(w);
}

void blob_get_tags(blob_ctx *c) {
  blob_container_row ct;
  blob_row b;
  blob_tagset t;
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    return;
  }
  int rc = -1;
  if (blob_need_container(c, &ct) == 0 && blob_need_blob(c, &ct, &b, 1) == 1 &&
      blob_lease_check_read(c, &b.lease) == 0) {
    rc = blob_tags_load(c, b.id, &t);
    if (rc != 0) blob_fail_internal(c, "loading tags");
  }
  blob_read_end(c);
  if (rc != 0) return;
  xmlw w;
  xmlw_init(&w);
  xmlw_prolog(&w);
  blob_tags_xml(&w, &t);
  blob_reply_xml(c, &w);
}

/* Parses <Tags><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tags>. */
static int tags_parse(blob_ctx *c, const char *xml, size_t len, blob_tagset *out) {
  out->n = 0;
  if (len == 0) return 0;
  char xerr[128];
  xmlr_node *root = xmlr_parse(xml, len, xerr, sizeof xerr);
  if (!root || strcmp(root->name, "Tags") != 0) {
    xmlr_free(root);
    http_fail(c->r, STORAGE_ERR_INVALID_XML_DOCUMENT, "XML specified is not syntactically valid.");
    return -1;
  }
  int overflow = 0;
  const xmlr_node *set = xmlr_child(root, "TagSet");
  for (const xmlr_node *t = xmlr_child(set, "Tag"); t; t = xmlr_next(t, "Tag")) {
    const char *k = xmlr_child_text(t, "Key"), *v = xmlr_child_text(t, "Value");
    if (!k) {
      xmlr_free(root);
      http_fail(c->r, STORAGE_ERR_INVALID_XML_DOCUMENT,
                "XML specified is not syntactically valid.");
      return -1;
    }
    if (out->n == BLOB_MAX_TAGS) {
      overflow = 1;
      continue;
    }
    out->v[out->n].key = http_strdup(c->r, k);
    out->v[out->n].value = http_strdup(c->r, v ? v : "");
    out->n++;
  }
  xmlr_free(root);
  return tagset_check(c, out, overflow);
}

void blob_set_tags(blob_ctx *c) {
  http_req *r = c->r;
  size_t len = 0;
  char *body = http_body_read_all(r, TAGS_BODY_MAX, &len);
  if (!body) return;
  const char *want = http_header_get(r, "Content-MD5");
  if (want) {
    unsigned char md5[16];
    unsigned int mdlen = 16;
    char got[25];
    EVP_Digest(body, len, md5, &mdlen, EVP_md5(), NULL);
    blob_b64_md5(md5, got);
    if (strcmp(got, want) != 0) {
      free(body);
      http_fail(r, STORAGE_ERR_MD5_MISMATCH,
                "The MD5 value specified in the request did not match with the MD5 value "
                "calculated by the server.");
      return;
    }
  }
  blob_tagset t;
  int rc = tags_parse(c, body, len, &t);
  free(body);
  if (rc != 0) return;
  blob_container_row ct;
  blob_row b;
  if (store_begin(c->s) != 0) {
    blob_fail_internal(c, "starting a transaction");
    return;
  }
  if (blob_need_container(c, &ct) != 0 || blob_need_blob(c, &ct, &b, 1) != 1 ||
      blob_lease_check_write(c, &b.lease) != 0) {
    store_rollback(c->s);
    return;
  }
  if (blob_tags_store(c, b.id, &t) != 0 || store_commit(c->s) != 0) {
    store_rollback(c->s);
    blob_fail_internal(c, "storing tags");
    return;
  }
  http_reply_empty(r, 204);
}

/* ---- Find Blobs by Tags ------------------------------------------------------------ */

void blob_find_by_tags(blob_ctx *c) {
  http_req *r = c->r;
  const char *where = http_query_get(r, "where");
  const char *marker = http_query_get(r, "marker");
  int max;
  if (!where) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_QUERY_PARAMETER,
              "A query parameter that's mandatory for this request is not specified.");
    http_fail_detail(r, "QueryParameterName", "where");
    return;
  }
  if (blob_read_maxresults(c, &max) != 0) return;
  char err[256];
  blob_tag_expr *e = blob_tag_expr_parse(where, 0, err, sizeof err);
  if (!e) {
    http_fail(r, STORAGE_ERR_INVALID_QUERY_PARAMETER_VALUE, "%s", err);
    http_fail_detail(r, "QueryParameterName", "where");
    http_fail_detail(r, "QueryParameterValue", where);
    return;
  }
  /* The marker is "<container>/<blob>": where the next page starts. */
  const char *m_ct = "", *m_blob = "";
  if (marker && *marker) {
    const char *slash = strchr(marker, '/');
    if (!slash) {
      blob_tag_expr_free(e);
      blob_fail_query(c, "marker", marker);
      return;
    }
    m_ct = http_printf(r, "%.*s", (int)(slash - marker), marker);
    m_blob = slash + 1;
  }
  const char *eq_value = NULL;
  const char *eq_key = blob_tag_expr_key(e, &eq_value);
  if (blob_read_begin(c) != 0) {
    blob_tag_expr_free(e);
    blob_fail_internal(c, "starting a read");
    return;
  }
  if (c->container) {
    blob_container_row ct;
    if (blob_need_container(c, &ct) != 0) {
      blob_read_end(c);
      blob_tag_expr_free(e);
      return;
    }
  }
  char *sql = sqlite3_mprintf(
      "SELECT b.id, ct.name, b.name FROM blobs b JOIN blob_containers ct ON ct.id=b.container_id"
      " WHERE ct.account=?1 AND b.snapshot='' AND ct.deleted_ms IS NULL"
      " AND (?2 IS NULL OR ct.name=?2)"
      " AND (ct.name, b.name) >= (?3, ?4) AND %s ORDER BY ct.name, b.name",
      eq_key ? "EXISTS(SELECT 1 FROM blob_tags t WHERE t.blob_id=b.id AND t.key=?5 AND t.value=?6)"
             : "EXISTS(SELECT 1 FROM blob_tags t WHERE t.blob_id=b.id)");
  sqlite3_stmt *q;
  int rc = store_prepare(store_db(c->s), sql, -1, &q, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) {
    blob_read_end(c);
    blob_tag_expr_free(e);
    blob_fail_internal(c, "finding blobs");
    return;
  }
  sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
  if (c->container)
    sqlite3_bind_text(q, 2, c->container, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 2);
  sqlite3_bind_text(q, 3, m_ct, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, m_blob, -1, SQLITE_STATIC);
  if (eq_key) {
    sqlite3_bind_text(q, 5, eq_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, eq_value, -1, SQLITE_STATIC);
  }
  xmlw w_;
  xmlw_init(&w_);
  xmlw_prolog(&w_);
  xmlw *w = &w_;
  xmlw_open(w, "EnumerationResults");
  xmlw_attr(w, "ServiceEndpoint", c->endpoint);
  xmlw_elem(w, "Where", where);
  xmlw_open(w, "Blobs");
  int count = 0;
  char *next = NULL;
  while (sqlite3_step(q) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(q, 0);
    const char *ctname = (const char *)sqlite3_column_text(q, 1);
    const char *name = (const char *)sqlite3_column_text(q, 2);
    blob_tagset tags, matched = {0};
    if (blob_tags_load(c, id, &tags) != 0) continue;
    if (!blob_tag_expr_eval(e, &tags, ctname, &matched)) continue;
    if (count == max) {
      next = sqlite3_mprintf("%s/%s", ctname, name);
      break;
    }
    count++;
    xmlw_open(w, "Blob");
    xmlw_elem(w, "Name", name);
    xmlw_elem(w, "ContainerName", ctname);
    blob_tags_xml(w, &matched);
    xmlw_close(w);
  }
  store_finalize(q);
  blob_read_end(c);
  blob_tag_expr_free(e);
  xmlw_close(w);
  xmlw_elem(w, "NextMarker", next);
  sqlite3_free(next);
  xmlw_close(w);
  blob_reply_xml(c, w);
}
