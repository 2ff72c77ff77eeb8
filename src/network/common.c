/* common.c: what every Microsoft.Network type uses: the name rule, ids,
 * address prefixes, references between resources, and network_refs (which
 * sub-resource uses which public address or security group, so a delete can
 * refuse while something still does). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static int word_char(int c) {
  return isalnum(c) || c == '_';
}

int network_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 80 || !word_char((unsigned char)n[0]) ||
      !word_char((unsigned char)n[len - 1]))
    return 0;
  for (const char *p = n; *p; p++)
    if (!word_char((unsigned char)*p) && *p != '.' && *p != '-') return 0;
  return 1;
}

int network_ip_parse(const char *s, uint32_t *out) {
  unsigned a[4];
  char tail;
  if (!s || sscanf(s, "%3u.%3u.%3u.%3u%c", &a[0], &a[1], &a[2], &a[3], &tail) != 4) return -1;
  for (int i = 0; i < 4; i++)
    if (a[i] > 255) return -1;
  /* sscanf takes "+1" and " 1": only digits and dots are an address. */
  if (strspn(s, "0123456789.") != strlen(s)) return -1;
  *out = (uint32_t)a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
  return 0;
}

void network_ip_format(uint32_t a, char out[16]) {
  snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static uint32_t cidr_mask(int len) {
  return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

int network_cidr_parse(const char *s, network_cidr *out) {
  const char *slash = s ? strchr(s, '/') : NULL;
  if (!slash || slash - s > 15 || !slash[1] ||
      strspn(slash + 1, "0123456789") != strlen(slash + 1) || strlen(slash + 1) > 2)
    return -1;
  char ip[16];
  memcpy(ip, s, (size_t)(slash - s));
  ip[slash - s] = 0;
  int len = atoi(slash + 1);
  if (len > 32 || network_ip_parse(ip, &out->addr) != 0) return -1;
  out->len = len;
  return (out->addr & ~cidr_mask(len)) ? 1 : 0;
}

uint32_t network_cidr_last(const network_cidr *c) {
  return c->addr | ~cidr_mask(c->len);
}

int network_cidr_contains(const network_cidr *o, const network_cidr *i) {
  return i->len >= o->len && (i->addr & cidr_mask(o->len)) == o->addr;
}

int network_cidr_overlap(const network_cidr *a, const network_cidr *b) {
  return network_cidr_contains(a, b) || network_cidr_contains(b, a);
}

int network_prefix_check(http_req *r, const char *prefix, const char *id, network_cidr *out) {
  int rc = network_cidr_parse(prefix, out);
  if (rc < 0) {
    http_fail(r, NETWORK_ERR_INVALID_ADDRESS_PREFIX_FORMAT,
              "Address prefix %s of resource %s is not formatted correctly. It should follow "
              "CIDR notation, for example 10.0.0.0/24.",
              prefix ? prefix : "(null)", id);
    return -1;
  }
  if (rc > 0) {
    char net[16];
    network_ip_format(out->addr & cidr_mask(out->len), net);
    http_fail(r, NETWORK_ERR_INVALID_CIDR_NOTATION,
              "The address prefix %s in resource %s has an invalid CIDR notation. For the given "
              "prefix length, the address prefix should be %s/%d.",
              prefix, id, net, out->len);
    return -1;
  }
  return 0;
}

const char *network_child_name(http_req *r, const char *parent, const char *what, json_t *e,
                               json_t *done) {
  const char *name = json_string_value(json_object_get(e, "name"));
  if (!json_is_object(e) || !name || !network_name_valid(name)) {
    http_fail(r, NETWORK_ERR_INVALID_RESOURCE_NAME, NETWORK_NAME_MESSAGE, name ? name : "(null)");
    return NULL;
  }
  size_t i;
  json_t *d;
  json_array_foreach(done, i, d) {
    if (strcasecmp(json_string_value(json_object_get(d, "name")), name) == 0) {
      http_fail(r, NETWORK_ERR_DUPLICATE_RESOURCE_NAME, "Resource %s has two %s named %s.", parent,
                what, name);
      return NULL;
    }
  }
  return name;
}

const char *network_sub_id(http_req *r, const char *parent, const char *kind, const char *name) {
  return http_printf(r, "%s/%s/%s", parent, kind, name);
}

json_t *network_etag(void) {
  char u[37];
  uuid_v4(u);
  return json_sprintf("W/\"%s\"", u);
}

const char *network_enum(const char *const *list, const char *v) {
  for (int i = 0; v && list[i]; i++)
    if (strcasecmp(list[i], v) == 0) return list[i];
  return NULL;
}

const char *network_enum_prop(http_req *r, json_t *obj, const char *prop, const char *const *list,
                              const char *dflt) {
  json_t *v = json_object_get(obj, prop);
  if (!v || json_is_null(v)) return dflt;
  const char *got = network_enum(list, json_string_value(v));
  if (!got) {
    char allowed[256] = "";
    for (int i = 0; list[i]; i++)
      snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", i ? ", " : "",
               list[i]);
    http_fail(r, NETWORK_ERR_INVALID_REQUEST_FORMAT,
              "Cannot parse the request: the value of property '%s' must be one of %s.", prop,
              allowed);
  }
  return got;
}

const char *network_ref_id(json_t *obj, const char *key) {
  return json_string_value(json_object_get(json_object_get(obj, key), "id"));
}

json_t *network_ref_require(http_req *r, const char *id, const char *type, const char *referrer,
                            const char *location) {
  json_t *b = id ? arm_resource_get(r->srv, id) : NULL;
  const char *t = json_string_value(json_object_get(b, "type"));
  const char *loc = json_string_value(json_object_get(b, "location"));
  if (b && t && strcasecmp(t, type) == 0 && (!location || (loc && !strcasecmp(loc, location))))
    return b;
  json_decref(b);
  http_fail(r, NETWORK_ERR_INVALID_RESOURCE_REFERENCE,
            "Resource %s referenced by resource %s was not found. Please make sure that the "
            "referenced resource exists, and that both resources are in the same region.",
            id ? id : "(null)", referrer);
  return NULL;
}

int network_refs_clear(srv *s, const char *res) {
  return store_run(s, "DELETE FROM network_refs WHERE res=?", "t", res);
}

int network_ref_add(srv *s, const char *res, const char *src, const char *dst) {
  return store_run(s, "INSERT OR REPLACE INTO network_refs(res, src, dst) VALUES(?,?,?)", "ttt",
                   res, src, dst);
}

char *network_ref_user(srv *s, const char *dst, const char *exclude_res) {
  sqlite3_stmt *st;
  char *out = NULL;
  if (store_prepare(store_db(s),
                    "SELECT src FROM network_refs WHERE dst=? AND (?2 IS NULL OR res<>?2) "
                    "ORDER BY src LIMIT 1",
                    -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, dst, -1, SQLITE_STATIC);
  if (exclude_res)
    sqlite3_bind_text(st, 2, exclude_res, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 2);
  if (sqlite3_step(st) == SQLITE_ROW) out = strdup((const char *)sqlite3_column_text(st, 0));
  store_finalize(st);
  return out;
}

json_t *network_ref_users(srv *s, const char *dst, const char *kind) {
  sqlite3_stmt *st;
  json_t *out = json_array();
  if (store_prepare(store_db(s), "SELECT src FROM network_refs WHERE dst=? ORDER BY src", -1, &st,
                    NULL) != SQLITE_OK)
    return out;
  sqlite3_bind_text(st, 1, dst, -1, SQLITE_STATIC);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *src = (const char *)sqlite3_column_text(st, 0);
    if (!kind || strcasestr(src, kind)) json_array_append_new(out, json_pack("{s:s}", "id", src));
  }
  store_finalize(st);
  return out;
}
