"""Virtual machines through the real `az` (Debian azure-cli 2.45): the seed's
Part 1 (`az vm create` with a GPU size, ssh to its public IP, `az vm
run-command invoke`), power operations, isolation between VMs, a VM that comes
back after kill -9, delete, a managed identity whose IMDS token from inside the
VM reads a blob once it holds Storage Blob Data Reader, and spot evictions
that code inside sees coming."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

from azlite_harness import Azlite

srv = None
KEYDIR = None
PUB = None
RG = "vms"


def setUpModule():
    global srv, KEYDIR, PUB
    srv = Azlite().start()
    KEYDIR = tempfile.mkdtemp(prefix="azlite-vm-keys-")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    os.path.join(KEYDIR, "id")], check=True)
    PUB = os.path.join(KEYDIR, "id.pub")
    p = srv.az("group", "create", "-n", RG, "-l", "eastus")
    assert p.returncode == 0, p.stderr


def tearDownModule():
    srv.cleanup()
    shutil.rmtree(KEYDIR, ignore_errors=True)


def az_ok(*args):
    p = srv.az(*args)
    if p.returncode != 0:
        raise AssertionError("az %s failed: %s" % (" ".join(args), p.stderr))
    return p.stdout


def az_fail(*args):
    p = srv.az(*args)
    if p.returncode == 0:
        raise AssertionError("az %s succeeded but should fail: %s" % (" ".join(args), p.stdout))
    return p.stderr


def create_vm(name, *extra, size="Standard_B2s", image="Ubuntu2204"):
    out = az_ok("vm", "create", "-g", RG, "-n", name, "--image", image, "--size", size,
                "--admin-username", "azureuser", "--ssh-key-values", PUB, "-o", "json", *extra)
    return json.loads(out)


def run(name, script):
    """az vm run-command invoke ... RunShellScript; the message."""
    out = az_ok("vm", "run-command", "invoke", "-g", RG, "-n", name, "--command-id",
                "RunShellScript", "--scripts", script, "-o", "json")
    return json.loads(out)["value"][0]


def power(name):
    return az_ok("vm", "show", "-d", "-g", RG, "-n", name, "--query", "powerState",
                 "-o", "tsv").strip()


def sandboxes():
    """The server's VM sandboxes: its children named azlite-sandbox."""
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(srv.proc.pid)],
                         capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()[1:] == ["azlite-sandbox"]]


