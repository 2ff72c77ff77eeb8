/* test_compute_catalog.c: what the VM and scale-set code asks the compute
 * catalog: sizes by name, images resolved to an exact version, and the quota
 * check, counting the VMs and scale sets of the generic resource table by
 * location, family and priority, as Azure does. */
#include <stdlib.h>
#include <unistd.h>

#include "compute/internal.h"
#include "core/internal.h"
#include "unit.h"

static srv S;

static void test_sizes(void) {
  const compute_size *z = compute_size_find("standard_nc6S_V3");
  CHECK(z && !strcmp(z->name, "Standard_NC6s_v3"));
  CHECK(z->vcpus == 6 && z->gpus == 1 && !strcmp(z->gpu_model, "V100"));
  CHECK(!strcmp(z->family, "standardNCSv3Family") && z->os_disk_mb == 1047552);
  CHECK(compute_size_find("Standard_B1s")->low_priority_capable == 0);
  CHECK(compute_size_find("Standard_ND96asr_v4")->gpus == 8);
  CHECK(compute_size_find("Standard_Nope") == NULL && compute_size_find(NULL) == NULL);
  CHECK(compute_size_at(compute_size_count()) == NULL && compute_size_at(-1) == NULL);
  /* Every size's family is one usages lists, and every size has a price. */
  for (int i = 0; i < compute_size_count(); i++) {
    const compute_size *s = compute_size_at(i);
    int found = 0;
    for (int f = 0; compute_family_at(f, NULL); f++)
      if (!strcmp(compute_family_at(f, NULL), s->family)) found = 1;
    CHECK(found);
    CHECK(s->price_per_hour > 0);
  }
  CHECK(compute_size_restriction(compute_size_find("Standard_NC24rs_v3"), "westus") != NULL);
  CHECK(compute_size_restriction(compute_size_find("Standard_NC24rs_v3"), "eastus") == NULL);
}

static void test_images(void) {
  char v[64];
  CHECK(compute_image_resolve("canonical", "0001-com-ubuntu-server-jammy", "22_04-LTS-gen2",
                              "latest", v, sizeof v) == 0);
  CHECK_STR(v, "22.04.202403050");
  CHECK(compute_image_resolve("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2",
                              "22.04.202401090", v, sizeof v) == 0);
  CHECK_STR(v, "22.04.202401090");
  CHECK(compute_image_resolve("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2",
                              "1.0.0", v, sizeof v) == -1);
  CHECK(compute_image_resolve("Nobody", "x", "y", "latest", v, sizeof v) == -1);
  CHECK(compute_image_is_linux("Canonical", "UbuntuServer", "18.04-LTS") == 1);
  CHECK(compute_image_is_linux("MicrosoftWindowsServer", "WindowsServer", "2022-Datacenter") == 0);
  CHECK(compute_image_is_linux("Nobody", "x", "y") == 0);
}

static void put_vm(const char *name, const char *loc, const char *size, const char *prio) {
  char *id = arm_resource_id(S.subscription_id, "g", "Microsoft.Compute/virtualMachines", name);
  json_t *b = json_pack("{s:s,s:s,s:s,s:{s:{s:s}}}", "id", id, "name", name, "location", loc,
                        "properties", "hardwareProfile", "vmSize", size);
  if (prio) json_object_set_new(json_object_get(b, "properties"), "priority", json_string(prio));
  CHECK(arm_resource_put(&S, id, "Microsoft.Compute/virtualMachines", b) == 0);
  json_decref(b);
  free(id);
}

/* Runs the check on a fresh request; returns its status (0: it fits) and
 * copies the failure's message. */
static int check(const char *loc, const char *size, int count, int spot, const char *excl,
                 char *msg, size_t n) {
  http_req *r = http_req_detached(&S, LISTEN_MGMT, "PUT", "/x");
  int rc = compute_quota_check(r, loc, size, count, spot, excl);
  const char *code = NULL, *m = NULL;
  int st = http_reply_status(r, &code, &m);
  CHECK((rc == 0) == (st == 0));
  if (msg) snprintf(msg, n, "%s %s", code ? code : "", m ? m : "");
  http_req_free(r);
  return st;
}

static void test_quota(void) {
  char dir[] = "/tmp/azlite-compute-XXXXXX", msg[1024];
  CHECK(mkdtemp(dir) != NULL);
  srv_config_defaults(&S.cfg);
  S.cfg.data_dir = dir;
  CHECK(srv_open(&S) == 0);
  CHECK(store_exec(&S,
                   "INSERT INTO resource_groups(subscription,name,location,state,created_ms) "
                   "VALUES(%Q,'g','eastus','Succeeded',0)",
                   S.subscription_id) == 0);
  /* 48 NCv3 vCPUs per family by default: 6 + 24 used leaves 18. */
  put_vm("a", "eastus", "Standard_NC6s_v3", NULL);
  put_vm("b", "East US", "Standard_NC24s_v3", "Regular");
  put_vm("c", "westus", "Standard_NC24s_v3", NULL);   /* another location */
  put_vm("d", "eastus", "Standard_NC24s_v3", "Spot"); /* low priority */
  CHECK(check("eastus", "Standard_NC12s_v3", 1, 0, NULL, NULL, 0) == 0);
  CHECK(check("eastus", "Standard_NC24s_v3", 1, 0, NULL, msg, sizeof msg) == 409);
  CHECK(strstr(msg, "OperationNotAllowed Operation could not be completed as it results in "
                    "exceeding approved standardNCSv3Family Cores quota.") != NULL);
  CHECK(strstr(msg, "Location: eastus, Current Limit: 48, Current Usage: 30, Additional "
                    "Required: 24, (Minimum) New Limit Required: 54.") != NULL);
  /* A resize of b counts b out. */
  char *b = arm_resource_id(S.subscription_id, "g", "Microsoft.Compute/virtualMachines", "b");
  CHECK(check("eastus", "Standard_NC24s_v3", 1, 0, b, NULL, 0) == 0);
  free(b);
  /* Spot counts against lowPriorityCores (100): 24 used. */
  CHECK(check("eastus", "Standard_NC24s_v3", 3, 1, NULL, NULL, 0) == 0);
  CHECK(check("eastus", "Standard_NC24s_v3", 4, 1, NULL, msg, sizeof msg) == 409);
  CHECK(strstr(msg, "Low Priority Cores quota") != NULL);
  /* The regional total (100) binds across families: 30 used. */
  CHECK(check("eastus", "Standard_D16s_v3", 3, 0, NULL, NULL, 0) == 0);
  CHECK(store_exec(&S, "INSERT INTO compute_quotas VALUES('eastus','standardDSv3Family',1000)") ==
        0);
  CHECK(check("eastus", "Standard_D16s_v3", 5, 0, NULL, msg, sizeof msg) == 409);
  CHECK(strstr(msg, "Total Regional Cores quota") != NULL);
  CHECK(check("eastus", "Standard_Nope", 1, 0, NULL, NULL, 0) == 400);
  CHECK(check("atlantis", "Standard_B1s", 1, 0, NULL, NULL, 0) == 400);
  srv_close(&S);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
}

UNIT_MAIN("compute_catalog", {
  test_sizes();
  test_images();
  test_quota();
})
