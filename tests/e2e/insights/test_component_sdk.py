"""Application Insights components as Resource Manager resources, through
Debian's azure-mgmt-applicationinsights (components at 2020-02-02): ids and
connection string minted once and kept across updates."""
import unittest

from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.applicationinsights import ApplicationInsightsManagementClient

from azlite_harness import Azlite

srv = None
ai = None


def setUpModule():
    global srv, ai
    srv = Azlite().start()
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    ai = ApplicationInsightsManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"],
                                             base_url=srv.mgmt_url, connection_verify=srv.ca,
                                             credential_scopes=[srv.mgmt_url + "/.default"])
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/appi?api-version=2021-04-01"
                 % e["AZURE_SUBSCRIPTION_ID"], json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text


def tearDownModule():
    srv.cleanup()


class Components(unittest.TestCase):
    def test_lifecycle(self):
        c = ai.components.create_or_update("appi", "ml-insights", {
            "location": "eastus", "kind": "web", "application_type": "web"})
        self.assertRegex(c.instrumentation_key, r"^[0-9a-f-]{36}$")
        self.assertEqual(c.connection_string.split(";")[0],
                         "InstrumentationKey=" + c.instrumentation_key)
        self.assertEqual(c.application_type, "web")
        c2 = ai.components.create_or_update("appi", "ml-insights", {
            "location": "eastus", "kind": "web", "application_type": "web",
            "tags": {"team": "ml"}})
        self.assertEqual(c2.instrumentation_key, c.instrumentation_key)
        self.assertEqual(c2.tags, {"team": "ml"})
        self.assertIn("ml-insights", [x.name for x in ai.components.list_by_resource_group("appi")])
        ai.components.delete("appi", "ml-insights")
        with self.assertRaises(ResourceNotFoundError):
            ai.components.get("appi", "ml-insights")

    def test_kind_required(self):
        # The SDK checks kind itself; Azure answers a body without one 400.
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/appi/providers/Microsoft.Insights/"
                     "components/nokind?api-version=2020-02-02" % srv.env["AZURE_SUBSCRIPTION_ID"],
                     json={"location": "eastus", "properties": {"Application_Type": "web"}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"]["code"], "BadRequest")


if __name__ == "__main__":
    unittest.main()
