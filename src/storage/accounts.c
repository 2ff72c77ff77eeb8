/* accounts.c: Microsoft.Storage storage accounts as Resource Manager serves
 * them: create/update (PUT, PATCH), get, delete, list by resource group and
 * subscription, listKeys, regenerateKey, checkNameAvailability, the SKU list,
 * and the account's blob service settings (blobServices/default).
 *
 * An account lives in two places: its ARM body (id, sku, kind, tags,
 * properties) in Resource Manager's generic resource table, so /resources,
 * tags and resource-group deletion see it; and its row in storage_accounts
 * (keys and the settings the blob data plane reads).  Endpoints are not
 * stored: they follow the ports azlite listens on now.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../arm/arm.h"
#include "../identity/identity.h"
#include "mgmt.h"

#define ACCOUNT_TYPE "Microsoft.Storage/storageAccounts"

static const char *const SKUS[] = {"Standard_LRS",  "Standard_GRS",    "Standard_RAGRS",
                                   "Standard_ZRS",  "Premium_LRS",     "Premium_ZRS",
                                   "Standard_GZRS", "Standard_RAGZRS", NULL};
static const char *const KINDS[] = {"Storage",     "StorageV2",        "BlobStorage",
                                    "FileStorage", "BlockBlobStorage", NULL};
static const char *const ACCESS_TIERS[] = {"Hot", "Cool", "Premium", NULL};

/* The canonical spelling of s in list (case-insensitive), or NULL. */
static const char *enum_match(const char *const *list, const char *s) {
  for (int i = 0; s && list[i]; i++)
    if (strcasecmp(list[i], s) == 0) return list[i];
  return NULL;
}

static char *enum_join(const char *const *list) {
  size_t n = 1;
  for (int i = 0; list[i]; i++)
    n += strlen(list[i]) + 2;
  char *out = calloc(1, n);
  for (int i = 0; list[i]; i++) {
    if (i) strcat(out, ", ");
    strcat(out, list[i]);
  }
  return out;
}

static void fail_enum(http_req *r, const char *prop, const char *value, const char *const *list) {
  char *allowed = enum_join(list);
  http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
            "The value '%s' is not valid for property '%s'. Allowed values: %s.",
            value ? value : "", prop, allowed);
  free(allowed);
}

/* Azure: 3-24 characters, lowercase letters and digits only. */
static int account_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 3 || len > 24) return 0;
  for (const char *p = n; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) return 0;
  return 1;
}

/* 64 random bytes, base64: the shape of an Azure storage key. */
static int key_new(char out[128]) {
  unsigned char raw[64];
  if (RAND_bytes(raw, sizeof raw) != 1) return -1;
  EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
  return 0;
}

static json_t *iso_now(srv *s) {
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  return json_string(iso);
}

/* ---- the storage_accounts row ------------------------------------------------- */

typedef struct account_row {
  char id[512];
  char resource_group[128];
  char key1[128], key2[128];
} account_row;

/* 1 found (out filled), 0 absent, -1 store error. */
static int row_load(srv *s, const char *name, account_row *out) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s),
                    "SELECT id, resource_group, key1, key2 FROM storage_accounts WHERE name=?", -1,
                    &q, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(q, 0);
    const char *rg = (const char *)sqlite3_column_text(q, 1);
    snprintf(out->id, sizeof out->id, "%s", id ? id : "");
    snprintf(out->resource_group, sizeof out->resource_group, "%s", rg ? rg : "");
    snprintf(out->key1, sizeof out->key1, "%s", sqlite3_column_text(q, 2));
    snprintf(out->key2, sizeof out->key2, "%s", sqlite3_column_text(q, 3));
  }
  store_finalize(q);
  return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The settings of the ARM body that the blob data plane reads, as the row's props. */
static char *row_props(json_t *body) {
  json_t *p = json_object_get(body, "properties");
  json_t *keep = json_object();
  static const char *const names[] = {"accessTier",           "allowBlobPublicAccess",
                                      "allowSharedKeyAccess", "supportsHttpsTrafficOnly",
                                      "isHnsEnabled",         "minimumTlsVersion"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    json_t *v = json_object_get(p, names[i]);
    if (v) json_object_set(keep, names[i], v);
  }
  char *out = json_dumps(keep, JSON_COMPACT);
  json_decref(keep);
  return out;
}

