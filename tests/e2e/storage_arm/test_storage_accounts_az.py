"""Storage accounts through the real `az` (Debian azure-cli 2.45, `azlite az`):
the seed's `az storage account create` and `show-connection-string`, then
what a user checks and changes afterwards (show, list, keys, update, delete),
and what az prints when Azure says no."""
import unittest

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobServiceClient

from azlite_harness import Azlite

RG = "ml-resources"
srv = None


def setUpModule():
    global srv
    srv = Azlite().start()
    p = srv.az("group", "create", "-n", RG, "-l", "eastus")
    assert p.returncode == 0, p.stderr


def tearDownModule():
    srv.cleanup()


def create(name, *extra, rg=RG):
    return srv.az("storage", "account", "create", "--name", name, "--resource-group", rg,
                  "--location", "eastus", "--sku", "Standard_LRS", "--kind", "StorageV2", *extra)


def conn_string(name, rg=RG):
    p = srv.az("storage", "account", "show-connection-string", "-g", rg, "-n", name,
               "--output", "tsv")
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def az_fail(*args):
    p = srv.az(*args)
    if p.returncode == 0:
        raise AssertionError("az %s succeeded but should fail: %s" % (" ".join(args), p.stdout))
    return p.stderr


class SeedFlow(unittest.TestCase):
    def test_create_connection_string_container(self):
        p = create("mlstorage123")
        self.assertEqual(p.returncode, 0, p.stderr)
        acct = srv.az_json("storage", "account", "show", "-n", "mlstorage123", "-g", RG)
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        self.assertEqual(acct["id"], "/subscriptions/%s/resourceGroups/%s/providers/"
                                     "Microsoft.Storage/storageAccounts/mlstorage123" % (sub, RG))
        self.assertEqual(acct["sku"], {"name": "Standard_LRS", "tier": "Standard"})
        self.assertEqual(acct["kind"], "StorageV2")
        self.assertEqual(acct["location"], "eastus")
        self.assertEqual(acct["provisioningState"], "Succeeded")
        self.assertEqual(acct["accessTier"], "Hot")
        blob_ep = "http://127.0.0.1:%d/mlstorage123/" % srv.ports["blob"]
        self.assertEqual(acct["primaryEndpoints"]["blob"], blob_ep)

        cs = conn_string("mlstorage123")
        self.assertIn("AccountName=mlstorage123;", cs)
        self.assertIn("BlobEndpoint=" + blob_ep, cs)
        # The seed's next step, with the string az printed.
        p = srv.az("storage", "container", "create", "--name", "ml-data", "--connection-string",
                   cs)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('"created": true', p.stdout)
        names = srv.az_json("storage", "container", "list", "--connection-string", cs,
                            "--query", "[].name")
        self.assertEqual(names, ["ml-data"])
        # The same string works with the Python SDK.
        svc = BlobServiceClient.from_connection_string(cs)
        svc.get_blob_client("ml-data", "hello.txt").upload_blob(b"hi")
        self.assertEqual(svc.get_blob_client("ml-data", "hello.txt").download_blob().readall(),
                         b"hi")

        # The account is a resource like any other.
        res = srv.az_json("resource", "list", "--resource-type",
                          "Microsoft.Storage/storageAccounts", "--query", "[].id")
        self.assertIn(acct["id"], res)
        self.assertIn("mlstorage123",
                      srv.az_json("storage", "account", "list", "-g", RG, "--query", "[].name"))
        self.assertIn("mlstorage123",
                      srv.az_json("storage", "account", "list", "--query", "[].name"))


