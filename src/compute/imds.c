/* imds.c: what a VM reaches of azlite from inside its sandbox.
 *
 * The Instance Metadata Service listens at 169.254.169.254:80 inside each
 * sandbox (rt_listen_inside); its connections are handed to the server's
 * IMDS listener (LISTEN_IMDS, which has no socket on the host) with a client
 * address that is the sandbox's key: an address in 100.64.0.0/10 drawn for
 * the VM when it boots.  IMDS finds the VM from that key alone, so no VM, nor
 * any host process, can speak for another: a token from
 * /metadata/identity/oauth2/token is the calling VM's own identity's.
 *
 * azlite's management, blob and blob TLS ports listen inside too, on
 * 127.0.0.1, so the URLs and connection strings of the host work unchanged
 * in the VM (and the CA that trusts them is at COMPUTE_CA_INSIDE). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../identity/identity.h"
#include "../network/network.h"
#include "../runtime/runtime.h"
#include "internal.h"

typedef struct inside_conn {
  srv *s;
  enum http_listener l;
  char ip[20];
} inside_conn;

typedef struct imds_key {
  struct imds_key *next;
  /* What the listeners inside hand connections to: IMDS, ARM, blob, blob
   * TLS (kept with the key, so that every boot of the VM reuses them). */
  inside_conn conns[4];
  char vm_id[512];
  char ip[20];
  /* Scheduled events: one Preempt at most. */
  char event_id[37];
  int64_t not_before_ms; /* 0: none */
  int incarnation;
} imds_key;

static compute_state *cst(srv *s) {
  return *srv_provider_state(s, &compute_provider);
}

/* c->mu held. */
static imds_key *key_find(compute_state *c, const char *vm_id, const char *ip) {
  for (imds_key *k = c->keys; k; k = k->next)
    if ((vm_id && strcasecmp(k->vm_id, vm_id) == 0) || (ip && strcmp(k->ip, ip) == 0)) return k;
  return NULL;
}

static void on_inside_conn(void *cls, int fd) {
  inside_conn *ic = cls;
  srv_add_connection(ic->s, ic->l, fd, ic->ip);
}

static int port_of(const char *url) {
  const char *c = strrchr(url, ':');
  return c ? atoi(c + 1) : 0;
}

int compute_vm_serve_inside(srv *s, rt_sandbox *sb, const char *vm_id) {
  compute_state *c = cst(s);
  pthread_mutex_lock(&c->mu);
  imds_key *k = key_find(c, vm_id, NULL);
  if (!k) {
    k = calloc(1, sizeof *k);
    if (!k) abort();
    snprintf(k->vm_id, sizeof k->vm_id, "%s", vm_id);
    int n = ++c->next_key;
    snprintf(k->ip, sizeof k->ip, "100.%d.%d.%d", 64 + ((n >> 16) & 63), (n >> 8) & 255, n & 255);
    k->next = c->keys;
    c->keys = k;
  }
  inside_conn *imds = &k->conns[0], *mgmt = &k->conns[1], *blob = &k->conns[2],
              *blobs = &k->conns[3];
  *imds = (inside_conn){s, LISTEN_IMDS, ""};
  snprintf(imds->ip, sizeof imds->ip, "%s", k->ip);
  *mgmt = (inside_conn){s, LISTEN_MGMT, "127.0.0.1"};
  *blob = (inside_conn){s, LISTEN_BLOB, "127.0.0.1"};
  *blobs = (inside_conn){s, LISTEN_BLOB_TLS, "127.0.0.1"};
  pthread_mutex_unlock(&c->mu);
  int rc = rt_listen_inside(sb, "169.254.169.254", 80, on_inside_conn, imds);
  if (rc == 0) rc = rt_listen_inside(sb, "127.0.0.1", port_of(s->mgmt_url), on_inside_conn, mgmt);
  if (rc == 0 && port_of(s->blob_url))
    rc = rt_listen_inside(sb, "127.0.0.1", port_of(s->blob_url), on_inside_conn, blob);
  if (rc == 0 && port_of(s->blob_tls_url))
    rc = rt_listen_inside(sb, "127.0.0.1", port_of(s->blob_tls_url), on_inside_conn, blobs);
  if (rc != 0) log_warn("compute: azlite's endpoints could not listen inside %s", vm_id);
  return rc;
}

