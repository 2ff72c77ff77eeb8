/* compute.c: a workspace's computes (workspaces/{ws}/computes/{name}):
 * AmlCompute clusters and compute instances.  A cluster is a row of ml_computes (its body as GET
 * answers, less what is computed: node counts and allocation state).  Its
 * nodes are sandboxes (runtime.h) that live in memory only: a node boots when
 * the cluster needs one (a job, or minNodeCount) and is stopped, its disk
 * removed, once it has been idle nodeIdleTimeBeforeScaleDown on azlite's
 * clock and the cluster is above its minimum.  After a restart a cluster has
 * no nodes until it needs them again, as one that scaled down.
 *
 * A compute instance is a cluster of one node that is up while the instance
 * is Running: create and start boot it, stop takes it down (its disk goes,
 * as a stopped instance's temporary disk does), restart does both; each is a
 * long-running operation that ends when the work has.  idleTimeBeforeShutdown
 * stops an instance whose node ran no job for that long on azlite's clock.
 * After a restart of azlite a Running instance boots again.
 *
 * Creates, updates and deletes are long-running (the SDK's pollers insist on
 * Azure-AsyncOperation); the scaling itself runs on short-lived threads the
 * scheduler's tick starts, so the tick never waits for a boot. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../compute/compute.h"
#include "../runtime/runtime.h"
#include "internal.h"

#define COMPUTE_TYPE ML_WS_TYPE "/computes"
#define DEFAULT_IDLE_S 120

/* ---- nodes ------------------------------------------------------------------ */

enum node_state { NODE_PREPARING, NODE_IDLE, NODE_RUNNING, NODE_LEAVING };
static const char *const NODE_STATE_NAMES[] = {"preparing", "idle", "running", "leaving"};

typedef struct ml_node {
  struct ml_node *next;
  char compute_id[512]; /* canonical */
  char node_id[64];     /* "tvmps_<hex>_d", as Azure names them */
  char sandbox[64];
  char disk[600];
  char run_id[128]; /* the job it runs, "" when none */
  char why[256];    /* why its boot failed (state LEAVING without a sandbox) */
  /* A job holds the node (ml_cluster_acquire to ml_cluster_release): it is
   * neither stopped nor freed until the job lets go. */
  int leased;
  /* Usage: the meter of its size and priority, and since when it runs (on
   * azlite's clock; 0 until booted). */
  char meter[160];
  int64_t started_ms;
  enum node_state state;
  int64_t idle_since_ms;
  rt_sandbox *sb; /* set once booted; guarded by ml_nodes_mu */
  /* The cluster's network: every node of a cluster is in one network
   * namespace, so the ranks of a distributed job reach each other (as the
   * nodes of an Azure cluster share a subnet).  The node's own fd, -1: its own
   * namespace (none could be made). */
  int netns_fd;
  struct cluster_net *net; /* NULL: the node's own namespace */
} ml_node;

/* A cluster's network: the namespace its nodes share, and the listener of
 * azlite's management port in it (MLflow tracking, at the host's URL).  One
 * listener for the namespace, not one per node, so no process inside can
 * take a share of its connections.  Guarded by nodes_mu; it goes with the
 * cluster's last node. */
typedef struct cluster_net {
  struct cluster_net *next;
  char compute_id[512];
  int netns_fd;
  rt_listener *mgmt;
  int nodes;
} cluster_net;
static cluster_net *nets;

/* Every live node of every cluster.  Guarded by nodes_mu; a node's sandbox
 * calls run outside it (a boot or stop takes seconds). */
static pthread_mutex_t nodes_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nodes_cv = PTHREAD_COND_INITIALIZER;
static ml_node *nodes;

typedef struct node_job {
  srv *s;
  ml_node *n;
  const compute_size *size;
} node_job;

static void node_thread(srv *s, ml_node *n, const compute_size *z, void *(*fn)(void *));
static void *node_stop_thread(void *arg);

/* A connection to azlite's management port from inside a node. */
static void on_inside_mgmt(void *cls, int fd) {
  srv_add_connection(cls, LISTEN_MGMT, fd, "127.0.0.1");
}

static int port_of(const char *url) {
  const char *c = strrchr(url, ':');
  return c ? atoi(c + 1) : 0;
}

static void *node_boot_thread(void *arg) {
  node_job *j = arg;
  ml_node *n = j->n;
  char err[512] = "";
  /* azlite's CA, which trusts the management port a job reaches (MLflow
   * tracking) at the URL the host uses. */
  char *ca = srv_path(j->s, "pki/ca.pem");
  const char *files[] = {ML_CA_INSIDE, ca, NULL};
  rt_spec spec = {.name = n->sandbox,
                  .files = files,
                  .disk_dir = n->disk,
                  .hostname = n->node_id,
                  .vcpus = j->size ? j->size->vcpus : 0,
                  .memory_mb = j->size ? j->size->memory_mb : 0,
                  .gpus = j->size && j->size->gpu_model ? j->size->gpus : 0,
                  .join_netns = n->netns_fd >= 0,
                  .netns_fd = n->netns_fd};
  rt_sandbox *sb = rt_boot(&spec, err, sizeof err);
  free(ca);
  /* A node in a namespace of its own listens itself. */
  if (sb && !n->net &&
      rt_listen_inside(sb, "127.0.0.1", port_of(j->s->mgmt_url), on_inside_mgmt, j->s) != 0)
    log_warn("ml: azlite's management port could not listen inside node %s", n->node_id);
  pthread_mutex_lock(&nodes_mu);
  if (sb) {
    n->sb = sb;
    n->started_ms = clock_now_ms(j->s);
    if (n->state == NODE_PREPARING) n->state = n->run_id[0] ? NODE_RUNNING : NODE_IDLE;
    n->idle_since_ms = clock_now_ms(j->s);
  } else {
    /* Unusable nodes go: the next need boots another. */
    snprintf(n->why, sizeof n->why, "%s", err);
    n->state = NODE_LEAVING;
    node_thread(j->s, n, NULL, node_stop_thread);
  }
  pthread_cond_broadcast(&nodes_cv);
  pthread_mutex_unlock(&nodes_mu);
  if (sb)
    log_info("ml: node %s of %s is up", n->node_id, n->compute_id);
  else
    log_warn("ml: node %s of %s could not boot: %s", n->node_id, n->compute_id, err);
  free(j);
  return NULL;
}

