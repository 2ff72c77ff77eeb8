/* resource.c: the generic ARM resource layer (resource.h): what every ARM
 * resource type does the same way, done once.  A type's descriptor supplies
 * only what differs: its name rule, how a request body becomes the stored
 * body, and what it keeps beside the resource table. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const arm_identity_hooks *identity_hooks;

void arm_identity_hooks_set(const arm_identity_hooks *h) {
  identity_hooks = h;
}

const arm_type *arm_type_find(const char *type) {
  for (int i = 0; providers[i]; i++)
    for (const resource_type *t = providers[i]->resource_types; t && t->type; t++)
      if (t->generic && strcasecmp(t->type, type) == 0) return t->generic;
  return NULL;
}

static const arm_type *route_type(http_req *r) {
  const arm_type *t = http_route_data(r);
  assert(t && t->name_valid); /* a generic route names its descriptor */
  return t;
}

int arm_tags_check(http_req *r, json_t *tags) {
  if (!tags || json_is_null(tags)) return 0;
  if (!json_is_object(tags)) {
    http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT,
              "The request content was invalid and could not be deserialized: 'tags' must be "
              "an object.");
    return -1;
  }
  if (json_object_size(tags) > 50) {
    http_fail(r, ARM_ERR_INVALID_TAG_COUNT, "The number of tags exceeds the limit of 50.");
    return -1;
  }
  const char *k;
  json_t *v;
  json_object_foreach(tags, k, v) {
    if (!json_is_string(v) || strlen(k) > 512 || strlen(json_string_value(v)) > 256) {
      http_fail(r, ARM_ERR_INVALID_TAG_NAME_OR_VALUE,
                "The tag '%s' has an invalid name or value: names are at most 512 characters, "
                "values are strings of at most 256.",
                k);
      return -1;
    }
  }
  return 0;
}

static json_t *render(http_req *r, const arm_type *t, json_t *body) {
  return t->render ? t->render(r, body) : body;
}

static void fail_not_found(http_req *r, const arm_type *t, const char *rg, const char *name,
                           const char *code) {
  if (code && strcmp(code, "ResourceNotFound") != 0) {
    const char *what = t->display ? t->display : strrchr(t->type, '/') + 1;
    http_fail(r, 404, code, "The %s %s was not found.", what, name);
    return;
  }
  http_fail(r, ARM_ERR_RESOURCE_NOT_FOUND,
            "The Resource '%s/%s' under resource group '%s' was not found. For more details "
            "please go to https://aka.ms/ARMResourceNotFoundFix",
            t->type, name, rg);
}

/* The group's canonical name into out, or fails r (404) and returns -1. */
static int group_of(http_req *r, const char *rg, char out[128]) {
  const char *sub = http_param(r, "sub");
  if (arm_require_group(r, sub, rg) != 0) return -1;
  arm_group_exists(r->srv, sub, rg, out, 128);
  return 0;
}

json_t *arm_res_require(http_req *r, const arm_type *t, const char *rg, const char *name,
                        const char *not_found_code) {
  char group[128];
  if (group_of(r, rg, group) != 0) return NULL;
  char *id = arm_resource_id(r->srv->subscription_id, group, t->type, name);
  json_t *body = arm_resource_get(r->srv, id);
  free(id);
  if (!body) fail_not_found(r, t, rg, name, not_found_code);
  return body;
}

void arm_res_get(http_req *r) {
  const arm_type *t = route_type(r);
  json_t *body = arm_res_require(r, t, http_param(r, "rg"), http_param(r, "name"), NULL);
  if (!body) return;
  body = render(r, t, body);
  const char *what = http_query_get(r, "$expand");
  if (what && t->expand && !(body = t->expand(r, body, what))) return;
  http_reply_json(r, 200, body);
}

