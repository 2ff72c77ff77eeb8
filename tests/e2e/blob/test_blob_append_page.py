"""Append and page blobs through azure-storage-blob (and raw requests where the
SDK checks arguments itself): Append Block with its conditions, Seal; page
blobs created with a size, Put Page update/clear on 512-byte pages, Get Page
Ranges (and the diff against a snapshot), resize, sequence numbers."""
import os

import requests
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError
from azure.storage.blob import BlobType, SequenceNumberAction

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


def raw(method, blob, headers=None, query="", data=b""):
    """One request to a blob, authorized with an account SAS."""
    url = "%s?%s&%s" % (blob.url, query, blobtest.account_sas())
    h = {"x-ms-version": "2021-12-02"}
    h.update(headers or {})
    return requests.request(method, url, headers=h, data=data, timeout=30)


class AppendBlobs(blobtest.BlobCase):
    def test_append_read_and_count(self):
        b = self.container.get_blob_client("log.txt")
        b.create_append_blob(metadata={"kind": "log"})
        r1 = b.append_block(b"line one\n")
        r2 = b.append_block(os.urandom(300 * 1024))
        self.assertEqual((r1["blob_append_offset"], r1["blob_committed_block_count"]), ("0", 1))
        self.assertEqual((r2["blob_append_offset"], r2["blob_committed_block_count"]), ("9", 2))
        p = b.get_blob_properties()
        self.assertEqual((p.blob_type, p.size, p.append_blob_committed_block_count, p.metadata),
                         (BlobType.AppendBlob, 9 + 300 * 1024, 2, {"kind": "log"}))
        self.assertEqual(b.download_blob(offset=0, length=9).readall(), b"line one\n")
        # Creating again starts over.
        b.create_append_blob()
        self.assertEqual(b.get_blob_properties().size, 0)

    def test_append_conditions(self):
        b = self.container.get_blob_client("cond")
        b.create_append_blob()
        b.append_block(b"12345")
        with self.assertRaises(HttpResponseError) as cm:
            b.append_block(b"x", appendpos_condition=4)
        self.assertAzureError(cm, 412, "AppendPositionConditionNotMet")
        b.append_block(b"6", appendpos_condition=5)
        with self.assertRaises(HttpResponseError) as cm:
            b.append_block(b"78", maxsize_condition=7)
        self.assertAzureError(cm, 412, "MaxBlobSizeConditionNotMet")
        b.append_block(b"7", maxsize_condition=7)
        self.assertEqual(b.download_blob().readall(), b"1234567")

    def test_seal(self):
        b = self.container.get_blob_client("sealed")
        b.create_append_blob()
        b.append_block(b"final")
        b.seal_append_blob()
        self.assertTrue(b.get_blob_properties().is_append_blob_sealed)
        with self.assertRaises(HttpResponseError) as cm:
            b.append_block(b"more")
        self.assertAzureError(cm, 409, "BlobIsSealed")
        listed = [x for x in self.container.list_blobs() if x.name == "sealed"]
        self.assertTrue(listed[0].is_append_blob_sealed)
        self.assertEqual(b.download_blob().readall(), b"final")

    def test_wrong_types(self):
        blk = self.container.upload_blob("block", b"x")
        with self.assertRaises(HttpResponseError) as cm:
            blk.append_block(b"y")
        self.assertAzureError(cm, 409, "InvalidBlobType")
        with self.assertRaises(HttpResponseError) as cm:
            self.container.get_blob_client("none").append_block(b"y")
        self.assertAzureError(cm, 404, "BlobNotFound")
        ab = self.container.get_blob_client("app")
        ab.create_append_blob()
        with self.assertRaises(HttpResponseError) as cm:
            ab.stage_block("YQ==", b"x")
        self.assertAzureError(cm, 409, "InvalidBlobType")


