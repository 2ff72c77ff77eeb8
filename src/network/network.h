/* network.h: what other providers (compute) use from Microsoft.Network: a
 * network interface's addresses, attaching it to a VM, and private addresses
 * in a subnet for scale-set instances.
 *
 * Public IP addresses are real addresses on this machine: each gets a unique
 * 127.x.y.z (drawn at random in 127.64.0.0/10 and kept, so two data dirs
 * rarely collide), which reaches the VM behind it (compute forwards ssh). */
#ifndef AZLITE_NETWORK_H
#define AZLITE_NETWORK_H

#include "../core/core.h"

typedef struct network_nic_info {
  char private_ip[64]; /* "10.0.0.4" */
  char subnet_id[512];
  char public_ip[64];     /* "127.83.12.9", or "" when the NIC has none */
  char public_ip_id[512]; /* "" when none */
  char mac[32];           /* "00-0D-3A-..." as Azure shows it */
  char vm_id[512];        /* the VM it is attached to, or "" */
} network_nic_info;

/* The NIC's addresses (nic_id: full resource id, any case).  0, or -1 when
 * there is no such NIC. */
int network_nic_info_get(srv *s, const char *nic_id, network_nic_info *out);

/* Inside the caller's transaction: records that vm_id uses the NIC (its
 * properties.virtualMachine.id).  -1 when the NIC is missing or attached to
 * another VM. */
int network_nic_attach(srv *s, const char *nic_id, const char *vm_id);
/* Inside the caller's transaction: the VM no longer uses the NIC. */
int network_nic_detach(srv *s, const char *nic_id, const char *vm_id);

/* Inside the caller's transaction: a private address in the subnet for owner
 * (a scale-set instance id), unique in the virtual network, the same one when
 * asked again for the same owner.  0 with out filled, -1 when the subnet is
 * missing or full. */
int network_subnet_ip_allocate(srv *s, const char *subnet_id, const char *owner, char out[64]);
/* Releases what owner holds in the subnet (no-op when nothing). */
void network_subnet_ip_release(srv *s, const char *subnet_id, const char *owner);

/* Inside the caller's transaction: a public address (127.x.y.z) of this
 * machine for owner (a scale-set instance or load balancer frontend) that is
 * not a public IP resource; the same one when asked again. 0 or -1. */
int network_host_address_allocate(srv *s, const char *owner, char out[64]);
void network_host_address_release(srv *s, const char *owner);

#endif
