/* blob_host.c: blobs to and from host files, for other providers (storage.h):
 * an ML job's code is downloaded into its node and its outputs uploaded to
 * the artifact store.  Reads go straight to the blob's extents; writes go
 * through the real data plane (Put Blob with a service SAS this file signs),
 * so every rule of a write holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "sauth.h"
#include "storage.h"

#define SAS_VERSION "2021-08-06"

char *storage_container_sas(srv *s, const char *account, const char *container, const char *perms,
                            int64_t expiry_ms) {
  char k1[128], k2[128];
  if (storage_account_keys(s, account, k1, k2) != 0) return NULL;
  char se[40];
  clock_iso8601(expiry_ms, se);
  /* Seconds precision, as SAS expiries are written. */
  char *dot = strchr(se, '.');
  if (dot) strcpy(dot, "Z");
  char *sts = NULL;
  if (asprintf(&sts, "%s\n\n%s\n/blob/%s/%s\n\n\n\n%s\nc\n\n\n\n\n\n\n", perms, se, account,
               container, SAS_VERSION) < 0)
    return NULL;
  char sig[64];
  int rc = sauth_hmac_b64(k1, sts, strlen(sts), sig);
  free(sts);
  if (rc != 0) return NULL;
  /* The signature is base64: '+', '/' and '=' need encoding in a query. */
  char esig[200];
  size_t j = 0;
  for (const char *p = sig; *p && j + 4 < sizeof esig; p++) {
    if (*p == '+' || *p == '/' || *p == '=')
      j += (size_t)snprintf(esig + j, sizeof esig - j, "%%%02X", (unsigned char)*p);
    else
      esig[j++] = *p;
  }
  esig[j] = 0;
  char *out = NULL;
  char ese[64];
  size_t k = 0;
  for (const char *p = se; *p && k + 4 < sizeof ese; p++) {
    if (*p == ':')
      k += (size_t)snprintf(ese + k, sizeof ese - k, "%%3A");
    else
      ese[k++] = *p;
  }
  ese[k] = 0;
  if (asprintf(&out, "sv=%s&sr=c&sp=%s&se=%s&sig=%s", SAS_VERSION, perms, ese, esig) < 0)
    return NULL;
  return out;
}

int storage_blob_list(srv *s, const char *account, const char *container, const char *prefix,
                      void (*fn)(void *cls, const char *name, int64_t size), void *cls) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT b.name, b.size FROM blobs b JOIN blob_containers c ON"
                    " c.id=b.container_id WHERE c.account=?1 AND c.name=?2 AND b.snapshot=''"
                    " AND substr(b.name,1,length(?3))=?3 ORDER BY b.name",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, container, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, prefix ? prefix : "", -1, SQLITE_STATIC);
  int n = 0;
  while (sqlite3_step(q) == SQLITE_ROW) {
    fn(cls, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1));
    n++;
  }
  store_finalize(q);
  return n;
}

int storage_blob_to_file(srv *s, const char *account, const char *container, const char *name,
                         const char *path) {
  sqlite3_stmt *e;
  int exists = 0;
  if (store_prepare(store_db(s),
                    "SELECT 1 FROM blobs b JOIN blob_containers c ON c.id=b.container_id"
                    " WHERE c.account=?1 AND c.name=?2 AND b.name=?3 AND b.snapshot=''",
                    -1, &e, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(e, 1, account, -1, SQLITE_STATIC);
  sqlite3_bind_text(e, 2, container, -1, SQLITE_STATIC);
  sqlite3_bind_text(e, 3, name, -1, SQLITE_STATIC);
  exists = sqlite3_step(e) == SQLITE_ROW;
  store_finalize(e);
  if (!exists) return -1;
  FILE *out = fopen(path, "wb");
  if (!out) return -1;
  sqlite3_stmt *q;
  int rc = 0;
  if (store_prepare(store_db(s),
                    "SELECT e.pos, e.len, e.file_off, f.path, f.data FROM blobs b"
                    " JOIN blob_containers c ON c.id=b.container_id"
                    " JOIN blob_extents e ON e.blob_id=b.id JOIN blob_files f ON f.id=e.file_id"
                    " WHERE c.account=?1 AND c.name=?2 AND b.name=?3 AND b.snapshot=''"
                    " ORDER BY e.pos",
                    -1, &q, NULL) != SQLITE_OK) {
    fclose(out);
    return -1;
  }
  sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, container, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
  while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
    int64_t pos = sqlite3_column_int64(q, 0), len = sqlite3_column_int64(q, 1),
            off = sqlite3_column_int64(q, 2);
    const char *rel = (const char *)sqlite3_column_text(q, 3);
    if (fseeko(out, pos, SEEK_SET) != 0) rc = -1;
    if (rc == 0 && !rel) {
      const void *d = sqlite3_column_blob(q, 4);
      int dn = sqlite3_column_bytes(q, 4);
      if (off + len > dn ||
          (len && fwrite((const char *)d + off, 1, (size_t)len, out) != (size_t)len))
        rc = -1;
    } else if (rc == 0) {
      char *abs = NULL;
      if (asprintf(&abs, "%s/blobs/%s", s->cfg.data_dir, rel) < 0) abort();
      FILE *in = fopen(abs, "rb");
      free(abs);
      if (!in || fseeko(in, off, SEEK_SET) != 0) rc = -1;
      char buf[65536];
      while (rc == 0 && len > 0) {
        size_t want = len < (int64_t)sizeof buf ? (size_t)len : sizeof buf;
        size_t got = fread(buf, 1, want, in);
        if (got == 0 || fwrite(buf, 1, got, out) != got) rc = -1;
        len -= (int64_t)got;
      }
      if (in) fclose(in);
    }
  }
  store_finalize(q);
  if (fclose(out) != 0) rc = -1;
  if (rc != 0) unlink(path);
  return rc;
}

int storage_blob_put_file(srv *s, const char *account, const char *container, const char *name,
                          const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char *data = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&data, &len);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    fwrite(buf, 1, n, mem);
  fclose(f);
  fclose(mem);
  char *sas = storage_container_sas(s, account, container, "rcw", clock_now_ms(s) + 3600 * 1000);
  if (!sas) {
    free(data);
    return -1;
  }
  /* The blob name's path segments, percent-encoded. */
  char *target = NULL;
  size_t tlen = 0;
  FILE *t = open_memstream(&target, &tlen);
  fprintf(t, "/%s/%s/", account, container);
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
        strchr("-._~/", *p))
      fputc(*p, t);
    else
      fprintf(t, "%%%02X", *p);
  }
  fprintf(t, "?%s", sas);
  fclose(t);
  free(sas);
  /* On the HTTPS listener: an account may refuse plain HTTP (supportsHttpsTrafficOnly,
   * as the workspace template's accounts do). */
  http_header h[3] = {{"x-ms-blob-type", "BlockBlob"},
                      {"x-ms-version", SAS_VERSION},
                      {"Content-Type", "application/octet-stream"}};
  http_req *q = http_run_internal(s, LISTEN_BLOB_TLS, "PUT", target, h, 3, data, len);
  int st = http_reply_status(q, NULL, NULL);
  http_req_free(q);
  free(target);
  free(data);
  return st == 201 ? 0 : -1;
}
