"""Virtual machine scale sets through the real `az` (Debian azure-cli 2.45):
`az vmss create` (its template deployment makes a virtual network and a load
balancer), instances that really run (each a sandbox whose run-command
answers its own hostname), scaling out and in (sandboxes booted and stopped),
instance power operations and deletes, an azlite restart, and the refusals
(Flexible orchestration, a quota exceeded)."""
import os
import subprocess
import tempfile
import time
import unittest

from azlite_harness import Azlite

srv = None
KEY = None


def setUpModule():
    global srv, KEY
    srv = Azlite().start()
    d = tempfile.mkdtemp(prefix="azlite-vmss-key-")
    KEY = os.path.join(d, "id_rsa")
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-N", "", "-f", KEY], check=True)
    # The refusals in their own group: az vmss create reuses a group's network.
    for g in ("rg", "other"):
        assert srv.az("group", "create", "-n", g, "-l", "eastus").returncode == 0


def tearDownModule():
    srv.cleanup()


def sandboxes():
    """How many sandboxes run: processes named azlite-sandbox whose parent is the server."""
    pid = srv.proc.pid
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        name = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if name == "azlite-sandbox" and ppid == pid:
            n += 1
    return n


def wait_sandboxes(n, timeout=30):
    deadline = time.time() + timeout
    while sandboxes() != n and time.time() < deadline:
        time.sleep(0.2)
    return sandboxes()


def az_ok(*args):
    p = srv.az(*args)
    if p.returncode != 0:
        raise AssertionError("az %s failed: %s" % (" ".join(args), p.stderr))
    return p


def az_fail(*args):
    p = srv.az(*args)
    if p.returncode == 0:
        raise AssertionError("az %s succeeded but should fail: %s" % (" ".join(args), p.stdout))
    return p.stderr


def run_shell(ss, instance, script, group="rg"):
    out = srv.az_json("vmss", "run-command", "invoke", "-g", group, "-n", ss, "--instance-id",
                      instance, "--command-id", "RunShellScript", "--scripts", script)
    return out["value"][0]["message"]


def create(name, count, *extra, group="rg"):
    return srv.az_json("vmss", "create", "-g", group, "-n", name, "--image", "UbuntuLTS",
                       "--instance-count", str(count), "--vm-sku", "Standard_B1s",
                       "--admin-username", "azureuser", "--ssh-key-values", KEY + ".pub", *extra)


