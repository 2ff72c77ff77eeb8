"""Microsoft.Network through the real `az` (Debian azure-cli 2.45, profile
2020-09-01-hybrid, api-version 2018-11-01): a virtual network with its
subnet, a security group and its rules, a public IP, an interface using all
three; show, list and delete (the plain SDK commands run through the shim
`azlite az` installs, src/cli/az.c), and the errors Azure answers for
overlapping subnets, conflicting rules and deletes of what is still in
use."""
import ipaddress
import json
import unittest

from azlite_harness import Azlite

srv = None
RG = "netaz"


def setUpModule():
    global srv
    srv = Azlite().start()
    p = srv.az("group", "create", "-n", RG, "-l", "eastus", "-o", "none")
    assert p.returncode == 0, p.stderr


def tearDownModule():
    srv.cleanup()


def az(*args):
    return srv.az_json("network", *args, "-g", RG)


def az_fail(*args):
    """Runs `az network ... -g RG`, expects it to fail; returns stderr."""
    p = srv.az("network", *args, "-g", RG)
    if p.returncode == 0:
        raise AssertionError("az network %s succeeded but should fail: %s" % (" ".join(args),
                                                                                p.stdout))
    assert "Traceback" not in p.stderr, p.stderr
    return p.stderr


class Network(unittest.TestCase):
    def test_vnet_nsg_public_ip_nic(self):
        v = az("vnet", "create", "-n", "v1", "--address-prefixes", "10.1.0.0/16",
               "--subnet-name", "default", "--subnet-prefixes", "10.1.0.0/24")["newVNet"]
        self.assertEqual(v["addressSpace"]["addressPrefixes"], ["10.1.0.0/16"])
        self.assertEqual([(s["name"], s["addressPrefix"]) for s in v["subnets"]],
                         [("default", "10.1.0.0/24")])
        s = az("vnet", "subnet", "create", "--vnet-name", "v1", "-n", "second",
               "--address-prefixes", "10.1.1.0/24")
        self.assertEqual(s["addressPrefix"], "10.1.1.0/24")
        self.assertIn("Netcfg", az_fail("vnet", "subnet", "create", "--vnet-name", "v1", "-n",
                                        "bad", "--address-prefixes", "10.1.1.128/25"))
        self.assertIn("NetcfgSubnetRangeOutsideVnet",
                      az_fail("vnet", "subnet", "create", "--vnet-name", "v1", "-n", "out",
                              "--address-prefixes", "10.2.0.0/24"))
        shown = az("vnet", "show", "-n", "v1")
        self.assertEqual(sorted(x["name"] for x in shown["subnets"]), ["default", "second"])
        self.assertEqual(sorted(x["name"] for x in az("vnet", "subnet", "list", "--vnet-name", "v1")),
                         ["default", "second"])

        g = az("nsg", "create", "-n", "nsg1")["NewNSG"]
        self.assertEqual(len(g["defaultSecurityRules"]), 6)
        self.assertIn("DenyAllInBound", [r["name"] for r in g["defaultSecurityRules"]])
        r = az("nsg", "rule", "create", "--nsg-name", "nsg1", "-n", "ssh", "--priority", "1000",
               "--destination-port-ranges", "22", "--access", "Allow", "--protocol", "Tcp")
        self.assertEqual((r["priority"], r["destinationPortRange"], r["access"]),
                         (1000, "22", "Allow"))
        self.assertIn("SecurityRuleConflict",
                      az_fail("nsg", "rule", "create", "--nsg-name", "nsg1", "-n", "telnet",
                              "--priority", "1000", "--destination-port-ranges", "23"))
        self.assertEqual(az("nsg", "rule", "show", "--nsg-name", "nsg1", "-n", "ssh")["priority"],
                         1000)
        self.assertEqual([x["name"] for x in az("nsg", "rule", "list", "--nsg-name", "nsg1")],
                         ["ssh"])

        ip = az("public-ip", "create", "-n", "pip1")["publicIp"]
        self.assertIn(ipaddress.ip_address(ip["ipAddress"]), ipaddress.ip_network("127.64.0.0/10"))
        self.assertEqual(az("public-ip", "show", "-n", "pip1")["ipAddress"], ip["ipAddress"])
        self.assertIn("pip1", [x["name"] for x in az("public-ip", "list")])

        nic = az("nic", "create", "-n", "nic1", "--vnet-name", "v1", "--subnet", "default",
                 "--public-ip-address", "pip1", "--network-security-group", "nsg1")["NewNIC"]
        cfg = nic["ipConfigurations"][0]
        self.assertEqual(cfg["privateIpAddress"], "10.1.0.4")
        self.assertEqual(cfg["privateIpAllocationMethod"], "Dynamic")
        self.assertTrue(cfg["publicIpAddress"]["id"].endswith("/publicIPAddresses/pip1"))
        self.assertTrue(nic["networkSecurityGroup"]["id"].endswith("/networkSecurityGroups/nsg1"))
        nic2 = az("nic", "create", "-n", "nic2", "--vnet-name", "v1", "--subnet", "default",
                  "--private-ip-address", "10.1.0.10")["NewNIC"]
        self.assertEqual(nic2["ipConfigurations"][0]["privateIpAddress"], "10.1.0.10")
        self.assertEqual(nic2["ipConfigurations"][0]["privateIpAllocationMethod"], "Static")
        self.assertIn("PrivateIPAddressInUse",
                      az_fail("nic", "create", "-n", "nic3", "--vnet-name", "v1", "--subnet",
                              "default", "--private-ip-address", "10.1.0.4"))
        self.assertIn("PublicIPAddressInUse",
                      az_fail("nic", "create", "-n", "nic3", "--vnet-name", "v1", "--subnet",
                              "default", "--public-ip-address", "pip1"))
        self.assertEqual(az("nic", "show", "-n", "nic1")["ipConfigurations"][0]["privateIpAddress"],
                         "10.1.0.4")
        self.assertEqual(sorted(x["name"] for x in az("nic", "list")), ["nic1", "nic2"])
        self.assertTrue(az("public-ip", "show", "-n", "pip1")["ipConfiguration"]["id"]
                        .endswith("/networkInterfaces/nic1/ipConfigurations/ipconfig1"))

        # What the interface uses cannot go while it does.
        self.assertIn("InUseSubnetCannotBeDeleted",
                      az_fail("vnet", "subnet", "delete", "--vnet-name", "v1", "-n", "default"))
        self.assertIn("InUseSubnetCannotBeDeleted", az_fail("vnet", "delete", "-n", "v1"))
        self.assertIn("InUseNetworkSecurityGroupCannotBeDeleted",
                      az_fail("nsg", "delete", "-n", "nsg1"))
        self.assertIn("PublicIPAddressInUse", az_fail("public-ip", "delete", "-n", "pip1"))

        # Deleted in order, each goes.
        for args in (("nic", "delete", "-n", "nic1"), ("nic", "delete", "-n", "nic2"),
                     ("public-ip", "delete", "-n", "pip1"), ("nsg", "rule", "delete",
                                                              "--nsg-name", "nsg1", "-n", "ssh"),
                     ("nsg", "delete", "-n", "nsg1"), ("vnet", "subnet", "delete",
                                                       "--vnet-name", "v1", "-n", "second"),
                     ("vnet", "delete", "-n", "v1")):
            p = srv.az("network", *args, "-g", RG)
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(az("nic", "list"), [])
        self.assertIn("ResourceNotFound", az_fail("public-ip", "show", "-n", "pip1"))
        self.assertIn("ResourceNotFound", az_fail("vnet", "show", "-n", "v1"))

    def test_group_delete_takes_everything(self):
        p = srv.az("group", "create", "-n", "netaz2", "-l", "eastus", "-o", "none")
        self.assertEqual(p.returncode, 0, p.stderr)
        for args in (("vnet", "create", "-n", "v", "--subnet-name", "s"),
                     ("public-ip", "create", "-n", "ip"),
                     ("nic", "create", "-n", "n", "--vnet-name", "v", "--subnet", "s",
                      "--public-ip-address", "ip")):
            p = srv.az("network", *args, "-g", "netaz2", "-o", "none")
            self.assertEqual(p.returncode, 0, p.stderr)
        p = srv.az("group", "delete", "-n", "netaz2", "--yes")
        self.assertEqual(p.returncode, 0, p.stderr)
        # The same names and addresses are free again.
        p = srv.az("group", "create", "-n", "netaz2", "-l", "eastus", "-o", "none")
        self.assertEqual(p.returncode, 0, p.stderr)
        srv.az("network", "vnet", "create", "-n", "v", "--subnet-name", "s", "-g", "netaz2",
               "-o", "none")
        out = srv.az_json("network", "nic", "create", "-n", "n", "--vnet-name", "v", "--subnet",
                          "s", "-g", "netaz2")
        self.assertEqual(out["NewNIC"]["ipConfigurations"][0]["privateIpAddress"], "10.0.0.4")


if __name__ == "__main__":
    unittest.main()
