"""Azure Functions, the seed's Part 5, end to end with az (Debian's 2.45):
`az functionapp create --consumption-plan-location` (plan and app), app
settings, `az functionapp deployment source config-zip` through the app's
SCM (Kudu) site, and the deployed function_app.py answering POST
/api/predict with a real torch model read from Blob Storage.  Then what must
be refused (no key, a wrong key, an unknown route), a broken second
deployment that leaves the first serving, a function that raises (500, the
worker stays up), a timer on a */5 schedule fired by `azlite clock advance
5m`, and the meters (executions, GB-seconds).

az reaches <app>.scm.azurewebsites.net only under `azlite exec` (the names
resolve to azlite's management port); outside it, a client reaches the app
on 127.0.0.1's management port with the app's name in Host."""
import io
import json
import os
import sqlite3
import subprocess
import tempfile
import time
import unittest
import zipfile

import requests

from azlite_harness import Azlite, BIN, clean_environ

srv = None
RG = "fnrg"
APP = "seedfn"
TIMER_APP = "timerfn"
CONN = None
WORKDIR = None

# The seed's function_app.py (Part 5) as written, but for one line: the seed
# uses os.environ without importing os, so `import os` is added at the top.
SEED_APP = '''import os  # added: the seed's Part 5 uses os.environ but forgot to import os
# Azure Function (function_app.py)
import azure.functions as func
import torch
import json
from azure.storage.blob import BlobServiceClient

app = func.FunctionApp()

# Load model at startup
model = None
def load_model():
    global model
    if model is None:
        # Download model from blob storage
        blob_service = BlobServiceClient.from_connection_string(
            os.environ['STORAGE_CONNECTION_STRING']
        )
        blob_client = blob_service.get_blob_client('models', 'model.pth')

        with open('/tmp/model.pth', 'wb') as f:
            f.write(blob_client.download_blob().readall())

        model = torch.load('/tmp/model.pth')
        model.eval()

@app.route(route="predict", methods=['POST'])
def predict(req: func.HttpRequest) -> func.HttpResponse:
    """HTTP triggered inference function"""
    load_model()

    try:
        data = req.get_json()
        input_data = torch.tensor(data['input'])

        with torch.no_grad():
            output = model(input_data)

        prediction = output.argmax(dim=1).tolist()

        return func.HttpResponse(
            json.dumps({'prediction': prediction}),
            mimetype='application/json'
        )
    except Exception as e:
        return func.HttpResponse(
            f"Error: {str(e)}",
            status_code=500
        )
'''

TIMER_APP_SRC = '''import os
import azure.functions as func

app = func.FunctionApp()

@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
def every_five(timer: func.TimerRequest) -> None:
    with open(os.environ["TICK_FILE"], "a") as f:
        f.write("past_due=%s\\n" % timer.past_due)

@app.function_name(name="boom")
@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this function always raises")

@app.route(route="slow", auth_level=func.AuthLevel.ANONYMOUS)
def slow(req: func.HttpRequest) -> func.HttpResponse:
    import time
    time.sleep(1.5)
    return func.HttpResponse(str(os.getpid()))

@app.route(route="items/{id:int}", auth_level=func.AuthLevel.ANONYMOUS, methods=["GET"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("item %s" % req.route_params["id"])
'''


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    path = os.path.join(WORKDIR, "pkg-%d.zip" % time.time_ns())
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return path


def az_exec(*args):
    """`azlite exec -- azlite az ARGS`: az as a user runs it, with Azure's host
    names (the SCM site) answered by azlite."""
    return subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", BIN, "az",
                           "--data-dir", srv.data_dir, "--mgmt-port", str(srv.ports["mgmt"])]
                          + list(args), capture_output=True, text=True, env=clean_environ(),
                          timeout=300)


def deploy(app, path):
    return az_exec("functionapp", "deployment", "source", "config-zip", "-g", RG, "-n", app,
                   "--src", path, "--build-remote", "true")


