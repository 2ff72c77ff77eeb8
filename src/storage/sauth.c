/* sauth.c: how Azure Storage authenticates a blob request, reproduced exactly:
 * Shared Key and Shared Key Lite signatures, account SAS and service SAS tokens
 * (with stored access policies, IP ranges and protocol restrictions).
 *
 * Every string-to-sign here follows the field list of the signed version the
 * client sent (sv / x-ms-version), because each SDK signs with the layout of
 * the version it targets and the service accepts all of them.  The functions
 * are pure apart from the request accessors and http_fail().
 */
#include "sauth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char MSG_AUTH_FAILED[] = "Server failed to authenticate the request. Make sure the "
                                      "value of Authorization header is formed correctly "
                                      "including the signature.";
static const char DETAIL_NOT_WELL_FORMED[] = "Signature fields not well formed.";

/* ---- a growable string ---------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) {
  if (s) sb_putn(b, s, strlen(s));
}

static void sb_putc(sbuf *b, char c) {
  sb_putn(b, &c, 1);
}

/* Hands over the string (malloc'd, "" when nothing was written); NULL only when out of
 * memory.  The buffer is empty afterwards. */
static char *sb_take(sbuf *b) {
  char *p = b->p;
  if (b->oom) {
    free(p);
    p = NULL;
  } else if (!p) {
    p = calloc(1, 1);
  }
  memset(b, 0, sizeof(*b));
  return p;
}

/* Appends a field after the first of a SAS string-to-sign: the service joins the fields
 * with "\n", with none after the last. */
static void sb_field(sbuf *b, const char *value) {
  sb_putc(b, '\n');
  sb_puts(b, value);
}

/* ---- HMAC, signatures ------------------------------------------------------------- */

int sauth_hmac_b64(const char *key_b64, const char *msg, size_t msglen, char out[64]) {
  unsigned char key[256];
  size_t klen = key_b64 ? strlen(key_b64) : 0;
  if (klen == 0 || klen % 4 != 0 || klen / 4 * 3 > sizeof(key)) return -1;
  int n = EVP_DecodeBlock(key, (const unsigned char *)key_b64, (int)klen);
  if (n < 0) return -1;
  /* EVP_DecodeBlock counts the padding as zero bytes; the key is shorter by that much. */
  if (key_b64[klen - 1] == '=') n--;
  if (key_b64[klen - 2] == '=') n--;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  const unsigned char *ok =
      HMAC(EVP_sha256(), key, n, (const unsigned char *)msg, msglen, mac, &maclen);
  OPENSSL_cleanse(key, sizeof(key));
  if (!ok) return -1;
  EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
  return 0;
}

/* Constant-time comparison of a computed base64 signature with the one sent.  A '+' that
 * reached us as a space (an unencoded '+' in a query string) still counts: base64 never
 * contains spaces. */
static int sig_equal(const char *computed, const char *given) {
  size_t n = strlen(computed);
  char buf[64];
  if (strlen(given) != n || n >= sizeof(buf)) return 0;
  for (size_t i = 0; i < n; i++)
    buf[i] = given[i] == ' ' ? '+' : given[i];
  return CRYPTO_memcmp(computed, buf, n) == 0;
}

/* Does `sig` sign `sts` with key1 or key2? */
static int keys_verify(const sauth_keys *keys, const char *sts, const char *sig) {
  const char *k[2] = {keys->key1, keys->key2};
  for (int i = 0; i < 2; i++) {
    char mac[64];
    if (k[i] && *k[i] && sauth_hmac_b64(k[i], sts, strlen(sts), mac) == 0 && sig_equal(mac, sig))
      return 1;
  }
  return 0;
}

/* ---- failures ---------------------------------------------------------------------- */

static int fail_auth(http_req *r, const char *detail) {
  http_fail(r, STORAGE_ERR_AUTHENTICATION_FAILED, "%s", MSG_AUTH_FAILED);
  http_fail_detail(r, "AuthenticationErrorDetail", detail);
  return -1;
}

static int fail_authf(http_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_authf(http_req *r, const char *fmt, ...) {
  char *detail = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&detail, fmt, ap);
  va_end(ap);
  fail_auth(r, n >= 0 ? detail : "");
  if (n >= 0) free(detail);
  return -1;
}

static int fail_oom(http_req *r) {
  http_fail(r, STORAGE_ERR_INTERNAL_ERROR,
            "Server encountered an internal error. Please try again after some time.");
  return -1;
}

/* ---- Shared Key canonicalization -------------------------------------------------- */

/* The service orders x-ms-* header names by this alphabet, not by byte value (the
 * SDKs copy it): '-' sorts first and '_' before the digits.  Bytes outside it sort last,
 * by value. */
static int header_char_weight(unsigned char c) {
  static const char order[] = "-!#$%&*.^_|~+\"'(),/`~0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "[]abcdefghijklmnopqrstuvwxyz{}";
  const char *p = c ? strchr(order, c) : NULL;
  return p ? (int)(p - order) : 256 + c;
}

static int header_name_cmp(const char *a, const char *b) {
  for (;; a++, b++) {
    if (!*a || !*b) return (unsigned char)*a - (unsigned char)*b;
    int d = header_char_weight((unsigned char)*a) - header_char_weight((unsigned char)*b);
    if (d) return d;
  }
}

typedef struct kv {
  char *name; /* lowercased copy */
  const char *value;
} kv;

