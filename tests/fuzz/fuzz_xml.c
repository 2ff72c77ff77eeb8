/* fuzz_xml.c: request bodies through the XML reader (xmlr_parse: block lists,
 * ACLs, service properties and CORS rules, tags, batch and query bodies), then the
 * tree written back through the writer: whatever the reader accepted, the writer's
 * escaping must turn into a document the reader accepts again, with the same
 * number of elements. */
#include "core/xml.h"
#include "fuzz.h"

static size_t write_node(xmlw *w, const xmlr_node *n) {
  size_t count = 1;
  xmlw_open(w, n->name);
  for (const char *const *a = n->attrs; a && a[0]; a += 2)
    xmlw_attr(w, a[0], a[1]);
  xmlw_textn(w, n->text, n->text_len);
  for (const xmlr_node *c = xmlr_child(n, NULL); c; c = xmlr_next(c, NULL))
    count += write_node(w, c);
  xmlw_close(w);
  return count;
}

static size_t count_nodes(const xmlr_node *n) {
  size_t count = 1;
  for (const xmlr_node *c = n->children; c; c = c->next)
    count += count_nodes(c);
  return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  xmlr_node *root = xmlr_parse((const char *)data, size, err, sizeof err);
  if (!root) return 0;
  /* The lookups handlers use on what they parse. */
  (void)xmlr_child_text(root, "Latest");
  (void)xmlr_attr(root, "Id");
  (void)xmlr_text(xmlr_child(root, "Tag"));
  xmlw w;
  xmlw_init(&w);
  xmlw_prolog(&w);
  size_t written = write_node(&w, root);
  size_t len = 0;
  char *doc = xmlw_finish(&w, &len);
  FUZZ_ASSERT(doc != NULL);
  xmlr_node *again = xmlr_parse(doc, len, err, sizeof err);
  if (!again) fprintf(stderr, "rewritten document refused (%s):\n%s\n", err, doc);
  FUZZ_ASSERT(again != NULL);
  FUZZ_ASSERT(count_nodes(again) == written);
  xmlr_free(again);
  free(doc);
  xmlr_free(root);
  return 0;
}
