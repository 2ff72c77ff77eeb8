"""Leases on blobs and containers through azure-storage-blob: the state
machine (acquire, renew, change, release, break), expiry on azlite's clock,
and x-ms-lease-id enforced on writes, deletes and reads, with Azure's codes."""
import uuid

from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobLeaseClient

import blobtest


def setUpModule():
    blobtest.start()


def tearDownModule():
    blobtest.stop()


class BlobLeases(blobtest.BlobCase):
    def setUp(self):
        super().setUp()
        self.blob = self.container.upload_blob("leased.txt", b"v1")

    def test_writes_need_the_lease(self):
        lease = self.blob.acquire_lease(lease_duration=15)
        p = self.blob.get_blob_properties()
        self.assertEqual((p.lease.status, p.lease.state, p.lease.duration),
                         ("locked", "leased", "fixed"))
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.upload_blob(b"v2", overwrite=True)
        self.assertAzureError(cm, 412, "LeaseIdMissing")
        other = BlobLeaseClient(self.blob, lease_id=str(uuid.uuid4()))
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.set_blob_metadata({"a": "b"}, lease=other)
        self.assertAzureError(cm, 412, "LeaseIdMismatchWithBlobOperation")
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.delete_blob()
        self.assertAzureError(cm, 412, "LeaseIdMissing")
        # Reads need no lease, but one that names a lease must name this one.
        self.assertEqual(self.blob.download_blob().readall(), b"v1")
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.download_blob(lease=other).readall()
        self.assertAzureError(cm, 412, "LeaseIdMismatchWithBlobOperation")
        # With the lease everything goes, and the lease survives an overwrite.
        self.blob.upload_blob(b"v2", overwrite=True, lease=lease)
        self.blob.set_blob_metadata({"a": "b"}, lease=lease)
        self.assertEqual(self.blob.download_blob(lease=lease).readall(), b"v2")
        self.assertEqual(self.blob.get_blob_properties().lease.state, "leased")
        self.blob.delete_blob(lease=lease)
        self.assertFalse(self.blob.exists())

    def test_lease_id_on_an_unleased_blob(self):
        stray = BlobLeaseClient(self.blob, lease_id=str(uuid.uuid4()))
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.upload_blob(b"x", overwrite=True, lease=stray)
        self.assertAzureError(cm, 412, "LeaseNotPresentWithBlobOperation")

    def test_fixed_lease_expires_on_azlites_clock(self):
        lease = self.blob.acquire_lease(lease_duration=15)
        blobtest.advance_clock("16s")
        p = self.blob.get_blob_properties()
        self.assertEqual((p.lease.status, p.lease.state), ("unlocked", "expired"))
        self.blob.upload_blob(b"after expiry", overwrite=True)
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.set_blob_metadata({"k": "v"}, lease=lease)
        self.assertAzureError(cm, 412, "LeaseLost")
        # An expired lease can be renewed by its holder.
        lease.renew()
        self.assertEqual(self.blob.get_blob_properties().lease.state, "leased")

    def test_acquire_renew_change_release(self):
        proposed = str(uuid.uuid4())
        lease = self.blob.acquire_lease(lease_duration=-1, lease_id=proposed)
        self.assertEqual(lease.id, proposed)
        self.assertEqual(self.blob.get_blob_properties().lease.duration, "infinite")
        # Acquiring again with the same id is allowed; another id is not.
        self.blob.acquire_lease(lease_duration=-1, lease_id=proposed)
        with self.assertRaises(ResourceExistsError) as cm:
            self.blob.acquire_lease(lease_duration=30)
        self.assertAzureError(cm, 409, "LeaseAlreadyPresent")
        lease.renew()
        old = lease.id
        new = str(uuid.uuid4())
        lease.change(new)
        self.assertEqual(lease.id, new)
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.upload_blob(b"x", overwrite=True, lease=old)
        self.assertAzureError(cm, 412, "LeaseIdMismatchWithBlobOperation")
        with self.assertRaises(HttpResponseError) as cm:
            BlobLeaseClient(self.blob, lease_id=old).renew()
        self.assertAzureError(cm, 409, "LeaseIdMismatchWithLeaseOperation")
        lease.release()
        p = self.blob.get_blob_properties()
        self.assertEqual((p.lease.status, p.lease.state), ("unlocked", "available"))
        stale = BlobLeaseClient(self.blob, lease_id=new)
        with self.assertRaises(HttpResponseError) as cm:
            stale.release()
        self.assertAzureError(cm, 409, "LeaseIdMismatchWithLeaseOperation")
        with self.assertRaises(HttpResponseError) as cm:
            stale.change(str(uuid.uuid4()))
        self.assertAzureError(cm, 409, "LeaseNotPresentWithLeaseOperation")

    def test_break_period_then_broken(self):
        lease = self.blob.acquire_lease(lease_duration=-1)
        left = BlobLeaseClient(self.blob).break_lease(lease_break_period=10)
        self.assertEqual(left, 10)
        p = self.blob.get_blob_properties()
        self.assertEqual((p.lease.status, p.lease.state), ("locked", "breaking"))
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.acquire_lease(lease_duration=15)
        self.assertAzureError(cm, 409, "LeaseAlreadyPresent")
        with self.assertRaises(HttpResponseError) as cm:
            lease.renew()
        self.assertAzureError(cm, 409, "LeaseIsBrokenAndCannotBeRenewed")
        # Still breaking: writes still need the lease.
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.upload_blob(b"x", overwrite=True)
        self.assertAzureError(cm, 412, "LeaseIdMissing")
        blobtest.advance_clock("11s")
        self.assertEqual(self.blob.get_blob_properties().lease.state, "broken")
        self.blob.upload_blob(b"free again", overwrite=True)
        self.assertEqual(BlobLeaseClient(self.blob).break_lease(), 0)
        fresh = self.blob.acquire_lease(lease_duration=20)
        self.assertNotEqual(fresh.id, lease.id)

    def test_break_a_fixed_lease_waits_for_its_end(self):
        self.blob.acquire_lease(lease_duration=30)
        left = BlobLeaseClient(self.blob).break_lease()
        self.assertTrue(29 <= left <= 30, left)
        self.assertEqual(BlobLeaseClient(self.blob).break_lease(lease_break_period=0), 0)
        self.assertEqual(self.blob.get_blob_properties().lease.state, "broken")

    def test_guid_formats(self):
        """A lease ID is a GUID in any of the Guid formats (32 digits, hyphens,
        braces, parentheses), compared as a GUID whatever its spelling."""
        g = uuid.uuid4()
        lease = self.blob.acquire_lease(lease_duration=-1, lease_id=g.hex)
        self.assertEqual(lease.id, g.hex)
        # The same GUID spelled otherwise names the same lease.
        self.blob.set_blob_metadata({"k": "v"}, lease=str(g).upper())
        BlobLeaseClient(self.blob, lease_id="{%s}" % g).renew()
        # Change to a braced and then a parenthesized GUID, and back to 32 digits.
        for new in ("{%s}" % uuid.uuid4(), "(%s)" % uuid.uuid4(), uuid.uuid4().hex):
            lease.change(new)
            self.assertEqual(lease.id, new)
            self.blob.set_blob_metadata({"k": "v"}, lease=new)
        lease.release()
        # The same forms on a container lease.
        cl = self.container.acquire_lease(lease_duration=15, lease_id=uuid.uuid4().hex)
        cl.change(uuid.uuid4().hex)
        cl.release()
        for bad in (g.hex[:31], g.hex + "0", "{%s" % g, "(%s}" % g, "%s-" % g.hex[:31],
                    "g" + g.hex[1:]):
            with self.assertRaises(HttpResponseError) as cm:
                self.blob.acquire_lease(lease_duration=15, lease_id=bad)
            self.assertAzureError(cm, 400, "InvalidHeaderValue")

    def test_bad_requests(self):
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.acquire_lease(lease_duration=10)
        self.assertAzureError(cm, 400, "InvalidHeaderValue")
        with self.assertRaises(HttpResponseError) as cm:
            self.blob.acquire_lease(lease_duration=15, lease_id="not-a-guid")
        self.assertAzureError(cm, 400, "InvalidHeaderValue")
        with self.assertRaises(HttpResponseError) as cm:
            BlobLeaseClient(self.blob).break_lease()
        self.assertAzureError(cm, 409, "LeaseNotPresentWithLeaseOperation")
        with self.assertRaises(HttpResponseError) as cm:
            self.container.get_blob_client("missing").acquire_lease()
        self.assertAzureError(cm, 404, "BlobNotFound")

    def test_lease_in_listings(self):
        self.blob.acquire_lease(lease_duration=-1)
        self.container.upload_blob("free.txt", b"x")
        got = {b.name: (b.lease.status, b.lease.state, b.lease.duration)
               for b in self.container.list_blobs()}
        self.assertEqual(got["leased.txt"], ("locked", "leased", "infinite"))
        self.assertEqual(got["free.txt"], ("unlocked", "available", None))


