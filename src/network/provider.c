/* provider.c: Microsoft.Network: the one table of every URL it serves, its
 * schema and its resource types.  Virtual networks and subnets are in
 * vnet.c, security groups in nsg.c, public addresses in publicip.c,
 * interfaces in nic.c, load balancers in lb.c; children kept in their
 * parent's body (subnets, security rules) are served by child.c.  What
 * compute uses is network.h. */
#include "internal.h"

#define NETWORK_CHILD_ROW_(m, p, f, d)                                                             \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .data = d                                                               \
  }

#define NETWORK_RG "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
#define NETWORK_VNET NETWORK_RG "/virtualNetworks/{vnet}"
#define NETWORK_NSG NETWORK_RG "/networkSecurityGroups/{nsg}"
#define NETWORK_LB NETWORK_RG "/loadBalancers/{lb}"

static const route network_routes[] = {
    /* ---- virtual networks and their subnets (vnet.c, child.c) ---- */
    ARM_TRACKED_ROUTES(NETWORK_VNET_TYPE, &network_vnet_type),
    NETWORK_CHILD_ROW_("GET", NETWORK_VNET "/subnets", network_child_list, &network_subnet_child),
    NETWORK_CHILD_ROW_("PUT", NETWORK_VNET "/subnets/{name}", network_child_put,
                       &network_subnet_child),
    NETWORK_CHILD_ROW_("GET", NETWORK_VNET "/subnets/{name}", network_child_get,
                       &network_subnet_child),
    NETWORK_CHILD_ROW_("DELETE", NETWORK_VNET "/subnets/{name}", network_child_delete,
                       &network_subnet_child),
    /* ---- security groups and their rules (nsg.c, child.c) ---- */
    ARM_TRACKED_ROUTES(NETWORK_NSG_TYPE, &network_nsg_type),
    NETWORK_CHILD_ROW_("GET", NETWORK_NSG "/securityRules", network_child_list,
                       &network_rule_child),
    NETWORK_CHILD_ROW_("PUT", NETWORK_NSG "/securityRules/{name}", network_child_put,
                       &network_rule_child),
    NETWORK_CHILD_ROW_("GET", NETWORK_NSG "/securityRules/{name}", network_child_get,
                       &network_rule_child),
    NETWORK_CHILD_ROW_("DELETE", NETWORK_NSG "/securityRules/{name}", network_child_delete,
                       &network_rule_child),
    /* ---- public addresses, interfaces ---- */
    ARM_TRACKED_ROUTES(NETWORK_PIP_TYPE, &network_pip_type),
    ARM_TRACKED_ROUTES(NETWORK_NIC_TYPE, &network_nic_type),
    /* ---- load balancers and their inbound NAT rules (lb.c, child.c) ---- */
    ARM_TRACKED_ROUTES(NETWORK_LB_TYPE, &network_lb_type),
    NETWORK_CHILD_ROW_("GET", NETWORK_LB "/inboundNatRules", network_child_list,
                       &network_nat_rule_child),
    NETWORK_CHILD_ROW_("PUT", NETWORK_LB "/inboundNatRules/{name}", network_child_put,
                       &network_nat_rule_child),
    NETWORK_CHILD_ROW_("GET", NETWORK_LB "/inboundNatRules/{name}", network_child_get,
                       &network_nat_rule_child),
    NETWORK_CHILD_ROW_("DELETE", NETWORK_LB "/inboundNatRules/{name}", network_child_delete,
                       &network_nat_rule_child),
    {.pattern = NULL},
};

static const char *const network_schema_scripts[] = {
    /* Version 1.  network_ips: private addresses handed out in subnets, one
     * per owner (an IP configuration's or frontend's id, or a scale-set
     * instance) and subnet, unique in the virtual network.  network_refs: a
     * sub-resource src of resource res uses dst (a public address or a
     * security group).  network_host_addrs: the 127.x.y.z addresses of this
     * machine handed out as public addresses, unique. */
    "CREATE TABLE network_ips(vnet TEXT NOT NULL COLLATE NOCASE,"
    " subnet TEXT NOT NULL COLLATE NOCASE, addr INTEGER NOT NULL,"
    " owner TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY(vnet, addr), UNIQUE(subnet, owner));"
    "CREATE INDEX network_ips_owner ON network_ips(owner);"
    "CREATE TABLE network_refs(res TEXT NOT NULL COLLATE NOCASE, src TEXT NOT NULL COLLATE NOCASE,"
    " dst TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY(src, dst));"
    "CREATE INDEX network_refs_dst ON network_refs(dst);"
    "CREATE INDEX network_refs_res ON network_refs(res);"
    "CREATE TABLE network_host_addrs(addr TEXT PRIMARY KEY,"
    " owner TEXT NOT NULL UNIQUE COLLATE NOCASE);",
};

/* Newest first (the contract test uses the first): what Debian's
 * azure-mgmt-network defaults to (2022-07-01), what az 2.45's
 * 2020-09-01-hybrid profile sends (2018-11-01), and down to what the
 * templates of `az vm create` / `az vmss create` still name (2015-06-15 for
 * their networks, security groups and interfaces). */
const char *const network_api_versions[] = {
    "2022-07-01", "2022-05-01", "2022-01-01", "2021-08-01", "2021-05-01", "2021-03-01",
    "2021-02-01", "2020-11-01", "2020-08-01", "2020-07-01", "2020-06-01", "2020-05-01",
    "2020-04-01", "2020-03-01", "2019-12-01", "2019-11-01", "2019-09-01", "2019-08-01",
    "2019-07-01", "2019-06-01", "2019-04-01", "2019-02-01", "2018-12-01", "2018-11-01",
    "2018-10-01", "2018-08-01", "2018-07-01", "2018-06-01", "2018-04-01", "2018-02-01",
    "2018-01-01", "2017-11-01", "2017-10-01", "2017-09-01", "2017-08-01", "2017-06-01",
    "2017-04-01", "2017-03-01", "2016-12-01", "2016-11-01", "2016-10-01", "2016-09-01",
    "2016-06-01", "2016-03-30", "2015-06-15", NULL};

static const resource_type network_resource_types[] = {
    {.type = NETWORK_VNET_TYPE,
     .api_versions = network_api_versions,
     .generic = &network_vnet_type},
    {.type = NETWORK_NSG_TYPE, .api_versions = network_api_versions, .generic = &network_nsg_type},
    {.type = NETWORK_PIP_TYPE, .api_versions = network_api_versions, .generic = &network_pip_type},
    {.type = NETWORK_NIC_TYPE, .api_versions = network_api_versions, .generic = &network_nic_type},
    {.type = NETWORK_LB_TYPE, .api_versions = network_api_versions, .generic = &network_lb_type},
    {.type = NULL},
};

const provider network_provider = {
    .name = "Microsoft.Network",
    .routes = network_routes,
    .nroutes = (int)(sizeof network_routes / sizeof network_routes[0]) - 1,
    .schema = {network_schema_scripts,
               (int)(sizeof network_schema_scripts / sizeof network_schema_scripts[0])},
    .resource_types = network_resource_types,
};
