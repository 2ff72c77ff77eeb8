"""The Microsoft Graph subset through az 2.45 (`az ad ...`) and raw requests:
service principals made by `az ad sp create-for-rbac` that then log in,
applications and their password credentials, the $filter forms az sends,
directoryObjects/getByIds, and who may write the directory."""
import json
import unittest
import uuid

from azure.core.exceptions import ClientAuthenticationError

from azlite_harness import Azlite
from idhelp import (AzAs, create_group, create_identity, create_sp, credential, graph,
                    graph_token, mgmt_token)

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def az_json(*args):
    return srv.az_json(*args)


def login_fails(sp, secret=None):
    """The AADSTS code azure-identity reports, or None if the login works."""
    try:
        credential(srv, sp, secret).get_token(srv.mgmt_url + "/.default")
        return None
    except ClientAuthenticationError as e:
        return e.message


class CreateForRbac(unittest.TestCase):
    def test_prints_credentials_that_log_in(self):
        out = az_json("ad", "sp", "create-for-rbac", "--name", "ml-training-sp")
        self.assertEqual(set(out), {"appId", "password", "tenant", "displayName"})
        self.assertEqual(out["tenant"], srv.env["AZLITE_TENANT_ID"])
        self.assertEqual(out["displayName"], "ml-training-sp")
        self.assertIsNone(login_fails(out))
        # az login --service-principal works with them (no role yet: no subscription).
        az = AzAs(srv, out, allow_no_subscriptions=True)
        try:
            self.assertEqual(az.login.returncode, 0, az.login.stderr)
            p = az("account", "get-access-token", "--output", "json")
            self.assertEqual(p.returncode, 0, p.stderr)
            tok = json.loads(p.stdout)["accessToken"]
            r = srv.http("GET", "/subscriptions?api-version=2020-01-01", token=tok)
            self.assertEqual((r.status_code, r.json()["value"]), (200, []))
        finally:
            az.close()

    def test_second_run_patches_the_same_app_and_rotates_its_password(self):
        first = az_json("ad", "sp", "create-for-rbac", "--name", "rotating-sp")
        second = az_json("ad", "sp", "create-for-rbac", "--name", "rotating-sp")
        self.assertEqual(first["appId"], second["appId"])
        self.assertNotEqual(first["password"], second["password"])
        self.assertIn("AADSTS7000215", login_fails(first))
        self.assertIsNone(login_fails(second))
        apps = az_json("ad", "app", "list", "--display-name", "rotating-sp")
        self.assertEqual(len(apps), 1)
        self.assertEqual(len(apps[0]["passwordCredentials"]), 1)