class ContainerLeases(blobtest.BlobCase):
    def test_delete_needs_the_lease(self):
        lease = self.container.acquire_lease(lease_duration=-1)
        p = self.container.get_container_properties()
        self.assertEqual((p.lease.status, p.lease.state, p.lease.duration),
                         ("locked", "leased", "infinite"))
        listed = [c for c in self.svc.list_containers(name_starts_with=self.container.container_name)]
        self.assertEqual(listed[0].lease.state, "leased")
        with self.assertRaises(HttpResponseError) as cm:
            self.container.delete_container()
        self.assertAzureError(cm, 412, "LeaseIdMissing")
        with self.assertRaises(HttpResponseError) as cm:
            self.container.delete_container(lease=str(uuid.uuid4()))
        self.assertAzureError(cm, 412, "LeaseIdMismatchWithContainerOperation")
        # Other writes need no lease; blobs inside are not leased.
        self.container.set_container_metadata({"k": "v"})
        self.container.upload_blob("inside", b"x")
        self.container.delete_container(lease=lease)
        self.assertFalse(self.container.exists())

    def test_container_state_machine(self):
        lease = self.container.acquire_lease(lease_duration=15)
        with self.assertRaises(HttpResponseError) as cm:
            self.container.acquire_lease(lease_duration=15)
        self.assertAzureError(cm, 409, "LeaseAlreadyPresent")
        lease.renew()
        self.assertEqual(BlobLeaseClient(self.container).break_lease(lease_break_period=0), 0)
        p = self.container.get_container_properties()
        self.assertEqual((p.lease.status, p.lease.state), ("unlocked", "broken"))
        with self.assertRaises(HttpResponseError) as cm:
            self.container.get_container_properties(lease=lease)
        self.assertAzureError(cm, 412, "LeaseLost")
        again = self.container.acquire_lease(lease_duration=15)
        blobtest.advance_clock("16s")
        self.assertEqual(self.container.get_container_properties().lease.state, "expired")
        again.release()
        self.assertEqual(self.container.get_container_properties().lease.state, "available")
        self.container.delete_container()
