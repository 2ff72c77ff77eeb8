/* runtime.c: the sandbox runtime (runtime.h).
 *
 * A sandbox's init is cloned with new mount, uts, ipc, net and pid namespaces
 * by one long-lived runtime thread (PR_SET_PDEATHSIG fires when the *thread*
 * that forked a process ends, so no request thread may be its parent).  The
 * child was forked from a threaded program: it makes only system calls, on
 * paths and strings the parent prepared (a list of rt_op), builds the root
 * (a tmpfs holding one overlay per host directory, a minimal /dev, tmpfs /tmp
 * and /run), pivots into it, mounts /proc and /sys, brings lo up, says "ok"
 * on a pipe and becomes pid 1: it reaps, and on SIGTERM from the host (never
 * from inside) passes it on to every process and exits when they are gone.
 *
 * A process inside (rt_exec, rt_spawn) is started by a middle process forked
 * from the caller: it joins the sandbox's cgroups and namespaces (setns; the
 * pid namespace applies to its children) and forks the process itself, which
 * drops the host's dangerous capabilities, takes the user's ids from the
 * sandbox's own /etc/passwd and execs /bin/sh.  The middle reports the
 * process's host pid and exits with its status.
 *
 * The host's /home and /root are never visible inside (the sandbox has its
 * own, on its disk), nor is the data dir (a tmpfs covers it when it sits under
 * an overlaid directory): root inside must not read the token signing key.
 * Devices are limited by the devices cgroup where the host has it. */
#include "runtime.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the plan the init child runs --------------------------------------- */

enum rt_op_kind { OP_MKDIR, OP_MOUNT, OP_SYMLINK, OP_MKNOD, OP_TOUCH, OP_PIVOT, OP_PROC_SYS };

typedef struct rt_op {
  enum rt_op_kind kind;
  const char *a, *b, *c, *data; /* mount: src, dst, fstype, data; symlink: target, path */
  unsigned long flags;
  mode_t mode;
  dev_t dev;
  int optional; /* a failure is not fatal (sysfs, a GPU node) */
} rt_op;

#define RT_MAX_OPS 96
#define RT_STR_MAX 16384

typedef struct rt_plan {
  rt_op ops[RT_MAX_OPS];
  int nops;
  char strs[RT_STR_MAX]; /* every string the ops point at */
  size_t used;
  char hostname[64];
  int ready_fd; /* write end of the parent's pipe */
  int netns_fd; /* a network namespace to join, -1: the sandbox's own */
  int overflow;
} rt_plan;

static const char *plan_str(rt_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *plan_str(rt_plan *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(p->strs + p->used, RT_STR_MAX - p->used, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n + 1 > RT_STR_MAX - p->used) {
    p->overflow = 1;
    return "";
  }
  const char *s = p->strs + p->used;
  p->used += (size_t)n + 1;
  return s;
}

static rt_op *plan_op(rt_plan *p, enum rt_op_kind k) {
  if (p->nops >= RT_MAX_OPS) {
    p->overflow = 1;
    static rt_op spare;
    return &spare;
  }
  rt_op *o = &p->ops[p->nops++];
  memset(o, 0, sizeof *o);
  o->kind = k;
  return o;
}

static void plan_mkdir(rt_plan *p, const char *path, mode_t mode) {
  rt_op *o = plan_op(p, OP_MKDIR);
  o->a = path;
  o->mode = mode;
}

static void plan_mount(rt_plan *p, const char *src, const char *dst, const char *type,
                       unsigned long flags, const char *data) {
  rt_op *o = plan_op(p, OP_MOUNT);
  o->a = src;
  o->b = dst;
  o->c = type;
  o->flags = flags;
  o->data = data;
}

/* ---- the init child: system calls only ---------------------------------- */

/* Writes "op N: errno E" to the ready pipe; the parent names the op. */
static void child_fail(int fd, int op, int err) {
  char buf[32];
  int n = 0;
  buf[n++] = 'E';
  int v = op * 1000 + err;
  char tmp[16];
  int t = 0;
  do {
    tmp[t++] = (char)('0' + v % 10);
    v /= 10;
  } while (v && t < 15);
  while (t)
    buf[n++] = tmp[--t];
  if (write(fd, buf, (size_t)n) < 0) _exit(2);
  _exit(1);
}

static int child_lo_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  close(fd);
  return rc;
}

/* pid 1 inside: reaps; SIGTERM from the host ends every process, then itself. */
static void child_init_loop(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  int stopping = 0;
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (stopping && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) _exit(0);
    siginfo_t si;
    if (sigwaitinfo(&set, &si) < 0) continue;
    /* si_pid is 0 for a sender outside the namespace: only the host stops it. */
    if (si.si_signo == SIGTERM && si.si_pid == 0) {
      stopping = 1;
      kill(-1, SIGTERM);
    }
  }
}

static int child_main(rt_plan *p) {
  int fd = p->ready_fd;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(fd, 999, errno);
  if (p->netns_fd >= 0 && setns(p->netns_fd, CLONE_NEWNET) != 0) child_fail(fd, 998, errno);
  prctl(PR_SET_NAME, "azlite-sandbox");
  for (int i = 0; i < p->nops; i++) {
    rt_op *o = &p->ops[i];
    int rc = 0;
    switch (o->kind) {
    case OP_MKDIR:
      rc = mkdir(o->a, o->mode);
      if (rc != 0 && errno == EEXIST) rc = 0;
      break;
    case OP_MOUNT:
      rc = mount(o->a, o->b, o->c, o->flags, o->data);
      break;
    case OP_SYMLINK:
      rc = symlink(o->a, o->b);
      if (rc != 0 && errno == EEXIST) rc = 0;
      break;
    case OP_MKNOD:
      rc = mknod(o->a, o->mode, o->dev);
      break;
    case OP_TOUCH: {
      int t = open(o->a, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      rc = t < 0 ? -1 : close(t);
      break;
    }
    case OP_PIVOT:
      rc = chdir(o->a);
      if (rc == 0) rc = (int)syscall(SYS_pivot_root, ".", ".");
      if (rc == 0) rc = umount2(".", MNT_DETACH);
      if (rc == 0) rc = chdir("/");
      break;
    case OP_PROC_SYS:
      rc = sethostname(p->hostname, strlen(p->hostname));
      if (rc == 0) rc = child_lo_up();
      break;
    }
    if (rc != 0 && !o->optional) child_fail(fd, i, errno);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  /* Everything the host had open is not the sandbox's. */
  if (write(fd, "ok", 2) != 2) _exit(1);
  syscall(SYS_close_range, 0, ~0U, 0);
  child_init_loop();
  return 0;
}

/* ---- the runtime thread that parents every init ------------------------- */

/* One request to clone an init; it lives on the requester's stack. */
typedef struct rt_clone_req {
  rt_plan *plan;
  pid_t pid; /* the result, once done */
  int done;
} rt_clone_req;

static pthread_mutex_t rt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rt_cv = PTHREAD_COND_INITIALIZER;
static rt_clone_req *rt_req; /* guarded by rt_mu: the request to serve, NULL when none */
static int rt_thread_up;     /* guarded by rt_mu */

static void *rt_parent_thread(void *arg) {
  (void)arg;
  pthread_mutex_lock(&rt_mu);
  for (;;) {
    while (!rt_req)
      pthread_cond_wait(&rt_cv, &rt_mu);
    rt_clone_req *q = rt_req;
    pid_t pid = (pid_t)syscall(SYS_clone,
                               CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                                   CLONE_NEWPID | SIGCHLD,
                               NULL, NULL, NULL, NULL);
    if (pid == 0) _exit(child_main(q->plan));
    q->pid = pid;
    q->done = 1;
    rt_req = NULL;
    pthread_cond_broadcast(&rt_cv);
  }
  return NULL;
}

static pid_t rt_clone_init(rt_plan *p) {
  rt_clone_req q = {.plan = p};
  pthread_mutex_lock(&rt_mu);
  if (!rt_thread_up) {
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, rt_parent_thread, NULL) != 0) {
      pthread_attr_destroy(&at);
      pthread_mutex_unlock(&rt_mu);
      return -1;
    }
    pthread_attr_destroy(&at);
    rt_thread_up = 1;
  }
  while (rt_req)
    pthread_cond_wait(&rt_cv, &rt_mu);
  rt_req = &q;
  pthread_cond_broadcast(&rt_cv);
  while (!q.done)
    pthread_cond_wait(&rt_cv, &rt_mu);
  pthread_mutex_unlock(&rt_mu);
  return q.pid;
}

