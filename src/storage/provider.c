/* provider.c: Microsoft.Storage as a provider: its one route table (every URL
 * the storage provider serves), its schema, and its lifecycle hooks (seeding
 * the emulator account, sweeping orphaned data files, emptying the trash).
 *
 * Blob data-plane requests all reach one catch-all route; blob_dispatch()
 * then picks the operation from the table in blob_dispatch.c, keyed the way
 * Azure keys them (method, level, restype, comp).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blob.h"
#include "mgmt.h"
#include "storage.h"

/* Azurite's well-known development account. */
#define DEV_ACCOUNT "devstoreaccount1"
#define DEV_KEY                                                                                    \
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

static const route storage_routes[] = {
    /* Blob data plane: path style /<account>/<container>/<blob>, or host style
     * <account>.blob.localhost/<container>/<blob>; also served on LISTEN_BLOB_TLS. */
    {.listener = LISTEN_BLOB,
     .method = "*",
     .pattern = "/*",
     .fn = blob_dispatch,
     .auth = AUTH_PROVIDER,
     .style = HTTP_ERR_STORAGE,
     .body_digests = blob_body_digests},

/* Resource Manager (accounts.c, lifecycle.c). */
#define ARM(m, p, f)                                                                               \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM                                                                          \
  }
#define ARM_ANY(m, p, f)                                                                           \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .action = ""                                                            \
  }
#define SUB "/subscriptions/{sub}"
#define ACCT SUB "/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{account}"
    ARM("POST", SUB "/providers/Microsoft.Storage/checkNameAvailability",
        storage_check_name_availability),
    ARM("GET", SUB "/providers/Microsoft.Storage/skus", storage_skus_list),
    /* Create, read, update, delete and list: the generic ARM resource layer. */
    ARM_TRACKED_ROUTES("Microsoft.Storage/storageAccounts", &storage_account_type),
    ARM("POST", ACCT "/listKeys", storage_account_list_keys),
    ARM("POST", ACCT "/regenerateKey", storage_account_regenerate_key),
    ARM("GET", ACCT "/blobServices", storage_blob_services_list),
    ARM("GET", ACCT "/blobServices/{service}", storage_blob_services_get),
    ARM("PUT", ACCT "/blobServices/{service}", storage_blob_services_put),
    ARM("PATCH", ACCT "/blobServices/{service}", storage_blob_services_put),
    ARM("PUT", ACCT "/managementPolicies/default", storage_policy_put),
    ARM("GET", ACCT "/managementPolicies/default", storage_policy_get),
    ARM("DELETE", ACCT "/managementPolicies/default", storage_policy_delete),
    /* azlite's own: what lifecycle rules, Set Blob Tier and rehydration did. */
    ARM("GET", ACCT "/lifecycleActions", storage_lifecycle_actions_list),
#undef ARM
#undef SUB
#undef ACCT
};

/* Schema, version 1.
 *
 * Bytes never live in these tables except small inline bodies: a blob's
 * content is an ordered list of extents (pos, len) -> (data file, offset), so
 * Put Block List, snapshots and in-account copies only write rows.  Data files
 * are plain files under <data>/blobs/ (blob_files.path) or, for small Put Blob
 * bodies, inline (blob_files.data).  A data file is referenced by extents and
 * uncommitted blocks; the foreign keys forbid dropping a referenced file, and
 * the garbage collector drops the unreferenced ones. */