def call(app, method, path, **kw):
    """A request to the app's host on azlite's management port (Host form)."""
    h = dict(kw.pop("headers", {}))
    h["Host"] = "%s.azurewebsites.net" % app
    return requests.request(method, srv.mgmt_url + path, headers=h, verify=srv.ca, timeout=120,
                            **kw)


def create_app(name):
    p = srv.az("functionapp", "create", "-g", RG, "-n", name, "--consumption-plan-location",
               "eastus", "--runtime", "python", "--runtime-version", "3.11",
               "--functions-version", "4", "--os-type", "Linux", "--storage-account", "fnstore",
               "--output", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def setUpModule():
    global srv, CONN, WORKDIR
    WORKDIR = tempfile.mkdtemp(prefix="azlite-fn-")
    # Two workers at most per app here, so scaling out has a limit to reach.
    srv = Azlite(server_env={"AZLITE_WEB_MAX_WORKERS": "2"}).start()
    srv.az_json("group", "create", "-n", RG, "-l", "eastus")
    CONN = srv.storage_account("fnstore", RG)


def tearDownModule():
    srv.cleanup()


class SeedFunction(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            import torch
        except ImportError:
            raise unittest.SkipTest("python3-torch is not installed (scripts/setup.sh installs "
                                    "it): the seed's function app imports torch")
        cls.site = create_app(APP)
        p = srv.az("functionapp", "config", "appsettings", "set", "-g", RG, "-n", APP,
                   "--settings", "STORAGE_CONNECTION_STRING=" + CONN, "--output", "none")
        assert p.returncode == 0, p.stderr
        # A small real torch model: 4 features, 3 classes.
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                    torch.nn.Linear(8, 3))
        model.eval()
        path = os.path.join(WORKDIR, "model.pth")
        torch.save(model, path)
        from azure.storage.blob import BlobServiceClient
        svc = BlobServiceClient.from_connection_string(CONN)
        svc.create_container("models")
        with open(path, "rb") as f:
            svc.get_blob_client("models", "model.pth").upload_blob(f)
        cls.inputs = [[0.5, -1.0, 2.0, 0.1], [3.0, 0.2, -0.7, 1.5], [-2.0, 1.0, 0.0, -0.3],
                      [0.0, 0.0, 4.0, -4.0]]
        with torch.no_grad():
            cls.expected = model(torch.tensor(cls.inputs)).argmax(dim=1).tolist()
        p = deploy(APP, zip_of({"function_app.py": SEED_APP,
                                "requirements.txt": "azure-functions\ntorch\nazure-storage-blob\n"
                                                    "surely-not-a-package==1.0\n"}))
        assert p.returncode == 0, p.stdout + p.stderr
        keys = srv.az_json("functionapp", "keys", "list", "-g", RG, "-n", APP)
        cls.key = keys["functionKeys"]["default"]
        cls.master = keys["masterKey"]

    def test_1_site_as_azure_shows_it(self):
        self.assertEqual(self.site["defaultHostName"], APP + ".azurewebsites.net")
        self.assertEqual(self.site["kind"], "functionapp,linux")
        self.assertTrue(self.site["reserved"])
        plan = srv.az_json("appservice", "plan", "show", "--ids", self.site["serverFarmId"])
        self.assertEqual(plan["sku"]["tier"], "Dynamic")
        self.assertEqual(plan["sku"]["name"], "Y1")
        settings = {s["name"]: s["value"] for s in srv.az_json(
            "functionapp", "config", "appsettings", "list", "-g", RG, "-n", APP)}
        self.assertEqual(settings["FUNCTIONS_WORKER_RUNTIME"], "python")
        self.assertEqual(settings["FUNCTIONS_EXTENSION_VERSION"], "~4")
        self.assertEqual(settings["STORAGE_CONNECTION_STRING"], CONN)
        self.assertIn("AccountName=fnstore", settings["AzureWebJobsStorage"])

    def test_2_predict_returns_the_models_argmax(self):
        r = call(APP, "POST", "/api/predict", json={"input": self.inputs},
                 headers={"x-functions-key": self.key})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.headers["Content-Type"].startswith("application/json"))
        self.assertEqual(r.json(), {"prediction": self.expected})
        # The key as a query parameter, and the master key, work too.
        r = call(APP, "POST", "/api/predict?code=" + self.key, json={"input": self.inputs[:1]})
        self.assertEqual(r.json(), {"prediction": self.expected[:1]})
        r = call(APP, "POST", "/api/predict", json={"input": self.inputs[1:]},
                 headers={"x-functions-key": self.master})
        self.assertEqual(r.json(), {"prediction": self.expected[1:]})

    def test_2_the_printed_host_name_works_under_exec(self):
        code = ("import requests,sys; r = requests.post('https://%s/api/predict', "
                "headers={'x-functions-key': sys.argv[1]}, json={'input': %s}); "
                "print(r.status_code, r.text)" % (self.site["defaultHostName"],
                                                  json.dumps(self.inputs)))
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                            "-c", code, self.key], capture_output=True, text=True,
                           env=clean_environ(), timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        status, body = p.stdout.strip().split(" ", 1)
        self.assertEqual(status, "200")
        self.assertEqual(json.loads(body), {"prediction": self.expected})

    def test_3_keys_are_required(self):
        r = call(APP, "POST", "/api/predict", json={"input": self.inputs})
        self.assertEqual(r.status_code, 401)
        r = call(APP, "POST", "/api/predict", json={"input": self.inputs},
                 headers={"x-functions-key": "not-the-key"})
        self.assertEqual(r.status_code, 401)
        r = call(APP, "POST", "/api/nothing-here", headers={"x-functions-key": self.key})
        self.assertEqual(r.status_code, 404)
        r = call(APP, "GET", "/api/predict", headers={"x-functions-key": self.key})
        self.assertEqual(r.status_code, 404)  # the route takes POST only
        r = call("nosuchapp", "GET", "/api/predict")
        self.assertEqual(r.status_code, 404)

    def test_3_functions_list_and_show(self):
        fns = srv.az_json("functionapp", "function", "list", "-g", RG, "-n", APP)
        self.assertEqual([f["name"] for f in fns], [APP + "/predict"])
        self.assertEqual(fns[0]["invokeUrlTemplate"],
                         "https://%s.azurewebsites.net/api/predict" % APP)
        one = srv.az_json("functionapp", "function", "show", "-g", RG, "-n", APP,
                          "--function-name", "predict")
        binding = one["config"]["bindings"][0]
        self.assertEqual(binding["type"], "httpTrigger")
        self.assertEqual(binding["authLevel"], "function")
        keys = srv.az_json("functionapp", "function", "keys", "list", "-g", RG, "-n", APP,
                           "--function-name", "predict")
        r = call(APP, "POST", "/api/predict", json={"input": self.inputs[:2]},
                 headers={"x-functions-key": keys["default"]})
        self.assertEqual(r.json(), {"prediction": self.expected[:2]})
        # Named keys: one of the function's, one of the host's; both open it, until deleted.
        mine = "k" * 8 + "-function-key-for-tests"
        srv.az_json("functionapp", "function", "keys", "set", "-g", RG, "-n", APP,
                    "--function-name", "predict", "--key-name", "mine", "--key-value", mine)
        host = srv.az_json("functionapp", "keys", "set", "-g", RG, "-n", APP, "--key-type",
                           "functionKeys", "--key-name", "shared")["value"]
        listed = srv.az_json("functionapp", "function", "keys", "list", "-g", RG, "-n", APP,
                             "--function-name", "predict")
        self.assertEqual(listed["mine"], mine)
        self.assertEqual(srv.az_json("functionapp", "keys", "list", "-g", RG, "-n", APP)
                         ["functionKeys"]["shared"], host)
        for k in (mine, host):
            r = call(APP, "POST", "/api/predict", json={"input": self.inputs[:1]},
                     headers={"x-functions-key": k})
            self.assertEqual(r.status_code, 200)
        p = srv.az("functionapp", "function", "keys", "delete", "-g", RG, "-n", APP,
                   "--function-name", "predict", "--key-name", "mine")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = srv.az("functionapp", "keys", "delete", "-g", RG, "-n", APP, "--key-type",
                   "functionKeys", "--key-name", "shared")
        self.assertEqual(p.returncode, 0, p.stderr)
        for k in (mine, host):
            r = call(APP, "POST", "/api/predict", json={"input": self.inputs[:1]},
                     headers={"x-functions-key": k})
            self.assertEqual(r.status_code, 401)

    def test_3_deployment_log_says_what_requirements_are_missing(self):
        # Plain `azlite az` (no exec): it runs az under azlite's library too, so
        # the SCM host az builds from the site reaches azlite.
        p = srv.az("webapp", "log", "deployment", "show", "-g", RG, "-n", APP)
        self.assertEqual(p.returncode, 0, p.stderr)
        text = " ".join(e["message"] for e in json.loads(p.stdout))
        self.assertIn("missing here: surely-not-a-package==1.0", text)
        self.assertIn("torch 1.13", text)
        self.assertIn("Deployment successful: 1 function(s) loaded", text)

    def test_4_a_broken_deployment_leaves_the_first_serving(self):
        bad = SEED_APP.replace("def predict(req", "def predict(req,,")
        p = deploy(APP, zip_of({"function_app.py": bad}))
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("Zip deployment failed", p.stderr)
        self.assertIn("SyntaxError", p.stderr)
        # No function_app.py at all fails too.
        p = deploy(APP, zip_of({"main.py": "print('hello')\n"}))
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("function_app.py was not found", p.stderr)
        r = call(APP, "POST", "/api/predict", json={"input": self.inputs},
                 headers={"x-functions-key": self.key})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"prediction": self.expected})

    def test_6_serves_again_after_kill9(self):
        srv.kill9()
        srv.start()
        r = call(APP, "POST", "/api/predict", json={"input": self.inputs},
                 headers={"x-functions-key": self.key})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json(), {"prediction": self.expected})

    def test_5_executions_are_metered(self):
        db = sqlite3.connect(os.path.join(srv.data_dir, "azlite.db"))
        rows = db.execute("SELECT meter, quantity, unit FROM usage_events WHERE resource_id=?"
                          " COLLATE NOCASE", (self.site["id"],)).fetchall()
        db.close()
        execs = [r for r in rows if r[0] == "Microsoft.Web/sites/functions/executions"]
        gbs = [r for r in rows if r[0] == "Microsoft.Web/sites/functions/executionTime"]
        self.assertGreaterEqual(len(execs), 5)
        self.assertEqual(len(execs), len(gbs))
        self.assertTrue(all(r[2] == "GB-Seconds" and r[1] > 0 for r in gbs))


class TimerAndErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        create_app(TIMER_APP)
        cls.ticks = os.path.join(WORKDIR, "ticks.txt")
        p = srv.az("functionapp", "config", "appsettings", "set", "-g", RG, "-n", TIMER_APP,
                   "--settings", "TICK_FILE=" + cls.ticks, "--output", "none")
        assert p.returncode == 0, p.stderr
        p = deploy(TIMER_APP, zip_of({"function_app.py": TIMER_APP_SRC}))
        assert p.returncode == 0, p.stdout + p.stderr

    def lines(self):
        try:
            with open(self.ticks) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def wait_lines(self, n):
        deadline = time.time() + 60
        while time.time() < deadline and len(self.lines()) < n:
            time.sleep(0.1)
        return self.lines()

    def settled_lines(self, n):
        """The lines once there are at least n and none came for 3 s (a run the
        real clock started may still be writing)."""
        got = self.wait_lines(n)
        for _ in range(10):  # a timer that keeps firing fails below, never hangs
            time.sleep(3)
            now = self.lines()
            if now == got:
                break
            got = now
        return got

    def test_timer_fires_once_per_five_minutes(self):
        # azlite's clock runs with the real one: a real five-minute mark passed
        # since the deploy may have fired it once already (or be firing it).
        self.assertLessEqual(len(self.lines()), 1)
        # To a minute past the next five-minute mark: one occurrence due, the
        # one after it four minutes away (a slow machine does not make it past due).
        import datetime
        shown = srv.cli("clock").stdout.strip()
        now = datetime.datetime.strptime(shown[:19], "%Y-%m-%dT%H:%M:%S")
        to_mark = 300 - (now.minute % 5) * 60 - now.second
        before = len(self.lines())
        srv.cli("clock", "advance", "%ds" % (to_mark + 60))
        got = self.settled_lines(before + 1)
        self.assertIn(len(got), (1, 2), got)
        self.assertEqual(got[-1], "past_due=False")
        srv.cli("clock", "advance", "5m")
        self.assertEqual(len(self.settled_lines(len(got) + 1)), len(got) + 1)
        n = len(got) + 1
        # The admin API runs it now, with the master key only.
        keys = srv.az_json("functionapp", "keys", "list", "-g", RG, "-n", TIMER_APP)
        r = call(TIMER_APP, "POST", "/admin/functions/every_five", json={"input": ""},
                 headers={"x-functions-key": keys["functionKeys"]["default"]})
        self.assertEqual(r.status_code, 401)
        r = call(TIMER_APP, "POST", "/admin/functions/every_five", json={"input": ""},
                 headers={"x-functions-key": keys["masterKey"]})
        self.assertEqual(r.status_code, 202)
        self.assertEqual(len(self.wait_lines(n + 1)), n + 1)

    def test_raising_function_is_500_and_the_worker_stays_up(self):
        r = call(TIMER_APP, "GET", "/api/boom")
        self.assertEqual(r.status_code, 500)
        r = call(TIMER_APP, "GET", "/api/items/42")
        self.assertEqual((r.status_code, r.text), (200, "item 42"))
        self.assertEqual(call(TIMER_APP, "GET", "/api/items/abc").status_code, 404)
        self.assertEqual(call(TIMER_APP, "GET", "/api/boom").status_code, 500)
        self.assertEqual(call(TIMER_APP, "GET", "/api/items/7").text, "item 7")
        # The Kudu log API shows each invocation, and the traceback of the one that raised.
        cred = srv.http("POST", "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Web/"
                        "sites/%s/config/publishingcredentials/list?api-version=2022-03-01" % (
                            srv.env["AZURE_SUBSCRIPTION_ID"], RG, TIMER_APP)).json()
        auth = (cred["properties"]["publishingUserName"],
                cred["properties"]["publishingPassword"])
        scm = {"Host": TIMER_APP + ".scm.azurewebsites.net"}
        log = requests.get(srv.mgmt_url + "/api/logstream", headers=scm, auth=auth,
                           verify=srv.ca).text
        self.assertIn("this function always raises", log)
        self.assertIn("Executed 'Functions.boom' (Failed", log)
        self.assertIn("Executed 'Functions.item' (Succeeded", log)
        self.assertEqual(requests.get(srv.mgmt_url + "/api/logstream", headers=scm,
                                      auth=(auth[0], "wrong"), verify=srv.ca).status_code, 401)
        # An Entra ID token of a principal that may publish works too; none does not.
        bearer = dict(scm, Authorization="Bearer " + srv.token())
        r = requests.get(srv.mgmt_url + "/api/deployments/latest", headers=bearer, verify=srv.ca)
        self.assertEqual((r.status_code, r.json()["status"]), (200, 4))
        self.assertEqual(requests.get(srv.mgmt_url + "/api/deployments/latest", headers=scm,
                                      verify=srv.ca).status_code, 401)
        # One worker served all of it: one cold start.
        with open(srv.log_path, errors="replace") as f:
            self.assertEqual(f.read().count("web: %s: worker" % TIMER_APP), 1)

    def test_scale_out_under_concurrent_load(self):
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(4) as pool:
            rs = list(pool.map(lambda _: call(TIMER_APP, "GET", "/api/slow"), range(4)))
        self.assertEqual([r.status_code for r in rs], [200] * 4)
        # Four requests at once: a second worker starts, and no third (the limit).
        self.assertEqual(len({r.text for r in rs}), 2)

    def test_stop_and_start(self):
        srv.az("functionapp", "stop", "-g", RG, "-n", TIMER_APP, check=True)
        self.assertEqual(call(TIMER_APP, "GET", "/api/items/1").status_code, 403)
        show = srv.az_json("functionapp", "show", "-g", RG, "-n", TIMER_APP)
        self.assertEqual(show["state"], "Stopped")
        srv.az("functionapp", "start", "-g", RG, "-n", TIMER_APP, check=True)
        self.assertEqual(call(TIMER_APP, "GET", "/api/items/1").text, "item 1")
        # A restart is a new worker process.
        before = call(TIMER_APP, "GET", "/api/slow").text
        srv.az("functionapp", "restart", "-g", RG, "-n", TIMER_APP, check=True)
        after = call(TIMER_APP, "GET", "/api/slow").text
        self.assertNotEqual(before, after)


