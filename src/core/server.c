/* server.c: the HTTP server.  Listeners on libmicrohttpd, the life of one
 * request (headers, body spooling, routing, authentication, the handler, the
 * reply, the access log), and the accessors of http.h.
 *
 * A request's path through here: on_request() first call creates a req_state
 * and copies headers and query; later calls spool the body (memory up to
 * HTTP_BODY_MEM_MAX, then a temp file, never the whole body in memory); the
 * final call runs dispatch(): route -> authenticate/authorize -> handler ->
 * render (errors in the route's style, in one place: render_error()).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define MGMT_MAX_BODY (4u * 1024 * 1024)
/* Request line and headers: beyond this, 400 in the listener's style.  The
 * connection's memory (CONN_MEMORY) must hold them with room to spare, or
 * libmicrohttpd answers 431 itself, without Azure's body. */
#define HEADERS_MAX (64u * 1024)
#define CONN_MEMORY (128 * 1024)

/* ---- request-scoped arena -------------------------------------------- */

typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t used, cap;
  char data[];
} arena_chunk;

typedef struct hdr_list {
  http_header *v;
  uint32_t *tag; /* name length and last letter: most lookups skip strcasecmp */
  int n, cap;
} hdr_list;

/* A cleanup registered with http_defer (in the request's arena). */
typedef struct deferred {
  void (*fn)(void *);
  void *p;
  struct deferred *next;
} deferred;

enum reply_kind { REPLY_NONE, REPLY_BYTES, REPLY_FD, REPLY_STREAM, REPLY_LENGTH };

typedef struct req_state {
  http_req r;
  arena_chunk *arena;
  struct MHD_Connection *conn;
  hdr_list headers, query, out_headers;
  const route *route;
  int route_mismatch; /* no route, but one for another method */
  /* The URL cannot name anything (set at arrival, refused before any handler):
   * why, and the query parameter at fault (NULL: the path). */
  const char *bad_uri;
  const char *bad_query;
  int headers_too_large;
  /* body spooling */
  size_t mem_cap;
  int body_fd;
  uint64_t max_body;
  int too_large;
  int digests;     /* HTTP_DIGEST_* the route asked for */
  EVP_MD_CTX *md5; /* the body's MD5, as it arrives */
  uint64_t crc64;  /* the body's CRC64, as it arrives */
  struct body_hasher *hasher;
  /* reply */
  enum reply_kind kind;
  int status;
  char *ctype;
  char *data;
  size_t data_len;
  int fd;
  uint64_t off, len;
  http_reader_fn reader;
  void *reader_cls;
  void (*reader_free)(void *);
  /* failure */
  int failed;
  enum http_err_style fail_style;
  int fail_style_set;
  char *fail_code;
  char *fail_msg;
  hdr_list fail_details;
  struct timeval started;
  /* Sub-requests made inside this one (http_subreq_new): freed with it. */
  struct req_state *subs, *sub_next;
  deferred *defers; /* http_defer: newest first, run by req_free */
  /* http_async: what finishes the request, then whether it has (its
   * connection is suspended from the handler's return until then). */
  void (*async_fn)(void *);
  void *async_arg;
  int async_done;
  struct req_state *async_next; /* the async queue */
} req_state;

static req_state *RS(http_req *r) {
  return (req_state *)r->priv;
}

void *http_alloc(http_req *r, size_t n) {
  req_state *st = RS(r);
  n = (n + 15) & ~(size_t)15;
  arena_chunk *c = st->arena;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 8192 ? n : 8192;
    c = malloc(sizeof *c + cap);
    if (!c) abort();
    c->next = st->arena;
    c->used = 0;
    c->cap = cap;
    st->arena = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *http_strdup(http_req *r, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *p = http_alloc(r, n + 1);
  memcpy(p, s, n + 1);
  return p;
}

static char *http_vprintf(http_req *r, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  char *p = http_alloc(r, (size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  return p;
}

char *http_printf(http_req *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *p = http_vprintf(r, fmt, ap);
  va_end(ap);
  return p;
}

void http_defer(http_req *r, void (*fn)(void *), void *p) {
  req_state *st = RS(r);
  deferred *d = http_alloc(r, sizeof *d);
  d->fn = fn;
  d->p = p;
  d->next = st->defers;
  st->defers = d;
}

static void deferred_json_decref(void *j) {
  json_decref(j);
}

json_t *http_json_own(http_req *r, json_t *j) {
  if (j) http_defer(r, deferred_json_decref, j);
  return j;
}

static uint32_t hdr_tag(const char *name) {
  size_t n = strlen(name);
  return (uint32_t)n << 8 | (n ? (unsigned char)tolower((unsigned char)name[n - 1]) : 0);
}

static void hdr_add(http_req *r, hdr_list *l, const char *name, const char *value) {
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 16;
    http_header *v = http_alloc(r, sizeof *v * (size_t)cap);
    uint32_t *tag = http_alloc(r, sizeof *tag * (size_t)cap);
    if (l->n) {
      memcpy(v, l->v, sizeof *v * (size_t)l->n);
      memcpy(tag, l->tag, sizeof *tag * (size_t)l->n);
    }
    l->v = v;
    l->tag = tag;
    l->cap = cap;
  }
  l->v[l->n].name = http_strdup(r, name);
  l->v[l->n].value = http_strdup(r, value ? value : "");
  l->tag[l->n] = hdr_tag(name);
  l->n++;
}

static const char *hdr_find(const hdr_list *l, const char *name) {
  uint32_t tag = hdr_tag(name);
  for (int i = 0; i < l->n; i++)
    if (l->tag[i] == tag && strcasecmp(l->v[i].name, name) == 0) return l->v[i].value;
  return NULL;
}

/* ---- small utilities --------------------------------------------------- */

void uuid_v4(char out[37]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) abort();
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static const char hex[] = "0123456789abcdef";
  int o = 0;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 15];
  }
  out[o] = 0;
}

char *srv_path(srv *s, const char *rel) {
  char *p = NULL;
  if (asprintf(&p, "%s/%s", s->cfg.data_dir, rel) < 0) abort();
  return p;
}

void **srv_provider_state(srv *s, const provider *p) {
  for (int i = 0; providers[i]; i++)
    if (providers[i] == p) {
      /* One slot a provider: providers.c must not list more than srv holds. */
      assert(i < (int)(sizeof s->provider_state / sizeof s->provider_state[0]));
      return &s->provider_state[i];
    }
  assert(!"srv_provider_state: a provider that providers[] does not list");
  abort();
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes into a malloc'd NUL-terminated string; *outlen gets the decoded
 * length, which is larger than strlen() when the input held %00. */
static char *url_decode_len(const char *s, size_t len, size_t *outlen) {
  char *out = malloc(len + 1);
  if (!out) abort();
  size_t j = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
        hexval((unsigned char)s[i + 2]) >= 0) {
      out[j++] = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
      i += 2;
    } else {
      out[j++] = s[i];
    }
  }
  out[j] = 0;
  *outlen = j;
  return out;
}

char *http_url_decode(const char *s, size_t len) {
  size_t n;
  return url_decode_len(s, len, &n);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_valid(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
      k = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else
      return 0;
    if (i + k >= n) return 0; /* truncated sequence */
    for (size_t m = 1; m <= k; m++) {
      unsigned b = s[i + m];
      if (b < (m == 1 ? lo : 0x80) || b > (m == 1 ? hi : 0xbf)) return 0;
    }
    i += k + 1;
  }
  return 1;
}

/* Decodes a path or query part and says what makes it unusable as a name:
 * NULL when fine, else why (a NUL would truncate it, invalid UTF-8 would make
 * different names collide).  The result is malloc'd either way. */
static char *url_decode_checked(const char *s, size_t len, const char **why) {
  size_t n;
  char *out = url_decode_len(s, len, &n);
  *why = NULL;
  if (memchr(out, 0, n))
    *why = "a NUL character (%00)";
  else if (!utf8_valid((const unsigned char *)out, n))
    *why = "bytes that are not valid UTF-8";
  return out;
}

char *http_url_encode(http_req *r, const char *s, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = http_alloc(r, n * 3 + 1), *o = out;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep_slash && *p == '/')) {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = 0;
  return out;
}

void http_date(int64_t ms, char out[32]) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  /* Formatted by hand: two of these go out with every blob reply. */
  int y = tm.tm_year + 1900;
  if (y < 0 || y > 9999) y = 9999;
  char *p = out;
  memcpy(p, days[tm.tm_wday], 3);
  p += 3;
  *p++ = ',';
  *p++ = ' ';
  *p++ = (char)('0' + tm.tm_mday / 10);
  *p++ = (char)('0' + tm.tm_mday % 10);
  *p++ = ' ';
  memcpy(p, mons[tm.tm_mon], 3);
  p += 3;
  *p++ = ' ';
  *p++ = (char)('0' + y / 1000);
  *p++ = (char)('0' + y / 100 % 10);
  *p++ = (char)('0' + y / 10 % 10);
  *p++ = (char)('0' + y % 10);
  const int hms[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
  for (int i = 0; i < 3; i++) {
    *p++ = i ? ':' : ' ';
    *p++ = (char)('0' + hms[i] / 10);
    *p++ = (char)('0' + hms[i] % 10);
  }
  memcpy(p, " GMT", 5);
}