/* Stops a node that is LEAVING (its sandbox, its disk) and frees it. */
static void *node_stop_thread(void *arg) {
  node_job *j = arg;
  ml_node *n = j->n;
  pthread_mutex_lock(&nodes_mu);
  while (n->leased)
    pthread_cond_wait(&nodes_cv, &nodes_mu);
  pthread_mutex_unlock(&nodes_mu);
  if (n->sb) rt_stop(n->sb, 2000);
  rt_disk_remove(n->disk);
  /* The node's hours, idle ones too, as Azure bills a cluster's nodes. */
  if (n->started_ms) {
    int64_t ms = clock_now_ms(j->s) - n->started_ms;
    usage_record(j->s, n->compute_id, n->meter, ms > 0 ? (double)ms / 3600000.0 : 0, "Hours");
  }
  pthread_mutex_lock(&nodes_mu);
  for (ml_node **p = &nodes; *p; p = &(*p)->next)
    if (*p == n) {
      *p = n->next;
      break;
    }
  if (n->net && --n->net->nodes == 0) {
    for (cluster_net **p = &nets; *p; p = &(*p)->next)
      if (*p == n->net) {
        *p = n->net->next;
        break;
      }
    rt_netns_unlisten(n->net->mgmt);
    close(n->net->netns_fd);
    free(n->net);
  }
  pthread_cond_broadcast(&nodes_cv);
  pthread_mutex_unlock(&nodes_mu);
  log_info("ml: node %s of %s is gone", n->node_id, n->compute_id);
  if (n->netns_fd >= 0) close(n->netns_fd);
  free(n);
  free(j);
  return NULL;
}

static void node_thread(srv *s, ml_node *n, const compute_size *z, void *(*fn)(void *)) {
  node_job *j = calloc(1, sizeof *j);
  if (!j) abort();
  j->s = s;
  j->n = n;
  j->size = z;
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, fn, j) != 0) abort();
  pthread_attr_destroy(&a);
}

/* A new PREPARING node for the cluster (nodes_mu held), booting. */
static ml_node *node_add_locked(srv *s, const char *compute_id, const compute_size *z,
                                const char *priority, const char *run_id) {
  ml_node *n = calloc(1, sizeof *n);
  if (!n) abort();
  char u[37];
  uuid_v4(u);
  char hex[33];
  int k = 0;
  for (const char *p = u; *p && k < 32; p++)
    if (*p != '-') hex[k++] = *p;
  hex[k] = 0;
  snprintf(n->compute_id, sizeof n->compute_id, "%.511s", compute_id);
  snprintf(n->node_id, sizeof n->node_id, "tvmps_%.24s_d", hex);
  snprintf(n->sandbox, sizeof n->sandbox, "aml-%.24s", hex);
  char *d = srv_path(s, "ml/nodes");
  snprintf(n->disk, sizeof n->disk, "%s/%s", d, n->sandbox);
  free(d);
  snprintf(n->run_id, sizeof n->run_id, "%s", run_id ? run_id : "");
  snprintf(n->meter, sizeof n->meter, "Microsoft.MachineLearningServices/workspaces/computes/%s/%s",
           z ? z->name : "unknown", priority && *priority ? priority : "Dedicated");
  n->state = NODE_PREPARING;
  n->netns_fd = -1;
  cluster_net *net = nets;
  while (net && strcmp(net->compute_id, n->compute_id) != 0)
    net = net->next;
  if (!net) {
    char err[256];
    int fd = rt_netns_new(err, sizeof err);
    if (fd < 0) {
      log_warn("ml: the cluster's network: %s", err);
    } else {
      net = calloc(1, sizeof *net);
      if (!net) abort();
      snprintf(net->compute_id, sizeof net->compute_id, "%s", n->compute_id);
      net->netns_fd = fd;
      net->mgmt = rt_netns_listen(fd, "127.0.0.1", port_of(s->mgmt_url), on_inside_mgmt, s);
      if (!net->mgmt)
        log_warn("ml: azlite's management port could not listen in %s's network", compute_id);
      net->next = nets;
      nets = net;
    }
  }
  if (net) {
    n->net = net;
    net->nodes++;
    n->netns_fd = fcntl(net->netns_fd, F_DUPFD_CLOEXEC, 0);
  }
  n->next = nodes;
  nodes = n;
  node_thread(s, n, z, node_boot_thread);
  return n;
}

typedef struct node_counts {
  int total, preparing, idle, running, leaving;
} node_counts;

static node_counts counts_locked(const char *compute_id) {
  node_counts c = {0};
  for (ml_node *n = nodes; n; n = n->next) {
    if (strcasecmp(n->compute_id, compute_id) != 0) continue;
    if (n->state == NODE_LEAVING) {
      c.leaving++;
      continue;
    }
    c.total++;
    if (n->state == NODE_PREPARING) c.preparing++;
    if (n->state == NODE_IDLE) c.idle++;
    if (n->state == NODE_RUNNING) c.running++;
  }
  return c;
}

/* Takes an idle or running node out of its cluster (nodes_mu held): the job
 * it runs is canceled (its process killed), and the node stops once the job
 * has let it go. */
static void node_leave_locked(srv *s, ml_node *n) {
  n->state = NODE_LEAVING;
  if (n->leased && n->run_id[0]) {
    const char *c = strstr(n->compute_id, "/computes/");
    char job_id[800];
    snprintf(job_id, sizeof job_id, "%.*s/jobs/%s", c ? (int)(c - n->compute_id) : 0, n->compute_id,
             n->run_id);
    ml_job_cancel_id(job_id);
  }
  node_thread(s, n, NULL, node_stop_thread);
}

/* Stops the nodes of a cluster (every cluster's: NULL) and waits until they
 * are gone; a booting node finishes its boot first (nodes_mu held). */
static void nodes_drain_locked(srv *s, const char *compute_id) {
  for (;;) {
    int left = 0;
    for (ml_node *n = nodes; n; n = n->next) {
      if (compute_id && strcasecmp(n->compute_id, compute_id) != 0) continue;
      left++;
      if (n->state == NODE_IDLE || n->state == NODE_RUNNING) node_leave_locked(s, n);
    }
    if (!left) return;
    pthread_cond_wait(&nodes_cv, &nodes_mu);
  }
}

/* ---- the stored clusters -------------------------------------------------------- */

