/* storage.h: what other providers may ask of the storage provider
 * (Microsoft.Storage: storage accounts and the blob data plane). */
#ifndef AZLITE_STORAGE_H
#define AZLITE_STORAGE_H

#include "../core/core.h"

extern const provider storage_provider;

/* Copies the account's keys (base64, NUL-terminated) into key1/key2; 0 when the
 * account exists, -1 otherwise. */
int storage_account_keys(srv *s, const char *account, char key1[128], char key2[128]);

/* Records each day's blob capacity per account and tier (meters.c) as
 * usage: meter "Microsoft.Storage/blobs/capacity/<Tier>", quantity the bytes
 * (content length) stored that day, one event a day at the day's start. */
void storage_capacity_tick(srv *s, int64_t now_ms);
/* Blob operations are reported too, by class ("Microsoft.Storage/blobs/
 * <write|list|read|other>Operations/<Tier>", unit "Count"; meters.c). */

/* What storage does to blobs (tier changes, deletions by lifecycle rules,
 * rehydrations) is reported as usage events (usage_since() in core.h). */

#endif
