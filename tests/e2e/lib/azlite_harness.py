"""azlite_harness: start a real `azlite serve` for an end-to-end test.

Each test module starts its own server on free loopback ports with a fresh
data dir, talks to it with real clients (az, Azure SDKs), and stops it.

    from azlite_harness import Azlite
    srv = Azlite().start()          # waits until it answers
    srv.env                         # what `azlite env` prints, as a dict
    srv.az("group", "create", ...)  # `azlite az ...`: CompletedProcess
    srv.storage_account("acct", "group")  # its connection string
    srv.http("GET", "/subscriptions?api-version=2022-09-01")  # requests, with a token
    srv.restart(); srv.kill9(); srv.stop()
"""
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("AZLITE_BIN", os.path.join(ROOT, "build", "azlite"))
# How long one client call (az, an azlite subcommand, a request) may take.
CALL_TIMEOUT = 300

# What a shell that ran `eval "$(azlite env)"`, an Azure login or Azurite hands
# down, and what would point a test's clients at some other server: the tests
# only ever talk to the server they start, so none of it is inherited.
INHERITED_PREFIXES = ("AZURE_", "AZLITE_", "AZURITE_", "IDENTITY_", "MSI_", "MSAL_", "ARM_")
INHERITED_NAMES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")
# The runner's own settings, which name no server.
RUNNER_NAMES = ("AZLITE_BIN", "AZLITE_KEEP_DATA", "AZLITE_TEST_TIMEOUT", "AZLITE_E2E_DIR",
                "AZLITE_E2E_TIMEOUT")


def clean_environ(base=None):
    """base (os.environ) without anything that could redirect a client."""
    return {k: v for k, v in (os.environ if base is None else base).items()
            if k in RUNNER_NAMES or not (k.startswith(INHERITED_PREFIXES)
                                         or k in INHERITED_NAMES)}


# This process too: SDK credentials and requests read these implicitly.
for _k in set(os.environ) - set(clean_environ()):
    del os.environ[_k]


def _bound_requests():
    """Every `requests` call without a timeout gets one, so no test waits forever."""
    try:
        import requests
    except ImportError:
        return
    orig = requests.Session.request
    if getattr(orig, "azlite_bounded", False):
        return

    def request(self, method, url, **kw):
        if kw.get("timeout") is None:
            kw["timeout"] = CALL_TIMEOUT
        return orig(self, method, url, **kw)
    request.azlite_bounded = True
    requests.Session.request = request


_bound_requests()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_HANDED_OUT = set()


