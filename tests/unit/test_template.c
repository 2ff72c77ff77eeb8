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
  return json_pack("{s:s, s:o, s:{s:s}}", "id", id, "properties", props, "identity", "principalId",
                   "pid-1");
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
#define EV_ERR(expr, part)                                                                         \
  CHECK(strncmp(ev(c, expr), "ERR:InvalidTemplate:", 20) == 0 && strstr(OUT, part))

static void test_expressions(void) {
  tpl_error err;
  tpl_ctx *c = load(
      "{\"parameters\": {\"p\": {\"type\": \"string\", \"defaultValue\": \"pv\"},"
      " \"n\": {\"type\": \"int\", \"defaultValue\": 3},"
      " \"o\": {\"type\": \"object\", \"defaultValue\": {\"a\": {\"b\": [1, 2]}}}},"
      " \"variables\": {\"v\": \"[concat(parameters('p'), '-x')]\", \"w\": \"[variables('v')]\","
      " \"arr\": [\"a\", \"b\"]}}",
      NULL, &err);
  CHECK(c != NULL);
  if (!c) {
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
  EV("[array(variables('arr'))]", "[\"a\",\"b\"]");
  EV("[array(json('{\"k\":1}'))]", "[{\"k\":1}]");
  EV("[array('x')]", "[\"x\"]");
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
  EV("[array(createArray(1, 2))]", "[1,2]");
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
  EV("[objectKeys(parameters('o'))]", "[\"a\"]");
  EV("[items(createObject('k', 1))[0].value]", "1");
  EV("[environment().suffixes.storage]", "core.windows.net");
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

static int idx_of(tpl_ctx *c, const char *name) {
  for (int i = 0; i < tpl_resource_count(c); i++)
    if (!strcmp(tpl_resource_at(c, i)->name, name)) return i;
  return -1;
}
/* Position of resource `name` in tpl_order. */
static int pos_of(tpl_ctx *c, const char *name) {
  int i = idx_of(c, name);
  for (int k = 0; k < tpl_resource_count(c); k++)
    if (tpl_order(c)[k] == i) return k;
  return -1;
}
static int depends(tpl_ctx *c, const char *a, const char *b) {
  const tpl_resource *r = tpl_resource_at(c, idx_of(c, a));
  for (int k = 0; r && k < r->ndepends; k++)
    if (r->depends_on[k] == idx_of(c, b)) return 1;
  return 0;
}
#define LOAD_FAILS(tpl, params, part)                                                              \
  do {                                                                                             \
    tpl_error e_;                                                                                  \
    tpl_ctx *x_ = load(tpl, params, &e_);                                                          \
    CHECK(x_ == NULL);                                                                             \
    CHECK_STR(e_.code, "InvalidTemplate");                                                         \
    CHECK(strstr(e_.message, part) != NULL);                                                       \
    if (!strstr(e_.message, part)) fprintf(stderr, "  got: %s\n", e_.message);                     \
    tpl_free(x_);                                                                                  \
  } while (0)

static void test_parameters(void) {
  tpl_error err;
  const char *T =
      "{\"parameters\": {"
      "\"name\": {\"type\": \"string\", \"minLength\": 3, \"maxLength\": 5},"
      "\"size\": {\"type\": \"String\", \"defaultValue\": \"S\", \"allowedValues\": [\"S\", "
      "\"M\"]},"
      "\"count\": {\"type\": \"int\", \"defaultValue\": 2, \"minValue\": 1, \"maxValue\": 4},"
      "\"flag\": {\"type\": \"bool\", \"defaultValue\": false},"
      "\"pw\": {\"type\": \"securestring\", \"defaultValue\": \"\"},"
      "\"tags\": {\"type\": \"object\", \"defaultValue\": {}},"
      "\"list\": {\"type\": \"array\", \"defaultValue\": [1], \"maxLength\": 2},"
      "\"derived\": {\"type\": \"string\", \"defaultValue\": \"[concat(parameters('name'), '-', "
      "resourceGroup().location)]\"},"
      "\"g\": {\"type\": \"string\", \"defaultValue\": \"[newGuid()]\"},"
      "\"t\": {\"type\": \"string\", \"defaultValue\": \"[utcNow('yyyy')]\"}}}";
  tpl_ctx *c = load(T, "{\"name\": {\"value\": \"abcd\"}}", &err);
  CHECK(c != NULL);
  if (c) {
    EV("[parameters('derived')]", "abcd-westus");
    EV("[parameters('count')]", "2");
    EV("[parameters('flag')]", "false");
    CHECK(strlen(ev(c, "[parameters('g')]")) == 36 && OUT[14] == '4');
    CHECK(strlen(ev(c, "[parameters('t')]")) == 4 && OUT[0] == '2');
    tpl_free(c);
  }
  LOAD_FAILS(T, NULL,
             "The value for the template parameter 'name' at 'parameters.name' is not provided");
  LOAD_FAILS(T, "{\"name\": {\"value\": 5}}", "Expected 'String'. Actual 'Integer'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"ab\"}}", "less than the minimum length '3'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"abcdef\"}}", "greater than the maximum length '5'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"abc\"}, \"size\": {\"value\": \"L\"}}",
             "The value 'L' is not part of the allowed value(s): '[\"S\",\"M\"]'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"abc\"}, \"count\": {\"value\": 0}}",
             "must be greater than or equal to '1'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"abc\"}, \"count\": {\"value\": 9}}",
             "must be less than or equal to '4'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"abc\"}, \"flag\": {\"value\": \"yes\"}}",
             "Expected 'Bool'. Actual 'String'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"abc\"}, \"list\": {\"value\": [1, 2, 3]}}",
             "greater than the maximum length '2'");
  LOAD_FAILS(T, "{\"name\": {\"value\": \"abc\"}, \"nope\": {\"value\": 1}}",
             "The template parameters 'nope' in the parameters file are not valid");
  LOAD_FAILS("{\"parameters\": {\"x\": {\"type\": \"float\"}}}", NULL,
             "has type 'float', which is not valid");
  LOAD_FAILS("{\"variables\": {\"v\": \"[bogus()]\"}}", NULL,
             "The template variable 'v' at 'variables.v' is not valid: The template function "
             "'bogus' is not valid");
  LOAD_FAILS("{\"variables\": {\"v\": \"[reference('x')]\"}}", NULL,
             "The template function 'reference' is not expected at this location");
  LOAD_FAILS("{\"variables\": {\"a\": \"[variables('b')]\", \"b\": \"[variables('a')]\"}}", NULL,
             "refers to itself");
}

static void test_variables_copy(void) {
  tpl_error err;
  tpl_ctx *c =
      load("{\"variables\": {\"base\": \"disk\", \"copy\": [{\"name\": \"disks\", \"count\": 3,"
           " \"input\": {\"name\": \"[concat(variables('base'), copyIndex('disks', 1))]\","
           " \"lun\": \"[copyIndex('disks')]\"}}],"
           " \"nested\": {\"copy\": [{\"name\": \"items\", \"count\": 2, \"input\": "
           "\"[copyIndex('items')]\"}]}}}",
           NULL, &err);
  CHECK(c != NULL);
  if (!c) return;
  EV("[variables('disks')]", "[{\"lun\":0,\"name\":\"disk1\"},{\"lun\":1,\"name\":\"disk2\"},{"
                             "\"lun\":2,\"name\":\"disk3\"}]");
  EV("[variables('nested')]", "{\"items\":[0,1]}");
  tpl_free(c);
}

static void test_resources(void) {
  tpl_error err;
  const char *T =
      "{\"$schema\": "
      "\"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\","
      " \"contentVersion\": \"1.0.0.0\","
      " \"parameters\": {\"n\": {\"type\": \"int\", \"defaultValue\": 2}, \"withLock\": {\"type\": "
      "\"bool\", \"defaultValue\": false}},"
      " \"resources\": ["
      "  {\"type\": \"Microsoft.Network/networkInterfaces\", \"apiVersion\": \"2022-01-01\","
      "   \"name\": \"[concat('nic', copyIndex())]\", \"location\": \"[resourceGroup().location]\","
      "   \"dependsOn\": [\"[resourceId('Microsoft.Network/virtualNetworks', 'vnet1')]\"],"
      "   \"copy\": {\"name\": \"nicLoop\", \"count\": \"[parameters('n')]\", \"mode\": "
      "\"Serial\", \"batchSize\": 1},"
      "   \"properties\": {\"idx\": \"[copyIndex(10)]\"}},"
      "  {\"type\": \"Microsoft.Network/virtualNetworks\", \"apiVersion\": \"2022-01-01\", "
      "\"name\": \"vnet1\","
      "   \"comments\": \"a comment\", \"location\": \"westus\","
      "   \"properties\": {\"addressSpace\": {\"addressPrefixes\": [\"10.0.0.0/16\"]},"
      "    \"copy\": [{\"name\": \"subnets\", \"count\": 2, \"input\": {\"name\": \"[concat('s', "
      "copyIndex('subnets'))]\","
      "      \"properties\": {\"addressPrefix\": \"[format('10.0.{0}.0/24', "
      "copyIndex('subnets'))]\"}}}]},"
      "   \"resources\": [{\"type\": \"subnets\", \"apiVersion\": \"2022-01-01\", \"name\": "
      "\"extra\","
      "      \"properties\": {\"addressPrefix\": \"10.0.9.0/24\"}}]},"
      "  {\"type\": \"Microsoft.Compute/availabilitySets\", \"apiVersion\": \"2022-08-01\", "
      "\"name\": \"avset\","
      "   \"dependsOn\": [\"nicLoop\"]},"
      "  {\"type\": \"Microsoft.Authorization/locks\", \"apiVersion\": \"2016-09-01\", \"name\": "
      "\"lock\","
      "   \"condition\": \"[parameters('withLock')]\", \"properties\": {\"level\": "
      "\"CanNotDelete\"}},"
      "  {\"type\": \"Microsoft.Storage/storageAccounts\", \"apiVersion\": \"2022-09-01\", "
      "\"name\": \"sa1\","
      "   \"dependsOn\": [\"lock\", \"Microsoft.Compute/availabilitySets/avset\"],"
      "   \"properties\": {\"nicState\": \"[reference('nic1').provisioningState]\"}}],"
      " \"outputs\": {\"ids\": {\"type\": \"array\", \"copy\": {\"count\": 2, \"input\": "
      "\"[resourceId('Microsoft.Network/networkInterfaces', concat('nic', copyIndex()))]\"}},"
      "   \"hidden\": {\"type\": \"string\", \"condition\": \"[parameters('withLock')]\", "
      "\"value\": \"x\"},"
      "   \"sa\": {\"type\": \"object\", \"value\": \"[reference('sa1')]\"},"
      "   \"pw\": {\"type\": \"securestring\", \"value\": \"secret\"},"
      "   \"n\": {\"type\": \"int\", \"value\": \"[parameters('n')]\"}}}";
  tpl_ctx *c = load(T, NULL, &err);
  CHECK(c != NULL);
  if (!c) {
    return;
  }
  /* The lock's condition is false: left out, and sa1's dependency on it drops. */
  CHECK(tpl_resource_count(c) == 6);
  CHECK(idx_of(c, "lock") < 0);
  const tpl_resource *nic0 = tpl_resource_at(c, idx_of(c, "nic0"));
  CHECK(nic0 && !strcmp(nic0->id, RGID "/providers/Microsoft.Network/networkInterfaces/nic0"));
  CHECK(nic0 && !strcmp(nic0->symbol, "nicLoop") && !strcmp(nic0->api_version, "2022-01-01"));
  const tpl_resource *sub = tpl_resource_at(c, idx_of(c, "vnet1/extra"));
  CHECK(sub && !strcmp(sub->type, "Microsoft.Network/virtualNetworks/subnets"));
  CHECK(sub &&
        !strcmp(sub->id, RGID "/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/extra"));
  CHECK(depends(c, "vnet1/extra", "vnet1"));
  CHECK(depends(c, "nic0", "vnet1") && depends(c, "nic1", "vnet1"));
  CHECK(depends(c, "avset", "nic0") && depends(c, "avset", "nic1"));
  CHECK(depends(c, "sa1", "avset"));
  CHECK(depends(c, "sa1", "nic1")); /* implicit, through reference('nic1') */
  CHECK(pos_of(c, "vnet1") == 0);
  CHECK(pos_of(c, "vnet1") < pos_of(c, "nic0") && pos_of(c, "nic0") < pos_of(c, "nic1"));
  CHECK(pos_of(c, "nic1") < pos_of(c, "avset") && pos_of(c, "avset") < pos_of(c, "sa1"));

  json_t *b = tpl_resource_body(c, idx_of(c, "nic1"), &err);
  CHECK(b && json_integer_value(json_object_get(json_object_get(b, "properties"), "idx")) == 11);
  CHECK(b && !strcmp(json_string_value(json_object_get(b, "location")), "westus"));
  CHECK(b && !json_object_get(b, "name") && !json_object_get(b, "copy") &&
        !json_object_get(b, "dependsOn") && !json_object_get(b, "type"));
  json_decref(b);
  b = tpl_resource_body(c, idx_of(c, "vnet1"), &err);
  json_t *subnets = json_object_get(json_object_get(b, "properties"), "subnets");
  CHECK(json_array_size(subnets) == 2);
  CHECK_STR(json_string_value(json_object_get(
                json_object_get(json_array_get(subnets, 1), "properties"), "addressPrefix")),
            "10.0.1.0/24");
  CHECK(b && !json_object_get(b, "comments") && !json_object_get(b, "resources") &&
        !json_object_get(json_object_get(b, "properties"), "copy"));
  json_decref(b);
  W.refs = 0;
  b = tpl_resource_body(c, idx_of(c, "sa1"), &err);
  CHECK(W.refs == 1 &&
        !strcmp(W.last_id, RGID "/providers/Microsoft.Network/networkInterfaces/nic1"));
  CHECK_STR(W.last_api, "2022-01-01"); /* the template resource's apiVersion */
  CHECK_STR(json_string_value(json_object_get(json_object_get(b, "properties"), "nicState")),
            "Succeeded");
  json_decref(b);

  json_t *o = tpl_outputs(c, &err);
  CHECK(o != NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(o, "ids"), "type")), "Array");
  CHECK_STR(
      json_string_value(json_array_get(json_object_get(json_object_get(o, "ids"), "value"), 1)),
      RGID "/providers/Microsoft.Network/networkInterfaces/nic1");
  CHECK(!json_object_get(o, "hidden"));
  CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(o, "sa"), "value"),
                                              "provisioningState")),
            "Succeeded");
  CHECK(json_object_get(o, "pw") && !json_object_get(json_object_get(o, "pw"), "value"));
  CHECK(json_integer_value(json_object_get(json_object_get(o, "n"), "value")) == 2);
  json_decref(o);
  tpl_free(c);

  /* With the lock: it is deployed before sa1. */
  c = load(T, "{\"withLock\": {\"value\": true}}", &err);
  CHECK(c && tpl_resource_count(c) == 7 && depends(c, "sa1", "lock"));
  tpl_free(c);
}

