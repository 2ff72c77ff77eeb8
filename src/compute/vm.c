/* vm.c: Microsoft.Compute/virtualMachines, on the generic ARM layer, each
 * running VM a sandbox (src/runtime/runtime.h).
 *
 * A create is long-running as on Azure: the PUT stores the VM "Creating" and
 * answers 201 with Azure-AsyncOperation; the operation boots the sandbox
 * (the admin user and its ssh key made inside) and sets "Succeeded" only once
 * it runs, or "Failed" with why.  start, powerOff, deallocate, restart and
 * redeploy are long-running too and do what they say; runCommand runs the
 * script inside and answers its real output and exit code.  Stopped and
 * deallocated VMs keep their disk (the sandbox's overlay upper layers, under
 * <data>/compute/vms/<vmId>); delete removes it.
 *
 * compute_vms keeps each VM's power state; a VM running when azlite stopped
 * (even by kill -9: the sandboxes die with it) boots again at the next start.
 * compute_vm_meter records running intervals per VM, size and priority, for
 * cost management.  The live sandboxes are in compute_state.vms, in memory.
 *
 * Spot: a Spot/Low VM is evicted (its evictionPolicy: Deallocate or Delete)
 * on simulateEviction or when the size's spot price (spot.c) rises above its
 * maxPrice; a Preempt scheduled event comes first, visible from inside
 * through IMDS for AZLITE_SPOT_NOTICE_S seconds of azlite's clock (30). */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../arm/resource.h"
#include "../identity/identity.h"
#include "../network/network.h"
#include "../runtime/runtime.h"
#include "internal.h"

#define VM_TYPE "Microsoft.Compute/virtualMachines"

/* ---- the live sandboxes --------------------------------------------------- */

/* One VM azlite knows is booting or running.  busy: a power operation holds
 * it (the next waits). */
typedef struct vm_live {
  struct vm_live *next;
  char id[512];
  rt_sandbox *sb;
  pthread_mutex_t op_mu; /* serialises power operations and run commands */
} vm_live;

static compute_state *cst(srv *s) {
  return *srv_provider_state(s, &compute_provider);
}

/* The entry for id (created when absent), never freed while azlite runs. */
static vm_live *live_get(srv *s, const char *id) {
  compute_state *c = cst(s);
  pthread_mutex_lock(&c->mu);
  vm_live *v;
  for (v = c->vms; v; v = v->next)
    if (strcasecmp(v->id, id) == 0) break;
  if (!v) {
    v = calloc(1, sizeof *v);
    if (!v) abort();
    snprintf(v->id, sizeof v->id, "%s", id);
    pthread_mutex_init(&v->op_mu, NULL);
    v->next = c->vms;
    c->vms = v;
  }
  pthread_mutex_unlock(&c->mu);
  return v;
}

/* ---- the compute_vms row ------------------------------------------------ */

int compute_vm_row(srv *s, const char *id, char power[24], char disk[512]) {
  sqlite3_stmt *st;
  int rc = -1;
  if (store_prepare(store_db(s), "SELECT power, disk FROM compute_vms WHERE id=?", -1, &st, NULL) !=
      SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    if (power) snprintf(power, 24, "%s", sqlite3_column_text(st, 0));
    if (disk) snprintf(disk, 512, "%s", sqlite3_column_text(st, 1));
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

void compute_vm_set_power(srv *s, const char *id, const char *power) {
  store_exec(s, "UPDATE compute_vms SET power=%Q WHERE id=%Q", power, id);
}

/* Meters: an interval opens when a VM boots and closes when it stops. */
static void meter_open(srv *s, const char *id, const compute_instance_spec *sp) {
  store_exec(s,
             "INSERT INTO compute_vm_meter(id, size, priority, location, start_ms) "
             "VALUES(%Q, %Q, %Q, %Q, %lld)",
             id, sp->size, sp->priority[0] ? sp->priority : "Regular", sp->location,
             (long long)clock_now_ms(s));
}

/* Closes the open interval and records its hours through the one meter call
 * (usage_record): meter "Microsoft.Compute/virtualMachines/<size>/<priority>". */
static void meter_close(srv *s, const char *id) {
  int64_t now = clock_now_ms(s);
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT size, priority, start_ms FROM compute_vm_meter WHERE id=? AND end_ms "
                    "IS NULL",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
      char meter[160];
      snprintf(meter, sizeof meter, "Microsoft.Compute/virtualMachines/%s/%s",
               (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
      int64_t ms = now - sqlite3_column_int64(st, 2);
      usage_record(s, id, meter, ms > 0 ? (double)ms / 3600000.0 : 0, "Hours");
    }
    store_finalize(st);
  }
  store_exec(s, "UPDATE compute_vm_meter SET end_ms=%lld WHERE id=%Q AND end_ms IS NULL",
             (long long)now, id);
}

/* The tick: a running VM's open interval is recorded hour by hour of the
 * clock (one usage event per whole clock hour it covers, at that hour's
 * start), so usage is current while it runs, falls on the right day when the
 * clock jumps, and a restart loses at most the hour in progress. */
#define METER_ROLL_MS 3600000LL
void compute_vm_meter_roll(srv *s, int64_t now_ms) {
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT id, size, priority, start_ms FROM compute_vm_meter WHERE end_ms IS NULL"
                    " AND start_ms < ?",
                    -1, &st, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int64(st, 1, now_ms - now_ms % METER_ROLL_MS);
  json_t *open = json_array();
  while (sqlite3_step(st) == SQLITE_ROW)
    json_array_append_new(open, json_pack("{s:s,s:s,s:s,s:I}", "id", sqlite3_column_text(st, 0),
                                          "size", sqlite3_column_text(st, 1), "priority",
                                          sqlite3_column_text(st, 2), "start",
                                          (json_int_t)sqlite3_column_int64(st, 3)));
  store_finalize(st);
  size_t i;
  json_t *v;
  json_array_foreach(open, i, v) {
    const char *id = json_string_value(json_object_get(v, "id"));
    int64_t start = json_integer_value(json_object_get(v, "start"));
    char meter[160];
    snprintf(meter, sizeof meter, "Microsoft.Compute/virtualMachines/%s/%s",
             json_string_value(json_object_get(v, "size")),
             json_string_value(json_object_get(v, "priority")));
    if (store_begin(s) != 0) break;
    int64_t t = start;
    int rc = 0;
    while (rc == 0 && t - t % METER_ROLL_MS + METER_ROLL_MS <= now_ms) {
      int64_t next = t - t % METER_ROLL_MS + METER_ROLL_MS;
      rc = usage_record_at(s, t, id, meter, (double)(next - t) / 3600000.0, "Hours");
      t = next;
    }
    if (rc == 0)
      rc = store_exec(s,
                      "UPDATE compute_vm_meter SET start_ms=%lld WHERE id=%Q AND end_ms IS NULL"
                      " AND start_ms=%lld",
                      (long long)t, id, (long long)start);
    if (rc == 0)
      store_commit(s);
    else
      store_rollback(s);
  }
  json_decref(open);
}

/* ---- validation (build) --------------------------------------------------- */

static int vm_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 64 || n[0] == '_' || n[len - 1] == '.' || n[len - 1] == '-') return 0;
  for (const char *c = n; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' && *c != '-') return 0;
  return 1;
}

/* Linux computer names: 1-64 of letters, digits, '-' and '.', not all digits. */
int compute_computer_name_valid(const char *n) {
  size_t len = strlen(n);
  int digits = 1;
  if (len < 1 || len > 64 || n[0] == '-' || n[0] == '.') return 0;
  for (const char *c = n; *c; c++) {
    if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.') return 0;
    if (!isdigit((unsigned char)*c)) digits = 0;
  }
  return !digits;
}

/* Names Azure refuses for a Linux admin. */
static const char *const reserved_admins[] = {"administrator",
                                              "admin",
                                              "user",
                                              "user1",
                                              "test",
                                              "user2",
                                              "test1",
                                              "user3",
                                              "admin1",
                                              "1",
                                              "123",
                                              "a",
                                              "actuser",
                                              "adm",
                                              "admin2",
                                              "aspnet",
                                              "backup",
                                              "console",
                                              "david",
                                              "guest",
                                              "john",
                                              "owner",
                                              "root",
                                              "server",
                                              "sql",
                                              "support",
                                              "support_388945a0",
                                              "sys",
                                              "test2",
                                              "test3",
                                              "user4",
                                              "user5",
                                              NULL};

int compute_admin_name_check(http_req *r, const char *u) {
  if (!u || !*u) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "Required parameter 'adminUsername' is missing (null).");
    return -1;
  }
  for (int i = 0; reserved_admins[i]; i++)
    if (strcasecmp(u, reserved_admins[i]) == 0) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "The Admin Username specified is not allowed.");
      return -1;
    }
  size_t len = strlen(u);
  if (len > 64 || !(isalpha((unsigned char)u[0]) || u[0] == '_')) goto bad;
  for (const char *c = u; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') goto bad;
  return 0;
bad:
  http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
            "Linux admin user name '%s' cannot be used: it must start with a letter or '_' and "
            "hold only letters, digits, '_', '-' and '.', up to 64 characters.",
            u);
  return -1;
}

