/* clock.c: azlite's one clock, and the scheduler that runs providers' ticks.
 *
 * now = wall time + offset.  The offset only grows (`azlite clock advance`)
 * and is persisted, so time-based state (lifecycle ages, rehydration, budgets)
 * stays consistent across restarts.  clock_now_ms never returns less than a
 * value it returned before, even if the wall clock steps back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "internal.h"

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int clock_init(srv *s) {
  pthread_mutex_init(&s->clock_mu, NULL);
  char *v = store_get(s, "clock.offset_ms");
  s->clock_offset_ms = v ? strtoll(v, NULL, 10) : 0;
  free(v);
  s->clock_last_ms = 0;
  return 0;
}

int64_t clock_now_ms(srv *s) {
  pthread_mutex_lock(&s->clock_mu);
  int64_t now = wall_ms() + s->clock_offset_ms;
  if (now < s->clock_last_ms) now = s->clock_last_ms;
  s->clock_last_ms = now;
  pthread_mutex_unlock(&s->clock_mu);
  return now;
}

int clock_advance(srv *s, int64_t ms) {
  if (ms < 0) return -1;
  char buf[32];
  pthread_mutex_lock(&s->clock_mu);
  /* Past year 9999 no ISO 8601 time (four-digit years) can say what time it is. */
  if (ms > CLOCK_MAX_MS - wall_ms() - s->clock_offset_ms) {
    pthread_mutex_unlock(&s->clock_mu);
    return -2;
  }
  int64_t next = s->clock_offset_ms + ms;
  snprintf(buf, sizeof buf, "%lld", (long long)next);
  int rc = store_set(s, "clock.offset_ms", buf);
  if (rc == 0) s->clock_offset_ms = next;
  pthread_mutex_unlock(&s->clock_mu);
  if (rc == 0) {
    log_info("clock: advanced by %lld ms", (long long)ms);
    sched_wake(s);
  }
  return rc;
}

/* One or more <number><unit> terms, e.g. "30d", "1.5h", "2d12h"; a bare
 * number is seconds. */
int64_t clock_parse_duration(const char *s) {
  static const struct {
    const char *unit;
    int64_t ms;
  } units[] = {{"ms", 1},      {"s", 1000},       {"m", 60000},
               {"h", 3600000}, {"d", 86400000LL}, {"w", 604800000LL}};
  if (!s || !*s) return -1;
  double total = 0;
  while (*s) {
    if (!((*s >= '0' && *s <= '9') || *s == '.')) return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0) return -1;
    s = end;
    if (!*s) {
      total += v * 1000; /* a bare number: seconds */
      break;
    }
    size_t i = 0, n = sizeof units / sizeof units[0];
    for (; i < n; i++) {
      size_t ul = strlen(units[i].unit);
      /* "m" must not swallow the "m" of "ms" */
      if (strncmp(s, units[i].unit, ul) == 0 && !(ul == 1 && s[0] == 'm' && s[1] == 's')) {
        total += v * (double)units[i].ms;
        s += ul;
        break;
      }
    }
    if (i == n) return -1;
  }
  return total > 9.2e18 ? -1 : (int64_t)total;
}

void clock_iso8601(int64_t ms, char out[40]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%07dZ", (tm.tm_year + 1900) % 10000,
           (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
           tm.tm_sec % 100, (int)((ms % 1000 + 1000) % 1000) * 10000);
}

int64_t clock_parse_iso8601(const char *s) {
  if (!s) return -1;
  struct tm tm = {0};
  int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3) return -1;
  const char *p = s + n;
  int64_t frac_ms = 0, off_min = 0;
  if (*p == 'T' || *p == ' ' || *p == 't') {
    int k = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2) return -1;
    p += 1 + k;
    if (*p == ':') {
      if (sscanf(p + 1, "%2d%n", &sec, &k) != 1) return -1;
      p += 1 + k;
    }
    if (*p == '.') {
      p++;
      int digits = 0;
      while (*p >= '0' && *p <= '9') {
        if (digits < 3) frac_ms = frac_ms * 10 + (*p - '0');
        digits++;
        p++;
      }
      for (; digits < 3; digits++)
        frac_ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      int oh, om = 0;
      int sign = *p == '-' ? -1 : 1;
      if (sscanf(p + 1, "%2d:%2d", &oh, &om) < 1) return -1;
      off_min = sign * (oh * 60 + om);
      p += strlen(p);
    }
  }
  if (*p) return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return ((int64_t)timegm(&tm) - off_min * 60) * 1000 + frac_ms;
}

/* The scheduler thread: wakes about once a second, or at once on sched_wake(). */
static void *sched_main(void *arg) {
  srv *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->sched_mu);
    if (!s->sched_wakeups && !s->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += 1;
      pthread_cond_timedwait(&s->sched_cv, &s->sched_mu, &until);
    }
    int stop = s->stopping;
    s->sched_wakeups = 0;
    uint64_t pass = ++s->sched_passes_started;
    pthread_mutex_unlock(&s->sched_mu);
    if (stop) break;
    int64_t now = clock_now_ms(s);
    for (int i = 0; providers[i]; i++)
      if (providers[i]->tick) providers[i]->tick(s, now);
    pthread_mutex_lock(&s->sched_mu);
    s->sched_passes_done = pass;
    pthread_cond_broadcast(&s->sched_done_cv);
    pthread_mutex_unlock(&s->sched_mu);
  }
  pthread_mutex_lock(&s->sched_mu);
  s->sched_passes_done = UINT64_MAX; /* nobody waits for a stopped scheduler */
  pthread_cond_broadcast(&s->sched_done_cv);
  pthread_mutex_unlock(&s->sched_mu);
  store_fini(s);
  return NULL;
}

int sched_wake_and_wait(srv *s, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->sched_mu);
  /* The next pass to start sees everything done before this call. */
  uint64_t target = s->sched_passes_started + 1;
  s->sched_wakeups++;
  pthread_cond_signal(&s->sched_cv);
  int rc = 0;
  while (s->sched_passes_done < target && rc == 0)
    rc = pthread_cond_timedwait(&s->sched_done_cv, &s->sched_mu, &until);
  int ok = s->sched_passes_done >= target;
  pthread_mutex_unlock(&s->sched_mu);
  return ok ? 0 : -1;
}

void sched_wake(srv *s) {
  pthread_mutex_lock(&s->sched_mu);
  s->sched_wakeups++;
  pthread_cond_signal(&s->sched_cv);
  pthread_mutex_unlock(&s->sched_mu);
}

int sched_start(srv *s) {
  return pthread_create(&s->sched_thread, NULL, sched_main, s) == 0 ? 0 : -1;
}

void sched_stop(srv *s) {
  pthread_mutex_lock(&s->sched_mu);
  s->stopping = 1;
  pthread_cond_signal(&s->sched_cv);
  pthread_mutex_unlock(&s->sched_mu);
  pthread_join(s->sched_thread, NULL);
}
