/* blob.h: what the files of the blob data plane share (src/storage/blob_*.c):
 * the request context, the row type of the operation table, rows of the
 * store, the data engine (extents and data files), and the pure helpers
 * (names, ranges, ETags, conditions) that the unit tests exercise.
 * Nothing outside src/storage/ includes it; other providers use storage.h.
 */
#ifndef AZLITE_BLOB_H
#define AZLITE_BLOB_H

#include <stdint.h>

#include "../core/core.h"
#include "../core/xml.h"
#include "sauth.h"

/* The x-ms-version we answer with when the request names none. */
#define BLOB_DEFAULT_VERSION "2025-01-05"
/* Put Blob bodies up to this size live inline in SQLite: a row is cheaper
 * than creating, renaming and later opening a file. */
#define BLOB_INLINE_MAX (16 * 1024)
#define BLOB_LIST_MAX 5000
#define BLOB_MAX_BLOCKS 50000
#define BLOB_MAX_BLOCK_ID 64   /* bytes, before base64 */
#define BLOB_MAX_NAME 1024     /* characters */
#define BLOB_MAX_METADATA 8192 /* bytes of names and values together */
/* How long an unreferenced data file stays on disk, so that a reader that
 * looked up its extents just before the file lost its last reference can
 * still open it (seconds of wall time). */
#define BLOB_TRASH_GRACE_S 30

/* ---- the operation table -------------------------------------------------- */

enum blob_level {
  BLOB_LVL_SERVICE,   /* /account */
  BLOB_LVL_CONTAINER, /* /account/container */
  BLOB_LVL_BLOB,      /* /account/container/blob */
  BLOB_LVL_ANY,       /* Get Account Information answers at every level */
};

/* Public access levels under which an anonymous caller may run an operation. */
enum blob_anon {
  BLOB_ANON_NONE = 0,
  BLOB_ANON_CONTAINER = 1, /* only with x-ms-blob-public-access: container */
  BLOB_ANON_BLOB = 2,      /* with "blob" or "container" */
};

typedef struct blob_ctx blob_ctx;
typedef void (*blob_op_fn)(blob_ctx *c);

/* One row of the operation table: Azure keys an operation by method, level,
 * restype and comp; NULL restype/comp means the parameter must be absent. */
typedef struct blob_op {
  const char *name; /* Azure's operation name */
  const char *method;
  enum blob_level level;
  const char *restype;
  const char *comp;
  blob_op_fn fn;      /* NULL: an Azure operation azlite does not serve yet */
  char sas_perm;      /* SAS permission letter it needs; 0 = any */
  char sas_rtype;     /* 's' service, 'c' container, 'o' object */
  int anon;           /* enum blob_anon */
  const char *action; /* RBAC action for bearer callers */
  int data_action;    /* 1: action is a dataAction */
  /* A second SAS letter that also grants it; 'c' (create) only while the target blob
   * does not exist, as Azure reads "write a new blob". 0 = none. */
  char sas_alt;
} blob_op;

/* ---- the provider's state ---------------------------------------------- */

typedef struct blob_trash {
  char *path;
  int64_t since_mono_ms;
  struct blob_trash *next;
} blob_trash;

struct blob_reader;

/* An account's data protection settings (blob_version.c): the blob service
 * properties through ARM (isVersioningEnabled, deleteRetentionPolicy,
 * containerDeleteRetentionPolicy) or Set Blob Service Properties. */
typedef struct blob_protection {
  int versioning;
  int blob_days;      /* soft delete of blobs, 0: off */
  int container_days; /* soft delete of containers, 0: off */
  int blob_days_arm;  /* blob_days came from Resource Manager (else the data plane's) */
} blob_protection;

typedef struct blob_state {
  char *blobs_dir; /* <data>/blobs */
  pthread_mutex_t mu;
  uint64_t etag_seq; /* makes ETags unique within one millisecond */
  blob_trash *trash; /* data files waiting out BLOB_TRASH_GRACE_S (mu) */
  /* Downloads in progress (mu): the trash keeps the files they will still
   * open, since they open each file only when they reach it. */
  struct blob_reader *readers;
  int64_t last_sweep_ms;
  struct storage_op_count *ops; /* operations not yet reported as usage (mu; meters.c) */
} blob_state;

