/* vmss.c: Microsoft.Compute/virtualMachineScaleSets (Uniform orchestration)
 * and their instances (virtualMachineScaleSetVMs), on the generic ARM layer.
 *
 * Each instance is a sandbox exactly like a VM's (vm.c boots, stops and runs
 * commands in both, keyed by the instance's id ".../virtualMachines/<n>":
 * its compute_vms row, meters and IMDS are a VM's).  What the scale set
 * keeps beside the resource table: compute_vmss (the next instance number:
 * ids are never reused) and compute_vmss_vms (each instance's vmId, computer
 * name, private address in the subnet and host address).
 *
 * Scaling is real: the create, and every PUT or PATCH that changes
 * sku.capacity, adds instances (their rows, addresses, power "starting") or
 * removes the highest-numbered ones in the saving transaction; the
 * long-running operation then boots what is "starting" and sets
 * "Succeeded".  A removed instance's sandbox stops and its disk goes once the
 * transaction commits (compute_vm_forget).  An update keeps the stored
 * virtualMachineProfile: instances are all of one model. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../arm/resource.h"
#include "../network/network.h"
#include "../runtime/runtime.h"
#include "internal.h"

#define VMSS_TYPE "Microsoft.Compute/virtualMachineScaleSets"
#define VMSS_VM_TYPE VMSS_TYPE "/virtualMachines"
/* Azure's limit for a Uniform scale set of platform images. */
#define VMSS_MAX_CAPACITY 1000

/* ---- ids and rows ------------------------------------------------------ */

int compute_vmss_is_instance(const char *id) {
  return strcasestr(id, "/providers/" VMSS_TYPE "/") && strcasestr(id, "/virtualMachines/");
}

/* Splits an instance id into its scale set's id and number; 0 or -1. */
static int instance_split(const char *id, char ss[512], long *n) {
  const char *v = strcasestr(id, "/virtualMachines/");
  if (!v || (size_t)(v - id) >= 512) return -1;
  const char *num = v + strlen("/virtualMachines/");
  if (!*num || strspn(num, "0123456789") != strlen(num) || strlen(num) > 6) return -1;
  snprintf(ss, 512, "%.*s", (int)(v - id), id);
  *n = strtol(num, NULL, 10);
  return 0;
}

static char *instance_id(http_req *r, const char *ss_id, long n) {
  return http_printf(r, "%s/virtualMachines/%ld", ss_id, n);
}

typedef struct vmss_vm_row {
  long instance;
  char vm_uuid[40];
  char computer_name[80];
  char private_ip[64];
  char subnet_id[512];
  char host_ip[64];
  char created[40];
} vmss_vm_row;

static void row_read(sqlite3_stmt *st, vmss_vm_row *out) {
  out->instance = (long)sqlite3_column_int64(st, 0);
  snprintf(out->vm_uuid, sizeof out->vm_uuid, "%s", sqlite3_column_text(st, 1));
  snprintf(out->computer_name, sizeof out->computer_name, "%s", sqlite3_column_text(st, 2));
  snprintf(out->private_ip, sizeof out->private_ip, "%s", sqlite3_column_text(st, 3));
  snprintf(out->subnet_id, sizeof out->subnet_id, "%s", sqlite3_column_text(st, 4));
  snprintf(out->host_ip, sizeof out->host_ip, "%s", sqlite3_column_text(st, 5));
  snprintf(out->created, sizeof out->created, "%s", sqlite3_column_text(st, 6));
}

#define ROW_COLUMNS "instance, vm_uuid, computer_name, private_ip, subnet_id, host_ip, created"