/* ---- the ARM body ----------------------------------------------------------------- */

/* The account as ARM answers: the stored body plus what depends on where azlite
 * listens now and how the caller reached it.  Takes the reference to body. */
static json_t *account_render(http_req *r, json_t *body) {
  const char *name = json_string_value(json_object_get(body, "name"));
  json_t *props = json_object_get(body, "properties");
  if (!props) {
    props = json_object();
    json_object_set_new(body, "properties", props);
  }
  /* Path style, like Azurite, outside `azlite exec`: the host-style name would
   * need DNS.  An account that refuses plain HTTP gets the HTTPS listener, so
   * the endpoint it publishes (and `az storage account
   * show-connection-string`) always works.  Under exec, Azure's own name. */
  int https = json_is_true(json_object_get(props, "supportsHttpsTrafficOnly"));
  json_t *ep = json_pack("{s:s,s:s}", "blob", http_blob_endpoint(r, name, https), "dfs",
                         http_dfs_endpoint(r, name, https));
  /* The services azlite does not serve are named as Azure names them (a
   * general-purpose account has them all: `az functionapp create` requires
   * queue and table); under `azlite exec` those names are refused loudly. */
  static const char *const others[] = {"queue", "table", "file", NULL};
  for (int i = 0; others[i]; i++)
    json_object_set_new(ep, others[i],
                        json_sprintf("https://%s.%s.core.windows.net/", name, others[i]));
  json_object_set_new(props, "primaryEndpoints", ep);
  return body;
}

json_t *storage_account_require(http_req *r, const char *not_found_code) {
  return arm_res_require(r, &storage_account_type, http_param(r, "rg"), http_param(r, "account"),
                         not_found_code);
}

/* Checks sku, kind and accessTier together (as they end up after a PUT or PATCH)
 * and writes their canonical spellings back into body.  0 ok, -1 failed r. */
static int settings_check(http_req *r, json_t *body) {
  json_t *sku = json_object_get(body, "sku");
  const char *sku_in = json_string_value(json_object_get(sku, "name"));
  if (!sku_in) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_PROPERTY, "The property 'sku.name' is required.");
    return -1;
  }
  const char *skun = enum_match(SKUS, sku_in);
  if (!skun) {
    fail_enum(r, "sku.name", sku_in, SKUS);
    return -1;
  }
  const char *kind_in = json_string_value(json_object_get(body, "kind"));
  if (!kind_in) {
    http_fail(r, STORAGE_ERR_MISSING_REQUIRED_PROPERTY, "The property 'kind' is required.");
    return -1;
  }
  const char *kind = enum_match(KINDS, kind_in);
  if (!kind) {
    fail_enum(r, "kind", kind_in, KINDS);
    return -1;
  }
  int premium = strncmp(skun, "Premium", 7) == 0;
  if ((!strcmp(kind, "FileStorage") || !strcmp(kind, "BlockBlobStorage")) && !premium) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "Storage accounts of kind %s require a Premium SKU (Premium_LRS or Premium_ZRS).",
              kind);
    return -1;
  }
  if (!strcmp(kind, "BlobStorage") && premium) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "Storage accounts of kind BlobStorage do not support the SKU %s.", skun);
    return -1;
  }
  json_object_set_new(
      body, "sku", json_pack("{s:s,s:s}", "name", skun, "tier", premium ? "Premium" : "Standard"));
  json_object_set_new(body, "kind", json_string(kind));

  json_t *props = json_object_get(body, "properties");
  const char *tier_in = json_string_value(json_object_get(props, "accessTier"));
  const char *tier = tier_in ? enum_match(ACCESS_TIERS, tier_in) : NULL;
  if (tier_in && !tier) {
    fail_enum(r, "properties.accessTier", tier_in, ACCESS_TIERS);
    return -1;
  }
  if (tier && (strcmp(tier, "Premium") == 0) != premium) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "The access tier %s is not supported for the SKU %s.", tier, skun);
    return -1;
  }
  if (!tier && !strcmp(kind, "BlobStorage")) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "The property 'properties.accessTier' is required for storage accounts of kind "
              "BlobStorage.");
    return -1;
  }
  /* Azure gives general-purpose v2 and Blob Storage accounts the Hot tier by default. */
  if (!tier && (!strcmp(kind, "StorageV2") || !strcmp(kind, "BlobStorage")))
    tier = premium ? "Premium" : "Hot";
  if (tier)
    json_object_set_new(props, "accessTier", json_string(tier));
  else
    json_object_del(props, "accessTier");
  return 0;
}