blob_state *blob_state_of(srv *s);

/* Operations as usage (meters.c): counts a finished request by billing
 * class; the tick's flush reports the counts (usage_record) and clears them. */
void storage_ops_count(blob_ctx *c);
void storage_ops_flush(srv *s);

/* ---- one request ------------------------------------------------------------ */

struct blob_ctx {
  http_req *r;
  srv *s;
  const blob_op *op;
  const char *account;
  const char *container; /* NULL at service level */
  const char *blob;      /* NULL unless the path names a blob */
  const char *endpoint;  /* "http://host/account/" as the client addressed us */
  sauth_result auth;
  int64_t now_ms;
  /* The account's settings (storage_accounts.props; an absent one is Azure's
   * emulator behaviour, permissive). */
  int allow_public;     /* allowBlobPublicAccess */
  int allow_shared_key; /* allowSharedKeyAccess */
  int https_only;       /* supportsHttpsTrafficOnly */
  int hns;              /* isHnsEnabled */
  const char
      *tier_default; /* the account's access tier, cached by storage_tier_account_default() */
  /* A SAS grants this write only through create (c): no blob may stand at the name
   * (checked again inside the write's transaction, blob_write_target). */
  int sas_create_only;
  /* A bearer caller's object id (Data Lake ACLs name it); NULL for other credentials. */
  const char *caller_oid;
  /* The version a write of this request made (x-ms-version-id on its reply). */
  const char *version_id;
  blob_protection protection; /* loaded on first use (blob_protection_of) */
  int protection_loaded;
};

/* Finishes w and replies 200 with it (500 if it could not be rendered). */
void blob_reply_xml(blob_ctx *c, xmlw *w);

/* The service version a request runs under: x-ms-version, else a SAS's sv,
 * else the newest azlite serves. */
const char *blob_request_version(http_req *r);

/* Fails the request with Azure's status, code and message for common cases. */
void blob_fail_container_not_found(blob_ctx *c);
void blob_fail_blob_not_found(blob_ctx *c);
void blob_fail_internal(blob_ctx *c, const char *what);
void blob_fail_header(blob_ctx *c, const char *header, const char *value);
void blob_fail_query(blob_ctx *c, const char *param, const char *value);

/* Sets ETag, Last-Modified (and nothing else) on the reply. */
void blob_set_etag_lm(blob_ctx *c, const char *etag, int64_t last_modified_ms);

/* ---- rows ---------------------------------------------------------------- */

typedef struct blob_lease {
  const char *id;
  const char *state;  /* available, leased, expired, breaking, broken */
  int64_t duration_s; /* -1 infinite, 0 none */
  int64_t expires_ms;
  int64_t break_ms;
} blob_lease;

typedef struct blob_container_row {
  int64_t id;
  const char *name;
  char etag[24];
  int64_t last_modified_ms, created_ms;
  const char *metadata;      /* JSON object */
  const char *public_access; /* "", "blob", "container" */
  const char *acl;           /* JSON array of {id,start,expiry,permission} */
  blob_lease lease;
} blob_container_row;

typedef struct blob_row {
  int64_t id, container_id;
  const char *name;
  const char *snapshot;   /* "" for the base blob; see blob_version.c for the other keys */
  const char *version_id; /* NULL: none (versioning was off) */
  int64_t deleted_ms;     /* 0: live; else soft deleted then, kept until purge_ms */
  int64_t purge_ms;
  const char *type; /* BlockBlob, AppendBlob, PageBlob */
  int64_t size;
  char etag[24];
  int64_t last_modified_ms, created_ms;
  const char *content_type, *content_encoding, *content_language, *content_md5,
      *content_disposition, *cache_control;
  const char *metadata; /* JSON object */
  const char *tier;     /* NULL: inferred Hot */
  int64_t tier_change_ms;
  /* Set while a rehydration from Archive is pending (tier.c). */
  const char *archive_status, *rehydrate_priority;
  int64_t last_access_ms; /* 0: never recorded */
  blob_lease lease;
  int64_t seq_number;
  int64_t committed_blocks;
  int tag_count;
  int sealed; /* append blobs */
  const char *copy_id, *copy_status, *copy_source, *copy_progress, *copy_status_description;
  int64_t copy_completion_ms;
} blob_row;

