/* identity.h: what other providers may ask of the identity provider.
 *
 * The identity provider owns the tenant, the signing key, tokens, principals
 * (service principals, managed identities), role definitions and assignments.
 * Every authenticated request carries a `principal`; every authorization
 * decision goes through authz_check().
 */
#ifndef AZLITE_IDENTITY_H
#define AZLITE_IDENTITY_H

#include <stdint.h>

#include "../core/core.h"

/* Token audience classes.  identity_verify_bearer() takes one of these and
 * accepts every alias of it: Azure's public audience (with or without a
 * trailing '/') and azlite's own URL for it, so SDK code written for Azure
 * works with only its endpoint changed. */
#define AUD_MGMT                                                                                   \
  "https://management.azure.com/"                /* also management.core.windows.net, <mgmt_url>/  \
                                                  */
#define AUD_GRAPH "https://graph.microsoft.com/" /* also <mgmt_url>/graph/ */
#define AUD_STORAGE                                                                                \
  "https://storage.azure.com/" /* also https://<account>.blob.core.windows.net/                    \
                                */

typedef struct principal {
  char oid[40];   /* object id: what role assignments name */
  char appid[40]; /* application (client) id, or the MI's client id */
  char tid[40];
  char name[128]; /* display name, for messages */
  char aud[160];  /* audience of the token presented */
  int is_admin;   /* the first-start admin service principal */
} principal;

/* Validates "Bearer <jwt>" for the audience class (AUD_*): signature by azlite's
 * key (RS256 only), iss, aud, nbf/exp against the wall clock, and that the
 * principal still exists.  Returns 0 and fills *p, or -1 and sets a short
 * reason in why (e.g. "InvalidAuthenticationTokenAudience"). */
int identity_verify_bearer(srv *s, const char *authorization, const char *audience, principal *p,
                           const char **why_code, char *why_msg, size_t msglen);

/* Loads a principal by object id (a role assignment's principalId, a user
 * delegation key's skoid); 0 when it exists. */
int identity_principal_get(srv *s, const char *oid, principal *p);

/* Mints a token for a principal (used by the token endpoints and the CLI).
 * Returns malloc'd JWT. */
char *identity_mint_token(srv *s, const principal *p, const char *audience, int64_t lifetime_s);

/* Is the principal allowed `action` (e.g. "Microsoft.Storage/storageAccounts/write", or a
 * data action "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read")
 * at `scope` (an ARM id)?  data != 0 checks dataActions/notDataActions.  0 = allowed. */
int authz_check(srv *s, const principal *p, const char *action, const char *scope, int data);

/* The value of a user delegation key: base64 of 32 bytes derived from the
 * fields Get User Delegation Key returns and a user delegation SAS repeats
 * (skoid, sktid, skt, ske, sks, skv) with a secret kept in the data dir.
 * Nothing is stored: the blob service answers Get User Delegation Key with
 * it, and verifies a SAS by deriving it again from the SAS's fields (then
 * checks that skoid still exists and holds the data action, as Azure does).
 * Fills out (NUL-terminated). */
void identity_user_delegation_key(srv *s, const char *skoid, const char *sktid, const char *skt,
                                  const char *ske, const char *sks, const char *skv, char out[48]);

/* Does the principal hold any role assignment at or below `scope` (or above it)?
 * Listing subscriptions shows those the caller can see anything in. */
int authz_any_at_or_below(srv *s, const principal *p, const char *scope);

/* Managed identities.  A system-assigned identity belongs to one resource and
 * goes with it; a user-assigned identity is its own resource
 * (Microsoft.ManagedIdentity/userAssignedIdentities, served here).
 *
 * Creates the system-assigned identity of a resource, or returns the one it
 * has; fills principal_id (what role assignments name).  0 = ok. */
int identity_system_assigned_create(srv *s, const char *resource_id, char principal_id[40]);
/* Deletes the resource's system-assigned identity and its role assignments. */
void identity_system_assigned_delete(srv *s, const char *resource_id);
/* Looks up a user-assigned identity by its resource id (case-insensitive), for
 * a resource's identity.userAssignedIdentities map.  0 when it exists. */
int identity_user_assigned_lookup(srv *s, const char *identity_id, char principal_id[40],
                                  char client_id[40]);

/* The linked access check every resource taking identities runs before it
 * saves: each user-assigned identity the request's `identity` object names
 * (identity.userAssignedIdentities keys whose value is not null) must exist,
 * and the caller must hold Microsoft.ManagedIdentity/userAssignedIdentities/
 * assign/action on it, beyond `write_action` on `resource_id`.  Fails r
 * (403 LinkedAuthorizationFailed, 400 FailedIdentityOperation) and returns
 * -1, else 0. */
int identity_check_linked_identities(http_req *r, const char *write_action, const char *resource_id,
                                     json_t *identity);

/* The environment a workload azlite runs for a resource (a VM, a job, a
 * function) needs to get tokens for that resource's managed identities:
 * IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service's convention, which
 * azure-identity's ManagedIdentityCredential and DefaultAzureCredential use),
 * MSI_ENDPOINT and MSI_SECRET (the older convention), and the CA bundle
 * (REQUESTS_CA_BUNDLE, SSL_CERT_FILE) that trusts the HTTPS endpoint.
 *
 * The header is a secret bound to resource_id: it yields tokens only for the
 * resource's own system-assigned identity, the user-assigned identities its
 * ARM body lists under identity.userAssignedIdentities at the time of the
 * request, or, when resource_id is a user-assigned identity, that identity.
 * Nothing is stored: identities attached later work with the same variables,
 * and deleting the resource revokes them.
 *
 * Returns a NULL-terminated array of malloc'd "NAME=value" strings; free it
 * with identity_workload_env_free(). */
char **identity_workload_env(srv *s, const char *resource_id);
void identity_workload_env_free(char **env);
/* The workload (resource id, malloc'd) an IDENTITY_HEADER value was made
 * for, or NULL when it is not one of azlite's. */
char *identity_workload_of_header(srv *s, const char *hdr);

/* Answers r with a token for one of workload's managed identities (the
 * resource id of a VM, job, function; the same rules as the header of
 * identity_workload_env): query `resource` (the audience), and to pick a
 * user-assigned one client_id, principal_id/object_id or mi_res_id/msi_res_id.
 * For a caller that knows the workload by other means than the header: the
 * IMDS a VM reaches from inside (compute knows which VM the connection comes
 * from).  Fails r (OAuth style) when it cannot. */
void identity_workload_token(http_req *r, const char *workload);

#endif
