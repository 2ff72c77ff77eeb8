/* catalog.c: what Microsoft.Compute offers before anything is created: VM
 * sizes (locations/{l}/vmSizes), resource SKUs (/skus), platform images (the
 * locations/{l}/publishers/... tree, and the alias document az fetches), and
 * quotas (locations/{l}/usages, with limits set through the admin API and
 * checked by VM and scale-set creation: compute_quota_check()).
 *
 * The sizes themselves are data in sizes.c.  Images are a catalog only: a
 * VM runs on the host's root file system whatever image it names; the image
 * reference is recorded, and a Windows image is refused by the VM code. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define SUB_PREFIX "/subscriptions/"

/* Fails r as ARM does for a location the type is not offered in (Azure
 * answers 400 NoRegisteredProviderFound, naming the versions and locations);
 * else writes the canonical name and returns 0. */
static int catalog_location(http_req *r, const char *type, char out[32]) {
  const char *loc = http_param(r, "location");
  if (loc && arm_location_normalize(loc, out)) return 0;
  char vers[1024] = "", locs[1024] = "";
  for (int i = 0; compute_api_versions[i]; i++)
    snprintf(vers + strlen(vers), sizeof vers - strlen(vers), "%s%s", i ? ", " : "",
             compute_api_versions[i]);
  for (int i = 0; arm_location_at(i); i++)
    snprintf(locs + strlen(locs), sizeof locs - strlen(locs), "%s%s", i ? ", " : "",
             arm_location_at(i));
  http_fail(r, ARM_ERR_NO_REGISTERED_PROVIDER_FOUND,
            "No registered resource provider found for location '%s' and API version '%s' for "
            "type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
            loc ? loc : "", http_query_get(r, "api-version"), type, vers, locs);
  return -1;
}

/* ---- sizes ------------------------------------------------------------------ */

const char *compute_size_restriction(const compute_size *sz, const char *location) {
  /* One restriction, to show its shape in /skus (and so VM creation has one
   * to refuse): the RDMA V100 size is not offered to the subscription in West
   * US, as Azure answers for sizes a subscription has no access to. */
  if (sz && !strcasecmp(sz->name, "Standard_NC24rs_v3") && !strcasecmp(location, "westus"))
    return "NotAvailableForSubscription";
  return NULL;
}

/* GET .../locations/{location}/vmSizes */
void compute_vm_sizes(http_req *r) {
  char loc[32];
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  if (catalog_location(r, "locations/vmSizes", loc) != 0) return;
  json_t *list = json_array();
  for (int i = 0; i < compute_size_count(); i++) {
    const compute_size *z = compute_size_at(i);
    json_array_append_new(list,
                          json_pack("{s:s,s:i,s:i,s:i,s:i,s:i}", "name", z->name, "numberOfCores",
                                    z->vcpus, "osDiskSizeInMB", z->os_disk_mb,
                                    "resourceDiskSizeInMB", z->resource_disk_mb, "memoryInMB",
                                    z->memory_mb, "maxDataDiskCount", z->max_data_disks));
  }
  arm_reply_list(r, list);
}

/* Regions without availability zones (as in Azure); the others have 1-3. */
static int catalog_has_zones(const char *loc) {
  static const char *const none[] = {"westus", "northcentralus", "westcentralus", NULL};
  for (int i = 0; none[i]; i++)
    if (!strcmp(loc, none[i])) return 0;
  return 1;
}