/* Loads a container by name: 1 found, 0 absent, -1 store error.  Strings are request-scoped. */
int blob_container_load(blob_ctx *c, const char *name, blob_container_row *out);
/* Loads a blob (snapshot "" for the base): 1 found, 0 absent, -1 store error. */
int blob_row_load(blob_ctx *c, int64_t container_id, const char *name, const char *snapshot,
                  blob_row *out);
/* Adds the response headers every Get Blob / Get Blob Properties carries. */
void blob_row_headers(blob_ctx *c, const blob_row *b);
/* Adds x-ms-meta-* headers from a JSON object text. */
void blob_metadata_headers(blob_ctx *c, const char *metadata_json);

/* ---- read transactions ---------------------------------------------------- */

/* A deferred read transaction, so that several SELECTs see one snapshot. */
int blob_read_begin(blob_ctx *c);
void blob_read_end(blob_ctx *c);

/* ---- the data engine (blob_data.c) ------------------------------------------ */

/* A body placed on disk (or held for an inline row), not yet named by any row. */
typedef struct blob_pending {
  char *rel;               /* path under blobs/, malloc'd; NULL when inline or empty */
  const void *inline_data; /* the request's body_mem when stored inline */
  uint64_t len;
  int digests; /* HTTP_DIGEST_* computed: md5, crc64 */
  unsigned char md5[16];
  uint64_t crc64;
  int64_t file_id; /* set by blob_data_register() */
} blob_pending;

/* Takes the request body: checks its MD5 (Content-MD5; for a whole blob,
 * x-ms-blob-content-md5 first) and x-ms-content-crc64, and places it as a
 * complete data file (renamed into place) or, for a small whole blob, keeps it
 * for an inline row.  Fails the request and returns -1 on error. */
int blob_data_accept_body(blob_ctx *c, int whole_blob, blob_pending *out);
/* Sets Content-MD5 and/or x-ms-content-crc64 on the reply, as the digests the
 * body needed (blob_body_digests_for) say. */
void blob_data_reply_digests(blob_ctx *c, const blob_pending *p);
/* The digests a body upload needs, Azure's way: a whole blob (Put Blob) its
 * MD5; a block, append block or page from 2019-02-02 the CRC64 unless the
 * request sent Content-MD5; x-ms-content-crc64 when sent.  HTTP_DIGEST_* bits. */
int blob_body_digests_for(http_req *r, int whole_blob);
/* The blob route's body_digests hook: which uploads want which digests. */
int blob_body_digests(http_req *r);
/* Inserts the blob_files row for a pending body inside the caller's transaction;
 * 0 ok (file_id 0 for an empty body), -1 store error. */
int blob_data_register(blob_ctx *c, blob_pending *p);
/* The write was not committed: removes the pending file. */
void blob_data_discard(blob_ctx *c, blob_pending *p);

/* A growable list of data file ids that may have lost their last reference. */
typedef struct blob_ids {
  int64_t *v;
  int n, cap;
} blob_ids;
void blob_ids_add(blob_ids *l, int64_t id);
void blob_ids_free(blob_ids *l);
/* Appends the data files of a blob's extents / of a blob name's uncommitted blocks. */
int blob_ids_of_extents(srv *s, int64_t blob_id, blob_ids *out);
int blob_ids_of_blocks(srv *s, int64_t container_id, const char *name, blob_ids *out);
/* After the commit that dropped references: deletes the rows of files no longer
 * referenced and moves their paths to the trash.  Never fails the request.
 * Inside a transaction it waits for the outermost commit (and does nothing
 * after a rollback), so a delete nested in a larger one never trashes files
 * the rolled-back rows still name. */
void blob_data_gc(srv *s, const blob_ids *candidates);
/* Every unreferenced data file, every file under blobs/ no row names, and the
 * temp files of bodies being placed (startup of the server only). */
void blob_data_sweep(srv *s);
/* Unlinks trashed files older than the grace period (all when force). */
void blob_trash_empty(srv *s, int force);

/* One stretch of a blob's content: len bytes of data file file_id at file_off. */
typedef struct blob_extent {
  int64_t pos, len;
  int64_t file_id, file_off;
  const char *path; /* absolute; NULL for an inline file */
} blob_extent;

