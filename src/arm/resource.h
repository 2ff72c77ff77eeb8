/* resource.h: the generic ARM resource layer.  A resource type supplies a
 * descriptor (arm_type: its name rule, how a request body becomes the stored
 * body, what it keeps beside the resource table, how it goes); the layer does
 * what every ARM resource does, once: the group and subscription checks, the
 * name, location and tags, managed identities (with the linked authorization
 * check), provisioningState, the resources table, the transaction,
 * PUT-as-create-or-update (201/200), PATCH merge, DELETE (200/204), and lists
 * by group and subscription with paging (nextLink).
 *
 * A provider lists ARM_TRACKED_ROUTES(type, &descriptor) in its route table
 * and points its resource_types row at the descriptor (.generic), which also
 * puts the type under the ARM contract test (tests/e2e/arm/test_contract.py). */
#ifndef AZLITE_ARM_RESOURCE_H
#define AZLITE_ARM_RESOURCE_H

#include <jansson.h>

#include "../core/core.h"

typedef struct arm_type arm_type;

/* One PUT or PATCH on its way through the layer. */
typedef struct arm_op {
  http_req *r;
  srv *s;
  const arm_type *type;
  const char *id;       /* canonical: the stored id for an update */
  const char *name;     /* the stored spelling for an update */
  const char *group;    /* canonical resource group name */
  const char *location; /* canonical short name ("eastus") */
  json_t *in;           /* the request body (an object); borrowed */
  json_t *cur;          /* the stored body, NULL on create; borrowed */
  /* What will be stored.  PUT: starts as {id, name, type, location, tags};
   * PATCH: a copy of cur with the request's tags.  build fills the rest. */
  json_t *body;
  int patch;   /* 1 for PATCH */
  int created; /* 1 when the resource does not exist yet */
  /* build may set it on an update that has work to do after the commit (a
   * scale set's capacity): the provisioningState stored ("Updating"); the
   * type's finish then runs as for a create, and the answer is 200 with
   * Azure-AsyncOperation. */
  const char *lro_state;
} arm_op;

struct arm_type {
  const char *type;    /* "Microsoft.Storage/storageAccounts" */
  const char *display; /* "storage account", for messages; NULL: the type's last segment */
  /* The name rule: name_valid says whether a name passes; a failure answers
   * 400 name_code (default InvalidResourceName) with name_message, a format
   * with one %s (the name). */
  int (*name_valid)(const char *name);
  const char *name_code;
  const char *name_message;
  /* Takes `identity` ({type, userAssignedIdentities}): the layer runs the
   * linked access check and the identity provider's hooks. */
  int identity;
  /* The one location the type lives in, for types that are not regional
   * ("Global": action groups); any spelling of it is taken and this one is
   * stored.  NULL: an Azure region. */
  const char *fixed_location;
  int create_status; /* PUT that creates: 201 (0 means 201), or 200 */
  /* Turns op->in into op->body (properties, sku, kind, ...), checking it;
   * fails r and returns -1.  Runs before the transaction: no writes. */
  int (*build)(arm_op *op);
  /* Inside the transaction that saves op->body: writes what the provider
   * keeps beside the resource table.  -1 rolls everything back (a 500 unless
   * it failed r itself). */
  int (*apply)(arm_op *op);
  /* Inside the transaction that deletes the resource (alone or with its
   * group): removes what apply wrote.  -1 rolls the delete back. */
  int (*remove)(srv *s, const char *id, json_t *body);
  /* What GET and lists answer: the stored body plus what is computed now
   * (endpoints, named as r's caller reaches azlite: http_req_transparent).
   * Takes the reference.  NULL: the stored body. */
  json_t *(*render)(http_req *r, json_t *body);
  /* Long-running creates (a VM boots): a PUT that creates stores
   * provisioningState create_state ("Creating") and answers 201 with
   * Azure-AsyncOperation; after the commit, finish(s, id, ...) runs on the
   * operation's thread, does the work and sets the state itself
   * (arm_resource_set_state); its failure fails the operation (code, msg).
   * NULL: creates are synchronous ("Succeeded"). */
  const char *create_state;
  int (*finish)(srv *s, const char *id, char *code, size_t code_len, char *msg, size_t msg_len);
  /* GET with $expand=<what> (instanceView): the answer with what is added.
   * Takes the reference; NULL fails r.  NULL hook: $expand is ignored. */
  json_t *(*expand)(http_req *r, json_t *body, const char *what);
  /* Before a DELETE request removes the resource, inside its transaction:
   * fails r and returns -1 to refuse (a resource still in use).  A resource
   * group's deletion takes everything and does not ask.  NULL: never refuses. */
  int (*delete_check)(http_req *r, json_t *body);
  /* For the contract test: a valid name, an invalid one, and a create body
   * (JSON).  example_setup (may be NULL): what the body needs to exist, a
   * JSON array of [path, body] the test PUTs first; "{sub}" in it and in
   * example_body stands for the subscription id. */
  const char *example_name, *example_bad_name, *example_body, *example_setup;
};

