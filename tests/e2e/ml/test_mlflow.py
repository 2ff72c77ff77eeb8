"""A workspace's MLflow tracking API (REST 2.0 at the workspace's
mlFlowTrackingUri), driven by npm `mlflow` (a third-party REST client) and by
a real Azure ML job: experiments and runs, params (which never change), tags,
metrics with their steps and history, search with filters and order, delete
and restore; a job is a run whose id is the job's name, in its experiment,
with the job's status; the job's own MLFLOW_TRACKING_TOKEN writes to its run
only and goes when the job ends; RBAC (a Reader reads, cannot write);
MLflow's error codes; what azlite does not serve answers 501."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

NODE_DIR = os.path.join(HERE, "..", "node")
srv = None
ml = None
WS = None
TRACK = None
API = "api-version=2022-10-01-preview"


def setUpModule():
    global srv, ml, WS, TRACK
    srv = Azlite().start()
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/mlf?api-version=2021-04-01" % sub,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/mlf/providers/Microsoft.MachineLearningServices" \
         "/workspaces/mlfws" % sub
    r = srv.http("PUT", WS + "?" + API, json={"location": "eastus"})
    assert r.status_code == 201, r.text
    # The tracking URI the workspace names, as the SDK turns it into https.
    uri = srv.http("GET", WS + "?" + API).json()["properties"]["mlFlowTrackingUri"]
    assert uri.startswith("azureml://"), uri
    TRACK = "https://" + uri[len("azureml://"):]
    ml = mlsdk.ml_client(srv, "mlf", "mlfws")
    from azure.ai.ml.entities import AmlCompute, Environment
    ml.compute.begin_create_or_update(AmlCompute(name="cpu", size="Standard_DS3_v2",
                                                 max_instances=1)).result()
    ml.environments.create_or_update(Environment(name="base", image="ubuntu:22.04"))


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def mlflow(calls, token=True):
    """Runs calls ([group, method, args]) through npm mlflow; their results."""
    if token is True:
        token = srv.token()
    with tempfile.TemporaryDirectory() as d:
        cp, op = os.path.join(d, "calls.json"), os.path.join(d, "out.json")
        with open(cp, "w") as f:
            json.dump(calls, f)
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=srv.ca, MLFLOW_TOKEN=token or "")
        p = subprocess.run(["node", "mlflow_calls.mjs", TRACK, cp, op], cwd=NODE_DIR, env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        with open(op) as f:
            return json.load(f)


def one(group, method, args, token=True):
    return mlflow([[group, method, args]], token)[0]


def ok(res):
    assert "ok" in res, res
    return res["ok"]


def kv(items):
    return {e["key"]: e["value"] for e in items}


def wait_terminal(name, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        j = ml.jobs.get(name)
        if j.status in ("Completed", "Failed", "Canceled"):
            return j
        time.sleep(0.2)
    raise AssertionError("job %s did not end" % name)


class Tracking(unittest.TestCase):
    def test_experiments_and_runs(self):
        name = "exp-" + uuid.uuid4().hex[:6]
        exp = ok(one("Experiments", "create", {"name": name}))["experiment_id"]
        dup = one("Experiments", "create", {"name": name})
        self.assertEqual(dup["status"], 400)
        self.assertEqual(dup["data"]["error_code"], "RESOURCE_ALREADY_EXISTS")
        got = ok(one("Experiments", "get", {"experiment_id": exp}))["experiment"]
        self.assertEqual((got["name"], got["lifecycle_stage"]), (name, "active"))
        run = ok(one("Runs", "create", {"experiment_id": exp, "start_time": 1000,
                                        "tags": [{"key": "team", "value": "vision"}]}))["run"]
        rid = run["info"]["run_id"]
        self.assertEqual(run["info"]["status"], "RUNNING")
        self.assertEqual(run["info"]["experiment_id"], exp)
        other = ok(one("Runs", "create", {"experiment_id": exp, "start_time": 2000}))["run"]
        oid = other["info"]["run_id"]
        res = mlflow([
            ["Runs", "logMetric", {"run_id": rid, "key": "loss", "value": 0.9, "timestamp": 1,
                                   "step": 0}],
            ["Runs", "logMetric", {"run_id": rid, "key": "loss", "value": 0.2, "timestamp": 3,
                                   "step": 2}],
            ["Runs", "logMetric", {"run_id": rid, "key": "loss", "value": 0.5, "timestamp": 2,
                                   "step": 1}],
            ["Runs", "logParameter", {"run_id": rid, "key": "lr", "value": "0.01"}],
            ["Runs", "logParameter", {"run_id": rid, "key": "lr", "value": "0.01"}],
            ["Runs", "logParameter", {"run_id": rid, "key": "lr", "value": "0.1"}],
            ["Runs", "setTag", {"run_id": rid, "key": "stage", "value": "dev"}],
            ["Runs", "logBatch", {"run_id": oid,
                                  "metrics": [{"key": "loss", "value": 0.7, "timestamp": 5,
                                               "step": 0}],
                                  "params": [{"key": "lr", "value": "0.1"}],
                                  "tags": [{"key": "stage", "value": "prod"}]}],
            ["Runs", "logMetric", {"run_id": rid, "key": "bad key!", "value": 1, "timestamp": 1,
                                   "step": 0}],
            ["Runs", "get", {"run_id": rid}],
            ["Metrics", "getHistory", {"run_id": rid, "metric_key": "loss"}],
            ["Runs", "get", {"run_id": "0" * 32}],
        ])
        for r in res[:5] + res[6:8]:
            self.assertEqual(r, {"ok": {}})
        # A param never changes; a bad name is refused: precise errors.
        self.assertEqual(res[5]["status"], 400)
        self.assertEqual(res[5]["data"]["error_code"], "INVALID_PARAMETER_VALUE")
        self.assertIn("Changing param values is not allowed", res[5]["data"]["message"])
        self.assertEqual(res[8]["data"]["error_code"], "INVALID_PARAMETER_VALUE")
        self.assertIn("bad key!", res[8]["data"]["message"])
        data = ok(res[9])["run"]["data"]
        # The latest is the highest step's, whatever the order logged.
        self.assertEqual(data["metrics"], [{"key": "loss", "value": 0.2, "timestamp": 3,
                                            "step": 2}])
        self.assertEqual(kv(data["params"]), {"lr": "0.01"})
        self.assertEqual(kv(data["tags"])["team"], "vision")
        self.assertEqual(kv(data["tags"])["stage"], "dev")
        self.assertEqual([(m["step"], m["value"]) for m in ok(res[10])["metrics"]],
                         [(0, 0.9), (1, 0.5), (2, 0.2)])
        self.assertEqual(res[11]["status"], 404)
        self.assertEqual(res[11]["data"]["error_code"], "RESOURCE_DOES_NOT_EXIST")

        def search(**kw):
            out = ok(one("Runs", "search", dict(experiment_ids=[exp], **kw)))
            return [r["info"]["run_id"] for r in out.get("runs", [])], out
        self.assertEqual(search()[0], [oid, rid])  # newest first
        self.assertEqual(search(filter="metrics.loss < 0.5")[0], [rid])
        self.assertEqual(search(filter="params.lr = '0.1' and tags.stage = 'prod'")[0], [oid])
        self.assertEqual(search(filter="tags.stage LIKE 'd%'")[0], [rid])
        self.assertEqual(search(order_by=["metrics.loss ASC"])[0], [rid, oid])
        ids, page = search(max_results=1)
        self.assertEqual(ids, [oid])
        self.assertEqual(search(max_results=1, page_token=page["next_page_token"])[0], [rid])
        bad = one("Runs", "search", {"experiment_ids": [exp], "filter": "metrics.loss IN (1)"})
        self.assertEqual(bad["status"], 400)
        self.assertEqual(bad["data"]["error_code"], "INVALID_PARAMETER_VALUE")
        self.assertIn("metrics.loss IN (1)", bad["data"]["message"])

        res = mlflow([
            ["Runs", "update", {"run_id": rid, "status": "FINISHED", "end_time": 9000}],
            ["Runs", "delete", {"run_id": oid}],
            ["Runs", "logMetric", {"run_id": oid, "key": "loss", "value": 1, "timestamp": 1,
                                   "step": 0}],
            ["Runs", "search", {"experiment_ids": [exp]}],
            ["Runs", "search", {"experiment_ids": [exp], "run_view_type": "DELETED_ONLY"}],
            ["Runs", "restore", {"run_id": oid}],
            ["Runs", "deleteTag", {"run_id": rid, "key": "stage"}],
            ["Runs", "get", {"run_id": rid}],
            ["Experiments", "delete", {"experiment_id": exp}],
            ["Experiments", "list", {}],
            ["Experiments", "list", {"view_type": "DELETED_ONLY"}],
        ])
        info = ok(res[0])["run_info"]
        self.assertEqual((info["status"], info["end_time"]), ("FINISHED", 9000))
        self.assertEqual(res[2]["data"]["error_code"], "INVALID_PARAMETER_VALUE")
        self.assertIn("must be in the 'active' state", res[2]["data"]["message"])
        self.assertEqual([r["info"]["run_id"] for r in ok(res[3])["runs"]], [rid])
        self.assertEqual([r["info"]["run_id"] for r in ok(res[4])["runs"]], [oid])
        self.assertNotIn("stage", kv(ok(res[7])["run"]["data"]["tags"]))
        self.assertNotIn(name, [e["name"] for e in ok(res[9]).get("experiments", [])])
        self.assertIn(name, [e["name"] for e in ok(res[10])["experiments"]])

    def test_a_job_is_a_run_and_logs_to_it(self):
        from azure.ai.ml import command
        # The job's script speaks the REST API as mlflow's RestStore does,
        # with only what Azure ML's variables give it.
        script = (
            "import json, os, ssl, sys, urllib.request, urllib.error\n"
            "base = os.environ['MLFLOW_TRACKING_URI'] + '/api/2.0/mlflow/'\n"
            "ctx = ssl.create_default_context(cafile=os.environ["
            "'MLFLOW_TRACKING_SERVER_CERT_PATH'])\n"
            "def call(path, body):\n"
            "    req = urllib.request.Request(base + path, json.dumps(body).encode(), headers={\n"
            "        'Authorization': 'Bearer ' + os.environ['MLFLOW_TRACKING_TOKEN'],\n"
            "        'Content-Type': 'application/json'})\n"
            "    try:\n"
            "        return urllib.request.urlopen(req, context=ctx).status\n"
            "    except urllib.error.HTTPError as e:\n"
            "        return e.code\n"
            "run = os.environ['MLFLOW_RUN_ID']\n"
            "for step, loss in enumerate([0.8, 0.4, 0.1]):\n"
            "    assert call('runs/log-metric', {'run_id': run, 'key': 'loss', 'value': loss,\n"
            "                'timestamp': 1000 + step, 'step': step}) == 200\n"
            "assert call('runs/log-parameter', {'run_id': run, 'key': 'epochs',\n"
            "            'value': '3'}) == 200\n"
            "print('other run:', call('runs/log-metric', {'run_id': sys.argv[1], 'key': 'x',\n"
            "      'value': 1, 'timestamp': 1, 'step': 0}))\n"
            "print('new run:', call('runs/create', {'experiment_id': sys.argv[2]}))\n"
            "print('key:', os.environ['MLFLOW_TRACKING_TOKEN'])\n"
            "import socket, urllib.parse\n"
            "port = urllib.parse.urlparse(os.environ['MLFLOW_TRACKING_URI']).port\n"
            "s = socket.socket()\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
            "try:\n"
            "    s.bind(('127.0.0.1', port)); print('hijack: bound')\n"
            "except OSError as e:\n"
            "    print('hijack: refused', e.errno)\n"
            "open('outputs/model.txt', 'w').write('trained')\n")
        exp_name = "train-" + uuid.uuid4().hex[:6]
        other_exp = ok(one("Experiments", "create", {"name": "o-" + exp_name}))["experiment_id"]
        other = ok(one("Runs", "create", {"experiment_id": other_exp}))["run"]["info"]["run_id"]
        import base64
        made = ml.jobs.create_or_update(command(
            command="echo %s | base64 -d > train.py && python3 train.py %s %s" % (
                base64.b64encode(script.encode()).decode(), other, other_exp),
            environment="base:1", compute="cpu", experiment_name=exp_name))
        # Submitted, it is a run of its experiment at once.
        exps = ok(one("Experiments", "list", {}))["experiments"]
        exp = [e for e in exps if e["name"] == exp_name]
        self.assertEqual(len(exp), 1, exps)
        early = ok(one("Runs", "get", {"run_id": made.name}))["run"]["info"]
        self.assertEqual(early["experiment_id"], exp[0]["experiment_id"])
        self.assertIn(early["status"], ("SCHEDULED", "RUNNING", "FINISHED"))
        done = wait_terminal(made.name)
        d = srv.http("GET", "/history/v1.0" + WS + "/runs/%s/details" % made.name).json()
        import requests
        log = requests.get(d["logFiles"]["user_logs/std_log.txt"], verify=srv.ca,
                           timeout=30).text
        self.assertEqual(done.status, "Completed", log)
        # Its key writes to its own run only.
        self.assertIn("other run: 403", log)
        self.assertIn("new run: 403", log)
        # Nothing on the node can take over azlite's port there.
        self.assertIn("hijack: refused", log)
        run = ok(one("Runs", "get", {"run_id": made.name}))["run"]
        self.assertEqual(run["info"]["status"], "FINISHED")
        self.assertTrue(run["info"]["end_time"] >= run["info"]["start_time"] > 0)
        self.assertEqual(run["data"]["metrics"], [{"key": "loss", "value": 0.1,
                                                   "timestamp": 1002, "step": 2}])
        self.assertEqual(kv(run["data"]["params"]), {"epochs": "3"})
        hist = ok(one("Metrics", "getHistory", {"run_id": made.name, "metric_key": "loss"}))
        self.assertEqual([m["value"] for m in hist["metrics"]], [0.8, 0.4, 0.1])
        self.assertEqual(ok(one("Runs", "get", {"run_id": other}))["run"]["data"]["metrics"], [])
        # What the job uploaded is its run's artifacts.
        top = ok(one("Artifacts", "list", {"run_id": made.name}))
        self.assertIn({"path": "outputs", "is_dir": True}, top["files"])
        outs = ok(one("Artifacts", "list", {"run_id": made.name, "path": "outputs"}))
        self.assertEqual(outs["files"], [{"path": "outputs/model.txt", "is_dir": False,
                                          "file_size": 7}])
        # The key went with the job.
        key = [ln.split("key: ", 1)[1].strip() for ln in log.splitlines()
               if ln.startswith("key: ")][0]
        late = one("Runs", "logMetric", {"run_id": made.name, "key": "loss", "value": 0,
                                         "timestamp": 1, "step": 9}, token=key)
        self.assertEqual(late["status"], 401)
        self.assertEqual(late["data"]["error_code"], "UNAUTHENTICATED")
        # Deleting the job deletes its run.
        r = srv.http("DELETE", WS + "/jobs/%s?%s" % (made.name, API))
        self.assertEqual(r.status_code, 200, r.text)
        gone = one("Runs", "get", {"run_id": made.name})
        self.assertEqual(gone["status"], 404)

    def test_access_and_errors(self):
        sys.path.insert(0, os.path.join(HERE, "..", "identity"))
        try:
            from idhelp import create_sp, grant, mgmt_token
        finally:
            sys.path.pop(0)
        # No token, a bad one.
        res = one("Experiments", "list", {}, token=None)
        self.assertEqual((res["status"], res["data"]["error_code"]), (401, "UNAUTHENTICATED"))
        res = one("Experiments", "list", {}, token="azlmlflow_" + "0" * 64)
        self.assertEqual((res["status"], res["data"]["error_code"]), (401, "UNAUTHENTICATED"))
        # A Reader of the workspace reads and cannot write.
        sp = create_sp(srv, "mlf-reader-" + uuid.uuid4().hex[:6])
        grant(srv, "Reader", WS, sp["oid"])
        reader = mgmt_token(srv, sp)
        self.assertIn("ok", one("Experiments", "list", {}, token=reader))
        res = one("Experiments", "create", {"name": "nope"}, token=reader)
        self.assertEqual((res["status"], res["data"]["error_code"]), (403, "PERMISSION_DENIED"))
        self.assertIn("experiments/write", res["data"]["message"])
        # Someone with no role on it reads nothing.
        stranger = mgmt_token(srv, create_sp(srv, "mlf-none-" + uuid.uuid4().hex[:6]))
        res = one("Experiments", "list", {}, token=stranger)
        self.assertEqual(res["status"], 403)
        # experiments/search (MLflow 2's; the npm client has only list): a filter
        # on the name, an order, pages.
        base = "/mlflow/v1.0" + WS + "/api/2.0/mlflow"
        for n in ("srch-b", "srch-a", "srch-c"):
            self.assertEqual(srv.http("POST", base + "/experiments/create",
                                      json={"name": n}).status_code, 200)
        r = srv.http("POST", base + "/experiments/search", json={
            "filter": "name LIKE 'srch-%'", "order_by": ["name DESC"], "max_results": 2})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual([e["name"] for e in r.json()["experiments"]], ["srch-c", "srch-b"])
        r = srv.http("POST", base + "/experiments/search", json={
            "filter": "name LIKE 'srch-%'", "order_by": ["name DESC"], "max_results": 2,
            "page_token": r.json()["next_page_token"]})
        self.assertEqual([e["name"] for e in r.json()["experiments"]], ["srch-a"])
        self.assertNotIn("next_page_token", r.json())
        r = srv.http("GET", base + "/experiments/get-by-name?experiment_name=srch-a")
        self.assertEqual(r.json()["experiment"]["name"], "srch-a")
        r = srv.http("POST", base + "/experiments/search", json={"filter": "metrics.x > 1"})
        self.assertEqual((r.status_code, r.json()["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        # What azlite does not serve says so.
        r = srv.http("POST", "/mlflow/v1.0" + WS + "/api/2.0/mlflow/registered-models/create",
                     json={"name": "m"})
        self.assertEqual(r.status_code, 501)
        self.assertEqual(r.json()["error_code"], "NOT_IMPLEMENTED")
        self.assertIn("registered-models/create", r.json()["message"])
        # A workspace that does not exist.
        r = srv.http("GET", "/mlflow/v1.0" + WS + "x/api/2.0/mlflow/experiments/list")
        self.assertEqual((r.status_code, r.json()["error_code"]), (404, "RESOURCE_DOES_NOT_EXIST"))

    def test_survives_a_restart(self):
        exp = ok(one("Experiments", "create", {"name": "kept-" + uuid.uuid4().hex[:6]}))
        rid = ok(one("Runs", "create", {"experiment_id": exp["experiment_id"]}))["run"]["info"][
            "run_id"]
        ok(one("Runs", "logMetric", {"run_id": rid, "key": "acc", "value": 0.75,
                                     "timestamp": 7, "step": 1}))
        srv.kill9()
        srv.start()
        srv._mgmt_token = None
        run = ok(one("Runs", "get", {"run_id": rid}))["run"]
        self.assertEqual(run["data"]["metrics"], [{"key": "acc", "value": 0.75, "timestamp": 7,
                                                   "step": 1}])


if __name__ == "__main__":
    unittest.main()