class SeedPart1(unittest.TestCase):
    """The seed's commands, as written (a GPU size, UbuntuLTS)."""

    @classmethod
    def setUpClass(cls):
        cls.vm = create_vm("gpu-vm", size="Standard_NC6s_v3", image="UbuntuLTS")

    def test_created_running(self):
        self.assertEqual(self.vm["powerState"], "VM running")
        self.assertTrue(self.vm["publicIpAddress"].startswith("127."), self.vm)
        self.assertTrue(self.vm["privateIpAddress"].startswith("10.0.0."), self.vm)
        show = json.loads(az_ok("vm", "show", "-g", RG, "-n", "gpu-vm", "-o", "json"))
        self.assertEqual(show["provisioningState"], "Succeeded")
        self.assertEqual(show["hardwareProfile"]["vmSize"], "Standard_NC6s_v3")
        self.assertEqual(show["osProfile"]["adminUsername"], "azureuser")
        self.assertIsNone(show["osProfile"].get("adminPassword"))

    def test_run_command(self):
        v = run("gpu-vm", "hostname; id azureuser; cat /etc/os-release")
        self.assertEqual(v["code"], "ProvisioningState/succeeded")
        msg = v["message"]
        self.assertTrue(msg.startswith("Enable succeeded"), msg)
        self.assertIn("[stdout]\ngpu-vm\n", msg)
        self.assertIn("(azureuser)", msg)
        self.assertIn("NAME=", msg)

    def test_run_command_exit_code_and_stderr(self):
        v = run("gpu-vm", "echo out; echo err >&2; exit 3")
        self.assertEqual(v["code"], "ProvisioningState/failed")
        self.assertIn("exit status=3", v["message"])
        self.assertIn("[stdout]\nout\n", v["message"])
        self.assertIn("[stderr]\nerr\n", v["message"])

    def test_instance_view(self):
        iv = json.loads(az_ok("vm", "get-instance-view", "-g", RG, "-n", "gpu-vm", "--query",
                              "instanceView", "-o", "json"))
        codes = [s["code"] for s in iv["statuses"]]
        self.assertIn("PowerState/running", codes)
        with open("/etc/os-release") as f:
            host = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.assertEqual(iv["osName"], host["NAME"].strip('"'))
        self.assertEqual(iv["computerName"], "gpu-vm")
        if not os.path.exists("/dev/nvidia0"):
            gpu = [s for s in iv["statuses"] if s["code"] == "GPU/unavailable"]
            self.assertEqual(len(gpu), 1, iv["statuses"])
            self.assertIn("no NVIDIA GPU", gpu[0]["message"])

    @unittest.skipUnless(os.path.exists("/usr/sbin/sshd"), "openssh-server is not installed")
    def test_ssh(self):
        p = subprocess.run(["ssh", "-i", os.path.join(KEYDIR, "id"), "-o", "BatchMode=yes",
                            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                            "-o", "ConnectTimeout=10",
                            "azureuser@" + self.vm["publicIpAddress"], "hostname; id -un"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "gpu-vm\nazureuser\n")


class Lifecycle(unittest.TestCase):
    def test_isolation_power_restart_delete(self):
        create_vm("life-a")
        create_vm("life-b", "--computer-name", "host-b")
        # What one VM writes, the other (and the host) does not see.
        run("life-a", "echo mine > /usr/local/azlite-life-a && mkdir -p /opt/x")
        b = run("life-b", "hostname; test -e /usr/local/azlite-life-a && echo seen; true")
        self.assertIn("[stdout]\nhost-b\n\n[stderr]", b["message"])
        self.assertFalse(os.path.exists("/usr/local/azlite-life-a"))
        # Stop: its processes end; a command is refused.
        az_ok("vm", "stop", "-g", RG, "-n", "life-a")
        self.assertEqual(power("life-a"), "VM stopped")
        err = az_fail("vm", "run-command", "invoke", "-g", RG, "-n", "life-a", "--command-id",
                      "RunShellScript", "--scripts", "true")
        self.assertIn("OperationNotAllowed", err)
        # Deallocate keeps the disk; start boots it again with it.
        az_ok("vm", "deallocate", "-g", RG, "-n", "life-a")
        self.assertEqual(power("life-a"), "VM deallocated")
        az_ok("vm", "start", "-g", RG, "-n", "life-a")
        self.assertEqual(power("life-a"), "VM running")
        self.assertIn("[stdout]\nmine\n", run("life-a", "cat /usr/local/azlite-life-a")["message"])
        az_ok("vm", "restart", "-g", RG, "-n", "life-a")
        self.assertEqual(power("life-a"), "VM running")
        # kill -9 of azlite: the sandboxes die with it, and come back at start.
        before = len(sandboxes())
        self.assertGreaterEqual(before, 2)
        srv.kill9()
        srv.start()
        for _ in range(100):
            if len(sandboxes()) >= before:
                break
            time.sleep(0.1)
        self.assertEqual(power("life-a"), "VM running")
        self.assertIn("[stdout]\nmine\n", run("life-a", "cat /usr/local/azlite-life-a")["message"])
        # Delete: the sandbox and its disk go; the NIC is free again.
        vmid = json.loads(az_ok("vm", "show", "-g", RG, "-n", "life-b", "-o", "json"))["vmId"]
        disk = os.path.join(srv.data_dir, "compute", "vms", vmid)
        self.assertTrue(os.path.isdir(disk))
        n = len(sandboxes())
        az_ok("vm", "delete", "-g", RG, "-n", "life-b", "--yes")
        self.assertFalse(os.path.exists(disk))
        self.assertEqual(len(sandboxes()), n - 1)
        nic = json.loads(az_ok("network", "nic", "show", "-g", RG, "-n", "life-bVMNic", "-o",
                               "json"))
        self.assertIsNone(nic.get("virtualMachine"))


class Identity(unittest.TestCase):
    """Part 3: the VM's own identity reads Blob Storage from inside it."""

    def test_imds_token_reads_blob_after_role(self):
        cs = srv.storage_account("vmidstore", RG)
        az_ok("storage", "container", "create", "-n", "data", "--connection-string", cs)
        az_ok("storage", "blob", "upload", "-c", "data", "-n", "hello.txt", "--data",
              "hello from blob", "--connection-string", cs)
        create_vm("id-vm")
        ident = json.loads(az_ok("vm", "identity", "assign", "-g", RG, "-n", "id-vm", "-o",
                                 "json"))
        pid = ident["systemAssignedIdentity"]
        self.assertTrue(pid)
        url = "https://127.0.0.1:%d/vmidstore/data/hello.txt" % srv.ports["blob_tls"]
        script = r'''python3 - <<'EOF'
import json, ssl, urllib.request, urllib.error
req = urllib.request.Request("http://169.254.169.254/metadata/identity/oauth2/token"
      "?api-version=2018-02-01&resource=https://storage.azure.com/", headers={"Metadata": "true"})
tok = json.load(urllib.request.urlopen(req))
print("oid", tok.get("client_id") is not None)
ctx = ssl.create_default_context(cafile="/etc/azlite/ca.pem")
b = urllib.request.Request("%s", headers={"Authorization": "Bearer " + tok["access_token"],
                                          "x-ms-version": "2021-08-06"})
try:
    print("blob", urllib.request.urlopen(b, context=ctx).read().decode())
except urllib.error.HTTPError as e:
    print("blob HTTP", e.code)
EOF''' % url
        before = run("id-vm", script)["message"]
        self.assertIn("blob HTTP 403", before)
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        scope = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/vmidstore" % (sub, RG)
        body = {"properties": {
            "roleDefinitionId": "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1" % sub,
            "principalId": pid, "principalType": "ServicePrincipal"}}
        az_ok("rest", "--method", "put", "--url",
              "%s/providers/Microsoft.Authorization/roleAssignments/%s?api-version=2022-04-01" %
              (scope, uuid.uuid4()), "--body", json.dumps(body))
        after = run("id-vm", script)["message"]
        self.assertIn("blob hello from blob", after)

    def test_imds_answers_for_the_calling_vm_only(self):
        create_vm("id-vm2")
        v = run("id-vm2", "curl -s -o /dev/null -w '%{http_code}' "
                "'http://169.254.169.254/metadata/identity/oauth2/token?resource=https://management.azure.com/'")
        self.assertIn("[stdout]\n400", v["message"])  # no Metadata: true header
        # Its instance document is its own, and it has no identity to get a token for.
        v = run("id-vm2", "curl -s -H Metadata:true "
                "http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01")
        doc = json.loads(v["message"].split("[stdout]\n", 1)[1].split("\n[stderr]", 1)[0])
        self.assertEqual(doc["name"], "id-vm2")
        self.assertEqual(doc["vmSize"], "Standard_B2s")
        v = run("id-vm2", "curl -s -H Metadata:true 'http://169.254.169.254/metadata/identity/"
                "oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/'")
        self.assertNotIn("access_token", v["message"])
        self.assertIn("error", v["message"])


class Spot(unittest.TestCase):
    WATCH = ("nohup sh -c 'while true; do curl -s -H Metadata:true "
             "http://169.254.169.254/metadata/scheduledevents >> /var/tmp/events; echo >> /var/tmp/events; "
             "sleep 0.2; done' > /dev/null 2>&1 &")

    def test_simulate_eviction_deallocates_after_preempt(self):
        create_vm("spot-vm", "--priority", "Spot", "--max-price", "-1", "--eviction-policy",
                  "Deallocate", size="Standard_D2s_v3")
        show = json.loads(az_ok("vm", "show", "-g", RG, "-n", "spot-vm", "-o", "json"))
        self.assertEqual(show["priority"], "Spot")
        self.assertEqual(show["billingProfile"]["maxPrice"], -1)
        run("spot-vm", self.WATCH)
        az_ok("vm", "simulate-eviction", "-g", RG, "-n", "spot-vm")
        time.sleep(1)
        self.assertEqual(power("spot-vm"), "VM running")  # the notice comes first
        srv.cli("clock", "advance", "31s")
        for _ in range(50):
            if power("spot-vm") == "VM deallocated":
                break
            time.sleep(0.2)
        self.assertEqual(power("spot-vm"), "VM deallocated")
        az_ok("vm", "start", "-g", RG, "-n", "spot-vm")
        seen = run("spot-vm", "grep -c Preempt /var/tmp/events")["message"]
        self.assertNotIn("[stdout]\n0\n", seen)
        self.assertRegex(seen, r"\[stdout\]\n[1-9]")

    def test_price_rise_evicts_delete_policy(self):
        create_vm("spot-del", "--priority", "Spot", "--max-price", "0.5", "--eviction-policy",
                  "Delete", size="Standard_D2s_v3")
        run("spot-del", self.WATCH)
        r = srv.http("PUT", "/azlite/compute/spotPrices/eastus/Standard_D2s_v3",
                     json={"price": 0.9})
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["price"], 0.9)
        # The Preempt event reaches the VM before it goes.
        ev = ""
        for _ in range(50):
            ev = run("spot-del", "cat /var/tmp/events")["message"]
            if "Preempt" in ev:
                break
            time.sleep(0.2)
        self.assertIn("Preempt", ev)
        self.assertIn('"Resources":["spot-del"]', ev.replace(" ", ""))
        srv.cli("clock", "advance", "31s")
        for _ in range(50):
            if srv.az("vm", "show", "-g", RG, "-n", "spot-del").returncode != 0:
                break
            time.sleep(0.2)
        self.assertIn("ResourceNotFound", az_fail("vm", "show", "-g", RG, "-n", "spot-del"))
        srv.http("PUT", "/azlite/compute/spotPrices/eastus/Standard_D2s_v3", json={"price": None})

    def test_regular_vm_cannot_be_evicted(self):
        create_vm("regular-vm")
        self.assertIn("OperationNotAllowed",
                      az_fail("vm", "simulate-eviction", "-g", RG, "-n", "regular-vm"))