static const char *const storage_schema[] = {
    "CREATE TABLE storage_accounts("
    "  name TEXT PRIMARY KEY, id TEXT, resource_group TEXT, location TEXT, sku TEXT,"
    "  kind TEXT, key1 TEXT, key2 TEXT, created_ms INTEGER, props TEXT /*json*/);"

    /* Set Service Properties: one JSON document per account. */
    "CREATE TABLE blob_service_props("
    "  account TEXT PRIMARY KEY REFERENCES storage_accounts(name) ON DELETE CASCADE,"
    "  props TEXT NOT NULL /*json*/);"

    "CREATE TABLE blob_containers("
    "  id INTEGER PRIMARY KEY,"
    "  account TEXT NOT NULL REFERENCES storage_accounts(name) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  etag TEXT NOT NULL, last_modified_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  metadata TEXT NOT NULL DEFAULT '{}',"
    "  public_access TEXT NOT NULL DEFAULT '' /* '', 'blob', 'container' */,"
    "  acl TEXT NOT NULL DEFAULT '[]' /* [{id,start,expiry,permission}] */,"
    "  lease_id TEXT, lease_state TEXT NOT NULL DEFAULT 'available',"
    "  lease_duration_s INTEGER NOT NULL DEFAULT 0, lease_expires_ms INTEGER,"
    "  lease_break_ms INTEGER,"
    "  encryption_scope TEXT, deny_encryption_scope_override INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(account, name));"

    "CREATE TABLE blob_files("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT UNIQUE /* under <data>/blobs/; NULL when inline */,"
    "  size INTEGER NOT NULL,"
    "  data BLOB /* the bytes, when inline */,"
    "  created_ms INTEGER NOT NULL);"

    /* One row per blob, snapshot (snapshot <> '') and, later, version. */
    "CREATE TABLE blobs("
    "  id INTEGER PRIMARY KEY,"
    "  container_id INTEGER NOT NULL REFERENCES blob_containers(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  snapshot TEXT NOT NULL DEFAULT '' /* '' = base blob, else its timestamp */,"
    "  version_id TEXT,"
    "  type TEXT NOT NULL /* BlockBlob, AppendBlob, PageBlob */,"
    "  size INTEGER NOT NULL,"
    "  etag TEXT NOT NULL, last_modified_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  content_type TEXT, content_encoding TEXT, content_language TEXT, content_md5 TEXT,"
    "  content_disposition TEXT, cache_control TEXT,"
    "  metadata TEXT NOT NULL DEFAULT '{}',"
    "  tier TEXT /* NULL: inferred from the account (Hot) */, tier_change_ms INTEGER,"
    "  archive_status TEXT, rehydrate_priority TEXT,"
    "  lease_id TEXT, lease_state TEXT NOT NULL DEFAULT 'available',"
    "  lease_duration_s INTEGER NOT NULL DEFAULT 0, lease_expires_ms INTEGER,"
    "  lease_break_ms INTEGER,"
    "  seq_number INTEGER NOT NULL DEFAULT 0 /* page blobs */,"
    "  committed_blocks INTEGER NOT NULL DEFAULT 0 /* append blobs */,"
    "  sealed INTEGER NOT NULL DEFAULT 0,"
    "  copy_id TEXT, copy_status TEXT, copy_source TEXT, copy_progress TEXT,"
    "  copy_completion_ms INTEGER, copy_status_description TEXT,"
    "  expiry_ms INTEGER, last_access_ms INTEGER, encryption_scope TEXT,"
    "  UNIQUE(container_id, name, snapshot));"

    /* A blob's content.  block_id names the committed block an extent came from
     * (Get Block List); NULL for content written by Put Blob.  Gaps read as zeros
     * (page blobs). */
    "CREATE TABLE blob_extents("
    "  blob_id INTEGER NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,"
    "  pos INTEGER NOT NULL, len INTEGER NOT NULL,"
    "  file_id INTEGER NOT NULL REFERENCES blob_files(id),"
    "  file_off INTEGER NOT NULL,"
    "  block_id TEXT,"
    "  PRIMARY KEY(blob_id, pos)) WITHOUT ROWID;"
    "CREATE INDEX blob_extents_file ON blob_extents(file_id);"

    /* Uncommitted blocks, keyed by blob name: the blob need not exist yet. */
    "CREATE TABLE blob_blocks("
    "  container_id INTEGER NOT NULL REFERENCES blob_containers(id) ON DELETE CASCADE,"
    "  blob_name TEXT NOT NULL, block_id TEXT NOT NULL,"
    "  file_id INTEGER NOT NULL REFERENCES blob_files(id),"
    "  file_off INTEGER NOT NULL, len INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY(container_id, blob_name, block_id));"
    "CREATE INDEX blob_blocks_file ON blob_blocks(file_id);"
    "CREATE INDEX blob_blocks_created ON blob_blocks(created_ms);"

    /* Blob index tags (Set Blob Tags, Find Blobs by Tags). */
    "CREATE TABLE blob_tags("
    "  blob_id INTEGER NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY(blob_id, key)) WITHOUT ROWID;"
    "CREATE INDEX blob_tags_kv ON blob_tags(key, value);",

    /* Version 2: the management side (accounts.c, lifecycle.c, tier.c).
     * A management policy per account; evaluated_ms is when the scheduler last
     * ran it (0: at the next tick).  The ARM blob service settings (last access
     * tracking: since when it is on, NULL when off).  The action log keeps
     * what was done to blobs even after their account is gone, for cost
     * management.  rehydrate_done_ms: when a pending rehydration completes. */
    "CREATE TABLE storage_management_policies("
    "  account TEXT PRIMARY KEY REFERENCES storage_accounts(name) ON DELETE CASCADE,"
    "  policy TEXT NOT NULL /*json: {rules:[...]}*/,"
    "  last_modified_ms INTEGER NOT NULL, evaluated_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE storage_blob_services("
    "  account TEXT PRIMARY KEY REFERENCES storage_accounts(name) ON DELETE CASCADE,"
    "  props TEXT NOT NULL /*json*/, last_access_since_ms INTEGER);"
    "CREATE TABLE storage_action_log("
    "  id INTEGER PRIMARY KEY, account TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    "  source TEXT NOT NULL /* lifecycle, user, rehydrate */, rule TEXT, action TEXT NOT NULL,"
    "  container TEXT NOT NULL, blob TEXT NOT NULL, snapshot TEXT NOT NULL DEFAULT '',"
    "  from_tier TEXT, to_tier TEXT, size INTEGER NOT NULL);"
    "CREATE INDEX storage_action_log_account ON storage_action_log(account, id);"
    "ALTER TABLE blobs ADD COLUMN rehydrate_done_ms INTEGER;"
    "CREATE INDEX blobs_rehydrating ON blobs(rehydrate_done_ms) WHERE archive_status IS NOT NULL;",

    /* Version 3: blob versions and soft delete (blob_version.c).  The snapshot
     * column keys every row of a name: '' the base blob (version_id: its current
     * version when versioning was on at its write), a timestamp a snapshot,
     * '@<versionId>' a previous version, '~<time>' a soft-deleted base blob.
     * deleted_ms: when a row was soft deleted (NULL: live), purge_ms when its
     * retention ends.  A soft-deleted container is renamed '~<version>/<name>'
     * (deleted_name keeps its name), so that the name is free again. */
    "ALTER TABLE blobs ADD COLUMN deleted_ms INTEGER;"
    "ALTER TABLE blobs ADD COLUMN purge_ms INTEGER;"
    "CREATE INDEX blobs_purge ON blobs(purge_ms) WHERE purge_ms IS NOT NULL;"
    "ALTER TABLE blob_containers ADD COLUMN deleted_ms INTEGER;"
    "ALTER TABLE blob_containers ADD COLUMN purge_ms INTEGER;"
    "ALTER TABLE blob_containers ADD COLUMN deleted_name TEXT;"
    "ALTER TABLE blob_containers ADD COLUMN deleted_version TEXT;",

    /* Version 4: Data Lake POSIX access control (blob_dfs.c): a path's owner,
     * owning group and ACL ("user::rwx,user:<oid>:r-x,group::r-x,mask::r-x,
     * other::---"); a path without a row has the defaults. */
    "CREATE TABLE blob_acl("
    "  blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,"
    "  owner TEXT NOT NULL, grp TEXT NOT NULL, acl TEXT NOT NULL);",
};

