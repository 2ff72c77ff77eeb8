/* internal.h: what the files of Microsoft.Web share.  Plans are in plans.c,
 * sites and their configuration, keys and functions in sites.c, the regions
 * and stacks catalog in catalog.c, the SCM (Kudu) site and its deployments
 * in kudu.c, the function host (workers, the front door, timers) in host.c,
 * the route table and schema in provider.c. */
#ifndef AZLITE_WEB_INTERNAL_H
#define AZLITE_WEB_INTERNAL_H

#include <jansson.h>

#include "../arm/arm.h"
#include "../arm/errors.h"
#include "../arm/resource.h"
#include "../core/core.h"
#include "errors.h"

#define WEB_PLAN_TYPE "Microsoft.Web/serverfarms"
#define WEB_SITE_TYPE "Microsoft.Web/sites"
/* Host names of a site: <app>.azurewebsites.net, <app>.scm.azurewebsites.net. */
#define WEB_HOST_SUFFIX ".azurewebsites.net"
#define WEB_SCM_SUFFIX ".scm.azurewebsites.net"

extern const provider web_provider;
extern const arm_type web_plan_type;
extern const arm_type web_site_type;
extern const char *const web_api_versions[];

/* plans.c */
/* 1 when the plan (its stored body) is Consumption (Dynamic). */
int web_plan_is_dynamic(json_t *plan);

/* sites.c: ARM actions on a site (route params rg, name). */
void web_site_appsettings_list(http_req *r);
void web_site_appsettings_put(http_req *r);
void web_site_connstrings_list(http_req *r);
void web_site_connstrings_put(http_req *r);
void web_site_config_web_get(http_req *r);
void web_site_config_web_put(http_req *r);
void web_site_slot_config_names(http_req *r);
void web_site_config_logs_get(http_req *r);
void web_site_config_logs_put(http_req *r);
void web_site_publishing_credentials(http_req *r);
void web_site_start(http_req *r);
void web_site_stop(http_req *r);
void web_site_restart(http_req *r);
void web_site_functions_list(http_req *r);
void web_site_function_get(http_req *r);
void web_site_function_keys(http_req *r);
void web_site_host_keys(http_req *r);
void web_site_function_key_put(http_req *r);
void web_site_function_key_delete(http_req *r);
void web_site_host_key_put(http_req *r);
void web_site_host_key_delete(http_req *r);
void web_site_sync_triggers(http_req *r);
void web_site_publish_xml(http_req *r);
/* The app settings of a site by name, as an object (new reference), or NULL. */
json_t *web_site_settings(srv *s, const char *app);
/* What the store knows of an app (by its name, case-insensitive). */
typedef struct web_app {
  char id[512];
  char name[64];
  char state[16];       /* "Running", "Stopped" */
  char master_key[64];  /* the host's _master key */
  char default_key[64]; /* the host's "default" function key */
  char password[80];    /* the publishing (SCM basic auth) password */
  char active_dep[40];  /* the deployment serving, "" for none */
} web_app;
int web_app_load(srv *s, const char *name, web_app *out);
/* 1 when key is one of the function's keys or the host's named function
 * keys (function-level). */
int web_function_key_ok(srv *s, const char *site_id, const char *fn, const char *key);
/* A new random key (base64, as Azure's). */
void web_key_new(char out[64]);

/* catalog.c */
void web_geo_regions(http_req *r);
void web_function_app_stacks(http_req *r);

/* kudu.c: the SCM site, <app>.scm.azurewebsites.net. */
void web_kudu_serve(http_req *r, const web_app *app);
/* The functions the app's active deployment declares (JSON array, new
 * reference; empty when none). */
json_t *web_active_functions(srv *s, const web_app *app);
/* Starts a deployment of the package at url (WEBSITE_RUN_FROM_PACKAGE: a
 * blob URL with a SAS), fetched by the app's own code path (under the
 * preload, so Azure's blob names reach azlite).  0 when started. */
int web_deploy_from_url(srv *s, const web_app *app, const char *url);
/* <data>/web/sites/<app>/deployments/<dep> (malloc'd). */
char *web_dep_dir(srv *s, const char *app, const char *dep);
/* The directory azlite's Python pieces are installed in (beside the binary). */
const char *web_python_dir(void);
/* `azlite exec`'s library beside the binary, or "" when it is not there. */
const char *web_preload_lib(void);

/* host.c: the function host, <app>.azurewebsites.net. */
void web_front(http_req *r);
void web_host_serve(http_req *r, const web_app *app);
/* Stops the app's workers (a new deployment, new settings, stop, delete). */
void web_host_recycle(srv *s, const char *app);
void web_host_tick(srv *s, int64_t now_ms);
/* The environment of the app's code (malloc'd, NULL-terminated; free with
 * web_app_env_free): its app settings, App Service's own variables, and its
 * managed identities' IDENTITY_ENDPOINT / IDENTITY_HEADER. */
char **web_app_env(srv *s, const web_app *app, const char *home, const char *root);
void web_app_env_free(char **env);
int web_host_init(srv *s);
void web_host_fini(srv *s);
/* A detached thread of the host starts (0; -1 when the host stops) and ends:
 * fini waits for every one that began. */
int web_thread_begin(srv *s);
void web_thread_end(srv *s);
/* Matches an HTTP trigger's route template ("items/{id}", "{id:int}",
 * "{name?}", "{*rest}") against the path below /api/, filling params with
 * what the {names} captured.  1 on a match. */
int web_route_match(const char *tpl, const char *path, json_t *params);
/* NCRONTAB: the first time strictly after after_ms that matches expr (six
 * fields: second minute hour day month day-of-week), or -1 (bad expression,
 * or none within a year). */
int64_t web_ncrontab_next(const char *expr, int64_t after_ms);

#endif
