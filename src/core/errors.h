/* errors.h: every error code the core answers with itself (around any
 * handler), with its HTTP status.
 * Each entry expands to the two arguments http_fail takes, `status, "Code"`:
 *   http_fail(r, CORE_ERR_EXAMPLE, "message %s", arg);
 * The build refuses an http_fail with a status literal (make check-errors). */
#ifndef AZLITE_CORE_ERRORS_H
#define AZLITE_CORE_ERRORS_H

#define CORE_ERR_INVALID_QUERY_PARAMETER_VALUE 400, "InvalidQueryParameterValue"
#define CORE_ERR_INVALID_REQUEST_CONTENT 400, "InvalidRequestContent"
#define CORE_ERR_INVALID_REQUEST_URI 400, "InvalidRequestUri"
#define CORE_ERR_INVALID_URI 400, "InvalidUri"
#define CORE_ERR_REQUEST_HEADER_TOO_LARGE 400, "RequestHeaderTooLarge"
#define CORE_ERR_AUTHENTICATION_FAILED 401, "AuthenticationFailed"
#define CORE_ERR_AUTHORIZATION_FAILED 403, "AuthorizationFailed"
#define CORE_ERR_NOT_FOUND 404, "NotFound"
#define CORE_ERR_METHOD_NOT_ALLOWED 405, "MethodNotAllowed"
#define CORE_ERR_REQUEST_BODY_TOO_LARGE 413, "RequestBodyTooLarge"
#define CORE_ERR_REQUEST_ENTITY_TOO_LARGE 413, "RequestEntityTooLarge"
#define CORE_ERR_INTERNAL_ERROR 500, "InternalError"

#endif
