/* blob_dispatch.c: the blob data plane's front door.  Every blob request
 * arrives at blob_dispatch() (the provider's catch-all route); it finds the
 * account, container and blob in the URL, picks the operation from blob_ops[]
 * (keyed as Azure keys them: method, level, restype, comp), authenticates the
 * caller (Shared Key, SAS, bearer token, or anonymous under the container's
 * public access level), checks what the credential allows, and runs the
 * operation's function.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../identity/identity.h"
#include "blob.h"
#include "mgmt.h"

#define A_BLOB_READ "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
#define A_BLOB_WRITE "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
#define A_BLOB_DELETE "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete"
#define A_BLOB_ADD "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action"
#define A_TAGS_READ "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/read"
#define A_TAGS_WRITE "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write"
#define A_CONT_READ "Microsoft.Storage/storageAccounts/blobServices/containers/read"
#define A_CONT_WRITE "Microsoft.Storage/storageAccounts/blobServices/containers/write"
#define A_CONT_DELETE "Microsoft.Storage/storageAccounts/blobServices/containers/delete"
#define A_SVC_READ "Microsoft.Storage/storageAccounts/blobServices/read"
#define A_SVC_WRITE "Microsoft.Storage/storageAccounts/blobServices/write"
#define A_BLOB_MOVE "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action"
#define A_BLOB_PERMS                                                                               \
  "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/modifyPermissions/action"
#define A_UDK "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"

#define S BLOB_LVL_SERVICE
#define C BLOB_LVL_CONTAINER
#define B BLOB_LVL_BLOB
#define ANY BLOB_LVL_ANY
#define AC BLOB_ANON_CONTAINER
#define AB (BLOB_ANON_BLOB | BLOB_ANON_CONTAINER)

/* Every operation of the Blob service REST API.  A row without a function is
 * one azlite does not serve yet: it answers 501 rather than being mistaken for
 * another operation.  Fields left out are NULL or 0 (see struct blob_op). */
