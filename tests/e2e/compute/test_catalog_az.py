"""The compute catalog through the real `az` (Debian azure-cli 2.45, profile
2020-09-01-hybrid): VM sizes, resource SKUs, platform images and the alias
document `az vm image list` loads, and quotas (`az vm list-usage`), with the
errors Azure answers for unknown locations and images."""
import json
import unittest

from azlite_harness import Azlite

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def az_fail(*args):
    """Runs az, expects it to fail; returns stderr."""
    p = srv.az(*args)
    if p.returncode == 0:
        raise AssertionError("az %s succeeded but should fail: %s" % (" ".join(args), p.stdout))
    return p.stderr


class Sizes(unittest.TestCase):
    def test_list_sizes_table(self):
        p = srv.az("vm", "list-sizes", "-l", "eastus", "-o", "table")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = {}
        for line in p.stdout.splitlines():
            cols = line.split()
            if len(cols) == 6 and cols[2].startswith("Standard_"):
                rows[cols[2]] = cols
        # Columns: MaxDataDiskCount MemoryInMb Name NumberOfCores OsDiskSizeInMb ResourceDisk...
        self.assertEqual(rows["Standard_NC6s_v3"][3], "6")
        self.assertEqual(rows["Standard_NC6s_v3"][1], str(112 * 1024))
        self.assertEqual(rows["Standard_ND96asr_v4"][3], "96")
        self.assertEqual(rows["Standard_B1s"][3], "1")

    def test_list_sizes_json(self):
        sizes = srv.az_json("vm", "list-sizes", "-l", "East US")
        by = {s["name"]: s for s in sizes}
        for name in ("Standard_NC24ads_A100_v4", "Standard_NV36ads_A10_v5", "Standard_D2s_v5",
                     "Standard_DS1_v2", "Standard_D4_v3", "Standard_F8s_v2"):
            self.assertIn(name, by)
        ds1 = by["Standard_DS1_v2"]
        self.assertEqual(ds1["numberOfCores"], 1)
        self.assertEqual(ds1["memoryInMb"], 3584)
        self.assertEqual(ds1["osDiskSizeInMb"], 1047552)
        self.assertEqual(ds1["resourceDiskSizeInMb"], 7 * 1024)
        self.assertEqual(ds1["maxDataDiskCount"], 4)
        # Every location azlite knows offers them.
        self.assertEqual(len(srv.az_json("vm", "list-sizes", "-l", "swedencentral")), len(sizes))

    def test_unknown_location(self):
        err = az_fail("vm", "list-sizes", "-l", "atlantis")
        self.assertIn("NoRegisteredProviderFound", err)
        self.assertIn("No registered resource provider found for location 'atlantis'", err)
        self.assertIn("locations/vmSizes", err)


