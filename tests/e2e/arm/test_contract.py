"""The ARM contract, run against every resource type the generic resource
layer serves (src/arm/resource.h).  The types come from the server itself
(GET /azlite/resourceTypes), so a provider that declares a new type puts it
under this test without editing it.

What ARM does the same for every tracked resource: PUT creates (the type's
create status) and updates (200) and keeps the first spelling of the name;
location is required, canonicalized, and cannot change (409
InvalidResourceLocation; a type with a fixed location, such as "Global", takes
only that one); tags are at most 50, names up to 512 characters,
values strings up to 256; name rules answer 400 with the type's code; a
missing group is 404 ResourceGroupNotFound and a missing resource 404
ResourceNotFound; PATCH merges tags and keeps the rest; DELETE answers 200,
then 204; lists by group and subscription page with nextLink ($top)."""
import time
import unittest

from azlite_harness import Azlite

srv = None
SUB = None
TYPES = []
# Types whose every resource needs one of its own of something else (a VM: its
# network interface), so that no one example serves every check.
NO_EXAMPLE = {"Microsoft.Compute/virtualMachines"}


def setUpModule():
    global srv, SUB, TYPES
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    r = srv.http("GET", "/azlite/resourceTypes")
    assert r.status_code == 200, r.text
    TYPES = r.json()["value"]
    # What a type's example needs to exist (a network interface: its subnet),
    # made once; "{sub}" in it and in the example is the subscription id.
    import json
    for t in TYPES:
        for path, body in t["exampleSetup"]:
            path = path.replace("{sub}", SUB)
            if "/resourceGroups/" in path:
                group(path.split("/resourceGroups/")[1].split("/")[0])
            r = srv.http("PUT", path, json=json.loads(json.dumps(body).replace("{sub}", SUB)))
            assert r.status_code in (200, 201), r.text
        t["example"] = json.loads(json.dumps(t["example"]).replace("{sub}", SUB))


def tearDownModule():
    srv.cleanup()


def group(name):
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, name),
                 json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text
    return name