/* Properties the client may set; anything else a PUT/PATCH names is ignored, as
 * Azure ignores read-only properties. */
static const char *const WRITABLE[] = {
    "accessTier",
    "allowBlobPublicAccess",
    "allowSharedKeyAccess",
    "allowCrossTenantReplication",
    "allowedCopyScope",
    "azureFilesIdentityBasedAuthentication",
    "customDomain",
    "defaultToOAuthAuthentication",
    "dnsEndpointType",
    "encryption",
    "immutableStorageWithVersioning",
    "isHnsEnabled",
    "isLocalUserEnabled",
    "isNfsV3Enabled",
    "isSftpEnabled",
    "keyPolicy",
    "largeFileSharesState",
    "minimumTlsVersion",
    "networkAcls",
    "publicNetworkAccess",
    "routingPreference",
    "sasPolicy",
    "supportsHttpsTrafficOnly",
    NULL,
};

/* Copies the writable properties of `in` over `props`. */
static void props_merge(json_t *props, json_t *in) {
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    if (!enum_match(WRITABLE, k)) continue;
    if (json_is_null(v))
      json_object_del(props, k);
    else
      json_object_set(props, k, v);
  }
  /* The ARM property was once named this; az 2.45 sends the new name. */
  json_t *net = json_object_get(in, "networkRuleSet");
  if (net && !json_object_get(in, "networkAcls")) json_object_set(props, "networkAcls", net);
}

/* ---- the resource type: the generic layer does the ARM part ------------------------- */

/* A new account's properties as Azure gives them (with HTTP allowed: azlite's
 * primary blob endpoint is plain HTTP, as Azurite's is). */
static json_t *props_new(void) {
  return json_pack("{s:b,s:s,s:b,s:{s:s,s:[],s:[],s:s}}", "supportsHttpsTrafficOnly", 0,
                   "minimumTlsVersion", "TLS1_0", "allowBlobPublicAccess", 0, "networkAcls",
                   "bypass", "AzureServices", "virtualNetworkRules", "ipRules", "defaultAction",
                   "Allow");
}

/* PUT: sku, kind and the writable properties from the request over what the
 * account keeps (creation time, key times); PATCH: only what the request
 * names, and kind only upgrades to StorageV2. */
