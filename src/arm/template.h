/* template.h: ARM templates.  The expression language ("[concat(...)]") and
 * the evaluation of a whole template: parameters (types, defaultValue,
 * allowedValues, min/max), variables (with copy), resources expanded by copy
 * loops and conditions, their ids and dependsOn order, and outputs.  Pure: no
 * HTTP, no store; what needs the world (reference(), listKeys(), providers())
 * comes through the callbacks of tpl_env.
 *
 * Evaluation is in two steps, as ARM's: tpl_load binds parameters, evaluates
 * variables and expands resources (name, type, apiVersion, condition and
 * dependsOn may not use reference()); then each resource's body is
 * evaluated (tpl_resource_body) just before it is deployed, when what it
 * references exists. */
#ifndef AZLITE_ARM_TEMPLATE_H
#define AZLITE_ARM_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

/* An error as a deployment reports it: code InvalidTemplate (or
 * InvalidTemplateDeployment, DeploymentFailed, ...), and a message that says
 * where ("The template resource 'vm1' at 'resources[2].properties.osProfile'
 * is not valid: The template function 'foo' is not valid. ...").  */
typedef struct tpl_error {
  char code[64];
  char message[1024];
} tpl_error;

/* The deployment's world.  Strings are borrowed for the context's life. */
typedef struct tpl_env {
  const char *subscription_id;   /* subscription().subscriptionId */
  const char *tenant_id;         /* subscription().tenantId */
  const char *resource_group;    /* resourceGroup().name; NULL at subscription scope */
  const char *rg_location;       /* resourceGroup().location */
  const char *deployment_name;   /* deployment().name */
  const char *subscription_name; /* subscription().displayName; NULL: the id */
  void *cls;
  /* reference(idOrName, apiVersion, 'Full'): the resource's properties, or
   * with full its whole body; NULL with err filled when it cannot.  New
   * reference.  id is always a full resource id. */
  json_t *(*reference)(void *cls, const char *id, const char *api_version, int full,
                       tpl_error *err);
  /* listKeys(id, apiVersion) and the other list*() functions: the POST
   * action's reply (action: "listKeys").  New reference or NULL + err. */
  json_t *(*list)(void *cls, const char *id, const char *action, const char *api_version,
                  tpl_error *err);
  /* providers(namespace[, type]): as GET /providers/{namespace} answers, or
   * its resourceTypes entry for type.  New reference or NULL + err. */
  json_t *(*providers)(void *cls, const char *ns, const char *type, tpl_error *err);
} tpl_env;

typedef struct tpl_ctx tpl_ctx;

/* Loads a template with its parameters ({"name": {"value": ...}} as the
 * deployment's properties.parameters, or NULL).  NULL with err on any error
 * (missing parameter, bad type, unknown function, a cycle in dependsOn, a
 * dependsOn naming no resource of the template, ...).  Borrows env. */
tpl_ctx *tpl_load(json_t *template, json_t *parameters, const tpl_env *env, tpl_error *err);
void tpl_free(tpl_ctx *c);

/* The expanded resources, in the template's order (copies in index order);
 * those whose condition is false are left out. */
typedef struct tpl_resource {
  const char *id;   /* full resource id */
  const char *type; /* "Microsoft.Network/virtualNetworks" (child types joined) */
  const char *name; /* "vnet1", or "vnet1/subnet1" for a child */
  const char *api_version;
  const int *depends_on; /* indexes of the resources this one waits for */
  int ndepends;
  const char *symbol; /* the copy loop's name, or the resource's name expression */
} tpl_resource;
int tpl_resource_count(tpl_ctx *c);
const tpl_resource *tpl_resource_at(tpl_ctx *c, int i);
/* An order in which every resource follows what it depends on (an array of
 * tpl_resource_count indexes, owned by c). */
const int *tpl_order(tpl_ctx *c);

/* The body to PUT for resource i: the template resource with its
 * expressions evaluated now, less name, type, apiVersion, dependsOn, copy,
 * condition and comments (properties copy loops expanded).  New reference,
 * or NULL with err. */
json_t *tpl_resource_body(tpl_ctx *c, int i, tpl_error *err);

/* The outputs as a deployment reports them: {"name": {"type": "String",
 * "value": ...}}.  New reference, or NULL with err. */
json_t *tpl_outputs(tpl_ctx *c, tpl_error *err);

/* Evaluates one template string (an expression "[...]" or a literal) in c's
 * context: for tests and for outputs.  New reference or NULL with err. */
json_t *tpl_eval(tpl_ctx *c, const char *s, tpl_error *err);

#endif