static json_t *compute_load(srv *s, const char *id) {
  sqlite3_stmt *q;
  json_t *out = NULL;
  if (store_prepare(store_db(s), "SELECT body FROM ml_computes WHERE id=? COLLATE NOCASE", -1, &q,
                    NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW)
    out = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
  store_finalize(q);
  return out;
}

static int compute_save(srv *s, const char *ws_id, const char *id, json_t *body) {
  char *b = json_dumps(body, JSON_COMPACT);
  int rc = store_run(s,
                     "INSERT INTO ml_computes(id,ws_id,body) VALUES(?,?,?)"
                     " ON CONFLICT(id) DO UPDATE SET body=excluded.body",
                     "ttt", id, ws_id, b);
  free(b);
  return rc;
}

static void compute_set_state(srv *s, const char *id, const char *state) {
  json_t *b = compute_load(s, id);
  if (!b) return;
  json_object_set_new(json_object_get(b, "properties"), "provisioningState", json_string(state));
  char *txt = json_dumps(b, JSON_COMPACT);
  store_run(s, "UPDATE ml_computes SET body=? WHERE id=? COLLATE NOCASE", "tt", txt, id);
  free(txt);
  json_decref(b);
}

/* An instance's state and lastOperation (operation NULL: left as is). */
static void instance_set(srv *s, const char *id, const char *state, const char *operation,
                         const char *op_status, const char *trigger) {
  json_t *b = compute_load(s, id);
  json_t *ap = json_object_get(json_object_get(b, "properties"), "properties");
  if (!json_is_object(ap)) {
    json_decref(b);
    return;
  }
  json_object_set_new(ap, "state", json_string(state));
  if (operation) {
    char iso[40];
    clock_iso8601(clock_now_ms(s), iso);
    json_object_set_new(ap, "lastOperation",
                        json_pack("{s:s,s:s,s:s,s:s}", "operationName", operation, "operationTime",
                                  iso, "operationStatus", op_status, "operationTrigger",
                                  trigger ? trigger : "User"));
  }
  char *txt = json_dumps(b, JSON_COMPACT);
  store_run(s, "UPDATE ml_computes SET body=? WHERE id=? COLLATE NOCASE", "tt", txt, id);
  free(txt);
  json_decref(b);
}

static json_t *aml_props(json_t *body) {
  return json_object_get(json_object_get(body, "properties"), "properties");
}
static json_t *scale_of(json_t *body) {
  return json_object_get(aml_props(body), "scaleSettings");
}

int64_t ml_iso_duration_s(const char *d) {
  if (!d || (*d != 'P' && *d != 'p')) return -1;
  int64_t total = 0;
  int in_time = 0, any = 0;
  for (const char *p = d + 1; *p;) {
    if (*p == 'T' || *p == 't') {
      in_time = 1;
      p++;
      continue;
    }
    if (!isdigit((unsigned char)*p)) return -1;
    char *end;
    double v = strtod(p, &end);
    char u = (char)toupper((unsigned char)*end);
    if (end == p || !u) return -1;
    int64_t mul = u == 'D' && !in_time   ? 86400
                  : u == 'W' && !in_time ? 604800
                  : u == 'H' && in_time  ? 3600
                  : u == 'M' && in_time  ? 60
                  : u == 'S' && in_time  ? 1
                                         : -1;
    if (mul < 0) return -1;
    total += (int64_t)(v * (double)mul);
    any = 1;
    p = end + 1;
  }
  return any ? total : -1;
}

static int64_t idle_s_of(json_t *body) {
  int64_t v = ml_iso_duration_s(
      json_string_value(json_object_get(scale_of(body), "nodeIdleTimeBeforeScaleDown")));
  return v < 0 ? DEFAULT_IDLE_S : v;
}

static int is_instance(json_t *body) {
  const char *t =
      json_string_value(json_object_get(json_object_get(body, "properties"), "computeType"));
  return t && !strcasecmp(t, "ComputeInstance");
}

static const char *instance_state(json_t *body) {
  return json_string_value(json_object_get(aml_props(body), "state"));
}

/* How many nodes a compute keeps (min) and may have (max), and how long a
 * node idles before it goes: a cluster's scale settings; an instance has
 * its one node while it is Running (its operations boot and stop it). */
static void limits_of(json_t *body, int *min, int *max, int64_t *idle_s) {
  if (is_instance(body)) {
    const char *st = instance_state(body);
    int running = st && !strcmp(st, "Running");
    int moving =
        st && (!strcmp(st, "Creating") || !strcmp(st, "Starting") || !strcmp(st, "Restarting"));
    *min = running;
    *max = running || moving;
    *idle_s = INT64_MAX / 2000;
    return;
  }
  *min = (int)json_integer_value(json_object_get(scale_of(body), "minNodeCount"));
  *max = (int)json_integer_value(json_object_get(scale_of(body), "maxNodeCount"));
  *idle_s = idle_s_of(body);
}

/* What GET answers: the stored body with the node counts as they are now. */
static json_t *compute_render(srv *s, json_t *body) {
  (void)s;
  const char *id = json_string_value(json_object_get(body, "id"));
  json_t *ap = aml_props(body);
  if (!json_is_object(ap) || is_instance(body)) return body;
  pthread_mutex_lock(&nodes_mu);
  node_counts c = counts_locked(id);
  pthread_mutex_unlock(&nodes_mu);
  json_int_t min = json_integer_value(json_object_get(scale_of(body), "minNodeCount"));
  int target = c.total > min ? c.total : (int)min;
  json_object_set_new(
      ap, "allocationState",
      json_string(c.preparing || c.leaving || c.total < min ? "Resizing" : "Steady"));
  json_object_set_new(ap, "currentNodeCount", json_integer(c.total));
  json_object_set_new(ap, "targetNodeCount", json_integer(target));
  json_object_set_new(ap, "nodeStateCounts",
                      json_pack("{s:i,s:i,s:i,s:i,s:i,s:i}", "idleNodeCount", c.idle,
                                "runningNodeCount", c.running, "preparingNodeCount", c.preparing,
                                "unusableNodeCount", 0, "leavingNodeCount", c.leaving,
                                "preemptedNodeCount", 0));
  return body;
}

/* ---- requests ----------------------------------------------------------------- */

typedef struct ws_ctx {
  json_t *ws;
  const char *ws_id;
  const char *id; /* the compute's canonical id */
} ws_ctx;

static int ws_ctx_get(http_req *r, ws_ctx *c) {
  c->ws = http_json_own(r, ml_workspace_require(r));
  if (!c->ws) return -1;
  c->ws_id = json_string_value(json_object_get(c->ws, "id"));
  const char *name = http_param(r, "name");
  c->id = name ? http_printf(r, "%s/computes/%s", c->ws_id, name) : NULL;
  return 0;
}

static void fail_compute_not_found(http_req *r) {
  http_fail(r, ML_ERR_NOT_FOUND, "Compute %s is not found in the workspace.",
            http_param(r, "name"));
}

void ml_compute_list(http_req *r) {
  ws_ctx c;
  if (ws_ctx_get(r, &c) != 0) return;
  json_t *list = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT body FROM ml_computes WHERE ws_id=? COLLATE NOCASE ORDER BY id", -1, &q,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, c.ws_id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
      json_t *b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      if (b) json_array_append_new(list, compute_render(r->srv, b));
    }
    store_finalize(q);
  }
  arm_reply_list(r, list);
}

void ml_compute_get(http_req *r) {
  ws_ctx c;
  if (ws_ctx_get(r, &c) != 0) return;
  json_t *b = compute_load(r->srv, c.id);
  if (!b) {
    fail_compute_not_found(r);
    return;
  }
  http_reply_json(r, 200, compute_render(r->srv, b));
}