class Keys(unittest.TestCase):
    def test_list_and_renew(self):
        self.assertEqual(create("keysacct").returncode, 0)
        keys = srv.az_json("storage", "account", "keys", "list", "-n", "keysacct", "-g", RG)
        self.assertEqual([k["keyName"] for k in keys], ["key1", "key2"])
        self.assertNotEqual(keys[0]["value"], keys[1]["value"])
        self.assertEqual(len(keys[0]["value"]), 88)  # 64 bytes, base64
        self.assertTrue(all(k["permissions"].upper() == "FULL" for k in keys))

        old_cs = conn_string("keysacct")
        old = BlobServiceClient.from_connection_string(old_cs)
        old.create_container("ctr")
        renewed = srv.az_json("storage", "account", "keys", "renew", "-n", "keysacct", "-g", RG,
                              "--key", "key1")
        self.assertNotEqual(renewed[0]["value"], keys[0]["value"])
        self.assertEqual(renewed[1]["value"], keys[1]["value"])
        # The old key stops working at once; the new one works.
        with self.assertRaises(ClientAuthenticationError):
            old.get_container_client("ctr").get_container_properties()
        new = BlobServiceClient.from_connection_string(conn_string("keysacct"))
        new.get_container_client("ctr").get_container_properties()
        # key2 was untouched and still works.
        k2 = BlobServiceClient(old.url, credential={"account_name": "keysacct",
                                                    "account_key": keys[1]["value"]})
        k2.get_container_client("ctr").get_container_properties()


class Update(unittest.TestCase):
    def test_update_tags_tier_https(self):
        self.assertEqual(create("updacct").returncode, 0)
        a = srv.az_json("storage", "account", "update", "-n", "updacct", "-g", RG, "--tags",
                        "team=ml", "--access-tier", "Cool")
        self.assertEqual(a["tags"], {"team": "ml"})
        self.assertEqual(a["accessTier"], "Cool")
        shown = srv.az_json("storage", "account", "show", "-n", "updacct", "-g", RG)
        self.assertEqual(shown["accessTier"], "Cool")
        # A blob without a tier of its own has the account's tier, inferred.
        svc = BlobServiceClient.from_connection_string(conn_string("updacct"))
        svc.create_container("ctr")
        b = svc.get_blob_client("ctr", "x")
        b.upload_blob(b"x")
        props = b.get_blob_properties()
        self.assertEqual((props.blob_tier, props.blob_tier_inferred), ("Cool", True))

        # HTTPS only: the account publishes (and az prints) the HTTPS endpoint.
        a = srv.az_json("storage", "account", "update", "-n", "updacct", "-g", RG,
                        "--https-only", "true")
        self.assertEqual(a["enableHttpsTrafficOnly"], True)
        self.assertEqual(a["primaryEndpoints"]["blob"],
                         "https://127.0.0.1:%d/updacct/" % srv.ports["blob_tls"])
        cs = conn_string("updacct")
        p = srv.az("storage", "container", "create", "-n", "viahttps", "--connection-string", cs)
        self.assertEqual(p.returncode, 0, p.stderr)


