/* internal.h: shared between the identity provider's files only.
 *
 *   identity.c     the provider: schema, the route table, first start, principals
 *   token.c        Azure AD's token service and bearer-token verification
 *   jwt.c          RS256 JWTs
 *   rbac.c         authz_check(): the one authorization decision
 *   access.c       the access phase (bearer token, RBAC) and the core's access_ops
 *   roles.c        the role catalogue and Microsoft.Authorization/roleDefinitions
 *   assignments.c  Microsoft.Authorization/roleAssignments
 *   graph.c        the Microsoft Graph subset (applications, service principals)
 *   msi.c          managed identities and the workload token endpoint
 */
#ifndef AZLITE_IDENTITY_INTERNAL_H
#define AZLITE_IDENTITY_INTERNAL_H

#include <jansson.h>
#include <openssl/evp.h>

#include "../arm/arm.h"
#include "errors.h"
#include "identity.h"

/* Well-known ids of built-in roles (Azure's real GUIDs). */
#define ROLE_OWNER "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#define ROLE_CONTRIBUTOR "b24988ac-6180-42a0-ab88-20f7382dd24c"
#define ROLE_READER "acdd72a7-3385-48ef-bd42-f606fba81ae7"

#define AUTHZ_PREFIX "/providers/Microsoft.Authorization/"
/* The api-versions roleAssignments and roleDefinitions both take. */
#define AUTHZ_API_VERSIONS                                                                         \
  "2014-04-01-preview", "2014-07-01-preview", "2014-10-01-preview", "2015-06-01", "2015-07-01",    \
      "2016-07-01", "2017-05-01", "2017-10-01-preview", "2018-01-01-preview", "2018-07-01",        \
      "2018-09-01-preview", "2018-12-01-preview", "2019-04-01-preview", "2020-03-01-preview",      \
      "2020-04-01-preview", "2020-08-01-preview", "2020-10-01-preview", "2021-04-01-preview",      \
      "2022-01-01-preview", "2022-04-01"
#define UAI_TYPE "Microsoft.ManagedIdentity/userAssignedIdentities"
/* The api-versions of each type identity serves (NULL-terminated), declared
 * in its resource_types. */
extern const char *const authz_assignment_api_versions[];
extern const char *const authz_definition_api_versions[];
extern const char *const msi_api_versions[];

typedef struct identity_state {
  /* The token signing key.  A first start generates it (RSA-2048, the slow part
   * of starting) on its own thread, so the server answers at once; whatever
   * signs or verifies waits in identity_signing_key(). */
  EVP_PKEY *signing_key;
  char kid[44];
  pthread_mutex_t key_mu;
  pthread_cond_t key_cv;
  int key_state; /* 0 being made, 1 ready, -1 failed */
  pthread_t keygen;
  int keygen_running;
  char admin_appid[40];
  char admin_oid[40];
  /* HMAC key of workload identity headers and user delegation keys (msi.c). */
  unsigned char hmac_key[32];
} identity_state;

extern const provider identity_provider;
/* access.c: the provider's access hook and its answers to access_allowed(). */
int identity_route_access(http_req *r, const route *rt);
extern const access_ops identity_access_ops;
identity_state *identity_st(srv *s);
/* The signing key and its kid, waiting for a first start's key generation;
 * NULL if it failed. */
EVP_PKEY *identity_signing_key(srv *s, const char **kid);

/* ---- identity.c ---------------------------------------------------------- */

/* Loads a principal by object id or app id; 0 when found. */
int identity_principal_by_oid(srv *s, const char *oid, principal *p);
int identity_principal_by_appid(srv *s, const char *appid, principal *p);
/* Creates a principal row (a service principal or a managed identity); 0 = ok. */
int identity_principal_insert(srv *s, const char *oid, const char *appid, const char *name,
                              const char *kind, const char *resource_id);
/* Deletes principals (and what they hold: role assignments) by a WHERE clause
 * over the principals table, e.g. "oid='...'"; sqlite3_mprintf formatting. */
int identity_principals_delete_where(srv *s, const char *fmt, ...);

/* A new secret (40 chars from [A-Za-z0-9~._-]), and its stored hash (hex SHA-256). */
void identity_secret_new(char out[48]);
void identity_secret_hash(const char *secret, char out[65]);
/* Is s a GUID (8-4-4-4-12 hex)? */
int identity_is_guid(const char *s);
/* Is the api-version one of the NULL-terminated list?  Fails r (400, ARM's
 * NoRegisteredProviderFound) when it is not. */