static json_t *obj_at(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  if (!json_is_object(v)) {
    v = json_object();
    json_object_set_new(o, k, v);
  }
  return v;
}

int compute_is_spot(const char *prio) {
  return prio && (strcasecmp(prio, "Spot") == 0 || strcasecmp(prio, "Low") == 0);
}

/* Resolves storageProfile.imageReference to a Linux platform image (its
 * exactVersion set), or fails r. */
/* A key's length without the line end a .pub file gives it (az sends that). */
static size_t key_len(const char *k) {
  size_t n = strlen(k);
  while (n && (k[n - 1] == '\n' || k[n - 1] == '\r' || k[n - 1] == ' '))
    n--;
  return n;
}

void compute_spec_fill(compute_instance_spec *out, json_t *body, json_t *profile,
                       const char *identity_id) {
  json_t *os = json_object_get(profile, "osProfile");
  const char *prio = json_string_value(json_object_get(profile, "priority"));
  snprintf(out->priority, sizeof out->priority, "%s", prio ? prio : "Regular");
  snprintf(out->location, sizeof out->location, "%s",
           json_string_value(json_object_get(body, "location")) ?: "");
  snprintf(out->admin_user, sizeof out->admin_user, "%s",
           json_string_value(json_object_get(os, "adminUsername")) ?: "");
  /* Every key, one a line (compute_linux_profile_check bounds them to fit). */
  json_t *keys = json_object_get(json_object_get(json_object_get(os, "linuxConfiguration"), "ssh"),
                                 "publicKeys");
  size_t i, len = 0;
  json_t *k;
  out->ssh_key[0] = 0;
  json_array_foreach(keys, i, k) {
    const char *data = json_string_value(json_object_get(k, "keyData"));
    if (!data) continue;
    int n = snprintf(out->ssh_key + len, sizeof out->ssh_key - len, "%s%.*s", len ? "\n" : "",
                     (int)key_len(data), data);
    if (n < 0 || (size_t)n >= sizeof out->ssh_key - len) break;
    len += (size_t)n;
  }
  snprintf(out->identity_id, sizeof out->identity_id, "%s", identity_id);
}

int compute_linux_profile_check(http_req *r, json_t *os) {
  if (compute_admin_name_check(r, json_string_value(json_object_get(os, "adminUsername"))) != 0)
    return -1;
  json_t *lc = obj_at(os, "linuxConfiguration");
  json_t *keys = json_object_get(json_object_get(lc, "ssh"), "publicKeys");
  int has_pw = json_string_value(json_object_get(os, "adminPassword")) != NULL;
  size_t i, total = 0;
  json_t *k;
  json_array_foreach(keys, i, k) {
    const char *data = json_string_value(json_object_get(k, "keyData"));
    size_t n = data ? key_len(data) : 0;
    if (n == 0 || n > 8192 || memchr(data, '\n', n) || memchr(data, '\r', n)) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The value of parameter linuxConfiguration.ssh.publicKeys[%zu].keyData is "
                "invalid: a public key is one line of at most 8192 characters.",
                i);
      return -1;
    }
    total += n + 1;
  }
  if (total >= sizeof(((compute_instance_spec *)0)->ssh_key)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The SSH public keys of linuxConfiguration.ssh.publicKeys are too long together.");
    return -1;
  }
  if (json_array_size(keys) == 0 && !has_pw) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "Authentication using either SSH or by user name and password must be enabled in "
              "Linux profile.");
    return -1;
  }
  /* The password is never answered back (Azure does not). */
  json_object_del(os, "adminPassword");
  if (!json_object_get(lc, "disablePasswordAuthentication"))
    json_object_set_new(lc, "disablePasswordAuthentication", json_boolean(!has_pw));
  json_object_set_new(lc, "provisionVMAgent", json_true());
  if (!json_object_get(os, "secrets")) json_object_set_new(os, "secrets", json_array());
  json_object_set_new(os, "allowExtensionOperations", json_true());
  json_object_set_new(os, "requireGuestProvisionSignal", json_true());
  return 0;
}

