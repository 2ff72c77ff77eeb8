"""Managed identities: user-assigned identities through `az identity` and the
REST API, and the token endpoint workloads use, driven by azure-identity's
ManagedIdentityCredential and DefaultAzureCredential in a process that has
only the workload's variables (IDENTITY_ENDPOINT, IDENTITY_HEADER, ...), as a
VM, job or function azlite starts will have.  Tokens carry the identity's
principal and are subject to RBAC like any other."""
import json
import unittest
import uuid

import requests

from azlite_harness import Azlite
from idhelp import (MSI_API, UAI, claims, create_group, create_identity, grant, rg_scope,
                    run_workload, sub_scope, workload_env)

srv = None

# A workload: gets a management token, then lists groups with it.
LIST_GROUPS = """
import json, sys
from azure.identity import ManagedIdentityCredential, DefaultAzureCredential
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource import ResourceManagementClient
endpoint, sub, kind, client_id = sys.argv[1:5]
kw = {"client_id": client_id} if client_id else {}
cred = DefaultAzureCredential(managed_identity_client_id=client_id or None) \\
    if kind == "default" else ManagedIdentityCredential(**kw)
tok = cred.get_token(endpoint + "/.default")
out = {"token": tok.token, "expires_on": tok.expires_on}
rm = ResourceManagementClient(cred, sub, base_url=endpoint, credential_scopes=[endpoint + "/.default"])
try:
    out["groups"] = sorted(g.name for g in rm.resource_groups.list())
except HttpResponseError as e:
    out["status"], out["code"] = e.status_code, e.error.code
print(json.dumps(out))
"""


def setUpModule():
    global srv
    srv = Azlite().start()
    for g in ("mi-a", "mi-b"):
        create_group(srv, g)


def tearDownModule():
    srv.cleanup()


def workload(env, kind="managed", client_id=""):
    p = run_workload(srv, env, LIST_GROUPS, srv.mgmt_url, srv.env["AZURE_SUBSCRIPTION_ID"], kind,
                     client_id)
    if p.returncode != 0:
        raise AssertionError("workload failed: " + p.stderr[-2000:])
    return json.loads(p.stdout)


