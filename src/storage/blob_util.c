/* blob_util.c: the pure pieces of the blob data plane: name rules, Range
 * headers, ETags, conditional headers, block ids, metadata headers, base64.
 * They touch no store and no socket, so the unit tests call them directly
 * (tests/unit/test_blob_*.c).
 */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/xml.h"
#include "blob.h"

const char *blob_container_name_check(const char *name) {
  size_t n = strlen(name);
  /* The system containers keep their '$'. */
  if (strcmp(name, "$root") == 0 || strcmp(name, "$web") == 0 || strcmp(name, "$logs") == 0)
    return NULL;
  if (n < 3 || n > 63) return "OutOfRangeInput";
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
      return "InvalidResourceName";
    if (ch == '-' && (i == 0 || i == n - 1 || name[i - 1] == '-')) return "InvalidResourceName";
  }
  return NULL;
}

/* Counts UTF-8 characters; Azure's 1024 limit is in characters. */
static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

const char *blob_name_check(const char *name) {
  if (!name[0]) return "InvalidResourceName";
  if (utf8_chars(name) > BLOB_MAX_NAME) return "OutOfRangeInput";
  return NULL;
}

int blob_metadata_name_valid(const char *s) {
  if (!s[0]) return 0;
  if (!(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (const char *p = s + 1; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '_')) return 0;
  return 1;
}

static int parse_u63(const char **p, int64_t *out) {
  const char *s = *p;
  if (!isdigit((unsigned char)*s)) return -1;
  int64_t v = 0;
  while (isdigit((unsigned char)*s)) {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (*s - '0');
    s++;
  }
  *p = s;
  *out = v;
  return 0;
}

int blob_range_parse(const char *hdr, int64_t *start, int64_t *end) {
  if (!hdr) return 0;
  while (*hdr == ' ')
    hdr++;
  if (strncasecmp(hdr, "bytes=", 6) != 0) return 0;
  const char *p = hdr + 6;
  while (*p == ' ')
    p++;
  /* A suffix range ("bytes=-500") or several ranges: Azure serves the whole blob. */
  if (*p == '-' || strchr(p, ',')) return 0;
  if (parse_u63(&p, start) != 0) return -1;
  while (*p == ' ')
    p++;
  if (*p++ != '-') return -1;
  while (*p == ' ')
    p++;
  if (!*p) {
    *end = -1;
    return 1;
  }
  if (parse_u63(&p, end) != 0) return -1;
  while (*p == ' ')
    p++;
  if (*p) return -1;
  if (*end < *start) return -1;
  return 1;
}

int blob_range_resolve(int64_t size, int64_t start, int64_t end, uint64_t *off, uint64_t *len) {
  if (start >= size) return -1;
  if (end < 0 || end >= size) end = size - 1;
  *off = (uint64_t)start;
  *len = (uint64_t)(end - start + 1);
  return 0;
}

void blob_etag_make(int64_t ms, uint64_t seq, char out[24]) {
  /* Azure's look: "0x8D" and 14 hex digits that grow with time.  Ten thousand
   * steps per millisecond keep ETags apart within one millisecond. */
  uint64_t ticks = ((uint64_t)ms * 10000u + seq % 10000u) & 0x00FFFFFFFFFFFFFFull;
  snprintf(out, 24, "0x8D%014llX", (unsigned long long)ticks);
}

void blob_etag_new(srv *s, int64_t now_ms, char out[24]) {
  blob_state *st = blob_state_of(s);
  pthread_mutex_lock(&st->mu);
  uint64_t seq = ++st->etag_seq;
  pthread_mutex_unlock(&st->mu);
  blob_etag_make(now_ms, seq, out);
}

int blob_conditions_read(http_req *r, blob_conditions *out) {
  out->if_match = http_header_get(r, "If-Match");
  out->if_none_match = http_header_get(r, "If-None-Match");
  out->if_modified_since = -1;
  out->if_unmodified_since = -1;
  const char *ims = http_header_get(r, "If-Modified-Since");
  const char *ius = http_header_get(r, "If-Unmodified-Since");
  int rc = 0;
  if (ims && (out->if_modified_since = http_date_parse(ims)) < 0) rc = -1;
  if (ius && (out->if_unmodified_since = http_date_parse(ius)) < 0) rc = -1;
  return rc;
}

int blob_conditions_any(const blob_conditions *cd) {
  return cd->if_match || cd->if_none_match || cd->if_modified_since >= 0 ||
         cd->if_unmodified_since >= 0;
}

/* Does an If-Match / If-None-Match list name etag?  The list is HTTP's:
 * elements separated by commas and optional spaces, each "*", a quoted ETag
 * (weak or not) or, as Azure also takes, a bare one.  An element with
 * anything else in it ("0x8D…"junk, a stray quote) names nothing. */
static int etag_list_has(const char *list, const char *etag) {
  const char *p = list;
  size_t elen = strlen(etag);
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (!*p) break;
    const char *start, *stop;
    int ok = 1, quoted = 0;
    if (p[0] == 'W' && p[1] == '/' && p[2] == '"') p += 2;
    if (*p == '"') {
      quoted = 1;
      start = ++p;
      while (*p && *p != '"')
        p++;
      stop = p;
      if (*p)
        p++;
      else
        ok = 0; /* unterminated */
    } else {
      start = p;
      while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '"')
        p++;
      stop = p;
    }
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p && *p != ',') {
      ok = 0; /* junk after the element: skip the rest of it */
      while (*p && *p != ',')
        p++;
    }
    if (!ok) continue;
    if (!quoted && stop - start == 1 && *start == '*') return 1;
    if ((size_t)(stop - start) == elen && strncmp(start, etag, elen) == 0) return 1;
  }
  return 0;
}