int compute_image_check(http_req *r, json_t *sp) {
  json_t *img = json_object_get(sp, "imageReference");
  const char *pub = json_string_value(json_object_get(img, "publisher")),
             *offer = json_string_value(json_object_get(img, "offer")),
             *sku = json_string_value(json_object_get(img, "sku")),
             *ver = json_string_value(json_object_get(img, "version"));
  char exact[64];
  if (!pub || !offer || !sku) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "Required parameter 'imageReference' (publisher, offer, sku) is missing: azlite "
              "makes VMs from platform images only.");
    return -1;
  }
  if (compute_image_resolve(pub, offer, sku, ver ? ver : "latest", exact, sizeof exact) != 0) {
    http_fail(r, COMPUTE_ERR_PLATFORM_IMAGE_NOT_FOUND,
              "The platform image '%s:%s:%s:%s' is not available. Verify that all fields in the "
              "storage profile are correct. For more details about storage profile "
              "information, please refer to https://aka.ms/storageprofile",
              pub, offer, sku, ver ? ver : "latest");
    return -1;
  }
  if (!compute_image_is_linux(pub, offer, sku)) {
    http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
              "The image '%s:%s:%s' is a Windows image: azlite runs Linux VMs only.", pub, offer,
              sku);
    return -1;
  }
  if (!ver) json_object_set_new(img, "version", json_string("latest"));
  json_object_set_new(img, "exactVersion", json_string(exact));
  return 0;
}

/* Checks and completes priority, evictionPolicy and billingProfile in props
 * (a VM's properties or a scale set's virtualMachineProfile). */
int compute_priority_build(http_req *r, json_t *props, const compute_size *z) {
  const char *prio = json_string_value(json_object_get(props, "priority"));
  if (prio && strcasecmp(prio, "Regular") && !compute_is_spot(prio)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value '%s' of parameter 'priority' is not allowed. Allowed values are "
              "'Regular', 'Low' and 'Spot'.",
              prio);
    return -1;
  }
  const char *evict = json_string_value(json_object_get(props, "evictionPolicy"));
  json_t *billing = json_object_get(props, "billingProfile");
  if (!compute_is_spot(prio)) {
    if (evict || json_is_object(billing)) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "'%s' can only be set for a VM whose priority is Spot or Low.",
                evict ? "evictionPolicy" : "billingProfile");
      return -1;
    }
  } else {
    if (!z->low_priority_capable) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The VM size '%s' is not supported for Spot or low priority VMs.", z->name);
      return -1;
    }
    if (evict && strcasecmp(evict, "Deallocate") && strcasecmp(evict, "Delete")) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The value '%s' of parameter 'evictionPolicy' is not allowed. Allowed values "
                "are 'Deallocate' and 'Delete'.",
                evict);
      return -1;
    }
    if (!evict) json_object_set_new(props, "evictionPolicy", json_string("Deallocate"));
    json_t *mp = json_object_get(billing, "maxPrice");
    double max = mp ? json_number_value(mp) : -1;
    if (mp && !json_is_number(mp)) max = 0;
    if (max != -1 && max <= 0) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The value of parameter 'billingProfile.maxPrice' is invalid: it must be -1 or "
                "greater than 0.");
      return -1;
    }
    json_object_set_new(props, "billingProfile", json_pack("{s:f}", "maxPrice", max));
  }
  return 0;
}

/* Checks and completes the VM's properties.  On an update, what cannot
 * change (vmId, the admin) is the stored one's. */
