/* providers.c: the one list of providers azlite runs, in start order: their
 * schemas migrate and their init hooks run in this order. */
#include "core.h"

extern const provider arm_provider;
extern const provider identity_provider;
extern const provider storage_provider;
extern const provider network_provider;
extern const provider compute_provider;
extern const provider keyvault_provider;
extern const provider insights_provider;
extern const provider loganalytics_provider;
extern const provider ml_provider;
extern const provider web_provider;
extern const provider cost_provider;

const provider *const providers[] = {
    &arm_provider,
    &identity_provider,
    &storage_provider,
    /* Before compute: VMs attach its interfaces (network.h). */
    &network_provider,
    &compute_provider,
    /* Resource Manager records only (no data plane): templates name them. */
    &keyvault_provider,
    &insights_provider,
    &loganalytics_provider,
    /* After storage and compute: workspaces keep data in storage accounts
     * (storage.h). */
    &ml_provider,
    /* Microsoft.Web: function apps (their identities through identity.h). */
    &web_provider,
    /* After every provider that meters: its tick prices what theirs recorded. */
    &cost_provider,
    NULL,
};
