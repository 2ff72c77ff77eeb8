/* provider.c: Microsoft.Compute: the one table of every URL it serves, its
 * schema and its resource types.  The catalog (sizes, SKUs, images, usages)
 * is in catalog.c and sizes.c; virtual machines in vm.c; scale sets in
 * vmss.c; they run on the sandbox runtime (src/runtime/runtime.h). */
#include <stdlib.h>
#include <string.h>

#include "../arm/resource.h"
#include "../runtime/runtime.h"
#include "internal.h"

/* Route rows on the management listener, ARM-authorized. */
#define COMPUTE_ROW_(m, p, f)                                                                      \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM                                                                          \
  }

#define IMDS_ROW_(p, f)                                                                            \
  {                                                                                                \
    .listener = LISTEN_IMDS, .method = "GET", .pattern = p, .fn = f, .auth = AUTH_NONE,            \
    .style = HTTP_ERR_OAUTH                                                                        \
  }

#define COMPUTE_VM                                                                                 \
  "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
#define COMPUTE_VMSS                                                                               \
  "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/"                          \
  "virtualMachineScaleSets/{name}"
#define COMPUTE_VMSS_VM COMPUTE_VMSS "/virtualMachines/{instanceId}"
#define COMPUTE_LOC "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}"
#define COMPUTE_IMG COMPUTE_LOC "/publishers/{publisher}/artifacttypes/vmimage"

static const route compute_routes[] = {
    /* ---- the catalog (catalog.c) ---- */
    COMPUTE_ROW_("GET", COMPUTE_LOC "/vmSizes", compute_vm_sizes),
    COMPUTE_ROW_("GET", COMPUTE_LOC "/usages", compute_usages),
    COMPUTE_ROW_("GET", COMPUTE_LOC "/publishers", compute_image_publishers),
    COMPUTE_ROW_("GET", COMPUTE_IMG "/offers", compute_image_offers),
    COMPUTE_ROW_("GET", COMPUTE_IMG "/offers/{offer}/skus", compute_image_skus),
    COMPUTE_ROW_("GET", COMPUTE_IMG "/offers/{offer}/skus/{sku}/versions", compute_image_versions),
    COMPUTE_ROW_("GET", COMPUTE_IMG "/offers/{offer}/skus/{sku}/versions/{version}",
                 compute_image_version_get),
    COMPUTE_ROW_("GET", "/subscriptions/{sub}/providers/Microsoft.Compute/skus", compute_skus),
    /* What az loads for `--image <alias>` (its cloud's vmImageAliasDoc): anonymous. */
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/vm-image-aliases.json",
     .fn = compute_image_alias_doc,
     .auth = AUTH_NONE,
     .style = HTTP_ERR_ARM},
    /* Admin: a quota's limit in a location ({"limit": N}). */
    {.listener = LISTEN_MGMT,
     .method = "PUT",
     .pattern = "/azlite/compute/quotas/{location}/{name}",
     .fn = compute_quota_put,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},
    /* Admin: a size's spot price in a location (spot.c). */
    {.listener = LISTEN_MGMT,
     .method = "GET",
     .pattern = "/azlite/compute/spotPrices/{location}/{size}",
     .fn = compute_spot_price_get,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},
    {.listener = LISTEN_MGMT,
     .method = "PUT",
     .pattern = "/azlite/compute/spotPrices/{location}/{size}",
     .fn = compute_spot_price_put,
     .auth = AUTH_ADMIN,
     .style = HTTP_ERR_ARM},
    /* ---- virtual machines (vm.c) ---- */
    ARM_TRACKED_ROUTES("Microsoft.Compute/virtualMachines", &compute_vm_type),
    COMPUTE_ROW_("GET", COMPUTE_VM "/instanceView", compute_vm_get_instance_view),
    COMPUTE_ROW_("POST", COMPUTE_VM "/start", compute_vm_start),
    COMPUTE_ROW_("POST", COMPUTE_VM "/powerOff", compute_vm_power_off),
    COMPUTE_ROW_("POST", COMPUTE_VM "/deallocate", compute_vm_deallocate),
    COMPUTE_ROW_("POST", COMPUTE_VM "/restart", compute_vm_restart),
    COMPUTE_ROW_("POST", COMPUTE_VM "/redeploy", compute_vm_redeploy),
    COMPUTE_ROW_("POST", COMPUTE_VM "/runCommand", compute_vm_run_command),
    COMPUTE_ROW_("POST", COMPUTE_VM "/simulateEviction", compute_vm_simulate_eviction),
    /* ---- the Instance Metadata Service, from inside a VM (imds.c) ---- */
    IMDS_ROW_("/metadata/identity/oauth2/token", compute_imds_token),
    IMDS_ROW_("/metadata/instance", compute_imds_instance),
    IMDS_ROW_("/metadata/instance/compute", compute_imds_instance),
    IMDS_ROW_("/metadata/scheduledevents", compute_imds_scheduled_events),
    /* ---- scale sets (vmss.c) ---- */
    ARM_TRACKED_ROUTES("Microsoft.Compute/virtualMachineScaleSets", &compute_vmss_type),
    COMPUTE_ROW_("GET", COMPUTE_VMSS "/instanceView", compute_vmss_instance_view),
    COMPUTE_ROW_("POST", COMPUTE_VMSS "/start", compute_vmss_start),
    COMPUTE_ROW_("POST", COMPUTE_VMSS "/powerOff", compute_vmss_power_off),
    COMPUTE_ROW_("POST", COMPUTE_VMSS "/deallocate", compute_vmss_deallocate),
    COMPUTE_ROW_("POST", COMPUTE_VMSS "/restart", compute_vmss_restart),
    COMPUTE_ROW_("POST", COMPUTE_VMSS "/delete", compute_vmss_delete_instances),
    COMPUTE_ROW_("POST", COMPUTE_VMSS "/manualupgrade", compute_vmss_manual_upgrade),
    COMPUTE_ROW_("GET", COMPUTE_VMSS "/virtualMachines", compute_vmss_vm_list),
    COMPUTE_ROW_("GET", COMPUTE_VMSS_VM, compute_vmss_vm_get),
    COMPUTE_ROW_("DELETE", COMPUTE_VMSS_VM, compute_vmss_vm_delete),
    COMPUTE_ROW_("GET", COMPUTE_VMSS_VM "/instanceView", compute_vmss_vm_instance_view),
    COMPUTE_ROW_("POST", COMPUTE_VMSS_VM "/start", compute_vmss_vm_start),
    COMPUTE_ROW_("POST", COMPUTE_VMSS_VM "/powerOff", compute_vmss_vm_power_off),
    COMPUTE_ROW_("POST", COMPUTE_VMSS_VM "/deallocate", compute_vmss_vm_deallocate),
    COMPUTE_ROW_("POST", COMPUTE_VMSS_VM "/restart", compute_vmss_vm_restart),
    COMPUTE_ROW_("POST", COMPUTE_VMSS_VM "/runCommand", compute_vmss_vm_run_command),
    /* Microsoft.Network's view of the instances' interfaces (its api-versions). */
    COMPUTE_ROW_("GET", COMPUTE_VMSS "/networkInterfaces", compute_vmss_nics),
    COMPUTE_ROW_("GET", COMPUTE_VMSS_VM "/networkInterfaces", compute_vmss_vm_nics),
    {.pattern = NULL},
};

