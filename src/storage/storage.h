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

/* Blobs to and from host files (blob_host.c), for a provider that moves a
 * user's data (ML jobs: code into a node, outputs out of it).
 * storage_container_sas: a service SAS query string ("sv=...&sig=...") for
 * the container with perms ("rl", "rcw") until expiry_ms, signed with key1;
 * malloc'd, NULL when the account is gone.  storage_blob_list: fn for every
 * blob whose name starts with prefix, in name order; the count or -1.
 * storage_blob_to_file: the blob's bytes into path; 0, or -1 (no such blob:
 * nothing written).
 * storage_blob_put_file: path's bytes as a block blob (Put Blob through the
 * data plane, replacing one there); 0 or -1. */
char *storage_container_sas(srv *s, const char *account, const char *container, const char *perms,
                            int64_t expiry_ms);
int storage_blob_list(srv *s, const char *account, const char *container, const char *prefix,
                      void (*fn)(void *cls, const char *name, int64_t size), void *cls);
int storage_blob_to_file(srv *s, const char *account, const char *container, const char *name,
                         const char *path);
int storage_blob_put_file(srv *s, const char *account, const char *container, const char *name,
                          const char *path);
/* Records each day's blob capacity per account and tier (meters.c) as
 * usage: meter "Microsoft.Storage/blobs/capacity/<Tier>", quantity the bytes
 * (content length) stored that day, one event a day at the day's start. */
void storage_capacity_tick(srv *s, int64_t now_ms);
/* Blob operations are reported too, by class ("Microsoft.Storage/blobs/
 * <write|list|read|other>Operations/<Tier>", unit "Count"; meters.c). */

/* What storage does to blobs (tier changes, deletions by lifecycle rules,
 * rehydrations) is reported as usage events (usage_since() in core.h). */

#endif