static int kv_header_cmp(const void *x, const void *y) {
  return header_name_cmp(((const kv *)x)->name, ((const kv *)y)->name);
}

static int kv_query_cmp(const void *x, const void *y) {
  const kv *a = x, *b = y;
  int d = strcmp(a->name, b->name);
  return d ? d : strcmp(a->value, b->value);
}

static char *lower_dup(const char *s) {
  char *d = strdup(s);
  for (char *p = d; p && *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  return d;
}

static void kv_free(kv *v, int n) {
  for (int i = 0; i < n; i++)
    free(v[i].name);
  free(v);
}

/* A header value as signed: leading whitespace dropped (the "space after the colon"),
 * and a folded line break with the whitespace around it turned into one space. */
static void sb_header_value(sbuf *b, const char *v) {
  while (*v == ' ' || *v == '\t')
    v++;
  while (*v) {
    if (*v == '\r' || *v == '\n') {
      size_t t = b->len;
      while (t > 0 && (b->p[t - 1] == ' ' || b->p[t - 1] == '\t'))
        t--;
      if (!b->oom && b->p) b->p[b->len = t] = '\0';
      while (*v == '\r' || *v == '\n' || *v == ' ' || *v == '\t')
        v++;
      if (*v) sb_putc(b, ' ');
      continue;
    }
    sb_putc(b, *v++);
  }
}

/* x-ms-* headers, lowercased, sorted, one "name:value\n" each; a header sent twice is
 * signed once with its values joined by commas. */
static int sb_canonical_headers(sbuf *b, http_req *r) {
  const http_header *h = NULL;
  int n = http_headers_all(r, &h);
  kv *v = calloc(n > 0 ? (size_t)n : 1, sizeof(*v));
  int m = 0;
  if (!v) return -1;
  for (int i = 0; i < n; i++) {
    if (strncasecmp(h[i].name, "x-ms-", 5) != 0) continue;
    v[m].name = lower_dup(h[i].name);
    v[m].value = h[i].value ? h[i].value : "";
    if (!v[m++].name) {
      kv_free(v, m);
      return -1;
    }
  }
  /* Stable order for equal names keeps repeated values in the order they were sent. */
  for (int i = 1; i < m; i++)
    for (int j = i; j > 0 && kv_header_cmp(&v[j - 1], &v[j]) > 0; j--) {
      kv t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  for (int i = 0; i < m; i++) {
    if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0) {
      sb_putc(b, ',');
    } else {
      if (i > 0) sb_putc(b, '\n');
      sb_puts(b, v[i].name);
      sb_putc(b, ':');
    }
    sb_header_value(b, v[i].value);
  }
  if (m > 0) sb_putc(b, '\n');
  kv_free(v, m);
  return 0;
}

/* "\nname:v1,v2" per query parameter: names lowercased and sorted, values decoded,
 * a repeated parameter's values sorted and joined with commas. */
static int sb_canonical_query(sbuf *b, http_req *r) {
  const http_header *q = NULL;
  int n = http_query_all(r, &q);
  kv *v = calloc(n > 0 ? (size_t)n : 1, sizeof(*v));
  if (!v) return -1;
  for (int i = 0; i < n; i++) {
    v[i].name = lower_dup(q[i].name);
    v[i].value = q[i].value ? q[i].value : "";
    if (!v[i].name) {
      kv_free(v, i);
      return -1;
    }
  }
  if (n > 1) qsort(v, (size_t)n, sizeof(*v), kv_query_cmp);
  for (int i = 0; i < n; i++) {
    if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0) {
      sb_putc(b, ',');
    } else {
      sb_putc(b, '\n');
      sb_puts(b, v[i].name);
      sb_putc(b, ':');
    }
    sb_puts(b, v[i].value);
  }
  kv_free(v, n);
  return 0;
}

static const char *header_or_empty(http_req *r, const char *name) {
  const char *v = http_header_get(r, name);
  return v ? v : "";
}

/* Date as signed: empty when x-ms-date is present (the service then ignores Date), unless
 * `with_date`, for clients that sign the Date header they also send. */
static const char *signed_date(http_req *r, int with_date) {
  if (http_header_get(r, "x-ms-date") && !with_date) return "";
  return header_or_empty(r, "Date");
}

/* The path part of the canonicalized resource: the path as sent, still encoded.  On
 * Azurite-style URLs it begins with the account, which is why the account then appears
 * twice. */
static const char *raw_path(http_req *r) {
  return r->raw_path && *r->raw_path ? r->raw_path : "/";
}

static char *sharedkey_sts(http_req *r, const char *account, int with_date) {
  sbuf b = {0};
  const char *len = header_or_empty(r, "Content-Length");
  const char *ver = http_header_get(r, "x-ms-version");
  /* Since 2015-02-21 a zero Content-Length is signed as empty. */
  if (strcmp(len, "0") == 0 && (!ver || strcmp(ver, "2015-02-21") >= 0)) len = "";
  const char *fields[] = {
      r->method,
      header_or_empty(r, "Content-Encoding"),
      header_or_empty(r, "Content-Language"),
      len,
      header_or_empty(r, "Content-MD5"),
      header_or_empty(r, "Content-Type"),
      signed_date(r, with_date),
      header_or_empty(r, "If-Modified-Since"),
      header_or_empty(r, "If-Match"),
      header_or_empty(r, "If-None-Match"),
      header_or_empty(r, "If-Unmodified-Since"),
      header_or_empty(r, "Range"),
  };
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    sb_puts(&b, fields[i]);
    sb_putc(&b, '\n');
  }
  if (sb_canonical_headers(&b, r) < 0) b.oom = 1;
  sb_putc(&b, '/');
  sb_puts(&b, account);
  sb_puts(&b, raw_path(r));
  if (sb_canonical_query(&b, r) < 0) b.oom = 1;
  return sb_take(&b);
}

