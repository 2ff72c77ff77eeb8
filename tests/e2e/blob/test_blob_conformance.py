"""Blob behaviours an outside black-box suite found departing from Azure
(issue 16): each through azure-storage-blob where the SDK can say it, raw
`requests` with an account SAS where it checks arguments itself."""
import base64
import hashlib
import uuid

import requests
from azure.core.exceptions import HttpResponseError

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


def raw(method, url, headers=None, query="", data=b"", version="2021-12-02"):
    """One request to a blob URL, authorized with an account SAS."""
    sep = "&" if "?" in url else "?"
    full = "%s%s%s%s" % (url, sep, (query + "&") if query else "", blobtest.account_sas())
    h = {"x-ms-version": version}
    h.update(headers or {})
    return requests.request(method, full, headers=h, data=data, timeout=30)


def error_code(r):
    return r.headers.get("x-ms-error-code")


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class Digests(blobtest.BlobCase):
    """Content-MD5 and x-ms-content-crc64 together are refused (400), on every
    upload that takes a transactional digest; either one alone is checked."""

    def test_md5_and_crc64_together(self):
        data = b"x" * 512
        blk = self.container.get_blob_client("blk")
        # The right CRC64 of data, as the server reports it for a block sent without digests.
        r = raw("PUT", blk.url, {}, "comp=block&blockid=" + base64.b64encode(b"b0").decode(), data)
        self.assertEqual(r.status_code, 201, r.text)
        both = {"Content-MD5": md5_b64(data), "x-ms-content-crc64": r.headers["x-ms-content-crc64"]}
        app = self.container.get_blob_client("app")
        app.create_append_blob()
        pg = self.container.get_blob_client("pg")
        pg.create_page_blob(1024)
        calls = [
            ("PUT", blk.url, "", {"x-ms-blob-type": "BlockBlob"}),
            ("PUT", blk.url, "comp=block&blockid=" + base64.b64encode(b"b1").decode(), {}),
            ("PUT", app.url, "comp=appendblock", {}),
            ("PUT", pg.url, "comp=page", {"x-ms-page-write": "update",
                                          "x-ms-range": "bytes=0-511"}),
        ]
        for method, url, q, extra in calls:
            h = dict(both, **extra)
            r = raw(method, url, h, q, data)
            self.assertEqual((r.status_code, error_code(r)), (400, "InvalidHeaderValue"),
                             (q, r.text))
            self.assertIn("x-ms-content-crc64", r.text)
            # Either one alone is fine.
            r = raw(method, url, dict(extra, **{"Content-MD5": md5_b64(data)}), q, data)
            self.assertIn(r.status_code, (201,), (q, r.text))
        self.assertEqual(app.get_blob_properties().size, 512)
        self.assertEqual(blk.download_blob().readall(), data)


class Sealed(blobtest.BlobCase):
    def test_unsealed_append_blob_says_so(self):
        b = self.container.get_blob_client("log")
        b.create_append_blob()
        self.assertIs(b.get_blob_properties().is_append_blob_sealed, False)
        self.assertIs(b.download_blob().properties.is_append_blob_sealed, False)
        listed = [x for x in self.container.list_blobs() if x.name == "log"]
        self.assertIs(listed[0].is_append_blob_sealed, False)
        b.seal_append_blob()
        self.assertIs(b.get_blob_properties().is_append_blob_sealed, True)
        # Not an append blob: no header.
        blk = self.container.upload_blob("blk", b"x")
        self.assertIsNone(blk.get_blob_properties().is_append_blob_sealed)
        # Versions before 2019-12-12 know no sealing.
        r = raw("HEAD", b.url, version="2019-07-07")
        self.assertNotIn("x-ms-blob-sealed", r.headers)


class ConditionLists(blobtest.BlobCase):
    """If-Match / If-None-Match are HTTP lists: an element with junk in it
    names no ETag, while the list's well-formed elements still count."""

    def test_etag_with_junk(self):
        b = self.container.upload_blob("c.txt", b"v1")
        etag = b.get_blob_properties().etag  # quoted
        for bad in (etag + "junk", etag + " junk", etag[:-1], etag[1:], "x" + etag,
                    etag + etag):
            r = raw("GET", b.url, {"If-Match": bad})
            self.assertEqual((r.status_code, error_code(r)), (412, "ConditionNotMet"), bad)
            r = raw("PUT", b.url, {"If-Match": bad, "x-ms-blob-type": "BlockBlob"}, data=b"v2")
            self.assertEqual(r.status_code, 412, bad)
            r = raw("GET", b.url, {"If-None-Match": bad})
            self.assertEqual(r.status_code, 200, bad)
            r = raw("HEAD", b.url, {"If-None-Match": bad})
            self.assertEqual(r.status_code, 200, bad)
        for good in (etag, etag.strip('"'), etag + ", junk", "junk, " + etag,
                     '"other", ' + etag, "%s ," % etag):
            r = raw("GET", b.url, {"If-Match": good})
            self.assertEqual(r.status_code, 200, good)
            r = raw("GET", b.url, {"If-None-Match": good})
            self.assertEqual(r.status_code, 304, good)
        self.assertEqual(b.download_blob().readall(), b"v1")
        # The copy source's conditions read lists the same way.
        dst = self.container.get_blob_client("copy.txt")
        r = raw("PUT", dst.url, {"x-ms-copy-source": b.url, "x-ms-source-if-match": etag + "junk"})
        self.assertEqual((r.status_code, error_code(r)), (412, "SourceConditionNotMet"))


