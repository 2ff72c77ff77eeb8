"""Identity fails closed, with Azure's codes, on every surface that takes a
token: Resource Manager (an authorization route), Graph, and the blob service
over HTTPS.  Forged tokens are signed with azlite's own key (read from its
data dir), so each refusal is for the one thing the forgery changes.  Then
the issue's end-to-end cases: a create-for-rbac principal without a role, with
Contributor on one group, with blob data roles, and a user-assigned
identity's workload token reading a blob only once it holds a data role."""
import json
import time
import unittest
import uuid

import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.storage.blob import BlobServiceClient

from azlite_harness import Azlite
from idhelp import (AzAs, MSI_API, UAI, claims, create_group, create_identity, create_sp, revoke,
                    credential, forge, grant, graph, graph_token, mgmt_kw, mgmt_token,
                    rg_scope, run_workload, signing_key, sub_scope, workload_env)

srv = None
key = None
ACCOUNT = "idsecstore1"
account_id = None  # the storage account's ARM id (setUpModule fails without one)


def setUpModule():
    global srv, key, account_id
    srv = Azlite().start()
    key = signing_key(srv)
    for g in ("ml-resources", "elsewhere"):
        create_group(srv, g)
    rid = rg_scope(srv, "ml-resources") + "/providers/Microsoft.Storage/storageAccounts/" + ACCOUNT
    r = srv.http("PUT", rid + "?api-version=2022-09-01",
                 json={"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})
    # The blob side of these tests is half their point: an account that cannot
    # be created fails the module, it does not skip the blob cases.
    if r.status_code not in (200, 201, 202):
        raise AssertionError("storage account create: %d %s" % (r.status_code, r.text))
    for _ in range(100):
        if srv.http("GET", rid + "?api-version=2022-09-01").status_code == 200:
            account_id = rid
            break
        time.sleep(0.1)
    else:
        raise AssertionError("storage account %s never became readable" % rid)


def tearDownModule():
    srv.cleanup()


def blob_url(path=""):
    return "https://127.0.0.1:%d/%s%s" % (srv.ports["blob_tls"], ACCOUNT, path)


def need_blob(test):
    test.assertTrue(account_id, "no storage account: setUpModule should have failed")


def blob_service(cred):
    return BlobServiceClient(blob_url(), credential=cred, connection_verify=srv.ca)


def admin_blob_setup(container, name=None, data=b"payload"):
    """Creates a container (and a blob) as the admin, who as Owner may manage
    containers but holds no data action: it grants itself Storage Blob Data
    Owner on the account first."""
    if not hasattr(admin_blob_setup, "granted"):
        admin_oid = claims(srv.token())["oid"]
        grant(srv, "Storage Blob Data Owner", account_id, admin_oid)
        admin_blob_setup.granted = True
    svc = blob_service(credential(srv))
    cc = svc.get_container_client(container)
    if not cc.exists():
        cc.create_container()
    if name:
        cc.upload_blob(name, data, overwrite=True)


# ---- forged and stale tokens, on every surface -------------------------------------

class ForgedTokens(unittest.TestCase):
    """Each surface: (a request that works with `good`, how it reports a refusal)."""

    @classmethod
    def setUpClass(cls):
        cls.mgmt = srv.token()
        cls.graph = graph_token(srv)

    def arm(self, token):
        r = srv.http("GET", sub_scope(srv) + "/providers/Microsoft.Authorization/roleAssignments"
                     "?api-version=2022-04-01", token=token)
        return r.status_code, (r.json().get("error", {}).get("code") if r.text else None)

    def graph_call(self, token):
        r = graph(srv, "GET", "/applications", token=token)
        return r.status_code, (r.json().get("error", {}).get("code") if r.text else None)

    def blob(self, token):
        r = requests.get(blob_url("?comp=list"), verify=srv.ca, timeout=30,
                         headers={"Authorization": "Bearer " + token, "x-ms-version": "2021-08-06"})
        return r.status_code, r.headers.get("x-ms-error-code")

    def surfaces(self):
        out = [("arm", self.arm, self.mgmt, "InvalidAuthenticationToken"),
               ("graph", self.graph_call, self.graph, "InvalidAuthenticationToken")]
        need_blob(self)
        out.append(("blob", self.blob, srv.token("https://storage.azure.com/.default"),
                    "InvalidAuthenticationInfo"))
        return out

    def check(self, make, arm_code, graph_code=None):
        for name, call, good, blob_code in self.surfaces():
            want = {"arm": arm_code, "graph": graph_code or arm_code, "blob": blob_code}[name]
            self.assertEqual(call(good)[0], 200, name)  # the control
            self.assertEqual(call(make(good)), (401, want), name)

    def test_tampered_signature(self):
        def tamper(t):
            h, c, s = t.split(".")
            return "%s.%s.%s" % (h, c, ("A" if s[0] != "A" else "B") + s[1:])
        self.check(tamper, "InvalidAuthenticationToken")

    def test_tampered_claims_keep_the_old_signature(self):
        def swap(t):
            h, c, s = t.split(".")
            other = forge(t, key, claim_changes={"oid": str(uuid.uuid4())})
            return "%s.%s.%s" % (h, other.split(".")[1], s)
        self.check(swap, "InvalidAuthenticationToken")

    def test_alg_none(self):
        def none(t):
            f = forge(t, key, header_changes={"alg": "none"})
            return f.rsplit(".", 1)[0] + "."
        self.check(none, "InvalidAuthenticationToken")

    def test_expired(self):
        now = int(time.time())
        self.check(lambda t: forge(t, key, claim_changes={"exp": now - 600, "nbf": now - 4000,
                                                          "iat": now - 4000}),
                   "ExpiredAuthenticationToken")

    def test_not_yet_valid(self):
        now = int(time.time())
        self.check(lambda t: forge(t, key, claim_changes={"nbf": now + 3600, "iat": now + 3600,
                                                          "exp": now + 7200}),
                   "InvalidAuthenticationToken")

    def test_wrong_audience(self):
        self.check(lambda t: forge(t, key, claim_changes={"aud": "https://vault.azure.net"}),
                   "InvalidAuthenticationTokenAudience")

    def test_audiences_do_not_cross(self):
        self.assertEqual(self.arm(self.graph), (401, "InvalidAuthenticationTokenAudience"))
        self.assertEqual(self.graph_call(self.mgmt), (401, "InvalidAuthenticationTokenAudience"))
        self.assertEqual(self.blob(self.mgmt), (401, "InvalidAuthenticationInfo"))

    def test_storage_account_audiences(self):
        need_blob(self)
        good = forge(srv.token("https://storage.azure.com/.default"), key,
                     claim_changes={"aud": "https://%s.blob.core.windows.net/" % ACCOUNT})
        self.assertEqual(self.blob(good)[0], 200)
        for aud in ("https://evil.example/.blob.core.windows.net",
                    "https://x.blob.core.windows.net.evil.example/",
                    "http://%s.blob.core.windows.net/" % ACCOUNT):
            bad = forge(good, key, claim_changes={"aud": aud})
            self.assertEqual(self.blob(bad), (401, "InvalidAuthenticationInfo"), aud)

    def test_wrong_issuer(self):
        self.check(lambda t: forge(t, key, claim_changes={
            "iss": "https://sts.windows.net/%s/" % claims(t)["tid"]}),
            "InvalidAuthenticationTokenTenant")

    def test_unknown_principal(self):
        self.check(lambda t: forge(t, key, claim_changes={"oid": str(uuid.uuid4())}),
                   "InvalidAuthenticationToken")

    def test_deleted_principal(self):
        sp = create_sp(srv, "sec-deleted")
        grant(srv, "Owner", sub_scope(srv), sp["oid"])
        cred = credential(srv, sp)
        tokens = {"arm": cred.get_token(srv.mgmt_url + "/.default").token,
                  "graph": graph_token(srv, cred),
                  "blob": cred.get_token("https://storage.azure.com/.default").token}
        self.assertEqual(self.arm(tokens["arm"])[0], 200)
        self.assertEqual(srv.az("ad", "app", "delete", "--id", sp["appId"]).returncode, 0)
        for name, call, _, blob_code in self.surfaces():
            want = blob_code if name == "blob" else "InvalidAuthenticationToken"
            self.assertEqual(call(tokens[name]), (401, want), name)

    def test_old_secret_after_rotation(self):
        sp = create_sp(srv, "sec-rotated")
        app = srv.az_json("ad", "app", "show", "--id", sp["appId"])
        old_key = app["passwordCredentials"][0]["keyId"]
        r = graph(srv, "POST", "/applications/%s/addPassword" % app["id"],
                  json={"passwordCredential": {"displayName": "rotated"}})
        new = r.json()["secretText"]
        r = graph(srv, "POST", "/applications/%s/removePassword" % app["id"],
                  json={"keyId": old_key})
        self.assertEqual(r.status_code, 204)
        with self.assertRaises(ClientAuthenticationError) as e:
            credential(srv, sp).get_token(srv.mgmt_url + "/.default")
        self.assertIn("AADSTS7000215", e.exception.message)
        r = requests.post(srv.env["AZURE_AUTHORITY_HOST"] + "/adfs/oauth2/token", verify=srv.ca,
                          data={"grant_type": "client_credentials", "client_id": sp["appId"],
                                "client_secret": sp["password"],
                                "scope": srv.mgmt_url + "/.default"}, timeout=30)
        self.assertEqual((r.status_code, r.json()["error"]), (401, "invalid_client"))
        credential(srv, sp, new).get_token(srv.mgmt_url + "/.default")


# ---- roles decide -------------------------------------------------------------------

class Authorization(unittest.TestCase):
    def test_principal_without_a_role(self):
        sp = create_sp(srv, "sec-no-role")
        tok = mgmt_token(srv, sp)
        for method, path in (("PUT", "/resourcegroups/sec-x?api-version=2021-04-01"),
                             ("GET", "/resourcegroups?api-version=2021-04-01"),
                             ("GET", "/resourcegroups/ml-resources?api-version=2021-04-01"),
                             ("GET", "/providers/%s?%s" % (UAI, MSI_API)),
                             ("PUT", "/resourceGroups/ml-resources/providers/%s/sec-x?%s"
                              % (UAI, MSI_API)),
                             ("GET", "/providers/Microsoft.Authorization/roleAssignments"
                              "?api-version=2022-04-01")):
            r = srv.http(method, sub_scope(srv) + path, token=tok,
                         json={"location": "eastus"} if method == "PUT" else None)
            if r.status_code == 200 and path.startswith("/providers/" + UAI):
                # Subscription-wide lists show what the caller may read: nothing.
                self.assertEqual(r.json()["value"], [])
                continue
            self.assertEqual(r.status_code, 403, (method, path, r.text))
            self.assertEqual(r.json()["error"]["code"], "AuthorizationFailed")
            self.assertIn(sp["oid"], r.json()["error"]["message"])

    def test_contributor_cannot_create_role_assignments(self):
        sp = create_sp(srv, "sec-contributor")
        grant(srv, "Contributor", rg_scope(srv, "ml-resources"), sp["oid"])
        r = srv.http("PUT", rg_scope(srv, "ml-resources") +
                     "/providers/Microsoft.Authorization/roleAssignments/%s?api-version=2022-04-01"
                     % uuid.uuid4(), token=mgmt_token(srv, sp),
                     json={"properties": {"roleDefinitionId": sub_scope(srv) +
                                          "/providers/Microsoft.Authorization/roleDefinitions/"
                                          "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                                          "principalId": sp["oid"]}})
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(r.json()["error"]["code"], "AuthorizationFailed")
        self.assertIn("Microsoft.Authorization/roleAssignments/write", r.json()["error"]["message"])
        r = srv.http("GET", rg_scope(srv, "ml-resources") + "/providers/Microsoft.Authorization/"
                     "roleAssignments?api-version=2022-04-01&$filter=principalId eq '%s'"
                     % sp["oid"])
        self.assertEqual(len(r.json()["value"]), 1)

    def test_done_when_create_for_rbac_then_contributor_on_one_group(self):
        sp = create_sp(srv, "ml-training-sp")
        # Without a role: 403 on group create (SDK, and az rest logged in as it).
        rm = ResourceManagementClient(credential(srv, sp), srv.env["AZURE_SUBSCRIPTION_ID"],
                                      **mgmt_kw(srv))
        with self.assertRaises(HttpResponseError) as e:
            rm.resource_groups.create_or_update("sp-made", {"location": "eastus"})
        self.assertEqual((e.exception.status_code, e.exception.error.code),
                         (403, "AuthorizationFailed"))
        az = AzAs(srv, sp, allow_no_subscriptions=True)
        try:
            self.assertEqual(az.login.returncode, 0, az.login.stderr)
            # az knows no subscription for it (as in Azure); its token is still refused.
            p = az("account", "get-access-token", "--output", "json")
            self.assertEqual(p.returncode, 0, p.stderr)
            r = srv.http("PUT", sub_scope(srv) + "/resourcegroups/sp-made?api-version=2021-04-01",
                         token=json.loads(p.stdout)["accessToken"], json={"location": "eastus"})
            self.assertEqual((r.status_code, r.json()["error"]["code"]),
                             (403, "AuthorizationFailed"))
            p = az("group", "create", "-n", "sp-made", "-l", "eastus", "--subscription",
                   srv.env["AZURE_SUBSCRIPTION_ID"])
            self.assertNotEqual(p.returncode, 0)
        finally:
            az.close()
        # Contributor on one group, granted through `az rest` as az 2.45 users must.
        p = srv.az("rest", "--method", "put", "--url", srv.mgmt_url + rg_scope(
            srv, "ml-resources") + "/providers/Microsoft.Authorization/roleAssignments/%s"
            "?api-version=2022-04-01" % uuid.uuid4(), "--body", json.dumps({"properties": {
                "roleDefinitionId": sub_scope(srv) + "/providers/Microsoft.Authorization/"
                "roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
                "principalId": sp["oid"], "principalType": "ServicePrincipal"}}))
        self.assertEqual(p.returncode, 0, p.stderr)
        az = AzAs(srv, sp)
        try:
            self.assertEqual(az.login.returncode, 0, az.login.stderr)
            ok = [("group", "show", "-n", "ml-resources"),
                  ("group", "update", "-n", "ml-resources", "--tags", "team=ml"),
                  ("identity", "create", "-g", "ml-resources", "-n", "sp-made-id"),
                  ("identity", "list", "-g", "ml-resources")]
            for args in ok:
                p = az(*args)
                self.assertEqual(p.returncode, 0, (args, p.stderr))
            denied = [("group", "create", "-n", "sp-made", "-l", "eastus"),
                      ("group", "show", "-n", "elsewhere"),
                      ("group", "update", "-n", "elsewhere", "--tags", "x=y"),
                      ("identity", "create", "-g", "elsewhere", "-n", "sp-made-id"),
                      ("group", "delete", "-n", "elsewhere", "--yes")]
            for args in denied:
                p = az(*args)
                self.assertNotEqual(p.returncode, 0, args)
                self.assertIn("AuthorizationFailed", p.stderr, args)
        finally:
            az.close()
        self.assertEqual(srv.http("GET", rg_scope(srv, "elsewhere") +
                                  "?api-version=2021-04-01").json()["tags"], {})

    def test_workload_token_is_subject_to_rbac(self):
        ident = create_identity(srv, "ml-resources", "sec-workload").json()
        env = workload_env(srv, ident["id"])
        r = requests.get(env["IDENTITY_ENDPOINT"], verify=srv.ca, timeout=30,
                         headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]},
                         params={"resource": srv.mgmt_url, "api-version": "2019-08-01"})
        tok = r.json()["access_token"]
        path = rg_scope(srv, "ml-resources") + "?api-version=2021-04-01"
        self.assertEqual(srv.http("GET", path, token=tok).status_code, 403)
        grant(srv, "Reader", rg_scope(srv, "ml-resources"), ident["properties"]["principalId"])
        self.assertEqual(srv.http("GET", path, token=tok).status_code, 200)
        self.assertEqual(srv.http("PATCH", path, token=tok, json={"tags": {}}).status_code, 403)


# ---- blob data roles ------------------------------------------------------------------

class BlobDataRoles(unittest.TestCase):
    def setUp(self):
        need_blob(self)

    def test_blob_data_contributor_uploads_over_https_reader_gets_403(self):
        admin_blob_setup("train")
        sp = create_sp(srv, "sec-blob-writer")
        svc = blob_service(credential(srv, sp))
        bc = svc.get_blob_client("train", "datasets/mnist/train.csv")
        with self.assertRaises(HttpResponseError) as e:
            bc.upload_blob(b"a,b\n1,2\n", overwrite=True)
        self.assertEqual((e.exception.status_code, e.exception.error_code),
                         (403, "AuthorizationPermissionMismatch"))
        grant(srv, "Storage Blob Data Contributor", rg_scope(srv, "ml-resources"), sp["oid"])
        bc.upload_blob(b"a,b\n1,2\n", overwrite=True)
        self.assertEqual(bc.download_blob().readall(), b"a,b\n1,2\n")

        reader = create_sp(srv, "sec-blob-reader")
        grant(srv, "Reader", account_id, reader["oid"])
        rb = blob_service(credential(srv, reader)).get_blob_client("train",
                                                                     "datasets/mnist/train.csv")
        with self.assertRaises(HttpResponseError) as e:
            rb.download_blob().readall()
        self.assertEqual((e.exception.status_code, e.exception.error_code),
                         (403, "AuthorizationPermissionMismatch"))

    def test_owner_holds_no_data_actions(self):
        sp = create_sp(srv, "sec-blob-owner")
        admin_blob_setup("owned", "x.bin")
        grant(srv, "Owner", sub_scope(srv), sp["oid"])
        bc = blob_service(credential(srv, sp)).get_blob_client("owned", "x.bin")
        with self.assertRaises(HttpResponseError) as e:
            bc.download_blob().readall()
        self.assertEqual(e.exception.status_code, 403)

    def test_data_reader_reads_but_cannot_write(self):
        admin_blob_setup("readonly", "r.txt", b"read me")
        sp = create_sp(srv, "sec-blob-ro")
        grant(srv, "Storage Blob Data Reader", account_id, sp["oid"])
        svc = blob_service(credential(srv, sp))
        self.assertEqual(svc.get_blob_client("readonly", "r.txt").download_blob().readall(), b"read me")
        with self.assertRaises(HttpResponseError) as e:
            svc.get_blob_client("readonly", "w.txt").upload_blob(b"no")
        self.assertEqual(e.exception.status_code, 403)

    def test_container_scoped_grant(self):
        admin_blob_setup("scoped-in", "a.txt", b"in")
        admin_blob_setup("scoped-out", "a.txt", b"out")
        sp = create_sp(srv, "sec-blob-container")
        grant(srv, "Storage Blob Data Reader",
              account_id + "/blobServices/default/containers/scoped-in", sp["oid"])
        svc = blob_service(credential(srv, sp))
        self.assertEqual(svc.get_blob_client("scoped-in", "a.txt").download_blob().readall(), b"in")
        with self.assertRaises(HttpResponseError) as e:
            svc.get_blob_client("scoped-out", "a.txt").download_blob().readall()
        self.assertEqual(e.exception.status_code, 403)

    def test_user_assigned_identity_reads_a_blob_only_after_data_reader(self):
        admin_blob_setup("models", "model.pth", b"weights")
        ident = create_identity(srv, "ml-resources", "gpu-vm-identity").json()
        env = workload_env(srv, ident["id"])
        code = """
import sys
from azure.identity import ManagedIdentityCredential
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient
b = BlobClient(sys.argv[1], "models", "model.pth", credential=ManagedIdentityCredential())
try:
    print(b.download_blob().readall().decode())
except HttpResponseError as e:
    print("%d %s" % (e.status_code, e.error_code))
"""
        p = run_workload(srv, env, code, blob_url())
        self.assertEqual(p.stdout.strip(), "403 AuthorizationPermissionMismatch", p.stderr)
        grant(srv, "Storage Blob Data Reader", account_id, ident["properties"]["principalId"])
        p = run_workload(srv, env, code, blob_url())
        self.assertEqual(p.stdout.strip(), "weights", p.stderr)

    def test_user_delegation_sas(self):
        import datetime
        from azure.storage.blob import BlobSasPermissions, BlobClient, generate_blob_sas
        admin_blob_setup("shared", "s.txt", b"shared data")
        sp = create_sp(srv, "sec-delegator")
        grant(srv, "Storage Blob Data Reader", account_id, sp["oid"])
        svc = blob_service(credential(srv, sp))
        now = datetime.datetime.utcnow()
        udk = svc.get_user_delegation_key(now - datetime.timedelta(minutes=5),
                                          now + datetime.timedelta(hours=1))
        self.assertEqual(udk.signed_oid, sp["oid"])
        sas = generate_blob_sas(ACCOUNT, "shared", "s.txt", user_delegation_key=udk,
                                permission=BlobSasPermissions(read=True),
                                expiry=now + datetime.timedelta(hours=1))
        b = BlobClient.from_blob_url(blob_url("/shared/s.txt?" + sas), connection_verify=srv.ca)
        self.assertEqual(b.download_blob().readall(), b"shared data")
        # Tampered: a write permission the key's holder never signed.
        bad = sas.replace("sp=r", "sp=rw")
        b = BlobClient.from_blob_url(blob_url("/shared/s.txt?" + bad), connection_verify=srv.ca)
        with self.assertRaises(HttpResponseError) as e:
            b.download_blob().readall()
        self.assertEqual(e.exception.status_code, 403)
        # The SAS acts for its delegator: once the role goes, so does the access.
        revoke(srv, account_id, sp["oid"])
        b = BlobClient.from_blob_url(blob_url("/shared/s.txt?" + sas), connection_verify=srv.ca)
        with self.assertRaises(HttpResponseError) as e:
            b.download_blob().readall()
        self.assertEqual(e.exception.error_code, "AuthorizationPermissionMismatch")


if __name__ == "__main__":
    unittest.main()
