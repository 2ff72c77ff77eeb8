"""The Python SDKs (Debian python3-azure) against azlite: azure-identity's
credentials against azlite's authority, azure-mgmt-resource's clients against
its management endpoint, and a script that runs unchanged after
`eval "$(azlite env)"`."""
import base64
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import unittest

import requests
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient, SubscriptionClient

from azlite_harness import Azlite

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def credential(tenant=None, secret=None, **kw):
    e = srv.env
    return ClientSecretCredential(tenant or e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  secret or e["AZURE_CLIENT_SECRET"],
                                  authority=e["AZURE_AUTHORITY_HOST"], connection_verify=srv.ca,
                                  **kw)


def rm_client(cred=None, scoped=True):
    kw = {"credential_scopes": [srv.mgmt_url + "/.default"]} if scoped else {}
    return ResourceManagementClient(cred or credential(), srv.env["AZURE_SUBSCRIPTION_ID"],
                                    base_url=srv.mgmt_url, connection_verify=srv.ca, **kw)


def claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Tokens(unittest.TestCase):
    def test_token_claims(self):
        tok = credential().get_token(srv.mgmt_url + "/.default")
        c = claims(tok.token)
        self.assertEqual(c["aud"], srv.mgmt_url)
        self.assertEqual(c["tid"], srv.env["AZLITE_TENANT_ID"])
        self.assertEqual(c["appid"], srv.env["AZURE_CLIENT_ID"])
        self.assertEqual(c["iss"], "%s/%s/" % (srv.mgmt_url, srv.env["AZLITE_TENANT_ID"]))
        self.assertTrue(c["oid"])
        self.assertLessEqual(c["nbf"], time.time() + 5)
        self.assertGreater(c["exp"], time.time() + 3000)
        self.assertAlmostEqual(tok.expires_on, c["exp"], delta=5)

    def test_token_endpoint_json(self):
        e = srv.env
        r = requests.post(srv.mgmt_url + "/adfs/oauth2/token", verify=srv.ca, data={
            "grant_type": "client_credentials", "client_id": e["AZURE_CLIENT_ID"],
            "client_secret": e["AZURE_CLIENT_SECRET"],
            "scope": "https://management.azure.com//.default"})
        self.assertEqual(r.status_code, 200, r.text)
        j = r.json()
        self.assertEqual(j["token_type"], "Bearer")
        self.assertIsInstance(j["expires_in"], int)  # a string crashes az
        self.assertEqual(claims(j["access_token"])["aud"], "https://management.azure.com/")

    def test_tenant_guid_with_v2_endpoints(self):
        # The real tenant id as the authority's tenant: the AAD v2 paths.  (MSAL would look
        # the authority up on the internet unless told not to.)
        cred = credential(tenant=srv.env["AZLITE_TENANT_ID"], instance_discovery=False)
        groups = rm_client(cred).resource_groups
        groups.create_or_update("v2-tenant", {"location": "eastus"})
        self.assertTrue(groups.check_existence("v2-tenant"))

    def test_wrong_secret(self):
        # azure-identity logs the failure as a warning as well; the assertion is enough.
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
        with self.assertRaises(ClientAuthenticationError) as cm:
            credential(secret="not-the-secret").get_token(srv.mgmt_url + "/.default")
        self.assertIn("AADSTS7000215", str(cm.exception))