def free_port():
    """A loopback port free now and outside the kernel's ephemeral range, so
    no client's outgoing connection (and no bind to port 0) takes it between
    now and the server's bind. Ports already handed out are not reused."""
    import random
    lo, hi = _ephemeral_range()
    ranges = [(r0, r1) for r0, r1 in ((10000, lo - 1), (hi + 1, 65535)) if r1 - r0 > 1000]
    for _ in range(200):
        r0, r1 = random.choice(ranges) if ranges else (1024, 65535)
        port = random.randint(r0, r1)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Azlite:
    def __init__(self, data_dir=None, log_level="info", server_env=None):
        """server_env: variables for the server process only (test hooks)."""
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="azlite-e2e-")
        self.ports = {"mgmt": free_port(), "blob": free_port(), "blob_tls": free_port(),
                      "dfs": free_port()}
        self._chosen_ports = dict(self.ports)
        self.log_level = log_level
        self.server_env = dict(server_env or {})
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "serve.log")
        self.env = {}
        self._mgmt_token = None

    # ---- lifecycle ------------------------------------------------------
    def args(self):
        return ["--data-dir", self.data_dir, "--mgmt-port", str(self.ports["mgmt"]),
                "--blob-port", str(self.ports["blob"]),
                "--blob-tls-port", str(self.ports["blob_tls"]),
                "--dfs-port", str(self.ports["dfs"])]

    def start(self, timeout=30):
        """Starts the server. A first start that lost one of its ports to some
        other process (another test's server) picks new ports, unless the test
        set the ports itself and tries again;
        a restart keeps its ports, since clients already hold them."""
        first = self.proc is None and not self.env and self.ports == self._chosen_ports
        for attempt in range(5):
            try:
                return self._start_once(timeout)
            except RuntimeError as e:
                if not (first and "Address already in use" in str(e)) or attempt == 4:
                    raise
                self.ports = {k: free_port() for k in self.ports}
                self._chosen_ports = dict(self.ports)

    def _start_once(self, timeout):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BIN, "serve", "--log-level", self.log_level] + self.args(),
                                     stdout=log, stderr=log,
                                     env=dict(clean_environ(), **self.server_env))
        deadline = time.time() + timeout
        ready = os.path.join(self.data_dir, "endpoints.json")
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("azlite exited: " + self.read_log())
            if os.path.exists(ready):
                try:
                    with open(ready) as f:
                        if json.load(f).get("pid") == self.proc.pid:
                            break
                except ValueError:
                    pass
            time.sleep(0.02)
        else:
            raise RuntimeError("azlite did not start: " + self.read_log())
        self.env = self.load_env()
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        if not os.environ.get("AZLITE_KEEP_DATA"):
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    # ---- clients --------------------------------------------------------
    def load_env(self):
        out = subprocess.run([BIN, "env"] + self.args(), check=True, capture_output=True,
                             text=True, env=clean_environ(), timeout=60).stdout
        env = {}
        for line in out.splitlines():
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                env[k] = shlex.split(v)[0] if v else ""
        return env

    def client_env(self):
        """What a user's shell has after `eval "$(azlite env)"` for this server:
        the environment without inherited Azure settings, plus `azlite env`."""
        e = clean_environ()
        e.update(self.env)
        return e

    @property
    def mgmt_url(self):
        return "https://127.0.0.1:%d" % self.ports["mgmt"]

    @property
    def ca(self):
        return os.path.join(self.data_dir, "pki", "ca.pem")

    def az(self, *args, check=False, timeout=CALL_TIMEOUT):
        """Runs `azlite az ARGS`; returns CompletedProcess (text)."""
        return subprocess.run([BIN, "az", "--data-dir", self.data_dir, "--mgmt-port",
                               str(self.ports["mgmt"])] + list(args),
                              capture_output=True, text=True, env=clean_environ(), check=check,
                              timeout=timeout)

    def az_json(self, *args):
        p = self.az(*args, "--output", "json")
        if p.returncode != 0:
            raise AssertionError("az %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                             p.stderr))
        return json.loads(p.stdout) if p.stdout.strip() else None

    def storage_account(self, name, group, *extra, kind="StorageV2"):
        """Creates a storage account in an existing group the way a user does,
        `az storage account create` (extra: more of its options), and returns
        the connection string `az storage account show-connection-string` prints."""
        p = self.az("storage", "account", "create", "-n", name, "-g", group, "-l", "eastus",
                    "--sku", "Standard_LRS", "--kind", kind, *extra)
        assert p.returncode == 0, p.stderr
        cs = self.az("storage", "account", "show-connection-string", "-g", group, "-n", name,
                     "--output", "tsv")
        assert cs.returncode == 0, cs.stderr
        return cs.stdout.strip()

    def cli(self, *args, check=True, timeout=60):
        """Runs another azlite subcommand against this server's data dir."""
        return subprocess.run([BIN] + list(args) + self.args(), capture_output=True, text=True,
                              check=check, env=clean_environ(), timeout=timeout)

    def token(self, scope=None, client_id=None, secret=None):
        """A token from azlite's AAD endpoint via the real azure-identity."""
        from azure.identity import ClientSecretCredential
        cred = ClientSecretCredential(self.env["AZURE_TENANT_ID"],
                                      client_id or self.env["AZURE_CLIENT_ID"],
                                      secret or self.env["AZURE_CLIENT_SECRET"],
                                      authority=self.env["AZURE_AUTHORITY_HOST"],
                                      connection_verify=self.ca)
        return cred.get_token(scope or (self.mgmt_url + "/.default")).token

    def http(self, method, path, token=True, headers=None, **kw):
        """One request to the management endpoint with `requests`.  token=True
        sends the admin's management token, a string sends that token, None
        sends no Authorization header.  Returns the requests.Response."""
        import requests
        h = dict(headers or {})
        if token is True:
            if not self._mgmt_token:
                self._mgmt_token = self.token()
            token = self._mgmt_token
        if token is not None:
            h["Authorization"] = "Bearer " + token
        kw.setdefault("timeout", 30)
        return requests.request(method, self.mgmt_url + path, headers=h, verify=self.ca, **kw)

    def alive(self):
        """Does the server still answer (and is the process still running)?"""
        import requests
        try:
            r = requests.get(self.mgmt_url + "/metadata/endpoints?api-version=2019-05-01",
                             verify=self.ca, timeout=10)
            return r.status_code == 200 and self.proc is not None and self.proc.poll() is None
        except requests.RequestException:
            return False
