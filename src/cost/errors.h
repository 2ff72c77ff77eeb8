/* errors.h: every error code cost management (Microsoft.Consumption,
 * Microsoft.CostManagement, Microsoft.Insights action groups) answers with,
 * with its HTTP status: http_fail(r, COST_ERR_BAD_REQUEST, "message"). */
#ifndef AZLITE_COST_ERRORS_H
#define AZLITE_COST_ERRORS_H

/* What the budget and query APIs answer for an invalid body or parameter. */
#define COST_ERR_BAD_REQUEST 400, "BadRequest"
#define COST_ERR_INVALID_REQUEST_CONTENT 400, "InvalidRequestContent"
#define COST_ERR_NOT_FOUND 404, "NotFound"
/* A budget update whose eTag is not the stored one (someone changed it meanwhile). */
#define COST_ERR_PRECONDITION_FAILED 412, "PreconditionFailed"
#define COST_ERR_RESOURCE_GROUP_NOT_FOUND 404, "ResourceGroupNotFound"
/* Action groups (Microsoft.Insights). */
#define COST_ERR_ACTION_GROUP_BAD 400, "BadRequest"
#define COST_ERR_RESOURCE_NOT_FOUND 404, "ResourceNotFound"
/* What azlite does not do, said loudly. */
#define COST_ERR_UNSUPPORTED 400, "NotSupported"
#define COST_ERR_INTERNAL 500, "InternalServerError"

#endif
