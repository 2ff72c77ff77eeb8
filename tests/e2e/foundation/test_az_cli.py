"""The real `az` (Debian azure-cli 2.45) through `azlite az`: what a user of the
seed scenario types first (resource groups, providers, account), and what az
prints when Azure says no."""
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


class ResourceGroups(unittest.TestCase):
    def test_create_show_list_exists_update_delete(self):
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        g = srv.az_json("group", "create", "-n", "ml-resources", "-l", "eastus")
        self.assertEqual(g["name"], "ml-resources")
        self.assertEqual(g["location"], "eastus")
        self.assertEqual(g["id"], "/subscriptions/%s/resourceGroups/ml-resources" % sub)
        self.assertEqual(g["type"], "Microsoft.Resources/resourceGroups")
        self.assertEqual(g["properties"]["provisioningState"], "Succeeded")

        shown = srv.az_json("group", "show", "-n", "ml-resources")
        self.assertEqual(shown["id"], g["id"])
        self.assertEqual(shown["location"], "eastus")

        names = [x["name"] for x in srv.az_json("group", "list")]
        self.assertIn("ml-resources", names)

        table = srv.az("group", "list", "--output", "table")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertRegex(table.stdout, r"ml-resources\s+eastus\s+Succeeded")

        self.assertIs(srv.az_json("group", "exists", "-n", "ml-resources"), True)

        upd = srv.az_json("group", "update", "-n", "ml-resources", "--tags", "env=dev", "team=ml")
        self.assertEqual(upd["tags"], {"env": "dev", "team": "ml"})
        self.assertEqual(srv.az_json("group", "show", "-n", "ml-resources")["tags"],
                         {"env": "dev", "team": "ml"})
        tagged = [x["name"] for x in srv.az_json("group", "list", "--tag", "env=dev")]
        self.assertEqual(tagged, ["ml-resources"])
        self.assertEqual(srv.az_json("group", "list", "--tag", "env=prod"), [])

        p = srv.az("group", "delete", "-n", "ml-resources", "-y")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIs(srv.az_json("group", "exists", "-n", "ml-resources"), False)
        self.assertNotIn("ml-resources", [x["name"] for x in srv.az_json("group", "list")])
        self.assertIn("ResourceGroupNotFound", az_fail("group", "show", "-n", "ml-resources"))

    def test_names_are_case_insensitive_ids_canonical(self):
        srv.az_json("group", "create", "-n", "CaseGroup", "-l", "West Europe")
        g = srv.az_json("group", "show", "-n", "casegroup")
        self.assertEqual(g["name"], "CaseGroup")
        self.assertEqual(g["location"], "westeurope")
        self.assertIn("/resourceGroups/CaseGroup", g["id"])
        # Creating it again (any casing) is an update, not a second group.
        srv.az_json("group", "create", "-n", "CASEGROUP", "-l", "westeurope", "--tags", "a=b")
        mine = [x for x in srv.az_json("group", "list") if x["name"].lower() == "casegroup"]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["tags"], {"a": "b"})
        srv.az("group", "delete", "-n", "casegroup", "-y", check=True)

    def test_missing_group(self):
        err = az_fail("group", "show", "-n", "no-such-group")
        self.assertIn("ResourceGroupNotFound", err)
        self.assertIn("no-such-group", err)
        self.assertIn("ResourceGroupNotFound", az_fail("group", "delete", "-n", "no-such-group",
                                                       "-y"))
        self.assertIs(srv.az_json("group", "exists", "-n", "no-such-group"), False)

    def test_invalid_location(self):
        err = az_fail("group", "create", "-n", "on-mars", "-l", "mars")
        self.assertIn("LocationNotAvailableForResourceGroup", err)
        self.assertIn("'mars'", err)
        self.assertIn("eastus", err)  # the message lists the regions there are
        self.assertIs(srv.az_json("group", "exists", "-n", "on-mars"), False)

    def test_group_cannot_move(self):
        srv.az_json("group", "create", "-n", "stays-put", "-l", "eastus")
        err = az_fail("group", "create", "-n", "stays-put", "-l", "westus")
        self.assertIn("InvalidResourceGroupLocation", err)
        self.assertEqual(srv.az_json("group", "show", "-n", "stays-put")["location"], "eastus")

    def test_invalid_name(self):
        self.assertIn("InvalidResourceGroupName", az_fail("group", "create", "-n", "bad*name",
                                                          "-l", "eastus"))
        self.assertIn("InvalidResourceGroupName", az_fail("group", "create", "-n", "ends.",
                                                          "-l", "eastus"))


