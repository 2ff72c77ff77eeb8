/* sites.c: Microsoft.Web/sites (function apps and web apps) on the generic
 * resource layer, and what hangs off a site in ARM: app settings,
 * connection strings, config/web, publishing credentials, start/stop/restart,
 * functions and their keys, host keys, syncfunctiontriggers.
 *
 * web_sites keeps beside the resource what its body does not show: the
 * settings (app settings are secrets to readers of the site: only
 * listApplicationSettings shows them), the keys, the publishing password, the
 * run state and the deployment that serves.  A site without a plan
 * (`az functionapp create --consumption-plan-location`) gets the region's
 * Consumption plan, "<Region>LinuxDynamicPlan", made in the same
 * transaction, as Azure does. */
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

#define SITE_STASH "azlite.appSettings" /* build -> apply, never stored */

void web_key_new(char out[64]) {
  unsigned char raw[40];
  if (RAND_bytes(raw, sizeof raw) != 1) abort();
  EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw); /* 56 characters */
  for (char *p = out; *p; p++)
    if (*p == '+')
      *p = '-';
    else if (*p == '/')
      *p = '_';
}

/* 2-60 letters, digits and hyphens, not starting or ending with a hyphen
 * (the name is a DNS label: <name>.azurewebsites.net). */
static int site_name_valid(const char *n) {
  size_t len = strlen(n);
  if (len < 2 || len > 60 || n[0] == '-' || n[len - 1] == '-') return 0;
  for (const char *p = n; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-') return 0;
  return 1;
}

int web_app_load(srv *s, const char *name, web_app *out) {
  sqlite3_stmt *st;
  memset(out, 0, sizeof *out);
  if (store_prepare(store_db(s),
                    "SELECT id, name, state, master_key, default_key, password,"
                    " coalesce(active_dep,'') FROM web_sites WHERE name=?",
                    -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  int rc = -1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(out->id, sizeof out->id, "%s", sqlite3_column_text(st, 0));
    snprintf(out->name, sizeof out->name, "%s", sqlite3_column_text(st, 1));
    snprintf(out->state, sizeof out->state, "%s", sqlite3_column_text(st, 2));
    snprintf(out->master_key, sizeof out->master_key, "%s", sqlite3_column_text(st, 3));
    snprintf(out->default_key, sizeof out->default_key, "%s", sqlite3_column_text(st, 4));
    snprintf(out->password, sizeof out->password, "%s", sqlite3_column_text(st, 5));
    snprintf(out->active_dep, sizeof out->active_dep, "%s", sqlite3_column_text(st, 6));
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

static json_t *column_json(srv *s, const char *col, const char *where_col, const char *v) {
  sqlite3_stmt *st;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT %s FROM web_sites WHERE %s=?", col, where_col);
  if (store_prepare(store_db(s), sql, -1, &st, NULL) != SQLITE_OK) return NULL;
  sqlite3_bind_text(st, 1, v, -1, SQLITE_TRANSIENT);
  json_t *j = NULL;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
  store_finalize(st);
  return j;
}

json_t *web_site_settings(srv *s, const char *app) {
  return column_json(s, "settings", "name", app);
}

/* "EastUS" for eastus: the spelling of Azure's automatic plan names. */
static void region_title(const char *loc, char out[64]) {
  static const struct {
    const char *loc, *title;
  } known[] = {{"eastus", "EastUS"},           {"eastus2", "EastUS2"},
               {"westus", "WestUS"},           {"westus2", "WestUS2"},
               {"westus3", "WestUS3"},         {"centralus", "CentralUS"},
               {"northeurope", "NorthEurope"}, {"westeurope", "WestEurope"},
               {"uksouth", "UKSouth"},         {"southcentralus", "SouthCentralUS"}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strcmp(known[i].loc, loc)) {
      snprintf(out, 64, "%s", known[i].title);
      return;
    }
  snprintf(out, 64, "%s", loc);
  out[0] = (char)toupper((unsigned char)out[0]);
}

static int site_build(arm_op *op) {
  http_req *r = op->r;
  srv *s = op->s;
  json_t *in = json_object_get(op->in, "properties");
  json_t *cur = json_object_get(op->cur, "properties");
  if (op->patch && !in) return 0;
  if (in && !json_is_object(in)) {
    http_fail(r, WEB_ERR_BAD_REQUEST, "The parameter 'properties' must be an object.");
    return -1;
  }
  const char *kind = json_string_value(json_object_get(op->in, "kind"));
  if (!kind) kind = json_string_value(json_object_get(op->cur, "kind"));
  if (!kind) kind = "app";
  json_object_set_new(op->body, "kind", json_string(kind));
  /* The plan: the one named, or the region's Consumption plan. */
  const char *farm = json_string_value(json_object_get(in, "serverFarmId"));
  if (!farm) farm = json_string_value(json_object_get(cur, "serverFarmId"));
  json_t *reserved = json_object_get(in, "reserved");
  int is_linux = json_is_true(reserved) || strcasestr(kind, "linux") != NULL;
  char *plan_id = NULL;
  if (farm) {
    if (!strchr(farm, '/'))
      plan_id = arm_resource_id(s->subscription_id, op->group, WEB_PLAN_TYPE, farm);
    else
      plan_id = strdup(farm);
    json_t *plan = arm_resource_get(s, plan_id);
    if (!plan) {
      http_fail(r, WEB_ERR_PLAN_NOT_FOUND, "Cannot find ServerFarm with name %s.",
                strrchr(plan_id, '/') + 1);
      free(plan_id);
      return -1;
    }
    if (json_is_true(json_object_get(json_object_get(plan, "properties"), "reserved")))
      is_linux = 1;
    json_decref(plan);
  } else {
    char title[64], pname[128];
    region_title(op->location, title);
    snprintf(pname, sizeof pname, "%s%sPlan", title, is_linux ? "LinuxDynamic" : "");
    plan_id = arm_resource_id(s->subscription_id, op->group, WEB_PLAN_TYPE, pname);
  }
  http_defer(r, free, plan_id);
  json_t *sc = json_object_get(in, "siteConfig");
  json_t *apps = json_object_get(sc, "appSettings");
  if (json_is_array(apps)) {
    json_t *settings = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(apps, i, v) {
      const char *k = json_string_value(json_object_get(v, "name"));
      const char *val = json_string_value(json_object_get(v, "value"));
      if (!k) {
        json_decref(settings);
        http_fail(r, WEB_ERR_BAD_REQUEST, "An app setting has no name.");
        return -1;
      }
      json_object_set_new(settings, k, json_string(val ? val : ""));
    }
    json_object_set_new(op->body, SITE_STASH, settings);
  }
  const char *fx = json_string_value(json_object_get(sc, "linuxFxVersion"));
  if (!fx)
    fx = json_string_value(json_object_get(json_object_get(cur, "siteConfig"), "linuxFxVersion"));
  const char *host = http_printf(r, "%s" WEB_HOST_SUFFIX, op->name);
  const char *scm = http_printf(r, "%s" WEB_SCM_SUFFIX, op->name);
  json_t *ssl =
      json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "name", host, "sslState", "Disabled", "hostType",
                "Standard", "name", scm, "sslState", "Disabled", "hostType", "Repository");
  json_t *https_only = json_object_get(in, "httpsOnly");
  json_t *props = json_pack(
      "{s:s,s:[s],s:[s,s],s:o,s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:s,s:s,s:b,s:s,s:{s:s*,s:i,s:b}}",
      "state", "Running", "hostNames", host, "enabledHostNames", host, scm, "hostNameSslStates",
      ssl, "defaultHostName", host, "serverFarmId", plan_id, "usageState", "Normal",
      "availabilityState", "Normal", "reserved", is_linux, "enabled", 1, "clientAffinityEnabled", 0,
      "repositorySiteName", op->name, "resourceGroup", op->group, "httpsOnly",
      json_is_true(https_only), "kind", kind, "siteConfig", "linuxFxVersion", fx, "numberOfWorkers",
      1, "alwaysOn", 0);
  json_object_set_new(op->body, "properties", props);
  return 0;
}

static int site_apply(arm_op *op) {
  srv *s = op->s;
  json_t *settings = json_incref(json_object_get(op->body, SITE_STASH));
  json_object_del(op->body, SITE_STASH);
  http_json_own(op->r, settings);
  json_t *props = json_object_get(op->body, "properties");
  const char *plan_id = json_string_value(json_object_get(props, "serverFarmId"));
  if (!op->patch && plan_id) {
    json_t *plan = arm_resource_get(s, plan_id);
    if (!plan) {
      /* The Consumption plan Azure makes for the app. */
      const char *pname = strrchr(plan_id, '/') + 1;
      json_t *p = json_pack(
          "{s:s,s:s,s:s,s:s,s:{},s:s,s:{s:s,s:s,s:s,s:s,s:i},s:{s:s,s:b,s:i,s:s,s:s,s:s}}", "id",
          plan_id, "name", pname, "type", WEB_PLAN_TYPE, "location", op->location, "tags", "kind",
          "functionapp", "sku", "name", "Y1", "tier", "Dynamic", "size", "Y1", "family", "Y",
          "capacity", 0, "properties", "status", "Ready", "reserved",
          json_is_true(json_object_get(props, "reserved")), "maximumNumberOfWorkers", 200,
          "geoRegion", op->location, "provisioningState", "Succeeded", "resourceGroup", op->group);
      int rc = arm_resource_put(s, plan_id, WEB_PLAN_TYPE, p);
      json_decref(p);
      if (rc != 0) return -1;
    }
    json_decref(plan);
  }
  char *sjson = settings ? json_dumps(settings, JSON_COMPACT) : NULL;
  http_defer(op->r, free, sjson);
  if (op->created) {
    char master[64], def[64], pw[64];
    web_key_new(master);
    web_key_new(def);
    web_key_new(pw);
    if (store_run(s,
                  "INSERT INTO web_sites(id, name, plan, settings, conn, config, state,"
                  " master_key, default_key, password) VALUES(?,?,?,?,'{}','{}','Running',?,?,?)",
                  "ttttttt", op->id, op->name, plan_id, sjson ? sjson : "{}", master, def,
                  pw) != 0) {
      http_fail(op->r, WEB_ERR_CONFLICT, "Website with given name %s already exists.", op->name);
      return -1;
    }
    return 0;
  }
  if (plan_id && store_run(s, "UPDATE web_sites SET plan=? WHERE id=?", "tt", plan_id, op->id) != 0)
    return -1;
  if (sjson && store_run(s, "UPDATE web_sites SET settings=? WHERE id=?", "tt", sjson, op->id) != 0)
    return -1;
  return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* Once the delete commits: the app's workers stop and its files go. */
static void after_remove(srv *s, void *arg, int committed) {
  if (committed) {
    web_host_recycle(s, arg);
    char rel[128];
    snprintf(rel, sizeof rel, "web/sites/%s", (char *)arg);
    char *dir = srv_path(s, rel);
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
      log_warn("web: could not remove %s: %s", dir, strerror(errno));
    free(dir);
  }
  free(arg);
}

static int site_remove(srv *s, const char *id, json_t *body) {
  const char *name = json_string_value(json_object_get(body, "name"));
  if (store_run(s, "DELETE FROM web_function_keys WHERE site=?", "t", id) != 0 ||
      store_run(s, "DELETE FROM web_deployments WHERE site=?", "t", id) != 0 ||
      store_run(s, "DELETE FROM web_timers WHERE site=?", "t", id) != 0 ||
      store_run(s, "DELETE FROM web_sites WHERE id=?", "t", id) != 0)
    return -1;
  if (name) store_after_commit(s, after_remove, strdup(name));
  return 0;
}

static json_t *site_render(http_req *r, json_t *body) {
  srv *s = r->srv;
  const char *name = json_string_value(json_object_get(body, "name"));
  web_app app;
  json_t *props = json_object_get(body, "properties");
  if (name && json_is_object(props) && web_app_load(s, name, &app) == 0)
    json_object_set_new(props, "state", json_string(app.state));
  return body;
}

const arm_type web_site_type = {
    .type = WEB_SITE_TYPE,
    .display = "site",
    .name_valid = site_name_valid,
    .name_message = "The site name '%s' is invalid: use 2-60 letters, digits and hyphens, not "
                    "starting or ending with a hyphen.",
    .identity = 1,
    .create_status = 200,
    .build = site_build,
    .apply = site_apply,
    .remove = site_remove,
    .render = site_render,
    .example_name = "contract-fn1",
    .example_bad_name = "bad_site!",
    .example_body = "{\"location\":\"eastus\",\"kind\":\"functionapp,is_linux\","
                    "\"properties\":{\"reserved\":true}}",
};

/* ---- actions on a site ------------------------------------------------ */

/* The site a route names (params rg, name) and its store row; NULL and r
 * failed when it does not exist. */
static json_t *site_require(http_req *r, web_app *app) {
  json_t *body =
      arm_res_require(r, &web_site_type, http_param(r, "rg"), http_param(r, "name"), NULL);
  if (!body) return NULL;
  http_json_own(r, body);
  if (web_app_load(r->srv, json_string_value(json_object_get(body, "name")), app) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The site's state could not be read.");
    return NULL;
  }
  return body;
}

static json_t *config_doc(json_t *site, const char *name, json_t *props) {
  return json_pack(
      "{s:o,s:s,s:s,s:O,s:o}", "id",
      json_sprintf("%s/config/%s", json_string_value(json_object_get(site, "id")), name), "name",
      name, "type", "Microsoft.Web/sites/config", "location", json_object_get(site, "location"),
      "properties", props);
}

static void reply_column(http_req *r, const char *col, const char *doc) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  json_t *v = column_json(r->srv, col, "id", app.id);
  http_reply_json(r, 200, config_doc(site, doc, v ? v : json_object()));
}

/* Replaces a column with the body's properties (an object of strings, or
 * for connection strings of {value, type}). */
static void put_column(http_req *r, const char *col, const char *doc, int conn) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *props = json_object_get(in, "properties");
  if (!json_is_object(props)) {
    http_fail(r, WEB_ERR_BAD_REQUEST, "The parameter 'properties' must be an object.");
    return;
  }
  const char *k;
  json_t *v;
  json_object_foreach(props, k, v) {
    if (conn ? !json_is_object(v) : !(json_is_string(v) || json_is_null(v))) {
      http_fail(r, WEB_ERR_BAD_REQUEST, "The value of '%s' is not valid.", k);
      return;
    }
  }
  json_t *old = http_json_own(r, column_json(r->srv, col, "id", app.id));
  const char *old_rfp = json_string_value(json_object_get(old, "WEBSITE_RUN_FROM_PACKAGE"));
  char *j = json_dumps(props, JSON_COMPACT);
  http_defer(r, free, j);
  char sql[96];
  snprintf(sql, sizeof sql, "UPDATE web_sites SET %s=? WHERE id=?", col);
  if (store_run(r->srv, sql, "tt", j, app.id) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The settings could not be saved.");
    return;
  }
  /* New settings reach the code as a restart does on Azure. */
  web_host_recycle(r->srv, app.name);
  /* A package URL to run from (what `az functionapp deployment source
   * config-zip` sets for a Linux Consumption app): a deployment of it. */
  const char *rfp =
      conn ? NULL : json_string_value(json_object_get(props, "WEBSITE_RUN_FROM_PACKAGE"));
  if (rfp && (!strncasecmp(rfp, "https://", 8) || !strncasecmp(rfp, "http://", 7)) &&
      (!old_rfp || strcmp(old_rfp, rfp)))
    web_deploy_from_url(r->srv, &app, rfp);
  http_reply_json(r, 200, config_doc(site, doc, json_incref(props)));
}

void web_site_appsettings_list(http_req *r) {
  reply_column(r, "settings", "appsettings");
}
void web_site_appsettings_put(http_req *r) {
  put_column(r, "settings", "appsettings", 0);
}
void web_site_connstrings_list(http_req *r) {
  reply_column(r, "conn", "connectionstrings");
}
void web_site_connstrings_put(http_req *r) {
  put_column(r, "conn", "connectionstrings", 1);
}

void web_site_config_web_get(http_req *r) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  json_t *v = column_json(r->srv, "config", "id", app.id);
  if (!v) v = json_object();
  json_t *sc = json_object_get(json_object_get(site, "properties"), "siteConfig");
  if (json_is_object(sc)) json_object_update_missing(v, sc);
  json_object_set_new(v, "numberOfWorkers", json_integer(1));
  if (!json_object_get(v, "ftpsState"))
    json_object_set_new(v, "ftpsState", json_string("FtpsOnly"));
  http_reply_json(r, 200, config_doc(site, "web", v));
}

void web_site_config_web_put(http_req *r) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *props = json_object_get(in, "properties");
  if (!json_is_object(props)) {
    http_fail(r, WEB_ERR_BAD_REQUEST, "The parameter 'properties' must be an object.");
    return;
  }
  json_t *cur = column_json(r->srv, "config", "id", app.id);
  if (!cur) cur = json_object();
  http_json_own(r, cur);
  json_t *copy = json_deep_copy(props);
  json_object_del(copy, "appSettings"); /* kept by config/appsettings alone */
  json_object_del(copy, "connectionStrings");
  if (!strcmp(r->method, "PUT")) json_object_clear(cur);
  json_object_update(cur, copy);
  json_decref(copy);
  char *j = json_dumps(cur, JSON_COMPACT);
  http_defer(r, free, j);
  if (store_run(r->srv, "UPDATE web_sites SET config=? WHERE id=?", "tt", j, app.id) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The configuration could not be saved.");
    return;
  }
  web_site_config_web_get(r);
}

