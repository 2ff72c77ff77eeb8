/* errors.h: every error code Resource Manager answers with, with its HTTP
 * status, including the generic ARM codes every provider's management API uses
 * (arm.h includes it).
 * Each entry expands to the two arguments http_fail takes, `status, "Code"`:
 *   http_fail(r, ARM_ERR_EXAMPLE, "message %s", arg);
 * The build refuses an http_fail with a status literal (make check-errors). */
#ifndef AZLITE_ARM_ERRORS_H
#define AZLITE_ARM_ERRORS_H

#define ARM_ERR_DEPLOYMENT_MODE_NOT_SUPPORTED 400, "DeploymentModeNotSupported"
#define ARM_ERR_DEPLOYMENT_NAME_LENGTH_LIMIT_EXCEEDED 400, "DeploymentNameLengthLimitExceeded"
#define ARM_ERR_INVALID_DEPLOYMENT_NAME 400, "InvalidDeploymentName"
#define ARM_ERR_INVALID_TEMPLATE 400, "InvalidTemplate"
#define ARM_ERR_INVALID_TEMPLATE_DEPLOYMENT 400, "InvalidTemplateDeployment"
#define ARM_ERR_LOCATION_NOT_AVAILABLE_FOR_DEPLOYMENT 400, "LocationNotAvailableForDeployment"
#define ARM_ERR_TEMPLATE_LINK_NOT_SUPPORTED 400, "TemplateLinkNotSupported"
#define ARM_ERR_INVALID_API_VERSION_PARAMETER 400, "InvalidApiVersionParameter"
#define ARM_ERR_INVALID_DURATION 400, "InvalidDuration"
#define ARM_ERR_INVALID_FILTER_IN_QUERY_STRING 400, "InvalidFilterInQueryString"
#define ARM_ERR_INVALID_PARAMETER 400, "InvalidParameter"
#define ARM_ERR_INVALID_REQUEST_CONTENT 400, "InvalidRequestContent"
#define ARM_ERR_INVALID_RESOURCE_GROUP_NAME 400, "InvalidResourceGroupName"
#define ARM_ERR_INVALID_TAG_COUNT 400, "InvalidTagCount"
#define ARM_ERR_INVALID_TAG_NAME_OR_VALUE 400, "InvalidTagNameOrValue"
#define ARM_ERR_LOCATION_NOT_AVAILABLE_FOR_RESOURCE_GROUP                                          \
  400, "LocationNotAvailableForResourceGroup"
#define ARM_ERR_LOCATION_NOT_AVAILABLE_FOR_RESOURCE_TYPE 400, "LocationNotAvailableForResourceType"
#define ARM_ERR_LOCATION_REQUIRED 400, "LocationRequired"
#define ARM_ERR_MISSING_API_VERSION_PARAMETER 400, "MissingApiVersionParameter"
#define ARM_ERR_NO_REGISTERED_PROVIDER_FOUND 400, "NoRegisteredProviderFound"
#define ARM_ERR_DEPLOYMENT_NOT_FOUND 404, "DeploymentNotFound"
#define ARM_ERR_DEPLOYMENT_OPERATION_NOT_FOUND 404, "DeploymentOperationNotFound"
#define ARM_ERR_INVALID_RESOURCE_NAMESPACE 404, "InvalidResourceNamespace"
#define ARM_ERR_OPERATION_NOT_FOUND 404, "OperationNotFound"
#define ARM_ERR_RESOURCE_GROUP_NOT_FOUND 404, "ResourceGroupNotFound"
#define ARM_ERR_RESOURCE_NOT_FOUND 404, "ResourceNotFound"
#define ARM_ERR_SUBSCRIPTION_NOT_FOUND 404, "SubscriptionNotFound"
#define ARM_ERR_DEPLOYMENT_ACTIVE 409, "DeploymentActive"
#define ARM_ERR_DEPLOYMENT_CANNOT_BE_CANCELLED 409, "DeploymentCannotBeCancelled"
#define ARM_ERR_INVALID_RESOURCE_GROUP_LOCATION 409, "InvalidResourceGroupLocation"
#define ARM_ERR_INVALID_RESOURCE_LOCATION 409, "InvalidResourceLocation"
#define ARM_ERR_RESOURCE_GROUP_BEING_DELETED 409, "ResourceGroupBeingDeleted"
#define ARM_ERR_INTERNAL_SERVER_ERROR 500, "InternalServerError"
#define ARM_ERR_NOT_IMPLEMENTED 501, "NotImplemented"

#endif
