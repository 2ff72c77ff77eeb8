"""Storage accounts through azure-mgmt-storage (Debian python3-azure,
StorageManagementClient at its default API version) pointed at azlite with
base_url and credential_scopes, as a user's provisioning script would be."""
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage import models as m
from azure.storage.blob import BlobServiceClient

from azlite_harness import Azlite

RG = "sdk-rg"
srv = None
client = None


def setUpModule():
    global srv, client
    srv = Azlite().start()
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    kw = dict(base_url=srv.mgmt_url, credential_scopes=[srv.mgmt_url + "/.default"],
              connection_verify=srv.ca)
    ResourceManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw).resource_groups \
        .create_or_update(RG, {"location": "westeurope"})
    client = StorageManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw)


def tearDownModule():
    srv.cleanup()


def create(name, **kw):
    params = m.StorageAccountCreateParameters(sku=m.Sku(name=kw.pop("sku", "Standard_LRS")),
                                              kind=kw.pop("kind", "StorageV2"),
                                              location="westeurope", **kw)
    return client.storage_accounts.begin_create(RG, name, params).result()


def conn_string(name):
    key = client.storage_accounts.list_keys(RG, name).keys[0].value
    acct = client.storage_accounts.get_properties(RG, name)
    return ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s"
            % (name, key, acct.primary_endpoints.blob))


class Accounts(unittest.TestCase):
    def test_create_get_list_update_delete(self):
        a = create("sdkacct1", tags={"env": "dev"})
        self.assertEqual(a.name, "sdkacct1")
        self.assertEqual(a.provisioning_state, "Succeeded")
        self.assertEqual(a.sku.name, "Standard_LRS")
        self.assertEqual(a.kind, "StorageV2")
        self.assertEqual(a.access_tier, "Hot")
        self.assertEqual(a.tags, {"env": "dev"})
        self.assertEqual(a.primary_location, "westeurope")
        self.assertIsNotNone(a.creation_time)
        self.assertEqual(a.primary_endpoints.blob,
                         "http://127.0.0.1:%d/sdkacct1/" % srv.ports["blob"])

        got = client.storage_accounts.get_properties(RG, "sdkacct1")
        self.assertEqual(got.id, a.id)
        self.assertIn("sdkacct1", [x.name for x in client.storage_accounts.list_by_resource_group(RG)])
        self.assertIn("sdkacct1", [x.name for x in client.storage_accounts.list()])

        upd = client.storage_accounts.update(
            RG, "sdkacct1", m.StorageAccountUpdateParameters(tags={"env": "prod"},
                                                             access_tier="Cool"))
        self.assertEqual((upd.tags, upd.access_tier), ({"env": "prod"}, "Cool"))
        self.assertEqual(client.storage_accounts.get_properties(RG, "sdkacct1").access_tier,
                         "Cool")

        # Creating again with the same name updates (Azure's PUT semantics).
        again = create("sdkacct1", tags={"v": "2"})
        self.assertEqual(again.tags, {"v": "2"})
        self.assertEqual(again.creation_time, a.creation_time)

        client.storage_accounts.delete(RG, "sdkacct1")
        with self.assertRaises(ResourceNotFoundError):
            client.storage_accounts.get_properties(RG, "sdkacct1")

    def test_keys(self):
        create("sdkkeys1")
        keys = client.storage_accounts.list_keys(RG, "sdkkeys1").keys
        self.assertEqual([k.key_name for k in keys], ["key1", "key2"])
        svc = BlobServiceClient.from_connection_string(conn_string("sdkkeys1"))
        svc.create_container("ctr")
        new = client.storage_accounts.regenerate_key(
            RG, "sdkkeys1", m.StorageAccountRegenerateKeyParameters(key_name="key2")).keys
        self.assertEqual(new[0].value, keys[0].value)
        self.assertNotEqual(new[1].value, keys[1].value)
        # key1 still works; the old key2 does not.
        svc.get_container_client("ctr").get_container_properties()
        old2 = BlobServiceClient(svc.url, credential={"account_name": "sdkkeys1",
                                                      "account_key": keys[1].value})
        with self.assertRaises(HttpResponseError) as cm:
            old2.get_container_client("ctr").get_container_properties()
        self.assertEqual(cm.exception.status_code, 403)
        with self.assertRaises(HttpResponseError) as cm:
            client.storage_accounts.regenerate_key(
                RG, "sdkkeys1", m.StorageAccountRegenerateKeyParameters(key_name="key3"))
        self.assertEqual(cm.exception.status_code, 400)

    def test_check_name_and_errors(self):
        create("sdktaken1")
        r = client.storage_accounts.check_name_availability(
            m.StorageAccountCheckNameAvailabilityParameters(name="sdktaken1"))
        self.assertEqual((r.name_available, r.reason), (False, "AlreadyExists"))
        r = client.storage_accounts.check_name_availability(
            m.StorageAccountCheckNameAvailabilityParameters(name="x"))
        self.assertEqual((r.name_available, r.reason), (False, "AccountNameInvalid"))
        self.assertIn("between 3 and 24 characters", r.message)
        with self.assertRaises(HttpResponseError) as cm:
            create("Not-Valid")
        self.assertEqual(cm.exception.error.code, "AccountNameInvalid")
        with self.assertRaises(HttpResponseError) as cm:
            create("sdkbadsku1", sku="Standard_XYZ")
        self.assertEqual(cm.exception.status_code, 400)
        self.assertIn("sku.name", cm.exception.message)
        with self.assertRaises(HttpResponseError) as cm:
            create("sdkbadtier", access_tier="Frozen")
        self.assertEqual(cm.exception.status_code, 400)

    def test_blob_service_properties(self):
        create("sdkblobsvc")
        p = client.blob_services.get_service_properties(RG, "sdkblobsvc")
        self.assertEqual(p.name, "default")
        p = client.blob_services.set_service_properties(
            RG, "sdkblobsvc", m.BlobServiceProperties(
                last_access_time_tracking_policy=m.LastAccessTimeTrackingPolicy(enable=True)))
        lat = p.last_access_time_tracking_policy
        self.assertEqual((lat.enable, lat.name, lat.tracking_granularity_in_days),
                         (True, "AccessTimeTracking", 1))
        got = client.blob_services.get_service_properties(RG, "sdkblobsvc")
        self.assertTrue(got.last_access_time_tracking_policy.enable)


