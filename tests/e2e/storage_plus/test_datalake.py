"""Data Lake Storage Gen2 through Debian's azure-storage-file-datalake on an
account created with isHnsEnabled (azure-mgmt-storage), at the dfs endpoint the
account reports (primaryEndpoints.dfs, azlite's dfs port): filesystems,
directories and files (create, append, flush, read), listing paths recursive or
not, renaming a directory tree in one step, deleting it recursively, and the
same data seen through the blob endpoint (azure-storage-blob), as on Azure."""
import json
import os
import subprocess
import uuid
import tempfile
import textwrap
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage import models as m
from azure.storage.blob import BlobServiceClient
from azure.storage.filedatalake import DataLakeServiceClient

from azlite_harness import BIN, Azlite, clean_environ

RG = "lake-rg"
ACCOUNT = "lakeacct"
srv = None
lake = None
blobs = None
endpoints = None


def setUpModule():
    global srv, lake, blobs, endpoints
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
    acct = mgmt.storage_accounts.begin_create(
        RG, ACCOUNT, m.StorageAccountCreateParameters(
            sku=m.Sku(name="Standard_LRS"), kind="StorageV2", location="westeurope",
            is_hns_enabled=True)).result()
    assert acct.is_hns_enabled, acct
    endpoints = acct.primary_endpoints
    key = mgmt.storage_accounts.list_keys(RG, ACCOUNT).keys[0].value
    lake = DataLakeServiceClient(endpoints.dfs, credential={"account_name": ACCOUNT,
                                                            "account_key": key})
    blobs = BlobServiceClient(endpoints.blob, credential={"account_name": ACCOUNT,
                                                          "account_key": key})


def tearDownModule():
    srv.cleanup()


def names(fs, path=None, recursive=True):
    return [(p.name, bool(p.is_directory)) for p in fs.get_paths(path=path, recursive=recursive)]