void web_site_slot_config_names(http_req *r) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  http_reply_json(r, 200,
                  config_doc(site, "slotConfigNames",
                             json_pack("{s:[],s:[],s:[]}", "connectionStringNames",
                                       "appSettingNames", "azureStorageConfigNames")));
}

/* The SCM site's basic-auth user: "$<app>" and the site's password. */
void web_site_publishing_credentials(http_req *r) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  json_t *doc = json_pack(
      "{s:o,s:s,s:s,s:O,s:{s:o,s:s,s:o}}", "id",
      json_sprintf("%s/config/publishingcredentials", app.id), "name", app.name, "type",
      "Microsoft.Web/sites/config", "location", json_object_get(site, "location"), "properties",
      "publishingUserName", json_sprintf("$%s", app.name), "publishingPassword", app.password,
      "scmUri", json_sprintf("https://$%s:%s@%s" WEB_SCM_SUFFIX, app.name, app.password, app.name));
  http_reply_json(r, 200, doc);
}

static void set_state(http_req *r, const char *state) {
  web_app app;
  if (!site_require(r, &app)) return;
  if (store_run(r->srv, "UPDATE web_sites SET state=? WHERE id=?", "tt", state, app.id) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The site's state could not be saved.");
    return;
  }
  web_host_recycle(r->srv, app.name);
  http_reply_empty(r, 200);
}