static void test_resource_errors(void) {
  LOAD_FAILS("{\"resources\": [{\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"x\", "
             "\"dependsOn\": [\"y\"]},"
             " {\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"y\", \"dependsOn\": "
             "[\"[resourceId('A.B/c', 'x')]\"]}]}",
             NULL, "Circular dependency detected on resource: '" RGID "/providers/A.B/c/x'");
  LOAD_FAILS("{\"resources\": [{\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"x\", "
             "\"dependsOn\": [\"nothere\"]}]}",
             NULL, "The resource 'nothere' is not defined in the template");
  LOAD_FAILS("{\"resources\": [{\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"x/y\"}]}",
             NULL, "has incorrect segment lengths");
  LOAD_FAILS("{\"resources\": [{\"type\": \"A.B/c\", \"name\": \"x\"}]}", NULL,
             "Required property 'apiVersion' not found in JSON. Path 'resources[0]'");
  LOAD_FAILS("{\"resources\": [{\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"x\"},"
             " {\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"X\"}]}",
             NULL, "is defined multiple times");
  LOAD_FAILS("{\"resources\": [{\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"x\","
             " \"copy\": {\"name\": \"l\", \"count\": 801}}]}",
             NULL, "The copy count '801' is not valid");
  LOAD_FAILS(
      "{\"resources\": [{\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"[toLower(1)]\"}]}",
      NULL, "The template resource '[toLower(1)]' at 'resources[0].name' is not valid");
  tpl_error err;
  tpl_ctx *c = load("{\"resources\": [{\"type\": \"A.B/c\", \"apiVersion\": \"1\", \"name\": \"x\","
                    " \"properties\": {\"a\": {\"b\": \"[nosuch()]\"}}}]}",
                    NULL, &err);
  CHECK(c != NULL);
  if (c) {
    CHECK(tpl_resource_body(c, 0, &err) == NULL);
    CHECK_STR(err.code, "InvalidTemplate");
    CHECK(strstr(err.message, "resources[0].properties.a.b") && strstr(err.message, "'nosuch'"));
    tpl_free(c);
  }
}

