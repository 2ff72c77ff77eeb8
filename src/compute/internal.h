/* internal.h: what the files of Microsoft.Compute share: the catalog
 * (catalog.c, sizes.c: sizes, SKUs, images, quotas), virtual machines (vm.c),
 * scale sets (vmss.c).  Route handlers are listed in provider.c's table. */
#ifndef AZLITE_COMPUTE_INTERNAL_H
#define AZLITE_COMPUTE_INTERNAL_H

#include "../arm/arm.h"
#include "../core/core.h"
#include "errors.h"

extern const provider compute_provider;

struct rt_sandbox;
/* imds.c: what a running VM or scale-set instance reaches of azlite, served
 * on listening sockets inside its sandbox: the Instance Metadata Service at
 * 169.254.169.254:80 for *that* VM (vm_id: its resource id; its tokens are its
 * own managed identities'), and azlite's own endpoints at the same URLs as on
 * the host (127.0.0.1 on the management and blob ports).  0 on success. */
int compute_imds_serve(srv *s, struct rt_sandbox *sb, const char *vm_id);

#endif
