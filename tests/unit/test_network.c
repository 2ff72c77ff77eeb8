/* test_network.c: what compute asks Microsoft.Network (network.h): a
 * subnet's addresses for scale-set instances (first free from .4, the same
 * one again for the same owner, none when full), host addresses in
 * 127.64.0.0/10, and attaching an interface to a VM (its MAC, the VM it
 * shows, the delete it then refuses); and the name and CIDR rules. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "network/internal.h"
#include "unit.h"

static srv S;

static void test_rules(void) {
  network_cidr c;
  CHECK(network_cidr_parse("10.0.0.0/24", &c) == 0 && c.len == 24 && c.addr == 0x0a000000u);
  CHECK(network_cidr_parse("10.0.0.1/24", &c) == 1);
  CHECK(network_cidr_parse("10.0.0.0/33", &c) == -1);
  CHECK(network_cidr_parse("10.0.0.0", &c) == -1 && network_cidr_parse("10.0.0/8", &c) == -1);
  CHECK(network_cidr_parse("10.0.0.256/32", &c) == -1 && network_cidr_parse(NULL, &c) == -1);
  CHECK(network_cidr_parse("+1.0.0.0/8", &c) == -1 && network_cidr_parse("1.0.0.0/+8", &c) == -1);
  network_cidr a = {0x0a000000u, 16}, b = {0x0a000100u, 24}, d = {0x0a010000u, 24};
  CHECK(network_cidr_contains(&a, &b) && !network_cidr_contains(&b, &a));
  CHECK(network_cidr_overlap(&a, &b) && network_cidr_overlap(&b, &a) &&
        !network_cidr_overlap(&b, &d));
  CHECK(network_cidr_last(&b) == 0x0a0001ffu);
  CHECK(network_name_valid("a") && network_name_valid("my-vnet.1_") && network_name_valid("A_b"));
  CHECK(!network_name_valid("") && !network_name_valid("-a") && !network_name_valid("a-"));
  CHECK(!network_name_valid("a.") && !network_name_valid("a/b") && !network_name_valid("a b"));
  char n81[82];
  memset(n81, 'a', 81);
  n81[81] = 0;
  CHECK(!network_name_valid(n81));
  n81[80] = 0;
  CHECK(network_name_valid(n81));
}

static char *put(const char *type, const char *name, json_t *props) {
  char *id = arm_resource_id(S.subscription_id, "g", type, name);
  json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", id, "name", name, "type", type, "location",
                        "eastus", "properties", props);
  CHECK(arm_resource_put(&S, id, type, b) == 0);
  json_decref(b);
  return id;
}

static void test_subnet_addresses(void) {
  char *vnet = put(NETWORK_VNET_TYPE, "v",
                   json_pack("{s:[{s:s,s:{s:s}}]}", "subnets", "name", "s", "properties",
                             "addressPrefix", "10.0.0.0/29"));
  char sid[700], upper[700], ip[64];
  snprintf(sid, sizeof sid, "%s/subnets/s", vnet);
  snprintf(upper, sizeof upper, "%s/SUBNETS/S", vnet);
  for (char *p = upper; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  CHECK(network_subnet_ip_allocate(&S, sid, "vmss/0", ip) == 0);
  CHECK_STR(ip, "10.0.0.4");
  CHECK(network_subnet_ip_allocate(&S, upper, "vmss/0", ip) == 0);
  CHECK_STR(ip, "10.0.0.4");
  CHECK(network_subnet_ip_allocate(&S, sid, "vmss/1", ip) == 0);
  CHECK_STR(ip, "10.0.0.5");
  CHECK(network_subnet_ip_allocate(&S, sid, "vmss/2", ip) == 0);
  CHECK_STR(ip, "10.0.0.6");
  /* A /29: .0-.3 and .7 are Azure's. */
  CHECK(network_subnet_ip_allocate(&S, sid, "vmss/3", ip) == -1);
  network_subnet_ip_release(&S, upper, "vmss/1");
  network_subnet_ip_release(&S, sid, "nobody");
  CHECK(network_subnet_ip_allocate(&S, sid, "vmss/3", ip) == 0);
  CHECK_STR(ip, "10.0.0.5");
  snprintf(upper, sizeof upper, "%s/subnets/nope", vnet);
  CHECK(network_subnet_ip_allocate(&S, upper, "vmss/4", ip) == -1);
  CHECK(network_subnet_ip_allocate(&S, "/nonsense", "vmss/4", ip) == -1);
  free(vnet);
}

