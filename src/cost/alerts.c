/* alerts.c: budget alerts that arrive.
 *
 * Each scheduler pass prices the new usage and evaluates every budget at the
 * clock's time: an enabled notification whose threshold (percent of the
 * amount) the actual cost, or the forecast for a Forecasted one, has crossed
 * in the budget's current period becomes one row of cost_alerts (unique per
 * budget, notification and period: sent once per threshold per period, a new
 * period starts afresh) and one delivery per recipient, in the same
 * transaction:
 *   - every contactEmails address and every email receiver of the
 *     contactGroups action groups gets an RFC 5322 message in a Maildir,
 *     <data>/mail/<address>/new/<alert time>.<alert>.<delivery>.azlite
 *     (written to tmp/ and renamed, under a name fixed by the delivery, so a
 *     crash between the two never sends it twice);
 *   - every webhook receiver of those action groups gets the POST Azure
 *     sends for budgets (schemaId "AIP Budget Notification"), from a worker
 *     thread with libcurl (5 s timeout), retried 3 times (2, 4, 8 s of the
 *     clock apart), then recorded as Failed.  Nothing here blocks a request
 *     or the scheduler on the network.
 * Microsoft.CostManagement/alerts lists the rows with their deliveries. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define BUDGET_TYPE "Microsoft.Consumption/budgets"
#define WEBHOOK_TRIES 4

static int crossed(const char *op, double value, double limit) {
  if (!strcasecmp(op, "EqualTo")) return value >= limit; /* costs only grow: reaching it */
  if (!strcasecmp(op, "GreaterThan")) return value > limit;
  return value >= limit;
}

static void date_short(int64_t ms, char out[40]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, 40, "%d/%d/%d", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900);
}

/* Azure's budget payload to webhooks (action groups), as Microsoft Learn's
 * "Manage costs with Azure Budgets" (cost-management-budget-scenario) shows
 * it: schemaId "AIP Budget Notification", every value a string. */
static json_t *webhook_payload(srv *s, json_t *b, const char *rg, double spend, double thr,
                               int64_t from) {
  json_t *p = json_object_get(b, "properties");
  char start[40], amount[32], sp[32], th[32];
  date_short(from, start);
  snprintf(amount, sizeof amount, "%g", json_number_value(json_object_get(p, "amount")));
  snprintf(sp, sizeof sp, "%.2f", spend);
  snprintf(th, sizeof th, "%g", thr / 100.0);
  return json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}}", "schemaId",
                   "AIP Budget Notification", "data", "SubscriptionName", "azlite",
                   "SubscriptionId", s->subscription_id, "SpendingAmount", sp, "BudgetStartDate",
                   start, "Budget", amount, "Unit", "USD", "BudgetCreator", "", "BudgetName",
                   json_string_value(json_object_get(b, "name")), "BudgetType", "Cost",
                   "ResourceGroup", rg, "NotificationThresholdAmount", th);
}

static void add_delivery(srv *s, const char *alert, const char *kind, const char *target,
                         const char *payload, int64_t now) {
  store_exec(s,
             "INSERT INTO cost_deliveries(alert_id, kind, target, payload, next_ms)"
             " VALUES(%Q,%Q,%Q,%Q,%lld)",
             alert, kind, target, payload, (long long)now);
}

