/* az.c: `azlite az ARGS...` runs the real `az` against azlite, like awslocal.
 *
 * az keeps its own config dir inside the data dir (<data>/az), so the user's
 * ~/.azure is never touched.  The first run (and any run after the endpoints
 * or admin credentials change) registers the cloud (one --cloud-config JSON,
 * with profile 2020-09-01-hybrid inside it: --cloud-config replaces the
 * --profile flag, and Debian's az 2.45 crashes on `az vm` under "latest",
 * whose compute SDK it lacks), and logs in as the admin service principal.  After that, az's
 * output and exit status pass through unchanged (exec). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* Runs az quietly for setup; returns its exit status, printing its output on failure. */
static int az_quiet(const char *log, char *const args[], int report) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp("az", args);
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) < 0) return -1;
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (rc != 0 && report) {
    fprintf(stderr, "%s az: setup step 'az %s %s' failed (%d):\n", cli_prog, args[1], args[2], rc);
    FILE *f = fopen(log, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
      fputs(line, stderr);
    if (f) fclose(f);
  }
  return rc;
}

/* The command groups that need the hybrid profile. */
static const char *const az_hybrid_groups[] = {"vm",  "vmss",     "network",       "image", "sig",
                                               "ppg", "capacity", "restore-point", NULL};

/* The profile for `az GROUP ...`: the config dir's name and the profile. */
static void az_profile_for(const char *group, int transparent, const char **dir,
                           const char **profile) {
  *dir = transparent ? "az-exec" : "az";
  *profile = "latest";
  for (int i = 0; group && az_hybrid_groups[i]; i++)
    if (!strcmp(group, az_hybrid_groups[i])) {
      *dir = transparent ? "az-exec-hybrid" : "az-hybrid";
      *profile = "2020-09-01-hybrid";
    }
}

/* Debian's azure-mgmt-network ships the operations of one api-version only
 * (azure.mgmt.network.operations, the classes take the version from the
 * client) beside per-version models; under the hybrid profile az imports
 * azure.mgmt.network.v2018_11_01.operations for its plain SDK commands (`nic
 * show/delete`, `public-ip show/delete`, `nsg rule show`) and crashes.  A
 * sitecustomize on PYTHONPATH answers those imports with the one module. */
static const char az_network_shim[] =
    "# Written by azlite az (src/cli/az.c): azure.mgmt.network.vX.operations -> .operations\n"
    "import importlib, importlib.abc, importlib.util, re, sys\n"
    "class _AzliteNetworkOps(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
    "    pat = "
    "re.compile(r'^azure\\.mgmt\\.network\\.v\\d{4}_\\d{2}_\\d{2}(_preview)?\\.operations$')\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        return importlib.util.spec_from_loader(name, self) if self.pat.match(name) else None\n"
    "    def create_module(self, spec):\n"
    "        return importlib.import_module('azure.mgmt.network.operations')\n"
    "    def exec_module(self, module):\n"
    "        pass\n"
    "sys.meta_path.append(_AzliteNetworkOps())\n";

/* Writes the shim into <cfgdir>/python (when it differs) and puts it on PYTHONPATH. */
static void az_network_shim_install(const char *cfgdir) {
  char dir[4096], path[4200], tmp[4300];
  snprintf(dir, sizeof dir, "%s/python", cfgdir);
  snprintf(path, sizeof path, "%s/sitecustomize.py", dir);
  snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
  mkdir(dir, 0700);
  char have[sizeof az_network_shim + 1] = "";
  FILE *f = fopen(path, "r");
  if (f) {
    have[fread(have, 1, sizeof have - 1, f)] = 0;
    fclose(f);
  }
  f = strcmp(have, az_network_shim) != 0 ? fopen(tmp, "w") : NULL;
  if (f) {
    fputs(az_network_shim, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) unlink(tmp);
  }
  const char *old = getenv("PYTHONPATH");
  char *val = NULL;
  if (asprintf(&val, "%s%s%s", dir, old && *old ? ":" : "", old ? old : "") < 0) return;
  setenv("PYTHONPATH", val, 1);
  free(val);
}

/* <data>/DIR/NAME, malloc'd. */
static char *az_path(srv *s, const char *dir, const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "%s/%s", dir, name);
  return srv_path(s, rel);
}

