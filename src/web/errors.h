/* errors.h: every error code Microsoft.Web answers with, with its HTTP
 * status.  Each entry expands to the two arguments http_fail takes,
 * `status, "Code"`:  http_fail(r, WEB_ERR_BAD_REQUEST, "...", arg);
 * The build refuses an http_fail with a status literal (make check-errors). */
#ifndef AZLITE_WEB_ERRORS_H
#define AZLITE_WEB_ERRORS_H

#define WEB_ERR_BAD_REQUEST 400, "BadRequest"
#define WEB_ERR_INVALID_PARAMETER 400, "InvalidParameter"
#define WEB_ERR_NOT_SUPPORTED 400, "FeatureNotSupported"
#define WEB_ERR_NOT_FOUND 404, "NotFound"
#define WEB_ERR_PLAN_NOT_FOUND 404, "ServerFarmNotFound"
#define WEB_ERR_CONFLICT 409, "Conflict"
#define WEB_ERR_PLAN_IN_USE 409, "ServerFarmInUse"
#define WEB_ERR_INTERNAL 500, "InternalServerError"

#endif
