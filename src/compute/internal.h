/* internal.h: what the files of Microsoft.Compute share: the catalog
 * (catalog.c, sizes.c: sizes, SKUs, images, quotas), virtual machines (vm.c),
 * scale sets (vmss.c).  Route handlers are listed in provider.c's table. */
#ifndef AZLITE_COMPUTE_INTERNAL_H
#define AZLITE_COMPUTE_INTERNAL_H

#include "../arm/arm.h"
#include "../core/core.h"
#include "errors.h"

extern const provider compute_provider;

#endif
