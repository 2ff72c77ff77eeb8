/* spot.c: spot prices, and evictions when a price rises above a VM's maxPrice.
 *
 * A size's spot price in a location moves on azlite's clock, the same for
 * every data dir, so that tests and learners can reason about it:
 *
 *   price(t) = payg * 0.2 * (1 + 0.25 * sin(2 * pi * t / 1 day))
 *
 * where payg is the size's pay-as-you-go Linux price (sizes.c) and t the
 * clock in seconds since the epoch: 80% off, give or take a quarter, over a
 * day.  PUT /azlite/compute/spotPrices/{location}/{size} {"price": p}
 * (admin) pins a price ({"price": null} unpins it); GET answers the price now.
 *
 * Each tick, a running Spot/Low VM whose billingProfile.maxPrice is not -1
 * and is below its price now gets a Preempt event (imds.c), and is evicted
 * at the event's NotBefore, as simulateEviction does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compute.h"
#include "internal.h"

static int spot_pinned(srv *s, const char *loc, const char *size, double *out) {
  sqlite3_stmt *st;
  int rc = -1;
  if (store_prepare(store_db(s),
                    "SELECT price FROM compute_spot_prices WHERE location=? AND size=?", -1, &st,
                    NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_text(st, 1, loc, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, size, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    *out = sqlite3_column_double(st, 0);
    rc = 0;
  }
  store_finalize(st);
  return rc;
}

double compute_spot_price(srv *s, const char *loc, const compute_size *z) {
  return compute_spot_price_at_(s, loc, z, clock_now_ms(s));
}

double compute_spot_price_at_(srv *s, const char *loc, const compute_size *z, int64_t at_ms) {
  double p;
  if (spot_pinned(s, loc, z->name, &p) == 0) return p;
  double t = (double)at_ms / 1000.0;
  p = z->price_per_hour * 0.2 * (1.0 + 0.25 * sin(2.0 * M_PI * t / 86400.0));
  return round(p * 100000.0) / 100000.0;
}

static json_t *spot_doc(srv *s, const char *loc, const compute_size *z) {
  double pinned;
  int pin = spot_pinned(s, loc, z->name, &pinned) == 0;
  return json_pack("{s:s,s:s,s:f,s:f,s:b}", "location", loc, "size", z->name, "price",
                   compute_spot_price(s, loc, z), "payAsYouGoPrice", z->price_per_hour, "pinned",
                   pin);
}

static int spot_args(http_req *r, char loc[32], const compute_size **z) {
  if (!arm_location_normalize(http_param(r, "location"), loc)) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER, "'%s' is not a location azlite knows.",
              http_param(r, "location"));
    return -1;
  }
  *z = compute_size_find(http_param(r, "size"));
  if (!*z) {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The value %s provided for the VM size is not valid.", http_param(r, "size"));
    return -1;
  }
  return 0;
}

void compute_spot_price_get(http_req *r) {
  char loc[32];
  const compute_size *z;
  if (spot_args(r, loc, &z) != 0) return;
  http_reply_json(r, 200, spot_doc(r->srv, loc, z));
}

void compute_spot_price_put(http_req *r) {
  char loc[32];
  const compute_size *z;
  if (spot_args(r, loc, &z) != 0) return;
  json_t *in = http_json_own(r, http_body_json(r));
  if (!in) return;
  json_t *p = json_object_get(in, "price");
  if (json_is_null(p)) {
    store_exec(r->srv, "DELETE FROM compute_spot_prices WHERE location=%Q AND size=%Q", loc,
               z->name);
  } else if (json_is_number(p) && json_number_value(p) >= 0) {
    char v[64];
    snprintf(v, sizeof v, "%.6f", json_number_value(p));
    store_exec(
        r->srv,
        "INSERT OR REPLACE INTO compute_spot_prices(location, size, price) VALUES(%Q, %Q, %s)", loc,
        z->name, v);
  } else {
    http_fail(r, COMPUTE_ERR_INVALID_PARAMETER,
              "The body must be {\"price\": a number >= 0 (USD an hour), or null}.");
    return;
  }
  sched_wake(r->srv);
  http_reply_json(r, 200, spot_doc(r->srv, loc, z));
}

/* The tick: Preempt for each running spot VM priced out. */
void compute_spot_tick(srv *s, int64_t now_ms) {
  sqlite3_stmt *st;
  if (store_prepare(store_db(s), "SELECT id FROM compute_vms WHERE power='running'", -1, &st,
                    NULL) != SQLITE_OK)
    return;
  json_t *ids = json_array();
  while (sqlite3_step(st) == SQLITE_ROW)
    json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
  store_finalize(st);
  size_t i;
  json_t *v;
  json_array_foreach(ids, i, v) {
    const char *id = json_string_value(v);
    json_t *body = arm_resource_get(s, id);
    json_t *p = json_object_get(body, "properties");
    const char *prio = json_string_value(json_object_get(p, "priority"));
    json_t *mp = json_object_get(json_object_get(p, "billingProfile"), "maxPrice");
    const compute_size *z = compute_size_find(
        json_string_value(json_object_get(json_object_get(p, "hardwareProfile"), "vmSize")));
    char loc[32];
    if (z && prio && (!strcasecmp(prio, "Spot") || !strcasecmp(prio, "Low")) && mp &&
        json_number_value(mp) != -1 &&
        arm_location_normalize(json_string_value(json_object_get(body, "location")), loc) &&
        compute_spot_price(s, loc, z) > json_number_value(mp)) {
      compute_imds_add_preempt(s, id, now_ms + compute_spot_notice_ms());
    }
    json_decref(body);
  }
  json_decref(ids);
}

/* ---- what cost management asks (compute.h) ---------------------------------- */

int compute_size_price(int i, const char **name, double *payg) {
  const compute_size *z = compute_size_at(i);
  if (!z) return -1;
  *name = z->name;
  *payg = z->price_per_hour;
  return 0;
}

double compute_spot_price_at(srv *s, const char *location, const char *size, int64_t at_ms) {
  const compute_size *z = compute_size_find(size);
  char loc[32];
  if (!z || !arm_location_normalize(location ? location : "eastus", loc)) return -1;
  return compute_spot_price_at_(s, loc, z, at_ms);
}