/* Every version Azure's Microsoft.Storage takes (azure-rest-api-specs), which
 * covers what az 2.45 and the Python and JS SDKs send. */
static const char *const storage_api_versions[] = {
    "2024-01-01", "2023-05-01",         "2023-04-01", "2023-01-01",         "2022-09-01",
    "2022-05-01", "2021-09-01",         "2021-08-01", "2021-06-01",         "2021-05-01",
    "2021-04-01", "2021-02-01",         "2021-01-01", "2020-08-01-preview", "2019-06-01",
    "2019-04-01", "2018-11-01",         "2018-07-01", "2018-03-01-preview", "2018-02-01",
    "2017-10-01", "2017-06-01",         "2016-12-01", "2016-05-01",         "2016-01-01",
    "2015-06-15", "2015-05-01-preview", NULL};

static const resource_type storage_resource_types[] = {
    {.type = "Microsoft.Storage/storageAccounts",
     .api_versions = storage_api_versions,
     .generic = &storage_account_type},
    {.type = "Microsoft.Storage/storageAccounts/blobServices",
     .api_versions = storage_api_versions},
    {.type = "Microsoft.Storage/storageAccounts/managementPolicies",
     .api_versions = storage_api_versions},
    {.type = "Microsoft.Storage/checkNameAvailability", .api_versions = storage_api_versions},
    {.type = NULL},
};