class Skus(unittest.TestCase):
    def test_gpu_skus(self):
        skus = srv.az_json("vm", "list-skus", "-l", "eastus", "--size", "Standard_NC")
        names = {s["name"] for s in skus}
        self.assertTrue({"Standard_NC6s_v3", "Standard_NC24rs_v3", "Standard_NC4as_T4_v3",
                         "Standard_NC96ads_A100_v4"} <= names, names)
        self.assertNotIn("Standard_ND96asr_v4", names)  # --size is a prefix
        for s in skus:
            self.assertEqual(s["resourceType"], "virtualMachines")
            self.assertEqual(s["locations"], ["eastus"])
            caps = {c["name"]: c["value"] for c in s["capabilities"]}
            self.assertIn("GPUs", caps, s["name"])
            self.assertEqual(s["restrictions"], [])
        nc12 = next(s for s in skus if s["name"] == "Standard_NC12s_v3")
        caps = {c["name"]: c["value"] for c in nc12["capabilities"]}
        self.assertEqual(caps["GPUs"], "2")
        self.assertEqual(caps["vCPUs"], "12")
        self.assertEqual(caps["MemoryGB"], "224")
        self.assertEqual(caps["LowPriorityCapable"], "True")
        self.assertEqual(nc12["family"], "standardNCSv3Family")
        self.assertEqual(nc12["size"], "NC12s_v3")
        self.assertEqual(nc12["tier"], "Standard")
        self.assertEqual(nc12["locationInfo"][0]["zones"], ["1", "2", "3"])

    def test_b_series_no_low_priority_no_gpu(self):
        skus = srv.az_json("vm", "list-skus", "-l", "eastus", "--size", "Standard_B1s")
        self.assertEqual([s["name"] for s in skus], ["Standard_B1s"])
        caps = {c["name"]: c["value"] for c in skus[0]["capabilities"]}
        self.assertEqual(caps["LowPriorityCapable"], "False")
        self.assertNotIn("GPUs", caps)
        self.assertEqual(skus[0]["family"], "standardBSFamily")

    def test_restricted_size(self):
        # One documented restriction: NC24rs_v3 is not offered in West US.
        skus = srv.az_json("vm", "list-skus", "-l", "westus", "--size", "Standard_NC24rs_v3",
                           "--all")
        self.assertEqual(len(skus), 1)
        r = skus[0]["restrictions"]
        self.assertEqual(r[0]["reasonCode"], "NotAvailableForSubscription")
        self.assertEqual(r[0]["type"], "Location")
        self.assertEqual(r[0]["values"], ["westus"])
        # az hides restricted sizes unless --all.
        self.assertEqual(srv.az_json("vm", "list-skus", "-l", "westus", "--size",
                                     "Standard_NC24rs_v3"), [])

    def test_unknown_size(self):
        self.assertEqual(srv.az_json("vm", "list-skus", "-l", "eastus", "--size",
                                     "Standard_Nope_v9"), [])


