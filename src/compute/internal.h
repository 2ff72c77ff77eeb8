/* internal.h: what the files of Microsoft.Compute share: the catalog
 * (catalog.c, sizes.c: sizes, SKUs, images, quotas), virtual machines (vm.c),
 * scale sets (vmss.c).  Route handlers are listed in provider.c's table. */
#ifndef AZLITE_COMPUTE_INTERNAL_H
#define AZLITE_COMPUTE_INTERNAL_H

#include "../arm/arm.h"
#include "../core/core.h"
#include "errors.h"

extern const provider compute_provider;
/* The api-versions every Microsoft.Compute type takes (provider.c). */
extern const char *const compute_api_versions[];

/* ---- the catalog (sizes.c, catalog.c) ---------------------------------- */

/* A VM size as Azure documents it (sizes.c says where each figure comes from). */
typedef struct compute_size {
  const char *name;         /* "Standard_NC6s_v3" */
  int vcpus;                /* numberOfCores */
  int memory_mb;            /* memoryInMB */
  int max_data_disks;       /* maxDataDiskCount */
  int os_disk_mb;           /* osDiskSizeInMB: 1047552 for all */
  int resource_disk_mb;     /* resourceDiskSizeInMB (temp disk); 0: none */
  const char *family;       /* quota family: "standardNCSv3Family" */
  const char *gpu_model;    /* "V100", "T4", "A100", "A10", "M60"; NULL: no GPU */
  int gpus;                 /* GPUs (with gpu_share > 1: the one GPU shared) */
  int gpu_share;            /* 1: whole GPUs; n: 1/n of one GPU (NV6ads_A10_v5: 6) */
  int low_priority_capable; /* Spot / low priority allowed (B-series: 0) */
  int premium_io;           /* premium SSD */
  int accelerated_networking;
  const char *hyperv_generations; /* "V1,V2" or "V2" */
  double price_per_hour;          /* pay-as-you-go Linux list price, eastus, USD */
} compute_size;

/* The size named (case-insensitive), or NULL. */
const compute_size *compute_size_find(const char *name);
int compute_size_count(void);
const compute_size *compute_size_at(int i); /* NULL out of range */
/* Why the size cannot be used in the location ("NotAvailableForSubscription",
 * as /skus shows in its restrictions), or NULL when it can. */
const char *compute_size_restriction(const compute_size *sz, const char *location);
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

/* Quotas.  Checks that `count` more instances of `size` in `location` (spot:
 * Spot/low priority, counted against lowPriorityCores instead of the regional
 * and family vCPUs, as Azure does) fit the subscription's quotas, not
 * counting what the resource exclude_id (may be NULL) uses now (a resize or
 * a scale-set capacity change).  Fails r as Azure does (409
 * OperationNotAllowed, "... exceeding approved standardNCSv3Family Cores
 * quota ...") and returns -1; 0 when it fits. */
int compute_quota_check(http_req *r, const char *location, const char *size, int count, int spot,
                        const char *exclude_id);

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

struct rt_sandbox;
/* imds.c: what a running VM or scale-set instance reaches of azlite, served
 * on listening sockets inside its sandbox: the Instance Metadata Service at
 * 169.254.169.254:80 for *that* VM (vm_id: its resource id; its tokens are its
 * own managed identities'), and azlite's own endpoints at the same URLs as on
 * the host (127.0.0.1 on the management and blob ports).  0 on success. */
int compute_imds_serve(srv *s, struct rt_sandbox *sb, const char *vm_id);

#endif