RFP_APP_SRC = '''import base64
import json
import azure.functions as func
from azure.identity import ManagedIdentityCredential

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="version")
def version(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("VERSION")

@app.route(route="whoami")
def whoami(req: func.HttpRequest) -> func.HttpResponse:
    # The app's system-assigned identity, through IDENTITY_ENDPOINT/IDENTITY_HEADER.
    tok = ManagedIdentityCredential().get_token("https://management.azure.com/.default").token
    part = tok.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return func.HttpResponse(claims["oid"])
'''


class RunFromPackageAndIdentity(unittest.TestCase):
    """config-zip without --build-remote on a Linux Consumption app uploads
    the package to the AzureWebJobsStorage account (function-releases) and
    sets WEBSITE_RUN_FROM_PACKAGE to its SAS URL, as on Azure."""
    APP = "rfpfn"

    @classmethod
    def setUpClass(cls):
        create_app(cls.APP)

    def test_run_from_package_then_identity(self):
        p = az_exec("functionapp", "deployment", "source", "config-zip", "-g", RG, "-n",
                    self.APP, "--src", zip_of({"function_app.py": RFP_APP_SRC.replace("VERSION", "v1")}))
        self.assertEqual(p.returncode, 0, p.stderr)
        settings = {s["name"]: s["value"] for s in srv.az_json(
            "functionapp", "config", "appsettings", "list", "-g", RG, "-n", self.APP)}
        url = settings["WEBSITE_RUN_FROM_PACKAGE"]
        self.assertTrue(url.startswith("https://fnstore.blob.core.windows.net/function-releases/"),
                        url)
        deadline = time.time() + 60
        while time.time() < deadline and call(self.APP, "GET", "/api/version").text != "v1":
            time.sleep(0.2)
        self.assertEqual(call(self.APP, "GET", "/api/version").text, "v1")
        # A second package replaces it.
        p = az_exec("functionapp", "deployment", "source", "config-zip", "-g", RG, "-n",
                    self.APP, "--src", zip_of({"function_app.py": RFP_APP_SRC.replace("VERSION", "v2")}))
        self.assertEqual(p.returncode, 0, p.stderr)
        deadline = time.time() + 60
        while time.time() < deadline and call(self.APP, "GET", "/api/version").text != "v2":
            time.sleep(0.2)
        self.assertEqual(call(self.APP, "GET", "/api/version").text, "v2")
        # Without an identity the code gets no token (500); with one, its own.
        self.assertEqual(call(self.APP, "GET", "/api/whoami").status_code, 500)
        ident = srv.az_json("functionapp", "identity", "assign", "-g", RG, "-n", self.APP)
        r = call(self.APP, "GET", "/api/whoami")
        self.assertEqual((r.status_code, r.text), (200, ident["principalId"]))

    def test_zz_delete(self):
        srv.az("functionapp", "delete", "-g", RG, "-n", self.APP, check=True)
        self.assertEqual(call(self.APP, "GET", "/api/version").status_code, 404)
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "web", "sites", self.APP)))
        p = srv.az("functionapp", "show", "-g", RG, "-n", self.APP)
        self.assertNotEqual(p.returncode, 0)


