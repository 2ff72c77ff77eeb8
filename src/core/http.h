/* http.h: one HTTP request as a handler sees it, and the ways to answer it.
 *
 * The core (server.c) owns the request: it reads the headers, spools the body
 * (memory up to HTTP_BODY_MEM_MAX, a temp file in <data>/tmp beyond), routes,
 * runs the providers' access phase (authentication: core.h's provider.access),
 * and renders errors in the route's style.  A handler reads the
 * request, then either sets a reply (http_reply_*) or fails (http_fail); it
 * never writes to the socket itself.  All strings a request hands out live
 * until the request ends.
 */
#ifndef AZLITE_HTTP_H
#define AZLITE_HTTP_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct srv;
struct principal;

/* Bodies up to this size stay in memory; larger ones go to a temp file. */
#define HTTP_BODY_MEM_MAX (256 * 1024)

/* How a failure is rendered: each route declares one. */
enum http_err_style {
  HTTP_ERR_ARM,     /* {"error":{"code","message"}} */
  HTTP_ERR_STORAGE, /* <Error><Code/><Message/></Error> + x-ms-error-code */
  HTTP_ERR_OAUTH,   /* {"error","error_description","error_codes",...} */
  HTTP_ERR_GRAPH,   /* {"error":{"code","message","innerError":{...}}} */
  HTTP_ERR_MLFLOW,  /* {"error_code","message"}: MLflow's REST API */
};

/* Which listener a request arrived on. */
enum http_listener {
  LISTEN_MGMT,     /* HTTPS: ARM, AAD, Graph, admin */
  LISTEN_BLOB,     /* HTTP: blob data plane (Azurite's port) */
  LISTEN_BLOB_TLS, /* HTTPS: blob data plane (bearer tokens) */
  LISTEN_DFS,      /* HTTP: Data Lake Storage (dfs), served by the blob routes */
  /* HTTP: the Instance Metadata Service, with no socket of its own on the
   * host: only connections a provider hands over (srv_add_connection) from
   * inside a sandbox reach it, their client address naming the sandbox. */
  LISTEN_IMDS,
  /* HTTPS: App Service sites (<app>.azurewebsites.net, <app>.scm...), no
   * socket of its own: requests reach it on the management port, by Host
   * (see the host table in server.c). */
  LISTEN_WEB,
  LISTEN_COUNT
};

/* Digests of a request body the core can compute as it arrives. */
enum http_digest { HTTP_DIGEST_MD5 = 1, HTTP_DIGEST_CRC64 = 2 };

typedef struct http_header {
  const char *name;
  const char *value;
} http_header;

typedef struct http_req {
  struct srv *srv;
  enum http_listener listener;
  const char *method;    /* "GET", "PUT", ... */
  const char *raw_path;  /* as sent, still percent-encoded, no query */
  const char *path;      /* percent-decoded */
  const char *raw_query; /* as sent after '?', or "" */
  const char *host;      /* Host header or "" */
  const char *client_ip; /* "127.0.0.1" */
  char request_id[40];   /* x-ms-request-id, set on every reply */

  /* Path parameters captured by the route pattern ({name} segments and the
   * trailing '*'), in order.  Values are percent-decoded. */
  int nparams;
  const char *param_names[16];
  const char *param_values[16];

  /* Body: exactly one of body_mem (NUL-terminated) or body_file is set, or
   * neither when empty.  A handler that wants to keep the spooled file (e.g. a
   * blob upload) calls http_body_take_file() and owns the path afterwards. */
  uint64_t body_len;
  char *body_mem;
  char *body_file;
  /* The digests the route asked for (route.body_digests) are computed while
   * the body arrives, so a large upload is never read twice: body_md5 is valid
   * when body_md5_set, body_crc64 (see crc64_update) when body_crc64_set. */
  int body_md5_set;
  unsigned char body_md5[16];
  int body_crc64_set;
  uint64_t body_crc64;

  /* Set by the provider that authenticated the request (NULL for anonymous or
   * SAS); opaque to core: struct principal is identity's (identity.h). */
  struct principal *caller;

  /* Private to the core. */
  void *priv;
} http_req;

/* Header lookup, case-insensitive; NULL when absent. */
const char *http_header_get(http_req *r, const char *name);
/* All request headers (for canonicalization); returns count, *out valid for the request. */
int http_headers_all(http_req *r, const http_header **out);
/* Query parameter lookup (name case-insensitive), decoded; NULL when absent. */
const char *http_query_get(http_req *r, const char *name);
/* All query parameters, decoded; returns count. */
int http_query_all(http_req *r, const http_header **out);
/* Path parameter by name; NULL when absent. */
const char *http_param(http_req *r, const char *name);
/* The `data` of the route that serves the request (NULL when none). */
const void *http_route_data(http_req *r);

/* Parses the body as JSON.  On failure fails the request (400 InvalidRequestContent
 * in ARM style) and returns NULL.  Caller owns the reference. */
json_t *http_body_json(http_req *r);
/* Takes ownership of the spooled body file (NULL if the body is in memory or
 * empty).  The caller must rename or unlink the returned path (malloc'd). */
char *http_body_take_file(http_req *r);
/* Reads the whole body into a malloc'd NUL-terminated buffer; only for bodies
 * known to be small (XML block lists, JSON).  Fails the request beyond max. */