class Directory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sp = create_sp(srv, "graph-dir-sp")

    def test_admin_is_in_graph(self):
        admin = srv.env["AZURE_CLIENT_ID"]
        sp = az_json("ad", "sp", "show", "--id", admin)
        self.assertEqual(sp["appId"], admin)
        self.assertEqual(sp["servicePrincipalType"], "Application")
        self.assertIn(admin, sp["servicePrincipalNames"])
        app = az_json("ad", "app", "show", "--id", admin)
        self.assertEqual(app["displayName"], "azlite-admin")
        self.assertEqual(len(app["passwordCredentials"]), 1)

    def test_list_filters(self):
        appid = self.sp["appId"]
        self.assertEqual([a["appId"] for a in az_json("ad", "app", "list", "--app-id", appid)],
                         [appid])
        self.assertIn(appid, [a["appId"] for a in az_json("ad", "app", "list", "--display-name",
                                                          "graph-dir-sp")])
        self.assertEqual([s["id"] for s in az_json("ad", "sp", "list", "--spn", appid)],
                         [self.sp["oid"]])
        self.assertEqual([s["id"] for s in az_json("ad", "sp", "list", "--display-name",
                                                   "graph-dir-sp")], [self.sp["oid"]])
        r = graph(srv, "GET", "/applications?$filter=startswith(displayName,'graph-dir')")
        self.assertEqual([a["appId"] for a in r.json()["value"]], [appid])
        r = graph(srv, "GET", "/servicePrincipals?$filter=appId eq '%s'" % appid.upper())
        self.assertEqual(len(r.json()["value"]), 1)
        r = graph(srv, "GET", "/applications?$filter=displayName eq 'it''s not there'")
        self.assertEqual(r.json()["value"], [])
        r = graph(srv, "GET", "/applications?$filter=displayName has 'x'")
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"]["code"], "Request_UnsupportedQuery")

    def test_get_by_ids_names_types(self):
        app = az_json("ad", "app", "show", "--id", self.sp["appId"])
        r = graph(srv, "POST", "/directoryObjects/getByIds",
                  json={"ids": [self.sp["oid"], app["id"], str(uuid.uuid4())]})
        self.assertEqual(r.status_code, 200, r.text)
        got = {o["id"]: o["@odata.type"] for o in r.json()["value"]}
        self.assertEqual(got, {self.sp["oid"]: "#microsoft.graph.servicePrincipal",
                               app["id"]: "#microsoft.graph.application"})
        r = graph(srv, "POST", "/directoryObjects/getByIds",
                  json={"ids": [self.sp["oid"], app["id"]], "types": ["servicePrincipal"]})
        self.assertEqual([o["id"] for o in r.json()["value"]], [self.sp["oid"]])

    def test_app_update(self):
        out = az_json("ad", "sp", "create-for-rbac", "--name", "graph-upd")
        p = srv.az("ad", "app", "update", "--id", out["appId"], "--web-home-page-url",
                   "https://example.test/home", "--identifier-uris", "api://graph-upd")
        self.assertEqual(p.returncode, 0, p.stderr)
        app = az_json("ad", "app", "show", "--id", out["appId"])
        self.assertEqual(app["web"]["homePageUrl"], "https://example.test/home")
        self.assertEqual(app["identifierUris"], ["api://graph-upd"])
        # A service principal answers to its app's identifier URIs too.
        sps = az_json("ad", "sp", "list", "--spn", "api://graph-upd")
        self.assertEqual([s["appId"] for s in sps], [out["appId"]])
        r = graph(srv, "PATCH", "/applications/" + app["id"], json={"bogusProperty": 1})
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"]["code"], "Request_BadRequest")
        r = graph(srv, "GET", "/applications/" + str(uuid.uuid4()))
        self.assertEqual((r.status_code, r.json()["error"]["code"]),
                         (404, "Request_ResourceNotFound"))

    def test_managed_identities_are_listed_as_such(self):
        create_group(srv, "graph-mi")
        mi = create_identity(srv, "graph-mi", "graph-listed-id").json()
        sps = az_json("ad", "sp", "list", "--spn", mi["properties"]["clientId"])
        self.assertEqual(len(sps), 1)
        self.assertEqual(sps[0]["id"], mi["properties"]["principalId"])
        self.assertEqual(sps[0]["servicePrincipalType"], "ManagedIdentity")
        self.assertIn(mi["id"], sps[0]["alternativeNames"])
        r = graph(srv, "DELETE", "/servicePrincipals/" + sps[0]["id"])
        self.assertEqual(r.status_code, 400)


