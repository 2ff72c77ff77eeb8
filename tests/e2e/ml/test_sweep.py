"""Sweep jobs through azure-ai-ml 1.4.0 (command(...).sweep()): every trial is
a real command job <sweep>_<i> with its values in the command line, at most
max_concurrent_trials run at once, each logs its primary metric through the
job's MLflow tracking URI, and the sweep names the best trial by its goal;
random sampling draws within the space (the seed is honoured); cancel
cancels the trials; what azlite does not run (Bayesian sampling, a grid over
a continuous range) and a bad trial are refused with nothing left."""
import base64
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

srv = None
ml = None
WS = None
API = "api-version=2022-10-01-preview"

# The trial: logs acc for its lr and layers through MLflow's REST API, as
# mlflow.log_metric would, with what the job's variables give it.
TRIAL = r"""
import argparse, json, math, os, ssl, time, urllib.request
p = argparse.ArgumentParser()
p.add_argument('--lr', type=float)
p.add_argument('--layers', type=int)
p.add_argument('--sleep', type=float, default=0)
a = p.parse_args()
print('trial lr=%s layers=%s' % (a.lr, a.layers), flush=True)
time.sleep(a.sleep)
acc = a.layers * 10 - abs(math.log10(a.lr) + 2)
ctx = ssl.create_default_context(cafile=os.environ['MLFLOW_TRACKING_SERVER_CERT_PATH'])
req = urllib.request.Request(
    os.environ['MLFLOW_TRACKING_URI'] + '/api/2.0/mlflow/runs/log-metric',
    json.dumps({'run_id': os.environ['MLFLOW_RUN_ID'], 'key': 'acc', 'value': acc,
                'timestamp': int(time.time() * 1000), 'step': 0}).encode(),
    headers={'Authorization': 'Bearer ' + os.environ['MLFLOW_TRACKING_TOKEN'],
             'Content-Type': 'application/json'})
assert urllib.request.urlopen(req, context=ctx).status == 200
"""
WRITE = "echo %s | base64 -d > trial.py && " % base64.b64encode(TRIAL.encode()).decode()


def setUpModule():
    global srv, ml, WS
    srv = Azlite().start()
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/sw?api-version=2021-04-01" % sub,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/sw/providers/Microsoft.MachineLearningServices" \
         "/workspaces/sweepws" % sub
    assert srv.http("PUT", WS + "?" + API, json={"location": "eastus"}).status_code == 201
    ml = mlsdk.ml_client(srv, "sw", "sweepws")
    from azure.ai.ml.entities import AmlCompute, Environment
    ml.compute.begin_create_or_update(AmlCompute(name="cpu", size="Standard_DS3_v2",
                                                 max_instances=2)).result()
    ml.environments.create_or_update(Environment(name="base", image="ubuntu:22.04"))


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def wait_terminal(name, limit=300):
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


def log_of(name):
    import requests
    return requests.get(details(name)["logFiles"]["user_logs/std_log.txt"], verify=srv.ca,
                        timeout=30).text


def trial_job(sleep=0, **inputs):
    from azure.ai.ml import command
    return command(command=WRITE + "python3 trial.py --lr ${{inputs.lr}} --layers "
                   "${{inputs.layers}} --sleep %s" % sleep,
                   inputs=inputs, environment="base:1", compute="cpu")


