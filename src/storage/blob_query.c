/* blob_query.c: Query Blob (POST ?comp=query): a SQL subset over a CSV or
 * JSON-lines blob, answered as Azure answers it, an Avro object container
 * whose records are resultData (the output bytes), error (a row that could not
 * be read; the query goes on), progress and end.
 *
 * The SQL is what query acceleration takes for these formats:
 *   SELECT * | COUNT(*) | col [, col …] FROM BlobStorage [WHERE cond]
 * cond: comparisons (=, <>, !=, <, <=, >, >=) of columns and literals
 * ('text', numbers), AND, OR, NOT and parentheses.  A column is a header name
 * (HasHeaders), _N (the Nth field), or a JSON record's top-level key.  Values
 * compare as numbers when both sides read as numbers, else as text.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "../core/xml.h"
#include "blob.h"
#include "mgmt.h"

#define QB_MAX_BLOB (256ULL << 20) /* the whole blob is read into memory */
#define QB_MAX_REQUEST (64 * 1024)
#define QB_CHUNK (1 << 20) /* output bytes per resultData record */

/* ---- growable buffers and Avro ------------------------------------------------------ */

typedef struct qb_buf {
  char *p;
  size_t n, cap;
} qb_buf;

static void buf_put(qb_buf *b, const void *d, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void buf_str(qb_buf *b, const char *s) {
  buf_put(b, s, strlen(s));
}

static void avro_long(qb_buf *b, int64_t v) {
  uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
  while (z & ~0x7FULL) {
    unsigned char c = (unsigned char)((z & 0x7F) | 0x80);
    buf_put(b, &c, 1);
    z >>= 7;
  }
  unsigned char c = (unsigned char)z;
  buf_put(b, &c, 1);
}

static void avro_bytes(qb_buf *b, const void *d, size_t n) {
  avro_long(b, (int64_t)n);
  buf_put(b, d, n);
}

#define QB_NS "\"namespace\":\"com.microsoft.azure.storage.queryBlobContents\""
static const char QB_SCHEMA[] =
    "[{\"type\":\"record\",\"name\":\"resultData\"," QB_NS ","
    "\"fields\":[{\"name\":\"data\",\"type\":\"bytes\"}]},"
    "{\"type\":\"record\",\"name\":\"error\"," QB_NS ","
    "\"fields\":[{\"name\":\"fatal\",\"type\":\"boolean\"},{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"description\",\"type\":\"string\"},{\"name\":\"position\",\"type\":\"long\"}]},"
    "{\"type\":\"record\",\"name\":\"progress\"," QB_NS ","
    "\"fields\":[{\"name\":\"bytesScanned\",\"type\":\"long\"},"
    "{\"name\":\"totalBytes\",\"type\":\"long\"}]},"
    "{\"type\":\"record\",\"name\":\"end\"," QB_NS ","
    "\"fields\":[{\"name\":\"totalBytes\",\"type\":\"long\"}]}]";

/* The response: an Avro object container, one record per block. */
typedef struct qb_avro {
  qb_buf out;
  unsigned char sync[16];
} qb_avro;

static void avro_begin(qb_avro *a) {
  if (RAND_bytes(a->sync, sizeof a->sync) != 1) memset(a->sync, 0x5A, sizeof a->sync);
  buf_put(&a->out, "Obj\x01", 4);
  avro_long(&a->out, 2);
  avro_bytes(&a->out, "avro.schema", 11);
  avro_bytes(&a->out, QB_SCHEMA, sizeof QB_SCHEMA - 1);
  avro_bytes(&a->out, "avro.codec", 10);
  avro_bytes(&a->out, "null", 4);
  avro_long(&a->out, 0);
  buf_put(&a->out, a->sync, sizeof a->sync);
}

static void avro_block(qb_avro *a, const qb_buf *rec) {
  avro_long(&a->out, 1);
  avro_long(&a->out, (int64_t)rec->n);
  buf_put(&a->out, rec->p, rec->n);
  buf_put(&a->out, a->sync, sizeof a->sync);
}

static void rec_data(qb_avro *a, const char *d, size_t n) {
  qb_buf r = {0};
  avro_long(&r, 0);
  avro_bytes(&r, d, n);
  avro_block(a, &r);
  free(r.p);
}

static void rec_error(qb_avro *a, int fatal, const char *name, const char *desc, int64_t pos) {
  qb_buf r = {0};
  avro_long(&r, 1);
  unsigned char f = fatal ? 1 : 0;
  buf_put(&r, &f, 1);
  avro_bytes(&r, name, strlen(name));
  avro_bytes(&r, desc, strlen(desc));
  avro_long(&r, pos);
  avro_block(a, &r);
  free(r.p);
}

static void rec_progress(qb_avro *a, int64_t scanned, int64_t total) {
  qb_buf r = {0};
  avro_long(&r, 2);
  avro_long(&r, scanned);
  avro_long(&r, total);
  avro_block(a, &r);
  free(r.p);
}

static void rec_end(qb_avro *a, int64_t total) {
  qb_buf r = {0};
  avro_long(&r, 3);
  avro_long(&r, total);
  avro_block(a, &r);
  free(r.p);
}

/* ---- the SQL subset ----------------------------------------------------------------- */

enum qb_tok { T_END, T_IDENT, T_NUM, T_STR, T_OP, T_LP, T_RP, T_COMMA, T_STAR };

typedef struct qb_token {
  enum qb_tok t;
  char *s; /* malloc'd text (identifiers unquoted, strings unescaped) */
  int pos; /* 0-based offset in the expression */
} qb_token;

typedef struct qb_term {
  int literal; /* else a column */
  char *text;
  int numeric;
  double num;
} qb_term;

enum qb_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum qb_kind { N_OR, N_AND, N_NOT, N_CMP };

typedef struct qb_node {
  enum qb_kind kind;
  struct qb_node *a, *b;
  enum qb_op op;
  qb_term l, r;
} qb_node;

typedef struct qb_query {
  int star, count;
  char **cols;
  int ncols;
  qb_node *where;
} qb_query;

typedef struct qb_parser {
  qb_token *tok;
  int n, i;
  char err[256];
  int err_pos;
} qb_parser;

static int read_number(const char *s, double *out) {
  if (!s || !*s) return 0;
  char *end;
  double v = strtod(s, &end);
  while (*end == ' ')
    end++;
  if (*end) return 0;
  *out = v;
  return 1;
}

/* Splits the expression into tokens; -1 with the position of what is not one. */
static int lex(const char *e, qb_parser *p) {
  int cap = 16;
  p->tok = calloc((size_t)cap, sizeof *p->tok);
  for (int i = 0;;) {
    while (e[i] && isspace((unsigned char)e[i]))
      i++;
    if (p->n + 1 >= cap) {
      cap *= 2;
      p->tok = realloc(p->tok, (size_t)cap * sizeof *p->tok);
      if (!p->tok) abort();
    }
    qb_token *t = &p->tok[p->n];
    memset(t, 0, sizeof *t);
    t->pos = i;
    char c = e[i];
    if (!c) {
      t->t = T_END;
      p->n++;
      return 0;
    }
    if (isalpha((unsigned char)c) || c == '_') {
      int j = i;
      while (isalnum((unsigned char)e[j]) || e[j] == '_' || e[j] == '.')
        j++;
      t->t = T_IDENT;
      t->s = strndup(e + i, (size_t)(j - i));
      i = j;
    } else if (c == '"' || c == '[') {
      char close = c == '"' ? '"' : ']';
      const char *q = strchr(e + i + 1, close);
      if (!q) {
        snprintf(p->err, sizeof p->err, "unterminated quoted identifier");
        p->err_pos = i;
        return -1;
      }
      t->t = T_IDENT;
      t->s = strndup(e + i + 1, (size_t)(q - e - i - 1));
      i = (int)(q - e) + 1;
    } else if (isdigit((unsigned char)c) ||
               ((c == '-' || c == '.') && isdigit((unsigned char)e[i + 1]))) {
      int j = i + 1;
      while (isdigit((unsigned char)e[j]) || e[j] == '.' || e[j] == 'e' || e[j] == 'E')
        j++;
      t->t = T_NUM;
      t->s = strndup(e + i, (size_t)(j - i));
      i = j;
    } else if (c == '\'') {
      qb_buf b = {0};
      int j = i + 1;
      for (;; j++) {
        if (!e[j]) {
          free(b.p);
          snprintf(p->err, sizeof p->err, "unterminated string literal");
          p->err_pos = i;
          return -1;
        }
        if (e[j] == '\'' && e[j + 1] == '\'') {
          buf_put(&b, "'", 1);
          j++;
        } else if (e[j] == '\'') {
          break;
        } else {
          buf_put(&b, e + j, 1);
        }
      }
      t->t = T_STR;
      t->s = b.p ? b.p : strdup("");
      i = j + 1;
    } else if (strchr("=<>!", c)) {
      int two = (e[i + 1] == '=' && c != '=') || (c == '<' && e[i + 1] == '>');
      if (c == '!' && e[i + 1] != '=') {
        snprintf(p->err, sizeof p->err, "unexpected character '!'");
        p->err_pos = i;
        return -1;
      }
      t->t = T_OP;
      t->s = strndup(e + i, two ? 2 : 1);
      i += two ? 2 : 1;
    } else if (c == '(' || c == ')' || c == ',' || c == '*') {
      t->t = c == '(' ? T_LP : c == ')' ? T_RP : c == ',' ? T_COMMA : T_STAR;
      t->s = strndup(e + i, 1);
      i++;
    } else {
      snprintf(p->err, sizeof p->err, "unexpected character '%c'", c);
      p->err_pos = i;
      return -1;
    }
    p->n++;
  }
}

static qb_token *peek(qb_parser *p) {
  return &p->tok[p->i];
}

static int is_kw(const qb_token *t, const char *kw) {
  return t->t == T_IDENT && !strcasecmp(t->s, kw);
}

static void *fail_at(qb_parser *p, const char *what) {
  if (!p->err[0]) {
    qb_token *t = peek(p);
    snprintf(p->err, sizeof p->err, "%s, found %s", what,
             t->t == T_END ? "the end of the query" : t->s);
    p->err_pos = t->pos;
  }
  return NULL;
}

static int parse_term(qb_parser *p, qb_term *out) {
  qb_token *t = peek(p);
  memset(out, 0, sizeof *out);
  if (t->t == T_IDENT && !is_kw(t, "AND") && !is_kw(t, "OR") && !is_kw(t, "NOT")) {
    out->text = strdup(t->s);
  } else if (t->t == T_NUM || t->t == T_STR) {
    out->literal = 1;
    out->text = strdup(t->s);
    out->numeric = t->t == T_NUM && read_number(t->s, &out->num);
  } else {
    fail_at(p, "expected a column or a literal");
    return -1;
  }
  p->i++;
  return 0;
}

static void node_free(qb_node *n) {
  if (!n) return;
  node_free(n->a);
  node_free(n->b);
  free(n->l.text);
  free(n->r.text);
  free(n);
}

static qb_node *parse_or(qb_parser *p);

static qb_node *parse_primary(qb_parser *p) {
  if (peek(p)->t == T_LP) {
    p->i++;
    qb_node *n = parse_or(p);
    if (!n) return NULL;
    if (peek(p)->t != T_RP) {
      node_free(n);
      return fail_at(p, "expected ')'");
    }
    p->i++;
    return n;
  }
  qb_node *n = calloc(1, sizeof *n);
  n->kind = N_CMP;
  if (parse_term(p, &n->l) != 0) {
    node_free(n);
    return NULL;
  }
  qb_token *t = peek(p);
  static const char *const ops[] = {"=", "<>", "<", "<=", ">", ">=", "!="};
  static const enum qb_op codes[] = {OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_NE};
  int found = -1;
  for (int i = 0; t->t == T_OP && i < 7; i++)
    if (!strcmp(t->s, ops[i])) found = i;
  if (found < 0) {
    node_free(n);
    return fail_at(p, "expected a comparison operator");
  }
  n->op = codes[found];
  p->i++;
  if (parse_term(p, &n->r) != 0) {
    node_free(n);
    return NULL;
  }
  return n;
}

static qb_node *parse_not(qb_parser *p) {
  if (is_kw(peek(p), "NOT")) {
    p->i++;
    qb_node *a = parse_not(p);
    if (!a) return NULL;
    qb_node *n = calloc(1, sizeof *n);
    n->kind = N_NOT;
    n->a = a;
    return n;
  }
  return parse_primary(p);
}

static qb_node *parse_binary(qb_parser *p, const char *kw, enum qb_kind kind,
                             qb_node *(*sub)(qb_parser *)) {
  qb_node *l = sub(p);
  while (l && is_kw(peek(p), kw)) {
    p->i++;
    qb_node *r = sub(p);
    if (!r) {
      node_free(l);
      return NULL;
    }
    qb_node *n = calloc(1, sizeof *n);
    n->kind = kind;
    n->a = l;
    n->b = r;
    l = n;
  }
  return l;
}

static qb_node *parse_and(qb_parser *p) {
  return parse_binary(p, "AND", N_AND, parse_not);
}

static qb_node *parse_or(qb_parser *p) {
  return parse_binary(p, "OR", N_OR, parse_and);
}

static void query_free(qb_query *q) {
  for (int i = 0; i < q->ncols; i++)
    free(q->cols[i]);
  free(q->cols);
  node_free(q->where);
}

/* Parses the expression; -1 with p->err and p->err_pos on a syntax error. */
static int parse_query(const char *e, qb_parser *p, qb_query *q) {
  memset(q, 0, sizeof *q);
  if (lex(e, p) != 0) return -1;
  if (!is_kw(peek(p), "SELECT")) return fail_at(p, "expected SELECT"), -1;
  p->i++;
  if (peek(p)->t == T_STAR) {
    q->star = 1;
    p->i++;
  } else if (is_kw(peek(p), "COUNT") && p->tok[p->i + 1].t == T_LP) {
    p->i += 2;
    if (peek(p)->t != T_STAR) return fail_at(p, "expected COUNT(*)"), -1;
    p->i++;
    if (peek(p)->t != T_RP) return fail_at(p, "expected ')'"), -1;
    p->i++;
    q->count = 1;
  } else {
    for (;;) {
      qb_token *t = peek(p);
      if (t->t != T_IDENT || is_kw(t, "FROM")) return fail_at(p, "expected a column"), -1;
      q->cols = realloc(q->cols, (size_t)(q->ncols + 1) * sizeof *q->cols);
      q->cols[q->ncols++] = strdup(t->s);
      p->i++;
      if (peek(p)->t != T_COMMA) break;
      p->i++;
    }
  }
  if (!is_kw(peek(p), "FROM")) return fail_at(p, "expected FROM"), -1;
  p->i++;
  if (!is_kw(peek(p), "BlobStorage")) return fail_at(p, "expected BlobStorage"), -1;
  p->i++;
  if (is_kw(peek(p), "WHERE")) {
    p->i++;
    if (!(q->where = parse_or(p))) return -1;
  }
  if (peek(p)->t != T_END) return fail_at(p, "expected the end of the query"), -1;
  return 0;
}

static void parser_free(qb_parser *p) {
  for (int i = 0; i < p->n; i++)
    free(p->tok[i].s);
  free(p->tok);
}

/* ---- records ---------------------------------------------------------------------- */

typedef struct qb_format {
  int json; /* else delimited */
  char col_sep, quote, rec_sep, escape;
  int headers;
} qb_format;

/* One record as the query sees it: CSV fields with the header's names, or a JSON object. */
typedef struct qb_row {
  char **f;
  int n;
  json_t *obj;
} qb_row;

typedef struct qb_ctx {
  const qb_query *q;
  const qb_format *in;
  char **header;
  int nheader;
  const char *missing; /* the first column a row lacks */
} qb_ctx;

/* The value of a column in a row (NULL: absent; *owned set when the caller frees it). */
static const char *column_value(qb_ctx *x, const qb_row *row, const char *name, char **owned) {
  *owned = NULL;
  if (row->obj) {
    json_t *v = json_object_get(row->obj, name);
    if (!v || json_is_null(v)) return NULL;
    if (json_is_string(v)) return json_string_value(v);
    *owned = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return *owned;
  }
  int idx = -1;
  if (name[0] == '_' && isdigit((unsigned char)name[1])) idx = atoi(name + 1) - 1;
  for (int i = 0; idx < 0 && i < x->nheader; i++)
    if (!strcasecmp(x->header[i], name)) idx = i;
  if (idx < 0 || idx >= row->n) {
    if (!x->missing) x->missing = name;
    return NULL;
  }
  return row->f[idx];
}

static int compare(const char *v, const qb_term *t, enum qb_op op, const char *tv) {
  double a, b;
  int c;
  if (read_number(v, &a) && (t->literal ? t->numeric : read_number(tv, &b))) {
    if (t->literal) b = t->num;
    c = a < b ? -1 : a > b ? 1 : 0;
  } else {
    c = strcmp(v, tv);
  }
  switch (op) {
  case OP_EQ:
    return c == 0;
  case OP_NE:
    return c != 0;
  case OP_LT:
    return c < 0;
  case OP_LE:
    return c <= 0;
  case OP_GT:
    return c > 0;
  case OP_GE:
    return c >= 0;
  }
  return 0;
}

static int eval(qb_ctx *x, const qb_node *n, const qb_row *row) {
  switch (n->kind) {
  case N_OR:
    return eval(x, n->a, row) || eval(x, n->b, row);
  case N_AND:
    return eval(x, n->a, row) && eval(x, n->b, row);
  case N_NOT:
    return !eval(x, n->a, row);
  case N_CMP:
    break;
  }
  char *o1, *o2;
  const char *l = n->l.literal ? n->l.text : column_value(x, row, n->l.text, &o1);
  if (n->l.literal) o1 = NULL;
  const char *r = n->r.literal ? n->r.text : column_value(x, row, n->r.text, &o2);
  if (n->r.literal) o2 = NULL;
  int ok = l && r && compare(l, &n->r, n->op, r);
  free(o1);
  free(o2);
  return ok;
}

/* Reads one delimited record from s[*pos..len) into fields (malloc'd strings);
 * returns the field count, 0 at the end. */
static int csv_record(const qb_format *f, const char *s, size_t len, size_t *pos, char ***out) {
  if (*pos >= len) return 0;
  int n = 0, cap = 8;
  char **fields = malloc((size_t)cap * sizeof *fields);
  qb_buf cur = {0};
  int quoted = 0;
  size_t i = *pos;
  for (;; i++) {
    char c = i < len ? s[i] : 0;
    int end = i >= len;
    if (!end && quoted) {
      if (f->escape && c == f->escape && i + 1 < len) {
        buf_put(&cur, s + ++i, 1);
      } else if (c == f->quote && i + 1 < len && s[i + 1] == f->quote) {
        buf_put(&cur, s + i++, 1);
      } else if (c == f->quote) {
        quoted = 0;
      } else {
        buf_put(&cur, &c, 1);
      }
      continue;
    }
    if (!end && f->quote && c == f->quote && cur.n == 0) {
      quoted = 1;
      continue;
    }
    if (!end && f->escape && c == f->escape && i + 1 < len) {
      buf_put(&cur, s + ++i, 1);
      continue;
    }
    if (end || c == f->col_sep || c == f->rec_sep) {
      if (n == cap) fields = realloc(fields, (size_t)(cap *= 2) * sizeof *fields);
      if (f->rec_sep == '\n' && (end || c == '\n') && cur.n && cur.p[cur.n - 1] == '\r')
        cur.p[--cur.n] = 0;
      fields[n++] = cur.p ? cur.p : strdup("");
      memset(&cur, 0, sizeof cur);
      if (end || c == f->rec_sep) break;
      continue;
    }
    buf_put(&cur, &c, 1);
  }
  *pos = i + 1;
  *out = fields;
  return n;
}

static void fields_free(char **f, int n) {
  for (int i = 0; i < n; i++)
    free(f[i]);
  free(f);
}

static void csv_field_out(qb_buf *o, const qb_format *f, const char *v) {
  int needs = f->quote && (strchr(v, f->col_sep) || strchr(v, f->quote) || strchr(v, f->rec_sep) ||
                           strchr(v, '\n'));
  if (!needs) {
    buf_str(o, v);
    return;
  }
  buf_put(o, &f->quote, 1);
  for (const char *p = v; *p; p++) {
    if (*p == f->quote) buf_put(o, &f->quote, 1);
    buf_put(o, p, 1);
  }
  buf_put(o, &f->quote, 1);
}

/* Writes one selected row in the output format. */
static void row_out(qb_ctx *x, const qb_row *row, const qb_format *of, qb_buf *o) {
  const qb_query *q = x->q;
  if (of->json) {
    json_t *obj;
    if (q->star && row->obj) {
      obj = json_incref(row->obj);
    } else {
      obj = json_object();
      int n = q->star ? row->n : q->ncols;
      for (int i = 0; i < n; i++) {
        char *owned = NULL, nm[16];
        const char *name = q->star ? (i < x->nheader ? x->header[i] : NULL) : q->cols[i];
        if (!name) {
          snprintf(nm, sizeof nm, "_%d", i + 1);
          name = nm;
        }
        const char *v = q->star ? row->f[i] : column_value(x, row, q->cols[i], &owned);
        json_t *jv = row->obj && !q->star ? json_object_get(row->obj, q->cols[i]) : NULL;
        json_object_set_new(obj, name, jv ? json_incref(jv) : v ? json_string(v) : json_null());
        free(owned);
      }
    }
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    buf_str(o, s);
    free(s);
  } else {
    int n = q->star ? (row->obj ? (int)json_object_size(row->obj) : row->n) : q->ncols;
    const char *k;
    json_t *v;
    int i = 0;
    if (q->star && row->obj) {
      json_object_foreach(row->obj, k, v) {
        if (i++) buf_put(o, &of->col_sep, 1);
        char *t = json_is_string(v) ? strdup(json_string_value(v))
                                    : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        csv_field_out(o, of, t);
        free(t);
      }
    } else {
      for (i = 0; i < n; i++) {
        char *owned = NULL;
        const char *val = q->star ? row->f[i] : column_value(x, row, q->cols[i], &owned);
        if (i) buf_put(o, &of->col_sep, 1);
        csv_field_out(o, of, val ? val : "");
        free(owned);
      }
    }
  }
  buf_put(o, &of->rec_sep, 1);
}

/* ---- the request ---------------------------------------------------------------------- */

static char sep_of(const char *s, char dflt) {
  if (!s || !*s) return dflt;
  if (s[0] == '\\' && s[1] == 'n') return '\n';
  if (s[0] == '\\' && s[1] == 't') return '\t';
  return s[0];
}

/* Reads <InputSerialization>/<OutputSerialization>; -1 after failing the request. */
static int format_read(blob_ctx *c, const xmlr_node *ser, qb_format *f, const char *what) {
  const xmlr_node *fmt = xmlr_child(ser, "Format");
  const char *type = xmlr_child_text(fmt, "Type");
  memset(f, 0, sizeof *f);
  f->col_sep = ',';
  f->quote = '"';
  f->rec_sep = '\n';
  if (!type || !strcasecmp(type, "delimited")) {
    const xmlr_node *d = xmlr_child(fmt, "DelimitedTextConfiguration");
    if (d) {
      f->col_sep = sep_of(xmlr_child_text(d, "ColumnSeparator"), ',');
      const char *fq = xmlr_child_text(d, "FieldQuote");
      f->quote = fq ? fq[0] : '"';
      f->rec_sep = sep_of(xmlr_child_text(d, "RecordSeparator"), '\n');
      const char *ec = xmlr_child_text(d, "EscapeChar");
      f->escape = ec ? ec[0] : 0;
      const char *h = xmlr_child_text(d, "HasHeaders");
      f->headers = h && !strcasecmp(h, "true");
    }
    return 0;
  }
  if (!strcasecmp(type, "json")) {
    f->json = 1;
    const xmlr_node *j = xmlr_child(fmt, "JsonTextConfiguration");
    f->rec_sep = sep_of(j ? xmlr_child_text(j, "RecordSeparator") : NULL, '\n');
    return 0;
  }
  http_fail(c->r, STORAGE_ERR_NOT_IMPLEMENTED,
            "azlite's Query Blob reads and writes CSV and JSON; %s format %s is not served yet.",
            what, type);
  return -1;
}

void blob_query(blob_ctx *c) {
  http_req *r = c->r;
  size_t len = 0;
  char *body = http_body_read_all(r, QB_MAX_REQUEST, &len);
  if (!body) return;
  char err[128];
  xmlr_node *root = xmlr_parse(body, len, err, sizeof err);
  free(body);
  if (!root || strcmp(root->name, "QueryRequest") != 0) {
    xmlr_free(root);
    http_fail(r, STORAGE_ERR_INVALID_XML_DOCUMENT, "XML specified is not syntactically valid.");
    return;
  }
  const char *qt = xmlr_child_text(root, "QueryType");
  const char *expr = xmlr_child_text(root, "Expression");
  qb_format in, out;
  if (!qt || strcasecmp(qt, "SQL") != 0 || !expr) {
    xmlr_free(root);
    http_fail(r, STORAGE_ERR_INVALID_XML_NODE_VALUE,
              "The value for one of the XML nodes is not in the correct format.");
    return;
  }
  const xmlr_node *ins = xmlr_child(root, "InputSerialization");
  const xmlr_node *outs = xmlr_child(root, "OutputSerialization");
  if (format_read(c, ins, &in, "input") != 0 ||
      (outs ? format_read(c, outs, &out, "output") != 0 : (out = in, 0))) {
    xmlr_free(root);
    return;
  }
  qb_parser p = {0};
  qb_query q;
  if (parse_query(expr, &p, &q) != 0) {
    http_fail(r, STORAGE_ERR_INVALID_QUERY_EXPRESSION,
              "Syntax error at position %d of the query expression: %s.", p.err_pos + 1, p.err);
    http_fail_detail(r, "Position", http_printf(r, "%d", p.err_pos + 1));
    parser_free(&p);
    query_free(&q);
    xmlr_free(root);
    return;
  }
  parser_free(&p);
  xmlr_free(root);

  blob_container_row ct;
  blob_row b;
  blob_extent *ext = NULL;
  int n = 0;
  char *data = NULL;
  if (blob_read_begin(c) != 0) {
    blob_fail_internal(c, "starting a read");
    query_free(&q);
    return;
  }
  int ok = blob_need_container(c, &ct) == 0 && blob_need_blob(c, &ct, &b, 1) == 1 &&
           blob_lease_check_read(c, &b.lease) == 0 &&
           blob_conditions_check(c, 1, b.etag, b.last_modified_ms, 1) == 0 &&
           storage_tier_require_online(c, &b) == 0;
  if (ok && (uint64_t)b.size > QB_MAX_BLOB) {
    http_fail(r, STORAGE_ERR_NOT_IMPLEMENTED,
              "azlite's Query Blob reads blobs of up to %llu bytes; this one has %lld.",
              (unsigned long long)QB_MAX_BLOB, (long long)b.size);
    ok = 0;
  }
  if (ok && blob_extents_load(c, b.id, 0, (uint64_t)b.size, &ext, &n) != 0) {
    blob_fail_internal(c, "loading extents");
    ok = 0;
  }
  blob_read_end(c);
  if (ok && !(data = blob_data_read_all(c, ext, n, (uint64_t)b.size))) {
    blob_fail_internal(c, "reading the blob");
    ok = 0;
  }
  if (!ok) {
    query_free(&q);
    return;
  }

  qb_avro a = {0};
  avro_begin(&a);
  /* Progress first: readers (azure-storage-blob's) take the first record before
   * their error handler is set up. */
  rec_progress(&a, 0, (int64_t)b.size);
  qb_buf o = {0};
  qb_ctx x = {.q = &q, .in = &in};
  size_t size = (size_t)b.size, pos = 0;
  int64_t count = 0, rows = 0;
  for (;;) {
    size_t at = pos;
    qb_row row = {0};
    if (in.json) {
      if (pos >= size) break;
      const char *e = memchr(data + pos, in.rec_sep, size - pos);
      size_t l = e ? (size_t)(e - data - pos) : size - pos;
      pos += l + 1;
      size_t k = 0;
      while (k < l && isspace((unsigned char)data[at + k]))
        k++;
      if (k == l) continue;
      json_error_t je;
      row.obj = json_loadb(data + at, l, 0, &je);
      if (!json_is_object(row.obj)) {
        json_decref(row.obj);
        rec_error(&a, 0, "InvalidJsonRecord", "The record is not a JSON object.", (int64_t)at);
        continue;
      }
    } else {
      row.n = csv_record(&in, data, size, &pos, &row.f);
      if (row.n == 0) break;
      if (row.n == 1 && !row.f[0][0]) {
        fields_free(row.f, row.n);
        continue; /* an empty line */
      }
      if (in.headers && !x.header) {
        x.header = row.f;
        x.nheader = row.n;
        if (out.headers && !out.json && !q.count) {
          int nc = q.star ? x.nheader : q.ncols;
          for (int i = 0; i < nc; i++) {
            if (i) buf_put(&o, &out.col_sep, 1);
            csv_field_out(&o, &out, q.star ? x.header[i] : q.cols[i]);
          }
          buf_put(&o, &out.rec_sep, 1);
        }
        continue;
      }
    }
    rows++;
    x.missing = NULL;
    int take = !q.where || eval(&x, q.where, &row);
    for (int i = 0; !x.missing && !q.star && !q.count && i < q.ncols; i++) {
      char *owned;
      column_value(&x, &row, q.cols[i], &owned);
      free(owned);
    }
    if (x.missing && !in.json) {
      char desc[256];
      snprintf(desc, sizeof desc, "The record has no column '%s'.", x.missing);
      rec_error(&a, 0, "InvalidColumnOrdinal", desc, (int64_t)at);
    } else if (take) {
      if (q.count)
        count++;
      else
        row_out(&x, &row, &out, &o);
    }
    if (row.obj) json_decref(row.obj);
    if (row.f) fields_free(row.f, row.n);
    if (o.n >= QB_CHUNK) {
      rec_data(&a, o.p, o.n);
      o.n = 0;
      rec_progress(&a, (int64_t)(pos < size ? pos : size), (int64_t)size);
    }
  }
  if (q.count) {
    if (out.json) {
      char *s = NULL;
      if (asprintf(&s, "{\"_1\":%lld}", (long long)count) < 0) abort();
      buf_str(&o, s);
      free(s);
    } else {
      char s[32];
      snprintf(s, sizeof s, "%lld", (long long)count);
      buf_str(&o, s);
    }
    buf_put(&o, &out.rec_sep, 1);
  }
  if (o.n) rec_data(&a, o.p, o.n);
  rec_progress(&a, (int64_t)size, (int64_t)size);
  rec_end(&a, (int64_t)size);
  free(o.p);
  free(data);
  if (x.header) fields_free(x.header, x.nheader);
  query_free(&q);
  log_debug("blob: query over %lld rows of %s", (long long)rows, c->blob);
  blob_row_headers(c, &b);
  http_reply_owned(r, 200, "avro/binary", a.out.p, a.out.n);
}
