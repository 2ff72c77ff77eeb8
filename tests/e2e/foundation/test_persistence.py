"""State survives: a graceful restart (SIGTERM) and a crash (kill -9) keep the
tenant, the subscription, the admin credentials, the CA, the signing key and
every resource group."""
import os
import unittest

from azlite_harness import Azlite

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Persistence(unittest.TestCase):
    KEYS = ("AZLITE_TENANT_ID", "AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
            "AZURE_AUTHORITY_HOST", "REQUESTS_CA_BUNDLE")

    def snapshot(self):
        return ({k: srv.env[k] for k in self.KEYS}, read(srv.ca),
                read(os.path.join(srv.data_dir, "pki", "signing.key")))

    def check_after(self, before, token, groups):
        self.assertEqual(self.snapshot(), before)
        # A token issued before still works: same key, same tenant, same principal.
        r = srv.http("GET", "/subscriptions/%s/resourcegroups?api-version=2021-04-01"
                     % srv.env["AZURE_SUBSCRIPTION_ID"], token=token)
        self.assertEqual(r.status_code, 200, r.text)
        names = {g["name"]: g for g in r.json()["value"]}
        for name, tags in groups.items():
            self.assertIn(name, names)
            self.assertEqual(names[name]["tags"], tags)
        # az, logged in before, goes on working without logging in again.
        a = srv.az_json("account", "show")
        self.assertEqual(a["id"], before[0]["AZURE_SUBSCRIPTION_ID"])
        self.assertEqual(a["tenantId"], before[0]["AZLITE_TENANT_ID"])
        self.assertEqual(srv.az_json("group", "show", "-n", "kept")["tags"], {"keep": "yes"})
        p = srv.az("provider", "show", "-n", "Microsoft.MachineLearningServices", "--query",
                   "registrationState", "-o", "tsv")
        self.assertEqual(p.stdout.strip(), "Registered", p.stderr)

    def no_server_says_so(self):
        p = srv.az("group", "list")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no azlite server is running", p.stderr)
        self.assertNotIn("Traceback", p.stderr)

    def test_restart_and_crash(self):
        srv.az_json("group", "create", "-n", "kept", "-l", "eastus", "--tags", "keep=yes")
        srv.az("provider", "register", "--namespace", "Microsoft.MachineLearningServices",
               check=True)
        before = self.snapshot()
        token = srv.token()

        # Graceful: SIGTERM exits 0 and removes endpoints.json (no server to find).
        proc = srv.proc
        srv.stop()
        self.assertEqual(proc.returncode, 0, srv.read_log())
        self.assertFalse(os.path.exists(os.path.join(srv.data_dir, "endpoints.json")))
        self.assertIn("shutting down", srv.read_log())
        self.no_server_says_so()
        srv.start()
        self.check_after(before, token, {"kept": {"keep": "yes"}})

        # A crash right after a write loses nothing that was acknowledged.
        r = srv.http("PUT", "/subscriptions/%s/resourcegroups/just-before-crash"
                     "?api-version=2021-04-01" % srv.env["AZURE_SUBSCRIPTION_ID"],
                     json={"location": "westus", "tags": {"t": "1"}})
        self.assertEqual(r.status_code, 201, r.text)
        srv.kill9()
        # The crashed server's endpoints.json is still there, naming a dead process.
        self.assertTrue(os.path.exists(os.path.join(srv.data_dir, "endpoints.json")))
        self.no_server_says_so()
        srv.start()
        self.check_after(before, token, {"kept": {"keep": "yes"}, "just-before-crash": {"t": "1"}})

        # Deleted stays deleted.
        srv.az("group", "delete", "-n", "just-before-crash", "-y", check=True)
        srv.kill9()
        srv.start()
        self.assertIs(srv.az_json("group", "exists", "-n", "just-before-crash"), False)
        self.assertIs(srv.az_json("group", "exists", "-n", "kept"), True)

    def test_second_server_on_same_ports_fails_cleanly(self):
        other = Azlite()
        other.ports = dict(srv.ports)
        try:
            with self.assertRaises(RuntimeError):
                other.start(timeout=10)
            self.assertIn("cannot listen", other.read_log())
        finally:
            other.cleanup()
        self.assertTrue(srv.alive())


if __name__ == "__main__":
    unittest.main()
