/* child.c: child resources kept inside their parent's body (a virtual
 * network's subnets, a security group's rules), as Azure shows them: a
 * child's PUT or DELETE rewrites the parent's array and saves the parent as
 * a PUT of the whole parent would (its type's build and apply), in one
 * transaction with the read, so the parent's checks (overlapping subnets,
 * conflicting rules, subnets in use) hold for children too. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const network_child *route_child(http_req *r) {
  return http_route_data(r);
}

/* The parent's stored body (owned by r), or NULL after failing r (404). */
static json_t *parent_load(http_req *r, const network_child *c, char group[128]) {
  const char *sub = http_param(r, "sub"), *rg = http_param(r, "rg");
  const char *name = http_param(r, c->param);
  if (arm_require_group(r, sub, rg) != 0) return NULL;
  arm_group_exists(r->srv, sub, rg, group, 128);
  char *id = arm_resource_id(r->srv->subscription_id, group, c->parent->type, name);
  json_t *b = arm_resource_get(r->srv, id);
  free(id);
  if (!b) {
    http_fail(r, ARM_ERR_RESOURCE_NOT_FOUND,
              "The Resource '%s/%s' under resource group '%s' was not found. For more details "
              "please go to https://aka.ms/ARMResourceNotFoundFix",
              c->parent->type, name, rg);
    return NULL;
  }
  return http_json_own(r, b);
}

static json_t *children(json_t *body, const network_child *c) {
  return json_object_get(json_object_get(body, "properties"), c->prop);
}

/* The index of the child named name in arr, or -1. */
static int child_index(json_t *arr, const char *name) {
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) if (!strcasecmp(json_string_value(json_object_get(e, "name")),
                                                name)) return (int)i;
  return -1;
}

/* Saves in (the parent's new body, as a request would give it) through the
 * parent type, inside the caller's transaction; the stored body, or NULL
 * after failing r. */
static json_t *parent_save(http_req *r, const network_child *c, const char *group, json_t *cur,
                           json_t *in) {
  const arm_type *t = c->parent;
  json_t *tags = json_object_get(cur, "tags");
  arm_op op = {.r = r,
               .s = r->srv,
               .type = t,
               .id = json_string_value(json_object_get(cur, "id")),
               .name = json_string_value(json_object_get(cur, "name")),
               .group = group,
               .location = json_string_value(json_object_get(cur, "location")),
               .in = in,
               .cur = cur};
  op.body = http_json_own(r, json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", op.id, "name", op.name,
                                       "type", t->type, "location", op.location, "tags",
                                       tags ? json_deep_copy(tags) : json_object()));
  if (t->build && t->build(&op) != 0) return NULL;
  json_t *props = json_object_get(op.body, "properties");
  json_object_set_new(props, "provisioningState", json_string("Succeeded"));
  if (arm_group_writable(r, http_param(r, "sub"), group) != 0) return NULL;
  if (t->apply && t->apply(&op) != 0) return NULL;
  if (arm_resource_put(r->srv, op.id, t->type, op.body) != 0) return NULL;
  return op.body;
}

static json_t *rendered(http_req *r, const network_child *c, json_t *body) {
  json_t *b = json_deep_copy(body);
  return http_json_own(r, c->parent->render ? c->parent->render(r, b) : b);
}

static void fail_child_not_found(http_req *r, const network_child *c, json_t *parent,
                                 const char *name) {
  http_fail(r, NETWORK_ERR_NOT_FOUND, "Resource %s/%s/%s not found.",
            json_string_value(json_object_get(parent, "id")), c->prop, name);
}

/* Runs a child write in one transaction; fails r (500 unless failed) on error. */
static int write_begin(http_req *r) {
  if (store_begin(r->srv) != 0) {
    http_fail(r, NETWORK_ERR_INTERNAL, "The resource could not be saved.");
    return -1;
  }
  return 0;
}

static int write_end(http_req *r, int ok) {
  if (ok && store_commit(r->srv) == 0) return 0;
  store_rollback(r->srv);
  if (!http_failed(r)) http_fail(r, NETWORK_ERR_INTERNAL, "The resource could not be saved.");
  return -1;
}

void network_child_put(http_req *r) {
  const network_child *c = route_child(r);
  const char *name = http_param(r, "name");
  char group[128];
  if (!network_name_valid(name)) {
    http_fail(r, NETWORK_ERR_INVALID_RESOURCE_NAME, NETWORK_NAME_MESSAGE, name);
    return;
  }
  json_t *req = http_json_own(r, http_body_json(r));
  if (!req) return;
  json_t *props = json_object_get(req, "properties");
  if (!json_is_object(req) || (props && !json_is_object(props))) {
    http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT,
              "The request content was invalid and could not be deserialized: the body must be "
              "a JSON object with an object 'properties'.");
    return;
  }
  if (write_begin(r) != 0) return;
  json_t *cur = parent_load(r, c, group), *saved = NULL;
  int created = 0;
  if (cur) {
    json_t *in = http_json_own(r, json_deep_copy(cur));
    json_t *arr = children(in, c);
    if (!json_is_array(arr)) {
      arr = json_array();
      json_object_set_new(json_object_get(in, "properties"), c->prop, arr);
    }
    int at = child_index(arr, name);
    created = at < 0;
    json_t *child = json_pack(
        "{s:s,s:o}", "name",
        at < 0 ? name : json_string_value(json_object_get(json_array_get(arr, (size_t)at), "name")),
        "properties", props ? json_incref(props) : json_object());
    if (at < 0)
      json_array_append_new(arr, child);
    else
      json_array_set_new(arr, (size_t)at, child);
    saved = parent_save(r, c, group, cur, in);
  }
  if (write_end(r, saved != NULL) != 0) return;
  json_t *arr = children(rendered(r, c, saved), c);
  json_t *child = json_array_get(arr, (size_t)child_index(arr, name));
  http_reply_json(r, created ? 201 : 200, json_incref(child));
}

void network_child_get(http_req *r) {
  const network_child *c = route_child(r);
  char group[128];
  json_t *cur = parent_load(r, c, group);
  if (!cur) return;
  json_t *arr = children(rendered(r, c, cur), c);
  int at = child_index(arr, http_param(r, "name"));
  if (at < 0) {
    fail_child_not_found(r, c, cur, http_param(r, "name"));
    return;
  }
  http_reply_json(r, 200, json_incref(json_array_get(arr, (size_t)at)));
}

void network_child_list(http_req *r) {
  const network_child *c = route_child(r);
  char group[128];
  json_t *cur = parent_load(r, c, group);
  if (!cur) return;
  json_t *arr = children(rendered(r, c, cur), c);
  http_reply_json(r, 200, json_pack("{s:o}", "value", arr ? json_incref(arr) : json_array()));
}

void network_child_delete(http_req *r) {
  const network_child *c = route_child(r);
  char group[128];
  if (write_begin(r) != 0) return;
  json_t *cur = parent_load(r, c, group), *saved = NULL;
  int at = -1;
  if (cur) {
    json_t *in = http_json_own(r, json_deep_copy(cur));
    json_t *arr = children(in, c);
    at = child_index(arr, http_param(r, "name"));
    if (at >= 0) {
      json_array_remove(arr, (size_t)at);
      saved = parent_save(r, c, group, cur, in);
    }
  }
  if (cur && at < 0) {
    /* Azure: 204 when there is nothing to delete. */
    store_rollback(r->srv);
    http_reply_empty(r, 204);
    return;
  }
  if (write_end(r, saved != NULL) == 0) http_reply_empty(r, 200);
}
