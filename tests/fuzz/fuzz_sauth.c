/* fuzz_sauth.c: Shared Key, Shared Key Lite and SAS (account, service, user
 * delegation) parsing and verification (src/storage/sauth.c) on arbitrary requests.
 *
 * Input: an optional first line "!sign" or "!signlite" (the target then signs the
 * request itself with the devstoreaccount1 key, so verification goes on past the
 * signature), the request line "METHOD /account/container/blob?query", then header
 * lines "Name: value".  The request accessors sauth.c uses are faked here, as in
 * tests/unit/test_sauth.c, so the linker leaves the server out. */
#include <stdarg.h>
#include <strings.h>

#include "fuzz.h"
#include "storage/sauth.h"

#define FAKE_MAX 64
#define KEY1                                                                                       \
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#define NOW 1764064800000LL /* 2025-11-25T10:00:00Z */

typedef struct fake {
  http_req r;
  http_header headers[FAKE_MAX];
  int nheaders;
  http_header query[FAKE_MAX];
  int nquery;
  int nfail;
} fake;

const char *http_header_get(http_req *r, const char *name) {
  fake *f = r->priv;
  for (int i = 0; i < f->nheaders; i++)
    if (strcasecmp(f->headers[i].name, name) == 0) return f->headers[i].value;
  return NULL;
}

int http_headers_all(http_req *r, const http_header **out) {
  fake *f = r->priv;
  *out = f->headers;
  return f->nheaders;
}

const char *http_query_get(http_req *r, const char *name) {
  fake *f = r->priv;
  for (int i = 0; i < f->nquery; i++)
    if (strcasecmp(f->query[i].name, name) == 0) return f->query[i].value;
  return NULL;
}

int http_query_all(http_req *r, const http_header **out) {
  fake *f = r->priv;
  *out = f->query;
  return f->nquery;
}

void http_fail(http_req *r, int status, const char *code, const char *fmt, ...) {
  fake *f = r->priv;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  FUZZ_ASSERT(status >= 400 && status < 600 && code && *code);
  f->nfail++;
}

void http_fail_detail(http_req *r, const char *xml_name, const char *value) {
  (void)r;
  FUZZ_ASSERT(xml_name && value);
}

/* In-place percent-decoding (the core decodes query names and values). */
static char *decode(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    unsigned a, b;
    if (p[0] == '%' && sscanf(p + 1, "%1x%1x", &a, &b) == 2) {
      *o++ = (char)(a * 16 + b);
      p += 2;
    } else {
      *o++ = *p;
    }
  }
  *o = 0;
  return s;
}

static void udk(void *cls, const char *skoid, const char *sktid, const char *skt, const char *ske,
                const char *sks, const char *skv, char out[48]) {
  (void)cls;
  FUZZ_ASSERT(skoid && sktid && skt && ske && sks && skv);
  snprintf(out, 48, "%s", KEY1);
}

static int policy(void *cls, const char *container, const char *id, sauth_policy *out) {
  (void)cls;
  (void)container;
  if (strcmp(id, "p1") != 0) return -1;
  snprintf(out->permissions, sizeof out->permissions, "rwdl");
  out->start_ms = -1;
  out->expiry_ms = NOW + 3600000;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_cstr(data, size), *p = buf, *line;
  fake *f = calloc(1, sizeof *f);
  if (!f) abort();
  f->r.priv = f;
  f->r.client_ip = "127.0.0.1";
  f->r.listener = LISTEN_BLOB;
  int sign = 0;
  if (!(line = fuzz_line(&p))) goto out;
  if (strcmp(line, "!sign") == 0 || strcmp(line, "!signlite") == 0) {
    sign = line[5] ? 2 : 1;
    if (!(line = fuzz_line(&p))) goto out;
  }
  char *sp = strchr(line, ' ');
  f->r.method = line;
  char *target = sp ? (*sp = 0, sp + 1) : (char *)"/";
  char *q = strchr(target, '?');
  if (q) *q++ = 0;
  f->r.raw_path = target;
  f->r.raw_query = q ? q : "";
  char *path = strdup(target), *save = NULL;
  f->r.path = decode(path);
  for (char *kv = q ? strtok_r(q, "&", &save) : NULL; kv && f->nquery < FAKE_MAX;
       kv = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(kv, '=');
    if (eq) *eq++ = 0;
    f->query[f->nquery++] = (http_header){decode(kv), eq ? decode(eq) : ""};
  }
  while ((line = fuzz_line(&p)) && f->nheaders < FAKE_MAX - 1) {
    char *colon = strchr(line, ':');
    if (!colon) continue;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ')
      v++;
    f->headers[f->nheaders++] = (http_header){line, v};
  }

  /* /account/container/blob... as the blob front door splits it. */
  char *copy = strdup(f->r.path), *account = copy;
  while (*account == '/')
    account++;
  char *container = strchr(account, '/'), *blob = NULL;
  if (container) {
    *container++ = 0;
    blob = strchr(container, '/');
    if (blob) *blob++ = 0;
    if (!*container) container = NULL;
    if (blob && !*blob) blob = NULL;
  }

  char sig[64], *auth = NULL;
  if (sign) {
    char *sts = sign == 1 ? sauth_sharedkey_string_to_sign(&f->r, "devstoreaccount1")
                          : sauth_sharedkeylite_string_to_sign(&f->r, "devstoreaccount1");
    if (sts && sauth_hmac_b64(KEY1, sts, strlen(sts), sig) == 0 &&
        asprintf(&auth, "%s devstoreaccount1:%s", sign == 1 ? "SharedKey" : "SharedKeyLite", sig) >
            0)
      f->headers[f->nheaders++] = (http_header){"Authorization", auth};
    free(sts);
  }
  free(sauth_sharedkey_string_to_sign(&f->r, "devstoreaccount1"));
  free(sauth_sharedkeylite_string_to_sign(&f->r, "devstoreaccount1"));
  free(sauth_udk_string_to_sign(&f->r, "devstoreaccount1", container ? container : "c", blob));

  sauth_keys keys = {.account = "devstoreaccount1", .key1 = KEY1, .key2 = KEY1, .udk = udk};
  sauth_result res;
  memset(&res, 0, sizeof res);
  int rc = sauth_authenticate(&f->r, &keys, container, blob, NOW, NOW, policy, NULL, &res);
  /* Failing is answering exactly once; succeeding is not answering. */
  FUZZ_ASSERT(rc == 0 ? f->nfail == 0 : (rc == -1 && f->nfail == 1));
  if (rc == 0) {
    static const char perms[] = "racwdxltfmeiyp";
    for (const char *c = perms; *c; c++)
      for (const char *t = "sco"; *t; t++)
        (void)sauth_sas_allows(&res, *c, *t);
  }
  free(auth);
  free(copy);
  free(path);
out:
  free(f);
  free(buf);
  return 0;
}