int64_t http_date_parse(const char *s) {
  static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char wd[8], mon[8];
  struct tm tm = {0};
  if (!s || sscanf(s, "%7[A-Za-z], %d %7s %d %d:%d:%d", wd, &tm.tm_mday, mon, &tm.tm_year,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 7)
    return -1;
  tm.tm_mon = -1;
  for (int i = 0; i < 12; i++)
    if (strcasecmp(mon, mons[i]) == 0) tm.tm_mon = i;
  if (tm.tm_mon < 0) return -1;
  /* Bounded fields: a year like 2602026020 would overflow the milliseconds. */
  if (tm.tm_year < 0 || tm.tm_year > 9999 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 ||
      tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
    return -1;
  tm.tm_year -= 1900;
  return (int64_t)timegm(&tm) * 1000;
}

/* ---- http.h accessors -------------------------------------------------- */

const char *http_header_get(http_req *r, const char *name) {
  return hdr_find(&RS(r)->headers, name);
}

int http_headers_all(http_req *r, const http_header **out) {
  *out = RS(r)->headers.v;
  return RS(r)->headers.n;
}

const char *http_query_get(http_req *r, const char *name) {
  return hdr_find(&RS(r)->query, name);
}

int http_query_all(http_req *r, const http_header **out) {
  *out = RS(r)->query.v;
  return RS(r)->query.n;
}

const char *http_param(http_req *r, const char *name) {
  for (int i = 0; i < r->nparams; i++)
    if (strcmp(r->param_names[i], name) == 0) return r->param_values[i];
  return NULL;
}

const void *http_route_data(http_req *r) {
  const route *rt = RS(r)->route;
  return rt ? rt->data : NULL;
}

char *http_body_read_all(http_req *r, size_t max, size_t *len) {
  if (r->body_len > max) {
    http_fail(r, CORE_ERR_REQUEST_BODY_TOO_LARGE,
              "The request body is too large (limit %zu bytes).", max);
    return NULL;
  }
  char *buf = malloc(r->body_len + 1);
  if (!buf) abort();
  if (r->body_mem) {
    memcpy(buf, r->body_mem, r->body_len);
  } else if (r->body_file) {
    int fd = open(r->body_file, O_RDONLY);
    size_t got = 0;
    while (fd >= 0 && got < r->body_len) {
      ssize_t n = read(fd, buf + got, r->body_len - got);
      if (n <= 0) break;
      got += (size_t)n;
    }
    if (fd >= 0) close(fd);
    if (got != r->body_len) {
      free(buf);
      http_fail(r, CORE_ERR_INTERNAL_ERROR, "The request body could not be read.");
      return NULL;
    }
  }
  buf[r->body_len] = 0;
  if (len) *len = r->body_len;
  return buf;
}

json_t *http_body_json(http_req *r) {
  size_t len;
  if (r->body_len == 0) {
    http_fail_style(r, HTTP_ERR_ARM, CORE_ERR_INVALID_REQUEST_CONTENT,
                    "The request content was invalid and could not be deserialized: "
                    "'The request body is empty.'.");
    return NULL;
  }
  char *buf = http_body_read_all(r, MGMT_MAX_BODY, &len);
  if (!buf) return NULL;
  json_error_t e;
  json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
  free(buf);
  if (!j) {
    http_fail_style(r, HTTP_ERR_ARM, CORE_ERR_INVALID_REQUEST_CONTENT,
                    "The request content was invalid and could not be deserialized: '%s, "
                    "line %d, position %d.'.",
                    e.text, e.line, e.column);
  }
  return j;
}

char *http_body_take_file(http_req *r) {
  char *p = r->body_file;
  r->body_file = NULL;
  return p;
}

void http_set_header(http_req *r, const char *name, const char *value) {
  hdr_list *l = &RS(r)->out_headers;
  uint32_t tag = hdr_tag(name);
  for (int i = 0; i < l->n; i++)
    if (l->tag[i] == tag && strcasecmp(l->v[i].name, name) == 0) {
      l->v[i].value = http_strdup(r, value);
      return;
    }
  hdr_add(r, l, name, value);
}

void http_set_headerf(http_req *r, const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *v = http_vprintf(r, fmt, ap);
  va_end(ap);
  http_set_header(r, name, v);
}

static void reply_reset(req_state *st) {
  if (st->kind == REPLY_BYTES) free(st->data);
  if (st->kind == REPLY_FD && st->fd >= 0) close(st->fd);
  if (st->kind == REPLY_STREAM && st->reader_free) st->reader_free(st->reader_cls);
  st->kind = REPLY_NONE;
  st->data = NULL;
  st->fd = -1;
  st->reader_free = NULL;
}

void http_reply_owned(http_req *r, int status, const char *content_type, char *data, size_t len) {
  req_state *st = RS(r);
  reply_reset(st);
  st->kind = REPLY_BYTES;
  st->status = status;
  st->ctype = content_type ? http_strdup(r, content_type) : NULL;
  st->data = data;
  st->data_len = len;
}

void http_reply_bytes(http_req *r, int status, const char *content_type, const void *data,
                      size_t len) {
  char *copy = malloc(len ? len : 1);
  if (!copy) abort();
  if (len) memcpy(copy, data, len);
  http_reply_owned(r, status, content_type, copy, len);
}

void http_reply_empty(http_req *r, int status) {
  http_reply_owned(r, status, NULL, NULL, 0);
}

void http_reply_json(http_req *r, int status, json_t *j) {
  if (!j) {
    http_reply_empty(r, status);
    return;
  }
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  http_reply_owned(r, status, "application/json; charset=utf-8", s, strlen(s));
}

void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t off,
                   uint64_t len) {
  req_state *st = RS(r);
  reply_reset(st);
  st->kind = REPLY_FD;
  st->status = status;
  st->ctype = content_type ? http_strdup(r, content_type) : NULL;
  st->fd = fd;
  st->off = off;
  st->len = len;
}

void http_reply_stream(http_req *r, int status, const char *content_type, uint64_t len,
                       http_reader_fn read, void *cls, void (*free_fn)(void *)) {
  req_state *st = RS(r);
  reply_reset(st);
  st->kind = REPLY_STREAM;
  st->status = status;
  st->ctype = content_type ? http_strdup(r, content_type) : NULL;
  st->len = len;
  st->reader = read;
  st->reader_cls = cls;
  st->reader_free = free_fn;
}

void http_reply_length_only(http_req *r, int status, const char *content_type, uint64_t len) {
  req_state *st = RS(r);
  reply_reset(st);
  st->kind = REPLY_LENGTH;
  st->status = status;
  st->ctype = content_type ? http_strdup(r, content_type) : NULL;
  st->len = len;
}

static void fail_v(http_req *r, int style_set, enum http_err_style style, int status,
                   const char *code, const char *fmt, va_list ap) {
  req_state *st = RS(r);
  if (st->failed) return; /* the first failure is the one the client sees */
  reply_reset(st);
  st->failed = 1;
  st->status = status;
  st->fail_code = http_strdup(r, code);
  st->fail_msg = http_vprintf(r, fmt, ap);
  st->fail_style_set = style_set;
  st->fail_style = style;
}

void http_fail(http_req *r, int status, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_v(r, 0, HTTP_ERR_ARM, status, code, fmt, ap);
  va_end(ap);
}

void http_fail_style(http_req *r, enum http_err_style style, int status, const char *code,
                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fail_v(r, 1, style, status, code, fmt, ap);
  va_end(ap);
}

void http_fail_detail(http_req *r, const char *xml_name, const char *value) {
  hdr_add(r, &RS(r)->fail_details, xml_name, value);
}

int http_failed(http_req *r) {
  return RS(r)->failed;
}

/* ---- routing ----------------------------------------------------------- */

typedef struct compiled_route {
  const route *rt;
  int nseg;
  char **seg;
  int literals;
  int tail; /* ends in "*" */
} compiled_route;

typedef struct listener {
  srv *s;
  enum http_listener id;
  struct MHD_Daemon *d;
} listener;

/* A connection, as the deadline reaper sees it.  Phases: waiting for a
 * request line (since accept or the last request ended), reading headers
 * (since the request line), then body and handler (MHD's idle timeout). */
enum conn_phase { CONN_WAIT_LINE, CONN_HEADERS, CONN_BODY };
typedef struct conn_track {
  struct conn_track *prev, *next;
  int fd;
  enum conn_phase phase;
  time_t since; /* CLOCK_MONOTONIC seconds */
  int reaped;
} conn_track;

/* The most requests finishing on async threads at once; more wait in the
 * queue. */
#define ASYNC_THREADS 128

typedef struct srv_priv {
  compiled_route *routes;
  int nroutes;
  listener listeners[LISTEN_COUNT];
  char *tls_key, *tls_cert;
  /* Every open connection of every listener; conn_mu guards the list and
   * each entry's phase and since. */
  pthread_mutex_t conn_mu;
  conn_track conns; /* list head */
  pthread_t reaper;
  int reaper_started;
  pthread_mutex_t reaper_mu;
  pthread_cond_t reaper_cv;
  int reaper_stop;
  /* http_async: the queue of requests to finish, the threads that finish
   * them (started as needed, up to ASYNC_THREADS) and how many are in
   * flight, all under async_mu. */
  pthread_mutex_t async_mu;
  pthread_cond_t async_cv, async_idle_cv;
  req_state *async_head, *async_tail;
  pthread_t async_threads[ASYNC_THREADS];
  int async_nthreads, async_nidle, async_inflight, async_stop, async_ready;
} srv_priv;

static void routes_compile(srv *s) {
  srv_priv *p = s->priv;
  int total = 0;
  for (int i = 0; providers[i]; i++)
    total += providers[i]->nroutes;
  p->routes = calloc((size_t)total, sizeof *p->routes);
  for (int i = 0; providers[i]; i++)
    for (int k = 0; k < providers[i]->nroutes; k++) {
      compiled_route *c = &p->routes[p->nroutes++];
      c->rt = &providers[i]->routes[k];
      char *dup = strdup(c->rt->pattern), *save = NULL;
      c->seg = calloc(64, sizeof *c->seg);
      for (char *t = strtok_r(dup, "/", &save); t && c->nseg < 64; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, "*") == 0) {
          c->tail = 1;
          break;
        }
        c->seg[c->nseg++] = strdup(t);
        if (t[0] != '{') c->literals++;
      }
      /* The table is data: a pattern beyond what matching holds stops startup. */
      int params = c->tail;
      for (int k2 = 0; k2 < c->nseg; k2++)
        params += c->seg[k2][0] == '{';
      if ((strtok_r(NULL, "/", &save) && !c->tail) || params > 15) {
        log_error("route %s %s: more than 64 segments or 15 parameters", c->rt->method,
                  c->rt->pattern);
        abort();
      }
      free(dup);
    }
}

