/* sizes.c: the VM sizes azlite offers, as data: one row a size, to be checked
 * against Azure's size pages.  Everything that needs a size's facts (vmSizes,
 * resource SKUs, quotas, VM and scale-set creation, cost management, spot)
 * reads them here through compute_size_find() and friends (internal.h).
 *
 * Sources (Microsoft Learn, "Sizes for virtual machines in Azure", one page a
 * series; vCPUs, memory, temp storage, max data disks, GPUs, premium storage,
 * accelerated networking, VM generations):
 *   NCv3 (V100)         https://learn.microsoft.com/azure/virtual-machines/ncv3-series
 *   NCasT4_v3 (T4)      https://learn.microsoft.com/azure/virtual-machines/nct4-v3-series
 *   NC A100 v4          https://learn.microsoft.com/azure/virtual-machines/nc-a100-v4-series
 *   ND A100 v4          https://learn.microsoft.com/azure/virtual-machines/nda100-v4-series
 *   NVadsA10 v5 (A10)   https://learn.microsoft.com/azure/virtual-machines/nva10v5-series
 *   NVv3 (M60)          https://learn.microsoft.com/azure/virtual-machines/nvv3-series
 *   B (burstable)       https://learn.microsoft.com/azure/virtual-machines/sizes-b-series-burstable
 *   Dv3/Dsv3            https://learn.microsoft.com/azure/virtual-machines/dv3-dsv3-series
 *   Dv5/Dsv5            https://learn.microsoft.com/azure/virtual-machines/dv5-dsv5-series
 *   Dasv5               https://learn.microsoft.com/azure/virtual-machines/dasv5-dadsv5-series
 *   DSv2                https://learn.microsoft.com/azure/virtual-machines/dv2-dsv2-series
 *   Esv3                https://learn.microsoft.com/azure/virtual-machines/ev3-esv3-series
 *   Fsv2                https://learn.microsoft.com/azure/virtual-machines/fsv2-series
 * Quota family names are the ones Azure's usages API and quota errors use.
 *
 * Prices: pay-as-you-go Linux list prices per hour in eastus, USD, as the
 * Azure pricing pages (https://azure.microsoft.com/pricing/details/virtual-machines/linux/)
 * and the Retail Prices API (https://prices.azure.com/api/retail/prices) showed
 * them around early 2024.  They are list prices of that date, may be off by
 * now, and are the same in every region here (Azure's vary by region). */
#include <strings.h>

#include "internal.h"

#define GIB 1024           /* memoryInMB and resourceDiskSizeInMB are MiB */
#define OS_DISK_MB 1047552 /* what Azure reports for every size: 1023 GiB */

/* Rows: name, vCPUs, memory (MiB), max data disks, temp disk (MiB), quota
 * family, GPU model, GPUs, GPU share, low priority, premium IO, accelerated
 * networking, Hyper-V generations, price. */
#define SZ(n, cpu, mem, disks, tmp, fam, gm, g, share, lp, pio, an, hv, usd)                       \
  {                                                                                                \
    .name = n, .vcpus = cpu, .memory_mb = (int)((mem)*GIB), .max_data_disks = disks,               \
    .os_disk_mb = OS_DISK_MB, .resource_disk_mb = (tmp)*GIB, .family = fam, .gpu_model = gm,       \
    .gpus = g, .gpu_share = share, .low_priority_capable = lp, .premium_io = pio,                  \
    .accelerated_networking = an, .hyperv_generations = hv, .price_per_hour = usd                  \
  }

