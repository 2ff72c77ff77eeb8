/* internal.h: what the files of Microsoft.Compute share: the catalog
 * (catalog.c, sizes.c: sizes, SKUs, images, quotas), virtual machines (vm.c),
 * scale sets (vmss.c).  Route handlers are listed in provider.c's table. */
#ifndef AZLITE_COMPUTE_INTERNAL_H
#define AZLITE_COMPUTE_INTERNAL_H

#include <pthread.h>

#include "../arm/arm.h"
#include "../core/core.h"
#include "compute.h"
#include "errors.h"

extern const provider compute_provider;
/* The api-versions every Microsoft.Compute type takes (provider.c). */
extern const char *const compute_api_versions[];

/* ---- the catalog (sizes.c, catalog.c) ---------------------------------- */

/* The sizes (compute_size, compute_size_find, ...) are in compute.h. */
/* The i-th quota family (NULL past the last); *localized: its usages name. */
const char *compute_family_at(int i, const char **localized);

/* Platform images.  Resolves publisher:offer:sku:version (case-insensitive;
 * version "latest": the newest) to the exact version, written to
 * exact_version_out; 0, or -1 when no such image.  azlite runs every VM on
 * the host's root file system whatever the image names: the image is only
 * recorded (and a Windows one refused by the VM code). */
int compute_image_resolve(const char *publisher, const char *offer, const char *sku,
                          const char *version, char *exact_version_out, size_t n);
/* 1 when the image (publisher, offer, sku; any version) is a Linux one, 0
 * when Windows or unknown. */
int compute_image_is_linux(const char *publisher, const char *offer, const char *sku);

/* compute_quota_check is in compute.h. */

/* Route handlers (provider.c's table). */
void compute_vm_sizes(http_req *r);
void compute_skus(http_req *r);
void compute_usages(http_req *r);
void compute_image_publishers(http_req *r);
void compute_image_offers(http_req *r);
void compute_image_skus(http_req *r);
void compute_image_versions(http_req *r);
void compute_image_version_get(http_req *r);
void compute_image_alias_doc(http_req *r);
void compute_quota_put(http_req *r);

/* ---- virtual machines (vm.c) and what runs inside them (imds.c) -------- */

/* Where a sandbox finds azlite's CA (copied in at every boot). */
#define COMPUTE_CA_INSIDE "/etc/azlite/ca.pem"

struct vm_live;
/* The provider's state (srv_provider_state). */
typedef struct compute_state {
  pthread_mutex_t mu;    /* guards vms and keys */
  struct vm_live *vms;   /* every VM booted since start, never freed before fini */
  char *files[3];        /* COMPUTE_CA_INSIDE and the host's CA, for rt_spec.files */
  struct imds_key *keys; /* the address naming each sandbox to IMDS */
  int next_key;
  pthread_cond_t cv; /* signalled when recovering drops to 0 */
  int recovering;    /* 1 while the start's boots run (compute_vm_recover) */
  int stopping;      /* set by compute_vm_stop_all */
  /* IMDS for `azlite exec --identity` (imds.c): <data>/exec/imds.sock. */
  int exec_fd; /* listening socket, -1: none */
  pthread_t exec_thread;
} compute_state;

/* What a VM or a scale-set instance boots from, keyed by its id (vm.c reads
 * a VM's body, vmss.c an instance's scale set). */
#define COMPUTE_MAX_FORWARDS 4
typedef struct compute_instance_spec {
  char sandbox[64];  /* the sandbox's name: "vm-<vmId>" */
  char hostname[80]; /* its computer name */
  char size[64];     /* "Standard_B1s" */
  char priority[16]; /* "Regular", "Spot", "Low" */
  char location[32];
  char admin_user[80];                       /* "" : none */
  char ssh_key[16384];                       /* the admin's key, "" : none */
  char identity_id[512];                     /* whose managed identities its processes get */
  char forward_ip[COMPUTE_MAX_FORWARDS][64]; /* host addresses whose port 22 reaches it */
  int nforward;
} compute_instance_spec;
/* Fills what a VM's body and a scale set's model say alike: priority,
 * location, the admin and every ssh key (from profile: a VM's properties or
 * a scale set's virtualMachineProfile), whose identities it gets. */
void compute_spec_fill(compute_instance_spec *out, json_t *body, json_t *profile,
                       const char *identity_id);

/* VMs and scale-set instances share compute_vms (keyed by their resource id,
 * an instance's ".../virtualMachineScaleSets/ss/virtualMachines/3"), the
 * live sandboxes and the meters; these run either. */
int compute_vm_row(srv *s, const char *id, char power[24], char disk[512]);
void compute_vm_set_power(srv *s, const char *id, const char *power);
/* Inside the caller's transaction: a compute_vms row, power "starting", its
 * disk <data>/compute/vms/<vm_uuid>. */
int compute_vm_row_add(srv *s, const char *id, const char *vm_uuid);
/* Inside the caller's transaction: the row and open meter go; once it
 * commits, the sandbox stops and its disk is removed.  0 or -1. */
int compute_vm_forget(srv *s, const char *id);
enum compute_power_op {
  COMPUTE_START,
  COMPUTE_POWER_OFF,
  COMPUTE_DEALLOCATE,
  COMPUTE_RESTART,
  COMPUTE_REDEPLOY
};
/* Does op now (the calling thread waits); 0, or -1 with why in err. */
int compute_vm_power_do(srv *s, const char *id, enum compute_power_op op, char *err, size_t n);
/* Answers r: a long-running op on the VM (name: for messages). */
void compute_vm_power_request(http_req *r, const char *id, const char *name,
                              enum compute_power_op op);