static char *sharedkeylite_sts(http_req *r, const char *account, int with_date) {
  sbuf b = {0};
  const char *fields[] = {r->method, header_or_empty(r, "Content-MD5"),
                          header_or_empty(r, "Content-Type"), signed_date(r, with_date)};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    sb_puts(&b, fields[i]);
    sb_putc(&b, '\n');
  }
  if (sb_canonical_headers(&b, r) < 0) b.oom = 1;
  sb_putc(&b, '/');
  sb_puts(&b, account);
  sb_puts(&b, raw_path(r));
  /* Shared Key Lite signs only the comp parameter of the query. */
  const char *comp = http_query_get(r, "comp");
  if (comp) {
    sb_puts(&b, "?comp=");
    sb_puts(&b, comp);
  }
  return sb_take(&b);
}

char *sauth_sharedkey_string_to_sign(http_req *r, const char *account) {
  return sharedkey_sts(r, account, 0);
}

char *sauth_sharedkeylite_string_to_sign(http_req *r, const char *account) {
  return sharedkeylite_sts(r, account, 0);
}

static int parse_rfc1123_ms(const char *s, int64_t *ms);

/* A Shared Key request is valid for 15 minutes either side of its date (x-ms-date, else
 * Date), on the wall clock: the client stamps its own wall clock, and the window only
 * bounds replays, so azlite's advanceable clock has no say here. */
#define SAUTH_DATE_SKEW_MS (15 * 60 * 1000LL)

static int check_request_date(http_req *r, int64_t wall_ms) {
  const char *d = http_header_get(r, "x-ms-date");
  if (!d) d = http_header_get(r, "Date");
  int64_t t;
  if (!d || parse_rfc1123_ms(d, &t) < 0)
    return fail_auth(r, "The Date header in the request is incorrect.");
  if (t < wall_ms - SAUTH_DATE_SKEW_MS)
    return fail_authf(r, "Request date header too old: '%s'", d);
  if (t > wall_ms + SAUTH_DATE_SKEW_MS)
    return fail_authf(r, "Request date header too new: '%s'", d);
  return 0;
}

static int authenticate_sharedkey(http_req *r, const sauth_keys *keys, const char *auth,
                                  int64_t wall_ms, sauth_result *out) {
  int lite;
  const char *p;
  if (strncmp(auth, "SharedKeyLite ", 14) == 0) {
    lite = 1;
    p = auth + 14;
  } else {
    lite = 0;
    p = auth + 10;
  }
  while (*p == ' ')
    p++;
  const char *colon = strchr(p, ':');
  if (!colon || colon == p || !colon[1]) {
    http_fail(r, STORAGE_ERR_INVALID_AUTHENTICATION_INFO_400,
              "Authentication information is not given in the correct format. Check the "
              "value of Authorization header.");
    return -1;
  }
  size_t alen = (size_t)(colon - p);
  if (alen != strlen(keys->account) || strncmp(p, keys->account, alen) != 0)
    return fail_authf(r,
                      "Cannot find the claimed account when trying to GetProperties for the "
                      "account %.*s.",
                      (int)alen, p);
  const char *sig = colon + 1;
  if (check_request_date(r, wall_ms) < 0) return -1;
  /* Clients that send both Date and x-ms-date sign either way; try the service's
   * reading first, the Date header second. */
  int variants = http_header_get(r, "x-ms-date") && http_header_get(r, "Date") ? 2 : 1;
  char *first = NULL;
  int ok = 0;
  for (int v = 0; v < variants && !ok; v++) {
    char *sts = lite ? sharedkeylite_sts(r, keys->account, v) : sharedkey_sts(r, keys->account, v);
    if (!sts) {
      free(first);
      return fail_oom(r);
    }
    ok = keys_verify(keys, sts, sig);
    if (!first)
      first = sts;
    else
      free(sts);
  }
  if (!ok) {
    fail_authf(r,
               "The MAC signature found in the HTTP request '%s' is not the same as any "
               "computed signature. Server used following string to sign: '%s'.",
               sig, first);
    free(first);
    return -1;
  }
  free(first);
  out->kind = SAUTH_SHARED_KEY;
  return 0;
}

/* ---- SAS: times, IP ranges, protocols --------------------------------------------- */

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* The ISO 8601 forms a SAS may carry: YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.fff...]]TZD with
 * TZD "Z" or +hh:mm / -hh:mm.  Returns 0 and unix ms, or -1. */
static int parse_sas_time(const char *s, int64_t *ms) {
  int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0;
  if (strlen(s) < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d))
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return -1;
  if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return -1;
  const char *p = s + 10;
  int64_t offset_s = 0;
  if (*p) {
    if (*p != 'T' || digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &mi)) return -1;
    p += 6;
    if (*p == ':') {
      if (digits(p + 1, 2, &sec)) return -1;
      p += 3;
      if (*p == '.') {
        int nd = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, nd++)
          if (nd < 3) frac_ms = frac_ms * 10 + (*p - '0');
        if (nd == 0) return -1;
        for (; nd < 3; nd++)
          frac_ms *= 10;
      }
    }
    if (h > 23 || mi > 59 || sec > 59) return -1;
    if (*p == 'Z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      int oh, om;
      if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
        return -1;
      offset_s = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
      p += 6;
    } else {
      return -1;
    }
    if (*p) return -1;
  }
  int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  *ms = t * 1000 + frac_ms;
  return 0;
}