class DataLake(unittest.TestCase):
    def test_endpoint_is_the_dfs_port(self):
        self.assertEqual(endpoints.dfs, "http://127.0.0.1:%d/%s/" % (srv.ports["dfs"], ACCOUNT))

    def test_tree_append_flush_rename_delete(self):
        fs = lake.create_file_system("lake1")
        d = fs.create_directory("raw/2024")
        f = d.create_file("part-0.csv")
        f.append_data(b"a,b\n", offset=0, length=4)
        f.append_data(b"1,2\n", offset=4, length=4)
        f.flush_data(8)
        self.assertEqual(f.download_file().readall(), b"a,b\n1,2\n")
        big = os.urandom(300 * 1024)
        fs.get_file_client("raw/2024/part-1.bin").upload_data(big, overwrite=True)
        fs.get_file_client("readme.md").upload_data(b"# lake", overwrite=True)
        self.assertEqual(names(fs), [("raw", True), ("raw/2024", True),
                                     ("raw/2024/part-0.csv", False),
                                     ("raw/2024/part-1.bin", False), ("readme.md", False)])
        self.assertEqual(names(fs, recursive=False), [("raw", True), ("readme.md", False)])
        self.assertEqual(names(fs, "raw", recursive=False), [("raw/2024", True)])
        sizes = {p.name: p.content_length for p in fs.get_paths()}
        self.assertEqual(sizes["raw/2024/part-1.bin"], len(big))

        # The same data through the blob endpoint: directories are hdi_isfolder blobs.
        ct = blobs.get_container_client("lake1")
        listed = {b.name: b.metadata for b in ct.list_blobs(include=["metadata"])}
        self.assertEqual(sorted(listed), ["raw", "raw/2024", "raw/2024/part-0.csv",
                                          "raw/2024/part-1.bin", "readme.md"])
        self.assertEqual(listed["raw/2024"].get("hdi_isfolder"), "true")
        self.assertEqual(ct.get_blob_client("raw/2024/part-1.bin").download_blob().readall(), big)

        # Rename the tree: every path under it moves at once.
        moved = fs.get_directory_client("raw").rename_directory("lake1/curated")
        self.assertEqual(moved.path_name, "curated")
        self.assertEqual(names(fs), [("curated", True), ("curated/2024", True),
                                     ("curated/2024/part-0.csv", False),
                                     ("curated/2024/part-1.bin", False), ("readme.md", False)])
        self.assertEqual(sorted(b.name for b in ct.list_blobs()),
                         ["curated", "curated/2024", "curated/2024/part-0.csv",
                          "curated/2024/part-1.bin", "readme.md"])
        self.assertEqual(ct.get_blob_client("curated/2024/part-0.csv").download_blob().readall(),
                         b"a,b\n1,2\n")
        with self.assertRaises(ResourceNotFoundError):
            fs.get_file_client("raw/2024/part-0.csv").download_file().readall()

        # A file renamed into the tree, then the tree deleted recursively.
        fs.get_file_client("readme.md").rename_file("lake1/curated/README.md")
        self.assertIn(("curated/README.md", False), names(fs))
        fs.get_directory_client("curated").delete_directory()
        self.assertEqual(names(fs), [])
        self.assertEqual(list(ct.list_blobs()), [])

    def test_list_paths_in_pages(self):
        fs = lake.create_file_system("lakepages")
        for i in range(7):
            fs.create_file("d/f%02d" % i)
        pages = fs.get_paths(path="d", max_results=3).by_page()
        sizes = [len(list(p)) for p in pages]
        self.assertEqual(sizes, [3, 3, 1])
        self.assertEqual([p.name for p in fs.get_paths(path="d")],
                         ["d/f%02d" % i for i in range(7)])

    def test_written_through_blob_listed_through_dfs(self):
        fs = lake.create_file_system("lake2")
        ct = blobs.get_container_client("lake2")
        ct.upload_blob("logs/app/1.log", b"one")
        self.assertEqual(names(fs), [("logs", True), ("logs/app", True),
                                     ("logs/app/1.log", False)])
        self.assertEqual(fs.get_file_client("logs/app/1.log").download_file().readall(), b"one")

    def test_bad_input(self):
        fs = lake.create_file_system("lake3")
        f = fs.create_file("f.txt")
        f.append_data(b"abc", offset=0, length=3)
        with self.assertRaises(HttpResponseError) as cm:
            f.flush_data(5)
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (400, "InvalidFlushPosition"))
        f.flush_data(3)
        with self.assertRaises(HttpResponseError) as cm:
            fs.get_directory_client("nope").rename_directory("lake3/elsewhere")
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (404, "SourcePathNotFound"))
        fs.create_directory("dir")
        with self.assertRaises(HttpResponseError) as cm:
            fs.get_directory_client("dir").rename_directory("lake3/missing/dir")
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (404, "RenameDestinationParentPathNotFound"))
        lake.create_file_system("lake4")
        with self.assertRaises(HttpResponseError) as cm:
            fs.get_directory_client("dir").rename_directory("lake4/dir")
        self.assertEqual(cm.exception.status_code, 400)
        with self.assertRaises(HttpResponseError) as cm:
            list(fs.get_paths(path="absent"))
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (404, "PathNotFound"))
        self.assertEqual(f.download_file().readall(), b"abc")

    def test_appended_data_survives_kill9(self):
        fs = lake.create_file_system("lake5")
        f = fs.create_file("d/data.bin")
        body = os.urandom(64 * 1024)
        f.append_data(body, offset=0, length=len(body))
        f.flush_data(len(body))
        srv.kill9()
        srv.restart()
        self.assertEqual(f.download_file().readall(), body)
        self.assertEqual(names(fs), [("d", True), ("d/data.bin", False)])

    def test_transparent_mode_dfs_host(self):
        """Code written for Azure, unchanged, on https://<account>.dfs.core.windows.net
        under `azlite exec`; the account reports Azure's dfs name there too."""
        key = lake.credential.account_key
        src = textwrap.dedent("""
            import sys
            from azure.storage.filedatalake import DataLakeServiceClient
            svc = DataLakeServiceClient("https://%s.dfs.core.windows.net",
                                        credential={"account_name": "%s",
                                                    "account_key": sys.argv[1]})
            fs = svc.create_file_system("exec-lake")
            fs.create_directory("a/b")
            fs.get_file_client("a/b/x.txt").upload_data(b"via dfs host", overwrite=True)
            fs.get_directory_client("a").rename_directory("exec-lake/z")
            print(",".join(p.name for p in fs.get_paths()))
            print(fs.get_file_client("z/b/x.txt").download_file().readall().decode())
        """ % (ACCOUNT, ACCOUNT))
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(src)
        try:
            p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                                f.name, key], capture_output=True, text=True, timeout=120,
                               env=clean_environ())
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(p.stdout.split("\n")[:2], ["z,z/b,z/b/x.txt", "via dfs host"])
        ct = blobs.get_container_client("exec-lake")
        self.assertEqual(ct.get_blob_client("z/b/x.txt").download_blob().readall(),
                         b"via dfs host")