blob_state *blob_state_of(srv *s) {
  return *srv_provider_state(s, &storage_provider);
}

/* Is `name` a storage account name (3-24 lowercase letters and digits)? */
static int env_account_name_ok(const char *name) {
  size_t n = strlen(name);
  return n >= 3 && n <= 24 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

/* A non-empty base64 key (what HMAC will decode) that the blob front door's 128-byte key
 * buffers hold whole. */
static int env_key_ok(const char *k) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(k), body = strspn(k, b64);
  return n > 0 && n % 4 == 0 && n <= 124 && body + strspn(k + body, "=") == n && n - body <= 2;
}

/* Is `name` an ARM storage account (not one of the data-plane-only emulator accounts)? */
static int env_account_is_arm(srv *s, const char *name) {
  sqlite3_stmt *q;
  int arm = 0;
  if (store_prepare(store_db(s), "SELECT 1 FROM storage_accounts WHERE name=? AND id IS NOT NULL",
                    -1, &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
  arm = sqlite3_step(q) == SQLITE_ROW;
  store_finalize(q);
  return arm;
}

/* Upserts one AZURITE_ACCOUNTS entry "name:key1[:key2]" (edited in place); -1 refused. */
static int env_account_seed(srv *s, char *entry) {
  char *parts[4] = {entry, NULL, NULL, NULL};
  int n = 1;
  for (char *p = entry; *p && n < 4; p++)
    if (*p == ':') {
      *p = '\0';
      parts[n++] = p + 1;
    }
  if (n < 2 || n > 3 || !env_account_name_ok(parts[0]) || !env_key_ok(parts[1]) ||
      (n == 3 && !env_key_ok(parts[2]))) {
    log_error("storage: AZURITE_ACCOUNTS: '%s' is not name:key1[:key2] (a 3-24 character "
              "lowercase account name, base64 keys)",
              parts[0]);
    return -1;
  }
  int arm = env_account_is_arm(s, parts[0]);
  if (arm != 0) {
    if (arm > 0)
      log_error("storage: AZURITE_ACCOUNTS names %s, which is an ARM storage account; its keys "
                "come from listKeys/regenerateKey",
                parts[0]);
    return -1;
  }
  return store_exec(
      s,
      "INSERT INTO storage_accounts(name,location,sku,kind,key1,key2,created_ms,props)"
      " VALUES(%Q,'local','Standard_LRS','StorageV2',%Q,%Q,%lld,'{}')"
      " ON CONFLICT(name) DO UPDATE SET key1=excluded.key1, key2=excluded.key2",
      parts[0], parts[1], n == 3 ? parts[2] : "", (long long)clock_now_ms(s));
}

/* Azurite's multi-account variable, AZURITE_ACCOUNTS="name:key1[:key2];name2:key1": each
 * account exists for the blob data plane with those keys, as devstoreaccount1 does (no ARM
 * resource, so not listed or managed by az storage account).  devstoreaccount1 keeps its
 * well-known key unless the variable names it.  A malformed entry stops the server. */
static int seed_env_accounts(srv *s) {
  if (store_exec(s, "UPDATE storage_accounts SET key1=%Q, key2=%Q WHERE name=%Q", DEV_KEY, DEV_KEY,
                 DEV_ACCOUNT) != 0)
    return -1;
  const char *env = getenv("AZURITE_ACCOUNTS");
  if (!env || !*env) return 0;
  char *copy = strdup(env), *save = NULL;
  if (!copy) return -1;
  int rc = 0;
  for (char *e = strtok_r(copy, ";", &save); e && rc == 0; e = strtok_r(NULL, ";", &save)) {
    while (*e == ' ' || *e == '\t' || *e == '\n')
      e++;
    size_t n = strlen(e);
    while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t' || e[n - 1] == '\n'))
      e[--n] = '\0';
    if (*e) rc = env_account_seed(s, e);
  }
  free(copy);
  return rc;
}

static int storage_init(srv *s) {
  blob_state *st = calloc(1, sizeof *st);
  if (!st) return -1;
  pthread_mutex_init(&st->mu, NULL);
  st->blobs_dir = srv_path(s, "blobs");
  *srv_provider_state(s, &storage_provider) = st;
  if (mkdir(st->blobs_dir, 0700) != 0 && errno != EEXIST) {
    log_error("storage: cannot create %s", st->blobs_dir);
    return -1;
  }
  if (store_exec(s,
                 "INSERT INTO storage_accounts(name,location,sku,kind,key1,key2,created_ms,props)"
                 " VALUES(%Q,'local','Standard_LRS','StorageV2',%Q,%Q,%lld,'{}')"
                 " ON CONFLICT(name) DO NOTHING",
                 DEV_ACCOUNT, DEV_KEY, DEV_KEY, (long long)clock_now_ms(s)) != 0)
    return -1;
  /* A crash may have left files no row names, or rows nothing references.  Only
   * the server sweeps: a CLI command beside it would take its in-flight uploads
   * (placed, not yet committed) for orphans. */
  if (s->serving) blob_data_sweep(s);
  /* Only the server reads AZURITE_ACCOUNTS: a CLI command run from another shell must not
   * rewrite the keys the server serves with. */
  if (s->serving && seed_env_accounts(s) != 0) return -1;
  return 0;
}

static void storage_tick(srv *s, int64_t now_ms) {
  blob_trash_empty(s, 0);
  storage_tier_tick(s, now_ms);
  lifecycle_tick(s, now_ms);
  storage_capacity_tick(s, now_ms);
  storage_ops_flush(s);
  blob_soft_delete_purge(s, now_ms);
  /* Azure drops uncommitted blocks a week after their upload. */
  blob_state *st = blob_state_of(s);
  if (now_ms - st->last_sweep_ms < 60 * 1000) return;
  st->last_sweep_ms = now_ms;
  blob_ids ids = {0};
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "DELETE FROM blob_blocks WHERE created_ms < ? RETURNING file_id",
                    -1, &q, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int64(q, 1, now_ms - 7LL * 24 * 3600 * 1000);
  while (sqlite3_step(q) == SQLITE_ROW)
    blob_ids_add(&ids, sqlite3_column_int64(q, 0));
  store_finalize(q);
  blob_data_gc(s, &ids);
  blob_ids_free(&ids);
}

static void storage_env(srv *s, FILE *out) {
  /* The key the server serves devstoreaccount1 with (AZURITE_ACCOUNTS may set it). */
  char key1[128], key2[128];
  if (storage_account_keys(s, DEV_ACCOUNT, key1, key2) != 0 || !key1[0])
    snprintf(key1, sizeof key1, "%s", DEV_KEY);
  fprintf(out,
          "export AZURE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=%s;"
          "AccountKey=%s;BlobEndpoint=%s/%s;'\n",
          DEV_ACCOUNT, key1, s->blob_url, DEV_ACCOUNT);
  /* The other data-plane accounts (AZURITE_ACCOUNTS), as comments an eval skips. */
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT name, key1 FROM storage_accounts WHERE id IS NULL AND name != ?"
                    " ORDER BY name",
                    -1, &q, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(q, 1, DEV_ACCOUNT, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(q, 0);
    const char *key = (const char *)sqlite3_column_text(q, 1);
    fprintf(out,
            "# AZURITE_ACCOUNTS %s: DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
            "BlobEndpoint=%s/%s;\n",
            name, name, key ? key : "", s->blob_url, name);
  }
  store_finalize(q);
}

static void storage_fini(srv *s) {
  blob_state *st = blob_state_of(s);
  if (!st) return;
  blob_trash_empty(s, 1);
  storage_ops_flush(s);
  pthread_mutex_destroy(&st->mu);
  free(st->blobs_dir);
  free(st);
  *srv_provider_state(s, &storage_provider) = NULL;
}

const provider storage_provider = {
    .name = "Microsoft.Storage",
    .routes = storage_routes,
    .nroutes = (int)(sizeof storage_routes / sizeof storage_routes[0]),
    .schema = {storage_schema, (int)(sizeof storage_schema / sizeof storage_schema[0])},
    .resource_types = storage_resource_types,
    .init = storage_init,
    .tick = storage_tick,
    .env = storage_env,
    .fini = storage_fini,
};