static int row_get(srv *s, const char *ss_id, long n, vmss_vm_row *out) {
  sqlite3_stmt *st;
  int rc = -1;
  if (store_prepare(store_db(s),
                    "SELECT " ROW_COLUMNS " FROM compute_vmss_vms WHERE ss_id=? AND instance=?", -1,
                    &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, ss_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, n);
  if (sqlite3_step(st) == SQLITE_ROW) {
    row_read(st, out);
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

/* Every instance of the scale set, by number; *count rows, malloc'd. */
static vmss_vm_row *rows_all(srv *s, const char *ss_id, int *count) {
  sqlite3_stmt *st;
  *count = 0;
  vmss_vm_row *rows = NULL;
  if (store_prepare(store_db(s),
                    "SELECT " ROW_COLUMNS " FROM compute_vmss_vms WHERE ss_id=? ORDER BY instance",
                    -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, ss_id, -1, SQLITE_STATIC);
  int cap = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (*count == cap) {
      cap = cap ? cap * 2 : 8;
      rows = realloc(rows, (size_t)cap * sizeof *rows);
      if (!rows) abort();
    }
    row_read(st, &rows[(*count)++]);
  }
  store_finalize(st);
  return rows;
}

/* ---- the model ------------------------------------------------------------ */

static json_t *obj_at(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  if (!json_is_object(v)) {
    v = json_object();
    json_object_set_new(o, k, v);
  }
  return v;
}

static json_t *vm_profile(json_t *body) {
  return json_object_get(json_object_get(body, "properties"), "virtualMachineProfile");
}

static long sku_capacity(json_t *body) {
  json_t *c = json_object_get(json_object_get(body, "sku"), "capacity");
  return json_is_integer(c) ? (long)json_integer_value(c) : 0;
}

/* The primary network interface configuration's primary IP configuration. */
static json_t *primary_ip_config(json_t *body, const char **nic_name) {
  json_t *cfgs = json_object_get(json_object_get(vm_profile(body), "networkProfile"),
                                 "networkInterfaceConfigurations");
  json_t *nic = json_array_get(cfgs, 0), *c;
  size_t i;
  json_array_foreach(cfgs, i, c) if (json_is_true(json_object_get(json_object_get(c, "properties"),
                                                                  "primary"))) nic = c;
  if (nic_name) *nic_name = json_string_value(json_object_get(nic, "name"));
  json_t *ips = json_object_get(json_object_get(nic, "properties"), "ipConfigurations");
  json_t *ip = json_array_get(ips, 0);
  json_array_foreach(ips, i, c) if (json_is_true(json_object_get(json_object_get(c, "properties"),
                                                                 "primary"))) ip = c;
  return ip;
}

static const char *subnet_of(json_t *body) {
  return json_string_value(json_object_get(
      json_object_get(json_object_get(primary_ip_config(body, NULL), "properties"), "subnet"),
      "id"));
}

static int vmss_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 64 || !isalnum((unsigned char)n[0])) return 0;
  if (!isalnum((unsigned char)n[len - 1]) && n[len - 1] != '_') return 0;
  for (const char *c = n; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' && *c != '-') return 0;
  return 1;
}

/* "<prefix><6 base-36 digits of n>", as Azure names a Uniform instance. */
static void computer_name(const char *prefix, long n, char out[80]) {
  char d[7];
  for (int i = 5; i >= 0; i--) {
    int v = (int)(n % 36);
    d[i] = (char)(v < 10 ? '0' + v : 'a' + v - 10);
    n /= 36;
  }
  d[6] = 0;
  snprintf(out, 80, "%s%s", prefix, d);
}

/* The network profile: interface configurations with IP configurations in a
 * subnet; load balancer pools are kept as given. */
/* "true"/"false" as strings (az's template has "primary": "true") become
 * booleans, as ARM's deserializer makes them. */
static void bool_normalize(json_t *o, const char *key) {
  const char *t = json_string_value(json_object_get(o, key));
  if (t && (!strcasecmp(t, "true") || !strcasecmp(t, "false")))
    json_object_set_new(o, key, json_boolean(!strcasecmp(t, "true")));
}

static int network_profile_check(http_req *r, json_t *vmp) {
  json_t *cfgs =
      json_object_get(json_object_get(vmp, "networkProfile"), "networkInterfaceConfigurations");
  if (json_array_size(cfgs) == 0) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "Required parameter 'virtualMachineProfile.networkProfile."
              "networkInterfaceConfigurations' is missing (null).");
    return -1;
  }
  size_t i, j;
  json_t *c, *ip;
  json_array_foreach(cfgs, i, c) {
    json_t *p = json_object_get(c, "properties");
    bool_normalize(p, "primary");
    if (!json_string_value(json_object_get(c, "name"))) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "Required parameter 'networkInterfaceConfigurations[%zu].name' is missing (null).",
                i);
      return -1;
    }
    json_t *ips = json_object_get(p, "ipConfigurations");
    if (json_array_size(ips) == 0) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "Required parameter 'networkInterfaceConfigurations[%zu].properties."
                "ipConfigurations' is missing (null).",
                i);
      return -1;
    }
    json_array_foreach(ips, j, ip) {
      const char *sub = json_string_value(
          json_object_get(json_object_get(json_object_get(ip, "properties"), "subnet"), "id"));
      if (!json_string_value(json_object_get(ip, "name")) || !sub) {
        http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                  "Each IP configuration of network interface configuration '%s' needs a name "
                  "and properties.subnet.id.",
                  json_string_value(json_object_get(c, "name")));
        return -1;
      }
      bool_normalize(json_object_get(ip, "properties"), "primary");
      if (json_array_size(ips) == 1)
        json_object_set_new(obj_at(ip, "properties"), "primary", json_true());
    }
    if (json_array_size(cfgs) == 1)
      json_object_set_new(obj_at(c, "properties"), "primary", json_true());
  }
  return 0;
}

/* The virtualMachineProfile of a create: OS, image, network, priority. */
static int vm_profile_build(arm_op *op, json_t *vmp, const compute_size *z) {
  http_req *r = op->r;
  if (!json_is_object(vmp)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "Required parameter 'virtualMachineProfile' is missing (null).");
    return -1;
  }
  json_t *os = json_object_get(vmp, "osProfile");
  if (!json_is_object(os)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "Required parameter 'osProfile' is missing (null).");
    return -1;
  }
  const char *prefix = json_string_value(json_object_get(os, "computerNamePrefix"));
  if (!prefix) {
    json_object_set_new(os, "computerNamePrefix", json_string(op->name));
    prefix = op->name;
  }
  if (strlen(prefix) > 58 || !compute_computer_name_valid(prefix)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value '%s' of parameter 'computerNamePrefix' is not valid: a Linux prefix has "
              "1 to 58 letters, digits, '-' and '.', not all digits.",
              prefix);
    return -1;
  }
  if (compute_linux_profile_check(r, os) != 0) return -1;
  json_t *sp = obj_at(vmp, "storageProfile");
  if (compute_image_check(r, sp) != 0) return -1;
  json_t *od = obj_at(sp, "osDisk");
  json_object_set_new(od, "osType", json_string("Linux"));
  if (!json_object_get(od, "createOption"))
    json_object_set_new(od, "createOption", json_string("FromImage"));
  if (!json_string_value(json_object_get(od, "caching")))
    json_object_set_new(od, "caching", json_string("ReadWrite"));
  if (!json_object_get(od, "diskSizeGB")) json_object_set_new(od, "diskSizeGB", json_integer(30));
  json_t *md = obj_at(od, "managedDisk");
  if (!json_string_value(json_object_get(md, "storageAccountType")))
    json_object_set_new(md, "storageAccountType", json_string("Standard_LRS"));
  if (json_array_size(json_object_get(sp, "dataDisks")) > 0) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "azlite does not attach data disks to scale set instances yet.");
    return -1;
  }
  json_object_set_new(sp, "dataDisks", json_array());
  if (network_profile_check(r, vmp) != 0) return -1;
  /* Spot evictions (spot.c) follow single VMs only: a Spot scale set would
   * never be evicted, so it is refused rather than silently kept. */
  if (compute_is_spot(json_string_value(json_object_get(vmp, "priority")))) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "azlite does not evict Spot or low priority scale-set instances yet: use priority "
              "Regular for scale sets (single Spot VMs are evicted as on Azure).");
    return -1;
  }
  return compute_priority_build(r, vmp, z);
}

/* Whether an update's virtualMachineProfile (NULL: none) names another
 * image, admin or computer name prefix than the stored one. */