/* One notification crossed: the alert row and its deliveries (in the caller's transaction). */
static void alert_raise(srv *s, json_t *b, const char *key, json_t *n, const char *scope,
                        int64_t from, int64_t to, double value, double amount, int64_t now) {
  const char *bid = json_string_value(json_object_get(b, "id"));
  double thr = json_number_value(json_object_get(n, "threshold"));
  const char *tt = json_string_value(json_object_get(n, "thresholdType"));
  char id[37];
  uuid_v4(id);
  char fs[40], ts[40], cs[40];
  clock_iso8601(from, fs);
  clock_iso8601(to, ts);
  clock_iso8601(now, cs);
  char rg[128];
  cost_id_group(bid, rg);
  json_t *details = json_pack(
      "{s:s,s:s,s:s,s:[],s:[],s:[],s:f,s:s,s:f,s:O,s:O,s:O,s:f,s:s,s:s}", "timeGrainType",
      json_string_value(json_object_get(json_object_get(b, "properties"), "timeGrain")),
      "periodStartDate", fs, "triggeredBy", key, "resourceGroupFilter", "resourceFilter",
      "meterFilter", "amount", amount, "unit", "USD", "currentSpend", value, "contactEmails",
      json_object_get(n, "contactEmails"), "contactGroups", json_object_get(n, "contactGroups"),
      "contactRoles", json_object_get(n, "contactRoles"), "threshold", thr / 100.0, "operator",
      json_string_value(json_object_get(n, "operator")), "periodEndDate", ts);
  char *dj = json_dumps(details, JSON_COMPACT);
  json_decref(details);
  store_exec(s,
             "INSERT OR IGNORE INTO cost_alerts(id, scope, budget_id, notification, period_start,"
             " threshold, threshold_type, spend, amount, created_ms, details)"
             " VALUES(%Q,%Q,%Q,%Q,%lld,%f,%Q,%f,%f,%lld,%Q)",
             id, scope, bid, key, (long long)from, thr, tt, value, amount, (long long)now, dj);
  free(dj);
  if (sqlite3_changes(store_db(s)) != 1) return;
  log_info("cost: budget %s crossed %g%% (%s %.2f of %.2f USD)", bid, thr, tt, value, amount);
  /* The mail. */
  char subject[512];
  snprintf(subject, sizeof subject, "Budget alert: '%s' has reached %g%% of its %s budget",
           json_string_value(json_object_get(b, "name")), thr,
           strcasecmp(tt, "Forecasted") ? "actual" : "forecasted");
  char body[2048];
  snprintf(body, sizeof body,
           "Your %s cost at scope %s has crossed %g%% of the budget '%s'.\n\n"
           "Budget amount: %.2f USD\n%s cost: %.2f USD\nThreshold: %g%% (%.2f USD)\n"
           "Period: %s to %s\nTime grain: %s\n",
           strcasecmp(tt, "Forecasted") ? "actual" : "forecasted", scope, thr,
           json_string_value(json_object_get(b, "name")), amount,
           strcasecmp(tt, "Forecasted") ? "Actual" : "Forecasted", value, thr, amount * thr / 100.0,
           fs, ts,
           json_string_value(json_object_get(json_object_get(b, "properties"), "timeGrain")));
  json_t *mail = json_pack("{s:s,s:s}", "subject", subject, "body", body);
  char *mj = json_dumps(mail, JSON_COMPACT);
  json_decref(mail);
  char *pj = NULL;
  {
    json_t *pl = webhook_payload(s, b, rg, value, thr, from);
    pj = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
  }
  size_t i;
  json_t *v;
  json_t *seen = json_object();
  json_array_foreach(json_object_get(n, "contactEmails"), i, v) {
    const char *a = json_string_value(v);
    if (a && !json_object_get(seen, a)) {
      json_object_set_new(seen, a, json_true());
      add_delivery(s, id, "email", a, mj, now);
    }
  }
  json_array_foreach(json_object_get(n, "contactGroups"), i, v) {
    json_t *ag = arm_resource_get(s, json_string_value(v));
    json_t *agp = json_object_get(ag, "properties");
    if (ag && json_is_false(json_object_get(agp, "enabled"))) {
      json_decref(ag);
      continue;
    }
    size_t j;
    json_t *rv;
    json_array_foreach(json_object_get(agp, "emailReceivers"), j, rv) {
      const char *a = json_string_value(json_object_get(rv, "emailAddress"));
      if (a && !json_object_get(seen, a)) {
        json_object_set_new(seen, a, json_true());
        add_delivery(s, id, "email", a, mj, now);
      }
    }
    json_array_foreach(json_object_get(agp, "webhookReceivers"), j, rv) {
      const char *u = json_string_value(json_object_get(rv, "serviceUri"));
      if (u) add_delivery(s, id, "webhook", u, pj, now);
    }
    json_decref(ag);
  }
  json_decref(seen);
  free(mj);
  free(pj);
}