static void routes_free(srv *s) {
  srv_priv *p = s->priv;
  for (int i = 0; i < p->nroutes; i++) {
    for (int k = 0; k < p->routes[i].nseg; k++)
      free(p->routes[i].seg[k]);
    free(p->routes[i].seg);
  }
  free(p->routes);
}

/* Matches the decoded path against one route; fills params on success. */
static int route_match(http_req *r, const compiled_route *c, char **segs, int nsegs,
                       const char *path) {
  if (nsegs < c->nseg || (!c->tail && nsegs != c->nseg)) return 0;
  for (int i = 0; i < c->nseg; i++)
    if (c->seg[i][0] != '{' && strcasecmp(c->seg[i], segs[i]) != 0) return 0;
  r->nparams = 0;
  /* routes_compile refused patterns with more than 15 parameters. */
  for (int i = 0; i < c->nseg; i++)
    if (c->seg[i][0] == '{') {
      assert(r->nparams < 15);
      size_t n = strlen(c->seg[i]);
      char *name = http_alloc(r, n);
      memcpy(name, c->seg[i] + 1, n - 2);
      r->param_names[r->nparams] = name;
      r->param_values[r->nparams++] = segs[i];
    }
  if (c->tail) {
    /* the rest of the path after nseg segments, without the leading '/' */
    const char *p = path;
    for (int i = 0; i < c->nseg; i++) {
      while (*p == '/')
        p++;
      while (*p && *p != '/')
        p++;
    }
    if (*p == '/') p++;
    assert(r->nparams < 16);
    r->param_names[r->nparams] = "*";
    r->param_values[r->nparams++] = p;
  }
  return 1;
}

/* Finds the most specific route; *method_mismatch is set when only the method differs. */
static const route *route_find(http_req *r, int *method_mismatch) {
  srv_priv *p = r->srv->priv;
  enum http_listener want =
      r->listener == LISTEN_BLOB_TLS || r->listener == LISTEN_DFS ? LISTEN_BLOB : r->listener;
  /* Every segment, however many: a route matches the whole path or not at all. */
  char **segs = http_alloc(r, sizeof *segs * (strlen(r->path) / 2 + 1));
  int nsegs = 0;
  char *dup = http_strdup(r, r->path), *save = NULL;
  for (char *t = strtok_r(dup, "/", &save); t; t = strtok_r(NULL, "/", &save))
    segs[nsegs++] = t;
  const compiled_route *best = NULL;
  int best_score = -1;
  *method_mismatch = 0;
  for (int i = 0; i < p->nroutes; i++) {
    const compiled_route *c = &p->routes[i];
    if (c->rt->listener != want) continue;
    if (!route_match(r, c, segs, nsegs, r->path)) continue;
    if (strcmp(c->rt->method, "*") != 0 && strcasecmp(c->rt->method, r->method) != 0) {
      *method_mismatch = 1;
      continue;
    }
    int score = c->literals * 4 + (c->tail ? 0 : 2) + (strcmp(c->rt->method, "*") ? 1 : 0);
    if (score > best_score) {
      best = c;
      best_score = score;
    }
  }
  if (best) route_match(r, best, segs, nsegs, r->path);
  return best ? best->rt : NULL;
}

/* ---- the access phase -------------------------------------------------------- */

/* Runs the providers' access hooks (api-version checks, authentication, RBAC)
 * in providers[] order; 0 when the request may reach its handler.  A route
 * that needs a caller never reaches its handler without one, even when no
 * provider authenticates: core fails closed. */
static int route_access(http_req *r, const route *rt) {
  for (int i = 0; providers[i]; i++)
    if (providers[i]->access && providers[i]->access(r, rt) != 0) {
      assert(http_failed(r));
      return -1;
    }
  if (rt->auth != AUTH_NONE && rt->auth != AUTH_PROVIDER && !r->caller) {
    http_fail(r, CORE_ERR_AUTHENTICATION_FAILED,
              "Authentication failed: no caller was authenticated.");
    return -1;
  }
  return 0;
}

/* A management request no route serves: a provider may explain it (ARM: a
 * type azlite does not implement); 0 when none did. */
static int route_unrouted(http_req *r) {
  for (int i = 0; providers[i]; i++)
    if (providers[i]->unrouted && providers[i]->unrouted(r)) return 1;
  return 0;
}

/* ---- rendering ------------------------------------------------------------ */

static void xml_escape_into(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '&':
      fputs("&amp;", f);
      break;
    case '"':
      fputs("&quot;", f);
      break;
    case '\'':
      fputs("&apos;", f);
      break;
    default:
      fputc(*s, f);
    }
  }
}

/* The one place a failure becomes Azure's error body. */
/* s with each byte that starts no valid UTF-8 sequence replaced by '?': an error
 * message may quote request bytes, and JSON and XML bodies must be UTF-8. */
static const char *utf8_scrub(http_req *r, const char *s) {
  if (!s) return "";
  size_t n = strlen(s);
  if (utf8_valid((const unsigned char *)s, n)) return s;
  char *out = http_alloc(r, n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    unsigned c = (unsigned char)s[i];
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (i + len <= n && utf8_valid((const unsigned char *)s + i, len)) {
      memcpy(out + o, s + i, len);
      o += len;
      i += len;
    } else {
      out[o++] = '?';
      i++;
    }
  }
  out[o] = 0;
  return out;
}

static void render_error(http_req *r) {
  req_state *st = RS(r);
  enum http_err_style style =
      st->fail_style_set ? st->fail_style : (st->route ? st->route->style : HTTP_ERR_ARM);
  if (!st->route && !st->fail_style_set && r->listener != LISTEN_MGMT && r->listener != LISTEN_IMDS)
    style = HTTP_ERR_STORAGE;
  int status = st->status;
  const char *code = utf8_scrub(r, st->fail_code);
  const char *msg = utf8_scrub(r, st->fail_msg);
  char *body = NULL;
  size_t len = 0;
  const char *ctype = "application/json; charset=utf-8";
  int64_t now = clock_now_ms(r->srv);
  char iso[40];
  clock_iso8601(now, iso);
  switch (style) {
  case HTTP_ERR_ARM: {
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    len = body ? strlen(body) : 0;
    http_set_header(r, "x-ms-failure-cause", "gateway");
    break;
  }
  case HTTP_ERR_MLFLOW: {
    json_t *j = json_pack("{s:s,s:s}", "error_code", code, "message", msg);
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    len = body ? strlen(body) : 0;
    break;
  }
  case HTTP_ERR_GRAPH: {
    json_t *j = json_pack("{s:{s:s,s:s,s:{s:s,s:s,s:s}}}", "error", "code", code, "message", msg,
                          "innerError", "date", iso, "request-id", r->request_id,
                          "client-request-id", r->request_id);
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    len = body ? strlen(body) : 0;
    break;
  }
  case HTTP_ERR_OAUTH: {
    int aadsts = 0;
    sscanf(msg, "AADSTS%d", &aadsts);
    char desc[1024];
    snprintf(desc, sizeof desc, "%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %.19sZ",
             msg, r->request_id, r->request_id, iso);
    json_t *j = json_pack("{s:s,s:s,s:[i],s:s,s:s,s:s}", "error", code, "error_description", desc,
                          "error_codes", aadsts, "timestamp", iso, "trace_id", r->request_id,
                          "correlation_id", r->request_id);
    body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    len = body ? strlen(body) : 0;
    break;
  }
  case HTTP_ERR_STORAGE: {
    http_set_header(r, "x-ms-error-code", code);
    ctype = "application/xml";
    if (strcasecmp(r->method, "HEAD") == 0) break;
    FILE *f = open_memstream(&body, &len);
    fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>", f);
    xml_escape_into(f, code);
    fputs("</Code><Message>", f);
    xml_escape_into(f, msg);
    fprintf(f, "\nRequestId:%s\nTime:%s</Message>", r->request_id, iso);
    for (int i = 0; i < st->fail_details.n; i++) {
      fprintf(f, "<%s>", st->fail_details.v[i].name);
      xml_escape_into(f, utf8_scrub(r, st->fail_details.v[i].value));
      fprintf(f, "</%s>", st->fail_details.v[i].name);
    }
    fputs("</Error>", f);
    fclose(f);
    break;
  }
  }
  st->failed = 0;
  if (body)
    http_reply_owned(r, status, ctype, body, len);
  else
    http_reply_length_only(r, status, ctype, 0);
  st->failed = 1;
}