static int vm_build(arm_op *op) {
  http_req *r = op->r;
  json_t *in = json_object_get(op->in, "properties");
  if (op->patch) {
    json_t *props = obj_at(op->body, "properties");
    json_t *hw = json_object_get(in, "hardwareProfile");
    if (json_is_object(hw) && json_object_get(hw, "vmSize"))
      json_object_set(obj_at(props, "hardwareProfile"), "vmSize", json_object_get(hw, "vmSize"));
    in = props;
  } else {
    if (!json_is_object(in)) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "Required parameter 'properties' is missing (null).");
      return -1;
    }
    json_object_set_new(op->body, "properties", json_deep_copy(in));
  }
  json_t *props = json_object_get(op->body, "properties");
  if (op->created) {
    char why[256];
    if (!rt_available(why, sizeof why)) {
      http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
                "azlite cannot run virtual machines on this host: %s. A VM that only pretended "
                "to run is not made.",
                why);
      return -1;
    }
  }
  /* Size. */
  const char *size =
      json_string_value(json_object_get(json_object_get(props, "hardwareProfile"), "vmSize"));
  const compute_size *z = size ? compute_size_find(size) : NULL;
  if (!z) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value %s provided for the VM size is not valid. The valid sizes in the current "
              "region are listed by GET locations/%s/vmSizes.",
              size ? size : "(null)", op->location);
    return -1;
  }
  json_object_set_new(obj_at(props, "hardwareProfile"), "vmSize", json_string(z->name));
  const char *restr = compute_size_restriction(z, op->location);
  if (restr) {
    http_fail(r, COMPUTE_ERR_SKU_NOT_AVAILABLE,
              "The requested size for resource '%s' is currently not available in location '%s' "
              "zones '' for subscription '%s'. Please try another size or deploy to a different "
              "location or zones. See https://aka.ms/azureskunotavailable for details.",
              op->id, op->location, op->s->subscription_id);
    return -1;
  }
  if (compute_priority_build(r, props, z) != 0) return -1;
  const char *prio = json_string_value(json_object_get(props, "priority"));
  if (!op->created) {
    /* What an update cannot change. */
    json_t *cp = json_object_get(op->cur, "properties");
    static const char *const keep[] = {"vmId", "timeCreated", "osProfile", "storageProfile", NULL};
    for (int i = 0; keep[i]; i++)
      if (json_object_get(cp, keep[i]))
        json_object_set(props, keep[i], json_object_get(cp, keep[i]));
    if (!json_object_get(props, "networkProfile"))
      json_object_set(props, "networkProfile", json_object_get(cp, "networkProfile"));
    const char *old = json_string_value(
        json_object_get(json_object_get(cp, "priority") ? cp : props, "priority"));
    if ((compute_is_spot(old) ? 1 : 0) != (compute_is_spot(prio) ? 1 : 0)) {
      http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
                "Changing property 'priority' is not allowed.");
      return -1;
    }
  } else {
    json_t *sp = obj_at(props, "storageProfile");
    if (compute_image_check(r, sp) != 0) return -1;
    json_t *od = obj_at(sp, "osDisk");
    char vmid[37];
    uuid_v4(vmid);
    if (!json_object_get(od, "name")) {
      char hex[33];
      for (int i = 0, j = 0; vmid[i] && j < 32; i++)
        if (vmid[i] != '-') hex[j++] = vmid[i], hex[j] = 0;
      json_object_set_new(od, "name", json_string(http_printf(r, "%s_OsDisk_1_%s", op->name, hex)));
    }
    json_object_set_new(od, "osType", json_string("Linux"));
    if (!json_object_get(od, "createOption"))
      json_object_set_new(od, "createOption", json_string("FromImage"));
    if (!json_object_get(od, "caching"))
      json_object_set_new(od, "caching", json_string("ReadWrite"));
    if (!json_object_get(od, "diskSizeGB")) json_object_set_new(od, "diskSizeGB", json_integer(30));
    if (!json_object_get(od, "deleteOption"))
      json_object_set_new(od, "deleteOption", json_string("Detach"));
    if (!json_is_array(json_object_get(sp, "dataDisks")))
      json_object_set_new(sp, "dataDisks", json_array());
    if (json_array_size(json_object_get(sp, "dataDisks")) > 0) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "azlite does not attach data disks to VMs yet.");
      return -1;
    }
    /* OS profile. */
    json_t *os = json_object_get(props, "osProfile");
    if (!json_is_object(os)) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "Required parameter 'osProfile' is missing (null).");
      return -1;
    }
    const char *cn = json_string_value(json_object_get(os, "computerName"));
    if (!cn)
      json_object_set_new(os, "computerName", json_string(op->name));
    else if (!compute_computer_name_valid(cn)) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "Linux host name cannot exceed 64 characters in length or contain the following "
                "characters: ` ~ ! @ # $ %% ^ & * ( ) = + _ [ ] { } \\ | ; : ' \" , < > / ?.");
      return -1;
    }
    if (!json_object_get(os, "computerName") ||
        !compute_computer_name_valid(json_string_value(json_object_get(os, "computerName")))) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The computer name '%s' is not valid: give osProfile.computerName.", op->name);
      return -1;
    }
    if (compute_linux_profile_check(r, os) != 0) return -1;
    json_object_set_new(props, "vmId", json_string(vmid));
    char iso[40];
    clock_iso8601(clock_now_ms(op->s), iso);
    json_object_set_new(props, "timeCreated", json_string(iso));
  }
  /* Network interfaces: they exist and no other VM uses them. */
  json_t *nics = json_object_get(json_object_get(props, "networkProfile"), "networkInterfaces");
  if (json_array_size(nics) == 0) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "Required parameter 'networkProfile.networkInterfaces' is missing: a VM needs a "
              "network interface.");
    return -1;
  }
  size_t i;
  json_t *n;
  json_array_foreach(nics, i, n) {
    const char *nid = json_string_value(json_object_get(n, "id"));
    network_nic_info ni;
    if (!nid || network_nic_info_get(op->s, nid, &ni) != 0) {
      http_fail(r, COMPUTE_ERR_NOT_FOUND, "Resource %s not found.", nid ? nid : "(null)");
      return -1;
    }
    if (ni.vm_id[0] && strcasecmp(ni.vm_id, op->id) != 0) {
      http_fail(r, COMPUTE_ERR_NIC_IN_USE, "Network interface %s is used by existing VM %s.", nid,
                ni.vm_id);
      return -1;
    }
    if (json_array_size(nics) == 1)
      json_object_set_new(obj_at(n, "properties"), "primary", json_true());
  }
  return 0;
}

/* Inside the saving transaction: quota, NICs, the compute_vms row. */
static int vm_apply(arm_op *op) {
  json_t *props = json_object_get(op->body, "properties");
  const char *size =
      json_string_value(json_object_get(json_object_get(props, "hardwareProfile"), "vmSize"));
  const char *prio = json_string_value(json_object_get(props, "priority"));
  if (compute_quota_check(op->r, op->location, size, 1, compute_is_spot(prio),
                          op->created ? NULL : op->id) != 0)
    return -1;
  json_t *nics = json_object_get(json_object_get(props, "networkProfile"), "networkInterfaces");
  size_t i;
  json_t *n;
  json_array_foreach(nics, i, n) {
    if (network_nic_attach(op->s, json_string_value(json_object_get(n, "id")), op->id) != 0) {
      http_fail(op->r, COMPUTE_ERR_NIC_IN_USE, "Network interface %s cannot be attached.",
                json_string_value(json_object_get(n, "id")));
      return -1;
    }
  }
  if (!op->created) return 0;
  return compute_vm_row_add(op->s, op->id, json_string_value(json_object_get(props, "vmId")));
}

/* ---- booting and stopping --------------------------------------------------- */

/* What the VM id boots from: its body, or its scale set's model for an
 * instance (vmss.c).  0, or -1 when it is gone. */
static int instance_spec(srv *s, const char *id, compute_instance_spec *out) {
  memset(out, 0, sizeof *out);
  if (compute_vmss_is_instance(id)) return compute_vmss_instance_spec(s, id, out);
  json_t *body = arm_resource_get(s, id);
  if (!body) return -1;
  json_t *p = json_object_get(body, "properties");
  json_t *os = json_object_get(p, "osProfile");
  /* cgroup and log names: the vmId is unique and safe. */
  snprintf(out->sandbox, sizeof out->sandbox, "vm-%s",
           json_string_value(json_object_get(p, "vmId")));
  snprintf(out->hostname, sizeof out->hostname, "%s",
           json_string_value(json_object_get(os, "computerName")) ?: "");
  snprintf(out->size, sizeof out->size, "%s",
           json_string_value(json_object_get(json_object_get(p, "hardwareProfile"), "vmSize"))
               ?: "");
  compute_spec_fill(out, body, p, id);
  json_t *nics = json_object_get(json_object_get(p, "networkProfile"), "networkInterfaces");
  size_t i;
  json_t *n;
  json_array_foreach(nics, i, n) {
    network_nic_info ni;
    if (out->nforward < COMPUTE_MAX_FORWARDS &&
        network_nic_info_get(s, json_string_value(json_object_get(n, "id")), &ni) == 0 &&
        ni.public_ip[0])
      snprintf(out->forward_ip[out->nforward++], sizeof out->forward_ip[0], "%s", ni.public_ip);
  }
  json_decref(body);
  return 0;
}