/* Answers r: runCommand (its body) inside the VM. */
void compute_vm_run_command_on(http_req *r, const char *id, const char *name);
json_t *compute_instance_view(srv *s, const char *id, const char *provisioning_state,
                              const char *computer_name, const char *size, const char *disk_name);
/* vm_build's checks, shared with scale sets' virtualMachineProfile. */
int compute_is_spot(const char *priority);
int compute_computer_name_valid(const char *name);
int compute_admin_name_check(http_req *r, const char *user);
int compute_image_check(http_req *r, json_t *storage_profile);
/* An osProfile's admin and Linux configuration (ssh keys or a password, which
 * is dropped: Azure never answers it back), completed with Azure's defaults.
 * Fails r and returns -1. */
int compute_linux_profile_check(http_req *r, json_t *os_profile);
int compute_priority_build(http_req *r, json_t *props, const compute_size *z);

extern const struct arm_type compute_vm_type;
json_t *compute_vm_instance_view(srv *s, json_t *body);
void compute_vm_get_instance_view(http_req *r);
void compute_vm_start(http_req *r);
void compute_vm_power_off(http_req *r);
void compute_vm_deallocate(http_req *r);
void compute_vm_restart(http_req *r);
void compute_vm_redeploy(http_req *r);
void compute_vm_run_command(http_req *r);
void compute_vm_simulate_eviction(http_req *r);
void compute_vm_evict(srv *s, const char *id);
void compute_imds_tick(srv *s, int64_t now_ms);
/* spot.c: spot prices (they move on azlite's clock) and price evictions. */
int64_t compute_spot_notice_ms(void);
double compute_spot_price(srv *s, const char *loc, const compute_size *z);
/* The same at a time of the clock (a pinned price holds at every time). */
double compute_spot_price_at_(srv *s, const char *loc, const compute_size *z, int64_t at_ms);
/* Records running VMs' usage up to the last whole clock hour (vm.c; the tick). */
void compute_vm_meter_roll(srv *s, int64_t now_ms);
void compute_spot_price_get(http_req *r);
void compute_spot_price_put(http_req *r);
void compute_spot_tick(srv *s, int64_t now_ms);
void compute_vm_recover(srv *s);
void compute_vm_stop_all(srv *s);
void compute_vm_free_all(srv *s);
void compute_imds_free_all(srv *s);
/* IMDS for processes under `azlite exec --identity` (imds.c). */
int compute_imds_exec_start(srv *s);
void compute_imds_exec_stop(srv *s);
char **compute_sandbox_env(srv *s, const char *id);
const char *const *compute_sandbox_files(srv *s);

struct rt_sandbox;
/* imds.c: what a running VM or scale-set instance reaches of azlite, served
 * on listening sockets inside its sandbox: the Instance Metadata Service at
 * 169.254.169.254:80 for *that* VM (vm_id: its resource id; its tokens are its
 * own managed identities'), and azlite's own endpoints at the same URLs as on
 * the host (127.0.0.1 on the management and blob ports).  0 on success. */
int compute_vm_serve_inside(srv *s, struct rt_sandbox *sb, const char *vm_id);
/* The VM's sandbox stopped: IMDS no longer answers for its address. */
void compute_imds_forget(srv *s, const char *vm_id);
/* IMDS's routes (LISTEN_IMDS). */
void compute_imds_token(http_req *r);
void compute_imds_instance(http_req *r);
void compute_imds_scheduled_events(http_req *r);
/* Spot eviction notices (a Preempt event) IMDS shows for a VM: adds one that
 * ends at not_before_ms (azlite's clock); the tick evicts it then. */
void compute_imds_add_preempt(srv *s, const char *vm_id, int64_t not_before_ms);

/* ---- scale sets (vmss.c) --------------------------------------------- */

extern const struct arm_type compute_vmss_type;
/* 1 when id names a scale-set instance (".../virtualMachines/<n>" under a
 * scale set). */
int compute_vmss_is_instance(const char *id);
/* The instance's boot spec; 0, or -1 when it is gone. */
int compute_vmss_instance_spec(srv *s, const char *id, compute_instance_spec *out);
/* The instance as GET answers it (new reference), or NULL when gone. */
json_t *compute_vmss_vm_body(srv *s, const char *id);
void compute_vmss_vm_list(http_req *r);
void compute_vmss_vm_get(http_req *r);
void compute_vmss_vm_instance_view(http_req *r);
void compute_vmss_vm_delete(http_req *r);
void compute_vmss_vm_start(http_req *r);
void compute_vmss_vm_power_off(http_req *r);
void compute_vmss_vm_deallocate(http_req *r);
void compute_vmss_vm_restart(http_req *r);
void compute_vmss_vm_run_command(http_req *r);
void compute_vmss_vm_nics(http_req *r);
void compute_vmss_nics(http_req *r);
void compute_vmss_start(http_req *r);
void compute_vmss_power_off(http_req *r);
void compute_vmss_deallocate(http_req *r);
void compute_vmss_restart(http_req *r);
void compute_vmss_delete_instances(http_req *r);
void compute_vmss_instance_view(http_req *r);
void compute_vmss_manual_upgrade(http_req *r);
void compute_vmss_recover(srv *s);

#endif