class ManagementPolicies(unittest.TestCase):
    def test_create_get_delete(self):
        create("sdkpolicy1")
        rule = m.ManagementPolicyRule(
            name="cold-tagged", type="Lifecycle",
            definition=m.ManagementPolicyDefinition(
                filters=m.ManagementPolicyFilter(
                    blob_types=["blockBlob"], prefix_match=["data/raw"],
                    blob_index_match=[m.TagFilter(name="stage", op="==", value="done")]),
                actions=m.ManagementPolicyAction(
                    base_blob=m.ManagementPolicyBaseBlob(
                        tier_to_cold=m.DateAfterModification(days_after_modification_greater_than=10),
                        delete=m.DateAfterModification(days_after_creation_greater_than=365)),
                    snapshot=m.ManagementPolicySnapShot(
                        delete=m.DateAfterCreation(days_after_creation_greater_than=30)))))
        pol = client.management_policies.create_or_update(
            RG, "sdkpolicy1", "default",
            m.ManagementPolicy(policy=m.ManagementPolicySchema(rules=[rule])))
        self.assertEqual(pol.name, "DefaultManagementPolicy")
        self.assertTrue(pol.id.endswith("/storageAccounts/sdkpolicy1/managementPolicies/default"))
        self.assertIsNotNone(pol.last_modified_time)
        got = client.management_policies.get(RG, "sdkpolicy1", "default")
        r = got.policy.rules[0]
        self.assertEqual(r.name, "cold-tagged")
        self.assertEqual(r.definition.actions.base_blob.tier_to_cold
                         .days_after_modification_greater_than, 10)
        self.assertEqual(r.definition.filters.blob_index_match[0].value, "done")
        client.management_policies.delete(RG, "sdkpolicy1", "default")
        with self.assertRaises(ResourceNotFoundError):
            client.management_policies.get(RG, "sdkpolicy1", "default")

    def test_last_access_needs_tracking(self):
        create("sdkpolicy2")
        pol = m.ManagementPolicy(policy=m.ManagementPolicySchema(rules=[m.ManagementPolicyRule(
            name="by-access", type="Lifecycle",
            definition=m.ManagementPolicyDefinition(
                filters=m.ManagementPolicyFilter(blob_types=["blockBlob"]),
                actions=m.ManagementPolicyAction(base_blob=m.ManagementPolicyBaseBlob(
                    tier_to_cool=m.DateAfterModification(
                        days_after_last_access_time_greater_than=30),
                    enable_auto_tier_to_hot_from_cool=True))))]))
        with self.assertRaises(HttpResponseError) as cm:
            client.management_policies.create_or_update(RG, "sdkpolicy2", "default", pol)
        self.assertEqual(cm.exception.error.code, "MissingLastAccessTimeBasedTrackingPolicy")
        client.blob_services.set_service_properties(
            RG, "sdkpolicy2", m.BlobServiceProperties(
                last_access_time_tracking_policy=m.LastAccessTimeTrackingPolicy(enable=True)))
        got = client.management_policies.create_or_update(RG, "sdkpolicy2", "default", pol)
        self.assertTrue(got.policy.rules[0].definition.actions.base_blob
                        .enable_auto_tier_to_hot_from_cool)


if __name__ == "__main__":
    unittest.main()
