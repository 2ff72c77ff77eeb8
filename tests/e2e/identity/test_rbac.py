"""Microsoft.Authorization through the REST API (`az rest`) and the Python SDK
azure-mgmt-authorization at the api-versions SDKs send: the built-in role
catalogue with Azure's GUIDs, custom roles, role assignments at every scope,
and how they decide what a principal may do (inheritance down the scope tree,
wildcards, notActions, the right to grant).  Debian's az 2.45 cannot run
`az role ...` (azure-cli#24959: it fails before sending a request)."""
import json
import uuid
import unittest

from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

from azlite_harness import Azlite
from idhelp import (API, ROLES, UAI, assign, create_group, create_identity, create_sp,
                    credential, grant, mgmt_kw, mgmt_token, rg_scope, role_id, sub_scope)

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()
    for g in ("rbac-a", "rbac-b"):
        create_group(srv, g)


def tearDownModule():
    srv.cleanup()


def defs_path(scope=None, rid=None, query=API):
    return "%s/providers/Microsoft.Authorization/roleDefinitions%s?%s" % (
        scope if scope is not None else sub_scope(srv), "/" + rid if rid else "", query)


def ras_path(scope, name=None, query=API):
    return "%s/providers/Microsoft.Authorization/roleAssignments%s?%s" % (
        scope, "/" + name if name else "", query)


def auth_client(cred=None, api="2022-04-01"):
    return AuthorizationManagementClient(cred or credential(srv), srv.env["AZURE_SUBSCRIPTION_ID"],
                                         api_version=api, **mgmt_kw(srv))


def rm_client(sp):
    return ResourceManagementClient(credential(srv, sp), srv.env["AZURE_SUBSCRIPTION_ID"],
                                    **mgmt_kw(srv))


def error_code(r):
    return r.json()["error"]["code"]


class RoleDefinitions(unittest.TestCase):
    def test_builtin_catalogue_has_azures_ids_and_permissions(self):
        r = srv.http("GET", defs_path())
        self.assertEqual(r.status_code, 200, r.text)
        by_name = {d["properties"]["roleName"]: d for d in r.json()["value"]}
        for name, guid in ROLES.items():
            self.assertIn(name, by_name)
            d = by_name[name]
            self.assertEqual(d["name"], guid)
            self.assertEqual(d["id"], "%s/providers/Microsoft.Authorization/roleDefinitions/%s"
                             % (sub_scope(srv), guid))
            self.assertEqual(d["properties"]["type"], "BuiltInRole")
            self.assertEqual(d["properties"]["assignableScopes"], ["/"])
        perms = lambda n: by_name[n]["properties"]["permissions"][0]
        self.assertEqual(perms("Owner")["actions"], ["*"])
        self.assertIn("Microsoft.Authorization/*/Write", perms("Contributor")["notActions"])
        self.assertEqual(perms("Reader")["actions"], ["*/read"])
        self.assertEqual(perms("Storage Blob Data Reader")["dataActions"],
                         ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"])
        self.assertEqual(perms("Owner")["dataActions"], [])
        self.assertIn("Microsoft.MachineLearningServices/workspaces/computes/*/write",
                      perms("AzureML Data Scientist")["notActions"])

    def test_sdk_finds_role_by_name_at_every_api_version(self):
        # What az does to resolve --role: list at the scope with roleName eq.
        for api in ("2015-07-01", "2018-01-01-preview", "2022-04-01"):
            defs = list(auth_client(api=api).role_definitions.list(
                rg_scope(srv, "rbac-a"), filter="roleName eq 'Storage Blob Data Contributor'"))
            self.assertEqual([d.name for d in defs], [ROLES["Storage Blob Data Contributor"]], api)
            self.assertTrue(defs[0].id.startswith(sub_scope(srv) + "/providers/"), api)

    def test_get_at_root_and_unknown(self):
        r = srv.http("GET", defs_path("", ROLES["Reader"]))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["id"],
                         "/providers/Microsoft.Authorization/roleDefinitions/" + ROLES["Reader"])
        r = srv.http("GET", defs_path(rid=str(uuid.uuid4())))
        self.assertEqual(r.status_code, 404)
        self.assertEqual(error_code(r), "RoleDefinitionDoesNotExist")

    def test_any_principal_may_read_definitions(self):
        sp = create_sp(srv, "rbac-def-reader")
        r = srv.http("GET", defs_path(query=API + "&$filter=roleName eq 'Owner'"),
                     token=mgmt_token(srv, sp))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(len(r.json()["value"]), 1)

    def test_unsupported_filter_and_api_version(self):
        r = srv.http("GET", defs_path(query=API + "&$filter=foo eq 'bar'"))
        self.assertEqual(r.status_code, 400)
        r = srv.http("GET", defs_path(query="api-version=2099-01-01"))
        self.assertEqual(r.status_code, 400)
        self.assertEqual(error_code(r), "NoRegisteredProviderFound")