class CheckNameAndErrors(unittest.TestCase):
    def test_check_name(self):
        self.assertEqual(create("takenname1").returncode, 0)
        r = srv.az_json("storage", "account", "check-name", "--name", "takenname1")
        self.assertEqual((r["nameAvailable"], r["reason"]), (False, "AlreadyExists"))
        self.assertIn("already taken", r["message"])
        r = srv.az_json("storage", "account", "check-name", "--name", "freename99")
        self.assertEqual(r["nameAvailable"], True)
        r = srv.az_json("storage", "account", "check-name", "--name", "Bad_Name")
        self.assertEqual((r["nameAvailable"], r["reason"]), (False, "AccountNameInvalid"))
        # The emulator account exists from the start.
        r = srv.az_json("storage", "account", "check-name", "--name", "devstoreaccount1")
        self.assertEqual(r["nameAvailable"], False)

    def test_invalid_names(self):
        for bad in ("ab", "UpperCase1", "with-dash", "a" * 25):
            err = az_fail("storage", "account", "create", "-n", bad, "-g", RG, "-l", "eastus",
                          "--sku", "Standard_LRS")
            self.assertIn("AccountNameInvalid", err, bad)
            self.assertIn("is not a valid storage account name", err)

    def test_name_taken_in_another_group(self):
        self.assertEqual(srv.az("group", "create", "-n", "other-rg", "-l", "eastus").returncode,
                         0)
        self.assertEqual(create("globalname1").returncode, 0)
        err = az_fail("storage", "account", "create", "-n", "globalname1", "-g", "other-rg",
                      "-l", "eastus", "--sku", "Standard_LRS")
        self.assertIn("StorageAccountAlreadyTaken", err)

    def test_missing_group_and_account(self):
        err = az_fail("storage", "account", "create", "-n", "nogroupacct", "-g", "no-such-rg",
                      "-l", "eastus", "--sku", "Standard_LRS")
        self.assertIn("ResourceGroupNotFound", err)
        err = az_fail("storage", "account", "show", "-n", "nosuchacct", "-g", RG)
        self.assertIn("ResourceNotFound", err)
        err = az_fail("storage", "account", "keys", "list", "-n", "nosuchacct", "-g", RG)
        self.assertIn("not found", err)

    def test_bad_location(self):
        err = az_fail("storage", "account", "create", "-n", "badlocacct", "-g", RG, "-l",
                      "marsnorth", "--sku", "Standard_LRS")
        self.assertIn("LocationNotAvailableForResourceType", err)

    def test_premium_kind_needs_premium_sku(self):
        err = az_fail("storage", "account", "create", "-n", "bbacct", "-g", RG, "-l", "eastus",
                      "--sku", "Standard_LRS", "--kind", "BlockBlobStorage")
        self.assertIn("InvalidRequestPropertyValue", err)
        p = srv.az("storage", "account", "create", "-n", "bbacct", "-g", RG, "-l", "eastus",
                   "--sku", "Premium_LRS", "--kind", "BlockBlobStorage")
        self.assertEqual(p.returncode, 0, p.stderr)


class Delete(unittest.TestCase):
    def test_delete_account_and_its_data(self):
        self.assertEqual(create("delacct").returncode, 0)
        cs = conn_string("delacct")
        svc = BlobServiceClient.from_connection_string(cs)
        svc.create_container("ctr")
        svc.get_blob_client("ctr", "big.bin").upload_blob(b"x" * (1 << 20))
        p = srv.az("storage", "account", "delete", "-n", "delacct", "-g", RG, "--yes")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ResourceNotFound",
                      az_fail("storage", "account", "show", "-n", "delacct", "-g", RG))
        # Its blob endpoint no longer knows the account.
        with self.assertRaises(HttpResponseError) as cm:
            svc.get_container_client("ctr").get_container_properties()
        self.assertEqual(cm.exception.status_code, 404)
        # Deleting again is not an error (Azure answers 204).
        p = srv.az("storage", "account", "delete", "-n", "delacct", "-g", RG, "--yes")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The name is free again.
        r = srv.az_json("storage", "account", "check-name", "--name", "delacct")
        self.assertEqual(r["nameAvailable"], True)

    def test_group_delete_removes_accounts(self):
        self.assertEqual(srv.az("group", "create", "-n", "tmp-rg", "-l", "eastus").returncode, 0)
        self.assertEqual(create("grpacct", rg="tmp-rg").returncode, 0)
        svc = BlobServiceClient.from_connection_string(conn_string("grpacct", rg="tmp-rg"))
        svc.create_container("ctr")
        svc.get_blob_client("ctr", "b").upload_blob(b"data")
        p = srv.az("group", "delete", "-n", "tmp-rg", "--yes")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = srv.az_json("storage", "account", "check-name", "--name", "grpacct")
        self.assertEqual(r["nameAvailable"], True)
        with self.assertRaises(HttpResponseError) as cm:
            svc.get_blob_client("ctr", "b").download_blob().readall()
        self.assertEqual(cm.exception.status_code, 404)


if __name__ == "__main__":
    unittest.main()