static void test_subscription_scope(void) {
  tpl_env env = ENV;
  env.resource_group = NULL;
  json_t *t =
      J("{\"resources\": [{\"type\": \"Microsoft.Resources/resourceGroups\", \"apiVersion\": "
        "\"2021-04-01\","
        " \"name\": \"rgA\", \"location\": \"eastus\"},"
        " {\"type\": \"Microsoft.Authorization/roleDefinitions\", \"apiVersion\": \"2022-04-01\","
        " \"name\": \"[guid('role')]\", \"dependsOn\": "
        "[\"[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rgA')]\"]}]}");
  tpl_error err = {0};
  tpl_ctx *c = tpl_load(t, NULL, &env, &err);
  json_decref(t);
  CHECK(c != NULL);
  if (!c) {
    return;
  }
  CHECK_STR(tpl_resource_at(c, 0)->id, "/subscriptions/" SUB "/resourceGroups/rgA");
  CHECK(!strncmp(tpl_resource_at(c, 1)->id,
                 "/subscriptions/" SUB "/providers/Microsoft.Authorization/roleDefinitions/", 80));
  CHECK(tpl_resource_at(c, 1)->ndepends == 1);
  EV_ERR("[resourceGroup()]", "'resourceGroup' is not expected at this location");
  tpl_free(c);
}

