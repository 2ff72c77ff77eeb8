"""Virtual machines through the Python SDK (Debian azure-mgmt-compute, its
default api-version 2022-08-01, with azure-mgmt-network for the NIC):
begin_create_or_update whose poller ends once the VM runs, get with
instanceView, begin_run_command with the real output, the power pollers,
lists, a PATCH of tags, delete, and the errors Azure answers."""
import os
import sqlite3
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from azlite_harness import Azlite

srv = None
cmp = None
net = None
SUB = None
RG = "vmsdk"
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4mN3tH0t7CkP8Y2PXo4s2yQk6mJk0m1Z3s0L8g9v9X "
       "test@azlite")


def setUpModule():
    global srv, cmp, net, SUB
    srv = Azlite().start()
    e = srv.env
    SUB = e["AZURE_SUBSCRIPTION_ID"]
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    kw = dict(base_url=srv.mgmt_url, connection_verify=srv.ca,
              credential_scopes=[srv.mgmt_url + "/.default"], polling_interval=0.1)
    cmp = ComputeManagementClient(cred, SUB, **kw)
    net = NetworkManagementClient(cred, SUB, **kw)
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, RG),
                 json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text
    net.virtual_networks.begin_create_or_update(RG, "vnet", {
        "location": "eastus", "address_space": {"address_prefixes": ["10.1.0.0/16"]},
        "subnets": [{"name": "default", "address_prefix": "10.1.0.0/24"}]}).result()


def tearDownModule():
    srv.cleanup()


def nic(name):
    subnet = net.subnets.get(RG, "vnet", "default")
    return net.network_interfaces.begin_create_or_update(RG, name, {
        "location": "eastus",
        "ip_configurations": [{"name": "ipconfig1", "subnet": {"id": subnet.id}}]}).result()


def vm_body(nic_id, size="Standard_B1s", **extra):
    body = {
        "location": "eastus",
        "hardware_profile": {"vm_size": size},
        "storage_profile": {"image_reference": {"publisher": "Canonical",
                                                "offer": "0001-com-ubuntu-server-jammy",
                                                "sku": "22_04-lts-gen2", "version": "latest"}},
        "os_profile": {"computer_name": "sdk-host", "admin_username": "azureuser",
                       "linux_configuration": {
                           "disable_password_authentication": True,
                           "ssh": {"public_keys": [{"path": "/home/azureuser/.ssh/authorized_keys",
                                                    "key_data": KEY}]}}},
        "network_profile": {"network_interfaces": [{"id": nic_id}]},
    }
    body.update(extra)
    return body