char *http_body_read_all(http_req *r, size_t max, size_t *len);

/* Request-scoped allocation: freed when the request ends. */
void *http_alloc(http_req *r, size_t n);
char *http_strdup(http_req *r, const char *s);
char *http_printf(http_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Request-scoped cleanup: fn(p) runs when the request ends (after its reply
 * is built and sent; a sub-request's with its parent's), the last registered
 * first.  For what a handler must release on every path (json_t, malloc'd
 * buffers) instead of freeing it before each return.  A streamed reply's
 * reader must not use what a deferred fn releases. */
void http_defer(http_req *r, void (*fn)(void *), void *p);
/* Finishes r on another thread: after the handler returns, fn(arg) runs on
 * one of the core's async threads and sets r's reply, while the HTTP thread
 * serves its other connections (a handler that waits on something slow, such
 * as a scoring script, would otherwise hold them all).  r must not be touched
 * by anyone else meanwhile.  Called at most once per request; an internal
 * request runs fn at once. */
void http_async(http_req *r, void (*fn)(void *arg), void *arg);
/* Defers json_decref(j) (j may be NULL); returns j.  Never hand a reference
 * owned this way to a call that steals it (http_reply_json): json_incref it. */
json_t *http_json_own(http_req *r, json_t *j);

/* Reply headers; values are copied. Setting a name twice replaces it. */
void http_set_header(http_req *r, const char *name, const char *value);
void http_set_headerf(http_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Replies.  Each replaces any previous reply. */
void http_reply_empty(http_req *r, int status);
/* Steals the reference to j; j may be NULL for an empty body. */
void http_reply_json(http_req *r, int status, json_t *j);
/* Copies the bytes. content_type may be NULL. */
void http_reply_bytes(http_req *r, int status, const char *content_type, const void *data,
                      size_t len);
/* Takes ownership of the malloc'd buffer. */
void http_reply_owned(http_req *r, int status, const char *content_type, char *data, size_t len);
/* Sends len bytes from fd at off (zero-copy where the OS allows). Takes ownership of fd. */
void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t off,
                   uint64_t len);
/* Streams from a callback: read up to max bytes at pos into buf; return bytes
 * (0 never; -1 on error).  free_fn(cls) runs when the reply is done. */
typedef ssize_t (*http_reader_fn)(void *cls, uint64_t pos, char *buf, size_t max);
void http_reply_stream(http_req *r, int status, const char *content_type, uint64_t len,
                       http_reader_fn read, void *cls, void (*free_fn)(void *));

/* A reply of len bytes that has no body to send: for HEAD, where the core sends
 * Content-Length: len and no body. */
void http_reply_length_only(http_req *r, int status, const char *content_type, uint64_t len);

/* Fails the request: the core renders status/code/message in the route's style. */
void http_fail(http_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same, with an explicit style (e.g. OAuth errors on an ARM-styled listener). */
void http_fail_style(http_req *r, enum http_err_style style, int status, const char *code,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Adds extra elements to a storage error body, e.g. <AuthenticationErrorDetail>. */
void http_fail_detail(http_req *r, const char *xml_name, const char *value);
int http_failed(http_req *r);

/* Percent-decoding (returns malloc'd) and RFC 3986 encoding into a request-scoped string. */
char *http_url_decode(const char *s, size_t len);
char *http_url_encode(http_req *r, const char *s, int keep_slash);

/* RFC 1123 date, e.g. "Thu, 26 Nov 2026 10:00:00 GMT", from unix ms. */
void http_date(int64_t ms, char out[32]);
/* Parses RFC 1123 date; returns unix ms or -1. */
int64_t http_date_parse(const char *s);

/* Sub-requests: a request made inside another one (a Blob Batch part, the
 * source URL of a copy).  A target whose path or query holds a NUL or invalid
 * UTF-8 comes back already failed (400): check http_failed() before running
 * a handler on it.  It has its own method, target ("path?query", raw),
 * headers, arena and reply; it shares the parent's server, listener, client
 * address and (without a Host header) host; it lives until the parent ends.
 * It has no body. */
http_req *http_subreq_new(http_req *parent, const char *method, const char *target,
                          const http_header *headers, int nheaders);
/* Renders a sub-request's reply (failures in its route's style) as an HTTP/1.1
 * response message: status line, headers, blank line, in-memory body.  malloc'd. */
char *http_subreq_render(http_req *sub, size_t *len);
/* The status of the reply or failure set so far (0: none); when it failed,
 * *code and *message are the failure's, else NULL.  Either may be NULL. */
int http_reply_status(http_req *r, const char **code, const char **message);
/* The reply headers set so far; returns the count. */
int http_reply_headers(http_req *r, const http_header **out);

/* Runs a request made inside azlite (a template deployment's resource PUTs
 * and GETs) through the same routing, access phase (authentication and RBAC
 * from the Authorization header in h) and handler as a client's, on any
 * thread.  target is "path?query", raw; body is copied.  The finished request
 * (a failure already rendered into its body) is the caller's: http_req_free. */
http_req *http_run_internal(struct srv *s, enum http_listener l, const char *method,
                            const char *target, const http_header *h, int nh, const char *body,
                            size_t len);
/* The in-memory reply body set so far ("" with *len 0 when none). */
const char *http_reply_body(http_req *r, size_t *len);
void http_req_free(http_req *r);

#endif
