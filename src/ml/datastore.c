/* datastore.c: a workspace's datastores (workspaces/{ws}/datastores/{name}):
 * the two every workspace is made with (workspaceblobstore, the default, on
 * container azureml-blobstore-<workspaceId>, and workspaceartifactstore on
 * container azureml, where run outputs go), and the user's own: Azure Blob
 * datastores on an account key, a SAS token or no secret (identity-based).
 * A datastore's body is a row of ml_datastores; its secret sits beside it
 * and only listSecrets shows it (for the workspace's own, the account's
 * current key). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../storage/storage.h"
#include "internal.h"

#define DS_TYPE ML_WS_TYPE "/datastores"

static json_t *ds_body(const char *ws_id, const char *name, const char *account,
                       const char *container, int is_default, const char *desc, json_t *sys) {
  return json_pack("{s:s++,s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:{s:s},s:b,s:s,s:s,s:{},s:{}},s:o}",
                   "id", ws_id, "/datastores/", name, "name", name, "type", DS_TYPE, "properties",
                   "datastoreType", "AzureBlob", "accountName", account, "containerName", container,
                   "endpoint", "core.windows.net", "protocol", "https", "credentials",
                   "credentialsType", "AccountKey", "isDefault", is_default,
                   "serviceDataAccessAuthIdentity", "None", "description", desc, "tags",
                   "properties", "systemData", sys);
}

static json_t *sys_now(srv *s) {
  char iso[40];
  clock_iso8601(clock_now_ms(s), iso);
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "createdAt", iso, "createdBy", "azlite",
                   "createdByType", "Application", "lastModifiedAt", iso, "lastModifiedBy",
                   "azlite", "lastModifiedByType", "Application");
}

static int ds_store(srv *s, const char *ws_id, const char *name, json_t *body, const char *secret) {
  char *b = json_dumps(body, JSON_COMPACT);
  int rc = store_run(s,
                     "INSERT INTO ml_datastores(ws_id,name,body,secret) VALUES(?,?,?,?)"
                     " ON CONFLICT(ws_id,name) DO UPDATE SET body=excluded.body,"
                     " secret=excluded.secret",
                     "tttt", ws_id, name, b, secret);
  free(b);
  return rc;
}

int ml_datastores_default(srv *s, const char *ws_id, const char *ws_uuid, const char *account) {
  if (!account) return -1;
  char blob_ct[80];
  snprintf(blob_ct, sizeof blob_ct, "azureml-blobstore-%s", ws_uuid);
  if (storage_container_ensure(s, account, blob_ct) != 0 ||
      storage_container_ensure(s, account, "azureml") != 0)
    return -1;
  json_t *a = ds_body(ws_id, "workspaceblobstore", account, blob_ct, 1, "", sys_now(s));
  json_t *b = ds_body(ws_id, "workspaceartifactstore", account, "azureml", 0, "", sys_now(s));
  int rc = ds_store(s, ws_id, "workspaceblobstore", a, NULL) |
           ds_store(s, ws_id, "workspaceartifactstore", b, NULL);
  json_decref(a);
  json_decref(b);
  return rc ? -1 : 0;
}

int ml_datastores_remove(srv *s, const char *ws_id) {
  return store_run(s, "DELETE FROM ml_datastores WHERE ws_id=? COLLATE NOCASE", "t", ws_id);
}

/* The workspace's id as stored (canonical), from the route; NULL with r failed. */
static const char *ws_id_of(http_req *r) {
  json_t *ws = http_json_own(r, ml_workspace_require(r));
  return ws ? http_strdup(r, json_string_value(json_object_get(ws, "id"))) : NULL;
}

