"""Issue 16 item 11 (core side): the server never sends a 200 whose body is
shorter than its Content-Length.  A data file that holds less than the reply
needs (damaged on disk) is a 500 before the status line; a stream that fails
mid-way aborts the connection."""
import os
import unittest

import requests
from azure.storage.blob import BlobServiceClient, generate_blob_sas, BlobSasPermissions
import datetime

from azlite_harness import Azlite

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def data_files():
    out = []
    for root, _, files in os.walk(os.path.join(srv.data_dir, "blobs")):
        out += [os.path.join(root, f) for f in files]
    return out


class ShortReplies(unittest.TestCase):
    def test_truncated_data_file_is_not_a_short_200(self):
        conn = srv.env["AZURE_STORAGE_CONNECTION_STRING"]
        svc = BlobServiceClient.from_connection_string(conn)
        svc.create_container("short")
        before = set(data_files())
        body = os.urandom(4 << 20)
        svc.get_blob_client("short", "b").upload_blob(body)
        new = [f for f in data_files() if f not in before and os.path.getsize(f) >= len(body)]
        self.assertEqual(len(new), 1, new)
        with open(new[0], "r+b") as f:
            f.truncate(len(body) // 2)
        p = dict(x.split("=", 1) for x in conn.strip(";").split(";") if x)
        sas = generate_blob_sas(p["AccountName"], "short", "b", account_key=p["AccountKey"],
                                permission=BlobSasPermissions(read=True),
                                expiry=datetime.datetime.now(datetime.timezone.utc)
                                + datetime.timedelta(hours=1))
        url = svc.get_blob_client("short", "b").url + "?" + sas
        r = requests.get(url, timeout=30, stream=True)
        self.assertEqual(r.status_code, 500, "status %d, %d bytes" % (r.status_code,
                                                                     len(r.raw.read())))
        self.assertEqual(r.headers.get("x-ms-error-code"), "InternalError")
        self.assertTrue(srv.alive())


if __name__ == "__main__":
    unittest.main()
