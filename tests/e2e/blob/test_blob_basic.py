"""Blob Storage through Debian's azure-storage-blob (12.15), as an application
would use it: containers, uploads and downloads (single put, blocks, ranges),
properties and metadata, listings (flat, hierarchical, paged), conditional
requests, ACLs and public access, SAS, service properties, Azure's error codes,
and that an acknowledged write survives kill -9.

Always runs against the azlite it starts, whatever the environment names."""
import base64
import datetime
import hashlib
import os
import unittest
import uuid

from azure.core import MatchConditions
from azure.core.exceptions import (HttpResponseError, ResourceExistsError,
                                   ResourceModifiedError, ResourceNotFoundError)
from azure.core.pipeline.transport import HttpRequest
from azure.storage.blob import (AccessPolicy, BlobBlock, BlobClient, BlobSasPermissions,
                                BlobServiceClient, ContainerClient, ContentSettings,
                                CorsRule, generate_blob_sas)

srv = None
CONN = None


def setUpModule():
    global srv, CONN
    from azlite_harness import Azlite
    srv = Azlite().start()
    CONN = srv.env["AZURE_STORAGE_CONNECTION_STRING"]


def tearDownModule():
    if srv:
        srv.cleanup()


def conn_parts(conn):
    return dict(p.split("=", 1) for p in conn.strip(";").split(";") if p)


def service(**kw):
    return BlobServiceClient.from_connection_string(CONN, **kw)


