/* errors.h: every error code Microsoft.MachineLearningServices answers with,
 * with its HTTP status.  Each entry expands to the two arguments http_fail
 * takes, `status, "Code"`:  http_fail(r, ML_ERR_EXAMPLE, "message %s", arg);
 * The build refuses an http_fail with a status literal (make check-errors). */
#ifndef AZLITE_ML_ERRORS_H
#define AZLITE_ML_ERRORS_H

/* Azure ML's front end answers a bad body as a UserError whose message says
 * what is wrong; ARM-level checks keep ARM's codes (arm/errors.h). */
#define ML_ERR_VALIDATION 400, "ValidationError"
#define ML_ERR_BAD_REQUEST 400, "BadRequest"
#define ML_ERR_USER_ERROR 400, "UserError"
#define ML_ERR_UNAUTHORIZED 401, "AuthenticationFailed"
#define ML_ERR_FORBIDDEN 403, "AuthorizationFailed"
#define ML_ERR_NOT_FOUND 404, "UserError"
#define ML_ERR_CONFLICT 409, "Conflict"
#define ML_ERR_INTERNAL 500, "InternalServerError"

/* The MLflow tracking API (mlflow.c) answers with MLflow's error codes
 * (databricks.proto's ErrorCode), rendered {"error_code","message"}. */
#define MLFLOW_ERR_NOT_FOUND 404, "RESOURCE_DOES_NOT_EXIST"
#define MLFLOW_ERR_INVALID 400, "INVALID_PARAMETER_VALUE"
#define MLFLOW_ERR_EXISTS 400, "RESOURCE_ALREADY_EXISTS"
#define MLFLOW_ERR_UNAUTHENTICATED 401, "UNAUTHENTICATED"
#define MLFLOW_ERR_DENIED 403, "PERMISSION_DENIED"
#define MLFLOW_ERR_NOT_IMPLEMENTED 501, "NOT_IMPLEMENTED"
#define MLFLOW_ERR_INTERNAL 500, "INTERNAL_ERROR"

#endif
