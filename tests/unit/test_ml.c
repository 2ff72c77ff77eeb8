/* test_ml.c: the ISO 8601 durations Azure ML takes (a cluster's
 * nodeIdleTimeBeforeScaleDown, a job's limits.timeout), as the SDK writes
 * them and as users do. */
#include "ml/internal.h"
#include "unit.h"

static void test_durations(void) {
  CHECK(ml_iso_duration_s("PT300S") == 300);
  CHECK(ml_iso_duration_s("PT5M") == 300);
  CHECK(ml_iso_duration_s("PT0H5M0S") == 300);
  CHECK(ml_iso_duration_s("PT2H") == 7200);
  CHECK(ml_iso_duration_s("P1DT2H") == 93600);
  CHECK(ml_iso_duration_s("P1W") == 604800);
  CHECK(ml_iso_duration_s("pt120s") == 120);
  CHECK(ml_iso_duration_s("PT1.5M") == 90);
  /* Not durations: nothing after P, units in the wrong half, bare numbers. */
  CHECK(ml_iso_duration_s(NULL) == -1);
  CHECK(ml_iso_duration_s("") == -1);
  CHECK(ml_iso_duration_s("P") == -1);
  CHECK(ml_iso_duration_s("PT") == -1);
  CHECK(ml_iso_duration_s("300") == -1);
  CHECK(ml_iso_duration_s("P5M5") == -1);
  CHECK(ml_iso_duration_s("PT5D") == -1);
  CHECK(ml_iso_duration_s("PTXS") == -1);
}

UNIT_MAIN("ml", { test_durations(); })
