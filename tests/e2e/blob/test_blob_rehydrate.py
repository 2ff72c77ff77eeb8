"""Copy Blob of an archived blob (rehydrate by copy) on azlite's clock.  A
module of its own: it moves the clock, which would expire the SAS tokens the
other copy tests mint from the wall clock."""
import datetime

import requests

from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobSasPermissions, generate_blob_sas

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


def sas_url(blob):
    p = blobtest.conn_parts()
    token = generate_blob_sas(p["AccountName"], blob.container_name, blob.blob_name,
                              account_key=p["AccountKey"],
                              permission=BlobSasPermissions(read=True),
                              expiry=datetime.datetime.now(datetime.timezone.utc)
                              + datetime.timedelta(hours=1))
    return blob.url + "?" + token


class RehydrateByCopy(blobtest.BlobCase):
    # Only the last test (by name) moves the clock.
    def test_z_copy_rehydrates_an_archived_blob(self):
        """Copy Blob of an archived blob to an online tier rehydrates by copy:
        the destination is Archive, rehydrate-pending, its copy pending, until
        azlite's clock reaches the priority's time (Standard 15 h, High 1 h)."""
        from azure.storage.blob import StandardBlobTier
        src = self.container.upload_blob("cold", b"archived bytes")
        src.set_standard_blob_tier("Archive")
        # Without a tier, a sync copy, or onto itself: refused.
        dst = self.container.get_blob_client("warm")
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url(src.url)
        self.assertAzureError(cm, 409, "BlobArchived")
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url(sas_url(src), requires_sync=True,
                                    standard_blob_tier=StandardBlobTier.HOT)
        self.assertAzureError(cm, 409, "BlobArchived")
        with self.assertRaises(HttpResponseError) as cm:
            src.start_copy_from_url(src.url, standard_blob_tier=StandardBlobTier.HOT)
        self.assertAzureError(cm, 409, "BlobArchived")
        with self.assertRaises(HttpResponseError) as cm:
            dst.start_copy_from_url(src.url, standard_blob_tier=StandardBlobTier.HOT,
                                    rehydrate_priority="Urgent")
        self.assertAzureError(cm, 400, "InvalidHeaderValue")

        r = dst.start_copy_from_url(src.url, standard_blob_tier=StandardBlobTier.HOT)
        self.assertEqual(r["copy_status"], "pending")
        p = dst.get_blob_properties()
        self.assertEqual((p.blob_tier, p.archive_status, p.rehydrate_priority),
                         ("Archive", "rehydrate-pending-to-hot", "Standard"))
        self.assertEqual((p.copy.status, p.copy.id, p.copy.progress),
                         ("pending", r["copy_id"], "0/14"))
        self.assertEqual(p.size, 14)
        with self.assertRaises(HttpResponseError) as cm:
            dst.download_blob().readall()
        self.assertAzureError(cm, 409, "BlobArchived")
        listed = {b.name: b for b in self.container.list_blobs(include=["copy"])}
        self.assertEqual((listed["warm"].archive_status, listed["warm"].copy.status),
                         ("rehydrate-pending-to-hot", "pending"))
        # To Cool at High priority, in one hour.
        fast = self.container.get_blob_client("fast")
        fast.start_copy_from_url(src.url, standard_blob_tier=StandardBlobTier.COOL,
                                 rehydrate_priority="High")
        self.assertEqual(fast.get_blob_properties().rehydrate_priority, "High")
        # To Archive: a plain copy that stays archived.
        arch = self.container.get_blob_client("arch")
        r2 = arch.start_copy_from_url(src.url, standard_blob_tier=StandardBlobTier.ARCHIVE)
        self.assertEqual(r2["copy_status"], "success")
        self.assertEqual(arch.get_blob_properties().blob_tier, "Archive")

        blobtest.advance_clock("61m")
        blobtest.wait_for(lambda: fast.get_blob_properties().blob_tier == "Cool", "fast is cool")
        p = fast.get_blob_properties()
        self.assertEqual((p.archive_status, p.copy.status, p.copy.progress),
                         (None, "success", "14/14"))
        self.assertEqual(fast.download_blob().readall(), b"archived bytes")
        self.assertEqual(dst.get_blob_properties().archive_status, "rehydrate-pending-to-hot")
        blobtest.advance_clock("15h")
        blobtest.wait_for(lambda: dst.get_blob_properties().blob_tier == "Hot", "dst is hot")
        p = dst.get_blob_properties()
        self.assertEqual((p.copy.status, p.archive_status), ("success", None))
        # (This SDK does not read the completion time back: a raw HEAD does.)
        h = requests.head(dst.url + "?" + blobtest.account_sas(hours=48),
                          headers={"x-ms-version": "2021-12-02"}, timeout=30).headers
        self.assertEqual(h["x-ms-copy-status"], "success")
        self.assertIn("x-ms-copy-completion-time", h)
        self.assertEqual(dst.download_blob().readall(), b"archived bytes")
        # The source stays archived.
        self.assertEqual(src.get_blob_properties().blob_tier, "Archive")

    def test_abort_a_rehydrating_copy(self):
        from azure.storage.blob import StandardBlobTier
        src = self.container.upload_blob("cold", b"archived bytes", metadata={"m": "1"})
        src.set_standard_blob_tier("Archive")
        dst = self.container.get_blob_client("warm")
        copy_id = dst.start_copy_from_url(src.url, standard_blob_tier=StandardBlobTier.HOT)[
            "copy_id"]
        with self.assertRaises(HttpResponseError) as cm:
            dst.abort_copy("00000000-0000-0000-0000-000000000000")
        self.assertAzureError(cm, 409, "CopyIdMismatch")
        dst.abort_copy(copy_id)
        p = dst.get_blob_properties()
        self.assertEqual((p.copy.status, p.size, p.archive_status, p.metadata),
                         ("aborted", 0, None, {"m": "1"}))