/* Checks the AmlCompute properties of a create or update; fills the stored
 * form into out (scaleSettings with its defaults). */
/* The vmSize asked for (STANDARD_DS3_V2 when none), from the catalog and
 * offered in the location; NULL with r failed. */
static const compute_size *size_check(http_req *r, const char *location, json_t *in) {
  const char *size = json_string_value(json_object_get(in, "vmSize"));
  if (!size || !*size) size = "STANDARD_DS3_V2";
  const compute_size *z = compute_size_find(size);
  if (!z) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "The specified vmSize %s is not supported or not available in location %s.", size,
              location);
    return NULL;
  }
  if (compute_size_restriction(z, location)) {
    http_fail(r, ML_ERR_BAD_REQUEST, "The vmSize %s is not available in location %s.", z->name,
              location);
    return NULL;
  }
  return z;
}

static int aml_check(http_req *r, const char *location, json_t *in, json_t *out, const char *id) {
  const compute_size *z = size_check(r, location, in);
  if (!z) return -1;
  const char *prio = json_string_value(json_object_get(in, "vmPriority"));
  if (prio && strcasecmp(prio, "Dedicated") && strcasecmp(prio, "LowPriority")) {
    http_fail(r, ML_ERR_BAD_REQUEST, "vmPriority must be Dedicated or LowPriority, not %s.", prio);
    return -1;
  }
  json_t *sc = json_object_get(in, "scaleSettings");
  if (!json_is_object(sc) || !json_is_integer(json_object_get(sc, "maxNodeCount"))) {
    http_fail(r, ML_ERR_BAD_REQUEST, "scaleSettings.maxNodeCount is required for AmlCompute.");
    return -1;
  }
  json_int_t max = json_integer_value(json_object_get(sc, "maxNodeCount"));
  json_t *minv = json_object_get(sc, "minNodeCount");
  json_int_t min = json_is_integer(minv) ? json_integer_value(minv) : 0;
  if (min < 0 || max < 1 || max > 1000 || min > max) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "Invalid scale settings: minNodeCount (%lld) must be between 0 and maxNodeCount "
              "(%lld), which must be between 1 and 1000.",
              (long long)min, (long long)max);
    return -1;
  }
  const char *idle = json_string_value(json_object_get(sc, "nodeIdleTimeBeforeScaleDown"));
  if (idle && ml_iso_duration_s(idle) < 0) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "nodeIdleTimeBeforeScaleDown %s is not an ISO 8601 duration (PT120S).", idle);
    return -1;
  }
  if (min > 0 && compute_quota_check(r, location, z->name, (int)min,
                                     prio && !strcasecmp(prio, "LowPriority"), id) != 0)
    return -1;
  json_object_update(out, in);
  json_object_set_new(out, "vmSize", json_string(z->name));
  json_object_set_new(out, "vmPriority", json_string(prio ? prio : "Dedicated"));
  json_object_set_new(out, "osType", json_string("Linux"));
  json_object_set_new(out, "scaleSettings",
                      json_pack("{s:I,s:I,s:s}", "maxNodeCount", (json_int_t)max, "minNodeCount",
                                (json_int_t)min, "nodeIdleTimeBeforeScaleDown",
                                idle ? idle : "PT120S"));
  if (!json_object_get(out, "remoteLoginPortPublicAccess") ||
      json_is_null(json_object_get(out, "remoteLoginPortPublicAccess")))
    json_object_set_new(out, "remoteLoginPortPublicAccess", json_string("NotSpecified"));
  if (!json_is_boolean(json_object_get(out, "enableNodePublicIp")))
    json_object_set_new(out, "enableNodePublicIp", json_true());
  json_object_set_new(out, "isolatedNetwork", json_false());
  json_object_del(out, "userAccountCredentials"); /* never shown back */
  return 0;
}

/* Checks a compute instance's properties; fills the stored form into out.
 * What azlite does not run (SSH from outside, setup scripts, schedules, a
 * subnet) is refused, not ignored. */
static int instance_check(http_req *r, const char *location, json_t *in, json_t *out,
                          const char *id, int is_new) {
  const compute_size *z = size_check(r, location, in);
  if (!z) return -1;
  const char *ssh =
      json_string_value(json_object_get(json_object_get(in, "sshSettings"), "sshPublicAccess"));
  json_t *scripts = json_object_get(in, "setupScripts");
  json_t *sched = json_object_get(json_object_get(in, "schedules"), "computeStartStop");
  json_t *subnet = json_object_get(in, "subnet");
  const char *what = ssh && !strcasecmp(ssh, "Enabled")  ? "SSH public access (sshSettings)"
                     : scripts && !json_is_null(scripts) ? "setup scripts (setupScripts)"
                     : json_array_size(sched)            ? "start and stop schedules (schedules)"
                     : subnet && !json_is_null(subnet)   ? "a virtual network (subnet)"
                                                         : NULL;
  if (what) {
    http_fail(r, ML_ERR_BAD_REQUEST, "azlite does not implement %s for compute instances yet.",
              what);
    return -1;
  }
  const char *idle = json_string_value(json_object_get(in, "idleTimeBeforeShutdown"));
  int64_t idle_s = idle ? ml_iso_duration_s(idle) : 0;
  if (idle && (idle_s < 15 * 60 || idle_s > 3 * 86400)) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "idleTimeBeforeShutdown %s must be an ISO 8601 duration between 15 minutes and 3 "
              "days (PT30M).",
              idle);
    return -1;
  }
  if (is_new && compute_quota_check(r, location, z->name, 1, 0, id) != 0) return -1;
  json_object_update(out, in);
  json_object_set_new(out, "vmSize", json_string(z->name));
  json_object_set_new(out, "state", json_string("Creating"));
  json_object_set_new(out, "sshSettings",
                      json_pack("{s:s,s:s,s:i,s:n}", "sshPublicAccess", "Disabled", "adminUserName",
                                "azureuser", "sshPort", 50000, "adminPublicKey"));
  json_object_set_new(out, "applications", json_array());
  json_object_set_new(
      out, "connectivityEndpoints",
      json_pack("{s:s,s:s}", "publicIpAddress", "127.0.0.1", "privateIpAddress", "127.0.0.1"));
  json_object_set_new(out, "osImageMetadata",
                      json_pack("{s:s,s:s,s:b}", "currentImageVersion", "22.04",
                                "latestImageVersion", "22.04", "isLatestOsImageVersion", 1));
  json_object_set_new(out, "computeInstanceAuthorizationType", json_string("personal"));
  if (!json_is_boolean(json_object_get(out, "enableNodePublicIp")))
    json_object_set_new(out, "enableNodePublicIp", json_true());
  json_object_set_new(out, "errors", json_array());
  return 0;
}

