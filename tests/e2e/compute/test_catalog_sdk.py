"""The compute catalog through the Python SDK (Debian azure-mgmt-compute, its
default api-versions: 2022-08-01, resource SKUs 2021-07-01): sizes, resource
SKUs with a location filter, usages, and the platform image tree."""
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient

from azlite_harness import Azlite

srv = None
client = None

JAMMY = ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2")


def setUpModule():
    global srv, client
    srv = Azlite().start()
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    client = ComputeManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], base_url=srv.mgmt_url,
                                     connection_verify=srv.ca,
                                     credential_scopes=[srv.mgmt_url + "/.default"])


def tearDownModule():
    srv.cleanup()


class Sizes(unittest.TestCase):
    def test_vm_sizes(self):
        by = {s.name: s for s in client.virtual_machine_sizes.list("eastus")}
        a100 = by["Standard_NC24ads_A100_v4"]
        self.assertEqual(a100.number_of_cores, 24)
        self.assertEqual(a100.memory_in_mb, 220 * 1024)
        self.assertEqual(a100.os_disk_size_in_mb, 1047552)
        self.assertIn("Standard_NV12s_v3", by)
        self.assertIn("Standard_E8s_v3", by)

    def test_unknown_location(self):
        with self.assertRaises(HttpResponseError) as cm:
            list(client.virtual_machine_sizes.list("atlantis"))
        self.assertEqual(cm.exception.status_code, 400)
        self.assertEqual(cm.exception.error.code, "NoRegisteredProviderFound")

    def test_resource_skus_filter(self):
        skus = list(client.resource_skus.list(filter="location eq 'eastus'"))
        self.assertEqual({tuple(s.locations) for s in skus}, {("eastus",)})
        by = {s.name: s for s in skus}
        nd = by["Standard_ND96asr_v4"]
        caps = {c.name: c.value for c in nd.capabilities}
        self.assertEqual(caps["GPUs"], "8")
        self.assertEqual(caps["vCPUs"], "96")
        self.assertEqual(caps["HyperVGenerations"], "V2")
        self.assertEqual(caps["CpuArchitectureType"], "x64")
        self.assertEqual(caps["PremiumIO"], "True")
        self.assertEqual(caps["AcceleratedNetworkingEnabled"], "True")
        self.assertEqual(nd.family, "standardNDASv4_A100Family")
        self.assertEqual(nd.resource_type, "virtualMachines")
        self.assertEqual(nd.location_info[0].location, "eastus")
        self.assertEqual(caps["MemoryGB"], "900")
        d2 = {c.name: c.value for c in by["Standard_D2_v3"].capabilities}
        self.assertEqual(d2["PremiumIO"], "False")
        # Unfiltered: every size in every location.
        everything = list(client.resource_skus.list())
        self.assertGreater(len(everything), len(skus) * 10)
        restricted = [s for s in everything if s.restrictions]
        self.assertEqual([(s.name, s.locations) for s in restricted],
                         [("Standard_NC24rs_v3", ["westus"])])
        self.assertEqual(restricted[0].restrictions[0].reason_code,
                         "NotAvailableForSubscription")

    def test_bad_filter(self):
        with self.assertRaises(HttpResponseError) as cm:
            list(client.resource_skus.list(filter="name eq 'Standard_B1s'"))
        self.assertEqual(cm.exception.status_code, 400)


class Usage(unittest.TestCase):
    def test_usage_list(self):
        by = {u.name.value: u for u in client.usage.list("westeurope")}
        self.assertEqual(by["cores"].limit, 100)
        self.assertEqual(by["cores"].current_value, 0)
        self.assertEqual(by["cores"].unit, "Count")
        self.assertEqual(by["StandardNCADSA100v4Family"].name.localized_value,
                         "Standard NCADS_A100_v4 Family vCPUs")
        r = srv.http("PUT", "/azlite/compute/quotas/westeurope/lowprioritycores",
                     json={"limit": 250})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["name"]["value"], "lowPriorityCores")
        by = {u.name.value: u for u in client.usage.list("westeurope")}
        self.assertEqual(by["lowPriorityCores"].limit, 250)
        # Kept across a restart (the compute_quotas table).
        srv.restart()
        by = {u.name.value: u for u in client.usage.list("westeurope")}
        self.assertEqual(by["lowPriorityCores"].limit, 250)


class Images(unittest.TestCase):
    def test_tree(self):
        imgs = client.virtual_machine_images
        self.assertIn("kinvolk", [p.name for p in imgs.list_publishers("eastus")])
        self.assertIn("debian-11", [o.name for o in imgs.list_offers("eastus", "Debian")])
        self.assertIn("11-backports-gen2",
                      [s.name for s in imgs.list_skus("eastus", "Debian", "debian-11")])
        versions = [v.name for v in imgs.list("eastus", *JAMMY)]
        self.assertEqual(versions, sorted(versions))
        newest = imgs.list("eastus", *JAMMY, top=1, orderby="name desc")
        self.assertEqual([v.name for v in newest], [versions[-1]])
        img = imgs.get("eastus", *JAMMY, versions[0])
        self.assertEqual(img.name, versions[0])
        self.assertEqual(img.location, "eastus")
        self.assertEqual(img.os_disk_image.operating_system, "Linux")
        self.assertEqual(img.hyper_v_generation, "V2")
        self.assertEqual(img.architecture, "x64")

    def test_not_found(self):
        imgs = client.virtual_machine_images
        for call in (lambda: imgs.get("eastus", *JAMMY, "9.9.9"),
                     lambda: imgs.list("eastus", "Canonical", "nope", "x"),
                     lambda: imgs.list_offers("eastus", "NoSuchPublisher")):
            with self.assertRaises(ResourceNotFoundError) as cm:
                call()
            self.assertEqual(cm.exception.error.code, "NotFound")
            self.assertIn("Artifact: VMImage was not found", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
