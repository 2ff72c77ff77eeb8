"""Blob Batch (delete and set tier, with Shared Key and with SAS, partial
failures) and CORS (preflight OPTIONS answered from the service properties'
rules, 403 CorsPreflightFailure, CORS headers on actual requests)."""
import re

import requests
from azure.storage.blob._shared.response_handlers import PartialBatchErrorException
from azure.storage.blob import (ContainerClient, ContainerSasPermissions, CorsRule,
                                StandardBlobTier, generate_container_sas)

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


class Batch(blobtest.BlobCase):
    def test_delete_many_with_one_missing(self):
        for n in ("a", "b", "dir/c"):
            self.container.upload_blob(n, b"x")
        res = list(self.container.delete_blobs("a", "dir/c", "missing", raise_on_any_failure=False))
        self.assertEqual([r.status_code for r in res], [202, 202, 404])
        self.assertEqual(res[2].headers["x-ms-error-code"], "BlobNotFound")
        self.assertEqual([b.name for b in self.container.list_blobs()], ["b"])
        with self.assertRaises(PartialBatchErrorException) as cm:
            self.container.delete_blobs("b", "gone")
        self.assertEqual([p.status_code for p in cm.exception.parts], [202, 404])
        self.assertEqual(list(self.container.list_blobs()), [])

    def test_delete_sub_requests_keep_their_rules(self):
        b = self.container.upload_blob("leased", b"x")
        lease = b.acquire_lease(lease_duration=-1)
        snap = self.container.upload_blob("snapped", b"x").create_snapshot()
        res = list(self.container.delete_blobs("leased", "snapped", raise_on_any_failure=False))
        self.assertEqual([r.status_code for r in res], [412, 409])
        self.assertEqual([r.headers["x-ms-error-code"] for r in res],
                         ["LeaseIdMissing", "SnapshotsPresent"])
        res = list(self.container.delete_blobs({"name": "leased", "lease_id": lease.id},
                                               "snapped", delete_snapshots="include"))
        self.assertEqual([r.status_code for r in res], [202, 202])
        self.assertEqual(list(self.container.list_blobs(include=["snapshots"])), [])
        self.assertTrue(snap["snapshot"])

    def test_set_tier_batch(self):
        for n in ("t1", "t2"):
            self.container.upload_blob(n, b"x")
        res = list(self.container.set_standard_blob_tier_blobs(StandardBlobTier.Cool, "t1", "t2"))
        self.assertEqual([r.status_code for r in res], [200, 200])
        self.assertEqual({b.name: b.blob_tier for b in self.container.list_blobs()},
                         {"t1": "Cool", "t2": "Cool"})

    def test_batch_with_container_sas(self):
        p = blobtest.conn_parts()
        import datetime
        sas = generate_container_sas(p["AccountName"], self.container.container_name,
                                     account_key=p["AccountKey"],
                                     permission=ContainerSasPermissions(read=True, delete=True,
                                                                        list=True),
                                     expiry=datetime.datetime.now(datetime.timezone.utc)
                                     + datetime.timedelta(hours=1))
        for n in ("s1", "s2"):
            self.container.upload_blob(n, b"x")
        cc = ContainerClient.from_container_url(self.container.url + "?" + sas)
        res = list(cc.delete_blobs("s1", "s2"))
        self.assertEqual([r.status_code for r in res], [202, 202])
        self.assertEqual(list(self.container.list_blobs()), [])

    def test_malformed_batches(self):
        """A body that is no batch Azure runs is still answered 202, with one
        part that carries the error; only a bad Content-Type is a 400."""
        url = "%s?restype=container&comp=batch&%s" % (self.container.url, blobtest.account_sas())
        ct = {"x-ms-version": "2021-12-02", "Content-Type": "multipart/mixed; boundary=b1"}
        name = self.container.container_name

        def parts(r):
            """(status, x-ms-error-code) of each part of a 202 batch answer."""
            self.assertEqual(r.status_code, 202, r.text)
            self.assertTrue(r.headers["Content-Type"].startswith("multipart/mixed; boundary="))
            out = []
            for chunk in r.text.split("--batchresponse")[1:]:
                m = re.search(r"HTTP/1.1 (\d+)", chunk)
                if m:
                    e = re.search(r"x-ms-error-code: (\S+)", chunk)
                    out.append((int(m.group(1)), e.group(1) if e else None))
            return out

        def part(method, target, cid, extra=""):
            return ("--b1\r\nContent-Type: application/http\r\nContent-ID: %d\r\n\r\n"
                    "%s %s HTTP/1.1\r\n%s\r\n" % (cid, method, target, extra))

        r = requests.post(url, data=b"junk", headers=ct, timeout=30)
        self.assertEqual(parts(r), [(400, "InvalidInput")])
        self.assertNotIn("Content-ID", r.text)
        r = requests.post(url, data=b"", headers={"x-ms-version": "2021-12-02",
                                                 "Content-Type": "text/plain"}, timeout=30)
        self.assertEqual((r.status_code, r.headers.get("x-ms-error-code")),
                         (400, "InvalidHeaderValue"))
        self.container.upload_blob("x", b"x")
        cases = [
            (part("DELETE", "/%s/x" % name, 0) +
             part("PUT", "/%s/y?comp=tier" % name, 1, "x-ms-access-tier: Cool\r\n"),
             "AllBatchSubRequestsShouldBeSameApi"),
            (part("GET", "/%s/x" % name, 0), "InvalidInput"),
            (part("DELETE", "/othercontainer/x", 0), "InvalidInput"),
            ("".join(part("DELETE", "/%s/b%d" % (name, i), i) for i in range(257)),
             "ExceedsMaxBatchRequestCount"),
        ]
        for body, code in cases:
            r = requests.post(url, data=(body + "--b1--\r\n").encode(), headers=ct, timeout=30)
            self.assertEqual(parts(r), [(400, code)], code)
        # Nothing ran: x is still there.
        self.assertTrue(self.container.get_blob_client("x").exists())
        # A part's own failure is that part's answer.
        sas = blobtest.account_sas()
        body = (part("DELETE", "/%s/x?%s" % (name, sas), 0) +
                part("DELETE", "/%s/missing?%s" % (name, sas), 1))
        r = requests.post(url, data=(body + "--b1--\r\n").encode(), headers=ct, timeout=30)
        self.assertEqual(parts(r), [(202, None), (404, "BlobNotFound")])


