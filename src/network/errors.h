/* errors.h: every error code Microsoft.Network answers with, with its HTTP
 * status.  Each entry expands to the two arguments http_fail takes,
 * `status, "Code"`:  http_fail(r, NETWORK_ERR_SUBNET_IS_FULL, "...", arg);
 * The build refuses an http_fail with a status literal (make check-errors). */
#ifndef AZLITE_NETWORK_ERRORS_H
#define AZLITE_NETWORK_ERRORS_H

#define NETWORK_ERR_INVALID_REQUEST_FORMAT 400, "InvalidRequestFormat"
#define NETWORK_ERR_INVALID_RESOURCE_NAME 400, "InvalidResourceName"
#define NETWORK_ERR_INVALID_RESOURCE_REFERENCE 400, "InvalidResourceReference"
#define NETWORK_ERR_DUPLICATE_RESOURCE_NAME 400, "DuplicateResourceName"
#define NETWORK_ERR_NOT_SUPPORTED 400, "FeatureNotSupported"
/* Address spaces and subnets. */
#define NETWORK_ERR_INVALID_CIDR_NOTATION 400, "InvalidCIDRNotation"
#define NETWORK_ERR_INVALID_ADDRESS_PREFIX_FORMAT 400, "InvalidAddressPrefixFormat"
#define NETWORK_ERR_INVALID_SUBNET 400, "NetcfgInvalidSubnet"
#define NETWORK_ERR_SUBNET_OUTSIDE_VNET 400, "NetcfgSubnetRangeOutsideVnet"
#define NETWORK_ERR_SUBNETS_OVERLAP 400, "NetcfgSubnetRangesOverlap"
#define NETWORK_ERR_SUBNET_IN_USE 400, "InUseSubnetCannotBeDeleted"
#define NETWORK_ERR_SUBNET_IS_FULL 400, "SubnetIsFull"
/* Private addresses. */
#define NETWORK_ERR_PRIVATE_IP_IN_USE 400, "PrivateIPAddressInUse"
#define NETWORK_ERR_PRIVATE_IP_NOT_IN_SUBNET 400, "PrivateIPAddressNotInSubnet"
#define NETWORK_ERR_PRIVATE_IP_RESERVED 400, "PrivateIPAddressInReservedRange"
#define NETWORK_ERR_PRIVATE_IP_INVALID 400, "PrivateIPAddressInvalid"
/* Security groups. */
#define NETWORK_ERR_SECURITY_RULE_CONFLICT 400, "SecurityRuleConflict"
#define NETWORK_ERR_SECURITY_RULE_INVALID_PRIORITY 400, "SecurityRuleInvalidPriority"
#define NETWORK_ERR_SECURITY_RULE_INVALID_PARAMETER                                                \
  400, "SecurityRuleParameterContainsUnsupportedValue"
#define NETWORK_ERR_NSG_IN_USE 400, "InUseNetworkSecurityGroupCannotBeDeleted"
/* Public addresses, interfaces. */
#define NETWORK_ERR_PUBLIC_IP_IN_USE 400, "PublicIPAddressInUse"
#define NETWORK_ERR_STANDARD_SKU_MUST_BE_STATIC 400, "StandardSkuPublicIPAddressesMustBeStatic"
#define NETWORK_ERR_NIC_IN_USE 400, "NicInUse"
#define NETWORK_ERR_NOT_FOUND 404, "NotFound"
#define NETWORK_ERR_INTERNAL 500, "InternalServerError"

#endif
