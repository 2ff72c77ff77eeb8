/* azlite_preload.c: the library `azlite exec` (src/cli/exec.c) preloads into
 * the command it runs, so that code written for Azure reaches azlite unchanged.
 *
 * It interposes the C library's resolver (getaddrinfo, gethostbyname,
 * gethostbyname2 and their _r forms) and connect():
 *   - a host name azlite serves (AZLITE_EXEC_HOSTS, a comma-separated list of
 *     names and "*.suffix" patterns; the built-in default below) resolves to
 *     AZLITE_EXEC_ADDR, a reserved loopback address (127.77.77.77);
 *   - connect() to that address on port 443 goes to azlite's management HTTPS
 *     listener (127.0.0.1:AZLITE_EXEC_MGMT_PORT); other ports are refused;
 *   - connect() to the instance metadata address 169.254.169.254 port 80 goes,
 *     under `azlite exec --identity`, to azlite's IMDS socket
 *     (AZLITE_EXEC_IMDS_SOCK), the connection opened by the line
 *     "AZLITE-IMDS <AZLITE_EXEC_IMDS_KEY>" that says whose identity it is
 *     (src/compute/imds.c); without an identity it is refused (ECONNREFUSED),
 *     as on a machine without IMDS, at once;
 *   - any other name under one of Azure's public DNS suffixes (refused[] below)
 *     fails at once with EAI_NONAME and a one-line message on stderr, so a
 *     program run under azlite exec cannot reach real Azure by mistake: every
 *     Azure suffix is either served or refused, and the refused list is built
 *     in (the environment can add served names, never remove a refusal);
 *   - every other name goes to the real resolver (dlsym(RTLD_NEXT)).
 * Programs linked statically, or that resolve names without the C library
 * (their own DNS client, or res_query), are not covered.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/azure_hosts.h"

#define DEFAULT_ADDR "127.77.77.77"

/* Azure's public DNS suffixes (public, sovereign and legacy clouds): a name
 * under one of these that azlite does not serve is refused. */
static const char *const refused[] = {"azure.com",
                                      "azure.net",
                                      "windows.net",
                                      "windowsazure.com",
                                      "microsoftonline.com",
                                      "microsoftonline.us",
                                      "microsoftonline.de",
                                      "microsoftonline.cn",
                                      "graph.microsoft.com",
                                      "login.microsoft.com",
                                      "login.windows.net",
                                      "azureml.ms",
                                      "azurewebsites.net",
                                      "azure-api.net",
                                      "azurecr.io",
                                      "azureedge.net",
                                      "azurefd.net",
                                      "azure-devices.net",
                                      "azuredatabricks.net",
                                      "azuresynapse.net",
                                      "azurehdinsight.net",
                                      "azure-automation.net",
                                      "azurestaticapps.net",
                                      "azmk8s.io",
                                      "azurecontainerapps.io",
                                      "azurecontainer.io",
                                      "trafficmanager.net",
                                      "cloudapp.net",
                                      "applicationinsights.io",
                                      "loganalytics.io",
                                      "azure.us",
                                      "usgovcloudapi.net",
                                      "chinacloudapi.cn",
                                      "azure.cn",
                                      "cloudapi.de",
                                      "microsoftazure.de",
                                      "management.core.windows.net",
                                      "aadcdn.msftauth.net",
                                      "msauth.net",
                                      "msftauth.net",
                                      NULL};

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
typedef struct hostent *(*ghbn_fn)(const char *);
typedef struct hostent *(*ghbn2_fn)(const char *, int);

static int suffix_match(const char *name, const char *sfx) {
  size_t n = strlen(name), k = strlen(sfx);
  if (n == k) return strcasecmp(name, sfx) == 0;
  return n > k && name[n - k - 1] == '.' && strcasecmp(name + n - k, sfx) == 0;
}

/* One pattern: "host" exactly, or "*.suffix" for exactly one more label. */
static int pattern_match(const char *name, const char *pat, size_t plen) {
  size_t n = strlen(name);
  if (plen > 2 && pat[0] == '*' && pat[1] == '.') {
    size_t k = plen - 1; /* ".suffix" */
    if (n <= k || strncasecmp(name + n - k, pat + 1, k) != 0) return 0;
    return memchr(name, '.', n - k) == NULL && n - k > 0;
  }
  return n == plen && strncasecmp(name, pat, plen) == 0;
}