/* ---- the Maildir ---------------------------------------------------------------- */

static int mkdirs(const char *path) {
  char *p = strdup(path);
  for (char *c = p + 1; *c; c++)
    if (*c == '/') {
      *c = 0;
      if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        free(p);
        return -1;
      }
      *c = '/';
    }
  int rc = mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
  free(p);
  return rc;
}

/* An address as a directory name: what is not a letter, digit or one of
 * @._+- becomes '_'. */
static void addr_dir(const char *a, char out[256]) {
  size_t n = 0;
  for (; *a && n < 255; a++)
    out[n++] =
        ((*a | 32) >= 'a' && (*a | 32) <= 'z') || (*a >= '0' && *a <= '9') || strchr("@._+-", *a)
            ? *a
            : '_';
  out[n] = 0;
  if (!strcmp(out, ".") || !strcmp(out, "..")) out[0] = '_';
}

static int mail_write(srv *s, int64_t did, const char *alert, const char *to, const char *mj,
                      int64_t created) {
  json_t *m = json_loads(mj, 0, NULL);
  char dir[256];
  addr_dir(to, dir);
  char *base = srv_path(s, "mail");
  char *root = NULL, *tmp = NULL, *fin = NULL, *name = NULL;
  int rc = -1;
  if (asprintf(&root, "%s/%s", base, dir) < 0) abort();
  if (asprintf(&name, "%lld.%s.%lld.azlite", (long long)(created / 1000), alert, (long long)did) <
      0)
    abort();
  char *sub[3];
  const char *subn[3] = {"tmp", "new", "cur"};
  for (int i = 0; i < 3; i++) {
    if (asprintf(&sub[i], "%s/%s", root, subn[i]) < 0) abort();
    mkdirs(sub[i]);
  }
  if (asprintf(&tmp, "%s/%s", sub[0], name) < 0 || asprintf(&fin, "%s/%s", sub[1], name) < 0)
    abort();
  char date[40];
  time_t t = (time_t)(created / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  FILE *f = fopen(tmp, "w");
  if (f) {
    fprintf(f,
            "Return-Path: <azure-noreply@microsoft.com>\r\n"
            "From: Microsoft Azure <azure-noreply@microsoft.com>\r\n"
            "To: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s.%lld@azlite.local>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\nX-Azlite-Alert: %s\r\n\r\n",
            to, json_string_value(json_object_get(m, "subject")), date, alert, (long long)did,
            alert);
    for (const char *c = json_string_value(json_object_get(m, "body")); c && *c; c++) {
      if (*c == '\n') fputc('\r', f);
      fputc(*c, f);
    }
    if (fflush(f) == 0 && fsync(fileno(f)) == 0) rc = 0;
    if (fclose(f) != 0) rc = -1;
    if (rc == 0 && rename(tmp, fin) != 0) rc = -1;
  }
  if (rc != 0) log_error("cost: could not deliver alert mail to %s: %s", fin, strerror(errno));
  for (int i = 0; i < 3; i++)
    free(sub[i]);
  free(base), free(root), free(tmp), free(fin), free(name);
  json_decref(m);
  return rc;
}

/* Writes the pending mails (scheduler thread: local files, quick). */
static void mails_deliver(srv *s) {
  sqlite3_stmt *st;
  if (store_prepare(
          store_db(s),
          "SELECT d.id, d.alert_id, d.target, d.payload, a.created_ms FROM cost_deliveries d"
          " JOIN cost_alerts a ON a.id=d.alert_id WHERE d.kind='email' AND"
          " d.status='Pending'",
          -1, &st, NULL) != SQLITE_OK)
    return;
  json_t *done = json_array();
  while (sqlite3_step(st) == SQLITE_ROW) {
    int64_t did = sqlite3_column_int64(st, 0);
    if (mail_write(s, did, (const char *)sqlite3_column_text(st, 1),
                   (const char *)sqlite3_column_text(st, 2),
                   (const char *)sqlite3_column_text(st, 3), sqlite3_column_int64(st, 4)) == 0)
      json_array_append_new(done, json_integer(did));
  }
  store_finalize(st);
  size_t i;
  json_t *v;
  int64_t now = clock_now_ms(s);
  json_array_foreach(done, i, v)
      store_exec(s,
                 "UPDATE cost_deliveries SET status='Delivered', attempts=attempts+1, done_ms=%lld"
                 " WHERE id=%lld",
                 (long long)now, (long long)json_integer_value(v));
  json_decref(done);
}

/* ---- the tick -------------------------------------------------------------------- */

void cost_alerts_tick(srv *s, int64_t now) {
  cost_usage_ingest(s);
  char sub[80];
  snprintf(sub, sizeof sub, "/subscriptions/%s", s->subscription_id);
  json_t *budgets = arm_resource_list(s, sub, BUDGET_TYPE);
  size_t i;
  json_t *b;
  int raised = 0;
  json_array_foreach(budgets, i, b) {
    int64_t from, to;
    if (cost_budget_period(b, now, &from, &to) != 0) continue;
    char *scope = cost_budget_scope(json_string_value(json_object_get(b, "id")));
    json_t *p = json_object_get(b, "properties");
    double amount = json_number_value(json_object_get(p, "amount"));
    double actual = -1, forecast = -1;
    const char *key;
    json_t *n;
    json_object_foreach(json_object_get(p, "notifications"), key, n) {
      if (!json_is_true(json_object_get(n, "enabled"))) continue;
      int fc = !strcasecmp(json_string_value(json_object_get(n, "thresholdType")), "Forecasted");
      if (!fc && actual < 0) actual = cost_sum(s, scope, from, to);
      if (fc && forecast < 0) forecast = cost_forecast_sum(s, scope, from, to, now);
      double value = fc ? forecast : actual;
      double limit = amount * json_number_value(json_object_get(n, "threshold")) / 100.0;
      if (!crossed(json_string_value(json_object_get(n, "operator")), value, limit)) continue;
      if (store_begin(s) != 0) continue;
      alert_raise(s, b, key, n, scope, from, to, value, amount, now);
      store_commit(s);
      raised = 1;
    }
    free(scope);
  }
  json_decref(budgets);
  mails_deliver(s);
  if (raised) {
    cost_state *c = cost_state_of(s);
    pthread_mutex_lock(&c->mu);
    c->wake = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
  }
}

/* ---- webhooks (the worker thread) --------------------------------------------------- */

static size_t discard(char *p, size_t sz, size_t n, void *u) {
  (void)p, (void)u;
  return sz * n;
}

/* Aborts a POST in flight when azlite stops (so shutdown never waits out a
 * receiver's timeout). */
static int webhook_progress(void *cls, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  cost_state *cs = cls;
  pthread_mutex_lock(&cs->mu);
  int stop = cs->stop;
  pthread_mutex_unlock(&cs->mu);
  return stop;
}

static long webhook_post(cost_state *cs, const char *url, const char *payload, char *err,
                         size_t errn) {
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(err, errn, "curl_easy_init failed");
    return -1;
  }
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 2L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "Azure-Notifications/1.0 (azlite)");
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, webhook_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, cs);
  long code = -1;
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  else
    snprintf(err, errn, "%s", curl_easy_strerror(rc));
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return code;
}

