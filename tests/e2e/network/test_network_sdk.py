"""Microsoft.Network through the Python SDK (Debian azure-mgmt-network, its
default api-version 2022-07-01): virtual networks and subnets, security
groups and rules, public IPs, interfaces and load balancers made with
begin_create_or_update (the pollers finish), addresses handed out as Azure
does (.4 then .5; a static address in use refused), and the deletes Azure
refuses while something still uses what would go."""
import ipaddress
import unittest

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.network import NetworkManagementClient

from azlite_harness import Azlite

srv = None
net = None
SUB = None
RG = "netsdk"


def setUpModule():
    global srv, net, SUB
    srv = Azlite().start()
    e = srv.env
    SUB = e["AZURE_SUBSCRIPTION_ID"]
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    net = NetworkManagementClient(cred, SUB, base_url=srv.mgmt_url, connection_verify=srv.ca,
                                  credential_scopes=[srv.mgmt_url + "/.default"],
                                  polling_interval=0.1)
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, RG),
                 json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text


def tearDownModule():
    srv.cleanup()


def code(ctx):
    return ctx.exception.error.code if ctx.exception.error else None


def vnet(name, space="10.0.0.0/16", subnets=(("default", "10.0.0.0/24"),)):
    return net.virtual_networks.begin_create_or_update(RG, name, {
        "location": "eastus",
        "address_space": {"address_prefixes": [space]},
        "subnets": [{"name": n, "address_prefix": p} for n, p in subnets],
    }).result()


def nic(name, subnet_id, static=None, pip_id=None, nsg_id=None):
    cfg = {"name": "ipconfig1", "subnet": {"id": subnet_id}}
    if static:
        cfg.update(private_ip_allocation_method="Static", private_ip_address=static)
    if pip_id:
        cfg["public_ip_address"] = {"id": pip_id}
    body = {"location": "eastus", "ip_configurations": [cfg]}
    if nsg_id:
        body["network_security_group"] = {"id": nsg_id}
    return net.network_interfaces.begin_create_or_update(RG, name, body).result()


class VirtualNetworks(unittest.TestCase):
    def test_create_with_subnets_and_child_subnets(self):
        v = vnet("v-sdk", subnets=(("a", "10.0.0.0/24"),))
        self.assertEqual(v.provisioning_state, "Succeeded")
        self.assertEqual(v.address_space.address_prefixes, ["10.0.0.0/16"])
        self.assertEqual([s.name for s in v.subnets], ["a"])
        s = net.subnets.begin_create_or_update(RG, "v-sdk", "b",
                                               {"address_prefix": "10.0.1.0/24"}).result()
        self.assertEqual((s.name, s.address_prefix), ("b", "10.0.1.0/24"))
        self.assertTrue(s.id.endswith("/virtualNetworks/v-sdk/subnets/b"), s.id)
        # The child is shown inside the network, and listed.
        self.assertEqual(sorted(x.name for x in net.virtual_networks.get(RG, "v-sdk").subnets),
                         ["a", "b"])
        self.assertEqual(sorted(x.name for x in net.subnets.list(RG, "v-sdk")), ["a", "b"])
        self.assertEqual(net.subnets.get(RG, "v-sdk", "b").address_prefix, "10.0.1.0/24")
        net.subnets.begin_delete(RG, "v-sdk", "b").result()
        with self.assertRaises(ResourceNotFoundError):
            net.subnets.get(RG, "v-sdk", "b")
        self.assertIn("v-sdk", [x.name for x in net.virtual_networks.list(RG)])
        self.assertIn("v-sdk", [x.name for x in net.virtual_networks.list_all()])

    def test_subnet_checks(self):
        vnet("v-chk", subnets=(("a", "10.0.0.0/24"),))
        for prefix, want in (("10.1.0.0/24", "NetcfgSubnetRangeOutsideVnet"),
                             ("10.0.0.128/25", "NetcfgSubnetRangesOverlap"),
                             ("10.0.2.1/24", "InvalidCIDRNotation"),
                             ("10.0.2.0/30", "NetcfgInvalidSubnet"),
                             ("banana", "InvalidAddressPrefixFormat")):
            with self.assertRaises(HttpResponseError) as c:
                net.subnets.begin_create_or_update(RG, "v-chk", "b",
                                                   {"address_prefix": prefix}).result()
            self.assertEqual(code(c), want, prefix)
        # Nothing was saved by the refused writes.
        self.assertEqual([s.name for s in net.subnets.list(RG, "v-chk")], ["a"])
        with self.assertRaises(HttpResponseError) as c:
            vnet("v-bad", space="10.0.0.0/16", subnets=(("x", "10.0.0.0/24"), ("y", "10.0.0.0/23")))
        self.assertEqual(code(c), "NetcfgSubnetRangesOverlap")
        with self.assertRaises(ResourceNotFoundError):
            net.virtual_networks.get(RG, "v-bad")


