/* jwt.h: RS256 JSON Web Tokens and base64url, on OpenSSL. */
#ifndef AZLITE_JWT_H
#define AZLITE_JWT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

/* base64url without padding; returns malloc'd. */
char *jwt_b64url_encode(const unsigned char *data, size_t len);
/* Decodes base64url (padding optional); returns malloc'd bytes, NULL if invalid. */
unsigned char *jwt_b64url_decode(const char *s, size_t len, size_t *outlen);

/* Signs claims with RS256; header carries kid.  Returns malloc'd compact JWT. */
char *jwt_sign(EVP_PKEY *key, const char *kid, json_t *claims);

/* Verifies an RS256 compact JWT's signature (any other alg, "none" included, is
 * refused).  Returns the claims (caller decrefs) or NULL with *err set. */
json_t *jwt_verify(EVP_PKEY *key, const char *token, const char **err);

/* The JWKS document {"keys":[{kty,use,kid,n,e,alg}]} for the public key. */
json_t *jwt_jwks(EVP_PKEY *key, const char *kid);

/* A stable key id: base64url(SHA-256(public key DER))[0..27]. */
void jwt_kid(EVP_PKEY *key, char out[44]);

#endif