BLOB_APP_SRC = '''import os
import azure.functions as func

app = func.FunctionApp()

@app.blob_trigger(arg_name="blob", path="incoming/{name}", connection="STORAGE_CONNECTION_STRING")
def on_blob(blob: func.InputStream):
    with open(os.environ["BLOB_LOG"], "a") as f:
        f.write("%s %d %s\\n" % (blob.name, blob.length, blob.read().decode()))
'''


class BlobTrigger(unittest.TestCase):
    APP = "blobfn"

    def test_new_blobs_invoke_the_function_once(self):
        from azure.storage.blob import BlobServiceClient
        log = os.path.join(WORKDIR, "blobs.txt")
        create_app(self.APP)
        p = srv.az("functionapp", "config", "appsettings", "set", "-g", RG, "-n", self.APP,
                   "--settings", "STORAGE_CONNECTION_STRING=" + CONN, "BLOB_LOG=" + log,
                   "--output", "none")
        self.assertEqual(p.returncode, 0, p.stderr)
        svc = BlobServiceClient.from_connection_string(CONN)
        svc.create_container("incoming")
        svc.get_blob_client("incoming", "first.txt").upload_blob(b"hello")
        p = deploy(self.APP, zip_of({"function_app.py": BLOB_APP_SRC}))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

        def lines(n):
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    with open(log) as f:
                        got = f.read().splitlines()
                except FileNotFoundError:
                    got = []
                if len(got) >= n:
                    return got
                time.sleep(0.2)
            return got
        self.assertEqual(lines(1), ["incoming/first.txt 5 hello"])
        svc.get_blob_client("incoming", "second.txt").upload_blob(b"world!")
        self.assertEqual(lines(2)[1], "incoming/second.txt 6 world!")
        time.sleep(5)  # two more scans: nothing runs twice
        self.assertEqual(len(lines(2)), 2)
        # Overwriting a blob (a new ETag) runs it again.
        svc.get_blob_client("incoming", "first.txt").upload_blob(b"again", overwrite=True)
        self.assertEqual(lines(3)[2], "incoming/first.txt 5 again")
        fns = srv.az_json("functionapp", "function", "list", "-g", RG, "-n", self.APP)
        binding = fns[0]["config"]["bindings"][0]
        self.assertEqual((binding["type"], binding["path"]), ("blobTrigger", "incoming/{name}"))


class Names(unittest.TestCase):
    def test_invalid_app_name(self):
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Web/sites/"
                     "bad_name!?api-version=2022-03-01" % (srv.env["AZURE_SUBSCRIPTION_ID"], RG),
                     json={"location": "eastus", "kind": "functionapp,linux"})
        self.assertEqual(r.status_code, 400)
        self.assertEqual(r.json()["error"]["code"], "InvalidResourceName")


if __name__ == "__main__":
    unittest.main()