static int vm_profile_changed(json_t *in, json_t *cur) {
  if (!json_is_object(in)) return 0;
  static const char *const img[] = {"publisher", "offer", "sku", NULL};
  json_t *a = json_object_get(json_object_get(in, "storageProfile"), "imageReference");
  json_t *b = json_object_get(json_object_get(cur, "storageProfile"), "imageReference");
  for (int i = 0; a && img[i]; i++) {
    const char *x = json_string_value(json_object_get(a, img[i]));
    const char *y = json_string_value(json_object_get(b, img[i]));
    if (x && (!y || strcasecmp(x, y))) return 1;
  }
  static const char *const os[] = {"adminUsername", "computerNamePrefix", NULL};
  a = json_object_get(in, "osProfile");
  b = json_object_get(cur, "osProfile");
  for (int i = 0; a && os[i]; i++) {
    const char *x = json_string_value(json_object_get(a, os[i]));
    const char *y = json_string_value(json_object_get(b, os[i]));
    if (x && (!y || strcmp(x, y))) return 1;
  }
  return 0;
}

/* Properties an update may change; the rest (the instances' model) stays. */
static const char *const vmss_updatable[] = {
    "upgradePolicy",          "overprovision",
    "singlePlacementGroup",   "doNotRunExtensionsOnOverprovisionedVMs",
    "automaticRepairsPolicy", "scaleInPolicy",
    "additionalCapabilities", NULL};

static int vmss_build(arm_op *op) {
  http_req *r = op->r;
  json_t *inprops = json_object_get(op->in, "properties");
  json_t *insku = json_object_get(op->in, "sku");
  json_t *ident = json_object_get(op->in, "identity");
  const char *itype = json_string_value(json_object_get(ident, "type"));
  if (ident && !json_is_null(ident) && (!itype || strcasecmp(itype, "None") != 0)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "azlite does not give scale sets managed identities yet: leave out 'identity'.");
    return -1;
  }
  const char *mode = json_string_value(json_object_get(inprops, "orchestrationMode"));
  if (mode && strcasecmp(mode, "Uniform") != 0) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value '%s' of parameter 'orchestrationMode' is not supported: azlite runs "
              "scale sets in Uniform orchestration mode only.",
              mode);
    return -1;
  }
  if (insku && !json_is_object(insku)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "The parameter 'sku' must be an object.");
    return -1;
  }
  json_t *props, *sku;
  if (op->created) {
    if (!json_is_object(inprops)) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "Required parameter 'properties' is missing (null).");
      return -1;
    }
    char why[256];
    if (!rt_available(why, sizeof why)) {
      http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
                "azlite cannot run scale set instances on this host: %s.", why);
      return -1;
    }
    props = json_deep_copy(inprops);
    json_object_set_new(op->body, "properties", props);
    sku = json_is_object(insku) ? json_deep_copy(insku) : json_object();
    json_object_set_new(op->body, "sku", sku);
  } else {
    /* PUT or PATCH of an existing scale set merges into what is stored (`az
     * vmss scale` PUTs only location and sku). */
    json_t *cp = json_object_get(op->cur, "properties");
    props = json_deep_copy(cp);
    json_object_set_new(op->body, "properties", props);
    for (int i = 0; vmss_updatable[i]; i++)
      if (json_object_get(inprops, vmss_updatable[i]))
        json_object_set(props, vmss_updatable[i], json_object_get(inprops, vmss_updatable[i]));
    if (vm_profile_changed(json_object_get(inprops, "virtualMachineProfile"),
                           vm_profile(op->cur))) {
      http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
                "azlite does not change a scale set's virtualMachineProfile (image, OS profile) "
                "yet: every instance runs the model it was created with.");
      return -1;
    }
    sku = json_deep_copy(json_object_get(op->cur, "sku"));
    json_object_set_new(op->body, "sku", sku);
    const char *k;
    json_t *v;
    json_object_foreach(insku, k, v) json_object_set(sku, k, v);
  }
  /* The size. */
  const char *size = json_string_value(json_object_get(sku, "name"));
  const compute_size *z = size ? compute_size_find(size) : NULL;
  if (!z) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value %s provided for the VM size is not valid. The valid sizes in the current "
              "region are listed by GET locations/%s/vmSizes.",
              size ? size : "(null)", op->location);
    return -1;
  }
  const char *old = json_string_value(json_object_get(json_object_get(op->cur, "sku"), "name"));
  if (old && strcasecmp(old, z->name) != 0) {
    http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
              "azlite does not change a scale set's VM size ('%s' to '%s') yet.", old, z->name);
    return -1;
  }
  json_object_set_new(sku, "name", json_string(z->name));
  const char *restr = compute_size_restriction(z, op->location);
  if (restr) {
    http_fail(r, COMPUTE_ERR_SKU_NOT_AVAILABLE,
              "The requested size for resource '%s' is currently not available in location '%s' "
              "zones '' for subscription '%s'. Please try another size or deploy to a different "
              "location or zones. See https://aka.ms/azureskunotavailable for details.",
              op->id, op->location, op->s->subscription_id);
    return -1;
  }
  if (!json_string_value(json_object_get(sku, "tier")))
    json_object_set_new(sku, "tier", json_string("Standard"));
  json_t *cap = json_object_get(sku, "capacity");
  if (!cap)
    json_object_set_new(sku, "capacity", json_integer(0));
  else if (!json_is_integer(cap) || json_integer_value(cap) < 0 ||
           json_integer_value(cap) > VMSS_MAX_CAPACITY) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value of parameter 'sku.capacity' is invalid: it must be a whole number from 0 "
              "to %d.",
              VMSS_MAX_CAPACITY);
    return -1;
  }
  /* The upgrade policy is recorded: every instance runs the one model. */
  json_t *up = obj_at(props, "upgradePolicy");
  const char *um = json_string_value(json_object_get(up, "mode"));
  if (!um)
    json_object_set_new(up, "mode", json_string("Manual"));
  else {
    static const char *const modes[] = {"Manual", "Automatic", "Rolling", NULL};
    int k = 0;
    while (modes[k] && strcasecmp(um, modes[k]))
      k++;
    if (!modes[k]) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The value '%s' of parameter 'upgradePolicy.mode' is not allowed. Allowed values "
                "are 'Automatic', 'Manual' and 'Rolling'.",
                um);
      return -1;
    }
    json_object_set_new(up, "mode", json_string(modes[k]));
  }
  if (!json_is_boolean(json_object_get(props, "overprovision")))
    json_object_set_new(props, "overprovision", json_true());
  if (!json_is_boolean(json_object_get(props, "singlePlacementGroup")))
    json_object_set_new(props, "singlePlacementGroup", json_true());
  if (op->created) {
    if (vm_profile_build(op, json_object_get(props, "virtualMachineProfile"), z) != 0) return -1;
    char uid[37], iso[40];
    uuid_v4(uid);
    json_object_set_new(props, "uniqueId", json_string(uid));
    clock_iso8601(clock_now_ms(op->s), iso);
    json_object_set_new(props, "timeCreated", json_string(iso));
    json_object_set_new(props, "orchestrationMode", json_string("Uniform"));
  } else if (sku_capacity(op->body) != sku_capacity(op->cur)) {
    op->lro_state = "Updating";
  }
  return 0;
}