/* ---- sub-requests ------------------------------------------------------------ */

static void path_set(req_state *st, const char *raw, size_t len);
static void query_add(req_state *st, hdr_list *l, const char *key, size_t klen, const char *value,
                      size_t vlen);

/* Before any handler: a name that a NUL would truncate, or that invalid
 * UTF-8 would make collide with another, names nothing. */
static void refuse_bad_uri(req_state *st) {
  http_req *r = &st->r;
  if (r->listener == LISTEN_MGMT) {
    if (st->bad_query)
      http_fail_style(r, HTTP_ERR_ARM, CORE_ERR_INVALID_REQUEST_URI,
                      "The request URI is not valid: the query parameter '%s' contains %s.",
                      st->bad_query, st->bad_uri);
    else
      http_fail_style(r, HTTP_ERR_ARM, CORE_ERR_INVALID_REQUEST_URI,
                      "The request URI is not valid: its path contains %s.", st->bad_uri);
  } else if (st->bad_query) {
    http_fail_style(r, HTTP_ERR_STORAGE, CORE_ERR_INVALID_QUERY_PARAMETER_VALUE,
                    "Value for one of the query parameters specified in the request URI is "
                    "invalid.");
    http_fail_detail(r, "QueryParameterName", st->bad_query);
    http_fail_detail(r, "Reason", st->bad_uri);
  } else {
    http_fail_style(r, HTTP_ERR_STORAGE, CORE_ERR_INVALID_URI,
                    "The requested URI does not represent any resource on the server.");
  }
}

/* A request with no connection behind it: a sub-request's or a detached
 * request's state before its target is set (target_set). */
static req_state *req_bare(srv *s, enum http_listener listener, const char *client_ip) {
  req_state *st = calloc(1, sizeof *st);
  if (!st) abort();
  gettimeofday(&st->started, NULL);
  st->body_fd = -1;
  st->fd = -1;
  http_req *r = &st->r;
  r->priv = st;
  r->srv = s;
  r->listener = listener;
  r->client_ip = http_strdup(r, client_ip);
  return st;
}

static void target_set(req_state *st, const char *method, const char *target,
                       const http_header *headers, int nheaders, const char *host);

http_req *http_subreq_new(http_req *parent, const char *method, const char *target,
                          const http_header *headers, int nheaders) {
  req_state *ps = RS(parent);
  req_state *st = req_bare(parent->srv, parent->listener, parent->client_ip);
  st->route = ps->route;
  st->sub_next = ps->subs;
  ps->subs = st;
  target_set(st, method, target, headers, nheaders, parent->host);
  return &st->r;
}

http_req *http_req_detached(srv *s, enum http_listener listener, const char *method,
                            const char *target) {
  req_state *st = req_bare(s, listener, "127.0.0.1");
  target_set(st, method, target, NULL, 0, "");
  return &st->r;
}

static void req_free(req_state *st);

void http_req_free(http_req *r) {
  req_free(RS(r));
}

/* Method, target ("path?query", raw), headers and Host (default_host without one). */
static void target_set(req_state *st, const char *method, const char *target,
                       const http_header *headers, int nheaders, const char *default_host) {
  http_req *r = &st->r;
  r->method = http_strdup(r, method);
  size_t plen = strcspn(target, "?");
  char *raw = http_alloc(r, plen + 1);
  memcpy(raw, target, plen);
  r->raw_path = raw;
  path_set(st, raw, plen);
  r->raw_query = http_strdup(r, target[plen] == '?' ? target + plen + 1 : "");
  for (const char *q = r->raw_query; *q;) {
    size_t n = strcspn(q, "&");
    size_t k = strcspn(q, "=");
    if (n > 0)
      query_add(st, &st->query, q, k < n ? k : n, k < n ? q + k + 1 : NULL, k < n ? n - k - 1 : 0);
    q += n;
    if (*q == '&') q++;
  }
  for (int i = 0; i < nheaders; i++)
    hdr_add(r, &st->headers, headers[i].name, headers[i].value);
  const char *host = hdr_find(&st->headers, "Host");
  r->host = host ? host : default_host;
  uuid_v4(r->request_id);
  if (st->bad_uri) refuse_bad_uri(st);
}

int http_reply_status(http_req *r, const char **code, const char **message) {
  req_state *st = RS(r);
  if (code) *code = st->failed ? st->fail_code : NULL;
  if (message) *message = st->failed ? st->fail_msg : NULL;
  return st->status;
}

int http_reply_headers(http_req *r, const http_header **out) {
  *out = RS(r)->out_headers.v;
  return RS(r)->out_headers.n;
}

char *http_subreq_render(http_req *r, size_t *len) {
  req_state *st = RS(r);
  if (st->failed) render_error(r);
  char *out = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&out, &n);
  const char *reason = MHD_get_reason_phrase_for((unsigned)st->status);
  fprintf(f, "HTTP/1.1 %d %s\r\n", st->status, reason ? reason : "");
  for (int i = 0; i < st->out_headers.n; i++)
    fprintf(f, "%s: %s\r\n", st->out_headers.v[i].name, st->out_headers.v[i].value);
  fprintf(f, "x-ms-request-id: %s\r\n", r->request_id);
  const char *crid = http_header_get(r, "x-ms-client-request-id");
  if (crid) fprintf(f, "x-ms-client-request-id: %s\r\n", crid);
  /* Only in-memory bodies travel inside a multipart reply. */
  size_t blen = st->kind == REPLY_BYTES ? st->data_len : 0;
  if (blen) {
    if (st->ctype) fprintf(f, "Content-Type: %s\r\n", st->ctype);
    fprintf(f, "Content-Length: %zu\r\n\r\n", blen);
    fwrite(st->data, 1, blen, f);
    fputs("\r\n", f);
  } else {
    fputs("\r\n", f);
  }
  fclose(f);
  *len = n;
  return out;
}

/* ---- the request lifecycle ---------------------------------------------------- */

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  (void)kind;
  req_state *st = cls;
  hdr_add(&st->r, &st->headers, key, value);
  return MHD_YES;
}

/* Decodes one query parameter into l; a NUL or invalid UTF-8 in its name or
 * value marks the request's URL bad. */
static void query_add(req_state *st, hdr_list *l, const char *key, size_t klen, const char *value,
                      size_t vlen) {
  const char *why_k, *why_v = NULL;
  char *k = url_decode_checked(key, klen, &why_k);
  char *v = value ? url_decode_checked(value, vlen, &why_v) : NULL;
  if ((why_k || why_v) && !st->bad_uri) {
    st->bad_uri = why_k ? why_k : why_v;
    st->bad_query = http_strdup(&st->r, k);
  }
  hdr_add(&st->r, l, k, v);
  free(k);
  free(v);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
  (void)kind;
  req_state *st = cls;
  /* keys and values arrive raw (see unescape_none); decode them here */
  query_add(st, &st->query, key, strlen(key), value, value ? strlen(value) : 0);
  return MHD_YES;
}

/* Management paths have one form: runs of '/' collapsed, no trailing '/'.
 * Router, authorization and handlers all see that form, so none of them can
 * read a padded path differently from another. */
static void path_collapse(char *p) {
  char *o = p;
  for (const char *i = p; *i; i++)
    if (!(*i == '/' && o > p && o[-1] == '/')) *o++ = *i;
  if (o > p + 1 && o[-1] == '/') o--;
  *o = 0;
}

/* Decodes the path into r->path (collapsed on the management listener). */
static void path_set(req_state *st, const char *raw, size_t len) {
  http_req *r = &st->r;
  const char *why;
  char *dec = url_decode_checked(raw, len, &why);
  if (why && !st->bad_uri) st->bad_uri = why;
  /* Resource Manager and the function apps (Kudu too) take a path with or
   * without its trailing slash alike; a blob name keeps it. */
  if (r->listener == LISTEN_MGMT || r->listener == LISTEN_WEB) {
    path_collapse(dec);
    char *rp = http_strdup(r, r->raw_path);
    path_collapse(rp);
    r->raw_path = rp;
  }
  r->path = http_strdup(r, dec);
  free(dec);
}

