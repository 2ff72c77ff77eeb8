"""Deletes that are whole, and only whole (issue 16, items 7, 8, 19).

A storage account, a user-assigned identity or a resource group is deleted in
one transaction with everything that goes with it; kill -9 in the middle of
one (the test-only AZLITE_TEST_DELAY_DELETE_MS holds the delete open between
its steps) leaves it either fully there or fully gone, and an interrupted
group delete resumes at the next start.  Creates racing a group delete are
refused with 409 ResourceGroupBeingDeleted and leave no orphan.  After every
delete the rows are gone (names reusable, lists empty) and the data files
under <data>/blobs are reclaimed."""
import json
import os
import sqlite3
import subprocess
import threading
import time
import unittest
import uuid

import requests
from azure.storage.blob import BlobServiceClient

from azlite_harness import BIN, Azlite

API = "api-version=2023-01-01"
RG_API = "api-version=2022-09-01"
MSI_API = "api-version=2023-01-31"


class Server(Azlite):
    """The harness's server, started with extra environment variables."""

    def __init__(self, extra_env=None, **kw):
        super().__init__(server_env=extra_env, **kw)


def data_files(srv):
    """The data files under <data>/blobs."""
    out = []
    root = os.path.join(srv.data_dir, "blobs")
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files]
    return out


def db_path(srv):
    for n in os.listdir(srv.data_dir):
        if n.endswith(".db"):
            return os.path.join(srv.data_dir, n)
    raise AssertionError("no database in " + srv.data_dir)


def rows(srv, sql, *args):
    con = sqlite3.connect(db_path(srv), timeout=10)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