/* Boots the VM's sandbox (v->op_mu held).  0, or -1 with why in err. */
static int vm_boot_locked(srv *s, vm_live *v, char *err, size_t n) {
  if (v->sb) return 0;
  compute_instance_spec *sp = malloc(sizeof *sp);
  if (!sp) abort();
  char power[24], disk[512];
  if (instance_spec(s, v->id, sp) != 0 || compute_vm_row(s, v->id, power, disk) != 0) {
    free(sp);
    snprintf(err, n, "the VM is gone");
    return -1;
  }
  const compute_size *z = compute_size_find(sp->size);
  char **env = compute_sandbox_env(s, sp->identity_id);
  rt_spec spec = {.name = sp->sandbox,
                  .disk_dir = disk,
                  .hostname = sp->hostname,
                  .vcpus = z ? z->vcpus : 0,
                  .memory_mb = z ? z->memory_mb : 0,
                  .admin_user = sp->admin_user[0] ? sp->admin_user : NULL,
                  .ssh_public_key = sp->ssh_key[0] ? sp->ssh_key : NULL,
                  .gpus = z && z->gpu_model ? z->gpus : 0,
                  .sshd = 1,
                  .env = (const char *const *)env,
                  .files = compute_sandbox_files(s)};
  compute_vm_set_power(s, v->id, "starting");
  v->sb = rt_boot(&spec, err, n);
  identity_workload_env_free(env);
  if (!v->sb) {
    compute_vm_set_power(s, v->id, "stopped");
    free(sp);
    return -1;
  }
  compute_vm_serve_inside(s, v->sb, v->id);
  for (int i = 0; i < sp->nforward; i++)
    rt_forward_to(v->sb, sp->forward_ip[i], 22, 22);
  compute_vm_set_power(s, v->id, "running");
  meter_open(s, v->id, sp);
  free(sp);
  log_info("compute: %s is running", v->id);
  return 0;
}

static void vm_stop_locked(srv *s, vm_live *v, const char *power) {
  if (v->sb) {
    rt_stop(v->sb, 2000);
    v->sb = NULL;
    meter_close(s, v->id);
  }
  compute_vm_set_power(s, v->id, power);
}

/* The create's operation: boot, then "Succeeded" (or "Failed" and why). */
static int vm_finish(srv *s, const char *id, char *code, size_t cn, char *msg, size_t mn) {
  vm_live *v = live_get(s, id);
  pthread_mutex_lock(&v->op_mu);
  char err[512] = "";
  int rc = vm_boot_locked(s, v, err, sizeof err);
  pthread_mutex_unlock(&v->op_mu);
  if (rc != 0) {
    snprintf(code, cn, "OSProvisioningInternalError");
    snprintf(msg, mn, "The VM could not be started: %s", err);
    arm_resource_set_state(s, id, "Failed");
    return -1;
  }
  arm_resource_set_state(s, id, "Succeeded");
  return 0;
}

/* After the delete commits: the sandbox stops and its disk goes. */
typedef struct vm_gone {
  char *id, *disk;
} vm_gone;

static void vm_after_delete(srv *s, void *arg, int committed) {
  vm_gone *g = arg;
  if (committed) {
    vm_live *v = live_get(s, g->id);
    pthread_mutex_lock(&v->op_mu);
    if (v->sb) {
      rt_stop(v->sb, 0);
      v->sb = NULL;
    }
    pthread_mutex_unlock(&v->op_mu);
    if (rt_disk_remove(g->disk) != 0)
      log_warn("compute: cannot remove %s: %s", g->disk, strerror(errno));
  }
  free(g->id);
  free(g->disk);
  free(g);
}

int compute_vm_forget(srv *s, const char *id) {
  char disk[512];
  if (compute_vm_row(s, id, NULL, disk) != 0) return 0;
  meter_close(s, id);
  if (store_exec(s, "DELETE FROM compute_vms WHERE id=%Q", id) != 0) return -1;
  vm_gone *g = calloc(1, sizeof *g);
  if (!g) abort();
  g->id = strdup(id);
  g->disk = strdup(disk);
  store_after_commit(s, vm_after_delete, g);
  return 0;
}

int compute_vm_row_add(srv *s, const char *id, const char *vm_uuid) {
  char *base = srv_path(s, "compute/vms");
  int rc = store_exec(
      s, "INSERT OR REPLACE INTO compute_vms(id, power, disk) VALUES(%Q, 'starting', '%q/%q')", id,
      base, vm_uuid);
  free(base);
  return rc;
}

static int vm_remove(srv *s, const char *id, json_t *body) {
  if (compute_vm_forget(s, id) != 0) return -1;
  json_t *nics = json_object_get(
      json_object_get(json_object_get(body, "properties"), "networkProfile"), "networkInterfaces");
  size_t i;
  json_t *n;
  json_array_foreach(nics, i, n)
      network_nic_detach(s, json_string_value(json_object_get(n, "id")), id);
  return 0;
}

/* ---- the instance view ------------------------------------------------------ */

static const char *power_display(const char *power) {
  static const char *const map[][2] = {
      {"starting", "VM starting"},         {"running", "VM running"},
      {"stopping", "VM stopping"},         {"stopped", "VM stopped"},
      {"deallocating", "VM deallocating"}, {"deallocated", "VM deallocated"}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(power, map[i][0]) == 0) return map[i][1];
  return power;
}

static json_t *status_entry(const char *code, const char *level, const char *display,
                            const char *message, const char *time) {
  json_t *e = json_pack("{s:s,s:s,s:s}", "code", code, "level", level, "displayStatus", display);
  if (message) json_object_set_new(e, "message", json_string(message));
  if (time) json_object_set_new(e, "time", json_string(time));
  return e;
}

/* What GET .../instanceView answers: the power state, the OS as it really is
 * inside, and what the VM lacks on this host (a GPU, sshd), said plainly. */