class Backslashes(blobtest.BlobCase):
    """Azure reads a backslash in a blob's path as a slash, in every operation."""

    def test_backslash_is_a_slash(self):
        # The SDK (Shared Key) sends the backslash percent-encoded.
        b = self.container.upload_blob("dir\\sub\\file.txt", b"data")
        self.assertEqual([x.name for x in self.container.list_blobs()], ["dir/sub/file.txt"])
        fwd = self.container.get_blob_client("dir/sub/file.txt")
        self.assertEqual(fwd.download_blob().readall(), b"data")
        self.assertEqual(b.download_blob().readall(), b"data")
        self.assertEqual(self.container.get_blob_client("dir\\sub/file.txt")
                         .get_blob_properties().size, 4)
        walk = [x.name for x in self.container.walk_blobs(name_starts_with="dir/")]
        self.assertEqual(walk, ["dir/sub/"])
        # Metadata, tags, leases, snapshots and copies name the same blob.
        b.set_blob_metadata({"k": "v"})
        self.assertEqual(fwd.get_blob_properties().metadata, {"k": "v"})
        b.set_blob_tags({"t": "1"})
        self.assertEqual(fwd.get_blob_tags(), {"t": "1"})
        lease = b.acquire_lease(lease_duration=15)
        self.assertEqual(fwd.get_blob_properties().lease.state, "leased")
        lease.release()
        b.create_snapshot()
        dst = self.container.get_blob_client("copy\\of.txt")
        dst.start_copy_from_url(b.url)
        self.assertEqual(self.container.get_blob_client("copy/of.txt").download_blob().readall(),
                         b"data")
        # A raw request with a literal backslash in its path (SAS).
        r = raw("GET", self.container.url + "/dir\\sub\\file.txt")
        self.assertEqual((r.status_code, r.content), (200, b"data"))
        # Blocks staged under one spelling are committed under the other.
        blk = self.container.get_blob_client("blocks\\x")
        blk.stage_block("YQ==", b"abc")
        self.container.get_blob_client("blocks/x").commit_block_list(["YQ=="])
        self.assertEqual(blk.download_blob().readall(), b"abc")
        b.delete_blob(delete_snapshots="include")
        self.assertFalse(fwd.exists())
        self.assertEqual(sorted(x.name for x in self.container.list_blobs()),
                         ["blocks/x", "copy/of.txt"])


class ServiceStats(blobtest.BlobCase):
    def test_stats_only_on_the_secondary(self):
        """Get Blob Service Stats is served on an RA-GRS secondary only: the
        primary refuses it with 400 InvalidQueryParameterValue, not a 501."""
        # (The SDK sends it to the secondary's host, which a local azlite has not.)
        r = raw("GET", self.svc.url, query="restype=service&comp=stats")
        self.assertEqual((r.status_code, error_code(r)), (400, "InvalidQueryParameterValue"),
                         r.text)
        self.assertIn("<QueryParameterName>comp</QueryParameterName>", r.text)
        self.assertIn("secondary", r.text)


class PageRanges(blobtest.BlobCase):
    def test_range_past_the_end(self):
        b = self.container.get_blob_client("disk")
        b.create_page_blob(2048)
        b.upload_page(b"\x01" * 512, offset=512, length=512)
        # Ending past the end: cut at the end.
        self.assertEqual(b.get_page_ranges(offset=0, length=8192)[0],
                         [{"start": 512, "end": 1023}])
        # Starting at or past the end: 416, as Get Blob answers.
        for off in (2048, 4096):
            with self.assertRaises(HttpResponseError) as cm:
                b.get_page_ranges(offset=off, length=512)
            self.assertAzureError(cm, 416, "InvalidRange")
        r = raw("GET", b.url, {"x-ms-range": "bytes=4096-"}, "comp=pagelist")
        self.assertEqual((r.status_code, error_code(r)), (416, "InvalidRange"))


