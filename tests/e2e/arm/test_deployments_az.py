"""Template deployments (Microsoft.Resources/deployments) through the real az:
`az deployment group create` runs each template resource through the same
PUT a caller would send (so names, RBAC and errors are the resource's own),
and the deployment records its state, outputs and one operation per resource."""
import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "identity"))
import idhelp  # noqa: E402
from azlite_harness import Azlite  # noqa: E402

srv = None
TMP = None

COPY_TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {
        "n": {"type": "int", "defaultValue": 2},
        "prefix": {"type": "string", "defaultValue": "st"},
        "secret": {"type": "securestring", "defaultValue": "hunter2"},
    },
    "resources": [{
        "type": "Microsoft.Storage/storageAccounts",
        "apiVersion": "2022-09-01",
        "name": "[concat(parameters('prefix'), copyIndex(), uniqueString(resourceGroup().id))]",
        "location": "[resourceGroup().location]",
        "sku": {"name": "Standard_LRS"},
        "kind": "StorageV2",
        "copy": {"name": "accounts", "count": "[parameters('n')]"},
    }],
    "outputs": {
        "count": {"type": "int", "value": "[parameters('n')]"},
        "first": {"type": "string",
                  "value": "[concat(parameters('prefix'), '0', uniqueString(resourceGroup().id))]"},
    },
}


