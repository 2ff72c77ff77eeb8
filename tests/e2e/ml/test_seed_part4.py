"""The seed's Part 4 through azure-ai-ml 1.4.0, mapped to v2 and run as a user
would, under `azlite exec` (seed/part4.py, unchanged endpoints): the
workspace (workspaces.begin_create: its template deployment, through
management.azure.com), gpu-cluster (Standard_NC6s_v3, max 4, idle 300 s), an
environment from a conda file, the code uploaded to the workspace's blob
store, training data uploaded there as a uri_file data asset, a command job
training a small torch model on it with --epochs 10
--batch-size 32 --learning-rate 0.001 on one node of the cluster, jobs.stream
printing the script's lines, Completed, outputs/model.pt downloaded and
loadable, the model registered as mnist-classifier (version 1, then 2, with
its tags) from the job's output; the node stays idle until the cluster's idle
time has passed on azlite's clock, then goes.  torch is Debian's
python3-torch (scripts/setup.sh)."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite, BIN, clean_environ  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
srv = None
SUB = None
WS = None
API = "api-version=2022-10-01-preview"


def setUpModule():
    global srv, SUB, WS
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/ml-resources?api-version=2021-04-01"
                 % SUB, json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text
    WS = "/subscriptions/%s/resourceGroups/ml-resources/providers/" \
         "Microsoft.MachineLearningServices/workspaces/ml-workspace" % SUB


def tearDownModule():
    srv.cleanup()


def nodes():
    r = srv.http("POST", WS + "/computes/gpu-cluster/listNodes?" + API)
    assert r.status_code == 200, r.text
    return r.json()["nodes"]


@unittest.skipUnless(subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                                    capture_output=True).returncode == 0,
                     "python3-torch is not installed (scripts/setup.sh installs it)")
class SeedPart4(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                            os.path.join(HERE, "seed", "part4.py")],
                           capture_output=True, text=True, env=clean_environ(), timeout=280)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
        cls.stdout = p.stdout
        cls.out = json.loads(p.stdout.strip().splitlines()[-1])

    def test_cluster_and_environment(self):
        self.assertIn("Creating compute target: gpu-cluster", self.stdout)
        self.assertEqual(self.out["compute"], ["Standard_NC6s_v3", 4, 300.0])
        self.assertEqual(self.out["environment"], ["pytorch-env", "1"])

    def test_job_streamed_and_completed(self):
        s = self.out["stream"]
        self.assertEqual(self.out["submitted"], "NotStarted")
        self.assertEqual(self.out["status"], "Completed")
        self.assertIn("epochs=10 batch_size=32 learning_rate=0.001", s)
        # The data uploaded as a uri_file data asset reached the node.
        self.assertEqual(self.out["data"], ["mnist-sample", "1"])
        self.assertIn("data mnist-sample.npz: 512 samples", s)
        for e in range(1, 11):
            self.assertIn("epoch %d/10 loss " % e, s)
        self.assertIn("saved outputs/model.pt", s)
        # Standard_NC6s_v3 has a V100: the log says whether the node got the host's GPU.
        self.assertTrue("GPU(s) of this host passed to the node" in s or
                        "the node's size has GPUs, this host gives none" in s, s)
        self.assertIn("Execution Summary", s)
        # Offline, the conda file is not installed; the log says what is missing.
        self.assertIn("conda dependencies were not installed", s)
        self.assertIn("azureml_mlflow", s)
        self.assertNotIn("conda_forge", s)

    def test_model_downloaded_and_registered(self):
        self.assertTrue(self.out["downloaded"])
        self.assertEqual(self.out["model_out"], [1, 10])
        tags = {"framework": "pytorch", "task": "classification"}
        self.assertEqual(self.out["models"], [["mnist-classifier", "1", tags],
                                              ["mnist-classifier", "2", tags]])
        m = srv.http("GET", WS + "/models/mnist-classifier/versions/2?api-version=2022-05-01")
        self.assertEqual(m.status_code, 200, m.text)
        uri = m.json()["properties"]["modelUri"]
        # The version has its own copy of the job's file, which models.download fetches.
        self.assertTrue(uri.endswith("/datastores/workspaceblobstore/paths/ModelRegistry/"
                                     "mnist-classifier/2/model.pt"), uri)
        self.assertEqual(self.out["model_files"], ["mnist-classifier/model.pt"])
        self.assertEqual(self.out["registered_out"], [1, 10])
        self.assertEqual(self.out["local_model"], ["1", ["mnist-local/model.pt"]])
        c = srv.http("GET", WS + "/models/mnist-classifier?api-version=2022-05-01").json()
        self.assertEqual(c["properties"]["latestVersion"], "2")
        self.assertEqual(c["properties"]["nextVersion"], "3")

    def test_one_node_then_none(self):
        # The job printed the node it ran on: the cluster's one node, idle now.
        ran_on = self.out["stream"].split("node ", 1)[1].split()[0]
        self.assertEqual(self.out["nodes"], [[ran_on, "idle"]])
        self.assertEqual([n["nodeId"] for n in nodes()], [ran_on])
        p = srv.http("GET", WS + "/computes/gpu-cluster?" + API).json()["properties"]
        self.assertEqual(p["properties"]["currentNodeCount"], 1)
        srv.cli("clock", "advance", "6m")
        deadline = time.time() + 60
        while time.time() < deadline:
            p = srv.http("GET", WS + "/computes/gpu-cluster?" + API).json()["properties"]
            if p["properties"]["allocationState"] == "Steady" and not nodes():
                break
            time.sleep(0.2)
        self.assertEqual(nodes(), [])
        self.assertEqual(p["properties"]["currentNodeCount"], 0)
        self.assertEqual(p["properties"]["nodeStateCounts"]["leavingNodeCount"], 0)
        # The node's hours, its idle 6 minutes of azlite's clock too, are a usage event.
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data_dir, "azlite.db"), uri=True)
        try:
            got = db.execute("SELECT meter, quantity, unit FROM usage_events WHERE resource_id=?"
                             " COLLATE NOCASE", (WS + "/computes/gpu-cluster",)).fetchall()
        finally:
            db.close()
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0][0], "Microsoft.MachineLearningServices/workspaces/computes/"
                                    "Standard_NC6s_v3/Dedicated")
        self.assertEqual(got[0][2], "Hours")
        self.assertGreaterEqual(got[0][1], 0.1)  # at least the 6 minutes advanced


if __name__ == "__main__":
    unittest.main()