json_t *compute_instance_view(srv *s, const char *id, const char *ps, const char *computer_name,
                              const char *size, const char *disk_name) {
  char power[24] = "stopped";
  compute_vm_row(s, id, power, NULL);
  vm_live *v = live_get(s, id);
  rt_info info;
  memset(&info, 0, sizeof info);
  int running = 0;
  pthread_mutex_lock(&v->op_mu);
  if (v->sb) {
    rt_get_info(v->sb, &info);
    running = 1;
  }
  pthread_mutex_unlock(&v->op_mu);
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  json_t *st = json_array();
  char code[64], disp[64];
  snprintf(code, sizeof code, "ProvisioningState/%s", ps ? ps : "succeeded");
  for (char *c = code + 18; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  snprintf(disp, sizeof disp, "Provisioning %s", ps ? ps : "succeeded");
  for (char *c = disp + 13; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  json_array_append_new(
      st, status_entry(code, ps && !strcasecmp(ps, "Failed") ? "Error" : "Info", disp, NULL, iso));
  char pcode[48];
  snprintf(pcode, sizeof pcode, "PowerState/%s", power);
  json_array_append_new(st, status_entry(pcode, "Info", power_display(power), NULL, NULL));
  const compute_size *z = size ? compute_size_find(size) : NULL;
  if (running && z && z->gpu_model && info.gpus == 0)
    json_array_append_new(
        st, status_entry("GPU/unavailable", "Warning", "No GPU", info.why_no_gpu, NULL));
  if (running && !info.sshd)
    json_array_append_new(
        st, status_entry("SSH/unavailable", "Warning", "No SSH",
                         info.why_no_sshd[0] ? info.why_no_sshd : "sshd does not run", NULL));
  json_t *iv = json_pack("{s:s,s:s,s:o}", "computerName", computer_name ? computer_name : "",
                         "hyperVGeneration", "V1", "statuses", st);
  if (running) {
    json_object_set_new(iv, "osName", json_string(info.os_name));
    json_object_set_new(iv, "osVersion", json_string(info.os_version));
    json_object_set_new(iv, "vmAgent",
                        json_pack("{s:s,s:[o]}", "vmAgentVersion", "azlite", "statuses",
                                  status_entry("ProvisioningState/succeeded", "Info", "Ready",
                                               "azlite runs the VM's commands directly", iso)));
  }
  json_object_set_new(iv, "disks",
                      json_pack("[{s:s,s:[o]}]", "name", disk_name ? disk_name : "osdisk",
                                "statuses",
                                status_entry("ProvisioningState/succeeded", "Info",
                                             "Provisioning succeeded", NULL, iso)));
  return iv;
}

json_t *compute_vm_instance_view(srv *s, json_t *body) {
  json_t *p = json_object_get(body, "properties");
  return compute_instance_view(
      s, json_string_value(json_object_get(body, "id")),
      json_string_value(json_object_get(p, "provisioningState")),
      json_string_value(json_object_get(json_object_get(p, "osProfile"), "computerName")),
      json_string_value(json_object_get(json_object_get(p, "hardwareProfile"), "vmSize")),
      json_string_value(json_object_get(
          json_object_get(json_object_get(p, "storageProfile"), "osDisk"), "name")));
}

static json_t *vm_expand(http_req *r, json_t *body, const char *what) {
  if (strcasecmp(what, "instanceView") == 0) {
    json_object_set_new(json_object_get(body, "properties"), "instanceView",
                        compute_vm_instance_view(r->srv, body));
    return body;
  }
  if (strcasecmp(what, "userData") == 0) return body;
  json_decref(body);
  http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
            "The value '%s' of parameter '$expand' is not valid. Allowed values are "
            "'instanceView' and 'userData'.",
            what);
  return NULL;
}

static json_t *vm_require(http_req *r) {
  return arm_res_require(r, &compute_vm_type, http_param(r, "rg"), http_param(r, "name"), NULL);
}

void compute_vm_get_instance_view(http_req *r) {
  json_t *body = vm_require(r);
  if (!body) return;
  http_reply_json(r, 200, compute_vm_instance_view(r->srv, body));
  json_decref(body);
}

/* ---- power operations ------------------------------------------------------ */

typedef struct vm_op_ctx {
  char id[512];
  enum compute_power_op op;
  int skip_shutdown;
} vm_op_ctx;

int compute_vm_power_do(srv *s, const char *id, enum compute_power_op op, char *err, size_t n) {
  vm_live *v = live_get(s, id);
  pthread_mutex_lock(&v->op_mu);
  int rc = 0;
  switch (op) {
  case COMPUTE_START:
    rc = vm_boot_locked(s, v, err, n);
    break;
  case COMPUTE_POWER_OFF:
    compute_vm_set_power(s, id, "stopping");
    vm_stop_locked(s, v, "stopped");
    break;
  case COMPUTE_DEALLOCATE:
    compute_vm_set_power(s, id, "deallocating");
    vm_stop_locked(s, v, "deallocated");
    break;
  case COMPUTE_RESTART:
  case COMPUTE_REDEPLOY:
    vm_stop_locked(s, v, "stopped");
    rc = vm_boot_locked(s, v, err, n);
    break;
  }
  pthread_mutex_unlock(&v->op_mu);
  return rc;
}

static int vm_op_run(srv *s, void *ctx, char *code, size_t cn, char *msg, size_t mn) {
  vm_op_ctx *c = ctx;
  char err[512] = "";
  int rc = compute_vm_power_do(s, c->id, c->op, err, sizeof err);
  if (rc != 0) {
    snprintf(code, cn, "VMStartFailed");
    snprintf(msg, mn, "The VM could not be started: %s", err);
  }
  return rc;
}

void compute_vm_power_request(http_req *r, const char *id, const char *name,
                              enum compute_power_op op) {
  char power[24] = "";
  compute_vm_row(r->srv, id, power, NULL);
  if (op == COMPUTE_RESTART && strcmp(power, "running") != 0) {
    http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
              "Operation 'restart' is not allowed on VM '%s' since the VM is %s.", name,
              strcmp(power, "deallocated") == 0 ? "deallocated" : "not running");
    return;
  }
  vm_op_ctx *c = calloc(1, sizeof *c);
  if (!c) abort();
  snprintf(c->id, sizeof c->id, "%s", id);
  c->op = op;
  arm_lro_start(r, 202, NULL, vm_op_run, c, free);
}

static void vm_power(http_req *r, enum compute_power_op op) {
  json_t *body = vm_require(r);
  if (!body) return;
  http_json_own(r, body);
  compute_vm_power_request(r, json_string_value(json_object_get(body, "id")),
                           json_string_value(json_object_get(body, "name")), op);
}

void compute_vm_start(http_req *r) {
  vm_power(r, COMPUTE_START);
}
void compute_vm_power_off(http_req *r) {
  vm_power(r, COMPUTE_POWER_OFF);
}
void compute_vm_deallocate(http_req *r) {
  vm_power(r, COMPUTE_DEALLOCATE);
}
void compute_vm_restart(http_req *r) {
  vm_power(r, COMPUTE_RESTART);
}
void compute_vm_redeploy(http_req *r) {
  vm_power(r, COMPUTE_REDEPLOY);
}

/* ---- run command ------------------------------------------------------------- */