static tpl_ctx *load_file(const char *path, const char *params) {
  json_error_t je;
  json_t *t = json_load_file(path, 0, &je), *p = params ? J(params) : NULL;
  if (!t) fprintf(stderr, "%s: %s\n", path, je.text);
  tpl_error err = {0};
  tpl_ctx *c = t ? tpl_load(t, p, &ENV, &err) : NULL;
  if (!c) fprintf(stderr, "%s: %s\n", path, err.message);
  json_decref(t);
  json_decref(p);
  return c;
}

/* The template `az vm create` sends (azure-cli 2.45 _template_builder.py):
 * dependsOn as "type/name", full ids in properties, a role assignment
 * named by guid() that reads the VM's identity through reference(). */
static void test_az_vm_create(void) {
  tpl_ctx *c = load_file("tests/unit/templates/az_vm_create.json",
                         "{\"adminPassword\": {\"value\": \"Secret123!\"}}");
  CHECK(c != NULL);
  if (!c) return;
  CHECK(tpl_resource_count(c) == 6);
  CHECK(depends(c, "vm1VMNic", "vm1VNET") && depends(c, "vm1VMNic", "vm1NSG") &&
        depends(c, "vm1VMNic", "vm1PublicIP") && depends(c, "vm1", "vm1VMNic"));
  CHECK(pos_of(c, "vm1VNET") == 0 && pos_of(c, "vm1NSG") == 1 && pos_of(c, "vm1PublicIP") == 2);
  CHECK(pos_of(c, "vm1VMNic") == 3 && pos_of(c, "vm1") == 4);
  json_t *g = tpl_eval(c, "[guid(resourceGroup().id, 'vm1')]", NULL);
  int ra = idx_of(c, json_string_value(g));
  CHECK(ra >= 0 && pos_of(c, json_string_value(g)) == 5 && depends(c, json_string_value(g), "vm1"));
  json_decref(g);
  tpl_error err;
  json_t *b = tpl_resource_body(c, idx_of(c, "vm1"), &err);
  CHECK_STR(json_string_value(json_object_get(
                json_object_get(json_object_get(b, "properties"), "osProfile"), "adminPassword")),
            "Secret123!");
  CHECK(json_object_get(b, "identity") && json_object_get(b, "location"));
  json_decref(b);
  b = tpl_resource_body(c, ra, &err);
  CHECK_STR(W.last_id, RGID "/providers/Microsoft.Compute/virtualMachines/vm1");
  CHECK_STR(json_string_value(json_object_get(json_object_get(b, "properties"), "principalId")),
            "pid-1");
  json_decref(b);
  json_t *o = tpl_outputs(c, &err);
  CHECK(o && json_object_size(o) == 0);
  json_decref(o);
  tpl_free(c);
}