class CustomRoles(unittest.TestCase):
    def body(self, name, actions, scopes=None):
        return {"properties": {"roleName": name, "type": "CustomRole",
                               "description": "test role",
                               "assignableScopes": scopes or [sub_scope(srv)],
                               "permissions": [{"actions": actions, "notActions": []}]}}

    def test_lifecycle_and_effect(self):
        rid = str(uuid.uuid4())
        r = srv.http("PUT", defs_path(rid=rid), json=self.body(
            "Group Reader Custom", ["Microsoft.Resources/subscriptions/resourceGroups/read"]))
        self.assertEqual(r.status_code, 201, r.text)
        self.assertEqual(r.json()["properties"]["type"], "CustomRole")
        r = srv.http("GET", defs_path(rg_scope(srv, "rbac-a"),
                                      query=API + "&$filter=type eq 'CustomRole'"))
        self.assertEqual([d["name"] for d in r.json()["value"]], [rid])

        sp = create_sp(srv, "rbac-custom")
        grant(srv, rid, rg_scope(srv, "rbac-a"), sp["oid"])
        rm = rm_client(sp)
        self.assertEqual(rm.resource_groups.get("rbac-a").name, "rbac-a")
        with self.assertRaises(HttpResponseError) as e:
            rm.resource_groups.create_or_update("rbac-a", {"location": "eastus"})
        self.assertEqual(e.exception.status_code, 403)

        # Changing the role changes what its holders may do, at once.
        r = srv.http("PUT", defs_path(rid=rid), json=self.body(
            "Group Reader Custom", ["Microsoft.Resources/subscriptions/resourceGroups/*"]))
        self.assertEqual(r.status_code, 201, r.text)
        rm = rm_client(sp)
        self.assertEqual(rm.resource_groups.create_or_update(
            "rbac-a", {"location": "eastus", "tags": {"k": "v"}}).tags, {"k": "v"})

        r = srv.http("DELETE", defs_path(rid=rid))
        self.assertEqual(r.status_code, 400)
        self.assertEqual(error_code(r), "RoleDefinitionHasAssignments")
        for a in srv.http("GET", ras_path(rg_scope(srv, "rbac-a"),
                                          query=API + "&$filter=principalId eq '%s'" % sp["oid"])
                          ).json()["value"]:
            self.assertEqual(srv.http("DELETE", a["id"] + "?" + API).status_code, 200)
        r = srv.http("DELETE", defs_path(rid=rid))
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(srv.http("GET", defs_path(rid=rid)).status_code, 404)
        self.assertEqual(srv.http("DELETE", defs_path(rid=rid)).status_code, 204)

    def test_sdk_create_and_assignable_scopes(self):
        rid = str(uuid.uuid4())
        client = auth_client(api="2022-04-01")
        d = client.role_definitions.create_or_update(
            rg_scope(srv, "rbac-a"), rid,
            {"role_name": "Only In A", "role_type": "CustomRole",
             "assignable_scopes": [rg_scope(srv, "rbac-a")],
             "permissions": [{"actions": ["*/read"]}]})
        self.assertEqual(d.role_name, "Only In A")
        sp = create_sp(srv, "rbac-assignable")
        self.assertEqual(assign(srv, rid, rg_scope(srv, "rbac-a"), sp["oid"]).status_code, 201)
        r = assign(srv, rid, rg_scope(srv, "rbac-b"), sp["oid"])
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(error_code(r), "InvalidCreateRoleAssignmentRequest")

    def test_validation(self):
        r = srv.http("PUT", defs_path(rid=str(uuid.uuid4())), json=self.body("Reader", ["*/read"]))
        self.assertEqual(r.status_code, 409)
        self.assertEqual(error_code(r), "RoleDefinitionWithSameNameExists")
        r = srv.http("PUT", defs_path(rid=str(uuid.uuid4())),
                     json=self.body("Everywhere", ["*/read"], ["/"]))
        self.assertEqual(r.status_code, 400)
        r = srv.http("PUT", defs_path(rid="not-a-guid"), json=self.body("Bad Id", ["*/read"]))
        self.assertEqual(r.status_code, 400)
        r = srv.http("PUT", defs_path(rid=ROLES["Reader"]), json=self.body("Mine", ["*"]))
        self.assertEqual(r.status_code, 403)
        self.assertEqual(srv.http("DELETE", defs_path(rid=ROLES["Owner"])).status_code, 403)

    def test_contributor_cannot_define_roles(self):
        sp = create_sp(srv, "rbac-contrib-definer")
        grant(srv, "Contributor", sub_scope(srv), sp["oid"])
        r = srv.http("PUT", defs_path(rid=str(uuid.uuid4())), token=mgmt_token(srv, sp),
                     json=self.body("Escalator", ["*"]))
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(error_code(r), "AuthorizationFailed")