/* RFC 1123, as the service prints times in its error details. */
static void rfc1123(int64_t ms, char out[40]) {
  static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  /* Any int64 of ms is within gmtime's range on a 64-bit time_t. */
  struct tm tm = {0};
  gmtime_r(&t, &tm);
  snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday], tm.tm_mday,
           mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* "Sun, 06 Nov 1994 08:49:37 GMT", the one form the service accepts in Date and x-ms-date:
 * 0 and unix ms, or -1. */
static int parse_rfc1123_ms(const char *s, int64_t *ms) {
  static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int d, y, h, mi, sec, m = -1, w = -1;
  if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0 ||
      digits(s + 5, 2, &d) || digits(s + 12, 4, &y) || digits(s + 17, 2, &h) ||
      digits(s + 20, 2, &mi) || digits(s + 23, 2, &sec))
    return -1;
  for (int i = 0; i < 12; i++)
    if (strncmp(s + 8, mon[i], 3) == 0) m = i + 1;
  for (int i = 0; i < 7; i++)
    if (strncmp(s, wd[i], 3) == 0) w = i;
  if (m < 0 || w < 0 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return -1;
  *ms = (days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000;
  return 0;
}

/* SAS start and expiry (and user delegation key expiry) follow azlite's clock, the one
 * `azlite clock advance` moves: a SAS is a stored credential whose lapse a user tests by
 * advancing time.  When that clock runs ahead of the wall clock the detail says so, since
 * a SAS minted from the wall clock then lapses early. */
static void clock_note(char *out, size_t n, int64_t now, int64_t wall) {
  int64_t ahead = now - wall;
  out[0] = '\0';
  if (ahead < 60 * 1000) return;
  snprintf(out, n,
           " (azlite's clock, which SAS times follow, is %lldh%02lldm ahead of the wall clock "
           "after `azlite clock advance`)",
           (long long)(ahead / 3600000), (long long)(ahead / 60000 % 60));
}

/* A missing start means "from now"; the detail then names no start time. */
static int check_time_frame(http_req *r, int64_t start, int64_t expiry, int64_t now, int64_t wall) {
  char s[40], e[40], n[40], note[160];
  if (start >= 0 ? (start < expiry && now >= start && now < expiry) : now < expiry) return 0;
  rfc1123(expiry, e);
  rfc1123(now, n);
  clock_note(note, sizeof note, now, wall);
  if (start < 0)
    return fail_authf(r,
                      "Signature not valid in the specified time frame: Expiry [%s] - "
                      "Current [%s]%s",
                      e, n, note);
  rfc1123(start, s);
  if (start >= expiry)
    return fail_authf(r, "Signed expiry time [%s] must be after signed start time [%s]", e, s);
  return fail_authf(r,
                    "Signature not valid in the specified time frame: Start [%s] - Expiry "
                    "[%s] - Current [%s]%s",
                    s, e, n, note);
}

static int parse_ipv4(const char *s, size_t n, uint32_t *out) {
  uint32_t v = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    int octet = 0, nd = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && nd < 4) {
      octet = octet * 10 + (s[i++] - '0');
      nd++;
    }
    if (nd == 0 || nd > 3 || octet > 255) return -1;
    v = v << 8 | (uint32_t)octet;
    if (++parts < 4) {
      if (i >= n || s[i] != '.') return -1;
      i++;
    }
  }
  if (i != n) return -1;
  *out = v;
  return 0;
}

/* sip: one IPv4 address or an inclusive range "a-b".  Returns 1 allowed, 0 refused,
 * -1 malformed. */
static int sip_allows(const char *sip, const char *client) {
  uint32_t lo, hi, ip;
  const char *dash = strchr(sip, '-');
  if (dash) {
    if (parse_ipv4(sip, (size_t)(dash - sip), &lo) || parse_ipv4(dash + 1, strlen(dash + 1), &hi))
      return -1;
  } else {
    if (parse_ipv4(sip, strlen(sip), &lo)) return -1;
    hi = lo;
  }
  if (!client) return 0;
  if (strncasecmp(client, "::ffff:", 7) == 0) client += 7;
  if (parse_ipv4(client, strlen(client), &ip)) return 0;
  return ip >= lo && ip <= hi;
}

/* Fields common to account and service SAS once the signature holds: IP range and
 * protocol.  Returns 0 or fails the request. */
static int check_sip_spr(http_req *r, const char *sip, const char *spr) {
  if (sip) {
    int ok = sip_allows(sip, r->client_ip);
    if (ok < 0) return fail_auth(r, DETAIL_NOT_WELL_FORMED);
    if (!ok) {
      http_fail(r, STORAGE_ERR_AUTHORIZATION_SOURCE_IP_MISMATCH,
                "This request is not authorized to perform this operation using this source "
                "IP %s.",
                r->client_ip ? r->client_ip : "");
      return -1;
    }
  }
  if (spr) {
    int https_only;
    if (strcmp(spr, "https") == 0)
      https_only = 1;
    else if (strcmp(spr, "https,http") == 0 || strcmp(spr, "http,https") == 0)
      https_only = 0;
    else
      return fail_auth(r, DETAIL_NOT_WELL_FORMED);
    if (https_only && r->listener == LISTEN_BLOB) {
      http_fail(r, STORAGE_ERR_AUTHORIZATION_PROTOCOL_MISMATCH,
                "This request is not authorized to perform this operation using this "
                "protocol.");
      return -1;
    }
  }
  return 0;
}