def account(name, depends=None):
    r = {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2022-09-01", "name": name,
         "location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    if depends:
        r["dependsOn"] = depends
    return r


def template(resources, outputs=None):
    return {"$schema": COPY_TEMPLATE["$schema"], "contentVersion": "1.0.0.0",
            "resources": resources, "outputs": outputs or {}}


def write(name, obj):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def setUpModule():
    global srv, TMP
    srv = Azlite().start()
    TMP = tempfile.mkdtemp(prefix="azlite-dep-")
    for g in ("dep1", "dep2", "dep3", "dep4"):
        srv.az_json("group", "create", "-n", g, "-l", "eastus")


def tearDownModule():
    srv.cleanup()


class GroupDeployments(unittest.TestCase):
    def test_copy_loop_creates_n_accounts_with_outputs(self):
        t = write("copy.json", COPY_TEMPLATE)
        d = srv.az_json("deployment", "group", "create", "-g", "dep1", "-n", "copy",
                        "--template-file", t, "--parameters", "n=3")
        props = d["properties"]
        self.assertEqual(props["provisioningState"], "Succeeded")
        self.assertEqual(props["outputs"]["count"], {"type": "Int", "value": 3})
        accounts = srv.az_json("storage", "account", "list", "-g", "dep1")
        names = sorted(a["name"] for a in accounts)
        self.assertEqual(len(names), 3, names)
        self.assertEqual(names[0], props["outputs"]["first"]["value"])
        self.assertEqual(sorted(o["id"].rsplit("/", 1)[1] for o in props["outputResources"]),
                         names)
        self.assertEqual(props["parameters"]["n"], {"type": "Int", "value": 3})
        self.assertNotIn("value", props["parameters"]["secret"])
        self.assertTrue(props["duration"].startswith("PT"))
        # az prints the Provider model, with its other fields null.
        self.assertEqual([(p["namespace"], [(t["resourceType"], t["locations"])
                                            for t in p["resourceTypes"]])
                          for p in props["providers"]],
                         [("Microsoft.Storage", [("storageAccounts", ["eastus"])])])
        shown = srv.az_json("deployment", "group", "show", "-g", "dep1", "-n", "copy")
        self.assertEqual(shown["properties"]["provisioningState"], "Succeeded")
        listed = srv.az_json("deployment", "group", "list", "-g", "dep1")
        self.assertIn("copy", [x["name"] for x in listed])
        ops = srv.az_json("deployment", "operation", "group", "list", "-g", "dep1", "-n", "copy")
        self.assertEqual(sorted(o["properties"]["targetResource"]["resourceName"] for o in ops),
                         names)
        self.assertTrue(all(o["properties"]["provisioningState"] == "Succeeded" for o in ops))
        exported = srv.az_json("deployment", "group", "export", "-g", "dep1", "-n", "copy")
        self.assertEqual(exported["resources"][0]["copy"]["name"], "accounts")
        # Deleting the deployment keeps what it made.
        p = srv.az("deployment", "group", "delete", "-g", "dep1", "-n", "copy")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = srv.az("deployment", "group", "show", "-g", "dep1", "-n", "copy")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("DeploymentNotFound", p.stderr)
        self.assertEqual(len(srv.az_json("storage", "account", "list", "-g", "dep1")), 3)

    def test_bad_template_is_refused_by_validate_and_create(self):
        t = write("bad.json", template([account("[concat('a', parameters('missing'))]")]))
        for verb in ("validate", "create"):
            p = srv.az("deployment", "group", verb, "-g", "dep2", "-n", "bad",
                       "--template-file", t)
            self.assertNotEqual(p.returncode, 0, verb)
            self.assertIn("InvalidTemplate", p.stderr, verb)
        p = srv.az("deployment", "group", "show", "-g", "dep2", "-n", "bad")
        self.assertIn("DeploymentNotFound", p.stderr)
        self.assertEqual(srv.az_json("storage", "account", "list", "-g", "dep2"), [])
        good = write("good.json", template([account("validonly1")]))
        v = srv.az_json("deployment", "group", "validate", "-g", "dep2", "-n", "v",
                        "--template-file", good)
        self.assertTrue(v["properties"]["validatedResources"][0]["id"].endswith("/validonly1"))
        self.assertEqual(srv.az_json("storage", "account", "list", "-g", "dep2"), [])

    def test_failing_resource_fails_the_deployment_and_keeps_the_first(self):
        t = write("fail.json", template([account("firstokacct"),
                                          account("Bad_Name!", ["firstokacct"]),
                                          account("neverrun1",
                                                  ["[resourceId('Microsoft.Storage/storageAccounts', 'Bad_Name!')]"])]))
        p = srv.az("deployment", "group", "create", "-g", "dep3", "-n", "fail",
                   "--template-file", t)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("DeploymentFailed", p.stderr)
        d = srv.az_json("deployment", "group", "show", "-g", "dep3", "-n", "fail")
        self.assertEqual(d["properties"]["provisioningState"], "Failed")
        self.assertEqual(d["properties"]["error"]["code"], "DeploymentFailed")
        self.assertEqual(d["properties"]["error"]["details"][0]["code"], "AccountNameInvalid")
        ops = srv.az_json("deployment", "operation", "group", "list", "-g", "dep3", "-n", "fail")
        state = {o["properties"]["targetResource"]["resourceName"]:
                 o["properties"]["provisioningState"] for o in ops}
        self.assertEqual(state, {"firstokacct": "Succeeded", "Bad_Name!": "Failed"})
        bad = [o for o in ops if o["properties"]["provisioningState"] == "Failed"][0]
        self.assertEqual(bad["properties"]["statusCode"], "BadRequest")
        self.assertEqual(bad["properties"]["statusMessage"]["error"]["code"], "AccountNameInvalid")
        names = [a["name"] for a in srv.az_json("storage", "account", "list", "-g", "dep3")]
        self.assertEqual(names, ["firstokacct"])

    def test_caller_without_write_gets_the_resource_403(self):
        sp = idhelp.create_sp(srv, "dep-deployer")
        # Deployments/write at the group but nothing on storage accounts.
        role = {"properties": {"roleName": "Deployer only", "type": "CustomRole",
                               "assignableScopes": [idhelp.rg_scope(srv, "dep4")],
                               "permissions": [{"actions": [
                                   "Microsoft.Resources/deployments/*",
                                   "Microsoft.Resources/subscriptions/resourceGroups/read"],
                                   "notActions": []}]}}
        rid = "11111111-2222-3333-4444-555555555555"
        r = srv.http("PUT", "%s/providers/Microsoft.Authorization/roleDefinitions/%s?%s" % (
            idhelp.rg_scope(srv, "dep4"), rid, idhelp.API), json=role)
        self.assertIn(r.status_code, (200, 201), r.text)
        idhelp.grant(srv, "%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (
            idhelp.sub_scope(srv), rid), idhelp.rg_scope(srv, "dep4"), sp["oid"])
        az = idhelp.AzAs(srv, sp)
        try:
            self.assertEqual(az.login.returncode, 0, az.login.stderr)
            t = write("rbac.json", template([account("rbacacct1")]))
            p = az("deployment", "group", "create", "-g", "dep4", "-n", "rbac",
                   "--template-file", t)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("DeploymentFailed", p.stderr)
        finally:
            az.close()
        ops = srv.az_json("deployment", "operation", "group", "list", "-g", "dep4", "-n", "rbac")
        self.assertEqual(ops[0]["properties"]["statusCode"], "Forbidden")
        self.assertEqual(ops[0]["properties"]["statusMessage"]["error"]["code"],
                         "AuthorizationFailed")
        self.assertEqual(srv.az_json("storage", "account", "list", "-g", "dep4"), [])

    def test_what_if_is_refused_loudly(self):
        r = srv.http("POST", "/subscriptions/%s/resourceGroups/dep2/providers/"
                     "Microsoft.Resources/deployments/w/whatIf?api-version=2021-04-01" %
                     srv.env["AZURE_SUBSCRIPTION_ID"],
                     json={"properties": {"mode": "Incremental", "template": template([])}})
        self.assertEqual(r.status_code, 501, r.text)
        self.assertEqual(r.json()["error"]["code"], "NotImplemented")


class SubscriptionDeployments(unittest.TestCase):
    def test_sub_deployment_makes_a_group(self):
        t = write("sub.json", {
            "$schema": "https://schema.management.azure.com/schemas/2018-05-01/"
                       "subscriptionDeploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "resources": [{"type": "Microsoft.Resources/resourceGroups",
                           "apiVersion": "2021-04-01", "name": "fromsubdeploy",
                           "location": "westus", "tags": {"made": "by-template"}}],
            "outputs": {}})
        d = srv.az_json("deployment", "sub", "create", "-l", "eastus", "-n", "subdep",
                        "--template-file", t)
        self.assertEqual(d["properties"]["provisioningState"], "Succeeded")
        self.assertEqual(d["location"], "eastus")
        g = srv.az_json("group", "show", "-n", "fromsubdeploy")
        self.assertEqual((g["location"], g["tags"]), ("westus", {"made": "by-template"}))
        self.assertIn("subdep", [x["name"] for x in srv.az_json("deployment", "sub", "list")])


if __name__ == "__main__":
    unittest.main()
