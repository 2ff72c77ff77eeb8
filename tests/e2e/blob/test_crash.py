"""Crash safety: many concurrent uploads through azure-storage-blob (small
bodies, bodies spooled to disk, block-list commits, overwrites of one name),
then SIGKILL in the middle of them and a restart on the same data dir.

What a user must see afterwards: every upload that was acknowledged reads
back byte for byte (an overwrite: the acknowledged version or a later one),
and no blob is listed that is not a whole upload."""
import hashlib
import os
import random
import sqlite3
import threading
import time
import unittest

from azure.storage.blob import BlobServiceClient

from azlite_harness import Azlite

THREADS = 16
SIZES = [0, 700, 16 * 1024, 100 * 1024, 300 * 1024, 900 * 1024, 2 * 1024 * 1024 + 123]


def content(name, version=0):
    """The bytes of one upload, derived from its name (so a reader can check them)."""
    seed = hashlib.sha256(("%s/%d" % (name, version)).encode()).digest()
    rnd = random.Random(seed)
    size = SIZES[seed[0] % len(SIZES)]
    return rnd.randbytes(size)


class CrashDuringUploads(unittest.TestCase):
    def setUp(self):
        self.srv = Azlite().start()

    def tearDown(self):
        self.srv.cleanup()

    def client(self):
        # Small thresholds: bodies over 1 MiB go as 512 KiB blocks + Put Block List.
        return BlobServiceClient.from_connection_string(
            self.srv.env["AZURE_STORAGE_CONNECTION_STRING"], max_single_put_size=1024 * 1024,
            max_block_size=512 * 1024, retry_total=0)

    def test_kill9_during_concurrent_uploads(self):
        container = self.client().create_container("crash")
        acked = {}          # unique name -> bytes
        attempted = set()   # unique names ever started
        hot_acked = {}      # overwritten name -> highest acknowledged version
        hot_started = {}    # overwritten name -> highest started version
        lock = threading.Lock()
        stop = threading.Event()

        def unique_worker(t):
            c = self.client().get_container_client("crash")
            i = 0
            while not stop.is_set():
                name = "u/%02d/%05d" % (t, i)
                i += 1
                data = content(name)
                with lock:
                    attempted.add(name)
                try:
                    c.upload_blob(name, data)
                except Exception:
                    if stop.is_set():
                        return
                    continue
                with lock:
                    acked[name] = data

        def hot_worker(t):
            c = self.client().get_container_client("crash")
            name = "hot/%02d" % t
            v = 0
            while not stop.is_set():
                v += 1
                with lock:
                    hot_started[name] = v
                try:
                    c.upload_blob(name, content(name, v), overwrite=True)
                except Exception:
                    if stop.is_set():
                        return
                    continue
                with lock:
                    hot_acked[name] = v

        threads = [threading.Thread(target=unique_worker if t % 4 else hot_worker, args=(t,))
                   for t in range(THREADS)]
        for th in threads:
            th.start()
        deadline = time.time() + 60
        while time.time() < deadline:
            with lock:
                if len(acked) >= 60 and len(hot_acked) >= THREADS // 4:
                    break
            time.sleep(0.05)
        self.srv.kill9()  # mid-flight: the workers are still uploading
        stop.set()
        for th in threads:
            th.join(60)
        self.assertGreaterEqual(len(acked), 60)
        self.assertGreater(len(attempted), len(acked))

        self.srv.start()
        # The restart swept what the crash left: every data file is named by a row,
        # and no half-placed body waits in tmp/.
        data = self.srv.data_dir
        files = {os.path.relpath(os.path.join(d, f), os.path.join(data, "blobs"))
                 for d, _, fs in os.walk(os.path.join(data, "blobs")) for f in fs}
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "azlite.db"), uri=True)
        rows = {p for (p,) in db.execute("SELECT path FROM blob_files WHERE path IS NOT NULL")}
        db.close()
        self.assertEqual(files, rows)
        self.assertEqual([f for f in os.listdir(os.path.join(data, "tmp"))
                          if f.startswith("blob-")], [])
        c = self.client().get_container_client("crash")
        listed = {b.name: b.size for b in c.list_blobs()}
        for name, data in acked.items():
            self.assertIn(name, listed, "acknowledged upload lost")
            got = c.download_blob(name).readall()
            self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(data).hexdigest(),
                             name)
        for name, size in listed.items():
            if name.startswith("u/"):
                self.assertIn(name, attempted)
                data = acked.get(name) or content(name)
                self.assertEqual(size, len(data), "partial blob listed: " + name)
                self.assertEqual(c.download_blob(name).readall(), data, name)
        for name, v in hot_acked.items():
            got = c.download_blob(name).readall()
            versions = [content(name, k) for k in range(v, hot_started[name] + 1)]
            self.assertIn(got, versions, "%s: not version %d or later" % (name, v))
        # The server is whole again: it takes writes.
        c.upload_blob("after", b"still works")
        self.assertEqual(c.download_blob("after").readall(), b"still works")
        container.delete_container()


if __name__ == "__main__":
    unittest.main()