void compute_imds_forget(srv *s, const char *vm_id) {
  compute_state *c = cst(s);
  pthread_mutex_lock(&c->mu);
  imds_key *k = key_find(c, vm_id, NULL);
  if (k) k->not_before_ms = 0;
  pthread_mutex_unlock(&c->mu);
}

void compute_imds_add_preempt(srv *s, const char *vm_id, int64_t not_before_ms) {
  compute_state *c = cst(s);
  pthread_mutex_lock(&c->mu);
  imds_key *k = key_find(c, vm_id, NULL);
  if (k && !k->not_before_ms) {
    uuid_v4(k->event_id);
    k->not_before_ms = not_before_ms;
    k->incarnation++;
  }
  pthread_mutex_unlock(&c->mu);
}

/* The VM the request comes from, into vm_id; fails r as IMDS does (400
 * without "Metadata: true"). */
static int imds_caller(http_req *r, char vm_id[512]) {
  const char *md = http_header_get(r, "Metadata");
  if (!md || strcasecmp(md, "true") != 0) {
    http_fail(r, COMPUTE_ERR_IMDS_BAD_REQUEST, "Required metadata header not specified");
    return -1;
  }
  compute_state *c = cst(r->srv);
  pthread_mutex_lock(&c->mu);
  imds_key *k = key_find(c, NULL, r->client_ip);
  if (k) snprintf(vm_id, 512, "%s", k->vm_id);
  pthread_mutex_unlock(&c->mu);
  if (!k) {
    http_fail(r, COMPUTE_ERR_IMDS_NOT_FOUND, "No VM answers for this address.");
    return -1;
  }
  return 0;
}

void compute_imds_token(http_req *r) {
  char vm[512];
  if (imds_caller(r, vm) != 0) return;
  identity_workload_token(r, vm);
}

/* The caller, which must be a VM or scale-set instance: a process under
 * `azlite exec --identity` that names a user-assigned identity has tokens
 * only, as a VM's metadata needs a VM. */
static int imds_caller_vm(http_req *r, char vm_id[512]) {
  if (imds_caller(r, vm_id) != 0) return -1;
  if (!strcasestr(vm_id, "/providers/Microsoft.Compute/virtualMachine")) {
    http_fail(r, COMPUTE_ERR_IMDS_NOT_FOUND, "No VM answers for this address.");
    return -1;
  }
  return 0;
}

