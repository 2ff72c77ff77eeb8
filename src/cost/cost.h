/* cost.h: what the command-line tool asks of cost management (src/cli/cost.c). */
#ifndef AZLITE_COST_H
#define AZLITE_COST_H

#include <stdio.h>

#include "../core/core.h"

/* Prints this month's cost (azlite's clock) by resource group and by
 * service, and a chart of the cost per day.  0, or -1 on a store error. */
int cost_report(srv *s, FILE *out);
/* Prints the messages in the alert mailbox (<data>/mail), one a line. */
int cost_mail_report(srv *s, FILE *out);

#endif
