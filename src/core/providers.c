/* providers.c: the one list of providers azlite runs, in start order: their
 * schemas migrate and their init hooks run in this order. */
#include "core.h"

extern const provider arm_provider;
extern const provider identity_provider;
extern const provider storage_provider;
extern const provider network_provider;
extern const provider compute_provider;
extern const provider web_provider;

const provider *const providers[] = {
    &arm_provider,
    &identity_provider,
    &storage_provider,
    /* Before compute: VMs attach its interfaces (network.h). */
    &network_provider,
    &compute_provider,
    /* Microsoft.Web: function apps (their identities through identity.h). */
    &web_provider,
    NULL,
};
