"""Single virtual machines through the real `az` (Debian azure-cli 2.45): `az vm
create` (its template makes the network), run-command inside the sandbox as
the VM's own host, stop / start / deallocate with the power state the
instance view shows, the disk kept across a stop, and delete removing it."""
import os
import subprocess
import tempfile
import unittest

from azlite_harness import Azlite

srv = None
KEY = None


def setUpModule():
    global srv, KEY
    srv = Azlite().start()
    d = tempfile.mkdtemp(prefix="azlite-vm-key-")
    KEY = os.path.join(d, "id_rsa")
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-N", "", "-f", KEY], check=True)
    assert srv.az("group", "create", "-n", "rg", "-l", "eastus").returncode == 0


def tearDownModule():
    srv.cleanup()


def run_shell(script):
    out = srv.az_json("vm", "run-command", "invoke", "-g", "rg", "-n", "vm1", "--command-id",
                      "RunShellScript", "--scripts", script)
    return out["value"][0]["message"]


def power():
    view = srv.az_json("vm", "get-instance-view", "-g", "rg", "-n", "vm1")
    return [s["code"] for s in view["instanceView"]["statuses"]
            if s["code"].startswith("PowerState/")][0]


class VirtualMachine(unittest.TestCase):
    def test_lifecycle(self):
        out = srv.az_json("vm", "create", "-g", "rg", "-n", "vm1", "--image", "UbuntuLTS",
                          "--size", "Standard_B2s", "--ssh-key-values", KEY + ".pub",
                          "--admin-username", "azureuser")
        self.assertEqual(out["powerState"], "VM running")
        msg = run_shell("hostname; ls /home")
        self.assertIn("Enable succeeded", msg)
        self.assertIn("vm1\n", msg)
        self.assertIn("azureuser", msg)
        run_shell("echo kept > /root/mark")
        self.assertEqual(srv.az("vm", "stop", "-g", "rg", "-n", "vm1").returncode, 0)
        self.assertEqual(power(), "PowerState/stopped")
        self.assertEqual(srv.az("vm", "start", "-g", "rg", "-n", "vm1").returncode, 0)
        self.assertEqual(power(), "PowerState/running")
        self.assertIn("kept", run_shell("cat /root/mark"))
        self.assertEqual(srv.az("vm", "deallocate", "-g", "rg", "-n", "vm1").returncode, 0)
        self.assertEqual(power(), "PowerState/deallocated")
        p = srv.az("vm", "run-command", "invoke", "-g", "rg", "-n", "vm1", "--command-id",
                   "RunShellScript", "--scripts", "true")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("OperationNotAllowed", p.stderr)
        self.assertEqual(srv.az("vm", "start", "-g", "rg", "-n", "vm1").returncode, 0)
        self.assertIn("kept", run_shell("cat /root/mark"))
        disks = os.path.join(srv.data_dir, "compute", "vms")
        self.assertEqual(len(os.listdir(disks)), 1)
        self.assertEqual(srv.az("vm", "delete", "-g", "rg", "-n", "vm1", "--yes").returncode, 0)
        self.assertEqual(os.listdir(disks), [])


if __name__ == "__main__":
    unittest.main()