/* Keep the URL exactly as sent: Shared Key signs the raw path, and names may
 * hold encoded '/' or '?'.  We decode ourselves. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *uri) {
  (void)cls;
  (void)c;
  return strlen(uri);
}

static void build_raw_query(req_state *st) {
  /* MHD splits the query; keep a raw copy for logging and signature checks. */
  size_t cap = 1;
  for (int i = 0; i < st->query.n; i++)
    cap += strlen(st->query.v[i].name) * 3 + strlen(st->query.v[i].value) * 3 + 2;
  char *q = http_alloc(&st->r, cap), *o = q;
  for (int i = 0; i < st->query.n; i++) {
    if (i) *o++ = '&';
    o = stpcpy(o, http_url_encode(&st->r, st->query.v[i].name, 0));
    o = stpcpy(o, "=");
    o = stpcpy(o, http_url_encode(&st->r, st->query.v[i].value, 0));
  }
  st->r.raw_query = q;
}

static req_state *req_new(listener *l, struct MHD_Connection *conn, const char *url,
                          const char *method) {
  req_state *st = calloc(1, sizeof *st);
  if (!st) abort();
  gettimeofday(&st->started, NULL);
  st->conn = conn;
  st->body_fd = -1;
  st->fd = -1;
  http_req *r = &st->r;
  r->priv = st;
  r->srv = l->s;
  r->listener = l->id;
  r->method = http_strdup(r, method);
  r->raw_path = http_strdup(r, url);
  uuid_v4(r->request_id);
  MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, st);
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, st);
  build_raw_query(st);
  const char *host = hdr_find(&st->headers, "Host");
  r->host = host ? host : "";
  /* `azlite exec` sends every name it answers to the management port; the
   * host table (hosts.c) says which listener serves it there. */
  enum http_listener by_host;
  if (r->listener == LISTEN_MGMT && http_host_listener(r->host, &by_host)) r->listener = by_host;
  /* After that choice: a blob path keeps its trailing '/' (a blob name may
   * end in one, and Shared Key signs the path as sent). */
  path_set(st, url, strlen(url));
  /* A host that names its resource (azure_hosts.h): the path goes under
   * /azlite/host/<host>, where the provider that serves it has its routes. */
  if (r->listener == LISTEN_MGMT && http_host_is_routed(r->host)) {
    char *u = http_printf(r, "/azlite/host/%.*s%s", (int)strcspn(r->host, ":"), r->host, url);
    r->raw_path = u;
    path_set(st, u, strlen(u));
  }
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  r->client_ip = "127.0.0.1";
  if (ci && ci->client_addr) {
    char buf[64] = "";
    if (ci->client_addr->sa_family == AF_INET)
      inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, buf, sizeof buf);
    else if (ci->client_addr->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, buf,
                sizeof buf);
    if (buf[0]) r->client_ip = http_strdup(r, buf);
  }
  st->max_body = r->listener == LISTEN_MGMT ? MGMT_MAX_BODY : l->s->cfg.max_body;
  return st;
}

static int hasher_finish(req_state *st);

static void req_free(req_state *st) {
  for (req_state *c = st->subs, *n; c; c = n) {
    n = c->sub_next;
    req_free(c);
  }
  /* Before the arena goes: the records live in it, and what they release
   * may still be named by strings in it. */
  deferred *d = st->defers;
  st->defers = NULL;
  for (; d; d = d->next)
    d->fn(d->p);
  reply_reset(st);
  hasher_finish(st); /* an upload cut short still has its hasher running */
  EVP_MD_CTX_free(st->md5);
  if (st->body_fd >= 0) close(st->body_fd);
  if (st->r.body_file) {
    unlink(st->r.body_file);
    free(st->r.body_file);
  }
  free(st->r.body_mem);
  for (arena_chunk *c = st->arena, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  free(st);
}

/* A large body is hashed on its own thread, reading the spool file just
 * behind the writer, so receiving and hashing (MD5 runs at about 500 MB/s)
 * overlap instead of adding up. */
typedef struct body_hasher {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  EVP_MD_CTX *md5;
  int fd;
  uint64_t written, hashed;
  int done, failed, waiting;
} body_hasher;

static void *hasher_main(void *arg) {
  body_hasher *h = arg;
  char *buf = malloc(4 << 20);
  if (!buf) abort();
  for (;;) {
    pthread_mutex_lock(&h->mu);
    /* Wait for a few MiB at a time: fewer wake-ups on a busy machine. */
    while (h->written - h->hashed < (4u << 20) && !h->done) {
      h->waiting = 1;
      pthread_cond_wait(&h->cv, &h->mu);
      h->waiting = 0;
    }
    uint64_t avail = h->written - h->hashed;
    pthread_mutex_unlock(&h->mu);
    if (avail == 0) break; /* done, and everything hashed */
    size_t want = avail > (4u << 20) ? (4u << 20) : (size_t)avail;
    ssize_t n = pread(h->fd, buf, want, (off_t)h->hashed);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      h->failed = 1;
      break;
    }
    EVP_DigestUpdate(h->md5, buf, (size_t)n);
    pthread_mutex_lock(&h->mu);
    h->hashed += (uint64_t)n;
    pthread_mutex_unlock(&h->mu);
  }
  free(buf);
  return NULL;
}

static void hasher_start(req_state *st, uint64_t already) {
  body_hasher *h = calloc(1, sizeof *h);
  if (!h) abort();
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  h->md5 = st->md5;
  h->written = h->hashed = already;
  h->fd = open(st->r.body_file, O_RDONLY | O_CLOEXEC);
  if (h->fd < 0 || pthread_create(&h->thread, NULL, hasher_main, h) != 0) {
    if (h->fd >= 0) close(h->fd);
    free(h);
    return; /* hash inline instead */
  }
  st->hasher = h;
}

static void hasher_wrote(body_hasher *h, uint64_t n) {
  pthread_mutex_lock(&h->mu);
  h->written += n;
  if (h->waiting && h->written - h->hashed >= (4u << 20)) pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

/* Waits for the hasher to catch up; returns 0 when the MD5 covers the body. */
static int hasher_finish(req_state *st) {
  body_hasher *h = st->hasher;
  if (!h) return 0;
  pthread_mutex_lock(&h->mu);
  h->done = 1;
  pthread_cond_signal(&h->cv);
  pthread_mutex_unlock(&h->mu);
  pthread_join(h->thread, NULL);
  int rc = h->failed ? -1 : 0;
  close(h->fd);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  free(h);
  st->hasher = NULL;
  return rc;
}

/* Appends a chunk of body: memory first, then a temp file. */
static int body_append(req_state *st, const char *data, size_t n) {
  http_req *r = &st->r;
  if (r->body_len + n > st->max_body) {
    st->too_large = 1;
    return 0;
  }
  /* CRC64 (several GB/s) is computed inline; MD5 (about 500 MB/s) too until
   * the body spills to a file, then on the hasher thread. */
  if (st->digests & HTTP_DIGEST_CRC64) st->crc64 = crc64_update(st->crc64, data, n);
  if ((st->digests & HTTP_DIGEST_MD5) && !st->hasher &&
      (st->body_fd >= 0 || r->body_len + n <= HTTP_BODY_MEM_MAX))
    EVP_DigestUpdate(st->md5, data, n);
  if (st->body_fd < 0 && r->body_len + n <= HTTP_BODY_MEM_MAX) {
    if (r->body_len + n + 1 > st->mem_cap) {
      size_t cap = st->mem_cap ? st->mem_cap : 4096;
      while (cap < r->body_len + n + 1)
        cap *= 2;
      r->body_mem = realloc(r->body_mem, cap);
      if (!r->body_mem) abort();
      st->mem_cap = cap;
    }
    memcpy(r->body_mem + r->body_len, data, n);
    r->body_len += n;
    r->body_mem[r->body_len] = 0;
    return 0;
  }
  if (st->body_fd < 0) {
    if (asprintf(&r->body_file, "%s/body-XXXXXX", r->srv->tmp_dir) < 0) abort();
    st->body_fd = mkstemp(r->body_file);
    if (st->body_fd < 0) {
      log_error("spool: %s: %s", r->body_file, strerror(errno));
      return -1;
    }
    if (r->body_len && write(st->body_fd, r->body_mem, r->body_len) != (ssize_t)r->body_len)
      return -1;
    free(r->body_mem);
    r->body_mem = NULL;
    if (st->md5) hasher_start(st, r->body_len);
    if (st->md5 && !st->hasher) EVP_DigestUpdate(st->md5, data, n); /* no thread: inline */
  }
  uint64_t before = r->body_len;
  while (n > 0) {
    ssize_t w = write(st->body_fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      log_error("spool: write: %s", strerror(errno));
      return -1;
    }
    data += w;
    n -= (size_t)w;
    r->body_len += (uint64_t)w;
  }
  if (st->hasher) hasher_wrote(st->hasher, r->body_len - before);
  return 0;
}

static void dispatch(req_state *st) {
  http_req *r = &st->r;
  if (st->body_fd >= 0) {
    close(st->body_fd);
    st->body_fd = -1;
  }
  if ((st->digests & HTTP_DIGEST_CRC64) && !st->too_large) {
    r->body_crc64 = st->crc64;
    r->body_crc64_set = 1;
  }
  if ((st->digests & HTTP_DIGEST_MD5) && !st->too_large) {
    unsigned int len = 16;
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    if (hasher_finish(st) == 0) {
      EVP_DigestFinal_ex(st->md5, r->body_md5, &len);
      r->body_md5_set = 1;
    }
    gettimeofday(&t1, NULL);
    if (r->body_len > HTTP_BODY_MEM_MAX)
      log_debug("%s: body of %llu bytes received in %.1f ms, hashed %.1f ms later", r->request_id,
                (unsigned long long)r->body_len,
                (double)(t0.tv_sec - st->started.tv_sec) * 1e3 +
                    (double)(t0.tv_usec - st->started.tv_usec) / 1e3,
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_usec - t0.tv_usec) / 1e3);
  }
  if (st->headers_too_large) {
    /* Azure's front end refuses such a request with 400 before the service
     * sees it; here with the listener's error body. */
    http_fail_style(r, r->listener == LISTEN_MGMT ? HTTP_ERR_ARM : HTTP_ERR_STORAGE,
                    CORE_ERR_REQUEST_HEADER_TOO_LARGE,
                    "The size of the request headers is too long (limit %u bytes).", HEADERS_MAX);
    return;
  }
  if (st->too_large) {
    const char *msg = "The request body is too large and exceeds the maximum permissible limit.";
    if (r->listener == LISTEN_MGMT)
      http_fail(r, CORE_ERR_REQUEST_ENTITY_TOO_LARGE, "%s", msg);
    else
      http_fail(r, CORE_ERR_REQUEST_BODY_TOO_LARGE, "%s", msg);
    return;
  }
  if (st->bad_uri) {
    refuse_bad_uri(st);
    return;
  }
  const route *rt = st->route;
  if (!rt) {
    if (r->listener == LISTEN_MGMT || r->listener == LISTEN_IMDS) {
      if (st->route_mismatch)
        http_fail(r, CORE_ERR_METHOD_NOT_ALLOWED,
                  "The requested resource does not support http "
                  "method '%s'.",
                  r->method);
      else if (r->listener == LISTEN_IMDS || !route_unrouted(r))
        http_fail(r, CORE_ERR_NOT_FOUND, "The requested path '%s' was not found.", r->path);
    } else {
      http_fail(r, CORE_ERR_INVALID_URI,
                "The requested URI does not represent any resource on the server.");
    }
    return;
  }
  if (route_access(r, rt) != 0) return;
  rt->fn(r);
}