/* Loads the extents of blob_id overlapping [off, off+len), in order (request-scoped). */
int blob_extents_load(blob_ctx *c, int64_t blob_id, uint64_t off, uint64_t len, blob_extent **out,
                      int *n);
/* Replies with bytes [off, off+len) of a blob made of these extents: one file
 * goes out zero-copy, anything else is streamed; gaps read as zeros. */
void blob_data_reply(blob_ctx *c, int status, const char *ctype, const blob_extent *ext, int n,
                     uint64_t off, uint64_t len);
/* Writes bytes [off, off+len) of a blob made of these extents to a new data
 * file, complete and in place before it returns, as a pending body to register
 * (for copies that need their own file); 0 ok. */
int blob_data_materialize(blob_ctx *c, const blob_extent *ext, int n, uint64_t off, uint64_t len,
                          blob_pending *out);
/* The first len bytes of a blob made of these extents, NUL-terminated, in a
 * buffer the caller frees; NULL on a read error or no memory. */
char *blob_data_read_all(blob_ctx *c, const blob_extent *ext, int n, uint64_t len);
/* MD5 of bytes [off, off+len) of the blob; 0 ok. */
int blob_data_md5(blob_ctx *c, const blob_extent *ext, int n, uint64_t off, uint64_t len,
                  unsigned char md5[16]);

/* One row of blob_extents as stored, for copying rows or looking up blocks. */
typedef struct blob_extent_row {
  int64_t pos, len, file_id, file_off;
  const char *block_id; /* NULL for content not committed as a block */
} blob_extent_row;

/* Loads every extent row of blob_id, in order (request-scoped). */
int blob_extent_rows_load(blob_ctx *c, int64_t blob_id, blob_extent_row **out, int *n);

/* ---- writing a blob (blob_object.c) ---------------------------------------------- */

/* The HTTP properties a blob stores (NULL = unset). */
typedef struct blob_http_props {
  const char *content_type, *content_encoding, *content_language, *content_md5,
      *content_disposition, *cache_control;
} blob_http_props;

/* One extent of a blob being written, in order; positions follow from lengths. */
typedef struct blob_new_extent {
  int64_t file_id, file_off, len;
  const char *block_id; /* NULL for Put Blob content */
} blob_new_extent;

/* Everything a committed write sets on the base blob. */
typedef struct blob_write {
  const char *type; /* BlockBlob, … */
  int64_t size;
  const char *etag;
  const blob_http_props *props;
  const char *metadata; /* JSON object */
  const char *tier;     /* NULL: inferred */
  const blob_new_extent *extents;
  int nextents;
} blob_write;

/* Creates or replaces the base blob c->blob (old: its current row, or NULL) with
 * new content, inside the caller's transaction; drops the name's uncommitted
 * blocks.  Appends the data files that may have lost references to *freed. */
int blob_write_content(blob_ctx *c, const blob_container_row *ct, const blob_row *old,
                       const blob_write *w, int64_t *blob_id, blob_ids *freed);
/* An upload may name one transactional digest, MD5 or CRC64, not both (also for
 * a from-URL source): fails with 400 and returns -1 when it names both. */
int blob_digest_headers_check(blob_ctx *c);
/* Reads the x-ms-blob-* headers (put_blob: falling back to the plain HTTP ones). */
void blob_http_props_read(blob_ctx *c, int put_blob, blob_http_props *p);
/* x-ms-access-tier in Azure's spelling (*out NULL when absent); -1 = failed. */
int blob_tier_read(blob_ctx *c, const char **out);
/* The container the URL names, or fail with ContainerNotFound. */
int blob_need_container(blob_ctx *c, blob_container_row *ct);
/* For a write that replaces a whole blob: finds the container and the blob it
 * replaces, and checks the write may go ahead: If-None-Match: * (409
 * BlobAlreadyExists), the other conditions, x-ms-if-tags, the blob's lease.
 * Returns 1 when the blob exists (*old loaded), 0 when not, -1 after failing
 * the request. */
int blob_write_target(blob_ctx *c, blob_container_row *ct, blob_row *old);
/* The blob the URL names (?snapshot=): 1 found, 0 absent (fails when must_exist), -1 failed. */
int blob_need_blob(blob_ctx *c, const blob_container_row *ct, blob_row *b, int must_exist);