class BadInput(unittest.TestCase):
    def test_unknown_size(self):
        err = az_fail("vm", "create", "-g", RG, "-n", "bad1", "--image", "UbuntuLTS", "--size",
                      "Standard_Nope", "--admin-username", "azureuser", "--ssh-key-values", PUB)
        self.assertIn("InvalidParameter", err)
        self.assertIn("Standard_Nope", err)
        self.assertIn("ResourceNotFound", az_fail("vm", "show", "-g", RG, "-n", "bad1"))

    def test_unknown_image(self):
        err = az_fail("vm", "create", "-g", RG, "-n", "bad2", "--image",
                      "Canonical:NoSuchOffer:1:latest", "--size", "Standard_B1s",
                      "--admin-username", "azureuser", "--ssh-key-values", PUB)
        self.assertIn("not", err.lower())

    def test_reserved_admin_name(self):
        err = az_fail("vm", "create", "-g", RG, "-n", "bad3", "--image", "UbuntuLTS", "--size",
                      "Standard_B1s", "--admin-username", "root", "--ssh-key-values", PUB)
        self.assertIn("root", err)

    def test_quota_exceeded(self):
        r = srv.http("PUT", "/azlite/compute/quotas/westus/standardNCSv3Family",
                     json={"limit": 6})
        self.assertEqual(r.status_code, 200, r.text)
        az_ok("group", "create", "-n", "quota-rg", "-l", "westus")
        p = srv.az("vm", "create", "-g", "quota-rg", "-n", "q1", "--image", "UbuntuLTS", "--size",
                   "Standard_NC12s_v3", "--admin-username", "azureuser", "--ssh-key-values", PUB,
                   "-l", "westus")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("quota", p.stderr.lower())
        self.assertIn("standardNCSv3Family", p.stderr)


if __name__ == "__main__":
    unittest.main()