static void catalog_cap(json_t *caps, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void catalog_cap(json_t *caps, const char *name, const char *fmt, ...) {
  char v[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v, sizeof v, fmt, ap);
  va_end(ap);
  json_array_append_new(caps, json_pack("{s:s,s:s}", "name", name, "value", v));
}

/* One resource SKU entry: a size in one location, as /skus lists them. */
static json_t *catalog_sku(const compute_size *z, const char *loc) {
  json_t *caps = json_array();
  catalog_cap(caps, "MaxResourceVolumeMB", "%d", z->resource_disk_mb);
  catalog_cap(caps, "OSVhdSizeMB", "%d", z->os_disk_mb);
  catalog_cap(caps, "vCPUs", "%d", z->vcpus);
  catalog_cap(caps, "MemoryPreservingMaintenanceSupported", "True");
  catalog_cap(caps, "HyperVGenerations", "%s", z->hyperv_generations);
  catalog_cap(caps, "MemoryGB", "%g", z->memory_mb / 1024.0);
  catalog_cap(caps, "MaxDataDiskCount", "%d", z->max_data_disks);
  catalog_cap(caps, "CpuArchitectureType", "x64");
  catalog_cap(caps, "LowPriorityCapable", "%s", z->low_priority_capable ? "True" : "False");
  catalog_cap(caps, "PremiumIO", "%s", z->premium_io ? "True" : "False");
  catalog_cap(caps, "VMDeploymentTypes", "IaaS");
  catalog_cap(caps, "vCPUsAvailable", "%d", z->vcpus);
  catalog_cap(caps, "vCPUsPerCore", "%d", z->vcpus > 1 ? 2 : 1);
  catalog_cap(caps, "EphemeralOSDiskSupported", "%s", z->resource_disk_mb ? "True" : "False");
  catalog_cap(caps, "EncryptionAtHostSupported", "True");
  catalog_cap(caps, "AcceleratedNetworkingEnabled", "%s",
              z->accelerated_networking ? "True" : "False");
  catalog_cap(caps, "RdmaEnabled", "%s", strstr(z->name, "rs_v") ? "True" : "False");
  catalog_cap(caps, "MaxNetworkInterfaces", "%d", z->vcpus >= 8 ? 8 : z->vcpus >= 4 ? 4 : 2);
  if (z->gpu_model) catalog_cap(caps, "GPUs", "%d", z->gpus);
  json_t *zones = json_array();
  if (catalog_has_zones(loc))
    for (int k = 1; k <= 3; k++)
      json_array_append_new(zones, json_sprintf("%d", k));
  json_t *restrictions = json_array();
  const char *why = compute_size_restriction(z, loc);
  if (why)
    json_array_append_new(restrictions,
                          json_pack("{s:s,s:[s],s:{s:[s]},s:s}", "type", "Location", "values", loc,
                                    "restrictionInfo", "locations", loc, "reasonCode", why));
  /* "size" is the name without its tier: Standard_NC6s_v3 -> NC6s_v3. */
  const char *size = strchr(z->name, '_') ? strchr(z->name, '_') + 1 : z->name;
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s],s:[{s:s,s:o,s:[]}],s:o,s:o}", "resourceType",
                   "virtualMachines", "name", z->name, "tier", "Standard", "size", size, "family",
                   z->family, "locations", loc, "locationInfo", "location", loc, "zones", zones,
                   "zoneDetails", "capabilities", caps, "restrictions", restrictions);
}

/* The location of a $filter "location eq 'eastus'" (Azure's only filter on
 * /skus); 1 with out set, 0 without a filter, -1 (r failed) for another. */
static int catalog_sku_filter(http_req *r, char *out, size_t n) {
  const char *f = http_query_get(r, "$filter");
  if (!f || !*f) return 0;
  while (isspace((unsigned char)*f))
    f++;
  const char *q = NULL;
  if (!strncasecmp(f, "location", 8)) {
    q = f + 8;
    while (isspace((unsigned char)*q))
      q++;
    if (strncasecmp(q, "eq", 2) == 0 && isspace((unsigned char)q[2])) {
      q += 2;
      while (isspace((unsigned char)*q))
        q++;
    } else
      q = NULL;
  }
  const char *end = q && *q == '\'' ? strchr(q + 1, '\'') : NULL;
  if (!end || (size_t)(end - q - 1) >= n || end[1 + strspn(end + 1, " ")]) {
    http_fail(r, ARM_ERR_INVALID_FILTER_IN_QUERY_STRING,
              "The $filter '%s' is not supported: only \"location eq '<location>'\" is.", f);
    return -1;
  }
  snprintf(out, n, "%.*s", (int)(end - q - 1), q + 1);
  return 1;
}

/* GET /subscriptions/{sub}/providers/Microsoft.Compute/skus: one entry per
 * size and location, every size in every location azlite knows. */
void compute_skus(http_req *r) {
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  char want[64] = "", canon[32] = "";
  int filtered = catalog_sku_filter(r, want, sizeof want);
  if (filtered < 0) return;
  json_t *list = json_array();
  if (filtered && !arm_location_normalize(want, canon)) {
    arm_reply_list(r, list); /* an unknown location offers nothing */
    return;
  }
  for (int l = 0; arm_location_at(l); l++) {
    const char *loc = arm_location_at(l);
    if (filtered && strcmp(loc, canon)) continue;
    for (int i = 0; i < compute_size_count(); i++)
      json_array_append_new(list, catalog_sku(compute_size_at(i), loc));
  }
  arm_reply_list(r, list);
}