static void test_host_addresses(void) {
  char a[64], b[64], again[64];
  CHECK(network_host_address_allocate(&S, "lb/fe", a) == 0);
  CHECK(network_host_address_allocate(&S, "LB/FE", again) == 0);
  CHECK_STR(a, again);
  CHECK(network_host_address_allocate(&S, "vmss/0", b) == 0);
  CHECK(strcmp(a, b) != 0);
  uint32_t v;
  CHECK(network_ip_parse(a, &v) == 0 && (v & 0xffc00000u) == 0x7f400000u);
  network_host_address_release(&S, "lb/fe");
  CHECK(network_host_address_allocate(&S, "lb/fe", again) == 0);
}

/* Runs the interface type's delete check on a fresh request; its status. */
static int nic_delete_status(const char *id) {
  http_req *r = http_req_detached(&S, LISTEN_MGMT, "DELETE", "/x");
  json_t *body = arm_resource_get(&S, id);
  int rc = network_nic_type.delete_check(r, body);
  const char *code = NULL, *m = NULL;
  int st = http_reply_status(r, &code, &m);
  CHECK((rc == 0) == (st == 0));
  if (st) CHECK_STR(code, "NicInUse");
  json_decref(body);
  http_req_free(r);
  return st;
}

static void test_nic_attach(void) {
  char *pip = put(NETWORK_PIP_TYPE, "ip", json_pack("{s:s}", "ipAddress", "127.65.1.2"));
  char *nic = put(NETWORK_NIC_TYPE, "n",
                  json_pack("{s:[{s:s,s:{s:s,s:{s:s},s:{s:s}}}]}", "ipConfigurations", "name",
                            "ipconfig1", "properties", "privateIPAddress", "10.0.0.4", "subnet",
                            "id", "/x/subnets/s", "publicIPAddress", "id", pip));
  network_nic_info info;
  CHECK(network_nic_info_get(&S, nic, &info) == 0);
  CHECK_STR(info.private_ip, "10.0.0.4");
  CHECK_STR(info.subnet_id, "/x/subnets/s");
  CHECK_STR(info.public_ip, "127.65.1.2");
  CHECK_STR(info.public_ip_id, pip);
  CHECK_STR(info.vm_id, "");
  CHECK_STR(info.mac, "");
  CHECK(nic_delete_status(nic) == 0);
  CHECK(store_begin(&S) == 0);
  CHECK(network_nic_attach(&S, nic, "/vms/a") == 0);
  CHECK(network_nic_attach(&S, nic, "/VMS/A") == 0);
  CHECK(network_nic_attach(&S, nic, "/vms/b") == -1);
  CHECK(store_commit(&S) == 0);
  CHECK(network_nic_info_get(&S, nic, &info) == 0);
  CHECK_STR(info.vm_id, "/vms/a");
  CHECK(strlen(info.mac) == 17 && !strncmp(info.mac, "00-0D-3A-", 9));
  char mac[32];
  snprintf(mac, sizeof mac, "%s", info.mac);
  CHECK(nic_delete_status(nic) == 400);
  CHECK(network_nic_detach(&S, nic, "/vms/b") == 0); /* not its VM: nothing changes */
  CHECK(network_nic_info_get(&S, nic, &info) == 0 && !strcmp(info.vm_id, "/vms/a"));
  CHECK(network_nic_detach(&S, nic, "/vms/a") == 0);
  CHECK(network_nic_info_get(&S, nic, &info) == 0);
  CHECK_STR(info.vm_id, "");
  CHECK_STR(info.mac, mac); /* the MAC stays with the interface */
  CHECK(nic_delete_status(nic) == 0);
  CHECK(network_nic_attach(&S, nic, "/vms/b") == 0);
  CHECK(network_nic_info_get(&S, pip, &info) == -1); /* not an interface */
  CHECK(network_nic_info_get(&S, "/no/such", &info) == -1);
  CHECK(network_nic_attach(&S, "/no/such", "/vms/a") == -1);
  free(pip);
  free(nic);
}

UNIT_MAIN("network", {
  char dir[] = "/tmp/azlite-network-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  srv_config_defaults(&S.cfg);
  S.cfg.data_dir = dir;
  CHECK(srv_open(&S) == 0);
  CHECK(store_exec(&S,
                   "INSERT INTO resource_groups(subscription,name,location,state,created_ms) "
                   "VALUES(%Q,'g','eastus','Succeeded',0)",
                   S.subscription_id) == 0);
  test_rules();
  test_subnet_addresses();
  test_host_addresses();
  test_nic_attach();
  srv_close(&S);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
})
