"""Virtual machine scale sets through the Python SDK (Debian azure-mgmt-compute,
its default api-version 2022-08-01, and azure-mgmt-network for the subnet):
begin_create_or_update whose poller finishes once the instances run,
virtual_machine_scale_set_vms list / get (with the instance view) /
begin_run_command (each instance its own hostname), begin_update with a new
sku capacity (scale out and in), an instance's begin_delete, and the
refusals (Flexible orchestration, a bad capacity, an unknown instance)."""
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient

from azlite_harness import Azlite

srv = None
compute = None
SUBNET = None
RG = "vmsssdk"
KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA azlite-test"


def setUpModule():
    global srv, compute, SUBNET
    srv = Azlite().start()
    e = srv.env
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    kw = dict(base_url=srv.mgmt_url, connection_verify=srv.ca,
              credential_scopes=[srv.mgmt_url + "/.default"], polling_interval=0.2)
    compute = ComputeManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw)
    net = NetworkManagementClient(cred, e["AZURE_SUBSCRIPTION_ID"], **kw)
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01"
                 % (e["AZURE_SUBSCRIPTION_ID"], RG), json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text
    vnet = net.virtual_networks.begin_create_or_update(RG, "net", {
        "location": "eastus", "address_space": {"address_prefixes": ["10.1.0.0/16"]},
        "subnets": [{"name": "default", "address_prefix": "10.1.0.0/24"}]}).result()
    SUBNET = vnet.subnets[0].id


def tearDownModule():
    srv.cleanup()


def model(capacity, prefix="web", mode=None):
    body = {
        "location": "eastus",
        "sku": {"name": "Standard_B1s", "tier": "Standard", "capacity": capacity},
        "upgrade_policy": {"mode": "Automatic"},
        "overprovision": True,
        "virtual_machine_profile": {
            "os_profile": {
                "computer_name_prefix": prefix, "admin_username": "azureuser",
                "linux_configuration": {"disable_password_authentication": True, "ssh": {
                    "public_keys": [{"path": "/home/azureuser/.ssh/authorized_keys",
                                     "key_data": KEY}]}}},
            "storage_profile": {"image_reference": {
                "publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy",
                "sku": "22_04-lts-gen2", "version": "latest"}},
            "network_profile": {"network_interface_configurations": [{
                "name": "nic", "primary": True,
                "ip_configurations": [{"name": "ipc", "subnet": {"id": SUBNET}}]}]},
        },
    }
    if mode:
        body["orchestration_mode"] = mode
    return body


def hostname(ss, instance):
    res = compute.virtual_machine_scale_set_vms.begin_run_command(
        RG, ss, instance, {"command_id": "RunShellScript", "script": ["hostname"]}).result()
    msg = res.value[0].message
    return msg.split("[stdout]\n")[1].split("\n")[0]


def power(vm):
    return [s.code for s in vm.instance_view.statuses if s.code.startswith("PowerState/")][0]


