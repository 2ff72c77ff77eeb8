/* xml.h: the XML Azure Storage speaks.
 *
 * The writer builds a response body in a growable buffer and escapes everything it is
 * given, so its output is always well-formed UTF-8 (bytes that are not valid UTF-8 or
 * not allowed in XML become U+FFFD).  The reader parses a small request body (block
 * lists, ACLs, service properties, tags, query requests) with expat into a tiny tree
 * that lives until xmlr_free(); it refuses DOCTYPEs, and documents deeper, longer or
 * with more elements than the limits below.
 */
#ifndef AZLITE_XML_H
#define AZLITE_XML_H

#include <stddef.h>

#define XML_PROLOG "<?xml version=\"1.0\" encoding=\"utf-8\"?>"

#define XMLW_MAX_DEPTH 32

typedef struct xmlw {
  char *buf;
  size_t len, cap;
  int failed; /* out of memory or nesting too deep: xmlw_finish returns NULL */
  int depth;
  int tag_open; /* the innermost start tag still takes attributes */
  size_t name_at[XMLW_MAX_DEPTH], name_len[XMLW_MAX_DEPTH]; /* open names, in buf */
} xmlw;

void xmlw_init(xmlw *w);
/* Writes XML_PROLOG. */
void xmlw_prolog(xmlw *w);
/* Starts element `name` (a valid XML name; not escaped). */
void xmlw_open(xmlw *w, const char *name);
/* Adds an attribute to the element just opened (before any content). */
void xmlw_attr(xmlw *w, const char *name, const char *value);
void xmlw_text(xmlw *w, const char *text);
void xmlw_textn(xmlw *w, const char *text, size_t len);
/* Ends the innermost element: "<Name />" when it has no content. */
void xmlw_close(xmlw *w);
/* <name>text</name>; text NULL or "" gives "<name />". */
void xmlw_elem(xmlw *w, const char *name, const char *text);
void xmlw_elemf(xmlw *w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Closes what is still open and hands over the document (malloc'd, NUL-terminated,
 * length in *len if len is not NULL); NULL if writing failed.  The writer is empty
 * afterwards either way. */
char *xmlw_finish(xmlw *w, size_t *len);
/* Discards the document. */
void xmlw_free(xmlw *w);

#define XMLR_MAX_BYTES (8u << 20)
#define XMLR_MAX_DEPTH 32
#define XMLR_MAX_ELEMENTS 200000 /* a block list holds at most 50,000 blocks */

typedef struct xmlr_node {
  const char *name; /* as written, prefix included */
  const char *text; /* the character data directly inside, concatenated; "" if none */
  size_t text_len;
  const char *const *attrs; /* name, value, name, value, ..., NULL */
  struct xmlr_node *parent;
  struct xmlr_node *children; /* first child element; iterate with ->next */
  struct xmlr_node *next;
} xmlr_node;

/* Parses a whole document and returns its root element, which owns the tree (free it
 * with xmlr_free); NULL on malformed or over-limit input, with the reason in err. */
xmlr_node *xmlr_parse(const char *buf, size_t len, char *err, size_t errlen);
/* The first child element named `name` (any name if NULL); NULL if none or n is NULL. */
xmlr_node *xmlr_child(const xmlr_node *n, const char *name);
/* The next sibling element named `name` (any name if NULL). */
xmlr_node *xmlr_next(const xmlr_node *n, const char *name);
/* The node's text; NULL if n is NULL. */
const char *xmlr_text(const xmlr_node *n);
/* The text of the first child named `name`; NULL if there is none. */
const char *xmlr_child_text(const xmlr_node *n, const char *name);
/* An attribute's value; NULL if absent. */
const char *xmlr_attr(const xmlr_node *n, const char *name);
/* Frees the tree of a root returned by xmlr_parse (NULL is fine). */
void xmlr_free(xmlr_node *root);

#endif