class Credentials(unittest.TestCase):
    def test_credential_reset_rotates(self):
        sp = create_sp(srv, "graph-reset")
        new = az_json("ad", "app", "credential", "reset", "--id", sp["appId"])
        self.assertEqual(new["appId"], sp["appId"])
        self.assertIn("AADSTS7000215", login_fails(sp))
        self.assertIsNone(login_fails(sp, new["password"]))
        creds = az_json("ad", "app", "credential", "list", "--id", sp["appId"])
        self.assertEqual(len(creds), 1)
        self.assertEqual(creds[0]["hint"], new["password"][:3])
        self.assertNotIn("secretText", json.dumps(creds).replace('"secretText": null', ""))

    def test_add_and_remove_password(self):
        sp = create_sp(srv, "graph-pw")
        app = az_json("ad", "app", "show", "--id", sp["appId"])
        r = graph(srv, "POST", "/applications/%s/addPassword" % app["id"],
                  json={"passwordCredential": {"displayName": "second"}})
        self.assertEqual(r.status_code, 200, r.text)
        second = r.json()
        self.assertEqual(second["displayName"], "second")
        self.assertIsNone(login_fails(sp, second["secretText"]))
        self.assertIsNone(login_fails(sp))
        r = graph(srv, "POST", "/applications/%s/removePassword" % app["id"],
                  json={"keyId": second["keyId"]})
        self.assertEqual(r.status_code, 204, r.text)
        self.assertIn("AADSTS7000215", login_fails(sp, second["secretText"]))
        self.assertIsNone(login_fails(sp))
        r = graph(srv, "POST", "/applications/%s/removePassword" % app["id"],
                  json={"keyId": second["keyId"]})
        self.assertEqual(r.status_code, 400)

    def test_disabled_service_principal_gets_no_token(self):
        sp = create_sp(srv, "graph-disabled")
        r = graph(srv, "PATCH", "/servicePrincipals/" + sp["oid"], json={"accountEnabled": False})
        self.assertEqual(r.status_code, 204, r.text)
        self.assertIn("AADSTS7000112", login_fails(sp))
        graph(srv, "PATCH", "/servicePrincipals/" + sp["oid"], json={"accountEnabled": True})
        self.assertIsNone(login_fails(sp))

    def test_deleting_the_app_deletes_the_principal(self):
        sp = create_sp(srv, "graph-deleted")
        token = mgmt_token(srv, sp)
        self.assertEqual(srv.http("GET", "/subscriptions?api-version=2020-01-01",
                                  token=token).status_code, 200)
        p = srv.az("ad", "app", "delete", "--id", sp["appId"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(graph(srv, "GET", "/servicePrincipals/" + sp["oid"]).status_code, 404)
        r = srv.http("GET", "/subscriptions?api-version=2020-01-01", token=token)
        self.assertEqual(r.status_code, 401)
        self.assertEqual(r.json()["error"]["code"], "InvalidAuthenticationToken")
        self.assertIn("AADSTS700016", login_fails(sp))


class WhoMayWrite(unittest.TestCase):
    def test_principals_without_a_granting_role_only_read(self):
        sp = create_sp(srv, "graph-nobody")
        tok = graph_token(srv, credential(srv, sp))
        self.assertEqual(graph(srv, "GET", "/servicePrincipals", token=tok).status_code, 200)
        for method, path, body in (("POST", "/applications", {"displayName": "x"}),
                                   ("POST", "/servicePrincipals", {"appId": sp["appId"]}),
                                   ("PATCH", "/servicePrincipals/" + sp["oid"], {"notes": "x"}),
                                   ("DELETE", "/servicePrincipals/" + sp["oid"], None)):
            r = graph(srv, method, path, token=tok, json=body)
            self.assertEqual(r.status_code, 403, (method, path, r.text))
            self.assertEqual(r.json()["error"]["code"], "Authorization_RequestDenied")
        app = az_json("ad", "app", "show", "--id", sp["appId"])
        r = graph(srv, "POST", "/applications/%s/addPassword" % app["id"], token=tok, json={})
        self.assertEqual(r.status_code, 403)

    def test_a_management_token_is_not_a_graph_token(self):
        r = graph(srv, "GET", "/applications", token=srv.token())
        self.assertEqual(r.status_code, 401)
        self.assertEqual(r.json()["error"]["code"], "InvalidAuthenticationTokenAudience")

    def test_the_admin_cannot_be_removed(self):
        admin = srv.env["AZURE_CLIENT_ID"]
        app = az_json("ad", "app", "show", "--id", admin)
        sp = az_json("ad", "sp", "show", "--id", admin)
        self.assertEqual(graph(srv, "DELETE", "/applications/" + app["id"]).status_code, 403)
        self.assertEqual(graph(srv, "DELETE", "/servicePrincipals/" + sp["id"]).status_code, 403)
        key = app["passwordCredentials"][0]["keyId"]
        r = graph(srv, "POST", "/applications/%s/removePassword" % app["id"], json={"keyId": key})
        self.assertEqual(r.status_code, 403)
        self.assertEqual(srv.az("group", "list").returncode, 0)


if __name__ == "__main__":
    unittest.main()