class Sweeps(unittest.TestCase):
    def test_grid_runs_every_point_and_names_the_best(self):
        from azure.ai.ml.sweep import Choice
        job = trial_job(lr=Choice([0.1, 0.01, 0.001]), layers=Choice([1, 2]))
        sweep = job.sweep(sampling_algorithm="grid", primary_metric="acc", goal="Maximize")
        sweep.set_limits(max_total_trials=10, max_concurrent_trials=2)
        made = ml.jobs.create_or_update(sweep)
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Completed", log_of(made.name))
        self.assertEqual(done.type, "sweep")
        # Every grid point ran, as a job of its own with its values.
        trials = ["%s_%d" % (made.name, i) for i in range(6)]
        seen = set()
        spans = []
        for t in trials:
            j = ml.jobs.get(t)
            self.assertEqual(j.status, "Completed", log_of(t))
            line = [ln for ln in log_of(t).splitlines() if ln.startswith("trial ")][0]
            seen.add(line)
            d = details(t)
            spans.append((d["startTimeUtc"], d["endTimeUtc"]))
        self.assertEqual(seen, {"trial lr=%s layers=%s" % (lr, n)
                                for lr in (0.1, 0.01, 0.001) for n in (1, 2)})
        with self.assertRaises(Exception):
            ml.jobs.get("%s_6" % made.name)
        # Never more than two at once.
        for s, _ in spans:
            self.assertLessEqual(sum(1 for a, b in spans if a <= s < b), 2, spans)
        # The SDK lists them as the sweep's children (run history).
        children = list(ml.jobs.list(parent_job_name=made.name))
        self.assertEqual(sorted(c.name for c in children), sorted(trials))
        self.assertEqual({c.status for c in children}, {"Completed"})
        # The best by the goal: lr 0.01 with 2 layers (acc 20).
        best = done.properties["best_child_run_id"]
        self.assertIn("trial lr=0.01 layers=2", log_of(best))
        self.assertEqual(float(done.properties["score"]), 20.0)
        self.assertIn("best trial %s" % best, log_of(made.name))
        # The trials are the sweep's child runs in MLflow.
        mlflow = "/mlflow/v1.0" + WS + "/api/2.0/mlflow"
        exp = srv.http("GET", mlflow + "/runs/get?run_id=" + made.name).json()
        r = srv.http("POST", mlflow + "/runs/search", json={
            "experiment_ids": [exp["run"]["info"]["experiment_id"]],
            "filter": "tags.mlflow.parentRunId = '%s'" % made.name,
            "order_by": ["metrics.acc DESC"]})
        runs = r.json()["runs"]
        self.assertEqual(len(runs), 6)
        self.assertEqual(runs[0]["info"]["run_id"], best)

    def test_random_draws_within_the_space(self):
        from azure.ai.ml.sweep import Choice, LogUniform, RandomSamplingAlgorithm
        job = trial_job(lr=LogUniform(min_value=-7, max_value=-1), layers=Choice([1, 2, 3]))
        sweep = job.sweep(sampling_algorithm=RandomSamplingAlgorithm(seed=7),
                          primary_metric="acc", goal="Minimize")
        sweep.set_limits(max_total_trials=3, max_concurrent_trials=3)
        made = ml.jobs.create_or_update(sweep)
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Completed", log_of(made.name))
        values = []
        for i in range(3):
            line = [ln for ln in log_of("%s_%d" % (made.name, i)).splitlines()
                    if ln.startswith("trial ")][0]
            lr, layers = line.split()[1:]
            values.append((float(lr.split("=")[1]), int(layers.split("=")[1])))
        for lr, layers in values:
            self.assertTrue(0.000911 < lr < 0.368, values)  # e^-7 .. e^-1
            self.assertIn(layers, (1, 2, 3))
        self.assertEqual(len(set(values)), 3, values)
        self.assertIn(done.properties["best_child_run_id"],
                      ["%s_%d" % (made.name, i) for i in range(3)])

    def test_cancel_and_bad_sweeps(self):
        from azure.ai.ml.sweep import Choice, Uniform
        from azure.core.exceptions import HttpResponseError
        job = trial_job(sleep=300, lr=Choice([0.1, 0.01, 0.001]), layers=Choice([1]))
        sweep = job.sweep(sampling_algorithm="grid", primary_metric="acc", goal="Maximize")
        sweep.set_limits(max_total_trials=3, max_concurrent_trials=1)
        made = ml.jobs.create_or_update(sweep)
        deadline = time.time() + 120
        while ml.jobs.get(made.name + "_0").status != "Running" and time.time() < deadline:
            time.sleep(0.3)
        ml.jobs.begin_cancel(made.name).result()
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Canceled")
        self.assertEqual(wait_terminal(made.name + "_0").status, "Canceled")
        with self.assertRaises(Exception):
            ml.jobs.get(made.name + "_1")
        # Bayesian sampling is not run; nor is a grid over a continuous range.
        for algo, space in (("bayesian", {"lr": Choice([0.1])}), ("grid", {"lr": Uniform(0, 1)})):
            s = trial_job(layers=Choice([1]), **space).sweep(
                sampling_algorithm=algo, primary_metric="acc", goal="Maximize")
            s.set_limits(max_total_trials=2)
            with self.assertRaises(HttpResponseError) as e:
                ml.jobs.create_or_update(s)
            self.assertIn("Bayesian" if algo == "bayesian" else "grid sampling",
                          str(e.exception))
        # A trial that names no such environment: refused, nothing left.
        from azure.ai.ml import command
        bad = command(command="echo ${{inputs.lr}}", inputs={"lr": Choice([1])},
                      environment="missing:1", compute="cpu").sweep(
            sampling_algorithm="grid", primary_metric="acc", goal="Maximize")
        bad.set_limits(max_total_trials=1)
        bad.name = "bad-sweep"
        with self.assertRaises(HttpResponseError) as e:
            ml.jobs.create_or_update(bad)
        self.assertIn("missing", str(e.exception))
        names = [j.name for j in ml.jobs.list()]
        self.assertNotIn("bad-sweep", names)
        self.assertNotIn("bad-sweep_0", names)


if __name__ == "__main__":
    unittest.main()