/* `az vmss create` with a storage-account pool: dependsOn a copy loop's
 * name, variables indexed by copyIndex(), an output through providers(). */
static void test_az_vmss_create(void) {
  tpl_ctx *c = load_file("tests/unit/templates/az_vmss_create.json",
                         "{\"adminPassword\": {\"value\": \"pw\"}}");
  CHECK(c != NULL);
  if (!c) return;
  CHECK(tpl_resource_count(c) == 7);
  CHECK(idx_of(c, "ss1a1b2c3d42") >= 0);
  CHECK(depends(c, "ss1", "ss1a1b2c3d40") && depends(c, "ss1", "ss1a1b2c3d42") &&
        depends(c, "ss1", "ss1LB"));
  CHECK(depends(c, "ss1LB", "ss1LBPublicIP"));
  CHECK(pos_of(c, "ss1") == 6 && pos_of(c, "ss1LBPublicIP") < pos_of(c, "ss1LB"));
  CHECK_STR(tpl_resource_at(c, idx_of(c, "ss1a1b2c3d41"))->symbol, "storageLoop");
  tpl_error err;
  json_t *b = tpl_resource_body(c, idx_of(c, "ss1"), &err);
  json_t *vmp = json_object_get(json_object_get(b, "properties"), "virtualMachineProfile");
  CHECK_STR(json_string_value(json_array_get(
                json_object_get(json_object_get(json_object_get(vmp, "storageProfile"), "osDisk"),
                                "vhdContainers"),
                2)),
            "https://ss1a1b2c3d42.blob.core.windows.net/vhds");
  json_decref(b);
  b = tpl_resource_body(c, idx_of(c, "ss1LB"), &err);
  json_t *nat =
      json_array_get(json_object_get(json_object_get(b, "properties"), "inboundNatPools"), 0);
  CHECK_STR(
      json_string_value(json_object_get(
          json_object_get(json_object_get(nat, "properties"), "frontendIPConfiguration"), "id")),
      RGID "/providers/Microsoft.Network/loadBalancers/ss1LB/frontendIPConfigurations/"
           "loadBalancerFrontEnd");
  json_decref(b);
  json_t *o = tpl_outputs(c, &err);
  CHECK(o != NULL);
  CHECK_STR(W.last_id, RGID "/providers/Microsoft.Compute/virtualMachineScaleSets/ss1");
  CHECK_STR(W.last_api, "2022-08-01");
  CHECK_STR(json_string_value(json_object_get(json_object_get(o, "VMSS"), "type")), "Object");
  json_decref(o);
  tpl_free(c);
}

