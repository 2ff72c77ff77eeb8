"""The price catalog replaced with AZLITE_PRICES (what `azlite serve --prices FILE`
sets): the file's prices are the ones usage is priced at and the Retail Prices
endpoint serves; a file that is not a Retail Prices document stops the server
with a message.  Also: blob tier changes and rehydration through
azure-storage-blob are priced (one write operation of the target tier; Archive
data retrieval per GB at the priority's price), and capacity by tier."""
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from azure.identity import ClientSecretCredential
from azure.mgmt.consumption import ConsumptionManagementClient
from azure.storage.blob import BlobServiceClient, StandardBlobTier

from azlite_harness import BIN, Azlite, clean_environ

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HOT = 0.5  # the override's Hot LRS Data Stored price
srv = None
use = None
tmp = None


def setUpModule():
    global srv, use, tmp
    tmp = tempfile.mkdtemp(prefix="azlite-prices-")
    doc = json.load(open(os.path.join(ROOT, "src", "cost", "prices.json")))
    for it in doc["Items"]:
        if it["azliteMeter"] == "Microsoft.Storage/blobs/capacity/Hot":
            it["retailPrice"] = it["unitPrice"] = HOT
    path = os.path.join(tmp, "prices.json")
    json.dump(doc, open(path, "w"))
    srv = Azlite(server_env={"AZLITE_PRICES": path}).start()
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    use = ConsumptionManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], base_url=srv.mgmt_url,
                                      connection_verify=srv.ca,
                                      credential_scopes=[srv.mgmt_url + "/.default"])


def tearDownModule():
    srv.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


class Prices(unittest.TestCase):
    def test_override_is_served(self):
        r = srv.http("GET", "/api/retail/prices", token=None,
                     params={"$filter": "meterName eq 'Hot LRS Data Stored'"})
        self.assertEqual(r.json()["Items"][0]["retailPrice"], HOT)
        # VM sizes still come from the compute catalog.
        r = srv.http("GET", "/api/retail/prices", token=None,
                     params={"$filter": "armSkuName eq 'Standard_B1s'"})
        self.assertEqual(len(r.json()["Items"]), 2)

    def test_bad_file_stops_the_server(self):
        bad = os.path.join(tmp, "bad.json")
        open(bad, "w").write('{"not": "prices"}')
        d = tempfile.mkdtemp(prefix="azlite-badprices-")
        try:
            p = subprocess.run([BIN, "serve", "--data-dir", d, "--prices", bad, "--mgmt-port",
                                "0"], capture_output=True, text=True, env=clean_environ(),
                               timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("not a Retail Prices document", p.stdout + p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_tiers_priced(self):
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/tiers?api-version=2021-04-01" % sub,
                     json={"location": "eastus"})
        self.assertIn(r.status_code, (200, 201))
        conn = srv.storage_account("tierdata", "tiers")
        cc = BlobServiceClient.from_connection_string(conn).create_container("tiered")
        mib = 1024 * 1024
        b = cc.upload_blob("one", b"x" * mib)
        b.set_standard_blob_tier(StandardBlobTier.COOL)
        b.set_standard_blob_tier(StandardBlobTier.ARCHIVE)
        b.set_standard_blob_tier(StandardBlobTier.HOT, rehydrate_priority="High")
        before = srv.cli("clock").stdout.strip()
        p = srv.cli("clock", "advance", "1d1h")
        self.assertEqual(p.returncode, 0, p.stderr)
        # One capacity sample per day that ended: 1d1h crosses one midnight, or two
        # when it starts after 23:00.
        days = (datetime.date.fromisoformat(p.stdout.strip()[:10]) -
                datetime.date.fromisoformat(before[:10])).days
        rows = [u for u in use.usage_details.list("/subscriptions/%s/resourceGroups/tiers" % sub)]
        got = {}
        for u in rows:
            k = u.meter_details.meter_name
            got[k] = (got.get(k, (0, 0))[0] + u.quantity, got.get(k, (0, 0))[1] + u.cost)
        # Set Blob Tier to Cool and to Archive: one write operation each at the target's price.
        self.assertAlmostEqual(got["Cool LRS Write Operations"][0], 1 / 10000, places=12)
        self.assertAlmostEqual(got["Cool LRS Write Operations"][1], 0.10 / 10000, places=12)
        self.assertAlmostEqual(got["Archive LRS Write Operations"][1], 0.10 / 10000, places=12)
        # The rehydration at High priority: Archive retrieval of 1 MiB at 0.10 a GB.
        self.assertAlmostEqual(got["Archive Priority Data Retrieval"][0], 1 / 1024, places=12)
        self.assertAlmostEqual(got["Archive Priority Data Retrieval"][1], 0.10 / 1024, places=12)
        # The requests themselves, as the account's (Hot) operations: the upload, three
        # Set Blob Tier and Create Container.
        self.assertAlmostEqual(got["Hot LRS Write Operations"][0], 4 / 10000, places=12)
        self.assertAlmostEqual(got["Hot LRS List and Create Container Operations"][0],
                               1 / 10000, places=12)
        # The day the blob was kept is a Hot day (rehydrated within the hour) or an
        # Archive day, priced at the override for Hot.
        stored = [u for u in rows if u.meter_details.meter_name.endswith("Data Stored")]
        self.assertEqual(len(stored), days, [(u.meter_details.meter_name, u.quantity) for u in rows])
        for st in stored:
            if st.meter_details.meter_name == "Hot LRS Data Stored":
                self.assertAlmostEqual(st.unit_price, HOT, places=9)


if __name__ == "__main__":
    unittest.main()