def token_request(env, headers=None, **params):
    params.setdefault("resource", srv.mgmt_url)
    params.setdefault("api-version", "2019-08-01")
    h = {"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]} if headers is None else headers
    return requests.get(env["IDENTITY_ENDPOINT"], params=params, headers=h, verify=srv.ca,
                        timeout=30)


class UserAssignedIdentities(unittest.TestCase):
    def test_az_identity_create_show_list_delete(self):
        created = srv.az_json("identity", "create", "-g", "mi-a", "-n", "trainer-id",
                              "--tags", "team=ml")
        self.assertEqual(created["type"], UAI)
        self.assertEqual(created["tenantId"], srv.env["AZLITE_TENANT_ID"])
        self.assertEqual(created["tags"], {"team": "ml"})
        for k in ("principalId", "clientId"):
            uuid.UUID(created[k])
        shown = srv.az_json("identity", "show", "-g", "mi-a", "-n", "trainer-id")
        self.assertEqual(shown["principalId"], created["principalId"])
        self.assertIn("trainer-id", [i["name"] for i in srv.az_json("identity", "list", "-g",
                                                                      "mi-a")])
        self.assertIn(created["id"], [i["id"] for i in srv.az_json("identity", "list")])
        r = srv.http("GET", sub_scope(srv) + "/resources?api-version=2021-04-01")
        self.assertIn(created["id"], [x["id"] for x in r.json()["value"]])
        # Creating again keeps the identity's principal.
        again = srv.az_json("identity", "create", "-g", "mi-a", "-n", "trainer-id")
        self.assertEqual(again["principalId"], created["principalId"])
        p = srv.az("identity", "delete", "-g", "mi-a", "-n", "trainer-id")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = srv.az("identity", "show", "-g", "mi-a", "-n", "trainer-id")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ResourceNotFound", p.stderr)

    def test_patch_tags_and_errors(self):
        ident = create_identity(srv, "mi-a", "patched-id").json()
        path = ident["id"] + "?" + MSI_API
        r = srv.http("PATCH", path, json={"tags": {"a": "1"}})
        self.assertEqual((r.status_code, r.json()["tags"]), (200, {"a": "1"}))
        self.assertEqual(r.json()["properties"]["principalId"], ident["properties"]["principalId"])
        cases = [
            (create_identity(srv, "mi-a", "x"), 400, "InvalidResourceName"),
            (create_identity(srv, "no-such-group", "fine-name"), 404, "ResourceGroupNotFound"),
            (srv.http("PUT", path, json={"tags": {}}), 400, "LocationRequired"),
            # 409, as storage accounts and every type of the generic layer answer.
            (srv.http("PUT", path, json={"location": "westeurope"}), 409,
             "InvalidResourceLocation"),
            (srv.http("GET", ident["id"] + "?api-version=1999-01-01"), 400,
             "NoRegisteredProviderFound"),
            (srv.http("GET", rg_scope(srv, "mi-a") + "/providers/%s/nope?%s" % (UAI, MSI_API)),
             404, "ResourceNotFound"),
        ]
        for r, status, code in cases:
            self.assertEqual((r.status_code, r.json()["error"]["code"]), (status, code), r.text)
        self.assertEqual(srv.http("DELETE", path).status_code, 200)
        self.assertEqual(srv.http("DELETE", path).status_code, 204)

    def test_group_deletion_takes_its_identities(self):
        create_group(srv, "mi-doomed")
        ident = create_identity(srv, "mi-doomed", "doomed-id").json()
        env = workload_env(srv, ident["id"])
        self.assertEqual(token_request(env).status_code, 200)
        p = srv.az("group", "delete", "-n", "mi-doomed", "--yes")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(token_request(env).status_code, 401)
        r = srv.http("GET", "/graph/v1.0/servicePrincipals/" + ident["properties"]["principalId"],
                     token=srv.token(srv.mgmt_url + "/graph/.default"))
        self.assertEqual(r.status_code, 404)


class WorkloadTokens(unittest.TestCase):
    def test_managed_identity_credential_token_is_subject_to_rbac(self):
        ident = create_identity(srv, "mi-a", "rbac-subject").json()
        props = ident["properties"]
        env = workload_env(srv, ident["id"])
        self.assertEqual(set(env) >= {"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}, True)
        out = workload(env)
        c = claims(out["token"])
        self.assertEqual((c["oid"], c["appid"]), (props["principalId"], props["clientId"]))
        self.assertEqual(c["aud"], srv.mgmt_url)
        self.assertEqual((out.get("status"), out.get("code")), (403, "AuthorizationFailed"))
        grant(srv, "Reader", rg_scope(srv, "mi-b"), props["principalId"])
        grant(srv, "Reader", sub_scope(srv), props["principalId"])
        out = workload(env)
        self.assertIn("mi-a", out["groups"])

    def test_default_azure_credential_picks_the_workload_identity(self):
        ident = create_identity(srv, "mi-a", "default-cred").json()
        grant(srv, "Reader", sub_scope(srv), ident["properties"]["principalId"])
        out = workload(workload_env(srv, ident["id"]), kind="default")
        self.assertEqual(claims(out["token"])["oid"], ident["properties"]["principalId"])
        self.assertIn("mi-b", out["groups"])

    def test_header_is_required_and_bound_to_its_workload(self):
        one = create_identity(srv, "mi-a", "bound-one").json()
        two = create_identity(srv, "mi-a", "bound-two").json()
        env = workload_env(srv, one["id"])
        self.assertEqual(token_request(env).status_code, 200)
        self.assertEqual(token_request(env, headers={}).status_code, 401)
        forged = env["IDENTITY_HEADER"][:-2] + ("AA" if not env["IDENTITY_HEADER"].endswith("AA")
                                                else "BB")
        self.assertEqual(token_request(env, headers={"X-IDENTITY-HEADER": forged}).status_code,
                         401)
        # Another workload's identity, by any selector, is refused.
        for sel in ({"client_id": two["properties"]["clientId"]},
                    {"principal_id": two["properties"]["principalId"]},
                    {"mi_res_id": two["id"]}):
            r = token_request(env, **sel)
            self.assertEqual(r.status_code, 400, (sel, r.text))
        # Its own, by selector, is fine; Azure ML's header and parameter names too.
        r = token_request(env, client_id=one["properties"]["clientId"])
        self.assertEqual(r.json()["client_id"], one["properties"]["clientId"])
        r = token_request(env, headers={"secret": env["MSI_SECRET"]},
                          clientid=one["properties"]["clientId"], **{"api-version": "2017-09-01"})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(token_request(env, resource="").status_code, 400)

    def test_token_for_storage_audience(self):
        ident = create_identity(srv, "mi-a", "storage-aud").json()
        r = token_request(workload_env(srv, ident["id"]), resource="https://storage.azure.com/")
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertEqual(body["resource"], "https://storage.azure.com/")
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(claims(body["access_token"])["aud"], "https://storage.azure.com/")
        int(body["expires_on"])

    def test_deleted_identity_tokens_stop_working(self):
        ident = create_identity(srv, "mi-a", "short-lived").json()
        grant(srv, "Reader", sub_scope(srv), ident["properties"]["principalId"])
        env = workload_env(srv, ident["id"])
        tok = token_request(env).json()["access_token"]
        r = srv.http("GET", sub_scope(srv) + "/resourcegroups?api-version=2021-04-01", token=tok)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(srv.http("DELETE", ident["id"] + "?" + MSI_API).status_code, 200)
        r = srv.http("GET", sub_scope(srv) + "/resourcegroups?api-version=2021-04-01", token=tok)
        self.assertEqual(r.status_code, 401)
        self.assertEqual(token_request(env).status_code, 401)
        # A new identity of the same name is a new principal with no grants.
        again = create_identity(srv, "mi-a", "short-lived").json()
        self.assertNotEqual(again["properties"]["principalId"], ident["properties"]["principalId"])
        tok = token_request(env).json()["access_token"]
        r = srv.http("GET", sub_scope(srv) + "/resourcegroups?api-version=2021-04-01", token=tok)
        self.assertEqual(r.status_code, 403)

    def test_workload_env_is_admin_only(self):
        ident = create_identity(srv, "mi-a", "env-guard").json()
        r = srv.http("GET", "/azlite/identity/workload-env?resourceId=" + ident["id"],
                     token=token_request(workload_env(srv, ident["id"])).json()["access_token"])
        self.assertEqual(r.status_code, 403)

    def test_attached_user_assigned_identity(self):
        # A resource that lists a user-assigned identity (here a storage account)
        # may get tokens for it, by client id.
        ident = create_identity(srv, "mi-b", "attached-id").json()
        acct = rg_scope(srv, "mi-b") + "/providers/Microsoft.Storage/storageAccounts/miattached1"
        r = srv.http("PUT", acct + "?api-version=2022-09-01", json={
            "location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {ident["id"]: {}}}})
        self.assertIn(r.status_code, (200, 201), r.text)
        env = workload_env(srv, acct)
        props = ident["properties"]
        r = token_request(env, client_id=props["clientId"])
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(claims(r.json()["access_token"])["oid"], props["principalId"])
        out = workload(env, client_id=props["clientId"])
        self.assertEqual(claims(out["token"])["oid"], props["principalId"])
        other = create_identity(srv, "mi-b", "not-attached").json()
        r = token_request(env, client_id=other["properties"]["clientId"])
        self.assertEqual(r.status_code, 400)


    def test_system_assigned_identity_of_a_storage_account(self):
        # SystemAssigned makes a real principal: the workload gets its tokens, and
        # it goes when the identity is removed.
        acct = rg_scope(srv, "mi-b") + "/providers/Microsoft.Storage/storageAccounts/misystem1"
        r = srv.http("PUT", acct + "?api-version=2022-09-01", json={
            "location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
            "identity": {"type": "SystemAssigned"}})
        self.assertIn(r.status_code, (200, 201), r.text)
        pid = r.json()["identity"]["principalId"]
        env = workload_env(srv, acct)
        tok = token_request(env)
        self.assertEqual(tok.status_code, 200, tok.text)
        self.assertEqual(claims(tok.json()["access_token"])["oid"], pid)
        r = srv.http("PATCH", acct + "?api-version=2022-09-01", json={"identity": {"type": "None"}})
        self.assertEqual(r.status_code, 200, r.text)
        r = srv.http("GET", "/subscriptions?api-version=2020-01-01",
                     token=tok.json()["access_token"])
        self.assertEqual(r.status_code, 401, r.text)


class Persistence(unittest.TestCase):
    def test_identities_grants_and_workload_variables_survive_a_restart(self):
        from idhelp import create_sp, credential
        ident = create_identity(srv, "mi-b", "survivor").json()
        grant(srv, "Reader", rg_scope(srv, "mi-b"), ident["properties"]["principalId"])
        sp = create_sp(srv, "mi-survivor-sp")
        grant(srv, "Contributor", rg_scope(srv, "mi-b"), sp["oid"])
        env = workload_env(srv, ident["id"])
        srv.restart()
        tok = token_request(env).json()["access_token"]
        path = rg_scope(srv, "mi-b") + "?api-version=2021-04-01"
        self.assertEqual(srv.http("GET", path, token=tok).status_code, 200)
        self.assertEqual(srv.http("PATCH", path, token=tok, json={"tags": {}}).status_code, 403)
        sp_tok = credential(srv, sp).get_token(srv.mgmt_url + "/.default").token
        self.assertEqual(srv.http("PATCH", path, token=sp_tok, json={"tags": {"a": "b"}}
                                  ).status_code, 200)


if __name__ == "__main__":
    unittest.main()
