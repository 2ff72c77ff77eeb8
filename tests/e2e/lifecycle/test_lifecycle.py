"""Lifecycle management that runs on azlite's clock (issue 4), driven the way
the seed drives it: the seed's exact policy JSON applied with `azlite az
storage account management-policy create --policy @file`, blobs uploaded with
the Python SDK (Debian python3-azure-storage) through the connection string
`az storage account show-connection-string` prints, and `azlite clock
advance` moving 8, 31 and 91 days.

Azure matches prefixMatch against "<container>/<blob>": the seed's "models/"
selects the container named models, so ml-data/models/... is left alone."""
import os
import tempfile
import time
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from azlite_harness import Azlite

SEED_POLICY = """{
  "rules": [
    {
      "enabled": true,
      "name": "archive-old-models",
      "type": "Lifecycle",
      "definition": {
        "actions": {
          "baseBlob": {
            "tierToCool": {"daysAfterModificationGreaterThan": 30},
            "tierToArchive": {"daysAfterModificationGreaterThan": 90}
          }
        },
        "filters": {
          "prefixMatch": ["models/"],
          "blobTypes": ["blockBlob"]
        }
      }
    },
    {
      "enabled": true,
      "name": "delete-temp-data",
      "type": "Lifecycle",
      "definition": {
        "actions": {
          "baseBlob": {
            "delete": {"daysAfterModificationGreaterThan": 7}
          }
        },
        "filters": {
          "prefixMatch": ["temp/"],
          "blobTypes": ["blockBlob"]
        }
      }
    }
  ]
}
"""

RG = "ml-resources"
srv = None


def setUpModule():
    global srv
    srv = Azlite().start()
    p = srv.az("group", "create", "-n", RG, "-l", "eastus")
    assert p.returncode == 0, p.stderr


def tearDownModule():
    srv.cleanup()