static void webhooks_deliver(srv *s) {
  int64_t now = clock_now_ms(s);
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT id, target, payload, attempts FROM cost_deliveries WHERE kind='webhook'"
                    " AND status='Pending' AND next_ms<=? ORDER BY id LIMIT 16",
                    -1, &st, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_int64(st, 1, now);
  json_t *due = json_array();
  while (sqlite3_step(st) == SQLITE_ROW)
    json_array_append_new(
        due, json_pack("{s:I,s:s,s:s,s:i}", "id", (json_int_t)sqlite3_column_int64(st, 0), "url",
                       sqlite3_column_text(st, 1), "payload", sqlite3_column_text(st, 2),
                       "attempts", sqlite3_column_int(st, 3)));
  store_finalize(st);
  size_t i;
  json_t *d;
  json_array_foreach(due, i, d) {
    char err[256] = "";
    long code = webhook_post(cost_state_of(s), json_string_value(json_object_get(d, "url")),
                             json_string_value(json_object_get(d, "payload")), err, sizeof err);
    int attempts = (int)json_integer_value(json_object_get(d, "attempts")) + 1;
    long long id = (long long)json_integer_value(json_object_get(d, "id"));
    int64_t t = clock_now_ms(s);
    if (code >= 200 && code < 300) {
      store_exec(s,
                 "UPDATE cost_deliveries SET status='Delivered', attempts=%d, done_ms=%lld,"
                 " last_error=NULL WHERE id=%lld",
                 attempts, (long long)t, id);
      continue;
    }
    if (code > 0) snprintf(err, sizeof err, "HTTP %ld", code);
    log_warn("cost: webhook %s: attempt %d: %s", json_string_value(json_object_get(d, "url")),
             attempts, err);
    if (attempts >= WEBHOOK_TRIES)
      store_exec(s,
                 "UPDATE cost_deliveries SET status='Failed', attempts=%d, done_ms=%lld,"
                 " last_error=%Q WHERE id=%lld",
                 attempts, (long long)t, err, id);
    else
      store_exec(s,
                 "UPDATE cost_deliveries SET attempts=%d, next_ms=%lld, last_error=%Q"
                 " WHERE id=%lld",
                 attempts, (long long)(t + (2000LL << (attempts - 1))), err, id);
  }
  json_decref(due);
}