/* ---- pure helpers (blob_util.c) -------------------------------------------- */

/* 0 when valid, else the Azure error code that rejects it ("InvalidResourceName",
 * "OutOfRangeInput"). */
const char *blob_container_name_check(const char *name);
const char *blob_name_check(const char *name);
/* Is s a valid metadata name (a C# identifier)? */
int blob_metadata_name_valid(const char *s);

/* Parses "bytes=a-b" or "bytes=a-" (end -1): 1 parsed, 0 no usable range (Azure then
 * serves the whole blob), -1 malformed numbers.  */
int blob_range_parse(const char *hdr, int64_t *start, int64_t *end);
/* Clamps a parsed range to size: 0 ok (off, len set), -1 unsatisfiable (416). */
int blob_range_resolve(int64_t size, int64_t start, int64_t end, uint64_t *off, uint64_t *len);

/* An ETag "0x8D…" (16 hex digits, unquoted) from a time and a sequence number. */
void blob_etag_make(int64_t ms, uint64_t seq, char out[24]);
/* A fresh ETag for a change at now_ms. */
void blob_etag_new(srv *s, int64_t now_ms, char out[24]);

/* Conditional headers, as sent (NULL when absent). */
typedef struct blob_conditions {
  const char *if_match, *if_none_match;
  int64_t if_modified_since, if_unmodified_since; /* ms, -1 when absent */
} blob_conditions;
/* Reads the four headers; -1 when a date does not parse. */
int blob_conditions_read(http_req *r, blob_conditions *out);
/* Containers take only the date conditions (Set Container Metadata only
 * If-Modified-Since): reads them, failing r with 400 UnsupportedHeader (and
 * its HeaderName) for any other; 0 ok. */
int blob_container_conditions_read(blob_ctx *c, blob_conditions *cd, int unmodified_ok);
/* Is any condition present? */
int blob_conditions_any(const blob_conditions *cd);
/* Checks conditions against a resource (exists, etag unquoted, last-modified ms):
 * 0 pass, 304 (reads only), 412, or 404 for a write whose If-Match names a
 * resource that does not exist.  is_read selects Azure's read rules. */
int blob_conditions_eval(const blob_conditions *cd, int exists, const char *etag,
                         int64_t last_modified_ms, int is_read);
/* Evaluates and fails the request on a miss; 0 pass, -1 failed. */
int blob_conditions_check(blob_ctx *c, int exists, const char *etag, int64_t last_modified_ms,
                          int is_read);

/* Validates a base64 block id: 0 ok, -1 invalid. Sets *raw_len to its decoded length. */
int blob_block_id_check(const char *id, int *raw_len);

/* A Put Block List body: the ids in order, each from where Azure should look. */
enum blob_block_from { BLOB_FROM_COMMITTED, BLOB_FROM_UNCOMMITTED, BLOB_FROM_LATEST };
typedef struct blob_block_ref {
  char *id;
  enum blob_block_from from;
} blob_block_ref;
/* Parses <BlockList><Latest|Committed|Uncommitted>id</…>…</BlockList>; returns
 * the number of refs (malloc'd array of malloc'd ids in *out) or -1 when the XML
 * is malformed or not a block list. */
int blob_block_list_parse(const char *xml, size_t len, blob_block_ref **out);
void blob_block_list_free(blob_block_ref *refs, int n);

/* Metadata from x-ms-meta-* headers into a JSON object text (malloc'd); on a bad
 * name or size fails the request and returns NULL. */
char *blob_metadata_from_headers(blob_ctx *c);

/* base64 of 16 bytes (24 chars + NUL). */
void blob_b64_md5(const unsigned char md5[16], char out[25]);
/* Decodes base64 into out (max bytes); returns length or -1. */
int blob_b64_decode(const char *in, unsigned char *out, int max);

/* ---- the operations (one function per Azure operation) -------------------- */

void blob_service_list_containers(blob_ctx *c);
void blob_service_get_properties(blob_ctx *c);
void blob_service_set_properties(blob_ctx *c);
void blob_service_get_account_info(blob_ctx *c);
void blob_service_get_stats(blob_ctx *c);
void blob_service_get_udk(blob_ctx *c);

