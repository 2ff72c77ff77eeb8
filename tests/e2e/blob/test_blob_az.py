"""`az storage container|blob ...` (Debian azure-cli 2.45) against azlite's blob
endpoint with the connection string `azlite env` prints: what a user types to
move files in and out, and what az prints when Azure says no."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

srv = None
ENV = None
TMP = None


def setUpModule():
    global srv, ENV, TMP
    TMP = tempfile.mkdtemp(prefix="azlite-az-blob-")
    from azlite_harness import Azlite, clean_environ
    srv = Azlite().start()
    conn = srv.env["AZURE_STORAGE_CONNECTION_STRING"]
    ENV = clean_environ()
    ENV["AZURE_STORAGE_CONNECTION_STRING"] = conn
    ENV["AZURE_CONFIG_DIR"] = os.path.join(TMP, "azconfig")
    ENV["AZURE_CORE_COLLECT_TELEMETRY"] = "false"
    ENV["AZURE_CORE_ONLY_SHOW_ERRORS"] = "true"


def tearDownModule():
    if srv:
        srv.cleanup()
    shutil.rmtree(TMP, ignore_errors=True)


def az(*args):
    return subprocess.run(["az"] + list(args), capture_output=True, text=True, env=ENV,
                          timeout=120)


def az_json(*args):
    p = az(*args, "--output", "json")
    if p.returncode != 0:
        raise AssertionError("az %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return json.loads(p.stdout) if p.stdout.strip() else None


class AzStorageBlob(unittest.TestCase):
    def test_upload_list_download_delete(self):
        self.assertEqual(az_json("storage", "container", "create", "-n", "azfiles"),
                         {"created": True})
        src = os.path.join(TMP, "data.bin")
        data = os.urandom(3 * 1024 * 1024 + 17)
        with open(src, "wb") as f:
            f.write(data)
        az_json("storage", "blob", "upload", "-c", "azfiles", "-n", "dir/data.bin", "-f", src)
        listed = az_json("storage", "blob", "list", "-c", "azfiles")
        self.assertEqual([b["name"] for b in listed], ["dir/data.bin"])
        self.assertEqual(listed[0]["properties"]["contentLength"], len(data))
        shown = az_json("storage", "blob", "show", "-c", "azfiles", "-n", "dir/data.bin")
        self.assertEqual(shown["properties"]["blobType"], "BlockBlob")
        dst = os.path.join(TMP, "back.bin")
        p = az("storage", "blob", "download", "-c", "azfiles", "-n", "dir/data.bin", "-f", dst,
               "--output", "none")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertIs(az_json("storage", "blob", "exists", "-c", "azfiles", "-n",
                              "dir/data.bin")["exists"], True)
        p = az("storage", "blob", "delete", "-c", "azfiles", "-n", "dir/data.bin")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIs(az_json("storage", "blob", "exists", "-c", "azfiles", "-n",
                              "dir/data.bin")["exists"], False)

    def test_batch_and_metadata(self):
        az_json("storage", "container", "create", "-n", "azbatch")
        src = os.path.join(TMP, "tree")
        os.makedirs(os.path.join(src, "sub"), exist_ok=True)
        for rel in ("a.txt", "sub/b.txt"):
            with open(os.path.join(src, rel), "w") as f:
                f.write(rel)
        p = az("storage", "blob", "upload-batch", "-d", "azbatch", "-s", src, "--output", "none")
        self.assertEqual(p.returncode, 0, p.stderr)
        names = az_json("storage", "blob", "list", "-c", "azbatch", "--query", "[].name")
        self.assertEqual(names, ["a.txt", "sub/b.txt"])
        az("storage", "blob", "metadata", "update", "-c", "azbatch", "-n", "a.txt",
           "--metadata", "team=ml")
        self.assertEqual(az_json("storage", "blob", "metadata", "show", "-c", "azbatch", "-n",
                                 "a.txt"), {"team": "ml"})
        out = os.path.join(TMP, "out")
        os.makedirs(out, exist_ok=True)
        p = az("storage", "blob", "download-batch", "-d", out, "-s", "azbatch", "--output",
               "none")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "sub", "b.txt")) as f:
            self.assertEqual(f.read(), "sub/b.txt")

    def test_errors_az_prints(self):
        az_json("storage", "container", "create", "-n", "azerr")
        self.assertEqual(az_json("storage", "container", "create", "-n", "azerr"),
                         {"created": False})
        p = az("storage", "container", "create", "-n", "Bad_Name")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("InvalidResourceName", p.stderr)
        p = az("storage", "blob", "show", "-c", "azerr", "-n", "missing")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("BlobNotFound", p.stderr)
        self.assertIs(az_json("storage", "container", "delete", "-n", "azerr")["deleted"], True)
        p = az("storage", "blob", "list", "-c", "azerr")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ContainerNotFound", p.stderr)


if __name__ == "__main__":
    unittest.main()