/* A storage-account copy loop in serial mode, batches of two. */
static void test_storage_copy(void) {
  tpl_ctx *c =
      load_file("tests/unit/templates/storage_copy.json", "{\"storageCount\": {\"value\": 5}}");
  CHECK(c != NULL);
  if (!c) return;
  json_t *u = tpl_eval(c, "[uniqueString(resourceGroup().id)]", NULL);
  char n[5][64];
  for (int i = 0; i < 5; i++)
    snprintf(n[i], sizeof n[i], "%dst%s", i, json_string_value(u));
  json_decref(u);
  CHECK(tpl_resource_count(c) == 5 && idx_of(c, n[4]) == 4);
  /* Batch {2,3} waits for {0,1}; batch {4} for {2,3}. */
  CHECK(!depends(c, n[1], n[0]) && depends(c, n[2], n[0]) && depends(c, n[2], n[1]));
  CHECK(depends(c, n[3], n[1]) && depends(c, n[4], n[3]) && !depends(c, n[4], n[1]));
  tpl_error err;
  json_t *b = tpl_resource_body(c, 3, &err);
  CHECK_STR(json_string_value(json_object_get(b, "location")), "westus");
  CHECK_STR(json_string_value(json_object_get(json_object_get(b, "sku"), "name")), "Standard_LRS");
  CHECK_STR(json_string_value(json_object_get(b, "kind")), "StorageV2");
  json_decref(b);
  json_t *o = tpl_outputs(c, &err);
  CHECK(json_array_size(json_object_get(json_object_get(o, "names"), "value")) == 5);
  CHECK_STR(
      json_string_value(json_array_get(json_object_get(json_object_get(o, "names"), "value"), 4)),
      n[4]);
  CHECK_STR(json_string_value(json_object_get(json_object_get(o, "key0"), "value")), "secret1");
  CHECK(!strcmp(W.last_action, "listKeys") && strstr(W.last_id, n[0]));
  char ep[128];
  snprintf(ep, sizeof ep, "https://%s.blob.core.windows.net/", n[1]);
  CHECK_STR(json_string_value(json_object_get(json_object_get(o, "endpoint"), "value")), ep);
  json_decref(o);
  /* The same inputs give the same names. */
  tpl_ctx *c2 = load_file("tests/unit/templates/storage_copy.json", NULL);
  CHECK(c2 && !strcmp(tpl_resource_at(c2, 0)->name, n[0]));
  tpl_free(c2);
  tpl_free(c);
  LOAD_FAILS("{\"parameters\": {\"n\": {\"type\": \"int\", \"maxValue\": 10}}, \"resources\": []}",
             "{\"n\": {\"value\": 11}}", "less than or equal to '10'");
}

UNIT_MAIN("test_template", {
  test_expressions();
  test_parameters();
  test_variables_copy();
  test_resources();
  test_resource_errors();
  test_subscription_scope();
  test_az_vm_create();
  test_az_vmss_create();
  test_storage_copy();
})