class SecurityGroups(unittest.TestCase):
    def test_rules_and_defaults(self):
        g = net.network_security_groups.begin_create_or_update(RG, "nsg-sdk", {
            "location": "eastus",
            "security_rules": [{"name": "ssh", "protocol": "Tcp", "access": "Allow",
                                "direction": "Inbound", "priority": 1000,
                                "source_port_range": "*", "destination_port_range": "22",
                                "source_address_prefix": "*", "destination_address_prefix": "*"}],
        }).result()
        self.assertEqual([d.name for d in g.default_security_rules],
                         ["AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound",
                          "AllowVnetOutBound", "AllowInternetOutBound", "DenyAllOutBound"])
        self.assertEqual([d.priority for d in g.default_security_rules],
                         [65000, 65001, 65500, 65000, 65001, 65500])
        rule = net.security_rules.begin_create_or_update(RG, "nsg-sdk", "http", {
            "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 1010,
            "source_port_range": "*", "destination_port_ranges": ["80", "8080"],
            "source_address_prefix": "Internet", "destination_address_prefix": "*"}).result()
        self.assertEqual(rule.destination_port_ranges, ["80", "8080"])
        self.assertEqual(sorted(r.name for r in net.security_rules.list(RG, "nsg-sdk")),
                         ["http", "ssh"])
        # Same priority and direction as another rule: refused.
        with self.assertRaises(HttpResponseError) as c:
            net.security_rules.begin_create_or_update(RG, "nsg-sdk", "dup", {
                "protocol": "Udp", "access": "Deny", "direction": "Inbound", "priority": 1000,
                "source_port_range": "*", "destination_port_range": "53",
                "source_address_prefix": "*", "destination_address_prefix": "*"}).result()
        self.assertEqual(code(c), "SecurityRuleConflict")
        # The same priority the other way is fine.
        net.security_rules.begin_create_or_update(RG, "nsg-sdk", "out", {
            "protocol": "*", "access": "Deny", "direction": "Outbound", "priority": 1000,
            "source_port_range": "*", "destination_port_range": "*",
            "source_address_prefix": "*", "destination_address_prefix": "*"}).result()
        with self.assertRaises(HttpResponseError) as c:
            net.security_rules.begin_create_or_update(RG, "nsg-sdk", "low", {
                "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 50,
                "source_port_range": "*", "destination_port_range": "1",
                "source_address_prefix": "*", "destination_address_prefix": "*"}).result()
        self.assertEqual(code(c), "SecurityRuleInvalidPriority")
        # A subnet that names the group: shown on the group, which cannot go.
        vnet("v-nsg", subnets=(("a", "10.0.0.0/24"),))
        s = net.subnets.begin_create_or_update(RG, "v-nsg", "a", {
            "address_prefix": "10.0.0.0/24", "network_security_group": {"id": g.id}}).result()
        self.assertEqual(s.network_security_group.id.lower(), g.id.lower())
        self.assertEqual([x.id.lower() for x in net.network_security_groups.get(RG, "nsg-sdk").subnets],
                         [s.id.lower()])
        with self.assertRaises(HttpResponseError) as c:
            net.network_security_groups.begin_delete(RG, "nsg-sdk").result()
        self.assertEqual(code(c), "InUseNetworkSecurityGroupCannotBeDeleted")
        with self.assertRaises(HttpResponseError) as c:
            net.subnets.begin_create_or_update(RG, "v-nsg", "b", {
                "address_prefix": "10.0.1.0/24",
                "network_security_group": {"id": g.id.replace("nsg-sdk", "nsg-none")}}).result()
        self.assertEqual(code(c), "InvalidResourceReference")
        net.virtual_networks.begin_delete(RG, "v-nsg").result()
        net.security_rules.begin_delete(RG, "nsg-sdk", "http").result()
        self.assertEqual(sorted(r.name for r in net.security_rules.list(RG, "nsg-sdk")),
                         ["out", "ssh"])


