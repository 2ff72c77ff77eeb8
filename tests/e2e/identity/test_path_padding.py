"""Issue 16 item 1: authorization is decided on exactly the path the handler
acts on.  A path padded with '/' (1000 of them), or made of more segments
than any fixed buffer would hold, must be judged as the router reads it: a
Contributor stays a Contributor."""
import time
import unittest
import uuid

from azlite_harness import Azlite
from idhelp import (API, assign, create_group, create_sp, grant, mgmt_token, rg_scope, role_id,
                    sub_scope)

srv = None
PAD = "/" * 1000
ACCOUNT = "padstore1"
RA = "/providers/Microsoft.Authorization/roleAssignments/"
SAC = "17d1049b-9a84-46fb-8f53-869881c3d3ab"  # Storage Account Contributor


def setUpModule():
    global srv
    srv = Azlite().start()
    create_group(srv, "pad-group")


def tearDownModule():
    srv.cleanup()


def assignments_of(oid):
    r = srv.http("GET", "%s/providers/Microsoft.Authorization/roleAssignments?%s&$filter=%s"
                 % (sub_scope(srv), API, "assignedTo('%s')" % oid))
    assert r.status_code == 200, r.text
    return [a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1] for a in r.json()["value"]]


def put_assignment(path, token, role, principal):
    return srv.http("PUT", path + "?" + API, token=token,
                    json={"properties": {"roleDefinitionId": role_id(srv, role),
                                         "principalId": principal}})


class PathPadding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sub_contrib = create_sp(srv, "pad-sub-contributor")
        grant(srv, "Contributor", sub_scope(srv), cls.sub_contrib["oid"])
        cls.rg_contrib = create_sp(srv, "pad-rg-contributor")
        grant(srv, "Contributor", rg_scope(srv, "pad-group"), cls.rg_contrib["oid"])
        cls.sub_tok = mgmt_token(srv, cls.sub_contrib)
        cls.rg_tok = mgmt_token(srv, cls.rg_contrib)

    def refused(self, r, action):
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(r.json()["error"]["code"], "AuthorizationFailed")
        self.assertIn(action, r.json()["error"]["message"])

    def test_padded_owner_grant_at_subscription_scope(self):
        oid = self.sub_contrib["oid"]
        path = sub_scope(srv) + PAD + RA + str(uuid.uuid4())
        self.refused(put_assignment(path, self.sub_tok, "Owner", oid),
                     "Microsoft.Authorization/roleAssignments/write")
        self.assertNotIn(role_id(srv, "Owner").rsplit("/", 1)[-1], assignments_of(oid))

    def test_padded_owner_grant_at_group_scope(self):
        oid = self.rg_contrib["oid"]
        for path in (rg_scope(srv, "pad-group") + PAD + RA + str(uuid.uuid4()),
                     sub_scope(srv) + PAD + "/resourceGroups/pad-group" + PAD + RA +
                     str(uuid.uuid4()),
                     PAD + rg_scope(srv, "pad-group") + RA + str(uuid.uuid4()) + PAD):
            self.refused(put_assignment(path, self.rg_tok, "Owner", oid),
                         "Microsoft.Authorization/roleAssignments/write")
        self.assertNotIn(role_id(srv, "Owner").rsplit("/", 1)[-1], assignments_of(oid))

    def test_padded_delete_of_anothers_assignment(self):
        victim = create_sp(srv, "pad-victim")
        a = grant(srv, "Reader", rg_scope(srv, "pad-group"), victim["oid"])
        name = a["name"]
        for path in (rg_scope(srv, "pad-group") + PAD + RA + name,
                     sub_scope(srv) + PAD + "/resourceGroups/pad-group" + RA + name):
            r = srv.http("DELETE", path + "?" + API, token=self.rg_tok)
            self.refused(r, "Microsoft.Authorization/roleAssignments/delete")
        r = srv.http("GET", rg_scope(srv, "pad-group") + RA + name + "?" + API)
        self.assertEqual(r.status_code, 200, r.text)

    def test_storage_account_contributor_cannot_grant_itself_blob_data_owner(self):
        sp = create_sp(srv, "pad-sa-contributor")
        acct = rg_scope(srv, "pad-group") + "/providers/Microsoft.Storage/storageAccounts/" + ACCOUNT
        r = srv.http("PUT", acct + "?api-version=2022-09-01",
                     json={"location": "eastus", "sku": {"name": "Standard_LRS"},
                           "kind": "StorageV2"})
        self.assertIn(r.status_code, (200, 201, 202), r.text)
        for _ in range(100):
            if srv.http("GET", acct + "?api-version=2022-09-01").status_code == 200:
                break
            time.sleep(0.1)
        grant(srv, SAC, acct, sp["oid"])
        tok = mgmt_token(srv, sp)
        head, tail = acct.rsplit("/storageAccounts/", 1)
        for path in (acct + PAD + RA + str(uuid.uuid4()),
                     head + PAD + "/storageAccounts/" + tail + PAD + RA + str(uuid.uuid4())):
            self.refused(put_assignment(path, tok, "Storage Blob Data Owner", sp["oid"]),
                         "Microsoft.Authorization/roleAssignments/write")
        self.assertEqual(assignments_of(sp["oid"]),
                         [SAC])

    def test_too_many_segments(self):
        # More segments than any fixed table held, ending in a role assignment:
        # judged (and routed) on all of them, never on the first 64.
        deep = rg_scope(srv, "pad-group") + "/providers/Microsoft.Storage/storageAccounts/x" + \
            "".join("/c%d/n%d" % (i, i) for i in range(60))
        r = put_assignment(deep + RA + str(uuid.uuid4()), self.rg_tok, "Owner",
                           self.rg_contrib["oid"])
        self.assertNotIn(r.status_code, (200, 201), r.text)
        self.assertIn(r.status_code, (400, 403, 404), r.text)
        self.assertNotIn(role_id(srv, "Owner").rsplit("/", 1)[-1],
                         assignments_of(self.rg_contrib["oid"]))

    def test_padding_is_one_path_for_the_owner(self):
        # The same collapsed form for everyone: the admin's padded grant lands
        # at the scope the path names, as the SDKs' "//subscriptions" does.
        sp = create_sp(srv, "pad-granted")
        name = str(uuid.uuid4())
        r = put_assignment("/" + sub_scope(srv) + PAD + "/resourceGroups/pad-group" + RA + name,
                           True, "Reader", sp["oid"])
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["properties"]["scope"].lower(),
                         rg_scope(srv, "pad-group").lower())
        r = srv.http("GET", rg_scope(srv, "pad-group") + RA + name + "?" + API)
        self.assertEqual(r.status_code, 200, r.text)


if __name__ == "__main__":
    unittest.main()
