"""Lifecycle rules one feature at a time: Azure's validation errors,
precedence between actions, each run condition (modification, creation, last
access, last tier change), filters (prefix, blob type, blob index tags),
snapshots, disabled rules; and Set Blob Tier with rehydration.

Policies go in with the management REST API at 2023-01-01, byte for byte:
az and the SDKs serialize a policy through their models, which silently drop
names they do not know, so Azure's answer to an unknown action never reaches
them.  Where az can express a case it is used too.

Each test uses its own storage account; the clock only moves forward, so
every test measures from the time it starts."""
import json
import os
import sqlite3
import tempfile
import time
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, StandardBlobTier

from azlite_harness import Azlite

RG = "lc-rules"
srv = None


def setUpModule():
    global srv
    srv = Azlite().start()
    p = srv.az("group", "create", "-n", RG, "-l", "eastus")
    assert p.returncode == 0, p.stderr


def tearDownModule():
    srv.cleanup()


def wait_for(pred, what, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def settle():
    """Lets a scheduler pass that should do nothing have its chance to."""
    time.sleep(0.5)


def advance(duration):
    p = srv.cli("clock", "advance", duration)
    assert p.returncode == 0, p.stderr


def account(name, kind="StorageV2"):
    """Creates an account; returns a BlobServiceClient on it."""
    return BlobServiceClient.from_connection_string(srv.storage_account(name, RG, kind=kind))


def rule(name, actions, prefix=None, types=("blockBlob",), tags=None, enabled=True):
    filters = {"blobTypes": list(types)}
    if prefix:
        filters["prefixMatch"] = list(prefix)
    if tags:
        filters["blobIndexMatch"] = [{"name": k, "op": "==", "value": v} for k, v in tags.items()]
    return {"enabled": enabled, "name": name, "type": "Lifecycle",
            "definition": {"actions": actions, "filters": filters}}


def acct_path(acct):
    return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s"
            % (srv.env["AZURE_SUBSCRIPTION_ID"], RG, acct))


def set_policy(acct, *rules, policy=None):
    """PUT managementPolicies/default; returns the requests.Response."""
    body = {"properties": {"policy": policy if policy is not None else {"rules": list(rules)}}}
    return srv.http("PUT", acct_path(acct) + "/managementPolicies/default?api-version=2023-01-01",
                    json=body)


