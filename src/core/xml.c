/* xml.c: the XML writer (escaping into a growable buffer) and the expat-based reader
 * that turns a small request body into a tree allocated from one arena.
 */
#include "xml.h"

#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ------------------------------------------------------------------------ */

void xmlw_init(xmlw *w) {
  memset(w, 0, sizeof(*w));
}

/* Makes room for n more bytes and the NUL; 0 if writing has failed. */
static int reserve(xmlw *w, size_t n) {
  if (w->failed) return 0;
  if (w->len + n + 1 > w->cap) {
    size_t cap = w->cap ? w->cap : 1024;
    while (cap < w->len + n + 1)
      cap *= 2;
    char *p = realloc(w->buf, cap);
    if (!p) {
      w->failed = 1;
      return 0;
    }
    w->buf = p;
    w->cap = cap;
  }
  return 1;
}

static void put(xmlw *w, const char *s, size_t n) {
  if (!reserve(w, n)) return;
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

static void puts_(xmlw *w, const char *s) {
  put(w, s, strlen(s));
}

/* Ends a start tag left open for attributes, now that content follows. */
static void end_start_tag(xmlw *w) {
  if (w->tag_open) {
    put(w, ">", 1);
    w->tag_open = 0;
  }
}

/* The length of the valid UTF-8 sequence of a character allowed in XML 1.0 at s, or 0.
 * Control characters other than tab, newline and carriage return are not allowed, nor
 * surrogates, U+FFFE and U+FFFF. */
static size_t xml_char_len(const unsigned char *s, size_t avail) {
  unsigned c = s[0];
  if (c < 0x80) return c >= 0x20 || c == '\t' || c == '\n' || c == '\r' ? 1 : 0;
  size_t n;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (avail < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
      cp == 0xffff)
    return 0;
  return n;
}

/* Escapes markup characters; in attribute values also quotes and the whitespace that
 * attribute normalization would otherwise turn into spaces. */
static void put_escaped(xmlw *w, const char *s, size_t len, int attr) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0;
  while (i < len) {
    const char *rep = NULL;
    size_t n = xml_char_len(p + i, len - i);
    if (n == 0)
      rep = "\xef\xbf\xbd";
    else if (p[i] == '&')
      rep = "&amp;";
    else if (p[i] == '<')
      rep = "&lt;";
    else if (p[i] == '>')
      rep = "&gt;";
    else if (p[i] == '\r')
      rep = "&#xD;";
    else if (attr && p[i] == '"')
      rep = "&quot;";
    else if (attr && p[i] == '\n')
      rep = "&#xA;";
    else if (attr && p[i] == '\t')
      rep = "&#x9;";
    if (!rep) {
      i += n;
      continue;
    }
    put(w, s + run, i - run);
    puts_(w, rep);
    i += n ? n : 1;
    run = i;
  }
  put(w, s + run, len - run);
}

void xmlw_prolog(xmlw *w) {
  puts_(w, XML_PROLOG);
}

void xmlw_open(xmlw *w, const char *name) {
  end_start_tag(w);
  if (w->depth >= XMLW_MAX_DEPTH) {
    w->failed = 1;
    return;
  }
  put(w, "<", 1);
  w->name_at[w->depth] = w->len;
  w->name_len[w->depth] = strlen(name);
  w->depth++;
  puts_(w, name);
  w->tag_open = 1;
}

void xmlw_attr(xmlw *w, const char *name, const char *value) {
  if (!w->tag_open) {
    w->failed = 1;
    return;
  }
  put(w, " ", 1);
  puts_(w, name);
  put(w, "=\"", 2);
  if (value) put_escaped(w, value, strlen(value), 1);
  put(w, "\"", 1);
}

void xmlw_textn(xmlw *w, const char *text, size_t len) {
  if (!text || len == 0) return;
  end_start_tag(w);
  put_escaped(w, text, len, 0);
}

void xmlw_text(xmlw *w, const char *text) {
  if (text) xmlw_textn(w, text, strlen(text));
}

