/* pki.c: azlite's local certificate authority.  The first start makes a CA and
 * a server certificate for 127.0.0.1/localhost (and Azure's host names, for
 * `azlite exec`) signed by it, under <data>/pki;
 * clients trust ca.pem (REQUESTS_CA_BUNDLE, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS).
 */
#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azure_hosts.h"
#include "internal.h"

/* RSA for the token signing key (RS256 is what Azure AD signs with); P-256
 * for the CA and TLS keys, which generate in a millisecond, so a first start
 * stays fast. */
static EVP_PKEY *pki_key_new(int rsa) {
  return rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
}

static int pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ex) return -1;
  int ok = X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
  return ok ? 0 : -1;
}

static X509 *pki_cert_new(EVP_PKEY *key, const char *cn, long days) {
  X509 *c = X509_new();
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
  BN_free(bn);
  X509_set_version(c, 2);
  X509_gmtime_adj(X509_getm_notBefore(c), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c), days * 86400L);
  X509_set_pubkey(c, key);
  X509_NAME *name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"azlite", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  return c;
}

static int pki_write(const char *path, EVP_PKEY *key, X509 *cert) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
  if (fclose(f) != 0 || !ok) return -1;
  if (key) chmod(tmp, 0600);
  return rename(tmp, path);
}

/* Load-or-create runs under an exclusive lock on <key>.lock: a CLI command
 * beside a server making its first key must wait for that key, not make
 * another one. */
static EVP_PKEY *pki_load_or_create(srv *s, const char *rel, int rsa) {
  char *path = srv_path(s, rel);
  char lockpath[4200];
  snprintf(lockpath, sizeof lockpath, "%s.lock", path);
  int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock >= 0) flock(lock, LOCK_EX);
  EVP_PKEY *k = NULL;
  FILE *f = fopen(path, "r");
  if (f) {
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
  }
  if (!k) {
    k = pki_key_new(rsa);
    if (k && pki_write(path, k, NULL) != 0) {
      EVP_PKEY_free(k);
      k = NULL;
    }
  }
  if (lock >= 0) close(lock);
  free(path);
  return k;
}

EVP_PKEY *pki_load_or_create_key(srv *s, const char *rel) {
  return pki_load_or_create(s, rel, 1);
}

/* The server certificate's names: loopback and localhost, and the Azure host
 * names that `azlite exec` (src/cli/exec.c) sends here (azure_hosts.h).  A
 * wildcard covers one label only. */
static void pki_server_san(char *out, size_t cap) {
  size_t n =
      (size_t)snprintf(out, cap, "IP:127.0.0.1,DNS:localhost,DNS:*.blob.localhost,DNS:*.localhost");
  for (const char *p = AZURE_HOSTS; *p && n < cap;) {
    const char *e = strchr(p, ',');
    int len = (int)(e ? (size_t)(e - p) : strlen(p));
    n += (size_t)snprintf(out + n, cap - n, ",DNS:%.*s", len, p);
    p += len + (e ? 1 : 0);
  }
}

static X509 *pki_read_cert(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  return c;
}

static int pki_cert_current(const char *path) {
  X509 *c = pki_read_cert(path);
  if (!c) return 0;
  int ok = 1;
  /* Each Azure name (a wildcard's label as "a"): a certificate made before
   * a name was added is replaced at start (same CA, so clients' trust stays valid). */
  for (const char *p = AZURE_HOSTS; ok && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char host[256];
    snprintf(host, sizeof host, "%s%.*s", p[0] == '*' ? "a" : "",
             (int)(p[0] == '*' ? len - 1 : len), p[0] == '*' ? p + 1 : p);
    ok = X509_check_host(c, host, 0, 0, NULL) == 1;
    p += len + (e ? 1 : 0);
  }
  X509_free(c);
  return ok;
}

static X509 *pki_server_cert(EVP_PKEY *skey, X509 *ca, EVP_PKEY *cakey) {
  X509 *sc = pki_cert_new(skey, "localhost", 825);
  X509_set_issuer_name(sc, X509_get_subject_name(ca));
  pki_add_ext(sc, ca, NID_basic_constraints, "critical,CA:FALSE");
  pki_add_ext(sc, ca, NID_key_usage, "critical,digitalSignature");
  pki_add_ext(sc, ca, NID_ext_key_usage, "serverAuth");
  char san[4096];
  pki_server_san(san, sizeof san);
  pki_add_ext(sc, ca, NID_subject_alt_name, san);
  pki_add_ext(sc, ca, NID_authority_key_identifier, "keyid:always");
  X509_sign(sc, cakey, EVP_sha256());
  return sc;
}

int pki_ensure(srv *s) {
  char *dir = srv_path(s, "pki");
  mkdir(dir, 0700);
  free(dir);
  char *ca_pem = srv_path(s, "pki/ca.pem"), *srv_pem = srv_path(s, "pki/server.pem");
  int rc = 0;
  if (access(ca_pem, R_OK) == 0 && access(srv_pem, R_OK) == 0) {
    if (pki_cert_current(srv_pem)) goto out;
    /* An older data dir: a new server certificate from the same CA. */
    X509 *ca = pki_read_cert(ca_pem);
    EVP_PKEY *cakey = ca ? pki_load_or_create(s, "pki/ca.key", 0) : NULL;
    EVP_PKEY *skey = cakey ? pki_load_or_create(s, "pki/server.key", 0) : NULL;
    rc = -1;
    if (skey) {
      X509 *sc = pki_server_cert(skey, ca, cakey);
      if (pki_write(srv_pem, NULL, sc) == 0) rc = 0;
      X509_free(sc);
    }
    if (rc == 0) log_info("pki: renewed the server certificate for Azure's host names");
    X509_free(ca);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(skey);
    goto out;
  }
  EVP_PKEY *cakey = pki_load_or_create(s, "pki/ca.key", 0);
  EVP_PKEY *skey = pki_load_or_create(s, "pki/server.key", 0);
  rc = -1;
  if (!cakey || !skey) goto done;
  X509 *ca = pki_cert_new(cakey, "azlite local CA", 3650);
  X509_set_issuer_name(ca, X509_get_subject_name(ca));
  pki_add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  pki_add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  pki_add_ext(ca, ca, NID_subject_key_identifier, "hash");
  X509_sign(ca, cakey, EVP_sha256());
  X509 *sc = pki_server_cert(skey, ca, cakey);
  if (pki_write(ca_pem, NULL, ca) == 0 && pki_write(srv_pem, NULL, sc) == 0) rc = 0;
  X509_free(ca);
  X509_free(sc);
  if (rc == 0) log_info("pki: created a local CA and a server certificate");
done:
  EVP_PKEY_free(cakey);
  EVP_PKEY_free(skey);
out:
  free(ca_pem);
  free(srv_pem);
  return rc;
}
