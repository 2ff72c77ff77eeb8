"""Distributed command jobs through azure-ai-ml 1.4.0: a 2-node PyTorch job
whose ranks all-reduce over gloo (every node of a cluster is a real sandbox,
and the nodes share the cluster's network), the variables torch.distributed
reads, a log per rank, one failing rank failing the job, a cancel that kills
every rank, and an instance count over the cluster's maximum refused."""
import os
import sys
import time
import unittest

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

srv = None
ml = None
WS = None
API = "api-version=2022-10-01-preview"

ALLREDUCE = r"""cat > ar.py <<'EOF'
import os, sys, torch, torch.distributed as dist
dist.init_process_group("gloo")
r = dist.get_rank()
t = torch.tensor([float(r + 1)])
dist.all_reduce(t)
print("rank", r, "of", dist.get_world_size(), "node", os.environ["NODE_RANK"],
      "host", os.uname().nodename, "sum", t.item(), flush=True)
assert t.item() == 3.0
if r == 0:
    open("outputs/sum.txt", "w").write("%g\n" % t.item())
dist.destroy_process_group()
EOF
python3 ar.py"""


def setUpModule():
    global srv, ml, WS
    srv = Azlite().start()
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/dist?api-version=2021-04-01" % sub,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/dist/providers/Microsoft.MachineLearningServices" \
         "/workspaces/distws" % sub
    assert srv.http("PUT", WS + "?" + API, json={"location": "eastus"}).status_code == 201
    ml = mlsdk.ml_client(srv, "dist", "distws")
    from azure.ai.ml.entities import AmlCompute, Environment
    ml.compute.begin_create_or_update(AmlCompute(name="gpu-cluster", size="Standard_DS3_v2",
                                                 max_instances=2)).result()
    ml.environments.create_or_update(Environment(name="torch", image="ubuntu:22.04"))


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def wait_terminal(name, limit=240):
    deadline = time.time() + limit
    while time.time() < deadline:
        j = ml.jobs.get(name)
        if j.status in ("Completed", "Failed", "Canceled"):
            return j
        time.sleep(0.3)
    raise AssertionError("job %s did not end" % name)


def details(name):
    r = srv.http("GET", "/history/v1.0" + WS + "/runs/%s/details" % name)
    assert r.status_code == 200, r.text
    return r.json()


def logs(name):
    return {k: requests.get(u, verify=srv.ca, timeout=30).text
            for k, u in details(name)["logFiles"].items()}


def two_node_job(cmd):
    from azure.ai.ml import command
    from azure.ai.ml import PyTorchDistribution
    return ml.jobs.create_or_update(command(
        command=cmd, environment="torch:1", compute="gpu-cluster", instance_count=2,
        distribution=PyTorchDistribution(process_count_per_instance=1)))


