"""Blob versioning and soft delete, turned on the way a user does it: the blob
service properties through azure-mgmt-storage (isVersioningEnabled,
deleteRetentionPolicy, containerDeleteRetentionPolicy) and `az storage
account blob-service-properties update`, then driven with azure-storage-blob:
overwrite a dataset three times and read each version back, delete and
undelete blobs and containers, see them purged after `azlite clock advance`
past the retention, lifecycle actions on previous versions, and versions that
survive kill -9."""
import os
import re
import time
import unittest
import uuid

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage import models as m
from azure.storage.blob import BlobServiceClient

from azlite_harness import Azlite

RG = "protect-rg"
VERSION_ID = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
srv = None
mgmt = None


def setUpModule():
    global srv, mgmt
    srv = Azlite().start()
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    kw = dict(base_url=srv.mgmt_url, credential_scopes=[srv.mgmt_url + "/.default"],
              connection_verify=srv.ca)
    ResourceManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw).resource_groups \
        .create_or_update(RG, {"location": "westeurope"})
    mgmt = StorageManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw)


def tearDownModule():
    srv.cleanup()


def account(name, versioning=False, blob_days=None, container_days=None):
    """A storage account with these protections set through ARM, and a blob client on it."""
    mgmt.storage_accounts.begin_create(
        RG, name, m.StorageAccountCreateParameters(sku=m.Sku(name="Standard_LRS"),
                                                   kind="StorageV2",
                                                   location="westeurope")).result()
    props = m.BlobServiceProperties(is_versioning_enabled=versioning)
    if blob_days:
        props.delete_retention_policy = m.DeleteRetentionPolicy(enabled=True, days=blob_days)
    if container_days:
        props.container_delete_retention_policy = m.DeleteRetentionPolicy(enabled=True,
                                                                          days=container_days)
    got = mgmt.blob_services.set_service_properties(RG, name, props)
    assert got.is_versioning_enabled == versioning, got
    key = mgmt.storage_accounts.list_keys(RG, name).keys[0].value
    ep = mgmt.storage_accounts.get_properties(RG, name).primary_endpoints.blob
    return BlobServiceClient.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s"
        % (name, key, ep))


def advance(duration):
    p = srv.cli("clock", "advance", duration)
    assert p.returncode == 0, p.stderr


def wait_for(pred, what, timeout=10.0):
    """The scheduler acts on its own thread after a clock advance: poll briefly."""
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def fresh(svc, prefix="c"):
    return svc.create_container("%s%s" % (prefix, uuid.uuid4().hex[:10]))


