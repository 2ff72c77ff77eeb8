/* jwt.c: RS256 JWT signing and verification.  Only RS256 is accepted: a
 * token naming any other algorithm (including "none") is refused before any
 * signature work, so an attacker cannot pick the algorithm. */
#include "jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

char *jwt_b64url_encode(const unsigned char *data, size_t len) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
  if (!out) abort();
  size_t i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
    *o++ = tbl[v >> 18];
    *o++ = tbl[(v >> 12) & 63];
    *o++ = tbl[(v >> 6) & 63];
    *o++ = tbl[v & 63];
  }
  if (i + 1 == len) {
    unsigned v = (unsigned)data[i] << 16;
    *o++ = tbl[v >> 18];
    *o++ = tbl[(v >> 12) & 63];
  } else if (i + 2 == len) {
    unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
    *o++ = tbl[v >> 18];
    *o++ = tbl[(v >> 12) & 63];
    *o++ = tbl[(v >> 6) & 63];
  }
  *o = 0;
  return out;
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

unsigned char *jwt_b64url_decode(const char *s, size_t len, size_t *outlen) {
  while (len && s[len - 1] == '=')
    len--;
  if (len % 4 == 1) return NULL;
  unsigned char *out = malloc(len * 3 / 4 + 3), *o = out;
  if (!out) abort();
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64val((unsigned char)s[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = acc << 6 | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *o++ = (unsigned char)(acc >> bits);
    }
  }
  *outlen = (size_t)(o - out);
  return out;
}

static char *b64url_json(json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  char *e = jwt_b64url_encode((const unsigned char *)s, strlen(s));
  free(s);
  return e;
}

char *jwt_sign(EVP_PKEY *key, const char *kid, json_t *claims) {
  json_t *hdr =
      json_pack("{s:s,s:s,s:s,s:s}", "typ", "JWT", "alg", "RS256", "kid", kid, "x5t", kid);
  char *h = b64url_json(hdr), *c = b64url_json(claims);
  json_decref(hdr);
  char *input = NULL;
  if (asprintf(&input, "%s.%s", h, c) < 0) abort();
  free(h);
  free(c);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  size_t siglen = 0;
  unsigned char *sig = NULL;
  char *out = NULL;
  if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
      EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input, strlen(input)) == 1) {
    sig = malloc(siglen);
    if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)) == 1) {
      char *s = jwt_b64url_encode(sig, siglen);
      if (asprintf(&out, "%s.%s", input, s) < 0) out = NULL;
      free(s);
    }
  }
  free(sig);
  EVP_MD_CTX_free(md);
  free(input);
  return out;
}

static json_t *decode_part(const char *s, size_t len) {
  size_t n;
  unsigned char *raw = jwt_b64url_decode(s, len, &n);
  if (!raw) return NULL;
  json_t *j = json_loadb((const char *)raw, n, 0, NULL);
  free(raw);
  if (j && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

json_t *jwt_verify(EVP_PKEY *key, const char *token, const char **err) {
  const char *d1 = strchr(token, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.')) {
    *err = "malformed token";
    return NULL;
  }
  json_t *hdr = decode_part(token, (size_t)(d1 - token));
  const char *alg = hdr ? json_string_value(json_object_get(hdr, "alg")) : NULL;
  if (!alg || strcmp(alg, "RS256") != 0) {
    json_decref(hdr);
    *err = "unsupported signing algorithm";
    return NULL;
  }
  json_decref(hdr);
  size_t siglen;
  unsigned char *sig = jwt_b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
  if (!sig) {
    *err = "malformed signature";
    return NULL;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok =
      EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
      EVP_DigestVerify(md, sig, siglen, (const unsigned char *)token, (size_t)(d2 - token)) == 1;
  EVP_MD_CTX_free(md);
  free(sig);
  if (!ok) {
    *err = "signature validation failed";
    return NULL;
  }
  json_t *claims = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
  if (!claims) *err = "malformed claims";
  return claims;
}

static char *bn_param_b64(EVP_PKEY *key, const char *name) {
  BIGNUM *bn = NULL;
  if (!EVP_PKEY_get_bn_param(key, name, &bn)) return NULL;
  int n = BN_num_bytes(bn);
  unsigned char *buf = malloc((size_t)n);
  BN_bn2bin(bn, buf);
  char *s = jwt_b64url_encode(buf, (size_t)n);
  free(buf);
  BN_free(bn);
  return s;
}

json_t *jwt_jwks(EVP_PKEY *key, const char *kid) {
  char *n = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N), *e = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E);
  json_t *j = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:s}]}", "keys", "kty", "RSA", "use", "sig",
                        "kid", kid, "x5t", kid, "n", n ? n : "", "e", e ? e : "", "alg", "RS256");
  free(n);
  free(e);
  return j;
}

void jwt_kid(EVP_PKEY *key, char out[44]) {
  unsigned char *der = NULL;
  int len = i2d_PUBKEY(key, &der);
  unsigned char h[SHA256_DIGEST_LENGTH];
  SHA256(der, (size_t)(len > 0 ? len : 0), h);
  OPENSSL_free(der);
  char *s = jwt_b64url_encode(h, sizeof h);
  snprintf(out, 44, "%.27s", s);
  free(s);
}
