/* azure_hosts.h: the Azure host names azlite answers in transparent mode
 * (`azlite exec`, src/cli/exec.c).  One list for the preloaded library
 * (src/preload/, which must not link core), exec, the server certificate
 * (pki.c) and the server's "did this request come by an Azure name" test
 * (hosts.c).  A leading "*." stands for exactly one label. */
#ifndef AZLITE_AZURE_HOSTS_H
#define AZLITE_AZURE_HOSTS_H

/* Azure ML online endpoints' scoring hosts, <endpoint>.<region>.inference.
 * ml.azure.com: one pattern per region azlite knows (src/arm/arm.c's
 * table), as a wildcard covers one label. */
#define AZURE_INFERENCE_HOSTS                                                                      \
  "*.eastus.inference.ml.azure.com,*.eastus2.inference.ml.azure.com,"                              \
  "*.westus.inference.ml.azure.com,*.westus2.inference.ml.azure.com,"                              \
  "*.westus3.inference.ml.azure.com,*.centralus.inference.ml.azure.com,"                           \
  "*.northcentralus.inference.ml.azure.com,*.southcentralus.inference.ml.azure.com,"               \
  "*.westcentralus.inference.ml.azure.com,*.canadacentral.inference.ml.azure.com,"                 \
  "*.northeurope.inference.ml.azure.com,*.westeurope.inference.ml.azure.com,"                      \
  "*.uksouth.inference.ml.azure.com,*.francecentral.inference.ml.azure.com,"                       \
  "*.germanywestcentral.inference.ml.azure.com,*.swedencentral.inference.ml.azure.com,"            \
  "*.switzerlandnorth.inference.ml.azure.com,*.norwayeast.inference.ml.azure.com,"                 \
  "*.southeastasia.inference.ml.azure.com,*.eastasia.inference.ml.azure.com,"                      \
  "*.japaneast.inference.ml.azure.com,*.koreacentral.inference.ml.azure.com,"                      \
  "*.centralindia.inference.ml.azure.com,*.australiaeast.inference.ml.azure.com,"                  \
  "*.brazilsouth.inference.ml.azure.com,*.southafricanorth.inference.ml.azure.com,"                \
  "*.uaenorth.inference.ml.azure.com"

/* Suffixes whose hosts name a resource by their first label(s) rather than
 * by the path: a request by such a host on the management port has its path
 * put under /azlite/host/<host> (server.c), where the provider routes it. */
#define AZURE_HOSTS_ROUTED "inference.ml.azure.com"

#define AZURE_HOSTS                                                                                \
  "management.azure.com,login.microsoftonline.com,graph.microsoft.com,*.blob.core.windows.net,"    \
  "*.dfs.core.windows.net,"                                                                        \
  "*.azurewebsites.net,*.scm.azurewebsites.net,*.api.azureml.ms,*.inference.ml.azure."             \
  "com," AZURE_INFERENCE_HOSTS

#endif
