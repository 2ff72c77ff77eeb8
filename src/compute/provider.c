/* provider.c: Microsoft.Compute: the one table of every URL it serves, its
 * schema and its resource types.  The catalog (sizes, SKUs, images, usages)
 * is in catalog.c and sizes.c; virtual machines in vm.c; scale sets in
 * vmss.c; they run on the sandbox runtime (src/runtime/runtime.h). */
#include "internal.h"

/* Route rows on the management listener, ARM-authorized. */
#define COMPUTE_ROW_(m, p, f)                                                             \
  {.listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,          \
   .style = HTTP_ERR_ARM}

static const route compute_routes[] = {
    /* ---- the catalog (catalog.c) ---- */
    /* ---- virtual machines (vm.c) ---- */
    /* ---- scale sets (vmss.c) ---- */
    {.pattern = NULL},
};

static const char *const compute_schema_scripts[] = {
    /* Version 1. */
    "CREATE TABLE compute_meta(k TEXT PRIMARY KEY, v TEXT);",
};

/* What az 2.45's 2020-09-01-hybrid profile sends (2020-06-01, SKUs
 * 2019-04-01) up to what Debian's azure-mgmt-compute defaults to. */
static const char *const compute_api_versions[] = {
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