class Contract(unittest.TestCase):
    """Each test runs its checks for every type, as a subTest per type."""

    def run_each(self, fn):
        self.assertGreaterEqual(len(TYPES), 2, "the generic layer serves no types?")
        for t in TYPES:
            with self.subTest(type=t["type"]):
                if t["type"] in NO_EXAMPLE:
                    continue
                fn(t)

    def test_every_type_has_an_example(self):
        for t in TYPES:
            if t["type"] not in NO_EXAMPLE:
                self.assertTrue(t.get("exampleName") and t.get("example"), t["type"])

    def wait_state(self, t, rg, name, got):
        """A long-running create answers its createState; it then succeeds."""
        self.assertEqual(got["properties"]["provisioningState"], t["createState"])
        deadline = time.time() + 60
        while got["properties"]["provisioningState"] != "Succeeded" and time.time() < deadline:
            time.sleep(0.1)
            got = srv.http("GET", self.path(t, rg, name)).json()
        self.assertEqual(got["properties"]["provisioningState"], "Succeeded")

    def loc(self, t):
        """The location a type's resources get from the examples' "eastus"."""
        return t.get("fixedLocation") or "eastus"

    def path(self, t, rg, name, sub=None):
        return "/subscriptions/%s/resourceGroups/%s/providers/%s/%s?api-version=%s" % (
            sub or SUB, rg, t["type"], name, t["apiVersion"])

    def coll(self, t, rg=None):
        scope = "/subscriptions/%s" % SUB + ("/resourceGroups/%s" % rg if rg else "")
        return "%s/providers/%s?api-version=%s" % (scope, t["type"], t["apiVersion"])

    def body(self, t, **over):
        b = dict(t["example"])
        b.update(over)
        return b

    def name(self, t, suffix):
        # Names that fit every type's rule: lowercase letters and digits, 3-24.
        return (t["exampleName"].replace("-", "") + suffix)[:24]

    def code(self, r, status, code):
        self.assertEqual(r.status_code, status, r.text)
        self.assertEqual(r.json()["error"]["code"], code, r.text)

    def test_put_creates_then_updates(self):
        rg = group("contract-put")
        def one(t):
            name = self.name(t, "put")
            r = srv.http("PUT", self.path(t, rg, name), json=self.body(t, tags={"a": "1"}))
            self.assertEqual(r.status_code, t["createStatus"], r.text)
            got = r.json()
            self.assertEqual(got["id"].lower(), ("/subscriptions/%s/resourceGroups/%s/providers/%s/%s"
                                                 % (SUB, rg, t["type"], name)).lower())
            self.assertEqual((got["name"], got["type"], got["location"], got["tags"]),
                             (name, t["type"], self.loc(t), {"a": "1"}))
            self.wait_state(t, rg, name, got)
            # An update: 200, the first spelling of the name stays (where the
            # name rule allows capitals); tags absent: none.
            other = self.loc(t).upper() if t.get("fixedLocation") else "East US"
            r = srv.http("PUT", self.path(t, rg, name.upper()), json=self.body(t, location=other))
            if r.status_code == 400 and r.json()["error"]["code"] == t["nameCode"]:
                r = srv.http("PUT", self.path(t, rg, name), json=self.body(t, location=other))
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual((r.json()["name"], r.json()["location"], r.json()["tags"]),
                             (name, self.loc(t), {}))
            r = srv.http("GET", self.path(t, rg, name))
            self.assertEqual((r.status_code, r.json()["id"]), (200, got["id"]))
        self.run_each(one)

    def test_location_rules(self):
        rg = group("contract-loc")
        def one(t):
            name = self.name(t, "loc")
            body = self.body(t)
            del body["location"]
            self.code(srv.http("PUT", self.path(t, rg, name), json=body), 400, "LocationRequired")
            self.code(srv.http("PUT", self.path(t, rg, name), json=self.body(t, location="mars")),
                      400, "LocationNotAvailableForResourceType")
            self.assertEqual(srv.http("PUT", self.path(t, rg, name), json=self.body(t)).status_code,
                             t["createStatus"])
            # Another location: refused (a fixed-location type has no other).
            st, code = ((400, "LocationNotAvailableForResourceType") if t.get("fixedLocation")
                        else (409, "InvalidResourceLocation"))
            self.code(srv.http("PUT", self.path(t, rg, name), json=self.body(t, location="westus")),
                      st, code)
            self.code(srv.http("PATCH", self.path(t, rg, name), json={"location": "westus"}),
                      st, code)
            self.assertEqual(srv.http("GET", self.path(t, rg, name)).json()["location"],
                             self.loc(t))
        self.run_each(one)

    def test_tag_limits(self):
        rg = group("contract-tags")
        def one(t):
            name = self.name(t, "tags")
            ok = {"k%d" % i: "v" for i in range(48)}
            ok["long"] = "v" * 256
            ok["n" * 512] = "v"
            r = srv.http("PUT", self.path(t, rg, name), json=self.body(t, tags=ok))
            self.assertEqual(r.status_code, t["createStatus"], r.text)
            self.assertEqual(len(r.json()["tags"]), 50)
            for tags, code in [({"k%d" % i: "v" for i in range(51)}, "InvalidTagCount"),
                               ({"v": "x" * 257}, "InvalidTagNameOrValue"),
                               ({"n" * 513: "v"}, "InvalidTagNameOrValue"),
                               ({"n": 5}, "InvalidTagNameOrValue"),
                               (["not", "an", "object"], "InvalidRequestContent")]:
                self.code(srv.http("PUT", self.path(t, rg, name), json=self.body(t, tags=tags)),
                          400, code)
                self.code(srv.http("PATCH", self.path(t, rg, name), json={"tags": tags}), 400, code)
            # Refused writes changed nothing.
            self.assertEqual(srv.http("GET", self.path(t, rg, name)).json()["tags"], ok)
        self.run_each(one)

    def test_name_rules_and_not_found(self):
        rg = group("contract-names")
        def one(t):
            self.code(srv.http("PUT", self.path(t, rg, t["exampleBadName"]), json=self.body(t)),
                      400, t["nameCode"])
            self.code(srv.http("PUT", self.path(t, rg, "a" * 300), json=self.body(t)),  # over every type's limit (the longest, 260)
                      400, t["nameCode"])
            self.code(srv.http("GET", self.path(t, rg, self.name(t, "none"))), 404,
                      "ResourceNotFound")
            self.code(srv.http("PATCH", self.path(t, rg, self.name(t, "none")), json={"tags": {}}),
                      404, "ResourceNotFound")
            for m in ("GET", "PUT", "PATCH", "DELETE"):
                self.code(srv.http(m, self.path(t, "no-such-group", self.name(t, "x")),
                                   json=self.body(t)), 404, "ResourceGroupNotFound")
            self.code(srv.http("GET", self.path(t, rg, "x", sub="00000000-0000-0000-0000-000000000000")),
                      404, "SubscriptionNotFound")
            r = srv.http("GET", self.path(t, rg, "x").replace(t["apiVersion"], "1999-01-01"))
            self.assertEqual(r.status_code, 400, r.text)
            self.code(srv.http("PUT", self.path(t, rg, self.name(t, "arr")), json=[1, 2]), 400,
                      "InvalidRequestContent")
            self.code(srv.http("PUT", self.path(t, rg, self.name(t, "bad")), data="{nope",
                               headers={"Content-Type": "application/json"}),
                      400, "InvalidRequestContent")
            self.assertEqual(srv.http("GET", self.path(t, rg, self.name(t, "arr"))).status_code, 404)
        self.run_each(one)

    def test_patch_merges_tags_and_keeps_the_rest(self):
        rg = group("contract-patch")
        def one(t):
            name = self.name(t, "patch")
            made = srv.http("PUT", self.path(t, rg, name), json=self.body(t, tags={"a": "1"})).json()
            r = srv.http("PATCH", self.path(t, rg, name), json={"tags": {"b": "2"}})
            self.assertEqual(r.status_code, 200, r.text)
            got = r.json()
            self.assertEqual(got["tags"], {"b": "2"})
            for k in ("id", "name", "type", "location"):
                self.assertEqual(got[k], made[k])
            # No tags in a PATCH: the tags stay.
            r = srv.http("PATCH", self.path(t, rg, name), json={})
            self.assertEqual((r.status_code, r.json()["tags"]), (200, {"b": "2"}))
        self.run_each(one)

    def test_delete_codes(self):
        rg = group("contract-del")
        def one(t):
            name = self.name(t, "del")
            srv.http("PUT", self.path(t, rg, name), json=self.body(t))
            self.assertEqual(srv.http("DELETE", self.path(t, rg, name)).status_code, 200)
            self.assertEqual(srv.http("DELETE", self.path(t, rg, name)).status_code, 204)
            self.code(srv.http("GET", self.path(t, rg, name)), 404, "ResourceNotFound")
            # Recreated under the same name: a new resource (the create status again).
            self.assertEqual(srv.http("PUT", self.path(t, rg, name), json=self.body(t)).status_code,
                             t["createStatus"])
        self.run_each(one)

    def test_list_pages(self):
        rg = group("contract-list")
        other = group("contract-list2")
        def one(t):
            names = sorted(self.name(t, "l%d" % i) for i in range(5))
            for n in names:
                self.assertLess(srv.http("PUT", self.path(t, rg, n), json=self.body(t)).status_code,
                                300)
            srv.http("PUT", self.path(t, other, self.name(t, "other")), json=self.body(t))
            seen, url, pages = [], self.coll(t, rg) + "&$top=2", 0
            while url:
                r = srv.http("GET", url)
                self.assertEqual(r.status_code, 200, r.text)
                page = r.json()
                self.assertLessEqual(len(page["value"]), 2)
                seen += [v["name"] for v in page["value"]]
                pages += 1
                url = page.get("nextLink")
                if url:
                    self.assertTrue(url.startswith(srv.mgmt_url), url)
                    url = url[len(srv.mgmt_url):]
                self.assertLess(pages, 10)
            self.assertEqual(seen, names)
            self.assertEqual(pages, 3)
            everything = srv.http("GET", self.coll(t)).json()
            self.assertNotIn("nextLink", everything)
            got = {v["name"] for v in everything["value"]}
            self.assertTrue(set(names) | {self.name(t, "other")} <= got, got)
            self.code(srv.http("GET", self.coll(t, rg) + "&$top=zero"), 400, "InvalidParameter")
            self.code(srv.http("GET", self.coll(t, "no-such-group")), 404, "ResourceGroupNotFound")
        self.run_each(one)

    def test_listed_in_providers_and_resources(self):
        rg = group("contract-generic")
        def one(t):
            name = self.name(t, "gen")
            srv.http("PUT", self.path(t, rg, name), json=self.body(t))
            ns, rtype = t["type"].split("/", 1)
            p = srv.http("GET", "/subscriptions/%s/providers/%s?api-version=2021-04-01" % (SUB, ns))
            types = {x["resourceType"]: x for x in p.json()["resourceTypes"]}
            self.assertIn(t["apiVersion"], types[rtype]["apiVersions"])
            r = srv.http("GET", "/subscriptions/%s/resourceGroups/%s/resources?api-version=2021-04-01"
                         % (SUB, rg))
            self.assertIn(name, [v["name"] for v in r.json()["value"] if v["type"] == t["type"]])
        self.run_each(one)
        # The group's deletion takes every type's resources with it.
        r = srv.http("DELETE", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, rg))
        self.assertEqual(r.status_code, 202, r.text)
        import time
        deadline = time.time() + 30
        while time.time() < deadline and srv.http(
                "HEAD", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, rg)
        ).status_code != 404:
            time.sleep(0.2)
        group(rg)
        def one(t):
            self.code(srv.http("GET", self.path(t, rg, self.name(t, "gen"))), 404, "ResourceNotFound")
        self.run_each(one)