class ScaleSet(unittest.TestCase):
    def test_create_scale_run(self):
        ss = compute.virtual_machine_scale_sets.begin_create_or_update(RG, "web", model(2)).result()
        self.assertEqual(ss.provisioning_state, "Succeeded")
        self.assertEqual(ss.sku.capacity, 2)
        self.assertEqual(ss.upgrade_policy.mode, "Automatic")
        self.assertTrue(ss.unique_id)
        vms = list(compute.virtual_machine_scale_set_vms.list(RG, "web"))
        self.assertEqual(sorted(v.instance_id for v in vms), ["0", "1"])
        for v in vms:
            self.assertEqual(v.name, "web_" + v.instance_id)
            self.assertEqual(v.os_profile.computer_name, "web00000" + v.instance_id)
            self.assertTrue(v.latest_model_applied)
        vm = compute.virtual_machine_scale_set_vms.get(RG, "web", "1", expand="instanceView")
        self.assertEqual(power(vm), "PowerState/running")
        view = compute.virtual_machine_scale_set_vms.get_instance_view(RG, "web", "0")
        self.assertIn("PowerState/running", [s.code for s in view.statuses])
        self.assertEqual(hostname("web", "0"), "web000000")
        self.assertEqual(hostname("web", "1"), "web000001")

        # begin_update with only the sku: a scale-out whose poller ends when they run.
        ss = compute.virtual_machine_scale_sets.begin_update(
            RG, "web", {"sku": {"capacity": 3}}).result()
        self.assertEqual(ss.sku.capacity, 3)
        self.assertEqual(ss.provisioning_state, "Succeeded")
        self.assertEqual(ss.sku.name, "Standard_B1s")  # merged into what was stored
        self.assertEqual(ss.virtual_machine_profile.os_profile.computer_name_prefix, "web")
        self.assertEqual(hostname("web", "2"), "web000002")
        # A PUT of the whole model with another capacity scales in.
        ss = compute.virtual_machine_scale_sets.begin_create_or_update(RG, "web", model(1)).result()
        self.assertEqual(ss.sku.capacity, 1)
        self.assertEqual([v.instance_id for v in compute.virtual_machine_scale_set_vms.list(RG, "web")],
                         ["0"])

        # Power operations on one instance.
        compute.virtual_machine_scale_set_vms.begin_power_off(RG, "web", "0").result()
        vm = compute.virtual_machine_scale_set_vms.get(RG, "web", "0", expand="instanceView")
        self.assertEqual(power(vm), "PowerState/stopped")
        compute.virtual_machine_scale_set_vms.begin_start(RG, "web", "0").result()
        vm = compute.virtual_machine_scale_set_vms.get(RG, "web", "0", expand="instanceView")
        self.assertEqual(power(vm), "PowerState/running")

        # Deleting the last instance leaves an empty scale set.
        compute.virtual_machine_scale_set_vms.begin_delete(RG, "web", "0").result()
        self.assertEqual(list(compute.virtual_machine_scale_set_vms.list(RG, "web")), [])
        self.assertEqual(compute.virtual_machine_scale_sets.get(RG, "web").sku.capacity, 0)
        with self.assertRaises(ResourceNotFoundError):
            compute.virtual_machine_scale_set_vms.get(RG, "web", "0")
        compute.virtual_machine_scale_sets.begin_delete(RG, "web").result()
        with self.assertRaises(ResourceNotFoundError):
            compute.virtual_machine_scale_sets.get(RG, "web")


class Refusals(unittest.TestCase):
    def test_flexible(self):
        with self.assertRaises(HttpResponseError) as ctx:
            compute.virtual_machine_scale_sets.begin_create_or_update(
                RG, "flex", model(1, mode="Flexible")).result()
        self.assertEqual(ctx.exception.status_code, 400)
        self.assertEqual(ctx.exception.error.code, "InvalidParameter")
        self.assertIn("Uniform", ctx.exception.message)

    def test_spot_scale_set(self):
        # Spot evictions follow single VMs only: refused, not kept and never evicted.
        body = model(1)
        body["virtual_machine_profile"]["priority"] = "Spot"
        body["sku"]["name"] = "Standard_D2s_v3"
        with self.assertRaises(HttpResponseError) as ctx:
            compute.virtual_machine_scale_sets.begin_create_or_update(RG, "spotss", body).result()
        self.assertEqual(ctx.exception.error.code, "InvalidParameter")
        self.assertIn("Spot", ctx.exception.message)
        with self.assertRaises(ResourceNotFoundError):
            compute.virtual_machine_scale_sets.get(RG, "spotss")

    def test_bad_capacity(self):
        with self.assertRaises(HttpResponseError) as ctx:
            compute.virtual_machine_scale_sets.begin_create_or_update(RG, "neg", model(-1)).result()
        self.assertEqual(ctx.exception.status_code, 400)
        self.assertIn("capacity", ctx.exception.message)

    def test_unknown_instance(self):
        compute.virtual_machine_scale_sets.begin_create_or_update(RG, "empty", model(0)).result()
        with self.assertRaises(ResourceNotFoundError):
            compute.virtual_machine_scale_set_vms.get(RG, "empty", "5")
        with self.assertRaises(HttpResponseError) as ctx:
            compute.virtual_machine_scale_sets.begin_power_off(
                RG, "empty", vm_instance_i_ds={"instance_ids": ["5"]}).result()
        self.assertEqual(ctx.exception.error.code, "InvalidParameter")
        compute.virtual_machine_scale_sets.begin_delete(RG, "empty").result()


if __name__ == "__main__":
    unittest.main()
