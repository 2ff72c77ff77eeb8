/* clock.c: `azlite clock [show]` and `azlite clock advance DURATION`.
 * With a server running, the change goes through its admin API (the server
 * holds the clock); without one, it is written to the store directly. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../identity/identity.h"
#include "cli.h"

static size_t collect(char *p, size_t sz, size_t n, void *cls) {
  FILE *f = cls;
  return fwrite(p, sz, n, f);
}

/* Calls the admin API; returns HTTP status, 0 when no server answered. */
static long admin_call(srv *s, const char *method, const char *path, const char *body,
                       char **out) {
  principal p = {0};
  char *appid = store_get(s, "admin.appid"), *oid = store_get(s, "admin.oid");
  snprintf(p.appid, sizeof p.appid, "%s", appid ? appid : "");
  snprintf(p.oid, sizeof p.oid, "%s", oid ? oid : "");
  free(appid);
  free(oid);
  char *tok = identity_mint_token(s, &p, AUD_MGMT, 300);
  char url[256], auth[4096], *ca = srv_path(s, "pki/ca.pem");
  snprintf(url, sizeof url, "%s%s", s->mgmt_url, path);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok ? tok : "");
  free(tok);
  size_t len = 0;
  FILE *mem = open_memstream(out, &len);
  CURL *c = curl_easy_init();
  struct curl_slist *h = curl_slist_append(NULL, auth);
  h = curl_slist_append(h, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  fclose(mem);
  free(ca);
  return status;
}

int cmd_clock(int argc, char **argv) {
  srv s = {0};
  srv_config_defaults(&s.cfg);
  argc = cli_common_options(&s.cfg, argc, argv);
  int advance = argc == 3 && !strcmp(argv[1], "advance");
  if (!(argc == 1 || (argc == 2 && !strcmp(argv[1], "show")) || advance)) {
    fprintf(stderr, "usage: azlite clock [show] | azlite clock advance DURATION (e.g. 30d, 12h)\n");
    return 2;
  }
  if (advance && clock_parse_duration(argv[2]) < 0) {
    fprintf(stderr, "azlite clock: '%s' is not a duration (e.g. 30d, 12h, 90m, 45s)\n", argv[2]);
    return 2;
  }
  if (cli_open(&s) != 0) {
    srv_close(&s);
    return 1;
  }
  char *out = NULL, body[128];
  snprintf(body, sizeof body, "{\"duration\":\"%s\"}", advance ? argv[2] : "");
  long st = advance ? admin_call(&s, "POST", "/azlite/clock/advance", body, &out)
                    : admin_call(&s, "GET", "/azlite/clock", NULL, &out);
  int rc = 0;
  if (st == 200) {
    json_t *j = json_loads(out, 0, NULL);
    printf("%s\n", json_string_value(json_object_get(j, "now")));
    json_decref(j);
  } else if (st == 0) {
    /* No server: the store is the clock. */
    if (advance && clock_advance(&s, clock_parse_duration(argv[2])) != 0) rc = 1;
    char iso[40];
    clock_iso8601(clock_now_ms(&s), iso);
    if (!rc) printf("%s\n", iso);
  } else {
    fprintf(stderr, "azlite clock: the server answered %ld: %s\n", st, out ? out : "");
    rc = 1;
  }
  free(out);
  srv_close(&s);
  return rc;
}