class Images(unittest.TestCase):
    def test_alias_doc_is_served(self):
        p = srv.az("vm", "image", "list", "-o", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("Failed to retrieve image alias doc", p.stderr)
        images = {i["urnAlias"]: i for i in json.loads(p.stdout)}
        # Ubuntu2204 is not in az 2.45's local copy: this list came from azlite.
        self.assertEqual(images["Ubuntu2204"]["urn"],
                         "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest")
        self.assertEqual(images["UbuntuLTS"]["sku"], "18.04-LTS")
        self.assertEqual(images["Debian11"]["offer"], "debian-11")
        for alias in ("Debian", "CentOS85Gen2", "RHEL", "SLES", "openSUSE-Leap",
                      "FlatcarLinuxFreeGen2", "Win2022Datacenter", "Win2019Datacenter"):
            self.assertIn(alias, images)

    def test_alias_doc_anonymous(self):
        r = srv.http("GET", "/azlite/vm-image-aliases.json", token=None)
        self.assertEqual(r.status_code, 200, r.text)
        value = r.json()["outputs"]["aliases"]["value"]
        self.assertIn("UbuntuLTS", value["Linux"])
        self.assertIn("Win2022Datacenter", value["Windows"])

    def test_publishers_offers_skus(self):
        pubs = {p["name"] for p in srv.az_json("vm", "image", "list-publishers", "-l", "eastus")}
        self.assertTrue({"Canonical", "Debian", "MicrosoftWindowsServer"} <= pubs, pubs)
        offers = srv.az_json("vm", "image", "list-offers", "-l", "eastus", "-p", "canonical")
        self.assertIn("0001-com-ubuntu-server-jammy", {o["name"] for o in offers})
        self.assertEqual(offers[0]["location"], "eastus")
        skus = srv.az_json("vm", "image", "list-skus", "-l", "eastus", "-p", "Canonical", "-f",
                           "0001-com-ubuntu-server-jammy")
        self.assertEqual(sorted(s["name"] for s in skus), ["22_04-lts", "22_04-lts-gen2"])

    def test_list_all_from_server(self):
        images = srv.az_json("vm", "image", "list", "--publisher", "Canonical", "--offer",
                             "0001-com-ubuntu-server-jammy", "--sku", "22_04-lts-gen2", "--all",
                             "-l", "eastus")
        versions = [i["version"] for i in images]
        self.assertIn("22.04.202403050", versions)
        self.assertTrue(all(i["urn"].startswith("Canonical:0001-com-ubuntu-server-jammy:"
                                                "22_04-lts-gen2:") for i in images))

    def test_show_latest(self):
        img = srv.az_json("vm", "image", "show", "-l", "eastus", "--urn",
                          "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest")
        self.assertEqual(img["name"], "22.04.202403050")
        self.assertEqual(img["osDiskImage"]["operatingSystem"], "Linux")
        self.assertEqual(img["hyperVGeneration"], "V2")
        # (architecture is not in the 2020-06-01 model az uses: the SDK test checks it)
        self.assertRegex(img["id"], r"(?i)/providers/microsoft.compute/locations/eastus/"
                                    r"publishers/canonical/artifacttypes/vmimage/offers/")
        win = srv.az_json("vm", "image", "show", "-l", "eastus", "--urn",
                          "MicrosoftWindowsServer:WindowsServer:2022-Datacenter:latest")
        self.assertEqual(win["osDiskImage"]["operatingSystem"], "Windows")

    def test_unknown_image(self):
        err = az_fail("vm", "image", "show", "-l", "eastus", "--urn",
                      "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:1.2.3")
        self.assertIn("Artifact: VMImage was not found", err)
        err = az_fail("vm", "image", "list-skus", "-l", "eastus", "-p", "Canonical", "-f",
                      "NoSuchOffer")
        self.assertIn("NotFound", err)


class Usage(unittest.TestCase):
    def test_list_usage_defaults_and_admin_change(self):
        # az prints limit and currentValue as strings.
        usage = srv.az_json("vm", "list-usage", "-l", "eastus")
        by = {u["name"]["value"]: u for u in usage}
        self.assertEqual(by["cores"]["localName"], "Total Regional vCPUs")
        self.assertEqual(by["cores"]["limit"], "100")
        self.assertEqual(by["cores"]["currentValue"], "0")
        self.assertEqual(by["lowPriorityCores"]["localName"],
                         "Total Regional Low-priority vCPUs")
        self.assertEqual(by["standardNCSv3Family"]["localName"], "Standard NCSv3 Family vCPUs")
        self.assertEqual(by["standardNCSv3Family"]["limit"], "48")
        self.assertIn("virtualMachines", by)
        self.assertIn("virtualMachineScaleSets", by)

        r = srv.http("PUT", "/azlite/compute/quotas/eastus/standardncsv3family", json={"limit": 24})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["limit"], 24)
        by = {u["name"]["value"]: u for u in srv.az_json("vm", "list-usage", "-l", "eastus")}
        self.assertEqual(by["standardNCSv3Family"]["limit"], "24")
        # Per location: West US keeps the default.
        by = {u["name"]["value"]: u for u in srv.az_json("vm", "list-usage", "-l", "westus")}
        self.assertEqual(by["standardNCSv3Family"]["limit"], "48")

    def test_admin_quota_errors(self):
        r = srv.http("PUT", "/azlite/compute/quotas/eastus/cores", token=None, json={"limit": 5})
        self.assertEqual(r.status_code, 401, r.text)
        r = srv.http("PUT", "/azlite/compute/quotas/eastus/noSuchFamily", json={"limit": 5})
        self.assertEqual(r.status_code, 400, r.text)
        r = srv.http("PUT", "/azlite/compute/quotas/atlantis/cores", json={"limit": 5})
        self.assertEqual(r.status_code, 400, r.text)
        r = srv.http("PUT", "/azlite/compute/quotas/eastus/cores", json={"limit": -1})
        self.assertEqual(r.status_code, 400, r.text)
        by = {u["name"]["value"]: u for u in srv.az_json("vm", "list-usage", "-l", "eastus")}
        self.assertEqual(by["cores"]["limit"], "100")

    def test_unknown_location(self):
        err = az_fail("vm", "list-usage", "-l", "atlantis")
        self.assertIn("NoRegisteredProviderFound", err)


if __name__ == "__main__":
    unittest.main()