void blob_container_create(blob_ctx *c);
void blob_container_delete(blob_ctx *c);
void blob_container_get_properties(blob_ctx *c);
void blob_container_get_metadata(blob_ctx *c);
void blob_container_set_metadata(blob_ctx *c);
void blob_container_get_acl(blob_ctx *c);
void blob_container_set_acl(blob_ctx *c);
void blob_list_blobs(blob_ctx *c);

void blob_put_blob(blob_ctx *c);
void blob_put_block(blob_ctx *c);
void blob_put_block_list(blob_ctx *c);
void blob_get_block_list(blob_ctx *c);

void blob_get_blob(blob_ctx *c);
void blob_get_properties(blob_ctx *c);
void blob_delete_blob(blob_ctx *c);
void blob_set_http_headers(blob_ctx *c);
void blob_get_metadata(blob_ctx *c);
void blob_set_metadata(blob_ctx *c);

/* Shared by the listings (blob_list.c). */
/* maxresults: 5000 when absent, capped at 5000; fails the request when not positive. */
int blob_read_maxresults(blob_ctx *c, int *out);
/* The least string above every string that starts with prefix (malloc'd); NULL if none. */
char *blob_prefix_upper(const char *prefix);
/* <Metadata><k>v</k>…</Metadata> from a JSON object text. */
void blob_metadata_xml(xmlw *w, const char *metadata_json);

/* ---- leases (blob_lease.c) ------------------------------------------------------ */

/* The lease state as of now (a lease past its time reads "expired"/"broken"). */
const char *blob_lease_state_now(const blob_lease *l, int64_t now);
/* Is a lease in force at now (leased and not expired, or breaking)? */
int blob_lease_active(const blob_lease *l, int64_t now);
/* A write to a blob under a lease must name it; one naming a lease must name
 * the one in force.  0 ok, -1 failed (412 LeaseIdMissing, ...). */
int blob_lease_check_write(blob_ctx *c, const blob_lease *l);
/* A read (or snapshot) that names a lease must name the one in force. */
int blob_lease_check_read(blob_ctx *c, const blob_lease *l);
/* The same rules for container operations (…WithContainerOperation codes);
 * write: a lease in force must be named. */
int blob_container_lease_check(blob_ctx *c, const blob_lease *l, int write);
/* x-ms-lease-status, -state, -duration. */
void blob_lease_headers(blob_ctx *c, const blob_lease *l);
void blob_lease_blob(blob_ctx *c);
void blob_lease_container(blob_ctx *c);

/* ---- snapshots (blob_snapshot.c) ------------------------------------------------- */

void blob_snapshot_blob(blob_ctx *c);
/* A fresh snapshot time for a blob name ("2025-01-01T00:00:00.1234567Z", unique
 * among its snapshots) into out, inside the caller's transaction. */
int blob_snapshot_time(blob_ctx *c, int64_t container_id, const char *name, char out[40]);

/* ---- versions and soft delete (blob_version.c) ------------------------------------ */

/* SQL: is this row (of table blobs, unqualified) a snapshot, not a version or a
 * deleted base blob? */
#define BLOB_SQL_IS_SNAPSHOT "(snapshot<>'' AND snapshot NOT GLOB '[@~]*')"

int blob_protection_read(srv *s, const char *account, blob_protection *out);
/* The request's account's settings, read once per request. */
const blob_protection *blob_protection_of(blob_ctx *c);
/* prefix + an ISO time with 7 fractional digits from ms, unique among the keys
 * (snapshot column) of a blob name, inside the caller's transaction; 0 ok. */
int blob_unique_time(srv *s, int64_t container_id, const char *name, const char *prefix, int64_t ms,
                     char out[48]);
/* Before a write replaces base blob old (NULL: none): keeps it as a previous
 * version (versioning on) or as a soft-deleted snapshot (soft delete on). */
int blob_protect_before_write(blob_ctx *c, const blob_row *old);
/* After it: gives the base blob its new version id (c->version_id), or none. */
int blob_version_after_write(blob_ctx *c, int64_t container_id, const char *name, int64_t blob_id);
/* Delete Blob of the base blob b when versioning or soft delete is on: the base
 * becomes a previous version or a soft-deleted blob; snapshots (with_snapshots
 * or only_snapshots) are soft deleted when soft delete is on.  0 ok. */
