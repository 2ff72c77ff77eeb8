"""Long-running operations as ARM runs them, seen through resource group
deletion: 202 with Location, Azure-AsyncOperation and Retry-After: 1 (without
which azure-core sleeps 30 s per poll), and polls that finish."""
import time
import unittest

from azlite_harness import Azlite

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


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

    def test_polls_right_after_202(self):
        # Poll the instant the 202 arrives: an operation still running must say when to
        # come back (Retry-After: 1), and every one finishes.
        for i in range(10):
            name = "quick-%d" % i
            self.create(name)
            r = srv.http("DELETE", group(name))
            self.assertEqual(r.status_code, 202, r.text)
            for url in (r.headers["Location"], r.headers["Azure-AsyncOperation"]):
                p = srv.http("GET", relative(url))
                running = p.status_code == 202 or (p.status_code == 200 and
                                                   p.content and
                                                   p.json().get("status") == "InProgress")
                if running:
                    self.assertEqual(p.headers.get("Retry-After"), "1", url)
            deadline = time.time() + 10
            while srv.http("GET", relative(r.headers["Location"])).status_code == 202:
                self.assertLess(time.time(), deadline)
                time.sleep(0.1)
            self.assertEqual(srv.http("HEAD", group(name)).status_code, 404)

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
