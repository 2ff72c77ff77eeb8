/* compute.h: what other providers may ask of Microsoft.Compute: the catalog
 * of VM sizes (an ML cluster's vmSize, its vCPUs, memory and GPUs), quotas,
 * and the prices of its sizes, for cost management (src/cost/). */
#ifndef AZLITE_COMPUTE_H
#define AZLITE_COMPUTE_H

#include "../core/core.h"

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

/* Quotas.  Checks that `count` more instances of `size` in `location` (spot:
 * Spot/low priority, counted against lowPriorityCores instead of the regional
 * and family vCPUs, as Azure does) fit the subscription's quotas, not
 * counting what the resource exclude_id (may be NULL) uses now (a resize or
 * a scale-set capacity change).  Fails r as Azure does (409
 * OperationNotAllowed, "... exceeding approved standardNCSv3Family Cores
 * quota ...") and returns -1; 0 when it fits. */
int compute_quota_check(http_req *r, const char *location, const char *size, int count, int spot,
                        const char *exclude_id);

/* The i-th VM size (from 0) and its pay-as-you-go Linux price per hour (USD,
 * sizes.c names the source); 0, or -1 past the last. */
int compute_size_price(int i, const char **name, double *payg);

/* The spot price per hour of size in location at at_ms of azlite's clock
 * (spot.c: a pinned price, or the day's curve); -1 for an unknown size or
 * location. */
double compute_spot_price_at(srv *s, const char *location, const char *size, int64_t at_ms);

/* Running VMs record their hours through usage_record() (core.h) with the
 * meter "Microsoft.Compute/virtualMachines/<size>/<priority>" (priority
 * Regular, Spot or Low), one event per clock hour while they run. */

#endif