int blob_soft_delete(blob_ctx *c, const blob_row *b, int with_snapshots, int only_snapshots);
/* Delete Blob of a version or snapshot b: 1 soft deleted, 0 soft delete is off
 * (the caller deletes it), -1 store error. */
int blob_version_soft_delete(blob_ctx *c, const blob_row *b);
/* Delete Container: 1 soft deleted, 0 off (the caller deletes it), -1 store error. */
int blob_container_soft_delete(blob_ctx *c, const blob_container_row *ct);
void blob_undelete_blob(blob_ctx *c);
void blob_container_restore(blob_ctx *c);
/* A lifecycle delete of row blob_id under the account's protection, inside
 * the caller's transaction: 1 kept (a previous version, soft deleted), 0 not
 * protected (the caller deletes it), -1 store error. */
int blob_lifecycle_delete(srv *s, const char *account, int64_t blob_id, int64_t now_ms);
/* Drops the soft-deleted blobs and containers whose retention ended (scheduler). */
void blob_soft_delete_purge(srv *s, int64_t now_ms);

/* ---- Query Blob (blob_query.c) ---------------------------------------------------- */

void blob_query(blob_ctx *c);

/* ---- Data Lake Storage Gen2 paths (blob_dfs.c) ------------------------------------ */

void blob_dfs_create(blob_ctx *c);
void blob_dfs_append(blob_ctx *c);
void blob_dfs_flush(blob_ctx *c);
void blob_dfs_delete(blob_ctx *c);
void blob_dfs_rename(blob_ctx *c);
void blob_dfs_list_paths(blob_ctx *c);
void blob_dfs_get_status(blob_ctx *c);
void blob_dfs_set_access_control(blob_ctx *c);
void blob_dfs_get_access_control(blob_ctx *c);
void blob_dfs_set_access_control_recursive(blob_ctx *c);
void blob_dfs_set_properties(blob_ctx *c);
/* On a hierarchical-namespace account, do the POSIX ACLs of the path and its
 * parents let c->caller_oid run c->op (for a bearer caller RBAC refused)? 1 yes. */
int blob_dfs_acl_allows(blob_ctx *c);

/* ---- index tags (blob_tags.c) ------------------------------------------------- */

#define BLOB_MAX_TAGS 10

typedef struct blob_tag {
  const char *key, *value;
} blob_tag;
typedef struct blob_tagset {
  blob_tag v[BLOB_MAX_TAGS];
  int n;
} blob_tagset;

/* x-ms-tags ("k=v&k2=v2", URL-encoded) into *out (request-scoped); *present is
 * whether the header was sent.  Fails the request (400) and returns -1 when invalid. */
int blob_tags_from_header(blob_ctx *c, blob_tagset *out, int *present);
/* Replaces the blob's tags inside the caller's transaction; 0 ok. */
int blob_tags_store(blob_ctx *c, int64_t blob_id, const blob_tagset *t);
/* Loads the blob's tags (request-scoped). */
int blob_tags_load(blob_ctx *c, int64_t blob_id, blob_tagset *out);
/* x-ms-if-tags (or, for copy sources, x-ms-source-if-tags: header) against the
 * tags of blob_id (0: no blob, no tags).  0 pass; -1 failed (412 ConditionNotMet,
 * 400 on a malformed expression). */
int blob_tags_condition_check(blob_ctx *c, const char *header, int64_t blob_id);
/* <Tags><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tags> */
void blob_tags_xml(xmlw *w, const blob_tagset *t);
void blob_get_tags(blob_ctx *c);
void blob_set_tags(blob_ctx *c);
/* Find Blobs by Tags, at the service level or (c->container set) in one container. */
void blob_find_by_tags(blob_ctx *c);

/* A parsed tag expression: Find Blobs by Tags' where= (condition 0: =, >, >=,
 * <, <=, AND, @container) or a x-ms-if-tags condition (condition 1: also <>,
 * OR and parentheses, no @container).  Pure: the unit tests call these. */
typedef struct blob_tag_expr blob_tag_expr;
/* NULL on a syntax error, with the reason in err. */
blob_tag_expr *blob_tag_expr_parse(const char *s, int condition, char *err, size_t errlen);
/* Does a blob with these tags (in container) satisfy it?  When matched is not
 * NULL, the tags the expression compared are added to it (Find Blobs' answer). */
