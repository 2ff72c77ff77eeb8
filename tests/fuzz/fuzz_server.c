/* fuzz_server.c: whole requests through a real azlite: libmicrohttpd's parsing,
 * the core's decoding and routing, authentication (bearer tokens, Shared Key,
 * SAS), and every handler with its JSON and XML bodies, its headers (Range,
 * If-Match lists, dates, metadata) and its store writes.
 *
 * LLVMFuzzerInitialize starts a server on free ports over a fresh data dir (under
 * $TMPDIR); each input is one request on a new connection.  Input:
 *   [@mgmt]                       optional: the management listener (HTTPS)
 *   METHOD TARGET                 e.g. PUT /devstoreaccount1/c/b?comp=block&{sas}
 *   Name: value                   headers, up to a blank line
 *   body...
 * In the target and header values "{sub}" becomes the subscription id, "{sas}" an
 * account SAS of devstoreaccount1 that grants everything, and on the management
 * listener a request with no Authorization header carries the admin's bearer
 * token, so the fuzzer reaches the handlers behind authentication.  The target
 * sets Host, Content-Length and Connection itself, so every request is one the
 * server reads whole.  A reply that never comes (8 s) is a finding.  Replies
 * with status 500 are printed (the first 40); AZLITE_FUZZ_500=abort makes them
 * findings too.  Requests to the admin clock are dropped: advancing the clock
 * would expire the SAS for the rest of the run. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/core.h"
#include "core/internal.h" /* srv_open, srv_listen, srv_close: what `azlite serve` calls */
#include "fuzz.h"
#include "identity/identity.h"

#define SAS                                                                                        \
  "st=2020-01-01T00%3A00%3A00Z&se=2099-01-01T00%3A00%3A00Z&sp=rwdxylacupfti&sv=2021-12-02"         \
  "&ss=b&srt=sco&sig=tEAJvt3Y5Ep9x53dE4VIaXs5j2f7Sk/PjZeIC26UyvI%3D"