/* ---- small host-side helpers -------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
  for (char *c = buf + 1; *c; c++) {
    if (*c != '/') continue;
    *c = 0;
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
    *c = '/';
  }
  return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

static int write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "we");
  if (!f) return -1;
  int rc = fputs(text, f) < 0 ? -1 : 0;
  if (fclose(f) != 0) rc = -1;
  return rc;
}

static char *read_text(const char *path, size_t max) {
  FILE *f = fopen(path, "re");
  if (!f) return NULL;
  char *buf = malloc(max + 1);
  size_t n = buf ? fread(buf, 1, max, f) : 0;
  fclose(f);
  if (buf) buf[n] = 0;
  return buf;
}

static int is_dir(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *state_dir_hidden; /* guarded by rt_mu: rt_set_hidden_dir */

/* ---- availability -------------------------------------------------------- */

int rt_available(char *why, size_t n) {
  if (geteuid() != 0) {
    snprintf(why, n,
             "sandboxes need root on this host (namespaces, overlayfs and cgroups); azlite runs as "
             "uid %d",
             (int)geteuid());
    return 0;
  }
  char *fs = read_text("/proc/filesystems", 65536);
  int overlay = fs && strstr(fs, "\toverlay\n");
  free(fs);
  if (!overlay) {
    snprintf(why, n, "this host's kernel has no overlayfs (not in /proc/filesystems)");
    return 0;
  }
  pid_t pid = fork();
  if (pid == 0) {
    int rc = unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID);
    _exit(rc == 0 ? 0 : (errno & 0x7f));
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    snprintf(why, n, "this host refuses new namespaces (unshare: %s)",
             pid > 0 && WIFEXITED(st) ? strerror(WEXITSTATUS(st)) : "failed");
    return 0;
  }
  return 1;
}

int rt_netns_new(char *err, size_t n) {
  int up[2], down[2]; /* child to parent: made; parent to child: opened */
  if (pipe2(up, O_CLOEXEC) != 0) {
    snprintf(err, n, "pipe: %s", strerror(errno));
    return -1;
  }
  if (pipe2(down, O_CLOEXEC) != 0) {
    snprintf(err, n, "pipe: %s", strerror(errno));
    close(up[0]);
    close(up[1]);
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(up[0]);
    close(down[1]);
    char c = 1;
    if (unshare(CLONE_NEWNET) != 0 || child_lo_up() != 0) c = 0;
    if (write(up[1], &c, 1) != 1) _exit(1);
    /* Until the parent has opened the namespace (EOF). */
    if (read(down[0], &c, 1) < 0) _exit(1);
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  char c = 0;
  int fd = -1, e = 0;
  if (pid > 0 && read(up[0], &c, 1) == 1 && c == 1) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/net", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
  }
  e = errno;
  close(up[0]);
  close(down[1]);
  if (pid > 0) waitpid(pid, NULL, 0);
  if (fd < 0) snprintf(err, n, "cannot make a network namespace: %s", strerror(e));
  return fd;
}

/* ---- the sandbox handle -------------------------------------------------- */

enum { NS_NET, NS_UTS, NS_IPC, NS_PID, NS_MNT, NS_COUNT };
static const char *const ns_names[NS_COUNT] = {"net", "uts", "ipc", "pid", "mnt"};
static const int ns_flags[NS_COUNT] = {CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID,
                                       CLONE_NEWNS};

typedef struct rt_listener {
  struct rt_listener *next;
  int fd;
  pthread_t thread;
  rt_sandbox *sb;
  int inside_port; /* forwards: the port inside; 0 for rt_listen_inside */
  void (*on_conn)(void *, int);
  void *cls;
} rt_listener;

#define RT_CGROUPS 4
struct rt_sandbox {
  pthread_mutex_t mu; /* guards listeners */
  char *name, *disk, *root_dir;
  pid_t init_pid;
  int nsfd[NS_COUNT];
  char cg_procs[RT_CGROUPS][320]; /* cgroup.procs files to join, "" when none */
  char cg_dirs[RT_CGROUPS][256];
  char **env; /* extra "K=V" from the spec */
  int nenv;
  rt_info info;
  rt_listener *listeners;
};

static const char *const cg_controllers[RT_CGROUPS] = {"memory", "cpu", "pids", "devices"};

static void cg_write(const char *dir, const char *file, const char *val) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, val, strlen(val)) < 0) {
    /* a limit the host refuses is not applied */
  }
  close(fd);
}

/* Makes the sandbox's cgroups (v1 controllers under azlite/<name>) and sets
 * its limits; a controller the host does not have is skipped. */
static void cg_setup(rt_sandbox *sb, const rt_spec *spec) {
  for (int i = 0; i < RT_CGROUPS; i++) {
    char dir[256];
    snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s", cg_controllers[i]);
    if (!is_dir(dir)) continue;
    snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s/azlite/%s", cg_controllers[i], sb->name);
    if (mkdir_p(dir, 0755) != 0) continue;
    snprintf(sb->cg_dirs[i], sizeof sb->cg_dirs[i], "%s", dir);
    snprintf(sb->cg_procs[i], sizeof sb->cg_procs[i], "%s/cgroup.procs", dir);
    char v[64];
    if (i == 0 && spec->memory_mb > 0) {
      snprintf(v, sizeof v, "%lld", (long long)spec->memory_mb * 1024 * 1024);
      cg_write(dir, "memory.limit_in_bytes", v);
    } else if (i == 1 && spec->vcpus > 0) {
      cg_write(dir, "cpu.cfs_period_us", "100000");
      snprintf(v, sizeof v, "%d", spec->vcpus * 100000);
      cg_write(dir, "cpu.cfs_quota_us", v);
    } else if (i == 2) {
      cg_write(dir, "pids.max", "4096");
    } else if (i == 3) {
      /* null zero full random urandom tty, ptys, and the GPUs passed in. */
      cg_write(dir, "devices.deny", "a");
      static const char *const allow[] = {"c 1:3 rwm",   "c 1:5 rwm",   "c 1:7 rwm", "c 1:8 rwm",
                                          "c 1:9 rwm",   "c 5:0 rwm",   "c 5:1 rwm", "c 5:2 rwm",
                                          "c 136:* rwm", "c 10:200 rwm"};
      for (size_t k = 0; k < sizeof allow / sizeof allow[0]; k++)
        cg_write(dir, "devices.allow", allow[k]);
      if (sb->info.gpus > 0) {
        cg_write(dir, "devices.allow", "c 195:* rwm");
        char *devs = read_text("/proc/devices", 65536);
        for (char *l = devs ? strstr(devs, "nvidia") : NULL; l; l = strstr(l + 1, "nvidia")) {
          char *b = l;
          while (b > devs && b[-1] != '\n')
            b--;
          snprintf(v, sizeof v, "c %d:* rwm", atoi(b));
          cg_write(dir, "devices.allow", v);
        }
        free(devs);
      }
    }
  }
}

