"""An environment's pip dependencies are really installed: a conda file's
pip: list goes into a virtual environment on the node (the host's
site-packages visible), the job runs with its python first, the next job of
that environment reuses it, and a dependency pip cannot find leaves the job
on the node's Python with pip's reason in the log.  pip reaches only what
azlite's own PIP_* settings name: here a local wheel, offline."""
import base64
import hashlib
import os
import shutil
import sys
import tempfile
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

srv = None
ml = None
WS = None
WHEELS = None
API = "api-version=2022-10-01-preview"


def make_wheel(d, name, version, body):
    """A pure-Python wheel, written by hand (no build tools, no index)."""
    files = {
        "%s/__init__.py" % name: body,
        "%s-%s.dist-info/METADATA" % (name, version):
            "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version),
        "%s-%s.dist-info/WHEEL" % (name, version):
            "Wheel-Version: 1.0\nGenerator: azlite-test\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n",
    }
    record = "%s-%s.dist-info/RECORD" % (name, version)
    lines = []
    with zipfile.ZipFile(os.path.join(d, "%s-%s-py3-none-any.whl" % (name, version)), "w") as z:
        for path, text in files.items():
            data = text.encode()
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.append("%s,sha256=%s,%d" % (path, digest.decode(), len(data)))
        lines.append(record + ",,")
        z.writestr(record, "\n".join(lines) + "\n")


def setUpModule():
    global srv, ml, WS, WHEELS
    # Under /var/tmp: a node sees the host's /var, not its /tmp or /home.
    WHEELS = tempfile.mkdtemp(prefix="azlite-wheels-", dir="/var/tmp")
    os.chmod(WHEELS, 0o755)
    make_wheel(WHEELS, "azlitedemo", "1.0", "ANSWER = 42\n")
    srv = Azlite(server_env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELS}).start()
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    assert srv.http("PUT", "/subscriptions/%s/resourceGroups/envb?api-version=2021-04-01" % sub,
                    json={"location": "eastus"}).status_code in (200, 201)
    WS = "/subscriptions/%s/resourceGroups/envb/providers/Microsoft.MachineLearningServices" \
         "/workspaces/envws" % sub
    assert srv.http("PUT", WS + "?" + API, json={"location": "eastus"}).status_code == 201
    ml = mlsdk.ml_client(srv, "envb", "envws")
    from azure.ai.ml.entities import AmlCompute
    ml.compute.begin_create_or_update(AmlCompute(name="cpu", size="Standard_DS3_v2",
                                                 max_instances=1)).result()


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()
    shutil.rmtree(WHEELS, ignore_errors=True)


def environment(name, pip):
    from azure.ai.ml.entities import Environment
    d = tempfile.mkdtemp()
    path = os.path.join(d, "conda.yml")
    with open(path, "w") as f:
        f.write("name: %s\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n"
                "  - pip\n  - pip:\n" % name + "".join("    - %s\n" % p for p in pip))
    ml.environments.create_or_update(Environment(name=name, image="ubuntu:22.04",
                                                 conda_file=path))
    shutil.rmtree(d)
    return name + ":1"


def run(env, cmd):
    from azure.ai.ml import command
    made = ml.jobs.create_or_update(command(command=cmd, environment=env, compute="cpu"))
    deadline = time.time() + 300
    while time.time() < deadline:
        j = ml.jobs.get(made.name)
        if j.status in ("Completed", "Failed", "Canceled"):
            break
        time.sleep(0.3)
    d = srv.http("GET", "/history/v1.0" + WS + "/runs/%s/details" % made.name).json()
    import requests
    log = requests.get(d["logFiles"]["user_logs/std_log.txt"], verify=srv.ca, timeout=30).text
    return j.status, log


PROBE = ("python3 -c \"import azlitedemo, sys, torch; "
         "print('answer', azlitedemo.ANSWER, 'prefix', sys.prefix)\"")


class EnvironmentBuild(unittest.TestCase):
    def test_pip_dependencies_are_installed_and_reused(self):
        env = environment("demo", ["azlitedemo==1.0"])
        status, log = run(env, PROBE)
        self.assertEqual(status, "Completed", log)
        self.assertIn("installing the environment's pip dependencies", log)
        self.assertIn("the environment is built", log)
        # Its python first, the host's packages (torch) still there.
        self.assertRegex(log, r"answer 42 prefix /mnt/azureml/envs/[0-9a-f]{16}")
        status, log = run(env, PROBE)
        self.assertEqual(status, "Completed", log)
        self.assertIn("built before on this node", log)
        self.assertIn("answer 42", log)

    def test_a_dependency_pip_cannot_find(self):
        env = environment("broken", ["nosuchpackage==9.9"])
        status, log = run(env, "python3 -c \"import sys; print('prefix', sys.prefix)\"")
        self.assertEqual(status, "Completed", log)
        self.assertIn("could not be installed", log)
        self.assertIn("nosuchpackage", log)
        self.assertNotIn("prefix /mnt/azureml/envs", log)


if __name__ == "__main__":
    unittest.main()