http_req *http_run_internal(srv *s, enum http_listener l, const char *method, const char *target,
                            const http_header *h, int nh, const char *body, size_t len) {
  req_state *st = req_bare(s, l, "127.0.0.1");
  target_set(st, method, target, h, nh, "");
  http_req *r = &st->r;
  if (body && len) {
    r->body_mem = malloc(len + 1);
    if (!r->body_mem) abort();
    memcpy(r->body_mem, body, len);
    r->body_mem[len] = 0;
    r->body_len = len;
    st->mem_cap = len + 1;
  }
  if (!st->bad_uri) {
    st->route = route_find(r, &st->route_mismatch);
    dispatch(st);
  }
  /* The caller reads the failure as the client would: the rendered body. */
  if (st->failed) render_error(r);
  return r;
}

const char *http_reply_body(http_req *r, size_t *len) {
  req_state *st = RS(r);
  if (st->kind != REPLY_BYTES || !st->data) {
    if (len) *len = 0;
    return "";
  }
  if (len) *len = st->data_len;
  return st->data;
}

/* A streamed body belongs to the MHD response, which libmicrohttpd destroys
 * only after on_completed() has freed the request: the reader must not live
 * in the request. */
typedef struct stream_owner {
  http_reader_fn read;
  void *cls;
  void (*free_fn)(void *);
} stream_owner;

/* A reader that cannot deliver aborts the connection: the client sees a cut
 * reply, never a complete-looking one shorter than its Content-Length. */