int blob_tag_expr_eval(const blob_tag_expr *e, const blob_tagset *tags, const char *container,
                       blob_tagset *matched);
/* The first tag key an expression compares with '=' at its top level of ANDs
 * (an index to search by), or NULL. */
const char *blob_tag_expr_key(const blob_tag_expr *e, const char **value);
void blob_tag_expr_free(blob_tag_expr *e);

/* ---- append and page blobs (blob_append.c, blob_page.c) ----------------------- */

/* Put Blob with x-ms-blob-type AppendBlob / PageBlob. */
void blob_append_create(blob_ctx *c);
void blob_page_create(blob_ctx *c);
void blob_append_block(blob_ctx *c);
void blob_append_seal(blob_ctx *c);
void blob_put_page(blob_ctx *c);
void blob_get_page_ranges(blob_ctx *c);
/* Set Blob Properties with x-ms-blob-content-length (resize) or
 * x-ms-sequence-number-action. */
void blob_page_set_properties(blob_ctx *c);

/* ---- copies (blob_copy.c) ------------------------------------------------------- */

/* Put Blob with x-ms-copy-source: Copy Blob, Copy Blob From URL
 * (x-ms-requires-sync), Put Blob From URL (x-ms-blob-type). */
void blob_copy_dispatch(blob_ctx *c);
/* PUT ?comp=copy&copyid= with x-ms-copy-action: abort. */
void blob_abort_copy(blob_ctx *c);

/* A blob named by a URL in a request (a copy source), resolved inside azlite. */
typedef struct blob_source {
  blob_ctx *ctx; /* addressed at the source: account, container, blob, auth */
  blob_container_row ct;
  blob_row b;
  const char *url;
} blob_source;
/* Resolves url to a blob of this azlite and authorizes reading it: with the
 * URL's SAS, public access, a x-ms-copy-source-authorization bearer token, or
 * (BLOB_SOURCE_CALLER_OK, same account) the caller's own credentials.  Loads
 * the source inside the caller's transaction; an archived one fails with 409
 * BlobArchived unless BLOB_SOURCE_ARCHIVED_OK.  0 ok; -1 failed
 * (CannotVerifyCopySource with the source's status, or 400 for a URL that is
 * not azlite's). */
#define BLOB_SOURCE_CALLER_OK 1
#define BLOB_SOURCE_ARCHIVED_OK 2
int blob_source_open(blob_ctx *c, const char *url, int flags, blob_source *out);

/* The part of a source that x-ms-source-range names (the whole blob when
 * absent); fails with 416 InvalidRange when it lies outside. */
int blob_source_slice(blob_ctx *c, const blob_source *src, uint64_t *off, uint64_t *len);
/* Bytes [off, off+len) of a source as extents without gaps, in order (malloc'd
 * array): the source's own data files when they cover the range (and, when
 * single, as one extent), else one new data file written from it and
 * registered in the caller's transaction (*mat: free mat->rel after the
 * commit, blob_data_discard after a rollback).  0 ok. */
int blob_source_extents(blob_ctx *c, const blob_source *src, uint64_t off, uint64_t len, int single,
                        blob_new_extent **ext, int *n, blob_pending *mat);
/* Put Blob of an empty append blob or of a page blob of size zero bytes with
 * sequence number seq (blob_append.c); 0 ok, -1 failed. */
int blob_create_typed(blob_ctx *c, const char *type, int64_t size, int64_t seq);

/* ---- Blob Batch, CORS (blob_batch.c, blob_cors.c) -------------------------------- */

void blob_submit_batch(blob_ctx *c);
/* OPTIONS: a CORS preflight, answered from the service properties' rules. */
void blob_cors_preflight(blob_ctx *c);
/* Adds the CORS response headers to a request that carries Origin. */
void blob_cors_headers(blob_ctx *c);

/* The catch-all route of the blob listeners (blob_dispatch.c). */
void blob_dispatch(http_req *r);
/* Looks up a stored access policy for SAS si= (sauth_policy_lookup_fn). */
int blob_policy_lookup(void *cls, const char *container, const char *id, sauth_policy *out);

#endif
