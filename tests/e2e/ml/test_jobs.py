"""Command jobs through azure-ai-ml 1.4.0 (management plane by
AZUREML_DEV_URL_MFE, no code upload): statuses that follow the work, literal
inputs in ${{inputs.x}}, the AZUREML_* variables and the job's own
environment variables in the process, outputs uploaded to the artifact store,
a failing script Failed with its exit code and last lines, a cancel that kills
the process, and the errors Azure answers for a bad job (missing compute or
environment, an unknown input): nothing is left behind."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

srv = None
ml = None
SUB = None
WS = None
API = "api-version=2022-10-01-preview"


def setUpModule():
    global srv, ml, SUB, WS
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/jobs?api-version=2021-04-01" % SUB,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/jobs/providers/Microsoft.MachineLearningServices" \
         "/workspaces/jobws" % SUB
    assert srv.http("PUT", WS + "?" + API, json={"location": "eastus"}).status_code == 201
    ml = mlsdk.ml_client(srv, "jobs", "jobws")
    from azure.ai.ml.entities import AmlCompute, Environment
    ml.compute.begin_create_or_update(AmlCompute(name="cpu", size="Standard_DS3_v2",
                                                 max_instances=2)).result()
    ml.environments.create_or_update(Environment(name="base", image="ubuntu:22.04"))


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def wait_terminal(name, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        j = ml.jobs.get(name)
        if j.status in ("Completed", "Failed", "Canceled"):
            return j
        time.sleep(0.2)
    raise AssertionError("job %s did not end" % name)


def details(name):
    r = srv.http("GET", "/history/v1.0" + WS + "/runs/%s/details" % name)
    assert r.status_code == 200, r.text
    return r.json()


class Jobs(unittest.TestCase):
    def test_runs_with_inputs_and_variables(self):
        from azure.ai.ml import command
        job = command(command="echo greeting=${{inputs.greeting}} n=${{inputs.n}}; "
                              "echo run=$AZUREML_RUN_ID ws=$AZUREML_ARM_WORKSPACE_NAME "
                              "exp=$AZUREML_ARM_PROJECT_NAME mine=$MY_VAR; "
                              "echo 42 > outputs/answer.txt",
                      inputs={"greeting": "hello", "n": 3}, environment="base:1", compute="cpu",
                      environment_variables={"MY_VAR": "it's mine"}, experiment_name="exp1")
        made = ml.jobs.create_or_update(job)
        self.assertEqual(made.status, "NotStarted")
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Completed")
        d = details(made.name)
        self.assertEqual(d["status"], "Completed")
        self.assertTrue(d["startTimeUtc"] and d["endTimeUtc"])
        self.assertEqual(d["target"], "cpu")
        import requests
        log = requests.get(d["logFiles"]["user_logs/std_log.txt"], verify=srv.ca, timeout=30).text
        self.assertIn("greeting=hello n=3", log)
        self.assertIn("run=%s ws=jobws exp=exp1 mine=it's mine" % made.name, log)
        # ./outputs went to the artifact store, where model registration finds it.
        from azure.ai.ml.entities import Model
        m = ml.models.create_or_update(Model(
            name="answer", path="azureml://jobs/%s/outputs/artifacts/paths/outputs/answer.txt"
            % made.name))
        self.assertEqual(m.version, "1")
        from azure.core.exceptions import HttpResponseError
        with self.assertRaises(HttpResponseError):
            ml.models.create_or_update(Model(
                name="nothing", path="azureml://jobs/%s/outputs/artifacts/paths/outputs/none.txt"
                % made.name))
        self.assertIn(made.name, [j.name for j in ml.jobs.list()])

    def test_failing_script(self):
        from azure.ai.ml import command
        made = ml.jobs.create_or_update(command(
            command="echo starting; echo 'ValueError: boom' >&2; exit 3", environment="base:1",
            compute="cpu"))
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Failed")
        e = details(made.name)["error"]["error"]
        self.assertEqual(e["code"], "UserError")
        self.assertIn("exited with status code 3", e["message"])
        self.assertIn("ValueError: boom", e["message"])
        from azure.ai.ml.exceptions import JobException
        import io
        import contextlib
        with contextlib.redirect_stdout(io.StringIO()):
            with self.assertRaises(JobException):
                ml.jobs.stream(made.name)

    def test_jobs_queue_for_a_full_cluster(self):
        from azure.ai.ml import command
        from azure.ai.ml.entities import AmlCompute
        ml.compute.begin_create_or_update(AmlCompute(name="one", size="Standard_DS3_v2",
                                                     max_instances=1)).result()
        a = ml.jobs.create_or_update(command(command="sleep 300", environment="base:1",
                                             compute="one"))
        deadline = time.time() + 120
        while details(a.name)["status"] != "Running" and time.time() < deadline:
            time.sleep(0.2)
        b = ml.jobs.create_or_update(command(command="echo b ran", environment="base:1",
                                             compute="one"))
        while details(b.name)["status"] == "NotStarted" and time.time() < deadline:
            time.sleep(0.1)
        # The one node is a's: b waits, and the cluster does not grow past its maximum.
        self.assertEqual(details(b.name)["status"], "Queued")
        self.assertEqual(len(list(ml.compute.list_nodes("one"))), 1)
        ml.jobs.begin_cancel(a.name).result()
        self.assertEqual(wait_terminal(b.name).status, "Completed")
        nodes = list(ml.compute.list_nodes("one"))
        self.assertEqual(len(nodes), 1)

    def test_timeout(self):
        from azure.ai.ml import command
        job = command(command="echo started; sleep 300; echo never", environment="base:1",
                      compute="cpu")
        job.set_limits(timeout=60)
        made = ml.jobs.create_or_update(job)
        deadline = time.time() + 120
        while details(made.name)["status"] != "Running" and time.time() < deadline:
            time.sleep(0.2)
        # The limit is on azlite's clock: moving it past the limit ends the job.
        srv.cli("clock", "advance", "2m")
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Failed")
        self.assertIn("timeout of 60 seconds", details(made.name)["error"]["error"]["message"])

    def test_cancel_kills_the_process(self):
        from azure.ai.ml import command
        made = ml.jobs.create_or_update(command(
            command="echo started; sleep 300; echo never", environment="base:1", compute="cpu"))
        deadline = time.time() + 120
        while details(made.name)["status"] != "Running" and time.time() < deadline:
            time.sleep(0.2)
        import requests
        url = details(made.name)["logFiles"]["user_logs/std_log.txt"]
        while "started" not in requests.get(url, verify=srv.ca, timeout=30).text:
            self.assertLess(time.time(), deadline)
            time.sleep(0.2)
        ml.jobs.begin_cancel(made.name).result()
        done = wait_terminal(made.name)
        self.assertEqual(done.status, "Canceled")
        self.assertNotIn("never", requests.get(url, verify=srv.ca, timeout=30).text)
        self.assertNotIn("sleep 300", os.popen("ps -e -o args").read())

    def test_deleting_the_cluster_stops_its_job(self):
        from azure.ai.ml import command
        from azure.ai.ml.entities import AmlCompute
        ml.compute.begin_create_or_update(AmlCompute(name="doomed", size="Standard_DS3_v2",
                                                     max_instances=1)).result()
        made = ml.jobs.create_or_update(command(command="echo up; sleep 300", environment="base:1",
                                                compute="doomed"))
        deadline = time.time() + 120
        while details(made.name)["status"] != "Running" and time.time() < deadline:
            time.sleep(0.2)
        ml.compute.begin_delete("doomed").result()
        self.assertEqual(wait_terminal(made.name).status, "Canceled")
        from azure.core.exceptions import ResourceNotFoundError
        with self.assertRaises(ResourceNotFoundError):
            ml.compute.get("doomed")

    def test_bad_jobs(self):
        from azure.ai.ml import command
        from azure.core.exceptions import HttpResponseError
        before = len(list(ml.jobs.list()))
        r = srv.http("PUT", WS + "/jobs/nocompute?" + API, json={"properties": {
            "jobType": "Command", "command": "true", "environmentId": "azureml:base:1",
            "computeId": WS + "/computes/nosuch"}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("nosuch", r.json()["error"]["message"])
        r = srv.http("PUT", WS + "/jobs/noenv?" + API, json={"properties": {
            "jobType": "Command", "command": "true", "environmentId": "azureml:nosuch:1",
            "computeId": WS + "/computes/cpu"}})
        self.assertEqual(r.status_code, 400, r.text)
        r = srv.http("PUT", WS + "/jobs/badinput?" + API, json={"properties": {
            "jobType": "Command", "command": "echo ${{inputs.missing}}",
            "environmentId": "azureml:base:1", "computeId": WS + "/computes/cpu"}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("inputs.missing", r.json()["error"]["message"])
        for name, props in (("bad'name", {}), ("badexp", {"experimentName": "x'; rm -rf /"}),
                            ("badin", {"inputs": {"../up": {"jobInputType": "literal",
                                                            "value": "1"}}})):
            body = {"properties": dict({"jobType": "Command", "command": "true",
                                        "environmentId": "azureml:base:1",
                                        "computeId": WS + "/computes/cpu"}, **props)}
            r = srv.http("PUT", WS + "/jobs/%s?%s" % (name, API), json=body)
            self.assertEqual(r.status_code, 400, r.text)
        with self.assertRaises(HttpResponseError):
            ml.jobs.create_or_update(command(command="true", environment="base:1",
                                             compute="nosuch"))
        # More instances than the cluster's maximum (test_distributed runs them).
        with self.assertRaises(HttpResponseError) as e:
            ml.jobs.create_or_update(command(command="true", environment="base:1",
                                             compute="cpu", instance_count=3,
                                             distribution={"type": "pytorch"}))
        self.assertIn("maximum node count", str(e.exception))
        self.assertEqual(len(list(ml.jobs.list())), before)
        for n in ("nocompute", "noenv", "badinput"):
            self.assertEqual(srv.http("GET", WS + "/jobs/%s?%s" % (n, API)).status_code, 404)


    def test_run_history_authenticates(self):
        import requests
        url = srv.mgmt_url + "/history/v1.0" + WS + "/runs/nosuch/details"
        self.assertEqual(requests.get(url, verify=srv.ca, timeout=30).status_code, 401)
        r = requests.get(url, verify=srv.ca, timeout=30,
                         headers={"Authorization": "Bearer not-a-token"})
        self.assertEqual(r.status_code, 401)
        self.assertEqual(srv.http("GET", "/history/v1.0" + WS + "/runs/nosuch/details")
                         .status_code, 404)
        # A log URL is only good with its run's key.
        self.assertEqual(requests.get(srv.mgmt_url + "/azlite/ml/logs/%s/user_logs/std_log.txt"
                                      % ("0" * 36), verify=srv.ca, timeout=30).status_code, 404)


class Assets(unittest.TestCase):
    def test_model_inputs(self):
        """mlflow_model and custom_model inputs: the model version's files are in
        the node before the script starts, at ${{inputs.x}}."""
        from azure.ai.ml import Input, command
        from azure.ai.ml.entities import Model
        from azure.core.exceptions import HttpResponseError
        first = ml.jobs.create_or_update(command(
            command="mkdir -p outputs/model && printf 'flavors: {}\\n' > outputs/model/MLmodel"
                    " && echo 0.5 > outputs/model/weights.txt && echo 7 > outputs/seven.txt",
            environment="base:1", compute="cpu"))
        self.assertEqual(wait_terminal(first.name).status, "Completed")
        art = "azureml://jobs/%s/outputs/artifacts/paths/outputs/" % first.name
        folder = ml.models.create_or_update(Model(name="mlflow-in", type="mlflow_model",
                                                  path=art + "model/"))
        single = ml.models.create_or_update(Model(name="custom-in", type="custom_model",
                                                  path=art + "seven.txt"))
        job = ml.jobs.create_or_update(command(
            command="cat ${{inputs.m}}/MLmodel ${{inputs.m}}/weights.txt; "
                    "echo seven=$(cat ${{inputs.c}}/seven.txt)",
            inputs={"m": Input(type="mlflow_model", path="azureml:mlflow-in:%s" % folder.version),
                    "c": Input(type="custom_model", path="azureml:custom-in:%s" % single.version)},
            environment="base:1", compute="cpu"))
        done = wait_terminal(job.name)
        import requests
        log = requests.get(details(job.name)["logFiles"]["user_logs/std_log.txt"],
                           verify=srv.ca, timeout=30).text
        self.assertEqual(done.status, "Completed", log)
        self.assertIn("flavors: {}", log)
        self.assertIn("0.5", log)
        self.assertIn("seven=7", log)
        with self.assertRaises(HttpResponseError) as e:
            ml.jobs.create_or_update(command(
                command="ls ${{inputs.m}}", environment="base:1", compute="cpu",
                inputs={"m": Input(type="mlflow_model", path="azureml:no-such-model:1")}))
        self.assertIn("no-such-model", str(e.exception))

    def test_environment_and_model_versions(self):
        from azure.ai.ml.entities import Environment
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("name: e\ndependencies:\n  - python=3.11\n  - numpy\n")
        e1 = ml.environments.create_or_update(Environment(name="conda-env", conda_file=f.name,
                                                          image="ubuntu:22.04"))
        self.assertEqual(e1.version, "1")
        self.assertIn("numpy", str(e1.conda_file))
        e2 = ml.environments.create_or_update(Environment(name="conda-env", conda_file=f.name,
                                                          image="ubuntu:24.04",
                                                          tags={"v": "2"}))
        self.assertEqual(e2.version, "2")
        self.assertEqual(ml.environments.get("conda-env", label="latest").version, "2")
        self.assertEqual(sorted(x.version for x in ml.environments.list("conda-env")), ["1", "2"])
        self.assertIn("conda-env", [x.name for x in ml.environments.list()])
        from azure.core.exceptions import ResourceNotFoundError
        with self.assertRaises(ResourceNotFoundError):
            ml.environments.get("conda-env", version="9")
        # An archived version leaves the default list and stays readable.
        ml.environments.archive("conda-env", version="1")
        self.assertEqual([x.version for x in ml.environments.list("conda-env")], ["2"])
        self.assertEqual(ml.environments.get("conda-env", version="1").version, "1")


if __name__ == "__main__":
    unittest.main()