class SdkPaging(unittest.TestCase):
    """Real clients follow the layer's nextLink: the storage and identity SDKs
    list through pages of two (the server's AZLITE_ARM_PAGE_SIZE)."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Azlite(server_env={"AZLITE_ARM_PAGE_SIZE": "2"}).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.cleanup()

    def test_sdks_follow_next_links(self):
        s = self.srv
        from azure.identity import ClientSecretCredential
        from azure.mgmt.msi import ManagedServiceIdentityClient
        from azure.mgmt.storage import StorageManagementClient
        e = s.env
        cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                      e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                      connection_verify=s.ca)
        kw = dict(base_url=s.mgmt_url, connection_verify=s.ca,
                  credential_scopes=[s.mgmt_url + "/.default"])
        sub = e["AZURE_SUBSCRIPTION_ID"]
        r = s.http("PUT", "/subscriptions/%s/resourceGroups/pg?api-version=2021-04-01" % sub,
                   json={"location": "eastus"})
        self.assertEqual(r.status_code, 201, r.text)
        st = StorageManagementClient(cred, sub, **kw)
        msi = ManagedServiceIdentityClient(cred, sub, **kw)
        for i in range(5):
            st.storage_accounts.begin_create(
                "pg", "pgacct%d" % i, {"location": "eastus", "sku": {"name": "Standard_LRS"},
                                       "kind": "StorageV2"}).result()
            msi.user_assigned_identities.create_or_update("pg", "pg-id-%d" % i,
                                                          {"location": "eastus"})
        self.assertEqual(sorted(a.name for a in st.storage_accounts.list_by_resource_group("pg")),
                         ["pgacct%d" % i for i in range(5)])
        self.assertEqual(sorted(a.name for a in st.storage_accounts.list()),
                         ["pgacct%d" % i for i in range(5)])
        self.assertEqual(
            sorted(x.name for x in msi.user_assigned_identities.list_by_resource_group("pg")),
            ["pg-id-%d" % i for i in range(5)])
        # az follows them too.
        p = s.az("identity", "list", "-g", "pg")
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        self.assertEqual(len(json.loads(p.stdout)), 5)


if __name__ == "__main__":
    unittest.main()