/* ---- SAS: parameters and strings to sign ------------------------------------------- */

static const char *qv(http_req *r, const char *name) {
  const char *v = http_query_get(r, name);
  return v ? v : "";
}

/* A field the SAS must carry: its value, or NULL (request failed) when absent or blank. */
static const char *require_field(http_req *r, const char *name) {
  const char *v = http_query_get(r, name);
  const char *p = v ? v + strspn(v, " \t") : NULL;
  if (!p || !*p) {
    fail_authf(r, "%s is mandatory. Cannot be empty", name);
    return NULL;
  }
  return v;
}

static int only_chars(const char *s, const char *allowed) {
  return *s && strspn(s, allowed) == strlen(s);
}

/* Every version of the Blob service REST API, newest first (Azure's list, as Azurite keeps
 * it, plus 2026-10-06, which @azure/storage-blob 12.34 sends). */
static const char *const KNOWN_VERSIONS[] = {
    "2026-10-06", "2026-06-06", "2026-04-06", "2026-02-06", "2025-11-05", "2025-07-05",
    "2025-05-05", "2025-01-05", "2024-11-04", "2024-08-04", "2024-05-04", "2024-02-04",
    "2023-11-03", "2023-08-03", "2023-01-03", "2022-11-02", "2021-12-02", "2021-10-04",
    "2021-08-06", "2021-06-08", "2021-04-10", "2021-02-12", "2020-12-06", "2020-10-02",
    "2020-08-04", "2020-06-12", "2020-04-08", "2020-02-10", "2019-12-12", "2019-10-10",
    "2019-07-07", "2019-02-02", "2018-11-09", "2018-03-28", "2017-11-09", "2017-07-29",
    "2017-04-17", "2016-05-31", "2015-12-11", "2015-07-08", "2015-04-05", "2015-02-21",
    "2014-02-14", "2013-08-15", "2012-02-12", "2011-08-18", "2009-09-19", "2009-07-17",
    "2009-04-14",
};

int sauth_version_known(const char *v) {
  for (size_t i = 0; v && i < sizeof KNOWN_VERSIONS / sizeof KNOWN_VERSIONS[0]; i++)
    if (strcmp(v, KNOWN_VERSIONS[i]) == 0) return 1;
  return 0;
}

/* Signed versions are dates, so they compare as strings; only real ones have a layout. */
static int version_ok(const char *sv) {
  return sauth_version_known(sv);
}

static char *account_sas_sts(http_req *r, const char *account) {
  sbuf b = {0};
  const char *sv = qv(r, "sv");
  const char *fields[] = {account,      qv(r, "sp"),  qv(r, "ss"),
                          qv(r, "srt"), qv(r, "st"),  qv(r, "se"),
                          qv(r, "sip"), qv(r, "spr"), sv};
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    sb_puts(&b, fields[i]);
    sb_putc(&b, '\n');
  }
  if (strcmp(sv, "2020-12-06") >= 0) {
    sb_puts(&b, qv(r, "ses"));
    sb_putc(&b, '\n');
  }
  return sb_take(&b);
}

/* The length of the directory a directory SAS (sr=d) is bound to: the first sdd
 * segments of the blob name. */
static int directory_prefix(const char *blob, const char *sdd, size_t *len) {
  int depth, nd = (int)strlen(sdd);
  if (nd == 0 || nd > 4 || digits(sdd, nd, &depth)) return -1;
  size_t end = 0;
  for (int seg = 0; seg < depth; seg++) {
    const char *slash = strchr(blob + end + (seg > 0), '/');
    if (!slash) {
      end = strlen(blob);
      break;
    }
    end = (size_t)(slash - blob);
  }
  *len = end;
  return 0;
}

/* The canonicalized resource of a service or user delegation SAS: "/blob/account/container"
 * plus "/blob" for blob resources ("/account/..." before 2015-02-21). */
static int sb_sas_resource(sbuf *b, http_req *r, const char *account, const char *container,
                           const char *blob) {
  const char *sv = qv(r, "sv");
  const char *sr = qv(r, "sr");
  sb_putc(b, '\n');
  if (strcmp(sv, "2015-02-21") >= 0) sb_puts(b, "/blob");
  sb_putc(b, '/');
  sb_puts(b, account);
  sb_putc(b, '/');
  sb_puts(b, container);
  if (strcmp(sr, "c") == 0 || !blob) return 0;
  size_t n = strlen(blob);
  if (strcmp(sr, "d") == 0 && directory_prefix(blob, qv(r, "sdd"), &n) < 0) return -1;
  if (n > 0) {
    sb_putc(b, '/');
    sb_putn(b, blob, n);
  }
  return 0;
}

/* What the SAS signs as the snapshot time: the snapshot or version the request names. */
static const char *signed_snapshot(http_req *r) {
  const char *sr = qv(r, "sr");
  if (strcmp(sr, "bs") == 0) return qv(r, "snapshot");
  if (strcmp(sr, "bv") == 0) return qv(r, "versionid");
  return "";
}