/* The stored body (new reference) and secret (request-scoped, may be NULL). */
static json_t *ds_load(http_req *r, const char *ws_id, const char *name, const char **secret) {
  sqlite3_stmt *q;
  json_t *out = NULL;
  if (store_prepare(store_db(r->srv),
                    "SELECT body, secret FROM ml_datastores WHERE ws_id=?1 COLLATE NOCASE"
                    " AND name=?2 COLLATE NOCASE",
                    -1, &q, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(q, 1, ws_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) {
    out = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
    const char *sec = (const char *)sqlite3_column_text(q, 1);
    if (secret) *secret = sec ? http_strdup(r, sec) : NULL;
  }
  store_finalize(q);
  return out;
}

static void fail_ds_not_found(http_req *r, const char *name) {
  http_fail(r, ML_ERR_NOT_FOUND, "DatastoreNotFound: %s datastore does not exists.", name);
}

void ml_datastore_list(http_req *r) {
  const char *ws_id = ws_id_of(r);
  if (!ws_id) return;
  const char *want_default = http_query_get(r, "isDefault");
  json_t *list = json_array();
  sqlite3_stmt *q;
  if (store_prepare(store_db(r->srv),
                    "SELECT body FROM ml_datastores WHERE ws_id=?1 COLLATE NOCASE ORDER BY name",
                    -1, &q, NULL) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, ws_id, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
      json_t *b = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      if (!b) continue;
      int def = json_is_true(json_object_get(json_object_get(b, "properties"), "isDefault"));
      if (want_default && (strcasecmp(want_default, "true") == 0) != def) {
        json_decref(b);
        continue;
      }
      json_array_append_new(list, b);
    }
    store_finalize(q);
  }
  arm_reply_list(r, list);
}

void ml_datastore_get(http_req *r) {
  const char *ws_id = ws_id_of(r);
  if (!ws_id) return;
  const char *name = http_param(r, "name");
  json_t *b = ds_load(r, ws_id, name, NULL);
  if (!b) {
    fail_ds_not_found(r, name);
    return;
  }
  http_reply_json(r, 200, b);
}

/* Credentials a datastore may take, and the secret each keeps. */
static int creds_check(http_req *r, json_t *cred, const char **secret) {
  const char *t = json_string_value(json_object_get(cred, "credentialsType"));
  json_t *secrets = json_object_get(cred, "secrets");
  *secret = NULL;
  if (!t || !strcasecmp(t, "None")) return 0;
  if (!strcasecmp(t, "AccountKey")) {
    *secret = json_string_value(json_object_get(secrets, "key"));
  } else if (!strcasecmp(t, "Sas")) {
    *secret = json_string_value(json_object_get(secrets, "sasToken"));
  } else {
    http_fail(r, ML_ERR_VALIDATION,
              "Credentials of type %s are not supported by azlite's datastores (AccountKey, "
              "Sas and None are).",
              t);
    return -1;
  }
  if (!*secret || !**secret) {
    http_fail(r, ML_ERR_VALIDATION, "The datastore's %s credentials carry no secret.", t);
    return -1;
  }
  return 0;
}

void ml_datastore_put(http_req *r) {
  const char *ws_id = ws_id_of(r);
  if (!ws_id) return;
  const char *name = http_param(r, "name");
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *props = json_object_get(in, "properties");
  const char *type = json_string_value(json_object_get(props, "datastoreType"));
  if (!json_is_object(props) || !type) {
    http_fail(r, ML_ERR_VALIDATION, "The datastore needs properties.datastoreType.");
    return;
  }
  if (strcasecmp(type, "AzureBlob") != 0) {
    http_fail(r, ML_ERR_VALIDATION,
              "Datastores of type %s are not supported by azlite (AzureBlob is).", type);
    return;
  }
  const char *acct = json_string_value(json_object_get(props, "accountName"));
  const char *ct = json_string_value(json_object_get(props, "containerName"));
  if (!acct || !*acct || !ct || !*ct) {
    http_fail(r, ML_ERR_VALIDATION, "An AzureBlob datastore needs accountName and containerName.");
    return;
  }
  const char *secret;
  json_t *cred = json_object_get(props, "credentials");
  if (creds_check(r, cred, &secret) != 0) return;
  const char *old_secret = NULL;
  json_t *cur = http_json_own(r, ds_load(r, ws_id, name, &old_secret));
  json_t *sys = cur ? json_deep_copy(json_object_get(cur, "systemData")) : sys_now(r->srv);
  char iso[40];
  clock_iso8601(clock_now_ms(r->srv), iso);
  json_object_set_new(sys, "lastModifiedAt", json_string(iso));
  int is_default =
      cur && json_is_true(json_object_get(json_object_get(cur, "properties"), "isDefault"));
  const char *desc = json_string_value(json_object_get(props, "description"));
  json_t *b = http_json_own(r, ds_body(ws_id,
                                       json_string_value(json_object_get(cur, "name"))
                                           ? json_string_value(json_object_get(cur, "name"))
                                           : name,
                                       acct, ct, is_default, desc ? desc : "", sys));
  json_t *bp = json_object_get(b, "properties");
  const char *ep = json_string_value(json_object_get(props, "endpoint"));
  const char *proto = json_string_value(json_object_get(props, "protocol"));
  if (ep) json_object_set_new(bp, "endpoint", json_string(ep));
  if (proto) json_object_set_new(bp, "protocol", json_string(proto));
  const char *ctype = json_string_value(json_object_get(cred, "credentialsType"));
  json_object_set_new(bp, "credentials",
                      json_pack("{s:s}", "credentialsType", ctype ? ctype : "None"));
  json_t *tags = json_object_get(props, "tags");
  if (json_is_object(tags)) json_object_set(bp, "tags", tags);
  json_t *pp = json_object_get(props, "properties");
  if (json_is_object(pp)) json_object_set(bp, "properties", pp);
  if (ds_store(r->srv, ws_id, json_string_value(json_object_get(b, "name")), b, secret) != 0) {
    http_fail(r, ML_ERR_INTERNAL, "The datastore could not be saved.");
    return;
  }
  http_reply_json(r, cur ? 200 : 201, json_incref(b));
}

void ml_datastore_delete(http_req *r) {
  const char *ws_id = ws_id_of(r);
  if (!ws_id) return;
  const char *name = http_param(r, "name");
  json_t *cur = http_json_own(r, ds_load(r, ws_id, name, NULL));
  if (!cur) {
    http_reply_empty(r, 204);
    return;
  }
  if (json_is_true(json_object_get(json_object_get(cur, "properties"), "isDefault"))) {
    http_fail(r, ML_ERR_USER_ERROR, "The default datastore %s cannot be deleted.", name);
    return;
  }
  store_run(r->srv,
            "DELETE FROM ml_datastores WHERE ws_id=? COLLATE NOCASE AND name=? COLLATE NOCASE",
            "tt", ws_id, name);
  http_reply_empty(r, 200);
}

/* POST .../listSecrets: the key or SAS token; for an account-key datastore
 * without a stored key (the workspace's own), the account's current key1. */
void ml_datastore_list_secrets(http_req *r) {
  const char *ws_id = ws_id_of(r);
  if (!ws_id) return;
  const char *name = http_param(r, "name");
  const char *secret = NULL;
  json_t *b = http_json_own(r, ds_load(r, ws_id, name, &secret));
  if (!b) {
    fail_ds_not_found(r, name);
    return;
  }
  json_t *props = json_object_get(b, "properties");
  const char *t =
      json_string_value(json_object_get(json_object_get(props, "credentials"), "credentialsType"));
  if (t && !strcasecmp(t, "Sas")) {
    http_reply_json(r, 200, json_pack("{s:s,s:s}", "secretsType", "Sas", "sasToken", secret));
    return;
  }
  if (!t || strcasecmp(t, "AccountKey") != 0) {
    http_fail(r, ML_ERR_USER_ERROR, "The datastore %s has no secrets (credentials %s).", name,
              t ? t : "None");
    return;
  }
  char k1[128], k2[128];
  if (!secret) {
    const char *acct = json_string_value(json_object_get(props, "accountName"));
    if (!acct || storage_account_keys(r->srv, acct, k1, k2) != 0) {
      http_fail(r, ML_ERR_USER_ERROR, "The storage account of datastore %s no longer exists.",
                name);
      return;
    }
    secret = k1;
  }
  http_reply_json(r, 200, json_pack("{s:s,s:s}", "secretsType", "AccountKey", "key", secret));
}