/* The route rows of a tracked top-level type T (a string literal such as
 * "Microsoft.Storage/storageAccounts"): list by subscription and group, and
 * PUT, GET, PATCH, DELETE of one resource.  Lists are open to any caller
 * (the layer shows what the caller may read). */
#define ARM_RES_ROW_(m, p, f, act, d)                                                              \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .action = act, .data = d                                                \
  }
#define ARM_TRACKED_ROUTES(T, desc)                                                                \
  ARM_RES_ROW_("GET", "/subscriptions/{sub}/providers/" T, arm_res_list, "", desc),                \
      ARM_RES_ROW_("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/" T, arm_res_list,   \
                   "", desc),                                                                      \
      ARM_RES_ROW_("PUT", "/subscriptions/{sub}/resourceGroups/{rg}/providers/" T "/{name}",       \
                   arm_res_put, NULL, desc),                                                       \
      ARM_RES_ROW_("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/" T "/{name}",       \
                   arm_res_get, NULL, desc),                                                       \
      ARM_RES_ROW_("PATCH", "/subscriptions/{sub}/resourceGroups/{rg}/providers/" T "/{name}",     \
                   arm_res_patch, NULL, desc),                                                     \
      ARM_RES_ROW_("DELETE", "/subscriptions/{sub}/resourceGroups/{rg}/providers/" T "/{name}",    \
                   arm_res_delete, NULL, desc)

/* The handlers those rows name; the descriptor comes from the route. */
void arm_res_put(http_req *r);
void arm_res_get(http_req *r);
void arm_res_patch(http_req *r);
void arm_res_delete(http_req *r);
void arm_res_list(http_req *r);

/* The descriptor serving a type ("Microsoft.Storage/storageAccounts",
 * case-insensitive), or NULL when the generic layer does not serve it. */
const arm_type *arm_type_find(const char *type);

/* The resource's stored body rendered as GET answers it, or NULL and r
 * failed: 404 ResourceGroupNotFound / ResourceNotFound (not_found_code, when
 * not NULL, replaces ResourceNotFound, e.g. StorageAccountNotFound).  For a
 * provider's own actions on a resource (listKeys). */
json_t *arm_res_require(http_req *r, const arm_type *t, const char *rg, const char *name,
                        const char *not_found_code);

/* Sets a stored resource's properties.provisioningState (its own
 * transaction).  0, or -1 when it is gone. */
int arm_resource_set_state(srv *s, const char *id, const char *state);

/* Tags as ARM takes them: an object of at most 50 string values, names up to
 * 512 characters, values up to 256.  Fails r (400) and returns -1. */
int arm_tags_check(http_req *r, json_t *tags);

/* What the identity provider does for the layer (it sits above it and
 * registers these at init): the linked access check on the user-assigned
 * identities a request names, and, inside the saving transaction, making the
 * resource's identities what `in` asks (a system-assigned principal created
 * or deleted, user-assigned ids resolved); apply returns the identity object
 * to store, or NULL after failing r. */
typedef struct arm_identity_hooks {
  int (*check_linked)(http_req *r, const char *write_action, const char *resource_id,
                      json_t *identity);
  json_t *(*apply)(http_req *r, const char *resource_id, json_t *in);
} arm_identity_hooks;
void arm_identity_hooks_set(const arm_identity_hooks *h);

#endif
