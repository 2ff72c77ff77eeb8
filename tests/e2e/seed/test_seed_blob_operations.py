"""The seed's Part 2 `blob_operations.py`, run unchanged against azlite with
the connection string from `azlite env` (issue: Blob Storage, "Done when").

blob_operations.py here is the seed's code block byte for byte, so the seed's
code runs on every clone.  Its SHA-256 is recorded below: the copy is checked
against it always, and when the seed itself is beside the checkout
(../shared/seed) the seed is checked to still hold that very block.  Only the
second check needs the seed; without it, it is a named, counted skip."""
import glob
import hashlib
import os
import re
import subprocess
import tempfile
import unittest
import urllib.parse

from azlite_harness import Azlite, ROOT

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "blob_operations.py")
# sha256 of the seed's Part 2 blob_operations.py code block.
SEED_SHA256 = "b0db10195264fa644c38d9d585979ab4932dddcb5f1585e003797b35474a2dbb"
srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


class SeedBlobOperations(unittest.TestCase):
    def test_script_is_the_recorded_block(self):
        with open(SCRIPT, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), SEED_SHA256,
                             "blob_operations.py is no longer the seed's block")

    def test_seed_still_holds_the_block(self):
        seeds = glob.glob(os.path.join(ROOT, "..", "shared", "seed", "*.txt"))
        if not seeds:
            self.skipTest("../shared/seed is not beside this checkout (a clean clone): the "
                          "copy was checked against its recorded SHA-256 only")
        with open(SCRIPT) as f:
            ours = f.read()
        texts = [open(p).read() for p in seeds]
        self.assertTrue(any(ours in t for t in texts), "blob_operations.py drifted from the seed")

    def test_runs_unchanged(self):
        from azure.storage.blob import BlobClient, BlobServiceClient
        conn = srv.env["AZURE_STORAGE_CONNECTION_STRING"]
        # The seed creates the container with az before running the script.
        p = srv.az("storage", "container", "create", "--name", "ml-data",
                   "--connection-string", conn)
        self.assertEqual(p.returncode, 0, p.stderr)
        svc = BlobServiceClient.from_connection_string(conn)
        model = os.urandom(4096)
        svc.get_blob_client("ml-data", "models/model.pth").upload_blob(model)
        work = tempfile.mkdtemp(prefix="seed-")
        os.makedirs(os.path.join(work, "data"))
        train = b"label,pixels\n" + b"7,0 0 0 255\n" * 5000
        with open(os.path.join(work, "data", "train.csv"), "wb") as f:
            f.write(train)
        env = dict(os.environ, AZURE_STORAGE_CONNECTION_STRING=conn)
        run = subprocess.run(["/usr/bin/python3", SCRIPT], cwd=work, env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("Uploaded data/train.csv to ml-data/datasets/mnist/train.csv", run.stdout)
        self.assertRegex(run.stdout, r"models/model\.pth: 0\.00 MB \(Modified: ")
        got = svc.get_blob_client("ml-data", "datasets/mnist/train.csv").download_blob().readall()
        self.assertEqual(got, train)
        # The SAS URL it prints names Azure's host; its token works against azlite.
        m = re.search(r"SAS URL \(expires in 24h\): (\S+)", run.stdout)
        self.assertIsNotNone(m, run.stdout)
        sas = urllib.parse.urlsplit(m.group(1)).query
        blob = BlobClient.from_blob_url(
            "%s/ml-data/models/model.pth?%s" % (svc.url.rstrip("/"), sas))
        self.assertEqual(blob.download_blob().readall(), model)
        # Read-only: the same SAS cannot write.
        from azure.core.exceptions import HttpResponseError
        with self.assertRaises(HttpResponseError) as e:
            blob.upload_blob(b"overwrite", overwrite=True)
        self.assertEqual(e.exception.error_code, "AuthorizationPermissionMismatch")

    def test_runs_unchanged_through_exec(self):
        """Transparent mode's "Done when": an account made with `azlite az`, the
        connection string `show-connection-string` printed under `azlite exec`
        (its BlobEndpoint the account's *.blob.core.windows.net), the seed's
        script run unchanged, and the SAS URL it prints fetched with requests."""
        from azlite_harness import BIN, clean_environ
        self.assertEqual(srv.az("group", "create", "-n", "seed-exec", "-l", "eastus").returncode, 0)
        p = srv.az("storage", "account", "create", "-n", "seedexec1", "-g", "seed-exec",
                   "-l", "eastus")
        self.assertEqual(p.returncode, 0, p.stderr)

        def ex(*cmd, env=None):
            return subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--"] + list(cmd),
                                  capture_output=True, text=True, timeout=180,
                                  env=env or clean_environ(), cwd=work)

        work = tempfile.mkdtemp(prefix="seed-exec-")
        os.makedirs(os.path.join(work, "data"))
        p = ex(BIN, "az", "--data-dir", srv.data_dir, "storage", "account",
               "show-connection-string", "-n", "seedexec1",
               "-g", "seed-exec", "-o", "tsv")
        self.assertEqual(p.returncode, 0, p.stderr)
        conn = p.stdout.strip()
        self.assertIn(";BlobEndpoint=https://seedexec1.blob.core.windows.net/", conn)
        # Outside exec the same command prints azlite's own endpoint.
        outside = srv.az("storage", "account", "show-connection-string", "-n", "seedexec1",
                         "-g", "seed-exec", "-o", "tsv").stdout
        self.assertRegex(outside, r";BlobEndpoint=http://127\.0\.0\.1:\d+/seedexec1/")
        self.assertNotIn("blob.core.windows.net", outside)
        p = ex(BIN, "az", "--data-dir", srv.data_dir, "storage", "container", "create", "--name", "ml-data",
               "--connection-string", conn)
        self.assertEqual(p.returncode, 0, p.stderr)
        model = os.urandom(2048)
        with open(os.path.join(work, "model.pth"), "wb") as f:
            f.write(model)
        p = ex(BIN, "az", "--data-dir", srv.data_dir, "storage", "blob", "upload", "-c", "ml-data", "-n", "models/model.pth",
               "-f", os.path.join(work, "model.pth"), "--connection-string", conn, "-o", "none")
        self.assertEqual(p.returncode, 0, p.stderr)
        train = b"label,pixels\n" + b"3,0 255\n" * 1000
        with open(os.path.join(work, "data", "train.csv"), "wb") as f:
            f.write(train)
        run = ex("/usr/bin/python3", SCRIPT,
                 env=dict(clean_environ(), AZURE_STORAGE_CONNECTION_STRING=conn))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("Uploaded data/train.csv to ml-data/datasets/mnist/train.csv", run.stdout)
        self.assertRegex(run.stdout, r"models/model\.pth: 0\.00 MB \(Modified: ")
        m = re.search(r"SAS URL \(expires in 24h\): (https://seedexec1\.blob\.core\.windows\.net/"
                      r"ml-data/models/model\.pth\?\S+)", run.stdout)
        self.assertIsNotNone(m, run.stdout)
        # Fetched with requests, as a user would, and compared byte for byte.
        out = os.path.join(work, "fetched.bin")
        get = ex("/usr/bin/python3", "-c",
                 "import requests, sys\nr = requests.get(sys.argv[1])\nr.raise_for_status()\n"
                 "open(sys.argv[2], 'wb').write(r.content)", m.group(1), out)
        self.assertEqual(get.returncode, 0, get.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), model)
        # The dataset landed in that account (checked outside exec, path style).
        from azure.storage.blob import BlobServiceClient
        svc = BlobServiceClient.from_connection_string(outside.strip())
        got = svc.get_blob_client("ml-data", "datasets/mnist/train.csv").download_blob().readall()
        self.assertEqual(got, train)


if __name__ == "__main__":
    unittest.main()