void web_site_start(http_req *r) {
  set_state(r, "Running");
}
void web_site_stop(http_req *r) {
  set_state(r, "Stopped");
}
void web_site_restart(http_req *r) {
  set_state(r, "Running");
}

/* One function as ARM shows it (Microsoft.Web/sites/functions). */
static json_t *function_doc(const web_app *app, json_t *site, json_t *fn) {
  const char *fname = json_string_value(json_object_get(fn, "name"));
  const char *trigger = json_string_value(json_object_get(fn, "trigger"));
  json_t *binding = json_pack("{s:s,s:s}", "name",
                              json_string_value(json_object_get(fn, "param")) ?: "req", "type",
                              !strcmp(trigger, "http")    ? "httpTrigger"
                              : !strcmp(trigger, "timer") ? "timerTrigger"
                                                          : "blobTrigger");
  json_object_set_new(binding, "direction", json_string("IN"));
  json_t *props = json_pack("{s:s,s:s,s:o,s:s,s:b,s:s}", "name", fname, "function_app_id", app->id,
                            "config", json_pack("{s:[o]}", "bindings", binding), "language",
                            "python", "isDisabled", 0, "script_href", "");
  if (!strcmp(trigger, "http")) {
    json_object_set_new(binding, "authLevel", json_incref(json_object_get(fn, "auth_level")));
    json_object_set(binding, "route", json_object_get(fn, "route"));
    json_object_set(binding, "methods", json_object_get(fn, "methods"));
    json_object_set_new(props, "invoke_url_template",
                        json_sprintf("https://%s" WEB_HOST_SUFFIX "/api/%s", app->name,
                                     json_string_value(json_object_get(fn, "route"))));
  } else if (!strcmp(trigger, "timer")) {
    json_object_set(binding, "schedule", json_object_get(fn, "schedule"));
  } else {
    json_object_set(binding, "path", json_object_get(fn, "path"));
    json_object_set(binding, "connection", json_object_get(fn, "connection"));
  }
  return json_pack("{s:o,s:o,s:s,s:O,s:o}", "id", json_sprintf("%s/functions/%s", app->id, fname),
                   "name", json_sprintf("%s/%s", app->name, fname), "type",
                   "Microsoft.Web/sites/functions", "location", json_object_get(site, "location"),
                   "properties", props);
}

