/* rbac.c: the one authorization check.  Every ARM request (and, through the
 * blob provider, every bearer-token blob request) asks authz_check() whether
 * the caller's role assignments, inherited down the scope tree, allow the
 * action at the scope. */
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "internal.h"

/* Built-in roles the first milestone needs; the full catalogue (with data
 * actions) lives with role definitions. */
typedef struct role_rule {
  const char *id;
  const char *const actions[4];
  const char *const not_actions[4];
} role_rule;

static const role_rule builtin_roles[] = {
    {ROLE_OWNER, {"*"}, {NULL}},
    {ROLE_CONTRIBUTOR,
     {"*"},
     {"Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
      "Microsoft.Authorization/elevateAccess/Action", NULL}},
    {ROLE_READER, {"*/read"}, {NULL}},
};

/* Azure's action wildcards: '*' matches any run of characters; case-insensitive. */
static int action_match(const char *pat, const char *act) {
  for (; *pat; pat++, act++) {
    if (*pat == '*') {
      for (const char *a = act;; a++) {
        if (action_match(pat + 1, a)) return 1;
        if (!*a) return 0;
      }
    }
    if (!*act || tolower((unsigned char)*pat) != tolower((unsigned char)*act)) return 0;
  }
  return *act == 0;
}

static int role_allows(const char *role_id, const char *action) {
  for (size_t i = 0; i < sizeof builtin_roles / sizeof builtin_roles[0]; i++) {
    const role_rule *r = &builtin_roles[i];
    if (strcasecmp(r->id, role_id) != 0) continue;
    int ok = 0;
    for (int k = 0; k < 4 && r->actions[k]; k++) ok |= action_match(r->actions[k], action);
    for (int k = 0; k < 4 && r->not_actions[k]; k++)
      if (action_match(r->not_actions[k], action)) ok = 0;
    return ok;
  }
  return 0;
}

/* Is `outer` the same scope as `inner` or an ancestor of it? */
static int scope_covers(const char *outer, const char *inner) {
  size_t n = strlen(outer);
  while (n > 1 && outer[n - 1] == '/') n--;
  if (n == 1 && outer[0] == '/') return 1;
  return strncasecmp(outer, inner, n) == 0 && (inner[n] == 0 || inner[n] == '/');
}

int authz_check(srv *s, const principal *p, const char *action, const char *scope, int data) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(store_db(s),
                         "SELECT scope, role_definition_id FROM role_assignments "
                         "WHERE principal_id=?",
                         -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, p->oid, -1, SQLITE_STATIC);
  int allowed = 0;
  while (!allowed && sqlite3_step(st) == SQLITE_ROW) {
    const char *as = (const char *)sqlite3_column_text(st, 0);
    const char *role = (const char *)sqlite3_column_text(st, 1);
    if (!data && scope_covers(as, scope) && role_allows(role, action)) allowed = 1;
  }
  sqlite3_finalize(st);
  return allowed ? 0 : -1;
}

int authz_any_at_or_below(srv *s, const principal *p, const char *scope) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(store_db(s), "SELECT scope FROM role_assignments WHERE principal_id=?",
                         -1, &st, NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, p->oid, -1, SQLITE_STATIC);
  int any = 0;
  while (!any && sqlite3_step(st) == SQLITE_ROW) {
    const char *as = (const char *)sqlite3_column_text(st, 0);
    any = scope_covers(as, scope) || scope_covers(scope, as);
  }
  sqlite3_finalize(st);
  return any;
}
