"""Rights held at one scope do not reach another through a shared object:
a custom role assignable at the subscription cannot be rewritten or deleted
by someone who may define roles only on one group (issue 16 item 2), a role
assignment is addressed only through its own scope, and attaching a
user-assigned identity to a resource takes the assign action on that identity
(ARM's linked access check, 403 LinkedAuthorizationFailed; item 4)."""
import unittest
import uuid

from azlite_harness import Azlite
from idhelp import (API, UAI, create_group, create_identity, create_sp, grant, mgmt_token,
                    rg_scope, sub_scope)

srv = None
MI_OPERATOR = "f1a07417-d97a-45cb-824c-7a7467783830"
SA_API = "api-version=2022-09-01"


def setUpModule():
    global srv
    srv = Azlite().start()
    for g in ("esc-a", "esc-b"):
        create_group(srv, g)


def tearDownModule():
    srv.cleanup()


def role_path(scope, rid):
    return "%s/providers/Microsoft.Authorization/roleDefinitions/%s?%s" % (scope, rid, API)


def role_body(name, actions, scopes):
    return {"properties": {"roleName": name, "type": "CustomRole", "description": "test",
                           "permissions": [{"actions": actions}],
                           "assignableScopes": scopes}}


def code(r):
    return r.json().get("error", {}).get("code") if r.text else None


