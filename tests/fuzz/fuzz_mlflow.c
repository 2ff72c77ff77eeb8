/* fuzz_mlflow.c: the MLflow search filters a client sends in runs/search and
 * experiments/search (ml_mlflow_filter_check: the parser of mlflow.c, which
 * walks quoted keys and values, comparators and numbers).  A filter is
 * taken or refused with a reason, the same way each time, for runs and for
 * experiments. */
#include "fuzz.h"
#include "ml/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_cstr(data, size);
  for (int exps = 0; exps < 2; exps++) {
    char err[256] = "", again[256] = "";
    int rc = ml_mlflow_filter_check(s, exps, err, sizeof err);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    FUZZ_ASSERT(rc == 0 || (err[0] && memchr(err, 0, sizeof err)));
    FUZZ_ASSERT(ml_mlflow_filter_check(s, exps, again, sizeof again) == rc);
    FUZZ_ASSERT(strcmp(err, again) == 0);
  }
  free(s);
  return 0;
}