enum op_kind { OP_SAVE, OP_REMOVE, OP_CREATE_INSTANCE, OP_START, OP_STOP, OP_RESTART };

typedef struct op_ctx {
  char id[512];
  enum op_kind kind;
} op_ctx;

/* Boots the instance's node unless one is up, and waits for it; 0, or -1
 * with why. */
static int instance_up(srv *s, const char *id, char *err, size_t errn) {
  json_t *b = compute_load(s, id);
  if (!b) {
    snprintf(err, errn, "the compute instance is gone");
    return -1;
  }
  const compute_size *z =
      compute_size_find(json_string_value(json_object_get(aml_props(b), "vmSize")));
  json_decref(b);
  char why[256];
  if (!rt_available(why, sizeof why)) {
    snprintf(err, errn, "compute instances cannot boot on this host: %s", why);
    return -1;
  }
  pthread_mutex_lock(&nodes_mu);
  ml_node *mine = NULL;
  if (counts_locked(id).total == 0) mine = node_add_locked(s, id, z, "Dedicated", NULL);
  int rc = -1;
  for (;;) {
    int booting = 0, up = 0, present = 0;
    for (ml_node *n = nodes; n; n = n->next) {
      if (strcasecmp(n->compute_id, id) != 0) continue;
      present |= n == mine;
      up |= n->state == NODE_IDLE || n->state == NODE_RUNNING;
      booting |= n->state == NODE_PREPARING;
      if (n == mine && n->state == NODE_LEAVING && n->why[0]) {
        snprintf(err, errn, "its node could not boot: %s", n->why);
        booting = -1;
        break;
      }
    }
    if (up && booting >= 0) {
      rc = 0;
      break;
    }
    if (booting <= 0) {
      if (booting == 0) snprintf(err, errn, "its node could not boot");
      break;
    }
    (void)present;
    pthread_cond_wait(&nodes_cv, &nodes_mu);
  }
  pthread_mutex_unlock(&nodes_mu);
  return rc;
}

/* The create's or update's operation: the cluster is usable (nodes come as
 * they are needed; minNodeCount's are booted by the next tick). */
static int compute_op(srv *s, void *arg, char *code, size_t cn, char *msg, size_t mn) {
  op_ctx *c = arg;
  if (c->kind == OP_REMOVE) {
    pthread_mutex_lock(&nodes_mu);
    nodes_drain_locked(s, c->id);
    pthread_mutex_unlock(&nodes_mu);
    store_run(s, "DELETE FROM ml_computes WHERE id=? COLLATE NOCASE", "t", c->id);
    log_info("ml: deleted compute %s", c->id);
    return 0;
  }
  if (c->kind == OP_SAVE) {
    compute_set_state(s, c->id, "Succeeded");
    sched_wake(s);
    return 0;
  }
  /* A compute instance's create, start, stop or restart: done when its node
   * is up (or gone). */
  static const char *const names[] = {[OP_CREATE_INSTANCE] = "Create",
                                      [OP_START] = "Start",
                                      [OP_STOP] = "Stop",
                                      [OP_RESTART] = "Restart"};
  const char *name = names[c->kind];
  if (c->kind == OP_STOP || c->kind == OP_RESTART) {
    pthread_mutex_lock(&nodes_mu);
    nodes_drain_locked(s, c->id);
    pthread_mutex_unlock(&nodes_mu);
  }
  if (c->kind == OP_STOP) {
    instance_set(s, c->id, "Stopped", name, "Succeeded", NULL);
    log_info("ml: compute instance %s stopped", c->id);
    return 0;
  }
  char err[600];
  if (instance_up(s, c->id, err, sizeof err) != 0) {
    instance_set(s, c->id, c->kind == OP_CREATE_INSTANCE ? "CreateFailed" : "Stopped", name,
                 "Failed", NULL);
    if (c->kind == OP_CREATE_INSTANCE) compute_set_state(s, c->id, "Failed");
    snprintf(code, cn, "InternalServerError");
    snprintf(msg, mn, "Compute instance %s could not %s: %s", strrchr(c->id, '/') + 1,
             c->kind == OP_CREATE_INSTANCE ? "be created" : "start", err);
    return -1;
  }
  instance_set(s, c->id, "Running", name, "Succeeded", NULL);
  if (c->kind == OP_CREATE_INSTANCE) compute_set_state(s, c->id, "Succeeded");
  log_info("ml: compute instance %s is running", c->id);
  sched_wake(s);
  return 0;
}

/* PATCH .../computes/{name}: a cluster's new scale settings
 * ({"properties":{"properties":{"scaleSettings":{...}}}}), merged into its
 * own; the nodes follow at the next ticks (those above a lowered maximum go
 * once idle). */
void ml_compute_patch(http_req *r) {
  ws_ctx c;
  if (ws_ctx_get(r, &c) != 0) return;
  srv *s = r->srv;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *cur = http_json_own(r, compute_load(s, c.id));
  if (!cur) {
    fail_compute_not_found(r);
    return;
  }
  if (is_instance(cur)) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "Compute %s is a compute instance: only AmlCompute clusters are resized.",
              http_param(r, "name"));
    return;
  }
  const char *st =
      json_string_value(json_object_get(json_object_get(cur, "properties"), "provisioningState"));
  if (st && strcmp(st, "Succeeded") != 0) {
    http_fail(r, ML_ERR_CONFLICT, "The compute %s is %s; try again when it is done.",
              http_param(r, "name"), st);
    return;
  }
  json_t *want = json_object_get(json_object_get(json_object_get(in, "properties"), "properties"),
                                 "scaleSettings");
  if (!json_is_object(want)) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "properties.properties.scaleSettings is required to update a cluster.");
    return;
  }
  json_t *merged = http_json_own(r, json_deep_copy(aml_props(cur)));
  json_t *sc = json_object_get(merged, "scaleSettings");
  json_object_update(sc, want);
  json_t *ap = http_json_own(r, json_object());
  const char *loc = json_string_value(json_object_get(cur, "location"));
  if (aml_check(r, loc, merged, ap, c.id) != 0) return;
  json_t *body = json_deep_copy(cur);
  json_t *props = json_object_get(body, "properties");
  json_object_set(props, "properties", ap);
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  json_object_set_new(props, "modifiedOn", json_string(iso));
  json_object_set_new(props, "provisioningState", json_string("Updating"));
  if (compute_save(s, c.ws_id, c.id, body) != 0) {
    json_decref(body);
    http_fail(r, ML_ERR_INTERNAL, "The compute could not be saved.");
    return;
  }
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.id);
  oc->kind = OP_SAVE;
  json_t *ssc = json_object_get(ap, "scaleSettings");
  log_info("ml: resizing compute %s (%lld..%lld nodes)", c.id,
           (long long)json_integer_value(json_object_get(ssc, "minNodeCount")),
           (long long)json_integer_value(json_object_get(ssc, "maxNodeCount")));
  arm_lro_start(r, 200, compute_render(s, body), compute_op, oc, free);
}