static const char *const compute_schema_scripts[] = {
    /* Version 1. */
    "CREATE TABLE compute_meta(k TEXT PRIMARY KEY, v TEXT);",
    /* Version 2: quota limits set through the admin API (catalog.c); a quota
     * without a row has its default. */
    "CREATE TABLE compute_quotas(location TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE,"
    " lim INTEGER NOT NULL, PRIMARY KEY(location, name));",
    /* Version 3: each VM's power state and disk (vm.c), and its running
     * intervals for cost management (end_ms NULL: running). */
    "CREATE TABLE compute_vms(id TEXT PRIMARY KEY COLLATE NOCASE, power TEXT NOT NULL,"
    " disk TEXT NOT NULL);"
    "CREATE TABLE compute_vm_meter(id TEXT NOT NULL COLLATE NOCASE, size TEXT NOT NULL,"
    " priority TEXT NOT NULL, location TEXT, start_ms INTEGER NOT NULL, end_ms INTEGER);"
    "CREATE INDEX compute_vm_meter_id ON compute_vm_meter(id);",
    /* Version 4: spot prices pinned through the admin API (spot.c). */
    "CREATE TABLE compute_spot_prices(location TEXT NOT NULL, size TEXT NOT NULL COLLATE NOCASE,"
    " price REAL NOT NULL, PRIMARY KEY(location, size));",
    /* Version 5: scale sets (vmss.c): the next instance number (never
     * reused), and each instance's identity and addresses; its power state
     * and disk are a compute_vms row like a VM's. */
    "CREATE TABLE compute_vmss(ss_id TEXT PRIMARY KEY COLLATE NOCASE,"
    " next_instance INTEGER NOT NULL);"
    "CREATE TABLE compute_vmss_vms(ss_id TEXT NOT NULL COLLATE NOCASE, instance INTEGER NOT NULL,"
    " vm_uuid TEXT NOT NULL, computer_name TEXT NOT NULL, private_ip TEXT NOT NULL,"
    " subnet_id TEXT NOT NULL, host_ip TEXT NOT NULL, created TEXT NOT NULL,"
    " PRIMARY KEY(ss_id, instance));",
};