class Versions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = account("veracct", versioning=True, blob_days=3)

    def test_three_overwrites_each_version_reads_back(self):
        ct = fresh(self.svc)
        b = ct.get_blob_client("data/train.csv")
        bodies = [os.urandom(40 * 1024), b"small second dataset", os.urandom(70 * 1024)]
        ids = []
        for i, body in enumerate(bodies):
            r = b.upload_blob(body, overwrite=True, metadata={"rev": str(i)})
            self.assertRegex(r["version_id"], VERSION_ID)
            ids.append(r["version_id"])
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual(ids, sorted(ids))
        for vid, body in zip(ids, bodies):
            self.assertEqual(b.download_blob(version_id=vid).readall(), body)
            p = b.get_blob_properties(version_id=vid)
            self.assertEqual((p.size, p.version_id), (len(body), vid))
        self.assertEqual(b.download_blob().readall(), bodies[2])
        cur = b.get_blob_properties()
        self.assertEqual((cur.version_id, cur.is_current_version), (ids[2], True))
        self.assertEqual(b.get_blob_properties(version_id=ids[0]).metadata, {"rev": "0"})
        listed = [(x.version_id, x.is_current_version, x.size)
                  for x in ct.list_blobs(include=["versions"])]
        self.assertEqual(sorted(listed), [(ids[0], None, len(bodies[0])),
                                          (ids[1], None, len(bodies[1])),
                                          (ids[2], True, len(bodies[2]))])
        # Without include=versions only the current blob is listed.
        self.assertEqual([x.version_id for x in ct.list_blobs()], [ids[2]])
        # A version that never existed.
        with self.assertRaises(ResourceNotFoundError):
            b.download_blob(version_id="2001-01-01T00:00:00.0000000Z").readall()
        with self.assertRaises(HttpResponseError) as cm:
            b.download_blob(version_id="not-a-version").readall()
        self.assertEqual(cm.exception.error_code, "InvalidQueryParameterValue")

    def test_metadata_write_makes_a_version_and_tier_by_version(self):
        ct = fresh(self.svc)
        b = ct.get_blob_client("m.txt")
        v1 = b.upload_blob(b"abc")["version_id"]
        r = b.set_blob_metadata({"k": "v"})
        self.assertRegex(r["version_id"], VERSION_ID)
        self.assertNotEqual(r["version_id"], v1)
        self.assertEqual(b.get_blob_properties(version_id=v1).metadata, {})
        b.set_standard_blob_tier("Cool", version_id=v1)
        self.assertEqual(b.get_blob_properties(version_id=v1).blob_tier, "Cool")
        self.assertEqual(b.get_blob_properties().blob_tier, "Hot")

    def test_copy_from_a_version(self):
        ct = fresh(self.svc)
        b = ct.get_blob_client("src.bin")
        v1 = b.upload_blob(b"first")["version_id"]
        b.upload_blob(b"second", overwrite=True)
        dst = ct.get_blob_client("dst.bin")
        r = dst.start_copy_from_url(b.url + "?versionid=" + v1)
        self.assertEqual(r["copy_status"], "success")
        self.assertEqual(dst.download_blob().readall(), b"first")

    def test_delete_current_keeps_versions_and_undelete_version(self):
        ct = fresh(self.svc)
        b = ct.get_blob_client("model.pt")
        v1 = b.upload_blob(b"weights-1")["version_id"]
        v2 = b.upload_blob(b"weights-2", overwrite=True)["version_id"]
        b.delete_blob()
        with self.assertRaises(ResourceNotFoundError):
            b.download_blob().readall()
        self.assertEqual([x.name for x in ct.list_blobs()], [])
        listed = sorted((x.version_id, x.is_current_version)
                        for x in ct.list_blobs(include=["versions"]))
        self.assertEqual(listed, [(v1, None), (v2, None)])
        self.assertEqual(b.download_blob(version_id=v2).readall(), b"weights-2")
        # Deleting a previous version under soft delete keeps it for the retention.
        b.delete_blob(version_id=v1)
        with self.assertRaises(ResourceNotFoundError):
            b.download_blob(version_id=v1).readall()
        deleted = [(x.version_id, x.deleted, x.remaining_retention_days)
                   for x in ct.list_blobs(include=["versions", "deleted"]) if x.deleted]
        self.assertEqual(deleted, [(v1, True, 3)])
        b.undelete_blob()
        self.assertEqual(b.download_blob(version_id=v1).readall(), b"weights-1")
        # Restoring the blob: copy a version over it.
        b.start_copy_from_url(b.url + "?versionid=" + v1)
        self.assertEqual(b.download_blob().readall(), b"weights-1")

    def test_versions_survive_kill9(self):
        ct = fresh(self.svc)
        b = ct.get_blob_client("crash.bin")
        bodies = [os.urandom(20 * 1024 + i) for i in range(3)]
        ids = [b.upload_blob(x, overwrite=True)["version_id"] for x in bodies]
        srv.kill9()
        srv.restart()
        for vid, body in zip(ids, bodies):
            self.assertEqual(b.download_blob(version_id=vid).readall(), body)
        self.assertEqual(b.get_blob_properties().version_id, ids[2])

    def test_lifecycle_base_delete_keeps_a_version(self):
        ct = fresh(self.svc, "lcbase")
        b = ct.get_blob_client("old.bin")
        v1 = b.upload_blob(b"old data")["version_id"]
        rule = m.ManagementPolicyRule(
            name="expire", type="Lifecycle",
            definition=m.ManagementPolicyDefinition(
                filters=m.ManagementPolicyFilter(blob_types=["blockBlob"],
                                                 prefix_match=[ct.container_name + "/"]),
                actions=m.ManagementPolicyAction(base_blob=m.ManagementPolicyBaseBlob(
                    delete=m.DateAfterModification(days_after_modification_greater_than=5)))))
        mgmt.management_policies.create_or_update(
            RG, "veracct", "default",
            m.ManagementPolicy(policy=m.ManagementPolicySchema(rules=[rule])))
        advance("6d")
        wait_for(lambda: list(ct.list_blobs()) == [], "base blob deleted")
        self.assertEqual([(x.version_id, x.is_current_version)
                          for x in ct.list_blobs(include=["versions"])], [(v1, None)])
        self.assertEqual(b.download_blob(version_id=v1).readall(), b"old data")
        mgmt.management_policies.delete(RG, "veracct", "default")

    def test_lifecycle_version_actions(self):
        ct = fresh(self.svc, "lcver")
        b = ct.get_blob_client("ds.parquet")
        v1 = b.upload_blob(b"one")["version_id"]
        v2 = b.upload_blob(b"two", overwrite=True)["version_id"]
        v3 = b.upload_blob(b"three", overwrite=True)["version_id"]
        rule = m.ManagementPolicyRule(
            name="old-versions", type="Lifecycle",
            definition=m.ManagementPolicyDefinition(
                filters=m.ManagementPolicyFilter(blob_types=["blockBlob"],
                                                 prefix_match=[ct.container_name + "/"]),
                actions=m.ManagementPolicyAction(version=m.ManagementPolicyVersion(
                    tier_to_cool=m.DateAfterCreation(days_after_creation_greater_than=1),
                    delete=m.DateAfterCreation(days_after_creation_greater_than=10)))))
        mgmt.management_policies.create_or_update(
            RG, "veracct", "default",
            m.ManagementPolicy(policy=m.ManagementPolicySchema(rules=[rule])))

        def tiers():
            return {x.version_id: x.blob_tier for x in ct.list_blobs(include=["versions"])}
        advance("2d")
        wait_for(lambda: tiers() == {v1: "Cool", v2: "Cool", v3: "Hot"}, "versions Cool")
        advance("9d")
        wait_for(lambda: set(tiers()) == {v3}, "old versions deleted")
        self.assertEqual(b.download_blob().readall(), b"three")
        mgmt.management_policies.delete(RG, "veracct", "default")


