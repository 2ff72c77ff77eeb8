"""Issue 16 item 13 (core side): oversized headers get Azure's error body in
the listener's style, never libmicrohttpd's bare 431.  59 KiB of metadata
reaches the blob service, which refuses it as Azure does (400
MetadataTooLarge); headers past what the front end takes are 400
RequestHeaderTooLarge, as Storage XML on the blob port and ARM JSON on the
management port."""
import unittest

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient
import requests

from azlite_harness import Azlite

srv = None
svc = None


def setUpModule():
    global srv, svc
    srv = Azlite().start()
    svc = BlobServiceClient.from_connection_string(srv.env["AZURE_STORAGE_CONNECTION_STRING"])
    svc.create_container("meta")


def tearDownModule():
    srv.cleanup()


class LargeHeaders(unittest.TestCase):
    def test_59k_of_metadata_is_metadata_too_large(self):
        meta = {"m%03d" % i: "v" * 500 for i in range(118)}  # 59 KiB
        with self.assertRaises(HttpResponseError) as cm:
            svc.get_blob_client("meta", "b").upload_blob(b"x", metadata=meta)
        self.assertEqual(cm.exception.status_code, 400)
        self.assertEqual(cm.exception.error_code, "MetadataTooLarge")
        self.assertFalse(svc.get_blob_client("meta", "b").exists())

    def test_headers_past_the_limit_on_the_blob_port(self):
        url = svc.get_container_client("meta").url + "?restype=container"
        r = requests.get(url, headers={"x-ms-meta-big": "v" * (80 * 1024)}, timeout=30)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.headers.get("x-ms-error-code"), "RequestHeaderTooLarge")
        self.assertIn("<Code>RequestHeaderTooLarge</Code>", r.text)

    def test_headers_past_the_limit_on_the_management_port(self):
        r = srv.http("GET", "/subscriptions?api-version=2022-09-01",
                     headers={"x-big": "v" * (80 * 1024)})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"]["code"], "RequestHeaderTooLarge")


if __name__ == "__main__":
    unittest.main()