static int account_build(arm_op *op) {
  http_req *r = op->r;
  json_t *in = op->in, *body = op->body;
  account_row row;
  int exists = row_load(op->s, op->name, &row);
  if (exists < 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The storage account could not be read.");
    return -1;
  }
  if (exists && strcasecmp(row.id, op->id) != 0) {
    http_fail(r, STORAGE_ERR_STORAGE_ACCOUNT_ALREADY_TAKEN,
              "The storage account named %s is already taken.", op->name);
    return -1;
  }
  char iso[40];
  clock_iso8601(clock_now_ms(op->s), iso);
  json_t *props;
  if (op->patch) {
    json_t *v = json_object_get(in, "sku");
    if (json_is_object(v)) json_object_set(body, "sku", v);
    const char *kind = json_string_value(json_object_get(in, "kind"));
    const char *old_kind = json_string_value(json_object_get(body, "kind"));
    if (kind && old_kind && strcasecmp(kind, old_kind) != 0) {
      /* Azure only upgrades to general-purpose v2. */
      if (strcasecmp(kind, "StorageV2") != 0 ||
          (strcmp(old_kind, "Storage") != 0 && strcmp(old_kind, "BlobStorage") != 0)) {
        http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
                  "The account kind cannot be changed from %s to %s; only Storage and "
                  "BlobStorage accounts can be upgraded, to StorageV2.",
                  old_kind, kind);
        return -1;
      }
      json_object_set_new(body, "kind", json_string("StorageV2"));
    }
    props = json_object_get(body, "properties");
    props_merge(props, json_object_get(in, "properties"));
    return settings_check(r, body);
  }
  json_object_set(body, "sku",
                  json_object_get(in, "sku") ? json_object_get(in, "sku") : json_object());
  json_object_set(body, "kind", json_object_get(in, "kind"));
  props = op->cur ? json_deep_copy(json_object_get(op->cur, "properties")) : NULL;
  if (!props) props = props_new();
  json_object_set_new(body, "properties", props);
  props_merge(props, json_object_get(in, "properties"));
  json_t *enc = json_object_get(props, "encryption");
  if (enc && !op->cur && !json_object_get(enc, "keySource"))
    json_object_set_new(enc, "keySource", json_string("Microsoft.Storage"));
  if (!enc)
    json_object_set_new(props, "encryption",
                        json_pack("{s:{s:{s:b,s:s,s:s},s:{s:b,s:s,s:s}},s:s,s:b}", "services",
                                  "blob", "enabled", 1, "keyType", "Account", "lastEnabledTime",
                                  iso, "file", "enabled", 1, "keyType", "Account",
                                  "lastEnabledTime", iso, "keySource", "Microsoft.Storage",
                                  "requireInfrastructureEncryption", 0));
  if (settings_check(r, body) != 0) return -1;
  if (!op->cur) {
    json_object_set_new(props, "creationTime", json_string(iso));
    json_object_set_new(props, "keyCreationTime", json_pack("{s:s,s:s}", "key1", iso, "key2", iso));
    json_object_set_new(props, "privateEndpointConnections", json_array());
  }
  json_object_set_new(props, "primaryLocation", json_string(op->location));
  json_object_set_new(props, "statusOfPrimary", json_string("available"));
  return 0;
}

/* The storage_accounts row the data plane reads (keys, settings), in the
 * layer's transaction. */
static int account_apply(arm_op *op) {
  srv *s = op->s;
  json_t *body = op->body;
  const char *sku = json_string_value(json_object_get(json_object_get(body, "sku"), "name"));
  const char *kind = json_string_value(json_object_get(body, "kind"));
  char *rp = row_props(body);
  int rc;
  if (!op->created) {
    rc = store_exec(s,
                    "UPDATE storage_accounts SET location=%Q, sku=%Q, kind=%Q, props=%Q "
                    "WHERE name=%Q",
                    op->location, sku, kind, rp, op->name);
  } else {
    char k1[128], k2[128];
    rc = key_new(k1) | key_new(k2);
    if (rc == 0)
      rc = store_exec(s,
                      "INSERT INTO storage_accounts(name,id,resource_group,location,sku,kind,key1,"
                      "key2,created_ms,props) VALUES(%Q,%Q,%Q,%Q,%Q,%Q,%Q,%Q,%lld,%Q)",
                      op->name, op->id, op->group, op->location, sku, kind, k1, k2,
                      (long long)clock_now_ms(s), rp);
  }
  free(rp);
  return rc;
}

/* Drops the account's rows (the blob tables cascade); its data files go after
 * the outermost transaction commits (blob_data_gc waits for it), so a delete
 * nested in a larger one (a resource group's) never loses files to a rollback. */
static int account_remove(srv *s, const char *id, json_t *body) {
  (void)body;
  const char *name = strrchr(id, '/') + 1;
  account_row row;
  int found = row_load(s, name, &row);
  if (found < 0) return -1;
  if (found == 0 || strcasecmp(row.id, id) != 0) return 0;
  blob_ids ids = {0};
  sqlite3_stmt *q;
  int rc = store_begin(s);
  if (rc != 0) return -1;
  if (store_prepare(store_db(s),
                    "SELECT e.file_id FROM blob_extents e JOIN blobs b ON b.id=e.blob_id"
                    " JOIN blob_containers c ON c.id=b.container_id WHERE c.account=?1"
                    " UNION SELECT k.file_id FROM blob_blocks k"
                    " JOIN blob_containers c ON c.id=k.container_id WHERE c.account=?1",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW)
      blob_ids_add(&ids, sqlite3_column_int64(q, 0));
    store_finalize(q);
  } else {
    rc = -1;
  }
  if (rc == 0) rc = store_exec(s, "DELETE FROM storage_accounts WHERE name=%Q", name);
  if (rc == 0) blob_data_gc(s, &ids);
  blob_ids_free(&ids);
  if (rc == 0) rc = store_commit(s);
  if (rc != 0) {
    store_rollback(s);
    return -1;
  }
  log_info("storage: deleted account %s", name);
  return 0;
}