static const compute_size compute_sizes[] = {
    /* ---- GPU: NCv3, NVIDIA Tesla V100 16 GB; NC24rs_v3 adds InfiniBand (RDMA). */
    SZ("Standard_NC6s_v3", 6, 112, 12, 736, "standardNCSv3Family", "V100", 1, 1, 1, 1, 0, "V1,V2",
       3.06),
    SZ("Standard_NC12s_v3", 12, 224, 24, 1474, "standardNCSv3Family", "V100", 2, 1, 1, 1, 0,
       "V1,V2", 6.12),
    SZ("Standard_NC24s_v3", 24, 448, 32, 2948, "standardNCSv3Family", "V100", 4, 1, 1, 1, 0,
       "V1,V2", 12.24),
    SZ("Standard_NC24rs_v3", 24, 448, 32, 2948, "standardNCSv3Family", "V100", 4, 1, 1, 1, 0,
       "V1,V2", 13.464),
    /* ---- GPU: NCasT4_v3, NVIDIA Tesla T4 16 GB, AMD EPYC 7V12. */
    SZ("Standard_NC4as_T4_v3", 4, 28, 8, 180, "standardNCASv3_T4Family", "T4", 1, 1, 1, 1, 1,
       "V1,V2", 0.526),
    SZ("Standard_NC8as_T4_v3", 8, 56, 16, 360, "standardNCASv3_T4Family", "T4", 1, 1, 1, 1, 1,
       "V1,V2", 0.752),
    SZ("Standard_NC16as_T4_v3", 16, 110, 32, 360, "standardNCASv3_T4Family", "T4", 1, 1, 1, 1, 1,
       "V1,V2", 1.204),
    SZ("Standard_NC64as_T4_v3", 64, 440, 32, 2880, "standardNCASv3_T4Family", "T4", 4, 1, 1, 1, 1,
       "V1,V2", 4.352),
    /* ---- GPU: NC A100 v4, NVIDIA A100 PCIe 80 GB.  The temp disk is the 64 GiB
     * resource disk; the series' local NVMe (960 GiB a GPU) is separate. */
    SZ("Standard_NC24ads_A100_v4", 24, 220, 12, 64, "StandardNCADSA100v4Family", "A100", 1, 1, 1, 1,
       1, "V2", 3.673),
    SZ("Standard_NC48ads_A100_v4", 48, 440, 24, 128, "StandardNCADSA100v4Family", "A100", 2, 1, 1,
       1, 1, "V2", 7.346),
    SZ("Standard_NC96ads_A100_v4", 96, 880, 32, 256, "StandardNCADSA100v4Family", "A100", 4, 1, 1,
       1, 1, "V2", 14.692),
    /* ---- GPU: ND A100 v4, 8 NVIDIA A100 SXM 40 GB, NVLink and InfiniBand. */
    SZ("Standard_ND96asr_v4", 96, 900, 32, 6000, "standardNDASv4_A100Family", "A100", 8, 1, 1, 1, 1,
       "V2", 27.197),
    /* ---- GPU: NVadsA10 v5, NVIDIA A10 24 GB; the smaller sizes get a share of
     * one GPU (1/6, 1/3): gpus 1, gpu_share 6 or 3. */
    SZ("Standard_NV6ads_A10_v5", 6, 55, 4, 180, "StandardNVADSA10v5Family", "A10", 1, 6, 1, 1, 1,
       "V1,V2", 0.454),
    SZ("Standard_NV12ads_A10_v5", 12, 110, 4, 360, "StandardNVADSA10v5Family", "A10", 1, 3, 1, 1, 1,
       "V1,V2", 0.908),
    SZ("Standard_NV36ads_A10_v5", 36, 440, 16, 720, "StandardNVADSA10v5Family", "A10", 1, 1, 1, 1,
       1, "V1,V2", 3.20),
    /* ---- GPU: NVv3, NVIDIA Tesla M60 (half a board: one GPU). */
    SZ("Standard_NV12s_v3", 12, 112, 12, 320, "standardNVSv3Family", "M60", 1, 1, 1, 1, 1, "V1,V2",
       1.14),
    /* ---- General purpose: B (burstable): no Spot/low priority. */
    SZ("Standard_B1s", 1, 1, 2, 4, "standardBSFamily", NULL, 0, 1, 0, 1, 0, "V1,V2", 0.0104),
    SZ("Standard_B1ms", 1, 2, 2, 4, "standardBSFamily", NULL, 0, 1, 0, 1, 0, "V1,V2", 0.0207),
    SZ("Standard_B2s", 2, 4, 4, 8, "standardBSFamily", NULL, 0, 1, 0, 1, 0, "V1,V2", 0.0416),
    SZ("Standard_B2ms", 2, 8, 4, 16, "standardBSFamily", NULL, 0, 1, 0, 1, 0, "V1,V2", 0.0832),
    SZ("Standard_B4ms", 4, 16, 8, 32, "standardBSFamily", NULL, 0, 1, 0, 1, 0, "V1,V2", 0.166),
    /* ---- General purpose: Dsv3. */
    SZ("Standard_D2s_v3", 2, 8, 4, 16, "standardDSv3Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.096),
    SZ("Standard_D4s_v3", 4, 16, 8, 32, "standardDSv3Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.192),
    SZ("Standard_D8s_v3", 8, 32, 16, 64, "standardDSv3Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.384),
    SZ("Standard_D16s_v3", 16, 64, 32, 128, "standardDSv3Family", NULL, 0, 1, 1, 1, 1, "V1,V2",
       0.768),
    /* ---- General purpose: Dsv5 and Dasv5 (no temp disk). */
    SZ("Standard_D2s_v5", 2, 8, 4, 0, "standardDSv5Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.096),
    SZ("Standard_D4s_v5", 4, 16, 8, 0, "standardDSv5Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.192),
    SZ("Standard_D2as_v5", 2, 8, 4, 0, "standardDASv5Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.086),
    /* ---- General purpose: DSv2 (accelerated networking from 2 vCPUs). */
    SZ("Standard_DS1_v2", 1, 3.5, 4, 7, "standardDSv2Family", NULL, 0, 1, 1, 1, 0, "V1,V2", 0.073),
    SZ("Standard_DS2_v2", 2, 7, 8, 14, "standardDSv2Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.146),
    SZ("Standard_DS3_v2", 4, 14, 16, 28, "standardDSv2Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.293),
    /* ---- Memory optimized: Esv3. */
    SZ("Standard_E2s_v3", 2, 16, 4, 32, "standardESv3Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.126),
    SZ("Standard_E4s_v3", 4, 32, 8, 64, "standardESv3Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.252),
    SZ("Standard_E8s_v3", 8, 64, 16, 128, "standardESv3Family", NULL, 0, 1, 1, 1, 1, "V1,V2",
       0.504),
    /* ---- Compute optimized: Fsv2. */
    SZ("Standard_F2s_v2", 2, 4, 4, 16, "standardFSv2Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.0846),
    SZ("Standard_F4s_v2", 4, 8, 8, 32, "standardFSv2Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.169),
    SZ("Standard_F8s_v2", 8, 16, 16, 64, "standardFSv2Family", NULL, 0, 1, 1, 1, 1, "V1,V2", 0.338),
    /* ---- General purpose: Dv3 (standard storage only: no premium IO). */
    SZ("Standard_D2_v3", 2, 8, 4, 50, "standardDv3Family", NULL, 0, 1, 1, 0, 1, "V1,V2", 0.096),
    SZ("Standard_D4_v3", 4, 16, 8, 100, "standardDv3Family", NULL, 0, 1, 1, 0, 1, "V1,V2", 0.192),
};

#define NSIZES ((int)(sizeof compute_sizes / sizeof compute_sizes[0]))

int compute_size_count(void) {
  return NSIZES;
}

const compute_size *compute_size_at(int i) {
  return i >= 0 && i < NSIZES ? &compute_sizes[i] : NULL;
}

const compute_size *compute_size_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < NSIZES; i++)
    if (strcasecmp(compute_sizes[i].name, name) == 0) return &compute_sizes[i];
  return NULL;
}

/* The quota families the sizes use, with the name Azure's usages API shows
 * (localizedValue), in the order usages lists them. */
static const struct {
  const char *family, *localized;
} compute_families[] = {
    {"standardNCSv3Family", "Standard NCSv3 Family vCPUs"},
    {"standardNCASv3_T4Family", "Standard NCASv3_T4 Family vCPUs"},
    {"StandardNCADSA100v4Family", "Standard NCADS_A100_v4 Family vCPUs"},
    {"standardNDASv4_A100Family", "Standard NDASv4_A100 Family vCPUs"},
    {"StandardNVADSA10v5Family", "Standard NVADSA10v5 Family vCPUs"},
    {"standardNVSv3Family", "Standard NVSv3 Family vCPUs"},
    {"standardBSFamily", "Standard BS Family vCPUs"},
    {"standardDSv3Family", "Standard DSv3 Family vCPUs"},
    {"standardDSv5Family", "Standard DSv5 Family vCPUs"},
    {"standardDASv5Family", "Standard DASv5 Family vCPUs"},
    {"standardDSv2Family", "Standard DSv2 Family vCPUs"},
    {"standardESv3Family", "Standard ESv3 Family vCPUs"},
    {"standardFSv2Family", "Standard FSv2 Family vCPUs"},
    {"standardDv3Family", "Standard Dv3 Family vCPUs"},
};

const char *compute_family_at(int i, const char **localized) {
  if (i < 0 || (size_t)i >= sizeof compute_families / sizeof compute_families[0]) return NULL;
  if (localized) *localized = compute_families[i].localized;
  return compute_families[i].family;
}