/* The cloud az is pointed at: azlite's own URLs, or under `azlite exec`
 * (transparent) Azure's public ones, which exec answers with azlite, so what
 * az prints (endpoints, connection strings) names Azure's hosts. */
static json_t *cloud_config(srv *s, const char *profile, int transparent) {
  const char *m = transparent ? "https://management.azure.com" : s->mgmt_url;
  json_t *e = json_object();
  json_object_set_new(e, "management", json_sprintf("%s/", m));
  json_object_set_new(e, "resourceManager", json_sprintf("%s/", m));
  if (transparent) {
    json_object_set_new(e, "activeDirectory", json_string("https://login.microsoftonline.com"));
    json_object_set_new(e, "activeDirectoryResourceId",
                        json_string("https://management.core.windows.net/"));
    json_object_set_new(e, "activeDirectoryGraphResourceId",
                        json_string("https://graph.windows.net/"));
    json_object_set_new(e, "microsoftGraphResourceId", json_string("https://graph.microsoft.com/"));
  } else {
    json_object_set_new(e, "activeDirectory", json_sprintf("%s/adfs", m));
    json_object_set_new(e, "activeDirectoryResourceId", json_sprintf("%s/", m));
    json_object_set_new(e, "activeDirectoryGraphResourceId", json_sprintf("%s/graph/", m));
    json_object_set_new(e, "microsoftGraphResourceId", json_sprintf("%s/graph/", m));
  }
  json_object_set_new(e, "gallery", json_sprintf("%s/gallery/", m));
  json_object_set_new(e, "sqlManagement", json_sprintf("%s/sql/", m));
  json_object_set_new(e, "batchResourceId", json_sprintf("%s/batch/", m));
  json_object_set_new(e, "mediaResourceId", json_sprintf("%s/media/", m));
  json_object_set_new(e, "logAnalyticsResourceId", json_sprintf("%s/loganalytics", m));
  json_object_set_new(e, "vmImageAliasDoc", json_sprintf("%s/azlite/vm-image-aliases.json", m));
  json_t *x = json_object();
  json_object_set_new(x, "storageEndpoint", json_string("core.windows.net"));
  json_object_set_new(x, "keyvaultDns", json_string(".vault.azure.net"));
  json_object_set_new(x, "acrLoginServerEndpoint", json_string(".azurecr.io"));
  return json_pack("{s:o,s:o,s:s}", "endpoints", e, "suffixes", x, "profile", profile);
}