void rt_cleanup_stale(void) {
  for (int i = 0; i < RT_CGROUPS; i++) {
    char dir[256];
    snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s/azlite", cg_controllers[i]);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.' || e->d_type != DT_DIR) continue;
      char sub[600];
      snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
      rmdir(sub); /* EBUSY while a sandbox (of any azlite) runs in it */
    }
    if (d) closedir(d);
  }
}

static void cg_remove(rt_sandbox *sb) {
  for (int i = 0; i < RT_CGROUPS; i++)
    if (sb->cg_dirs[i][0]) rmdir(sb->cg_dirs[i]);
}

/* The host directories each sandbox sees through an overlay (copy on
 * write, upper layer on its disk), and those that are symlinks at / on a
 * merged-/usr host. */
static const char *const rt_overlaid[] = {"etc",  "usr", "var",   "opt",   "srv",   "bin",
                                          "sbin", "lib", "lib32", "lib64", "libx32"};
/* The sandbox's own, empty on first boot, kept on its disk. */
static const char *const rt_own[] = {"home", "root", "mnt", "media"};

static void sandbox_free(rt_sandbox *sb) {
  if (!sb) return;
  for (int i = 0; i < NS_COUNT; i++)
    if (sb->nsfd[i] >= 0) close(sb->nsfd[i]);
  for (int i = 0; i < sb->nenv; i++)
    free(sb->env[i]);
  free(sb->env);
  free(sb->name);
  free(sb->disk);
  free(sb->root_dir);
  pthread_mutex_destroy(&sb->mu);
  free(sb);
}

static void plan_gpus(rt_plan *p, const char *root, rt_sandbox *sb, int want) {
  if (want <= 0) return;
  DIR *d = opendir("/dev");
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, "nvidia", 6) != 0) continue;
    char host[300];
    snprintf(host, sizeof host, "/dev/%s", e->d_name);
    struct stat st;
    if (stat(host, &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    rt_op *o = plan_op(p, OP_TOUCH);
    o->a = plan_str(p, "%s/dev/%s", root, e->d_name);
    o->optional = 1;
    rt_op *m = plan_op(p, OP_MOUNT);
    m->a = plan_str(p, "%s", host);
    m->b = o->a;
    m->flags = MS_BIND;
    m->optional = 1;
    if (strncmp(e->d_name, "nvidia", 6) == 0 && e->d_name[6] >= '0' && e->d_name[6] <= '9') n++;
  }
  if (d) closedir(d);
  sb->info.gpus = n < want ? n : want;
  if (n == 0)
    snprintf(sb->info.why_no_gpu, sizeof sb->info.why_no_gpu,
             "this host has no NVIDIA GPU (no /dev/nvidia0): the sandbox runs without one");
}

