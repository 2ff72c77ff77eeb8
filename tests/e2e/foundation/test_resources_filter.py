"""The generic resource list, GET /subscriptions/{sub}[/resourceGroups/{rg}]/resources,
filtered the ways Azure documents (Resources_List) and clients send:
azure-mgmt-resource's `resources.list(filter=...)` and `az resource list`
(--resource-group, --name, --location, --tag k=v, --tag k, --tag 'prefix*').

Filters: resourceGroup, name, location, resourceType with `eq`; tagName /
tagValue; `substringof(value, name|resourceGroup)`, also with resourceType;
`startswith(tagName, ...)` (what az sends for --tag 'prefix*')."""
import unittest

from azlite_harness import Azlite

srv = None
rm = None
SUB = None
UAI = "Microsoft.ManagedIdentity/userAssignedIdentities"
# name -> (group, location, tags)
IDENTITIES = {
    "web-a1": ("flt-a", "eastus", {"env": "dev"}),
    "web-b1": ("flt-b", "westus", {"env": "prod"}),
    "db-a2": ("flt-a", "westus", {"Team": "data"}),
    "cache-b2": ("flt-b", "eastus", {}),
}


def setUpModule():
    global srv, rm, SUB
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource import ResourceManagementClient
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    rm = ResourceManagementClient(cred, SUB, base_url=srv.mgmt_url, connection_verify=srv.ca,
                                  credential_scopes=[srv.mgmt_url + "/.default"])
    for g in ("flt-a", "flt-b"):
        rm.resource_groups.create_or_update(g, {"location": "eastus"})
    for name, (g, loc, tags) in IDENTITIES.items():
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s/providers/%s/%s"
                     "?api-version=2023-01-31" % (SUB, g, UAI, name),
                     json={"location": loc, "tags": tags})
        assert r.status_code in (200, 201), r.text
    # One resource of another type, whose name also holds "web".
    srv.storage_account("stweb1", "flt-b", "--tags", "env=dev")


def tearDownModule():
    srv.cleanup()


def names(items):
    return sorted(i.name for i in items)


class SdkFilter(unittest.TestCase):
    def listed(self, f):
        return names(rm.resources.list(filter=f))

    def test_resource_group(self):
        self.assertEqual(self.listed("resourceGroup eq 'flt-a'"), ["db-a2", "web-a1"])
        # Group names are case-insensitive in Azure.
        self.assertEqual(self.listed("resourceGroup eq 'FLT-A'"), ["db-a2", "web-a1"])

    def test_name(self):
        self.assertEqual(self.listed("name eq 'web-b1'"), ["web-b1"])
        self.assertEqual(self.listed("name eq 'nothing-by-that-name'"), [])

    def test_location(self):
        self.assertEqual(self.listed("location eq 'westus'"), ["db-a2", "web-b1"])

    def test_resource_type(self):
        self.assertEqual(self.listed("resourceType eq 'Microsoft.Storage/storageAccounts'"),
                         ["stweb1"])
        self.assertEqual(self.listed("resourceType eq '%s'" % UAI),
                         ["cache-b2", "db-a2", "web-a1", "web-b1"])

    def test_tag_name_and_value(self):
        self.assertEqual(self.listed("tagName eq 'env' and tagValue eq 'dev'"),
                         ["stweb1", "web-a1"])
        self.assertEqual(self.listed("tagName eq 'env'"), ["stweb1", "web-a1", "web-b1"])
        # Tag names are case-insensitive; values are not.
        self.assertEqual(self.listed("tagName eq 'team'"), ["db-a2"])
        self.assertEqual(self.listed("tagName eq 'env' and tagValue eq 'DEV'"), [])

    def test_in_a_group(self):
        got = names(rm.resources.list_by_resource_group("flt-a", filter="location eq 'westus'"))
        self.assertEqual(got, ["db-a2"])

    def test_substringof_name(self):
        self.assertEqual(self.listed("substringof('web', name)"), ["stweb1", "web-a1", "web-b1"])

    def test_substringof_group(self):
        self.assertEqual(self.listed("substringof('t-b', resourceGroup)"),
                         ["cache-b2", "stweb1", "web-b1"])

    def test_substringof_and_resource_type(self):
        self.assertEqual(self.listed("substringof('web', name) and resourceType eq '%s'" % UAI),
                         ["web-a1", "web-b1"])

    def test_startswith_tag_name(self):
        self.assertEqual(self.listed("startswith(tagName, 'te')"), ["db-a2"])

    def test_unknown_filter_is_refused(self):
        r = srv.http("GET", "/subscriptions/%s/resources?api-version=2021-04-01"
                     "&$filter=frobnicate%%20eq%%20'x'" % SUB)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertTrue(r.json()["error"]["code"], r.text)


class AzResourceList(unittest.TestCase):
    def az_names(self, *args):
        return sorted(r["name"] for r in srv.az_json("resource", "list", *args))

    def test_group(self):
        self.assertEqual(self.az_names("-g", "flt-a"), ["db-a2", "web-a1"])

    def test_name(self):
        self.assertEqual(self.az_names("--name", "cache-b2"), ["cache-b2"])

    def test_location(self):
        self.assertEqual(self.az_names("--location", "westus"), ["db-a2", "web-b1"])
        self.assertEqual(self.az_names("-g", "flt-b", "--location", "eastus"),
                         ["cache-b2", "stweb1"])

    def test_tag(self):
        self.assertEqual(self.az_names("--tag", "env=prod"), ["web-b1"])
        self.assertEqual(self.az_names("--tag", "env"), ["stweb1", "web-a1", "web-b1"])

    def test_tag_prefix(self):
        # az sends "startswith(tagname, 'en')" for --tag 'en*'.
        self.assertEqual(self.az_names("--tag", "en*"), ["stweb1", "web-a1", "web-b1"])


if __name__ == "__main__":
    unittest.main()