/* ---- images ----------------------------------------------------------------- */

#define IMG_MAX_VERSIONS 4

/* A platform image sku with its versions, oldest first (the last: "latest"). */
typedef struct catalog_image {
  const char *publisher, *offer, *sku;
  int linux_os;
  const char *hyperv; /* "V1" or "V2" */
  const char *versions[IMG_MAX_VERSIONS + 1];
} catalog_image;

#define UBU18                                                                                      \
  { "18.04.202306070", "18.04.202401161" }
#define UBU20                                                                                      \
  { "20.04.202312080", "20.04.202402290" }
#define UBU22                                                                                      \
  { "22.04.202401090", "22.04.202402070", "22.04.202403050" }
#define DEB10                                                                                      \
  { "0.20231004.1523", "0.20240211.1654" }
#define DEB11                                                                                      \
  { "0.20231013.1532", "0.20240211.1654" }
#define WS2022                                                                                     \
  { "20348.2113.231109", "20348.2227.240104" }
#define WS2019                                                                                     \
  { "17763.5122.231109", "17763.5329.240105" }
#define WS2016                                                                                     \
  { "14393.6452.231109", "14393.6614.240105" }
#define WS2012                                                                                     \
  { "9600.21620.231004", "9600.21721.231109" }

/* Versions as Azure named them around early 2024 (a few per sku, not all). */
static const catalog_image catalog_images[] = {
    {"Canonical", "UbuntuServer", "18.04-LTS", 1, "V1", UBU18},
    {"Canonical", "UbuntuServer", "18_04-lts-gen2", 1, "V2", UBU18},
    {"Canonical", "0001-com-ubuntu-server-focal", "20_04-lts", 1, "V1", UBU20},
    {"Canonical", "0001-com-ubuntu-server-focal", "20_04-lts-gen2", 1, "V2", UBU20},
    {"Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", 1, "V1", UBU22},
    {"Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", 1, "V2", UBU22},
    {"Debian", "debian-10", "10", 1, "V1", DEB10},
    {"Debian", "debian-10", "10-gen2", 1, "V2", DEB10},
    {"Debian", "debian-11", "11", 1, "V1", DEB11},
    {"Debian", "debian-11", "11-gen2", 1, "V2", DEB11},
    {"Debian", "debian-11", "11-backports-gen2", 1, "V2", DEB11},
    {"OpenLogic", "CentOS", "7.5", 1, "V1", {"7.5.201808150"}},
    {"OpenLogic", "CentOS", "8_5-gen2", 1, "V2", {"8.5.2022012100", "8.5.2022101800"}},
    {"RedHat", "RHEL", "7-LVM", 1, "V1", {"7.9.2023032012", "7.9.2024011612"}},
    {"RedHat", "RHEL", "8-lvm-gen2", 1, "V2", {"8.9.2023112310", "8.9.2024011613"}},
    {"SUSE", "sles-15-sp3", "gen2", 1, "V2", {"2023.06.21", "2023.09.21"}},
    {"SUSE", "opensuse-leap-15-3", "gen2", 1, "V2", {"2022.08.11", "2022.11.04"}},
    {"kinvolk", "flatcar-container-linux-free", "stable", 1, "V1", {"3602.2.3", "3760.2.0"}},
    {"kinvolk", "flatcar-container-linux-free", "stable-gen2", 1, "V2", {"3602.2.3", "3760.2.0"}},
    {"MicrosoftWindowsServer", "WindowsServer", "2022-Datacenter", 0, "V1", WS2022},
    {"MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-g2", 0, "V2", WS2022},
    {"MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition-core", 0, "V2",
     WS2022},
    {"MicrosoftWindowsServer", "WindowsServer", "2019-Datacenter", 0, "V1", WS2019},
    {"MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter", 0, "V1", WS2016},
    {"MicrosoftWindowsServer", "WindowsServer", "2012-R2-Datacenter", 0, "V1", WS2012},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2012-Datacenter",
     0,
     "V1",
     {"9200.24569.231109", "9200.24664.240105"}},
    {"MicrosoftWindowsServer",
     "WindowsServer",
     "2008-R2-SP1",
     0,
     "V1",
     {"7601.26769.231109", "7601.26864.240105"}},
};
#define NIMAGES ((int)(sizeof catalog_images / sizeof catalog_images[0]))