/* POST .../start, .../stop, .../restart of a compute instance. */
static void instance_action(http_req *r, enum op_kind kind) {
  ws_ctx c;
  if (ws_ctx_get(r, &c) != 0) return;
  json_t *cur = http_json_own(r, compute_load(r->srv, c.id));
  if (!cur) {
    fail_compute_not_found(r);
    return;
  }
  const char *verb = kind == OP_START ? "started" : kind == OP_STOP ? "stopped" : "restarted";
  if (!is_instance(cur)) {
    http_fail(r, ML_ERR_BAD_REQUEST, "Compute %s is of type %s: only compute instances can be %s.",
              http_param(r, "name"),
              json_string_value(json_object_get(json_object_get(cur, "properties"), "computeType")),
              verb);
    return;
  }
  const char *st = instance_state(cur);
  const char *need = kind == OP_START ? "Stopped" : "Running";
  if (!st || strcmp(st, need) != 0) {
    http_fail(r, ML_ERR_CONFLICT, "Compute instance %s is %s: only a %s instance can be %s.",
              http_param(r, "name"), st ? st : "unknown", need, verb);
    return;
  }
  instance_set(r->srv, c.id,
               kind == OP_START  ? "Starting"
               : kind == OP_STOP ? "Stopping"
                                 : "Restarting",
               kind == OP_START  ? "Start"
               : kind == OP_STOP ? "Stop"
                                 : "Restart",
               "InProgress", NULL);
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.id);
  oc->kind = kind;
  log_info("ml: compute instance %s: %s", c.id,
           kind == OP_START  ? "starting"
           : kind == OP_STOP ? "stopping"
                             : "restarting");
  arm_lro_start(r, 202, NULL, compute_op, oc, free);
}

void ml_compute_start(http_req *r) {
  instance_action(r, OP_START);
}

void ml_compute_stop(http_req *r) {
  instance_action(r, OP_STOP);
}

void ml_compute_restart(http_req *r) {
  instance_action(r, OP_RESTART);
}

void ml_compute_put(http_req *r) {
  ws_ctx c;
  if (ws_ctx_get(r, &c) != 0) return;
  srv *s = r->srv;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *props = json_object_get(in, "properties");
  const char *ctype = json_string_value(json_object_get(props, "computeType"));
  if (!json_is_object(props) || !ctype) {
    http_fail(r, ML_ERR_BAD_REQUEST, "properties.computeType is required.");
    return;
  }
  int instance = !strcasecmp(ctype, "ComputeInstance");
  if (strcasecmp(ctype, "AmlCompute") != 0 && !instance) {
    http_fail(r, ML_ERR_BAD_REQUEST,
              "azlite does not implement computes of type %s yet (AmlCompute clusters and "
              "compute instances are).",
              ctype);
    return;
  }
  json_t *cur = http_json_own(r, compute_load(s, c.id));
  if (cur && is_instance(cur) != instance) {
    http_fail(r, ML_ERR_BAD_REQUEST, "The computeType of compute %s cannot change.",
              http_param(r, "name"));
    return;
  }
  const char *ws_loc = json_string_value(json_object_get(c.ws, "location"));
  char loc[32];
  const char *want_loc = json_string_value(json_object_get(in, "location"));
  if (!want_loc || !arm_location_normalize(want_loc, loc)) snprintf(loc, sizeof loc, "%s", ws_loc);
  if (cur) {
    const char *cur_state =
        json_string_value(json_object_get(json_object_get(cur, "properties"), "provisioningState"));
    if (cur_state && (!strcmp(cur_state, "Creating") || !strcmp(cur_state, "Deleting"))) {
      http_fail(r, ML_ERR_CONFLICT, "The compute %s is %s; try again when it is done.",
                http_param(r, "name"), cur_state);
      return;
    }
    const char *old = json_string_value(json_object_get(aml_props(cur), "vmSize"));
    const char *want =
        json_string_value(json_object_get(json_object_get(props, "properties"), "vmSize"));
    if (want && old && strcasecmp(want, old) != 0) {
      http_fail(r, ML_ERR_BAD_REQUEST,
                "The vmSize of compute %s cannot be changed (from %s to %s); create another.",
                http_param(r, "name"), old, want);
      return;
    }
  }
  json_t *ap = json_object();
  json_t *ap_in = json_object_get(props, "properties");
  json_t *ap_none = json_is_object(ap_in) ? NULL : json_object();
  int bad = instance ? instance_check(r, loc, ap_none ? ap_none : ap_in, ap, c.id, !cur) != 0
                     : aml_check(r, loc, ap_none ? ap_none : ap_in, ap, c.id) != 0;
  if (!bad && instance && cur) {
    /* An update keeps what the instance is doing. */
    json_object_set(ap, "state", json_object_get(aml_props(cur), "state"));
    json_t *last = json_object_get(aml_props(cur), "lastOperation");
    if (last) json_object_set(ap, "lastOperation", last);
  }
  json_decref(ap_none);
  if (bad) {
    json_decref(ap);
    return;
  }
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  const char *created =
      cur ? json_string_value(json_object_get(json_object_get(cur, "properties"), "createdOn"))
          : NULL;
  const char *name = cur ? json_string_value(json_object_get(cur, "name")) : http_param(r, "name");
  json_t *body = json_pack(
      "{s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:b,s:b,s:o}}", "id", c.id, "name", name,
      "type", COMPUTE_TYPE, "location", loc, "tags",
      json_is_object(json_object_get(in, "tags")) ? json_deep_copy(json_object_get(in, "tags"))
                                                  : json_object(),
      "properties", "computeType", instance ? "ComputeInstance" : "AmlCompute", "computeLocation",
      loc, "provisioningState", cur ? "Updating" : "Creating", "description",
      json_string_value(json_object_get(props, "description")) ?: "", "createdOn",
      created ? created : iso, "modifiedOn", iso, "provisioningErrors", "isAttachedCompute", 0,
      "disableLocalAuth", json_is_true(json_object_get(props, "disableLocalAuth")), "properties",
      ap);
  json_t *ident = json_object_get(in, "identity");
  if (json_is_object(ident)) json_object_set(body, "identity", ident);
  json_object_set_new(body, "systemData", ml_system_data(r, clock_now_ms(s), clock_now_ms(s)));
  if (compute_save(s, c.ws_id, c.id, body) != 0) {
    json_decref(body);
    http_fail(r, ML_ERR_INTERNAL, "The compute could not be saved.");
    return;
  }
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.id);
  oc->kind = instance && !cur ? OP_CREATE_INSTANCE : OP_SAVE;
  if (instance) {
    log_info("ml: %s compute instance %s (%s)", cur ? "updating" : "creating", c.id,
             json_string_value(json_object_get(ap, "vmSize")));
    arm_lro_start(r, cur ? 200 : 201, compute_render(s, body), compute_op, oc, free);
    return;
  }
  log_info("ml: %s compute %s (%s, %lld..%lld nodes)", cur ? "updating" : "creating", c.id,
           json_string_value(json_object_get(ap, "vmSize")),
           (long long)json_integer_value(
               json_object_get(json_object_get(ap, "scaleSettings"), "minNodeCount")),
           (long long)json_integer_value(
               json_object_get(json_object_get(ap, "scaleSettings"), "maxNodeCount")));
  arm_lro_start(r, cur ? 200 : 201, compute_render(s, body), compute_op, oc, free);
}