typedef struct vm_run_ctx {
  char id[512];
  char *script;
  char **env;
} vm_run_ctx;

static void vm_run_free(void *p) {
  vm_run_ctx *c = p;
  free(c->script);
  for (int i = 0; c->env && c->env[i]; i++)
    free(c->env[i]);
  free(c->env);
  free(c);
}

/* Azure keeps the last 4096 bytes of each stream. */
static const char *tail4k(const char *s, size_t len) {
  return len > 4096 ? s + len - 4096 : s;
}

static int vm_run_run(srv *s, void *ctx, char *code, size_t cn, char *msg, size_t mn) {
  vm_run_ctx *c = ctx;
  vm_live *v = live_get(s, c->id);
  pthread_mutex_lock(&v->op_mu);
  if (!v->sb) {
    pthread_mutex_unlock(&v->op_mu);
    snprintf(code, cn, "OperationNotAllowed");
    snprintf(msg, mn, "The VM is not running.");
    return -1;
  }
  /* The parameters are environment variables of the script, as on Azure. */
  size_t len = strlen(c->script) + 64;
  for (int i = 0; c->env && c->env[i]; i++)
    len += strlen(c->env[i]) * 4 + 16;
  char *script = malloc(len);
  if (!script) abort();
  script[0] = 0;
  for (int i = 0; c->env && c->env[i]; i++) {
    char *eq = strchr(c->env[i], '=');
    if (!eq) continue;
    strcat(script, "export ");
    strncat(script, c->env[i], (size_t)(eq - c->env[i]));
    strcat(script, "='");
    for (const char *q = eq + 1; *q; q++) {
      if (*q == '\'')
        strcat(script, "'\\''");
      else
        strncat(script, q, 1);
    }
    strcat(script, "'\n");
  }
  strcat(script, c->script);
  rt_result res;
  int rc = rt_exec(v->sb, script, NULL, 5400 * 1000, 1 << 20, &res);
  pthread_mutex_unlock(&v->op_mu);
  free(script);
  if (rc != 0) {
    snprintf(code, cn, "VMAgentStatusCommunicationError");
    snprintf(msg, mn, "The command could not be run inside the VM: %s", strerror(errno));
    return -1;
  }
  char *text = NULL;
  int ok = res.exit_code == 0 && !res.timed_out;
  char head[128];
  if (ok)
    snprintf(head, sizeof head, "Enable succeeded: ");
  else if (res.timed_out)
    snprintf(head, sizeof head, "Enable failed: the command timed out");
  else
    snprintf(head, sizeof head,
             "Enable failed: failed to execute command: command terminated with exit status=%d",
             res.exit_code);
  if (asprintf(&text, "%s\n[stdout]\n%s\n[stderr]\n%s", head, tail4k(res.out, res.out_len),
               tail4k(res.err, res.err_len)) < 0)
    abort();
  json_t *result =
      json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "value", "code",
                ok ? "ProvisioningState/succeeded" : "ProvisioningState/failed", "level",
                ok ? "Info" : "Error", "displayStatus",
                ok ? "Provisioning succeeded" : "Provisioning failed", "message", text);
  arm_lro_set_result(s, result);
  json_decref(result);
  free(text);
  rt_result_free(&res);
  return 0;
}

void compute_vm_run_command(http_req *r) {
  json_t *body = vm_require(r);
  if (!body) return;
  http_json_own(r, body);
  compute_vm_run_command_on(r, json_string_value(json_object_get(body, "id")),
                            json_string_value(json_object_get(body, "name")));
}

void compute_vm_run_command_on(http_req *r, const char *id, const char *name) {
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  const char *cmd = json_string_value(json_object_get(in, "commandId"));
  json_t *script = json_object_get(in, "script");
  if (!cmd || (strcasecmp(cmd, "RunShellScript") != 0 && strcasecmp(cmd, "ifconfig") != 0)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The command id '%s' is not valid for a Linux VM: use RunShellScript or ifconfig.",
              cmd ? cmd : "(null)");
    return;
  }
  char power[24] = "";
  compute_vm_row(r->srv, id, power, NULL);
  if (strcmp(power, "running") != 0) {
    http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
              "Cannot run the command on VM '%s' because it is %s.", name,
              power[0] ? power_display(power) + 3 : "gone");
    return;
  }
  size_t len = 1;
  size_t i;
  json_t *line;
  json_array_foreach(script, i, line) len +=
      strlen(json_string_value(line) ? json_string_value(line) : "") + 1;
  vm_run_ctx *c = calloc(1, sizeof *c);
  if (!c) abort();
  snprintf(c->id, sizeof c->id, "%s", id);
  if (strcasecmp(cmd, "ifconfig") == 0) {
    c->script = strdup("ip addr 2>/dev/null || cat /proc/net/dev");
  } else {
    c->script = calloc(1, len);
    json_array_foreach(script, i, line) {
      strcat(c->script, json_string_value(line) ? json_string_value(line) : "");
      strcat(c->script, "\n");
    }
  }
  json_t *params = json_object_get(in, "parameters");
  c->env = calloc(json_array_size(params) + 1, sizeof *c->env);
  int k = 0;
  json_array_foreach(params, i, line) {
    const char *n = json_string_value(json_object_get(line, "name"));
    const char *v = json_string_value(json_object_get(line, "value"));
    int valid = n && *n;
    for (const char *q = n; valid && *q; q++)
      if (!isalnum((unsigned char)*q) && *q != '_') valid = 0;
    if (valid && asprintf(&c->env[k], "%s=%s", n, v ? v : "") >= 0) k++;
  }
  arm_lro_start(r, 202, NULL, vm_run_run, c, vm_run_free);
}

/* ---- spot eviction ------------------------------------------------------ */

/* Seconds of azlite's clock between a Preempt event and the eviction. */
int64_t compute_spot_notice_ms(void) {
  const char *e = getenv("AZLITE_SPOT_NOTICE_S");
  long v = e ? strtol(e, NULL, 10) : 30;
  return (v < 0 ? 0 : v) * 1000;
}

/* POST .../simulateEviction: 204; the Preempt event now, the eviction after
 * the notice (azlite's clock). */
void compute_vm_simulate_eviction(http_req *r) {
  json_t *body = vm_require(r);
  if (!body) return;
  http_json_own(r, body);
  json_t *p = json_object_get(body, "properties");
  const char *id = json_string_value(json_object_get(body, "id"));
  char power[24] = "";
  compute_vm_row(r->srv, id, power, NULL);
  if (!compute_is_spot(json_string_value(json_object_get(p, "priority")))) {
    http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
              "Operation 'simulateEviction' is allowed only on Spot or low priority VMs.");
    return;
  }
  if (strcmp(power, "running") != 0) {
    http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
              "Operation 'simulateEviction' is not allowed on VM '%s' since it is not running.",
              json_string_value(json_object_get(body, "name")));
    return;
  }
  compute_imds_add_preempt(r->srv, id, clock_now_ms(r->srv) + compute_spot_notice_ms());
  sched_wake(r->srv);
  http_reply_empty(r, 204);
}

