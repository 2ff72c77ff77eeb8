"""Azure ML workspaces and datastores: a workspace made by an ARM PUT (with a
storage account azlite creates, or the one named), read back through
azure-ai-ml 1.4.0 (workspaces.get/list, datastores.get/list/get_default) and
`az rest`; listKeys with the account's real key; the discovery document; user
datastores with listSecrets; delete with what went with it."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

srv = None
SUB = None
RG = "ml-resources"
API = "api-version=2022-10-01"
WS = None


def setUpModule():
    global srv, SUB, WS
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, RG),
                 json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text
    WS = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices" \
         "/workspaces" % (SUB, RG)


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def put_ws(name, body):
    return srv.http("PUT", "%s/%s?%s" % (WS, name, API), json=body)


class Workspace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = put_ws("ml-workspace", {"location": "East US", "identity": {"type": "SystemAssigned"},
                                    "tags": {"team": "ml"},
                                    "properties": {"friendlyName": "ML workspace",
                                                   "description": "seed part 4"}})
        assert r.status_code == 201, r.text
        cls.created = r.json()
        cls.ml = mlsdk.ml_client(srv, RG, "ml-workspace")

    def test_created_body(self):
        w = self.created
        p = w["properties"]
        self.assertEqual(w["location"], "eastus")
        self.assertEqual(w["kind"], "Default")
        self.assertEqual(p["provisioningState"], "Succeeded")
        self.assertEqual(w["identity"]["type"], "SystemAssigned")
        self.assertTrue(w["identity"]["principalId"])
        self.assertRegex(p["workspaceId"], r"^[0-9a-f-]{36}$")
        self.assertIn("/providers/Microsoft.Storage/storageAccounts/mlworkspace", p["storageAccount"])
        self.assertTrue(p["mlFlowTrackingUri"].startswith("azureml://127.0.0.1:"))

    def test_storage_account_is_real(self):
        acct = srv.http("GET", self.created["properties"]["storageAccount"] +
                        "?api-version=2022-09-01")
        self.assertEqual(acct.status_code, 200, acct.text)
        self.assertEqual(acct.json()["kind"], "StorageV2")
        keys = srv.http("POST", self.created["properties"]["storageAccount"] +
                        "/listKeys?api-version=2022-09-01").json()["keys"]
        wk = srv.http("POST", "%s/ml-workspace/listKeys?%s" % (WS, API))
        self.assertEqual(wk.status_code, 200, wk.text)
        self.assertEqual(wk.json()["userStorageKey"], keys[0]["value"])
        self.assertEqual(wk.json()["userStorageResourceId"], self.created["properties"]["storageAccount"])
        self.assertEqual(srv.http("POST", "%s/ml-workspace/resyncKeys?%s" % (WS, API)).status_code, 200)

    def test_sdk_get_and_list(self):
        w = self.ml.workspaces.get("ml-workspace")
        self.assertEqual(w.name, "ml-workspace")
        self.assertEqual(w.location, "eastus")
        self.assertEqual(w.display_name, "ML workspace")
        self.assertEqual(w.description, "seed part 4")
        self.assertEqual(w.tags, {"team": "ml"})
        self.assertEqual(w.resource_group, RG)
        self.assertEqual(w.storage_account, self.created["properties"]["storageAccount"])
        names = [x.name for x in self.ml.workspaces.list()]
        self.assertIn("ml-workspace", names)

    def test_discovery(self):
        import requests
        url = self.ml.workspaces.get("ml-workspace").discovery_url
        d = requests.get(url, verify=srv.ca, timeout=30)
        self.assertEqual(d.status_code, 200, d.text)
        self.assertEqual(d.json()["api"], srv.mgmt_url)
        self.assertEqual(d.json()["history"], srv.mgmt_url)

    def test_default_datastores(self):
        names = sorted(d.name for d in self.ml.datastores.list())
        self.assertEqual(names, ["workspaceartifactstore", "workspaceblobstore"])
        d = self.ml.datastores.get_default()
        self.assertEqual(d.name, "workspaceblobstore")
        acct = self.created["properties"]["storageAccount"].rsplit("/", 1)[1]
        self.assertEqual(d.account_name, acct)
        self.assertEqual(d.container_name,
                         "azureml-blobstore-" + self.created["properties"]["workspaceId"])
        # The containers exist in the account: the blob service lists them.
        from azure.storage.blob import BlobServiceClient
        keys = srv.http("POST", self.created["properties"]["storageAccount"] +
                        "/listKeys?api-version=2022-09-01").json()["keys"]
        svc = BlobServiceClient("http://127.0.0.1:%d/%s" % (srv.ports["blob"], acct),
                                credential={"account_name": acct, "account_key": keys[0]["value"]})
        cts = sorted(c.name for c in svc.list_containers())
        self.assertEqual(cts, sorted(["azureml", d.container_name]))
        # with_secrets asks listSecrets: the account's own key.
        s = self.ml.datastores.get("workspaceartifactstore", include_secrets=True)
        self.assertEqual(s.credentials.account_key, keys[0]["value"])

    def test_user_datastore(self):
        from azure.ai.ml.entities import AzureBlobDatastore, AccountKeyConfiguration
        acct = self.created["properties"]["storageAccount"].rsplit("/", 1)[1]
        ds = AzureBlobDatastore(name="training_data", account_name=acct, container_name="data",
                                description="MNIST",
                                credentials=AccountKeyConfiguration(account_key="a2V5"))
        made = self.ml.datastores.create_or_update(ds)
        self.assertEqual(made.name, "training_data")
        got = self.ml.datastores.get("training_data", include_secrets=True)
        self.assertEqual(got.container_name, "data")
        self.assertEqual(got.description, "MNIST")
        self.assertEqual(got.credentials.account_key, "a2V5")
        plain = srv.http("GET", "%s/ml-workspace/datastores/training_data?%s" % (WS, API)).json()
        self.assertNotIn("secrets", plain["properties"]["credentials"])
        self.ml.datastores.delete("training_data")
        from azure.core.exceptions import ResourceNotFoundError
        with self.assertRaises(ResourceNotFoundError):
            self.ml.datastores.get("training_data")

    def test_default_datastore_cannot_go(self):
        r = srv.http("DELETE", "%s/ml-workspace/datastores/workspaceblobstore?%s" % (WS, API))
        self.assertEqual(r.status_code, 400, r.text)

    def test_az_rest(self):
        p = srv.az("rest", "--method", "get", "--url",
                   "%s/ml-workspace?%s" % (WS.replace(SUB, "{subscriptionId}"), API))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"friendlyName": "ML workspace"', p.stdout)
        p = srv.az("resource", "list", "-g", RG, "--resource-type",
                   "Microsoft.MachineLearningServices/workspaces", "--output", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ml-workspace", p.stdout)

    def test_patch(self):
        r = srv.http("PATCH", "%s/ml-workspace?%s" % (WS, API),
                     json={"properties": {"description": "patched"}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.ml.workspaces.get("ml-workspace").description, "patched")
        self.assertEqual(r.json()["properties"]["workspaceId"],
                         self.created["properties"]["workspaceId"])
        srv.http("PATCH", "%s/ml-workspace?%s" % (WS, API),
                 json={"properties": {"description": "seed part 4"}})


class NamedAccount(unittest.TestCase):
    def test_named_account_and_delete(self):
        srv.storage_account("mlnamed", RG)
        acct = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts" \
               "/mlnamed" % (SUB, RG)
        r = put_ws("ws-named", {"location": "eastus", "properties": {"storageAccount": acct}})
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["properties"]["storageAccount"], acct)
        ml = mlsdk.ml_client(srv, RG, "ws-named")
        self.assertEqual(ml.datastores.get_default().account_name, "mlnamed")
        r = put_ws("ws-named", {"location": "eastus", "properties": {"storageAccount": acct + "x"}})
        self.assertEqual(r.status_code, 400, r.text)
        d = srv.http("DELETE", "%s/ws-named?%s" % (WS, API))
        self.assertIn(d.status_code, (200, 202, 204), d.text)
        self.assertEqual(srv.http("GET", "%s/ws-named?%s" % (WS, API)).status_code, 404)
        # What was kept for it went too: a new one of the same name starts fresh.
        r = put_ws("ws-named", {"location": "eastus", "properties": {"storageAccount": acct}})
        self.assertEqual(r.status_code, 201, r.text)

    def test_bad_input(self):
        r = put_ws("ws-bad", {"location": "eastus", "properties": {
            "storageAccount": "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage"
                              "/storageAccounts/nosuch" % (SUB, RG)}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"]["code"], "ValidationError")
        self.assertEqual(srv.http("GET", "%s/ws-bad?%s" % (WS, API)).status_code, 404)
        r = put_ws("-bad", {"location": "eastus"})
        self.assertEqual(r.status_code, 400, r.text)
        r = put_ws("ws-hub", {"location": "eastus", "kind": "Hub"})
        self.assertEqual(r.status_code, 400, r.text)
        from azure.core.exceptions import ResourceNotFoundError
        ml = mlsdk.ml_client(srv, RG, "nope")
        with self.assertRaises(ResourceNotFoundError):
            ml.workspaces.get("nope")


if __name__ == "__main__":
    unittest.main()