static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max) {
  stream_owner *so = cls;
  ssize_t n = so->read(so->cls, pos, buf, max);
  if (n <= 0 || (size_t)n > max) {
    log_error("a streamed reply failed at byte %llu: the connection is aborted",
              (unsigned long long)pos);
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  return n;
}

static void stream_free(void *cls) {
  stream_owner *so = cls;
  if (so->free_fn) so->free_fn(so->cls);
  free(so);
}

static ssize_t no_body_cb(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)cls;
  (void)pos;
  (void)buf;
  (void)max;
  return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result send_reply(req_state *st) {
  http_req *r = &st->r;
  if (!st->failed && st->kind == REPLY_FD) {
    /* A file shorter than the reply would end it early: a 500 now, while
     * the status line is still ours to choose. */
    struct stat sb;
    if (fstat(st->fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        (uint64_t)sb.st_size < st->off + st->len) {
      log_error("%s %s: the reply's file holds less than %llu bytes at %llu", r->method, r->path,
                (unsigned long long)st->len, (unsigned long long)st->off);
      http_fail(r, CORE_ERR_INTERNAL_ERROR, "The server encountered an internal error.");
    }
  }
  if (st->failed) render_error(r);
  if (st->kind == REPLY_NONE) {
    log_error("%s %s: handler produced no reply", r->method, r->path);
    http_fail(r, CORE_ERR_INTERNAL_ERROR, "The server encountered an internal error.");
    render_error(r);
  }
  struct MHD_Response *resp = NULL;
  switch (st->kind) {
  case REPLY_BYTES:
    resp = MHD_create_response_from_buffer(st->data_len, st->data, MHD_RESPMEM_MUST_FREE);
    st->data = NULL;
    st->kind = REPLY_NONE;
    break;
  case REPLY_FD:
    resp = MHD_create_response_from_fd_at_offset64(st->len, st->fd, st->off);
    st->fd = -1; /* MHD closes it */
    st->kind = REPLY_NONE;
    break;
  case REPLY_STREAM: {
    stream_owner *so = malloc(sizeof *so);
    if (!so) abort();
    *so = (stream_owner){st->reader, st->reader_cls, st->reader_free};
    resp = MHD_create_response_from_callback(st->len, 256 * 1024, stream_cb, so, stream_free);
    if (!resp) {
      free(so);
      break;
    }
    st->reader_free = NULL; /* the response owns the reader now */
    st->kind = REPLY_NONE;
    break;
  }
  case REPLY_LENGTH:
    /* A body of len bytes that is never read: MHD sends no body for HEAD. */
    if (st->len == 0)
      resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    else
      resp = MHD_create_response_from_callback(st->len, 4096, no_body_cb, NULL, NULL);
    break;
  case REPLY_NONE:
    break;
  }
  if (!resp) return MHD_NO;
  if (st->ctype) MHD_add_response_header(resp, "Content-Type", st->ctype);
  for (int i = 0; i < st->out_headers.n; i++)
    MHD_add_response_header(resp, st->out_headers.v[i].name, st->out_headers.v[i].value);
  MHD_add_response_header(resp, "x-ms-request-id", r->request_id);
  const char *crid = http_header_get(r, "x-ms-client-request-id");
  if (crid) MHD_add_response_header(resp, "x-ms-client-request-id", crid);
  if (r->listener == LISTEN_MGMT) {
    MHD_add_response_header(resp, "x-ms-correlation-request-id", r->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
  }
  MHD_add_response_header(resp, "Server", "azlite");
  enum MHD_Result ret = MHD_queue_response(st->conn, (unsigned)st->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* ---- connection deadlines ------------------------------------------------ */

static time_t mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

static void conn_phase_set(listener *l, struct MHD_Connection *conn, enum conn_phase ph) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  conn_track *t = ci ? ci->socket_context : NULL;
  if (!t) return;
  srv_priv *p = l->s->priv;
  pthread_mutex_lock(&p->conn_mu);
  t->phase = ph;
  t->since = mono_s();
  pthread_mutex_unlock(&p->conn_mu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  listener *l = cls;
  srv_priv *p = l->s->priv;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    conn_track *t = calloc(1, sizeof *t);
    if (!t) abort();
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    t->fd = ci ? ci->connect_fd : -1;
    t->since = mono_s();
    pthread_mutex_lock(&p->conn_mu);
    t->next = p->conns.next;
    t->prev = &p->conns;
    p->conns.next->prev = t;
    p->conns.next = t;
    pthread_mutex_unlock(&p->conn_mu);
    *socket_context = t;
  } else if (*socket_context) {
    /* MHD closes the socket after this returns: the reaper, which shuts
     * sockets down under conn_mu, never touches a closed (or reused) fd. */
    conn_track *t = *socket_context;
    pthread_mutex_lock(&p->conn_mu);
    t->prev->next = t->next;
    t->next->prev = t->prev;
    pthread_mutex_unlock(&p->conn_mu);
    free(t);
    *socket_context = NULL;
  }
}

/* The request line has arrived: the header deadline starts. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)uri;
  conn_phase_set(cls, conn, CONN_HEADERS);
  return NULL;
}

/* Once a second: a connection that sends no request line within the idle
 * timeout, or no complete headers within the header timeout, however it
 * trickles, is shut down, so slow clients cannot hold the listeners. */
static void *reaper_main(void *arg) {
  srv *s = arg;
  srv_priv *p = s->priv;
  pthread_mutex_lock(&p->reaper_mu);
  while (!p->reaper_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&p->reaper_cv, &p->reaper_mu, &until);
    if (p->reaper_stop) break;
    time_t now = mono_s();
    int cut = 0;
    pthread_mutex_lock(&p->conn_mu);
    for (conn_track *t = p->conns.next; t != &p->conns; t = t->next) {
      int limit = t->phase == CONN_WAIT_LINE ? s->cfg.idle_timeout_s
                  : t->phase == CONN_HEADERS ? s->cfg.header_timeout_s
                                             : 0;
      if (!limit || t->reaped || t->fd < 0 || now - t->since < limit) continue;
      shutdown(t->fd, SHUT_RDWR);
      t->reaped = 1;
      cut++;
    }
    pthread_mutex_unlock(&p->conn_mu);
    if (cut) log_info("closed %d connections that sent no complete request in time", cut);
  }
  pthread_mutex_unlock(&p->reaper_mu);
  return NULL;
}

/* libmicrohttpd's own messages, through the log (whose repeat suppression
 * keeps a failing accept loop from filling the disk). */
static void mhd_logger(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = 0;
  log_warn("http: %s", line);
}

/* ---- requests finished on other threads (http_async) ------------------------ */

static void *async_main(void *arg) {
  srv_priv *p = arg;
  pthread_mutex_lock(&p->async_mu);
  for (;;) {
    while (!p->async_head && !p->async_stop) {
      p->async_nidle++;
      pthread_cond_wait(&p->async_cv, &p->async_mu);
      p->async_nidle--;
    }
    if (!p->async_head) break;
    req_state *st = p->async_head;
    p->async_head = st->async_next;
    if (!p->async_head) p->async_tail = NULL;
    pthread_mutex_unlock(&p->async_mu);
    void (*fn)(void *) = st->async_fn;
    st->async_fn = NULL;
    fn(st->async_arg);
    st->async_done = 1;
    /* The connection's thread takes it from here (on_request sends the
     * reply); st is not touched after this. */
    MHD_resume_connection(st->conn);
    pthread_mutex_lock(&p->async_mu);
    p->async_inflight--;
    pthread_cond_broadcast(&p->async_idle_cv);
  }
  pthread_mutex_unlock(&p->async_mu);
  return NULL;
}

void http_async(http_req *r, void (*fn)(void *arg), void *arg) {
  req_state *st = RS(r);
  if (!st->conn || st->async_fn) {
    fn(arg);
    return;
  }
  st->async_fn = fn;
  st->async_arg = arg;
}

/* Suspends st's connection and queues st for an async thread. */
static void async_start(srv_priv *p, req_state *st) {
  MHD_suspend_connection(st->conn);
  pthread_mutex_lock(&p->async_mu);
  st->async_next = NULL;
  if (p->async_tail)
    p->async_tail->async_next = st;
  else
    p->async_head = st;
  p->async_tail = st;
  p->async_inflight++;
  if (!p->async_nidle && p->async_nthreads < ASYNC_THREADS) {
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    if (pthread_create(&p->async_threads[p->async_nthreads], &at, async_main, p) == 0)
      p->async_nthreads++;
    pthread_attr_destroy(&at);
  }
  pthread_cond_signal(&p->async_cv);
  pthread_mutex_unlock(&p->async_mu);
}

/* Waits for the requests in flight on async threads, then ends the threads. */
static void async_fini(srv_priv *p) {
  pthread_mutex_lock(&p->async_mu);
  while (p->async_inflight)
    pthread_cond_wait(&p->async_idle_cv, &p->async_mu);
  p->async_stop = 1;
  pthread_cond_broadcast(&p->async_cv);
  pthread_mutex_unlock(&p->async_mu);
  for (int i = 0; i < p->async_nthreads; i++)
    pthread_join(p->async_threads[i], NULL);
  p->async_nthreads = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  listener *l = cls;
  req_state *st = *con_cls;
  if (st && st->async_done) return send_reply(st); /* resumed: finished elsewhere */
  if (!st) {
    conn_phase_set(l, conn, CONN_BODY); /* headers are in */
    st = req_new(l, conn, url, method);
    *con_cls = st;
    /* Route now: the route says which digests to take while the body arrives. */
    st->route = route_find(&st->r, &st->route_mismatch);
    if (st->route && st->route->body_digests) st->digests = st->route->body_digests(&st->r);
    if (st->digests & HTTP_DIGEST_MD5) {
      st->md5 = EVP_MD_CTX_new();
      if (!st->md5 || EVP_DigestInit_ex(st->md5, EVP_md5(), NULL) != 1) abort();
    }
    size_t hbytes = strlen(url) + strlen(method) + 12;
    for (int i = 0; i < st->headers.n; i++)
      hbytes += strlen(st->headers.v[i].name) + strlen(st->headers.v[i].value) + 4;
    if (hbytes > HEADERS_MAX) st->headers_too_large = st->too_large = 1;
    const char *cl = hdr_find(&st->headers, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > st->max_body) st->too_large = 1;
    if (!st->too_large) return MHD_YES;
    /* Refuse at once only a client that waits for "100 Continue".  Any other
     * is still sending: answering now would close the connection under it, so
     * it would see a reset instead of the 413.  Its body is read and dropped. */
    const char *expect = hdr_find(&st->headers, "Expect");
    if (!expect || strcasecmp(expect, "100-continue") != 0) return MHD_YES;
    dispatch(st);
    return send_reply(st);
  }
  if (*upload_data_size) {
    if (!st->too_large && body_append(st, upload_data, *upload_data_size) != 0) {
      *upload_data_size = 0;
      return MHD_NO;
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  dispatch(st);
  if (st->async_fn) {
    async_start(l->s->priv, st);
    return MHD_YES;
  }
  return send_reply(st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  conn_phase_set(cls, conn, CONN_WAIT_LINE); /* a keep-alive connection waits again */
  req_state *st = *con_cls;
  if (!st) return;
  struct timeval now;
  gettimeofday(&now, NULL);
  double ms = (double)(now.tv_sec - st->started.tv_sec) * 1000.0 +
              (double)(now.tv_usec - st->started.tv_usec) / 1000.0;
  log_info("%s %s %s%s%s %d %.1fms %s%s", st->r.client_ip, st->r.method, st->r.raw_path,
           st->r.raw_query[0] ? "?" : "", st->r.raw_query[0] ? "<query>" : "", st->status, ms,
           st->r.request_id, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
  req_free(st);
  *con_cls = NULL;
}

/* ---- start and stop -------------------------------------------------------- */

void srv_config_defaults(srv_config *c) {
  memset(c, 0, sizeof *c);
  const char *d = getenv("AZLITE_DATA_DIR");
  c->data_dir = d && *d ? d : "azlite-data";
  c->bind = "127.0.0.1";
  c->mgmt_port = 8443;
  c->blob_port = 10000;
  c->blob_tls_port = 10443;
  c->dfs_port = 10004;
  c->log_level = LOG_INFO;
  c->threads = 4;
  c->max_body = 5000ull * 1024 * 1024;
  c->idle_timeout_s = 30;
  c->header_timeout_s = 20;
  const char *v;
  if ((v = getenv("AZLITE_MGMT_PORT"))) c->mgmt_port = atoi(v);
  if ((v = getenv("AZLITE_BLOB_PORT"))) c->blob_port = atoi(v);
  if ((v = getenv("AZLITE_BLOB_TLS_PORT"))) c->blob_tls_port = atoi(v);
  if ((v = getenv("AZLITE_DFS_PORT"))) c->dfs_port = atoi(v);
  if ((v = getenv("AZLITE_IDLE_TIMEOUT")) && atoi(v) > 0) c->idle_timeout_s = atoi(v);
  if ((v = getenv("AZLITE_HEADER_TIMEOUT")) && atoi(v) > 0) c->header_timeout_s = atoi(v);
  if ((v = getenv("AZLITE_LOG_LEVEL")) && log_level_parse(v) >= 0)
    c->log_level = log_level_parse(v);
  if ((v = getenv("AZLITE_PRICES")) && *v) c->prices_file = v;
}

static int mkdir_p(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Spooled bodies of requests a crash cut short: nothing refers to them.  Only
 * the serving process sweeps (a CLI command runs beside a live server). */
static void tmp_sweep(srv *s) {
  DIR *d = opendir(s->tmp_dir);
  if (!d) return;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, "body-", 5) == 0) {
      char *p = NULL;
      if (asprintf(&p, "%s/%s", s->tmp_dir, e->d_name) >= 0 && unlink(p) == 0) n++;
      free(p);
    }
  closedir(d);
  if (n) log_info("removed %d spooled request bodies left by an earlier run", n);
}

int srv_open(srv *s) {
  s->priv = calloc(1, sizeof(srv_priv));
  pthread_mutex_init(&s->sched_mu, NULL);
  pthread_cond_init(&s->sched_cv, NULL);
  pthread_cond_init(&s->sched_done_cv, NULL);
  log_set_level(s->cfg.log_level);
  if (mkdir_p(s->cfg.data_dir) != 0) {
    log_error("cannot create data dir %s: %s", s->cfg.data_dir, strerror(errno));
    return -1;
  }
  /* Absolute, so what we print (env, CA paths) works from any directory. */
  char *abs = realpath(s->cfg.data_dir, NULL);
  if (abs) {
    s->data_dir_abs = abs;
    s->cfg.data_dir = abs;
  }
  s->db_path = srv_path(s, "azlite.db");
  s->tmp_dir = srv_path(s, "tmp");
  if (mkdir_p(s->tmp_dir) != 0) return -1;
  snprintf(s->mgmt_url, sizeof s->mgmt_url, "https://127.0.0.1:%d", s->cfg.mgmt_port);
  snprintf(s->blob_url, sizeof s->blob_url, "http://127.0.0.1:%d", s->cfg.blob_port);
  snprintf(s->blob_tls_url, sizeof s->blob_tls_url, "https://127.0.0.1:%d", s->cfg.blob_tls_port);
  if (s->cfg.dfs_port > 0)
    snprintf(s->dfs_url, sizeof s->dfs_url, "http://127.0.0.1:%d", s->cfg.dfs_port);
  if (s->serving) tmp_sweep(s);
  if (store_init(s) != 0 || clock_init(s) != 0) return -1;
  for (int i = 0; providers[i]; i++)
    if (providers[i]->init && providers[i]->init(s) != 0) {
      log_error("provider %s failed to start", providers[i]->name);
      return -1;
    }
  char conflict[1024];
  if (routes_check(providers, conflict, sizeof conflict) != 0) {
    log_error("%s; azlite does not start with an ambiguous route table", conflict);
    return -1;
  }
  routes_compile(s);
  return 0;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    fwrite(tmp, 1, n, m);
  fclose(f);
  fclose(m);
  return buf;
}

/* How many connections each listener takes: what the descriptor limit
 * allows after a reserve for files, the store and the threads, most of it
 * for the blob listeners.  Beyond it MHD closes new connections at once. */
static unsigned conn_limit(srv *s, enum http_listener id) {
  (void)s;
  struct rlimit rl;
  rlim_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
  if (fds == RLIM_INFINITY || fds > 65536) fds = 65536;
  rlim_t usable = fds > 1024 ? fds - 512 : fds / 2;
  rlim_t n = id == LISTEN_MGMT ? usable / 8 : usable * 7 / 16;
  if (n > 16384) n = 16384;
  return n < 16 ? 16 : (unsigned)n;
}

static struct MHD_Daemon *start_one(srv *s, listener *l, int port, int tls) {
  srv_priv *p = s->priv;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, s->cfg.bind, &sa.sin_addr);
  /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it sets SO_REUSEPORT, and a second
   * azlite on the same port would then start and silently share the traffic.
   * MHD's default (SO_REUSEADDR) still lets a restart rebind at once. */
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                   MHD_ALLOW_SUSPEND_RESUME;
  if (tls) flags |= MHD_USE_TLS;
  /* Port 0: no socket of its own; connections come from srv_add_connection
   * (which MHD_USE_ITC lets wake the daemon's threads). */
  if (port == 0) flags |= MHD_USE_NO_LISTEN_SOCKET;
  /* Every listener takes connections from sandboxes too (azlite's endpoints
   * inside a VM), which only the inter-thread channel wakes it for. */
  flags |= MHD_USE_ITC;
  /* epoll and a pool of workers: a slow client costs a descriptor, not a
   * thread.  No per-IP limit: every client of a local emulator is 127.0.0.1. */
  struct MHD_OptionItem opts[] = {
      {MHD_OPTION_SOCK_ADDR, 0, &sa},
      {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)s->cfg.threads, NULL},
      {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conn_limit(s, l->id), NULL},
      {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL},
      {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, l},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, l},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, l},
      {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_none, NULL},
      /* libmicrohttpd zeroes a connection's whole pool between requests, so a
       * bigger pool costs every small request: this one holds HEADERS_MAX
       * and the read buffer, no more. */
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY, NULL},
      /* No byte either way for this long (a stalled upload, an idle
       * keep-alive) closes the connection; its request is then freed. */
      {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)s->cfg.idle_timeout_s, NULL},
      {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, p->tls_key},
      {MHD_OPTION_HTTPS_MEM_CERT, 0, p->tls_cert},
      {MHD_OPTION_END, 0, NULL},
  };
  l->s = s;
  /* MHD_OPTION_ARRAY ends at the first MHD_OPTION_END, which plain HTTP
   * puts where the TLS key would be. */
  return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opts,
                          MHD_OPTION_END);
}

