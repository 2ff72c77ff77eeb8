/* access.c: the core's side of authorization: handlers ask about their
 * caller here, and the provider that authenticates callers (identity, through
 * provider.access_ops) answers.  Core knows nothing of principals or roles. */
#include "core.h"

static const access_ops *access_provider_ops(void) {
  for (int i = 0; providers[i]; i++)
    if (providers[i]->access_ops) return providers[i]->access_ops;
  return NULL;
}

int access_allowed(http_req *r, const char *action, const char *scope, int data) {
  const access_ops *ops = access_provider_ops();
  return ops && ops->allowed && ops->allowed(r, action, scope, data) ? 1 : 0;
}

int access_any_at_or_below(http_req *r, const char *scope) {
  const access_ops *ops = access_provider_ops();
  return ops && ops->any_at_or_below && ops->any_at_or_below(r, scope) ? 1 : 0;
}

void access_fail_denied(http_req *r, const char *action, const char *scope) {
  const access_ops *ops = access_provider_ops();
  if (ops && ops->fail_denied) {
    ops->fail_denied(r, action, scope);
    return;
  }
  http_fail(r, CORE_ERR_AUTHORIZATION_FAILED,
            "The client does not have authorization to perform action '%s' over scope '%s'.",
            action, scope);
}