int blob_conditions_eval(const blob_conditions *cd, int exists, const char *etag,
                         int64_t last_modified_ms, int is_read) {
  /* HTTP dates carry whole seconds; compare at that grain. */
  int64_t lm_s = last_modified_ms / 1000;
  if (!exists) {
    /* Nothing to match: only If-Match can fail (If-None-Match and the dates pass). */
    return cd->if_match ? 412 : 0;
  }
  if (cd->if_match) {
    if (!etag_list_has(cd->if_match, etag)) return 412;
  } else if (cd->if_unmodified_since >= 0 && lm_s > cd->if_unmodified_since / 1000) {
    return 412;
  }
  if (cd->if_none_match) {
    if (etag_list_has(cd->if_none_match, etag)) return is_read ? 304 : 412;
  } else if (cd->if_modified_since >= 0 && lm_s <= cd->if_modified_since / 1000) {
    return is_read ? 304 : 412;
  }
  return 0;
}

int blob_conditions_check(blob_ctx *c, int exists, const char *etag, int64_t last_modified_ms,
                          int is_read) {
  blob_conditions cd;
  if (blob_conditions_read(c->r, &cd) != 0) {
    /* Azure ignores a date it cannot parse rather than failing the request. */
  }
  int rc = blob_conditions_eval(&cd, exists, etag, last_modified_ms, is_read);
  if (rc == 0) return 0;
  if (rc == 304) {
    /* A 304 has no body; the code still travels in x-ms-error-code. */
    http_set_header(c->r, "x-ms-error-code", "ConditionNotMet");
    http_reply_empty(c->r, 304);
    return -1;
  }
  http_fail(c->r, STORAGE_ERR_CONDITION_NOT_MET,
            "The condition specified using HTTP conditional header(s) is not met.");
  return -1;
}

static int b64val(int ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+') return 62;
  if (ch == '/') return 63;
  return -1;
}

int blob_b64_decode(const char *in, unsigned char *out, int max) {
  size_t n = strlen(in);
  if (n % 4 != 0) return -1;
  int len = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4], pad = 0;
    for (int k = 0; k < 4; k++) {
      char ch = in[i + k];
      if (ch == '=' && i + 4 == n && k >= 2) {
        v[k] = 0;
        pad++;
      } else {
        if (pad) return -1; /* data after padding */
        v[k] = b64val((unsigned char)ch);
        if (v[k] < 0) return -1;
      }
    }
    unsigned triple = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    unsigned char b[3] = {(unsigned char)(triple >> 16), (unsigned char)(triple >> 8),
                          (unsigned char)triple};
    for (int k = 0; k < 3 - pad; k++) {
      if (len >= max) return -1;
      out[len++] = b[k];
    }
  }
  return len;
}

void blob_reply_xml(blob_ctx *c, xmlw *w) {
  size_t n;
  char *xml = xmlw_finish(w, &n);
  if (!xml) {
    blob_fail_internal(c, "rendering the reply");
    return;
  }
  http_reply_owned(c->r, 200, "application/xml", xml, n);
}