class ScaleSet(unittest.TestCase):
    """One scale set, its life in order."""

    def test_lifecycle(self):
        out = create("ss", 2)
        ss = out["VMSS"]  # the template's output: the scale set's properties
        self.assertEqual(ss["provisioningState"], "Succeeded")
        self.assertEqual(ss["upgradePolicy"]["mode"], "Manual")
        self.assertTrue(ss["uniqueId"])
        prefix = ss["virtualMachineProfile"]["osProfile"]["computerNamePrefix"]
        # The template made the network and the load balancer the instances use.
        self.assertIn("ssVNET", [v["name"] for v in srv.az_json("network", "vnet", "list", "-g", "rg")])
        self.assertIn("ssLB", [v["name"] for v in srv.az_json("network", "lb", "list", "-g", "rg")])
        shown = srv.az_json("vmss", "show", "-g", "rg", "-n", "ss")
        self.assertEqual(shown["sku"]["capacity"], 2)
        self.assertEqual(shown["sku"]["name"], "Standard_B1s")
        ipc = shown["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]
        self.assertTrue(ipc["ipConfigurations"][0]["loadBalancerBackendAddressPools"])

        insts = srv.az_json("vmss", "list-instances", "-g", "rg", "-n", "ss")
        self.assertEqual(sorted(i["instanceId"] for i in insts), ["0", "1"])
        self.assertEqual(sorted(i["name"] for i in insts), ["ss_0", "ss_1"])
        names = sorted(i["osProfile"]["computerName"] for i in insts)
        self.assertEqual(names, [prefix + "000000", prefix + "000001"])
        self.assertEqual(wait_sandboxes(2), 2)
        # Each instance is its own machine: its own hostname.
        for i in ("0", "1"):
            msg = run_shell("ss", i, "hostname; whoami")
            self.assertIn("Enable succeeded", msg)
            self.assertIn(prefix + "00000" + i, msg)
        # IMDS inside answers for that instance.
        msg = run_shell("ss", "1", "curl -s -H Metadata:true "
                        "'http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01'")
        self.assertIn('"name":"ss_1"', msg)
        self.assertIn('"vmSize":"Standard_B1s"', msg)
        self.assertIn('"computerName":"%s000001"' % prefix, msg)
        # Each has its own private address in the subnet.
        ips = set()
        for i in ("0", "1"):
            nics = srv.az_json("vmss", "nic", "list-vm-nics", "-g", "rg", "--vmss-name", "ss",
                               "--instance-id", i)
            ip = nics[0]["ipConfigurations"][0]["privateIPAddress"]
            self.assertTrue(ip.startswith("10.0."), ip)
            ips.add(ip)
        self.assertEqual(len(ips), 2)
        view = srv.az_json("vmss", "get-instance-view", "-g", "rg", "-n", "ss", "--instance-id", "1")
        self.assertIn("PowerState/running", [s["code"] for s in view["statuses"]])

        # An update (GET then PUT of the whole model) changes the upgrade
        # policy and keeps the instances; a model change is refused plainly.
        up = srv.az_json("vmss", "update", "-g", "rg", "-n", "ss", "--set",
                         "upgradePolicy.mode=Automatic")
        self.assertEqual((up["upgradePolicy"]["mode"], up["sku"]["capacity"]), ("Automatic", 2))
        err = az_fail("vmss", "update", "-g", "rg", "-n", "ss", "--set",
                      "virtualMachineProfile.osProfile.computerNamePrefix=other")
        self.assertIn("OperationNotAllowed", err)
        az_ok("vmss", "update-instances", "-g", "rg", "-n", "ss", "--instance-ids", "*")
        self.assertEqual(wait_sandboxes(2), 2)

        # Scale out: two more instances, numbered on, running.
        az_ok("vmss", "scale", "-g", "rg", "-n", "ss", "--new-capacity", "4")
        insts = srv.az_json("vmss", "list-instances", "-g", "rg", "-n", "ss")
        self.assertEqual(sorted(i["instanceId"] for i in insts), ["0", "1", "2", "3"])
        self.assertTrue(all(i["provisioningState"] == "Succeeded" for i in insts))
        self.assertEqual(wait_sandboxes(4), 4)
        self.assertIn(prefix + "000003", run_shell("ss", "3", "hostname"))
        self.assertEqual(srv.az_json("vmss", "show", "-g", "rg", "-n", "ss")["sku"]["capacity"], 4)

        # Scale in: the highest-numbered go, their sandboxes stop.
        az_ok("vmss", "scale", "-g", "rg", "-n", "ss", "--new-capacity", "1")
        insts = srv.az_json("vmss", "list-instances", "-g", "rg", "-n", "ss")
        self.assertEqual([i["instanceId"] for i in insts], ["0"])
        self.assertEqual(wait_sandboxes(1), 1)

        # Instance ids are never reused.
        az_ok("vmss", "scale", "-g", "rg", "-n", "ss", "--new-capacity", "3")
        insts = srv.az_json("vmss", "list-instances", "-g", "rg", "-n", "ss")
        self.assertEqual(sorted(i["instanceId"] for i in insts), ["0", "4", "5"])
        self.assertEqual(wait_sandboxes(3), 3)

        # Instance power operations.
        az_ok("vmss", "stop", "-g", "rg", "-n", "ss", "--instance-ids", "4")
        view = srv.az_json("vmss", "get-instance-view", "-g", "rg", "-n", "ss", "--instance-id", "4")
        self.assertIn("PowerState/stopped", [s["code"] for s in view["statuses"]])
        self.assertEqual(wait_sandboxes(2), 2)
        err = az_fail("vmss", "run-command", "invoke", "-g", "rg", "-n", "ss", "--instance-id",
                      "4", "--command-id", "RunShellScript", "--scripts", "true")
        self.assertIn("OperationNotAllowed", err)
        az_ok("vmss", "deallocate", "-g", "rg", "-n", "ss", "--instance-ids", "5")
        view = srv.az_json("vmss", "get-instance-view", "-g", "rg", "-n", "ss", "--instance-id", "5")
        self.assertIn("PowerState/deallocated", [s["code"] for s in view["statuses"]])
        self.assertEqual(wait_sandboxes(1), 1)
        az_ok("vmss", "start", "-g", "rg", "-n", "ss")
        self.assertEqual(wait_sandboxes(3), 3)
        az_ok("vmss", "restart", "-g", "rg", "-n", "ss", "--instance-ids", "0")
        self.assertIn(prefix + "000000", run_shell("ss", "0", "hostname"))
        summary = srv.az_json("vmss", "get-instance-view", "-g", "rg", "-n", "ss")
        counts = {s["code"]: s["count"] for s in summary["virtualMachine"]["statusesSummary"]}
        self.assertEqual(counts, {"PowerState/running": 3})

        # What an instance writes stays on its disk across a stop.
        run_shell("ss", "5", "echo kept > /home/azureuser/mark")
        az_ok("vmss", "stop", "-g", "rg", "-n", "ss", "--instance-ids", "5")
        az_ok("vmss", "start", "-g", "rg", "-n", "ss", "--instance-ids", "5")
        self.assertIn("kept", run_shell("ss", "5", "cat /home/azureuser/mark"))

        # An azlite restart: running instances boot again, a stopped one stays stopped.
        az_ok("vmss", "stop", "-g", "rg", "-n", "ss", "--instance-ids", "4")
        srv.restart()
        self.assertEqual(wait_sandboxes(2), 2)
        self.assertIn(prefix + "000005", run_shell("ss", "5", "hostname"))
        view = srv.az_json("vmss", "get-instance-view", "-g", "rg", "-n", "ss", "--instance-id", "4")
        self.assertIn("PowerState/stopped", [s["code"] for s in view["statuses"]])

        # Deleting an instance lowers the capacity by one.
        az_ok("vmss", "delete-instances", "-g", "rg", "-n", "ss", "--instance-ids", "4")
        insts = srv.az_json("vmss", "list-instances", "-g", "rg", "-n", "ss")
        self.assertEqual(sorted(i["instanceId"] for i in insts), ["0", "5"])
        self.assertEqual(srv.az_json("vmss", "show", "-g", "rg", "-n", "ss")["sku"]["capacity"], 2)
        err = az_fail("vmss", "get-instance-view", "-g", "rg", "-n", "ss", "--instance-id", "4")
        self.assertIn("NotFound", err)
        az_ok("vmss", "delete-instances", "-g", "rg", "-n", "ss", "--instance-ids", "0")
        self.assertEqual(wait_sandboxes(1), 1)
        self.assertEqual(srv.az_json("vmss", "show", "-g", "rg", "-n", "ss")["sku"]["capacity"], 1)

        # Deleting the scale set stops every instance and removes their disks.
        disks = os.path.join(srv.data_dir, "compute", "vms")
        self.assertEqual(len(os.listdir(disks)), 1)
        az_ok("vmss", "delete", "-g", "rg", "-n", "ss")
        self.assertEqual(wait_sandboxes(0), 0)
        self.assertEqual(os.listdir(disks), [])
        az_fail("vmss", "show", "-g", "rg", "-n", "ss")


class Refusals(unittest.TestCase):
    def test_flexible_refused(self):
        err = az_fail("vmss", "create", "-g", "other", "-n", "flex", "--image", "UbuntuLTS",
                      "--orchestration-mode", "Flexible", "--instance-count", "1",
                      "--vm-sku", "Standard_B1s", "--admin-username", "azureuser",
                      "--ssh-key-values", KEY + ".pub", "--platform-fault-domain-count", "1",
                      "--lb", "")
        self.assertIn("Uniform", err)
        self.assertIn("orchestrationMode", err)

    def test_quota_exceeded(self):
        r = srv.http("PUT", "/azlite/compute/quotas/eastus/standardBSFamily", json={"limit": 3})
        self.assertIn(r.status_code, (200, 201, 204), r.text)
        try:
            err = az_fail("vmss", "create", "-g", "other", "-n", "big", "--image", "UbuntuLTS",
                          "--instance-count", "4", "--vm-sku", "Standard_B1s",
                          "--admin-username", "azureuser", "--ssh-key-values", KEY + ".pub")
            self.assertIn("OperationNotAllowed", err)
            self.assertIn("standardBSFamily", err)
            before = sandboxes()
            create("small", 2, group="other")
            self.assertEqual(wait_sandboxes(before + 2), before + 2)
            # What the first uses counts against the second.
            err = az_fail("vmss", "create", "-g", "other", "-n", "second", "--image", "UbuntuLTS",
                          "--instance-count", "2", "--vm-sku", "Standard_B1s",
                          "--admin-username", "azureuser", "--ssh-key-values", KEY + ".pub")
            self.assertIn("OperationNotAllowed", err)
            # Scaling past the quota is refused; the two keep running.
            err = az_fail("vmss", "scale", "-g", "other", "-n", "small", "--new-capacity", "4")
            self.assertIn("OperationNotAllowed", err)
            self.assertEqual(srv.az_json("vmss", "show", "-g", "other", "-n", "small")["sku"]["capacity"], 2)
            # Within it (its own 2 not counted twice) is fine.
            az_ok("vmss", "scale", "-g", "other", "-n", "small", "--new-capacity", "3")
            self.assertEqual(wait_sandboxes(before + 3), before + 3)
            az_ok("vmss", "delete", "-g", "other", "-n", "small")
            self.assertEqual(wait_sandboxes(before), before)
        finally:
            srv.http("PUT", "/azlite/compute/quotas/eastus/standardBSFamily", json={"limit": 100})

    def test_unknown_instance(self):
        create("one", 1, group="other")
        err = az_fail("vmss", "get-instance-view", "-g", "other", "-n", "one", "--instance-id", "7")
        self.assertIn("NotFound", err)
        err = az_fail("vmss", "stop", "-g", "other", "-n", "one", "--instance-ids", "7")
        self.assertIn("InvalidParameter", err)
        az_ok("vmss", "delete", "-g", "other", "-n", "one")


if __name__ == "__main__":
    unittest.main()
