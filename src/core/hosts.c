/* hosts.c: how a request reached azlite, and the URLs azlite answers with.
 *
 * Outside transparent mode clients reach azlite at 127.0.0.1 (mgmt_url,
 * blob_url, ...), and what azlite returns names those.  Under `azlite exec`
 * they reach it by Azure's own names (azure_hosts.h): then what azlite
 * returns names Azure's hosts too, as Azure would, so what one client prints
 * another can use.  The request's Host header alone decides; nothing is
 * remembered per client. */
#include <string.h>
#include <strings.h>

#include "azure_hosts.h"
#include "core.h"

/* name (no port) against one pattern of AZURE_HOSTS, len bytes of it. */
static int hosts_pattern_match(const char *name, size_t n, const char *p, size_t len) {
  if (len > 2 && p[0] == '*' && p[1] == '.') {
    size_t k = len - 1; /* ".suffix" */
    return n > k && strncasecmp(name + n - k, p + 1, k) == 0 && !memchr(name, '.', n - k);
  }
  return n == len && strncasecmp(name, p, len) == 0;
}

int http_host_is_azure(const char *host) {
  size_t n = host ? strcspn(host, ":") : 0;
  if (n && host[n - 1] == '.') n--; /* "management.azure.com." */
  if (!n) return 0;
  for (const char *p = AZURE_HOSTS; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (hosts_pattern_match(host, n, p, len)) return 1;
    p += len + (e ? 1 : 0);
  }
  return 0;
}

/* The names `azlite exec` sends to the management port that another
 * listener serves: "<label><suffix>[:port]", the label a single one (an
 * account, an app).  Outside exec a client reaches the same by connecting to
 * the management port and sending the name as Host. */
static const struct {
  const char *suffix;
  enum http_listener listener;
} hosts_table[] = {
    /* <account>.blob.core.windows.net: that account's blob endpoint (HTTPS). */
    {".blob.core.windows.net", LISTEN_BLOB_TLS},
    /* <account>.dfs.core.windows.net: its Data Lake endpoint, which the blob
     * routes serve (a dfs request tells itself apart). */
    {".dfs.core.windows.net", LISTEN_BLOB_TLS},
    /* <app>.azurewebsites.net and its SCM (Kudu) site. */
    {".azurewebsites.net", LISTEN_WEB},
    {".scm.azurewebsites.net", LISTEN_WEB},
};

int http_host_listener(const char *host, enum http_listener *out) {
  size_t n = host ? strcspn(host, ":") : 0;
  for (size_t i = 0; i < sizeof hosts_table / sizeof hosts_table[0]; i++) {
    size_t k = strlen(hosts_table[i].suffix);
    if (n > k && strncasecmp(host + n - k, hosts_table[i].suffix, k) == 0 &&
        !memchr(host, '.', n - k)) {
      *out = hosts_table[i].listener;
      return 1;
    }
  }
  return 0;
}

int http_host_is_routed(const char *host) {
  size_t n = host ? strcspn(host, ":") : 0;
  if (!n || !http_host_is_azure(host)) return 0;
  for (const char *p = AZURE_HOSTS_ROUTED; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (n > len + 1 && host[n - len - 1] == '.' && strncasecmp(host + n - len, p, len) == 0)
      return 1;
    p += len + (e ? 1 : 0);
  }
  return 0;
}

int http_req_transparent(const http_req *r) {
  return http_host_is_azure(r->host);
}

const char *http_mgmt_base(http_req *r) {
  return http_req_transparent(r) ? "https://management.azure.com" : r->srv->mgmt_url;
}

const char *http_blob_endpoint(http_req *r, const char *account, int https) {
  if (http_req_transparent(r)) return http_printf(r, "https://%s.blob.core.windows.net/", account);
  return http_printf(r, "%s/%s/", https ? r->srv->blob_tls_url : r->srv->blob_url, account);
}

const char *http_dfs_endpoint(http_req *r, const char *account, int https) {
  if (http_req_transparent(r)) return http_printf(r, "https://%s.dfs.core.windows.net/", account);
  if (https || !r->srv->dfs_url[0]) return http_blob_endpoint(r, account, https);
  return http_printf(r, "%s/%s/", r->srv->dfs_url, account);
}
