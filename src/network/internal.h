/* internal.h: what the files of Microsoft.Network share: names, ids and CIDRs
 * (common.c), the two tables every type writes (network_ips: private
 * addresses in subnets; network_refs: which sub-resource uses which public
 * address or security group), child resources kept inside their parent's body
 * (child.c), and the types: virtual networks and subnets (vnet.c), security
 * groups (nsg.c), public addresses (publicip.c), interfaces (nic.c), load
 * balancers (lb.c).  Route rows are in provider.c's table. */
#ifndef AZLITE_NETWORK_INTERNAL_H
#define AZLITE_NETWORK_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "../arm/arm.h"
#include "../core/core.h"
#include "errors.h"
#include "network.h"

#define NETWORK_VNET_TYPE "Microsoft.Network/virtualNetworks"
#define NETWORK_NSG_TYPE "Microsoft.Network/networkSecurityGroups"
#define NETWORK_PIP_TYPE "Microsoft.Network/publicIPAddresses"
#define NETWORK_NIC_TYPE "Microsoft.Network/networkInterfaces"
#define NETWORK_LB_TYPE "Microsoft.Network/loadBalancers"

extern const provider network_provider;
/* The api-versions every Microsoft.Network type takes (provider.c). */
extern const char *const network_api_versions[];
extern const arm_type network_vnet_type, network_nsg_type, network_pip_type, network_nic_type,
    network_lb_type;

/* ---- names, ids, CIDRs (common.c) ---- */

/* Azure's rule for network resources and their children: 1-80 characters,
 * word characters, '.', '-', '_', starting with a word character and ending
 * with one or '_'. */
int network_name_valid(const char *name);
#define NETWORK_NAME_MESSAGE                                                                       \
  "Resource name %s is invalid. The name can be up to 80 characters long. It must begin with a "   \
  "word character, and it must end with a word character or with '_'. The name may contain "       \
  "word characters or '.', '-', '_'."

typedef struct network_cidr {
  uint32_t addr; /* host order */
  int len;       /* 0-32 */
} network_cidr;
/* "a.b.c.d" into host order; 0, or -1 when malformed. */
int network_ip_parse(const char *s, uint32_t *out);
void network_ip_format(uint32_t a, char out[16]);
/* "a.b.c.d/n": 0; -1 malformed; 1 well formed but with host bits set. */
int network_cidr_parse(const char *s, network_cidr *out);
uint32_t network_cidr_last(const network_cidr *c);
int network_cidr_contains(const network_cidr *outer, const network_cidr *inner);
int network_cidr_overlap(const network_cidr *a, const network_cidr *b);
/* Checks an address prefix the request gives for resource id: fails r with
 * InvalidAddressPrefixFormat / InvalidCIDRNotation and returns -1. */
int network_prefix_check(http_req *r, const char *prefix, const char *id, network_cidr *out);

/* The name of child entry e (a subnet, an IP configuration, ...) of parent:
 * valid, and none of done (the entries built so far) has it.  Fails r
 * (InvalidResourceName, DuplicateResourceName) and returns NULL. */
const char *network_child_name(http_req *r, const char *parent, const char *what, json_t *e,
                               json_t *done);
/* "<parent>/<kind>/<name>" (the reply of http_printf: lives with r). */
const char *network_sub_id(http_req *r, const char *parent, const char *kind, const char *name);
/* W/"<uuid>" as Azure's etags read. */
json_t *network_etag(void);
/* An enum value in its canonical spelling (case-insensitive), or NULL. */
const char *network_enum(const char *const *list, const char *v);
/* A property that must be one of list: the canonical spelling, dflt when
 * absent, or NULL after failing r with InvalidRequestFormat. */
const char *network_enum_prop(http_req *r, json_t *obj, const char *prop, const char *const *list,
                              const char *dflt);
/* {"id": ...} of obj[key] as a string, or NULL. */
const char *network_ref_id(json_t *obj, const char *key);
/* The stored body of a resource a request refers to (of type, and in
 * location when not NULL), or NULL after failing r with 400
 * InvalidResourceReference naming both.  Caller owns the reference. */
json_t *network_ref_require(http_req *r, const char *id, const char *type, const char *referrer,
                            const char *location);

/* ---- network_refs: who uses a public address or a security group ---- */

/* Forgets what resource res recorded (an update rewrites them all). */
int network_refs_clear(srv *s, const char *res);
/* Records that src (a sub-resource of res) uses dst. */
int network_ref_add(srv *s, const char *res, const char *src, const char *dst);
/* The first sub-resource using dst that is not res's (exclude_res NULL:
 * any), malloc'd, or NULL when none. */
char *network_ref_user(srv *s, const char *dst, const char *exclude_res);
/* Every src using dst whose id holds `kind` ("/networkInterfaces/"; NULL:
 * any), as [{id}] (new reference). */
json_t *network_ref_users(srv *s, const char *dst, const char *kind);

/* ---- subnets and their addresses (vnet.c) ---- */

typedef struct network_subnet {
  json_t *vnet;   /* the virtual network's stored body (owned) */
  json_t *subnet; /* its entry in properties.subnets (borrowed from vnet) */
  char vnet_id[512];
  char id[640]; /* canonical: the vnet's id, "/subnets/", the stored name */
  network_cidr cidr;
} network_subnet;
/* Finds a subnet by id (any case).  0, or -1 when there is none. */
int network_subnet_find(srv *s, const char *subnet_id, network_subnet *out);
void network_subnet_done(network_subnet *sn);

/* Claims an address in the subnet for owner: want 0 means the first free
 * one from .4 (the same one owner already holds there, if any); else that
 * address.  0 with out filled; NETWORK_IP_FULL, NETWORK_IP_TAKEN (taken_by
 * filled), NETWORK_IP_OUTSIDE, NETWORK_IP_RESERVED, or -1 on a store error. */
enum { NETWORK_IP_FULL = 1, NETWORK_IP_TAKEN, NETWORK_IP_OUTSIDE, NETWORK_IP_RESERVED };
int network_ip_claim(srv *s, const network_subnet *sn, const char *owner, uint32_t want,
                     char out[16], char *taken_by, size_t n);
/* Releases every address whose owner id starts with prefix (a resource id:
 * its sub-resources'), with or without a '/'-separated tail. */
int network_ips_release_prefix(srv *s, const char *prefix);
/* The addresses held under a prefix as {owner: address} (new reference). */
json_t *network_ips_held(srv *s, const char *prefix);
/* Fails r with 400 SubnetIsFull / PrivateIPAddressInUse / ... for the
 * result rc of network_ip_claim and returns -1 (0 when rc is 0). */
int network_ip_claim_fail(http_req *r, int rc, const network_subnet *sn, const char *owner,
                          const char *want, const char *taken_by);

/* ---- children kept in their parent's body (child.c) ---- */

/* Subnets of a virtual network, security rules of a group: the child's
 * routes rewrite the parent as a PUT of the whole parent would, through the
 * parent type's build and apply, so every check the parent makes holds. */
typedef struct network_child {
  const arm_type *parent;
  const char *param; /* the route parameter naming the parent: "vnet" */
  const char *prop;  /* the parent's array property: "subnets" */
} network_child;
extern const network_child network_subnet_child, network_rule_child, network_nat_rule_child;
void network_child_put(http_req *r);
void network_child_get(http_req *r);
void network_child_delete(http_req *r);
void network_child_list(http_req *r);

#endif
