/* test_xml.c: the XML writer's output byte for byte, the reader on the bodies Azure
 * Storage requests carry, every refusal, and both under failing allocations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xml.h"
#include "unit.h"

/* Allocation failure injection, as in test_sauth.c: glibc lets the program replace
 * malloc; under valgrind its allocator wins and nothing is injected.  The replacements
 * are never inlined, so that valgrind redirects the test's own calls too. */
#include "unit_alloc.h"

static int injection_works(void) {
  void *(*volatile m)(size_t) = malloc;
  alloc_countdown = 1;
  void *p = m(16);
  alloc_countdown = 0;
  free(p);
  return p == NULL;
}

/* ---- writer ------------------------------------------------------------------------ */

static char *finish(xmlw *w) {
  return xmlw_finish(w, NULL);
}

static void test_writer_document(void) {
  xmlw w;
  xmlw_init(&w);
  xmlw_prolog(&w);
  xmlw_open(&w, "EnumerationResults");
  xmlw_attr(&w, "ServiceEndpoint", "http://127.0.0.1:10000/devstoreaccount1/");
  xmlw_attr(&w, "ContainerName", "c");
  xmlw_elem(&w, "Prefix", NULL);
  xmlw_elemf(&w, "MaxResults", "%d", 5000);
  xmlw_open(&w, "Blobs");
  xmlw_open(&w, "Blob");
  xmlw_elem(&w, "Name", "a&b <c> \"d\" 'e'");
  xmlw_open(&w, "Metadata");
  xmlw_close(&w);
  xmlw_elem(&w, "Content-MD5", "");
  xmlw_close(&w);
  xmlw_close(&w);
  xmlw_elem(&w, "NextMarker", NULL);
  size_t len = 0;
  char *doc = xmlw_finish(&w, &len);
  const char *want =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
      "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1/\" "
      "ContainerName=\"c\"><Prefix /><MaxResults>5000</MaxResults><Blobs><Blob>"
      "<Name>a&amp;b &lt;c&gt; \"d\" 'e'</Name><Metadata /><Content-MD5 /></Blob></Blobs>"
      "<NextMarker /></EnumerationResults>";
  CHECK_STR(doc, want);
  CHECK(len == strlen(want));
  free(doc);
  /* The writer is reusable after finishing. */
  CHECK(w.buf == NULL && w.len == 0 && w.depth == 0);
  xmlw_elem(&w, "A", "1");
  doc = finish(&w);
  CHECK_STR(doc, "<A>1</A>");
  free(doc);
}

