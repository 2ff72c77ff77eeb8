"""The `azlite` tool itself: `serve`'s banner and access log, `env`, the data
dir option and variable, `clock`, and usage errors."""
import datetime
import os
import re
import subprocess
import time
import unittest

from azlite_harness import BIN, Azlite

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


if __name__ == "__main__":
    unittest.main()
