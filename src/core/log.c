/* log.c: leveled log lines to stderr, one write per line so threads don't interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

/* The one process-wide setting besides the server context: it is read by
 * every thread and written only before the listeners start. */
static int log_threshold = LOG_INFO;

void log_set_level(int level) {
  log_threshold = level;
}

int log_level_parse(const char *s) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcasecmp(s, names[i]) == 0) return i;
  if (strcasecmp(s, "warning") == 0) return LOG_WARN;
  return -1;
}

void log_msg(int level, const char *fmt, ...) {
  if (level > log_threshold) return;
  static const char lc[] = "EWID";
  char line[4096];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %c ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, (long)(tv.tv_usec / 1000), lc[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) m = 0;
  n += m;
  if (n > (int)sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  if (write(STDERR_FILENO, line, n) < 0) {
    /* nowhere left to report it */
  }
}
