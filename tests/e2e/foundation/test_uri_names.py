"""Issue 16 item 6: a decoded name is the name, whole.  A NUL (%00) would cut
it short and invalid UTF-8 (%ff%fe, overlong %c0%af) would make different
names collide, so every listener refuses both with 400 before any handler,
in the path and in query parameter names and values."""
import datetime
import unittest

import requests
from azure.storage.blob import (AccountSasPermissions, BlobServiceClient, ResourceTypes,
                                generate_account_sas)

from azlite_harness import Azlite

srv = None
svc = None
SAS = None
BAD = ("%00", "%ff%fe", "%c0%af", "%ed%a0%80", "%f4%90%80%80", "%e2%82")


def setUpModule():
    global srv, svc, SAS
    srv = Azlite().start()
    conn = srv.env["AZURE_STORAGE_CONNECTION_STRING"]
    svc = BlobServiceClient.from_connection_string(conn)
    svc.create_container("cnt")
    svc.get_blob_client("cnt", "report.csv").upload_blob(b"the real report")
    p = dict(x.split("=", 1) for x in conn.strip(";").split(";") if x)
    SAS = generate_account_sas(p["AccountName"], p["AccountKey"],
                               ResourceTypes(service=True, container=True, object=True),
                               AccountSasPermissions.from_string("racwdl"),
                               datetime.datetime.now(datetime.timezone.utc)
                               + datetime.timedelta(hours=1))


def tearDownModule():
    srv.cleanup()


def blob_url(path):
    return svc.url.rstrip("/") + path


def sub():
    return "/subscriptions/" + srv.env["AZURE_SUBSCRIPTION_ID"]


class BlobNames(unittest.TestCase):
    def storage_error(self, r, code):
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.headers.get("x-ms-error-code"), code, r.text)
        self.assertIn("<Code>%s</Code>" % code, r.text)

    def test_nul_does_not_overwrite_another_blob(self):
        r = requests.put(blob_url("/cnt/report.csv%00.tmp?" + SAS), data=b"overwritten",
                         headers={"x-ms-blob-type": "BlockBlob"}, timeout=30)
        self.storage_error(r, "InvalidUri")
        self.assertEqual(svc.get_blob_client("cnt", "report.csv").download_blob().readall(),
                         b"the real report")
        names = [b.name for b in svc.get_container_client("cnt").list_blobs()]
        self.assertEqual(names, ["report.csv"])

    def test_invalid_utf8_names_refused(self):
        for bad in BAD:
            for path in ("/cnt/x" + bad + "y", "/cn" + bad + "t", "/cnt/dir/" + bad):
                r = requests.put(blob_url(path + "?" + SAS), data=b"x",
                                 headers={"x-ms-blob-type": "BlockBlob"}, timeout=30)
                self.storage_error(r, "InvalidUri")
        names = [b.name for b in svc.get_container_client("cnt").list_blobs()]
        self.assertEqual(names, ["report.csv"])
        # A valid multi-byte name is a name.
        r = requests.put(blob_url("/cnt/%C3%A9t%C3%A9?" + SAS), data=b"x",
                         headers={"x-ms-blob-type": "BlockBlob"}, timeout=30)
        self.assertEqual(r.status_code, 201, r.text)
        svc.get_blob_client("cnt", "\u00e9t\u00e9").delete_blob()

    def test_batch_and_copy_parts(self):
        # Sub-requests (Blob Batch parts, copy sources) are refused the same way.
        cc = svc.get_container_client("cnt")
        for part in cc.delete_blobs("report.csv\x00.tmp", raise_on_any_failure=False):
            self.assertEqual(part.status_code, 400)
        src = blob_url("/cnt/report.csv%00.tmp?" + SAS)
        r = requests.put(blob_url("/cnt/copy?" + SAS), headers={"x-ms-copy-source": src},
                         timeout=30)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(svc.get_blob_client("cnt", "report.csv").download_blob().readall(),
                         b"the real report")
        self.assertEqual([b.name for b in cc.list_blobs()], ["report.csv"])

    def test_query_parameters(self):
        for q in ("comp=list%00x", "comp%00=list", "prefix=%ff%fe", "prefix=%c0%af"):
            r = requests.get(blob_url("/cnt?restype=container&" + q + "&" + SAS), timeout=30)
            self.storage_error(r, "InvalidQueryParameterValue")


class ArmNames(unittest.TestCase):
    def arm_error(self, r):
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"]["code"], "InvalidRequestUri", r.text)

    def test_nul_in_group_name(self):
        r = srv.http("PUT", sub() + "/resourcegroups/ab%00cd?api-version=2021-04-01",
                     json={"location": "eastus"})
        self.arm_error(r)
        self.assertEqual(srv.http("HEAD", sub() + "/resourcegroups/ab?api-version=2021-04-01")
                         .status_code, 404)

    def test_invalid_utf8_group_names(self):
        for bad in BAD:
            r = srv.http("PUT", sub() + "/resourcegroups/g" + bad + "?api-version=2021-04-01",
                         json={"location": "eastus"})
            self.arm_error(r)
        names = [g["name"] for g in srv.http(
            "GET", sub() + "/resourcegroups?api-version=2021-04-01").json()["value"]]
        self.assertFalse([n for n in names if n.startswith("g")], names)

    def test_query_parameters(self):
        for q in ("api-version=2021-04-01%00", "api-version=2021-04-01&x%00=1",
                  "api-version=2021-04-01&$filter=%ff%fe"):
            self.arm_error(srv.http("GET", sub() + "/resourcegroups?" + q))

    def test_unrouted_invalid_utf8_path_is_answered(self):
        """Found by fuzz_server: an error message quoting a raw 0x94 byte made the JSON
        error body fail to render and the server crash."""
        r = srv.http("POST", sub() + "/resourceGroups/rg1/provide%94s/Microsoft.Storage/"
                     "storageAccounts/x/listKeys?api-version=2022-09-01")
        self.assertEqual(r.status_code, 400, r.text)
        r.json()  # a well-formed JSON body
        self.assertTrue(srv.alive())

    def test_token_endpoint(self):
        # Every listener and route style, anonymous ones included.
        r = requests.get(srv.mgmt_url + "/adfs%00/.well-known/openid-configuration",
                         verify=srv.ca, timeout=30)
        self.assertEqual(r.status_code, 400, r.text)


if __name__ == "__main__":
    unittest.main()
