"""What the ML tests share: azure-ai-ml 1.4.0 (Debian's python3-azure) pointed
at one azlite.  Its management plane goes where AZUREML_DEV_URL_MFE says (no
trailing slash); Debian has no pydash, so the stand-in next to this file is
put on sys.path while the SDK is imported."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def ml_client(srv, group, workspace=None):
    """An MLClient for srv's subscription and group (and workspace)."""
    os.environ["AZUREML_DEV_URL_MFE"] = srv.mgmt_url
    os.environ["REQUESTS_CA_BUNDLE"] = srv.ca
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    from azure.ai.ml import MLClient
    from azure.identity import ClientSecretCredential
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    return MLClient(cred, e["AZURE_SUBSCRIPTION_ID"], group, workspace, connection_verify=srv.ca)


def unset():
    """Leaves the process as it found it (the runner shares it between files)."""
    for k in ("AZUREML_DEV_URL_MFE", "REQUESTS_CA_BUNDLE"):
        os.environ.pop(k, None)