/* ---- instances in the saving transaction ---------------------------------- */

/* Adds instance number next (its row, addresses, compute_vms row). */
static int instance_add(http_req *r, srv *s, const char *ss_id, json_t *body) {
  sqlite3_stmt *st;
  long n = -1;
  if (store_prepare(store_db(s), "SELECT next_instance FROM compute_vmss WHERE ss_id=?", -1, &st,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, ss_id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) n = (long)sqlite3_column_int64(st, 0);
  store_finalize(st);
  if (n < 0) return -1;
  const char *id = instance_id(r, ss_id, n);
  const char *subnet = subnet_of(body);
  char ip[64], host[64] = "", cn[80], uid[37], iso[40];
  if (!subnet || network_subnet_ip_allocate(s, subnet, id, ip) != 0) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The subnet %s does not exist or has no free address for another instance.",
              subnet ? subnet : "(null)");
    return -1;
  }
  if (network_host_address_allocate(s, id, host) != 0) host[0] = 0;
  computer_name(json_string_value(json_object_get(json_object_get(vm_profile(body), "osProfile"),
                                                  "computerNamePrefix")),
                n, cn);
  uuid_v4(uid);
  clock_iso8601(clock_now_ms(s), iso);
  if (store_exec(s, "UPDATE compute_vmss SET next_instance=%lld WHERE ss_id=%Q", (long long)n + 1,
                 ss_id) != 0 ||
      store_exec(s,
                 "INSERT INTO compute_vmss_vms(ss_id, " ROW_COLUMNS
                 ") VALUES(%Q, %lld, %Q, %Q, %Q, %Q, %Q, %Q)",
                 ss_id, (long long)n, uid, cn, ip, subnet, host, iso) != 0 ||
      compute_vm_row_add(s, id, uid) != 0)
    return -1;
  return 0;
}

/* Removes an instance: its sandbox stops and disk goes after the commit. */
static int instance_remove(srv *s, const char *ss_id, const vmss_vm_row *row) {
  char id[600];
  snprintf(id, sizeof id, "%s/virtualMachines/%ld", ss_id, row->instance);
  if (compute_vm_forget(s, id) != 0) return -1;
  network_subnet_ip_release(s, row->subnet_id, id);
  network_host_address_release(s, id);
  return store_exec(s, "DELETE FROM compute_vmss_vms WHERE ss_id=%Q AND instance=%lld", ss_id,
                    (long long)row->instance);
}

/* Makes the instances as many as sku.capacity: new ones numbered on, the
 * highest-numbered ones removed. */
static int instances_reconcile(http_req *r, srv *s, const char *ss_id, json_t *body) {
  long want = sku_capacity(body);
  int count;
  vmss_vm_row *rows = rows_all(s, ss_id, &count);
  int rc = 0;
  for (int i = count - 1; rc == 0 && i >= 0 && i >= want; i--)
    rc = instance_remove(s, ss_id, &rows[i]);
  free(rows);
  for (long k = count; rc == 0 && k < want; k++)
    rc = instance_add(r, s, ss_id, body);
  return rc;
}

static int vmss_apply(arm_op *op) {
  long cap = sku_capacity(op->body);
  json_t *vmp = vm_profile(op->body);
  if (op->created || cap > sku_capacity(op->cur)) {
    if (compute_quota_check(
            op->r, op->location,
            json_string_value(json_object_get(json_object_get(op->body, "sku"), "name")), (int)cap,
            compute_is_spot(json_string_value(json_object_get(vmp, "priority"))),
            op->created ? NULL : op->id) != 0)
      return -1;
  }
  if (op->created &&
      store_exec(op->s, "INSERT OR REPLACE INTO compute_vmss(ss_id, next_instance) VALUES(%Q, 0)",
                 op->id) != 0)
    return -1;
  return instances_reconcile(op->r, op->s, op->id, op->body);
}

static int vmss_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  int count;
  vmss_vm_row *rows = rows_all(s, id, &count);
  int rc = 0;
  for (int i = 0; rc == 0 && i < count; i++)
    rc = instance_remove(s, id, &rows[i]);
  free(rows);
  if (rc == 0) rc = store_exec(s, "DELETE FROM compute_vmss WHERE ss_id=%Q", id);
  return rc;
}

/* The create's or a scale-out's operation: boots every instance still
 * "starting", then "Succeeded" (or "Failed" and why). */
static int vmss_finish(srv *s, const char *id, char *code, size_t cn, char *msg, size_t mn) {
  int count;
  vmss_vm_row *rows = rows_all(s, id, &count);
  int rc = 0;
  for (int i = 0; i < count; i++) {
    char iid[600], power[24] = "", err[512] = "";
    snprintf(iid, sizeof iid, "%s/virtualMachines/%ld", id, rows[i].instance);
    if (compute_vm_row(s, iid, power, NULL) != 0 || strcmp(power, "starting") != 0) continue;
    if (compute_vm_power_do(s, iid, COMPUTE_START, err, sizeof err) != 0 && rc == 0) {
      rc = -1;
      snprintf(code, cn, "OSProvisioningInternalError");
      snprintf(msg, mn, "Instance %ld of the scale set could not be started: %s", rows[i].instance,
               err);
    }
  }
  free(rows);
  arm_resource_set_state(s, id, rc == 0 ? "Succeeded" : "Failed");
  return rc;
}