/* The part after the identity fields, shared by service and user delegation SAS. */
static void sb_sas_tail(sbuf *b, http_req *r, int udk) {
  const char *sv = qv(r, "sv");
  if (strcmp(sv, "2015-04-05") >= 0) {
    sb_field(b, qv(r, "sip"));
    sb_field(b, qv(r, "spr"));
  }
  sb_field(b, sv);
  if (strcmp(sv, "2018-11-09") >= 0) {
    sb_field(b, qv(r, "sr"));
    sb_field(b, signed_snapshot(r));
  }
  if (strcmp(sv, "2020-12-06") >= 0) sb_field(b, qv(r, "ses"));
  if (udk && strcmp(sv, "2026-04-06") >= 0) {
    /* srh / srq: the named request headers and query parameters, with their values. */
    sbuf h = {0}, q = {0};
    char *keys = strdup(qv(r, "srh")), *save = NULL;
    for (char *k = keys ? strtok_r(keys, ",", &save) : NULL; k; k = strtok_r(NULL, ",", &save)) {
      sb_puts(&h, k);
      sb_putc(&h, ':');
      sb_puts(&h, header_or_empty(r, k));
      sb_putc(&h, '\n');
    }
    free(keys);
    keys = strdup(qv(r, "srq"));
    for (char *k = keys ? strtok_r(keys, ",", &save) : NULL; k; k = strtok_r(NULL, ",", &save)) {
      sb_putc(&q, '\n');
      sb_puts(&q, k);
      sb_putc(&q, ':');
      sb_puts(&q, qv(r, k));
    }
    free(keys);
    char *hs = sb_take(&h), *qs = sb_take(&q);
    sb_field(b, hs ? hs : "");
    sb_field(b, qs ? qs : "");
    if (!hs || !qs) b->oom = 1;
    free(hs);
    free(qs);
  }
  if (strcmp(sv, "2013-08-15") >= 0) {
    static const char *const rsc[] = {"rscc", "rscd", "rsce", "rscl", "rsct"};
    for (int i = 0; i < 5; i++)
      sb_field(b, qv(r, rsc[i]));
  }
}

static char *service_sas_sts(http_req *r, const char *account, const char *container,
                             const char *blob) {
  sbuf b = {0};
  sb_puts(&b, qv(r, "sp"));
  sb_field(&b, qv(r, "st"));
  sb_field(&b, qv(r, "se"));
  /* Cannot fail: the caller has checked sdd. */
  (void)sb_sas_resource(&b, r, account, container, blob);
  sb_field(&b, qv(r, "si"));
  sb_sas_tail(&b, r, 0);
  return sb_take(&b);
}

char *sauth_udk_string_to_sign(http_req *r, const char *account, const char *container,
                               const char *blob) {
  const char *sv = qv(r, "sv");
  if (!container || !version_ok(sv) || strcmp(sv, "2018-11-09") < 0) return NULL;
  sbuf b = {0};
  sb_puts(&b, qv(r, "sp"));
  sb_field(&b, qv(r, "st"));
  sb_field(&b, qv(r, "se"));
  if (sb_sas_resource(&b, r, account, container, blob) < 0) {
    free(sb_take(&b));
    return NULL;
  }
  static const char *const key_fields[] = {"skoid", "sktid", "skt", "ske", "sks", "skv"};
  for (int i = 0; i < 6; i++)
    sb_field(&b, qv(r, key_fields[i]));
  if (strcmp(sv, "2020-02-10") >= 0) {
    sb_field(&b, qv(r, "saoid"));
    sb_field(&b, qv(r, "suoid"));
    sb_field(&b, qv(r, "scid"));
  }
  if (strcmp(sv, "2025-07-05") >= 0) {
    sb_field(&b, qv(r, "skdutid"));
    sb_field(&b, qv(r, "sduoid"));
  }
  sb_sas_tail(&b, r, 1);
  return sb_take(&b);
}

/* ---- SAS: verification ------------------------------------------------------------- */

static int verify_sas_signature(http_req *r, const sauth_keys *keys, const char *sts,
                                const char *sig) {
  if (keys_verify(keys, sts, sig)) return 0;
  return fail_authf(r, "Signature did not match. String to sign used was %s", sts);
}

static int copy_field(char *dst, size_t n, const char *src) {
  if (strlen(src) >= n) return -1;
  strcpy(dst, src);
  return 0;
}

static int authenticate_account_sas(http_req *r, const sauth_keys *keys, int64_t now, int64_t wall,
                                    const char *sig, sauth_result *out) {
  const char *sv, *ss, *srt, *sp, *se;
  if (!(sv = require_field(r, "sv")) || !(ss = require_field(r, "ss")) ||
      !(srt = require_field(r, "srt")) || !(sp = require_field(r, "sp")) ||
      !(se = require_field(r, "se")))
    return -1;
  /* Account SAS began with 2015-04-05. */
  if (!version_ok(sv) || strcmp(sv, "2015-04-05") < 0) return fail_auth(r, DETAIL_NOT_WELL_FORMED);
  char *sts = account_sas_sts(r, keys->account);
  if (!sts) return fail_oom(r);
  int rc = verify_sas_signature(r, keys, sts, sig);
  free(sts);
  if (rc < 0) return -1;

  int64_t start = -1, expiry;
  const char *st = http_query_get(r, "st");
  if ((st && parse_sas_time(st, &start) < 0) || parse_sas_time(se, &expiry) < 0 ||
      !only_chars(ss, "bfqt") || !only_chars(srt, "sco") ||
      copy_field(out->permissions, sizeof(out->permissions), sp) ||
      copy_field(out->services, sizeof(out->services), ss) ||
      copy_field(out->resource_types, sizeof(out->resource_types), srt))
    return fail_auth(r, DETAIL_NOT_WELL_FORMED);
  if (check_time_frame(r, start, expiry, now, wall) < 0 ||
      check_sip_spr(r, http_query_get(r, "sip"), http_query_get(r, "spr")) < 0)
    return -1;
  if (!strchr(ss, 'b')) {
    http_fail(r, STORAGE_ERR_AUTHORIZATION_SERVICE_MISMATCH,
              "This request is not authorized to perform this operation using this service.");
    return -1;
  }
  out->kind = SAUTH_SAS_ACCOUNT;
  return 0;
}