/* The aliases az resolves `--image UbuntuLTS` with (the document it loads
 * from the cloud's vmImageAliasDoc endpoint), each naming a catalog image. */
static const struct {
  const char *alias, *publisher, *offer, *sku;
} catalog_aliases[] = {
    {"CentOS", "OpenLogic", "CentOS", "7.5"},
    {"CentOS85Gen2", "OpenLogic", "CentOS", "8_5-gen2"},
    {"Debian", "Debian", "debian-10", "10"},
    {"Debian11", "Debian", "debian-11", "11-backports-gen2"},
    {"FlatcarLinuxFreeGen2", "kinvolk", "flatcar-container-linux-free", "stable-gen2"},
    {"openSUSE-Leap", "SUSE", "opensuse-leap-15-3", "gen2"},
    {"RHEL", "RedHat", "RHEL", "7-LVM"},
    {"SLES", "SUSE", "sles-15-sp3", "gen2"},
    {"UbuntuLTS", "Canonical", "UbuntuServer", "18.04-LTS"},
    {"Ubuntu2204", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"},
    {"Win2022Datacenter", "MicrosoftWindowsServer", "WindowsServer", "2022-Datacenter"},
    {"Win2022AzureEditionCore", "MicrosoftWindowsServer", "WindowsServer",
     "2022-datacenter-azure-edition-core"},
    {"Win2019Datacenter", "MicrosoftWindowsServer", "WindowsServer", "2019-Datacenter"},
    {"Win2016Datacenter", "MicrosoftWindowsServer", "WindowsServer", "2016-Datacenter"},
    {"Win2012R2Datacenter", "MicrosoftWindowsServer", "WindowsServer", "2012-R2-Datacenter"},
    {"Win2012Datacenter", "MicrosoftWindowsServer", "WindowsServer", "2012-Datacenter"},
    {"Win2008R2SP1", "MicrosoftWindowsServer", "WindowsServer", "2008-R2-SP1"},
};

static const catalog_image *catalog_image_find(const char *p, const char *o, const char *s) {
  for (int i = 0; i < NIMAGES; i++) {
    const catalog_image *m = &catalog_images[i];
    if (p && !strcasecmp(m->publisher, p) && o && !strcasecmp(m->offer, o) && s &&
        !strcasecmp(m->sku, s))
      return m;
  }
  return NULL;
}

static int catalog_image_nversions(const catalog_image *m) {
  int n = 0;
  while (n < IMG_MAX_VERSIONS && m->versions[n])
    n++;
  return n;
}

int compute_image_resolve(const char *publisher, const char *offer, const char *sku,
                          const char *version, char *exact_version_out, size_t n) {
  const catalog_image *m = catalog_image_find(publisher, offer, sku);
  if (!m || !version) return -1;
  int nv = catalog_image_nversions(m);
  const char *v = NULL;
  if (!strcasecmp(version, "latest"))
    v = m->versions[nv - 1];
  else
    for (int i = 0; i < nv; i++)
      if (!strcasecmp(m->versions[i], version)) v = m->versions[i];
  if (!v) return -1;
  if (exact_version_out && n) snprintf(exact_version_out, n, "%s", v);
  return 0;
}

int compute_image_is_linux(const char *publisher, const char *offer, const char *sku) {
  const catalog_image *m = catalog_image_find(publisher, offer, sku);
  return m && m->linux_os;
}

/* GET /azlite/vm-image-aliases.json: the document az's `vm image list` and
 * `vm create --image <alias>` read, in the shape of az's local copy
 * (azure/cli/command_modules/vm/_alias.py): a template whose outputs.aliases
 * maps Linux and Windows to alias -> publisher, offer, sku, version. */
void compute_image_alias_doc(http_req *r) {
  json_t *os[2] = {json_object(), json_object()}; /* Windows, Linux */
  for (size_t i = 0; i < sizeof catalog_aliases / sizeof catalog_aliases[0]; i++) {
    const catalog_image *m = catalog_image_find(catalog_aliases[i].publisher,
                                                catalog_aliases[i].offer, catalog_aliases[i].sku);
    json_object_set_new(os[m && m->linux_os], catalog_aliases[i].alias,
                        json_pack("{s:s,s:s,s:s,s:s,s:s}", "publisher",
                                  catalog_aliases[i].publisher, "offer", catalog_aliases[i].offer,
                                  "sku", catalog_aliases[i].sku, "version", "latest",
                                  "architecture", "x64"));
  }
  http_reply_json(
      r, 200,
      json_pack("{s:s,s:s,s:{},s:{},s:[],s:{s:{s:s,s:{s:o,s:o}}}}", "$schema",
                "http://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json",
                "contentVersion", "1.0.0.0", "parameters", "variables", "resources", "outputs",
                "aliases", "type", "object", "value", "Linux", os[1], "Windows", os[0]));
}

/* What Azure answers for any part of an image path it does not know. */
static void catalog_image_not_found(http_req *r) {
  http_fail(r, COMPUTE_ERR_NOT_FOUND, "Artifact: VMImage was not found.");
}

/* A VirtualMachineImageResource: {name, location, id}; the id as Azure spells it. */
static json_t *catalog_image_resource(http_req *r, const char *loc, const char *name,
                                      const char *path) {
  return json_pack("{s:s,s:s,s:o}", "name", name, "location", loc, "id",
                   json_sprintf("/Subscriptions/%s/Providers/Microsoft.Compute/Locations/%s/"
                                "Publishers/%s",
                                http_param(r, "sub"), loc, path));
}

/* The common start of every image route: the subscription and location. */
static int catalog_image_scope(http_req *r, char loc[32]) {
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return -1;
  return catalog_location(r, "locations/publishers", loc);
}

/* Adds name to list unless it is there already (case-insensitive). */
static void catalog_add_unique(json_t *names, const char *name) {
  size_t i;
  json_t *e;
  json_array_foreach(names, i, e) if (!strcasecmp(json_string_value(e), name)) return;
  json_array_append_new(names, json_string(name));
}

/* GET .../publishers, .../offers, .../skus: the distinct names one level down. */
static void catalog_image_names(http_req *r, int level) {
  char loc[32];
  if (catalog_image_scope(r, loc) != 0) return;
  const char *p = http_param(r, "publisher"), *o = http_param(r, "offer");
  json_t *names = json_array(), *canon_p = NULL, *canon_o = NULL;
  for (int i = 0; i < NIMAGES; i++) {
    const catalog_image *m = &catalog_images[i];
    if (level >= 1 && strcasecmp(m->publisher, p)) continue;
    if (level >= 2 && strcasecmp(m->offer, o)) continue;
    if (!canon_p) canon_p = json_string(m->publisher), canon_o = json_string(m->offer);
    catalog_add_unique(names, level == 0 ? m->publisher : level == 1 ? m->offer : m->sku);
  }
  if (level >= 1 && !json_array_size(names)) {
    json_decref(names);
    catalog_image_not_found(r);
    return;
  }
  json_t *list = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(names, i, e) {
    const char *n = json_string_value(e);
    char *path =
        level == 0 ? http_strdup(r, n)
        : level == 1
            ? http_printf(r, "%s/ArtifactTypes/VMImage/Offers/%s", json_string_value(canon_p), n)
            : http_printf(r, "%s/ArtifactTypes/VMImage/Offers/%s/Skus/%s",
                          json_string_value(canon_p), json_string_value(canon_o), n);
    json_array_append_new(list, catalog_image_resource(r, loc, n, path));
  }
  json_decref(names);
  json_decref(canon_p);
  json_decref(canon_o);
  http_reply_json(r, 200, list); /* a bare array, as Azure answers these lists */
}

void compute_image_publishers(http_req *r) {
  catalog_image_names(r, 0);
}
void compute_image_offers(http_req *r) {
  catalog_image_names(r, 1);
}
void compute_image_skus(http_req *r) {
  catalog_image_names(r, 2);
}

static char *catalog_version_path(http_req *r, const catalog_image *m, const char *v) {
  return http_printf(r, "%s/ArtifactTypes/VMImage/Offers/%s/Skus/%s/Versions/%s", m->publisher,
                     m->offer, m->sku, v);
}

/* GET .../skus/{sku}/versions, with $top and $orderby=name [asc|desc]. */
void compute_image_versions(http_req *r) {
  char loc[32];
  if (catalog_image_scope(r, loc) != 0) return;
  const catalog_image *m =
      catalog_image_find(http_param(r, "publisher"), http_param(r, "offer"), http_param(r, "sku"));
  if (!m) {
    catalog_image_not_found(r);
    return;
  }
  const char *top_s = http_query_get(r, "$top"), *order = http_query_get(r, "$orderby");
  int nv = catalog_image_nversions(m), top = nv;
  if (top_s) {
    char *end;
    long t = strtol(top_s, &end, 10);
    if (!*top_s || *end || t < 0) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "The value '%s' of $top is not valid.", top_s);
      return;
    }
    if (t < top) top = (int)t;
  }
  int desc = 0;
  if (order) {
    const char *d = order + strspn(order, " ");
    if (strncasecmp(d, "name", 4) != 0) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
                "The value '%s' of $orderby is not valid: only 'name', 'name asc' and 'name "
                "desc' are.",
                order);
      return;
    }
    d += 4 + strspn(d + 4, " ");
    if (!strncasecmp(d, "desc", 4))
      desc = 1;
    else if (*d && strncasecmp(d, "asc", 3)) {
      http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "The value '%s' of $orderby is not valid.",
                order);
      return;
    }
  }
  json_t *list = json_array();
  for (int k = 0; k < top; k++) {
    const char *v = m->versions[desc ? nv - 1 - k : k];
    json_array_append_new(list, catalog_image_resource(r, loc, v, catalog_version_path(r, m, v)));
  }
  http_reply_json(r, 200, list);
}