static srv S;
static char data_dir[512];
static char *mgmt_token, *graph_token;
static SSL_CTX *tls;
static int reported_500;

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof sa;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &n) != 0)
    abort();
  close(fd);
  return ntohs(sa.sin_port);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void stop_server(void) {
  srv_close(&S);
  if (data_dir[0]) nftw(data_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Replaces every `from` in s with `to`; malloc'd. */
static char *replace_all(const char *s, const char *from, const char *to) {
  size_t fl = strlen(from), tl = strlen(to), n = 0;
  for (const char *p = s; (p = strstr(p, from)); p += fl)
    n++;
  char *out = malloc(strlen(s) + n * tl + 1), *o = out;
  if (!out) abort();
  for (const char *p = s, *q;; p = q + fl) {
    q = strstr(p, from);
    if (!q) {
      strcpy(o, p);
      break;
    }
    memcpy(o, p, (size_t)(q - p));
    o += q - p;
    memcpy(o, to, tl);
    o += tl;
  }
  return out;
}

static char *expand(const char *s) {
  char *a = replace_all(s, "{sub}", S.subscription_id);
  char *b = replace_all(a, "{sas}", SAS);
  free(a);
  return b;
}

/* Sends req on a new connection and reads the reply until the server closes it;
 * returns the reply (malloc'd) or NULL when none came in time. */
static char *roundtrip(int mgmt, const char *req, size_t len, size_t *out_len) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  sa.sin_port = htons((uint16_t)(mgmt ? S.cfg.mgmt_port : S.cfg.blob_port));
  struct timeval tv = {.tv_sec = 8};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "fuzz_server: connect: %s\n", strerror(errno));
    abort();
  }
  SSL *ssl = NULL;
  if (mgmt) {
    ssl = SSL_new(tls);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
      fprintf(stderr, "fuzz_server: TLS handshake failed\n");
      abort();
    }
  }
  for (size_t off = 0; off < len;) {
    ssize_t n =
        ssl ? SSL_write(ssl, req + off, (int)(len - off)) : send(fd, req + off, len - off, 0);
    if (n <= 0) break; /* the server may answer and close before reading it all */
    off += (size_t)n;
  }
  size_t cap = 4096, got = 0;
  char *buf = malloc(cap);
  int timed_out = 0;
  for (;;) {
    if (got + 4096 > cap) buf = realloc(buf, cap *= 2);
    ssize_t n = ssl ? SSL_read(ssl, buf + got, 4096) : recv(fd, buf + got, 4096, 0);
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) timed_out = 1;
    break;
  }
  if (ssl) SSL_free(ssl);
  close(fd);
  ERR_clear_error();
  buf[got] = 0;
  *out_len = got;
  if (timed_out && got == 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  signal(SIGPIPE, SIG_IGN);
  const char *tmp = getenv("TMPDIR");
  snprintf(data_dir, sizeof data_dir, "%s/azlite-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(data_dir)) abort();
  srv_config_defaults(&S.cfg);
  S.cfg.data_dir = data_dir;
  S.cfg.mgmt_port = free_port();
  S.cfg.blob_port = free_port();
  S.cfg.blob_tls_port = free_port();
  S.cfg.log_level = LOG_ERROR;
  S.cfg.threads = 2;
  S.serving = 1;
  if (srv_open(&S) != 0 || srv_listen(&S) != 0) {
    fprintf(stderr, "fuzz_server: azlite did not start\n");
    abort();
  }
  atexit(stop_server);
  principal p = {0};
  char *appid = store_get(&S, "admin.appid"), *oid = store_get(&S, "admin.oid");
  snprintf(p.appid, sizeof p.appid, "%s", appid ? appid : "");
  snprintf(p.oid, sizeof p.oid, "%s", oid ? oid : "");
  free(appid);
  free(oid);
  mgmt_token = identity_mint_token(&S, &p, AUD_MGMT, 86400);
  graph_token = identity_mint_token(&S, &p, AUD_GRAPH, 86400);
  tls = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL);
  if (!mgmt_token || !graph_token || !tls) abort();
  /* What most seeds act on, so each seed means the same run alone or in a corpus. */
  static const char *const setup[] = {
      "PUT /devstoreaccount1/fuzzc?restype=container&{sas}\n\n",
      "PUT /devstoreaccount1/fuzzc/dir/b1.txt?{sas}\nx-ms-blob-type: BlockBlob\n\nhello",
      "PUT /devstoreaccount1/fuzzc/big?{sas}\nx-ms-blob-type: BlockBlob\n\nbig",
      "PUT /devstoreaccount1/fuzzc/pg?{sas}\nx-ms-blob-type: PageBlob\nx-ms-blob-content-length: "
      "4096\n\n",
      "PUT /devstoreaccount1/fuzzc/ap?{sas}\nx-ms-blob-type: AppendBlob\n\n",
      "@mgmt\nPUT /subscriptions/{sub}/resourcegroups/rg1?api-version=2021-04-01\n\n"
      "{\"location\":\"eastus\"}",
      "@mgmt\nPUT /subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.Storage/"
      "storageAccounts/fuzzacct1?api-version=2022-09-01\n\n{\"location\":\"eastus\",\"sku\":"
      "{\"name\":\"Standard_LRS\"},\"kind\":\"StorageV2\"}",
  };
  for (size_t i = 0; i < sizeof setup / sizeof setup[0]; i++)
    LLVMFuzzerTestOneInput((const uint8_t *)setup[i], strlen(setup[i]));
  /* Say so when the credentials no longer open the doors (a changed key, SAS rules). */
  size_t n;
  const char *checks[][2] = {
      {"", "GET /devstoreaccount1?comp=list&%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
      {"m", "GET /subscriptions?api-version=2022-12-01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Authorization: Bearer %s\r\n\r\n"}};
  for (int i = 0; i < 2; i++) {
    char *req = NULL;
    if (asprintf(&req, checks[i][1], i ? mgmt_token : SAS) < 0) abort();
    char *rep = roundtrip(checks[i][0][0] == 'm', req, strlen(req), &n);
    if (!rep || strncmp(rep, "HTTP/1.1 200", 12) != 0)
      fprintf(stderr, "fuzz_server: WARNING: %s credentials refused: %.200s\n",
              i ? "admin token" : "SAS", rep ? rep : "(no reply)");
    free(rep);
    free(req);
  }
  return 0;
}

/* Header names the target sets itself. */
static int own_header(const char *name) {
  return !strcasecmp(name, "Content-Length") || !strcasecmp(name, "Connection") ||
         !strcasecmp(name, "Transfer-Encoding") || !strcasecmp(name, "Expect");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = fuzz_cstr(data, size), *p = in;
  /* The body starts after the first blank line; it may hold NULs. */
  const char *body = "";
  size_t body_len = 0;
  char *blank = strstr(in, "\n\n");
  char *crlf = strstr(in, "\r\n\r\n");
  if (crlf && (!blank || crlf < blank)) {
    *crlf = 0;
    body = (const char *)data + (crlf - in) + 4;
  } else if (blank) {
    *blank = 0;
    body = (const char *)data + (blank - in) + 2;
  } else {
    body = (const char *)data + size;
  }
  body_len = size - (size_t)(body - (const char *)data);
  char *body_exp = NULL;
  if (!memchr(body, 0, body_len)) {
    body_exp = expand(in + (body - (const char *)data)); /* in: NUL-terminated */
    body = body_exp;
    body_len = strlen(body_exp);
  }
  int mgmt = 0;
  char *line = fuzz_line(&p);
  if (line && strcmp(line, "@mgmt") == 0) {
    mgmt = 1;
    line = fuzz_line(&p);
  }
  if (!line || !*line) {
    free(body_exp);
    free(in);
    return 0;
  }
  char *sp = strchr(line, ' ');
  const char *method = line;
  char *target = sp ? (*sp = 0, sp + 1) : (char *)"/";
  if (!*method || strstr(target, "azlite/clock")) {
    free(body_exp);
    free(in);
    return -1; /* not worth keeping */
  }
  /* A request line with spaces or control bytes in the target never reaches
   * azlite; encode them so the input still tests the parsers behind it. */
  char *t = expand(target);
  char *enc = malloc(strlen(t) * 3 + 1), *o = enc;
  for (const unsigned char *c = (unsigned char *)t; *c; c++) {
    if (*c <= 0x20 || *c >= 0x7f) {
      o += sprintf(o, "%%%02X", *c);
    } else {
      *o++ = (char)*c;
    }
  }
  *o = 0;
  free(t);

  FILE *f;
  char *req = NULL;
  size_t req_len = 0;
  f = open_memstream(&req, &req_len);
  for (const char *c = method; *c; c++)
    fputc(*c > 0x20 && *c < 0x7f ? *c : 'X', f);
  fprintf(f, " %s HTTP/1.1\r\n", enc);
  int has_auth = 0, has_host = 0;
  while ((line = fuzz_line(&p))) {
    char *colon = strchr(line, ':');
    if (!colon || colon == line) continue;
    *colon = 0;
    if (own_header(line)) continue;
    has_auth |= !strcasecmp(line, "Authorization");
    has_host |= !strcasecmp(line, "Host");
    char *v = expand(colon + 1);
    fprintf(f, "%s:%s\r\n", line, v);
    free(v);
  }
  if (!has_host) fprintf(f, "Host: 127.0.0.1:%d\r\n", mgmt ? S.cfg.mgmt_port : S.cfg.blob_port);
  if (mgmt && !has_auth)
    fprintf(f, "Authorization: Bearer %s\r\n",
            strncasecmp(enc, "/graph/", 7) == 0 ? graph_token : mgmt_token);
  fprintf(f, "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
  fwrite(body, 1, body_len, f);
  fclose(f);

  size_t rep_len = 0;
  char *rep = roundtrip(mgmt, req, req_len, &rep_len);
  if (!rep) {
    fprintf(stderr, "fuzz_server: no reply in 8 s to:\n%.2000s\n", req);
    abort();
  }
  if (getenv("AZLITE_FUZZ_VERBOSE")) /* what each input got, for writing seeds */
    fprintf(stderr, "%.80s -> %.*s %.120s\n", req, (int)strcspn(rep, "\r"), rep,
            strstr(rep, "\r\n\r\n") ? strstr(rep, "\r\n\r\n") + 4 : "");
  if (rep_len >= 12 && strncmp(rep, "HTTP/1.1 500", 12) == 0) {
    const char *mode = getenv("AZLITE_FUZZ_500");
    if (reported_500++ < 40 || (mode && !strcmp(mode, "abort")))
      fprintf(stderr, "fuzz_server: 500 for:\n%.1500s\n---- reply:\n%.1500s\n====\n", req, rep);
    if (mode && !strcmp(mode, "abort")) abort();
  }
  free(rep);
  free(req);
  free(enc);
  free(body_exp);
  free(in);
  return 0;
}
