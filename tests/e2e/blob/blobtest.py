"""blobtest: what the blob end-to-end tests share: one azlite per test module
(always the one it starts, whatever the environment names), SDK clients on it, a
fresh container per test, raw requests signed with SAS, and azlite's clock.

    import blobtest
    def setUpModule(): blobtest.start()
    def tearDownModule(): blobtest.stop()
    class T(blobtest.BlobCase): ...        # self.svc, self.container
"""
import datetime
import unittest
import uuid

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (AccountSasPermissions, BlobServiceClient, ResourceTypes,
                                generate_account_sas)

srv = None
conn = None


def start():
    global srv, conn
    from azlite_harness import Azlite
    srv = Azlite().start()
    conn = srv.env["AZURE_STORAGE_CONNECTION_STRING"]


def stop():
    global srv
    if srv:
        srv.cleanup()
    srv = None


def conn_parts(c=None):
    return dict(p.split("=", 1) for p in (c or conn).strip(";").split(";") if p)


def service(**kw):
    return BlobServiceClient.from_connection_string(conn, **kw)


def fresh_name(prefix="c"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def account_sas(permission="racwdlt", hours=1, **kw):
    p = conn_parts()
    return generate_account_sas(p["AccountName"], p["AccountKey"],
                                ResourceTypes(service=True, container=True, object=True),
                                AccountSasPermissions.from_string(permission),
                                datetime.datetime.now(datetime.timezone.utc)
                                + datetime.timedelta(hours=hours), **kw)


def advance_clock(duration):
    """Moves azlite's clock (leases, rehydration)."""
    srv.cli("clock", "advance", duration)


def wait_for(pred, what, timeout=10.0):
    """The scheduler acts on its own thread after a clock advance: poll briefly."""
    import time
    deadline = time.time() + timeout
    while not pred():
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def break_leases(container):
    """Frees a container and its blobs of leases, so that it can be deleted."""
    from azure.storage.blob import BlobLeaseClient
    try:
        BlobLeaseClient(container).break_lease(lease_break_period=0)
    except HttpResponseError:
        pass
    for b in container.list_blobs(include=["snapshots"]):
        if b.lease.state in ("leased", "breaking") and not b.snapshot:
            BlobLeaseClient(container.get_blob_client(b.name)).break_lease(lease_break_period=0)


class BlobCase(unittest.TestCase):
    def setUp(self):
        self.svc = service()
        self.container = self.svc.create_container(fresh_name())

    def tearDown(self):
        try:
            break_leases(self.container)
            self.container.delete_container()
        except ResourceNotFoundError:
            pass

    def assertAzureError(self, cm, status, code):
        """The exception of an assertRaises block carries Azure's status and code."""
        self.assertEqual((cm.exception.status_code, cm.exception.error_code), (status, code),
                         str(cm.exception)[:300])


def second_account(name):
    """Creates another storage account (once) that allows public blob access
    and returns its connection string."""
    sub = srv.env["AZURE_SUBSCRIPTION_ID"]
    srv.http("PUT", "/subscriptions/%s/resourceGroups/blobtests?api-version=2021-04-01" % sub,
             json={"location": "eastus"})
    return srv.storage_account(name, "blobtests", "--allow-blob-public-access", "true")