class Interfaces(unittest.TestCase):
    def test_addresses_public_ips_and_refusals(self):
        v = vnet("v-nic", space="10.5.0.0/16",
                 subnets=(("default", "10.5.0.0/24"), ("tiny", "10.5.1.0/29")))
        sub = {s.name: s.id for s in v.subnets}
        pip = net.public_ip_addresses.begin_create_or_update(RG, "pip-sdk", {
            "location": "eastus", "sku": {"name": "Standard"},
            "public_ip_allocation_method": "Static"}).result()
        self.assertIn(ipaddress.ip_address(pip.ip_address), ipaddress.ip_network("127.64.0.0/10"))
        self.assertEqual((pip.sku.name, pip.public_ip_allocation_method), ("Standard", "Static"))
        g = net.network_security_groups.begin_create_or_update(
            RG, "nsg-nic", {"location": "eastus"}).result()
        a = nic("nic-a", sub["default"], pip_id=pip.id, nsg_id=g.id)
        b = nic("nic-b", sub["default"])
        self.assertEqual(a.ip_configurations[0].private_ip_address, "10.5.0.4")
        self.assertEqual(b.ip_configurations[0].private_ip_address, "10.5.0.5")
        self.assertEqual(a.ip_configurations[0].private_ip_allocation_method, "Dynamic")
        self.assertEqual(a.ip_configurations[0].public_ip_address.id.lower(), pip.id.lower())
        self.assertTrue(a.ip_configurations[0].primary)
        # An update keeps a dynamic address.
        a = nic("nic-a", sub["default"], pip_id=pip.id, nsg_id=g.id)
        self.assertEqual(a.ip_configurations[0].private_ip_address, "10.5.0.4")
        # What the public IP, the group and the subnet show of their users.
        self.assertTrue(net.public_ip_addresses.get(RG, "pip-sdk").ip_configuration.id.lower()
                        .endswith("/networkinterfaces/nic-a/ipconfigurations/ipconfig1"))
        self.assertEqual([n.id.lower() for n in
                          net.network_security_groups.get(RG, "nsg-nic").network_interfaces],
                         [a.id.lower()])
        self.assertEqual(len(net.subnets.get(RG, "v-nic", "default").ip_configurations), 2)
        # Static: a free address is taken; one in use, outside or reserved is refused.
        c_ = nic("nic-c", sub["default"], static="10.5.0.20")
        self.assertEqual(c_.ip_configurations[0].private_ip_address, "10.5.0.20")
        self.assertEqual(c_.ip_configurations[0].private_ip_allocation_method, "Static")
        for addr, want in (("10.5.0.5", "PrivateIPAddressInUse"),
                           ("10.5.9.9", "PrivateIPAddressNotInSubnet"),
                           ("10.5.0.2", "PrivateIPAddressInReservedRange"),
                           ("10.5.0.255", "PrivateIPAddressInReservedRange")):
            with self.assertRaises(HttpResponseError) as c:
                nic("nic-d", sub["default"], static=addr)
            self.assertEqual(code(c), want, addr)
        with self.assertRaises(ResourceNotFoundError):
            net.network_interfaces.get(RG, "nic-d")
        # The next dynamic one skips the static address.
        self.assertEqual(nic("nic-e", sub["default"]).ip_configurations[0].private_ip_address,
                         "10.5.0.6")
        # One public IP, one interface.
        with self.assertRaises(HttpResponseError) as c:
            nic("nic-f", sub["default"], pip_id=pip.id)
        self.assertEqual(code(c), "PublicIPAddressInUse")
        # A missing subnet.
        with self.assertRaises(HttpResponseError) as c:
            nic("nic-g", sub["default"].replace("/subnets/default", "/subnets/nope"))
        self.assertEqual(code(c), "InvalidResourceReference")
        # A /29 has 3 addresses for interfaces (.4, .5, .6).
        got = [nic("t%d" % i, sub["tiny"]).ip_configurations[0].private_ip_address
               for i in range(3)]
        self.assertEqual(got, ["10.5.1.4", "10.5.1.5", "10.5.1.6"])
        with self.assertRaises(HttpResponseError) as c:
            nic("t3", sub["tiny"])
        self.assertEqual(code(c), "SubnetIsFull")
        # Deletes refused while in use.
        for call, want in ((lambda: net.public_ip_addresses.begin_delete(RG, "pip-sdk").result(),
                            "PublicIPAddressInUse"),
                           (lambda: net.network_security_groups.begin_delete(RG, "nsg-nic").result(),
                            "InUseNetworkSecurityGroupCannotBeDeleted"),
                           (lambda: net.subnets.begin_delete(RG, "v-nic", "default").result(),
                            "InUseSubnetCannotBeDeleted"),
                           (lambda: net.virtual_networks.begin_delete(RG, "v-nic").result(),
                            "InUseSubnetCannotBeDeleted")):
            with self.assertRaises(HttpResponseError) as c:
                call()
            self.assertEqual(code(c), want)
        # Once the interface goes, its address, public IP and group are free.
        net.network_interfaces.begin_delete(RG, "nic-a").result()
        with self.assertRaises(ResourceNotFoundError):
            net.network_interfaces.get(RG, "nic-a")
        self.assertEqual(nic("nic-h", sub["default"]).ip_configurations[0].private_ip_address,
                         "10.5.0.4")
        net.network_security_groups.begin_delete(RG, "nsg-nic").result()
        net.public_ip_addresses.begin_delete(RG, "pip-sdk").result()
        with self.assertRaises(ResourceNotFoundError):
            net.public_ip_addresses.get(RG, "pip-sdk")

    def test_public_ips_are_unique_and_kept(self):
        made = [net.public_ip_addresses.begin_create_or_update(
            RG, "pu%d" % i, {"location": "eastus"}).result() for i in range(8)]
        addrs = [p.ip_address for p in made]
        self.assertEqual(len(set(addrs)), 8, addrs)
        self.assertEqual(made[0].sku.name, "Basic")
        self.assertEqual(made[0].public_ip_allocation_method, "Dynamic")
        # An update keeps the address.
        again = net.public_ip_addresses.begin_create_or_update(
            RG, "pu0", {"location": "eastus", "idle_timeout_in_minutes": 10}).result()
        self.assertEqual((again.ip_address, again.idle_timeout_in_minutes), (addrs[0], 10))
        with self.assertRaises(HttpResponseError) as c:
            net.public_ip_addresses.begin_create_or_update(RG, "pu-bad", {
                "location": "eastus", "sku": {"name": "Standard"},
                "public_ip_allocation_method": "Dynamic"}).result()
        self.assertEqual(code(c), "StandardSkuPublicIPAddressesMustBeStatic")