class Providers(unittest.TestCase):
    NS = "Microsoft.MachineLearningServices"

    def state(self):
        p = srv.az("provider", "show", "--namespace", self.NS, "--query", "registrationState",
                   "--output", "tsv")
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()

    def test_register_unregister(self):
        self.assertEqual(self.state(), "NotRegistered")
        p = srv.az("provider", "register", "--namespace", self.NS)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.state(), "Registered")
        listed = srv.az_json("provider", "list", "--query",
                             "[?namespace=='%s'].registrationState" % self.NS)
        self.assertEqual(listed, ["Registered"])
        p = srv.az("provider", "unregister", "--namespace", self.NS)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.state(), "NotRegistered")

    def test_register_seed_namespaces(self):
        for ns in ("Microsoft.Compute", "Microsoft.Storage", "Microsoft.ContainerRegistry"):
            p = srv.az("provider", "register", "--namespace", ns)
            self.assertEqual(p.returncode, 0, p.stderr)
        shown = srv.az_json("provider", "show", "-n", "microsoft.storage")
        self.assertEqual(shown["namespace"], "Microsoft.Storage")
        self.assertEqual(shown["registrationState"], "Registered")

    def test_unknown_namespace(self):
        p = srv.az("provider", "show", "--namespace", "Contoso.Nothing")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("InvalidResourceNamespace", p.stderr)


class Account(unittest.TestCase):
    def test_account_show_matches_env(self):
        a = srv.az_json("account", "show")
        self.assertEqual(a["id"], srv.env["AZURE_SUBSCRIPTION_ID"])
        self.assertEqual(a["tenantId"], srv.env["AZLITE_TENANT_ID"])
        self.assertEqual(a["homeTenantId"], srv.env["AZLITE_TENANT_ID"])
        self.assertEqual(a["state"], "Enabled")
        self.assertTrue(a["isDefault"])
        self.assertEqual(a["user"], {"name": srv.env["AZURE_CLIENT_ID"],
                                     "type": "servicePrincipal"})

    def test_account_list_and_locations(self):
        subs = srv.az_json("account", "list")
        self.assertEqual([s["id"] for s in subs], [srv.env["AZURE_SUBSCRIPTION_ID"]])
        locs = {l["name"]: l for l in srv.az_json("account", "list-locations")}
        self.assertIn("eastus", locs)
        self.assertEqual(locs["eastus"]["displayName"], "East US")

    def test_az_rest(self):
        srv.az_json("group", "create", "-n", "rest-group", "-l", "eastus2")
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        out = srv.az_json("rest", "--method", "get", "--url",
                          "%s/subscriptions/%s/resourcegroups?api-version=2021-04-01"
                          % (srv.mgmt_url, sub))
        mine = [g for g in out["value"] if g["name"] == "rest-group"]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["id"], "/subscriptions/%s/resourceGroups/rest-group" % sub)
        self.assertEqual(mine[0]["location"], "eastus2")
        # az rest with a relative URL goes to the cloud's resource manager.
        one = srv.az_json("rest", "--method", "get", "--url",
                          "/subscriptions/%s/resourceGroups/rest-group?api-version=2021-04-01"
                          % sub)
        self.assertEqual(one["name"], "rest-group")
        p = srv.az("rest", "--method", "put", "--url",
                   "/subscriptions/%s/resourceGroups/rest-put?api-version=2021-04-01" % sub,
                   "--body", json.dumps({"location": "eastus", "tags": {"via": "rest"}}))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(srv.az_json("group", "show", "-n", "rest-put")["tags"], {"via": "rest"})

    def test_az_rest_error_passes_through(self):
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        p = srv.az("rest", "--method", "get", "--url",
                   "/subscriptions/%s/resourceGroups/nope-rest?api-version=2021-04-01" % sub)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ResourceGroupNotFound", p.stderr)

    def test_exit_status_passes_through(self):
        p = srv.az("group", "no-such-subcommand")
        self.assertEqual(p.returncode, 2)
        self.assertIn("no-such-subcommand", p.stderr)


if __name__ == "__main__":
    unittest.main()