static void *worker_main(void *arg) {
  srv *s = arg;
  cost_state *c = cost_state_of(s);
  pthread_mutex_lock(&c->mu);
  while (!c->stop) {
    c->wake = 0;
    pthread_mutex_unlock(&c->mu);
    webhooks_deliver(s);
    pthread_mutex_lock(&c->mu);
    if (c->stop || c->wake) continue;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 500000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  pthread_mutex_unlock(&c->mu);
  store_fini(s);
  return NULL;
}

int cost_worker_start(srv *s, cost_state *c) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (pthread_create(&c->worker, NULL, worker_main, s) != 0) return -1;
  c->worker_started = 1;
  return 0;
}

void cost_worker_stop(cost_state *c) {
  if (!c->worker_started) return;
  pthread_mutex_lock(&c->mu);
  c->stop = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  pthread_join(c->worker, NULL);
  c->worker_started = 0;
}

/* ---- Microsoft.CostManagement/alerts ------------------------------------------------ */

void cost_alerts_list(http_req *r) {
  srv *s = r->srv;
  const char *sub = http_param(r, "sub"), *rgp = http_param(r, "rg");
  if (arm_require_subscription(r, sub) != 0) return;
  if (rgp && arm_require_group(r, sub, rgp) != 0) return;
  char *scope = rgp ? http_printf(r, "/subscriptions/%s/resourceGroups/%s", s->subscription_id, rgp)
                    : http_printf(r, "/subscriptions/%s", s->subscription_id);
  const char *one = http_param(r, "name");
  sqlite3_stmt *st;
  if (store_prepare(store_db(s),
                    "SELECT id, scope, budget_id, notification, threshold_type, created_ms, details"
                    " FROM cost_alerts WHERE (scope=?1 OR scope LIKE ?1 || '/%') AND (?2 IS NULL"
                    " OR id=?2) ORDER BY created_ms",
                    -1, &st, NULL) != SQLITE_OK) {
    http_fail(r, COST_ERR_INTERNAL, "The alerts could not be read.");
    return;
  }
  sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, one, -1, SQLITE_STATIC);
  json_t *list = json_array();
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *bid = (const char *)sqlite3_column_text(st, 2);
    const char *tt = (const char *)sqlite3_column_text(st, 4);
    char created[40];
    clock_iso8601(sqlite3_column_int64(st, 5), created);
    json_t *details = json_loads((const char *)sqlite3_column_text(st, 6), 0, NULL);
    if (!details) details = json_object();
    /* The deliveries: who got it, and how it went. */
    json_t *dl = json_array();
    sqlite3_stmt *d;
    if (store_prepare(store_db(s),
                      "SELECT kind, target, status, attempts, last_error FROM cost_deliveries"
                      " WHERE alert_id=? ORDER BY id",
                      -1, &d, NULL) == SQLITE_OK) {
      sqlite3_bind_text(d, 1, id, -1, SQLITE_STATIC);
      while (sqlite3_step(d) == SQLITE_ROW)
        json_array_append_new(
            dl,
            json_pack("{s:s,s:s,s:s,s:i,s:s?}", "kind", sqlite3_column_text(d, 0), "target",
                      sqlite3_column_text(d, 1), "status", sqlite3_column_text(d, 2), "attempts",
                      sqlite3_column_int(d, 3), "lastError", sqlite3_column_text(d, 4)));
      store_finalize(d);
    }
    json_object_set_new(details, "deliveries", dl);
    const char *bname = strrchr(bid, '/');
    json_array_append_new(
        list, json_pack("{s:s,s:s,s:s,s:{s:{s:s,s:s,s:s},s:s,s:s,s:o,s:s,s:s,s:s,s:s}}", "id",
                        http_printf(r, "%s/providers/Microsoft.CostManagement/alerts/%s",
                                    (const char *)sqlite3_column_text(st, 1), id),
                        "name", id, "type", "Microsoft.CostManagement/alerts", "properties",
                        "definition", "type", "Budget", "category", "Cost", "criteria",
                        strcasecmp(tt, "Forecasted") ? "CostThresholdExceeded"
                                                     : "ForecastCostThresholdExceeded",
                        "description",
                        http_printf(r, "Budget %s crossed a threshold", bname ? bname + 1 : bid),
                        "source", "Preset", "details", details, "costEntityId", bid, "status",
                        "Active", "creationTime", created, "modificationTime", created));
  }
  store_finalize(st);
  if (one && json_array_size(list) == 0) {
    json_decref(list);
    http_fail(r, COST_ERR_NOT_FOUND, "The alert '%s' was not found.", one);
    return;
  }
  if (one) {
    json_t *a = json_incref(json_array_get(list, 0));
    json_decref(list);
    http_reply_json(r, 200, a);
    return;
  }
  http_reply_json(r, 200, json_pack("{s:o}", "value", list));
}