/* ---- what the runtime boots an instance from ------------------------------ */

int compute_vmss_instance_spec(srv *s, const char *id, compute_instance_spec *out) {
  char ss[512];
  long n;
  vmss_vm_row row;
  if (instance_split(id, ss, &n) != 0 || row_get(s, ss, n, &row) != 0) return -1;
  json_t *body = arm_resource_get(s, ss);
  if (!body) return -1;
  json_t *vmp = vm_profile(body);
  snprintf(out->sandbox, sizeof out->sandbox, "vm-%s", row.vm_uuid);
  snprintf(out->hostname, sizeof out->hostname, "%s", row.computer_name);
  snprintf(out->size, sizeof out->size, "%s",
           json_string_value(json_object_get(json_object_get(body, "sku"), "name")) ?: "");
  compute_spec_fill(out, body, vmp, ss);
  if (row.host_ip[0])
    snprintf(out->forward_ip[out->nforward++], sizeof out->forward_ip[0], "%s", row.host_ip);
  json_decref(body);
  return 0;
}

/* ---- instances as the API shows them ------------------------------------- */

/* The instance's network interface as Microsoft.Network shows a scale set's. */
static json_t *instance_nic(json_t *ss, const char *iid, const vmss_vm_row *row) {
  const char *nic_name = NULL;
  json_t *ipc = primary_ip_config(ss, &nic_name);
  json_t *ipp = json_object_get(ipc, "properties");
  json_t *cfg = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:{s:s},s:b,s:s}}", "name",
                          json_string_value(json_object_get(ipc, "name")) ?: "ipconfig1", "id", "",
                          "properties", "provisioningState", "Succeeded", "privateIPAddress",
                          row->private_ip, "privateIPAllocationMethod", "Dynamic", "subnet", "id",
                          row->subnet_id, "primary", 1, "privateIPAddressVersion", "IPv4");
  json_t *nid = json_sprintf("%s/networkInterfaces/%s", iid, nic_name ? nic_name : "nic");
  const char *nic_id = json_string_value(nid);
  json_object_set_new(cfg, "id",
                      json_sprintf("%s/ipConfigurations/%s", nic_id,
                                   json_string_value(json_object_get(cfg, "name"))));
  static const char *const pools[] = {"loadBalancerBackendAddressPools",
                                      "loadBalancerInboundNatPools",
                                      "applicationGatewayBackendAddressPools", NULL};
  for (int i = 0; pools[i]; i++)
    if (json_object_get(ipp, pools[i]))
      json_object_set(json_object_get(cfg, "properties"), pools[i], json_object_get(ipp, pools[i]));
  json_t *nic =
      json_pack("{s:o,s:s,s:{s:s,s:b,s:[o],s:{s:s}}}", "id", nid, "name",
                nic_name ? nic_name : "nic", "properties", "provisioningState", "Succeeded",
                "primary", 1, "ipConfigurations", cfg, "virtualMachine", "id", iid);
  return nic;
}

static json_t *instance_body(srv *s, json_t *ss, const vmss_vm_row *row) {
  const char *ss_id = json_string_value(json_object_get(ss, "id"));
  const char *ss_name = json_string_value(json_object_get(ss, "name"));
  json_t *vmp = vm_profile(ss);
  char iid[600], power[24] = "", nic_id[700], name[128], num[16];
  snprintf(iid, sizeof iid, "%s/virtualMachines/%ld", ss_id, row->instance);
  snprintf(name, sizeof name, "%s_%ld", ss_name, row->instance);
  snprintf(num, sizeof num, "%ld", row->instance);
  compute_vm_row(s, iid, power, NULL);
  json_t *os = json_deep_copy(json_object_get(vmp, "osProfile"));
  json_object_del(os, "computerNamePrefix");
  json_object_set_new(os, "computerName", json_string(row->computer_name));
  json_t *sp = json_deep_copy(json_object_get(vmp, "storageProfile"));
  json_t *od = obj_at(sp, "osDisk");
  char hex[33];
  int j = 0;
  for (int i = 0; row->vm_uuid[i] && j < 32; i++)
    if (row->vm_uuid[i] != '-') hex[j++] = row->vm_uuid[i];
  hex[j] = 0;
  json_object_set_new(od, "name",
                      json_sprintf("%s_%s_%ld_OsDisk_1_%s", ss_name, ss_name, row->instance, hex));
  const char *nic_name = NULL;
  primary_ip_config(ss, &nic_name);
  snprintf(nic_id, sizeof nic_id, "%s/networkInterfaces/%s", iid, nic_name ? nic_name : "nic");
  json_t *props = json_pack(
      "{s:b,s:s,s:s,s:o,s:o,s:{s:[{s:s,s:{s:b}}]},s:{s:O},s:s}", "latestModelApplied", 1,
      "modelDefinitionApplied", "VirtualMachineScaleSet", "vmId", row->vm_uuid, "storageProfile",
      sp, "osProfile", os, "networkProfile", "networkInterfaces", "id", nic_id, "properties",
      "primary", 1, "networkProfileConfiguration", "networkInterfaceConfigurations",
      json_object_get(json_object_get(vmp, "networkProfile"), "networkInterfaceConfigurations"),
      "provisioningState", strcmp(power, "starting") == 0 ? "Creating" : "Succeeded");
  json_object_set_new(props, "timeCreated", json_string(row->created));
  static const char *const copy[] = {"priority", "evictionPolicy", "billingProfile", NULL};
  for (int i = 0; copy[i]; i++)
    if (json_object_get(vmp, copy[i]))
      json_object_set(props, copy[i], json_object_get(vmp, copy[i]));
  json_t *sku = json_pack("{s:O,s:O}", "name", json_object_get(json_object_get(ss, "sku"), "name"),
                          "tier", json_object_get(json_object_get(ss, "sku"), "tier"));
  return json_pack("{s:s,s:s,s:s,s:O,s:O,s:s,s:o,s:o}", "id", iid, "name", name, "type",
                   VMSS_VM_TYPE, "location", json_object_get(ss, "location"), "tags",
                   json_object_get(ss, "tags"), "instanceId", num, "sku", sku, "properties", props);
}

