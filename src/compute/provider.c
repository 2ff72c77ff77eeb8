/* provider.c: Microsoft.Compute: the one table of every URL it serves, its
 * schema and its resource types.  The catalog (sizes, SKUs, images, usages)
 * is in catalog.c and sizes.c; virtual machines in vm.c; scale sets in
 * vmss.c; they run on the sandbox runtime (src/runtime/runtime.h). */
#include "internal.h"

/* Route rows on the management listener, ARM-authorized. */
#define COMPUTE_ROW_(m, p, f)                                                             \
  {.listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,          \
   .style = HTTP_ERR_ARM}

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
    /* ---- virtual machines (vm.c) ---- */
    /* ---- scale sets (vmss.c) ---- */
    {.pattern = NULL},
};

static const char *const compute_schema_scripts[] = {
    /* Version 1. */
    "CREATE TABLE compute_meta(k TEXT PRIMARY KEY, v TEXT);",
    /* Version 2: quota limits set through the admin API (catalog.c); a quota
     * without a row has its default. */
    "CREATE TABLE compute_quotas(location TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE,"
    " lim INTEGER NOT NULL, PRIMARY KEY(location, name));",
};

/* What az 2.45's 2020-09-01-hybrid profile sends (2020-06-01, SKUs
 * 2019-04-01) up to what Debian's azure-mgmt-compute defaults to. */
const char *const compute_api_versions[] = {
    "2024-03-01", "2023-09-01", "2023-07-01", "2023-03-01", "2022-11-01", "2022-08-01",
    "2022-03-01", "2021-11-01", "2021-07-01", "2021-04-01", "2021-03-01", "2020-12-01",
    "2020-06-01", "2019-12-01", "2019-07-01", "2019-04-01", "2019-03-01", "2018-10-01",
    "2018-06-01", "2018-04-01", "2017-12-01", "2017-03-30", NULL};

static const resource_type compute_resource_types[] = {
    {.type = "Microsoft.Compute/locations", .api_versions = compute_api_versions},
    {.type = "Microsoft.Compute/skus", .api_versions = compute_api_versions},
    {.type = NULL},
};

const provider compute_provider = {
    .name = "Microsoft.Compute",
    .routes = compute_routes,
    .nroutes = (int)(sizeof compute_routes / sizeof compute_routes[0]) - 1,
    .schema = {compute_schema_scripts,
               (int)(sizeof compute_schema_scripts / sizeof compute_schema_scripts[0])},
    .resource_types = compute_resource_types,
};