const arm_type storage_account_type = {
    .type = ACCOUNT_TYPE,
    .display = "storage account",
    .name_valid = account_name_valid,
    .name_code = "AccountNameInvalid",
    .name_message = "%s is not a valid storage account name. Storage account name must be "
                    "between 3 and 24 characters in length and use numbers and lower-case "
                    "letters only.",
    .identity = 1,
    /* Azure answers 202 and finishes later; creation is immediate here, and
     * the SDKs accept a 200 with the account as the final answer. */
    .create_status = 200,
    .build = account_build,
    .apply = account_apply,
    .remove = account_remove,
    .render = account_render,
    .example_name = "contract1",
    .example_bad_name = "Not_Valid",
    .example_body = "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard_LRS\"},"
                    "\"kind\":\"StorageV2\"}",
};

/* ---- keys ----------------------------------------------------------------------------- */

static json_t *keys_json(srv *s, const char *name, json_t *body) {
  account_row row;
  if (row_load(s, name, &row) != 1) return NULL;
  json_t *kct = json_object_get(json_object_get(body, "properties"), "keyCreationTime");
  json_t *keys = json_array();
  const char *names[2] = {"key1", "key2"}, *vals[2] = {row.key1, row.key2};
  for (int i = 0; i < 2; i++) {
    json_t *k =
        json_pack("{s:s,s:s,s:s}", "keyName", names[i], "value", vals[i], "permissions", "FULL");
    json_t *ct = json_object_get(kct, names[i]);
    if (ct) json_object_set(k, "creationTime", ct);
    json_array_append_new(keys, k);
  }
  return json_pack("{s:o}", "keys", keys);
}

void storage_account_list_keys(http_req *r) {
  json_t *body = storage_account_require(r, "StorageAccountNotFound");
  if (!body) return;
  json_t *k = keys_json(r->srv, json_string_value(json_object_get(body, "name")), body);
  json_decref(body);
  if (!k)
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The keys could not be read.");
  else
    http_reply_json(r, 200, k);
}

void storage_account_regenerate_key(http_req *r) {
  srv *s = r->srv;
  json_t *body = storage_account_require(r, "StorageAccountNotFound");
  if (!body) return;
  json_t *in = http_body_json(r);
  if (!in) {
    json_decref(body);
    return;
  }
  const char *kn = json_string_value(json_object_get(in, "keyName"));
  const char *name = json_string_value(json_object_get(body, "name"));
  int which = kn && !strcasecmp(kn, "key1") ? 1 : kn && !strcasecmp(kn, "key2") ? 2 : 0;
  char key[128];
  if (!which) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "The value '%s' is not valid for property 'keyName'. Allowed values: key1, key2.",
              kn ? kn : "");
  } else if (key_new(key) != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "A key could not be generated.");
  } else {
    json_t *kct = json_object_get(json_object_get(body, "properties"), "keyCreationTime");
    if (!kct) {
      kct = json_object();
      json_object_set_new(json_object_get(body, "properties"), "keyCreationTime", kct);
    }
    json_object_set_new(kct, which == 1 ? "key1" : "key2", iso_now(s));
    /* The data plane reads keys from the row on every request: the old key
     * stops working when this commits. */
    int rc = store_begin(s);
    if (rc == 0 && arm_scope_writable(r, json_string_value(json_object_get(body, "id"))) != 0) {
      store_rollback(s);
      json_decref(in);
      json_decref(body);
      return;
    }
    if (rc == 0)
      rc = store_exec(s, "UPDATE storage_accounts SET %s=%Q WHERE name=%Q",
                      which == 1 ? "key1" : "key2", key, name);
    if (rc == 0)
      rc = arm_resource_put(s, json_string_value(json_object_get(body, "id")), ACCOUNT_TYPE, body);
    if (rc == 0) rc = store_commit(s);
    if (rc != 0) {
      store_rollback(s);
      http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The key could not be saved.");
    } else {
      http_reply_json(r, 200, keys_json(s, name, body));
    }
  }
  json_decref(in);
  json_decref(body);
}