/* GET .../versions/{version}: a VirtualMachineImage.  "latest" is not a
 * version here (Azure answers it as unknown: clients list first). */
void compute_image_version_get(http_req *r) {
  char loc[32];
  if (catalog_image_scope(r, loc) != 0) return;
  const catalog_image *m =
      catalog_image_find(http_param(r, "publisher"), http_param(r, "offer"), http_param(r, "sku"));
  const char *want = http_param(r, "version"), *v = NULL;
  for (int i = 0; m && i < catalog_image_nversions(m); i++)
    if (!strcasecmp(m->versions[i], want)) v = m->versions[i];
  if (!v) {
    catalog_image_not_found(r);
    return;
  }
  json_t *img = catalog_image_resource(r, loc, v, catalog_version_path(r, m, v));
  json_object_set_new(img, "properties",
                      json_pack("{s:{s:s,s:i},s:[],s:{s:b},s:s,s:s,s:s,s:{s:s},s:{s:s}}",
                                "osDiskImage", "operatingSystem", m->linux_os ? "Linux" : "Windows",
                                "sizeInGb", m->linux_os ? 30 : 127, "dataDiskImages",
                                "automaticOSUpgradeProperties", "automaticOSUpgradeSupported", 0,
                                "hyperVGeneration", m->hyperv, "architecture", "x64", "replicaType",
                                "Unmanaged", "disallowed", "vmDiskType", "None",
                                "imageDeprecationStatus", "imageState", "Active"));
  http_reply_json(r, 200, img);
}

