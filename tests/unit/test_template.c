/* test_template.c: the ARM template engine (src/arm/template.c): expressions
 * and their functions, parameters and their constraints, variables, copy
 * loops, conditions, ids, dependsOn order and cycles, outputs, and the
 * templates `az vm create`, `az vmss create` and a storage copy loop send. */
#include <stdlib.h>

#include "arm/template.h"
#include "unit.h"

#define SUB "00000000-0000-0000-0000-000000000001"
#define RGID "/subscriptions/" SUB "/resourceGroups/rg1"

typedef struct world {
  int refs, lists;
  char last_id[512], last_api[64], last_action[64];
} world;

static json_t *w_reference(void *cls, const char *id, const char *api, int full, tpl_error *err) {
  world *w = cls;
  w->refs++;
  snprintf(w->last_id, sizeof w->last_id, "%s", id);
  snprintf(w->last_api, sizeof w->last_api, "%s", api ? api : "");
  if (strstr(id, "missing")) {
    snprintf(err->code, sizeof err->code, "ResourceNotFound");
    snprintf(err->message, sizeof err->message, "The Resource '%s' was not found.", id);
    return NULL;
  }
  json_t *props = json_pack("{s:s, s:s}", "provisioningState", "Succeeded", "customerId", "cust-1");
  if (!full) return props;
  return json_pack("{s:s, s:o, s:{s:s}}", "id", id, "properties", props, "identity",
                   "principalId", "pid-1");
}

static json_t *w_list(void *cls, const char *id, const char *action, const char *api,
                      tpl_error *err) {
  (void)err;
  world *w = cls;
  w->lists++;
  snprintf(w->last_id, sizeof w->last_id, "%s", id);
  snprintf(w->last_action, sizeof w->last_action, "%s", action);
  snprintf(w->last_api, sizeof w->last_api, "%s", api);
  return json_pack("{s:[{s:s, s:s}], s:s}", "keys", "keyName", "key1", "value", "secret1",
                   "primarySharedKey", "shared1");
}

static json_t *w_providers(void *cls, const char *ns, const char *type, tpl_error *err) {
  (void)cls, (void)err;
  json_t *rt = json_pack("{s:s, s:[s, s]}", "resourceType", type ? type : "x", "apiVersions",
                         "2022-08-01", "2021-03-01");
  if (type) return rt;
  return json_pack("{s:s, s:[o]}", "namespace", ns, "resourceTypes", rt);
}

static world W;
static const tpl_env ENV = {.subscription_id = SUB,
                            .tenant_id = "tenant-1",
                            .resource_group = "rg1",
                            .rg_location = "westus",
                            .deployment_name = "dep1",
                            .cls = &W,
                            .reference = w_reference,
                            .list = w_list,
                            .providers = w_providers};

static json_t *J(const char *s) {
  json_error_t e;
  json_t *j = json_loads(s, 0, &e);
  if (!j) fprintf(stderr, "bad test JSON: %s: %s\n", e.text, s);
  return j;
}

static tpl_ctx *load(const char *tpl, const char *params, tpl_error *err) {
  json_t *t = J(tpl), *p = params ? J(params) : NULL;
  memset(err, 0, sizeof *err);
  tpl_ctx *c = tpl_load(t, p, &ENV, err);
  json_decref(t);
  json_decref(p);
  return c;
}

/* The expression's value as compact JSON (for strings: the string), or
 * "ERR:" and the message. */
static char OUT[2048];
static const char *ev(tpl_ctx *c, const char *expr) {
  tpl_error err = {0};
  json_t *v = tpl_eval(c, expr, &err);
  if (!v) {
    snprintf(OUT, sizeof OUT, "ERR:%s:%s", err.code, err.message);
    return OUT;
  }
  if (json_is_string(v))
    snprintf(OUT, sizeof OUT, "%s", json_string_value(v));
  else {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    snprintf(OUT, sizeof OUT, "%s", s);
    free(s);
  }
  json_decref(v);
  return OUT;
}
#define EV(expr, want) CHECK_STR(ev(c, expr), want)
#define EV_ERR(expr, part) CHECK(strncmp(ev(c, expr), "ERR:InvalidTemplate:", 20) == 0 && strstr(OUT, part))