class Vm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        n = nic("sdk-nic")
        cls.vm = cmp.virtual_machines.begin_create_or_update(RG, "sdk-vm", vm_body(n.id)).result()

    def test_created(self):
        self.assertEqual(self.vm.provisioning_state, "Succeeded")
        self.assertTrue(self.vm.vm_id)
        self.assertEqual(self.vm.storage_profile.image_reference.exact_version is not None, True)
        self.assertEqual(self.vm.storage_profile.os_disk.os_type, "Linux")
        got = cmp.virtual_machines.get(RG, "sdk-vm", expand="instanceView")
        codes = [s.code for s in got.instance_view.statuses]
        self.assertIn("PowerState/running", codes)
        self.assertEqual(got.instance_view.computer_name, "sdk-host")
        iv = cmp.virtual_machines.instance_view(RG, "sdk-vm")
        self.assertIn("PowerState/running", [s.code for s in iv.statuses])
        # The NIC knows its VM.
        self.assertEqual(net.network_interfaces.get(RG, "sdk-nic").virtual_machine.id.lower(),
                         got.id.lower())

    def test_run_command(self):
        res = cmp.virtual_machines.begin_run_command(RG, "sdk-vm", {
            "command_id": "RunShellScript", "script": ["hostname", "echo $GREETING"],
            "parameters": [{"name": "GREETING", "value": "it's real"}]}).result()
        self.assertEqual(res.value[0].code, "ProvisioningState/succeeded")
        self.assertIn("[stdout]\nsdk-host\nit's real\n", res.value[0].message)

    def test_lists_and_tags(self):
        names = [v.name for v in cmp.virtual_machines.list(RG)]
        self.assertIn("sdk-vm", names)
        self.assertIn("sdk-vm", [v.name for v in cmp.virtual_machines.list_all()])
        up = cmp.virtual_machines.begin_update(RG, "sdk-vm", {"tags": {"team": "ml"}}).result()
        self.assertEqual(up.tags, {"team": "ml"})
        self.assertEqual(up.hardware_profile.vm_size, "Standard_B1s")

    def test_power_pollers(self):
        n = nic("power-nic")
        cmp.virtual_machines.begin_create_or_update(RG, "power-vm", vm_body(n.id)).result()

        def state():
            iv = cmp.virtual_machines.instance_view(RG, "power-vm")
            return [s.code for s in iv.statuses if s.code.startswith("PowerState/")][0]

        cmp.virtual_machines.begin_power_off(RG, "power-vm").result()
        self.assertEqual(state(), "PowerState/stopped")
        # Its running time is a usage event for cost management (core's one meter call).
        vm_id = cmp.virtual_machines.get(RG, "power-vm").id
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(srv.data_dir, "azlite.db"), uri=True)
        try:
            got = db.execute("SELECT meter, quantity, unit FROM usage_events WHERE resource_id=?"
                             " COLLATE NOCASE", (vm_id,)).fetchall()
        finally:
            db.close()
        # One event, or one per clock hour the run spanned (the meter rolls hourly).
        self.assertGreaterEqual(len(got), 1, got)
        self.assertEqual({g[0] for g in got},
                         {"Microsoft.Compute/virtualMachines/Standard_B1s/Regular"})
        self.assertEqual({g[2] for g in got}, {"Hours"})
        self.assertGreater(sum(g[1] for g in got), 0)
        with self.assertRaises(HttpResponseError) as e:
            cmp.virtual_machines.begin_restart(RG, "power-vm").result()
        self.assertEqual(e.exception.error.code, "OperationNotAllowed")
        cmp.virtual_machines.begin_deallocate(RG, "power-vm").result()
        self.assertEqual(state(), "PowerState/deallocated")
        cmp.virtual_machines.begin_start(RG, "power-vm").result()
        self.assertEqual(state(), "PowerState/running")
        cmp.virtual_machines.begin_delete(RG, "power-vm").result()
        with self.assertRaises(ResourceNotFoundError):
            cmp.virtual_machines.get(RG, "power-vm")


class Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.owner_nic = nic("owner-nic")
        cmp.virtual_machines.begin_create_or_update(RG, "owner-vm", vm_body(cls.owner_nic.id)).result()

    def code(self, fn):
        with self.assertRaises(HttpResponseError) as e:
            fn()
        return e.exception.error.code

    def test_bad_size(self):
        n = nic("err-nic1")
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm1", vm_body(n.id, size="Standard_Bogus")).result()), "InvalidParameter")
        with self.assertRaises(ResourceNotFoundError):
            cmp.virtual_machines.get(RG, "err-vm1")

    def test_bad_image_and_windows(self):
        n = nic("err-nic2")
        body = vm_body(n.id)
        body["storage_profile"]["image_reference"]["offer"] = "NoSuchOffer"
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm2", body).result()), "PlatformImageNotFound")
        body = vm_body(n.id)
        body["storage_profile"]["image_reference"] = {
            "publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
            "sku": "2022-datacenter", "version": "latest"}
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm2", body).result()), "OperationNotAllowed")

    def test_nic_in_use_and_missing(self):
        used = self.owner_nic
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm3", vm_body(used.id)).result()), "NicInUse")
        missing = used.id.rsplit("/", 1)[0] + "/no-such-nic"
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm3", vm_body(missing)).result()), "NotFound")

    def test_spot_rules(self):
        n = nic("err-nic4")
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm4", vm_body(n.id, eviction_policy="Delete")).result()), "InvalidParameter")
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm4", vm_body(n.id, priority="Spot")).result()), "InvalidParameter")

    def test_bad_ssh_key(self):
        n = nic("err-nic5")
        body = vm_body(n.id)
        body["os_profile"]["linux_configuration"]["ssh"]["public_keys"][0]["key_data"] = \
            "ssh-ed25519 AAAA\nssh-rsa BBBB"
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_create_or_update(
            RG, "err-vm5", body).result()), "InvalidParameter")

    def test_run_command_unknown_id(self):
        self.assertEqual(self.code(lambda: cmp.virtual_machines.begin_run_command(
            RG, "owner-vm", {"command_id": "RunPowerShellScript"}).result()), "InvalidParameter")


if __name__ == "__main__":
    unittest.main()