/* 1: served; -1: refused (Azure's, not served); 0: someone else's. */
static int classify(const char *host) {
  if (!host || !*host) return 0;
  char name[256];
  size_t n = strlen(host);
  if (n >= sizeof name) return 0;
  memcpy(name, host, n + 1);
  if (n > 1 && name[n - 1] == '.') name[n - 1] = 0;
  const char *list = getenv("AZLITE_EXEC_HOSTS");
  if (!list || !*list) list = AZURE_HOSTS;
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len && pattern_match(name, p, len)) return 1;
    p += len + (e ? 1 : 0);
  }
  for (int i = 0; refused[i]; i++)
    if (suffix_match(name, refused[i])) return -1;
  return 0;
}

static void refuse_msg(const char *host) {
  fprintf(stderr,
          "azlite exec: %s is an Azure host name that azlite does not serve; not resolving it "
          "(it would reach real Azure)\n",
          host);
}

static const char *exec_addr(void) {
  const char *a = getenv("AZLITE_EXEC_ADDR");
  return a && *a ? a : DEFAULT_ADDR;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
  static gai_fn real;
  if (!real) real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  int c = classify(node);
  if (c < 0) {
    refuse_msg(node);
    return EAI_NONAME;
  }
  if (c == 0) return real(node, service, hints, res);
  struct addrinfo h = {0};
  if (hints) h = *hints;
  h.ai_flags = (h.ai_flags & ~(AI_CANONNAME | AI_ADDRCONFIG)) | AI_NUMERICHOST;
  char mapped[64];
  const char *addr = exec_addr();
  if (h.ai_family == AF_INET6) {
    snprintf(mapped, sizeof mapped, "::ffff:%s", addr);
    addr = mapped;
  } else {
    h.ai_family = AF_INET;
  }
  return real(addr, service, &h, res);
}

static struct hostent *fake_hostent(const char *name) {
  static __thread struct hostent he;
  static __thread struct in_addr a;
  static __thread char *addrs[2], *aliases[1], hname[256];
  if (inet_pton(AF_INET, exec_addr(), &a) != 1) return NULL;
  snprintf(hname, sizeof hname, "%s", name);
  addrs[0] = (char *)&a;
  addrs[1] = NULL;
  aliases[0] = NULL;
  he.h_name = hname;
  he.h_aliases = aliases;
  he.h_addrtype = AF_INET;
  he.h_length = sizeof a;
  he.h_addr_list = addrs;
  return &he;
}

struct hostent *gethostbyname(const char *name) {
  static ghbn_fn real;
  if (!real) real = (ghbn_fn)dlsym(RTLD_NEXT, "gethostbyname");
  int c = classify(name);
  if (c < 0) {
    refuse_msg(name);
    h_errno = HOST_NOT_FOUND;
    return NULL;
  }
  return c ? fake_hostent(name) : real(name);
}

struct hostent *gethostbyname2(const char *name, int af) {
  static ghbn2_fn real;
  if (!real) real = (ghbn2_fn)dlsym(RTLD_NEXT, "gethostbyname2");
  int c = classify(name);
  if (c < 0) {
    refuse_msg(name);
    h_errno = HOST_NOT_FOUND;
    return NULL;
  }
  if (c == 0) return real(name, af);
  if (af != AF_INET) {
    h_errno = NO_ADDRESS;
    return NULL;
  }
  return fake_hostent(name);
}

/* The reentrant forms (CPython's gethostbyname_ex, many C programs): the
 * hostent lives in the caller's buffer. */
static int fill_hostent_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                          struct hostent **result, int *h_errnop) {
  size_t nlen = strlen(name) + 1, need = 3 * sizeof(char *) + sizeof(struct in_addr) + nlen;
  *result = NULL;
  if (buflen < need + sizeof(char *)) {
    *h_errnop = NETDB_INTERNAL;
    return ERANGE;
  }
  /* pointers first, aligned */
  size_t pad = (size_t)(-(uintptr_t)buf) % sizeof(char *);
  char **ptrs = (char **)(void *)(buf + pad);
  struct in_addr *a = (struct in_addr *)(void *)(ptrs + 3);
  char *hname = (char *)(a + 1);
  if (pad + need > buflen || inet_pton(AF_INET, exec_addr(), a) != 1) {
    *h_errnop = NETDB_INTERNAL;
    return ERANGE;
  }
  memcpy(hname, name, nlen);
  ptrs[0] = (char *)a;
  ptrs[1] = NULL; /* end of h_addr_list */
  ptrs[2] = NULL; /* h_aliases: empty */
  ret->h_name = hname;
  ret->h_aliases = ptrs + 2;
  ret->h_addrtype = AF_INET;
  ret->h_length = sizeof *a;
  ret->h_addr_list = ptrs;
  *result = ret;
  return 0;
}