class CustomRoleFromALowerScope(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sp = create_sp(srv, "esc-uaa-" + uuid.uuid4().hex[:6])
        grant(srv, "User Access Administrator", rg_scope(srv, "esc-a"), cls.sp["oid"])
        cls.tok = mgmt_token(srv, cls.sp)
        cls.role = str(uuid.uuid4())
        r = srv.http("PUT", role_path(sub_scope(srv), cls.role),
                     json=role_body("esc-sub-reader-" + cls.role[:6],
                                    ["Microsoft.Storage/storageAccounts/read"], [sub_scope(srv)]))
        assert r.status_code == 201, r.text

    def actions(self):
        r = srv.http("GET", role_path(sub_scope(srv), self.role))
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["properties"]["permissions"][0]["actions"]

    def test_rewrite_through_the_group_path_is_refused(self):
        a = rg_scope(srv, "esc-a")
        for scopes in ([a], [sub_scope(srv)]):
            r = srv.http("PUT", role_path(a, self.role), token=self.tok,
                         json=role_body("esc-sub-reader-" + self.role[:6], ["*"], scopes))
            self.assertEqual((r.status_code, code(r)), (403, "AuthorizationFailed"), r.text)
            self.assertIn(sub_scope(srv), r.json()["error"]["message"])
        self.assertEqual(self.actions(), ["Microsoft.Storage/storageAccounts/read"])

    def test_delete_through_the_group_path_is_refused(self):
        r = srv.http("DELETE", role_path(rg_scope(srv, "esc-a"), self.role), token=self.tok)
        self.assertEqual((r.status_code, code(r)), (403, "AuthorizationFailed"), r.text)
        self.assertEqual(srv.http("GET", role_path(sub_scope(srv), self.role)).status_code, 200)

    def test_own_group_role_may_be_defined_changed_and_deleted(self):
        a = rg_scope(srv, "esc-a")
        rid = str(uuid.uuid4())
        for actions in (["Microsoft.Storage/storageAccounts/read"], ["*"]):
            r = srv.http("PUT", role_path(a, rid), token=self.tok,
                         json=role_body("esc-a-role-" + rid[:6], actions, [a]))
            self.assertEqual(r.status_code, 201, r.text)
        # Widening it to the subscription is a definition there.
        r = srv.http("PUT", role_path(a, rid), token=self.tok,
                     json=role_body("esc-a-role-" + rid[:6], ["*"], [a, sub_scope(srv)]))
        self.assertEqual((r.status_code, code(r)), (403, "AuthorizationFailed"), r.text)
        r = srv.http("DELETE", role_path(a, rid), token=self.tok)
        self.assertEqual(r.status_code, 200, r.text)

    def test_assignment_is_addressed_only_through_its_own_scope(self):
        other = create_sp(srv, "esc-other-" + uuid.uuid4().hex[:6])
        at_b = grant(srv, "Reader", rg_scope(srv, "esc-b"), other["oid"])
        name = at_b["name"]
        via_a = "%s/providers/Microsoft.Authorization/roleAssignments/%s?%s" % (
            rg_scope(srv, "esc-a"), name, API)
        r = srv.http("GET", via_a, token=self.tok)
        self.assertEqual((r.status_code, code(r)), (404, "RoleAssignmentNotFound"), r.text)
        r = srv.http("DELETE", via_a, token=self.tok)
        self.assertEqual(r.status_code, 204, r.text)
        r = srv.http("GET", at_b["id"] + "?" + API)
        self.assertEqual(r.status_code, 200, "the assignment at group B was deleted: " + r.text)
        # Nor through a path that pads or re-cases group A's.
        padded = "%s//providers/Microsoft.Authorization/roleAssignments/%s?%s" % (
            rg_scope(srv, "ESC-A"), name, API)
        self.assertIn(srv.http("DELETE", padded, token=self.tok).status_code, (204, 400, 404))
        self.assertEqual(srv.http("GET", at_b["id"] + "?" + API).status_code, 200)


class LinkedIdentities(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = create_identity(srv, "esc-b", "esc-b-id")
        assert r.status_code in (200, 201), r.text
        cls.uai = r.json()["id"]
        cls.sp = create_sp(srv, "esc-contrib-" + uuid.uuid4().hex[:6])
        grant(srv, "Contributor", rg_scope(srv, "esc-a"), cls.sp["oid"])
        cls.tok = mgmt_token(srv, cls.sp)

    def account(self, name):
        return rg_scope(srv, "esc-a") + "/providers/Microsoft.Storage/storageAccounts/" + name

    def put(self, name, identity, token=None):
        return srv.http("PUT", self.account(name) + "?" + SA_API, token=token or self.tok,
                        json={"location": "eastus", "sku": {"name": "Standard_LRS"},
                              "kind": "StorageV2", "identity": identity})

    def assert_linked_refused(self, r, name):
        self.assertEqual((r.status_code, code(r)), (403, "LinkedAuthorizationFailed"), r.text)
        msg = r.json()["error"]["message"]
        self.assertIn("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", msg)
        self.assertIn(self.uai, msg)
        self.assertIn(self.account(name), msg)

    def test_contributor_cannot_attach_another_groups_identity(self):
        r = self.put("escnoassign1", {"type": "UserAssigned", "userAssignedIdentities":
                                      {self.uai: {}}})
        self.assert_linked_refused(r, "escnoassign1")
        self.assertEqual(srv.http("GET", self.account("escnoassign1") + "?" + SA_API).status_code,
                         404, "the refused account was created")

    def test_attach_by_update_is_refused_too(self):
        r = self.put("escupdate1", {"type": "SystemAssigned"})
        self.assertIn(r.status_code, (200, 201, 202), r.text)
        ident = {"type": "SystemAssigned,UserAssigned", "userAssignedIdentities": {self.uai: {}}}
        self.assert_linked_refused(self.put("escupdate1", ident), "escupdate1")
        r = srv.http("PATCH", self.account("escupdate1") + "?" + SA_API, token=self.tok,
                     json={"identity": ident})
        self.assert_linked_refused(r, "escupdate1")
        got = srv.http("GET", self.account("escupdate1") + "?" + SA_API).json()
        self.assertNotIn("userAssignedIdentities", got.get("identity", {}))

    def test_managed_identity_operator_on_the_identity_may_attach_it(self):
        sp = create_sp(srv, "esc-op-" + uuid.uuid4().hex[:6])
        grant(srv, "Contributor", rg_scope(srv, "esc-a"), sp["oid"])
        grant(srv, MI_OPERATOR, self.uai, sp["oid"])
        r = self.put("escwithop1", {"type": "UserAssigned", "userAssignedIdentities":
                                    {self.uai: {}}}, token=mgmt_token(srv, sp))
        self.assertIn(r.status_code, (200, 201, 202), r.text)
        got = srv.http("GET", self.account("escwithop1") + "?" + SA_API).json()
        uais = {k.lower(): v for k, v in got["identity"]["userAssignedIdentities"].items()}
        self.assertTrue(uais[self.uai.lower()]["principalId"])

    def test_contributor_may_attach_its_own_groups_identity(self):
        r = create_identity(srv, "esc-a", "esc-a-id", token=self.tok)
        self.assertIn(r.status_code, (200, 201), r.text)
        r = self.put("escownid1", {"type": "UserAssigned", "userAssignedIdentities":
                                   {r.json()["id"]: {}}})
        self.assertIn(r.status_code, (200, 201, 202), r.text)

    def test_an_identity_that_does_not_exist_is_refused(self):
        ghost = rg_scope(srv, "esc-a") + "/providers/%s/nobody-here" % UAI
        r = self.put("escghost1", {"type": "UserAssigned", "userAssignedIdentities": {ghost: {}}},
                     token=True)
        self.assertEqual((r.status_code, code(r)), (400, "FailedIdentityOperation"), r.text)


if __name__ == "__main__":
    unittest.main()