/* ---- the mailbox -------------------------------------------------------------------- */

json_t *cost_mail_messages(srv *s) {
  json_t *out = json_array();
  char *base = srv_path(s, "mail");
  DIR *d = opendir(base);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    static const char *const subs[] = {"new", "cur"};
    for (int k = 0; k < 2; k++) {
      char *dir = NULL;
      if (asprintf(&dir, "%s/%s/%s", base, e->d_name, subs[k]) < 0) abort();
      DIR *m = opendir(dir);
      struct dirent *f;
      while (m && (f = readdir(m))) {
        if (f->d_name[0] == '.') continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, f->d_name) < 0) abort();
        FILE *fp = fopen(path, "r");
        char line[1024], subject[1024] = "", date[1024] = "", to[1024] = "";
        while (fp && fgets(line, sizeof line, fp) && line[0] != '\r' && line[0] != '\n') {
          line[strcspn(line, "\r\n")] = 0;
          if (!strncasecmp(line, "Subject: ", 9)) snprintf(subject, sizeof subject, "%s", line + 9);
          if (!strncasecmp(line, "Date: ", 6)) snprintf(date, sizeof date, "%s", line + 6);
          if (!strncasecmp(line, "To: ", 4)) snprintf(to, sizeof to, "%s", line + 4);
        }
        if (fp) fclose(fp);
        json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "mailbox", e->d_name,
                                             "to", to, "folder", subs[k], "file", path, "subject",
                                             subject, "date", date));
        free(path);
      }
      if (m) closedir(m);
      free(dir);
    }
  }
  if (d) closedir(d);
  free(base);
  return out;
}

void cost_mail_list(http_req *r) {
  http_reply_json(r, 200, json_pack("{s:o}", "value", cost_mail_messages(r->srv)));
}