static void test_writer_escaping(void) {
  xmlw w;
  xmlw_init(&w);
  xmlw_open(&w, "E");
  xmlw_attr(&w, "a", "q\"<&>\t\n\r'");
  xmlw_attr(&w, "empty", "");
  xmlw_attr(&w, "null", NULL);
  xmlw_text(&w, "tab\tnl\ncr\r<&>\"'");
  xmlw_close(&w);
  char *doc = finish(&w);
  CHECK_STR(doc, "<E a=\"q&quot;&lt;&amp;&gt;&#x9;&#xA;&#xD;'\" empty=\"\" null=\"\">"
                 "tab\tnl\ncr&#xD;&lt;&amp;&gt;\"'</E>");
  free(doc);

  /* UTF-8 passes through; what XML cannot carry becomes U+FFFD. */
  xmlw_init(&w);
  xmlw_elem(&w, "U", "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd");
  doc = finish(&w);
  CHECK_STR(doc, "<U>h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd</U>");
  free(doc);
  static const struct {
    const char *in, *out;
  } bad[] = {
      {"a\x01z", "a\xef\xbf\xbdz"},                             /* control character */
      {"\x1f", "\xef\xbf\xbd"},                                 /* control character */
      {"a\xffz", "a\xef\xbf\xbdz"},                             /* never valid */
      {"a\xc3", "a\xef\xbf\xbd"},                               /* truncated */
      {"a\xc3z", "a\xef\xbf\xbdz"},                             /* bad continuation */
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
      {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong */
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
      {"\xef\xbf\xbe", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* U+FFFE */
      {"\xef\xbf\xbf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* U+FFFF */
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
      {"\xf5\x80\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char want[64];
    xmlw_init(&w);
    xmlw_open(&w, "T");
    xmlw_attr(&w, "v", bad[i].in);
    xmlw_text(&w, bad[i].in);
    xmlw_close(&w);
    doc = finish(&w);
    snprintf(want, sizeof(want), "<T v=\"%s\">%s</T>", bad[i].out, bad[i].out);
    CHECK_STR(doc, want);
    free(doc);
  }
  /* An embedded NUL through xmlw_textn. */
  xmlw_init(&w);
  xmlw_open(&w, "N");
  xmlw_textn(&w, "a\0b", 3);
  doc = finish(&w);
  CHECK_STR(doc, "<N>a\xef\xbf\xbd"
                 "b</N>");
  free(doc);
}

static void test_writer_misuse(void) {
  xmlw w;
  size_t len = 99;

  /* Attribute after content. */
  xmlw_init(&w);
  xmlw_open(&w, "A");
  xmlw_text(&w, "x");
  xmlw_attr(&w, "late", "1");
  CHECK(xmlw_finish(&w, &len) == NULL);
  CHECK(len == 0);

  /* Close with nothing open. */
  xmlw_init(&w);
  xmlw_elem(&w, "A", "x");
  xmlw_close(&w);
  CHECK(finish(&w) == NULL);

  /* Nesting beyond the limit. */
  xmlw_init(&w);
  for (int i = 0; i < XMLW_MAX_DEPTH; i++)
    xmlw_open(&w, "D");
  CHECK(w.failed == 0);
  xmlw_open(&w, "D");
  CHECK(w.failed == 1);
  /* Once failed, everything is a no-op. */
  xmlw_text(&w, "x");
  xmlw_elemf(&w, "E", "%d", 1);
  CHECK(finish(&w) == NULL);

  /* Discarding. */
  xmlw_init(&w);
  xmlw_open(&w, "A");
  xmlw_free(&w);
  CHECK(w.buf == NULL && w.depth == 0);

  /* An empty document, and finish closing what is open. */
  xmlw_init(&w);
  char *doc = xmlw_finish(&w, &len);
  CHECK_STR(doc, "");
  CHECK(len == 0);
  free(doc);
  xmlw_init(&w);
  xmlw_open(&w, "A");
  xmlw_open(&w, "B");
  xmlw_text(&w, "t");
  xmlw_open(&w, "C");
  doc = finish(&w);
  CHECK_STR(doc, "<A><B>t<C /></B></A>");
  free(doc);
  xmlw_init(&w);
  xmlw_text(&w, NULL);
  xmlw_textn(&w, NULL, 3);
  xmlw_text(&w, "");
  doc = finish(&w);
  CHECK_STR(doc, "");
  free(doc);
}

static void test_writer_large(void) {
  /* Long names and a document that grows the buffer many times. */
  char name[300];
  memset(name, 'n', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  xmlw w;
  xmlw_init(&w);
  xmlw_open(&w, "BlockList");
  for (int i = 0; i < 50000; i++)
    xmlw_elemf(&w, "Latest", "block-%06d", i);
  xmlw_open(&w, name);
  xmlw_text(&w, "x");
  xmlw_close(&w);
  size_t len;
  char *doc = xmlw_finish(&w, &len);
  CHECK(doc != NULL);
  if (!doc) return;
  CHECK(len == strlen(doc));
  const char *head = "<BlockList><Latest>block-000000</Latest><Latest>block-000001</Latest>";
  CHECK(strncmp(doc, head, strlen(head)) == 0);
  char tail[700];
  snprintf(tail, sizeof(tail), "<Latest>block-049999</Latest><%s>x</%s></BlockList>", name, name);
  CHECK(len > strlen(tail) && strcmp(doc + len - strlen(tail), tail) == 0);

  /* And the reader takes it back. */
  char err[128];
  xmlr_node *root = xmlr_parse(doc, len, err, sizeof(err));
  CHECK(root != NULL);
  int n = 0, ordered = 1;
  for (xmlr_node *c = xmlr_child(root, "Latest"); c; c = xmlr_next(c, "Latest")) {
    char want[32];
    snprintf(want, sizeof(want), "block-%06d", n++);
    ordered &= strcmp(c->text, want) == 0;
  }
  CHECK(n == 50000 && ordered);
  CHECK_STR(xmlr_child_text(root, name), "x");
  xmlr_free(root);
  free(doc);
}

/* ---- reader ------------------------------------------------------------------------ */

static xmlr_node *parse(const char *s, char *err, size_t errlen) {
  return xmlr_parse(s, strlen(s), err, errlen);
}

static void test_reader_block_list(void) {
  const char *body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                     "<BlockList>\n"
                     "  <Committed>AAAA</Committed>\n"
                     "  <Uncommitted>BBBB</Uncommitted>\n"
                     "  <Latest>CCCC</Latest>\n"
                     "  <Latest>DDDD</Latest>\n"
                     "</BlockList>";
  char err[128] = "untouched";
  xmlr_node *root = parse(body, err, sizeof(err));
  CHECK(root != NULL);
  CHECK_STR(err, "untouched");
  if (!root) return;
  CHECK_STR(root->name, "BlockList");
  CHECK(root->parent == NULL && root->next == NULL);
  const char *names[] = {"Committed", "Uncommitted", "Latest", "Latest"};
  const char *texts[] = {"AAAA", "BBBB", "CCCC", "DDDD"};
  int i = 0;
  for (xmlr_node *c = root->children; c; c = c->next, i++) {
    CHECK(i < 4);
    if (i >= 4) break;
    CHECK_STR(c->name, names[i]);
    CHECK_STR(xmlr_text(c), texts[i]);
    CHECK(c->text_len == 4);
    CHECK(c->parent == root && c->children == NULL);
  }
  CHECK(i == 4);
  /* The root's own text is the whitespace between its children. */
  CHECK_STR(root->text, "\n  \n  \n  \n  \n");
  CHECK_STR(xmlr_child_text(root, "Latest"), "CCCC");
  CHECK_STR(xmlr_text(xmlr_next(xmlr_child(root, "Latest"), "Latest")), "DDDD");
  CHECK(xmlr_next(xmlr_next(xmlr_child(root, "Latest"), "Latest"), "Latest") == NULL);
  CHECK_STR(xmlr_child(root, NULL)->name, "Committed");
  CHECK_STR(xmlr_next(xmlr_child(root, NULL), NULL)->name, "Uncommitted");
  CHECK(xmlr_child(root, "Nope") == NULL);
  CHECK(xmlr_child_text(root, "Nope") == NULL);
  xmlr_free(root);
}

static void test_reader_acl(void) {
  const char *body =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers><SignedIdentifier>"
      "<Id>MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=</Id><AccessPolicy>"
      "<Start>2009-09-28T08:49:37.0000000Z</Start><Expiry>2009-09-29T08:49:37.0000000Z</Expiry>"
      "<Permission>rwd</Permission></AccessPolicy></SignedIdentifier><SignedIdentifier>"
      "<Id>two</Id><AccessPolicy /></SignedIdentifier></SignedIdentifiers>";
  xmlr_node *root = parse(body, NULL, 0);
  CHECK(root != NULL);
  xmlr_node *si = xmlr_child(root, "SignedIdentifier");
  CHECK_STR(xmlr_child_text(si, "Id"), "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=");
  xmlr_node *ap = xmlr_child(si, "AccessPolicy");
  CHECK_STR(xmlr_child_text(ap, "Start"), "2009-09-28T08:49:37.0000000Z");
  CHECK_STR(xmlr_child_text(ap, "Expiry"), "2009-09-29T08:49:37.0000000Z");
  CHECK_STR(xmlr_child_text(ap, "Permission"), "rwd");
  CHECK(ap->parent == si && si->parent == root);
  si = xmlr_next(si, "SignedIdentifier");
  CHECK_STR(xmlr_child_text(si, "Id"), "two");
  CHECK_STR(xmlr_child_text(si, "AccessPolicy"), "");
  CHECK(xmlr_child(xmlr_child(si, "AccessPolicy"), NULL) == NULL);
  CHECK(xmlr_next(si, NULL) == NULL);
  xmlr_free(root);
}

static void test_reader_content(void) {
  /* Entities, character references, CDATA, mixed content, attributes. */
  const char *body = "<Tags a=\"1 &amp; 2\" b='&#x41;&quot;'>x&lt;&amp;&gt;&#66;&#x1F600;"
                     "<Tag><Key>k</Key><Value><![CDATA[<raw & text>]]></Value></Tag>y"
                     "<Tag/>z</Tags>";
  char err[128];
  xmlr_node *root = parse(body, err, sizeof(err));
  CHECK(root != NULL);
  if (!root) return;
  CHECK_STR(xmlr_attr(root, "a"), "1 & 2");
  CHECK_STR(xmlr_attr(root, "b"), "A\"");
  CHECK(xmlr_attr(root, "c") == NULL);
  CHECK(xmlr_attr(NULL, "a") == NULL);
  CHECK_STR(root->text, "x<&>B\xf0\x9f\x98\x80yz");
  xmlr_node *tag = xmlr_child(root, "Tag");
  CHECK_STR(xmlr_child_text(tag, "Key"), "k");
  CHECK_STR(xmlr_child_text(tag, "Value"), "<raw & text>");
  CHECK(tag->attrs != NULL && tag->attrs[0] == NULL);
  CHECK_STR(xmlr_next(tag, "Tag")->text, "");
  xmlr_free(root);

  /* Namespace prefixes stay in the name; UTF-16 with a BOM is read as UTF-8. */
  root = parse("<x:A xmlns:x=\"urn:a\"><x:B>1</x:B></x:A>", err, sizeof(err));
  CHECK(root && strcmp(root->name, "x:A") == 0);
  CHECK_STR(xmlr_child_text(root, "x:B"), "1");
  CHECK_STR(xmlr_attr(root, "xmlns:x"), "urn:a");
  xmlr_free(root);
  static const char utf16[] = "\xff\xfe<\0A\0>\0\xe9\0<\0/\0A\0>\0";
  root = xmlr_parse(utf16, sizeof(utf16) - 1, err, sizeof(err));
  CHECK(root && strcmp(root->name, "A") == 0);
  CHECK_STR(xmlr_text(root), "\xc3\xa9");
  xmlr_free(root);

  /* NULL-safe accessors. */
  CHECK(xmlr_child(NULL, "A") == NULL);
  CHECK(xmlr_next(NULL, NULL) == NULL);
  CHECK(xmlr_text(NULL) == NULL);
  CHECK(xmlr_child_text(NULL, "A") == NULL);
  xmlr_free(NULL);
}

static void expect_error(const char *doc, size_t len, const char *want) {
  char err[200] = "";
  xmlr_node *root = xmlr_parse(doc, len, err, sizeof(err));
  CHECK(root == NULL);
  CHECK_STR(err, want);
  if (strcmp(err, want) != 0) fprintf(stderr, " got [%s]\nwant [%s]\n", err, want);
  xmlr_free(root);
}

static void test_reader_refusals(void) {
  expect_error("", 0, "XML line 1, column 0: no element found");
  expect_error("<a>", 3, "XML line 1, column 3: no element found");
  expect_error("<a></b>", 7, "XML line 1, column 5: mismatched tag");
  expect_error("<a/><b/>", 8, "XML line 1, column 4: junk after document element");
  expect_error("text", 4, "XML line 1, column 0: syntax error");
  expect_error("<a>&foo;</a>", 12, "XML line 1, column 3: undefined entity");
  expect_error("<a>\xff</a>", 8, "XML line 1, column 3: not well-formed (invalid token)");
  expect_error("<a>x\0</a>", 9, "XML line 1, column 4: not well-formed (invalid token)");
  expect_error("<a b='1' b='2'/>", 16, "XML line 1, column 9: duplicate attribute");
  expect_error(NULL, 0, "XML line 1, column 0: no element found");

  /* DTDs, and with them entity expansion, are refused. */
  const char *laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                       "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
                       "<lolz>&lol2;</lolz>";
  expect_error(laughs, strlen(laughs), "XML line 1, column 36: DOCTYPE is not allowed");
  expect_error("<!DOCTYPE a><a/>", 16, "XML line 1, column 11: DOCTYPE is not allowed");

  /* Depth: XMLR_MAX_DEPTH levels parse, one more does not. */
  char deep[1024] = "";
  for (int i = 0; i < XMLR_MAX_DEPTH; i++)
    strcat(deep, "<d>");
  for (int i = 0; i < XMLR_MAX_DEPTH; i++)
    strcat(deep, "</d>");
  xmlr_node *root = parse(deep, NULL, 0);
  CHECK(root != NULL);
  int depth = 0;
  for (xmlr_node *n = root; n; n = n->children)
    depth++;
  CHECK(depth == XMLR_MAX_DEPTH);
  xmlr_free(root);
  char deeper[1024] = "<d>";
  strcat(deeper, deep);
  strcat(deeper, "</d>");
  expect_error(deeper, strlen(deeper), "XML line 1, column 99: document nested too deeply");

  /* Element count. */
  size_t cap = 8 * (XMLR_MAX_ELEMENTS + 2) + 16, len = 0;
  char *many = malloc(cap);
  CHECK(many != NULL);
  if (!many) return;
  len += (size_t)sprintf(many + len, "<r>");
  for (int i = 0; i < XMLR_MAX_ELEMENTS - 1; i++)
    len += (size_t)sprintf(many + len, "<e/>");
  len += (size_t)sprintf(many + len, "</r>");
  root = xmlr_parse(many, len, NULL, 0);
  CHECK(root != NULL);
  xmlr_free(root);
  len -= 4;
  len += (size_t)sprintf(many + len, "<e/></r>");
  char err[200];
  CHECK(xmlr_parse(many, len, err, sizeof(err)) == NULL);
  CHECK(strstr(err, ": too many elements") != NULL);
  free(many);

  /* Size, checked before parsing. */
  expect_error("<a/>", XMLR_MAX_BYTES + 1, "XML line 0, column 0: document too large");

  /* A short error buffer truncates; none at all is fine. */
  char tiny[8];
  CHECK(xmlr_parse("<a>", 3, tiny, sizeof(tiny)) == NULL);
  CHECK_STR(tiny, "XML lin");
  CHECK(xmlr_parse("<a>", 3, NULL, 0) == NULL);
  CHECK(xmlr_parse("<a>", 3, tiny, 0) == NULL);
}

/* ---- out of memory --------------------------------------------------------------------- */

static int write_doc(void) {
  xmlw w;
  xmlw_init(&w);
  xmlw_prolog(&w);
  xmlw_open(&w, "Root");
  xmlw_attr(&w, "a", "x&y");
  for (int i = 0; i < 200; i++)
    xmlw_elemf(&w, "Item", "%d <%d>", i, i);
  char *doc = xmlw_finish(&w, NULL);
  int ok = doc != NULL;
  free(doc);
  return ok ? 0 : -1;
}

static int read_doc(void) {
  static char body[40000];
  if (!body[0]) {
    strcpy(body, "<Root a='1' b='2'>");
    for (int i = 0; i < 150; i++)
      sprintf(body + strlen(body), "<Item k='%d'>text %d</Item>", i, i);
    /* A text longer than an arena chunk. */
    strcat(body, "<Big>");
    memset(body + strlen(body), 'x', 20000);
    strcat(body, "</Big>tail</Root>");
  }
  char err[128];
  xmlr_node *root = xmlr_parse(body, strlen(body), err, sizeof(err));
  if (!root) return strstr(err, ": out of memory") ? -1 : -2;
  int n = 0;
  for (xmlr_node *c = xmlr_child(root, "Item"); c; c = xmlr_next(c, "Item"))
    n++;
  int ok =
      n == 150 && strcmp(root->text, "tail") == 0 && xmlr_child(root, "Big")->text_len == 20000;
  xmlr_free(root);
  return ok ? 0 : -2;
}

/* Fails each allocation in turn: the result is the right answer or a clean failure
 * (-1), never a wrong answer (-2), and nothing leaks. */
static void oom_loop(const char *what, int (*run)(void)) {
  int failures = 0, wrong = 0, leaks = 0, finished = 0;
  for (long k = 1; k < 100000; k++) {
    alloc_injected = 0;
    long before = alloc_live;
    alloc_countdown = k;
    int rc = run();
    alloc_countdown = 0;
    leaks += alloc_live != before;
    if (!alloc_injected) {
      finished = rc == 0;
      break;
    }
    failures += rc == -1;
    wrong += rc == -2;
  }
  CHECK(finished);
  CHECK(wrong == 0);
  CHECK(leaks == 0);
  if (injection_works()) CHECK(failures > 0);
  if (!finished || wrong || leaks) fprintf(stderr, "oom: %s\n", what);
}

static void test_out_of_memory(void) {
  oom_loop("writer", write_doc);
  oom_loop("reader", read_doc);
}

UNIT_MAIN("xml", {
  test_writer_document();
  test_writer_escaping();
  test_writer_misuse();
  test_writer_large();
  test_reader_block_list();
  test_reader_acl();
  test_reader_content();
  test_reader_refusals();
  test_out_of_memory();
})