/* ---- checkNameAvailability, SKUs ----------------------------------------------------------- */

void storage_check_name_availability(http_req *r) {
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  json_t *in = http_body_json(r);
  if (!in) return;
  const char *name = json_string_value(json_object_get(in, "name"));
  const char *type = json_string_value(json_object_get(in, "type"));
  if (!name || !type || strcasecmp(type, ACCOUNT_TYPE) != 0) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "The request needs 'name' and 'type' set to '%s'.", ACCOUNT_TYPE);
    json_decref(in);
    return;
  }
  json_t *out;
  account_row row;
  if (!account_name_valid(name)) {
    out = json_pack("{s:b,s:s,s:o}", "nameAvailable", 0, "reason", "AccountNameInvalid", "message",
                    json_sprintf("%s is not a valid storage account name. Storage account name "
                                 "must be between 3 and 24 characters in length and use numbers "
                                 "and lower-case letters only.",
                                 name));
  } else if (row_load(r->srv, name, &row) != 0) {
    out = json_pack("{s:b,s:s,s:o}", "nameAvailable", 0, "reason", "AlreadyExists", "message",
                    json_sprintf("The storage account named %s is already taken.", name));
  } else {
    out = json_pack("{s:b}", "nameAvailable", 1);
  }
  json_decref(in);
  http_reply_json(r, 200, out);
}

void storage_skus_list(http_req *r) {
  if (arm_require_subscription(r, http_param(r, "sub")) != 0) return;
  json_t *list = json_array();
  for (int i = 0; SKUS[i]; i++) {
    int premium = strncmp(SKUS[i], "Premium", 7) == 0;
    for (int k = 0; KINDS[k]; k++) {
      int premium_only = !strcmp(KINDS[k], "FileStorage") || !strcmp(KINDS[k], "BlockBlobStorage");
      if (premium_only != premium && !(premium && !strcmp(KINDS[k], "StorageV2"))) continue;
      if (premium && !strcmp(KINDS[k], "Storage")) continue;
      json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:[s],s:[],s:[],s:[]}",
                                            "resourceType", "storageAccounts", "name", SKUS[i],
                                            "tier", premium ? "Premium" : "Standard", "kind",
                                            KINDS[k], "locations", "eastus", "capabilities",
                                            "restrictions", "locationInfo"));
    }
  }
  arm_reply_list(r, list);
}

/* ---- blobServices/default ------------------------------------------------------------------ */

/* The stored blob service properties (new reference; {} when never set). */
static json_t *blob_services_load(srv *s, const char *account) {
  sqlite3_stmt *q;
  json_t *p = NULL;
  if (store_prepare(store_db(s), "SELECT props FROM storage_blob_services WHERE account=?", -1, &q,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
      p = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    store_finalize(q);
  }
  return p ? p : json_object();
}

int storage_last_access_tracking(srv *s, const char *account, int64_t *since_ms) {
  sqlite3_stmt *q;
  int on = 0;
  if (store_prepare(store_db(s),
                    "SELECT last_access_since_ms FROM storage_blob_services WHERE account=?"
                    " AND last_access_since_ms IS NOT NULL",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
      on = 1;
      if (since_ms) *since_ms = sqlite3_column_int64(q, 0);
    }
    store_finalize(q);
  }
  return on;
}

static json_t *blob_services_render(json_t *account, json_t *props) {
  return json_pack(
      "{s:o,s:s,s:s,s:O,s:o}", "id",
      json_sprintf("%s/blobServices/default", json_string_value(json_object_get(account, "id"))),
      "name", "default", "type", "Microsoft.Storage/storageAccounts/blobServices", "sku",
      json_object_get(account, "sku"), "properties", props);
}

void storage_blob_services_get(http_req *r) {
  json_t *acct = storage_account_require(r, "ResourceNotFound");
  if (!acct) return;
  if (strcmp(http_param(r, "service"), "default") != 0) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "The blob service name must be 'default'.");
  } else {
    json_t *p = blob_services_load(r->srv, json_string_value(json_object_get(acct, "name")));
    http_reply_json(r, 200, blob_services_render(acct, p));
  }
  json_decref(acct);
}