static void test_expressions(void) {
  tpl_error err;
  tpl_ctx *c = load("{\"parameters\": {\"p\": {\"type\": \"string\", \"defaultValue\": \"pv\"},"
                    " \"n\": {\"type\": \"int\", \"defaultValue\": 3},"
                    " \"o\": {\"type\": \"object\", \"defaultValue\": {\"a\": {\"b\": [1, 2]}}}},"
                    " \"variables\": {\"v\": \"[concat(parameters('p'), '-x')]\", \"w\": \"[variables('v')]\","
                    " \"arr\": [\"a\", \"b\"]}}",
                    NULL, &err);
  CHECK(c != NULL);
  if (!c) {
    fprintf(stderr, "%s\n", err.message);
    return;
  }
  EV("plain", "plain");
  EV("[[notexpr]", "[notexpr]");
  EV("['it''s']", "it's");
  EV("[parameters('p')]", "pv");
  EV("[PARAMETERS('p')]", "pv");
  EV("[variables('w')]", "pv-x");
  EV("[concat('a', 1, true())]", "a1True");
  EV("[concat(variables('arr'), createArray('c'))]", "[\"a\",\"b\",\"c\"]");
  EV("[format('{0}-{1}-{0:D3}', 'x', 'y')]", "x-y-x");
  EV("[format('{0:D3}/{1}', 7, 'z')]", "007/z");
  EV("[format('{{{0}}}', 'q')]", "{q}");
  EV("[parameters('o').a.b[1]]", "2");
  EV("[parameters('o')['a'].B[0]]", "1");
  EV("[add(parameters('n'), 2)]", "5");
  EV("[sub(1, 3)]", "-2");
  EV("[mul(4, 5)]", "20");
  EV("[div(7, 2)]", "3");
  EV("[mod(7, 2)]", "1");
  EV("[min(3, 1, 2)]", "1");
  EV("[max(createArray(3, 9, 2))]", "9");
  EV("[range(2, 3)]", "[2,3,4]");
  EV("[take(createArray(1,2,3), 2)]", "[1,2]");
  EV("[skip('hello', 3)]", "lo");
  EV("[if(equals(1, 1), 'yes', fail())]", "yes");
  EV("[if(false(), fail(), 'no')]", "no");
  EV("[and(true(), not(false()))]", "true");
  EV("[or(false(), false())]", "false");
  EV("[less(1, 2)]", "true");
  EV("[lessOrEquals(2, 2)]", "true");
  EV("[greater('b', 'a')]", "true");
  EV("[greaterOrEquals(1, 2)]", "false");
  EV("[contains('hello', 'ell')]", "true");
  EV("[contains(createArray(1, 2), 2)]", "true");
  EV("[contains(parameters('o'), 'A')]", "true");
  EV("[empty('')]", "true");
  EV("[empty(createObject())]", "true");
  EV("[empty(createArray(1))]", "false");
  EV("[length('abc')]", "3");
  EV("[length(parameters('o'))]", "1");
  EV("[union(createObject('a', 1), createObject('b', 2))]", "{\"a\":1,\"b\":2}");
  EV("[union(createArray(1, 2), createArray(2, 3))]", "[1,2,3]");
  EV("[intersection(createArray(1, 2, 3), createArray(3, 2))]", "[2,3]");
  EV("[intersection(createObject('a', 1, 'b', 2), createObject('a', 1, 'b', 3))]", "{\"a\":1}");
  EV("[first(createArray('x', 'y'))]", "x");
  EV("[last('xyz')]", "z");
  EV("[split('a,b;c', createArray(',', ';'))]", "[\"a\",\"b\",\"c\"]");
  EV("[join(split('a-b-c', '-'), '+')]", "a+b+c");
  EV("[toLower('ABc')]", "abc");
  EV("[toUpper('abC')]", "ABC");
  EV("[substring('hello', 1, 3)]", "ell");
  EV("[substring('hello', 2)]", "llo");
  EV("[replace('a-b-c', '-', '')]", "abc");
  EV("[trim('  x  ')]", "x");
  EV("[startsWith('Hello', 'he')]", "true");
  EV("[endsWith('Hello', 'LO')]", "true");
  EV("[indexOf('abcabc', 'C')]", "2");
  EV("[lastIndexOf('abcabc', 'c')]", "5");
  EV("[indexOf('abc', 'z')]", "-1");
  EV("[padLeft(7, 3, '0')]", "007");
  EV("[padLeft('ab', 4)]", "  ab");
  EV("[string(createObject('a', 1))]", "{\"a\":1}");
  EV("[string(true())]", "True");
  EV("[int('42')]", "42");
  EV("[bool('TRUE')]", "true");
  EV("[json('{\"k\": [1]}').k[0]]", "1");
  EV("[json('null')]", "null");
  EV("[coalesce(null(), 'c')]", "c");
  EV("[base64('hello')]", "aGVsbG8=");
  EV("[base64ToString('aGVsbG8=')]", "hello");
  EV("[uri('http://a.com/x/y', 'z')]", "http://a.com/x/z");
  EV("[uri('http://a.com/x/y', '/z')]", "http://a.com/z");
  EV("[uriComponent('a b/c')]", "a%20b%2Fc");
  EV("[uriComponentToString('a%20b')]", "a b");
  EV("[dataUri('hi')]", "data:text/plain;charset=utf8;base64,aGk=");
  EV("[resourceGroup().name]", "rg1");
  EV("[resourceGroup().id]", RGID);
  EV("[resourceGroup().location]", "westus");
  EV("[resourceGroup().properties.provisioningState]", "Succeeded");
  EV("[subscription().subscriptionId]", SUB);
  EV("[subscription().tenantId]", "tenant-1");
  EV("[deployment().name]", "dep1");
  EV("[resourceId('Microsoft.Network/virtualNetworks', 'v1')]",
     RGID "/providers/Microsoft.Network/virtualNetworks/v1");
  EV("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v1', 's1')]",
     RGID "/providers/Microsoft.Network/virtualNetworks/v1/subnets/s1");
  EV("[resourceId('rg2', 'Microsoft.Storage/storageAccounts', 'sa')]",
     "/subscriptions/" SUB "/resourceGroups/rg2/providers/Microsoft.Storage/storageAccounts/sa");
  EV("[resourceId('s2', 'rg2', 'Microsoft.Storage/storageAccounts', 'sa')]",
     "/subscriptions/s2/resourceGroups/rg2/providers/Microsoft.Storage/storageAccounts/sa");
  EV("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'r1')]",
     "/subscriptions/" SUB "/providers/Microsoft.Authorization/roleDefinitions/r1");
  EV("[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]",
     "/providers/Microsoft.Management/managementGroups/mg");
  EV("[extensionResourceId('/x/y', 'Microsoft.Authorization/locks', 'l')]",
     "/x/y/providers/Microsoft.Authorization/locks/l");
  EV("[providers('Microsoft.Compute', 'virtualMachines').apiVersions[0]]", "2022-08-01");
  EV("[reference('/subscriptions/s/resourceGroups/r/providers/A.B/c/d', '2020-01-01').customerId]",
     "cust-1");
  CHECK_STR(W.last_api, "2020-01-01");
  EV("[reference('/x/a.b/c/d', '2020-01-01', 'Full').identity.principalId]", "pid-1");
  EV("[listKeys('/x/Microsoft.Storage/storageAccounts/sa', '2021-01-01').keys[0].value]",
     "secret1");
  CHECK_STR(W.last_action, "listKeys");
  /* Azure's values (the Bicep/ARM uniqueString() of these inputs). */
  EV("[uniqueString('test')]", "rbgf3xv4ufgzg");
  EV("[uniqueString('hello', 'world')]", "a7wkljktk6wne");
  EV("[uniqueString('abc')]", "cgtzqvhu4i23s");
  EV("[uniqueString('/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-rg')]",
     "bmg7c6xu4tw46");
  EV("[uniqueString('foo', 'bar', 'baz')]", "xzi4ioaxtmth4");
  /* uuid5 in ARM's namespace, as Python's uuid.uuid5 computes it. */
  EV("[guid('test')]", "d6a5baf1-8b9b-542a-8525-2982f1f98a0c");
  EV("[guid('a', 'b')]", "2d796349-8c7e-55ec-9624-54ece82ed031");

  EV_ERR("[foo('x')]", "The template function 'foo' is not valid");
  EV_ERR("[concat('a']", "Unable to parse language expression");
  EV_ERR("[substring('abc')]", "'substring'");
  EV_ERR("[substring('abc', 2, 5)]", "within the string");
  EV_ERR("[toLower(1)]", "expects its parameter '1' to be of type 'String'");
  EV_ERR("[createArray(1)[3]]", "index '3' is out of bounds");
  EV_ERR("[parameters('o').nope]", "'nope' doesn't exist, available properties are 'a'");
  EV_ERR("[parameters('zz')]", "The template parameter 'zz' is not found");
  EV_ERR("[variables('zz')]", "The template variable 'zz' is not found");
  EV_ERR("[div(1, 0)]", "divide by zero");
  EV_ERR("[newGuid()]", "only be used in the default value of a parameter");
  EV_ERR("[utcNow()]", "only be used in the default value of a parameter");
  EV_ERR("[copyIndex()]", "only valid inside a copy loop");
  EV_ERR("[int('x1')]", "cannot be converted");
  CHECK(strstr(ev(c, "[foo()]"), "at 'expression'") != NULL);
  /* A callback's own error passes through. */
  CHECK(strncmp(ev(c, "[reference('/x/a.b/c/missing', '1')]"), "ERR:ResourceNotFound:", 21) == 0);
  tpl_free(c);
}

UNIT_MAIN("test_template", { test_expressions(); })