class RoleAssignments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sp = create_sp(srv, "rbac-assignee")

    def test_az_rest_create_get_list_delete(self):
        name = str(uuid.uuid4())
        url = srv.mgmt_url + ras_path(rg_scope(srv, "rbac-a"), name)
        body = json.dumps({"properties": {"roleDefinitionId": role_id(srv, "Reader"),
                                          "principalId": self.sp["oid"],
                                          "principalType": "ServicePrincipal"}})
        p = srv.az("rest", "--method", "put", "--url", url, "--body", body)
        self.assertEqual(p.returncode, 0, p.stderr)
        a = json.loads(p.stdout)
        self.assertEqual(a["name"], name)
        self.assertEqual(a["properties"]["scope"], rg_scope(srv, "rbac-a"))
        self.assertEqual(a["properties"]["principalId"], self.sp["oid"])
        self.assertEqual(a["properties"]["roleDefinitionId"], role_id(srv, "Reader"))
        p = srv.az("rest", "--method", "get", "--url", url)
        self.assertEqual(json.loads(p.stdout)["id"], a["id"])
        p = srv.az("rest", "--method", "get", "--url",
                   srv.mgmt_url + ras_path(rg_scope(srv, "rbac-a"),
                                           query=API + "&$filter=atScope()"))
        self.assertIn(name, [x["name"] for x in json.loads(p.stdout)["value"]])
        p = srv.az("rest", "--method", "delete", "--url", url)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = srv.http("GET", ras_path(rg_scope(srv, "rbac-a"), name))
        self.assertEqual(r.status_code, 404)
        self.assertEqual(error_code(r), "RoleAssignmentNotFound")
        self.assertEqual(srv.http("DELETE", ras_path(rg_scope(srv, "rbac-a"), name)).status_code,
                         204)

    def test_sdk_at_every_api_version(self):
        scope = rg_scope(srv, "rbac-b")
        for api in ("2015-07-01", "2018-01-01-preview", "2018-09-01-preview",
                    "2020-04-01-preview", "2022-04-01"):
            client = auth_client(api=api)
            name = str(uuid.uuid4())
            params = {"role_definition_id": role_id(srv, "Reader"),
                      "principal_id": self.sp["oid"]}
            if api == "2015-07-01":
                params = {"properties": params}
            a = client.role_assignments.create(scope, name, params)
            self.assertEqual(a.name, name, api)
            got = client.role_assignments.get(scope, name)
            self.assertEqual(got.id, a.id, api)
            names = [x.name for x in client.role_assignments.list_for_scope(scope,
                                                                            filter="atScope()")]
            self.assertIn(name, names, api)
            list_sub = getattr(client.role_assignments, "list_for_subscription", None) or \
                client.role_assignments.list
            names = [x.name for x in list_sub(filter="principalId eq '%s'" % self.sp["oid"])]
            self.assertIn(name, names, api)
            self.assertEqual(client.role_assignments.delete(scope, name).name, name, api)
            self.assertNotIn(name, [x.name for x in client.role_assignments.list_for_scope(scope)])

    def test_list_inherited_and_below(self):
        sp = create_sp(srv, "rbac-lister")
        at_sub = grant(srv, "Reader", sub_scope(srv), sp["oid"])["name"]
        at_rg = grant(srv, "Contributor", rg_scope(srv, "rbac-a"), sp["oid"])["name"]
        q = API + "&$filter=principalId eq '%s'" % sp["oid"]

        def names(scope, query):
            r = srv.http("GET", ras_path(scope, query=query))
            self.assertEqual(r.status_code, 200, r.text)
            return {x["name"] for x in r.json()["value"]}
        # At a group: its own and the inherited one.
        self.assertEqual(names(rg_scope(srv, "rbac-a"), q), {at_sub, at_rg})
        # At the subscription: its own and those below; atScope() only its own.
        self.assertEqual(names(sub_scope(srv), q), {at_sub, at_rg})
        at_scope = names(sub_scope(srv), API + "&$filter=atScope()")
        self.assertIn(at_sub, at_scope)
        self.assertNotIn(at_rg, at_scope)
        self.assertEqual(names(rg_scope(srv, "rbac-b"), q), {at_sub})

    def test_resource_scope(self):
        r = create_identity(srv, "rbac-a", "scoped-id")
        self.assertEqual(r.status_code, 201, r.text)
        res = r.json()["id"]
        a = grant(srv, "Reader", res, self.sp["oid"])
        self.assertEqual(a["properties"]["scope"], res)
        self.assertEqual(a["id"], res + "/providers/Microsoft.Authorization/roleAssignments/"
                         + a["name"])
        r = assign(srv, "Reader", rg_scope(srv, "rbac-a") + "/providers/%s/missing" % UAI,
                   self.sp["oid"])
        self.assertEqual(r.status_code, 404)
        self.assertEqual(error_code(r), "ResourceNotFound")

    def test_errors(self):
        scope = rg_scope(srv, "rbac-a")
        cases = [
            (assign(srv, "Reader", scope, self.sp["oid"], name="not-a-guid"), 400,
             "InvalidRoleAssignmentId"),
            (assign(srv, str(uuid.uuid4()), scope, self.sp["oid"]), 400,
             "RoleDefinitionDoesNotExist"),
            (assign(srv, "Reader", scope, str(uuid.uuid4())), 400, "PrincipalNotFound"),
            (assign(srv, "Reader", rg_scope(srv, "nope"), self.sp["oid"]), 404,
             "ResourceGroupNotFound"),
            (assign(srv, "Reader", "/subscriptions/%s" % uuid.uuid4(), self.sp["oid"]), 404,
             "SubscriptionNotFound"),
            (assign(srv, "Reader", scope, self.sp["oid"], api="api-version=2099-01-01"), 400,
             "NoRegisteredProviderFound"),
        ]
        for r, status, code in cases:
            self.assertEqual(r.status_code, status, r.text)
            self.assertEqual(error_code(r), code, r.text)
        name = str(uuid.uuid4())
        self.assertEqual(assign(srv, "Cost Management Reader", scope, self.sp["oid"],
                                name=name).status_code, 201)
        # Same grant again under another name, and a different grant under the same name.
        r = assign(srv, "Cost Management Reader", scope, self.sp["oid"])
        self.assertEqual((r.status_code, error_code(r)), (409, "RoleAssignmentExists"))
        r = assign(srv, "Reader", scope, self.sp["oid"], name=name)
        self.assertEqual((r.status_code, error_code(r)), (400, "RoleAssignmentUpdateNotPermitted"))
        self.assertEqual(assign(srv, "Cost Management Reader", scope, self.sp["oid"],
                                name=name).status_code, 201)

    def test_admin_owner_grant_is_kept(self):
        admin_oid = [a for a in srv.http("GET", ras_path(sub_scope(srv),
                                                         query=API + "&$filter=atScope()")
                                         ).json()["value"]
                     if a["properties"]["roleDefinitionId"].endswith(ROLES["Owner"])][0]
        r = srv.http("DELETE", admin_oid["id"] + "?" + API)
        self.assertEqual(r.status_code, 409, r.text)
        self.assertEqual(srv.http("GET", "/subscriptions?api-version=2020-01-01").status_code, 200)

    def test_group_deletion_takes_its_grants(self):
        create_group(srv, "rbac-doomed")
        sp = create_sp(srv, "rbac-doomed-sp")
        grant(srv, "Contributor", rg_scope(srv, "rbac-doomed"), sp["oid"])
        self.assertEqual(rm_client(sp).resource_groups.get("rbac-doomed").name, "rbac-doomed")
        srv.az("group", "delete", "-n", "rbac-doomed", "--yes")
        create_group(srv, "rbac-doomed")
        with self.assertRaises(HttpResponseError) as e:
            rm_client(sp).resource_groups.get("rbac-doomed")
        self.assertEqual(e.exception.status_code, 403)


