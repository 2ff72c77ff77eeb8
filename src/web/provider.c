/* provider.c: Microsoft.Web: the one table of every URL it serves, its
 * schema and its resource types.  Plans are in plans.c, sites and what hangs
 * off them in ARM in sites.c, the catalog in catalog.c; the sites' own host
 * names (<app>.azurewebsites.net, <app>.scm.azurewebsites.net) reach
 * LISTEN_WEB, served by host.c and kudu.c. */
#include "internal.h"

#define WEB_ROW_(m, p, f)                                                                          \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM                                                                          \
  }
/* Reads that any caller may make (the catalog). */
#define WEB_OPEN_ROW_(m, p, f)                                                                     \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .action = ""                                                            \
  }
/* An action on a site: reading its secrets is an action on the site. */
#define WEB_SITE_ACT_(m, p, f, act)                                                                \
  {                                                                                                \
    .listener = LISTEN_MGMT, .method = m, .pattern = p, .fn = f, .auth = AUTH_ARM,                 \
    .style = HTTP_ERR_ARM, .action = "Microsoft.Web/sites/" act                                    \
  }

#define WEB_SITE "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}"

static const route web_routes[] = {
    /* ---- the catalog (catalog.c) ---- */
    WEB_OPEN_ROW_("GET", "/subscriptions/{sub}/providers/Microsoft.Web/geoRegions",
                  web_geo_regions),
    WEB_OPEN_ROW_("GET", "/providers/Microsoft.Web/functionAppStacks", web_function_app_stacks),
    /* ---- plans (plans.c) and sites (sites.c) ---- */
    ARM_TRACKED_ROUTES(WEB_PLAN_TYPE, &web_plan_type),
    ARM_TRACKED_ROUTES(WEB_SITE_TYPE, &web_site_type),
    WEB_SITE_ACT_("POST", WEB_SITE "/config/appsettings/list", web_site_appsettings_list,
                  "config/list/action"),
    WEB_SITE_ACT_("PUT", WEB_SITE "/config/appsettings", web_site_appsettings_put, "config/write"),
    WEB_SITE_ACT_("POST", WEB_SITE "/config/connectionstrings/list", web_site_connstrings_list,
                  "config/list/action"),
    WEB_SITE_ACT_("PUT", WEB_SITE "/config/connectionstrings", web_site_connstrings_put,
                  "config/write"),
    WEB_SITE_ACT_("GET", WEB_SITE "/config/web", web_site_config_web_get, "config/read"),
    WEB_SITE_ACT_("PUT", WEB_SITE "/config/web", web_site_config_web_put, "config/write"),
    WEB_SITE_ACT_("PATCH", WEB_SITE "/config/web", web_site_config_web_put, "config/write"),
    WEB_SITE_ACT_("GET", WEB_SITE "/config/logs", web_site_config_logs_get, "config/read"),
    WEB_SITE_ACT_("PUT", WEB_SITE "/config/logs", web_site_config_logs_put, "config/write"),
    WEB_SITE_ACT_("GET", WEB_SITE "/config/slotConfigNames", web_site_slot_config_names,
                  "config/read"),
    WEB_SITE_ACT_("POST", WEB_SITE "/config/publishingcredentials/list",
                  web_site_publishing_credentials, "config/list/action"),
    WEB_SITE_ACT_("POST", WEB_SITE "/publishxml", web_site_publish_xml, "publishxml/action"),
    WEB_SITE_ACT_("POST", WEB_SITE "/start", web_site_start, "start/action"),
    WEB_SITE_ACT_("POST", WEB_SITE "/stop", web_site_stop, "stop/action"),
    WEB_SITE_ACT_("POST", WEB_SITE "/restart", web_site_restart, "restart/action"),
    WEB_SITE_ACT_("GET", WEB_SITE "/functions", web_site_functions_list, "functions/read"),
    WEB_SITE_ACT_("GET", WEB_SITE "/functions/{fn}", web_site_function_get, "functions/read"),
    WEB_SITE_ACT_("POST", WEB_SITE "/functions/{fn}/listkeys", web_site_function_keys,
                  "functions/listkeys/action"),
    WEB_SITE_ACT_("PUT", WEB_SITE "/functions/{fn}/keys/{key}", web_site_function_key_put,
                  "functions/keys/write"),
    WEB_SITE_ACT_("DELETE", WEB_SITE "/functions/{fn}/keys/{key}", web_site_function_key_delete,
                  "functions/keys/delete"),
    WEB_SITE_ACT_("POST", WEB_SITE "/host/default/listkeys", web_site_host_keys,
                  "host/listkeys/action"),
    WEB_SITE_ACT_("PUT", WEB_SITE "/host/default/{type}/{key}", web_site_host_key_put,
                  "host/functionkeys/write"),
    WEB_SITE_ACT_("DELETE", WEB_SITE "/host/default/{type}/{key}", web_site_host_key_delete,
                  "host/functionkeys/delete"),
    WEB_SITE_ACT_("POST", WEB_SITE "/syncfunctiontriggers", web_site_sync_triggers,
                  "syncfunctiontriggers/action"),
    /* ---- the sites' own host names (host.c, kudu.c) ---- */
    {.listener = LISTEN_WEB,
     .method = "*",
     .pattern = "*",
     .fn = web_front,
     .auth = AUTH_PROVIDER,
     .style = HTTP_ERR_ARM},
    {.pattern = NULL},
};