typedef int (*ghbnr_fn)(const char *, struct hostent *, char *, size_t, struct hostent **, int *);
typedef int (*ghbn2r_fn)(const char *, int, struct hostent *, char *, size_t, struct hostent **,
                         int *);

int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
                    struct hostent **result, int *h_errnop) {
  static ghbnr_fn real;
  if (!real) real = (ghbnr_fn)dlsym(RTLD_NEXT, "gethostbyname_r");
  int c = classify(name);
  if (c < 0) {
    refuse_msg(name);
    *result = NULL;
    *h_errnop = HOST_NOT_FOUND;
    return 0;
  }
  if (c == 0) return real(name, ret, buf, buflen, result, h_errnop);
  return fill_hostent_r(name, ret, buf, buflen, result, h_errnop);
}

int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
                     struct hostent **result, int *h_errnop) {
  static ghbn2r_fn real;
  if (!real) real = (ghbn2r_fn)dlsym(RTLD_NEXT, "gethostbyname2_r");
  int c = classify(name);
  if (c < 0) {
    refuse_msg(name);
    *result = NULL;
    *h_errnop = HOST_NOT_FOUND;
    return 0;
  }
  if (c == 0) return real(name, af, ret, buf, buflen, result, h_errnop);
  if (af != AF_INET) {
    *result = NULL;
    *h_errnop = NO_ADDRESS;
    return 0;
  }
  return fill_hostent_r(name, ret, buf, buflen, result, h_errnop);
}

/* fd (an AF_INET or AF_INET6 socket) becomes a connection to azlite's IMDS
 * socket, opened by the key line; the socket's flags (O_NONBLOCK) are kept.
 * The connection is made at once, so a non-blocking connect() returns 0. */
static int imds_connect(int fd, int port) {
  const char *path = getenv("AZLITE_EXEC_IMDS_SOCK"), *key = getenv("AZLITE_EXEC_IMDS_KEY");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (port != 80 || !path || !*path || !key || !*key || strlen(path) >= sizeof a.sun_path) {
    errno = ECONNREFUSED;
    return -1;
  }
  static connect_fn real;
  if (!real) real = (connect_fn)dlsym(RTLD_NEXT, "connect");
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (u < 0) return -1;
  char line[2048];
  int n = snprintf(line, sizeof line, "AZLITE-IMDS %s\n", key);
  if (real(u, (struct sockaddr *)&a, sizeof a) != 0 || n <= 0 || (size_t)n >= sizeof line ||
      write(u, line, (size_t)n) != n) {
    close(u);
    errno = ECONNREFUSED;
    return -1;
  }
  int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
  if (fl >= 0) fcntl(u, F_SETFL, fl);
  int rc = dup3(u, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
  close(u);
  return rc < 0 ? -1 : 0;
}

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
  static connect_fn real;
  if (!real) real = (connect_fn)dlsym(RTLD_NEXT, "connect");
  if (!sa) return real(fd, sa, len);
  struct in_addr ours, imds;
  if (inet_pton(AF_INET, exec_addr(), &ours) != 1) return real(fd, sa, len);
  inet_pton(AF_INET, "169.254.169.254", &imds);
  const char *p = getenv("AZLITE_EXEC_MGMT_PORT");
  int mgmt = p ? atoi(p) : 0;
  struct in_addr dst;
  in_port_t port;
  if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    dst = in->sin_addr;
    port = in->sin_port;
  } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return real(fd, sa, len);
    memcpy(&dst, in6->sin6_addr.s6_addr + 12, 4);
    port = in6->sin6_port;
  } else {
    return real(fd, sa, len);
  }
  if (dst.s_addr == imds.s_addr) return imds_connect(fd, ntohs(port));
  if (dst.s_addr != ours.s_addr) return real(fd, sa, len);
  if (ntohs(port) != 443 || mgmt <= 0 || mgmt > 65535) {
    errno = ECONNREFUSED;
    return -1;
  }
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in to = *(const struct sockaddr_in *)sa;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons((in_port_t)mgmt);
    return real(fd, (const struct sockaddr *)&to, sizeof to);
  }
  struct sockaddr_in6 to = *(const struct sockaddr_in6 *)sa;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &to.sin6_addr);
  to.sin6_port = htons((in_port_t)mgmt);
  return real(fd, (const struct sockaddr *)&to, sizeof to);
}
