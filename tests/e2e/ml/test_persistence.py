"""What an ML workspace holds survives kill -9 (workspace, datastores,
cluster, environment, finished jobs); a job running when azlite was killed
ends Failed at the next start, saying why; the cluster comes back with no
nodes and a new job scales it up again."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

srv = None
SUB = None
WS = None
API = "api-version=2022-10-01-preview"


def setUpModule():
    global srv, SUB, WS
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/p?api-version=2021-04-01" % SUB,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/p/providers/Microsoft.MachineLearningServices" \
         "/workspaces/pws" % SUB
    assert srv.http("PUT", WS + "?" + API, json={"location": "eastus"}).status_code == 201


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def status(ml, name, want, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        s = ml.jobs.get(name).status
        if s == want:
            return s
        time.sleep(0.2)
    raise AssertionError("job %s never %s (last %s)" % (name, want, s))


class Persistence(unittest.TestCase):
    def test_kill9(self):
        from azure.ai.ml import command
        from azure.ai.ml.entities import AmlCompute, Environment
        ml = mlsdk.ml_client(srv, "p", "pws")
        ml.compute.begin_create_or_update(AmlCompute(name="c", size="Standard_DS3_v2",
                                                     max_instances=1)).result()
        ml.environments.create_or_update(Environment(name="e", image="ubuntu:22.04"))
        done = ml.jobs.create_or_update(command(command="echo done", environment="e:1",
                                                compute="c"))
        status(ml, done.name, "Completed")
        hung = ml.jobs.create_or_update(command(command="sleep 300", environment="e:1",
                                                compute="c"))
        status(ml, hung.name, "Running")
        srv.kill9()
        nodes_dir = os.path.join(srv.data_dir, "ml", "nodes")
        self.assertEqual(len(os.listdir(nodes_dir)), 1)
        srv.start()
        # The killed node's disk is gone with it.
        self.assertEqual(os.listdir(nodes_dir), [])
        ml = mlsdk.ml_client(srv, "p", "pws")
        self.assertEqual(ml.workspaces.get("pws").name, "pws")
        self.assertEqual(sorted(d.name for d in ml.datastores.list()),
                         ["workspaceartifactstore", "workspaceblobstore"])
        self.assertEqual(ml.compute.get("c").max_instances, 1)
        self.assertEqual(ml.environments.get("e", version="1").image, "ubuntu:22.04")
        self.assertEqual(ml.jobs.get(done.name).status, "Completed")
        self.assertEqual(ml.jobs.get(hung.name).status, "Failed")
        d = srv.http("GET", "/history/v1.0" + WS + "/runs/%s/details" % hung.name).json()
        self.assertIn("azlite stopped", d["error"]["error"]["message"])
        self.assertEqual(list(ml.compute.list_nodes("c")), [])
        again = ml.jobs.create_or_update(command(command="echo again", environment="e:1",
                                                 compute="c"))
        status(ml, again.name, "Completed")
        self.assertEqual(len(list(ml.compute.list_nodes("c"))), 1)


if __name__ == "__main__":
    unittest.main()
