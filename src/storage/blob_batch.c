/* blob_batch.c: Blob Batch (POST ?comp=batch at the service or a container).
 *
 * The body is multipart/mixed; each part is a whole HTTP request (Delete Blob
 * or Set Blob Tier, all of one kind, at most 256).  Each part runs as a
 * sub-request through blob_dispatch(), so it is authenticated and executed
 * exactly as if it had come on its own; its reply becomes one part of the
 * multipart/mixed answer.
 *
 * SDKs address a part either with the account in the path ("/acct/c/b", as
 * the JS SDK does for path-style URLs) or relative to the account ("/c/b", as
 * the Python SDK does, signing "/acct/c/b"); the second runs host-style, so
 * that the account comes from the host and the signature still holds.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blob.h"

#define BATCH_MAX_PARTS 256
#define BATCH_MAX_BODY (4u * 1024 * 1024)

typedef struct batch_part {
  const char *content_id;
  const char *method, *target;
  http_header headers[64];
  int nheaders;
} batch_part;

/* A body Azure cannot split into parts it runs is still a batch: 202, with
 * one part (no Content-ID) that carries the error.  Only what the request's
 * own headers get wrong (its Content-Type) is refused outright. */
static void reply_body_error(blob_ctx *c, int status, const char *code, const char *msg) {
  http_req *r = c->r;
  http_req *er = http_subreq_new(r, r->method, r->raw_path, NULL, 0);
  http_fail(er, status, code, "%s", msg);
  size_t sl;
  char *reply = http_subreq_render(er, &sl);
  char bid[37];
  uuid_v4(bid);
  char *out = NULL;
  size_t outlen = 0;
  FILE *f = open_memstream(&out, &outlen);
  fprintf(f, "--batchresponse_%s\r\nContent-Type: application/http\r\n\r\n", bid);
  fwrite(reply, 1, sl, f);
  fprintf(f, "--batchresponse_%s--\r\n", bid);
  fclose(f);
  free(reply);
  http_reply_owned(r, 202, http_printf(r, "multipart/mixed; boundary=batchresponse_%s", bid), out,
                   outlen);
}

static void fail_input(blob_ctx *c) {
  reply_body_error(c, 400, "InvalidInput", "One of the request inputs is not valid.");
}

/* The boundary of Content-Type: multipart/mixed; boundary=... (request-scoped). */
static const char *batch_boundary(blob_ctx *c) {
  const char *ct = http_header_get(c->r, "Content-Type");
  if (!ct) {
    http_fail(c->r, STORAGE_ERR_MISSING_REQUIRED_HEADER,
              "An HTTP header that's mandatory for this request is not specified.");
    http_fail_detail(c->r, "HeaderName", "Content-Type");
    return NULL;
  }
  const char *b = strcasestr(ct, "boundary=");
  if (strncasecmp(ct, "multipart/mixed", 15) != 0 || !b) {
    blob_fail_header(c, "Content-Type", ct);
    return NULL;
  }
  b += 9;
  size_t n = strcspn(b, ";");
  while (n > 0 && b[n - 1] == ' ')
    n--;
  if (n >= 2 && b[0] == '"' && b[n - 1] == '"') {
    b++;
    n -= 2;
  }
  if (n == 0) {
    blob_fail_header(c, "Content-Type", ct);
    return NULL;
  }
  return http_printf(c->r, "%.*s", (int)n, b);
}

/* Cuts the next line off *p (CRLF or LF); NULL at the end. */
static char *next_line(char **p) {
  if (!*p || !**p) return NULL;
  char *line = *p;
  char *nl = strchr(line, '\n');
  if (nl) {
    *nl = 0;
    *p = nl + 1;
    if (nl > line && nl[-1] == '\r') nl[-1] = 0;
  } else {
    *p = line + strlen(line);
  }
  return line;
}

/* Parses one part: its MIME headers, a blank line, the request line, headers. */
static int parse_part(blob_ctx *c, char *text, batch_part *out) {
  memset(out, 0, sizeof *out);
  char *p = text, *line;
  next_line(&p); /* the rest of the boundary line */
  while ((line = next_line(&p)) && *line) {
    if (strncasecmp(line, "Content-ID:", 11) == 0) {
      const char *v = line + 11;
      while (*v == ' ')
        v++;
      out->content_id = http_strdup(c->r, v);
    }
  }
  while ((line = next_line(&p)) && !*line) {
  }
  if (!line) return -1;
  char *sp1 = strchr(line, ' ');
  char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (!sp1 || !sp2) return -1;
  *sp1 = *sp2 = 0;
  out->method = http_strdup(c->r, line);
  out->target = http_strdup(c->r, sp1 + 1);
  while ((line = next_line(&p)) && *line) {
    char *colon = strchr(line, ':');
    if (!colon || out->nheaders == 64) return -1;
    *colon = 0;
    const char *v = colon + 1;
    while (*v == ' ')
      v++;
    out->headers[out->nheaders++] = (http_header){http_strdup(c->r, line), http_strdup(c->r, v)};
  }
  return 0;
}