void compute_imds_instance(http_req *r) {
  char vm[512];
  if (imds_caller_vm(r, vm) != 0) return;
  json_t *body = http_json_own(r, compute_vmss_is_instance(vm) ? compute_vmss_vm_body(r->srv, vm)
                                                               : arm_resource_get(r->srv, vm));
  if (!body) {
    http_fail(r, COMPUTE_ERR_IMDS_NOT_FOUND, "The VM no longer exists.");
    return;
  }
  json_t *p = json_object_get(body, "properties");
  const char *id = json_string_value(json_object_get(body, "id"));
  char rg[128] = "";
  const char *g = strstr(id, "/resourceGroups/");
  if (g) sscanf(g + 16, "%127[^/]", rg);
  json_t *img = json_object_get(json_object_get(p, "storageProfile"), "imageReference");
  json_t *os = json_object_get(p, "osProfile");
  json_t *compute = json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "azEnvironment",
      "AzurePublicCloud", "location", json_string_value(json_object_get(body, "location")), "name",
      json_string_value(json_object_get(body, "name")), "computerName",
      json_string_value(json_object_get(os, "computerName")), "osType", "Linux", "offer",
      json_string_value(json_object_get(img, "offer")) ?: "", "publisher",
      json_string_value(json_object_get(img, "publisher")) ?: "", "sku",
      json_string_value(json_object_get(img, "sku")) ?: "", "version",
      json_string_value(json_object_get(img, "exactVersion")) ?: "", "resourceGroupName", rg,
      "resourceId", id, "subscriptionId", r->srv->subscription_id, "vmId",
      json_string_value(json_object_get(p, "vmId")) ?: "", "tagsList", json_array());
  json_object_set_new(
      compute, "vmSize",
      json_incref(json_object_get(json_object_get(p, "hardwareProfile"), "vmSize")));
  json_object_set_new(compute, "priority",
                      json_string(json_string_value(json_object_get(p, "priority")) ?: ""));
  json_t *tags = json_object_get(body, "tags");
  const char *k;
  json_t *v;
  json_object_foreach(tags, k, v) json_array_append_new(
      json_object_get(compute, "tagsList"), json_pack("{s:s,s:O}", "name", k, "value", v));
  json_t *ifaces = json_array();
  size_t i;
  json_t *n;
  json_array_foreach(json_object_get(json_object_get(p, "networkProfile"), "networkInterfaces"), i,
                     n) {
    network_nic_info ni;
    if (network_nic_info_get(r->srv, json_string_value(json_object_get(n, "id")), &ni) != 0)
      continue;
    char mac[32];
    int m = 0;
    for (const char *c = ni.mac; *c && m < 31; c++)
      if (*c != '-') mac[m++] = *c;
    mac[m] = 0;
    json_array_append_new(ifaces, json_pack("{s:{s:[{s:s,s:s}],s:[]},s:s}", "ipv4", "ipAddress",
                                            "privateIpAddress", ni.private_ip, "publicIpAddress",
                                            ni.public_ip, "subnet", "macAddress", mac));
  }
  json_t *doc = json_pack("{s:o,s:{s:o}}", "compute", compute, "network", "interface", ifaces);
  const char *path = r->path;
  if (strstr(path, "/instance/compute")) {
    json_incref(compute);
    json_decref(doc);
    http_reply_json(r, 200, compute);
    return;
  }
  http_reply_json(r, 200, doc);
}

void compute_imds_scheduled_events(http_req *r) {
  char vm[512];
  if (imds_caller_vm(r, vm) != 0) return;
  compute_state *c = cst(r->srv);
  json_t *events = json_array();
  int inc = 0;
  pthread_mutex_lock(&c->mu);
  imds_key *k = key_find(c, vm, NULL);
  if (k) {
    inc = k->incarnation;
    if (k->not_before_ms) {
      char nb[40];
      clock_iso8601(k->not_before_ms, nb);
      /* IMDS's own date format: RFC 1123. */
      time_t t = (time_t)(k->not_before_ms / 1000);
      struct tm tm;
      gmtime_r(&t, &tm);
      char rfc[64];
      strftime(rfc, sizeof rfc, "%a, %d %b %Y %H:%M:%S GMT", &tm);
      const char *name = strrchr(vm, '/');
      json_array_append_new(events, json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s,s:s,s:i,s:s}", "EventId",
                                              k->event_id, "EventType", "Preempt", "ResourceType",
                                              "VirtualMachine", "Resources", name ? name + 1 : vm,
                                              "EventStatus", "Scheduled", "NotBefore", rfc,
                                              "Description", "The Spot VM is being evicted.",
                                              "DurationInSeconds", -1, "EventSource", "Platform"));
    }
  }
  pthread_mutex_unlock(&c->mu);
  http_reply_json(r, 200, json_pack("{s:i,s:o}", "DocumentIncarnation", inc, "Events", events));
}

/* The scheduler's tick: evicts the VMs whose Preempt notice is over. */
void compute_imds_tick(srv *s, int64_t now_ms) {
  compute_state *c = cst(s);
  for (;;) {
    char id[512] = "";
    pthread_mutex_lock(&c->mu);
    for (imds_key *k = c->keys; k; k = k->next)
      if (k->not_before_ms && now_ms >= k->not_before_ms) {
        snprintf(id, sizeof id, "%s", k->vm_id);
        k->not_before_ms = 0;
        k->incarnation++;
        break;
      }
    pthread_mutex_unlock(&c->mu);
    if (!id[0]) return;
    compute_vm_evict(s, id);
  }
}