int identity_require_api_version(http_req *r, const char *type, const char *const *versions);

/* ---- token.c --------------------------------------------------------------- */

void identity_aad_openid_config(http_req *r);
void identity_aad_jwks(http_req *r);
void identity_aad_instance_discovery(http_req *r);
void identity_aad_token(http_req *r);
void identity_aad_interactive(http_req *r);
/* Verifies client credentials; fills *p.  Returns 0, or -1 after failing the
 * request with the OAuth error Azure AD sends. */
int identity_client_login(http_req *r, const char *client_id, const char *secret, principal *p);
/* Token lifetime the token endpoints grant, in seconds. */
#define TOKEN_LIFETIME_S 3599

/* ---- rbac.c ------------------------------------------------------------------ */

/* Is `outer` the same scope as `inner` or an ancestor of it? ("/" covers all.) */
int authz_scope_covers(const char *outer, const char *inner);
/* Azure's action wildcards: '*' matches any run of characters; case-insensitive. */
int authz_action_match(const char *pattern, const char *action);

/* ---- roles.c ------------------------------------------------------------------- */

/* Does the role (built-in or custom, by GUID) grant the action?  data != 0
 * checks dataActions/notDataActions.  1 = granted. */
int identity_role_grants(srv *s, const char *role_id, const char *action, int data);
/* Does the role exist?  For a custom role, *assignable (if not NULL) gets its
 * assignable scopes (new reference); built-in roles leave it NULL (all scopes). */
int identity_role_exists(srv *s, const char *role_id, json_t **assignable);
/* The role's name ("Owner"), copied into out; "" when unknown. */
void identity_role_name(srv *s, const char *role_id, char *out, size_t n);
/* "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{id}"
 * for a scope under the subscription, "/providers/..." for the root (malloc'd). */
char *identity_role_definition_id(srv *s, const char *scope, const char *role_id);

void authz_definition_list(http_req *r);
void authz_definition_get(http_req *r);
void authz_definition_put(http_req *r);
void authz_definition_delete(http_req *r);

/* ---- assignments.c ----------------------------------------------------------- */

/* The scope a Microsoft.Authorization request names: the path before
 * "/providers/Microsoft.Authorization/<collection>", canonical ("/" for the
 * root).  Fails r and returns -1 when the api-version is not one of versions
 * (NULL-terminated) or the scope does not exist (404 for a missing
 * subscription or group). */
int authz_request_scope(http_req *r, const char *collection, const char *const *versions, char *out,
                        size_t n);
/* Copies the next clause of a $filter (clauses joined with " and ") into
 * out, trimmed, and moves *f past it: 1 when it did, 0 at the end, -1 for a
 * clause of n characters or more. */
int authz_filter_next(const char **f, char *out, size_t n);
/* Role assignments at or below a scope go with it (a deleted group). */
void authz_assignments_scope_deleted(srv *s, const char *scope);

void authz_assignment_list(http_req *r);
void authz_assignment_get(http_req *r);
void authz_assignment_put(http_req *r);
void authz_assignment_delete(http_req *r);

/* ---- graph.c ------------------------------------------------------------------ */

/* Creates the Graph application object of an existing principal (the admin at
 * first start); 0 = ok. */
int graph_application_insert(srv *s, const char *app_id, const char *display_name);

void graph_app_list(http_req *r);
void graph_app_create(http_req *r);
void graph_app_get(http_req *r);
void graph_app_update(http_req *r);
void graph_app_delete(http_req *r);
void graph_app_add_password(http_req *r);
void graph_app_remove_password(http_req *r);
void graph_sp_add_password(http_req *r);
void graph_sp_remove_password(http_req *r);
void graph_sp_list(http_req *r);
void graph_sp_create(http_req *r);
void graph_sp_get(http_req *r);
void graph_sp_update(http_req *r);
void graph_sp_delete(http_req *r);
void graph_get_by_ids(http_req *r);
void graph_directory_object_get(http_req *r);
void graph_empty_list(http_req *r);
void graph_me(http_req *r);

/* ---- msi.c ---------------------------------------------------------------------- */

/* Loads the workload key (creating it on the first start); 0 = ok. */
int msi_init(srv *s);

/* User-assigned identities, served by the generic ARM resource layer. */
extern const arm_type msi_uai_type;
/* Registers what the resource layer asks of identity (resource identities). */
void msi_register_hooks(void);
void msi_workload_token(http_req *r);
void msi_workload_env_get(http_req *r);

#endif
