"""Snapshots through azure-storage-blob: Snapshot Blob, reading a snapshot
after the base changed, listing with include=snapshots, and Delete Blob with
x-ms-delete-snapshots include / only (409 SnapshotsPresent without)."""
import os

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


class Snapshots(blobtest.BlobCase):
    def test_snapshot_keeps_old_content(self):
        old = os.urandom(100 * 1024)
        b = self.container.upload_blob("doc.bin", old, metadata={"v": "1"})
        snap = b.create_snapshot()
        self.assertRegex(snap["snapshot"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
        b.upload_blob(b"new content", overwrite=True, metadata={"v": "2"})
        s = self.container.get_blob_client("doc.bin", snapshot=snap["snapshot"])
        self.assertEqual(s.download_blob().readall(), old)
        self.assertEqual(b.download_blob().readall(), b"new content")
        p = s.get_blob_properties()
        self.assertEqual((p.size, p.metadata, p.snapshot), (len(old), {"v": "1"}, snap["snapshot"]))
        self.assertEqual(s.download_blob(offset=10, length=5).readall(), old[10:15])

    def test_snapshot_metadata_and_leases(self):
        b = self.container.upload_blob("m.txt", b"x", metadata={"a": "1"})
        lease = b.acquire_lease(lease_duration=-1)
        # A snapshot needs no lease; metadata in the request replaces the base's.
        snap = b.create_snapshot(metadata={"b": "2"})
        s = self.container.get_blob_client("m.txt", snapshot=snap["snapshot"])
        sp = s.get_blob_properties()
        self.assertEqual(sp.metadata, {"b": "2"})
        self.assertEqual(sp.lease.state, "available")
        self.assertEqual(b.get_blob_properties().metadata, {"a": "1"})
        with self.assertRaises(HttpResponseError) as cm:
            s.set_blob_metadata({"c": "3"})
        self.assertAzureError(cm, 400, "InvalidQueryParameterValue")
        lease.release()

    def test_list_and_delete_snapshots(self):
        b = self.container.upload_blob("a.txt", b"one")
        s1 = b.create_snapshot()["snapshot"]
        b.upload_blob(b"two", overwrite=True)
        s2 = b.create_snapshot()["snapshot"]
        self.assertNotEqual(s1, s2)
        self.container.upload_blob("b.txt", b"other")
        listed = [(x.name, x.snapshot, x.size)
                  for x in self.container.list_blobs(include=["snapshots"])]
        self.assertEqual(sorted(listed, key=lambda t: (t[0], t[1] or "~")),
                         [("a.txt", s1, 3), ("a.txt", s2, 3), ("a.txt", None, 3),
                          ("b.txt", None, 5)])
        self.assertEqual(len(list(self.container.list_blobs())), 2)
        with self.assertRaises(HttpResponseError) as cm:
            b.delete_blob()
        self.assertAzureError(cm, 409, "SnapshotsPresent")
        self.container.get_blob_client("a.txt", snapshot=s1).delete_blob()
        with self.assertRaises(ResourceNotFoundError):
            self.container.get_blob_client("a.txt", snapshot=s1).download_blob().readall()
        b.delete_blob(delete_snapshots="only")
        self.assertEqual(b.download_blob().readall(), b"two")
        self.assertEqual([x.snapshot for x in self.container.list_blobs(include=["snapshots"])
                          if x.name == "a.txt"], [None])
        b.create_snapshot()
        b.delete_blob(delete_snapshots="include")
        self.assertEqual([x.name for x in self.container.list_blobs(include=["snapshots"])],
                         ["b.txt"])

    def test_many_snapshots_quickly_are_distinct(self):
        b = self.container.upload_blob("fast", b"x")
        snaps = {b.create_snapshot()["snapshot"] for _ in range(10)}
        self.assertEqual(len(snaps), 10)

    def test_missing(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.container.get_blob_client("nope").create_snapshot()
        self.assertAzureError(cm, 404, "BlobNotFound")
        self.container.upload_blob("here", b"x")
        ghost = self.container.get_blob_client("here", snapshot="2020-01-01T00:00:00.0000000Z")
        with self.assertRaises(ResourceNotFoundError) as cm:
            ghost.get_blob_properties()
        self.assertEqual(cm.exception.status_code, 404)