void web_site_functions_list(http_req *r) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  json_t *fns = http_json_own(r, web_active_functions(r->srv, &app));
  json_t *out = json_array();
  size_t i;
  json_t *fn;
  json_array_foreach(fns, i, fn) json_array_append_new(out, function_doc(&app, site, fn));
  http_reply_json(r, 200, json_pack("{s:o}", "value", out));
}

static json_t *function_find(http_req *r, web_app *app, json_t **site) {
  *site = site_require(r, app);
  if (!*site) return NULL;
  json_t *fns = http_json_own(r, web_active_functions(r->srv, app));
  const char *want = http_param(r, "fn");
  size_t i;
  json_t *fn;
  json_array_foreach(fns, i, fn) {
    if (!strcasecmp(json_string_value(json_object_get(fn, "name")), want)) return fn;
  }
  http_fail(r, WEB_ERR_NOT_FOUND, "Error retrieving function '%s': it does not exist.", want);
  return NULL;
}

void web_site_function_get(http_req *r) {
  web_app app;
  json_t *site;
  json_t *fn = function_find(r, &app, &site);
  if (fn) http_reply_json(r, 200, function_doc(&app, site, fn));
}

/* A function's keys: "default", made on first ask and kept. */
static int function_default_key(srv *s, const char *site, const char *fn, char out[64]) {
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT value FROM web_function_keys WHERE site=? AND fn=? AND name='default'",
                    -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, fn, -1, SQLITE_STATIC);
  int found = sqlite3_step(st) == SQLITE_ROW;
  if (found) snprintf(out, 64, "%s", sqlite3_column_text(st, 0));
  store_finalize(st);
  if (found) return 0;
  web_key_new(out);
  return store_run(s, "INSERT INTO web_function_keys(site, fn, name, value) VALUES(?,?,?,?)",
                   "tttt", site, fn, "default", out);
}