/* What az 2.45's 2020-09-01-hybrid profile sends (2020-06-01, SKUs
 * 2019-04-01) up to what Debian's azure-mgmt-compute defaults to. */
const char *const compute_api_versions[] = {
    "2024-03-01", "2023-09-01", "2023-07-01", "2023-03-01", "2022-11-01", "2022-08-01",
    "2022-03-01", "2021-11-01", "2021-07-01", "2021-04-01", "2021-03-01", "2020-12-01",
    "2020-06-01", "2019-12-01", "2019-07-01", "2019-04-01", "2019-03-01", "2018-10-01",
    "2018-06-01", "2018-04-01", "2017-12-01", "2017-03-30", NULL};

/* A scale set's network interfaces are Microsoft.Network's API under
 * Microsoft.Compute's path: they take its api-versions (az's hybrid profile
 * sends 2016-03-30). */
static const char *const compute_vmss_nic_api_versions[] = {
    "2023-09-01", "2023-05-01", "2022-11-01", "2022-07-01", "2022-05-01", "2022-01-01",
    "2021-08-01", "2021-05-01", "2021-03-01", "2021-02-01", "2020-11-01", "2020-08-01",
    "2020-07-01", "2020-06-01", "2020-05-01", "2020-04-01", "2020-03-01", "2019-12-01",
    "2019-11-01", "2019-09-01", "2019-08-01", "2019-07-01", "2019-06-01", "2019-04-01",
    "2019-02-01", "2018-12-01", "2018-11-01", "2018-10-01", "2018-08-01", "2018-07-01",
    "2018-06-01", "2018-04-01", "2018-02-01", "2018-01-01", "2017-11-01", "2017-10-01",
    "2017-09-01", "2017-08-01", "2017-06-01", "2017-03-30", "2017-03-01", "2016-12-01",
    "2016-09-01", "2016-06-01", "2016-03-30", "2015-06-15", NULL};

static const resource_type compute_resource_types[] = {
    {.type = "Microsoft.Compute/locations", .api_versions = compute_api_versions},
    {.type = "Microsoft.Compute/skus", .api_versions = compute_api_versions},
    {.type = "Microsoft.Compute/virtualMachines",
     .api_versions = compute_api_versions,
     .generic = &compute_vm_type},
    {.type = "Microsoft.Compute/virtualMachineScaleSets",
     .api_versions = compute_api_versions,
     .generic = &compute_vmss_type},
    {.type = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
     .api_versions = compute_api_versions},
    {.type = "Microsoft.Compute/virtualMachineScaleSets/networkInterfaces",
     .api_versions = compute_vmss_nic_api_versions},
    {.type = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces",
     .api_versions = compute_vmss_nic_api_versions},
    {.type = NULL},
};

static int compute_init(srv *s) {
  compute_state *c = calloc(1, sizeof *c);
  if (!c) return -1;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  c->files[0] = strdup(COMPUTE_CA_INSIDE);
  c->files[1] = srv_path(s, "pki/ca.pem");
  c->exec_fd = -1;
  *srv_provider_state(s, &compute_provider) = c;
  char why[256];
  rt_set_hidden_dir(s->data_dir_abs);
  if (s->serving) {
    if (!rt_available(why, sizeof why))
      log_warn("compute: VMs cannot run on this host: %s", why);
    else
      rt_cleanup_stale();
    compute_vm_recover(s);
    compute_vmss_recover(s);
    if (compute_imds_exec_start(s) != 0)
      log_warn("compute: IMDS for `azlite exec --identity` is not available");
  }
  return 0;
}

static void compute_tick(srv *s, int64_t now_ms) {
  compute_spot_tick(s, now_ms);
  compute_imds_tick(s, now_ms);
  compute_vm_meter_roll(s, now_ms);
}

static void compute_fini(srv *s) {
  compute_state *c = *srv_provider_state(s, &compute_provider);
  if (!c) return;
  /* ARM's fini, before this one, waited for every long-running operation. */
  compute_imds_exec_stop(s);
  compute_vm_stop_all(s);
  compute_vm_free_all(s);
  compute_imds_free_all(s);
  free(c->files[0]);
  free(c->files[1]);
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
  *srv_provider_state(s, &compute_provider) = NULL;
}

const provider compute_provider = {
    .init = compute_init,
    .tick = compute_tick,
    .fini = compute_fini,
    .name = "Microsoft.Compute",
    .routes = compute_routes,
    .nroutes = (int)(sizeof compute_routes / sizeof compute_routes[0]) - 1,
    .schema = {compute_schema_scripts,
               (int)(sizeof compute_schema_scripts / sizeof compute_schema_scripts[0])},
    .resource_types = compute_resource_types,
};