static const blob_op blob_ops[] = {
    {.name = "ListContainers",
     .method = "GET",
     .level = S,
     .comp = "list",
     .fn = blob_service_list_containers,
     .sas_perm = 'l',
     .sas_rtype = 's',
     .action = A_CONT_READ},
    {.name = "GetServiceProperties",
     .method = "GET",
     .level = S,
     .restype = "service",
     .comp = "properties",
     .fn = blob_service_get_properties,
     .sas_perm = 'r',
     .sas_rtype = 's',
     .action = A_SVC_READ},
    {.name = "SetServiceProperties",
     .method = "PUT",
     .level = S,
     .restype = "service",
     .comp = "properties",
     .fn = blob_service_set_properties,
     .sas_perm = 'w',
     .sas_rtype = 's',
     .action = A_SVC_WRITE},
    {.name = "GetServiceStats",
     .method = "GET",
     .level = S,
     .restype = "service",
     .comp = "stats",
     .fn = blob_service_get_stats,
     .sas_perm = 'r',
     .sas_rtype = 's',
     .action = A_SVC_READ},
    {.name = "GetUserDelegationKey",
     .method = "POST",
     .level = S,
     .restype = "service",
     .comp = "userdelegationkey",
     .fn = blob_service_get_udk,
     .sas_rtype = 's',
     .action = A_UDK},
    {.name = "FindBlobsByTags",
     .method = "GET",
     .level = S,
     .comp = "blobs",
     .fn = blob_find_by_tags,
     .sas_perm = 'f',
     .sas_rtype = 's',
     .action = A_TAGS_READ,
     .data_action = 1},
    {.name = "SubmitBatch",
     .method = "POST",
     .level = S,
     .comp = "batch",
     .fn = blob_submit_batch,
     .sas_rtype = 's',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    /* The JS SDK's service-level batch adds restype=container; Azure takes it. */
    {.name = "SubmitBatch",
     .method = "POST",
     .level = S,
     .restype = "container",
     .comp = "batch",
     .fn = blob_submit_batch,
     .sas_rtype = 's',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "GetAccountInformation",
     .method = "GET",
     .level = ANY,
     .restype = "account",
     .comp = "properties",
     .fn = blob_service_get_account_info,
     .sas_rtype = 's',
     .action = A_SVC_READ},
    {.name = "GetAccountInformation",
     .method = "HEAD",
     .level = ANY,
     .restype = "account",
     .comp = "properties",
     .fn = blob_service_get_account_info,
     .sas_rtype = 's',
     .action = A_SVC_READ},

    /* Account SAS: write or create (the SDKs' "create container" SAS has either). */
    {.name = "CreateContainer",
     .method = "PUT",
     .level = C,
     .restype = "container",
     .fn = blob_container_create,
     .sas_perm = 'w',
     .sas_rtype = 'c',
     .action = A_CONT_WRITE,
     .sas_alt = 'c'},
    {.name = "DeleteContainer",
     .method = "DELETE",
     .level = C,
     .restype = "container",
     .fn = blob_container_delete,
     .sas_perm = 'd',
     .sas_rtype = 'c',
     .action = A_CONT_DELETE},
    {.name = "GetContainerProperties",
     .method = "GET",
     .level = C,
     .restype = "container",
     .fn = blob_container_get_properties,
     .sas_perm = 'r',
     .sas_rtype = 'c',
     .anon = AC,
     .action = A_CONT_READ},
    {.name = "GetContainerProperties",
     .method = "HEAD",
     .level = C,
     .restype = "container",
     .fn = blob_container_get_properties,
     .sas_perm = 'r',
     .sas_rtype = 'c',
     .anon = AC,
     .action = A_CONT_READ},
    {.name = "GetContainerMetadata",
     .method = "GET",
     .level = C,
     .restype = "container",
     .comp = "metadata",
     .fn = blob_container_get_metadata,
     .sas_perm = 'r',
     .sas_rtype = 'c',
     .anon = AC,
     .action = A_CONT_READ},
    {.name = "GetContainerMetadata",
     .method = "HEAD",
     .level = C,
     .restype = "container",
     .comp = "metadata",
     .fn = blob_container_get_metadata,
     .sas_perm = 'r',
     .sas_rtype = 'c',
     .anon = AC,
     .action = A_CONT_READ},
    {.name = "SetContainerMetadata",
     .method = "PUT",
     .level = C,
     .restype = "container",
     .comp = "metadata",
     .fn = blob_container_set_metadata,
     .sas_perm = 'w',
     .sas_rtype = 'c',
     .action = A_CONT_WRITE},
    {.name = "GetContainerACL",
     .method = "GET",
     .level = C,
     .restype = "container",
     .comp = "acl",
     .fn = blob_container_get_acl,
     .sas_perm = 'r',
     .sas_rtype = 'c',
     .action = A_CONT_READ},
    {.name = "GetContainerACL",
     .method = "HEAD",
     .level = C,
     .restype = "container",
     .comp = "acl",
     .fn = blob_container_get_acl,
     .sas_perm = 'r',
     .sas_rtype = 'c',
     .action = A_CONT_READ},
    {.name = "SetContainerACL",
     .method = "PUT",
     .level = C,
     .restype = "container",
     .comp = "acl",
     .fn = blob_container_set_acl,
     .sas_perm = 'w',
     .sas_rtype = 'c',
     .action = A_CONT_WRITE},
    {.name = "ListBlobs",
     .method = "GET",
     .level = C,
     .restype = "container",
     .comp = "list",
     .fn = blob_list_blobs,
     .sas_perm = 'l',
     .sas_rtype = 'c',
     .anon = AC,
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "LeaseContainer",
     .method = "PUT",
     .level = C,
     .restype = "container",
     .comp = "lease",
     .fn = blob_lease_container,
     .sas_perm = 'w',
     .sas_rtype = 'c',
     .action = A_CONT_WRITE},
    {.name = "RestoreContainer",
     .method = "PUT",
     .level = C,
     .restype = "container",
     .comp = "undelete",
     .fn = blob_container_restore,
     .sas_perm = 'w',
     .sas_rtype = 'c',
     .action = A_CONT_WRITE},
    {.name = "RenameContainer",
     .method = "PUT",
     .level = C,
     .restype = "container",
     .comp = "rename",
     .sas_perm = 'w',
     .sas_rtype = 'c',
     .action = A_CONT_WRITE},
    {.name = "FindBlobsByTagsInContainer",
     .method = "GET",
     .level = C,
     .restype = "container",
     .comp = "blobs",
     .fn = blob_find_by_tags,
     .sas_perm = 'f',
     .sas_rtype = 'c',
     .action = A_TAGS_READ,
     .data_action = 1},
    {.name = "SubmitContainerBatch",
     .method = "POST",
     .level = C,
     .restype = "container",
     .comp = "batch",
     .fn = blob_submit_batch,
     .sas_rtype = 'c',
     .action = A_BLOB_WRITE,
     .data_action = 1},

    /* Also Copy Blob, Copy Blob From URL, Put Blob From URL, page and append blob creation:
     * 'c' writes them only where no blob exists yet. */
    {.name = "PutBlob",
     .method = "PUT",
     .level = B,
     .fn = blob_put_blob,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1,
     .sas_alt = 'c'},
    {.name = "PutBlock",
     .method = "PUT",
     .level = B,
     .comp = "block",
     .fn = blob_put_block,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1,
     .sas_alt = 'c'},
    {.name = "PutBlockList",
     .method = "PUT",
     .level = B,
     .comp = "blocklist",
     .fn = blob_put_block_list,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1,
     .sas_alt = 'c'},
    {.name = "GetBlockList",
     .method = "GET",
     .level = B,
     .comp = "blocklist",
     .fn = blob_get_block_list,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .anon = AB,
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "GetBlob",
     .method = "GET",
     .level = B,
     .fn = blob_get_blob,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .anon = AB,
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "GetBlobProperties",
     .method = "HEAD",
     .level = B,
     .fn = blob_get_properties,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .anon = AB,
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "DeleteBlob",
     .method = "DELETE",
     .level = B,
     .fn = blob_delete_blob,
     .sas_perm = 'd',
     .sas_rtype = 'o',
     .action = A_BLOB_DELETE,
     .data_action = 1},
    {.name = "SetBlobProperties",
     .method = "PUT",
     .level = B,
     .comp = "properties",
     .fn = blob_set_http_headers,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "GetBlobMetadata",
     .method = "GET",
     .level = B,
     .comp = "metadata",
     .fn = blob_get_metadata,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .anon = AB,
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "GetBlobMetadata",
     .method = "HEAD",
     .level = B,
     .comp = "metadata",
     .fn = blob_get_metadata,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .anon = AB,
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "SetBlobMetadata",
     .method = "PUT",
     .level = B,
     .comp = "metadata",
     .fn = blob_set_metadata,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "LeaseBlob",
     .method = "PUT",
     .level = B,
     .comp = "lease",
     .fn = blob_lease_blob,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "SnapshotBlob",
     .method = "PUT",
     .level = B,
     .comp = "snapshot",
     .fn = blob_snapshot_blob,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1,
     .sas_alt = 'c'},
    {.name = "AbortCopyBlob",
     .method = "PUT",
     .level = B,
     .comp = "copy",
     .fn = blob_abort_copy,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "SetBlobTier",
     .method = "PUT",
     .level = B,
     .comp = "tier",
     .fn = blob_set_tier,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "UndeleteBlob",
     .method = "PUT",
     .level = B,
     .comp = "undelete",
     .fn = blob_undelete_blob,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "SetBlobExpiry",
     .method = "PUT",
     .level = B,
     .comp = "expiry",
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "GetBlobTags",
     .method = "GET",
     .level = B,
     .comp = "tags",
     .fn = blob_get_tags,
     .sas_perm = 't',
     .sas_rtype = 'o',
     .action = A_TAGS_READ,
     .data_action = 1},
    {.name = "SetBlobTags",
     .method = "PUT",
     .level = B,
     .comp = "tags",
     .fn = blob_set_tags,
     .sas_perm = 't',
     .sas_rtype = 'o',
     .action = A_TAGS_WRITE,
     .data_action = 1},
    {.name = "SetImmutabilityPolicy",
     .method = "PUT",
     .level = B,
     .comp = "immutabilityPolicies",
     .sas_perm = 'i',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "SetLegalHold",
     .method = "PUT",
     .level = B,
     .comp = "legalhold",
     .sas_perm = 'l',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "AppendBlock",
     .method = "PUT",
     .level = B,
     .comp = "appendblock",
     .fn = blob_append_block,
     .sas_perm = 'a',
     .sas_rtype = 'o',
     .action = A_BLOB_ADD,
     .data_action = 1,
     .sas_alt = 'w'},
    {.name = "SealAppendBlob",
     .method = "PUT",
     .level = B,
     .comp = "seal",
     .fn = blob_append_seal,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "PutPage",
     .method = "PUT",
     .level = B,
     .comp = "page",
     .fn = blob_put_page,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "GetPageRanges",
     .method = "GET",
     .level = B,
     .comp = "pagelist",
     .fn = blob_get_page_ranges,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .anon = AB,
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "IncrementalCopy",
     .method = "PUT",
     .level = B,
     .comp = "incrementalcopy",
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "QueryBlob",
     .method = "POST",
     .level = B,
     .comp = "query",
     .fn = blob_query,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .action = A_BLOB_READ,
     .data_action = 1},
};

/* The Data Lake Storage Gen2 (dfs) operations, keyed by method, level, the
 * resource= parameter (in .restype) and the action= one (in .comp); a rename
 * (x-ms-rename-source) and a recursive delete are keyed as the actions
 * "rename" and "delete" (see dfs_keys).  Served on every blob listener and on
 * <account>.dfs hosts: a request of this shape is never a Blob API one. */
static const blob_op dfs_ops[] = {
    {.name = "CreateFilesystem",
     .method = "PUT",
     .level = C,
     .restype = "filesystem",
     .fn = blob_container_create,
     .sas_perm = 'c',
     .sas_rtype = 'c',
     .action = A_CONT_WRITE},
    {.name = "DeleteFilesystem",
     .method = "DELETE",
     .level = C,
     .restype = "filesystem",
     .fn = blob_container_delete,
     .sas_perm = 'd',
     .sas_rtype = 'c',
     .action = A_CONT_DELETE},
    {.name = "GetFilesystemProperties",
     .method = "HEAD",
     .level = C,
     .restype = "filesystem",
     .fn = blob_container_get_properties,
     .sas_perm = 'r',
     .sas_rtype = 'c',
     .action = A_CONT_READ},
    {.name = "ListPaths",
     .method = "GET",
     .level = C,
     .restype = "filesystem",
     .fn = blob_dfs_list_paths,
     .sas_perm = 'l',
     .sas_rtype = 'c',
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "ListFilesystems",
     .method = "GET",
     .level = S,
     .restype = "account",
     .sas_perm = 'l',
     .sas_rtype = 's',
     .action = A_CONT_READ},
    {.name = "CreatePath",
     .method = "PUT",
     .level = B,
     .restype = "file",
     .fn = blob_dfs_create,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1,
     .sas_alt = 'c'},
    {.name = "CreatePath",
     .method = "PUT",
     .level = B,
     .restype = "directory",
     .fn = blob_dfs_create,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1,
     .sas_alt = 'c'},
    {.name = "RenamePath",
     .method = "PUT",
     .level = B,
     .comp = "rename",
     .fn = blob_dfs_rename,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_MOVE,
     .data_action = 1},
    {.name = "DeletePath",
     .method = "DELETE",
     .level = B,
     .comp = "delete",
     .fn = blob_dfs_delete,
     .sas_perm = 'd',
     .sas_rtype = 'o',
     .action = A_BLOB_DELETE,
     .data_action = 1},
    {.name = "AppendData",
     .method = "PATCH",
     .level = B,
     .comp = "append",
     .fn = blob_dfs_append,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "FlushData",
     .method = "PATCH",
     .level = B,
     .comp = "flush",
     .fn = blob_dfs_flush,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "SetAccessControl",
     .method = "PATCH",
     .level = B,
     .comp = "setAccessControl",
     .fn = blob_dfs_set_access_control,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_PERMS,
     .data_action = 1},
    {.name = "SetAccessControlRecursive",
     .method = "PATCH",
     .level = B,
     .comp = "setAccessControlRecursive",
     .fn = blob_dfs_set_access_control_recursive,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_PERMS,
     .data_action = 1},
    {.name = "SetPathProperties",
     .method = "PATCH",
     .level = B,
     .comp = "setProperties",
     .fn = blob_dfs_set_properties,
     .sas_perm = 'w',
     .sas_rtype = 'o',
     .action = A_BLOB_WRITE,
     .data_action = 1},
    {.name = "GetPathStatus",
     .method = "HEAD",
     .level = B,
     .comp = "getStatus",
     .fn = blob_dfs_get_status,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .action = A_BLOB_READ,
     .data_action = 1},
    {.name = "GetPathAccessControl",
     .method = "HEAD",
     .level = B,
     .comp = "getAccessControl",
     .fn = blob_dfs_get_access_control,
     .sas_perm = 'r',
     .sas_rtype = 'o',
     .action = A_BLOB_READ,
     .data_action = 1},
};

#undef S
#undef C
#undef B
#undef ANY
#undef AC
#undef AB

static int param_is(const char *want, const char *got) {
  if (!want) return got == NULL;
  return got && strcasecmp(want, got) == 0;
}

/* Finds the operation; *known is set when the (level, restype, comp) exists
 * for another method. */
static const blob_op *find_op(const blob_op *ops, size_t nops, const char *method,
                              enum blob_level lvl, const char *restype, const char *comp,
                              int *known) {
  *known = 0;
  for (size_t i = 0; i < nops; i++) {
    const blob_op *op = &ops[i];
    if (op->level != BLOB_LVL_ANY && op->level != lvl) continue;
    if (!param_is(op->restype, restype) || !param_is(op->comp, comp)) continue;
    if (strcasecmp(op->method, method) == 0) return op;
    *known = 1;
  }
  return NULL;
}

/* ---- failures shared by the operations ------------------------------------------ */

void blob_fail_container_not_found(blob_ctx *c) {
  http_fail(c->r, STORAGE_ERR_CONTAINER_NOT_FOUND, "The specified container does not exist.");
}

void blob_fail_blob_not_found(blob_ctx *c) {
  http_fail(c->r, STORAGE_ERR_BLOB_NOT_FOUND, "The specified blob does not exist.");
}

void blob_fail_internal(blob_ctx *c, const char *what) {
  log_error("blob: %s %s: failed %s", c->r->method, c->r->path, what);
  http_fail(c->r, STORAGE_ERR_INTERNAL_ERROR,
            "Server encountered an internal error. Please try again after some time.");
}

void blob_fail_header(blob_ctx *c, const char *header, const char *value) {
  http_fail(c->r, STORAGE_ERR_INVALID_HEADER_VALUE,
            "The value for one of the HTTP headers is not in the correct format.");
  http_fail_detail(c->r, "HeaderName", header);
  http_fail_detail(c->r, "HeaderValue", value ? value : "");
}

void blob_fail_query(blob_ctx *c, const char *param, const char *value) {
  http_fail(c->r, STORAGE_ERR_INVALID_QUERY_PARAMETER_VALUE,
            "Value for one of the query parameters specified in the request URI is invalid.");
  http_fail_detail(c->r, "QueryParameterName", param);
  http_fail_detail(c->r, "QueryParameterValue", value ? value : "");
}

void blob_set_etag_lm(blob_ctx *c, const char *etag, int64_t last_modified_ms) {
  char d[32];
  http_date(last_modified_ms, d);
  http_set_headerf(c->r, "ETag", "\"%s\"", etag);
  http_set_header(c->r, "Last-Modified", d);
  if (c->version_id) http_set_header(c->r, "x-ms-version-id", c->version_id);
}

int blob_read_begin(blob_ctx *c) {
  return sqlite3_exec(store_db(c->s), "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void blob_read_end(blob_ctx *c) {
  sqlite3_exec(store_db(c->s), "COMMIT", NULL, NULL, NULL);
}

/* ---- the URL ------------------------------------------------------------------ */

/* "<account>.blob.localhost[:port]" or "<account>.blob.core.windows.net": the
 * account from the host (request-scoped), else NULL. */
static const char *account_from_host(http_req *r) {
  static const char *const suffixes[] = {".blob.localhost", ".blob.core.windows.net",
                                         ".dfs.localhost", ".dfs.core.windows.net"};
  const char *h = r->host;
  size_t n = strcspn(h, ":");
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    size_t k = strlen(suffixes[i]);
    if (n > k && strncasecmp(h + n - k, suffixes[i], k) == 0) {
      char *acct = http_alloc(r, n - k + 1);
      memcpy(acct, h, n - k);
      return acct;
    }
  }
  return NULL;
}

/* Splits the path into account, container and blob.  The blob keeps every
 * character after the container's '/' (it may hold '/', even leading ones). */
static int split_path(blob_ctx *c) {
  http_req *r = c->r;
  /* Azure reads a backslash in the path as a slash (a\b names a/b), for every
   * operation; the request's own path, which credentials sign, stays as sent. */
  char *path = http_strdup(r, r->path);
  for (char *q = path; *q; q++)
    if (*q == '\\') *q = '/';
  const char *p = path;
  const char *host_account = account_from_host(r);
  while (*p == '/')
    p++;
  if (host_account) {
    c->account = host_account;
  } else {
    size_t n = strcspn(p, "/");
    if (n == 0) {
      http_fail(r, STORAGE_ERR_INVALID_QUERY_PARAMETER_VALUE,
                "Value for one of the query parameters specified in the request URI is "
                "invalid.");
      return -1;
    }
    char *a = http_alloc(r, n + 1);
    memcpy(a, p, n);
    c->account = a;
    p += n;
    if (*p == '/') p++;
  }
  size_t n = strcspn(p, "/");
  if (n > 0) {
    char *ct = http_alloc(r, n + 1);
    memcpy(ct, p, n);
    c->container = ct;
    p += n;
    if (*p == '/' && p[1]) c->blob = http_strdup(r, p + 1);
  }
  const char *scheme = r->listener == LISTEN_BLOB_TLS ? "https" : "http";
  if (host_account)
    c->endpoint = http_printf(r, "%s://%s/", scheme, r->host);
  else
    c->endpoint = http_printf(r, "%s://%s/%s/", scheme, r->host, c->account);
  return 0;
}

/* ---- authentication ------------------------------------------------------------ */

typedef struct account_row {
  char key1[128], key2[128];
  char id[512];
} account_row;

static int account_load(blob_ctx *c, account_row *out) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(c->s),
                    "SELECT key1, key2, id, props FROM storage_accounts WHERE name=?", -1, &q,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, c->account, -1, SQLITE_STATIC);
  int found = 0;
  if (sqlite3_step(q) == SQLITE_ROW) {
    found = 1;
    const char *k1 = (const char *)sqlite3_column_text(q, 0);
    const char *k2 = (const char *)sqlite3_column_text(q, 1);
    const char *id = (const char *)sqlite3_column_text(q, 2);
    snprintf(out->key1, sizeof out->key1, "%s", k1 ? k1 : "");
    snprintf(out->key2, sizeof out->key2, "%s", k2 ? k2 : "");
    if (id)
      snprintf(out->id, sizeof out->id, "%s", id);
    else
      snprintf(out->id, sizeof out->id,
               "/subscriptions/%s/resourceGroups/azlite/providers/Microsoft.Storage/"
               "storageAccounts/%s",
               c->s->subscription_id, c->account);
    json_t *props = json_loads((const char *)sqlite3_column_text(q, 3) ?: "{}", 0, NULL);
    c->allow_public = !json_is_false(json_object_get(props, "allowBlobPublicAccess"));
    c->allow_shared_key = !json_is_false(json_object_get(props, "allowSharedKeyAccess"));
    c->https_only = json_is_true(json_object_get(props, "supportsHttpsTrafficOnly"));
    c->hns = json_is_true(json_object_get(props, "isHnsEnabled"));
    const char *tier = json_string_value(json_object_get(props, "accessTier"));
    c->tier_default = http_strdup(c->r, tier ? tier : "Hot");
    json_decref(props);
  }
  store_finalize(q);
  return found;
}