int web_function_key_ok(srv *s, const char *site_id, const char *fn, const char *key) {
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT 1 FROM web_function_keys WHERE site=? AND fn=? AND value=?", -1, &st,
                    NULL) != SQLITE_OK)
    return 0;
  sqlite3_bind_text(st, 1, site_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, fn, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
  int ok = sqlite3_step(st) == SQLITE_ROW;
  store_finalize(st);
  return ok;
}

/* Adds to obj every key of fn ("" for the host's named function keys). */
static int keys_of(srv *s, const char *site, const char *fn, json_t *obj) {
  sqlite3_stmt *st;
  if (store_prepare(store_db(s), "SELECT name, value FROM web_function_keys WHERE site=? AND fn=?",
                    -1, &st, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, site, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, fn, -1, SQLITE_STATIC);
  while (sqlite3_step(st) == SQLITE_ROW)
    json_object_set_new(obj, (const char *)sqlite3_column_text(st, 0),
                        json_string((const char *)sqlite3_column_text(st, 1)));
  store_finalize(st);
  return 0;
}

void web_site_function_keys(http_req *r) {
  web_app app;
  json_t *site;
  json_t *fn = function_find(r, &app, &site);
  if (!fn) return;
  const char *fname = json_string_value(json_object_get(fn, "name"));
  char key[64];
  json_t *out = http_json_own(r, json_object());
  if (function_default_key(r->srv, app.id, fname, key) != 0 ||
      keys_of(r->srv, app.id, fname, out) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The function's keys could not be read.");
    return;
  }
  http_reply_json(r, 200, json_incref(out));
}

/* A key's name: 1-128 letters, digits, '-', '_', '.'. */
static int key_name_ok(const char *n) {
  size_t len = strlen(n);
  if (len < 1 || len > 128) return 0;
  for (const char *p = n; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') return 0;
  return 1;
}

/* PUT a named key of fn ("" for a host function key): the body's value (at
 * least 16 characters), or a new one.  Answers KeyInfo {name, value}. */
static void key_put(http_req *r, const web_app *app, const char *fn, const char *kname) {
  if (!key_name_ok(kname)) {
    http_fail(r, WEB_ERR_BAD_REQUEST, "The key name '%s' is not valid.", kname);
    return;
  }
  json_t *in = r->body_len ? http_json_own(r, http_body_json(r)) : NULL;
  if (r->body_len && !in) return;
  json_t *v = json_object_get(json_object_get(in, "properties"), "value");
  if (!v) v = json_object_get(in, "value");
  char gen[64];
  const char *value = json_string_value(v);
  if (!value || !*value) {
    web_key_new(gen);
    value = gen;
  } else if (strlen(value) < 16 || strlen(value) > 128) {
    http_fail(r, WEB_ERR_BAD_REQUEST, "A key value must be 16 to 128 characters.");
    return;
  }
  if (store_run(r->srv,
                "INSERT INTO web_function_keys(site, fn, name, value) VALUES(?,?,?,?)"
                " ON CONFLICT(site, fn, name) DO UPDATE SET value=excluded.value",
                "tttt", app->id, fn, kname, value) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The key could not be saved.");
    return;
  }
  http_reply_json(r, 200, json_pack("{s:s,s:s}", "name", kname, "value", value));
}

static void key_delete(http_req *r, const web_app *app, const char *fn, const char *kname) {
  sqlite3_stmt *st;
  int gone = 0;
  if (store_prepare(store_db(r->srv),
                    "DELETE FROM web_function_keys WHERE site=? AND fn=? AND name=?", -1, &st,
                    NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, app->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, fn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kname, -1, SQLITE_STATIC);
    gone = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(store_db(r->srv)) > 0;
    store_finalize(st);
  }
  http_reply_empty(r, gone ? 204 : 404);
}

void web_site_function_key_put(http_req *r) {
  web_app app;
  json_t *site;
  json_t *fn = function_find(r, &app, &site);
  if (fn) key_put(r, &app, json_string_value(json_object_get(fn, "name")), http_param(r, "key"));
}

void web_site_function_key_delete(http_req *r) {
  web_app app;
  json_t *site;
  json_t *fn = function_find(r, &app, &site);
  if (fn) key_delete(r, &app, json_string_value(json_object_get(fn, "name")), http_param(r, "key"));
}

/* host/default/{keyType}/{key}: named host function keys (functionKeys;
 * "default" is the host's own); the master key is the site's. */
void web_site_host_key_put(http_req *r) {
  web_app app;
  if (!site_require(r, &app)) return;
  const char *type = http_param(r, "type"), *kname = http_param(r, "key");
  if (strcasecmp(type, "functionKeys") || !strcasecmp(kname, "default")) {
    http_fail(r, WEB_ERR_NOT_SUPPORTED,
              "azlite sets named host function keys only (host/default/functionKeys/{name}).");
    return;
  }
  key_put(r, &app, "", kname);
}

void web_site_host_key_delete(http_req *r) {
  web_app app;
  if (!site_require(r, &app)) return;
  if (strcasecmp(http_param(r, "type"), "functionKeys")) {
    http_reply_empty(r, 404);
    return;
  }
  key_delete(r, &app, "", http_param(r, "key"));
}

void web_site_host_keys(http_req *r) {
  web_app app;
  if (!site_require(r, &app)) return;
  json_t *fk = json_pack("{s:s}", "default", app.default_key);
  keys_of(r->srv, app.id, "", fk);
  http_reply_json(
      r, 200,
      json_pack("{s:s,s:o,s:{}}", "masterKey", app.master_key, "functionKeys", fk, "systemKeys"));
}

/* The functions are what the active deployment declared when it was
 * loaded; syncing makes the host read them again (a restart). */
void web_site_sync_triggers(http_req *r) {
  web_app app;
  if (!site_require(r, &app)) return;
  web_host_recycle(r->srv, app.name);
  http_reply_empty(r, 200);
}

/* The publishing profiles (XML), with the SCM site's credentials. */
void web_site_publish_xml(http_req *r) {
  web_app app;
  if (!site_require(r, &app)) return;
  const char *n = app.name, *pw = app.password;
  char *xml = http_printf(
      r,
      "<publishData>"
      "<publishProfile profileName=\"%s - Web Deploy\" publishMethod=\"MSDeploy\" "
      "publishUrl=\"%s" WEB_SCM_SUFFIX ":443\" msdeploySite=\"%s\" userName=\"$%s\" "
      "userPWD=\"%s\" destinationAppUrl=\"https://%s" WEB_HOST_SUFFIX
      "\" SQLServerDBConnectionString=\"\" "
      "mySQLDBConnectionString=\"\" hostingProviderForumLink=\"\" controlPanelLink=\"\" "
      "webSystem=\"WebSites\"><databases /></publishProfile>"
      "<publishProfile profileName=\"%s - FTP\" publishMethod=\"FTP\" "
      "publishUrl=\"ftp://%s" WEB_SCM_SUFFIX "/site/wwwroot\" ftpPassiveMode=\"True\" "
      "userName=\"%s\\$%s\" userPWD=\"%s\" destinationAppUrl=\"https://%s" WEB_HOST_SUFFIX "\" "
      "SQLServerDBConnectionString=\"\" mySQLDBConnectionString=\"\" hostingProviderForumLink=\"\" "
      "controlPanelLink=\"\" webSystem=\"WebSites\"><databases /></publishProfile>"
      "<publishProfile profileName=\"%s - Zip Deploy\" publishMethod=\"ZipDeploy\" "
      "publishUrl=\"%s" WEB_SCM_SUFFIX ":443\" userName=\"$%s\" userPWD=\"%s\" "
      "destinationAppUrl=\"https://%s" WEB_HOST_SUFFIX "\" SQLServerDBConnectionString=\"\" "
      "mySQLDBConnectionString=\"\" hostingProviderForumLink=\"\" controlPanelLink=\"\" "
      "webSystem=\"WebSites\"><databases /></publishProfile>"
      "</publishData>",
      n, n, n, n, pw, n, n, n, n, n, pw, n, n, n, n, pw, n);
  http_reply_bytes(r, 200, "application/xml", xml, strlen(xml));
}

/* config/logs: the diagnostic logs settings, kept as set (what is logged is
 * always the host's log; see host.c). */
void web_site_config_logs_get(http_req *r) {
  web_app app;
  json_t *site = site_require(r, &app);
  if (!site) return;
  json_t *v = column_json(r->srv, "logs", "id", app.id);
  if (!v) v = json_object();
  json_t *def =
      json_pack("{s:{s:{s:s}},s:{s:{s:i,s:b}},s:{s:b},s:{s:b}}", "applicationLogs", "fileSystem",
                "level", "Off", "httpLogs", "fileSystem", "retentionInMb", 35, "enabled", 0,
                "failedRequestsTracing", "enabled", 0, "detailedErrorMessages", "enabled", 0);
  json_object_update_missing(v, def);
  json_decref(def);
  http_reply_json(r, 200, config_doc(site, "logs", v));
}

void web_site_config_logs_put(http_req *r) {
  web_app app;
  if (!site_require(r, &app)) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *props = json_object_get(in, "properties");
  if (!json_is_object(props)) {
    http_fail(r, WEB_ERR_BAD_REQUEST, "The parameter 'properties' must be an object.");
    return;
  }
  json_t *cur = http_json_own(r, column_json(r->srv, "logs", "id", app.id));
  if (!cur) cur = http_json_own(r, json_object());
  const char *k;
  json_t *v;
  json_object_foreach(props, k, v) {
    if (!json_is_null(v)) json_object_set(cur, k, v);
  }
  char *j = json_dumps(cur, JSON_COMPACT);
  http_defer(r, free, j);
  if (store_run(r->srv, "UPDATE web_sites SET logs=? WHERE id=?", "tt", j, app.id) != 0) {
    http_fail(r, WEB_ERR_INTERNAL, "The logs configuration could not be saved.");
    return;
  }
  web_site_config_logs_get(r);
}