class SoftDelete(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.svc = account("sdacct", blob_days=2, container_days=3)

    def test_delete_undelete_then_purged(self):
        ct = fresh(self.svc)
        b = ct.get_blob_client("notes.txt")
        b.upload_blob(b"keep me")
        b.delete_blob()
        with self.assertRaises(ResourceNotFoundError):
            b.download_blob().readall()
        self.assertEqual(list(ct.list_blobs()), [])
        d = [x for x in ct.list_blobs(include=["deleted"])]
        self.assertEqual([(x.name, x.deleted, x.remaining_retention_days) for x in d],
                         [("notes.txt", True, 2)])
        self.assertIsNotNone(d[0].deleted_time)
        b.undelete_blob()
        self.assertEqual(b.download_blob().readall(), b"keep me")
        # Past the retention it is gone for good.
        b.delete_blob()
        advance("49h")
        wait_for(lambda: list(ct.list_blobs(include=["deleted"])) == [], "purged")
        with self.assertRaises(HttpResponseError) as cm:
            b.undelete_blob()
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (404, "BlobNotFound"))

    def test_retention_days_out_of_range_refused(self):
        props = m.BlobServiceProperties(
            delete_retention_policy=m.DeleteRetentionPolicy(enabled=True, days=400))
        with self.assertRaises(HttpResponseError) as cm:
            mgmt.blob_services.set_service_properties(RG, "sdacct", props)
        self.assertEqual(cm.exception.status_code, 400)
        got = mgmt.blob_services.get_service_properties(RG, "sdacct")
        self.assertEqual(got.delete_retention_policy.days, 2)

    def test_data_plane_reports_the_arm_setting(self):
        drp = self.svc.get_service_properties()["delete_retention_policy"]
        self.assertEqual((drp.enabled, drp.days), (True, 2))

    def test_overwrite_keeps_a_soft_deleted_snapshot(self):
        ct = fresh(self.svc)
        b = ct.get_blob_client("o.txt")
        b.upload_blob(b"v1")
        b.upload_blob(b"v2", overwrite=True)
        snaps = [x for x in ct.list_blobs(include=["snapshots", "deleted"]) if x.snapshot]
        self.assertEqual([x.deleted for x in snaps], [True])
        b.undelete_blob()
        s = ct.get_blob_client("o.txt", snapshot=snaps[0].snapshot)
        self.assertEqual(s.download_blob().readall(), b"v1")
        self.assertEqual(b.download_blob().readall(), b"v2")

    def test_container_delete_restore_then_purged(self):
        ct = fresh(self.svc, "sdc")
        name = ct.container_name
        ct.upload_blob("a.txt", b"inside")
        ct.delete_container()
        self.assertNotIn(name, [c.name for c in self.svc.list_containers()])
        dl = [c for c in self.svc.list_containers(include_deleted=True) if c.name == name]
        self.assertEqual(len(dl), 1)
        self.assertTrue(dl[0].deleted)
        self.assertTrue(dl[0].version)
        # The name is free again while the deleted one waits.
        with self.assertRaises(HttpResponseError) as cm:
            ct.get_container_properties()
        self.assertEqual(cm.exception.status_code, 404)
        restored = self.svc.undelete_container(name, dl[0].version)
        self.assertEqual(restored.get_blob_client("a.txt").download_blob().readall(), b"inside")
        ct.delete_container()
        version = [c for c in self.svc.list_containers(include_deleted=True)
                   if c.name == name][0].version
        advance("73h")
        wait_for(lambda: name not in [c.name for c in
                                      self.svc.list_containers(include_deleted=True)], "purged")
        with self.assertRaises(HttpResponseError) as cm:
            self.svc.undelete_container(name, version)
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (404, "ContainerNotFound"))

    def test_without_protection_delete_is_permanent(self):
        svc = account("plainacct")
        ct = fresh(svc)
        b = ct.get_blob_client("x")
        r = b.upload_blob(b"x")
        self.assertIsNone(r.get("version_id"))
        b.delete_blob()
        self.assertEqual(list(ct.list_blobs(include=["deleted", "versions"])), [])
        with self.assertRaises(ResourceNotFoundError):
            b.undelete_blob()


class Az(unittest.TestCase):
    def test_az_enable_versioning_and_soft_delete(self):
        srv.storage_account("azveracct", RG)
        p = srv.az("storage", "account", "blob-service-properties", "update", "-n", "azveracct",
                   "-g", RG, "--enable-versioning", "true", "--enable-delete-retention", "true",
                   "--delete-retention-days", "5")
        self.assertEqual(p.returncode, 0, p.stderr)
        got = mgmt.blob_services.get_service_properties(RG, "azveracct")
        self.assertTrue(got.is_versioning_enabled)
        self.assertEqual((got.delete_retention_policy.enabled,
                          got.delete_retention_policy.days), (True, 5))

    def test_az_hns_account_has_a_dfs_endpoint(self):
        srv.storage_account("azhnsacct", RG, "--hns", "true")
        a = srv.az_json("storage", "account", "show", "-n", "azhnsacct", "-g", RG)
        self.assertTrue(a["isHnsEnabled"])
        self.assertEqual(a["primaryEndpoints"]["dfs"],
                         "http://127.0.0.1:%d/azhnsacct/" % srv.ports["dfs"])


if __name__ == "__main__":
    unittest.main()