int srv_listen(srv *s) {
  srv_priv *p = s->priv;
  if (pki_ensure(s) != 0) return -1;
  char *kp = srv_path(s, "pki/server.key"), *cp = srv_path(s, "pki/server.pem");
  p->tls_key = read_file(kp);
  p->tls_cert = read_file(cp);
  free(kp);
  free(cp);
  if (!p->tls_key || !p->tls_cert) {
    log_error("cannot read the server certificate");
    return -1;
  }
  /* Room for many connections: the soft descriptor limit up to the hard one. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) log_warn("cannot raise the descriptor limit");
  }
  pthread_mutex_init(&p->conn_mu, NULL);
  p->conns.next = p->conns.prev = &p->conns;
  pthread_mutex_init(&p->reaper_mu, NULL);
  pthread_cond_init(&p->reaper_cv, NULL);
  pthread_mutex_init(&p->async_mu, NULL);
  pthread_cond_init(&p->async_cv, NULL);
  pthread_cond_init(&p->async_idle_cv, NULL);
  p->async_ready = 1;
  static const struct {
    enum http_listener id;
    int tls;
  } kinds[LISTEN_COUNT] = {{LISTEN_MGMT, 1}, {LISTEN_BLOB, 0}, {LISTEN_BLOB_TLS, 1},
                           {LISTEN_DFS, 0},  {LISTEN_IMDS, 0}, {LISTEN_WEB, 0}};
  int ports[LISTEN_COUNT] = {
      s->cfg.mgmt_port, s->cfg.blob_port, s->cfg.blob_tls_port, s->cfg.dfs_port, 0, 0};
  for (int i = 0; i < LISTEN_COUNT; i++) {
    listener *l = &p->listeners[i];
    l->id = kinds[i].id;
    /* The dfs listener is optional: without its port the blob listeners serve
     * the dfs API too (requests of its shape), so a taken port is a warning. */
    if (kinds[i].id == LISTEN_DFS && ports[i] <= 0) continue;
    l->d = start_one(s, l, ports[i], kinds[i].tls);
    if (!l->d && kinds[i].id == LISTEN_DFS) {
      log_warn("cannot listen on %s:%d for Data Lake Storage (dfs): %s; dfs is served on the blob "
               "port",
               s->cfg.bind, ports[i], strerror(errno));
      s->dfs_url[0] = 0;
      continue;
    }
    if (!l->d) {
      log_error("cannot listen on %s:%d: %s", s->cfg.bind, ports[i], strerror(errno));
      return -1;
    }
  }
  if (pthread_create(&p->reaper, NULL, reaper_main, s) != 0) return -1;
  p->reaper_started = 1;
  return sched_start(s);
}

int srv_add_connection(srv *s, enum http_listener l, int fd, const char *client_ip) {
  srv_priv *p = s->priv;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  if (!p || l < 0 || l >= LISTEN_COUNT || !p->listeners[l].d ||
      inet_pton(AF_INET, client_ip, &sa.sin_addr) != 1) {
    close(fd);
    return -1;
  }
  /* MHD closes fd itself when it cannot take it. */
  if (MHD_add_connection(p->listeners[l].d, fd, (const struct sockaddr *)&sa, sizeof sa) !=
      MHD_YES) {
    log_warn("a connection handed to listener %d was refused: %s", (int)l, strerror(errno));
    return -1;
  }
  return 0;
}

void srv_close(srv *s) {
  srv_priv *p = s->priv;
  if (!p) return;
  if (p->reaper_started) {
    pthread_mutex_lock(&p->reaper_mu);
    p->reaper_stop = 1;
    pthread_cond_signal(&p->reaper_cv);
    pthread_mutex_unlock(&p->reaper_mu);
    pthread_join(p->reaper, NULL);
    p->reaper_started = 0;
  }
  if (p->async_ready) async_fini(p);
  for (int i = 0; i < LISTEN_COUNT; i++)
    if (p->listeners[i].d) {
      MHD_stop_daemon(p->listeners[i].d);
      p->listeners[i].d = NULL;
    }
  if (s->sched_thread) sched_stop(s);
  for (int i = 0; providers[i]; i++)
    if (providers[i]->fini) providers[i]->fini(s);
  routes_free(s);
  free(p->tls_key);
  free(p->tls_cert);
  store_fini(s);
  free(s->db_path);
  free(s->tmp_dir);
  free(s->data_dir_abs);
  free(p);
  s->priv = NULL;
}
