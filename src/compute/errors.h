/* errors.h: every error code Microsoft.Compute answers with, with its HTTP
 * status.  Each entry expands to the two arguments http_fail takes,
 * `status, "Code"`:  http_fail(r, COMPUTE_ERR_EXAMPLE, "message %s", arg);
 * The build refuses an http_fail with a status literal (make check-errors). */
#ifndef AZLITE_COMPUTE_ERRORS_H
#define AZLITE_COMPUTE_ERRORS_H

#define COMPUTE_ERR_INVALID_PARAMETER 400, "InvalidParameter"
#define COMPUTE_ERR_NOT_FOUND 404, "NotFound"
#define COMPUTE_ERR_QUOTA_EXCEEDED 409, "QuotaExceeded"
/* What Compute answers for a create or resize past a vCPU quota. */
#define COMPUTE_ERR_OPERATION_NOT_ALLOWED 409, "OperationNotAllowed"

#define COMPUTE_ERR_SKU_NOT_AVAILABLE 409, "SkuNotAvailable"
#define COMPUTE_ERR_PLATFORM_IMAGE_NOT_FOUND 404, "PlatformImageNotFound"
#define COMPUTE_ERR_NIC_IN_USE 400, "NicInUse"
#define COMPUTE_ERR_INVALID_REQUEST_CONTENT 400, "InvalidRequestContent"
#define COMPUTE_ERR_INTERNAL 500, "InternalServerError"
/* IMDS (OAuth-style bodies). */
#define COMPUTE_ERR_IMDS_BAD_REQUEST 400, "invalid_request"
#define COMPUTE_ERR_IMDS_NOT_FOUND 404, "not_found"

#endif