def fresh_name(prefix="c"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def _crc64_table():
    poly = 0x9A6C9329AC4BC9B5
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_CRC64 = _crc64_table()


def crc64_le(data):
    """Azure Storage's CRC64 as x-ms-content-crc64 carries it (8 bytes, little-endian)."""
    c = 0xFFFFFFFFFFFFFFFF
    t = _CRC64
    for byte in data:
        c = t[(c ^ byte) & 0xFF] ^ (c >> 8)
    return (c ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


class BlobTestCase(unittest.TestCase):
    def setUp(self):
        self.svc = service()
        self.container = self.svc.create_container(fresh_name())

    def tearDown(self):
        try:
            self.container.delete_container()
        except ResourceNotFoundError:
            pass


class Containers(BlobTestCase):
    def test_create_twice_is_container_already_exists(self):
        with self.assertRaises(ResourceExistsError) as cm:
            self.svc.create_container(self.container.container_name)
        self.assertEqual(cm.exception.error_code, "ContainerAlreadyExists")
        self.assertEqual(cm.exception.status_code, 409)

    def test_invalid_names(self):
        with self.assertRaises(HttpResponseError) as cm:
            self.svc.create_container("Bad_Name")
        self.assertEqual(cm.exception.error_code, "InvalidResourceName")
        self.assertEqual(cm.exception.status_code, 400)
        with self.assertRaises(HttpResponseError) as cm:
            self.svc.create_container("ab")
        self.assertEqual(cm.exception.error_code, "OutOfRangeInput")
        with self.assertRaises(HttpResponseError) as cm:
            self.svc.create_container("a--b")
        self.assertEqual(cm.exception.error_code, "InvalidResourceName")

    def test_properties_and_metadata(self):
        props = self.container.get_container_properties()
        self.assertTrue(props.etag.startswith('"0x8D'), props.etag)
        self.assertIsInstance(props.last_modified, datetime.datetime)
        self.assertEqual(props.metadata, {})
        self.assertEqual(props.lease.status, "unlocked")
        self.container.set_container_metadata({"Project": "alpha", "owner": "me"})
        props2 = self.container.get_container_properties()
        self.assertEqual(props2.metadata, {"Project": "alpha", "owner": "me"})
        self.assertNotEqual(props2.etag, props.etag)

    def test_delete_then_missing(self):
        c = self.svc.create_container(fresh_name())
        c.upload_blob("x", b"data")
        c.delete_container()
        with self.assertRaises(ResourceNotFoundError) as cm:
            c.get_container_properties()
        self.assertEqual(cm.exception.error_code, "ContainerNotFound")
        with self.assertRaises(ResourceNotFoundError) as cm:
            c.delete_container()
        self.assertEqual(cm.exception.error_code, "ContainerNotFound")
        with self.assertRaises(ResourceNotFoundError) as cm:
            c.upload_blob("y", b"data")
        self.assertEqual(cm.exception.error_code, "ContainerNotFound")

    def test_containers_take_only_date_conditions(self):
        """ETag conditions on containers are 400 UnsupportedHeader (Set Container
        Metadata takes only If-Modified-Since), and change nothing."""
        c = self.container
        etag = c.get_container_properties().etag
        past = "Mon, 01 Jan 2024 00:00:00 GMT"
        cases = [("DELETE", "?restype=container", {"If-Match": etag}, "If-Match"),
                 ("PUT", "?restype=container&comp=lease",
                  {"If-None-Match": '"x"', "x-ms-lease-action": "acquire",
                   "x-ms-lease-duration": "-1"}, "If-None-Match"),
                 ("PUT", "?restype=container&comp=metadata",
                  {"If-Unmodified-Since": past, "x-ms-meta-k": "v"}, "If-Unmodified-Since")]
        for method, query, headers, name in cases:
            headers = dict(headers, **{"x-ms-version": "2021-12-02", "Content-Length": "0"})
            resp = c._pipeline.run(HttpRequest(method, c.url + query, headers=headers)) \
                .http_response
            self.assertEqual(resp.status_code, 400, (name, resp.body()))
            self.assertEqual(resp.headers["x-ms-error-code"], "UnsupportedHeader")
            self.assertIn(("<HeaderName>%s</HeaderName>" % name).encode(), resp.body())
        props = c.get_container_properties()
        self.assertEqual((props.etag, props.metadata, props.lease.state),
                         (etag, {}, "available"))

    def test_list_containers_prefix_paging_metadata(self):
        tag = fresh_name("lc")
        names = sorted("%s-%d" % (tag, i) for i in range(5))
        for i, n in enumerate(names):
            self.svc.create_container(n, metadata={"i": str(i)})
        try:
            got = [c.name for c in self.svc.list_containers(name_starts_with=tag)]
            self.assertEqual(got, names)
            pages = list(self.svc.list_containers(name_starts_with=tag,
                                                  results_per_page=2).by_page())
            sizes = [len(list(p)) for p in pages]
            self.assertEqual(sizes, [2, 2, 1])
            with_meta = list(self.svc.list_containers(name_starts_with=tag,
                                                      include_metadata=True))
            self.assertEqual([c.metadata["i"] for c in with_meta], ["0", "1", "2", "3", "4"])
        finally:
            for n in names:
                self.svc.delete_container(n)

    def test_acl_and_public_access(self):
        start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
        expiry = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
        policy = AccessPolicy(permission="r", start=start, expiry=expiry)
        self.container.set_container_access_policy({"readers": policy}, public_access="blob")
        acl = self.container.get_container_access_policy()
        self.assertEqual(acl["public_access"], "blob")
        ids = acl["signed_identifiers"]
        self.assertEqual([i.id for i in ids], ["readers"])
        self.assertEqual(ids[0].access_policy.permission, "r")
        self.assertTrue(ids[0].access_policy.start.startswith("2024-01-01T00:00:00"))

        self.container.upload_blob("public.txt", b"hello world")
        anon = BlobClient(self.container.url.rsplit("/", 1)[0], self.container.container_name,
                          "public.txt")
        self.assertEqual(anon.download_blob().readall(), b"hello world")
        # "blob" access does not open listings.
        anon_c = ContainerClient(self.container.url.rsplit("/", 1)[0],
                                 self.container.container_name)
        with self.assertRaises(HttpResponseError) as cm:
            list(anon_c.list_blobs())
        self.assertEqual(cm.exception.error_code, "ResourceNotFound")
        # Private again: anonymous reads now look like missing blobs.
        self.container.set_container_access_policy({})
        with self.assertRaises(ResourceNotFoundError) as cm:
            anon.download_blob().readall()
        self.assertEqual(cm.exception.status_code, 404)
        self.assertEqual(self.container.get_container_access_policy()["public_access"], None)


class Uploads(BlobTestCase):
    def test_small_round_trip_and_properties(self):
        data = b"hello, azlite"
        b = self.container.upload_blob(
            "dir/hello.txt", data, metadata={"Color": "blue"},
            content_settings=ContentSettings(content_type="text/plain", cache_control="no-cache"))
        self.assertEqual(self.container.download_blob("dir/hello.txt").readall(), data)
        p = b.get_blob_properties()
        self.assertEqual(p.size, len(data))
        self.assertEqual(p.blob_type, "BlockBlob")
        self.assertEqual(p.content_settings.content_type, "text/plain")
        self.assertEqual(p.content_settings.cache_control, "no-cache")
        self.assertEqual(bytes(p.content_settings.content_md5), hashlib.md5(data).digest())
        self.assertEqual(p.metadata, {"Color": "blue"})
        self.assertTrue(p.etag.startswith('"0x8D'))
        self.assertEqual(p.blob_tier, "Hot")
        self.assertTrue(p.blob_tier_inferred)

    def test_empty_blob(self):
        self.container.upload_blob("empty", b"")
        self.assertEqual(self.container.download_blob("empty").readall(), b"")
        self.assertEqual(self.container.get_blob_client("empty").get_blob_properties().size, 0)

    def test_large_blob_in_blocks_and_ranges(self):
        svc = service(max_single_put_size=1024 * 1024, max_block_size=512 * 1024,
                      max_single_get_size=1024 * 1024, max_chunk_get_size=700 * 1024)
        c = svc.get_container_client(self.container.container_name)
        data = os.urandom(3 * 1024 * 1024 + 12345)
        c.upload_blob("big.bin", data)
        blocks, uncommitted = c.get_blob_client("big.bin").get_block_list("all")
        self.assertEqual(len(blocks), 7)
        self.assertEqual(uncommitted, [])
        self.assertEqual(sum(b.size for b in blocks), len(data))
        self.assertEqual(c.download_blob("big.bin").readall(), data)
        self.assertEqual(c.download_blob("big.bin", offset=524280, length=20).readall(),
                         data[524280:524300])
        self.assertEqual(c.download_blob("big.bin", offset=len(data) - 10).readall(),
                         data[-10:])
        with self.assertRaises(HttpResponseError) as cm:
            c.download_blob("big.bin", offset=len(data) + 1, length=5).readall()
        self.assertEqual(cm.exception.status_code, 416)
        self.assertEqual(cm.exception.error_code, "InvalidRange")

    def test_medium_blob_single_put_spooled(self):
        data = os.urandom(600 * 1024)  # beyond the in-memory body limit
        self.container.upload_blob("mid.bin", data)
        self.assertEqual(self.container.download_blob("mid.bin").readall(), data)
        got = self.container.download_blob("mid.bin", offset=300000, length=1000).readall()
        self.assertEqual(got, data[300000:301000])

    def test_overwrite_and_no_overwrite(self):
        self.container.upload_blob("o", b"one")
        with self.assertRaises(ResourceExistsError) as cm:
            self.container.upload_blob("o", b"two")
        self.assertEqual(cm.exception.error_code, "BlobAlreadyExists")
        self.container.upload_blob("o", b"three", overwrite=True)
        self.assertEqual(self.container.download_blob("o").readall(), b"three")

    def test_blocks_staged_committed_and_listed(self):
        b = self.container.get_blob_client("blocks")
        ids = [base64.b64encode(("%04d" % i).encode()).decode() for i in range(3)]
        for i, bid in enumerate(ids):
            b.stage_block(bid, ("part%d-" % i).encode())
        committed, uncommitted = b.get_block_list("all")
        self.assertEqual(committed, [])
        self.assertEqual([u.id for u in uncommitted], ids)
        names = [x.name for x in self.container.list_blobs(include=["uncommittedblobs"])]
        self.assertIn("blocks", names)
        self.assertNotIn("blocks", [x.name for x in self.container.list_blobs()])
        b.commit_block_list([BlobBlock(ids[2]), BlobBlock(ids[0])])
        self.assertEqual(b.download_blob().readall(), b"part2-part0-")
        committed, uncommitted = b.get_block_list("all")
        self.assertEqual([x.id for x in committed], [ids[2], ids[0]])
        self.assertEqual(uncommitted, [])  # committing discards the rest
        # Re-commit using the committed list plus a new block.
        new = base64.b64encode(b"0009").decode()
        b.stage_block(new, b"tail")
        b.commit_block_list([BlobBlock(ids[0]), BlobBlock(new)])
        self.assertEqual(b.download_blob().readall(), b"part0-tail")
        with self.assertRaises(HttpResponseError) as cm:
            b.commit_block_list([BlobBlock(base64.b64encode(b"nope").decode())])
        self.assertEqual(cm.exception.error_code, "InvalidBlockList")

    def test_md5_mismatch_is_rejected(self):
        b = self.container.get_blob_client("md5")
        bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
        req = HttpRequest("PUT", b.url, headers={"x-ms-blob-type": "BlockBlob",
                                                 "x-ms-version": "2021-12-02",
                                                 "Content-MD5": bad, "Content-Length": "7",
                                                 "Content-Type": "application/octet-stream"},
                          data=b"payload")
        resp = b._pipeline.run(req).http_response
        self.assertEqual(resp.status_code, 400)
        self.assertEqual(resp.headers["x-ms-error-code"], "Md5Mismatch")
        self.assertIn(b"<Code>Md5Mismatch</Code>", resp.body())
        with self.assertRaises(ResourceNotFoundError):
            b.get_blob_properties()
        # The SDK's own validated upload passes.
        b.upload_blob(b"payload", validate_content=True)
        self.assertEqual(b.download_blob(validate_content=True).readall(), b"payload")

    def test_block_digests_follow_the_version(self):
        """From 2019-02-02 a block, append block or page reports Content-MD5 only
        when the request sent one, x-ms-content-crc64 otherwise; Put Blob always
        reports (and stores) the MD5 it computed."""
        data = os.urandom(1 << 20)  # past the in-memory limit: spooled to a file
        md5 = hashlib.md5(data).digest()
        b = self.container.get_blob_client("digests")
        got = b.stage_block(base64.b64encode(b"b1").decode(), data)
        self.assertEqual(got.get("content_crc64"), crc64_le(data))
        self.assertIsNone(got.get("content_md5"))
        got = b.stage_block(base64.b64encode(b"b2").decode(), data, validate_content=True)
        self.assertEqual(got.get("content_md5"), md5)
        self.assertIsNone(got.get("content_crc64"))
        # An older version always answers with the MD5.  (The SDK base64-encodes
        # the ids it is given once more; raw requests do the same.)
        bid = base64.b64encode(base64.b64encode(b"b3")).decode()
        req = HttpRequest("PUT", b.url + "?comp=block&blockid=" + bid,
                          headers={"x-ms-version": "2018-11-09", "Content-Length": str(len(data))},
                          data=data)
        resp = b._pipeline.run(req).http_response
        self.assertEqual(resp.status_code, 201, resp.body())
        self.assertEqual(resp.headers.get("Content-MD5"), base64.b64encode(md5).decode())
        self.assertNotIn("x-ms-content-crc64", resp.headers)
        # A wrong CRC64 stores nothing.
        bad = base64.b64encode(crc64_le(b"other")).decode()
        bid = base64.b64encode(base64.b64encode(b"b4")).decode()
        req = HttpRequest("PUT", b.url + "?comp=block&blockid=" + bid,
                          headers={"x-ms-version": "2021-12-02", "x-ms-content-crc64": bad,
                                   "Content-Length": str(len(data))}, data=data)
        resp = b._pipeline.run(req).http_response
        self.assertEqual(resp.status_code, 400)
        self.assertEqual(resp.headers["x-ms-error-code"], "Crc64Mismatch")
        _, uncommitted = b.get_block_list("uncommitted")
        self.assertEqual(sorted(x.id for x in uncommitted),
                         sorted(base64.b64encode(x).decode() for x in (b"b1", b"b2", b"b3")))
        a = self.container.get_blob_client("digests-append")
        a.create_append_blob()
        got = a.append_block(data[:4096])
        self.assertEqual(got.get("content_crc64"), crc64_le(data[:4096]))
        self.assertIsNone(got.get("content_md5"))
        got = self.container.get_blob_client("digests-put").upload_blob(data)
        self.assertEqual(got.get("content_md5"), md5)
        self.assertEqual(self.container.get_blob_client("digests-put").get_blob_properties()
                         .content_settings.content_md5, bytearray(md5))

    def test_set_properties_metadata_delete(self):
        b = self.container.upload_blob("p", b"abc", metadata={"a": "1"})
        b.set_blob_metadata({"b": "2"})
        self.assertEqual(b.get_blob_properties().metadata, {"b": "2"})
        b.set_http_headers(ContentSettings(content_type="application/json",
                                           content_language="en"))
        p = b.get_blob_properties()
        self.assertEqual(p.content_settings.content_type, "application/json")
        self.assertEqual(p.content_settings.content_language, "en")
        self.assertEqual(p.metadata, {"b": "2"})
        b.delete_blob()
        with self.assertRaises(ResourceNotFoundError) as cm:
            b.get_blob_properties()
        self.assertEqual(cm.exception.status_code, 404)
        with self.assertRaises(ResourceNotFoundError) as cm:
            b.download_blob()
        self.assertEqual(cm.exception.error_code, "BlobNotFound")

    def test_names_with_odd_characters(self):
        for name in ["a b/c d.txt", "unicodé/ñ.txt", "q?x#y&z=1", "x%2Fy"]:
            self.container.upload_blob(name, name.encode())
            self.assertEqual(self.container.download_blob(name).readall(), name.encode())
        listed = sorted(x.name for x in self.container.list_blobs())
        self.assertEqual(listed, sorted(["a b/c d.txt", "unicodé/ñ.txt", "q?x#y&z=1", "x%2Fy"]))


class Conditions(BlobTestCase):
    def test_etag_and_date_conditions(self):
        b = self.container.upload_blob("c", b"v1")
        etag = b.get_blob_properties().etag
        # A 304 carries x-ms-error-code ConditionNotMet, which this SDK raises as an
        # HttpResponseError (ResourceModifiedError) with status 304.
        with self.assertRaises(HttpResponseError) as cm:
            b.download_blob(etag=etag, match_condition=MatchConditions.IfModified).readall()
        self.assertEqual(cm.exception.status_code, 304)
        self.assertEqual(
            b.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified).readall(),
            b"v1")
        with self.assertRaises(ResourceModifiedError) as cm:
            b.upload_blob(b"v2", overwrite=True, etag='"0x8D0000000000000"',
                          match_condition=MatchConditions.IfNotModified)
        self.assertEqual(cm.exception.error_code, "ConditionNotMet")
        b.upload_blob(b"v2", overwrite=True, etag=etag,
                      match_condition=MatchConditions.IfNotModified)
        self.assertEqual(b.download_blob().readall(), b"v2")
        future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
        with self.assertRaises(HttpResponseError) as cm:
            b.get_blob_properties(if_modified_since=future)
        self.assertEqual(cm.exception.status_code, 304)
        past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
        with self.assertRaises(ResourceModifiedError):
            b.set_blob_metadata({"x": "1"}, if_unmodified_since=past)


class Listings(BlobTestCase):
    NAMES = ["a.txt", "dir1/x.txt", "dir1/y.txt", "dir1/sub/z.txt", "dir2/w.txt", "zz.txt"]

    def setUp(self):
        super().setUp()
        for n in self.NAMES:
            self.container.upload_blob(n, n.encode(), metadata={"n": str(len(n))})

    def test_flat_prefix_metadata(self):
        self.assertEqual([b.name for b in self.container.list_blobs()], sorted(self.NAMES))
        self.assertEqual([b.name for b in self.container.list_blobs(name_starts_with="dir1/")],
                         ["dir1/sub/z.txt", "dir1/x.txt", "dir1/y.txt"])
        items = list(self.container.list_blobs(include=["metadata"]))
        self.assertEqual(items[0].metadata, {"n": "5"})
        self.assertEqual(items[0].size, 5)
        self.assertEqual(items[0].blob_type, "BlockBlob")

    def test_hierarchy(self):
        # The SDK yields a page's prefixes before its blobs.
        top = [(x.name, type(x).__name__) for x in self.container.walk_blobs()]
        self.assertEqual(top, [("dir1/", "BlobPrefix"), ("dir2/", "BlobPrefix"),
                               ("a.txt", "BlobProperties"), ("zz.txt", "BlobProperties")])
        names = [x.name for x in self.container.walk_blobs(name_starts_with="dir1/")]
        self.assertEqual(names, ["dir1/sub/", "dir1/x.txt", "dir1/y.txt"])
        under = self.container.walk_blobs(name_starts_with="dir1/sub/")
        self.assertEqual([x.name for x in under], ["dir1/sub/z.txt"])

    def test_paging(self):
        pages = list(self.container.list_blobs(results_per_page=4).by_page())
        got = [[b.name for b in p] for p in pages]
        self.assertEqual(got, [sorted(self.NAMES)[:4], sorted(self.NAMES)[4:]])
        pages = self.container.walk_blobs(results_per_page=2).by_page()
        got = [sorted(x.name for x in p) for p in pages]
        self.assertEqual(got, [["a.txt", "dir1/"], ["dir2/", "zz.txt"]])


class Service(unittest.TestCase):
    def test_account_information_and_properties(self):
        svc = service()
        info = svc.get_account_information()
        self.assertEqual(info["account_kind"], "StorageV2")
        self.assertTrue(info["sku_name"].startswith("Standard"))
        rule = CorsRule(["https://example.com"], ["GET", "PUT"], max_age_in_seconds=60)
        svc.set_service_properties(cors=[rule])
        props = svc.get_service_properties()
        self.assertEqual(len(props["cors"]), 1)
        self.assertEqual(props["cors"][0].allowed_origins, "https://example.com")
        self.assertEqual(props["cors"][0].max_age_in_seconds, 60)
        self.assertFalse(props["hour_metrics"].enabled)
        svc.set_service_properties(cors=[])
        self.assertEqual(svc.get_service_properties()["cors"], [])


class Sas(BlobTestCase):
    def test_read_only_sas(self):
        parts = conn_parts(CONN)
        self.container.upload_blob("s.txt", b"secret")
        sas = generate_blob_sas(parts["AccountName"], self.container.container_name, "s.txt",
                                account_key=parts["AccountKey"],
                                permission=BlobSasPermissions(read=True),
                                expiry=datetime.datetime.utcnow() + datetime.timedelta(hours=1))
        url = self.container.get_blob_client("s.txt").url + "?" + sas
        ro = BlobClient.from_blob_url(url)
        self.assertEqual(ro.download_blob().readall(), b"secret")
        with self.assertRaises(HttpResponseError) as cm:
            ro.upload_blob(b"overwrite", overwrite=True)
        self.assertEqual(cm.exception.status_code, 403)
        self.assertEqual(cm.exception.error_code, "AuthorizationPermissionMismatch")

    def test_wrong_key_is_authentication_failed(self):
        parts = conn_parts(CONN)
        bad = CONN.replace(parts["AccountKey"], base64.b64encode(b"x" * 64).decode())
        svc = BlobServiceClient.from_connection_string(bad)
        with self.assertRaises(HttpResponseError) as cm:
            svc.get_container_client(self.container.container_name).get_container_properties()
        self.assertEqual(cm.exception.status_code, 403)
        self.assertEqual(cm.exception.error_code, "AuthenticationFailed")


class CrashSafety(unittest.TestCase):
    def test_acknowledged_writes_survive_kill9(self):
        c = service().create_container(fresh_name("crash"))
        small, big = os.urandom(1000), os.urandom(2 * 1024 * 1024 + 7)
        c.upload_blob("small", small)
        c.upload_blob("big", big)
        c.get_blob_client("staged").stage_block(base64.b64encode(b"b1").decode(), b"staged")
        srv.kill9()
        srv.start()
        c = service().get_container_client(c.container_name)
        self.assertEqual(c.download_blob("small").readall(), small)
        self.assertEqual(c.download_blob("big").readall(), big)
        _, unc = c.get_blob_client("staged").get_block_list("uncommitted")
        self.assertEqual([u.size for u in unc], [6])
        # Overwrites and deletes after the restart free the old data files.
        c.upload_blob("big", b"short", overwrite=True)
        c.delete_blob("small")
        self.assertEqual(c.download_blob("big").readall(), b"short")
        c.delete_container()


if __name__ == "__main__":
    unittest.main()