class PageBlobs(blobtest.BlobCase):
    def test_pages_ranges_and_zeros(self):
        b = self.container.get_blob_client("disk.vhd")
        b.create_page_blob(16 * 1024, sequence_number=7)
        p = b.get_blob_properties()
        self.assertEqual((p.blob_type, p.size, p.page_blob_sequence_number),
                         (BlobType.PageBlob, 16384, 7))
        self.assertEqual(b.get_page_ranges(), ([], []))
        one, two = os.urandom(1024), os.urandom(2048)
        b.upload_page(one, offset=1024, length=1024)
        b.upload_page(two, offset=2048, length=2048)
        b.upload_page(b"\x01" * 512, offset=8192, length=512)
        self.assertEqual(b.get_page_ranges()[0],
                         [{"start": 1024, "end": 4095}, {"start": 8192, "end": 8703}])
        data = b.download_blob().readall()
        self.assertEqual(len(data), 16384)
        self.assertEqual(data[:1024], b"\0" * 1024)
        self.assertEqual(data[1024:4096], one + two)
        # Overwrite the middle of a written range, then clear a page.
        b.upload_page(b"\x02" * 512, offset=1536, length=512)
        b.clear_page(offset=2048, length=512)
        data = b.download_blob().readall()
        self.assertEqual(data[1024:1536], one[:512])
        self.assertEqual(data[1536:2048], b"\x02" * 512)
        self.assertEqual(data[2048:2560], b"\0" * 512)
        self.assertEqual(data[2560:4096], two[512:])
        self.assertEqual(b.get_page_ranges(offset=0, length=4096)[0],
                         [{"start": 1024, "end": 2047}, {"start": 2560, "end": 4095}])

    def test_alignment_and_bounds(self):
        r = raw("PUT", self.container.get_blob_client("odd"),
                {"x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": "1000"})
        self.assertEqual((r.status_code, r.headers.get("x-ms-error-code")),
                         (400, "InvalidHeaderValue"))
        b = self.container.get_blob_client("p")
        b.create_page_blob(1024)
        r = raw("PUT", b, {"x-ms-page-write": "update", "x-ms-range": "bytes=1-512"},
                "comp=page", b"x" * 512)
        self.assertEqual((r.status_code, r.headers.get("x-ms-error-code")),
                         (416, "InvalidPageRange"))
        r = raw("PUT", b, {"x-ms-page-write": "update", "x-ms-range": "bytes=1024-1535"},
                "comp=page", b"x" * 512)
        self.assertEqual((r.status_code, r.headers.get("x-ms-error-code")),
                         (416, "InvalidPageRange"))
        self.assertEqual(b.get_page_ranges(), ([], []))

    def test_resize_and_sequence_numbers(self):
        b = self.container.get_blob_client("seq")
        b.create_page_blob(4096)
        b.upload_page(b"a" * 4096, offset=0, length=4096)
        b.resize_blob(1024)
        self.assertEqual(b.get_blob_properties().size, 1024)
        self.assertEqual(b.get_page_ranges()[0], [{"start": 0, "end": 1023}])
        b.resize_blob(2048)
        self.assertEqual(b.download_blob().readall(), b"a" * 1024 + b"\0" * 1024)
        r = b.set_sequence_number(SequenceNumberAction.Update, 10)
        self.assertEqual(r["blob_sequence_number"], 10)
        r = b.set_sequence_number(SequenceNumberAction.Max, 5)
        self.assertEqual(r["blob_sequence_number"], 10)
        r = b.set_sequence_number(SequenceNumberAction.Increment)
        self.assertEqual(r["blob_sequence_number"], 11)
        with self.assertRaises(HttpResponseError) as cm:
            b.upload_page(b"z" * 512, offset=0, length=512, if_sequence_number_lt=11)
        self.assertAzureError(cm, 412, "SequenceNumberConditionNotMet")
        b.upload_page(b"z" * 512, offset=0, length=512, if_sequence_number_eq=11)
        # Set Blob Properties with HTTP headers leaves size and number alone.
        b.set_http_headers()
        p = b.get_blob_properties()
        self.assertEqual((p.size, p.page_blob_sequence_number), (2048, 11))

    def test_diff_against_snapshot(self):
        b = self.container.get_blob_client("diff")
        b.create_page_blob(8192)
        b.upload_page(b"a" * 2048, offset=0, length=2048)
        snap = b.create_snapshot()["snapshot"]
        b.upload_page(b"b" * 512, offset=4096, length=512)
        b.clear_page(offset=512, length=512)
        ranges, cleared = b.get_page_ranges(previous_snapshot_diff=snap)
        self.assertEqual(ranges, [{"start": 4096, "end": 4607}])
        self.assertEqual(cleared, [{"start": 512, "end": 1023}])
        s = self.container.get_blob_client("diff", snapshot=snap)
        self.assertEqual(s.download_blob(offset=512, length=512).readall(), b"a" * 512)

    def test_put_page_on_a_block_blob(self):
        blk = self.container.upload_blob("blk", b"x" * 512)
        with self.assertRaises(HttpResponseError) as cm:
            blk.upload_page(b"y" * 512, offset=0, length=512)
        self.assertAzureError(cm, 409, "InvalidBlobType")
        with self.assertRaises(ResourceModifiedError):
            pb = self.container.get_blob_client("pb")
            pb.create_page_blob(512)
            pb.upload_page(b"y" * 512, offset=0, length=512, etag='"0x1"',
                           match_condition=MatchConditions.IfNotModified)
