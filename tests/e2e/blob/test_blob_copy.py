"""Copies through azure-storage-blob: Copy Blob (x-ms-copy-id/status, done at
once), Copy Blob From URL, Put Blob From URL, Put Block From URL, Append Block
and Put Page From URL, Abort Copy, include=copy, across accounts of one azlite,
the source authorized by SAS or public access, and a source outside azlite."""
import datetime
import os

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import (BlobBlock, BlobSasPermissions, BlobServiceClient,
                                ContentSettings, generate_blob_sas)

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


def sas_url(blob, conn=None, permission="r"):
    p = blobtest.conn_parts(conn)
    token = generate_blob_sas(p["AccountName"], blob.container_name, blob.blob_name,
                              snapshot=blob.snapshot, account_key=p["AccountKey"],
                              permission=BlobSasPermissions.from_string(permission),
                              expiry=datetime.datetime.now(datetime.timezone.utc)
                              + datetime.timedelta(hours=1))
    return blob.url + ("&" if "?" in blob.url else "?") + token


def data_files():
    """How many data files azlite holds (a copy must not add any)."""
    root = os.path.join(blobtest.srv.data_dir, "blobs")
    return sum(len(files) for _, _, files in os.walk(root))


class CopyBlob(blobtest.BlobCase):
    def test_copy_in_account_done_at_once_moving_no_bytes(self):
        data = os.urandom(300 * 1024)
        src = self.container.upload_blob(
            "src.bin", data, metadata={"origin": "src"},
            content_settings=ContentSettings(content_type="application/x-test",
                                             content_language="en"))
        before = data_files()
        dst = self.container.get_blob_client("dst.bin")
        r = dst.start_copy_from_url(src.url)
        self.assertEqual(r["copy_status"], "success")
        self.assertTrue(r["copy_id"])
        self.assertEqual(dst.download_blob().readall(), data)
        p = dst.get_blob_properties()
        self.assertEqual((p.copy.id, p.copy.status, p.copy.source, p.copy.progress),
                         (r["copy_id"], "success", src.url, "%d/%d" % (len(data), len(data))))
        self.assertEqual(p.metadata, {"origin": "src"})
        self.assertEqual(p.content_settings.content_type, "application/x-test")
        self.assertEqual(p.content_settings.content_language, "en")
        self.assertEqual(data_files(), before)
        # Overwriting the source leaves the copy alone.
        src.upload_blob(b"changed", overwrite=True)
        self.assertEqual(dst.download_blob().readall(), data)
        listed = {b.name: b for b in self.container.list_blobs(include=["copy"])}
        self.assertEqual(listed["dst.bin"].copy.status, "success")
        self.assertEqual(listed["dst.bin"].copy.id, r["copy_id"])
        self.assertIsNone(listed["src.bin"].copy.id)

    def test_copy_keeps_blocks_and_takes_new_metadata(self):
        svc = blobtest.service(max_single_put_size=64 * 1024, max_block_size=64 * 1024)
        src = svc.get_container_client(self.container.container_name).upload_blob(
            "blocks", os.urandom(150 * 1024))
        dst = self.container.get_blob_client("copied")
        dst.start_copy_from_url(src.url, metadata={"fresh": "yes"})
        self.assertEqual([b.size for b in dst.get_block_list()[0]],
                         [b.size for b in src.get_block_list()[0]])
        self.assertEqual(dst.get_blob_properties().metadata, {"fresh": "yes"})

    def test_copy_from_snapshot_and_onto_itself(self):
        b = self.container.upload_blob("s", b"first")
        snap = b.create_snapshot()["snapshot"]
        b.upload_blob(b"second", overwrite=True)
        dst = self.container.get_blob_client("restored")
        dst.start_copy_from_url(self.container.get_blob_client("s", snapshot=snap).url)
        self.assertEqual(dst.download_blob().readall(), b"first")
        b.start_copy_from_url(b.url, metadata={"again": "1"})
        self.assertEqual(b.download_blob().readall(), b"second")
        self.assertEqual(b.get_blob_properties().metadata, {"again": "1"})

    def test_copy_of_a_page_blob_keeps_its_gaps(self):
        pb = self.container.get_blob_client("disk")
        pb.create_page_blob(8192)
        pb.upload_page(b"\x07" * 512, offset=4096, length=512)
        dst = self.container.get_blob_client("disk2")
        dst.start_copy_from_url(pb.url)
        p = dst.get_blob_properties()
        self.assertEqual((p.blob_type, p.size), ("PageBlob", 8192))
        self.assertEqual(dst.get_page_ranges()[0], [{"start": 4096, "end": 4607}])
        self.assertEqual(dst.download_blob().readall(), pb.download_blob().readall())

    def test_destination_conditions_and_lease(self):
        src = self.container.upload_blob("src", b"x")
        dst = self.container.upload_blob("dst", b"old")
        lease = dst.acquire_lease(lease_duration=-1)
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url(src.url)
        self.assertAzureError(cm, 412, "LeaseIdMissing")
        dst.start_copy_from_url(src.url, destination_lease=lease)
        self.assertEqual(dst.download_blob().readall(), b"x")
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url(src.url, destination_lease=lease, source_etag='"0x1"',
                                    source_match_condition=MatchConditions.IfNotModified)
        self.assertAzureError(cm, 412, "SourceConditionNotMet")
        lease.release()

    def test_sas_caller_reads_the_source_only_if_its_sas_covers_it(self):
        import datetime
        from azure.storage.blob import (BlobClient, ContainerClient, ContainerSasPermissions,
                                        generate_container_sas)
        src = self.container.upload_blob("src", b"in the same container")
        p = blobtest.conn_parts()
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        csas = generate_container_sas(p["AccountName"], self.container.container_name,
                                      account_key=p["AccountKey"], expiry=expiry,
                                      permission=ContainerSasPermissions(read=True, write=True))
        cc = ContainerClient.from_container_url(self.container.url + "?" + csas)
        cc.get_blob_client("dst").start_copy_from_url(src.url)
        self.assertEqual(self.container.download_blob("dst").readall(), b"in the same container")
        # A SAS for the destination blob alone does not reach the source.
        bsas = generate_blob_sas(p["AccountName"], self.container.container_name, "dst2",
                                 account_key=p["AccountKey"], expiry=expiry,
                                 permission=BlobSasPermissions(read=True, write=True))
        dst2 = BlobClient.from_blob_url(self.container.get_blob_client("dst2").url + "?" + bsas)
        with self.assertRaises(HttpResponseError) as cm:
            dst2.start_copy_from_url(src.url)
        self.assertAzureError(cm, 404, "CannotVerifyCopySource")

    def test_abort_copy_has_nothing_pending(self):
        src = self.container.upload_blob("src", b"x")
        dst = self.container.get_blob_client("dst")
        copy_id = dst.start_copy_from_url(src.url)["copy_id"]
        with self.assertRaises(HttpResponseError) as cm:
            dst.abort_copy(copy_id)
        self.assertAzureError(cm, 409, "NoPendingCopyOperation")
        with self.assertRaises(HttpResponseError) as cm:
            dst.abort_copy("00000000-0000-0000-0000-000000000000")
        self.assertAzureError(cm, 409, "CopyIdMismatch")

    def test_missing_source_and_foreign_url(self):
        dst = self.container.get_blob_client("dst")
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url(self.container.get_blob_client("nope").url)
        self.assertAzureError(cm, 404, "CannotVerifyCopySource")
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url("https://example.blob.core.windows.net/c/b")
        self.assertAzureError(cm, 400, "CannotVerifyCopySource")
        self.assertIn("azlite", cm.exception.message)
        self.assertFalse(dst.exists())