static json_t *instance_view(srv *s, json_t *vm) {
  json_t *p = json_object_get(vm, "properties");
  json_t *iv = compute_instance_view(
      s, json_string_value(json_object_get(vm, "id")),
      json_string_value(json_object_get(p, "provisioningState")),
      json_string_value(json_object_get(json_object_get(p, "osProfile"), "computerName")),
      json_string_value(json_object_get(json_object_get(vm, "sku"), "name")),
      json_string_value(json_object_get(
          json_object_get(json_object_get(p, "storageProfile"), "osDisk"), "name")));
  json_object_set_new(iv, "platformUpdateDomain", json_integer(0));
  json_object_set_new(iv, "platformFaultDomain", json_integer(0));
  return iv;
}

/* For IMDS: the instance with its size, as a VM's body has it. */
json_t *compute_vmss_vm_body(srv *s, const char *id) {
  char ss[512];
  long n;
  vmss_vm_row row;
  if (instance_split(id, ss, &n) != 0 || row_get(s, ss, n, &row) != 0) return NULL;
  json_t *body = arm_resource_get(s, ss);
  if (!body) return NULL;
  json_t *vm = instance_body(s, body, &row);
  json_object_set_new(
      json_object_get(vm, "properties"), "hardwareProfile",
      json_pack("{s:O}", "vmSize", json_object_get(json_object_get(body, "sku"), "name")));
  json_decref(body);
  return vm;
}

/* ---- the instance routes ------------------------------------------------- */

static json_t *ss_require(http_req *r) {
  return http_json_own(
      r, arm_res_require(r, &compute_vmss_type, http_param(r, "rg"), http_param(r, "name"), NULL));
}

static int instance_number(const char *s, long *n) {
  if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 6) return -1;
  *n = strtol(s, NULL, 10);
  return 0;
}

/* The scale set and the instance the route names, or NULL and r failed. */
static json_t *vm_require(http_req *r, json_t **ss_out, vmss_vm_row *row) {
  json_t *ss = ss_require(r);
  if (!ss) return NULL;
  const char *ss_id = json_string_value(json_object_get(ss, "id"));
  const char *iid = http_param(r, "instanceId");
  long n;
  if (instance_number(iid, &n) != 0 || row_get(r->srv, ss_id, n, row) != 0) {
    http_fail(r, COMPUTE_ERR_NOT_FOUND,
              "The Resource '" VMSS_VM_TYPE "' with instance id '%s' of scale set '%s' under "
              "resource group '%s' was not found.",
              iid, json_string_value(json_object_get(ss, "name")), http_param(r, "rg"));
    return NULL;
  }
  if (ss_out) *ss_out = ss;
  return http_json_own(r, instance_body(r->srv, ss, row));
}

static json_t *with_expand(http_req *r, json_t *vm) {
  const char *what = http_query_get(r, "$expand");
  if (!what) return vm;
  if (strcasecmp(what, "instanceView") != 0) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value '%s' of parameter '$expand' is not valid. Allowed values are "
              "'instanceView'.",
              what);
    return NULL;
  }
  json_object_set_new(json_object_get(vm, "properties"), "instanceView", instance_view(r->srv, vm));
  return vm;
}

void compute_vmss_vm_list(http_req *r) {
  json_t *ss = ss_require(r);
  if (!ss) return;
  const char *what = http_query_get(r, "$expand");
  if (what && strcasecmp(what, "instanceView") != 0) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value '%s' of parameter '$expand' is not valid. Allowed values are "
              "'instanceView'.",
              what);
    return;
  }
  int count;
  vmss_vm_row *rows = rows_all(r->srv, json_string_value(json_object_get(ss, "id")), &count);
  json_t *out = json_array();
  for (int i = 0; i < count; i++) {
    json_t *vm = instance_body(r->srv, ss, &rows[i]);
    if (what)
      json_object_set_new(json_object_get(vm, "properties"), "instanceView",
                          instance_view(r->srv, vm));
    json_array_append_new(out, vm);
  }
  free(rows);
  http_reply_json(r, 200, json_pack("{s:o}", "value", out));
}

void compute_vmss_vm_get(http_req *r) {
  vmss_vm_row row;
  json_t *vm = vm_require(r, NULL, &row);
  if (!vm || !with_expand(r, vm)) return;
  http_reply_json(r, 200, json_incref(vm));
}

void compute_vmss_vm_instance_view(http_req *r) {
  vmss_vm_row row;
  json_t *vm = vm_require(r, NULL, &row);
  if (!vm) return;
  http_reply_json(r, 200, instance_view(r->srv, vm));
}

static void instance_power(http_req *r, enum compute_power_op op) {
  vmss_vm_row row;
  json_t *vm = vm_require(r, NULL, &row);
  if (!vm) return;
  compute_vm_power_request(r, json_string_value(json_object_get(vm, "id")),
                           json_string_value(json_object_get(vm, "name")), op);
}

void compute_vmss_vm_start(http_req *r) {
  instance_power(r, COMPUTE_START);
}
void compute_vmss_vm_power_off(http_req *r) {
  instance_power(r, COMPUTE_POWER_OFF);
}
void compute_vmss_vm_deallocate(http_req *r) {
  instance_power(r, COMPUTE_DEALLOCATE);
}
void compute_vmss_vm_restart(http_req *r) {
  instance_power(r, COMPUTE_RESTART);
}

void compute_vmss_vm_run_command(http_req *r) {
  vmss_vm_row row;
  json_t *vm = vm_require(r, NULL, &row);
  if (!vm) return;
  compute_vm_run_command_on(r, json_string_value(json_object_get(vm, "id")),
                            json_string_value(json_object_get(vm, "name")));
}

void compute_vmss_vm_nics(http_req *r) {
  vmss_vm_row row;
  json_t *ss = NULL;
  json_t *vm = vm_require(r, &ss, &row);
  if (!vm) return;
  http_reply_json(r, 200,
                  json_pack("{s:[o]}", "value",
                            instance_nic(ss, json_string_value(json_object_get(vm, "id")), &row)));
}