void xmlw_close(xmlw *w) {
  if (w->depth == 0) {
    w->failed = 1;
    return;
  }
  w->depth--;
  if (w->tag_open) {
    put(w, " />", 3);
    w->tag_open = 0;
    return;
  }
  /* The end tag's name is copied from the start tag's, after making room so that the
   * buffer does not move under the copy. */
  size_t at = w->name_at[w->depth], n = w->name_len[w->depth];
  if (!reserve(w, n + 3)) return;
  char *end = w->buf + w->len;
  end[0] = '<';
  end[1] = '/';
  memcpy(end + 2, w->buf + at, n);
  end[n + 2] = '>';
  w->len += n + 3;
  w->buf[w->len] = '\0';
}

void xmlw_elem(xmlw *w, const char *name, const char *text) {
  xmlw_open(w, name);
  if (text) xmlw_text(w, text);
  xmlw_close(w);
}

void xmlw_elemf(xmlw *w, const char *name, const char *fmt, ...) {
  char *text = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&text, fmt, ap);
  va_end(ap);
  if (n < 0) {
    w->failed = 1;
    return;
  }
  xmlw_open(w, name);
  xmlw_textn(w, text, (size_t)n);
  xmlw_close(w);
  free(text);
}

char *xmlw_finish(xmlw *w, size_t *len) {
  while (w->depth > 0 && !w->failed)
    xmlw_close(w);
  /* An empty document is "", not NULL. */
  if (!w->failed && !w->buf && !(w->buf = calloc(1, 1))) w->failed = 1;
  char *doc = w->failed ? NULL : w->buf;
  if (len) *len = doc ? w->len : 0;
  if (!doc) free(w->buf);
  xmlw_init(w);
  return doc;
}

void xmlw_free(xmlw *w) {
  free(w->buf);
  xmlw_init(w);
}

/* ---- reader ------------------------------------------------------------------------ */

/* Nodes, names and texts come from one arena, so a tree is freed in one go. */
typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
} chunk;

typedef struct doc {
  xmlr_node root; /* first, so the root's address is the document's */
  chunk *chunks;
} doc;

typedef struct parser {
  XML_Parser xp;
  doc *d;
  xmlr_node *top;                 /* innermost open element, NULL before the root */
  xmlr_node **tail;               /* where the next child of `top` links in */
  size_t text_at[XMLR_MAX_DEPTH]; /* per open element: where its text starts in `text` */
  int depth;
  long elements;
  char *text; /* character data of the open elements, innermost last */
  size_t text_len, text_cap;
  const char *error; /* set when the parse was stopped on purpose */
} parser;