class LoadBalancers(unittest.TestCase):
    def test_frontend_pool_rules(self):
        pip = net.public_ip_addresses.begin_create_or_update(
            RG, "pip-lb", {"location": "eastus"}).result()
        lb_id = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/loadBalancers/lb1" % (
            SUB, RG)
        body = {
            "location": "eastus",
            "frontend_ip_configurations": [{"name": "fe", "public_ip_address": {"id": pip.id}}],
            "backend_address_pools": [{"name": "pool"}],
            "probes": [{"name": "p22", "protocol": "Tcp", "port": 22}],
            "load_balancing_rules": [{
                "name": "r80", "protocol": "Tcp", "frontend_port": 80, "backend_port": 80,
                "frontend_ip_configuration": {"id": lb_id + "/frontendIPConfigurations/fe"},
                "backend_address_pool": {"id": lb_id + "/backendAddressPools/pool"},
                "probe": {"id": lb_id + "/probes/p22"}}],
            "inbound_nat_pools": [{
                "name": "nat", "protocol": "Tcp", "frontend_port_range_start": 50000,
                "frontend_port_range_end": 50119, "backend_port": 22,
                "frontend_ip_configuration": {"id": lb_id + "/frontendIPConfigurations/fe"}}],
        }
        lb = net.load_balancers.begin_create_or_update(RG, "lb1", body).result()
        self.assertEqual(lb.provisioning_state, "Succeeded")
        self.assertEqual(lb.load_balancing_rules[0].probe.id.lower(),
                         (lb_id + "/probes/p22").lower())
        self.assertEqual(lb.inbound_nat_pools[0].frontend_port_range_end, 50119)
        self.assertTrue(net.public_ip_addresses.get(RG, "pip-lb").ip_configuration.id.lower()
                        .endswith("/loadbalancers/lb1/frontendipconfigurations/fe"))
        with self.assertRaises(HttpResponseError) as c:
            net.public_ip_addresses.begin_delete(RG, "pip-lb").result()
        self.assertEqual(code(c), "PublicIPAddressInUse")
        # A rule naming a probe the balancer does not have.
        body["load_balancing_rules"][0]["probe"] = {"id": lb_id + "/probes/nope"}
        with self.assertRaises(HttpResponseError) as c:
            net.load_balancers.begin_create_or_update(RG, "lb1", body).result()
        self.assertEqual(code(c), "InvalidResourceReference")
        net.load_balancers.begin_delete(RG, "lb1").result()
        net.public_ip_addresses.begin_delete(RG, "pip-lb").result()