int arm_resource_set_state(srv *s, const char *id, const char *state) {
  if (store_begin(s) != 0) return -1;
  json_t *body = arm_resource_get(s, id);
  int rc = -1;
  if (body) {
    json_t *props = json_object_get(body, "properties");
    if (!json_is_object(props)) {
      props = json_object();
      json_object_set_new(body, "properties", props);
    }
    json_object_set_new(props, "provisioningState", json_string(state));
    rc = arm_resource_put(s, json_string_value(json_object_get(body, "id")),
                          json_string_value(json_object_get(body, "type")), body);
    json_decref(body);
  }
  if (rc == 0)
    rc = store_commit(s);
  else
    store_rollback(s);
  return rc;
}

typedef struct res_finish_ctx {
  const arm_type *t;
  char *id;
} res_finish_ctx;

static int res_finish(srv *s, void *ctx, char *code, size_t cn, char *msg, size_t mn) {
  res_finish_ctx *c = ctx;
  return c->t->finish(s, c->id, code, cn, msg, mn);
}

static void res_finish_free(void *ctx) {
  res_finish_ctx *c = ctx;
  free(c->id);
  free(c);
}

/* ---- PUT and PATCH ------------------------------------------------------ */

static int location_check(arm_op *op, char loc[32]) {
  http_req *r = op->r;
  json_t *lv = json_object_get(op->in, "location");
  const char *in = json_string_value(lv);
  if (op->patch && !lv) {
    snprintf(loc, 32, "%s", json_string_value(json_object_get(op->cur, "location")));
    return 0;
  }
  if (!in) {
    http_fail(r, ARM_ERR_LOCATION_REQUIRED,
              "The location property is required for this definition.");
    return -1;
  }
  if (op->type->fixed_location && !strcasecmp(in, op->type->fixed_location)) {
    snprintf(loc, 32, "%s", op->type->fixed_location);
  } else if (op->type->fixed_location || !arm_location_normalize(in, loc)) {
    http_fail(r, ARM_ERR_LOCATION_NOT_AVAILABLE_FOR_RESOURCE_TYPE,
              "The provided location '%s' is not available for resource type '%s'.", in,
              op->type->type);
    return -1;
  }
  const char *curloc = json_string_value(json_object_get(op->cur, "location"));
  if (curloc && strcasecmp(curloc, loc) != 0) {
    http_fail(r, ARM_ERR_INVALID_RESOURCE_LOCATION,
              "The resource '%s' already exists in location '%s' in resource group '%s'. A "
              "resource with the same name cannot be created in location '%s'. Please select a "
              "new resource name.",
              op->name, curloc, op->group, loc);
    return -1;
  }
  return 0;
}

/* The start of what will be stored: PUT replaces (tags absent: none), PATCH
 * merges into what is stored (tags absent: kept). */
static json_t *body_start(arm_op *op) {
  json_t *tags = json_object_get(op->in, "tags");
  json_t *body;
  if (op->patch) {
    body = json_deep_copy(op->cur);
    if (tags)
      json_object_set_new(body, "tags",
                          json_is_object(tags) ? json_deep_copy(tags) : json_object());
  } else {
    body = json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", op->id, "name", op->name, "type",
                     op->type->type, "location", op->location, "tags",
                     json_is_object(tags) ? json_deep_copy(tags) : json_object());
  }
  json_object_set_new(body, "location", json_string(op->location));
  return body;
}

/* Saves op->body, and what the type and the identity provider keep, in one
 * transaction whose group check a concurrent group delete cannot miss. */