static const char *const web_schema_scripts[] = {
    /* Version 1.  web_sites: what a site keeps beside its resource (settings
     * as JSON objects, keys, the publishing password, the run state, the
     * deployment that serves).  web_function_keys: keys of one function.
     * web_deployments: every zip deployment of a site, its status (Kudu's:
     * 0 pending, 1 building, 2 deploying, 3 failed, 4 success), its log (a
     * JSON array) and the functions it declared.  web_timers: when a timer
     * function last ran, on azlite's clock. */
    "CREATE TABLE web_sites(id TEXT PRIMARY KEY COLLATE NOCASE,"
    " name TEXT NOT NULL UNIQUE COLLATE NOCASE, plan TEXT COLLATE NOCASE,"
    " settings TEXT NOT NULL, conn TEXT NOT NULL, config TEXT NOT NULL, state TEXT NOT NULL,"
    " master_key TEXT NOT NULL, default_key TEXT NOT NULL, password TEXT NOT NULL,"
    " active_dep TEXT, logs TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX web_sites_plan ON web_sites(plan);"
    "CREATE TABLE web_function_keys(site TEXT NOT NULL COLLATE NOCASE, fn TEXT NOT NULL"
    " COLLATE NOCASE, name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(site, fn, name));"
    "CREATE TABLE web_deployments(site TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, status INTEGER NOT NULL, message TEXT NOT NULL, log TEXT NOT NULL,"
    " received_ms INTEGER NOT NULL, end_ms INTEGER, functions TEXT,"
    " PRIMARY KEY(site, id));"
    "CREATE TABLE web_timers(site TEXT NOT NULL COLLATE NOCASE, fn TEXT NOT NULL,"
    " last_ms INTEGER NOT NULL, PRIMARY KEY(site, fn));",
};

/* Newest first: what Debian's azure-mgmt-web and az 2.45 send (2022-03-01),
 * and the versions before it. */
const char *const web_api_versions[] = {
    "2022-03-01", "2021-03-01", "2021-02-01", "2021-01-15", "2021-01-01", "2020-12-01",
    "2020-10-01", "2020-09-01", "2020-06-01", "2019-08-01", "2018-11-01", "2018-02-01",
    "2016-09-01", "2016-08-01", "2016-03-01", "2015-08-01", NULL};

static const resource_type web_resource_types[] = {
    {.type = WEB_PLAN_TYPE, .api_versions = web_api_versions, .generic = &web_plan_type},
    {.type = WEB_SITE_TYPE, .api_versions = web_api_versions, .generic = &web_site_type},
    {.type = "Microsoft.Web/geoRegions", .api_versions = web_api_versions},
    {.type = "Microsoft.Web/functionAppStacks", .api_versions = web_api_versions},
    {.type = NULL},
};

const provider web_provider = {
    .name = "Microsoft.Web",
    .routes = web_routes,
    .nroutes = (int)(sizeof web_routes / sizeof web_routes[0]) - 1,
    .schema = {web_schema_scripts, (int)(sizeof web_schema_scripts / sizeof web_schema_scripts[0])},
    .resource_types = web_resource_types,
    .init = web_host_init,
    .tick = web_host_tick,
    .fini = web_host_fini,
};
