/* storage.h: what other providers may ask of the storage provider
 * (Microsoft.Storage: storage accounts and the blob data plane). */
#ifndef AZLITE_STORAGE_H
#define AZLITE_STORAGE_H

#include "../core/core.h"

extern const provider storage_provider;

/* Copies the account's keys (base64, NUL-terminated) into key1/key2; 0 when the
 * account exists, -1 otherwise. */
int storage_account_keys(srv *s, const char *account, char key1[128], char key2[128]);

/* Makes the container in the account unless it is there (private, no
 * metadata), inside the caller's transaction when there is one: what a
 * provider that keeps data in a user's account (ML workspaces) sets up.  0, or
 * -1 on a store error; the account must exist (else nothing is made). */
int storage_container_ensure(srv *s, const char *account, const char *container);

/* What storage does to blobs (tier changes, deletions by lifecycle rules,
 * rehydrations) is reported as usage events (usage_since() in core.h). */

#endif