class Distributed(unittest.TestCase):
    def test_1_allreduce_over_gloo_on_two_nodes(self):
        made = two_node_job(ALLREDUCE)
        nodes_seen = 0
        deadline = time.time() + 240
        while time.time() < deadline:
            st = ml.jobs.get(made.name).status
            c = srv.http("GET", WS + "/computes/gpu-cluster?" + API).json()
            nodes_seen = max(nodes_seen, c["properties"]["properties"]["currentNodeCount"])
            if st in ("Completed", "Failed", "Canceled"):
                break
            time.sleep(0.3)
        done = wait_terminal(made.name)
        got = logs(made.name)
        self.assertEqual(done.status, "Completed", got)
        self.assertEqual(nodes_seen, 2)
        self.assertEqual(sorted(got), ["user_logs/std_log.txt",
                                       "user_logs/std_log_process_1.txt"])
        self.assertIn("rank 0 of 2 node 0", got["user_logs/std_log.txt"])
        self.assertIn("sum 3.0", got["user_logs/std_log.txt"])
        self.assertIn("rank 1 of 2 node 1", got["user_logs/std_log_process_1.txt"])
        self.assertIn("sum 3.0", got["user_logs/std_log_process_1.txt"])
        # Each rank ran on its own node (its own sandbox, its own hostname).
        h0 = got["user_logs/std_log.txt"].split("host ")[1].split()[0]
        h1 = got["user_logs/std_log_process_1.txt"].split("host ")[1].split()[0]
        self.assertNotEqual(h0, h1)
        # Rank 0's outputs, in the artifact store (jobs.download needs
        # transparent mode: test_seed_part4 covers it).
        from azure.storage.blob import BlobServiceClient
        ws = srv.http("GET", WS + "?" + API).json()
        acct = ws["properties"]["storageAccount"].rsplit("/", 1)[1]
        keys = srv.http("POST", ws["properties"]["storageAccount"] + "/listKeys?api-version="
                        "2022-09-01").json()["keys"][0]["value"]
        ep = srv.http("GET", ws["properties"]["storageAccount"] + "?api-version=2022-09-01"
                      ).json()["properties"]["primaryEndpoints"]["blob"]
        bsc = BlobServiceClient(ep, credential={"account_name": acct, "account_key": keys},
                                connection_verify=srv.ca)
        data = bsc.get_blob_client("azureml", "ExperimentRun/dcid.%s/outputs/sum.txt"
                                   % made.name).download_blob().readall()
        self.assertEqual(data.strip(), b"3")

    def test_2_one_failing_rank_fails_the_job(self):
        made = two_node_job('if [ "$RANK" = 1 ]; then echo rank one fails >&2; exit 7; fi; '
                            'sleep 120; echo rank zero never ends')
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Failed")
        e = details(made.name)["error"]
        msg = e.get("error", e)["message"]
        self.assertIn("status code 7", msg)
        self.assertIn("std_log_process_1.txt", msg)
        self.assertIn("rank one fails", msg)
        self.assertNotIn("never ends", logs(made.name)["user_logs/std_log.txt"])

    def test_3_cancel_kills_every_rank(self):
        made = two_node_job('echo "rank $RANK up"; sleep 310; echo never')
        deadline = time.time() + 240
        while time.time() < deadline:
            if details(made.name)["status"] == "Running":
                got = logs(made.name)
                if "rank 1 up" in got.get("user_logs/std_log_process_1.txt", "") and \
                        "rank 0 up" in got["user_logs/std_log.txt"]:
                    break
            time.sleep(0.3)
        self.assertEqual(os.popen("ps -e -o args").read().splitlines().count("sleep 310"), 2)
        ml.jobs.begin_cancel(made.name).result()
        self.assertEqual(wait_terminal(made.name).status, "Canceled")
        deadline = time.time() + 20
        while "sleep 310" in os.popen("ps -e -o args").read() and time.time() < deadline:
            time.sleep(0.2)
        self.assertNotIn("sleep 310", os.popen("ps -e -o args").read())

    def test_bad_shapes_refused(self):
        from azure.ai.ml import command
        from azure.ai.ml import PyTorchDistribution
        for n in (3, 0):
            r = srv.http("PUT", WS + "/jobs/toobig%d?%s" % (n, API), json={"properties": {
                "jobType": "Command", "command": "true", "computeId": WS + "/computes/gpu-cluster",
                "environmentId": "azureml:torch:1", "resources": {"instanceCount": n},
                "distribution": {"distributionType": "PyTorch", "processCountPerInstance": 1}}})
            self.assertEqual(r.status_code, 400, r.text)
            self.assertEqual(r.json()["error"]["code"], "ValidationError")
            self.assertEqual(srv.http("GET", WS + "/jobs/toobig%d?%s" % (n, API)).status_code, 404)
        with self.assertRaises(Exception) as e:
            ml.jobs.create_or_update(command(
                command="true", environment="torch:1", compute="gpu-cluster", instance_count=3,
                distribution=PyTorchDistribution(process_count_per_instance=1)))
        self.assertIn("maximum node count", str(e.exception))
        r = srv.http("PUT", WS + "/jobs/badtype?" + API, json={"properties": {
            "jobType": "Command", "command": "true", "computeId": WS + "/computes/gpu-cluster",
            "environmentId": "azureml:torch:1",
            "distribution": {"distributionType": "Ray"}}})
        self.assertEqual(r.status_code, 400, r.text)


if __name__ == "__main__":
    unittest.main()
