"""Long-running operations as ARM runs them, seen through resource group
deletion: 202 with Location, Azure-AsyncOperation and Retry-After: 1 (without
which azure-core sleeps 30 s per poll), and polls that finish.

An operation is observed while it runs through a test hook of the server:
AZLITE_TEST_LRO_DELAY_MS holds every operation that long before its work
starts (src/arm/lro.c), so "InProgress" is seen on every run, not by luck."""
import time
import unittest

from azlite_harness import Azlite

srv = None
DELAY_MS = 3000


def setUpModule():
    global srv
    srv = Azlite(server_env={"AZLITE_TEST_LRO_DELAY_MS": str(DELAY_MS)}).start()


def tearDownModule():
    srv.cleanup()


def group(name):
    return "/subscriptions/%s/resourcegroups/%s?api-version=2021-04-01" % (
        srv.env["AZURE_SUBSCRIPTION_ID"], name)


def relative(url):
    assert url.startswith(srv.mgmt_url + "/"), url
    return url[len(srv.mgmt_url):]


class GroupDelete(unittest.TestCase):
    def create(self, name):
        r = srv.http("PUT", group(name), json={"location": "eastus"})
        self.assertIn(r.status_code, (200, 201), r.text)

    def test_delete_is_an_lro(self):
        self.create("lro-rg")
        r = srv.http("DELETE", group("lro-rg"))
        self.assertEqual(r.status_code, 202, r.text)
        self.assertEqual(r.content, b"")
        self.assertEqual(r.headers.get("Retry-After"), "1")
        async_op = r.headers["Azure-AsyncOperation"]
        location = r.headers["Location"]
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        self.assertTrue(relative(async_op).startswith(
            "/subscriptions/%s/providers/Microsoft.Resources/operationStatuses/" % sub))
        self.assertIn("api-version=", async_op)
        self.assertTrue(relative(location).startswith("/subscriptions/%s/operationresults/" % sub))

        deadline = time.time() + 10
        while True:
            p = srv.http("GET", relative(async_op))
            self.assertEqual(p.status_code, 200, p.text)
            status = p.json()["status"]
            self.assertIn(status, ("InProgress", "Succeeded"), p.text)
            if status == "Succeeded":
                break
            self.assertEqual(p.headers.get("Retry-After"), "1")
            self.assertLess(time.time(), deadline)
            time.sleep(0.1)

        p = srv.http("GET", relative(location))
        self.assertEqual(p.status_code, 200, p.text)
        self.assertEqual(srv.http("GET", group("lro-rg")).status_code, 404)
        self.assertEqual(srv.http("DELETE", group("lro-rg")).json()["error"]["code"],
                         "ResourceGroupNotFound")

    def test_running_operation_says_when_to_come_back(self):
        # While the operation runs (held by the hook), both URLs answer "running" with
        # Retry-After: 1, the Location poll hands out its Location again, and the group
        # reads as Deleting; then it finishes.
        self.create("held")
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        srv.http("PUT", "/subscriptions/%s/resourceGroups/held/providers/"
                 "Microsoft.ManagedIdentity/userAssignedIdentities/held-id"
                 "?api-version=2023-01-31", json={"location": "eastus"})
        t0 = time.time()
        r = srv.http("DELETE", group("held"))
        self.assertEqual(r.status_code, 202, r.text)
        self.assertEqual(r.headers.get("Retry-After"), "1")
        self.assertIn("Azure-AsyncOperation", r.headers)
        self.assertIn("Location", r.headers)
        async_op, location = relative(r.headers["Azure-AsyncOperation"]), \
            relative(r.headers["Location"])
        seen = 0
        while time.time() - t0 < DELAY_MS / 1000.0 - 1:
            p = srv.http("GET", async_op)
            self.assertEqual((p.status_code, p.json()["status"]), (200, "InProgress"), p.text)
            self.assertEqual(p.headers.get("Retry-After"), "1")
            q = srv.http("GET", location)
            self.assertEqual(q.status_code, 202, q.text)
            self.assertEqual(q.content, b"")
            self.assertEqual(q.headers.get("Retry-After"), "1")
            self.assertEqual(relative(q.headers["Location"]), location)
            g = srv.http("GET", group("held"))
            self.assertEqual(g.status_code, 200, g.text)
            self.assertEqual(g.json()["properties"]["provisioningState"], "Deleting")
            seen += 1
            time.sleep(0.2)
        self.assertGreater(seen, 0)
        deadline = time.time() + DELAY_MS / 1000.0 + 20
        while srv.http("GET", location).status_code == 202:
            self.assertLess(time.time(), deadline)
            time.sleep(0.2)
        p = srv.http("GET", async_op)
        self.assertEqual(p.json()["status"], "Succeeded", p.text)
        self.assertNotIn("Retry-After", p.headers)
        self.assertEqual(srv.http("GET", location).status_code, 200)
        self.assertEqual(srv.http("HEAD", group("held")).status_code, 404)
        self.assertEqual(srv.http("GET", "/subscriptions/%s/resourceGroups/held/providers/"
                                  "Microsoft.ManagedIdentity/userAssignedIdentities/held-id"
                                  "?api-version=2023-01-31").status_code, 404)

    def test_sdk_poller_waits_for_the_held_operation(self):
        # azure-core's poller follows Retry-After: 1, so it returns soon after the hold.
        from azure.identity import ClientSecretCredential
        from azure.mgmt.resource import ResourceManagementClient
        e = srv.env
        cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                      e["AZURE_CLIENT_SECRET"],
                                      authority=e["AZURE_AUTHORITY_HOST"],
                                      connection_verify=srv.ca)
        rm = ResourceManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], base_url=srv.mgmt_url,
                                      connection_verify=srv.ca,
                                      credential_scopes=[srv.mgmt_url + "/.default"])
        rm.resource_groups.create_or_update("sdk-held", {"location": "eastus"})
        t0 = time.time()
        poller = rm.resource_groups.begin_delete("sdk-held")
        self.assertEqual(poller.status(), "InProgress")
        self.assertFalse(poller.done())
        poller.result(timeout=60)
        took = time.time() - t0
        self.assertGreaterEqual(took, DELAY_MS / 1000.0 - 0.5)
        self.assertLess(took, DELAY_MS / 1000.0 + 15)
        self.assertFalse(rm.resource_groups.check_existence("sdk-held"))

    def test_unknown_operation(self):
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        for path in ("/subscriptions/%s/providers/Microsoft.Resources/operationStatuses/nope",
                     "/subscriptions/%s/operationresults/nope"):
            r = srv.http("GET", path % sub + "?api-version=2021-04-01")
            self.assertEqual(r.status_code, 404)
            self.assertEqual(r.json()["error"]["code"], "OperationNotFound")

    def test_az_no_wait_then_wait(self):
        srv.az_json("group", "create", "-n", "nowait", "-l", "eastus")
        p = srv.az("group", "delete", "-n", "nowait", "-y", "--no-wait")
        self.assertEqual(p.returncode, 0, p.stderr)
        t0 = time.time()
        p = srv.az("group", "wait", "--deleted", "-n", "nowait", "--interval", "1",
                   "--timeout", "30")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertLess(time.time() - t0, 30)
        self.assertIs(srv.az_json("group", "exists", "-n", "nowait"), False)


if __name__ == "__main__":
    unittest.main()
