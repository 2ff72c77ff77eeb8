"""Transparent mode's "Done when" for Azure ML: azure-ai-ml 1.4.0's
`workspaces.begin_create` of a new workspace, unchanged, under `azlite exec`
(default endpoints, DefaultAzureCredential). The SDK sends the workspace
template to management.azure.com as a deployment: a storage account, a key
vault, an Application Insights component, the workspace, and (the first time
in a region) nested deployments that make DefaultResourceGroup-<region> and
its Log Analytics workspace. All of it must really exist afterwards."""
import os
import subprocess
import tempfile
import textwrap
import unittest

from azlite_harness import BIN, Azlite, clean_environ

HERE = os.path.dirname(os.path.abspath(__file__))
srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


class WorkspaceThroughExec(unittest.TestCase):
    def test_begin_create_unchanged(self):
        self.assertEqual(srv.az("group", "create", "-n", "ml-resources", "-l", "eastus").returncode, 0)
        script = os.path.join(tempfile.mkdtemp(prefix="ml-exec-"), "create_ws.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent("""\
                import os, sys
                sys.path.insert(0, sys.argv[1])  # the pydash stand-in (Debian lacks pydash)
                from azure.ai.ml import MLClient
                from azure.ai.ml.entities import Workspace
                from azure.identity import DefaultAzureCredential
                ml = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"],
                              "ml-resources")
                ws = ml.workspaces.begin_create(Workspace(name="ml-workspace", location="eastus",
                                                          description="seed part 4")).result()
                print(ws.name)
                print(ws.storage_account)
                print(ws.key_vault)
                print(ws.application_insights)
                print(ws.discovery_url)
                print(ws.mlflow_tracking_uri)
                print(ml.workspaces.get("ml-workspace").description)
            """))
        env = clean_environ()
        env.pop("AZUREML_DEV_URL_MFE", None)
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                            script, HERE], capture_output=True, text=True, timeout=600, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        name, st, kv, ai, disc, mlflow, desc = p.stdout.strip().split("\n")[-7:]
        self.assertEqual(name, "ml-workspace")
        self.assertEqual(desc, "seed part 4")
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        rg = "/subscriptions/%s/resourceGroups/ml-resources/providers/" % sub
        self.assertTrue(st.startswith(rg + "Microsoft.Storage/storageAccounts/"), st)
        self.assertTrue(kv.startswith(rg + "Microsoft.KeyVault/vaults/"), kv)
        self.assertTrue(ai.startswith(rg + "Microsoft.Insights/components/"), ai)
        # What it printed names Azure's hosts: it came by them.
        self.assertTrue(disc.startswith("https://eastus.api.azureml.ms/"), disc)
        self.assertTrue(mlflow.startswith("azureml://eastus.api.azureml.ms/mlflow/"), mlflow)
        # Everything the template named exists, through ARM outside exec.
        for rid in (st, kv, ai, rg + "Microsoft.MachineLearningServices/workspaces/ml-workspace"):
            self.assertEqual(srv.az_json("resource", "show", "--ids", rid)["id"].lower(),
                             rid.lower())
        groups = srv.az_json("group", "list", "--query", "[].name")
        self.assertIn("DefaultResourceGroup-eastus", groups)
        la = srv.az_json("resource", "list", "-g", "DefaultResourceGroup-eastus", "--query",
                         "[].type")
        self.assertEqual(la, ["Microsoft.OperationalInsights/workspaces"])
        deps = srv.az_json("deployment", "group", "list", "-g", "ml-resources", "--query",
                           "[].properties.provisioningState")
        self.assertEqual(deps, ["Succeeded"])


if __name__ == "__main__":
    unittest.main()