/* Evicts the VM per its evictionPolicy (the scheduler's thread). */
void compute_vm_evict(srv *s, const char *id) {
  json_t *body = arm_resource_get(s, id);
  if (!body) return;
  const char *pol =
      json_string_value(json_object_get(json_object_get(body, "properties"), "evictionPolicy"));
  vm_live *v = live_get(s, id);
  compute_imds_forget(s, id);
  log_info("compute: evicting spot VM %s (%s)", id, pol ? pol : "Deallocate");
  if (pol && strcasecmp(pol, "Delete") == 0) {
    if (store_begin(s) == 0) {
      if (arm_resource_delete(s, id) == 0 && store_commit(s) == 0) {
        json_decref(body);
        return;
      }
      store_rollback(s);
    }
  }
  pthread_mutex_lock(&v->op_mu);
  vm_stop_locked(s, v, "deallocated");
  pthread_mutex_unlock(&v->op_mu);
  json_decref(body);
}

/* ---- start and stop of azlite --------------------------------------------- */

typedef struct vm_recover_ctx {
  srv *s;
  json_t *ids; /* the VMs and instances to boot again */
} vm_recover_ctx;

/* Boots them one after the other; compute_vm_stop_all waits for it. */
static void *vm_recover_thread(void *arg) {
  vm_recover_ctx *rc = arg;
  srv *s = rc->s;
  compute_state *c = cst(s);
  size_t i;
  json_t *id;
  json_array_foreach(rc->ids, i, id) {
    pthread_mutex_lock(&c->mu);
    int stopping = c->stopping;
    pthread_mutex_unlock(&c->mu);
    if (stopping) break;
    char msg[512];
    vm_live *v = live_get(s, json_string_value(id));
    pthread_mutex_lock(&v->op_mu);
    if (vm_boot_locked(s, v, msg, sizeof msg) != 0)
      log_warn("compute: %s did not come back: %s", v->id, msg);
    pthread_mutex_unlock(&v->op_mu);
  }
  json_decref(rc->ids);
  free(rc);
  store_fini(s);
  pthread_mutex_lock(&c->mu);
  c->recovering = 0;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* Boots again what was running (or booting) when azlite stopped. */
void compute_vm_recover(srv *s) {
  store_exec(s, "UPDATE compute_vm_meter SET end_ms=start_ms WHERE end_ms IS NULL");
  sqlite3_stmt *st;
  if (store_prepare(store_db(s), "SELECT id FROM compute_vms WHERE power IN ('starting','running')",
                    -1, &st, NULL) != SQLITE_OK)
    return;
  json_t *ids = json_array();
  while (sqlite3_step(st) == SQLITE_ROW)
    json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
  store_finalize(st);
  if (json_array_size(ids) == 0) {
    json_decref(ids);
    return;
  }
  vm_recover_ctx *rc = calloc(1, sizeof *rc);
  if (!rc) abort();
  rc->s = s;
  rc->ids = ids;
  compute_state *c = cst(s);
  c->recovering = 1;
  pthread_t t;
  if (pthread_create(&t, NULL, vm_recover_thread, rc) == 0) {
    pthread_detach(t);
  } else {
    c->recovering = 0;
    json_decref(ids);
    free(rc);
  }
}

/* At shutdown: every sandbox stops (their power state stays: they come back),
 * once the boots of the start are over. */
void compute_vm_stop_all(srv *s) {
  compute_state *c = cst(s);
  pthread_mutex_lock(&c->mu);
  c->stopping = 1;
  while (c->recovering)
    pthread_cond_wait(&c->cv, &c->mu);
  vm_live *all = c->vms;
  pthread_mutex_unlock(&c->mu);
  /* Entries are never freed before fini, and none is added in front of all
   * that matters here: a boot takes c->mu while holding op_mu. */
  for (vm_live *v = all; v; v = v->next) {
    pthread_mutex_lock(&v->op_mu);
    if (v->sb) {
      rt_stop(v->sb, 0);
      v->sb = NULL;
    }
    pthread_mutex_unlock(&v->op_mu);
  }
}

/* Frees every entry (fini, after compute_vm_stop_all). */
void compute_vm_free_all(srv *s) {
  compute_state *c = cst(s);
  vm_live *v = c->vms;
  c->vms = NULL;
  while (v) {
    vm_live *next = v->next;
    pthread_mutex_destroy(&v->op_mu);
    free(v);
    v = next;
  }
}

/* The environment of a VM's processes: its identity's token endpoint (the
 * same URL as on the host: azlite listens inside) and the CA inside. */
char **compute_sandbox_env(srv *s, const char *id) {
  char **env = identity_workload_env(s, id);
  for (int i = 0; env && env[i]; i++) {
    if (!strncmp(env[i], "REQUESTS_CA_BUNDLE=", 19) || !strncmp(env[i], "SSL_CERT_FILE=", 14) ||
        !strncmp(env[i], "NODE_EXTRA_CA_CERTS=", 20) || !strncmp(env[i], "CURL_CA_BUNDLE=", 15)) {
      char *eq = strchr(env[i], '=');
      char *n = NULL;
      if (asprintf(&n, "%.*s=" COMPUTE_CA_INSIDE, (int)(eq - env[i]), env[i]) >= 0) {
        free(env[i]);
        env[i] = n;
      }
    }
  }
  return env;
}

const char *const *compute_sandbox_files(srv *s) {
  compute_state *c = cst(s);
  return (const char *const *)c->files;
}

const arm_type compute_vm_type = {
    .type = VM_TYPE,
    .display = "virtual machine",
    .name_valid = vm_name_valid,
    .name_code = "InvalidParameter",
    .name_message = "The resource name '%s' is invalid: a VM name has 1 to 64 letters, digits, "
                    "'_', '.' and '-', does not start with '_' nor end with '.' or '-'.",
    .identity = 1,
    .build = vm_build,
    .apply = vm_apply,
    .remove = vm_remove,
    .create_state = "Creating",
    .finish = vm_finish,
    .expand = vm_expand,
    .example_name = NULL,
    .example_bad_name = NULL,
    .example_body = NULL,
};
