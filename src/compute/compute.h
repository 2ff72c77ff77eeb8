/* compute.h: what other providers may ask of Microsoft.Compute: the prices
 * of its sizes, for cost management (src/cost/). */
#ifndef AZLITE_COMPUTE_H
#define AZLITE_COMPUTE_H

#include "../core/core.h"

/* The i-th VM size (from 0) and its pay-as-you-go Linux price per hour (USD,
 * sizes.c names the source); 0, or -1 past the last. */
int compute_size_price(int i, const char **name, double *payg);

/* The spot price per hour of size in location at at_ms of azlite's clock
 * (spot.c: a pinned price, or the day's curve); -1 for an unknown size or
 * location. */
double compute_spot_price_at(srv *s, const char *location, const char *size, int64_t at_ms);

/* Running VMs record their hours through usage_record() (core.h) with the
 * meter "Microsoft.Compute/virtualMachines/<size>/<priority>" (priority
 * Regular, Spot or Low), one event per clock hour while they run. */

#endif
