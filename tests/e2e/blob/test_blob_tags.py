"""Blob index tags through azure-storage-blob: tags on upload (x-ms-tags),
Set/Get Blob Tags, x-ms-tag-count, include=tags, Find Blobs by Tags at the
service and container level (=, ranges, AND, @container, paging), and
x-ms-if-tags conditions (412 ConditionNotMet)."""
import os

from azure.core.exceptions import HttpResponseError, ResourceModifiedError

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


class Tags(blobtest.BlobCase):
    def test_tags_on_upload_get_set(self):
        b = self.container.upload_blob("t.txt", b"x", tags={"project": "alpha", "size": "small"})
        self.assertEqual(b.get_blob_tags(), {"project": "alpha", "size": "small"})
        self.assertEqual(b.get_blob_properties().tag_count, 2)
        etag = b.get_blob_properties().etag
        b.set_blob_tags({"stage": "done"})
        self.assertEqual(b.get_blob_tags(), {"stage": "done"})
        # Tags are not content: the ETag does not move.
        self.assertEqual(b.get_blob_properties().etag, etag)
        b.set_blob_tags({})
        self.assertEqual(b.get_blob_tags(), {})
        self.assertIsNone(b.get_blob_properties().tag_count)

    def test_overwrite_replaces_tags_snapshot_keeps_them(self):
        b = self.container.upload_blob("t.txt", b"x", tags={"k": "v"})
        snap = b.create_snapshot()["snapshot"]
        b.upload_blob(b"y", overwrite=True)
        self.assertEqual(b.get_blob_tags(), {})
        s = self.container.get_blob_client("t.txt", snapshot=snap)
        self.assertEqual(s.get_blob_tags(), {"k": "v"})

    def test_block_list_commit_with_tags(self):
        svc = blobtest.service(max_single_put_size=64 * 1024, max_block_size=64 * 1024)
        c = svc.get_container_client(self.container.container_name)
        data = os.urandom(200 * 1024)
        b = c.upload_blob("big", data, tags={"kind": "big"})
        self.assertEqual(len(b.get_block_list()[0]), 4)
        self.assertEqual(b.get_blob_tags(), {"kind": "big"})

    def test_invalid_tags(self):
        with self.assertRaises(HttpResponseError) as cm:
            self.container.upload_blob("t", b"x", tags={"k%d" % i: "v" for i in range(11)})
        self.assertAzureError(cm, 400, "TagsTooLarge")
        b = self.container.upload_blob("t", b"x")
        with self.assertRaises(HttpResponseError) as cm:
            b.set_blob_tags({"bad!key": "v"})
        self.assertAzureError(cm, 400, "InvalidTag")
        with self.assertRaises(HttpResponseError) as cm:
            b.set_blob_tags({"k": "x" * 257})
        self.assertAzureError(cm, 400, "InvalidTag")
        self.assertEqual(b.get_blob_tags(), {})

    def test_list_with_tags(self):
        self.container.upload_blob("a", b"x", tags={"t": "1"})
        self.container.upload_blob("b", b"x")
        got = {x.name: (x.tag_count, x.tags) for x in self.container.list_blobs(include=["tags"])}
        self.assertEqual(got, {"a": (1, {"t": "1"}), "b": (None, None)})

    def test_find_blobs_by_tags(self):
        run = blobtest.fresh_name("run")
        other = self.svc.create_container(blobtest.fresh_name())
        try:
            for i in range(6):
                self.container.upload_blob("b%d" % i, b"x", tags={"run": run, "n": str(i)})
            other.upload_blob("elsewhere", b"x", tags={"run": run, "n": "3"})
            found = sorted((b.container_name, b.name)
                           for b in self.svc.find_blobs_by_tags("run = '%s'" % run))
            self.assertEqual(len(found), 7)
            self.assertIn((other.container_name, "elsewhere"), found)
            where = "run = '%s' AND n >= '2' AND n < '4'" % run
            got = sorted(b.name for b in self.svc.find_blobs_by_tags(where))
            self.assertEqual(got, ["b2", "b3", "elsewhere"])
            where_ct = "@container = '%s' AND run = '%s' AND n > '3'" % (
                self.container.container_name, run)
            hits = list(self.svc.find_blobs_by_tags(where_ct))
            self.assertEqual(sorted(b.name for b in hits), ["b4", "b5"])
            self.assertEqual(hits[0].tags, {"run": run, "n": hits[0].tags["n"]})
            in_ct = sorted(b.name for b in
                           self.container.find_blobs_by_tags("run = '%s' AND n <= '1'" % run))
            self.assertEqual(in_ct, ["b0", "b1"])
            pages = list(self.svc.find_blobs_by_tags("run = '%s'" % run,
                                                     results_per_page=3).by_page())
            self.assertEqual([len(list(p)) for p in pages], [3, 3, 1])
        finally:
            other.delete_container()

    def test_find_rejects_bad_expressions(self):
        for where in ("a = 'x' OR b = 'y'", "a <> 'x'", "a = x", "a = 'x' AND a = 'y'"):
            with self.assertRaises(HttpResponseError) as cm:
                list(self.svc.find_blobs_by_tags(where))
            self.assertAzureError(cm, 400, "InvalidQueryParameterValue")

    def test_if_tags_conditions(self):
        b = self.container.upload_blob("c.txt", b"v1", tags={"state": "draft", "owner": "me"})
        self.assertEqual(
            b.download_blob(if_tags_match_condition="state = 'draft'").readall(), b"v1")
        with self.assertRaises(ResourceModifiedError) as cm:
            b.download_blob(if_tags_match_condition="state = 'final'").readall()
        self.assertAzureError(cm, 412, "ConditionNotMet")
        with self.assertRaises(ResourceModifiedError) as cm:
            b.set_blob_metadata({"m": "1"}, if_tags_match_condition="\"owner\" <> 'me'")
        self.assertAzureError(cm, 412, "ConditionNotMet")
        b.set_blob_metadata({"m": "1"},
                            if_tags_match_condition="state = 'final' OR owner = 'me'")
        with self.assertRaises(ResourceModifiedError):
            b.upload_blob(b"v2", overwrite=True, if_tags_match_condition="state = 'final'")
        with self.assertRaises(ResourceModifiedError):
            b.delete_blob(if_tags_match_condition="state = 'final'")
        with self.assertRaises(ResourceModifiedError):
            b.set_blob_tags({"x": "y"}, if_tags_match_condition="state = 'final'")
        with self.assertRaises(HttpResponseError) as cm:
            b.get_blob_properties(if_tags_match_condition="state = ")
        self.assertEqual(cm.exception.status_code, 400)
        b.delete_blob(if_tags_match_condition="state = 'draft' AND owner = 'me'")
        self.assertFalse(b.exists())