class CopyAcrossAccounts(blobtest.BlobCase):
    @classmethod
    def setUpClass(cls):
        cls.other_conn = blobtest.second_account("copyother1")

    def test_private_source_needs_sas_public_does_not(self):
        other = BlobServiceClient.from_connection_string(self.other_conn)
        oc = other.create_container(blobtest.fresh_name())
        try:
            data = os.urandom(64 * 1024)
            src = oc.upload_blob("x.bin", data)
            dst = self.container.get_blob_client("from-other")
            with self.assertRaises(HttpResponseError) as cm:
                dst.start_copy_from_url(src.url)
            self.assertEqual(cm.exception.error_code, "CannotVerifyCopySource")
            self.assertFalse(dst.exists())
            dst.start_copy_from_url(sas_url(src, self.other_conn))
            self.assertEqual(dst.download_blob().readall(), data)
            # A SAS without read permission is refused.
            with self.assertRaises(HttpResponseError) as cm:
                dst.start_copy_from_url(sas_url(src, self.other_conn, permission="w"))
            self.assertAzureError(cm, 403, "CannotVerifyCopySource")
            oc.set_container_access_policy({}, public_access="blob")
            dst2 = self.container.get_blob_client("from-public")
            dst2.start_copy_from_url(src.url, requires_sync=True)
            self.assertEqual(dst2.download_blob().readall(), data)
        finally:
            oc.delete_container()