static int save(arm_op *op, json_t *identity_in) {
  http_req *r = op->r;
  srv *s = op->s;
  const char *sub = http_param(r, "sub");
  if (store_begin(s) != 0) {
    /* The store stayed locked: a resource group's delete holds it that long. */
    if (arm_group_writable(r, sub, op->group) == 0)
      http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The resource could not be saved.");
    return -1;
  }
  if (arm_group_writable(r, sub, op->group) != 0) goto fail;
  if (identity_in) {
    json_t *ident = identity_hooks ? identity_hooks->apply(r, op->id, identity_in) : NULL;
    if (!ident) {
      if (!http_failed(r))
        http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The resource's identity could not be saved.");
      goto fail;
    }
    json_object_set_new(op->body, "identity", ident);
  }
  if (op->type->apply && op->type->apply(op) != 0) goto fail;
  if (arm_resource_put(s, op->id, op->type->type, op->body) != 0 || store_commit(s) != 0) goto fail;
  return 0;
fail:
  store_rollback(s);
  if (!http_failed(r))
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The resource could not be saved.");
  return -1;
}

static void put_or_patch(http_req *r, int patch) {
  srv *s = r->srv;
  const arm_type *t = route_type(r);
  const char *name = http_param(r, "name");
  char group[128], loc[32];
  if (group_of(r, http_param(r, "rg"), group) != 0) return;
  if (!patch && arm_group_writable(r, http_param(r, "sub"), group) != 0) return;
  if (!patch && !t->name_valid(name)) {
    http_fail(r, 400, t->name_code ? t->name_code : "InvalidResourceName",
              t->name_message ? t->name_message : "The resource name '%s' is invalid.", name);
    return;
  }
  /* Everything below lives until the request ends (http_defer): no frees on
   * the error paths. */
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  char *id = arm_resource_id(s->subscription_id, group, t->type, name);
  http_defer(r, free, id);
  arm_op op = {
      .r = r, .s = s, .type = t, .id = id, .name = name, .group = group, .in = in, .patch = patch};
  if (!json_is_object(in)) {
    http_fail(r, ARM_ERR_INVALID_REQUEST_CONTENT,
              "The request content was invalid and could not be deserialized: the body must be "
              "a JSON object.");
    return;
  }
  op.cur = http_json_own(r, arm_resource_get(s, id));
  op.created = op.cur == NULL;
  if (patch && !op.cur) {
    fail_not_found(r, t, http_param(r, "rg"), name, NULL);
    return;
  }
  if (op.cur) {
    /* An update keeps the first spelling of the name, and so of the id. */
    op.id = json_string_value(json_object_get(op.cur, "id"));
    op.name = json_string_value(json_object_get(op.cur, "name"));
  }
  if (location_check(&op, loc) != 0 || arm_tags_check(r, json_object_get(in, "tags")) != 0) return;
  op.location = loc;
  json_t *identity_in = t->identity ? json_object_get(in, "identity") : NULL;
  if (identity_in && identity_hooks &&
      identity_hooks->check_linked(r, http_printf(r, "%s/write", t->type), op.id, identity_in) != 0)
    return;
  op.body = http_json_own(r, body_start(&op));
  if (!patch && op.cur && json_object_get(op.cur, "identity") && !identity_in)
    json_object_set(op.body, "identity", json_object_get(op.cur, "identity"));
  if (t->build && t->build(&op) != 0) return;
  json_t *props = json_object_get(op.body, "properties");
  if (!json_is_object(props)) {
    props = json_object();
    json_object_set_new(op.body, "properties", props);
  }
  int lro = op.created && !patch && t->finish;
  const char *state = lro && t->create_state ? t->create_state : "Succeeded";
  if (!op.created && op.lro_state && t->finish) {
    lro = 1;
    state = op.lro_state;
  }
  json_object_set_new(props, "provisioningState", json_string(state));
  if (save(&op, identity_in) != 0) return;
  if (op.created) log_info("arm: created %s", op.id);
  if (lro) {
    res_finish_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->t = t;
    c->id = strdup(op.id);
    arm_lro_start(r,
                  !op.created        ? 200
                  : t->create_status ? t->create_status
                                     : 201,
                  render(r, t, json_incref(op.body)), res_finish, c, res_finish_free);
    return;
  }
  http_reply_json(r, op.created && !patch ? (t->create_status ? t->create_status : 201) : 200,
                  render(r, t, json_incref(op.body)));
}