void compute_vmss_nics(http_req *r) {
  json_t *ss = ss_require(r);
  if (!ss) return;
  const char *ss_id = json_string_value(json_object_get(ss, "id"));
  int count;
  vmss_vm_row *rows = rows_all(r->srv, ss_id, &count);
  json_t *out = json_array();
  for (int i = 0; i < count; i++)
    json_array_append_new(out, instance_nic(ss, instance_id(r, ss_id, rows[i].instance), &rows[i]));
  free(rows);
  http_reply_json(r, 200, json_pack("{s:o}", "value", out));
}

/* ---- operations on several instances --------------------------------------- */

static int lro_done(srv *s, void *ctx, char *code, size_t cn, char *msg, size_t mn) {
  (void)s, (void)ctx, (void)code, (void)cn, (void)msg, (void)mn;
  return 0;
}

/* The instance numbers a body's instanceIds names (all of them when absent
 * and all_when_absent), checked to exist; NULL and r failed. */
static json_t *instance_ids(http_req *r, json_t *ss, int all_when_absent) {
  size_t len = 0;
  char *text = http_body_read_all(r, 1 << 20, &len);
  if (http_failed(r)) return NULL;
  json_t *in = NULL;
  if (text && len) {
    in = json_loadb(text, len, 0, NULL);
    if (!in) {
      free(text);
      http_fail(r, COMPUTE_ERR_INVALID_REQUEST_CONTENT,
                "The request content was invalid and could not be deserialized.");
      return NULL;
    }
  }
  free(text);
  http_json_own(r, in);
  const char *ss_id = json_string_value(json_object_get(ss, "id"));
  json_t *ids = json_object_get(in, "instanceIds");
  json_t *out = http_json_own(r, json_array());
  /* "*": every instance (az sends it for "all"). */
  int star = json_array_size(ids) == 1 && json_string_value(json_array_get(ids, 0)) &&
             strcmp(json_string_value(json_array_get(ids, 0)), "*") == 0;
  if (!json_is_array(ids) || json_array_size(ids) == 0 || star) {
    if (!all_when_absent && !star) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "Required parameter 'instanceIds' is missing (null).");
      return NULL;
    }
    int count;
    vmss_vm_row *rows = rows_all(r->srv, ss_id, &count);
    for (int i = 0; i < count; i++)
      json_array_append_new(out, json_integer(rows[i].instance));
    free(rows);
    return out;
  }
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    const char *t = json_string_value(v);
    long n;
    vmss_vm_row row;
    if (instance_number(t, &n) != 0 || row_get(r->srv, ss_id, n, &row) != 0) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The provided instanceId %s is not an active Virtual Machine Scale Set VM "
                "instanceId.",
                t ? t : "(null)");
      return NULL;
    }
    json_array_append_new(out, json_integer(n));
  }
  return out;
}

typedef struct vmss_power_ctx {
  char ss_id[512];
  enum compute_power_op op;
  int n;
  long ids[];
} vmss_power_ctx;

static int vmss_power_run(srv *s, void *ctx, char *code, size_t cn, char *msg, size_t mn) {
  vmss_power_ctx *c = ctx;
  int rc = 0;
  for (int i = 0; i < c->n; i++) {
    char iid[600], err[512] = "";
    snprintf(iid, sizeof iid, "%s/virtualMachines/%ld", c->ss_id, c->ids[i]);
    if (compute_vm_power_do(s, iid, c->op, err, sizeof err) != 0 && rc == 0) {
      rc = -1;
      snprintf(code, cn, "VMStartFailed");
      snprintf(msg, mn, "Instance %ld could not be started: %s", c->ids[i], err);
    }
  }
  return rc;
}

static void vmss_power(http_req *r, enum compute_power_op op) {
  json_t *ss = ss_require(r);
  if (!ss) return;
  json_t *ids = instance_ids(r, ss, 1);
  if (!ids) return;
  vmss_power_ctx *c = calloc(1, sizeof *c + json_array_size(ids) * sizeof(long));
  if (!c) abort();
  snprintf(c->ss_id, sizeof c->ss_id, "%s", json_string_value(json_object_get(ss, "id")));
  c->op = op;
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) c->ids[c->n++] = (long)json_integer_value(v);
  arm_lro_start(r, 202, NULL, vmss_power_run, c, free);
}

/* POST .../manualupgrade: every instance already runs the scale set's one
 * model (latestModelApplied), so there is nothing to do but check the ids. */
void compute_vmss_manual_upgrade(http_req *r) {
  json_t *ss = ss_require(r);
  if (!ss) return;
  if (!instance_ids(r, ss, 0)) return;
  arm_lro_start(r, 202, NULL, lro_done, NULL, NULL);
}

void compute_vmss_start(http_req *r) {
  vmss_power(r, COMPUTE_START);
}
void compute_vmss_power_off(http_req *r) {
  vmss_power(r, COMPUTE_POWER_OFF);
}
void compute_vmss_deallocate(http_req *r) {
  vmss_power(r, COMPUTE_DEALLOCATE);
}
void compute_vmss_restart(http_req *r) {
  vmss_power(r, COMPUTE_RESTART);
}

/* Removes the instances (numbers in ids) and lowers sku.capacity by as many,
 * in one transaction; answers 202. */
static void instances_delete(http_req *r, json_t *ss, json_t *ids) {
  srv *s = r->srv;
  const char *ss_id = json_string_value(json_object_get(ss, "id"));
  if (store_begin(s) != 0) {
    http_fail(r, COMPUTE_ERR_INTERNAL, "The instances could not be deleted.");
    return;
  }
  json_t *cur = http_json_own(r, arm_resource_get(s, ss_id));
  int rc = cur ? 0 : -1;
  size_t i;
  json_t *v;
  long removed = 0;
  json_array_foreach(ids, i, v) {
    vmss_vm_row row;
    if (rc != 0) break;
    if (row_get(s, ss_id, (long)json_integer_value(v), &row) != 0) continue;
    rc = instance_remove(s, ss_id, &row);
    removed++;
  }
  if (rc == 0) {
    long cap = sku_capacity(cur) - removed;
    json_object_set_new(obj_at(cur, "sku"), "capacity", json_integer(cap < 0 ? 0 : cap));
    rc = arm_resource_put(s, ss_id, VMSS_TYPE, cur);
  }
  if (rc == 0)
    rc = store_commit(s);
  else
    store_rollback(s);
  if (rc != 0) {
    http_fail(r, COMPUTE_ERR_INTERNAL, "The instances could not be deleted.");
    return;
  }
  arm_lro_start(r, 202, NULL, lro_done, NULL, NULL);
}

