/* log.c: leveled log lines to stderr, one write per line so threads don't
 * interleave.  A line identical to the previous one within a second is not
 * written again but counted, and the count is reported once the run ends: a
 * failure that repeats in a loop (libmicrohttpd's "Too many open files")
 * costs one line a second, not the disk. */
#include <pthread.h>
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

/* The last line written (without its timestamp) and the repeats of it held
 * back since; guarded by repeat_mu. */
static pthread_mutex_t repeat_mu = PTHREAD_MUTEX_INITIALIZER;
static char repeat_last[4096];
static size_t repeat_len;
static struct timeval repeat_at;
static unsigned long repeat_count;

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

static int stamp(char *out, size_t n, const struct timeval *tv, int level) {
  static const char lc[] = "EWID";
  struct tm tm;
  gmtime_r(&tv->tv_sec, &tm);
  return snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %c ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  (long)(tv->tv_usec / 1000), lc[level]);
}

static void write_all(const char *p, size_t n) {
  if (write(STDERR_FILENO, p, n) < 0) {
    /* nowhere left to report it */
  }
}

void log_vmsg(int level, const char *fmt, va_list ap) {
  if (level > log_threshold) return;
  char line[4096];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  int n = stamp(line, sizeof line, &tv, level);
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  if (m < 0) m = 0;
  size_t body = (size_t)m;
  if ((size_t)n + body > sizeof line - 2) body = sizeof line - 2 - (size_t)n;
  const char *text = line + n;
  char note[128];
  int nl = 0;
  pthread_mutex_lock(&repeat_mu);
  long since_ms = (tv.tv_sec - repeat_at.tv_sec) * 1000L + (tv.tv_usec - repeat_at.tv_usec) / 1000;
  if (body == repeat_len && memcmp(text, repeat_last, body) == 0 && since_ms < 1000) {
    repeat_count++;
    pthread_mutex_unlock(&repeat_mu);
    return;
  }
  if (repeat_count) {
    int k = stamp(note, sizeof note, &tv, LOG_WARN);
    nl = k + snprintf(note + k, sizeof note - (size_t)k,
                      "(the previous line repeated %lu more times)\n", repeat_count);
  }
  memcpy(repeat_last, text, body);
  repeat_len = body;
  repeat_at = tv;
  repeat_count = 0;
  if (nl) write_all(note, (size_t)nl);
  size_t total = (size_t)n + body;
  line[total++] = '\n';
  write_all(line, total);
  pthread_mutex_unlock(&repeat_mu);
}

void log_msg(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vmsg(level, fmt, ap);
  va_end(ap);
}