void arm_res_put(http_req *r) {
  put_or_patch(r, 0);
}

void arm_res_patch(http_req *r) {
  put_or_patch(r, 1);
}

/* ---- DELETE ------------------------------------------------------------- */

/* One transaction: the type's own state (its remove hook), what the other
 * providers keep for it (role assignments, its system-assigned identity) and
 * its row, all through arm_resource_delete. */
void arm_res_delete(http_req *r) {
  srv *s = r->srv;
  const arm_type *t = route_type(r);
  char group[128];
  if (group_of(r, http_param(r, "rg"), group) != 0) return;
  char *id = arm_resource_id(s->subscription_id, group, t->type, http_param(r, "name"));
  json_t *cur = NULL;
  int rc = store_begin(s);
  if (rc == 0 && !(cur = arm_resource_get(s, id))) {
    store_rollback(s);
    /* Azure: 204 when there is nothing to delete. */
    http_reply_empty(r, 204);
    goto done;
  }
  if (rc == 0 && t->delete_check && t->delete_check(r, cur) != 0) {
    store_rollback(s);
    goto done;
  }
  if (rc == 0) rc = arm_resource_delete(s, json_string_value(json_object_get(cur, "id")));
  if (rc == 0)
    rc = store_commit(s);
  else
    store_rollback(s);
  if (rc != 0)
    http_fail(r, ARM_ERR_INTERNAL_SERVER_ERROR, "The resource could not be deleted.");
  else
    http_reply_empty(r, 200);
done:
  json_decref(cur);
  free(id);
}

/* ---- lists -------------------------------------------------------------- */

/* Items per page: $top when the client asks (1-1000), else
 * AZLITE_ARM_PAGE_SIZE, else 1000. */
static size_t page_size(http_req *r) {
  const char *top = http_query_get(r, "$top");
  const char *env = getenv("AZLITE_ARM_PAGE_SIZE");
  long n = top ? strtol(top, NULL, 10) : env ? strtol(env, NULL, 10) : 1000;
  return n < 1 ? 1 : n > 1000 ? 1000 : (size_t)n;
}

/* Pages follow the order of ids; $skiptoken is the last id of the previous
 * page, so a resource created or deleted between pages moves nothing else. */
void arm_res_list(http_req *r) {
  srv *s = r->srv;
  const arm_type *t = route_type(r);
  char scope[256];
  if (arm_list_scope(r, http_printf(r, "%s/read", t->type), scope, sizeof scope) != 0) return;
  const char *top = http_query_get(r, "$top");
  if (top && (strspn(top, "0123456789") != strlen(top) || !*top || atol(top) < 1)) {
    http_fail(r, ARM_ERR_INVALID_PARAMETER, "The value '%s' of $top is not a positive integer.",
              top);
    return;
  }
  json_t *all = arm_visible_only(r, arm_resource_list(s, scope, t->type));
  const char *after = http_query_get(r, "$skiptoken");
  size_t max = page_size(r), i;
  json_t *out = json_array(), *item;
  const char *last = NULL;
  int more = 0;
  json_array_foreach(all, i, item) {
    const char *id = json_string_value(json_object_get(item, "id"));
    if (after && strcasecmp(id, after) <= 0) continue;
    if (json_array_size(out) == max) {
      more = 1;
      break;
    }
    last = id;
    json_array_append_new(out, render(r, t, json_incref(item)));
  }
  json_t *reply = json_pack("{s:o}", "value", out);
  if (more)
    json_object_set_new(reply, "nextLink",
                        json_sprintf("%s%s?api-version=%s&$top=%zu&$skiptoken=%s",
                                     http_mgmt_base(r), r->raw_path,
                                     http_url_encode(r, http_query_get(r, "api-version"), 0), max,
                                     http_url_encode(r, last, 0)));
  json_decref(all);
  http_reply_json(r, 200, reply);
}