def az_policy(acct, *rules):
    """The same through `az storage account management-policy create --policy @file`."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(json.dumps({"rules": list(rules)}))
    try:
        return srv.az("storage", "account", "management-policy", "create", "--account-name",
                      acct, "-g", RG, "--policy", "@" + f.name)
    finally:
        os.unlink(f.name)


def put_policy(acct, *rules):
    r = set_policy(acct, *rules)
    assert r.status_code == 200, r.text


def upload(svc, container, *names, **kw):
    cc = svc.get_container_client(container)
    if not cc.exists():
        cc.create_container()
    for n in names:
        cc.get_blob_client(n).upload_blob(b"data:" + n.encode(), overwrite=True, **kw)


def tier(svc, container, name):
    try:
        p = svc.get_blob_client(container, name).get_blob_properties()
    except ResourceNotFoundError:
        return None
    return p.blob_tier if not p.archive_status else p.blob_tier + "/" + p.archive_status


class Validation(unittest.TestCase):
    """A bad policy is refused with Azure's error, and nothing is stored."""

    @classmethod
    def setUpClass(cls):
        account("lcvalid")
        put_policy("lcvalid", rule("keep", {"baseBlob": {"delete": {
            "daysAfterModificationGreaterThan": 400}}}))

    def refused(self, *rules, policy=None, code="InvalidRequestPropertyValue", says=""):
        r = set_policy("lcvalid", *rules, policy=policy)
        self.assertEqual(r.status_code, 400, r.text)
        err = r.json()["error"]
        self.assertEqual(err["code"], code)
        self.assertIn(says, err["message"])
        self.assert_unchanged()

    def assert_unchanged(self):
        shown = srv.az_json("storage", "account", "management-policy", "show",
                            "--account-name", "lcvalid", "-g", RG)
        self.assertEqual([r["name"] for r in shown["policy"]["rules"]], ["keep"])

    def test_az_prints_the_error(self):
        p = az_policy("lcvalid", rule("r", {"baseBlob": {"tierToCool": {
            "daysAfterModificationGreaterThan": 1, "daysAfterLastAccessTimeGreaterThan": 2}}}))
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("InvalidRequestPropertyValue", p.stderr)
        self.assertIn("conflicting run conditions", p.stderr)
        self.assert_unchanged()

    def test_unknown_action(self):
        self.refused(rule("r", {"baseBlob": {"tierToFreezer": {
            "daysAfterModificationGreaterThan": 1}}}), says="tierToFreezer")

    def test_unknown_condition(self):
        self.refused(rule("r", {"baseBlob": {"delete": {"daysAfterBirthdayGreaterThan": 1}}}),
                     says="daysAfterBirthdayGreaterThan")

    def test_conflicting_conditions(self):
        self.refused(rule("r", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 1,
                                                        "daysAfterCreationGreaterThan": 2}}}),
                     says="conflicting")

    def test_negative_and_fractional_days(self):
        self.refused(rule("r", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": -1}}}))
        self.refused(rule("r", {"baseBlob": {"delete": {
            "daysAfterModificationGreaterThan": 1.5}}}))

    def test_bad_filters(self):
        self.refused(rule("r", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 1}}},
                          types=("pageBlob",)), says="pageBlob")
        self.refused(rule("r", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 1}}},
                          types=()), says="blobTypes")
        self.refused(rule("r", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 1}}},
                          prefix=["/leading-slash"]), says="prefixMatch")
        self.refused(rule("r", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 1}}},
                          prefix=["p%d/" % i for i in range(11)]), says="prefixMatch")
        bad_op = rule("r", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 1}}},
                      tags={"a": "b"})
        bad_op["definition"]["filters"]["blobIndexMatch"][0]["op"] = "!="
        self.refused(bad_op, says="op")

    def test_append_blobs_only_delete(self):
        self.refused(rule("r", {"baseBlob": {"tierToCool": {
            "daysAfterModificationGreaterThan": 1}}}, types=("appendBlob",)),
            says="append blobs support only the delete action")

    def test_tier_change_condition_only_on_archive(self):
        self.refused(rule("r", {"baseBlob": {"tierToCool": {
            "daysAfterModificationGreaterThan": 1, "daysAfterLastTierChangeGreaterThan": 1}}}),
            says="daysAfterLastTierChangeGreaterThan")

    def test_rule_shape(self):
        dup = rule("same", {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": 1}}})
        self.refused(dup, dup, says="more than once")
        wrong_type = dict(dup, type="Inventory")
        self.refused(wrong_type, says="Lifecycle")
        self.refused(rule("r", {}), says="no action")
        self.refused(policy={"rules": []}, says="rules")
        self.refused(policy={}, says="rules")

    def test_last_access_without_tracking(self):
        self.refused(rule("r", {"baseBlob": {"tierToCool": {
            "daysAfterLastAccessTimeGreaterThan": 3}}}),
            code="MissingLastAccessTimeBasedTrackingPolicy")

    def test_v1_account_kind(self):
        account("lcv1kind", kind="Storage")
        p = az_policy("lcv1kind", rule("r", {"baseBlob": {"delete": {
            "daysAfterModificationGreaterThan": 1}}}))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("The operation is not allowed on account kind Storage", p.stderr)


class PolicyResource(unittest.TestCase):
    def test_update_and_delete_with_az(self):
        svc = account("lcupdate")
        p = az_policy("lcupdate", rule("tmp", {"baseBlob": {"delete": {
            "daysAfterModificationGreaterThan": 1}}}, prefix=["tmp/"]))
        self.assertEqual(p.returncode, 0, p.stderr)
        # `update` is az's generic update: GET, change, PUT.
        p = srv.az("storage", "account", "management-policy", "update", "--account-name",
                   "lcupdate", "-g", RG, "--set", "policy.rules[0].enabled=false")
        self.assertEqual(p.returncode, 0, p.stderr)
        shown = srv.az_json("storage", "account", "management-policy", "show",
                            "--account-name", "lcupdate", "-g", RG)
        self.assertIs(shown["policy"]["rules"][0]["enabled"], False)
        upload(svc, "tmp", "a")
        advance("2d")
        settle()
        self.assertEqual(tier(svc, "tmp", "a"), "Hot")  # the rule is disabled
        p = srv.az("storage", "account", "management-policy", "delete", "--account-name",
                   "lcupdate", "-g", RG)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = srv.az("storage", "account", "management-policy", "show", "--account-name",
                   "lcupdate", "-g", RG)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("ManagementPolicyNotFound", p.stderr)

    def test_policy_survives_restart(self):
        svc = account("lcrestart")
        put_policy("lcrestart", rule("old", {"baseBlob": {"delete": {
            "daysAfterModificationGreaterThan": 3}}}))
        upload(svc, "ctr", "a")
        srv.restart()
        advance("4d")
        wait_for(lambda: tier(svc, "ctr", "a") is None, "deleted after restart")


class Precedence(unittest.TestCase):
    def test_cheapest_action_wins(self):
        svc = account("lcprec")
        put_policy("lcprec",
                   rule("stairs", {"baseBlob": {
                       "tierToCool": {"daysAfterModificationGreaterThan": 1},
                       "tierToCold": {"daysAfterModificationGreaterThan": 2},
                       "tierToArchive": {"daysAfterModificationGreaterThan": 3},
                       "delete": {"daysAfterModificationGreaterThan": 5}}}, prefix=["stairs/"]),
                   # Two rules on one blob: delete in one beats cool in the other.
                   rule("cool-all", {"baseBlob": {"tierToCool": {
                       "daysAfterModificationGreaterThan": 1}}}, prefix=["twice/"]),
                   rule("delete-all", {"baseBlob": {"delete": {
                       "daysAfterModificationGreaterThan": 1}}}, prefix=["twice/"]))
        upload(svc, "stairs", "a")
        upload(svc, "twice", "b")
        # Past 3 days in one jump: Archive, not Cool or Cold.
        advance("73h")
        wait_for(lambda: tier(svc, "stairs", "a") == "Archive", "archive wins")
        self.assertIsNone(tier(svc, "twice", "b"))
        # Lifecycle never warms an archived blob up again; it deletes it at 5 days.
        advance("1d")
        settle()
        self.assertEqual(tier(svc, "stairs", "a"), "Archive")
        advance("1d")
        wait_for(lambda: tier(svc, "stairs", "a") is None, "deleted at day 5")


class TierActions(unittest.TestCase):
    """tierToCold as an action of its own, and the tier actions on snapshots,
    run by `azlite clock advance`, each logged with its rule."""

    def test_tier_to_cold(self):
        svc = account("lccold")
        put_policy("lccold", rule("to-cold", {"baseBlob": {
            "tierToCold": {"daysAfterModificationGreaterThan": 2},
            "tierToArchive": {"daysAfterModificationGreaterThan": 10}}}, prefix=["data/"]))
        upload(svc, "data", "a")
        upload(svc, "other", "b")
        advance("1d")
        settle()
        self.assertEqual(tier(svc, "data", "a"), "Hot")
        advance("2d")
        wait_for(lambda: tier(svc, "data", "a") == "Cold", "tiered to cold")
        p = svc.get_blob_client("data", "a").get_blob_properties()
        self.assertFalse(p.blob_tier_inferred)
        self.assertEqual(svc.get_blob_client("data", "a").download_blob().readall(), b"data:a")
        self.assertEqual(tier(svc, "other", "b"), "Hot")
        # Cold stays until Archive is due.
        advance("8d")
        wait_for(lambda: tier(svc, "data", "a") == "Archive", "archived at day 10")
        got = [(e["action"], e["rule"], e["fromTier"], e["toTier"])
               for e in action_log("lccold") if e["source"] == "lifecycle"]
        self.assertEqual(got, [("tierToCold", "to-cold", "Hot", "Cold"),
                               ("tierToArchive", "to-cold", "Cold", "Archive")])

    def test_snapshot_tier_actions(self):
        svc = account("lcsnaptier")
        put_policy("lcsnaptier", rule("old-snapshots", {"snapshot": {
            "tierToCool": {"daysAfterCreationGreaterThan": 1},
            "tierToCold": {"daysAfterCreationGreaterThan": 4},
            "tierToArchive": {"daysAfterCreationGreaterThan": 8}}}))
        upload(svc, "ctr", "a")
        b = svc.get_blob_client("ctr", "a")
        s1 = b.create_snapshot()["snapshot"]
        advance("2d")
        s2 = b.create_snapshot()["snapshot"]

        def snap_tier(snap):
            return svc.get_blob_client("ctr", "a", snapshot=snap).get_blob_properties().blob_tier

        wait_for(lambda: snap_tier(s1) == "Cool", "first snapshot cool")
        self.assertEqual(snap_tier(s2), "Hot")
        advance("3d")  # s1 is 5 days old, s2 3
        wait_for(lambda: snap_tier(s1) == "Cold" and snap_tier(s2) == "Cool", "cold and cool")
        advance("4d")  # s1 9, s2 7
        wait_for(lambda: snap_tier(s1) == "Archive" and snap_tier(s2) == "Cold",
                 "archive and cold")
        # The base blob is no snapshot: untouched, and readable.
        self.assertEqual(tier(svc, "ctr", "a"), "Hot")
        self.assertEqual(b.download_blob().readall(), b"data:a")
        # An archived snapshot is offline; a cold one still reads.
        with self.assertRaises(HttpResponseError) as cm:
            svc.get_blob_client("ctr", "a", snapshot=s1).download_blob().readall()
        self.assertEqual(cm.exception.error_code, "BlobArchived")
        self.assertEqual(svc.get_blob_client("ctr", "a", snapshot=s2).download_blob().readall(),
                         b"data:a")
        listed = {x.snapshot: x.blob_tier for x in
                  svc.get_container_client("ctr").list_blobs(include=["snapshots"])}
        self.assertEqual(listed, {s1: "Archive", s2: "Cold", None: "Hot"})
        log = [(e["action"], e.get("snapshot"), e["toTier"]) for e in action_log("lcsnaptier")
               if e["source"] == "lifecycle"]
        self.assertEqual(sorted(log), sorted([
            ("tierToCool", s1, "Cool"), ("tierToCold", s1, "Cold"), ("tierToCool", s2, "Cool"),
            ("tierToArchive", s1, "Archive"), ("tierToCold", s2, "Cold")]))


class Conditions(unittest.TestCase):
    def test_creation_versus_modification(self):
        svc = account("lccreate")
        put_policy("lccreate",
                   rule("by-creation", {"baseBlob": {"delete": {
                       "daysAfterCreationGreaterThan": 5}}}, prefix=["created/"]),
                   rule("by-modification", {"baseBlob": {"delete": {
                       "daysAfterModificationGreaterThan": 5}}}, prefix=["modified/"]))
        upload(svc, "created", "a")
        upload(svc, "modified", "a")
        advance("3d")
        # A metadata change modifies the blob but does not re-create it.
        svc.get_blob_client("created", "a").set_blob_metadata({"k": "v"})
        svc.get_blob_client("modified", "a").set_blob_metadata({"k": "v"})
        advance("49h")
        wait_for(lambda: tier(svc, "created", "a") is None, "deleted by creation age")
        self.assertEqual(tier(svc, "modified", "a"), "Hot")
        advance("3d")
        wait_for(lambda: tier(svc, "modified", "a") is None, "deleted by modification age")

    def test_last_access_and_auto_tier_to_hot(self):
        svc = account("lcaccess")
        p = srv.az("storage", "account", "blob-service-properties", "update", "-n", "lcaccess",
                   "-g", RG, "--enable-last-access-tracking", "true")
        if p.returncode != 0 and "unrecognized arguments" in p.stderr:
            self.skipTest("this az has no --enable-last-access-tracking")
        self.assertEqual(p.returncode, 0, p.stderr)
        put_policy("lcaccess", rule("idle", {"baseBlob": {
            "tierToCool": {"daysAfterLastAccessTimeGreaterThan": 10},
            "enableAutoTierToHotFromCool": True}}))
        upload(svc, "ctr", "read", "idle")
        advance("8d")
        svc.get_blob_client("ctr", "read").download_blob().readall()
        advance("3d")
        wait_for(lambda: tier(svc, "ctr", "idle") == "Cool", "idle blob cool")
        self.assertEqual(tier(svc, "ctr", "read"), "Hot")
        props = svc.get_blob_client("ctr", "read").get_blob_properties()
        self.assertIsNotNone(props.last_accessed_on)
        # Reading a cool blob brings it back to hot at once.
        svc.get_blob_client("ctr", "idle").download_blob().readall()
        self.assertEqual(tier(svc, "ctr", "idle"), "Hot")
        log = action_log("lcaccess")
        self.assertIn(("idle", "tierToHot", "Cool", "Hot"),
                      {(e["blob"], e["action"], e["fromTier"], e["toTier"]) for e in log})

    def test_last_tier_change_keeps_rehydrated_blobs_online(self):
        svc = account("lctierchg")
        put_policy("lctierchg", rule("archive", {"baseBlob": {"tierToArchive": {
            "daysAfterModificationGreaterThan": 1, "daysAfterLastTierChangeGreaterThan": 7}}}))
        upload(svc, "ctr", "a")
        advance("2d")
        wait_for(lambda: tier(svc, "ctr", "a") == "Archive", "archived")
        b = svc.get_blob_client("ctr", "a")
        b.set_standard_blob_tier("Hot", rehydrate_priority="High")
        advance("61m")
        wait_for(lambda: tier(svc, "ctr", "a") == "Hot", "rehydrated")
        advance("2d")
        settle()
        self.assertEqual(tier(svc, "ctr", "a"), "Hot")  # changed tier 2 days ago: < 7
        self.assertEqual(b.download_blob().readall(), b"data:a")
        advance("6d")
        wait_for(lambda: tier(svc, "ctr", "a") == "Archive", "archived again after 7 days")


class Filters(unittest.TestCase):
    def test_prefix_is_container_then_blob(self):
        svc = account("lcprefix")
        put_policy("lcprefix", rule("logs", {"baseBlob": {"delete": {
            "daysAfterModificationGreaterThan": 1}}}, prefix=["data/logs/", "scratch"]))
        upload(svc, "data", "logs/1.txt", "logs2.txt", "other/logs/1.txt")
        upload(svc, "scratch", "a")
        upload(svc, "scratchpad", "b")  # "scratch" is a plain prefix: containers too
        upload(svc, "logs", "x")
        advance("25h")
        wait_for(lambda: tier(svc, "data", "logs/1.txt") is None, "logs deleted")
        self.assertIsNone(tier(svc, "scratch", "a"))
        self.assertIsNone(tier(svc, "scratchpad", "b"))
        for c, n in (("data", "logs2.txt"), ("data", "other/logs/1.txt"), ("logs", "x")):
            self.assertEqual(tier(svc, c, n), "Hot", (c, n))

    def test_blob_types(self):
        svc = account("lctypes")
        put_policy("lctypes", rule("blocks", {"baseBlob": {"delete": {
            "daysAfterModificationGreaterThan": 1}}}))
        upload(svc, "ctr", "block")
        cc = svc.get_container_client("ctr")
        cc.get_blob_client("append").create_append_blob()
        advance("2d")
        wait_for(lambda: tier(svc, "ctr", "block") is None, "block blob deleted")
        self.assertTrue(cc.get_blob_client("append").exists())

    def test_blob_index_tags(self):
        svc = account("lctags")
        put_policy("lctags", rule("done", {"baseBlob": {"tierToCool": {
            "daysAfterModificationGreaterThan": 1}}}, tags={"stage": "done"}))
        upload(svc, "ctr", "done", "wip", "untagged")
        cc = svc.get_container_client("ctr")
        cc.get_blob_client("done").set_blob_tags({"stage": "done"})
        cc.get_blob_client("wip").set_blob_tags({"stage": "wip"})
        advance("2d")
        wait_for(lambda: tier(svc, "ctr", "done") == "Cool", "tagged blob cool")
        self.assertEqual(tier(svc, "ctr", "wip"), "Hot")
        self.assertEqual(tier(svc, "ctr", "untagged"), "Hot")

    def test_snapshots(self):
        svc = account("lcsnaps")
        put_policy("lcsnaps", rule("old-snapshots", {"snapshot": {"delete": {
            "daysAfterCreationGreaterThan": 2}}}))
        upload(svc, "ctr", "a")
        b = svc.get_blob_client("ctr", "a")
        b.create_snapshot()
        advance("3d")
        cc = svc.get_container_client("ctr")
        wait_for(lambda: [x for x in cc.list_blobs(include=["snapshots"])] and
                 all(not x.snapshot for x in cc.list_blobs(include=["snapshots"])),
                 "snapshot deleted")
        self.assertEqual(b.download_blob().readall(), b"data:a")


class SetBlobTier(unittest.TestCase):
    def test_tiers_and_rehydration(self):
        svc = account("lcsettier")
        upload(svc, "ctr", "a", "b")
        a = svc.get_blob_client("ctr", "a")
        p0 = a.get_blob_properties()
        self.assertEqual((p0.blob_tier, p0.blob_tier_inferred), ("Hot", True))
        a.set_standard_blob_tier("Cold")
        p = a.get_blob_properties()
        self.assertEqual(p.blob_tier, "Cold")
        self.assertFalse(p.blob_tier_inferred)
        self.assertIsNotNone(p.blob_tier_change_time)
        # Set Blob Tier touches neither the ETag nor Last-Modified.
        self.assertEqual((p.etag, p.last_modified), (p0.etag, p0.last_modified))
        a.set_standard_blob_tier("Archive")
        self.assertEqual(tier(svc, "ctr", "a"), "Archive")
        # Metadata stays readable; content and metadata changes do not.
        self.assertEqual(a.get_blob_properties().size, len(b"data:a"))
        for call in (lambda: a.download_blob().readall(),
                     lambda: a.set_blob_metadata({"k": "v"})):
            with self.assertRaises(HttpResponseError) as cm:
                call()
            self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                             (409, "BlobArchived"))
        listed = {x.name: x for x in svc.get_container_client("ctr").list_blobs()}
        self.assertEqual(listed["a"].blob_tier, "Archive")
        self.assertEqual(listed["b"].blob_tier, "Hot")

        a.set_standard_blob_tier("Cool")  # Standard priority
        listed = {x.name: x for x in svc.get_container_client("ctr").list_blobs()}
        self.assertEqual(listed["a"].archive_status, "rehydrate-pending-to-cool")
        # While pending: another target is refused; the same one at High speeds it up.
        with self.assertRaises(HttpResponseError) as cm:
            a.set_standard_blob_tier("Hot")
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (409, "BlobBeingRehydrated"))
        a.set_standard_blob_tier("Cool", rehydrate_priority="High")
        self.assertEqual(a.get_blob_properties().rehydrate_priority, "High")
        # A pending rehydration survives a restart.
        srv.restart()
        self.assertEqual(tier(svc, "ctr", "a"), "Archive/rehydrate-pending-to-cool")
        advance("61m")
        wait_for(lambda: tier(svc, "ctr", "a") == "Cool", "rehydrated to cool")
        self.assertEqual(a.download_blob().readall(), b"data:a")

        # Overwriting an archived blob replaces it with an online one.
        bb = svc.get_blob_client("ctr", "b")
        bb.set_standard_blob_tier("Archive")
        bb.upload_blob(b"new", overwrite=True)
        self.assertEqual(tier(svc, "ctr", "b"), "Hot")
        self.assertEqual(bb.download_blob().readall(), b"new")

        # Upload straight into Archive.
        c = svc.get_blob_client("ctr", "c")
        c.upload_blob(b"cold storage", standard_blob_tier=StandardBlobTier.ARCHIVE)
        self.assertEqual(tier(svc, "ctr", "c"), "Archive")

    def test_errors(self):
        svc = account("lctiererr")
        upload(svc, "ctr", "a")
        a = svc.get_blob_client("ctr", "a")
        with self.assertRaises(HttpResponseError) as cm:
            a.set_standard_blob_tier("Frozen")
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (400, "InvalidHeaderValue"))
        with self.assertRaises(HttpResponseError) as cm:
            a.set_standard_blob_tier("Hot", rehydrate_priority="Urgent")
        self.assertEqual(cm.exception.status_code, 400)
        with self.assertRaises(ResourceNotFoundError):
            svc.get_blob_client("ctr", "missing").set_standard_blob_tier("Cool")
        with self.assertRaises(HttpResponseError) as cm:
            a.set_premium_page_blob_tier("P10")
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (400, "InvalidBlobTier"))

    def test_user_tier_changes_are_logged(self):
        svc = account("lctierlog")
        upload(svc, "ctr", "a")
        a = svc.get_blob_client("ctr", "a")
        a.set_standard_blob_tier("Archive")
        a.set_standard_blob_tier("Hot", rehydrate_priority="High")
        got = [(e["source"], e["action"], e["fromTier"], e["toTier"])
               for e in action_log("lctierlog")]
        self.assertEqual(got, [("user", "setTier", "Hot", "Archive"),
                               ("user", "rehydrateHigh", "Archive", "Hot")])

    def test_tier_changes_are_usage_events(self):
        # Cost management will price what storage does to blobs: each action is a usage
        # event of the account (core's usage_events), metered by action, sized in bytes.
        svc = account("lctierusage")
        upload(svc, "ctr", "a")
        a = svc.get_blob_client("ctr", "a")
        size = a.get_blob_properties().size
        a.set_standard_blob_tier("Cool")
        a.set_standard_blob_tier("Archive")
        a.set_standard_blob_tier("Hot", rehydrate_priority="Standard")
        got = [(m, q, u) for rid, m, q, u in usage_events(acct_path("lctierusage"))]
        self.assertEqual(got, [("Microsoft.Storage/blobs/setTier/Cool", size, "Bytes"),
                               ("Microsoft.Storage/blobs/setTier/Archive", size, "Bytes"),
                               ("Microsoft.Storage/blobs/rehydrateStandard", size, "Bytes")])

    def test_action_log_paging(self):
        svc = account("lclogpage")
        upload(svc, "ctr", "a")
        a = svc.get_blob_client("ctr", "a")
        for t in ("Cool", "Cold", "Hot"):
            a.set_standard_blob_tier(t)
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        path = ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/"
                "storageAccounts/lclogpage/lifecycleActions?api-version=2023-01-01" % (sub, RG))
        r = srv.http("GET", path + "&$top=2")
        self.assertEqual(r.status_code, 200, r.text)
        page = r.json()
        self.assertEqual([e["toTier"] for e in page["value"]], ["Cool", "Cold"])
        r = srv.http("GET", page["nextLink"][len(srv.mgmt_url):])
        self.assertEqual([e["toTier"] for e in r.json()["value"]], ["Hot"])
        # Counts and tokens that no page could have written are refused, not read as defaults.
        for q in ("$top=-1", "$top=0", "$top=5001", "$top=2x", "$top=", "$skiptoken=garbage",
                  "$skiptoken=-5", "$skiptoken=1e3", "$skiptoken=99999999999999999999"):
            r = srv.http("GET", path + "&" + q)
            self.assertEqual(r.status_code, 400, (q, r.text))
            self.assertEqual(r.json()["error"]["code"], "InvalidParameter", q)
            self.assertIn(q.split("=")[0], r.json()["error"]["message"])


