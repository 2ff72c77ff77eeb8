"""A blob committed from many blocks downloads with O(1) file descriptors
(issue 16, item 11): azlite runs under RLIMIT_NOFILE 256, a blob of 1000
blocks (Put Block + Put Block List through azure-storage-blob) downloads
whole and ranged byte for byte, and many stalled downloads of it at once do
not stop another client's request."""
import os
import resource
import socket
import subprocess
import threading
import time
import unittest

import requests
from azure.storage.blob import BlobBlock, BlobServiceClient

from azlite_harness import BIN, Azlite

NOFILE = 256
BLOCKS = 1000
BLOCK = 3 * 1024 + 7  # not a multiple of anything the server might align to


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


class LowFdServer(Azlite):
    """The harness's server, its `azlite serve` under RLIMIT_NOFILE 256."""

    def start(self, timeout=30):
        saved = subprocess.Popen

        def popen(args, **kw):
            if args and args[0] == BIN and len(args) > 1 and args[1] == "serve":
                kw["preexec_fn"] = low_nofile
            return saved(args, **kw)

        subprocess.Popen = popen
        try:
            return super().start(timeout)
        finally:
            subprocess.Popen = saved


srv = None
data = None


def setUpModule():
    global srv, data
    srv = LowFdServer().start()
    data = os.urandom(BLOCKS * BLOCK)
    c = client().create_container("many")
    b = c.get_blob_client("big")
    ids = []
    lock = threading.Lock()

    def stage(part):
        for i in part:
            bid = "%08d" % i
            b.stage_block(bid, data[i * BLOCK:(i + 1) * BLOCK])

    parts = [range(t, BLOCKS, 8) for t in range(8)]
    threads = [threading.Thread(target=stage, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    with lock:
        ids = [BlobBlock(block_id="%08d" % i) for i in range(BLOCKS)]
    b.commit_block_list(ids)


def tearDownModule():
    srv.cleanup()


def client():
    return BlobServiceClient.from_connection_string(
        srv.env["AZURE_STORAGE_CONNECTION_STRING"], retry_total=0, connection_timeout=30,
        read_timeout=60)


def server_fds():
    return len(os.listdir("/proc/%d/fd" % srv.proc.pid))


class ManyBlocks(unittest.TestCase):
    def blob(self):
        return client().get_blob_client("many", "big")

    def test_whole_download_under_low_fd_limit(self):
        got = self.blob().download_blob(max_concurrency=1).readall()
        self.assertEqual(len(got), len(data))
        self.assertEqual(got, data)

    def test_ranged_downloads(self):
        b = self.blob()
        for off, length in [(0, 1), (BLOCK - 3, 10), (500 * BLOCK + 11, 40 * BLOCK + 5),
                            (len(data) - 100, 100), (7, 900 * BLOCK)]:
            got = b.download_blob(offset=off, length=length, max_concurrency=1).readall()
            self.assertEqual(got, data[off:off + length], (off, length))

    def raw_get(self, name="big"):
        """A plain GET of the blob with requests, its body left unread."""
        url = "%s/many/%s" % (srv.env["AZURE_STORAGE_CONNECTION_STRING"].split(
            "BlobEndpoint=")[1].split(";")[0].rstrip("/"), name)
        return requests.get(url + "?" + self.sas(name), stream=True, timeout=60)

    def sas(self, name):
        from datetime import datetime, timedelta, timezone
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas
        cs = dict(p.split("=", 1) for p in
                  srv.env["AZURE_STORAGE_CONNECTION_STRING"].strip(";").split(";"))
        return generate_blob_sas(cs["AccountName"], "many", name, account_key=cs["AccountKey"],
                                 permission=BlobSasPermissions(read=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))

    def test_stalled_downloads_hold_few_descriptors(self):
        before = server_fds()
        stalled = []
        try:
            for _ in range(40):
                r = self.raw_get()
                self.assertEqual(r.status_code, 200)
                r.raw.read(1000)  # a little, then pause
                stalled.append(r)
            # each holds its socket and at most a file or two, not one per block
            self.assertLess(server_fds() - before, 40 * 3 + 10)
            # another client is still served, whole
            t0 = time.time()
            got = self.blob().download_blob(max_concurrency=1).readall()
            self.assertEqual(got, data)
            self.assertLess(time.time() - t0, 30)
            # and the stalled ones finish with the whole, right bytes
            for r in stalled[:5]:
                rest = r.raw.read()
                self.assertEqual(len(rest) + 1000, len(data))
                self.assertEqual(rest, data[1000:])
        finally:
            for r in stalled:
                r.close()

    def test_download_survives_overwrite_and_trash(self):
        """A download in progress keeps reading the blob it started on after an
        overwrite, even once the old files' grace period in the trash is over:
        the trash keeps the files a download still names."""
        b = client().get_blob_client("many", "mid")
        old = os.urandom(300 * 1000)
        for i in range(300):
            b.stage_block("%06d" % i, old[i * 1000:(i + 1) * 1000])
        b.commit_block_list([BlobBlock(block_id="%06d" % i) for i in range(300)])
        r = self.raw_get("mid")
        self.assertEqual(r.status_code, 200)
        head = r.raw.read(2000)
        b.upload_blob(b"new" * 1000, overwrite=True)
        time.sleep(34)  # past BLOB_TRASH_GRACE_S (30 s)
        rest = r.raw.read()
        r.close()
        self.assertEqual(len(head + rest), len(old))
        self.assertEqual(head + rest, old)


if __name__ == "__main__":
    unittest.main()