void compute_vmss_vm_delete(http_req *r) {
  json_t *ss = ss_require(r);
  if (!ss) return;
  long n;
  vmss_vm_row row;
  if (instance_number(http_param(r, "instanceId"), &n) != 0 ||
      row_get(r->srv, json_string_value(json_object_get(ss, "id")), n, &row) != 0) {
    /* Azure: 204 when there is nothing to delete. */
    http_reply_empty(r, 204);
    return;
  }
  instances_delete(r, ss, http_json_own(r, json_pack("[I]", (json_int_t)n)));
}

void compute_vmss_delete_instances(http_req *r) {
  json_t *ss = ss_require(r);
  if (!ss) return;
  json_t *ids = instance_ids(r, ss, 0);
  if (!ids) return;
  instances_delete(r, ss, ids);
}

/* GET .../instanceView: the scale set's state and a count of its instances'. */
void compute_vmss_instance_view(http_req *r) {
  json_t *ss = ss_require(r);
  if (!ss) return;
  const char *ss_id = json_string_value(json_object_get(ss, "id"));
  int count;
  vmss_vm_row *rows = rows_all(r->srv, ss_id, &count);
  json_t *counts = json_object();
  for (int i = 0; i < count; i++) {
    char power[24] = "stopped", code[48];
    compute_vm_row(r->srv, instance_id(r, ss_id, rows[i].instance), power, NULL);
    snprintf(code, sizeof code, "PowerState/%s", power);
    json_object_set_new(counts, code,
                        json_integer(json_integer_value(json_object_get(counts, code)) + 1));
  }
  free(rows);
  json_t *summary = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(counts, k, v)
      json_array_append_new(summary, json_pack("{s:s,s:O}", "code", k, "count", v));
  json_decref(counts);
  const char *ps =
      json_string_value(json_object_get(json_object_get(ss, "properties"), "provisioningState"));
  char iso[40];
  clock_iso8601(clock_now_ms(r->srv), iso);
  http_reply_json(
      r, 200,
      json_pack("{s:{s:o},s:[{s:s,s:s,s:s,s:s}]}", "virtualMachine", "statusesSummary", summary,
                "statuses", "code",
                ps && !strcasecmp(ps, "Succeeded") ? "ProvisioningState/succeeded"
                                                   : "ProvisioningState/updating",
                "level", "Info", "displayStatus",
                ps && !strcasecmp(ps, "Succeeded") ? "Provisioning succeeded" : "Updating", "time",
                iso));
}

const arm_type compute_vmss_type = {
    .type = VMSS_TYPE,
    .display = "virtual machine scale set",
    .name_valid = vmss_name_valid,
    .name_code = "InvalidParameter",
    .name_message = "The resource name '%s' is invalid: a scale set name has 1 to 64 letters, "
                    "digits, '_', '.' and '-', starts with a letter or digit and ends with a "
                    "letter, digit or '_'.",
    .build = vmss_build,
    .apply = vmss_apply,
    .remove = vmss_remove,
    .create_state = "Creating",
    .finish = vmss_finish,
    .example_name = "ss1",
    .example_bad_name = "-bad-",
    .example_setup =
        "[[\"/subscriptions/{sub}/resourceGroups/contract-setup/providers/Microsoft.Network/"
        "virtualNetworks/"
        "contract-vmss-vnet?api-version=2022-07-01\",{\"location\":\"eastus\",\"properties\":{"
        "\"addressSpace\":{"
        "\"addressPrefixes\":[\"10.8.0.0/16\"]},\"subnets\":[{\"name\":\"default\","
        "\"properties\":{\"addressPrefix\":\"10.8.0.0/24\"}}]}}]]",
    .example_body =
        "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard_B1s\",\"capacity\":0},"
        "\"properties\":{\"upgradePolicy\":{\"mode\":\"Manual\"},\"virtualMachineProfile\":{"
        "\"osProfile\":{\"computerNamePrefix\":\"ss\",\"adminUsername\":\"azureuser\","
        "\"linuxConfiguration\":{\"ssh\":{\"publicKeys\":[{\"path\":\"/home/azureuser/.ssh/"
        "authorized_keys\",\"keyData\":\"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 test\"}]}}},"
        "\"storageProfile\":{\"imageReference\":{\"publisher\":\"Canonical\",\"offer\":"
        "\"UbuntuServer\",\"sku\":\"18.04-LTS\",\"version\":\"latest\"}},\"networkProfile\":{"
        "\"networkInterfaceConfigurations\":[{\"name\":\"nic\",\"properties\":{\"primary\":true,"
        "\"ipConfigurations\":[{\"name\":\"ipc\",\"properties\":{\"subnet\":{\"id\":"
        "\"/subscriptions/{sub}/resourceGroups/contract-setup/providers/Microsoft.Network/"
        "virtualNetworks/contract-vmss-vnet/subnets/default\"}}}]}}]}}}}",
};

/* At start: a create or scale that azlite's stop cut short is done, its
 * instances booting again with the VMs (compute_vm_recover). */
void compute_vmss_recover(srv *s) {
  char scope[80];
  snprintf(scope, sizeof scope, "/subscriptions/%s", s->subscription_id);
  json_t *list = arm_resource_list(s, scope, VMSS_TYPE);
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *ps =
        json_string_value(json_object_get(json_object_get(e, "properties"), "provisioningState"));
    if (ps && (!strcmp(ps, "Creating") || !strcmp(ps, "Updating")))
      arm_resource_set_state(s, json_string_value(json_object_get(e, "id")), "Succeeded");
  }
  json_decref(list);
}