class FromUrl(blobtest.BlobCase):
    def test_sync_copy_needs_sas_even_in_account(self):
        src = self.container.upload_blob("src", b"sync me")
        dst = self.container.get_blob_client("dst")
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url(src.url, requires_sync=True)
        self.assertEqual(cm.exception.error_code, "CannotVerifyCopySource")
        r = dst.start_copy_from_url(sas_url(src), requires_sync=True, tags={"t": "1"})
        self.assertEqual(r["copy_status"], "success")
        self.assertEqual(dst.download_blob().readall(), b"sync me")
        self.assertEqual(dst.get_blob_tags(), {"t": "1"})

    def test_put_blob_from_url(self):
        data = os.urandom(40 * 1024)
        src = self.container.upload_blob(
            "src", data, content_settings=ContentSettings(content_type="text/x-src"),
            tags={"from": "src"})
        dst = self.container.get_blob_client("dst")
        dst.upload_blob_from_url(sas_url(src))
        self.assertEqual(dst.download_blob().readall(), data)
        p = dst.get_blob_properties()
        self.assertEqual((p.blob_type, p.content_settings.content_type, p.metadata),
                         ("BlockBlob", "text/x-src", {}))
        self.assertEqual(dst.get_blob_tags(), {})
        with self.assertRaises(ResourceExistsError) as cm:
            dst.upload_blob_from_url(sas_url(src), overwrite=False)
        self.assertAzureError(cm, 409, "BlobAlreadyExists")
        dst.upload_blob_from_url(sas_url(src), overwrite=True, include_source_blob_properties=False,
                                 content_settings=ContentSettings(content_type="text/mine"))
        self.assertEqual(dst.get_blob_properties().content_settings.content_type, "text/mine")

    def test_stage_block_from_url_ranges(self):
        svc = blobtest.service(max_single_put_size=32 * 1024, max_block_size=32 * 1024)
        data = os.urandom(100 * 1024)
        src = svc.get_container_client(self.container.container_name).upload_blob("src", data)
        url = sas_url(src)
        dst = self.container.get_blob_client("assembled")
        # One range inside a source block, one spanning several, one the whole blob.
        dst.stage_block_from_url("YmxrMQ==", url, source_offset=1000, source_length=2000)
        dst.stage_block_from_url("YmxrMg==", url, source_offset=30000, source_length=40000)
        dst.stage_block_from_url("YmxrMw==", url)
        dst.commit_block_list([BlobBlock("YmxrMQ=="), BlobBlock("YmxrMg=="), BlobBlock("YmxrMw==")])
        self.assertEqual(dst.download_blob().readall(),
                         data[1000:3000] + data[30000:70000] + data)
        with self.assertRaises(HttpResponseError) as cm:
            dst.stage_block_from_url("YmxrNA==", url, source_offset=len(data) + 10,
                                     source_length=10)
        self.assertEqual(cm.exception.status_code, 416)

    def test_append_and_page_from_url(self):
        src = self.container.upload_blob("src", b"A" * 1024 + b"B" * 1024)
        url = sas_url(src)
        ab = self.container.get_blob_client("log")
        ab.create_append_blob()
        ab.append_block(b"head:")
        ab.append_block_from_url(url, source_offset=1020, source_length=8)
        self.assertEqual(ab.download_blob().readall(), b"head:AAAABBBB")
        pb = self.container.get_blob_client("pages")
        pb.create_page_blob(2048)
        pb.upload_pages_from_url(url, offset=512, length=1024, source_offset=512)
        got = pb.download_blob().readall()
        self.assertEqual(got, b"\0" * 512 + b"A" * 512 + b"B" * 512 + b"\0" * 512)


class CopyWithToken(blobtest.BlobCase):
    def test_bearer_caller_reads_the_source_with_its_token(self):
        from azure.identity import ClientSecretCredential
        srv = blobtest.srv
        cred = ClientSecretCredential(srv.env["AZURE_TENANT_ID"], srv.env["AZURE_CLIENT_ID"],
                                      srv.env["AZURE_CLIENT_SECRET"],
                                      authority=srv.env["AZURE_AUTHORITY_HOST"],
                                      connection_verify=srv.ca)
        # Owner holds no data actions: the caller needs a blob data role, as in Azure.
        import base64
        import json
        import uuid
        claims = srv.token("https://storage.azure.com/.default").split(".")[1]
        oid = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["oid"]
        sub = "/subscriptions/" + srv.env["AZURE_SUBSCRIPTION_ID"]
        contributor = sub + ("/providers/Microsoft.Authorization/roleDefinitions/"
                             "ba92f5b4-2d11-453d-a403-e96b0029c9fe")
        r = srv.http("PUT", "%s/providers/Microsoft.Authorization/roleAssignments/%s"
                     "?api-version=2022-04-01" % (sub, uuid.uuid4()),
                     json={"properties": {"roleDefinitionId": contributor, "principalId": oid}})
        self.assertEqual(r.status_code, 201, r.text)
        account = blobtest.conn_parts()["AccountName"]
        url = "https://127.0.0.1:%d/%s" % (srv.ports["blob_tls"], account)
        svc = BlobServiceClient(url, credential=cred, connection_verify=srv.ca)
        c = svc.get_container_client(self.container.container_name)
        src = c.upload_blob("src", b"read with a token")
        dst = c.get_blob_client("dst")
        self.assertEqual(dst.start_copy_from_url(src.url)["copy_status"], "success")
        self.assertEqual(dst.download_blob().readall(), b"read with a token")