def create_sp(name):
    """`az ad sp create-for-rbac --name NAME`, and the principal's object id."""
    p = srv.az("ad", "sp", "create-for-rbac", "--name", name, "--output", "json")
    assert p.returncode == 0, p.stderr
    sp = json.loads(p.stdout)
    r = srv.http("GET", "/graph/v1.0/servicePrincipals?$filter=appId eq '%s'" % sp["appId"],
                 token=srv.token(srv.mgmt_url + "/graph/.default"))
    sp["oid"] = r.json()["value"][0]["id"]
    return sp


def lake_as(sp):
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], sp["appId"], sp["password"],
                                  authority=e["AZURE_AUTHORITY_HOST"], connection_verify=srv.ca)
    return DataLakeServiceClient("https://127.0.0.1:%d/%s" % (srv.ports["blob_tls"], ACCOUNT),
                                 credential=cred, connection_verify=srv.ca)


class Acls(unittest.TestCase):
    """POSIX ACLs for bearer callers: RBAC first, then the path's ACLs."""

    def test_acl_grants_and_denies_another_principal(self):
        owner, other = create_sp("lake-owner-" + uuid.uuid4().hex[:6]), \
            create_sp("lake-other-" + uuid.uuid4().hex[:6])
        scope = ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/"
                 "storageAccounts/%s" % (srv.env["AZURE_SUBSCRIPTION_ID"], RG, ACCOUNT))
        r = srv.http("PUT", "%s/providers/Microsoft.Authorization/roleAssignments/%s"
                     "?api-version=2022-04-01" % (scope, uuid.uuid4()), token=True,
                     json={"properties": {
                         "roleDefinitionId": "/subscriptions/%s/providers/Microsoft.Authorization"
                         "/roleDefinitions/b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
                         % srv.env["AZURE_SUBSCRIPTION_ID"],
                         "principalId": owner["oid"]}})
        self.assertEqual(r.status_code, 201, r.text)
        mine = lake_as(owner).create_file_system("aclfs")
        mine.create_directory("proj/data")
        mine.get_file_client("proj/data/x.csv").upload_data(b"secret,1\n", overwrite=True)
        acl = mine.get_file_client("proj/data/x.csv").get_access_control()
        self.assertEqual(acl["owner"], owner["oid"])
        self.assertEqual(acl["permissions"], "rw-r-----")

        theirs = lake_as(other).get_file_system_client("aclfs")
        f = theirs.get_file_client("proj/data/x.csv")
        with self.assertRaises(HttpResponseError) as cm:
            f.download_file().readall()
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (403, "AuthorizationPermissionMismatch"))

        b = other["oid"]
        mine.get_directory_client("proj").set_access_control(
            acl="user::rwx,group::r-x,other::---,user:%s:--x" % b)
        mine.get_directory_client("proj/data").set_access_control(
            acl="user::rwx,group::r-x,other::---,user:%s:r-x" % b)
        mine.get_file_client("proj/data/x.csv").set_access_control(
            acl="user::rw-,group::r--,other::---,user:%s:r--" % b)
        self.assertEqual(f.download_file().readall(), b"secret,1\n")
        self.assertEqual([p.name for p in theirs.get_paths(path="proj/data")],
                         ["proj/data/x.csv"])
        got = mine.get_file_client("proj/data/x.csv").get_access_control()
        self.assertIn("user:%s:r--" % b, got["acl"])
        # Read is not write, and only the owner changes permissions.
        with self.assertRaises(HttpResponseError) as cm:
            theirs.get_file_client("proj/data/y.csv").upload_data(b"no", overwrite=True)
        self.assertEqual(cm.exception.status_code, 403)
        with self.assertRaises(HttpResponseError) as cm:
            f.set_access_control(permissions="rwxrwxrwx")
        self.assertEqual(cm.exception.status_code, 403)
        # An ACL that does not parse changes nothing.
        with self.assertRaises(HttpResponseError) as cm:
            mine.get_file_client("proj/data/x.csv").set_access_control(acl="user::rwz,other")
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (400, "InvalidAccessControlList"))
        self.assertEqual(f.download_file().readall(), b"secret,1\n")
        # Recursively: the whole tree at once.
        res = mine.get_directory_client("proj").update_access_control_recursive(
            acl="user:%s:rwx" % b)
        self.assertEqual((res.counters.directories_successful, res.counters.files_successful,
                          res.counters.failure_count), (2, 1, 0))
        theirs.get_file_client("proj/data/z.csv").upload_data(b"now yes", overwrite=True)
        mine.get_directory_client("proj").remove_access_control_recursive(acl="user:%s" % b)
        with self.assertRaises(HttpResponseError) as cm:
            theirs.get_file_client("proj/data/x.csv").download_file().readall()
        self.assertEqual(cm.exception.status_code, 403)
        mine.get_directory_client("proj").set_access_control(
            acl="user::rwx,group::r-x,other::---,user:%s:--x" % b)
        mine.get_directory_client("proj/data").set_access_control(
            acl="user::rwx,group::r-x,other::---,user:%s:r-x" % b)
        mine.get_file_client("proj/data/x.csv").set_access_control(
            acl="user::rw-,group::r--,other::---,user:%s:r--" % b)
        self.assertEqual(f.download_file().readall(), b"secret,1\n")
        # Taking the entry away denies again.
        mine.get_file_client("proj/data/x.csv").set_access_control(
            acl="user::rw-,group::r--,other::---")
        with self.assertRaises(HttpResponseError) as cm:
            f.download_file().readall()
        self.assertEqual(cm.exception.status_code, 403)

    def test_default_acl_umask_and_properties(self):
        """default: entries of a directory become the access ACL of new children
        (a directory's default ACL too), masked by the mode; without them the
        umask restricts the mode; another principal reads through what was
        inherited; Set Path Properties is the blob metadata read back."""
        sp = create_sp("lake-inherit-" + uuid.uuid4().hex[:6])
        b = sp["oid"]
        fs = lake.create_file_system("inheritfs")
        base = fs.create_directory("base")
        base.set_access_control(
            acl="user::rwx,group::r-x,other::---,user:%s:--x,default:user::rwx,"
                "default:group::r-x,default:other::---,default:user:%s:r-x" % (b, b))
        fs.create_directory("base/sub")
        sub = fs.get_directory_client("base/sub").get_access_control()
        self.assertEqual(sub["permissions"], "rwxr-x---+")
        entries = set(sub["acl"].split(","))
        self.assertTrue({"user::rwx", "group::r-x", "other::---", "user:%s:r-x" % b,
                         "mask::r-x", "default:user::rwx", "default:user:%s:r-x" % b}
                        <= entries, sub["acl"])
        f = fs.get_file_client("base/sub/f.txt")
        f.upload_data(b"inherited\n", overwrite=True)
        got = f.get_access_control()
        entries = set(got["acl"].split(","))
        # A file: no default: entries, and the mode 0666 takes the execute bits away.
        self.assertTrue({"user::rw-", "user:%s:r-x" % b, "mask::r--", "other::---"} <= entries,
                        got["acl"])
        self.assertFalse([x for x in entries if x.startswith("default:")], got["acl"])
        fs.create_directory("base/given", permissions="0750")
        self.assertIn("mask::r-x", fs.get_directory_client("base/given")
                      .get_access_control()["acl"])
        # The principal named only in the inherited entries reads the file.
        theirs = lake_as(sp).get_file_system_client("inheritfs")
        self.assertEqual(theirs.get_file_client("base/sub/f.txt").download_file().readall(),
                         b"inherited\n")
        fs.create_directory("closed")
        fs.get_file_client("closed/x").upload_data(b"no", overwrite=True)
        with self.assertRaises(HttpResponseError) as cm:
            theirs.get_file_client("closed/x").download_file().readall()
        self.assertEqual((cm.exception.status_code, cm.exception.error_code),
                         (403, "AuthorizationPermissionMismatch"))
        # Without a default ACL above, the umask restricts the mode.
        fs.create_directory("um", umask="0077")
        self.assertEqual(fs.get_directory_client("um").get_access_control()["permissions"],
                         "rwx------")
        fs.create_file("um/f1", permissions="rwxrwxrwx", umask="0022")
        self.assertEqual(fs.get_file_client("um/f1").get_access_control()["permissions"],
                         "rwxr-xr-x")
        fs.create_file("um/f2")
        self.assertEqual(fs.get_file_client("um/f2").get_access_control()["permissions"],
                         "rw-r-----")
        fs.get_file_client("um/f2").set_access_control(permissions="0604")
        self.assertEqual(fs.get_file_client("um/f2").get_access_control()["permissions"],
                         "rw----r--")
        # Bad input: Azure's codes, nothing created.
        for kw, code in ((dict(umask="99"), "InvalidHeaderValue"),
                         (dict(umask="0089"), "InvalidHeaderValue"),
                         (dict(permissions="rwxq"), "InvalidPermission"),
                         (dict(permissions="0899"), "InvalidPermission")):
            with self.assertRaises(HttpResponseError) as cm:
                fs.create_directory("bad", **kw)
            self.assertEqual((cm.exception.status_code, cm.exception.error_code), (400, code), kw)
        self.assertNotIn("bad", [p.name for p in fs.get_paths(recursive=False)])
        # Set Path Properties (action=setProperties) through the SDK's own client.
        import base64
        import io
        f._client.path.update(action="setProperties", mode="set", body=io.BytesIO(b""),
                              properties="stage=%s,owner=%s" % (
                                  base64.b64encode(b"raw").decode(),
                                  base64.b64encode(b"team-a").decode()))
        self.assertEqual(f.get_file_properties().metadata, {"stage": "raw", "owner": "team-a"})
        self.assertEqual(f.download_file().readall(), b"inherited\n")
        with self.assertRaises(HttpResponseError) as cm:
            f._client.path.update(action="setProperties", mode="set", body=io.BytesIO(b""),
                                  properties="stage=@@notbase64")
        self.assertEqual((cm.exception.status_code,
                          cm.exception.response.headers["x-ms-error-code"]),
                         (400, "InvalidHeaderValue"))
        self.assertEqual(f.get_file_properties().metadata, {"stage": "raw", "owner": "team-a"})
        with self.assertRaises(HttpResponseError) as cm:
            fs.get_file_client("base/nope")._client.path.update(
                action="setProperties", mode="set", body=io.BytesIO(b""), properties="")
        self.assertEqual((cm.exception.status_code,
                          cm.exception.response.headers["x-ms-error-code"]),
                         (404, "PathNotFound"))


if __name__ == "__main__":
    unittest.main()