class Cors(blobtest.BlobCase):
    def setUp(self):
        super().setUp()
        self.blob = self.container.upload_blob("page.html", b"<html/>", metadata={"color": "red"})
        self.url = self.blob.url

    def tearDown(self):
        self.svc.set_service_properties(cors=[])
        super().tearDown()

    def preflight(self, origin, method, headers=None):
        h = {"Origin": origin, "Access-Control-Request-Method": method}
        if headers:
            h["Access-Control-Request-Headers"] = headers
        return requests.options(self.url, headers=h, timeout=30)

    def test_no_rules_preflight_fails(self):
        r = self.preflight("http://app.example", "GET")
        self.assertEqual((r.status_code, r.headers.get("x-ms-error-code")),
                         (403, "CorsPreflightFailure"))
        self.assertNotIn("Access-Control-Allow-Origin", r.headers)

    def test_preflight_and_actual_requests(self):
        self.svc.set_service_properties(cors=[
            CorsRule(["http://app.example"], ["GET", "PUT"], allowed_headers=["x-ms-meta-*",
                                                                              "content-type"],
                     exposed_headers=["x-ms-meta-*", "x-ms-request-id"], max_age_in_seconds=300),
            CorsRule(["*"], ["HEAD"]),
        ])
        rules = self.svc.get_service_properties()["cors"]
        self.assertEqual([r.allowed_methods for r in rules], ["GET,PUT", "HEAD"])
        r = self.preflight("http://app.example", "PUT", "x-ms-meta-color,content-type")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Access-Control-Allow-Origin"], "http://app.example")
        self.assertEqual(r.headers["Access-Control-Allow-Methods"], "PUT")
        self.assertEqual(r.headers["Access-Control-Allow-Headers"], "x-ms-meta-color,content-type")
        self.assertEqual(r.headers["Access-Control-Max-Age"], "300")
        self.assertEqual(r.headers["Access-Control-Allow-Credentials"], "true")
        for origin, method, headers in (("http://evil.example", "GET", None),
                                        ("http://app.example", "DELETE", None),
                                        ("http://app.example", "GET", "x-custom")):
            r = self.preflight(origin, method, headers)
            self.assertEqual((r.status_code, r.headers.get("x-ms-error-code")),
                             (403, "CorsPreflightFailure"), (origin, method, headers))
        r = requests.options(self.url, headers={"Origin": "http://app.example"}, timeout=30)
        self.assertEqual(r.status_code, 400)

        # An actual (anonymous, so failing) request still carries the CORS headers.
        r = requests.get(self.url, headers={"Origin": "http://app.example"}, timeout=30)
        self.assertEqual(r.headers["Access-Control-Allow-Origin"], "http://app.example")
        # A signed request: the exposed headers name the reply's x-ms-meta-*.
        sas = blobtest.account_sas()
        r = requests.get(self.url + "?" + sas, headers={"Origin": "http://app.example"},
                         timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Access-Control-Allow-Origin"], "http://app.example")
        self.assertEqual(r.headers["Vary"], "Origin")
        exposed = r.headers["Access-Control-Expose-Headers"].lower().split(",")
        self.assertIn("x-ms-meta-color", exposed)
        self.assertIn("x-ms-request-id", exposed)
        r = requests.head(self.url + "?" + sas, headers={"Origin": "http://other.example"},
                          timeout=30)
        self.assertEqual(r.headers["Access-Control-Allow-Origin"], "*")
        r = requests.get(self.url + "?" + sas, timeout=30)
        self.assertNotIn("Access-Control-Allow-Origin", r.headers)