class Enforcement(unittest.TestCase):
    def test_reader_at_subscription_reads_everywhere_writes_nowhere(self):
        sp = create_sp(srv, "rbac-reader")
        rm = rm_client(sp)
        with self.assertRaises(HttpResponseError) as e:
            rm.resource_groups.get("rbac-a")
        self.assertEqual(e.exception.status_code, 403)
        grant(srv, "Reader", sub_scope(srv), sp["oid"])
        rm = rm_client(sp)
        self.assertEqual({g.name for g in rm.resource_groups.list()} >= {"rbac-a", "rbac-b"}, True)
        with self.assertRaises(HttpResponseError) as e:
            rm.resource_groups.create_or_update("rbac-b", {"location": "eastus"})
        self.assertEqual(e.exception.status_code, 403)
        self.assertIn("Microsoft.Resources/subscriptions/resourcegroups/write",
                      e.exception.message)
        self.assertIn(sp["appId"], e.exception.message)

    def test_contributor_cannot_grant_or_revoke(self):
        sp = create_sp(srv, "rbac-escalator")
        grant(srv, "Contributor", sub_scope(srv), sp["oid"])
        tok = mgmt_token(srv, sp)
        r = assign(srv, "Owner", rg_scope(srv, "rbac-a"), sp["oid"], token=tok)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(error_code(r), "AuthorizationFailed")
        self.assertIn("Microsoft.Authorization/roleAssignments/write", r.json()["error"]["message"])
        other = grant(srv, "Reader", rg_scope(srv, "rbac-a"), sp["oid"])
        r = srv.http("DELETE", other["id"] + "?" + API, token=tok)
        self.assertEqual(r.status_code, 403, r.text)
        # The SDK sees the same refusal.
        client = auth_client(credential(srv, sp))
        with self.assertRaises(HttpResponseError) as e:
            client.role_assignments.create(rg_scope(srv, "rbac-a"), str(uuid.uuid4()),
                                           {"role_definition_id": role_id(srv, "Owner"),
                                            "principal_id": sp["oid"]})
        self.assertEqual(e.exception.status_code, 403)

    def test_user_access_administrator_grants_only_in_its_scope(self):
        admin = create_sp(srv, "rbac-uaa")
        target = create_sp(srv, "rbac-uaa-target")
        grant(srv, "User Access Administrator", rg_scope(srv, "rbac-a"), admin["oid"])
        tok = mgmt_token(srv, admin)
        self.assertEqual(assign(srv, "Contributor", rg_scope(srv, "rbac-a"), target["oid"],
                                token=tok).status_code, 201)
        self.assertEqual(assign(srv, "Contributor", rg_scope(srv, "rbac-b"), target["oid"],
                                token=tok).status_code, 403)
        # It may read, but it is no Contributor itself.
        r = srv.http("PATCH", rg_scope(srv, "rbac-a") + "?api-version=2021-04-01", token=tok,
                     json={"tags": {"x": "y"}})
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(srv.http("GET", rg_scope(srv, "rbac-a") + "?api-version=2021-04-01",
                                  token=tok).status_code, 200)

    def test_not_actions_subtract_only_from_their_own_role(self):
        # Contributor's notActions exclude roleAssignments/write; a second role grants it.
        sp = create_sp(srv, "rbac-two-roles")
        target = create_sp(srv, "rbac-two-roles-target")
        grant(srv, "Contributor", rg_scope(srv, "rbac-b"), sp["oid"])
        self.assertEqual(assign(srv, "Reader", rg_scope(srv, "rbac-b"), target["oid"],
                                token=mgmt_token(srv, sp)).status_code, 403)
        grant(srv, "User Access Administrator", rg_scope(srv, "rbac-b"), sp["oid"])
        self.assertEqual(assign(srv, "Reader", rg_scope(srv, "rbac-b"), target["oid"],
                                token=mgmt_token(srv, sp)).status_code, 201)

    def test_lists_show_what_the_caller_may_read(self):
        # Reader on one storage account and one identity: the subscription-wide and
        # group lists show just those, as ARM filters lists; a group where the
        # caller may read nothing answers 403.
        for g in ("rbac-lists", "rbac-lists-none"):
            create_group(srv, g)
        srv.storage_account("rbacseen", "rbac-lists")
        srv.storage_account("rbachidden", "rbac-lists")
        srv.storage_account("rbacother", "rbac-lists-none")
        for name in ("uai-seen", "uai-hidden"):
            self.assertEqual(create_identity(srv, "rbac-lists", name).status_code, 201)
        sp = create_sp(srv, "rbac-list-reader")
        seen = rg_scope(srv, "rbac-lists") + "/providers/Microsoft.Storage/storageAccounts/rbacseen"
        grant(srv, "Reader", seen, sp["oid"])
        grant(srv, "Reader", rg_scope(srv, "rbac-lists") + "/providers/" + UAI + "/uai-seen",
              sp["oid"])
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        st = StorageManagementClient(credential(srv, sp), sub, **mgmt_kw(srv))
        self.assertEqual([a.name for a in st.storage_accounts.list()], ["rbacseen"])
        self.assertEqual([a.name for a in st.storage_accounts.list_by_resource_group("rbac-lists")],
                         ["rbacseen"])
        with self.assertRaises(HttpResponseError) as e:
            list(st.storage_accounts.list_by_resource_group("rbac-lists-none"))
        self.assertEqual(e.exception.status_code, 403)
        self.assertEqual(e.exception.error.code, "AuthorizationFailed")
        msi = ManagedServiceIdentityClient(credential(srv, sp), sub, **mgmt_kw(srv))
        self.assertEqual([i.name for i in msi.user_assigned_identities.list_by_subscription()],
                         ["uai-seen"])
        self.assertEqual([i.name for i in
                          msi.user_assigned_identities.list_by_resource_group("rbac-lists")],
                         ["uai-seen"])
        # The admin (Owner) sees them all.
        admin = StorageManagementClient(credential(srv), sub, **mgmt_kw(srv))
        self.assertTrue({"rbacseen", "rbachidden", "rbacother"} <=
                        {a.name for a in admin.storage_accounts.list()})

    def test_wildcard_roles_match_their_namespace_only(self):
        sp = create_sp(srv, "rbac-ml")
        grant(srv, "AzureML Compute Operator", sub_scope(srv), sp["oid"])
        tok = mgmt_token(srv, sp)
        r = create_identity(srv, "rbac-a", "ml-denied", token=tok)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertIn("Microsoft.ManagedIdentity/userAssignedIdentities/write",
                      r.json()["error"]["message"])


if __name__ == "__main__":
    unittest.main()