/* ---- quotas ----------------------------------------------------------------- */

/* Default limits (a new pay-as-you-go subscription's, roughly); the admin API
 * changes them per location: PUT /azlite/compute/quotas/{location}/{name}.
 *
 *   name                      localizedValue                     default
 *   cores                     Total Regional vCPUs               100
 *   virtualMachines           Virtual Machines                   25000
 *   virtualMachineScaleSets   Virtual Machine Scale Sets         2500
 *   lowPriorityCores          Total Regional Low-priority vCPUs  100
 *   <family>                  Standard ... Family vCPUs          48 (GPU families too)
 */
#define QUOTA_FAMILY_DEFAULT 48
static const struct {
  const char *name, *localized;
  int limit;
} catalog_quota_fixed[] = {
    {"cores", "Total Regional vCPUs", 100},
    {"virtualMachines", "Virtual Machines", 25000},
    {"virtualMachineScaleSets", "Virtual Machine Scale Sets", 2500},
    {"lowPriorityCores", "Total Regional Low-priority vCPUs", 100},
};
#define NFIXED ((int)(sizeof catalog_quota_fixed / sizeof catalog_quota_fixed[0]))
#define MAX_FAMILIES 64

/* Quota names in usages order: the fixed ones, then the families; i from 0,
 * NULL past the last.  *def: the default limit. */