void ml_compute_delete(http_req *r) {
  ws_ctx c;
  if (ws_ctx_get(r, &c) != 0) return;
  json_t *cur = compute_load(r->srv, c.id);
  if (!cur) {
    http_reply_empty(r, 204);
    return;
  }
  json_decref(cur);
  const char *action = http_query_get(r, "underlyingResourceAction");
  if (action && strcasecmp(action, "Delete") && strcasecmp(action, "Detach")) {
    http_fail(r, ML_ERR_BAD_REQUEST, "underlyingResourceAction must be Delete or Detach.");
    return;
  }
  compute_set_state(r->srv, c.id, "Deleting");
  op_ctx *oc = calloc(1, sizeof *oc);
  if (!oc) abort();
  snprintf(oc->id, sizeof oc->id, "%s", c.id);
  oc->kind = OP_REMOVE;
  arm_lro_start(r, 202, NULL, compute_op, oc, free);
}

/* POST .../listNodes: the cluster's live nodes. */
void ml_compute_list_nodes(http_req *r) {
  ws_ctx c;
  if (ws_ctx_get(r, &c) != 0) return;
  json_t *cur = http_json_own(r, compute_load(r->srv, c.id));
  if (!cur) {
    fail_compute_not_found(r);
    return;
  }
  json_t *list = json_array();
  pthread_mutex_lock(&nodes_mu);
  int i = 0;
  for (ml_node *n = nodes; n; n = n->next) {
    if (strcasecmp(n->compute_id, c.id) != 0 || n->state == NODE_LEAVING) continue;
    json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s}", "nodeId", n->node_id, "privateIpAddress",
                          "127.0.0.1", "publicIpAddress", "127.0.0.1", "port", 50000 + i++,
                          "nodeState", NODE_STATE_NAMES[n->state]);
    json_object_set_new(o, "runId", n->run_id[0] ? json_string(n->run_id) : json_null());
    json_array_append_new(list, o);
  }
  pthread_mutex_unlock(&nodes_mu);
  http_reply_json(r, 200, json_pack("{s:o,s:n}", "nodes", list, "nextLink"));
}

/* ---- scaling (the scheduler's tick) --------------------------------------------------- */

typedef struct cluster_row {
  char id[512];
  const compute_size *size;
  char priority[32];
  int min, max;
  int64_t idle_s;
  int64_t shutdown_s; /* an instance's idleTimeBeforeShutdown; -1: none */
} cluster_row;

void ml_compute_tick(srv *s, int64_t now_ms) {
  cluster_row *rows = NULL;
  int nrows = 0, cap = 0;
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "SELECT body FROM ml_computes", -1, &q, NULL) != SQLITE_OK) return;
  while (sqlite3_step(q) == SQLITE_ROW) {
    json_t *b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    const char *state =
        json_string_value(json_object_get(json_object_get(b, "properties"), "provisioningState"));
    if (b && state && !strcmp(state, "Succeeded")) {
      if (nrows == cap) {
        cap = cap ? cap * 2 : 16;
        rows = realloc(rows, sizeof *rows * (size_t)cap);
        if (!rows) abort();
      }
      cluster_row *c = &rows[nrows++];
      snprintf(c->id, sizeof c->id, "%s", json_string_value(json_object_get(b, "id")));
      c->size = compute_size_find(json_string_value(json_object_get(aml_props(b), "vmSize")));
      limits_of(b, &c->min, &c->max, &c->idle_s);
      c->shutdown_s = is_instance(b) && c->min
                          ? ml_iso_duration_s(json_string_value(
                                json_object_get(aml_props(b), "idleTimeBeforeShutdown")))
                          : -1;
      snprintf(c->priority, sizeof c->priority, "%s",
               json_string_value(json_object_get(aml_props(b), "vmPriority")) ?: "Dedicated");
    }
    json_decref(b);
  }
  store_finalize(q);
  /* A host that cannot make sandboxes gets no minimum nodes (jobs then fail
   * saying why), rather than a boot attempt every tick. */
  char why[256];
  int need_min = 0;
  for (int i = 0; i < nrows; i++)
    need_min |= rows[i].min > 0;
  int sandboxes_ok = !need_min || rt_available(why, sizeof why);
  /* Once per process: the log says it, not every tick. */
  static int warned;
  if (!sandboxes_ok && !warned) {
    warned = 1;
    log_warn("ml: cluster nodes cannot boot on this host: %s", why);
  }
  pthread_mutex_lock(&nodes_mu);
  for (int i = 0; i < nrows; i++) {
    cluster_row *c = &rows[i];
    node_counts k = counts_locked(c->id);
    if (k.total < c->min && !sandboxes_ok) continue;
    for (int n = k.total; n < c->min; n++)
      node_add_locked(s, c->id, c->size, c->priority, NULL);
    int above = k.total - c->min;
    int over_max = k.total - c->max; /* a lowered maximum: idle nodes go at once */
    for (ml_node *n = nodes; n && above > 0; n = n->next) {
      if (strcasecmp(n->compute_id, c->id) != 0 || n->state != NODE_IDLE) continue;
      if (over_max <= 0 && now_ms - n->idle_since_ms < c->idle_s * 1000) continue;
      over_max--;
      n->state = NODE_LEAVING;
      above--;
      log_info("ml: node %s of %s idle for %llds: scaling down", n->node_id, c->id,
               (long long)((now_ms - n->idle_since_ms) / 1000));
      node_thread(s, n, NULL, node_stop_thread);
    }
  }
  /* Instances idle past their idleTimeBeforeShutdown stop. */
  char(*idle_ids)[512] = NULL;
  int nidle = 0;
  for (int i = 0; i < nrows; i++) {
    if (rows[i].shutdown_s <= 0) continue;
    for (ml_node *n = nodes; n; n = n->next) {
      if (strcasecmp(n->compute_id, rows[i].id) != 0 || n->state != NODE_IDLE ||
          now_ms - n->idle_since_ms < rows[i].shutdown_s * 1000)
        continue;
      log_info("ml: compute instance %s idle for %llds: shutting down", rows[i].id,
               (long long)((now_ms - n->idle_since_ms) / 1000));
      node_leave_locked(s, n);
      idle_ids = realloc(idle_ids, sizeof *idle_ids * (size_t)(nidle + 1));
      if (!idle_ids) abort();
      snprintf(idle_ids[nidle++], sizeof idle_ids[0], "%s", rows[i].id);
      break;
    }
  }
  /* Nodes of clusters that are gone (the workspace was deleted). */
  for (ml_node *n = nodes; n; n = n->next) {
    int known = 0;
    for (int i = 0; i < nrows && !known; i++)
      known = !strcasecmp(rows[i].id, n->compute_id);
    if (!known && (n->state == NODE_IDLE || n->state == NODE_RUNNING)) {
      sqlite3_stmt *e;
      int exists = 0;
      if (store_prepare(store_db(s), "SELECT 1 FROM ml_computes WHERE id=? COLLATE NOCASE", -1, &e,
                        NULL) == SQLITE_OK) {
        sqlite3_bind_text(e, 1, n->compute_id, -1, SQLITE_STATIC);
        exists = sqlite3_step(e) == SQLITE_ROW;
        store_finalize(e);
      }
      if (!exists) node_leave_locked(s, n);
    }
  }
  pthread_mutex_unlock(&nodes_mu);
  for (int i = 0; i < nidle; i++)
    instance_set(s, idle_ids[i], "Stopped", "Stop", "Succeeded", "IdleShutdown");
  free(idle_ids);
  free(rows);
}