void storage_blob_services_list(http_req *r) {
  json_t *acct = storage_account_require(r, "ResourceNotFound");
  if (!acct) return;
  json_t *p = blob_services_load(r->srv, json_string_value(json_object_get(acct, "name")));
  arm_reply_list(r, json_pack("[o]", blob_services_render(acct, p)));
  json_decref(acct);
}

/* PUT (and PATCH): the named top-level properties replace the stored ones. */
void storage_blob_services_put(http_req *r) {
  srv *s = r->srv;
  json_t *acct = storage_account_require(r, "ResourceNotFound");
  if (!acct) return;
  json_t *in = NULL, *p = NULL;
  const char *name = json_string_value(json_object_get(acct, "name"));
  if (strcmp(http_param(r, "service"), "default") != 0) {
    http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
              "The blob service name must be 'default'.");
    goto done;
  }
  in = http_body_json(r);
  if (!in) goto done;
  p = blob_services_load(s, name);
  json_t *inp = json_object_get(in, "properties");
  const char *k;
  json_t *v;
  json_object_foreach(inp, k, v) {
    if (json_is_null(v))
      json_object_del(p, k);
    else
      json_object_set(p, k, v);
  }
  /* Soft delete keeps items 1 to 365 days (Azure's bounds). */
  static const char *const retention[] = {"deleteRetentionPolicy", "containerDeleteRetentionPolicy",
                                          NULL};
  for (int i = 0; retention[i]; i++) {
    json_t *pol = json_object_get(p, retention[i]);
    json_t *days = json_object_get(pol, "days");
    if (!pol || !json_is_true(json_object_get(pol, "enabled"))) continue;
    if (!days || !json_is_integer(days) || json_integer_value(days) < 1 ||
        json_integer_value(days) > 365) {
      http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
                "'%s.days' must be a whole number of days from 1 to 365.", retention[i]);
      goto done;
    }
  }
  json_t *lat = json_object_get(p, "lastAccessTimeTrackingPolicy");
  int enable = json_is_true(json_object_get(lat, "enable"));
  if (lat) {
    const char *ln = json_string_value(json_object_get(lat, "name"));
    json_t *gran = json_object_get(lat, "trackingGranularityInDays");
    if (ln && strcmp(ln, "AccessTimeTracking") != 0) {
      http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
                "The value '%s' is not valid for property "
                "'lastAccessTimeTrackingPolicy.name'. Allowed values: AccessTimeTracking.",
                ln);
      goto done;
    }
    if (gran && json_integer_value(gran) != 1) {
      http_fail(r, STORAGE_ERR_INVALID_REQUEST_PROPERTY_VALUE,
                "'lastAccessTimeTrackingPolicy.trackingGranularityInDays' must be 1.");
      goto done;
    }
    if (enable) {
      /* Azure fills in the read-only parts of the policy. */
      json_object_set_new(lat, "name", json_string("AccessTimeTracking"));
      json_object_set_new(lat, "trackingGranularityInDays", json_integer(1));
      if (!json_object_get(lat, "blobType"))
        json_object_set_new(lat, "blobType", json_pack("[s]", "blockBlob"));
    }
  }
  char *pj = json_dumps(p, JSON_COMPACT);
  /* Tracking starts when it is turned on; turning it on again keeps that time. */
  int rc = store_exec(s,
                      "INSERT INTO storage_blob_services(account,props,last_access_since_ms)"
                      " VALUES(%Q,%Q,CASE WHEN %d THEN %lld END) ON CONFLICT(account) DO UPDATE"
                      " SET props=excluded.props, last_access_since_ms=CASE WHEN %d THEN"
                      " coalesce(last_access_since_ms, excluded.last_access_since_ms) END",
                      name, pj, enable, (long long)clock_now_ms(s), enable);
  free(pj);
  if (rc != 0) {
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The blob service properties could not be saved.");
    goto done;
  }
  http_reply_json(r, 200, blob_services_render(acct, p));
  p = NULL;
done:
  json_decref(p);
  json_decref(in);
  json_decref(acct);
}
