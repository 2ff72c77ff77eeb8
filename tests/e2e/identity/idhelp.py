"""What the identity tests share: principals made the way a user makes them
(`az ad sp create-for-rbac`), role grants through the REST API (Debian's az
2.45 cannot run `az role ...`, azure-cli#24959), `az` logged in as another
principal, workload environments, and tokens forged with azlite's own key."""
import base64
import json
import logging
import os
import shutil
import subprocess
import tempfile
import uuid

# Refusals are what these tests expect; azure-identity logs each one as a warning.
logging.getLogger("azure.identity").setLevel(logging.CRITICAL)

ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Virtual Machine Contributor": "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "AzureML Compute Operator": "e503ece1-11d0-4e8e-8e2c-7a6c3bf38815",
    "Cost Management Reader": "72fafb9e-0641-4937-9268-a91bfd8191a3",
    "Cost Management Contributor": "434105ed-43f6-45c7-a02f-909b2ba83430",
}

API = "api-version=2022-04-01"
MSI_API = "api-version=2023-01-31"
UAI = "Microsoft.ManagedIdentity/userAssignedIdentities"


def sub_scope(srv):
    return "/subscriptions/" + srv.env["AZURE_SUBSCRIPTION_ID"]


def rg_scope(srv, rg):
    return sub_scope(srv) + "/resourceGroups/" + rg


def role_id(srv, role):
    return "%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (sub_scope(srv),
                                                                       ROLES.get(role, role))


def graph_token(srv, cred=None):
    scope = srv.mgmt_url + "/graph/.default"
    return cred.get_token(scope).token if cred else srv.token(scope)


def graph(srv, method, path, token=None, **kw):
    return srv.http(method, "/graph/v1.0" + path, token=token or graph_token(srv), **kw)


def create_sp(srv, name):
    """`az ad sp create-for-rbac --name NAME`: {appId, password, tenant, oid}."""
    p = srv.az("ad", "sp", "create-for-rbac", "--name", name, "--output", "json")
    if p.returncode != 0:
        raise AssertionError("create-for-rbac failed: " + p.stderr)
    sp = json.loads(p.stdout)
    r = graph(srv, "GET", "/servicePrincipals?$filter=appId eq '%s'" % sp["appId"])
    sp["oid"] = r.json()["value"][0]["id"]
    return sp


def credential(srv, sp=None, secret=None):
    from azure.identity import ClientSecretCredential
    e = srv.env
    return ClientSecretCredential(e["AZURE_TENANT_ID"], sp["appId"] if sp else e["AZURE_CLIENT_ID"],
                                  secret or (sp["password"] if sp else e["AZURE_CLIENT_SECRET"]),
                                  authority=e["AZURE_AUTHORITY_HOST"], connection_verify=srv.ca)


def mgmt_token(srv, sp):
    return credential(srv, sp).get_token(srv.mgmt_url + "/.default").token


def mgmt_kw(srv):
    return dict(base_url=srv.mgmt_url, connection_verify=srv.ca,
                credential_scopes=[srv.mgmt_url + "/.default"])


def assign(srv, role, scope, principal_id, token=True, name=None, api=API):
    """PUT a role assignment (admin's token unless told); the Response."""
    name = name or str(uuid.uuid4())
    return srv.http("PUT", "%s/providers/Microsoft.Authorization/roleAssignments/%s?%s" %
                    (scope, name, api), token=token,
                    json={"properties": {"roleDefinitionId": role_id(srv, role),
                                         "principalId": principal_id}})


def grant(srv, role, scope, principal_id):
    r = assign(srv, role, scope, principal_id)
    if r.status_code != 201:
        raise AssertionError("grant %s at %s: %d %s" % (role, scope, r.status_code, r.text))
    return r.json()


def revoke(srv, scope, principal_id):
    """Deletes every role assignment of the principal at exactly `scope`."""
    r = srv.http("GET", "%s/providers/Microsoft.Authorization/roleAssignments?%s&$filter=%s" %
                 (scope, API, "principalId eq '%s'" % principal_id), token=True)
    if r.status_code != 200:
        raise AssertionError("list assignments: %d %s" % (r.status_code, r.text))
    for a in r.json()["value"]:
        if a["properties"]["scope"].lower() == scope.lower():
            d = srv.http("DELETE", "%s?%s" % (a["id"], API), token=True)
            if d.status_code not in (200, 204):
                raise AssertionError("delete assignment: %d %s" % (d.status_code, d.text))


def create_group(srv, name):
    r = srv.http("PUT", "%s/resourcegroups/%s?api-version=2021-04-01" % (sub_scope(srv), name),
                 json={"location": "eastus"})
    if r.status_code not in (200, 201):
        raise AssertionError("group %s: %d %s" % (name, r.status_code, r.text))


def create_identity(srv, rg, name, token=True):
    return srv.http("PUT", "%s/providers/%s/%s?%s" % (rg_scope(srv, rg), UAI, name, MSI_API),
                    token=token, json={"location": "eastus"})


def workload_env(srv, resource_id):
    r = srv.http("GET", "/azlite/identity/workload-env?resourceId=" + resource_id)
    if r.status_code != 200:
        raise AssertionError("workload-env: %d %s" % (r.status_code, r.text))
    return r.json()


def run_workload(srv, env_vars, code, *args):
    """Runs Python code as a workload would: only the workload's variables (no
    AZURE_CLIENT_SECRET), args in sys.argv.  CompletedProcess."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    env.update(env_vars)
    return subprocess.run(["/usr/bin/python3", "-c", code] + list(args), env=env,
                          capture_output=True, text=True, timeout=120)


class AzAs:
    """The real az, logged in as another principal, in its own config dir
    (azlite's cloud registration copied from the admin's)."""

    def __init__(self, srv, sp, allow_no_subscriptions=False):
        if not os.path.exists(os.path.join(srv.data_dir, "az", "clouds.config")):
            srv.az("account", "show")
        self.dir = tempfile.mkdtemp(prefix="azlite-azas-")
        for f in ("config", "clouds.config"):
            shutil.copy(os.path.join(srv.data_dir, "az", f), self.dir)
        self.env = dict(os.environ, AZURE_CONFIG_DIR=self.dir, REQUESTS_CA_BUNDLE=srv.ca,
                        AZURE_CORE_COLLECT_TELEMETRY="no", AZURE_CORE_NO_COLOR="yes")
        for k in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"):
            self.env.pop(k, None)
        args = ["login", "--service-principal", "--username", sp["appId"], "--password",
                sp["password"], "--tenant", srv.env["AZLITE_TENANT_ID"], "--output", "none"]
        if allow_no_subscriptions:
            args.append("--allow-no-subscriptions")
        self.login = self(*args)

    def __call__(self, *args):
        return subprocess.run(["az"] + list(args), env=self.env, capture_output=True, text=True,
                              timeout=300)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- forged tokens ---------------------------------------------------------------

def b64(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims(token):
    return unb64(token.split(".")[1])


def signing_key(srv):
    from cryptography.hazmat.primitives import serialization
    with open(os.path.join(srv.data_dir, "pki", "signing.key"), "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def forge(token, key, header_changes=None, claim_changes=None):
    """token with header fields or claims changed (None removes one), RS256-signed by key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    h, c = unb64(token.split(".")[0]), claims(token)
    for d, changes in ((h, header_changes), (c, claim_changes)):
        for k, v in (changes or {}).items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
    signing_input = (b64(h) + "." + b64(c)).encode()
    sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64(sig)
