/* sauth.h: how a blob request proves who it is: Shared Key, SAS (account,
 * service, user delegation), bearer token, or nothing (anonymous).
 *
 * sauth_authenticate() only establishes identity and the permissions a SAS
 * grants; the blob handlers then check those permissions against the
 * operation (sauth_sas_allows) and, for anonymous requests, the container's
 * public access level.
 */
#ifndef AZLITE_SAUTH_H
#define AZLITE_SAUTH_H

#include <stdint.h>

#include "../core/http.h"
#include "errors.h"

enum sauth_kind {
  SAUTH_ANONYMOUS,
  SAUTH_SHARED_KEY,
  SAUTH_SAS_ACCOUNT,
  SAUTH_SAS_SERVICE,
  SAUTH_SAS_USER_DELEGATION,
  SAUTH_BEARER,
};

/* Keys of one account, looked up by the caller from the store. */
typedef struct sauth_keys {
  const char *account;
  const char *key1; /* base64 */
  const char *key2; /* base64 */
  /* Derives the value of a user delegation key from the SAS's sk* fields
   * (base64 into out); NULL refuses user delegation SAS. */
  void (*udk)(void *cls, const char *skoid, const char *sktid, const char *skt, const char *ske,
              const char *sks, const char *skv, char out[48]);
  void *udk_cls;
} sauth_keys;

/* A stored access policy (container ACL), for SAS with si=. */
typedef struct sauth_policy {
  char permissions[16]; /* "" when the policy leaves it to the SAS */
  int64_t start_ms;     /* -1 when unset */
  int64_t expiry_ms;    /* -1 when unset */
} sauth_policy;

/* Looks up stored policy `id` of `container`; returns 0 and fills *out, -1 if none. */
typedef int (*sauth_policy_lookup_fn)(void *cls, const char *container, const char *id,
                                      sauth_policy *out);

typedef struct sauth_result {
  enum sauth_kind kind;
  /* For SAS: what it grants. */
  char permissions[32];   /* sp (or the stored policy's), e.g. "racwdl" */
  char resource[8];       /* sr for service SAS: "c", "b", "bs", "bv"; "" for account SAS */
  char services[8];       /* ss for account SAS */
  char resource_types[8]; /* srt for account SAS: "s", "c", "o" */
  char skoid[40];         /* user delegation SAS: the principal whose key signed it */
  /* SAS response-header overrides (rscc, rscd, rsce, rscl, rsct); NULL when absent. */
  const char *rscc, *rscd, *rsce, *rscl, *rsct;
} sauth_result;

/* Authenticates a blob request against the account's keys, the clocks and the container's
 * stored policies.  `now_ms` is azlite's clock (SAS start/expiry, user delegation key
 * expiry); `wall_ms` the wall clock, which a Shared Key request's date must be within
 * 15 minutes of.  On failure it calls http_fail() with Azure's status and
 * code (403 AuthenticationFailed with an AuthenticationErrorDetail, 403
 * AuthorizationSourceIPMismatch, 403 AuthorizationProtocolMismatch, ...) and returns -1.
 * `container` is NULL for service-level requests; `blob` is NULL unless the path names one.
 * Bearer tokens are not handled here (the caller checks them first). */
int sauth_authenticate(http_req *r, const sauth_keys *keys, const char *container, const char *blob,
                       int64_t now_ms, int64_t wall_ms, sauth_policy_lookup_fn lookup,
                       void *lookup_cls, sauth_result *out);

/* Does the SAS in `res` allow an operation needing permission letter `perm` ('r','a','c',
 * 'w','d','x','l','t','f','m','e','i','y','p') on resource type `rtype` ('s' service,
 * 'c' container, 'o' object)?  Non-SAS kinds always return 1.  On 0 the caller fails
 * with 403 AuthorizationPermissionMismatch / AuthorizationResourceTypeMismatch. */
int sauth_sas_allows(const sauth_result *res, char perm, char rtype);

/* The string-to-sign for Shared Key (exposed for unit tests); malloc'd. */
char *sauth_sharedkey_string_to_sign(http_req *r, const char *account);

/* HMAC-SHA256(base64-decoded key, msg) as base64 into out (>= 45 bytes); 0 on success. */
int sauth_hmac_b64(const char *key_b64, const char *msg, size_t msglen, char out[64]);

/* Like sauth_sas_allows, but on refusal fails the request with Azure's 403
 * (AuthorizationPermissionMismatch, AuthorizationResourceTypeMismatch) and returns -1;
 * 0 when allowed. */
int sauth_sas_require(http_req *r, const sauth_result *res, char perm, char rtype);

/* The Shared Key Lite string-to-sign (exposed for unit tests); malloc'd. */
char *sauth_sharedkeylite_string_to_sign(http_req *r, const char *account);

/* The string-to-sign of the request's user delegation SAS (skoid, sktid, ...) for
 * `container` and `blob` (blob NULL for sr=c); malloc'd, NULL when the SAS is malformed.
 * sauth_authenticate does not accept user delegation SAS yet: that needs the identity
 * provider's delegation key store, which will HMAC this string with the key. */
char *sauth_udk_string_to_sign(http_req *r, const char *account, const char *container,
                               const char *blob);

/* Is `v` a version of the Blob service REST API (x-ms-version, sv)? */
int sauth_version_known(const char *v);

#endif
