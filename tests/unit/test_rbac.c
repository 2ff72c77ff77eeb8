/* test_rbac.c: the two rules every authorization decision rests on: how an
 * action pattern ("Microsoft.Storage/..." with a star, "star/read") matches an action, and
 * which scopes an assignment's scope covers.  The e2e tests drive them through
 * real clients; these pin the edges (case, empty segments, prefixes that are
 * not parents, repeated wildcards). */
#include "identity/internal.h"
#include "unit.h"

static void action_patterns(void) {
  CHECK(authz_action_match("*", "Microsoft.Resources/subscriptions/resourceGroups/write"));
  CHECK(authz_action_match("*", ""));
  CHECK(authz_action_match("*/read", "Microsoft.Compute/virtualMachines/read"));
  CHECK(!authz_action_match("*/read", "Microsoft.Compute/virtualMachines/write"));
  CHECK(!authz_action_match("*/read", "Microsoft.Compute/virtualMachines/readers/write"));
  /* Case never matters, as in Azure ("resourcegroups" vs "resourceGroups"). */
  CHECK(authz_action_match("Microsoft.Authorization/*/Write",
                           "microsoft.authorization/roleassignments/write"));
  CHECK(authz_action_match("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*",
                           "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"));
  CHECK(!authz_action_match("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*",
                            "Microsoft.Storage/storageAccounts/blobServices/containers/read"));
  /* A wildcard in the middle spans several segments. */
  CHECK(authz_action_match("Microsoft.MachineLearningServices/workspaces/*/write",
                           "Microsoft.MachineLearningServices/workspaces/computes/x/write"));
  CHECK(authz_action_match("Microsoft.MachineLearningServices/workspaces/*/write",
                           "Microsoft.MachineLearningServices/workspaces/jobs/write"));
  /* ...or none: Managed Identity Operator's "userAssignedIdentities/ * /assign/action"
   * grants userAssignedIdentities/assign/action, the action Azure checks. */
  CHECK(authz_action_match("Microsoft.MachineLearningServices/workspaces/*/write",
                           "Microsoft.MachineLearningServices/workspaces/write"));
  CHECK(!authz_action_match("Microsoft.MachineLearningServices/workspaces/*/write",
                            "Microsoft.MachineLearningServices/workspacesx/write"));
  CHECK(authz_action_match("a**b", "ab"));
  CHECK(authz_action_match("a*b*c", "a-b-b-c"));
  CHECK(!authz_action_match("a*b*c", "a-b-b-d"));
  /* No wildcard: the whole action, no more, no less. */
  CHECK(authz_action_match("Microsoft.Support/x", "Microsoft.Support/x"));
  CHECK(!authz_action_match("Microsoft.Support/x", "Microsoft.Support/xy"));
  CHECK(!authz_action_match("Microsoft.Support/xy", "Microsoft.Support/x"));
  CHECK(!authz_action_match("", "x"));
  CHECK(authz_action_match("", ""));
}

static void scopes(void) {
  const char *sub = "/subscriptions/11111111-1111-1111-1111-111111111111";
  const char *rg = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/ml";
  const char *res = "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/ml/"
                    "providers/Microsoft.Storage/storageAccounts/a";
  CHECK(authz_scope_covers("/", sub));
  CHECK(authz_scope_covers("/", "/"));
  CHECK(authz_scope_covers(sub, sub));
  CHECK(authz_scope_covers(sub, rg));
  CHECK(authz_scope_covers(sub, res));
  CHECK(authz_scope_covers(rg, res));
  CHECK(!authz_scope_covers(rg, sub));
  CHECK(!authz_scope_covers(res, rg));
  /* A group named "ml" is no parent of one named "ml-other". */
  CHECK(!authz_scope_covers(rg, "/subscriptions/11111111-1111-1111-1111-111111111111/"
                                "resourceGroups/ml-other"));
  CHECK(authz_scope_covers("/subscriptions/11111111-1111-1111-1111-111111111111/RESOURCEGROUPS/ML",
                           res));
  CHECK(authz_scope_covers("/subscriptions/11111111-1111-1111-1111-111111111111/", rg));
  CHECK(!authz_scope_covers("/subscriptions/2", "/subscriptions/22"));
}

UNIT_MAIN("rbac", {
  action_patterns();
  scopes();
})
