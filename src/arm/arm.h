/* arm.h: what other providers use from Resource Manager: the generic resource
 * table (so /resources, tags and resource-group deletion see every resource),
 * long-running operations, request helpers, and how requests map to RBAC
 * actions and scopes. */
#ifndef AZLITE_ARM_H
#define AZLITE_ARM_H

#include <jansson.h>
#include <stddef.h>

#include "../core/core.h"
#include "errors.h"
#include "resource.h"

/* The RBAC action for a request, e.g. PUT /subscriptions/s/resourceGroups/g ->
 * "Microsoft.Resources/subscriptions/resourceGroups/write", POST .../listKeys ->
 * "Microsoft.Storage/storageAccounts/listKeys/action".  Whole paths of any
 * length; malloc'd. */
char *arm_action_for(const char *method, const char *path);
/* The scope a request acts on: the resource id the path names (without the
 * trailing operation segment for POST actions), at most the resource; malloc'd. */
char *arm_scope_for(const char *path);

/* Checks the request's api-version against the versions its resource type
 * declares (provider resource_types: the type, else its nearest declared
 * parent, else its namespace's); fails r with Azure's 400 and returns -1 when
 * the version is not one of them.  Namespaces that declare nothing pass. */
int arm_api_version_check(http_req *r);
/* Fails r as ARM does (400 InvalidApiVersionParameter for Microsoft.Resources
 * types and malformed versions, else NoRegisteredProviderFound, naming the
 * supported versions) unless the api-version is one of versions (NULL-terminated).
 * type: "Namespace/type", or a type name alone.  0 when it is. */
int arm_api_version_require(http_req *r, const char *type, const char *const *versions);

/* For a request no route serves: when it names providers/{namespace}/{type}
 * of a namespace azlite lists (GET /providers) but a type no provider
 * declares, fails r with 501 NotImplemented ("azlite does not implement
 * Microsoft.Compute/virtualMachines yet") and returns 1; else 0. */
int arm_fail_unimplemented(http_req *r);

/* Is the location one azlite knows ("eastus", "East US")?  Writes the
 * canonical short name into out. */
int arm_location_normalize(const char *in, char out[32]);
/* The canonical short name of the i-th location azlite knows (i from 0), NULL
 * past the last: for catalogs offered in every location (compute SKUs). */
const char *arm_location_at(int i);

/* Does the resource group exist?  Writes its canonical name into out (may be NULL). */
int arm_group_exists(srv *s, const char *sub, const char *rg, char *out, size_t n);
/* Fails r with 404 ResourceGroupNotFound unless the group exists; 0 when it does. */
int arm_require_group(http_req *r, const char *sub, const char *rg);
/* Fails r unless resources may be created or changed in the group: 404
 * ResourceGroupNotFound when it is gone, 409 ResourceGroupBeingDeleted while
 * it is being deleted; 0 when writable.  Every create calls it inside the
 * transaction that writes, so a group delete either sees the new resource or
 * refuses it (arm_resource_put refuses too, as a backstop). */
int arm_group_writable(http_req *r, const char *sub, const char *rg);
/* The same for any scope or resource id: checks its group, if it names one. */
int arm_scope_writable(http_req *r, const char *scope);
/* Test only: sleeps AZLITE_TEST_DELAY_DELETE_MS milliseconds (unset: not at
 * all) between the steps of a delete, so tests can kill azlite mid-way. */
void arm_test_delete_delay(void);
/* Test-only: sleeps the milliseconds the environment variable var names, if any. */
void arm_test_delay(const char *var);
/* Fails r with 404 SubscriptionNotFound unless sub is azlite's subscription. */
int arm_require_subscription(http_req *r, const char *sub);

/* The generic resource table.  `body` is the resource's full ARM JSON (id,
 * name, type, location, tags, properties, ...); put stores a copy, and fails
 * (-1) when the resource's group is gone or being deleted.  Delete tells
 * the other providers (identities, role assignments) inside the caller's
 * transaction: a delete is one transaction with all that goes with it. */
int arm_resource_put(srv *s, const char *id, const char *type, json_t *body);
/* Returns a new reference, or NULL when absent.  Lookup is case-insensitive. */
json_t *arm_resource_get(srv *s, const char *id);
int arm_resource_delete(srv *s, const char *id);
/* Lists resources of a type (NULL: all) under a scope prefix (subscription or group id). */
json_t *arm_resource_list(srv *s, const char *scope, const char *type);

/* Builds "/subscriptions/{sub}/resourceGroups/{rg}/providers/{type}/{name}" (malloc'd). */
char *arm_resource_id(const char *sub, const char *rg, const char *type, const char *name);

/* Long-running operations.  The work runs on its own thread; the reply is 202
 * (or `status`) with Azure-AsyncOperation, Location and Retry-After: 1.  fn
 * returns 0 on success, or fills err_code/err_msg.  ctx is freed with free_ctx. */
typedef int (*arm_lro_fn)(srv *s, void *ctx, char *err_code, size_t code_len, char *err_msg,
                          size_t msg_len);
void arm_lro_start(http_req *r, int status, json_t *body, arm_lro_fn fn, void *ctx,
                   void (*free_ctx)(void *));
/* From inside an operation's fn: what the operation answers when it is done
 * (its status document's properties.output, and operationresults' 200 body).
 * Borrows result.  0, or -1 outside an operation. */
int arm_lro_set_result(srv *s, json_t *result);

/* Lists at the subscription or resource group a route names ({sub}, and {rg}
 * when present), as ARM does for any caller (the route's action ""): writes the
 * canonical scope; fails r with 404 for an unknown one, 403 when the caller may
 * do nothing at or below it.  0 when the list may go on. */
int arm_list_scope(http_req *r, const char *action, char *scope, size_t n);
/* Keeps the entries (with "id" and "type") the caller may read; steals list,
 * returns a new one. */
json_t *arm_visible_only(http_req *r, json_t *list);

/* Replies {"value":[...]} (steals list). */
void arm_reply_list(http_req *r, json_t *list);

#endif