const char *blob_request_version(http_req *r) {
  const char *v = http_header_get(r, "x-ms-version");
  if (!v || !*v) v = http_query_get(r, "sv");
  return v && *v ? v : BLOB_DEFAULT_VERSION;
}

void blob_b64_md5(const unsigned char md5[16], char out[25]) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int o = 0;
  for (int i = 0; i < 16; i += 3) {
    unsigned v = (unsigned)md5[i] << 16;
    if (i + 1 < 16) v |= (unsigned)md5[i + 1] << 8;
    if (i + 2 < 16) v |= md5[i + 2];
    out[o++] = tbl[(v >> 18) & 63];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < 16 ? tbl[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < 16 ? tbl[v & 63] : '=';
  }
  out[o] = 0;
}

int blob_block_id_check(const char *id, int *raw_len) {
  unsigned char buf[BLOB_MAX_BLOCK_ID + 3];
  if (!id || !id[0]) return -1;
  int n = blob_b64_decode(id, buf, sizeof buf);
  if (n <= 0 || n > BLOB_MAX_BLOCK_ID) return -1;
  if (raw_len) *raw_len = n;
  return 0;
}

int blob_block_list_parse(const char *xml, size_t len, blob_block_ref **out) {
  *out = NULL;
  char xerr[128];
  xmlr_node *root = xmlr_parse(xml, len, xerr, sizeof xerr);
  if (!root || strcmp(root->name, "BlockList") != 0) {
    xmlr_free(root);
    return -1;
  }
  int n = 0, cap = 0;
  blob_block_ref *v = NULL;
  for (const xmlr_node *ch = xmlr_child(root, NULL); ch; ch = xmlr_next(ch, NULL)) {
    const char *tag = ch->name;
    enum blob_block_from from;
    if (strcmp(tag, "Latest") == 0)
      from = BLOB_FROM_LATEST;
    else if (strcmp(tag, "Committed") == 0)
      from = BLOB_FROM_COMMITTED;
    else if (strcmp(tag, "Uncommitted") == 0)
      from = BLOB_FROM_UNCOMMITTED;
    else {
      blob_block_list_free(v, n);
      xmlr_free(root);
      return -1;
    }
    const char *t = xmlr_text(ch);
    if (!t) t = "";
    while (isspace((unsigned char)*t))
      t++;
    size_t tl = strlen(t);
    while (tl > 0 && isspace((unsigned char)t[tl - 1]))
      tl--;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      v = realloc(v, sizeof *v * (size_t)cap);
      if (!v) abort();
    }
    v[n].id = strndup(t, tl);
    v[n].from = from;
    n++;
  }
  xmlr_free(root);
  *out = v;
  return n;
}

void blob_block_list_free(blob_block_ref *refs, int n) {
  for (int i = 0; i < n; i++)
    free(refs[i].id);
  free(refs);
}

char *blob_metadata_from_headers(blob_ctx *c) {
  const http_header *h;
  int n = http_headers_all(c->r, &h);
  json_t *meta = json_object();
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    if (strncasecmp(h[i].name, "x-ms-meta-", 10) != 0) continue;
    const char *key = h[i].name + 10;
    if (!key[0]) {
      json_decref(meta);
      http_fail(c->r, STORAGE_ERR_EMPTY_METADATA_KEY,
                "The key for one of the metadata key-value pairs is empty.");
      return NULL;
    }
    if (!blob_metadata_name_valid(key)) {
      json_decref(meta);
      http_fail(c->r, STORAGE_ERR_INVALID_METADATA,
                "The metadata specified is invalid. It has characters that are not permitted.");
      return NULL;
    }
    total += strlen(key) + strlen(h[i].value);
    /* Names are case-insensitive: a later header replaces an earlier one. */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(meta, tmp, k, v) {
      if (strcasecmp(k, key) == 0) json_object_del(meta, k);
    }
    json_t *val = json_string(h[i].value);
    if (!val) {
      json_decref(meta);
      http_fail(c->r, STORAGE_ERR_INVALID_METADATA,
                "The metadata specified is invalid. It has characters that are not permitted.");
      return NULL;
    }
    json_object_set_new(meta, key, val);
  }
  if (total > BLOB_MAX_METADATA) {
    json_decref(meta);
    http_fail(c->r, STORAGE_ERR_METADATA_TOO_LARGE,
              "The size of the specified metadata exceeds the maximum size permitted.");
    return NULL;
  }
  char *out = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(meta);
  return out;
}