static const char *catalog_quota_name(int i, const char **localized, int *def) {
  if (i < NFIXED) {
    if (localized) *localized = catalog_quota_fixed[i].localized;
    if (def) *def = catalog_quota_fixed[i].limit;
    return catalog_quota_fixed[i].name;
  }
  if (def) *def = QUOTA_FAMILY_DEFAULT;
  return compute_family_at(i - NFIXED, localized);
}

/* The limit in force for a quota name in a location. */
static int catalog_quota_limit(srv *s, const char *loc, const char *name, int def) {
  sqlite3_stmt *st;
  int lim = def;
  if (store_prepare(store_db(s),
                    "SELECT lim FROM compute_quotas WHERE location=?1 AND name=?2 COLLATE NOCASE",
                    -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, loc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) lim = sqlite3_column_int(st, 0);
    store_finalize(st);
  }
  return lim;
}

/* What a location's resources use now, indexed as catalog_quota_name. */
typedef struct catalog_usage {
  int used[NFIXED + MAX_FAMILIES];
} catalog_usage;

enum { Q_CORES, Q_VMS, Q_VMSS, Q_LOWPRI };

static int catalog_family_index(const char *family) {
  for (int i = 0; compute_family_at(i, NULL); i++)
    if (!strcasecmp(compute_family_at(i, NULL), family)) return NFIXED + i;
  return -1;
}

/* Adds n instances of a size to u (spot: low priority, not regional/family). */
static void catalog_usage_add(catalog_usage *u, const char *size, int n, int spot) {
  const compute_size *z = compute_size_find(size);
  if (!z || n <= 0) return;
  if (spot) {
    u->used[Q_LOWPRI] += n * z->vcpus;
    return;
  }
  u->used[Q_CORES] += n * z->vcpus;
  int f = catalog_family_index(z->family);
  if (f >= 0) u->used[f] += n * z->vcpus;
}

static int catalog_is_spot(const char *priority) {
  return priority && (!strcasecmp(priority, "Spot") || !strcasecmp(priority, "Low"));
}

/* Counts the VMs and scale-set instances of the subscription in loc, from the
 * generic resource table, leaving out exclude_id. */
static void catalog_usage_of(srv *s, const char *loc, const char *exclude_id, catalog_usage *u) {
  memset(u, 0, sizeof *u);
  char scope[80], l[32];
  snprintf(scope, sizeof scope, SUB_PREFIX "%s", s->subscription_id);
  for (int kind = 0; kind < 2; kind++) {
    json_t *list = arm_resource_list(s, scope,
                                     kind ? "Microsoft.Compute/virtualMachineScaleSets"
                                          : "Microsoft.Compute/virtualMachines");
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
      const char *id = json_string_value(json_object_get(e, "id"));
      const char *el = json_string_value(json_object_get(e, "location"));
      if (exclude_id && id && !strcasecmp(id, exclude_id)) continue;
      if (!el || !arm_location_normalize(el, l) || strcmp(l, loc)) continue;
      json_t *props = json_object_get(e, "properties");
      if (kind == 0) {
        u->used[Q_VMS]++;
        catalog_usage_add(
            u,
            json_string_value(json_object_get(json_object_get(props, "hardwareProfile"), "vmSize")),
            1, catalog_is_spot(json_string_value(json_object_get(props, "priority"))));
      } else {
        u->used[Q_VMSS]++;
        json_t *sku = json_object_get(e, "sku");
        const char *prio = json_string_value(json_object_get(props, "priority"));
        if (!prio)
          prio = json_string_value(
              json_object_get(json_object_get(props, "virtualMachineProfile"), "priority"));
        catalog_usage_add(u, json_string_value(json_object_get(sku, "name")),
                          (int)json_integer_value(json_object_get(sku, "capacity")),
                          catalog_is_spot(prio));
      }
    }
    json_decref(list);
  }
}

static json_t *catalog_usage_entry(srv *s, const char *loc, int q, const catalog_usage *u) {
  const char *localized = NULL;
  int def = 0;
  const char *name = catalog_quota_name(q, &localized, &def);
  return json_pack("{s:s,s:i,s:i,s:{s:s,s:s}}", "unit", "Count", "currentValue", u->used[q],
                   "limit", catalog_quota_limit(s, loc, name, def), "name", "value", name,
                   "localizedValue", localized);
}

