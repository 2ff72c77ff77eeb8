/* internal.h: shared between the identity provider's files only. */
#ifndef AZLITE_IDENTITY_INTERNAL_H
#define AZLITE_IDENTITY_INTERNAL_H

#include <openssl/evp.h>

#include "identity.h"

/* Well-known ids of built-in roles (Azure's real GUIDs). */
#define ROLE_OWNER "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#define ROLE_CONTRIBUTOR "b24988ac-6180-42a0-ab88-20f7382dd24c"
#define ROLE_READER "acdd72a7-3385-48ef-bd42-f606fba81ae7"

typedef struct identity_state {
  EVP_PKEY *signing_key;
  char kid[44];
  char admin_appid[40];
  char admin_oid[40];
} identity_state;

extern const provider identity_provider;
identity_state *identity_st(srv *s);

/* Token endpoint and discovery handlers (token.c). */
void aad_openid_config(http_req *r);
void aad_jwks(http_req *r);
void aad_token(http_req *r);

/* Verifies client credentials; fills *p.  Returns 0, or -1 after failing the
 * request with the OAuth error Azure AD sends. */
int identity_client_login(http_req *r, const char *client_id, const char *secret, principal *p);

/* Loads a principal by object id or app id; 0 when found. */
int identity_principal_by_oid(srv *s, const char *oid, principal *p);
int identity_principal_by_appid(srv *s, const char *appid, principal *p);

/* A new secret (40 chars from [A-Za-z0-9~._-]), and its stored hash (hex SHA-256). */
void identity_secret_new(char out[48]);
void identity_secret_hash(const char *secret, char out[65]);

#endif
