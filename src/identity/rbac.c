/* rbac.c: the one authorization decision.  Every ARM request (route_authorize
 * in the core), every bearer-token blob request (the storage provider) and
 * every handler that filters what a caller may see asks authz_check().
 *
 * Azure's rules, which this follows: a principal may perform an action at a
 * scope when one of its role assignments at that scope or any ancestor
 * (inheritance runs down the tree: root, subscription, group, resource,
 * child resource) names a role one of whose permission blocks matches the
 * action in `actions` (or `dataActions`) and not in `notActions` (or
 * `notDataActions`).  notActions only subtract from their own block; they
 * are not denies, so another assignment may still grant the action.  There
 * are no deny assignments.  Control-plane and data-plane permissions are
 * separate: "*" in actions grants no data action. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int authz_action_match(const char *pat, const char *act) {
  for (; *pat; pat++, act++) {
    /* A "*" segment also stands for no segment, as in Azure: Managed Identity
     * Operator's "userAssignedIdentities/STAR/assign/action" grants ".../assign/action". */
    if (pat[0] == '/' && pat[1] == '*' && pat[2] == '/' && *act == '/' &&
        authz_action_match(pat + 2, act))
      return 1;
    if (*pat == '*') {
      while (pat[1] == '*')
        pat++;
      for (const char *a = act;; a++) {
        if (authz_action_match(pat + 1, a)) return 1;
        if (!*a) return 0;
      }
    }
    if (!*act || tolower((unsigned char)*pat) != tolower((unsigned char)*act)) return 0;
  }
  return *act == 0;
}

int authz_scope_covers(const char *outer, const char *inner) {
  size_t n = strlen(outer);
  while (n > 0 && outer[n - 1] == '/')
    n--;
  if (n == 0) return 1; /* the root */
  return strncasecmp(outer, inner, n) == 0 && (inner[n] == 0 || inner[n] == '/');
}

int authz_check(srv *s, const principal *p, const char *action, const char *scope, int data) {
  if (!p || !p->oid[0] || !action || !scope) return -1;
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT scope, role_definition_id FROM role_assignments "
                    "WHERE principal_id=?",
                    -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, p->oid, -1, SQLITE_STATIC);
  int allowed = 0;
  while (!allowed && sqlite3_step(st) == SQLITE_ROW) {
    const char *as = (const char *)sqlite3_column_text(st, 0);
    const char *role = (const char *)sqlite3_column_text(st, 1);
    if (authz_scope_covers(as, scope) && identity_role_grants(s, role, action, data)) allowed = 1;
  }
  store_finalize(st);
  return allowed ? 0 : -1;
}

int authz_any_at_or_below(srv *s, const principal *p, const char *scope) {
  sqlite3_stmt *st;
  if (store_prepare(store_db(s), "SELECT scope FROM role_assignments WHERE principal_id=?", -1, &st,
                    NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, p->oid, -1, SQLITE_STATIC);
  int any = 0;
  while (!any && sqlite3_step(st) == SQLITE_ROW) {
    const char *as = (const char *)sqlite3_column_text(st, 0);
    any = authz_scope_covers(as, scope) || authz_scope_covers(scope, as);
  }
  store_finalize(st);
  return any;
}