def wait_for(pred, what, timeout=10.0):
    """The scheduler runs at once after a clock advance, on its own thread:
    poll briefly for its result."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def advance(duration):
    p = srv.cli("clock", "advance", duration)
    assert p.returncode == 0, p.stderr


def apply_policy(account, text):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(text)
    try:
        return srv.az("storage", "account", "management-policy", "create", "--account-name",
                      account, "--resource-group", RG, "--policy", "@" + f.name)
    finally:
        os.unlink(f.name)


def tier_of(svc, container, blob):
    """(tier, archive status) as get_blob_properties reports them; None if gone."""
    try:
        p = svc.get_blob_client(container, blob).get_blob_properties()
    except ResourceNotFoundError:
        return None
    return (p.blob_tier, p.archive_status)


class SeedPolicy(unittest.TestCase):
    """The "Done when" of issue 4."""

    def test_seed_policy_over_91_days(self):
        cs = srv.storage_account("mlstorage123", RG)
        p = apply_policy("mlstorage123", SEED_POLICY)
        self.assertEqual(p.returncode, 0, p.stderr)
        shown = srv.az_json("storage", "account", "management-policy", "show", "--account-name",
                            "mlstorage123", "-g", RG)
        rules = shown["policy"]["rules"]
        self.assertEqual([r["name"] for r in rules], ["archive-old-models", "delete-temp-data"])
        self.assertEqual(rules[0]["definition"]["filters"]["prefixMatch"], ["models/"])
        self.assertEqual(
            rules[0]["definition"]["actions"]["baseBlob"]["tierToArchive"]
            ["daysAfterModificationGreaterThan"], 90)

        svc = BlobServiceClient.from_connection_string(cs)
        blobs = {
            ("models", "model.pth"): b"weights v1" * 100,
            ("models", "v2/model.pth"): b"weights v2" * 100,
            ("temp", "scratch.csv"): b"a,b\n1,2\n",
            ("temp", "run/1/log.txt"): b"log",
            ("ml-data", "models/model.pth"): b"not in the models container",
            ("ml-data", "temp/partial.csv"): b"not in the temp container",
            ("ml-data", "datasets/mnist/train.csv"): b"0,1,2",
        }
        for c in {c for c, _ in blobs}:
            svc.create_container(c)
        for (c, b), data in blobs.items():
            svc.get_blob_client(c, b).upload_blob(data, overwrite=True)
        untouched = [k for k in blobs if k[0] == "ml-data"]

        # Day 8: temp/ is past 7 days and gone; nothing else moved.
        advance("8d")
        wait_for(lambda: tier_of(svc, "temp", "scratch.csv") is None, "temp/ deleted")
        self.assertIsNone(tier_of(svc, "temp", "run/1/log.txt"))
        self.assertEqual(list(svc.get_container_client("temp").list_blobs()), [])
        for b in ("model.pth", "v2/model.pth"):
            self.assertEqual(tier_of(svc, "models", b), ("Hot", None))
        for c, b in untouched:
            self.assertEqual(tier_of(svc, c, b), ("Hot", None), (c, b))
        props = svc.get_blob_client("models", "model.pth").get_blob_properties()
        self.assertTrue(props.blob_tier_inferred)

        # Day 31: models/ is Cool.
        advance("23d")
        wait_for(lambda: tier_of(svc, "models", "model.pth") == ("Cool", None), "models Cool")
        self.assertEqual(tier_of(svc, "models", "v2/model.pth"), ("Cool", None))
        props = svc.get_blob_client("models", "model.pth").get_blob_properties()
        self.assertFalse(props.blob_tier_inferred)
        self.assertIsNotNone(props.blob_tier_change_time)
        listed = {b.name: b for b in svc.get_container_client("models").list_blobs()}
        self.assertEqual(listed["model.pth"].blob_tier, "Cool")
        # Cool blobs are still online.
        self.assertEqual(svc.get_blob_client("models", "model.pth").download_blob().readall(),
                         blobs[("models", "model.pth")])
        for c, b in untouched:
            self.assertEqual(tier_of(svc, c, b), ("Hot", None), (c, b))

        # Day 91: models/ is Archive; the rest untouched.
        advance("60d")
        wait_for(lambda: tier_of(svc, "models", "model.pth") == ("Archive", None),
                 "models Archive")
        self.assertEqual(tier_of(svc, "models", "v2/model.pth"), ("Archive", None))
        listed = {b.name: b for b in svc.get_container_client("models").list_blobs()}
        self.assertEqual(listed["v2/model.pth"].blob_tier, "Archive")
        for c, b in untouched:
            self.assertEqual(tier_of(svc, c, b), ("Hot", None), (c, b))
            self.assertEqual(svc.get_blob_client(c, b).download_blob().readall(), blobs[(c, b)])

        # An archived blob cannot be read ...
        model = svc.get_blob_client("models", "model.pth")
        with self.assertRaises(HttpResponseError) as cm:
            model.download_blob().readall()
        self.assertEqual(cm.exception.status_code, 409)
        self.assertEqual(cm.exception.error_code, "BlobArchived")

        # ... until a rehydration (Standard: 15 hours on azlite's clock) completes.
        model.set_standard_blob_tier("Hot", rehydrate_priority="Standard")
        p = model.get_blob_properties()
        self.assertEqual(p.blob_tier, "Archive")
        self.assertEqual(p.archive_status, "rehydrate-pending-to-hot")
        self.assertEqual(p.rehydrate_priority, "Standard")
        advance("14h")
        time.sleep(0.3)
        with self.assertRaises(HttpResponseError) as cm:
            model.download_blob().readall()
        self.assertEqual(cm.exception.error_code, "BlobArchived")
        self.assertEqual(tier_of(svc, "models", "model.pth"),
                         ("Archive", "rehydrate-pending-to-hot"))
        advance("61m")
        wait_for(lambda: tier_of(svc, "models", "model.pth") == ("Hot", None), "rehydrated")
        self.assertEqual(model.download_blob().readall(), blobs[("models", "model.pth")])

        # High priority finishes within the hour.
        v2 = svc.get_blob_client("models", "v2/model.pth")
        v2.set_standard_blob_tier("Cool", rehydrate_priority="High")
        self.assertEqual(tier_of(svc, "models", "v2/model.pth"),
                         ("Archive", "rehydrate-pending-to-cool"))
        advance("59m")
        time.sleep(0.3)
        self.assertEqual(tier_of(svc, "models", "v2/model.pth"),
                         ("Archive", "rehydrate-pending-to-cool"))
        advance("2m")
        wait_for(lambda: tier_of(svc, "models", "v2/model.pth") == ("Cool", None), "High done")
        self.assertEqual(v2.download_blob().readall(), blobs[("models", "v2/model.pth")])

        # The policy runs once a day, as in Azure: the next run archives the
        # rehydrated blobs again, since the seed's rule still matches them.
        advance("1d")
        wait_for(lambda: tier_of(svc, "models", "model.pth") == ("Archive", None), "re-archived")
        self.assertEqual(tier_of(svc, "models", "v2/model.pth"), ("Archive", None))

        # What happened is in the account's action log.
        log = action_log("mlstorage123")
        got = {(e["container"], e["blob"], e["action"]) for e in log}
        for b in ("scratch.csv", "run/1/log.txt"):
            self.assertIn(("temp", b, "delete"), got)
        for b in ("model.pth", "v2/model.pth"):
            self.assertIn(("models", b, "tierToCool"), got)
            self.assertIn(("models", b, "tierToArchive"), got)
        self.assertIn(("models", "model.pth", "rehydrateStandard"), got)
        self.assertIn(("models", "model.pth", "rehydrateComplete"), got)
        self.assertIn(("models", "v2/model.pth", "rehydrateHigh"), got)
        self.assertFalse([e for e in log if e["container"] == "ml-data"])
        cool = [e for e in log if e["action"] == "tierToCool" and e["blob"] == "model.pth"][0]
        self.assertEqual((cool["source"], cool["rule"], cool["fromTier"], cool["toTier"]),
                         ("lifecycle", "archive-old-models", "Hot", "Cool"))
        self.assertEqual(cool["contentLength"], 1000)


def action_log(account):
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    url = ("%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s"
           "/lifecycleActions?api-version=2023-01-01" % (srv.mgmt_url, sub, RG, account))
    return srv.az_json("rest", "--method", "get", "--url", url)["value"]


if __name__ == "__main__":
    unittest.main()
