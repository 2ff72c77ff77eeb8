/* azure_hosts.h: the Azure host names azlite answers in transparent mode
 * (`azlite exec`, src/cli/exec.c).  One list for the preloaded library
 * (src/preload/, which must not link core), exec, the server certificate
 * (pki.c) and the server's "did this request come by an Azure name" test
 * (hosts.c).  A leading "*." stands for exactly one label. */
#ifndef AZLITE_AZURE_HOSTS_H
#define AZLITE_AZURE_HOSTS_H

#define AZURE_HOSTS                                                                                \
  "management.azure.com,login.microsoftonline.com,graph.microsoft.com,*.blob.core.windows.net,"    \
  "*.dfs.core.windows.net,"                                                                        \
  "*.azurewebsites.net,*.scm.azurewebsites.net,*.api.azureml.ms,*.inference.ml.azure.com"

#endif