static int is_user_delegation(http_req *r) {
  static const char *const names[] = {"skoid", "sktid", "skt", "ske", "sks", "skv"};
  for (int i = 0; i < 6; i++)
    if (http_query_get(r, names[i])) return 1;
  return 0;
}

static int fail_resource_type(http_req *r) {
  http_fail(r, STORAGE_ERR_AUTHORIZATION_RESOURCE_TYPE_MISMATCH,
            "This request is not authorized to perform this operation using this resource "
            "type.");
  return -1;
}

/* Merges the stored access policy `si` into start/expiry/permissions: each field may come
 * from the SAS or from the policy, never both. */
static int apply_policy(http_req *r, const char *container, const char *si,
                        sauth_policy_lookup_fn lookup, void *cls, int has_st, int has_se,
                        int64_t *start, int64_t *expiry, const char **perms, sauth_policy *pol) {
  memset(pol, 0, sizeof(*pol));
  pol->start_ms = pol->expiry_ms = -1;
  if (!lookup || lookup(cls, container, si, pol) != 0)
    return fail_auth(r, "SAS identifier cannot be found for specified signed identifier");
  pol->permissions[sizeof(pol->permissions) - 1] = '\0';
  int has_sp = *perms && **perms, pol_sp = pol->permissions[0] != '\0';
  if ((has_st && pol->start_ms >= 0) || (has_se && pol->expiry_ms >= 0) || (has_sp && pol_sp))
    return fail_auth(r, "Access policy fields can be associated with signature or SAS "
                        "identifier but not both");
  if (!has_se && pol->expiry_ms < 0)
    return fail_auth(r, "Signed expiry must be specified in signature or SAS identifier");
  if (!has_sp && !pol_sp)
    return fail_auth(r, "Signed permission must be specified in signature or SAS identifier");
  if (pol->start_ms >= 0) *start = pol->start_ms;
  if (pol->expiry_ms >= 0) *expiry = pol->expiry_ms;
  if (pol_sp) *perms = pol->permissions;
  return 0;
}

