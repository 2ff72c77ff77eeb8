"""Issue 16 item 15: a request to a provider namespace Azure registers but
azlite does not implement says so, in ARM's error shape (501 NotImplemented),
while namespaces Azure does not know keep ARM's 404."""
import unittest

from azlite_harness import Azlite

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def sub():
    return "/subscriptions/" + srv.env["AZURE_SUBSCRIPTION_ID"]


class NotImplemented(unittest.TestCase):
    def not_implemented(self, r, what):
        self.assertEqual(r.status_code, 501, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], "NotImplemented")
        self.assertIn("azlite does not implement %s yet" % what, err["message"])

    def test_compute_disks(self):
        # Microsoft.Compute serves VMs and scale sets, not managed disks.
        self.not_implemented(
            srv.http("GET", sub() + "/providers/Microsoft.Compute/disks"
                     "?api-version=2023-03-01"), "Microsoft.Compute/disks")
        self.not_implemented(
            srv.http("PUT", sub() + "/resourceGroups/g/providers/microsoft.compute/"
                     "disks/d1?api-version=2023-03-01", json={"location": "eastus"}),
            "Microsoft.Compute/disks")

    def test_unimplemented_location_path(self):
        # Microsoft.Compute serves locations/{l}/vmSizes, not every location path.
        self.not_implemented(
            srv.http("GET", sub() + "/providers/Microsoft.Compute/locations/eastus/runCommands"
                     "?api-version=2020-06-01"), "Microsoft.Compute/locations/runCommands")

    def test_unimplemented_type_of_an_implemented_namespace(self):
        self.not_implemented(
            srv.http("GET", sub() + "/providers/Microsoft.Storage/deletedAccounts"
                     "?api-version=2022-09-01"), "Microsoft.Storage/deletedAccounts")

    def test_az_names_it(self):
        p = srv.az("rest", "--method", "get", "--url", srv.mgmt_url + sub() +
                   "/providers/Microsoft.ContainerRegistry/registries?api-version=2022-12-01")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("azlite does not implement Microsoft.ContainerRegistry/registries yet",
                      p.stderr)

    def test_unknown_namespace_stays_404(self):
        r = srv.http("GET", sub() + "/providers/Contoso.Widgets/widgets?api-version=2023-03-01")
        self.assertEqual(r.status_code, 404, r.text)
        self.assertEqual(r.json()["error"]["code"], "NotFound")

    def test_implemented_types_are_served(self):
        r = srv.http("GET", sub() + "/providers/Microsoft.Storage/storageAccounts"
                     "?api-version=2022-09-01")
        self.assertEqual(r.status_code, 200, r.text)


if __name__ == "__main__":
    unittest.main()
