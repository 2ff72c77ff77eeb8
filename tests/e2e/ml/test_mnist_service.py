"""Issue 17's done-when scenario, the seed's "Deploy Model" step with
azure-ai-ml 1.4.0 under `azlite exec` (endpoint/mnist.py): a real command job
trains a small torch model and writes outputs/model.pt; the model registered
from the job's output; endpoint mnist-service (key auth), deployment blue
whose score.py loads the model in init(); invoke and the seed's
requests.post answer the model's real predictions (the test computes them
itself from the job's model.pt); green at 10% gets about 10% of 1000
requests; a wrong key gets 401; getLogs shows init()'s output.  The other
endpoint behaviours are test_online_endpoint.py's."""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite, BIN, clean_environ  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
srv = None
rng = random.Random(17)
DATA = [[rng.uniform(-1, 1) for _ in range(28 * 28)] for _ in range(3)]


def setUpModule():
    global srv
    srv = Azlite().start()
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/mnist?api-version=2021-04-01" % sub,
                    json={"location": "eastus"}).status_code in (200, 201)
    ws = "/subscriptions/%s/resourceGroups/mnist/providers/Microsoft.MachineLearningServices" \
         "/workspaces/mnistws" % sub
    assert srv.http("PUT", ws + "?api-version=2022-10-01-preview",
                    json={"location": "eastus"}).status_code == 201


def tearDownModule():
    srv.cleanup()


@unittest.skipUnless(subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                                    capture_output=True).returncode == 0,
                     "python3-torch is not installed (scripts/setup.sh installs it)")
class MnistService(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dl = tempfile.mkdtemp()
        env = clean_environ()
        for k in ("AZUREML_DEV_URL_MFE", "REQUESTS_CA_BUNDLE"):
            env.pop(k, None)
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                            os.path.join(HERE, "endpoint", "mnist.py"), json.dumps(DATA), cls.dl],
                           capture_output=True, text=True, env=env, timeout=280)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
        cls.stdout = p.stdout
        cls.out = json.loads(p.stdout.strip().splitlines()[-1])

    def want(self):
        """The job's model.pt, loaded here: what the endpoint must answer."""
        code = ("import json, sys, torch\n"
                "m = torch.load(sys.argv[1]); m.eval()\n"
                "with torch.no_grad():\n"
                "    y = m(torch.tensor(json.loads(sys.argv[2]), dtype=torch.float32))\n"
                "print(json.dumps({'predictions': y.argmax(1).tolist(), 'logits': y.tolist()}))\n")
        path = os.path.join(self.dl, "artifacts", "outputs", "model.pt")
        p = subprocess.run(["/usr/bin/python3", "-c", code, path, json.dumps(DATA)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def assertPrediction(self, got, want):
        self.assertEqual(got["predictions"], want["predictions"])
        self.assertEqual(len(got["logits"]), len(DATA))
        for g, w in zip(got["logits"], want["logits"]):
            self.assertEqual(len(g), 10)
            for a, b in zip(g, w):
                self.assertAlmostEqual(a, b, places=5)

    def test_trained_registered_deployed(self):
        o = self.out
        self.assertEqual(o["job"][1], "Completed")
        self.assertIn("saved outputs/model.pt", self.stdout)
        self.assertEqual(o["model"], ["mnist-classifier", "1"])
        self.assertEqual(o["blue"], "Succeeded")
        self.assertIn("init: loaded the mnist model from", o["logs"])

    def test_real_predictions(self):
        want = self.want()
        self.assertPrediction(self.out["invoke"], want)
        self.assertEqual(self.out["post"][0], 200)
        self.assertPrediction(self.out["post"][1], want)
        self.assertEqual(self.out["wrong_key"], 401)

    def test_green_gets_ten_percent(self):
        split = self.out["split"]
        self.assertEqual(sum(split.values()), 1000)
        self.assertEqual(set(split), {"blue", "green"})
        # 10% of 1000: the binomial's sd is about 9.5.
        self.assertTrue(50 <= split["green"] <= 160, split)

    def test_monitor_metrics(self):
        """Azure Monitor's metrics for the endpoint, through az (hybrid profile):
        the requests the front answered, per deployment, and their latency."""
        ep = "/subscriptions/%s/resourceGroups/mnist/providers/Microsoft.MachineLearningServices" \
             "/workspaces/mnistws/onlineEndpoints/mnist-service" % srv.env["AZURE_SUBSCRIPTION_ID"]
        got = srv.az_json("monitor", "metrics", "list", "--resource", ep, "--metric",
                          "RequestsPerMinute", "--aggregation", "Total", "--interval", "PT1M",
                          "--filter", "deployment eq '*'")
        series = got["value"][0]["timeseries"]
        per = {s["metadatavalues"][0]["value"]: sum(p.get("total") or 0 for p in s["data"])
               for s in series}
        # Every request the script sent: invoke, two posts (one with a wrong key,
        # refused before any deployment) and the 1000 of the split.
        split = self.out["split"]
        self.assertEqual(per, {"blue": split["blue"] + 2, "green": split["green"]}, got)
        self.assertEqual(got["value"][0]["unit"], "Count")
        got = srv.az_json("monitor", "metrics", "list", "--resource", ep, "--metric",
                          "RequestLatency", "RequestLatency_P99", "--aggregation", "Average")
        lat, p99 = [[p["average"] for p in v["timeseries"][0]["data"] if p.get("average")]
                    for v in got["value"]]
        self.assertTrue(lat and all(x > 0 for x in lat), got)
        self.assertTrue(p99 and max(p99) >= max(lat) * 0.5, got)
        defs = srv.az_json("monitor", "metrics", "list-definitions", "--resource", ep)
        self.assertIn("RequestsPerMinute", [d["name"]["value"] for d in defs])


if __name__ == "__main__":
    unittest.main()
