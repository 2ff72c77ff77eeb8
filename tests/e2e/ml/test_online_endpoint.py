"""Managed online endpoints through azure-ai-ml 1.4.0 (endpoint/deploy.py,
run under `azlite exec` as a user would: the SDK uploads the model and the
code to the workspace's blob store): a numpy model registered from a local
file, endpoint `lin-ep` with key auth, deployment `blue` whose score.py loads
the model in init() and predicts in run(): its instance is a sandbox running
azlite's inference server.  invoke and a plain requests.post to the scoring
URI answer the real predictions; Azure's server defaults (request settings,
probes, scale settings) are in every answer; getLogs shows init()'s output.
A deployment whose init() raises ends Failed, with the traceback in the
operation's error and in getLogs.  Then, outside exec, on the scoring URI
azlite prints there: no key or a wrong key gets 401, an unknown deployment
404, a run() that raises 500 (the instance stays up), a regenerated key
replaces the old one.  Deleting the endpoint stops its instances and removes
their disks."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite, BIN, clean_environ  # noqa: E402
import mlsdk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
srv = None
ml = None
SUB = None
WS = None
W = [[1.0, -2.0], [0.5, 3.0], [2.0, 0.25]]
DATA = [[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]]
WANT = [[sum(row[i] * W[i][j] for i in range(3)) for j in range(2)] for row in DATA]
API = "api-version=2022-02-01-preview"


def setUpModule():
    global srv, ml, SUB, WS
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/ep?api-version=2021-04-01" % SUB,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/ep/providers/Microsoft.MachineLearningServices" \
         "/workspaces/epws" % SUB
    assert srv.http("PUT", WS + "?api-version=2022-10-01-preview",
                    json={"location": "eastus"}).status_code == 201
    ml = mlsdk.ml_client(srv, "ep", "epws")


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def instance_disks():
    d = os.path.join(srv.data_dir, "ml", "endpoints")
    return sorted(n for n in os.listdir(d) if n.startswith("amlep-")) if os.path.isdir(d) else []


def post(uri, key=None, headers=None, **kw):
    import requests
    h = dict(headers or {})
    if key:
        h["Authorization"] = "Bearer " + key
    return requests.post(uri, verify=srv.ca, timeout=60, headers=h, **kw)


@unittest.skipUnless(subprocess.run(["/usr/bin/python3", "-c", "import numpy"],
                                    capture_output=True).returncode == 0,
                     "python3-numpy is not installed (scripts/setup.sh installs it)")
class OnlineEndpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = clean_environ()
        for k in ("AZUREML_DEV_URL_MFE", "REQUESTS_CA_BUNDLE"):  # this process's, not exec's
            env.pop(k, None)
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                            os.path.join(HERE, "endpoint", "deploy.py"), json.dumps(W),
                            json.dumps(DATA)],
                           capture_output=True, text=True, env=env, timeout=280)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
        cls.out = json.loads(p.stdout.strip().splitlines()[-1])

    def test_1_deployed_and_scoring(self):
        o = self.out
        self.assertEqual(o["endpoint"], ["Succeeded", "key", True])
        k1, k2 = o["keys"]
        self.assertTrue(k1 and k2 and k1 != k2)
        self.assertEqual(o["deployment"], "Succeeded")
        # max_queue_wait_ms: Azure's default is PT0.5S (the raw answer below), which
        # azure-ai-ml 1.4.0 reads as whole seconds: 0.
        self.assertEqual(o["defaults"], [5000, 1, 0, 10, 30, 1, "Standard_DS3_v2"])
        self.assertEqual(o["traffic_before"], {"blue": 0})
        self.assertEqual(o["traffic"], {"blue": 100})
        self.assertEqual(o["invoke"], WANT)
        self.assertEqual(o["invoke_blue"], WANT)
        # Azure's scoring host under exec, where requests.post reached it.
        self.assertEqual(o["scoring_uri"], "https://lin-ep.eastus.inference.ml.azure.com/score")
        self.assertEqual(o["post"], [200, WANT, "blue"])
        self.assertEqual(o["post_no_key"], 401)
        self.assertIn("init: loaded weights of shape (3, 2)", o["logs"])
        self.assertIn("init: GREETING=hello from blue", o["logs"])
        raw = srv.http("GET", WS + "/onlineEndpoints/lin-ep/deployments/blue?" + API).json()
        self.assertEqual(raw["properties"]["scaleSettings"], {"scaleType": "Default"})
        self.assertEqual(raw["sku"]["capacity"], 1)
        self.assertEqual(raw["properties"]["requestSettings"],
                         {"maxConcurrentRequestsPerInstance": 1, "requestTimeout": "PT5S",
                          "maxQueueWait": "PT0.5S"})

    def test_2_blue_green(self):
        o = self.out
        self.assertEqual(sum(o["split"].values()), 1000)
        self.assertEqual(set(o["split"]), {"blue", "green"})
        # 10% of 1000: the binomial's sd is about 9.5.
        self.assertTrue(50 <= o["split"]["green"] <= 150, o["split"])
        self.assertEqual(o["all_green"], {"green": 50})
        # WORKER_COUNT=2 on green: two workers, each ran init().
        self.assertEqual(o["green_logs"].count("init: GREETING=hello from green"), 2)
        self.assertIn("2 worker(s) ready", o["green_logs"])

    def test_2_failed_init(self):
        o = self.out
        self.assertIn("cannot load the model: weights are missing", o["bad_error"] or "")
        self.assertEqual(o["bad_state"], "Failed")
        self.assertIn("Traceback (most recent call last)", o["bad_logs"])
        self.assertIn("RuntimeError: cannot load the model: weights are missing", o["bad_logs"])
        self.assertEqual(o["deployments"], ["bad", "blue", "green"])

    def test_3_keys_and_errors_outside_exec(self):
        from azure.core.exceptions import HttpResponseError
        k1, k2 = self.out["keys"]
        ep = ml.online_endpoints.get("lin-ep")
        uri = ep.scoring_uri
        self.assertTrue(uri.startswith(srv.mgmt_url + "/"), uri)
        r = post(uri, k1, json={"data": DATA})
        self.assertEqual((r.status_code, r.json()), (200, WANT), r.text)
        self.assertEqual(post(uri, k2, json={"data": DATA}).json(), WANT)
        import requests
        r = requests.get(ep.openapi_uri, verify=srv.ca, timeout=60,
                         headers={"Authorization": "Bearer " + k1})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertIn("/score", r.json()["paths"])
        self.assertEqual(post(uri, None, json={"data": DATA}).status_code, 401)
        self.assertEqual(post(uri, "not-the-key", json={"data": DATA}).status_code, 401)
        r = post(uri, k1, headers={"azureml-model-deployment": "nosuch"}, json={"data": DATA})
        self.assertEqual(r.status_code, 404, r.text)
        r = post(uri, k1, headers={"azureml-model-deployment": "bad"}, json={"data": DATA})
        self.assertEqual(r.status_code, 404, r.text)
        # run() that raises answers 500; the instance stays up.
        # Azure's inference server's answer: its body, x-ms-run-function-failed,
        # "Encountered Exception" and the traceback in the logs.
        r = post(uri, k1, headers={"azureml-model-deployment": "blue"}, data="not json")
        self.assertEqual(r.status_code, 500, r.text)
        self.assertEqual(r.json(), {"message": "An unexpected error occurred in scoring script."
                                               " Check the logs for more info."})
        self.assertEqual(r.headers.get("x-ms-run-function-failed"), "True")
        r = post(uri, k1, headers={"azureml-model-deployment": "blue"}, json={"data": DATA})
        self.assertEqual(r.json(), WANT)
        self.assertNotIn("x-ms-run-function-failed", r.headers)
        logs = ml.online_deployments.get_logs(name="blue", endpoint_name="lin-ep", lines=100)
        self.assertIn("Encountered Exception: Traceback (most recent call last)", logs)
        self.assertIn("JSONDecodeError", logs)
        # Azure's payload limit, 1.5 MB.
        r = post(uri, k1, data=b"x" * (2 * 1024 * 1024),
                 headers={"Content-Type": "application/json"})
        self.assertEqual(r.status_code, 413, r.text)
        # max_concurrent_requests_per_instance (1 on green): requests beyond it
        # wait max_queue_wait (0.5 s), then get 429.
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(4) as pool:
            codes = sorted(pool.map(
                lambda _: post(uri, k1, headers={"azureml-model-deployment": "green"},
                               json={"data": DATA, "sleep": 3}).status_code, range(4)))
        self.assertIn(200, codes)
        self.assertIn(429, codes)
        # A run() that outlasts request_timeout_ms (5 s on blue): 408, and the
        # instance's server is replaced (init() runs again), then serves again.
        import time
        blue = {"azureml-model-deployment": "blue"}
        r = post(uri, k1, headers=blue, json={"data": DATA, "sleep": 30})
        self.assertEqual(r.status_code, 408, r.text)
        deadline = time.time() + 120
        while True:
            r = post(uri, k1, headers=blue, json={"data": DATA})
            if r.status_code == 200:
                break
            self.assertIn(r.status_code, (502, 503), r.text)
            self.assertLess(time.time(), deadline, r.text)
            time.sleep(0.2)
        self.assertEqual(r.json(), WANT)
        logs = ml.online_deployments.get_logs(name="blue", endpoint_name="lin-ep", lines=200)
        self.assertIn("replacing its server", logs)
        self.assertEqual(logs.count("init: loaded weights"), 2, logs)
        # Scale by a PATCH of sku.capacity: a long-running update (Updating,
        # Retry-After on every poll) after which blue has two instances.
        path = WS + "/onlineEndpoints/lin-ep/deployments/blue?" + API
        r = srv.http("PATCH", path, json={"sku": {"capacity": 2}, "tags": {"color": "blue"}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["properties"]["provisioningState"], "Updating")
        op = r.headers["Azure-AsyncOperation"]
        while True:
            self.assertIn("Retry-After", r.headers)
            r = srv.http("GET", op[len(srv.mgmt_url):])
            self.assertEqual(r.status_code, 200, r.text)
            if r.json()["status"] != "InProgress":
                break
            self.assertLess(time.time(), deadline + 120)
            time.sleep(0.2)
        self.assertEqual(r.json()["status"], "Succeeded", r.text)
        got = ml.online_deployments.get(name="blue", endpoint_name="lin-ep")
        self.assertEqual((got.instance_count, got.provisioning_state), (2, "Succeeded"))
        self.assertEqual(got.tags, {"color": "blue"})
        self.assertEqual(got.environment_variables, {"GREETING": "hello from blue"})
        self.assertEqual(len(instance_disks()), 3)
        for _ in range(4):
            self.assertEqual(post(uri, k1, headers=blue, json={"data": DATA}).json(), WANT)
        # Mirror traffic: blue answers everything, green sees about half the
        # requests as copies whose answers nobody gets.
        ep = ml.online_endpoints.get("lin-ep")
        ep.traffic = {"blue": 100, "green": 50}
        with self.assertRaises(HttpResponseError):  # live and mirror traffic for one: refused
            ep.mirror_traffic = {"green": 50}
            ml.online_endpoints.begin_create_or_update(ep).result()
        ep.traffic = {"blue": 100}
        ep.mirror_traffic = {"green": 50}
        ep = ml.online_endpoints.begin_create_or_update(ep).result()
        self.assertEqual(ep.mirror_traffic, {"green": 50})
        for i in range(60):
            r = post(uri, k1, json={"data": DATA, "tag": "m%d" % i})
            self.assertEqual((r.status_code, r.headers.get("azureml-model-deployment")),
                             (200, "blue"), r.text)
        deadline = time.time() + 60
        while True:
            glog = ml.online_deployments.get_logs(name="green", endpoint_name="lin-ep", lines=500)
            seen = {"m%d" % i for i in range(60) if "run: tag=m%d\n" % i in glog}
            blog = ml.online_deployments.get_logs(name="blue", endpoint_name="lin-ep", lines=500)
            if 10 <= len(seen) <= 50 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertTrue(10 <= len(seen) <= 50, len(seen))  # half of 60: sd about 3.9
        self.assertEqual(sum("run: tag=m%d\n" % i in blog for i in range(60)), 60)
        # Shifting all traffic to green drops nothing in flight: two slow
        # requests routed to blue by the traffic finish there (blue's two
        # instances), the requests after the update go to green.
        ep.mirror_traffic = {}  # first, or the slow requests' copies would hold green
        ep = ml.online_endpoints.begin_create_or_update(ep).result()
        ep.traffic = {"green": 100}
        with ThreadPoolExecutor(2) as pool:
            slow = [pool.submit(post, uri, k1, json={"data": DATA, "sleep": 3}) for _ in range(2)]
            time.sleep(0.5)
            ml.online_endpoints.begin_create_or_update(ep).result()
            self.assertFalse(any(f.done() for f in slow),
                             [f.result().status_code for f in slow if f.done()])
            r = post(uri, k1, json={"data": DATA})
            self.assertEqual((r.status_code, r.headers.get("azureml-model-deployment")),
                             (200, "green"), r.text)
            for f in slow:
                r = f.result()
                self.assertEqual((r.status_code, r.headers.get("azureml-model-deployment")),
                                 (200, "blue"), r.text)
                self.assertEqual(r.json(), WANT)
        # Regenerating the primary key: the old one no longer scores.
        ml.online_endpoints.begin_regenerate_keys("lin-ep", key_type="primary").result()
        fresh = ml.online_endpoints.get_keys("lin-ep")
        self.assertNotEqual(fresh.primary_key, k1)
        self.assertEqual(fresh.secondary_key, k2)
        self.assertEqual(post(uri, k1, json={"data": DATA}).status_code, 401)
        self.assertEqual(post(uri, fresh.primary_key, json={"data": DATA}).json(), WANT)
        # Traffic to a deployment that does not exist is refused.
        ep.traffic = {"blue": 50, "nosuch": 50}
        with self.assertRaises(HttpResponseError):
            ml.online_endpoints.begin_create_or_update(ep).result()

    def test_3b_survives_kill9(self):
        """A kill -9 takes the instances with azlite; at start the deployments
        that were Succeeded boot again, with the same keys and scoring URI."""
        import time
        global ml
        uri = ml.online_endpoints.get("lin-ep").scoring_uri
        key = ml.online_endpoints.get_keys("lin-ep").secondary_key
        srv.kill9()
        srv.start()
        ml = mlsdk.ml_client(srv, "ep", "epws")
        deadline = time.time() + 120
        while True:
            r = post(uri, key, headers={"azureml-model-deployment": "blue"}, json={"data": DATA})
            if r.status_code == 200:
                break
            self.assertEqual(r.status_code, 404, r.text)  # not running yet
            self.assertLess(time.time(), deadline, r.text)
            time.sleep(0.2)
        self.assertEqual(r.json(), WANT)
        self.assertEqual(ml.online_deployments.get(name="blue", endpoint_name="lin-ep")
                         .provisioning_state, "Succeeded")
        self.assertEqual(ml.online_deployments.get(name="bad", endpoint_name="lin-ep")
                         .provisioning_state, "Failed")
        while True:  # green comes back too
            r = post(uri, key, headers={"azureml-model-deployment": "green"}, json={"data": DATA})
            if r.status_code == 200:
                break
            self.assertEqual(r.status_code, 404, r.text)
            self.assertLess(time.time(), deadline, r.text)
            time.sleep(0.2)
        self.assertEqual(len(instance_disks()), 3)  # blue's two, green's

    def test_4_delete_cleans_up(self):
        from azure.core.exceptions import ResourceNotFoundError
        uri = ml.online_endpoints.get("lin-ep").scoring_uri
        key = ml.online_endpoints.get_keys("lin-ep").secondary_key
        self.assertEqual(len(instance_disks()), 3)  # blue's, green's; bad's went when it failed
        ml.online_endpoints.begin_delete(name="lin-ep").result()
        with self.assertRaises(ResourceNotFoundError):
            ml.online_endpoints.get("lin-ep")
        self.assertEqual(instance_disks(), [])
        self.assertEqual([n for n in os.listdir(os.path.join(srv.data_dir, "ml", "endpoints"))
                          if n.endswith(".log")], [])  # the deployments' logs went too
        self.assertEqual(post(uri, key, json={"data": DATA}).status_code, 404)
        self.assertNotIn("azlite_inference_server", os.popen("ps -e -o args").read())
        # The instances' running time is usage for cost management (core's meter call).
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data_dir, "azlite.db"), uri=True)
        try:
            got = db.execute("SELECT resource_id, meter, quantity, unit FROM usage_events WHERE"
                             " meter LIKE 'Microsoft.MachineLearningServices/%'").fetchall()
        finally:
            db.close()
        blue = [g for g in got if g[0].lower().endswith("/onlineendpoints/lin-ep/deployments/blue")]
        self.assertTrue(blue, got)
        for g in blue:
            self.assertEqual(g[1:2] + g[3:], (
                "Microsoft.MachineLearningServices/onlineEndpoints/deployments/Standard_DS3_v2",
                "Hours"))
        self.assertGreater(sum(g[2] for g in blue), 0)

    def test_bad_input(self):
        from azure.ai.ml.entities import ManagedOnlineEndpoint
        ml.online_endpoints.begin_create_or_update(
            ManagedOnlineEndpoint(name="bad-input", auth_mode="key")).result()
        base = {"location": "eastus", "sku": {"name": "Default", "capacity": 1},
                "properties": {"endpointComputeType": "Managed",
                               "instanceType": "Standard_DS3_v2",
                               "model": "azureml:nosuch:1",
                               "codeConfiguration": {"codeId": "azureml:nosuch:1",
                                                     "scoringScript": "score.py"}}}
        r = srv.http("PUT", WS + "/onlineEndpoints/bad-input/deployments/dep1?" + API, json=base)
        self.assertEqual(r.status_code, 404, r.text)
        base["properties"]["instanceType"] = "Standard_Nope_v9"
        r = srv.http("PUT", WS + "/onlineEndpoints/bad-input/deployments/dep1?" + API, json=base)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("Standard_Nope_v9", r.text)
        r = srv.http("PUT", WS + "/onlineEndpoints/nosuch/deployments/dep1?" + API, json=base)
        self.assertEqual(r.status_code, 404, r.text)
        r = srv.http("PUT", WS + "/onlineEndpoints/x?" + API,
                     json={"location": "eastus", "properties": {"authMode": "Key"}})
        self.assertEqual(r.status_code, 400, r.text)
        # identity None: no system-assigned identity; the default is one.
        r = srv.http("PUT", WS + "/onlineEndpoints/noid-ep?" + API,
                     json={"location": "eastus", "identity": {"type": "None"},
                           "properties": {"authMode": "Key"}})
        self.assertEqual(r.status_code, 201, r.text)
        self.assertNotIn("identity", r.json())
        self.assertEqual(ml.online_endpoints.get("bad-input").identity.type, "system_assigned")
        ml.online_endpoints.begin_delete(name="noid-ep").result()
        # AMLToken endpoints: a token instead of keys.
        r = srv.http("PUT", WS + "/onlineEndpoints/tok-ep?" + API,
                     json={"location": "eastus", "properties": {"authMode": "AMLToken"}})
        self.assertEqual(r.status_code, 201, r.text)
        tok = ml.online_endpoints.get_keys("tok-ep")
        self.assertTrue(tok.access_token and tok.token_type == "Bearer", tok)
        r = srv.http("POST", WS + "/onlineEndpoints/tok-ep/listKeys?" + API)
        self.assertEqual(r.status_code, 400, r.text)
        ml.online_endpoints.begin_delete(name="tok-ep").result()
        # Endpoint names are unique in a region (they are the scoring host's label).
        ws2 = WS[:-len("epws")] + "epws2"
        assert srv.http("PUT", ws2 + "?api-version=2022-10-01-preview",
                        json={"location": "eastus"}).status_code == 201
        r = srv.http("PUT", ws2 + "/onlineEndpoints/bad-input?" + API,
                     json={"location": "eastus", "properties": {"authMode": "Key"}})
        self.assertEqual(r.status_code, 409, r.text)
        ml.online_endpoints.begin_delete(name="bad-input").result()


if __name__ == "__main__":
    unittest.main()