class ResourceGroups(unittest.TestCase):
    def test_create_list_update_delete(self):
        groups = rm_client().resource_groups
        g = groups.create_or_update("sdk-rg", {"location": "westus", "tags": {"owner": "ml"}})
        self.assertEqual(g.name, "sdk-rg")
        self.assertEqual(g.location, "westus")
        self.assertEqual(g.tags, {"owner": "ml"})
        self.assertEqual(g.properties.provisioning_state, "Succeeded")
        self.assertEqual(g.id, "/subscriptions/%s/resourceGroups/sdk-rg"
                         % srv.env["AZURE_SUBSCRIPTION_ID"])

        self.assertIn("sdk-rg", [x.name for x in groups.list()])
        self.assertEqual(groups.get("SDK-RG").name, "sdk-rg")
        self.assertTrue(groups.check_existence("sdk-rg"))

        upd = groups.update("sdk-rg", {"tags": {"owner": "ml", "stage": "test"}})
        self.assertEqual(upd.tags, {"owner": "ml", "stage": "test"})
        self.assertEqual(groups.get("sdk-rg").tags, {"owner": "ml", "stage": "test"})
        self.assertEqual([x.name for x in groups.list(filter="tagName eq 'stage'")], ["sdk-rg"])

        self.assertEqual(list(rm_client().resources.list_by_resource_group("sdk-rg")), [])

        t0 = time.time()
        groups.begin_delete("sdk-rg").result()
        # Retry-After: 1 keeps azure-core from waiting 30 s between polls.
        self.assertLess(time.time() - t0, 10)
        self.assertFalse(groups.check_existence("sdk-rg"))
        with self.assertRaises(ResourceNotFoundError) as cm:
            groups.get("sdk-rg")
        self.assertEqual(cm.exception.error.code, "ResourceGroupNotFound")
        self.assertNotIn("sdk-rg", [x.name for x in groups.list()])

    def test_default_management_scope(self):
        # Code written for Azure asks for https://management.azure.com/.default; azlite
        # accepts that audience, so only base_url changes.
        groups = rm_client(scoped=False).resource_groups
        groups.create_or_update("default-scope", {"location": "eastus"})
        self.assertIn("default-scope", [x.name for x in groups.list()])

    def test_providers(self):
        providers = rm_client().providers
        p = providers.register("Microsoft.MachineLearningServices")
        self.assertEqual(p.registration_state, "Registered")
        self.assertEqual(providers.get("Microsoft.MachineLearningServices").registration_state,
                         "Registered")
        self.assertIn("Microsoft.Storage", [x.namespace for x in providers.list()])


class Subscriptions(unittest.TestCase):
    def client(self):
        return SubscriptionClient(credential(), base_url=srv.mgmt_url, connection_verify=srv.ca,
                                  credential_scopes=[srv.mgmt_url + "/.default"])

    def test_subscriptions_locations_tenants(self):
        c = self.client()
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        subs = list(c.subscriptions.list())
        self.assertEqual([s.subscription_id for s in subs], [sub])
        self.assertEqual(subs[0].tenant_id, srv.env["AZLITE_TENANT_ID"])
        self.assertEqual(subs[0].state, "Enabled")
        self.assertEqual(c.subscriptions.get(sub).display_name, subs[0].display_name)
        locs = {l.name: l for l in c.subscriptions.list_locations(sub)}
        self.assertIn("eastus", locs)
        self.assertEqual(locs["eastus"].display_name, "East US")
        self.assertEqual([t.tenant_id for t in c.tenants.list()], [srv.env["AZLITE_TENANT_ID"]])

    def test_unknown_subscription(self):
        with self.assertRaises(ResourceNotFoundError) as cm:
            self.client().subscriptions.get("00000000-0000-0000-0000-000000000000")
        self.assertEqual(cm.exception.error.code, "SubscriptionNotFound")


class UnchangedScript(unittest.TestCase):
    """A user's script, written for Azure, run with only `azlite env` in its environment."""

    SCRIPT = textwrap.dedent("""
        import json, os
        from azure.identity import DefaultAzureCredential
        from azure.mgmt.resource import ResourceManagementClient
        client = ResourceManagementClient(DefaultAzureCredential(),
                                          os.environ["AZURE_SUBSCRIPTION_ID"],
                                          base_url=os.environ["AZURE_RESOURCE_MANAGER_ENDPOINT"])
        client.resource_groups.create_or_update("from-script", {"location": "eastus"})
        print(json.dumps(sorted(g.name for g in client.resource_groups.list())))
    """)

    def test_default_azure_credential(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": srv.data_dir,
               "LANG": "C.UTF-8"}
        env.update(srv.env)
        self.assertEqual(env["AZURE_TENANT_ID"], "adfs")
        p = subprocess.run([sys.executable, "-c", self.SCRIPT], env=env, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("from-script", json.loads(p.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    unittest.main()