int cmd_az(int argc, char **argv) {
  srv s = {0};
  srv_config_defaults(&s.cfg);
  /* Only azlite's own options before the az arguments are ours. */
  int ours = 1;
  while (ours < argc && !strncmp(argv[ours], "--", 2) &&
         (!strcmp(argv[ours], "--data-dir") || !strcmp(argv[ours], "--mgmt-port")) &&
         ours + 1 < argc)
    ours += 2;
  char **azargs = argv + ours;
  int naz = argc - ours;
  char *saved = argv[ours < argc ? ours : argc];
  argv[ours < argc ? ours : argc] = NULL;
  cli_common_options(&s.cfg, ours, argv);
  if (ours < argc) argv[ours] = saved;
  /* Without a server, az's login would fail with a page of Python traceback. */
  char what[256];
  snprintf(what, sizeof what, "%s az", cli_prog);
  if (cli_require_server(&s, what) != 0) return 1;
  if (cli_open(&s) != 0) {
    srv_close(&s);
    return 1;
  }
  const char *dirname, *profile;
  int g = 0;
  while (g < naz && azargs[g][0] == '-')
    g++;
  /* Under `azlite exec` (its preloaded library answers Azure's names). */
  const char *xa = getenv("AZLITE_EXEC_ADDR");
  int transparent = xa && *xa && getenv("LD_PRELOAD");
  az_profile_for(g < naz ? azargs[g] : NULL, transparent, &dirname, &profile);
  char *cfgdir = srv_path(&s, dirname), *ca = srv_path(&s, "pki/ca.pem");
  mkdir(cfgdir, 0700);
  setenv("AZURE_CONFIG_DIR", cfgdir, 1);
  setenv("REQUESTS_CA_BUNDLE", ca, 1);
  setenv("AZURE_CORE_COLLECT_TELEMETRY", "no", 1);
  setenv("AZURE_CORE_SURVEY_MESSAGE", "no", 1);
  setenv("AZURE_CORE_NO_COLOR", "yes", 1);
  if (strcmp(profile, "latest") != 0) az_network_shim_install(cfgdir);
  setenv("AZURE_CORE_ONLY_SHOW_ERRORS", "no", 1);
  unsetenv("AZURE_CLIENT_ID");
  unsetenv("AZURE_CLIENT_SECRET");
  unsetenv("AZURE_TENANT_ID");
  char *secret = store_get(&s, "admin.secret"), *appid = store_get(&s, "admin.appid");
  /* The profile is in the stamp too, so a dir registered under another one registers again. */
  char stamp_want[512];
  snprintf(stamp_want, sizeof stamp_want, "%s %s %s %s %s\n", s.mgmt_url, appid, secret,
           s.tenant_id, profile);
  char *stamp_path = az_path(&s, dirname, "azlite-login");
  char *lock_path = az_path(&s, dirname, ".lock");
  char *log = az_path(&s, dirname, "azlite-setup.log");
  char *cloud_path = az_path(&s, dirname, "cloud.json");
  int lock = open(lock_path, O_RDWR | O_CREAT, 0600);
  if (lock >= 0) flock(lock, LOCK_EX);
  char have[512] = "";
  FILE *f = fopen(stamp_path, "r");
  if (f) {
    if (!fgets(have, sizeof have, f)) have[0] = 0;
    fclose(f);
  }
  int rc = 0;
  if (strcmp(have, stamp_want) != 0) {
    json_t *cc = cloud_config(&s, profile, transparent);
    json_dump_file(cc, cloud_path, JSON_INDENT(2));
    json_decref(cc);
    char cloudarg[4200];
    snprintf(cloudarg, sizeof cloudarg, "@%s", cloud_path);
    char *set0[] = {"az", "cloud", "set", "--name", "AzureCloud", NULL};
    char *unreg[] = {"az", "cloud", "unregister", "--name", "azlite", NULL};
    char *reg[] = {"az", "cloud", "register", "--name", "azlite", "--cloud-config", cloudarg, NULL};
    char *set[] = {"az", "cloud", "set", "--name", "azlite", NULL};
    /* --password=SECRET: a secret may begin with '-'. */
    char passarg[128];
    snprintf(passarg, sizeof passarg, "--password=%s", secret ? secret : "");
    char *login[] = {"az",    "login",    "--service-principal", "--username", appid,
                     passarg, "--tenant", s.tenant_id,           "--output",   "none",
                     NULL};
    az_quiet(log, set0, 0);
    az_quiet(log, unreg, 0);
    rc = az_quiet(log, reg, 1);
    if (rc == 0) rc = az_quiet(log, set, 1);
    if (rc == 0) rc = az_quiet(log, login, 1);
    if (rc == 0 && (f = fopen(stamp_path, "w"))) {
      fputs(stamp_want, f);
      fclose(f);
    }
  }
  if (lock >= 0) close(lock);
  free(secret);
  free(appid);
  free(stamp_path);
  free(lock_path);
  free(log);
  free(cloud_path);
  free(cfgdir);
  free(ca);
  char port[16];
  const char *colon = strrchr(s.mgmt_url, ':');
  snprintf(port, sizeof port, "%d", colon ? atoi(colon + 1) : s.cfg.mgmt_port);
  srv_close(&s);
  if (rc != 0) return rc > 0 ? rc : 1;
  /* Under azlite's library, as under exec: the Azure names az derives from
   * what azlite returns (an app's <app>.scm.azurewebsites.net for a zip
   * deploy) reach azlite, and no other Azure name resolves. */
  if (!transparent && cli_preload(port) != 0) return 1;
  char **args = calloc((size_t)naz + 2, sizeof *args);
  args[0] = "az";
  for (int i = 0; i < naz; i++)
    args[i + 1] = azargs[i];
  execvp("az", args);
  fprintf(stderr, "%s az: cannot run az (install Debian's azure-cli): %s\n", cli_prog,
          strerror(errno));
  return 127;
}
