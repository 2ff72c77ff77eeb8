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
#define AUD_MGMT "https://management.azure.com/"  /* also management.core.windows.net, <mgmt_url>/ */
#define AUD_GRAPH "https://graph.microsoft.com/"  /* also <mgmt_url>/graph/ */
#define AUD_STORAGE "https://storage.azure.com/"  /* also https://<account>.blob.core.windows.net/ */

typedef struct principal {
  char oid[40];     /* object id: what role assignments name */
  char appid[40];   /* application (client) id, or the MI's client id */
  char tid[40];
  char name[128];   /* display name, for messages */
  char aud[160];    /* audience of the token presented */
  int is_admin;     /* the first-start admin service principal */
} principal;

/* Validates "Bearer <jwt>" for the audience class (AUD_*): signature by azlite's key (RS256 only), iss, nbf/exp against the clock,
 * principal still exists.  Returns 0 and fills *p, or -1 and sets a short
 * reason in why (e.g. "InvalidAuthenticationTokenAudience"). */
int identity_verify_bearer(srv *s, const char *authorization, const char *audience,
                           principal *p, const char **why_code, char *why_msg, size_t msglen);

/* Mints a token for a principal (used by the token endpoints and the CLI).
 * Returns malloc'd JWT. */
char *identity_mint_token(srv *s, const principal *p, const char *audience, int64_t lifetime_s);

/* Is the principal allowed `action` (e.g. "Microsoft.Storage/storageAccounts/write", or a
 * data action "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read")
 * at `scope` (an ARM id)?  data != 0 checks dataActions/notDataActions.  0 = allowed. */
int authz_check(srv *s, const principal *p, const char *action, const char *scope, int data);

/* Does the principal hold any role assignment at or below `scope` (or above it)?
 * Listing subscriptions shows those the caller can see anything in. */
int authz_any_at_or_below(srv *s, const principal *p, const char *scope);

/* Creates a system-assigned identity for a resource; fills principal_id (oid). 0 = ok. */
int identity_system_assigned_create(srv *s, const char *resource_id, char principal_id[40]);
void identity_system_assigned_delete(srv *s, const char *resource_id);

#endif