/* ---- IMDS for `azlite exec --identity` ---------------------------------------
 *
 * A process under exec has no sandbox address to be known by.  Its
 * library (src/preload/) sends a connection to 169.254.169.254:80 to the
 * socket <data>/exec/imds.sock (the directory is the data dir owner's
 * alone) and first writes one line, "AZLITE-IMDS <IDENTITY_HEADER>\n",
 * the header that identity_workload_env() made for the workload exec was
 * given: a VM (then the process is that VM to IMDS) or a user-assigned
 * identity.  The line's MAC proves it; the rest of the connection is the
 * client's HTTP, served by the IMDS listener under the workload's key. */

#define IMDS_EXEC_PREFIX "AZLITE-IMDS "

/* The key (its address) naming workload to IMDS, made if it has none; c->mu not held. */
static void imds_key_for(compute_state *c, const char *workload, char ip[20]) {
  pthread_mutex_lock(&c->mu);
  imds_key *k = key_find(c, workload, NULL);
  if (!k) {
    k = calloc(1, sizeof *k);
    if (!k) abort();
    snprintf(k->vm_id, sizeof k->vm_id, "%s", workload);
    int n = ++c->next_key;
    snprintf(k->ip, sizeof k->ip, "100.%d.%d.%d", 64 + ((n >> 16) & 63), (n >> 8) & 255, n & 255);
    k->next = c->keys;
    c->keys = k;
  }
  snprintf(ip, 20, "%s", k->ip);
  pthread_mutex_unlock(&c->mu);
}

/* Reads the connection's first line (without its newline) within 2 s. */
static int imds_exec_line(int fd, char *line, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 2000) <= 0) return -1;
    ssize_t got = read(fd, line + n, 1);
    if (got <= 0) return -1;
    if (line[n] == '\n') {
      line[n] = 0;
      return 0;
    }
    n++;
  }
  return -1;
}

static void *imds_exec_loop(void *arg) {
  srv *s = arg;
  compute_state *c = cst(s);
  for (;;) {
    int fd = accept4(c->exec_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return NULL; /* shut down (compute_imds_exec_stop) */
    }
    char line[2048];
    char *workload = NULL;
    if (imds_exec_line(fd, line, sizeof line) == 0 &&
        strncmp(line, IMDS_EXEC_PREFIX, strlen(IMDS_EXEC_PREFIX)) == 0)
      workload = identity_workload_of_header(s, line + strlen(IMDS_EXEC_PREFIX));
    if (!workload) {
      log_warn("compute: refused an IMDS connection from azlite exec (its key is not azlite's)");
      close(fd);
      continue;
    }
    char ip[20];
    imds_key_for(c, workload, ip);
    free(workload);
    srv_add_connection(s, LISTEN_IMDS, fd, ip);
  }
}

int compute_imds_exec_start(srv *s) {
  compute_state *c = cst(s);
  char *dir = srv_path(s, "exec"), *path = srv_path(s, "exec/imds.sock");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  int rc = -1;
  if (strlen(path) >= sizeof a.sun_path) {
    log_warn("compute: %s is too long a socket path", path);
    goto out;
  }
  mkdir(dir, 0700);
  chmod(dir, 0700);
  unlink(path);
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  c->exec_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->exec_fd < 0 || bind(c->exec_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(c->exec_fd, 64) != 0 ||
      pthread_create(&c->exec_thread, NULL, imds_exec_loop, s) != 0) {
    log_warn("compute: cannot listen on %s: %s", path, strerror(errno));
    if (c->exec_fd >= 0) close(c->exec_fd);
    c->exec_fd = -1;
    goto out;
  }
  rc = 0;
out:
  free(dir);
  free(path);
  return rc;
}

void compute_imds_exec_stop(srv *s) {
  compute_state *c = cst(s);
  if (c->exec_fd < 0) return;
  shutdown(c->exec_fd, SHUT_RDWR); /* accept() returns EINVAL */
  pthread_join(c->exec_thread, NULL);
  close(c->exec_fd);
  c->exec_fd = -1;
  char *path = srv_path(s, "exec/imds.sock");
  unlink(path);
  free(path);
}

void compute_imds_free_all(srv *s) {
  compute_state *c = cst(s);
  imds_key *k = c->keys;
  c->keys = NULL;
  while (k) {
    imds_key *next = k->next;
    free(k);
    k = next;
  }
}