int storage_account_keys(srv *s, const char *account, char key1[128], char key2[128]) {
  sqlite3_stmt *q;
  if (store_prepare(store_db(s), "SELECT key1, key2 FROM storage_accounts WHERE name=?", -1, &q,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(q, 1, account, -1, SQLITE_STATIC);
  int rc = -1;
  if (sqlite3_step(q) == SQLITE_ROW) {
    snprintf(key1, 128, "%s", (const char *)sqlite3_column_text(q, 0));
    snprintf(key2, 128, "%s", (const char *)sqlite3_column_text(q, 1));
    rc = 0;
  }
  store_finalize(q);
  return rc;
}

int blob_policy_lookup(void *cls, const char *container, const char *id, sauth_policy *out) {
  blob_ctx *c = cls;
  blob_container_row ct;
  if (!container || blob_container_load(c, container, &ct) != 1) return -1;
  json_t *acl = json_loads(ct.acl, 0, NULL);
  size_t i;
  json_t *e;
  int rc = -1;
  json_array_foreach(acl, i, e) {
    const char *eid = json_string_value(json_object_get(e, "id"));
    if (!eid || strcmp(eid, id) != 0) continue;
    const char *perm = json_string_value(json_object_get(e, "permission"));
    const char *start = json_string_value(json_object_get(e, "start"));
    const char *expiry = json_string_value(json_object_get(e, "expiry"));
    snprintf(out->permissions, sizeof out->permissions, "%s", perm ? perm : "");
    out->start_ms = start && *start ? clock_parse_iso8601(start) : -1;
    out->expiry_ms = expiry && *expiry ? clock_parse_iso8601(expiry) : -1;
    rc = 0;
    break;
  }
  json_decref(acl);
  return rc;
}

static char *data_scope(blob_ctx *c, const account_row *acct) {
  if (c->container)
    return http_printf(c->r, "%s/blobServices/default/containers/%s", acct->id, c->container);
  return http_printf(c->r, "%s/blobServices/default", acct->id);
}

static int authenticate_bearer(blob_ctx *c, const char *authz, const account_row *acct) {
  http_req *r = c->r;
  if (r->listener != LISTEN_BLOB_TLS) {
    http_fail(r, STORAGE_ERR_AUTHENTICATION_FAILED,
              "Server failed to authenticate the request. Make sure the value of the "
              "Authorization header is formed correctly including the signature.");
    http_fail_detail(r, "AuthenticationErrorDetail",
                     "Authentication scheme Bearer is not allowed with HTTP.");
    return -1;
  }
  principal *p = http_alloc(r, sizeof *p);
  const char *why = NULL;
  char msg[256] = "";
  if (identity_verify_bearer(c->s, authz, AUD_STORAGE, p, &why, msg, sizeof msg) != 0) {
    if (http_req_transparent(r))
      http_set_headerf(r, "WWW-Authenticate",
                       "Bearer authorization_uri=https://login.microsoftonline.com/%s/oauth2/"
                       "authorize resource_id=%s",
                       c->s->tenant_id, AUD_STORAGE);
    else
      http_set_headerf(r, "WWW-Authenticate",
                       "Bearer authorization_uri=%s/adfs/oauth2/authorize resource_id=%s",
                       c->s->mgmt_url, AUD_STORAGE);
    http_fail(r, STORAGE_ERR_INVALID_AUTHENTICATION_INFO_401,
              "Server failed to authenticate the request. Please refer to the information in "
              "the www-authenticate header.");
    http_fail_detail(r, "AuthenticationErrorDetail", msg[0] ? msg : (why ? why : "invalid token"));
    return -1;
  }
  r->caller = p;
  c->auth.kind = SAUTH_BEARER;
  c->caller_oid = p->oid;
  /* Azure checks RBAC first, then, on a hierarchical namespace, the path's ACLs. */
  if (authz_check(c->s, p, c->op->action, data_scope(c, acct), c->op->data_action) != 0 &&
      !(c->hns && c->op->data_action && blob_dfs_acl_allows(c))) {
    http_fail(r, STORAGE_ERR_AUTHORIZATION_PERMISSION_MISMATCH,
              "This request is not authorized to perform this operation using this permission.");
    return -1;
  }
  return 0;
}

/* An anonymous caller may only read what the container's public access opens. */
static int authorize_anonymous(blob_ctx *c) {
  http_req *r = c->r;
  if (c->op->anon && !c->allow_public) {
    http_fail(r, STORAGE_ERR_PUBLIC_ACCESS_NOT_PERMITTED,
              "Public access is not permitted on this storage account.");
    return -1;
  }
  if (c->op->anon && c->container) {
    blob_container_row ct;
    if (blob_container_load(c, c->container, &ct) == 1) {
      /* "container" opens every anonymous read; "blob" only reads of blobs. */
      if (strcmp(ct.public_access, "container") == 0) return 0;
      if (strcmp(ct.public_access, "blob") == 0 && (c->op->anon & BLOB_ANON_BLOB)) return 0;
    }
  }
  /* Azure hides private resources from anonymous readers behind a 404. */
  if (strcasecmp(r->method, "GET") == 0 || strcasecmp(r->method, "HEAD") == 0) {
    http_fail(r, STORAGE_ERR_RESOURCE_NOT_FOUND, "The specified resource does not exist.");
  } else {
    http_fail(r, STORAGE_ERR_NO_AUTHENTICATION_INFORMATION,
              "Server failed to authenticate the request. Please refer to the information in "
              "the www-authenticate header.");
  }
  return -1;
}

static void udk_derive(void *cls, const char *skoid, const char *sktid, const char *skt,
                       const char *ske, const char *sks, const char *skv, char out[48]) {
  identity_user_delegation_key(cls, skoid, sktid, skt, ske, sks, skv, out);
}

/* A user delegation SAS acts for the principal whose key signed it: that
 * principal must still exist and hold the operation's data action now. */
static int authorize_delegator(blob_ctx *c, const account_row *acct) {
  principal *p = http_alloc(c->r, sizeof *p);
  if (identity_principal_get(c->s, c->auth.skoid, p) != 0) {
    http_fail(c->r, STORAGE_ERR_AUTHENTICATION_FAILED,
              "Server failed to authenticate the request. Make sure the value of Authorization "
              "header is formed correctly including the signature.");
    http_fail_detail(c->r, "AuthenticationErrorDetail",
                     "The principal that signed the user delegation key no longer exists.");
    return -1;
  }
  if (authz_check(c->s, p, c->op->action, data_scope(c, acct), c->op->data_action) != 0) {
    http_fail(c->r, STORAGE_ERR_AUTHORIZATION_PERMISSION_MISMATCH,
              "This request is not authorized to perform this operation using this permission.");
    return -1;
  }
  return 0;
}

/* Does a blob stand at the request's name?  1 yes, 0 no, -1 failed (request failed). */
static int target_blob_exists(blob_ctx *c) {
  blob_container_row ct;
  blob_row b;
  int found = blob_container_load(c, c->container, &ct);
  if (found == 1) found = blob_row_load(c, ct.id, c->blob, "", &b);
  if (found < 0) blob_fail_internal(c, "loading the blob");
  return found;
}

static int fail_permission(blob_ctx *c) {
  http_fail(c->r, STORAGE_ERR_AUTHORIZATION_PERMISSION_MISMATCH,
            "This request is not authorized to perform this operation using this permission.");
  return -1;
}

static int authorize_sas(blob_ctx *c) {
  const blob_op *op = c->op;
  if (!op->sas_perm) return 0;
  if (sauth_sas_allows(&c->auth, op->sas_perm, op->sas_rtype)) return 0;
  if (op->sas_alt && sauth_sas_allows(&c->auth, op->sas_alt, op->sas_rtype)) {
    /* Create (c) writes a new blob only; an existing one needs write (w).  A snapshot
     * is new by nature. */
    if (op->sas_alt != 'c' || op->level != BLOB_LVL_BLOB ||
        (op->comp && strcmp(op->comp, "snapshot") == 0))
      return 0;
    c->sas_create_only = 1;
    int exists = target_blob_exists(c);
    if (exists < 0) return -1;
    return exists ? fail_permission(c) : 0;
  }
  if (c->auth.kind == SAUTH_SAS_ACCOUNT && !strchr(c->auth.resource_types, op->sas_rtype))
    http_fail(c->r, STORAGE_ERR_AUTHORIZATION_RESOURCE_TYPE_MISMATCH,
              "This request is not authorized to perform this operation using this resource "
              "type.");
  else
    fail_permission(c);
  return -1;
}

/* The wall clock, which Shared Key dates are checked against (sauth.h). */
static int64_t wall_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int authenticate(blob_ctx *c) {
  http_req *r = c->r;
  account_row acct;
  int found = account_load(c, &acct);
  if (found < 0) {
    blob_fail_internal(c, "loading the account");
    return -1;
  }
  if (found == 0) {
    http_fail(r, STORAGE_ERR_RESOURCE_NOT_FOUND, "The specified resource does not exist.");
    http_fail_detail(r, "AccountName", c->account);
    return -1;
  }
  if (c->https_only && r->listener == LISTEN_BLOB) {
    http_fail(r, STORAGE_ERR_ACCOUNT_REQUIRES_HTTPS,
              "The account being accessed does not support http.");
    http_fail_detail(r, "AccountName", c->account);
    return -1;
  }
  const char *authz = http_header_get(r, "Authorization");
  if (authz && strncasecmp(authz, "Bearer ", 7) == 0) return authenticate_bearer(c, authz, &acct);
  sauth_keys keys = {c->account, acct.key1, acct.key2, udk_derive, c->s};
  if (sauth_authenticate(r, &keys, c->container, c->blob, c->now_ms, wall_now_ms(),
                         blob_policy_lookup, c, &c->auth) != 0)
    return -1;
  if (c->auth.kind == SAUTH_ANONYMOUS) return authorize_anonymous(c);
  if (c->auth.kind == SAUTH_SAS_USER_DELEGATION && authorize_delegator(c, &acct) != 0) return -1;
  if (!c->allow_shared_key &&
      (c->auth.kind == SAUTH_SHARED_KEY || c->auth.kind == SAUTH_SAS_ACCOUNT ||
       c->auth.kind == SAUTH_SAS_SERVICE)) {
    http_fail(r, STORAGE_ERR_KEY_BASED_AUTHENTICATION_NOT_PERMITTED,
              "Key based authentication is not permitted on this storage account.");
    return -1;
  }
  return authorize_sas(c);
}

/* ---- the front door ---------------------------------------------------------------- */

static void dispatch_one(blob_ctx *c);

void blob_dispatch(http_req *r) {
  blob_ctx *c = http_alloc(r, sizeof *c);
  c->r = r;
  c->s = r->srv;
  c->now_ms = clock_now_ms(r->srv);
  /* A version the service does not know is refused before anything reads it. */
  const char *ver = http_header_get(r, "x-ms-version");
  if (ver && !sauth_version_known(ver)) {
    http_set_header(r, "x-ms-version", BLOB_DEFAULT_VERSION);
    blob_fail_header(c, "x-ms-version", ver);
    return;
  }
  /* A SAS's sv stands in for x-ms-version, but only a real version is echoed. */
  const char *effective = blob_request_version(r);
  http_set_header(r, "x-ms-version",
                  sauth_version_known(effective) ? effective : BLOB_DEFAULT_VERSION);
  char date[32];
  http_date(c->now_ms, date);
  http_set_header(r, "Date", date);
  if (split_path(c) != 0) return;
  /* A CORS preflight carries no credentials: the account's rules answer it. */
  if (strcasecmp(r->method, "OPTIONS") == 0) {
    blob_cors_preflight(c);
    return;
  }
  dispatch_one(c);
  if (http_header_get(r, "Origin")) blob_cors_headers(c);
}

static int op_takes_version(const blob_op *op) {
  static const char *const ops[] = {"GetBlob",     "GetBlobProperties", "GetBlobMetadata",
                                    "DeleteBlob",  "SetBlobTier",       "GetBlobTags",
                                    "SetBlobTags", "QueryBlob",         NULL};
  for (int i = 0; ops[i]; i++)
    if (!strcmp(op->name, ops[i])) return 1;
  return 0;
}

/* Is this a Data Lake (dfs) request?  Then *restype and *comp are its keys in
 * dfs_ops: resource= and action=, or the rename and recursive delete. */
static int dfs_keys(http_req *r, enum blob_level lvl, const char **restype, const char **comp) {
  const char *res = http_query_get(r, "resource"), *act = http_query_get(r, "action");
  *restype = res;
  *comp = act;
  if (res || act) return 1;
  if (lvl == BLOB_LVL_BLOB && !strcasecmp(r->method, "PUT") &&
      http_header_get(r, "x-ms-rename-source")) {
    *comp = "rename";
    return 1;
  }
  if (lvl == BLOB_LVL_BLOB && !strcasecmp(r->method, "DELETE") && http_query_get(r, "recursive")) {
    *comp = "delete";
    return 1;
  }
  if (!strcasecmp(r->method, "PATCH")) return 1;
  *restype = http_query_get(r, "restype");
  *comp = http_query_get(r, "comp");
  return 0;
}

static void dispatch_one(blob_ctx *c) {
  http_req *r = c->r;

  enum blob_level lvl = c->blob        ? BLOB_LVL_BLOB
                        : c->container ? BLOB_LVL_CONTAINER
                                       : BLOB_LVL_SERVICE;
  int known = 0;
  const char *restype = http_query_get(r, "restype"), *comp = http_query_get(r, "comp");
  if (dfs_keys(r, lvl, &restype, &comp))
    c->op =
        find_op(dfs_ops, sizeof dfs_ops / sizeof dfs_ops[0], r->method, lvl, restype, comp, &known);
  else
    c->op = find_op(blob_ops, sizeof blob_ops / sizeof blob_ops[0], r->method, lvl, restype, comp,
                    &known);
  if (!c->op) {
    if (known)
      http_fail(r, STORAGE_ERR_UNSUPPORTED_HTTP_VERB,
                "The resource doesn't support specified Http Verb.");
    else if (comp && lvl != BLOB_LVL_SERVICE)
      blob_fail_query(c, "comp", comp);
    else
      http_fail(r, STORAGE_ERR_INVALID_URI,
                "The requested URI does not represent any resource on the server.");
    return;
  }
  const char *bad =
      c->container && c->op->level != BLOB_LVL_ANY ? blob_container_name_check(c->container) : NULL;
  if (!bad && c->blob) bad = blob_name_check(c->blob);
  if (bad) {
    http_fail(r, 400, bad,
              strcmp(bad, "OutOfRangeInput") == 0
                  ? "The specified resource name length is not within the permissible limits."
                  : "The specified resource name contains invalid characters.");
    return;
  }
  if (authenticate(c) != 0) return;
  /* versionid= names a version only where Azure takes one; a write to content
   * never goes to a previous version. */
  if (http_query_get(r, "versionid") && !op_takes_version(c->op)) {
    blob_fail_query(c, "versionid", http_query_get(r, "versionid"));
    return;
  }
  if (!c->op->fn) {
    http_fail(r, STORAGE_ERR_NOT_IMPLEMENTED, "azlite does not implement the %s operation yet.",
              c->op->name);
    return;
  }
  log_debug("blob: %s account=%s container=%s blob=%s", c->op->name, c->account,
            c->container ? c->container : "-", c->blob ? c->blob : "-");
  c->op->fn(c);
  storage_ops_count(c);
}

/* ---- blobs named by URL (copy sources) ----------------------------------------------- */

/* Is host[:port] (as in a URL, scheme https or not) one of this server's blob endpoints? */
static int url_is_ours(blob_ctx *c, const char *hostport, int https) {
  const char *colon = strrchr(hostport, ':');
  size_t hn = colon ? (size_t)(colon - hostport) : strlen(hostport);
  int port = colon ? atoi(colon + 1) : (https ? 443 : 80);
  int want = https ? c->s->cfg.blob_tls_port : c->s->cfg.blob_port;
  if (port != want) return 0;
  static const char *const local[] = {"127.0.0.1", "localhost", "[::1]"};
  for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
    if (strlen(local[i]) == hn && strncasecmp(hostport, local[i], hn) == 0) return 1;
  const char *sfx = ".blob.localhost";
  size_t k = strlen(sfx);
  if (hn > k && strncasecmp(hostport + hn - k, sfx, k) == 0) return 1;
  return strlen(c->s->cfg.bind) == hn && strncmp(hostport, c->s->cfg.bind, hn) == 0;
}

static int fail_source(blob_ctx *c, int status, const char *msg) {
  http_fail(c->r, status, "CannotVerifyCopySource", "%s", msg);
  return -1;
}

int blob_source_open(blob_ctx *c, const char *url, int flags, blob_source *out) {
  http_req *r = c->r;
  int caller_ok = (flags & BLOB_SOURCE_CALLER_OK) != 0;
  memset(out, 0, sizeof *out);
  out->url = url;
  int https = strncasecmp(url, "https://", 8) == 0;
  if (!https && strncasecmp(url, "http://", 7) != 0) {
    blob_fail_header(c, "x-ms-copy-source", url);
    return -1;
  }
  const char *hp = url + (https ? 8 : 7);
  size_t hn = strcspn(hp, "/?#");
  char *hostport = http_printf(r, "%.*s", (int)hn, hp);
  if (!url_is_ours(c, hostport, https)) {
    http_fail(r, STORAGE_ERR_CANNOT_VERIFY_COPY_SOURCE_400,
              "azlite copies only from blobs it serves itself (%s/<account>/...); %s is not one "
              "of its endpoints, and azlite has no network access.",
              https ? c->s->blob_tls_url : c->s->blob_url, hostport);
    return -1;
  }
  const char *target = hp[hn] == '/' ? hp + hn : http_printf(r, "/%s", hp + hn);
  /* Whose credentials read the source: its URL's SAS, else a bearer token in
   * x-ms-copy-source-authorization, else (same account) the caller's, else none. */
  int has_sas = strstr(target, "sig=") != NULL;
  const char *srcauth = http_header_get(r, "x-ms-copy-source-authorization");
  int same = 0;
  if (caller_ok && !has_sas && !srcauth) {
    size_t al = strlen(c->account);
    const char *host_acct = strcasestr(hostport, ".blob.");
    same = host_acct ? (size_t)(host_acct - hostport) == al && !strncmp(hostport, c->account, al)
                     : !strncmp(target + 1, c->account, al) && target[al + 1] == '/';
    if (same && c->auth.kind == SAUTH_BEARER) srcauth = http_header_get(r, "Authorization");
  }
  http_header h[3] = {{"Host", hostport}, {"x-ms-version", BLOB_DEFAULT_VERSION}, {NULL, NULL}};
  int nh = 2;
  if (srcauth && !has_sas) h[nh++] = (http_header){"Authorization", srcauth};
  http_req *sub = http_subreq_new(r, "GET", target, h, nh);
  sub->listener = https ? LISTEN_BLOB_TLS : LISTEN_BLOB;
  blob_ctx *sc = http_alloc(sub, sizeof *sc);
  sc->r = sub;
  sc->s = c->s;
  sc->now_ms = c->now_ms;
  int known;
  if (http_failed(sub) || split_path(sc) != 0 || !sc->container || !sc->blob ||
      !(sc->op = find_op(blob_ops, sizeof blob_ops / sizeof blob_ops[0], "GET", BLOB_LVL_BLOB, NULL,
                         NULL, &known))) {
    blob_fail_header(c, "x-ms-copy-source", url);
    return -1;
  }
  out->ctx = sc;
  /* In its own account, a copy reads the source with the caller's credentials:
   * Shared Key, or a SAS that grants reading it (a bearer token was passed on). */
  const sauth_result *ca = &c->auth;
  int trusted = same && strcmp(sc->account, c->account) == 0 &&
                (ca->kind == SAUTH_SHARED_KEY ||
                 ((ca->kind == SAUTH_SAS_ACCOUNT || ca->kind == SAUTH_SAS_SERVICE) &&
                  sauth_sas_allows(ca, 'r', 'o') &&
                  (ca->kind == SAUTH_SAS_ACCOUNT ||
                   (!strcmp(ca->resource, "c") && !strcmp(sc->container, c->container)))));
  if (!trusted && authenticate(sc) != 0) {
    const char *code, *msg;
    int status = http_reply_status(sub, &code, &msg);
    return fail_source(c, status ? status : 403, msg ? msg : "The source could not be read.");
  }
  int found = blob_container_load(sc, sc->container, &out->ct);
  if (found == 0) return fail_source(c, 404, "The specified container does not exist.");
  if (found == 1) {
    const char *snap = http_query_get(sub, "snapshot"), *vid = http_query_get(sub, "versionid");
    if (snap && (snap[0] == '@' || snap[0] == '~')) {
      found = 0;
    } else if (vid) {
      /* A version: the base blob when it is the current one. */
      found = blob_row_load(sc, out->ct.id, sc->blob, "", &out->b);
      if (found == 0 || (found == 1 && !(out->b.version_id && strcmp(out->b.version_id, vid) == 0)))
        found = blob_row_load(sc, out->ct.id, sc->blob, http_printf(r, "@%s", vid), &out->b);
    } else {
      found = blob_row_load(sc, out->ct.id, sc->blob, snap ? snap : "", &out->b);
    }
    if (found == 1 && out->b.deleted_ms) found = 0;
    if (found == 0) return fail_source(c, 404, "The specified blob does not exist.");
  }
  if (found < 0) {
    blob_fail_internal(c, "loading the copy source");
    return -1;
  }
  /* x-ms-source-if-* are the source's conditional headers. */
  blob_conditions cd = {http_header_get(r, "x-ms-source-if-match"),
                        http_header_get(r, "x-ms-source-if-none-match"), -1, -1};
  const char *ims = http_header_get(r, "x-ms-source-if-modified-since");
  const char *ius = http_header_get(r, "x-ms-source-if-unmodified-since");
  if (ims) cd.if_modified_since = http_date_parse(ims);
  if (ius) cd.if_unmodified_since = http_date_parse(ius);
  if (blob_conditions_eval(&cd, 1, out->b.etag, out->b.last_modified_ms, 0) != 0) {
    http_fail(r, STORAGE_ERR_SOURCE_CONDITION_NOT_MET,
              "The source condition specified using HTTP conditional header(s) is not met.");
    return -1;
  }
  if (blob_tags_condition_check(c, "x-ms-source-if-tags", out->b.id) != 0) return -1;
  return flags & BLOB_SOURCE_ARCHIVED_OK ? 0 : storage_tier_require_online(c, &out->b);
}