class Templates(unittest.TestCase):
    """The network resources `az vm create` and `az vmss create` put in their
    templates (their api-versions, 2015-06-15 to 2018-11-01; ports as
    strings; a NAT rule as a child of the balancer) deploy."""

    def test_vm_and_vmss_shaped_template(self):
        lb = "[resourceId('Microsoft.Network/loadBalancers', 'vmssLB')]"
        blb = "[resourceId('Microsoft.Network/loadBalancers', 'basicLB')]"
        subnet = "[concat(resourceId('Microsoft.Network/virtualNetworks', 'vmssVNET'), '/subnets/vmssSubnet')]"
        template = {
            "$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "resources": [
                {"type": "Microsoft.Network/virtualNetworks", "name": "vmssVNET",
                 "apiVersion": "2015-06-15", "location": "eastus",
                 "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                                "subnets": [{"name": "vmssSubnet",
                                             "properties": {"addressPrefix": "10.0.0.0/24"}}]}},
                {"type": "Microsoft.Network/networkSecurityGroups", "name": "vmssNSG",
                 "apiVersion": "2015-06-15", "location": "eastus",
                 "properties": {"securityRules": [{"name": "default-allow-ssh", "properties": {
                     "protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22",
                     "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                     "access": "Allow", "priority": 1000, "direction": "Inbound"}}]}},
                {"type": "Microsoft.Network/publicIPAddresses", "name": "vmssLBPublicIP",
                 "apiVersion": "2018-11-01", "location": "eastus", "sku": {"name": "Standard"},
                 "properties": {"publicIPAllocationMethod": "Static"}},
                {"type": "Microsoft.Network/loadBalancers", "name": "vmssLB",
                 "apiVersion": "2018-11-01", "location": "eastus", "sku": {"name": "Standard"},
                 "dependsOn": ["Microsoft.Network/publicIPAddresses/vmssLBPublicIP"],
                 "properties": {
                     "backendAddressPools": [{"name": "vmssLBBEPool"}],
                     "frontendIPConfigurations": [{"name": "loadBalancerFrontEnd", "properties": {
                         "publicIPAddress": {"id": "[resourceId('Microsoft.Network/publicIPAddresses', 'vmssLBPublicIP')]"}}}],
                     "loadBalancingRules": [{"name": "LBRule", "properties": {
                         "frontendIPConfiguration": {"id": "[concat(%s, '/frontendIPConfigurations/', 'loadBalancerFrontEnd')]" % lb[1:-1]},
                         "backendAddressPool": {"id": "[concat(%s, '/backendAddressPools/', 'vmssLBBEPool')]" % lb[1:-1]},
                         "protocol": "tcp", "frontendPort": 80, "backendPort": 80,
                         "enableFloatingIP": False, "idleTimeoutInMinutes": 5}}]}},
                {"type": "Microsoft.Network/loadBalancers/inboundNatRules", "name": "vmssLB/NatRule",
                 "apiVersion": "2018-11-01", "location": "eastus",
                 "dependsOn": ["[concat('Microsoft.Network/loadBalancers/', 'vmssLB')]"],
                 "properties": {
                     "frontendIPConfiguration": {"id": "[concat(%s, '/frontendIPConfigurations/', 'loadBalancerFrontEnd')]" % lb[1:-1]},
                     "backendAddressPool": {"id": "[concat(%s, '/backendAddressPools/', 'vmssLBBEPool')]" % lb[1:-1]},
                     "backendPort": 22, "frontendPortRangeStart": "50000",
                     "frontendPortRangeEnd": "50119", "protocol": "tcp",
                     "idleTimeoutInMinutes": 5}},
                {"type": "Microsoft.Network/publicIPAddresses", "name": "basicIP",
                 "apiVersion": "2018-11-01", "location": "eastus",
                 "properties": {"publicIPAllocationMethod": "Dynamic"}},
                {"type": "Microsoft.Network/loadBalancers", "name": "basicLB",
                 "apiVersion": "2018-11-01", "location": "eastus",
                 "dependsOn": ["Microsoft.Network/publicIPAddresses/basicIP"],
                 "properties": {
                     "backendAddressPools": [{"name": "pool"}],
                     "frontendIPConfigurations": [{"name": "loadBalancerFrontEnd", "properties": {
                         "publicIPAddress": {"id": "[resourceId('Microsoft.Network/publicIPAddresses', 'basicIP')]"}}}],
                     "inboundNatPools": [{"name": "basicLBNatPool", "properties": {
                         "frontendIPConfiguration": {"id": "[concat(%s, '/frontendIPConfigurations/', 'loadBalancerFrontEnd')]" % blb[1:-1]},
                         "protocol": "tcp", "frontendPortRangeStart": "50000",
                         "frontendPortRangeEnd": "50119", "backendPort": 22}}]}},
                {"type": "Microsoft.Network/networkInterfaces", "name": "vmNic",
                 "apiVersion": "2015-06-15", "location": "eastus",
                 "dependsOn": ["Microsoft.Network/virtualNetworks/vmssVNET",
                               "Microsoft.Network/networkSecurityGroups/vmssNSG"],
                 "properties": {
                     "ipConfigurations": [{"name": "ipconfigvm", "properties": {
                         "privateIPAllocationMethod": "Dynamic", "subnet": {"id": subnet}}}],
                     "networkSecurityGroup": {"id": "[resourceId('Microsoft.Network/networkSecurityGroups', 'vmssNSG')]"}}},
            ],
        }
        path = ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Resources/deployments/"
                "netdeploy?api-version=2021-04-01" % (SUB, RG))
        r = srv.http("PUT", path, json={"properties": {"mode": "Incremental", "template": template}})
        self.assertIn(r.status_code, (200, 201), r.text)
        import time
        deadline, state = time.time() + 60, None
        while time.time() < deadline:
            state = srv.http("GET", path).json()["properties"]["provisioningState"]
            if state not in ("Accepted", "Running"):
                break
            time.sleep(0.2)
        if state != "Succeeded":
            ops = srv.http("GET", path.replace("?", "/operations?")).text
            self.fail("deployment %s: %s" % (state, ops))
        got = net.load_balancers.get(RG, "vmssLB")
        self.assertEqual(got.sku.name, "Standard")
        self.assertEqual([n.name for n in got.inbound_nat_rules], ["NatRule"])
        self.assertEqual(got.inbound_nat_rules[0].frontend_port_range_end, 50119)
        self.assertEqual(net.inbound_nat_rules.get(RG, "vmssLB", "NatRule").backend_port, 22)
        basic = net.load_balancers.get(RG, "basicLB")
        self.assertEqual(basic.inbound_nat_pools[0].frontend_port_range_start, 50000)
        self.assertEqual(net.network_interfaces.get(RG, "vmNic").ip_configurations[0]
                         .private_ip_address, "10.0.0.4")


if __name__ == "__main__":
    unittest.main()
