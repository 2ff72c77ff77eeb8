/* mgmt.h: what the storage provider's management side shares with the rest of
 * src/storage/: the ARM handlers for storage accounts, blob services and
 * management policies (accounts.c, lifecycle.c), access tiers and
 * rehydration (tier.c), the lifecycle scheduler, and the provider hooks they
 * add.  provider.c puts the handlers in its route table; the blob data plane
 * calls the tier helpers.  Nothing outside src/storage/ includes it.
 */
#ifndef AZLITE_STORAGE_MGMT_H
#define AZLITE_STORAGE_MGMT_H

#include "../arm/arm.h"
#include "blob.h"

/* Rehydration from Archive takes this long on azlite's clock.  The documented
 * bounds: Standard priority "may take up to 15 hours", High "may complete in
 * under one hour" (objects under 10 GB); azlite uses the bounds. */
#define TIER_REHYDRATE_STANDARD_MS (15LL * 3600 * 1000)
#define TIER_REHYDRATE_HIGH_MS (1LL * 3600 * 1000)

/* Last access time moves at most once a day per blob, as in Azure. */
#define TIER_LAST_ACCESS_GRANULARITY_MS (24LL * 3600 * 1000)

/* ---- ARM: storage accounts (accounts.c) --------------------------------------- */

/* Storage accounts as the generic ARM resource layer serves them. */
extern const arm_type storage_account_type;
void storage_account_list_keys(http_req *r);
void storage_account_regenerate_key(http_req *r);
void storage_check_name_availability(http_req *r);
void storage_skus_list(http_req *r);
void storage_blob_services_get(http_req *r);
void storage_blob_services_put(http_req *r);
void storage_blob_services_list(http_req *r);

/* Loads the account the ARM path names ({sub}, {rg}, {account}); fails r with
 * Azure's 404 and returns NULL when it does not exist.  The result is the
 * stored ARM body (new reference). */
json_t *storage_account_require(http_req *r, const char *not_found_code);

/* Is last access time tracking on for the account?  *since_ms: when it was
 * turned on (may be NULL). */
int storage_last_access_tracking(srv *s, const char *account, int64_t *since_ms);

/* ---- ARM: management policies and the lifecycle (lifecycle.c) --------------------- */

void storage_policy_put(http_req *r);
void storage_policy_get(http_req *r);
void storage_policy_delete(http_req *r);
void storage_lifecycle_actions_list(http_req *r);

/* Runs due lifecycle passes (scheduler thread). */
void lifecycle_tick(srv *s, int64_t now_ms);

/* The name of the first enabled rule with enableAutoTierToHotFromCool whose
 * filter selects the blob (malloc'd), or NULL. */
char *lifecycle_auto_hot_rule(srv *s, const char *account, const char *container, const char *name,
                              const char *type, int64_t blob_id);

/* Appends a row to the account's action log and records it as the account's
 * usage (usage_record), in the caller's transaction, if any.
 * source: "lifecycle", "user" (Set Blob Tier) or "rehydrate". */
int lifecycle_log(srv *s, const char *account, int64_t now_ms, const char *source, const char *rule,
                  const char *action, const char *container, const char *blob, const char *snapshot,
                  const char *from_tier, const char *to_tier, int64_t size);

/* ---- access tiers (tier.c) ----------------------------------------------------- */

/* Set Blob Tier (PUT ?comp=tier). */
void blob_set_tier(blob_ctx *c);

/* The tier a blob without an explicit one has: the account's access tier. */
const char *storage_tier_account_default(blob_ctx *c);

/* Adds x-ms-access-tier, -inferred, -change-time, x-ms-archive-status,
 * x-ms-rehydrate-priority and x-ms-last-access-time for a blob. */
void storage_tier_headers(blob_ctx *c, const blob_row *b);

/* Fails with 409 BlobArchived when the blob's content is offline; 0 when it may be read. */
int storage_tier_require_online(blob_ctx *c, const blob_row *b);

/* A read of the blob happened: moves its last access time when the account
 * tracks it (at most once per TIER_LAST_ACCESS_GRANULARITY_MS). */
void storage_tier_note_access(blob_ctx *c, const blob_row *b);

/* How long a rehydration at this priority ("High", "Standard") takes. */
int64_t storage_tier_rehydrate_ms(const char *prio);

/* Completes rehydrations that are due, by Set Blob Tier or by a Copy Blob
 * whose destination is pending (scheduler thread). */
void storage_tier_tick(srv *s, int64_t now_ms);

#endif