class BlockIds(blobtest.BlobCase):
    def test_one_length_per_blob(self):
        """Every block id of a blob has one length: a block of another length
        than those staged or committed is refused, as is such a list."""
        b = self.container.get_blob_client("blocks")
        b.stage_block("aaaa", b"1")  # 3 bytes
        with self.assertRaises(HttpResponseError) as cm:
            b.stage_block("aaaaaaaa", b"2")  # 6 bytes, beside an uncommitted 3
        self.assertAzureError(cm, 400, "InvalidBlobOrBlock")
        b.commit_block_list(["aaaa"])
        # Against the committed block too.
        with self.assertRaises(HttpResponseError) as cm:
            b.stage_block("bbbbbbbb", b"2")
        self.assertAzureError(cm, 400, "InvalidBlobOrBlock")
        b.stage_block("bbbb", b"2")
        b.commit_block_list(["aaaa", "bbbb"])
        self.assertEqual(b.download_blob().readall(), b"12")
        # A list that mixes lengths is refused whatever it names.
        c = self.container.get_blob_client("list")
        c.stage_block("cccc", b"3")
        with self.assertRaises(HttpResponseError) as cm:
            c.commit_block_list(["cccc", "dddddddd"])
        self.assertAzureError(cm, 400, "InvalidBlobOrBlock")
        # Put Blob replaces the blocks: ids of another length are then fine.
        b.upload_blob(b"whole", overwrite=True)
        b.stage_block("eeeeeeee", b"4")
        b.commit_block_list(["eeeeeeee"])
        self.assertEqual(b.download_blob().readall(), b"4")


class MetadataSize(blobtest.BlobCase):
    def test_more_than_8_kib(self):
        """Metadata over 8 KiB (names and values) is 400 MetadataTooLarge on
        every operation that takes it, blobs and containers alike."""
        big = {"k%02d" % i: "v" * 997 for i in range(9)}  # 9 * 1000 bytes
        fits = {"k%02d" % i: "v" * 1021 for i in range(8)}  # 8 * 1024 bytes
        b = self.container.upload_blob("m", b"x", metadata=fits)
        self.assertEqual(b.get_blob_properties().metadata, fits)
        calls = [
            lambda: self.container.upload_blob("m2", b"x", metadata=big),
            lambda: b.set_blob_metadata(big),
            lambda: b.create_snapshot(metadata=big),
            lambda: self.container.get_blob_client("c").start_copy_from_url(b.url, metadata=big),
            lambda: self.container.get_blob_client("a").create_append_blob(metadata=big),
            lambda: self.container.get_blob_client("p").create_page_blob(512, metadata=big),
            lambda: self.svc.create_container(blobtest.fresh_name(), metadata=big),
            lambda: self.container.set_container_metadata(big),
        ]
        b.stage_block("YQ==", b"a")
        calls.append(lambda: b.commit_block_list(["YQ=="], metadata=big))
        for i, call in enumerate(calls):
            with self.assertRaises(HttpResponseError) as cm:
                call()
            self.assertAzureError(cm, 400, "MetadataTooLarge")
        self.assertEqual(b.get_blob_properties().metadata, fits)


class CopyFromUrl(blobtest.BlobCase):
    def test_content_md5_only_when_sent(self):
        """Copy Blob From URL answers Content-MD5 only when the request sent
        x-ms-source-content-md5, which the source's bytes must then match."""
        data = b"copied bytes"
        src = self.container.upload_blob("src", data)
        dst = self.container.get_blob_client("dst")
        sync = {"x-ms-copy-source": src.url + "?" + blobtest.account_sas(),
                "x-ms-requires-sync": "true"}
        r = raw("PUT", dst.url, sync)
        self.assertEqual((r.status_code, r.headers.get("x-ms-copy-status")), (202, "success"),
                         r.text)
        self.assertNotIn("Content-MD5", r.headers)
        r = raw("PUT", dst.url, dict(sync, **{"x-ms-source-content-md5": md5_b64(data)}))
        self.assertEqual(r.status_code, 202, r.text)
        self.assertEqual(r.headers.get("Content-MD5"), md5_b64(data))
        r = raw("PUT", dst.url, dict(sync, **{"x-ms-source-content-md5": md5_b64(b"other")}))
        self.assertEqual((r.status_code, error_code(r)), (400, "Md5Mismatch"))
        self.assertEqual(dst.download_blob().readall(), data)
        # The stored MD5 still travels with the blob.
        self.assertEqual(base64.b64encode(dst.get_blob_properties().content_settings.content_md5)
                         .decode(), md5_b64(data))
