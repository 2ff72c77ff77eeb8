"""The `azlite` tool itself: `serve`'s banner and access log, `env`, the data
dir option and variable, `clock`, usage and `--help`, and the data dir's
locks (one server, one first start)."""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from azlite_harness import BIN, Azlite, free_port

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def iso(s):
    """azlite's ISO 8601 (7 fractional digits, Z) as a datetime."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", s.strip())
    if not m:
        raise AssertionError("not an ISO 8601 UTC time: %r" % s)
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    return t + datetime.timedelta(microseconds=int((m.group(2) or "0")[:6].ljust(6, "0")))


class Env(unittest.TestCase):
    def test_env_exports(self):
        e = srv.env
        for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                  "AZURE_AUTHORITY_HOST", "AZURE_SUBSCRIPTION_ID",
                  "AZURE_RESOURCE_MANAGER_ENDPOINT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
                  "NODE_EXTRA_CA_CERTS", "AZLITE_TENANT_ID", "AZLITE_DATA_DIR"):
            self.assertTrue(e.get(k), k)
        self.assertEqual(e["AZURE_TENANT_ID"], "adfs")
        self.assertRegex(e["AZLITE_TENANT_ID"], r"^[0-9a-f-]{36}$")
        self.assertRegex(e["AZURE_SUBSCRIPTION_ID"], r"^[0-9a-f-]{36}$")
        self.assertEqual(e["AZURE_AUTHORITY_HOST"], srv.mgmt_url)
        self.assertEqual(e["AZURE_RESOURCE_MANAGER_ENDPOINT"].rstrip("/"), srv.mgmt_url)
        self.assertEqual(e["REQUESTS_CA_BUNDLE"], srv.ca)
        self.assertTrue(os.path.isfile(e["SSL_CERT_FILE"]))
        self.assertEqual(os.path.realpath(e["AZLITE_DATA_DIR"]), os.path.realpath(srv.data_dir))

    def test_env_is_shell_syntax(self):
        out = srv.cli("env").stdout
        p = subprocess.run(["bash", "-c", 'eval "$1"; echo "$AZURE_CLIENT_ID|$AZURE_SUBSCRIPTION_ID"',
                            "-", out], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.stdout.strip(),
                         srv.env["AZURE_CLIENT_ID"] + "|" + srv.env["AZURE_SUBSCRIPTION_ID"])

    def test_data_dir_variable(self):
        env = dict(os.environ, AZLITE_DATA_DIR=srv.data_dir)
        p = subprocess.run([BIN, "env"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("AZURE_CLIENT_SECRET=" + srv.env["AZURE_CLIENT_SECRET"], p.stdout)
        # The running server's ports come from its endpoints file, not from defaults.
        self.assertIn("AZURE_AUTHORITY_HOST=" + srv.mgmt_url, p.stdout)
        p = subprocess.run([BIN, "clock"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        iso(p.stdout)


class Serve(unittest.TestCase):
    def test_banner(self):
        log = srv.read_log()
        self.assertRegex(log, r"azlite is ready \([0-9.]+ ms\)")
        self.assertIn(srv.mgmt_url, log)
        self.assertIn(srv.env["AZLITE_TENANT_ID"], log)
        self.assertIn(srv.env["AZURE_SUBSCRIPTION_ID"], log)
        self.assertIn(srv.ca, log)

    def test_access_log_has_request_id(self):
        r = srv.http("GET", "/subscriptions?api-version=2022-09-01")
        self.assertEqual(r.status_code, 200)
        rid = r.headers["x-ms-request-id"]
        self.assertRegex(rid, r"^[0-9a-f-]{36}$")
        self.assertEqual(r.headers.get("x-ms-correlation-request-id"), rid)
        for _ in range(100):  # the line is written when the connection reports completion
            if rid in srv.read_log():
                break
            time.sleep(0.05)
        line = [l for l in srv.read_log().splitlines() if rid in l]
        self.assertEqual(len(line), 1, srv.read_log()[-2000:])
        self.assertIn("GET /subscriptions", line[0])
        self.assertIn(" 200 ", line[0])
        # The query (it may hold SAS signatures) is not logged as sent.
        self.assertNotIn("api-version", line[0])

    def test_client_request_id_echoed(self):
        r = srv.http("GET", "/subscriptions?api-version=2022-09-01",
                     headers={"x-ms-client-request-id": "my-id-123"})
        self.assertEqual(r.headers.get("x-ms-client-request-id"), "my-id-123")

    def test_log_level_warn_has_no_access_log(self):
        quiet = Azlite(log_level="warn").start()
        try:
            quiet.http("GET", "/subscriptions?api-version=2022-09-01")
            self.assertNotIn("GET /subscriptions", quiet.read_log())
        finally:
            quiet.cleanup()

    def test_metadata_endpoints(self):
        import requests
        r = requests.get(srv.mgmt_url + "/metadata/endpoints?api-version=2022-09-01",
                         verify=srv.ca, timeout=10)
        self.assertEqual(r.status_code, 200)
        cloud = r.json()[0]
        self.assertEqual(cloud["resourceManager"], srv.mgmt_url + "/")
        self.assertEqual(cloud["authentication"]["loginEndpoint"], srv.mgmt_url + "/adfs")
        r = requests.get(srv.mgmt_url + "/metadata/endpoints?api-version=2015-01-01",
                         verify=srv.ca, timeout=10)
        self.assertEqual(r.json()["authentication"]["loginEndpoint"], srv.mgmt_url + "/adfs")

    def test_certificate(self):
        p = subprocess.run(["openssl", "x509", "-in", os.path.join(srv.data_dir, "pki",
                                                                   "server.pem"),
                            "-noout", "-ext", "subjectAltName"], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("IP Address:127.0.0.1", p.stdout)
        self.assertIn("DNS:localhost", p.stdout)
        p = subprocess.run(["openssl", "verify", "-CAfile", srv.ca,
                            os.path.join(srv.data_dir, "pki", "server.pem")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class Usage(unittest.TestCase):
    def run_bin(self, *args):
        return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=60)

    def test_unknown_command(self):
        p = self.run_bin("frobnicate")
        self.assertEqual(p.returncode, 2)
        self.assertIn("frobnicate", p.stderr)

    def test_help(self):
        p = self.run_bin("--help")
        self.assertEqual(p.returncode, 0)
        for c in ("serve", "env", "az", "clock"):
            self.assertIn(c, p.stdout)

    def test_serve_bad_arguments(self):
        self.assertEqual(self.run_bin("serve", "--log-level", "loud").returncode, 2)
        self.assertEqual(self.run_bin("serve", "extra").returncode, 2)

    def test_every_command_has_help(self):
        want = {"serve": ("--data-dir", "AZLITE_DATA_DIR", "--mgmt-port", "8443",
                          "AZLITE_MGMT_PORT", "10000", "AZLITE_BLOB_PORT", "10443",
                          "AZLITE_BLOB_TLS_PORT", "--log-level", "AZLITE_LOG_LEVEL"),
                "env": ("--data-dir", "AZLITE_DATA_DIR", "./azlite-data"),
                "az": ("--data-dir", "AZLITE_DATA_DIR"),
                "clock": ("advance", "DURATION", "--data-dir", "AZLITE_DATA_DIR", "9999")}
        for cmd, words in want.items():
            for flag in ("--help", "-h"):
                p = self.run_bin(cmd, flag)
                self.assertEqual(p.returncode, 0, (cmd, flag, p.stderr))
                self.assertTrue(p.stdout.startswith("usage: %s %s" % (BIN, cmd)), p.stdout)
                for w in words:
                    self.assertIn(w, p.stdout, (cmd, w))
        # --help after other options, and nothing is started or created.
        d = tempfile.mkdtemp(prefix="azlite-help-")
        shutil.rmtree(d)
        p = self.run_bin("serve", "--data-dir", d, "--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(d))
        # az's own help stays az's.
        p = self.run_bin("--help")
        self.assertIn(BIN + " <command> --help", p.stdout)

    def test_messages_name_the_binary_as_invoked(self):
        self.assertIn('eval "$(%s env --data-dir' % BIN, srv.read_log())
        p = self.run_bin("frobnicate")
        self.assertIn("See '%s --help'" % BIN, p.stderr)
        p = self.run_bin("clock", "advance", "soon")
        self.assertTrue(p.stderr.startswith(BIN + " clock:"), p.stderr)


def data_dir_gone():
    d = tempfile.mkdtemp(prefix="azlite-e2e-")
    shutil.rmtree(d)
    return d


def tenant_of(env_out):
    m = re.search(r"^export AZLITE_TENANT_ID=(\S+)$", env_out, re.M)
    return m and m.group(1)


class DataDirLocks(unittest.TestCase):
    def test_env_without_a_server_fails_and_creates_nothing(self):
        d = data_dir_gone()
        p = subprocess.run([BIN, "env", "--data-dir", d], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertEqual(p.stdout, "")
        self.assertIn("no azlite server is running with data dir " + d, p.stderr)
        self.assertIn("`%s serve --data-dir %s`" % (BIN, d), p.stderr)
        self.assertFalse(os.path.exists(d), "env created the data dir")
        # A data dir once served, its server gone: the same.
        other = Azlite().start()
        try:
            other.stop()
            p = other.cli("env", check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("no azlite server is running", p.stderr)
        finally:
            other.cleanup()

    def test_second_server_on_a_data_dir_is_refused(self):
        ep = os.path.join(srv.data_dir, "endpoints.json")
        with open(ep) as f:
            before = json.load(f)
        ports = [str(free_port()) for _ in range(3)]
        p = subprocess.run([BIN, "serve", "--data-dir", srv.data_dir, "--mgmt-port", ports[0],
                            "--blob-port", ports[1], "--blob-tls-port", ports[2]],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("already being served by azlite (pid %d)" % srv.proc.pid, p.stderr)
        self.assertNotIn("azlite is ready", p.stdout)
        with open(ep) as f:
            self.assertEqual(json.load(f), before, "the second server touched endpoints.json")
        self.assertTrue(srv.alive())
        self.assertEqual(srv.cli("env").returncode, 0)

    def test_first_start_races(self):
        """25 `env` and 5 `clock` run while a first `serve` initializes a new
        data dir: every one succeeds and every env names the server's tenant."""
        for round_ in range(3):
            a = Azlite(data_dir=data_dir_gone())
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen([BIN, "serve", "--log-level", "info"] + a.args(),
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.time() + 20
                while not any(os.path.exists(os.path.join(a.data_dir, f))
                               for f in ("serve.lock", "azlite.db")):
                    self.assertLess(time.time(), deadline, "serve never created its data dir")
                    self.assertIsNone(proc.poll(), "serve exited")
                    time.sleep(0.001)
                racers = [subprocess.Popen([BIN, "env", "--data-dir", a.data_dir],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True) for _ in range(25)]
                racers += [subprocess.Popen([BIN, "clock", "--data-dir", a.data_dir],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True) for _ in range(5)]
                outs = []
                for r in racers:
                    out, err = r.communicate(timeout=90)
                    outs.append((r.returncode, out, err))
                failures = [o for o in outs if o[0] != 0]
                self.assertEqual(failures, [], "round %d" % round_)
                tenants = {tenant_of(o[1]) for o in outs[:25]}
                self.assertEqual(len(tenants), 1, tenants)
                a.env = a.load_env()
                self.assertEqual(tenants, {a.env["AZLITE_TENANT_ID"]})
            finally:
                proc.terminate()
                proc.wait(20)
                log.close()
                shutil.rmtree(a.data_dir, ignore_errors=True)


    def test_first_start_races_without_waiting(self):
        """20 `clock` (which needs no server) started with a first `serve` on a
        new data dir: no migration runs twice, one tenant is created, and the
        server's banner and `env` name it."""
        for round_ in range(6):
            a = Azlite(data_dir=data_dir_gone())
            log = tempfile.TemporaryFile()
            proc = subprocess.Popen([BIN, "serve", "--log-level", "info"] + a.args(),
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                racers = [subprocess.Popen([BIN, "clock", "--data-dir", a.data_dir],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True) for _ in range(20)]
                outs = [(r.communicate(timeout=90), r.returncode) for r in racers]
                failures = [o for o in outs if o[1] != 0]
                self.assertEqual(failures, [], "round %d" % round_)
                deadline = time.time() + 30
                ep = os.path.join(a.data_dir, "endpoints.json")
                while True:
                    self.assertIsNone(proc.poll(), "serve exited")
                    self.assertLess(time.time(), deadline, "serve never became ready")
                    try:
                        with open(ep) as f:
                            if json.load(f).get("pid") == proc.pid:
                                break
                    except (OSError, ValueError):
                        pass
                    time.sleep(0.02)
                log.seek(0)
                banner = re.search(r"^  tenant +(\S+)$", log.read().decode(), re.M).group(1)
                self.assertEqual(a.load_env()["AZLITE_TENANT_ID"], banner, "round %d" % round_)
            finally:
                proc.terminate()
                proc.wait(20)
                log.close()
                shutil.rmtree(a.data_dir, ignore_errors=True)

class Clock(unittest.TestCase):
    def now(self):
        return iso(srv.cli("clock").stdout)

    def test_advance(self):
        before = self.now()
        p = srv.cli("clock", "advance", "30d")
        self.assertEqual(p.returncode, 0, p.stderr)
        moved = iso(p.stdout)
        self.assertAlmostEqual((moved - before).total_seconds(), 30 * 86400, delta=60)
        after = self.now()
        self.assertGreaterEqual(after, moved)
        self.assertLess((after - moved).total_seconds(), 60)
        # Clients keep working: tokens follow the wall clock, not azlite's.
        self.assertEqual(srv.az("group", "list").returncode, 0)
        r = srv.http("GET", "/azlite/clock")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertGreaterEqual(r.json()["offsetMs"], 30 * 86400 * 1000)

    def test_other_units(self):
        before = self.now()
        srv.cli("clock", "advance", "12h")
        srv.cli("clock", "advance", "90m")
        self.assertAlmostEqual((self.now() - before).total_seconds(), 12 * 3600 + 90 * 60,
                               delta=60)

    def test_bad_duration(self):
        before = self.now()
        for bad in ("soon", "-5d", "30x", ""):
            p = srv.cli("clock", "advance", bad, check=False)
            self.assertEqual(p.returncode, 2, bad)
            self.assertTrue(p.stderr.strip(), bad)
        self.assertEqual(srv.cli("clock", "advance", check=False).returncode, 2)
        self.assertLess((self.now() - before).total_seconds(), 60)

    def test_admin_api_refuses_bad_duration(self):
        r = srv.http("POST", "/azlite/clock/advance", json={"duration": "tomorrow"})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"]["code"], "InvalidDuration")
        self.assertEqual(srv.http("POST", "/azlite/clock/advance", token=None,
                                  json={"duration": "1d"}).status_code, 401)

    def test_persists_and_works_without_server(self):
        moved = iso(srv.cli("clock", "advance", "1d").stdout)
        srv.stop()
        try:
            # No server: the store is the clock.
            p = srv.cli("clock", "advance", "2d")
            self.assertAlmostEqual((iso(p.stdout) - moved).total_seconds(), 2 * 86400,
                                   delta=60)
        finally:
            srv.start()
        self.assertGreaterEqual(self.now(), moved + datetime.timedelta(days=2))


class ClockCannotLockTheAdminOut(unittest.TestCase):
    """`clock advance 1000000d` once expired the admin's secret, and `azlite
    az` and `env` failed from then on (issue 16 item 10)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Azlite().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_a_huge_advance_keeps_credentials_working(self):
        s = self.srv
        p = s.cli("clock", "advance", "1000000d", check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertGreater(iso(p.stdout).year, 4700)
        # A fresh login with the admin's secret (no token cache), as az and SDKs do.
        s._mgmt_token = None
        self.assertTrue(s.token())
        r = s.http("GET", "/subscriptions?api-version=2022-09-01")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(s.cli("env").returncode, 0)
        stamp = os.path.join(s.data_dir, "az", "azlite-login")
        if os.path.exists(stamp):
            os.unlink(stamp)  # `azlite az` logs in again
        p = s.az("group", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        # A secret added after the advance works too, and says when it was made.
        app = s.http("GET", "/graph/v1.0/applications?$filter=appId eq '%s'" %
                     s.env["AZURE_CLIENT_ID"],
                     token=s.token(s.mgmt_url + "/graph/.default")).json()["value"][0]
        r = s.http("POST", "/graph/v1.0/applications/%s/addPassword" % app["id"],
                   token=s.token(s.mgmt_url + "/graph/.default"),
                   json={"passwordCredential": {"displayName": "after-advance"}})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertLess(int(r.json()["startDateTime"][:4]), 3000, r.json())
        self.assertTrue(s.token(client_id=s.env["AZURE_CLIENT_ID"],
                                secret=r.json()["secretText"]))

    def test_advances_past_year_9999_are_refused(self):
        s = self.srv
        before = iso(s.cli("clock").stdout)
        p = s.cli("clock", "advance", "100000000d", check=False)
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn("9999-12-31", p.stderr)
        r = s.http("POST", "/azlite/clock/advance", json={"duration": "100000000d"})
        self.assertEqual((r.status_code, r.json()["error"]["code"]), (400, "InvalidDuration"))
        self.assertLess((iso(s.cli("clock").stdout) - before).total_seconds(), 60)
        # Without a server the store refuses it the same way.
        s.stop()
        try:
            p = s.cli("clock", "advance", "100000000d", check=False)
            self.assertEqual(p.returncode, 2, p.stdout)
            self.assertIn("9999-12-31", p.stderr)
        finally:
            s.start()


if __name__ == "__main__":
    unittest.main()
