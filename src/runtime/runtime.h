/* runtime.h: the sandbox runtime.  A sandbox is an isolated Linux environment
 * on this machine: its own pid, mount, uts, ipc and network namespaces, its own
 * hostname, a writable root (overlays over the host's directories whose upper
 * layers are the sandbox's "disk", kept in the data dir), cgroup limits where
 * the host allows, and a tiny init (pid 1 inside) that reaps and stops it.
 * VMs, scale-set instances, ML cluster nodes, endpoint instances and function
 * workers all run on it.  It knows nothing of Azure: callers give it names,
 * directories, limits and users.
 *
 * Networking: a sandbox has only its own loopback.  What it reaches of the
 * host is what its owner gives it, as listening sockets inside the sandbox
 * whose connections are handed to a callback (rt_listen_inside: azlite serves
 * its own endpoints, and IMDS, on them), and host addresses forwarded to a
 * port inside (rt_forward_to: ssh to a VM's public address).
 *
 * Lifetime: a sandbox's processes die with azlite (PR_SET_PDEATHSIG), so a
 * kill -9 leaves nothing behind; the owner boots again at start what should
 * be running.  The disk outlives stops and restarts until rt_disk_remove.
 *
 * Thread-safety: every call may come from any thread; a handle's calls are
 * serialised inside it. */
#ifndef AZLITE_RUNTIME_H
#define AZLITE_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct rt_sandbox rt_sandbox;

/* What a sandbox is made of.  Strings are copied by rt_boot. */
typedef struct rt_spec {
  const char *name;     /* unique among live sandboxes, [A-Za-z0-9._-]; cgroup and log names */
  const char *disk_dir; /* the sandbox's disk: created on first boot, kept until rt_disk_remove */
  const char *hostname; /* uts hostname inside */
  int vcpus;            /* cgroup cpu limit in CPUs, 0: none */
  int64_t memory_mb;    /* cgroup memory limit, 0: none */
  /* The admin user, created inside on first boot (uid from 1000, home
   * /home/<user>, member of sudo where the group exists, password-less sudo
   * where sudo is installed); ssh_public_key (may be NULL; several keys one a
   * line) goes into its
   * ~/.ssh/authorized_keys.  NULL: no user. */
  const char *admin_user;
  const char *ssh_public_key;
  /* Host GPUs to pass in (device nodes /dev/nvidia*, and the driver's files
   * are the host's through the overlay).  0: none.  rt_boot writes how many it
   * passed (0 when the host has none) into rt_info.gpus. */
  int gpus;
  /* Starts sshd inside on 127.0.0.1:22 when the host has openssh-server
   * (/usr/sbin/sshd); rt_info.sshd says whether it runs. */
  int sshd;
  /* Extra environment for every process started inside ("K=V", NULL-ended). */
  const char *const *env;
  /* Host files copied in at every boot: pairs of (path inside, under /etc,
   * /usr, /var, /opt or /srv; host path), NULL-ended.  A CA bundle, say. */
  const char *const *files;
  /* join_netns: the sandbox joins the network namespace netns_fd (from
   * rt_netns_new) instead of having one of its own, so sandboxes sharing it
   * reach each other on loopback (the nodes of one cluster). */
  int join_netns;
  int netns_fd;
} rt_spec;

/* A new network namespace with its loopback up, for sandboxes to share
 * (rt_spec.join_netns): an fd the caller closes once no boot needs it (the
 * namespace lives while a sandbox is in it).  -1 with why. */
int rt_netns_new(char *err, size_t n);

/* A host directory no sandbox may see (the data dir: its signing key); a
 * tmpfs covers it inside when an overlaid directory holds it. */
void rt_set_hidden_dir(const char *dir);

/* Removes the cgroups of sandboxes that no longer run (a kill -9 of azlite
 * leaves them behind); those in use stay. */
void rt_cleanup_stale(void);

/* Can this host make sandboxes?  1, or 0 with why (what is missing: "not
 * root and no user namespaces", "overlayfs not supported", ...). */