class Mgmt:
    """Raw management calls (requests), as the SDKs send them."""

    def __init__(self, srv):
        self.srv = srv
        self.sub = srv.env["AZURE_SUBSCRIPTION_ID"]

    def group_path(self, rg):
        return "/subscriptions/%s/resourceGroups/%s" % (self.sub, rg)

    def account_path(self, rg, name):
        return self.group_path(rg) + "/providers/Microsoft.Storage/storageAccounts/" + name

    def uai_path(self, rg, name):
        return (self.group_path(rg) + "/providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/" + name)

    def create_group(self, rg):
        r = self.srv.http("PUT", self.group_path(rg) + "?" + RG_API, json={"location": "eastus"})
        assert r.status_code in (200, 201), r.text
        return r

    def create_account(self, rg, name, identity=False, timeout=30):
        body = {"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
        if identity:
            body["identity"] = {"type": "SystemAssigned"}
        return self.srv.http("PUT", self.account_path(rg, name) + "?" + API, json=body,
                             timeout=timeout)

    def create_uai(self, rg, name, timeout=30):
        return self.srv.http("PUT", self.uai_path(rg, name) + "?" + MSI_API,
                             json={"location": "eastus"}, timeout=timeout)

    def name_available(self, name):
        r = self.srv.http("POST", "/subscriptions/%s/providers/Microsoft.Storage/"
                          "checkNameAvailability?%s" % (self.sub, API),
                          json={"name": name, "type": "Microsoft.Storage/storageAccounts"})
        assert r.status_code == 200, r.text
        return r.json()["nameAvailable"]

    def listed_accounts(self):
        r = self.srv.http("GET", "/subscriptions/%s/providers/Microsoft.Storage/"
                          "storageAccounts?%s" % (self.sub, API))
        assert r.status_code == 200, r.text
        return sorted(a["name"] for a in r.json()["value"])

    def conn_string(self, rg, name):
        r = self.srv.http("POST", self.account_path(rg, name) + "/listKeys?" + API)
        assert r.status_code == 200, (r.status_code, r.text)
        key = r.json()["keys"][0]["value"]
        return ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
                "BlobEndpoint=http://127.0.0.1:%d/%s" % (name, key, self.srv.ports["blob"],
                                                         name))

    def wait_group_settled(self, rg, timeout=60):
        """Waits until the group is gone (404) or usable (Succeeded); returns which."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.srv.http("GET", self.group_path(rg) + "?" + RG_API)
            if r.status_code == 404:
                return "gone"
            state = r.json()["properties"]["provisioningState"]
            if state == "Succeeded":
                return "usable"
            time.sleep(0.3)
        raise AssertionError("group %s still %s after %ds" % (rg, state, timeout))


def fill(conn, container="data", n=30, size=40 * 1024):
    """n blobs of size bytes (data files, not inline) in a new container."""
    svc = BlobServiceClient.from_connection_string(conn, retry_total=0)
    c = svc.create_container(container)
    blobs = {}
    for i in range(n):
        data = os.urandom(size)
        c.upload_blob("b%03d" % i, data)
        blobs["b%03d" % i] = data
    return blobs


def assert_blobs(test, conn, blobs, container="data"):
    c = BlobServiceClient.from_connection_string(conn, retry_total=0) \
        .get_container_client(container)
    for name, data in blobs.items():
        test.assertEqual(c.download_blob(name).readall(), data, name)


class AccountDeleteKilled(unittest.TestCase):
    """kill -9 while an account delete is held open between its steps."""

    def setUp(self):
        self.srv = Server({"AZLITE_TEST_DELAY_DELETE_MS": "3000"}).start()
        self.m = Mgmt(self.srv)

    def tearDown(self):
        self.srv.cleanup()

    def delete_in_background(self, rg, name):
        def go():
            try:
                self.srv.http("DELETE", self.m.account_path(rg, name) + "?" + API, timeout=20)
            except requests.RequestException:
                pass
        t = threading.Thread(target=go, daemon=True)
        t.start()
        return t

    def test_kill9_mid_delete_leaves_account_whole_or_gone(self):
        m = self.m
        m.create_group("rg1")
        # kill at several points of the delete: as it starts, in the middle, near its end
        for i, pause in enumerate([0.05, 1.5, 2.8]):
            name = "zombie%d" % i
            r = m.create_account("rg1", name, identity=True)
            self.assertEqual(r.status_code, 200, r.text)
            principal = r.json()["identity"]["principalId"]
            conn = m.conn_string("rg1", name)
            blobs = fill(conn, n=25)
            files_before = len(data_files(self.srv))
            self.assertGreaterEqual(files_before, 25)
            self.delete_in_background("rg1", name)
            time.sleep(pause)
            self.srv.kill9()
            self.srv.start()
            get = self.srv.http("GET", m.account_path("rg1", name) + "?" + API)
            listed = name in m.listed_accounts()
            keys = self.srv.http("POST", m.account_path("rg1", name) + "/listKeys?" + API)
            if get.status_code == 200:
                # fully there: listed, keys, blobs, its identity
                self.assertTrue(listed)
                self.assertEqual(keys.status_code, 200, keys.text)
                assert_blobs(self, m.conn_string("rg1", name), blobs)
                self.assertEqual(rows(self.srv, "SELECT count(*) FROM principals WHERE oid=?",
                                      principal), 1)
                r = self.srv.http("DELETE", m.account_path("rg1", name) + "?" + API, timeout=30)
                self.assertEqual(r.status_code, 200, r.text)
            else:
                self.assertEqual(get.status_code, 404, get.text)
                self.assertFalse(listed)
                self.assertEqual(keys.status_code, 404, keys.text)
            # now gone, everywhere
            self.assertEqual(self.srv.http("GET", m.account_path("rg1", name) + "?" + API)
                             .status_code, 404)
            self.assertNotIn(name, m.listed_accounts())
            self.assertTrue(m.name_available(name))
            self.assertEqual(rows(self.srv, "SELECT count(*) FROM principals WHERE oid=?",
                                  principal), 0)
            self.assertEqual(rows(self.srv, "SELECT count(*) FROM resources WHERE id LIKE ?",
                                  "%/" + name), 0)
            self.assertEqual(rows(self.srv, "SELECT count(*) FROM blob_containers WHERE "
                                  "account=?", name), 0)
            # the name is reusable, and the new account starts empty
            r = m.create_account("rg1", name)
            self.assertEqual(r.status_code, 200, r.text)
            svc = BlobServiceClient.from_connection_string(m.conn_string("rg1", name),
                                                           retry_total=0)
            self.assertEqual([c.name for c in svc.list_containers()], [])
            r = self.srv.http("DELETE", m.account_path("rg1", name) + "?" + API, timeout=30)
            self.assertEqual(r.status_code, 200, r.text)
        # the data files of every deleted account are reclaimed (a restart
        # ends the trash's grace period)
        self.srv.restart()
        self.assertEqual(data_files(self.srv), [])
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM blob_files"), 0)


class GroupDeleteKilled(unittest.TestCase):
    """kill -9 in the middle of a resource group delete; the next start resumes it."""

    def setUp(self):
        self.srv = Server({"AZLITE_TEST_DELAY_DELETE_MS": "700"}).start()
        self.m = Mgmt(self.srv)

    def tearDown(self):
        self.srv.cleanup()

    def test_kill9_mid_group_delete_resumes_at_restart(self):
        m = self.m
        m.create_group("doomed")
        accounts = ["doomeda%d" % i for i in range(3)]
        for a in accounts:
            self.assertEqual(m.create_account("doomed", a, identity=True).status_code, 200)
            fill(m.conn_string("doomed", a), n=8)
        self.assertEqual(m.create_uai("doomed", "doomed-id").status_code, 201)
        self.assertGreaterEqual(len(data_files(self.srv)), 24)
        r = self.srv.http("DELETE", m.group_path("doomed") + "?" + RG_API)
        self.assertEqual(r.status_code, 202, r.text)
        poll = r.headers["Azure-AsyncOperation"]
        time.sleep(1.6)  # two or three of its four resources deleted, uncommitted
        self.srv.kill9()
        self.srv.extra_env = {}
        self.srv.start()
        self.assertEqual(m.wait_group_settled("doomed"), "gone")
        # the operation the client polls ends, and says so
        path = poll.split("127.0.0.1:%d" % self.srv.ports["mgmt"], 1)[1]
        deadline = time.time() + 30
        while time.time() < deadline:
            st = self.srv.http("GET", path).json()["status"]
            if st != "InProgress":
                break
            time.sleep(0.3)
        self.assertEqual(st, "Succeeded")
        for a in accounts:
            self.assertTrue(m.name_available(a), a)
        self.assertEqual(m.listed_accounts(), [])
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM resources"), 0)
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM principals WHERE "
                              "kind='ManagedIdentity'"), 0)
        # names reusable in a new group of the same name
        m.create_group("doomed")
        self.assertEqual(m.create_account("doomed", accounts[0]).status_code, 200)
        self.assertEqual(m.create_uai("doomed", "doomed-id").status_code, 201)
        self.srv.restart()
        self.assertEqual(data_files(self.srv), [])

    def test_group_delete_committed_then_killed(self):
        """Killed after the delete committed: the group stays gone, the operation ends."""
        m = self.m
        self.srv.stop()
        self.srv.extra_env = {}
        self.srv.start()
        m.create_group("quick")
        self.assertEqual(m.create_account("quick", "quickacct").status_code, 200)
        r = self.srv.http("DELETE", m.group_path("quick") + "?" + RG_API)
        self.assertEqual(r.status_code, 202)
        self.assertEqual(m.wait_group_settled("quick"), "gone")
        self.srv.kill9()
        self.srv.start()
        self.assertEqual(m.wait_group_settled("quick"), "gone")
        self.assertTrue(m.name_available("quickacct"))


class CreatesRacingGroupDelete(unittest.TestCase):
    """Creates into a group while it is being deleted: refused, no orphans."""

    def setUp(self):
        self.srv = Server({"AZLITE_TEST_DELAY_DELETE_MS": "300"}).start()
        self.m = Mgmt(self.srv)

    def tearDown(self):
        self.srv.cleanup()

    def test_concurrent_creates_during_group_delete(self):
        m = self.m
        m.create_group("racing")
        for i in range(4):
            self.assertEqual(m.create_account("racing", "racingseed%d" % i).status_code, 200)
        tag = uuid.uuid4().hex[:6]
        results = []
        lock = threading.Lock()
        stop = threading.Event()

        def creator(t):
            i = 0
            while not stop.is_set():
                name = "race%s%d%03d" % (tag, t, i)
                i += 1
                try:
                    if t % 2:
                        r = m.create_uai("racing", name, timeout=60)
                    else:
                        r = m.create_account("racing", name, timeout=60)
                    code = (r.json().get("error") or {}).get("code") if r.text else None
                    with lock:
                        results.append((name, r.status_code, code, r.text))
                except requests.RequestException as e:
                    with lock:
                        results.append((name, 0, str(e), ""))

        threads = [threading.Thread(target=creator, args=(t,), daemon=True) for t in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        r = self.srv.http("DELETE", m.group_path("racing") + "?" + RG_API)
        self.assertEqual(r.status_code, 202, r.text)
        time.sleep(0.2)
        # a create while the group is Deleting: Azure's refusal
        r = m.create_account("racing", "racelate" + tag)
        self.assertIn(r.status_code, (404, 409), r.text)
        if r.status_code == 409:
            self.assertEqual(r.json()["error"]["code"], "ResourceGroupBeingDeleted")
            self.assertEqual(r.json()["error"]["message"],
                             "The resource group 'racing' is in deprovisioning state and "
                             "cannot perform this operation.")
        self.assertEqual(m.wait_group_settled("racing", timeout=90), "gone")
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(90)
        codes = {(s, c) for _, s, c, _ in results}
        self.assertIn((409, "ResourceGroupBeingDeleted"), codes, sorted(codes))
        for name, status, code, text in results:
            self.assertIn(status, (200, 201, 404, 409), (name, status, code, text))
            if status in (404, 409):
                self.assertIn(code, ("ResourceGroupNotFound", "ResourceGroupBeingDeleted"),
                              text)
        # no orphan: nothing listed, every storage name free, no identity left
        self.assertEqual(m.listed_accounts(), [])
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM resources"), 0)
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM storage_accounts WHERE id IS NOT "
                              "NULL"), 0)
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM principals WHERE "
                              "kind='ManagedIdentity'"), 0)
        for name, status, _, _ in results:
            if "race%s0" % tag in name or "race%s2" % tag in name:
                self.assertTrue(m.name_available(name), name)
        # and the names are reusable in a new group of that name
        m.create_group("racing")
        reuse = [n for n, s, _, _ in results if s == 200][:2] + \
            [n for n, s, _, _ in results if s == 409 and ("race%s0" % tag in n)][:2]
        for name in reuse:
            if "race%s1" % tag in name or "race%s3" % tag in name:
                continue
            self.assertEqual(m.create_account("racing", name).status_code, 200, name)

    def test_role_assignment_into_group_being_deleted(self):
        m = self.m
        m.create_group("rbacrace")
        for i in range(3):
            self.assertEqual(m.create_account("rbacrace", "rbacseed%d" % i).status_code, 200)
        oid = rows(self.srv, "SELECT oid FROM principals WHERE kind='ServicePrincipal' LIMIT 1")
        r = self.srv.http("DELETE", m.group_path("rbacrace") + "?" + RG_API)
        self.assertEqual(r.status_code, 202)
        time.sleep(0.1)
        scope = m.group_path("rbacrace")
        r = self.srv.http(
            "PUT", scope + "/providers/Microsoft.Authorization/roleAssignments/%s"
            "?api-version=2022-04-01" % uuid.uuid4(),
            json={"properties": {
                "roleDefinitionId": "/subscriptions/%s/providers/Microsoft.Authorization/"
                "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7" % m.sub,
                "principalId": oid}}, timeout=60)
        self.assertIn(r.status_code, (404, 409), r.text)
        self.assertIn(r.json()["error"]["code"],
                      ("ResourceGroupBeingDeleted", "ResourceGroupNotFound"))
        self.assertEqual(m.wait_group_settled("rbacrace"), "gone")
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM role_assignments WHERE "
                              "lower(scope) LIKE '%/resourcegroups/rbacrace%'"), 0)


class DeletesReclaim(unittest.TestCase):
    """Deleting blobs, containers, accounts and groups frees rows and disk."""

    def setUp(self):
        self.srv = Server().start()
        self.m = Mgmt(self.srv)

    def tearDown(self):
        self.srv.cleanup()

    def test_blob_container_account_group_deletes_reclaim_files(self):
        m = self.m
        m.create_group("reclaim")
        self.assertEqual(m.create_account("reclaim", "reclaimacct").status_code, 200)
        conn = m.conn_string("reclaim", "reclaimacct")
        blobs = fill(conn, "one", n=6)
        fill(conn, "two", n=6)
        svc = BlobServiceClient.from_connection_string(conn, retry_total=0)
        # one blob, then a whole container
        svc.get_container_client("one").delete_blob("b000")
        svc.delete_container("two")
        self.srv.restart()
        self.assertEqual(len(data_files(self.srv)), 5)
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM blob_files"), 5)
        del blobs["b000"]
        assert_blobs(self, conn, blobs, "one")
        svc.create_container("two")  # the name is reusable, and empty
        self.assertEqual(list(svc.get_container_client("two").list_blobs()), [])
        # the account, with a group delete
        r = self.srv.http("DELETE", m.group_path("reclaim") + "?" + RG_API)
        self.assertEqual(r.status_code, 202)
        self.assertEqual(m.wait_group_settled("reclaim"), "gone")
        self.srv.restart()
        self.assertEqual(data_files(self.srv), [])
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM blob_files"), 0)
        self.assertEqual(rows(self.srv, "SELECT count(*) FROM blob_containers c WHERE "
                              "c.account='reclaimacct'"), 0)
        self.assertTrue(m.name_available("reclaimacct"))


if __name__ == "__main__":
    unittest.main()
