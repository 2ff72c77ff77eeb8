/* errors.h: every error code the identity provider answers with, with its
 * HTTP status: Azure AD (OAuth), Microsoft Graph, RBAC, managed identities.
 * Each entry expands to the two arguments http_fail takes, `status, "Code"`:
 *   http_fail(r, IDENTITY_ERR_EXAMPLE, "message %s", arg);
 * The build refuses an http_fail with a status literal (make check-errors). */
#ifndef AZLITE_IDENTITY_ERRORS_H
#define AZLITE_IDENTITY_ERRORS_H

#define IDENTITY_ERR_ASSIGNABLE_SCOPES_NULL_OR_EMPTY 400, "AssignableScopesNullOrEmpty"
#define IDENTITY_ERR_BAD_REQUEST 400, "BadRequest"
#define IDENTITY_ERR_FAILED_IDENTITY_OPERATION 400, "FailedIdentityOperation"
#define IDENTITY_ERR_INVALID_ASSIGNABLE_SCOPE 400, "InvalidAssignableScope"
#define IDENTITY_ERR_INVALID_CREATE_ROLE_ASSIGNMENT_REQUEST                                        \
  400, "InvalidCreateRoleAssignmentRequest"
#define IDENTITY_ERR_INVALID_IDENTITY_VALUES 400, "InvalidIdentityValues"
#define IDENTITY_ERR_INVALID_REQUEST 400, "InvalidRequest"
#define IDENTITY_ERR_INVALID_ROLE_ASSIGNMENT_ID 400, "InvalidRoleAssignmentId"
#define IDENTITY_ERR_INVALID_ROLE_DEFINITION_ID 400, "InvalidRoleDefinitionId"
#define IDENTITY_ERR_INVALID_ROLE_DEFINITION_PERMISSIONS 400, "InvalidRoleDefinitionPermissions"
#define IDENTITY_ERR_INVALID_ROLE_DEFINITION_TYPE 400, "InvalidRoleDefinitionType"
#define IDENTITY_ERR_INVALID_SCOPE 400, "InvalidScope"
#define IDENTITY_ERR_PRINCIPAL_NOT_FOUND 400, "PrincipalNotFound"
#define IDENTITY_ERR_REQUEST_BAD_REQUEST 400, "Request_BadRequest"
#define IDENTITY_ERR_REQUEST_UNSUPPORTED_QUERY 400, "Request_UnsupportedQuery"
#define IDENTITY_ERR_ROLE_ASSIGNMENT_UPDATE_NOT_PERMITTED 400, "RoleAssignmentUpdateNotPermitted"
#define IDENTITY_ERR_ROLE_DEFINITION_DOES_NOT_EXIST_400 400, "RoleDefinitionDoesNotExist"
#define IDENTITY_ERR_ROLE_DEFINITION_HAS_ASSIGNMENTS 400, "RoleDefinitionHasAssignments"
#define IDENTITY_ERR_ROLE_DEFINITION_NAME_NULL_OR_EMPTY 400, "RoleDefinitionNameNullOrEmpty"
#define IDENTITY_ERR_ROLE_DEFINITION_PERMISSIONS_NULL_OR_EMPTY                                     \
  400, "RoleDefinitionPermissionsNullOrEmpty"
#define IDENTITY_ERR_UNMATCHED_PRINCIPAL_TYPE 400, "UnmatchedPrincipalType"
#define IDENTITY_ERR_OAUTH_INVALID_REQUEST 400, "invalid_request"
#define IDENTITY_ERR_OAUTH_INVALID_INSTANCE 400, "invalid_instance"
#define IDENTITY_ERR_OAUTH_UNAUTHORIZED_CLIENT 400, "unauthorized_client"
#define IDENTITY_ERR_OAUTH_UNSUPPORTED_GRANT_TYPE 400, "unsupported_grant_type"
#define IDENTITY_ERR_AUTHENTICATION_FAILED 401, "AuthenticationFailed"
#define IDENTITY_ERR_INVALID_AUTHENTICATION_TOKEN 401, "InvalidAuthenticationToken"
#define IDENTITY_ERR_OAUTH_INVALID_CLIENT 401, "invalid_client"
#define IDENTITY_ERR_AUTHORIZATION_FAILED 403, "AuthorizationFailed"
#define IDENTITY_ERR_AUTHORIZATION_REQUEST_DENIED 403, "Authorization_RequestDenied"
#define IDENTITY_ERR_LINKED_AUTHORIZATION_FAILED 403, "LinkedAuthorizationFailed"
#define IDENTITY_ERR_REQUEST_RESOURCE_NOT_FOUND 404, "Request_ResourceNotFound"
#define IDENTITY_ERR_ROLE_ASSIGNMENT_NOT_FOUND 404, "RoleAssignmentNotFound"
#define IDENTITY_ERR_ROLE_DEFINITION_DOES_NOT_EXIST_404 404, "RoleDefinitionDoesNotExist"
#define IDENTITY_ERR_SUBSCRIPTION_NOT_FOUND 404, "SubscriptionNotFound"
#define IDENTITY_ERR_REQUEST_MULTIPLE_OBJECTS_WITH_SAME_KEY_VALUE                                  \
  409, "Request_MultipleObjectsWithSameKeyValue"
#define IDENTITY_ERR_ROLE_ASSIGNMENT_DELETE_NOT_ALLOWED 409, "RoleAssignmentDeleteNotAllowed"
#define IDENTITY_ERR_ROLE_ASSIGNMENT_EXISTS 409, "RoleAssignmentExists"
#define IDENTITY_ERR_ROLE_DEFINITION_WITH_SAME_NAME_EXISTS 409, "RoleDefinitionWithSameNameExists"
#define IDENTITY_ERR_SERVICE_INTERNAL_SERVER_ERROR 500, "Service_InternalServerError"
#define IDENTITY_ERR_OAUTH_SERVER_ERROR 500, "server_error"

#endif