int rt_available(char *why, size_t n);

/* Boots a sandbox (creating its disk on first boot) and returns once its init
 * runs (and sshd listens, when asked for).  NULL with err on failure, and
 * nothing left running. */
rt_sandbox *rt_boot(const rt_spec *spec, char *err, size_t n);

/* Facts about a running sandbox. */
typedef struct rt_info {
  pid_t init_pid;        /* on the host */
  int gpus;              /* GPUs passed in */
  int sshd;              /* 1 when sshd runs inside on 127.0.0.1:22 */
  char os_name[64];      /* from the sandbox's /etc/os-release: NAME */
  char os_version[64];   /* VERSION_ID */
  char why_no_sshd[128]; /* when sshd is 0 although asked for */
  char why_no_gpu[128];  /* when gpus is 0 although asked for */
} rt_info;
void rt_get_info(rt_sandbox *sb, rt_info *out);

/* Stops every process (SIGTERM, then SIGKILL after grace_ms), closes its
 * listeners and forwards, and frees the handle.  The disk stays. */
void rt_stop(rt_sandbox *sb, int grace_ms);

/* Removes a stopped sandbox's disk (rm -rf of disk_dir). 0 on success. */
int rt_disk_remove(const char *disk_dir);

/* Runs `/bin/sh -c script` inside as user (NULL: root) in the user's home,
 * with stdin from /dev/null, and waits up to timeout_ms (0: no limit; then
 * the process group is killed and exit_code is -1, timed_out 1).  Output
 * beyond max_output bytes per stream is cut (truncated 1). */
typedef struct rt_result {
  int exit_code; /* the exit status, 128+signal when killed */
  int timed_out, truncated;
  char *out, *err; /* malloc'd, NUL-terminated */
  size_t out_len, err_len;
} rt_result;
int rt_exec(rt_sandbox *sb, const char *script, const char *user, int timeout_ms, size_t max_output,
            rt_result *res);
void rt_result_free(rt_result *res);

/* Starts a long-running process inside (`/bin/sh -c script` as user, cwd dir
 * inside, or the user's home when NULL), stdout and stderr appended to the
 * host files out_path and err_path (either may be NULL: /dev/null), and
 * returns at once.  on_exit(cls, exit_code) runs on a runtime thread when it
 * ends (128+signal when killed).  Returns a handle id > 0, or -1. */
int64_t rt_spawn(rt_sandbox *sb, const char *script, const char *user, const char *dir,
                 const char *out_path, const char *err_path,
                 void (*on_exit)(void *cls, int exit_code), void *cls);
/* Sends sig to a spawned process's group; 0 when it was still running. */
int rt_kill(rt_sandbox *sb, int64_t id, int sig);

/* A listening TCP socket inside the sandbox's network namespace at addr:port
 * (e.g. "127.0.0.1":8443, "169.254.169.254":80; the address is added to the
 * sandbox's loopback when it is not there); each accepted connection's fd is
 * handed to on_conn, which owns it.  Closed by rt_stop.  0 on success. */
int rt_listen_inside(rt_sandbox *sb, const char *addr, int port, void (*on_conn)(void *cls, int fd),
                     void *cls);

/* The same in a network namespace from rt_netns_new, for every sandbox that
 * joins it (a cluster's nodes), at a loopback address (127.x): one listener
 * for the namespace, so no process inside can take a share of its
 * connections.  NULL on failure; rt_netns_unlisten closes it. */
typedef struct rt_listener rt_listener;
rt_listener *rt_netns_listen(int netns_fd, const char *addr, int port,
                             void (*on_conn)(void *cls, int fd), void *cls);
void rt_netns_unlisten(rt_listener *l);

/* Forwards connections to host_addr:host_port (e.g. "127.3.0.7":22, on the
 * host) to 127.0.0.1:inside_port inside the sandbox, bytes both ways.  Closed
 * by rt_stop.  0 on success. */
int rt_forward_to(rt_sandbox *sb, const char *host_addr, int host_port, int inside_port);

#endif
