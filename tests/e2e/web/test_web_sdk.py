"""Microsoft.Web through Debian's azure-mgmt-web (its default api-version,
2022-03-01): App Service plans of each kind (Consumption, Elastic Premium,
Dedicated), function apps on them, app settings, connection strings,
config/web, host keys, start/stop, lists, and the errors Azure answers
(an unknown SKU, a missing plan, a plan in use, a taken or invalid name)."""
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.web import WebSiteManagementClient

from azlite_harness import Azlite

srv = None
web = None
SUB = None
RG = "websdk"


def setUpModule():
    global srv, web, SUB
    srv = Azlite().start()
    e = srv.env
    SUB = e["AZURE_SUBSCRIPTION_ID"]
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    web = WebSiteManagementClient(cred, SUB, base_url=srv.mgmt_url, connection_verify=srv.ca,
                                  credential_scopes=[srv.mgmt_url + "/.default"],
                                  polling_interval=0.1)
    for g in (RG, RG + "2"):
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, g),
                     json={"location": "eastus"})
        assert r.status_code in (200, 201), r.text


def tearDownModule():
    srv.cleanup()


def plan(name, sku, linux=True):
    return web.app_service_plans.begin_create_or_update(
        RG, name, {"location": "eastus", "sku": {"name": sku}, "reserved": linux}).result()


class Plans(unittest.TestCase):
    def test_kinds_of_plan(self):
        y1 = plan("y1", "Y1")
        self.assertEqual((y1.sku.name, y1.sku.tier), ("Y1", "Dynamic"))
        self.assertTrue(y1.reserved)
        ep = plan("ep2", "EP2")
        self.assertEqual(ep.sku.tier, "ElasticPremium")
        self.assertEqual(ep.maximum_elastic_worker_count, 20)
        s1 = plan("s1", "S1", linux=False)
        self.assertEqual((s1.sku.tier, s1.sku.capacity, s1.reserved), ("Standard", 1, False))
        names = sorted(p.name for p in web.app_service_plans.list_by_resource_group(RG))
        self.assertTrue({"y1", "ep2", "s1"} <= set(names), names)
        got = web.app_service_plans.get(RG, "ep2")
        self.assertEqual(got.id.lower(), ("/subscriptions/%s/resourceGroups/%s/providers/"
                                          "Microsoft.Web/serverfarms/ep2" % (SUB, RG)).lower())

    def test_unknown_sku(self):
        with self.assertRaises(HttpResponseError) as cm:
            plan("bad", "Z9")
        self.assertEqual(cm.exception.status_code, 400)


class Sites(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.plan = plan("fnplan", "EP1")

    def create(self, name, group=RG, farm=None):
        return web.web_apps.begin_create_or_update(group, name, {
            "location": "eastus", "kind": "functionapp,linux", "reserved": True,
            "server_farm_id": farm or self.plan.id,
            "site_config": {"linux_fx_version": "Python|3.11", "app_settings": [
                {"name": "FUNCTIONS_WORKER_RUNTIME", "value": "python"},
                {"name": "FUNCTIONS_EXTENSION_VERSION", "value": "~4"}]}}).result()

    def test_create_settings_keys_state(self):
        site = self.create("sdkfn")
        self.assertEqual(site.default_host_name, "sdkfn.azurewebsites.net")
        self.assertEqual(site.state, "Running")
        self.assertEqual(site.server_farm_id.lower(), self.plan.id.lower())
        repo = [h.name for h in site.host_name_ssl_states if h.host_type == "Repository"]
        self.assertEqual(repo, ["sdkfn.scm.azurewebsites.net"])
        s = web.web_apps.list_application_settings(RG, "sdkfn")
        self.assertEqual(s.properties, {"FUNCTIONS_WORKER_RUNTIME": "python",
                                        "FUNCTIONS_EXTENSION_VERSION": "~4"})
        s.properties["MY_SETTING"] = "42"
        web.web_apps.update_application_settings(RG, "sdkfn", s)
        self.assertEqual(web.web_apps.list_application_settings(RG, "sdkfn")
                         .properties["MY_SETTING"], "42")
        web.web_apps.update_connection_strings(RG, "sdkfn", {"properties": {
            "db": {"value": "Server=x", "type": "SQLAzure"}}})
        cs = web.web_apps.list_connection_strings(RG, "sdkfn").properties
        self.assertEqual((cs["db"].value, cs["db"].type), ("Server=x", "SQLAzure"))
        cfg = web.web_apps.get_configuration(RG, "sdkfn")
        self.assertEqual(cfg.linux_fx_version, "Python|3.11")
        cfg = web.web_apps.update_configuration(RG, "sdkfn", {"min_tls_version": "1.2"})
        self.assertEqual(cfg.min_tls_version, "1.2")
        keys = web.web_apps.list_host_keys(RG, "sdkfn")
        self.assertTrue(keys.master_key and keys.function_keys["default"])
        self.assertNotEqual(keys.master_key, keys.function_keys["default"])
        web.web_apps.stop(RG, "sdkfn")
        self.assertEqual(web.web_apps.get(RG, "sdkfn").state, "Stopped")
        web.web_apps.start(RG, "sdkfn")
        self.assertEqual(web.web_apps.get(RG, "sdkfn").state, "Running")
        self.assertIn("sdkfn", [a.name for a in web.web_apps.list_by_resource_group(RG)])
        self.assertEqual(list(web.web_apps.list_functions(RG, "sdkfn")), [])  # nothing deployed
        self.assertEqual(web.app_service_plans.get(RG, "fnplan").number_of_sites, 1)
        # The plan is in use, then free once the app goes.
        with self.assertRaises(HttpResponseError) as cm:
            web.app_service_plans.delete(RG, "fnplan")
        self.assertEqual(cm.exception.status_code, 409)
        web.web_apps.delete(RG, "sdkfn")
        with self.assertRaises(ResourceNotFoundError):
            web.web_apps.get(RG, "sdkfn")
        self.assertEqual(web.app_service_plans.get(RG, "fnplan").number_of_sites, 0)

    def test_names_and_plans_refused(self):
        self.create("takenname")
        with self.assertRaises(HttpResponseError) as cm:  # host names are global
            self.create("takenname", group=RG + "2")
        self.assertEqual(cm.exception.status_code, 409)
        for bad in ("-dash", "a", "under_score"):
            with self.assertRaises(HttpResponseError) as cm:
                self.create(bad)
            self.assertEqual(cm.exception.status_code, 400, bad)
        with self.assertRaises(HttpResponseError) as cm:
            self.create("noplan", farm="/subscriptions/%s/resourceGroups/%s/providers/"
                        "Microsoft.Web/serverfarms/missing" % (SUB, RG))
        self.assertEqual(cm.exception.status_code, 404)

    def test_catalog(self):
        regions = [r.name for r in web.list_geo_regions(sku="Dynamic")]
        self.assertIn("East US", regions)
        stacks = list(web.provider.get_function_app_stacks())
        python = [s for s in stacks if s.name == "python"][0]
        minors = [m.value for m in python.major_versions[0].minor_versions]
        self.assertIn("3.11", minors)


if __name__ == "__main__":
    unittest.main()
