/* vaults.c: Microsoft.KeyVault: vaults as Resource Manager resources.
 *
 * What this serves is the vault's ARM side (create, get, list, update,
 * delete, through the generic resource layer), so templates that make one
 * beside other resources deploy: azure-ai-ml's workspace template names a
 * new vault.  The vault's data plane (https://<name>.vault.azure.net:
 * secrets, keys, certificates) is not served: under `azlite exec` that name
 * fails at once as one azlite does not serve, and `vaultUri` names it as
 * Azure does, so nothing pretends to store a secret. */
#include <string.h>
#include <strings.h>

#include "../arm/arm.h"
#include "../arm/resource.h"

#define KEYVAULT_TYPE "Microsoft.KeyVault/vaults"
#define KEYVAULT_ERR_VAULT_ALREADY_EXISTS 409, "VaultAlreadyExists"
#define KEYVAULT_ERR_BAD_REQUEST 400, "BadRequest"

/* 3-24 of letters, digits and hyphens; a letter first; no "--"; not ending in "-". */
static int keyvault_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 3 || len > 24 || !((n[0] | 32) >= 'a' && (n[0] | 32) <= 'z') || n[len - 1] == '-')
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = n[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || (c == '-' && n[i + 1] == '-')) return 0;
  }
  return 1;
}

/* Vault names are DNS names: unique across every subscription. */
static int keyvault_name_taken(arm_op *op) {
  json_t *all = arm_resource_list(op->s, "", KEYVAULT_TYPE), *v;
  size_t i;
  int taken = 0;
  json_array_foreach(all, i, v) {
    const char *id = json_string_value(json_object_get(v, "id"));
    const char *name = json_string_value(json_object_get(v, "name"));
    if (name && id && strcasecmp(name, op->name) == 0 && strcasecmp(id, op->id) != 0) taken = 1;
  }
  json_decref(all);
  return taken;
}

static int keyvault_build(arm_op *op) {
  http_req *r = op->r;
  if (op->created && keyvault_name_taken(op)) {
    http_fail(r, KEYVAULT_ERR_VAULT_ALREADY_EXISTS,
              "The vault name '%s' is already in use. Vault names are globally unique so it "
              "is possible that the name is already taken.",
              op->name);
    return -1;
  }
  json_t *in = json_object_get(op->in, "properties");
  if (!op->patch && !json_is_object(in)) {
    http_fail(r, KEYVAULT_ERR_BAD_REQUEST, "The parameter properties is required.");
    return -1;
  }
  json_t *props = json_object_get(op->body, "properties");
  if (!json_is_object(props)) {
    props = json_object();
    json_object_set_new(op->body, "properties", props);
  }
  if (json_is_object(in)) json_object_update(props, in);
  json_t *sku = json_object_get(props, "sku");
  const char *skuname = json_string_value(json_object_get(sku, "name"));
  if (!skuname || (strcasecmp(skuname, "standard") != 0 && strcasecmp(skuname, "premium") != 0)) {
    http_fail(r, KEYVAULT_ERR_BAD_REQUEST,
              "The parameter sku.name is required and must be 'standard' or 'premium'.");
    return -1;
  }
  if (!json_is_string(json_object_get(props, "tenantId")))
    json_object_set_new(props, "tenantId", json_string(op->s->tenant_id));
  if (!json_is_array(json_object_get(props, "accessPolicies")))
    json_object_set_new(props, "accessPolicies", json_array());
  json_object_set_new(props, "vaultUri", json_sprintf("https://%s.vault.azure.net/", op->name));
  if (!json_object_get(props, "enableSoftDelete"))
    json_object_set_new(props, "enableSoftDelete", json_true());
  if (!json_object_get(props, "softDeleteRetentionInDays"))
    json_object_set_new(props, "softDeleteRetentionInDays", json_integer(90));
  return 0;
}

static const arm_type keyvault_vault_type = {
    .type = KEYVAULT_TYPE,
    .display = "vault",
    .name_valid = keyvault_name_valid,
    .name_code = "VaultNameNotValid",
    .name_message = "The vault name '%s' is invalid. A vault's name must be between 3-24 "
                    "alphanumeric characters. The name must begin with a letter, end with a "
                    "letter or digit, and not contain consecutive hyphens.",
    .create_status = 200,
    .build = keyvault_build,
    .example_name = "contract-kv",
    .example_bad_name = "-bad",
    .example_body = "{\"location\":\"eastus\",\"properties\":{\"sku\":{\"family\":\"A\","
                    "\"name\":\"standard\"},\"tenantId\":\"00000000-0000-0000-0000-000000000000\","
                    "\"accessPolicies\":[]}}",
};

static const route keyvault_routes[] = {
    ARM_TRACKED_ROUTES(KEYVAULT_TYPE, &keyvault_vault_type),
    {.pattern = NULL},
};

/* Newest first: Debian's azure-mgmt-keyvault (2022-07-01), and what
 * azure-ai-ml's workspace template names (2019-09-01). */
static const char *const keyvault_api_versions[] = {
    "2023-02-01",         "2022-11-01", "2022-07-01", "2021-10-01", "2021-06-01-preview",
    "2021-04-01-preview", "2019-09-01", "2018-02-14", "2016-10-01", NULL};

static const resource_type keyvault_resource_types[] = {
    {.type = KEYVAULT_TYPE, .api_versions = keyvault_api_versions, .generic = &keyvault_vault_type},
    {.type = NULL},
};

const provider keyvault_provider = {
    .name = "Microsoft.KeyVault",
    .routes = keyvault_routes,
    .nroutes = (int)(sizeof keyvault_routes / sizeof keyvault_routes[0]) - 1,
    .resource_types = keyvault_resource_types,
};