/* GET .../locations/{location}/usages */
void compute_usages(http_req *r) {
  char loc[32];
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  if (catalog_location(r, "locations/usages", loc) != 0) return;
  catalog_usage u;
  catalog_usage_of(r->srv, loc, NULL, &u);
  json_t *list = json_array();
  for (int q = 0; catalog_quota_name(q, NULL, NULL); q++)
    json_array_append_new(list, catalog_usage_entry(r->srv, loc, q, &u));
  arm_reply_list(r, list);
}

/* PUT /azlite/compute/quotas/{location}/{name} {"limit": N} (admin): sets a
 * quota's limit in a location; answers the usage entry as usages shows it. */
void compute_quota_put(http_req *r) {
  char loc[32];
  const char *want = http_param(r, "name");
  if (!arm_location_normalize(http_param(r, "location"), loc)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "'%s' is not a location azlite knows.",
              http_param(r, "location"));
    return;
  }
  int q = 0;
  const char *name;
  while ((name = catalog_quota_name(q, NULL, NULL)) && strcasecmp(name, want))
    q++;
  if (!name) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "'%s' is not a compute quota: use cores, virtualMachines, virtualMachineScaleSets, "
              "lowPriorityCores or a family such as standardNCSv3Family (see the usages list).",
              want);
    return;
  }
  json_t *body = http_json_own(r, http_body_json(r));
  if (!body) return;
  json_t *lim = json_object_get(body, "limit");
  if (!json_is_integer(lim) || json_integer_value(lim) < 0 ||
      json_integer_value(lim) > 1000000000) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "'limit' must be an integer from 0 to 1000000000.");
    return;
  }
  if (store_run(r->srv,
                "INSERT INTO compute_quotas(location, name, lim) VALUES(?1, ?2, ?3) "
                "ON CONFLICT(location, name) DO UPDATE SET lim=excluded.lim",
                "tti", loc, name, (int64_t)json_integer_value(lim)) != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The quota could not be stored.");
    return;
  }
  catalog_usage u;
  catalog_usage_of(r->srv, loc, NULL, &u);
  http_reply_json(r, 200, catalog_usage_entry(r->srv, loc, q, &u));
}

/* Fails r unless `need` more of quota q fits; what (Azure's words) names it. */
static int catalog_quota_fits(http_req *r, const char *loc, int q, const char *what, int need,
                              const catalog_usage *u) {
  int def = 0;
  const char *name = catalog_quota_name(q, NULL, &def);
  int lim = catalog_quota_limit(r->srv, loc, name, def);
  if (u->used[q] + need <= lim) return 0;
  /* Azure's answer (some documents call it QuotaExceeded; the code Compute
   * really sends on a VM or scale-set PUT is OperationNotAllowed, 409). */
  http_fail(r, COMPUTE_ERR_OPERATION_NOT_ALLOWED,
            "Operation could not be completed as it results in exceeding approved %s quota. "
            "Additional details - Deployment Model: Resource Manager, Location: %s, Current "
            "Limit: %d, Current Usage: %d, Additional Required: %d, (Minimum) New Limit "
            "Required: %d. Raise the limit with azlite's admin API: PUT "
            "/azlite/compute/quotas/%s/%s {\"limit\": %d}.",
            what, loc, lim, u->used[q], need, u->used[q] + need, loc, name, u->used[q] + need);
  return -1;
}

int compute_quota_check(http_req *r, const char *location, const char *size, int count, int spot,
                        const char *exclude_id) {
  char loc[32];
  const compute_size *z = compute_size_find(size);
  if (!location || !arm_location_normalize(location, loc)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "'%s' is not a location azlite knows.",
              location ? location : "");
    return -1;
  }
  if (!z) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value %s provided for the VM size is not valid.", size ? size : "(none)");
    return -1;
  }
  if (count <= 0) return 0;
  catalog_usage u;
  catalog_usage_of(r->srv, loc, exclude_id, &u);
  int need = count * z->vcpus;
  if (spot) return catalog_quota_fits(r, loc, Q_LOWPRI, "Low Priority Cores", need, &u);
  int f = catalog_family_index(z->family);
  if (f >= 0 && catalog_quota_fits(r, loc, f, http_printf(r, "%s Cores", z->family), need, &u) != 0)
    return -1;
  return catalog_quota_fits(r, loc, Q_CORES, "Total Regional Cores", need, &u);
}