static void *arena_alloc(doc *d, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  chunk *c = d->chunks;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 16384 ? n : 16384;
    c = malloc(sizeof(chunk) + cap);
    if (!c) return NULL;
    c->next = d->chunks;
    c->used = 0;
    c->cap = cap;
    d->chunks = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

static char *arena_strndup(doc *d, const char *s, size_t n) {
  char *p = arena_alloc(d, n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

static void stop(parser *p, const char *why) {
  if (!p->error) p->error = why;
  XML_StopParser(p->xp, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
  parser *p = ud;
  if (p->error) return;
  if (p->depth >= XMLR_MAX_DEPTH) {
    stop(p, "document nested too deeply");
    return;
  }
  if (++p->elements > XMLR_MAX_ELEMENTS) {
    stop(p, "too many elements");
    return;
  }
  xmlr_node *n = p->top ? arena_alloc(p->d, sizeof(*n)) : &p->d->root;
  size_t nattrs = 0;
  while (attrs[nattrs])
    nattrs++;
  const char **av = n ? arena_alloc(p->d, (nattrs + 1) * sizeof(*av)) : NULL;
  int ok = av && (n->name = arena_strndup(p->d, name, strlen(name))) != NULL;
  for (size_t i = 0; ok && i < nattrs; i++)
    ok = (av[i] = arena_strndup(p->d, attrs[i], strlen(attrs[i]))) != NULL;
  if (!ok) {
    stop(p, "out of memory");
    return;
  }
  av[nattrs] = NULL;
  n->attrs = av;
  n->text = "";
  n->text_len = 0;
  n->parent = p->top;
  n->children = n->next = NULL;
  if (p->top) *p->tail = n;
  p->text_at[p->depth] = p->text_len;
  p->depth++;
  p->top = n;
  p->tail = &n->children;
}

static void XMLCALL on_end(void *ud, const XML_Char *name) {
  parser *p = ud;
  (void)name;
  if (p->error) return;
  xmlr_node *n = p->top;
  p->depth--;
  size_t at = p->text_at[p->depth];
  if (p->text_len > at) {
    char *t = arena_strndup(p->d, p->text + at, p->text_len - at);
    if (!t) {
      stop(p, "out of memory");
      return;
    }
    n->text = t;
    n->text_len = p->text_len - at;
  }
  /* The parent's text resumes where this element's began; its next child follows n. */
  p->text_len = at;
  p->top = n->parent;
  p->tail = &n->next;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len) {
  parser *p = ud;
  if (p->error || !p->top || len <= 0) return;
  if (p->text_len + (size_t)len > p->text_cap) {
    size_t cap = p->text_cap ? p->text_cap : 1024;
    while (cap < p->text_len + (size_t)len)
      cap *= 2;
    char *t = realloc(p->text, cap);
    if (!t) {
      stop(p, "out of memory");
      return;
    }
    p->text = t;
    p->text_cap = cap;
  }
  memcpy(p->text + p->text_len, s, (size_t)len);
  p->text_len += (size_t)len;
}

/* Requests never need a DTD, and refusing one rules out entity expansion attacks. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset) {
  (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
  stop(ud, "DOCTYPE is not allowed");
}

static void free_chunks(chunk *c) {
  while (c) {
    chunk *next = c->next;
    free(c);
    c = next;
  }
}

static xmlr_node *parse_fail(parser *p, char *err, size_t errlen, const char *why) {
  if (err && errlen)
    snprintf(err, errlen, "XML line %lu, column %lu: %s",
             p->xp ? (unsigned long)XML_GetCurrentLineNumber(p->xp) : 0UL,
             p->xp ? (unsigned long)XML_GetCurrentColumnNumber(p->xp) : 0UL, why);
  if (p->xp) XML_ParserFree(p->xp);
  free(p->text);
  if (p->d) free_chunks(p->d->chunks);
  free(p->d);
  return NULL;
}

xmlr_node *xmlr_parse(const char *buf, size_t len, char *err, size_t errlen) {
  parser p;
  memset(&p, 0, sizeof(p));
  if (len > XMLR_MAX_BYTES) return parse_fail(&p, err, errlen, "document too large");
  p.d = calloc(1, sizeof(*p.d));
  if (!p.d || !(p.xp = XML_ParserCreate(NULL))) return parse_fail(&p, err, errlen, "out of memory");
  XML_SetUserData(p.xp, &p);
  XML_SetElementHandler(p.xp, on_start, on_end);
  XML_SetCharacterDataHandler(p.xp, on_text);
  XML_SetStartDoctypeDeclHandler(p.xp, on_doctype);
  if (XML_Parse(p.xp, buf ? buf : "", (int)len, XML_TRUE) != XML_STATUS_OK)
    return parse_fail(&p, err, errlen, p.error ? p.error : XML_ErrorString(XML_GetErrorCode(p.xp)));
  XML_ParserFree(p.xp);
  free(p.text);
  return &p.d->root;
}

void xmlr_free(xmlr_node *root) {
  if (!root) return;
  doc *d = (doc *)root;
  free_chunks(d->chunks);
  free(d);
}

static xmlr_node *first_named(xmlr_node *n, const char *name) {
  while (n && name && strcmp(n->name, name) != 0)
    n = n->next;
  return n;
}

xmlr_node *xmlr_child(const xmlr_node *n, const char *name) {
  return n ? first_named(n->children, name) : NULL;
}

xmlr_node *xmlr_next(const xmlr_node *n, const char *name) {
  return n ? first_named(n->next, name) : NULL;
}

const char *xmlr_text(const xmlr_node *n) {
  return n ? n->text : NULL;
}

const char *xmlr_child_text(const xmlr_node *n, const char *name) {
  return xmlr_text(xmlr_child(n, name));
}

const char *xmlr_attr(const xmlr_node *n, const char *name) {
  for (const char *const *a = n ? n->attrs : NULL; a && a[0]; a += 2)
    if (strcmp(a[0], name) == 0) return a[1];
  return NULL;
}
