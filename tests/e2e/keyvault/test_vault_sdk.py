"""Key Vault vaults as Resource Manager resources, through Debian's
azure-mgmt-keyvault (2022-07-01): create, get, list, update, delete, the
global name rule, and the data plane named but not served."""
import os
import subprocess
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.keyvault import KeyVaultManagementClient

from azlite_harness import BIN, Azlite, clean_environ

srv = None
kv = None


def setUpModule():
    global srv, kv
    srv = Azlite().start()
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    kv = KeyVaultManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], base_url=srv.mgmt_url,
                                  connection_verify=srv.ca,
                                  credential_scopes=[srv.mgmt_url + "/.default"],
                                  polling_interval=0.1)
    for g in ("kv1", "kv2"):
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01"
                     % (e["AZURE_SUBSCRIPTION_ID"], g), json={"location": "eastus"})
        assert r.status_code in (200, 201), r.text


def tearDownModule():
    srv.cleanup()


def params(**props):
    p = {"sku": {"family": "A", "name": "standard"}, "tenant_id": srv.env["AZLITE_TENANT_ID"],
         "access_policies": []}
    p.update(props)
    return {"location": "eastus", "properties": p}


class Vaults(unittest.TestCase):
    def test_lifecycle(self):
        v = kv.vaults.begin_create_or_update("kv1", "ml-vault-1", params()).result()
        self.assertEqual(v.properties.vault_uri, "https://ml-vault-1.vault.azure.net/")
        self.assertEqual(v.properties.sku.name, "standard")
        self.assertTrue(v.properties.enable_soft_delete)
        self.assertEqual(kv.vaults.get("kv1", "ml-vault-1").id, v.id)
        self.assertIn("ml-vault-1", [x.name for x in kv.vaults.list_by_resource_group("kv1")])
        v = kv.vaults.update("kv1", "ml-vault-1", {"tags": {"team": "ml"}})
        self.assertEqual(v.tags, {"team": "ml"})
        kv.vaults.delete("kv1", "ml-vault-1")
        with self.assertRaises(ResourceNotFoundError):
            kv.vaults.get("kv1", "ml-vault-1")

    def test_names(self):
        kv.vaults.begin_create_or_update("kv1", "taken-vault", params()).result()
        # Vault names are DNS names: taken in any group or subscription.
        with self.assertRaises(HttpResponseError) as e:
            kv.vaults.begin_create_or_update("kv2", "Taken-Vault", params()).result()
        self.assertEqual(e.exception.error.code, "VaultAlreadyExists")
        for bad in ("ab", "1vault", "my--vault", "vault-", "a" * 25):
            with self.assertRaises(HttpResponseError) as e:
                kv.vaults.begin_create_or_update("kv2", bad, params()).result()
            self.assertEqual(e.exception.error.code, "VaultNameNotValid", bad)
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/kv2/providers/Microsoft.KeyVault/"
                     "vaults/nosku-vault?api-version=2022-07-01"
                     % srv.env["AZURE_SUBSCRIPTION_ID"],
                     json={"location": "eastus", "properties": {"tenantId": "x"}})
        self.assertEqual((r.status_code, r.json()["error"]["code"]), (400, "BadRequest"))

    def test_data_plane_not_served(self):
        """Its vaultUri names Azure's host; under azlite exec that name fails at once."""
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                            "-c", "import socket; socket.getaddrinfo('ml-vault-2.vault.azure.net', 443)"],
                           capture_output=True, text=True, timeout=60, env=clean_environ())
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ml-vault-2.vault.azure.net is an Azure host name that azlite does not "
                      "serve", p.stderr)


if __name__ == "__main__":
    unittest.main()