/* Builds what the init child does, in order. */
static void plan_build(rt_plan *p, rt_sandbox *sb, const rt_spec *spec) {
  const char *root = sb->root_dir;
  plan_mount(p, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  plan_mount(p, "azlite-root", root, "tmpfs", MS_NOSUID, "mode=755,size=64m");
  for (size_t i = 0; i < sizeof rt_overlaid / sizeof rt_overlaid[0]; i++) {
    const char *d = rt_overlaid[i];
    char host[64];
    snprintf(host, sizeof host, "/%s", d);
    struct stat st;
    if (lstat(host, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char tgt[256];
      ssize_t n = readlink(host, tgt, sizeof tgt - 1);
      if (n <= 0) continue;
      tgt[n] = 0;
      rt_op *o = plan_op(p, OP_SYMLINK);
      o->a = plan_str(p, "%s", tgt);
      o->b = plan_str(p, "%s/%s", root, d);
      continue;
    }
    if (!S_ISDIR(st.st_mode)) continue;
    const char *dst = plan_str(p, "%s/%s", root, d);
    plan_mkdir(p, dst, 0755);
    plan_mount(p, "overlay", dst, "overlay", 0,
               plan_str(p, "lowerdir=/%s,upperdir=%s/upper/%s,workdir=%s/work/%s", d, sb->disk, d,
                        sb->disk, d));
  }
  for (size_t i = 0; i < sizeof rt_own / sizeof rt_own[0]; i++) {
    const char *dst = plan_str(p, "%s/%s", root, rt_own[i]);
    plan_mkdir(p, dst, rt_own[i][0] == 'r' ? 0700 : 0755);
    plan_mount(p, plan_str(p, "%s/own/%s", sb->disk, rt_own[i]), dst, NULL, MS_BIND, NULL);
  }
  /* /dev: the usual nodes, its own ptys, shared memory. */
  const char *dev = plan_str(p, "%s/dev", root);
  plan_mkdir(p, dev, 0755);
  plan_mount(p, "azlite-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=1m");
  static const struct {
    const char *name;
    int major, minor;
  } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
               {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    rt_op *o = plan_op(p, OP_MKNOD);
    o->a = plan_str(p, "%s/%s", dev, nodes[i].name);
    o->mode = S_IFCHR | 0666;
    o->dev = makedev(nodes[i].major, nodes[i].minor);
  }
  const char *pts = plan_str(p, "%s/dev/pts", root);
  plan_mkdir(p, pts, 0755);
  plan_mount(p, "devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=620");
  static const char *const links[][2] = {{"pts/ptmx", "ptmx"},
                                         {"/proc/self/fd", "fd"},
                                         {"/proc/self/fd/0", "stdin"},
                                         {"/proc/self/fd/1", "stdout"},
                                         {"/proc/self/fd/2", "stderr"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    rt_op *o = plan_op(p, OP_SYMLINK);
    o->a = links[i][0];
    o->b = plan_str(p, "%s/%s", dev, links[i][1]);
  }
  const char *shm = plan_str(p, "%s/dev/shm", root);
  plan_mkdir(p, shm, 01777);
  plan_mount(p, "shm", shm, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  plan_gpus(p, root, sb, spec->gpus);
  const char *tmp = plan_str(p, "%s/tmp", root), *run = plan_str(p, "%s/run", root);
  plan_mkdir(p, tmp, 01777);
  plan_mount(p, "tmp", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  plan_mkdir(p, run, 0755);
  plan_mount(p, "run", run, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755");
  plan_mkdir(p, plan_str(p, "%s/proc", root), 0555);
  plan_mkdir(p, plan_str(p, "%s/sys", root), 0555);
  /* The data dir, where an overlay would show it. */
  pthread_mutex_lock(&rt_mu);
  const char *hidden = state_dir_hidden;
  pthread_mutex_unlock(&rt_mu);
  if (hidden) {
    for (size_t i = 0; i < sizeof rt_overlaid / sizeof rt_overlaid[0]; i++) {
      size_t n = strlen(rt_overlaid[i]);
      if (hidden[0] == '/' && strncmp(hidden + 1, rt_overlaid[i], n) == 0 && hidden[n + 1] == '/') {
        /* Optional: a path that is not there has nothing to hide. */
        plan_mount(p, "azlite-hidden", plan_str(p, "%s%s", root, hidden), "tmpfs", MS_RDONLY,
                   "size=4k,mode=000");
        p->ops[p->nops - 1].optional = 1;
      }
    }
  }
  rt_op *o = plan_op(p, OP_PIVOT);
  o->a = root;
  plan_mount(p, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  rt_op *sys = plan_op(p, OP_MOUNT);
  sys->a = "sysfs";
  sys->b = "/sys";
  sys->c = "sysfs";
  sys->flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  sys->optional = 1;
  plan_op(p, OP_PROC_SYS);
  snprintf(p->hostname, sizeof p->hostname, "%s", spec->hostname ? spec->hostname : spec->name);
}

/* The first boot's disk: upper and work dirs, the sandbox's own dirs, its
 * hostname and hosts files. */
static int disk_prepare(rt_sandbox *sb, const char *hostname, const char *const *files, char *err,
                        size_t n) {
  char p[4096];
  int rc = mkdir_p(sb->root_dir, 0755);
  for (size_t i = 0; rc == 0 && i < sizeof rt_overlaid / sizeof rt_overlaid[0]; i++) {
    snprintf(p, sizeof p, "%s/upper/%s", sb->disk, rt_overlaid[i]);
    rc = mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/work/%s", sb->disk, rt_overlaid[i]);
    if (rc == 0) rc = mkdir_p(p, 0755);
  }
  for (size_t i = 0; rc == 0 && i < sizeof rt_own / sizeof rt_own[0]; i++) {
    snprintf(p, sizeof p, "%s/own/%s", sb->disk, rt_own[i]);
    rc = mkdir_p(p, rt_own[i][0] == 'r' ? 0700 : 0755);
  }
  if (rc != 0) {
    snprintf(err, n, "cannot make the sandbox's disk %s: %s", sb->disk, strerror(errno));
    return -1;
  }
  for (int i = 0; files && files[i] && files[i + 1]; i += 2) {
    const char *in = files[i];
    size_t len = 0;
    char *data = NULL;
    FILE *f = fopen(files[i + 1], "re");
    if (f) {
      data = malloc(1 << 20);
      len = data ? fread(data, 1, 1 << 20, f) : 0;
      fclose(f);
    }
    snprintf(p, sizeof p, "%s/upper%s", sb->disk, in);
    char *slash = strrchr(p, '/');
    if (data && in[0] == '/' && !strstr(in, "..") && slash) {
      *slash = 0;
      mkdir_p(p, 0755);
      *slash = '/';
      FILE *o = fopen(p, "we");
      if (o) {
        fwrite(data, 1, len, o);
        fclose(o);
      }
    }
    free(data);
  }
  char text[512];
  snprintf(p, sizeof p, "%s/upper/etc/hostname", sb->disk);
  snprintf(text, sizeof text, "%s\n", hostname);
  write_text(p, text);
  snprintf(p, sizeof p, "%s/upper/etc/hosts", sb->disk);
  snprintf(text, sizeof text,
           "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
           hostname);
  write_text(p, text);
  return 0;
}

static int plan_failed_op(rt_plan *p, const char *msg, char *err, size_t n) {
  if (msg[0] != 'E') {
    snprintf(err, n, "the sandbox's init ended before it was ready");
    return -1;
  }
  int v = atoi(msg + 1), op = v / 1000, e = v % 1000;
  if (op >= 0 && op < p->nops) {
    rt_op *o = &p->ops[op];
    const char *what = o->kind == OP_MOUNT      ? "mount"
                       : o->kind == OP_MKDIR    ? "mkdir"
                       : o->kind == OP_PIVOT    ? "pivot_root"
                       : o->kind == OP_MKNOD    ? "mknod"
                       : o->kind == OP_PROC_SYS ? "hostname/lo"
                                                : "setup";
    snprintf(err, n, "sandbox setup failed: %s %s%s%s: %s", what,
             o->kind == OP_MOUNT ? o->c ? o->c : "bind" : "", o->kind == OP_MOUNT ? " on " : "",
             o->kind == OP_MOUNT ? o->b
             : o->a              ? o->a
                                 : "",
             strerror(e));
  } else {
    snprintf(err, n, "sandbox setup failed: %s", strerror(e));
  }
  return -1;
}

void rt_set_hidden_dir(const char *dir) {
  char *real = realpath(dir, NULL);
  pthread_mutex_lock(&rt_mu);
  free((char *)state_dir_hidden);
  state_dir_hidden = real;
  pthread_mutex_unlock(&rt_mu);
}

static void stop_init(pid_t pid, int grace_ms);

/* The first-boot and every-boot setup inside, as root. */
static int sandbox_setup_inside(rt_sandbox *sb, const rt_spec *spec, char *err, size_t n);

rt_sandbox *rt_boot(const rt_spec *spec, char *err, size_t n) {
  char why[256];
  if (!rt_available(why, sizeof why)) {
    snprintf(err, n, "%s", why);
    return NULL;
  }
  rt_sandbox *sb = calloc(1, sizeof *sb);
  if (!sb) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&sb->mu, NULL);
  for (int i = 0; i < NS_COUNT; i++)
    sb->nsfd[i] = -1;
  sb->name = strdup(spec->name);
  sb->disk = strdup(spec->disk_dir);
  if (asprintf(&sb->root_dir, "%s/root", spec->disk_dir) < 0) sb->root_dir = NULL;
  int nenv = 0;
  while (spec->env && spec->env[nenv])
    nenv++;
  sb->env = calloc((size_t)nenv + 1, sizeof *sb->env);
  for (int i = 0; sb->env && i < nenv; i++)
    sb->env[sb->nenv++] = strdup(spec->env[i]);
  const char *hostname = spec->hostname ? spec->hostname : spec->name;
  if (!sb->name || !sb->disk || !sb->root_dir || !sb->env ||
      disk_prepare(sb, hostname, spec->files, err, n) != 0) {
    if (!err[0]) snprintf(err, n, "out of memory");
    sandbox_free(sb);
    return NULL;
  }
  rt_plan *p = calloc(1, sizeof *p);
  int pfd[2];
  if (!p || pipe2(pfd, O_CLOEXEC) != 0) {
    snprintf(err, n, "cannot start the sandbox: %s", strerror(errno));
    free(p);
    sandbox_free(sb);
    return NULL;
  }
  plan_build(p, sb, spec);
  p->ready_fd = pfd[1];
  p->netns_fd = spec->join_netns ? spec->netns_fd : -1;
  if (p->overflow) {
    snprintf(err, n, "sandbox plan too large");
    close(pfd[0]);
    close(pfd[1]);
    free(p);
    sandbox_free(sb);
    return NULL;
  }
  cg_setup(sb, spec);
  pid_t pid = rt_clone_init(p);
  close(pfd[1]);
  if (pid < 0) {
    snprintf(err, n, "cannot clone the sandbox's init: %s", strerror(errno));
    close(pfd[0]);
    free(p);
    cg_remove(sb);
    sandbox_free(sb);
    return NULL;
  }
  sb->init_pid = pid;
  char msg[64] = {0};
  ssize_t got = 0, r;
  while (got < (ssize_t)sizeof msg - 1 &&
         (r = read(pfd[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0)
    got += r;
  close(pfd[0]);
  if (strcmp(msg, "ok") != 0) {
    plan_failed_op(p, msg, err, n);
    free(p);
    stop_init(pid, 0);
    cg_remove(sb);
    sandbox_free(sb);
    return NULL;
  }
  free(p);
  /* Another azlite's rt_cleanup_stale may remove an empty cgroup between
   * cg_setup and this: then it is made (and limited) again, once. */
  for (int tries = 0; tries < 2; tries++) {
    int missing = 0;
    for (int i = 0; i < RT_CGROUPS; i++) {
      if (!sb->cg_procs[i][0]) continue;
      char v[32];
      snprintf(v, sizeof v, "%d", (int)pid);
      int fd = open(sb->cg_procs[i], O_WRONLY | O_CLOEXEC);
      if (fd < 0) {
        missing = 1;
        continue;
      }
      if (write(fd, v, strlen(v)) < 0) missing = 1;
      close(fd);
    }
    if (!missing) break;
    if (tries == 0) cg_setup(sb, spec);
  }
  for (int i = 0; i < NS_COUNT; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, ns_names[i]);
    sb->nsfd[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (sb->nsfd[i] < 0) {
      snprintf(err, n, "cannot open the sandbox's %s namespace: %s", ns_names[i], strerror(errno));
      stop_init(pid, 0);
      cg_remove(sb);
      sandbox_free(sb);
      return NULL;
    }
  }
  sb->info.init_pid = pid;
  if (sandbox_setup_inside(sb, spec, err, n) != 0) {
    rt_stop(sb, 0);
    return NULL;
  }
  return sb;
}

/* ---- processes inside ---------------------------------------------------- */

typedef struct rt_user {
  uid_t uid;
  gid_t gid;
  gid_t groups[32];
  int ngroups;
  char home[256];
  char name[64];
} rt_user;

/* The user's ids from the sandbox's own /etc/passwd and /etc/group. */
static int user_lookup(rt_sandbox *sb, const char *user, rt_user *u) {
  memset(u, 0, sizeof *u);
  snprintf(u->name, sizeof u->name, "%s", user ? user : "root");
  snprintf(u->home, sizeof u->home, "/root");
  if (!user || strcmp(user, "root") == 0) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/root/etc/passwd", (int)sb->init_pid);
  char *pw = read_text(path, 1 << 20);
  int found = 0;
  size_t ul = strlen(user);
  for (char *l = pw; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, user, ul) != 0 || l[ul] != ':') continue;
    /* name:x:uid:gid:gecos:home:shell */
    char *f[7] = {0};
    char *c = l;
    for (int i = 0; i < 7 && c; i++) {
      f[i] = c;
      c = strpbrk(c, ":\n");
      if (c && *c == ':')
        c++;
      else
        break;
    }
    if (!f[3] || !f[5]) break;
    u->uid = (uid_t)strtoul(f[2], NULL, 10);
    u->gid = (gid_t)strtoul(f[3], NULL, 10);
    size_t hl = strcspn(f[5], ":\n");
    snprintf(u->home, sizeof u->home, "%.*s", (int)hl, f[5]);
    found = 1;
    break;
  }
  free(pw);
  if (!found) return -1;
  u->groups[u->ngroups++] = u->gid;
  snprintf(path, sizeof path, "/proc/%d/root/etc/group", (int)sb->init_pid);
  char *gr = read_text(path, 1 << 20);
  for (char *l = gr; l && *l && u->ngroups < 32;) {
    char *end = strchr(l, '\n');
    size_t len = end ? (size_t)(end - l) : strlen(l);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), l);
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL,
         *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
    if (c3) {
      for (char *m = strtok(c3 + 1, ","); m; m = strtok(NULL, ","))
        if (strcmp(m, user) == 0) u->groups[u->ngroups++] = (gid_t)strtoul(c2 + 1, NULL, 10);
    }
    l = end ? end + 1 : NULL;
  }
  free(gr);
  return 0;
}

/* The host's capabilities a process inside does not get. */
static const int rt_dropped_caps[] = {
    CAP_SYS_MODULE,      CAP_SYS_RAWIO, CAP_SYS_BOOT,   CAP_SYS_TIME,  CAP_MAC_ADMIN,
    CAP_MAC_OVERRIDE,    CAP_SYSLOG,    CAP_WAKE_ALARM, CAP_SYS_PACCT, CAP_AUDIT_CONTROL,
    CAP_LINUX_IMMUTABLE, CAP_BPF,       CAP_PERFMON};

/* Forks the middle process; returns its pid and, through *gc_pid_fd, a pipe
 * that gives the process's host pid.  stdio: fds for 0, 1, 2. */
static pid_t start_inside(rt_sandbox *sb, const char *script, const rt_user *u, const char *dir,
                          char *const envp[], int in, int out, int errfd, int *gc_pid_fd) {
  int sp[2];
  if (pipe2(sp, O_CLOEXEC) != 0) return -1;
  char *const argv[] = {"sh", "-c", (char *)script, NULL};
  const char *cwd = dir ? dir : u->home;
  pid_t mid = fork();
  if (mid < 0) {
    close(sp[0]);
    close(sp[1]);
    return -1;
  }
  if (mid == 0) {
    /* The middle: only system calls from here. */
    /* Every fd it keeps goes to 0..3+NS_COUNT: first above that range, so
     * that no dup2 overwrites one not yet moved. */
    int keep[4 + NS_COUNT] = {in, out, errfd, sp[1]};
    for (int i = 0; i < NS_COUNT; i++)
      keep[4 + i] = sb->nsfd[i];
    for (int i = 0; i < 4 + NS_COUNT; i++)
      if ((keep[i] = fcntl(keep[i], F_DUPFD, 4 + NS_COUNT)) < 0) _exit(125);
    for (int i = 0; i < 4 + NS_COUNT; i++)
      if (dup2(keep[i], i) < 0) _exit(125);
    syscall(SYS_close_range, 4 + NS_COUNT, ~0U, 0);
    for (int i = 0; i < RT_CGROUPS; i++) {
      if (!sb->cg_procs[i][0]) continue;
      int fd = open(sb->cg_procs[i], O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        if (write(fd, "0", 1) < 0) (void)0;
        close(fd);
      }
    }
    for (int i = 0; i < NS_COUNT; i++) {
      if (setns(4 + i, ns_flags[i]) != 0) _exit(125);
      close(4 + i);
    }
    pid_t gc = fork();
    if (gc < 0) _exit(125);
    if (gc == 0) {
      close(3);
      setsid();
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (size_t i = 0; i < sizeof rt_dropped_caps / sizeof rt_dropped_caps[0]; i++)
        prctl(PR_CAPBSET_DROP, rt_dropped_caps[i], 0, 0, 0);
      if (setgroups((size_t)u->ngroups, u->groups) != 0 || setgid(u->gid) != 0 ||
          setuid(u->uid) != 0)
        _exit(126);
      if (chdir(cwd) != 0 && chdir("/") != 0) _exit(126);
      execve("/bin/sh", argv, envp);
      _exit(127);
    }
    if (write(3, &gc, sizeof gc) != sizeof gc) (void)0;
    close(3);
    close(0);
    close(1);
    close(2);
    int st = 0;
    while (waitpid(gc, &st, 0) < 0 && errno == EINTR) {
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 125);
  }
  close(sp[1]);
  *gc_pid_fd = sp[0];
  return mid;
}

/* The environment of a process inside: the basics, then the spec's, then
 * extra (may be NULL).  malloc'd; envp_free. */
static char **envp_build(rt_sandbox *sb, const rt_user *u, const char *const *extra) {
  int next = 0;
  while (extra && extra[next])
    next++;
  char **e = calloc((size_t)(8 + sb->nenv + next), sizeof *e);
  if (!e) return NULL;
  int k = 0;
  e[k++] = strdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (asprintf(&e[k], "HOME=%s", u->home) >= 0) k++;
  if (asprintf(&e[k], "USER=%s", u->name) >= 0) k++;
  if (asprintf(&e[k], "LOGNAME=%s", u->name) >= 0) k++;
  e[k++] = strdup("SHELL=/bin/sh");
  e[k++] = strdup("LANG=C.UTF-8");
  for (int i = 0; i < sb->nenv; i++)
    e[k++] = strdup(sb->env[i]);
  for (int i = 0; i < next; i++)
    e[k++] = strdup(extra[i]);
  e[k] = NULL;
  return e;
}

static void envp_free(char **e) {
  for (int i = 0; e && e[i]; i++)
    free(e[i]);
  free(e);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exec_env(rt_sandbox *sb, const char *script, const char *user, const char *const *extra,
                    int timeout_ms, size_t max_output, rt_result *res) {
  memset(res, 0, sizeof *res);
  res->exit_code = -1;
  rt_user u;
  if (user_lookup(sb, user, &u) != 0) {
    errno = ESRCH;
    return -1;
  }
  char **envp = envp_build(sb, &u, extra);
  int op[2], ep[2];
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!envp || nul < 0 || pipe2(op, O_CLOEXEC) != 0) {
    envp_free(envp);
    if (nul >= 0) close(nul);
    return -1;
  }
  if (pipe2(ep, O_CLOEXEC) != 0) {
    close(op[0]);
    close(op[1]);
    close(nul);
    envp_free(envp);
    return -1;
  }
  int gcfd = -1;
  pid_t mid = start_inside(sb, script, &u, NULL, envp, nul, op[1], ep[1], &gcfd);
  close(nul);
  close(op[1]);
  close(ep[1]);
  envp_free(envp);
  if (mid < 0) {
    close(op[0]);
    close(ep[0]);
    return -1;
  }
  pid_t gc = -1;
  if (read(gcfd, &gc, sizeof gc) != sizeof gc) gc = -1;
  close(gcfd);
  size_t cap[2] = {4096, 4096}, len[2] = {0, 0};
  char *buf[2] = {malloc(cap[0]), malloc(cap[1])};
  int fds[2] = {op[0], ep[0]};
  int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
  while ((fds[0] >= 0 || fds[1] >= 0) && buf[0] && buf[1]) {
    struct pollfd pf[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    int wait = -1;
    if (deadline) {
      int64_t left = deadline - now_ms();
      if (left <= 0) {
        res->timed_out = 1;
        if (gc > 0) kill(-gc, SIGKILL), kill(gc, SIGKILL);
        break;
      }
      wait = (int)left;
    }
    if (poll(pf, 2, wait) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i] < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char chunk[8192];
      ssize_t r = read(fds[i], chunk, sizeof chunk);
      if (r <= 0) {
        close(fds[i]);
        fds[i] = -1;
        continue;
      }
      size_t keep = (size_t)r;
      if (max_output && len[i] + keep > max_output) {
        keep = len[i] < max_output ? max_output - len[i] : 0;
        res->truncated = 1;
      }
      if (len[i] + keep + 1 > cap[i]) {
        while (len[i] + keep + 1 > cap[i])
          cap[i] *= 2;
        char *nb = realloc(buf[i], cap[i]);
        if (!nb) break;
        buf[i] = nb;
      }
      memcpy(buf[i] + len[i], chunk, keep);
      len[i] += keep;
    }
  }
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0) close(fds[i]);
  int st = 0;
  while (waitpid(mid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!buf[0] || !buf[1]) {
    free(buf[0]);
    free(buf[1]);
    return -1;
  }
  buf[0][len[0]] = 0;
  buf[1][len[1]] = 0;
  res->out = buf[0];
  res->err = buf[1];
  res->out_len = len[0];
  res->err_len = len[1];
  res->exit_code = res->timed_out ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (!res->timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 125) {
    rt_result_free(res);
    errno = EIO;
    return -1;
  }
  return 0;
}

int rt_exec(rt_sandbox *sb, const char *script, const char *user, int timeout_ms, size_t max_output,
            rt_result *res) {
  return exec_env(sb, script, user, NULL, timeout_ms, max_output, res);
}

void rt_result_free(rt_result *res) {
  free(res->out);
  free(res->err);
  res->out = res->err = NULL;
}

typedef struct rt_spawned {
  pid_t mid, gc;
  void (*on_exit)(void *, int);
  void *cls;
} rt_spawned;

static void *spawn_waiter(void *arg) {
  rt_spawned *sp = arg;
  int st = 0;
  while (waitpid(sp->mid, &st, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  if (sp->on_exit) sp->on_exit(sp->cls, code);
  free(sp);
  return NULL;
}

static int open_out(const char *path) {
  return open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int64_t rt_spawn(rt_sandbox *sb, const char *script, const char *user, const char *dir,
                 const char *out_path, const char *err_path,
                 void (*on_exit)(void *cls, int exit_code), void *cls) {
  rt_user u;
  if (user_lookup(sb, user, &u) != 0) return -1;
  char **envp = envp_build(sb, &u, NULL);
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC), o = open_out(out_path), e = open_out(err_path);
  rt_spawned *sp = calloc(1, sizeof *sp);
  int64_t id = -1;
  if (envp && nul >= 0 && o >= 0 && e >= 0 && sp) {
    int gcfd = -1;
    pid_t mid = start_inside(sb, script, &u, dir, envp, nul, o, e, &gcfd);
    if (mid > 0) {
      pid_t gc = -1;
      if (read(gcfd, &gc, sizeof gc) != sizeof gc) gc = -1;
      close(gcfd);
      sp->mid = mid;
      sp->gc = gc;
      sp->on_exit = on_exit;
      sp->cls = cls;
      pthread_t t;
      pthread_attr_t at;
      pthread_attr_init(&at);
      pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
      pthread_attr_setstacksize(&at, 64 * 1024);
      if (pthread_create(&t, &at, spawn_waiter, sp) == 0) {
        id = gc > 0 ? gc : mid;
        sp = NULL;
      } else {
        kill(mid, SIGKILL);
        waitpid(mid, NULL, 0);
      }
      pthread_attr_destroy(&at);
    }
  }
  free(sp);
  envp_free(envp);
  if (nul >= 0) close(nul);
  if (o >= 0) close(o);
  if (e >= 0) close(e);
  return id;
}

int rt_kill(rt_sandbox *sb, int64_t id, int sig) {
  (void)sb;
  if (id <= 0) return -1;
  if (kill(-(pid_t)id, sig) == 0) return 0;
  return kill((pid_t)id, sig) == 0 ? 0 : -1;
}

/* ---- boot-time setup inside ---------------------------------------------- */

/* Runs as root inside on every boot; idempotent.  First boot: the host's ssh
 * host keys and password hashes are not the sandbox's. */
static const char rt_setup_script[] =
    "set -e\n"
    "if [ ! -e /etc/.azlite-firstboot ]; then\n"
    "  rm -f /etc/ssh/ssh_host_*\n"
    "  [ -w /etc/shadow ] && sed -i 's/^\\([^:]*\\):[^:]*:/\\1:*:/' /etc/shadow || true\n"
    "  : > /etc/.azlite-firstboot\n"
    "fi\n"
    "if [ -n \"$AZLITE_ADMIN\" ]; then\n"
    "  if ! id -u \"$AZLITE_ADMIN\" >/dev/null 2>&1; then\n"
    "    useradd -m -U -s /bin/bash \"$AZLITE_ADMIN\"\n"
    "    getent group sudo >/dev/null && usermod -aG sudo \"$AZLITE_ADMIN\" || true\n"
    "    if [ -d /etc/sudoers.d ]; then\n"
    "      echo \"$AZLITE_ADMIN ALL=(ALL) NOPASSWD:ALL\" > /etc/sudoers.d/90-azlite-admin\n"
    "      chmod 440 /etc/sudoers.d/90-azlite-admin\n"
    "    fi\n"
    "  fi\n"
    "  if [ -n \"$AZLITE_SSH_KEY\" ]; then\n"
    "    h=$(getent passwd \"$AZLITE_ADMIN\" | cut -d: -f6)\n"
    "    mkdir -p \"$h/.ssh\"\n"
    "    printf '%s\\n' \"$AZLITE_SSH_KEY\" | while IFS= read -r k; do\n"
    "      [ -z \"$k\" ] || grep -qxF \"$k\" \"$h/.ssh/authorized_keys\" 2>/dev/null ||"
    " printf '%s\\n' \"$k\" >> \"$h/.ssh/authorized_keys\"\n"
    "    done\n"
    "    chmod 700 \"$h/.ssh\"; chmod 600 \"$h/.ssh/authorized_keys\"\n"
    "    chown -R \"$AZLITE_ADMIN:\" \"$h/.ssh\"\n"
    "  fi\n"
    "fi\n"
    "if [ -n \"$AZLITE_SSHD\" ]; then\n"
    /* ed25519 and ecdsa host keys only: an RSA one takes most of a boot. */
    "  for t in ed25519 ecdsa; do\n"
    "    [ -e /etc/ssh/ssh_host_${t}_key ] ||"
    " ssh-keygen -q -t $t -N '' -f /etc/ssh/ssh_host_${t}_key\n"
    "  done\n"
    "  mkdir -p /run/sshd; chmod 755 /run/sshd\n"
    "fi\n";

static int sandbox_setup_inside(rt_sandbox *sb, const rt_spec *spec, char *err, size_t n) {
  int sshd = spec->sshd && access("/usr/sbin/sshd", X_OK) == 0;
  if (spec->sshd && !sshd)
    snprintf(
        sb->info.why_no_sshd, sizeof sb->info.why_no_sshd,
        "this host has no openssh-server (/usr/sbin/sshd): ssh into the sandbox is not available");
  char *admin = NULL, *key = NULL;
  if (spec->admin_user && asprintf(&admin, "AZLITE_ADMIN=%s", spec->admin_user) < 0) admin = NULL;
  if (spec->ssh_public_key && asprintf(&key, "AZLITE_SSH_KEY=%s", spec->ssh_public_key) < 0)
    key = NULL;
  const char *extra[4] = {0};
  int k = 0;
  if (admin) extra[k++] = admin;
  if (key) extra[k++] = key;
  if (sshd) extra[k++] = "AZLITE_SSHD=1";
  rt_result res;
  int rc = exec_env(sb, rt_setup_script, NULL, extra, 60000, 8192, &res);
  free(admin);
  free(key);
  if (rc != 0) {
    snprintf(err, n, "cannot run the sandbox's setup: %s", strerror(errno));
    return -1;
  }
  if (res.exit_code != 0) {
    snprintf(err, n, "the sandbox's setup failed (exit %d): %.300s", res.exit_code,
             res.err_len ? res.err : res.out);
    rt_result_free(&res);
    return -1;
  }
  rt_result_free(&res);
  if (sshd) {
    if (rt_spawn(sb,
                 "exec /usr/sbin/sshd -D -e -o ListenAddress=127.0.0.1 -o UseDNS=no"
                 " -o HostKey=/etc/ssh/ssh_host_ed25519_key -o HostKey=/etc/ssh/ssh_host_ecdsa_key",
                 NULL, "/", NULL, NULL, NULL, NULL) > 0) {
      /* Returns once it listens on 127.0.0.1:22 (0100007F:0016, state 0A)
       * in the sandbox's network namespace, as init's /proc/net/tcp shows. */
      char tcp[64];
      snprintf(tcp, sizeof tcp, "/proc/%d/net/tcp", (int)sb->init_pid);
      for (int i = 0; i < 250 && !sb->info.sshd; i++) {
        char *t = read_text(tcp, 1 << 20);
        if (t && strstr(t, "0100007F:0016 00000000:0000 0A")) sb->info.sshd = 1;
        free(t);
        if (!sb->info.sshd) usleep(20000);
      }
    }
    if (!sb->info.sshd)
      snprintf(sb->info.why_no_sshd, sizeof sb->info.why_no_sshd, "sshd did not start inside");
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/root/etc/os-release", (int)sb->init_pid);
  char *osr = read_text(path, 65536);
  for (char *l = osr; l && *l;) {
    char *end = strchr(l, '\n');
    if (end) *end = 0;
    char *dst = NULL;
    size_t cap = 0;
    if (strncmp(l, "NAME=", 5) == 0)
      dst = sb->info.os_name, cap = sizeof sb->info.os_name, l += 5;
    else if (strncmp(l, "VERSION_ID=", 11) == 0)
      dst = sb->info.os_version, cap = sizeof sb->info.os_version, l += 11;
    if (dst) {
      size_t len = strlen(l);
      if (len >= 2 && l[0] == '"' && l[len - 1] == '"') l++, len -= 2;
      snprintf(dst, cap, "%.*s", (int)len, l);
    }
    l = end ? end + 1 : NULL;
  }
  free(osr);
  return 0;
}

void rt_get_info(rt_sandbox *sb, rt_info *out) {
  *out = sb->info;
}

/* ---- sockets inside ------------------------------------------------------ */

static int host_netns = -1; /* guarded by rt_mu */

/* A socket made in the sandbox's network namespace (by this thread, which
 * goes back to the host's at once). */
/* A socket made in the network namespace ns (this thread enters it and
 * comes back). */
static int socket_in_netns(int ns, int domain, int type, int proto) {
  pthread_mutex_lock(&rt_mu);
  if (host_netns < 0) host_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int host = host_netns;
  pthread_mutex_unlock(&rt_mu);
  if (host < 0 || setns(ns, CLONE_NEWNET) != 0) return -1;
  int fd = socket(domain, type | SOCK_CLOEXEC, proto);
  int e = errno;
  if (setns(host, CLONE_NEWNET) != 0) {
    /* This thread cannot serve the host any more: never happens to root. */
    abort();
  }
  errno = e;
  return fd;
}

static int socket_inside(rt_sandbox *sb, int domain, int type, int proto) {
  return socket_in_netns(sb->nsfd[NS_NET], domain, type, proto);
}

/* Adds addr/32 to the sandbox's lo (EEXIST is fine). */
static int addr_add_inside(rt_sandbox *sb, struct in_addr a) {
  int fd = socket_inside(sb, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct {
    struct nlmsghdr nh;
    struct ifaddrmsg ifa;
    char attrs[64];
  } req;
  memset(&req, 0, sizeof req);
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
  req.nh.nlmsg_type = RTM_NEWADDR;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  req.nh.nlmsg_seq = 1;
  req.ifa.ifa_family = AF_INET;
  req.ifa.ifa_prefixlen = 32;
  req.ifa.ifa_scope = RT_SCOPE_HOST;
  req.ifa.ifa_index = 1; /* lo is the only link of a new namespace */
  for (int t = 0; t < 2; t++) {
    struct rtattr *ra = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
    ra->rta_type = t == 0 ? IFA_LOCAL : IFA_ADDRESS;
    ra->rta_len = RTA_LENGTH(sizeof a);
    memcpy(RTA_DATA(ra), &a, sizeof a);
    req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(ra->rta_len);
  }
  int rc = -1;
  if (send(fd, &req, req.nh.nlmsg_len, 0) == (ssize_t)req.nh.nlmsg_len) {
    char buf[512];
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (r >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && h->nlmsg_type == NLMSG_ERROR) {
      int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      rc = e == 0 || e == -EEXIST ? 0 : -1;
    }
  }
  close(fd);
  return rc;
}

static int listen_on(int fd, struct in_addr a, int port) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = a};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) return -1;
  return 0;
}

typedef struct rt_pipe_pair {
  int a, b;
} rt_pipe_pair;

static void *relay_thread(void *arg) {
  rt_pipe_pair *pp = arg;
  int a = pp->a, b = pp->b;
  free(pp);
  char buf[16384];
  int open_a = 1, open_b = 1;
  while (open_a || open_b) {
    struct pollfd pf[2] = {{.fd = open_a ? a : -1, .events = POLLIN},
                           {.fd = open_b ? b : -1, .events = POLLIN}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int from = i == 0 ? a : b, to = i == 0 ? b : a;
      ssize_t r = read(from, buf, sizeof buf);
      if (r <= 0) {
        shutdown(to, SHUT_WR);
        if (i == 0)
          open_a = 0;
        else
          open_b = 0;
        continue;
      }
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(to, buf + off, (size_t)(r - off));
        if (w <= 0) {
          open_a = open_b = 0;
          break;
        }
        off += w;
      }
    }
  }
  close(a);
  close(b);
  return NULL;
}

static int start_detached(void *(*fn)(void *), void *arg) {
  pthread_t t;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&at, 128 * 1024);
  int rc = pthread_create(&t, &at, fn, arg);
  pthread_attr_destroy(&at);
  return rc;
}

static void *accept_thread(void *arg) {
  rt_listener *l = arg;
  for (;;) {
    int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) usleep(10000);
        continue;
      }
      break; /* shut down by rt_stop */
    }
    if (!l->inside_port) {
      l->on_conn(l->cls, c);
      continue;
    }
    int in = socket_inside(l->sb, AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->inside_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rt_pipe_pair *pp = in >= 0 ? malloc(sizeof *pp) : NULL;
    if (!pp || connect(in, (struct sockaddr *)&sa, sizeof sa) != 0) {
      free(pp);
      if (in >= 0) close(in);
      close(c);
      continue;
    }
    pp->a = c;
    pp->b = in;
    if (start_detached(relay_thread, pp) != 0) {
      free(pp);
      close(c);
      close(in);
    }
  }
  return NULL;
}

/* A listener on fd (owned from here: closed on failure) with its accept
 * thread; NULL on failure. */
static rt_listener *listener_start(rt_sandbox *sb, int fd, int inside_port,
                                   void (*on_conn)(void *, int), void *cls) {
  rt_listener *l = calloc(1, sizeof *l);
  if (!l) {
    close(fd);
    return NULL;
  }
  l->fd = fd;
  l->sb = sb;
  l->inside_port = inside_port;
  l->on_conn = on_conn;
  l->cls = cls;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 128 * 1024);
  int rc = pthread_create(&l->thread, &at, accept_thread, l);
  pthread_attr_destroy(&at);
  if (rc != 0) {
    close(fd);
    free(l);
    return NULL;
  }
  return l;
}

static int listener_add(rt_sandbox *sb, int fd, int inside_port, void (*on_conn)(void *, int),
                        void *cls) {
  rt_listener *l = listener_start(sb, fd, inside_port, on_conn, cls);
  if (!l) return -1;
  pthread_mutex_lock(&sb->mu);
  l->next = sb->listeners;
  sb->listeners = l;
  pthread_mutex_unlock(&sb->mu);
  return 0;
}

int rt_listen_inside(rt_sandbox *sb, const char *addr, int port, void (*on_conn)(void *cls, int fd),
                     void *cls) {
  struct in_addr a;
  if (inet_pton(AF_INET, addr, &a) != 1) return -1;
  if ((ntohl(a.s_addr) >> 24) != 127 && addr_add_inside(sb, a) != 0) return -1;
  int fd = socket_inside(sb, AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (listen_on(fd, a, port) != 0) {
    close(fd);
    return -1;
  }
  return listener_add(sb, fd, 0, on_conn, cls);
}

rt_listener *rt_netns_listen(int netns_fd, const char *addr, int port,
                             void (*on_conn)(void *cls, int fd), void *cls) {
  struct in_addr a;
  if (inet_pton(AF_INET, addr, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) return NULL;
  int fd = socket_in_netns(netns_fd, AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return NULL;
  if (listen_on(fd, a, port) != 0) {
    close(fd);
    return NULL;
  }
  return listener_start(NULL, fd, 0, on_conn, cls);
}

void rt_netns_unlisten(rt_listener *l) {
  if (!l) return;
  shutdown(l->fd, SHUT_RDWR);
  pthread_join(l->thread, NULL);
  close(l->fd);
  free(l);
}

int rt_forward_to(rt_sandbox *sb, const char *host_addr, int host_port, int inside_port) {
  struct in_addr a;
  if (inet_pton(AF_INET, host_addr, &a) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (listen_on(fd, a, host_port) != 0) {
    close(fd);
    return -1;
  }
  return listener_add(sb, fd, inside_port, NULL, NULL);
}

/* ---- stopping ------------------------------------------------------------ */

static void stop_init(pid_t pid, int grace_ms) {
  if (pid <= 0) return;
  if (grace_ms > 0) {
    kill(pid, SIGTERM);
    int64_t end = now_ms() + grace_ms;
    while (now_ms() < end) {
      pid_t r = waitpid(pid, NULL, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) return;
      usleep(5000);
    }
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
}

void rt_stop(rt_sandbox *sb, int grace_ms) {
  if (!sb) return;
  pthread_mutex_lock(&sb->mu);
  rt_listener *ls = sb->listeners;
  sb->listeners = NULL;
  pthread_mutex_unlock(&sb->mu);
  while (ls) {
    rt_listener *next = ls->next;
    shutdown(ls->fd, SHUT_RDWR);
    pthread_join(ls->thread, NULL);
    close(ls->fd);
    free(ls);
    ls = next;
  }
  stop_init(sb->init_pid, grace_ms);
  /* The root's mounts lived in the sandbox's mount namespace: nothing to
   * unmount on the host. */
  cg_remove(sb);
  sandbox_free(sb);
}

static int rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlink(path);
  DIR *d = opendir(path);
  if (!d) return -1;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char *c = NULL;
    if (asprintf(&c, "%s/%s", path, e->d_name) < 0) {
      rc = -1;
      break;
    }
    if (rm_rf(c) != 0) rc = -1;
    free(c);
  }
  closedir(d);
  if (rmdir(path) != 0) rc = -1;
  return rc;
}

int rt_disk_remove(const char *disk_dir) {
  return rm_rf(disk_dir);
}
