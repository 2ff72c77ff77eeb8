"""Template deployments through azure-mgmt-resource (Debian python3-azure,
ResourceManagementClient at its default API version): begin_create_or_update
runs to the end, cancel stops a running deployment between resources, and a
deployment that was running when azlite was killed is Failed after the restart."""
import time
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

from azlite_harness import Azlite

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def clients(srv):
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    kw = dict(base_url=srv.mgmt_url, credential_scopes=[srv.mgmt_url + "/.default"],
              connection_verify=srv.ca, polling_interval=0.2)
    return (ResourceManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw),
            StorageManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw))


def accounts_template(count):
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"count": {"type": "int"}},
            "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01",
                           "name": "[concat('sdkacct', copyIndex())]",
                           "location": "[resourceGroup().location]",
                           "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
                           "copy": {"name": "accts", "count": "[parameters('count')]"}}],
            "outputs": {"names": {"type": "array", "copy": {
                "count": "[parameters('count')]",
                "input": "[concat('sdkacct', copyIndex())]"}}}}


def deployment(count):
    return {"properties": {"mode": "Incremental", "template": accounts_template(count),
                           "parameters": {"count": {"value": count}}}}


def wait_state(rm, rg, name, states):
    for _ in range(600):
        d = rm.deployments.get(rg, name)
        if d.properties.provisioning_state in states:
            return d
        time.sleep(0.1)
    raise AssertionError("deployment %s stayed %s" % (name, d.properties.provisioning_state))


class Sdk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Azlite().start()
        cls.rm, cls.st = clients(cls.srv)
        cls.rm.resource_groups.create_or_update("sdkdep", {"location": "westeurope"})

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_begin_create_or_update_result(self):
        d = self.rm.deployments.begin_create_or_update("sdkdep", "two", deployment(2)).result()
        self.assertEqual(d.properties.provisioning_state, "Succeeded")
        self.assertEqual(d.properties.outputs["names"]["value"], ["sdkacct0", "sdkacct1"])
        names = sorted(a.name for a in self.st.storage_accounts.list_by_resource_group("sdkdep"))
        self.assertEqual(names, ["sdkacct0", "sdkacct1"])
        self.assertEqual(self.st.storage_accounts.get_properties("sdkdep", "sdkacct1")
                         .location, "westeurope")
        self.assertTrue(self.rm.deployments.check_existence("sdkdep", "two"))
        self.assertFalse(self.rm.deployments.check_existence("sdkdep", "nope"))
        done = list(self.rm.deployments.list_by_resource_group(
            "sdkdep", filter="provisioningState eq 'Succeeded'"))
        self.assertIn("two", [x.name for x in done])
        self.assertEqual(list(self.rm.deployments.list_by_resource_group(
            "sdkdep", filter="provisioningState eq 'Running'")), [])
        ops = list(self.rm.deployment_operations.list("sdkdep", "two"))
        self.assertEqual(len(ops), 2)
        one = self.rm.deployment_operations.get("sdkdep", "two", ops[0].operation_id)
        self.assertEqual(one.properties.target_resource.resource_type,
                         "Microsoft.Storage/storageAccounts")
        with self.assertRaises(HttpResponseError) as e:
            self.rm.deployments.cancel("sdkdep", "two")
        self.assertEqual(e.exception.error.code, "DeploymentCannotBeCancelled")
        self.rm.deployments.begin_delete("sdkdep", "two").result()
        with self.assertRaises(ResourceNotFoundError):
            self.rm.deployments.get("sdkdep", "two")

    def test_template_link_is_refused(self):
        with self.assertRaises(HttpResponseError) as e:
            self.rm.deployments.begin_create_or_update("sdkdep", "link", {"properties": {
                "mode": "Incremental",
                "templateLink": {"uri": "https://example.invalid/t.json"}}}).result()
        self.assertEqual(e.exception.status_code, 400)
        self.assertEqual(e.exception.error.code, "TemplateLinkNotSupported")
        with self.assertRaises(HttpResponseError) as e:
            self.rm.deployments.begin_create_or_update("sdkdep", "complete", {"properties": {
                "mode": "Complete", "template": accounts_template(1),
                "parameters": {"count": {"value": 1}}}}).result()
        self.assertEqual(e.exception.error.code, "DeploymentModeNotSupported")


class CancelAndRestart(unittest.TestCase):
    """Each resource held AZLITE_TEST_DEPLOY_DELAY_MS, so the deployment is
    still running when the test acts on it."""

    def setUp(self):
        self.srv = Azlite(server_env={"AZLITE_TEST_DEPLOY_DELAY_MS": "1500"}).start()
        self.rm, self.st = clients(self.srv)
        self.rm.resource_groups.create_or_update("slow", {"location": "eastus"})

    def tearDown(self):
        self.srv.cleanup()

    def test_cancel_stops_between_resources(self):
        poller = self.rm.deployments.begin_create_or_update("slow", "many", deployment(8))
        wait_state(self.rm, "slow", "many", ("Running",))
        self.rm.deployments.cancel("slow", "many")
        d = wait_state(self.rm, "slow", "many", ("Canceled", "Succeeded", "Failed"))
        self.assertEqual(d.properties.provisioning_state, "Canceled")
        with self.assertRaises(HttpResponseError):
            poller.result()
        made = list(self.st.storage_accounts.list_by_resource_group("slow"))
        self.assertLess(len(made), 8)
        self.assertEqual(len(list(self.rm.deployment_operations.list("slow", "many"))),
                         len(made))

    def test_interrupted_deployment_is_failed_after_restart(self):
        self.rm.deployments.begin_create_or_update("slow", "cut", deployment(8))
        wait_state(self.rm, "slow", "cut", ("Running",))
        self.srv.kill9()
        self.srv.start()
        self.rm, self.st = clients(self.srv)
        d = self.rm.deployments.get("slow", "cut")
        self.assertEqual(d.properties.provisioning_state, "Failed")
        self.assertEqual(d.properties.error.code, "DeploymentInterrupted")
        # Run again, it completes (what the first run made is updated in place).
        d = self.rm.deployments.begin_create_or_update("slow", "cut", deployment(2)).result()
        self.assertEqual(d.properties.provisioning_state, "Succeeded")


if __name__ == "__main__":
    unittest.main()
