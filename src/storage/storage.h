/* storage.h: what other providers may ask of the storage provider
 * (Microsoft.Storage: storage accounts and the blob data plane). */
#ifndef AZLITE_STORAGE_H
#define AZLITE_STORAGE_H

#include "../core/core.h"

extern const provider storage_provider;

/* Copies the account's keys (base64, NUL-terminated) into key1/key2; 0 when the
 * account exists, -1 otherwise. */
int storage_account_keys(srv *s, const char *account, char key1[128], char key2[128]);

/* One entry of the storage action log: a tier change or deletion made by a
 * lifecycle rule ("lifecycle"), by Set Blob Tier ("user"), or a completed
 * rehydration ("rehydrate").  Cost management prices these. */
typedef struct storage_action {
  int64_t id, time_ms, size;
  const char *account, *source, *rule, *action, *container, *blob, *snapshot;
  const char *from_tier, *to_tier; /* to_tier NULL for a deletion */
} storage_action;

/* Calls fn for up to `limit` logged actions (of every account) with id >
 * after_id, oldest first; returns the last id passed to fn (after_id if none).
 * The strings live until fn returns. */
int64_t storage_actions_since(srv *s, int64_t after_id, int limit,
                              void (*fn)(void *cls, const storage_action *a), void *cls);

#endif