class SetBlobTierClients(unittest.TestCase):
    def test_az_storage_blob_set_tier(self):
        cs = srv.storage_account("lcaztier", RG)

        def az(*args):
            return srv.az("storage", *args, "--connection-string", cs)

        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("weights")
        try:
            self.assertEqual(az("container", "create", "-n", "ctr").returncode, 0)
            p = az("blob", "upload", "-c", "ctr", "-n", "m.bin", "-f", f.name)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = az("blob", "set-tier", "-c", "ctr", "-n", "m.bin", "--tier", "Archive")
            self.assertEqual(p.returncode, 0, p.stderr)
            show = json.loads(az("blob", "show", "-c", "ctr", "-n", "m.bin").stdout)
            self.assertEqual(show["properties"]["blobTier"], "Archive")
            p = az("blob", "download", "-c", "ctr", "-n", "m.bin", "-f", f.name + ".out")
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("BlobArchived", p.stderr)
            p = az("blob", "set-tier", "-c", "ctr", "-n", "m.bin", "--tier", "Hot",
                   "--rehydrate-priority", "High")
            self.assertEqual(p.returncode, 0, p.stderr)
            show = json.loads(az("blob", "show", "-c", "ctr", "-n", "m.bin").stdout)
            self.assertEqual(show["properties"]["rehydrationStatus"], "rehydrate-pending-to-hot")
            advance("61m")
            wait_for(lambda: json.loads(az("blob", "show", "-c", "ctr", "-n", "m.bin").stdout)
                     ["properties"]["blobTier"] == "Hot", "rehydrated")
            p = az("blob", "download", "-c", "ctr", "-n", "m.bin", "-f", f.name + ".out")
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(f.name + ".out") as g:
                self.assertEqual(g.read(), "weights")
        finally:
            for n in (f.name, f.name + ".out"):
                if os.path.exists(n):
                    os.unlink(n)

    def test_blob_batch_set_tier(self):
        svc = account("lcbatch")
        upload(svc, "ctr", "a", "b", "c")
        cc = svc.get_container_client("ctr")
        r = cc.set_standard_blob_tier_blobs("Archive", "a", "b", "missing",
                                            raise_on_any_failure=False)
        self.assertEqual([x.status_code for x in r], [200, 200, 404])
        r = cc.set_standard_blob_tier_blobs("Cool", "a", rehydrate_priority="High",
                                            raise_on_any_failure=False)
        self.assertEqual([x.status_code for x in r], [202])
        listed = {b.name: (b.blob_tier, b.archive_status) for b in cc.list_blobs()}
        self.assertEqual(listed, {"a": ("Archive", "rehydrate-pending-to-cool"),
                                  "b": ("Archive", None), "c": ("Hot", None)})


def usage_events(resource_id):
    """The usage events of a resource, oldest first, read from the store beside the server."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data_dir, "azlite.db"), uri=True)
    try:
        return db.execute("SELECT resource_id, meter, quantity, unit FROM usage_events"
                          " WHERE resource_id=? COLLATE NOCASE ORDER BY id",
                          (resource_id,)).fetchall()
    finally:
        db.close()


def action_log(acct):
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    url = ("%s/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s"
           "/lifecycleActions?api-version=2023-01-01" % (srv.mgmt_url, sub, RG, acct))
    return srv.az_json("rest", "--method", "get", "--url", url)["value"]


if __name__ == "__main__":
    unittest.main()
