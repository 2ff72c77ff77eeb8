"""The e2e runner itself (tests/e2e/run.sh): it must never report green while a
test fails.  Each case plants a few deliberately failing, hanging, cancelling
or crashing test files in a temporary directory, points run.sh at it with
AZLITE_E2E_DIR, and checks its exit status and summary line."""
import http.server
import os
import shutil
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest

from azlite_harness import ROOT

RUN = os.path.join(ROOT, "tests", "e2e", "run.sh")


class RunnerCase(unittest.TestCase):
    """Plants test files in a temporary directory and runs run.sh on them."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="azlite-runner-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def plant(self, rel, text):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))

    def run_sh(self, *args, limit=60, **env):
        e = dict(os.environ, AZLITE_E2E_DIR=self.dir, AZLITE_TEST_TIMEOUT="3")
        e.update(env)
        t0 = time.time()
        p = subprocess.run([RUN] + list(args), capture_output=True, text=True, env=e,
                           timeout=limit)
        p.elapsed = time.time() - t0
        return p

    def summary(self, p):
        lines = [l for l in p.stdout.splitlines() if l.startswith("e2e: ")]
        self.assertEqual(len(lines), 1, p.stdout[-3000:])
        return lines[0]

    def assertRed(self, p, summary=None):
        self.assertNotEqual(p.returncode, 0, p.stdout[-3000:])
        if summary:
            self.assertEqual(self.summary(p), summary, p.stdout[-3000:])


class Runner(RunnerCase):
    # ---- green, and what it counts --------------------------------------
    def test_green_run_counts_passes_and_names_skips(self):
        self.plant("a/test_ok.py", """
            import unittest
            class T(unittest.TestCase):
                def test_one(self): pass
                def test_skip(self): self.skipTest("no widget here")
        """)
        self.plant("node/ok.test.mjs", """
            import { test } from "node:test";
            test("node passes", () => {});
            test("node skips", (t) => t.skip("no gadget here"));
        """)
        p = self.run_sh()
        self.assertEqual(p.returncode, 0, p.stdout[-3000:])
        self.assertEqual(self.summary(p), "e2e: 2 passed, 0 failed, 2 skipped")
        self.assertIn("skipped: python e2e.a.test_ok.T.test_skip: no widget here",
                      p.stdout)
        self.assertIn("skipped: node node skips: no gadget here", p.stdout)

    def test_nothing_run_is_not_green(self):
        self.plant("a/helper.py", "x = 1\n")
        self.assertRed(self.run_sh())

    # ---- python -----------------------------------------------------------
    def test_python_failure(self):
        self.plant("a/test_fail.py", """
            import unittest
            class T(unittest.TestCase):
                def test_ok(self): pass
                def test_bad(self): self.assertEqual(1, 2)
        """)
        self.assertRed(self.run_sh(), "e2e: 1 passed, 1 failed, 0 skipped")

    def test_python_module_fixture_error(self):
        self.plant("a/test_setup.py", """
            import unittest
            def setUpModule(): raise RuntimeError("no server")
            class T(unittest.TestCase):
                def test_a(self): pass
        """)
        self.assertRed(self.run_sh(), "e2e: 0 passed, 1 failed, 0 skipped")

    def test_python_import_error(self):
        self.plant("a/test_import.py", "import no_such_module_here\n")
        self.assertRed(self.run_sh(), "e2e: 0 passed, 1 failed, 0 skipped")

    def test_python_hang_fails_that_test_and_moves_on(self):
        self.plant("a/test_hang.py", """
            import time, unittest
            class T(unittest.TestCase):
                def test_1_hangs(self):
                    try:
                        time.sleep(60)
                    except Exception:  # a test's own handler cannot swallow the timeout
                        pass
                def test_2_after(self): pass
        """)
        p = self.run_sh()
        self.assertRed(p, "e2e: 1 passed, 1 failed, 0 skipped")
        self.assertIn("still running after 3 s", p.stdout)
        self.assertLess(p.elapsed, 30)

    def test_python_hang_in_setup_module(self):
        self.plant("a/test_hang_setup.py", """
            import time, unittest
            def setUpModule(): time.sleep(60)
            class T(unittest.TestCase):
                def test_a(self): pass
        """)
        p = self.run_sh()
        self.assertRed(p, "e2e: 0 passed, 1 failed, 0 skipped")
        self.assertLess(p.elapsed, 30)

    def test_python_process_dies(self):
        # No summary from a runner that died: a failure, whatever was counted.
        self.plant("a/test_exit.py", """
            import os, unittest
            class T(unittest.TestCase):
                def test_a(self): pass
                def test_b(self): os._exit(0)
        """)
        self.assertRed(self.run_sh())

    def test_whole_run_bound(self):
        # A test that defeats the per-test alarm is still stopped by the run's bound.
        self.plant("a/test_stuck.py", """
            import signal, time, unittest
            class T(unittest.TestCase):
                def test_stuck(self):
                    signal.signal(signal.SIGALRM, signal.SIG_IGN)
                    time.sleep(120)
        """)
        p = self.run_sh(AZLITE_TEST_TIMEOUT="100", AZLITE_E2E_TIMEOUT="3")
        self.assertRed(p)
        self.assertIn("AZLITE_E2E_TIMEOUT", p.stdout)
        self.assertLess(p.elapsed, 40)

    # ---- node ---------------------------------------------------------------
    def test_node_failure(self):
        self.plant("node/f.test.mjs", """
            import { test } from "node:test";
            import assert from "node:assert";
            test("good", () => {});
            test("bad", () => assert.equal(1, 2));
        """)
        self.assertRed(self.run_sh(), "e2e: 1 passed, 1 failed, 0 skipped")

    def test_node_before_hook_cancels_file(self):
        self.plant("node/c.test.mjs", """
            import { before, describe, test } from "node:test";
            describe("suite", () => {
              before(() => { throw new Error("server did not start"); });
              test("one", () => {});
              test("two", () => {});
            });
        """)
        p = self.run_sh()
        self.assertRed(p)
        self.assertRegex(self.summary(p), r"^e2e: 0 passed, [1-9][0-9]* failed")

    def test_node_hang(self):
        self.plant("node/h.test.mjs", """
            import { test } from "node:test";
            test("hangs", () => new Promise(() => { setInterval(() => {}, 1000); }));
            test("after", () => {});
        """)
        p = self.run_sh()
        self.assertRed(p)
        self.assertLess(p.elapsed, 30)

    def test_node_exit_status(self):
        self.plant("node/x.test.mjs", """
            import { test } from "node:test";
            test("passes but the process fails", () => { process.exitCode = 3; });
        """)
        self.assertRed(self.run_sh())

    def test_node_runner_dies(self):
        # The runner killed mid-run prints no summary: a failure, not 0 of 0.
        self.plant("node/k.test.mjs", """
            import { test } from "node:test";
            test("kills the runner", () => { process.kill(process.ppid, "SIGKILL"); });
        """)
        p = self.run_sh()
        self.assertRed(p)
        self.assertIn("node: no summary", p.stdout)

    # ---- what the tests inherit -------------------------------------------------
    def test_inherited_azure_environment_is_dropped(self):
        names = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                 "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID", "AZURE_AUTHORITY_HOST",
                 "AZURE_RESOURCE_MANAGER_ENDPOINT", "AZLITE_DATA_DIR", "AZLITE_MGMT_PORT",
                 "AZLITE_BLOB_PORT", "AZURE_CONFIG_DIR", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE",
                 "NODE_EXTRA_CA_CERTS", "IDENTITY_ENDPOINT", "MSI_ENDPOINT",
                 "AZURITE_ACCOUNTS")
        self.plant("a/test_env.py", """
            import os, unittest
            class T(unittest.TestCase):
                def test_env(self):
                    self.assertEqual([k for k in os.environ if k in %r], [])
        """ % (names,))
        self.plant("node/env.test.mjs", """
            import { test } from "node:test";
            import assert from "node:assert";
            test("env", () => assert.deepEqual(Object.keys(process.env)
              .filter((k) => %s.includes(k)), []));
        """ % (list(names),))
        bogus = {k: "bogus" for k in names}
        bogus["AZURE_STORAGE_CONNECTION_STRING"] = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=eA==;"
            "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;")
        p = self.run_sh(**bogus)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:])
        self.assertEqual(self.summary(p), "e2e: 2 passed, 0 failed, 0 skipped")



class Decoy(http.server.BaseHTTPRequestHandler):
    """Another server a leaked environment could name: it counts what reaches it."""
    hits = []

    def answer(self):
        Decoy.hits.append("%s %s" % (self.command, self.path))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_OPTIONS = answer

    def log_message(self, *a):
        pass


class TheServerItStarted(RunnerCase):
    """With a shell's `azlite env` of some other server exported, the blob
    tests' machinery (blobtest.py, harness.mjs) still drives the azlite it
    started, and the other server sees nothing."""

    def setUp(self):
        super().setUp()
        Decoy.hits = []
        self.decoy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Decoy)
        threading.Thread(target=self.decoy.serve_forever, daemon=True).start()
        port = self.decoy.server_address[1]
        url = "http://127.0.0.1:%d" % port
        self.bogus = {
            "AZURE_STORAGE_CONNECTION_STRING":
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;"
                "BlobEndpoint=%s/devstoreaccount1;" % ("eA==" * 16, url),
            "AZURE_STORAGE_ACCOUNT": "devstoreaccount1", "AZURE_STORAGE_KEY": "eA==",
            "AZURE_TENANT_ID": "adfs", "AZURE_CLIENT_ID": "decoy", "AZURE_CLIENT_SECRET": "x",
            "AZURE_AUTHORITY_HOST": url, "AZURE_RESOURCE_MANAGER_ENDPOINT": url + "/",
            "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
            "AZLITE_DATA_DIR": self.dir, "AZLITE_BLOB_PORT": str(port),
            "AZLITE_MGMT_PORT": str(port), "AZURITE_ACCOUNTS": "decoy:eA==",
        }
        blob_dir = os.path.join(ROOT, "tests", "e2e", "blob")
        self.plant("blob/test_which_server.py", """
            import sys, unittest
            sys.path.insert(0, %r)
            import blobtest
            def setUpModule(): blobtest.start()
            def tearDownModule(): blobtest.stop()
            class T(blobtest.BlobCase):
                def test_round_trip_on_the_started_server(self):
                    ep = blobtest.conn_parts()["BlobEndpoint"]
                    self.assertIn(":%%d/" %% blobtest.srv.ports["blob"], ep)
                    self.container.upload_blob("b", b"started")
                    self.assertEqual(self.container.download_blob("b").readall(), b"started")
        """ % blob_dir)
        harness = os.path.join(ROOT, "tests", "e2e", "node", "harness.mjs")
        self.plant("node/which.test.mjs", """
            import { after, before, test } from "node:test";
            import assert from "node:assert/strict";
            import { BlobServiceClient } from "@azure/storage-blob";
            import { startAzlite } from %r;
            let az;
            before(async () => { az = await startAzlite(); });
            after(async () => { await az.stop(); });
            test("round trip on the started server", async () => {
              assert.ok(az.blobUrl.includes(`:${az.ports.blob}/`), az.blobUrl);
              const svc = BlobServiceClient.fromConnectionString(az.connectionString);
              const c = svc.getContainerClient("which");
              await c.create();
              await c.getBlockBlobClient("b").upload("started", 7);
              const got = await c.getBlobClient("b").downloadToBuffer();
              assert.equal(got.toString(), "started");
              assert.equal(process.env.AZURE_STORAGE_CONNECTION_STRING, undefined);
            });
        """ % harness)
        os.symlink(os.path.join(ROOT, "tests", "e2e", "node", "node_modules"),
                   os.path.join(self.dir, "node", "node_modules"))

    def tearDown(self):
        self.decoy.shutdown()
        self.decoy.server_close()
        super().tearDown()

    def test_through_run_sh(self):
        p = self.run_sh(limit=240, AZLITE_TEST_TIMEOUT="120", **self.bogus)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:])
        self.assertEqual(self.summary(p), "e2e: 2 passed, 0 failed, 0 skipped")
        self.assertEqual(Decoy.hits, [])

    def test_without_run_sh(self):
        # Run directly, not through run.sh: the harness itself drops what it inherited.
        e = dict(os.environ, AZLITE_E2E_DIR=self.dir, **self.bogus)
        p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "e2e", "run_py.py")],
                           capture_output=True, text=True, env=e, timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        self.assertIn("python: 1 passed, 0 failed", p.stdout)
        p = subprocess.run(["node", "--test", "--test-timeout=120000", "which.test.mjs"],
                           cwd=os.path.join(self.dir, "node"), capture_output=True, text=True,
                           env=e, timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr[-3000:])
        self.assertEqual(Decoy.hits, [])


if __name__ == "__main__":
    unittest.main()