int ml_computes_remove(srv *s, const char *ws_id) {
  return store_run(s, "DELETE FROM ml_computes WHERE ws_id=? COLLATE NOCASE", "t", ws_id);
}

void ml_compute_fini(srv *s) {
  pthread_mutex_lock(&nodes_mu);
  nodes_drain_locked(s, NULL);
  pthread_mutex_unlock(&nodes_mu);
}

/* ---- nodes for jobs ----------------------------------------------------------- */

struct ml_node_lease {
  ml_node *n;
};

ml_node_lease *ml_cluster_acquire(srv *s, const char *compute_id, const char *run_id,
                                  volatile int *cancel, char *err, size_t errn) {
  json_t *b = compute_load(s, compute_id);
  if (!b) {
    snprintf(err, errn, "the compute %s is gone", compute_id);
    return NULL;
  }
  const compute_size *z =
      compute_size_find(json_string_value(json_object_get(aml_props(b), "vmSize")));
  int min, max;
  int64_t idle_s;
  limits_of(b, &min, &max, &idle_s);
  char priority[32];
  snprintf(priority, sizeof priority, "%s",
           json_string_value(json_object_get(aml_props(b), "vmPriority")) ?: "Dedicated");
  json_decref(b);
  pthread_mutex_lock(&nodes_mu);
  ml_node *got = NULL;
  while (!got && !*cancel && !s->stopping) {
    for (ml_node *n = nodes; n && !got; n = n->next)
      if (!strcasecmp(n->compute_id, compute_id) && n->state == NODE_IDLE) got = n;
    if (!got && counts_locked(compute_id).total < max) {
      got = node_add_locked(s, compute_id, z, priority, run_id);
      log_info("ml: %s scales up for %s: node %s", compute_id, run_id, got->node_id);
    }
    if (got) {
      snprintf(got->run_id, sizeof got->run_id, "%s", run_id);
      got->leased = 1;
      if (got->state == NODE_IDLE) got->state = NODE_RUNNING;
      /* Wait for a booting node to come up (or fail). */
      while (got->state == NODE_PREPARING)
        pthread_cond_wait(&nodes_cv, &nodes_mu);
      if (got->state != NODE_RUNNING) {
        /* Its boot failed: the job fails with why, rather than boot forever. */
        snprintf(err, errn, "node %s could not start: %s", got->node_id, got->why);
        got->leased = 0;
        pthread_cond_broadcast(&nodes_cv);
        pthread_mutex_unlock(&nodes_mu);
        return NULL;
      }
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&nodes_cv, &nodes_mu, &ts);
  }
  pthread_mutex_unlock(&nodes_mu);
  if (!got) {
    snprintf(err, errn, "%s", *cancel ? "canceled" : "no node could be allocated");
    return NULL;
  }
  ml_node_lease *l = calloc(1, sizeof *l);
  if (!l) abort();
  l->n = got;
  return l;
}

rt_sandbox *ml_lease_sandbox(ml_node_lease *l) {
  return l->n->sb;
}
const char *ml_lease_disk(ml_node_lease *l) {
  return l->n->disk;
}
const char *ml_lease_node_id(ml_node_lease *l) {
  return l->n->node_id;
}

void ml_cluster_release(srv *s, ml_node_lease *l) {
  pthread_mutex_lock(&nodes_mu);
  l->n->run_id[0] = 0;
  l->n->leased = 0;
  if (l->n->state == NODE_RUNNING) l->n->state = NODE_IDLE;
  l->n->idle_since_ms = clock_now_ms(s);
  pthread_cond_broadcast(&nodes_cv);
  pthread_mutex_unlock(&nodes_mu);
  free(l);
}

/* At start: no node outlives azlite (its sandboxes die with it), so the
 * disks a kill -9 left behind go. */
int ml_compute_init(srv *s) {
  if (!s->serving) return 0;
  char *dir = srv_path(s, "ml/nodes");
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    rt_disk_remove(path);
  }
  if (d) closedir(d);
  free(dir);
  return 0;
}

/* GET /subscriptions/{sub}/providers/Microsoft.MachineLearningServices/
 * locations/{location}/vmSizes: the compute catalog's sizes a cluster can use
 * there. */
void ml_vm_sizes(http_req *r) {
  char loc[32];
  if (!arm_location_normalize(http_param(r, "location"), loc)) {
    http_fail(r, ML_ERR_BAD_REQUEST, "The location %s is not available.",
              http_param(r, "location"));
    return;
  }
  json_t *list = json_array();
  for (int i = 0; i < compute_size_count(); i++) {
    const compute_size *z = compute_size_at(i);
    if (!z || compute_size_restriction(z, loc)) continue;
    json_array_append_new(
        list,
        json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:f,s:b,s:b,s:[ss]}", "name", z->name, "family",
                  z->family, "vCPUs", z->vcpus, "gpus", z->gpu_model ? z->gpus : 0, "osVhdSizeMB",
                  z->os_disk_mb, "maxResourceVolumeMB", z->resource_disk_mb, "memoryGB",
                  z->memory_mb / 1024.0, "lowPriorityCapable", z->low_priority_capable, "premiumIO",
                  z->premium_io, "supportedComputeTypes", "AmlCompute", "ComputeInstance"));
  }
  http_reply_json(r, 200, json_pack("{s:o}", "value", list));
}