/* Splits the body at the boundary lines into parts (request-scoped). */
static int parse_parts(blob_ctx *c, char *body, const char *boundary, batch_part **out) {
  char *delim = http_printf(c->r, "--%s", boundary);
  size_t dl = strlen(delim);
  int n = 0;
  batch_part *parts = http_alloc(c->r, sizeof *parts * (BATCH_MAX_PARTS + 1));
  char *p = strstr(body, delim);
  if (!p) return -1;
  for (;;) {
    p += dl;
    if (p[0] == '-' && p[1] == '-') break; /* the closing delimiter */
    char *next = strstr(p, delim);
    if (!next) return -1;
    if (n > BATCH_MAX_PARTS) return n;
    *next = 0;
    if (parse_part(c, p, &parts[n]) != 0) return -1;
    n++;
    p = next;
  }
  *out = parts;
  return n;
}

/* Is a part Delete Blob (1) or Set Blob Tier (2)?  0 for anything else. */
static int part_kind(const batch_part *bp) {
  const char *q = strchr(bp->target, '?');
  int tier = 0;
  for (const char *s = q; s && *s; s++)
    if ((s[0] == '?' || s[0] == '&') && strncasecmp(s + 1, "comp=", 5) == 0)
      tier = strncasecmp(s + 6, "tier", 4) == 0 && (s[10] == 0 || s[10] == '&') ? 2 : -1;
  if (strcasecmp(bp->method, "DELETE") == 0 && tier == 0) return 1;
  if (strcasecmp(bp->method, "PUT") == 0 && tier == 2) return 2;
  return 0;
}

void blob_submit_batch(blob_ctx *c) {
  http_req *r = c->r;
  const char *boundary = batch_boundary(c);
  if (!boundary) return;
  size_t len;
  char *body = http_body_read_all(r, BATCH_MAX_BODY, &len);
  if (!body) return;
  batch_part *parts = NULL;
  int n = parse_parts(c, body, boundary, &parts);
  free(body);
  if (n <= 0) {
    fail_input(c);
    return;
  }
  if (n > BATCH_MAX_PARTS) {
    reply_body_error(c, 400, "ExceedsMaxBatchRequestCount",
                     "The batch operation exceeds maximum number of allowed subrequests.");
    return;
  }
  /* A path-style batch URL keeps the account in its path; so may its parts. */
  const char *acct_prefix = http_printf(r, "/%s/", c->account);
  const char *host_style = http_printf(r, "%s.blob.localhost", c->account);
  size_t al = strlen(c->account);
  int path_style = !(strncasecmp(r->host, c->account, al) == 0 && r->host[al] == '.');
  int kind = 0;
  for (int i = 0; i < n; i++) {
    int k = part_kind(&parts[i]);
    if (k == 0) {
      fail_input(c);
      return;
    }
    if (kind && k != kind) {
      reply_body_error(c, 400, "AllBatchSubRequestsShouldBeSameApi",
                       "All batch subrequests should be the same api.");
      return;
    }
    kind = k;
  }
  char bid[37];
  uuid_v4(bid);
  char *out = NULL;
  size_t outlen = 0;
  FILE *f = open_memstream(&out, &outlen);
  for (int i = 0; i < n; i++) {
    batch_part *bp = &parts[i];
    const char *target = bp->target;
    /* rel: the part's path below the account. */
    int with_account = path_style && strncmp(target, acct_prefix, strlen(acct_prefix)) == 0;
    if (with_account && c->container) {
      const char *in_ct = http_printf(r, "%s%s/", acct_prefix, c->container);
      with_account = strncmp(target, in_ct, strlen(in_ct)) == 0;
    }
    const char *rel = with_account ? target + strlen(acct_prefix) - 1 : target;
    /* Parts of a container's batch must name blobs of that container. */
    if (c->container) {
      size_t cl = strlen(c->container);
      if (rel[0] != '/' || strncmp(rel + 1, c->container, cl) != 0 || rel[cl + 1] != '/') {
        fclose(f);
        free(out);
        fail_input(c);
        return;
      }
    }
    /* The part's addressing decides its Host (which no signature covers). */
    const char *host = path_style && !with_account ? host_style : r->host;
    int h = 0;
    while (h < bp->nheaders && strcasecmp(bp->headers[h].name, "Host") != 0)
      h++;
    if (h == bp->nheaders && bp->nheaders < 64) bp->nheaders++;
    bp->headers[h < 64 ? h : 63] = (http_header){"Host", host};
    http_req *sub = http_subreq_new(r, bp->method, target, bp->headers, bp->nheaders);
    if (!http_failed(sub)) blob_dispatch(sub);
    size_t sl;
    char *reply = http_subreq_render(sub, &sl);
    fprintf(f, "--batchresponse_%s\r\nContent-Type: application/http\r\n", bid);
    if (bp->content_id) fprintf(f, "Content-ID: %s\r\n", bp->content_id);
    fputs("\r\n", f);
    fwrite(reply, 1, sl, f);
    free(reply);
  }
  fprintf(f, "--batchresponse_%s--\r\n", bid);
  fclose(f);
  char *ctype = http_printf(r, "multipart/mixed; boundary=batchresponse_%s", bid);
  http_reply_owned(r, 202, ctype, out, outlen);
}
