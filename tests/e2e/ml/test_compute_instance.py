"""Compute instances through azure-ai-ml 1.4.0: create (a long-running
operation that ends once the instance's sandbox is up), jobs that run on it,
stop (the sandbox and its disk go; a job submitted meanwhile waits), start,
restart (a fresh sandbox), idleTimeBeforeShutdown on azlite's clock, a
Running instance boots again after azlite restarts, and the errors Azure
answers (a wrong state, a cluster asked to start, what azlite does not run)."""
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


def setUpModule():
    global srv, ml, WS
    srv = Azlite().start()
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/ci?api-version=2021-04-01" % sub,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/ci/providers/Microsoft.MachineLearningServices" \
         "/workspaces/ciws" % sub
    assert srv.http("PUT", WS + "?" + API, json={"location": "eastus"}).status_code == 201
    ml = mlsdk.ml_client(srv, "ci", "ciws")
    from azure.ai.ml.entities import Environment
    ml.environments.create_or_update(Environment(name="base", image="ubuntu:22.04"))


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def nodes_dir():
    d = os.path.join(srv.data_dir, "ml", "nodes")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def full_log():
    with open(srv.log_path, "rb") as f:
        return f.read().decode(errors="replace")


def wait_for(fn, what, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def job_log(name):
    d = srv.http("GET", "/history/v1.0" + WS + "/runs/%s/details" % name).json()
    import requests
    return requests.get(d["logFiles"]["user_logs/std_log.txt"], verify=srv.ca, timeout=30).text


def run_job(cmd):
    from azure.ai.ml import command
    return ml.jobs.create_or_update(command(command=cmd, environment="base:1", compute="ci1"))


def terminal(name):
    j = ml.jobs.get(name)
    return j if j.status in ("Completed", "Failed", "Canceled") else None


class ComputeInstances(unittest.TestCase):
    def test_1_lifecycle(self):
        from azure.ai.ml.entities import ComputeInstance
        ci = ml.compute.begin_create_or_update(ComputeInstance(
            name="ci1", size="Standard_DS3_v2", idle_time_before_shutdown_minutes=30)).result()
        # The create ends once the instance runs: its sandbox is up.
        got = ml.compute.get("ci1")
        self.assertEqual((got.type, got.state, got.size.lower()),
                         ("computeinstance", "Running", "standard_ds3_v2"))
        self.assertEqual(got.provisioning_state, "Succeeded")
        self.assertEqual(got.last_operation["operation_name"], "Create")
        self.assertEqual(got.last_operation["operation_status"], "Succeeded")
        self.assertEqual(got.idle_time_before_shutdown_minutes, 30)
        self.assertEqual(len(nodes_dir()), 1)
        self.assertIn("/computes/ci1 is up", full_log())
        self.assertIsNotNone(ci)
        # A job runs on it.
        j = run_job("echo on-the-instance; hostname")
        done = wait_for(lambda: terminal(j.name), "the job")
        log = job_log(j.name)
        self.assertEqual(done.status, "Completed", log)
        self.assertIn("on-the-instance", log)
        first = nodes_dir()
        # Stop: the sandbox and its disk go; a job submitted now waits.
        ml.compute.begin_stop("ci1").result()
        got = ml.compute.get("ci1")
        self.assertEqual(got.state, "Stopped")
        self.assertEqual(got.last_operation["operation_name"], "Stop")
        self.assertEqual(nodes_dir(), [])
        waiting = run_job("echo after-start")
        time.sleep(3)
        self.assertIn(ml.jobs.get(waiting.name).status, ("NotStarted", "Queued"))
        self.assertEqual(nodes_dir(), [])
        # Start: it runs again, and so does the waiting job.
        ml.compute.begin_start("ci1").result()
        self.assertEqual(ml.compute.get("ci1").state, "Running")
        done = wait_for(lambda: terminal(waiting.name), "the waiting job")
        self.assertEqual(done.status, "Completed", job_log(waiting.name))
        self.assertIn("after-start", job_log(waiting.name))
        # Restart: a fresh sandbox.
        before = nodes_dir()
        self.assertEqual(len(before), 1)
        self.assertNotEqual(before, first)
        ml.compute.begin_restart("ci1").result()
        got = ml.compute.get("ci1")
        self.assertEqual((got.state, got.last_operation["operation_name"]), ("Running", "Restart"))
        after = nodes_dir()
        self.assertEqual(len(after), 1)
        self.assertNotEqual(after, before)

    def test_2_wrong_states_and_unsupported(self):
        from azure.core.exceptions import HttpResponseError
        from azure.ai.ml.entities import AmlCompute, ComputeInstance, ComputeInstanceSshSettings
        # Starting one that runs: Azure's conflict, nothing changes.
        r = srv.http("POST", WS + "/computes/ci1/start?" + API)
        self.assertEqual(r.status_code, 409, r.text)
        self.assertIn("Running", r.json()["error"]["message"])
        self.assertEqual(ml.compute.get("ci1").state, "Running")
        # A cluster is not started.
        ml.compute.begin_create_or_update(AmlCompute(name="clu", size="Standard_DS3_v2",
                                                     max_instances=1)).result()
        r = srv.http("POST", WS + "/computes/clu/stop?" + API)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("only compute instances", r.json()["error"]["message"])
        # What azlite does not run is refused, and nothing is left.
        with self.assertRaises(HttpResponseError) as e:
            ml.compute.begin_create_or_update(ComputeInstance(
                name="ci-ssh", size="Standard_DS3_v2", ssh_public_access_enabled=True,
                ssh_settings=ComputeInstanceSshSettings(
                    ssh_key_value="ssh-rsa AAAAB3NzaC1yc2E test"))).result()
        self.assertIn("SSH public access", str(e.exception))
        with self.assertRaises(HttpResponseError) as e:
            ml.compute.begin_create_or_update(ComputeInstance(
                name="ci-bad", size="Standard_Nope")).result()
        self.assertIn("Standard_Nope", str(e.exception))
        r = srv.http("PUT", WS + "/computes/ci-idle?" + API, json={"properties": {
            "computeType": "ComputeInstance",
            "properties": {"vmSize": "Standard_DS3_v2", "idleTimeBeforeShutdown": "PT5M"}}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("15 minutes", r.json()["error"]["message"])
        names = [c.name for c in ml.compute.list()]
        self.assertNotIn("ci-ssh", names)
        self.assertNotIn("ci-bad", names)
        self.assertNotIn("ci-idle", names)
        # A cluster's name cannot become an instance.
        r = srv.http("PUT", WS + "/computes/clu?" + API, json={"properties": {
            "computeType": "ComputeInstance", "properties": {"vmSize": "Standard_DS3_v2"}}})
        self.assertEqual(r.status_code, 400, r.text)

    def test_3_comes_back_after_a_restart_then_idles_out(self):
        global ml
        self.assertEqual(ml.compute.get("ci1").state, "Running")
        ups = full_log().count("/computes/ci1 is up")
        srv.kill9()
        srv.start()
        srv._mgmt_token = None
        ml = mlsdk.ml_client(srv, "ci", "ciws")
        # A Running instance boots again.
        wait_for(lambda: full_log().count("/computes/ci1 is up") > ups,
                 "the instance to boot again")
        self.assertEqual(len(nodes_dir()), 1)
        self.assertEqual(ml.compute.get("ci1").state, "Running")
        # Idle past idleTimeBeforeShutdown (30 min) on azlite's clock: stopped.
        srv.cli("clock", "advance", "29m")
        time.sleep(2)
        self.assertEqual(ml.compute.get("ci1").state, "Running")
        srv.cli("clock", "advance", "2m")
        got = wait_for(lambda: (lambda c: c if c.state == "Stopped" else None)(
            ml.compute.get("ci1")), "the idle shutdown")
        self.assertEqual(got.last_operation["operation_trigger"], "IdleShutdown")
        wait_for(lambda: nodes_dir() == [], "the node to go")
        # Deleted, it is gone.
        ml.compute.begin_delete("ci1").result()
        self.assertNotIn("ci1", [c.name for c in ml.compute.list()])


if __name__ == "__main__":
    unittest.main()