static int authenticate_service_sas(http_req *r, const sauth_keys *keys, const char *container,
                                    const char *blob, int64_t now, int64_t wall,
                                    sauth_policy_lookup_fn lookup, void *lookup_cls,
                                    const char *sig, sauth_result *out) {
  const char *si = http_query_get(r, "si"), *sr, *sv, *sp, *se;
  if (!(sr = require_field(r, "sr")) || !(sv = require_field(r, "sv"))) return -1;
  /* With a stored policy, permissions and expiry may come from the policy instead. */
  if (si) {
    sp = http_query_get(r, "sp");
    se = http_query_get(r, "se");
  } else if (!(sp = require_field(r, "sp")) || !(se = require_field(r, "se"))) {
    return -1;
  }
  int blob_sr = strcmp(sr, "b") == 0 || strcmp(sr, "bs") == 0 || strcmp(sr, "bv") == 0 ||
                strcmp(sr, "d") == 0;
  if ((!blob_sr && strcmp(sr, "c") != 0) || !version_ok(sv) || strcmp(sv, "2012-02-12") < 0)
    return fail_auth(r, DETAIL_NOT_WELL_FORMED);
  const char *sdd = NULL;
  size_t dirlen;
  if (strcmp(sr, "d") == 0) {
    if (!(sdd = require_field(r, "sdd"))) return -1;
    if (directory_prefix("", sdd, &dirlen) < 0) return fail_auth(r, DETAIL_NOT_WELL_FORMED);
  }
  if (!container || (blob_sr && !blob)) return fail_resource_type(r);
  int udk = is_user_delegation(r);
  char *sts;
  char ukey[48];
  sauth_keys ukeys = {keys->account, ukey, NULL, NULL, NULL};
  const sauth_keys *verify_with = keys;
  if (udk) {
    if (!keys->udk)
      return fail_auth(r, "User delegation SAS is not supported yet by this emulator.");
    const char *f[6];
    static const char *const names[] = {"skoid", "sktid", "skt", "ske", "sks", "skv"};
    for (int i = 0; i < 6; i++)
      if (!(f[i] = require_field(r, names[i]))) return -1;
    /* A user delegation SAS cannot name a stored access policy. */
    if (si) return fail_auth(r, DETAIL_NOT_WELL_FORMED);
    int64_t kexp = -1;
    if (parse_sas_time(f[3], &kexp) < 0) return fail_auth(r, DETAIL_NOT_WELL_FORMED);
    if (kexp < now)
      return fail_auth(r, "Signed key expiry time has passed: the user delegation key is expired.");
    keys->udk(keys->udk_cls, f[0], f[1], f[2], f[3], f[4], f[5], ukey);
    if (copy_field(out->skoid, sizeof(out->skoid), f[0]))
      return fail_auth(r, DETAIL_NOT_WELL_FORMED);
    sts = sauth_udk_string_to_sign(r, keys->account, container, blob);
    verify_with = &ukeys;
  } else {
    sts = service_sas_sts(r, keys->account, container, blob);
  }
  if (!sts) return fail_oom(r);
  int rc = verify_sas_signature(r, verify_with, sts, sig);
  free(sts);
  if (rc < 0) return -1;

  int64_t start = -1, expiry = -1;
  const char *st = http_query_get(r, "st");
  if ((st && parse_sas_time(st, &start) < 0) || (se && parse_sas_time(se, &expiry) < 0))
    return fail_auth(r, DETAIL_NOT_WELL_FORMED);
  sauth_policy pol;
  const char *perms = sp;
  if (si && apply_policy(r, container, si, lookup, lookup_cls, st != NULL, se != NULL, &start,
                         &expiry, &perms, &pol))
    return -1;
  if (copy_field(out->permissions, sizeof(out->permissions), perms ? perms : "") ||
      copy_field(out->resource, sizeof(out->resource), sr))
    return fail_auth(r, DETAIL_NOT_WELL_FORMED);
  /* sip and spr exist (and are signed) from 2015-04-05. */
  int ranged = strcmp(sv, "2015-04-05") >= 0;
  if (check_time_frame(r, start, expiry, now, wall) < 0 ||
      check_sip_spr(r, ranged ? http_query_get(r, "sip") : NULL,
                    ranged ? http_query_get(r, "spr") : NULL) < 0)
    return -1;
  /* The overrides are signed from 2013-08-15; before that they are not part of the SAS,
   * and an unsigned override would let anyone holding the URL restyle the reply. */
  if (strcmp(sv, "2013-08-15") >= 0) {
    out->rscc = http_query_get(r, "rscc");
    out->rscd = http_query_get(r, "rscd");
    out->rsce = http_query_get(r, "rsce");
    out->rscl = http_query_get(r, "rscl");
    out->rsct = http_query_get(r, "rsct");
  }
  out->kind = udk ? SAUTH_SAS_USER_DELEGATION : SAUTH_SAS_SERVICE;
  return 0;
}

int sauth_authenticate(http_req *r, const sauth_keys *keys, const char *container, const char *blob,
                       int64_t now_ms, int64_t wall_ms, sauth_policy_lookup_fn lookup,
                       void *lookup_cls, sauth_result *out) {
  memset(out, 0, sizeof(*out));
  out->kind = SAUTH_ANONYMOUS;
  const char *auth = http_header_get(r, "Authorization");
  if (auth) {
    if (strncmp(auth, "SharedKey ", 10) == 0 || strncmp(auth, "SharedKeyLite ", 14) == 0)
      return authenticate_sharedkey(r, keys, auth, wall_ms, out);
    if (strncasecmp(auth, "Bearer ", 7) == 0 && r->listener == LISTEN_BLOB)
      return fail_auth(r, "Bearer token authentication is not permitted for non-TLS "
                          "protected (non-https) URLs.");
    http_fail(r, STORAGE_ERR_INVALID_AUTHENTICATION_INFO_400,
              "Authentication information is not given in the correct format. Check the "
              "value of Authorization header.");
    return -1;
  }
  const char *sig = http_query_get(r, "sig");
  if (!sig) return 0;
  /* An account SAS names services and resource types; a service SAS names a resource. */
  if (!http_query_get(r, "sr") && (http_query_get(r, "ss") || http_query_get(r, "srt")))
    return authenticate_account_sas(r, keys, now_ms, wall_ms, sig, out);
  return authenticate_service_sas(r, keys, container, blob, now_ms, wall_ms, lookup, lookup_cls,
                                  sig, out);
}

/* ---- what a SAS allows --------------------------------------------------------------- */

static int sas_resource_ok(const sauth_result *res, char rtype) {
  if (res->kind == SAUTH_SAS_ACCOUNT)
    return strchr(res->resource_types, rtype) != NULL && rtype != '\0';
  /* A service SAS never reaches the service level; a container SAS (sr=c) covers the
   * container and its blobs, a blob/snapshot/version/directory SAS only blobs. */
  if (rtype == 'o') return 1;
  return rtype == 'c' && strcmp(res->resource, "c") == 0;
}

int sauth_sas_allows(const sauth_result *res, char perm, char rtype) {
  if (res->kind != SAUTH_SAS_ACCOUNT && res->kind != SAUTH_SAS_SERVICE &&
      res->kind != SAUTH_SAS_USER_DELEGATION)
    return 1;
  return perm != '\0' && strchr(res->permissions, perm) != NULL && sas_resource_ok(res, rtype);
}

int sauth_sas_require(http_req *r, const sauth_result *res, char perm, char rtype) {
  if (sauth_sas_allows(res, perm, rtype)) return 0;
  if (!sas_resource_ok(res, rtype)) return fail_resource_type(r);
  http_fail(r, STORAGE_ERR_AUTHORIZATION_PERMISSION_MISMATCH,
            "This request is not authorized to perform this operation using this permission.");
  return -1;
}
