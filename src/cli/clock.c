/* clock.c: `azlite clock [show]` and `azlite clock advance DURATION`.
 * With a server running, the change goes through its admin API (the server
 * holds the clock); without one, it is written to the store directly. */
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../identity/identity.h"
#include "cli.h"

/* One HTTPS request to the local server with OpenSSL (verifying azlite's CA),
 * which the server already links: libcurl would add ~2 MiB of libraries to
 * every azlite process for this one call.  Returns the HTTP status, 0 when no
 * server answered; *out is the body (malloc'd). */
static long https_call(srv *s, const char *method, const char *path, const char *auth,
                       const char *body, char **out) {
  *out = NULL;
  char host[128];
  int port = 0;
  if (sscanf(s->mgmt_url, "https://%127[^:]:%d", host, &port) != 2) return 0;
  char *ca = srv_path(s, "pki/ca.pem");
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  long status = 0;
  BIO *b = NULL;
  if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) goto done;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  b = BIO_new_ssl_connect(ctx);
  SSL *ssl = NULL;
  BIO_get_ssl(b, &ssl);
  char hp[160];
  snprintf(hp, sizeof hp, "%s:%d", host, port);
  BIO_set_conn_hostname(b, hp);
  SSL_set1_host(ssl, host);
  if (BIO_do_connect(b) <= 0 || BIO_do_handshake(b) <= 0) goto done;
  char *req = NULL;
  int n = asprintf(&req,
                   "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s",
                   method, path, hp, auth, body ? strlen(body) : 0, body ? body : "");
  if (n < 0 || BIO_write(b, req, n) != n) {
    free(req);
    goto done;
  }
  free(req);
  size_t len = 0;
  FILE *mem = open_memstream(out, &len);
  char buf[4096];
  int got;
  while ((got = BIO_read(b, buf, sizeof buf)) > 0)
    fwrite(buf, 1, (size_t)got, mem);
  fclose(mem);
  char *hdr_end = *out ? strstr(*out, "\r\n\r\n") : NULL;
  if (!hdr_end || sscanf(*out, "HTTP/1.%*d %ld", &status) != 1) {
    status = 0;
  } else {
    memmove(*out, hdr_end + 4, strlen(hdr_end + 4) + 1);
  }
done:
  if (b) BIO_free_all(b);
  SSL_CTX_free(ctx);
  free(ca);
  return status;
}

/* Calls the admin API with a token the CLI signs itself (it holds the data
 * dir, so the admin's key); returns HTTP status, 0 when no server answered. */
static long admin_call(srv *s, const char *method, const char *path, const char *body, char **out) {
  principal p = {0};
  char *appid = store_get(s, "admin.appid"), *oid = store_get(s, "admin.oid");
  snprintf(p.appid, sizeof p.appid, "%s", appid ? appid : "");
  snprintf(p.oid, sizeof p.oid, "%s", oid ? oid : "");
  free(appid);
  free(oid);
  char *tok = identity_mint_token(s, &p, AUD_MGMT, 300);
  long status = https_call(s, method, path, tok ? tok : "", body, out);
  free(tok);
  return status;
}

int cmd_clock(int argc, char **argv) {
  srv s = {0};
  srv_config_defaults(&s.cfg);
  argc = cli_common_options(&s.cfg, argc, argv);
  int advance = argc == 3 && !strcmp(argv[1], "advance");
  if (!(argc == 1 || (argc == 2 && !strcmp(argv[1], "show")) || advance)) {
    fprintf(stderr, "usage: %s clock [show] | %s clock advance DURATION (e.g. 30d, 12h)\n",
            cli_prog, cli_prog);
    return 2;
  }
  if (advance && clock_parse_duration(argv[2]) < 0) {
    fprintf(stderr, "%s clock: '%s' is not a duration (e.g. 30d, 12h, 90m, 45s)\n", cli_prog,
            argv[2]);
    return 2;
  }
  /* A server holds the clock while it runs (one starting is waited for). */
  int served = cli_find_server(&s);
  if (served < 0) {
    fprintf(stderr,
            "%s clock: the azlite server (pid %d) for data dir %s did not become ready "
            "within 30 s\n",
            cli_prog, (int)cli_server_pid(s.cfg.data_dir), s.cfg.data_dir);
    return 1;
  }
  if (cli_open(&s) != 0) {
    srv_close(&s);
    return 1;
  }
  char *out = NULL, body[128];
  snprintf(body, sizeof body, "{\"duration\":\"%s\"}", advance ? argv[2] : "");
  long st = !served   ? 0
            : advance ? admin_call(&s, "POST", "/azlite/clock/advance", body, &out)
                      : admin_call(&s, "GET", "/azlite/clock", NULL, &out);
  if (served && st == 0) {
    fprintf(stderr, "%s clock: the azlite server at %s did not answer\n", cli_prog, s.mgmt_url);
    srv_close(&s);
    return 1;
  }
  int rc = 0;
  if (st == 200) {
    json_t *j = json_loads(out, 0, NULL);
    printf("%s\n", json_string_value(json_object_get(j, "now")));
    json_decref(j);
  } else if (st == 0) {
    /* No server: the store is the clock. */
    int adv = advance ? clock_advance(&s, clock_parse_duration(argv[2])) : 0;
    if (adv == -2)
      fprintf(stderr,
              "%s clock: '%s' would move the clock past 9999-12-31T23:59:59Z, the "
              "last time azlite can represent\n",
              cli_prog, argv[2]);
    if (adv != 0) rc = adv == -2 ? 2 : 1;
    char iso[40];
    clock_iso8601(clock_now_ms(&s), iso);
    if (!rc) printf("%s\n", iso);
  } else {
    json_t *j = json_loads(out ? out : "", 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (msg)
      fprintf(stderr, "%s clock: %s\n", cli_prog, msg);
    else
      fprintf(stderr, "%s clock: the server answered %ld: %s\n", cli_prog, st, out ? out : "");
    json_decref(j);
    rc = st == 400 ? 2 : 1;
  }
  free(out);
  srv_close(&s);
  return rc;
}
