/* test_runtime.c: the sandbox runtime on this host: boot, isolation, exec,
 * spawn, sockets inside, forwards, stop and reboot with the disk kept.
 * Skips (and says why) where the host cannot make sandboxes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/runtime/runtime.h"
#include "unit.h"

static int exec_ok(rt_sandbox *sb, const char *script, const char *user, char **out) {
  rt_result r;
  if (rt_exec(sb, script, user, 10000, 1 << 20, &r) != 0) return -1;
  int code = r.exit_code;
  if (out) *out = strdup(r.out);
  if (code != 0) fprintf(stderr, "exec %s: %d: %s%s\n", script, code, r.out, r.err);
  rt_result_free(&r);
  return code;
}

static int conn_count;
static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;
/* Answers "hi\n" on each connection from inside. */
static void on_conn(void *cls, int fd) {
  (void)cls;
  pthread_mutex_lock(&conn_mu);
  conn_count++;
  pthread_mutex_unlock(&conn_mu);
  if (write(fd, "hi\n", 3) != 3) {
  }
  close(fd);
}

static int exit_code_seen = -100;
static pthread_mutex_t exit_mu = PTHREAD_MUTEX_INITIALIZER;
static void on_exit_cb(void *cls, int code) {
  (void)cls;
  pthread_mutex_lock(&exit_mu);
  exit_code_seen = code;
  pthread_mutex_unlock(&exit_mu);
}

static void test_sandbox(void) {
  char why[256];
  if (!rt_available(why, sizeof why)) {
    printf("test_runtime: skipped: %s\n", why);
    return;
  }
  char tmpl[] = "/tmp/azlite-rt-XXXXXX";
  char *base = mkdtemp(tmpl);
  CHECK(base != NULL);
  if (!base) return;
  char disk[512], disk2[512], secret[512];
  snprintf(disk, sizeof disk, "%s/disk1", base);
  snprintf(disk2, sizeof disk2, "%s/disk2", base);
  /* A directory under /var stands for a data dir: no sandbox may see it. */
  snprintf(secret, sizeof secret, "/var/tmp/azlite-rt-secret-%d", (int)getpid());
  mkdir(secret, 0700);
  rt_set_hidden_dir(secret);
  char sf[600];
  snprintf(sf, sizeof sf, "%s/key", secret);
  FILE *f = fopen(sf, "w");
  if (f) fputs("signing key\n", f), fclose(f);

  const char *env[] = {"AZLITE_TEST_ENV=yes", NULL};
  rt_spec spec = {.name = "unit-rt-1",
                  .disk_dir = disk,
                  .hostname = "vm-one",
                  .vcpus = 1,
                  .memory_mb = 512,
                  .admin_user = "azureuser",
                  .ssh_public_key =
                      "ssh-rsa AAAAB3NzaC1yc2E unit@test\nssh-ed25519 AAAAC3 second@test",
                  .gpus = 1,
                  .env = env};
  char err[512] = {0};
  rt_sandbox *sb = rt_boot(&spec, err, sizeof err);
  if (!sb) fprintf(stderr, "rt_boot: %s\n", err);
  CHECK(sb != NULL);
  if (!sb) return;
  rt_info info;
  rt_get_info(sb, &info);
  CHECK(info.init_pid > 0);
  CHECK(info.os_name[0] != 0);
  CHECK(info.gpus == 0 || access("/dev/nvidia0", F_OK) == 0);
  if (info.gpus == 0) CHECK(strstr(info.why_no_gpu, "no NVIDIA GPU") != NULL);

  char *out = NULL;
  CHECK(exec_ok(sb, "hostname", NULL, &out) == 0);
  CHECK_STR(out, "vm-one\n");
  free(out);
  /* Its own pid namespace: init is pid 1, the host's processes are not there. */
  CHECK(exec_ok(sb,
                "test \"$(cat /proc/1/cmdline | tr '\\0' ' ' | wc -c)\" -gt 0 && ls /proc | grep "
                "-c '^[0-9]'",
                NULL, &out) == 0);
  CHECK(out && atoi(out) <= 4);
  free(out);
  /* The admin user, their key, the environment. */
  CHECK(exec_ok(sb, "id -un; echo $HOME; cat ~/.ssh/authorized_keys; echo $AZLITE_TEST_ENV",
                "azureuser", &out) == 0);
  CHECK_STR(out, "azureuser\n/home/azureuser\nssh-rsa AAAAB3NzaC1yc2E unit@test\n"
                 "ssh-ed25519 AAAAC3 second@test\nyes\n");
  free(out);
  /* The data dir and the host's homes are not visible; the host's /usr is. */
  char script[1024];
  snprintf(script, sizeof script,
           "cat %s 2>/dev/null; ls /root | wc -l; test -x /usr/bin/env && echo usr", sf);
  CHECK(exec_ok(sb, script, NULL, &out) == 0);
  CHECK_STR(out, "0\nusr\n");
  free(out);
  /* The devices cgroup, where the host has one: no new block device nodes. */
  if (access("/sys/fs/cgroup/devices", F_OK) == 0) {
    rt_result d;
    CHECK(rt_exec(sb, "mknod /tmp/disk b 254 0 && head -c1 /tmp/disk", NULL, 5000, 0, &d) == 0);
    CHECK(d.exit_code != 0);
    rt_result_free(&d);
  }
  /* A write inside stays inside. */
  CHECK(exec_ok(sb, "echo installed > /usr/local/azlite-rt-test && cat /usr/local/azlite-rt-test",
                NULL, &out) == 0);
  CHECK_STR(out, "installed\n");
  free(out);
  CHECK(access("/usr/local/azlite-rt-test", F_OK) != 0);
  /* Exit codes, stderr, timeouts, truncation. */
  rt_result r;
  CHECK(rt_exec(sb, "echo out; echo err >&2; exit 3", NULL, 5000, 0, &r) == 0);
  CHECK(r.exit_code == 3);
  CHECK_STR(r.out, "out\n");
  CHECK_STR(r.err, "err\n");
  rt_result_free(&r);
  CHECK(rt_exec(sb, "sleep 5", NULL, 200, 0, &r) == 0);
  CHECK(r.timed_out == 1);
  rt_result_free(&r);
  CHECK(rt_exec(sb, "head -c 100000 /dev/zero", NULL, 5000, 1000, &r) == 0);
  CHECK(r.truncated == 1 && r.out_len == 1000);
  rt_result_free(&r);
  CHECK(rt_exec(sb, "true", "nobody-here", 5000, 0, &r) != 0);

  /* A second sandbox does not see the first's files or processes. */
  rt_spec spec2 = {.name = "unit-rt-2", .disk_dir = disk2, .hostname = "vm-two"};
  rt_sandbox *sb2 = rt_boot(&spec2, err, sizeof err);
  CHECK(sb2 != NULL);
  if (sb2) {
    CHECK(exec_ok(sb2,
                  "hostname; test -e /usr/local/azlite-rt-test && echo seen; id azureuser "
                  ">/dev/null 2>&1 && echo user; true",
                  NULL, &out) == 0);
    CHECK_STR(out, "vm-two\n");
    free(out);
    rt_stop(sb2, 500);
  }

  /* A long-running process and its exit. */
  char log[600];
  snprintf(log, sizeof log, "%s/spawn.log", base);
  int64_t id = rt_spawn(sb, "echo started; sleep 0.2; exit 7", "azureuser", NULL, log, NULL,
                        on_exit_cb, NULL);
  CHECK(id > 0);
  for (int i = 0; i < 200; i++) {
    pthread_mutex_lock(&exit_mu);
    int seen = exit_code_seen;
    pthread_mutex_unlock(&exit_mu);
    if (seen != -100) break;
    usleep(20000);
  }
  CHECK(exit_code_seen == 7);
  f = fopen(log, "r");
  char line[64] = {0};
  if (f) {
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
  }
  CHECK_STR(line, "started\n");

  /* A socket inside at the metadata address, served by the host. */
  CHECK(rt_listen_inside(sb, "169.254.169.254", 80, on_conn, NULL) == 0);
  CHECK(exec_ok(sb,
                "python3 -c \"import "
                "socket;s=socket.create_connection(('169.254.169.254',80));print(s.recv(9).decode()"
                ",end='')\"",
                NULL, &out) == 0);
  CHECK_STR(out, "hi\n");
  free(out);
  /* A host address forwarded to a port inside. */
  int64_t srv = rt_spawn(
      sb,
      "exec python3 -c \"import "
      "socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127."
      "0.0.1',2222));s.listen();c,_=s.accept();c.sendall(open('/etc/hostname').read().encode())\"",
      NULL, "/", NULL, NULL, NULL, NULL);
  CHECK(srv > 0);
  usleep(400000);
  CHECK(rt_forward_to(sb, "127.77.1.2", 22022, 2222) == 0);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(22022)};
  inet_pton(AF_INET, "127.77.1.2", &sa.sin_addr);
  char got[64] = {0};
  if (connect(c, (struct sockaddr *)&sa, sizeof sa) == 0) {
    size_t n = 0;
    ssize_t k;
    while (n < sizeof got - 1 && (k = read(c, got + n, sizeof got - 1 - n)) > 0)
      n += (size_t)k;
  }
  close(c);
  CHECK_STR(got, "vm-one\n");

  /* Stop, boot again: the disk (the user, the installed file) is kept. */
  pid_t old = info.init_pid;
  rt_stop(sb, 1000);
  CHECK(kill(old, 0) != 0);
  sb = rt_boot(&spec, err, sizeof err);
  CHECK(sb != NULL);
  if (sb) {
    CHECK(exec_ok(sb, "cat /usr/local/azlite-rt-test; id -un azureuser", NULL, &out) == 0);
    CHECK_STR(out, "installed\nazureuser\n");
    free(out);
    rt_stop(sb, 0);
  }
  CHECK(rt_disk_remove(disk) == 0);
  CHECK(rt_disk_remove(disk2) == 0);
  CHECK(access(disk, F_OK) != 0);
  rt_disk_remove(base);
  rt_disk_remove(secret);

  /* A boot that fails leaves nothing running. */
  rt_spec bad = {.name = "unit-rt-bad", .disk_dir = "/proc/azlite-no-such/disk"};
  err[0] = 0;
  CHECK(rt_boot(&bad, err, sizeof err) == NULL);
  CHECK(strstr(err, "disk") != NULL);
}

/* Sandboxes booted from several threads at once each get their own init. */
typedef struct boot_arg {
  char disk[256], name[32];
  rt_sandbox *sb;
  char err[256];
} boot_arg;

static void *boot_thread(void *p) {
  boot_arg *a = p;
  rt_spec spec = {.name = a->name, .disk_dir = a->disk, .hostname = a->name};
  a->sb = rt_boot(&spec, a->err, sizeof a->err);
  return NULL;
}

static void test_concurrent_boots(void) {
  char why[256];
  if (!rt_available(why, sizeof why)) return;
  char tmpl[] = "/tmp/azlite-rtc-XXXXXX";
  char *base = mkdtemp(tmpl);
  CHECK(base != NULL);
  if (!base) return;
  enum { N = 6 };
  boot_arg a[N];
  pthread_t t[N];
  memset(a, 0, sizeof a);
  for (int i = 0; i < N; i++) {
    snprintf(a[i].disk, sizeof a[i].disk, "%s/d%d", base, i);
    snprintf(a[i].name, sizeof a[i].name, "unit-rtc-%d", i);
    CHECK(pthread_create(&t[i], NULL, boot_thread, &a[i]) == 0);
  }
  for (int i = 0; i < N; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < N; i++) {
    if (!a[i].sb) fprintf(stderr, "boot %d: %s\n", i, a[i].err);
    CHECK(a[i].sb != NULL);
    if (!a[i].sb) continue;
    char *out = NULL;
    CHECK(exec_ok(a[i].sb, "hostname", NULL, &out) == 0);
    char want[40];
    snprintf(want, sizeof want, "%s\n", a[i].name);
    CHECK_STR(out, want);
    free(out);
  }
  for (int i = 0; i < N; i++)
    if (a[i].sb) rt_stop(a[i].sb, 0);
  rt_disk_remove(base);
}

/* Two sandboxes in one network namespace (the nodes of a cluster) reach each
 * other on loopback; a third, on its own, does not. */
static void test_shared_netns(void) {
  char why[256];
  if (!rt_available(why, sizeof why)) return;
  char tmpl[] = "/tmp/azlite-rtn-XXXXXX";
  char *base = mkdtemp(tmpl);
  CHECK(base != NULL);
  if (!base) return;
  char err[256] = "";
  int ns = rt_netns_new(err, sizeof err);
  if (ns < 0) fprintf(stderr, "rt_netns_new: %s\n", err);
  CHECK(ns >= 0);
  if (ns < 0) return;
  char d[3][512];
  rt_sandbox *sb[3];
  for (int i = 0; i < 3; i++) {
    char name[40];
    snprintf(d[i], sizeof d[i], "%s/n%d", base, i);
    snprintf(name, sizeof name, "unit-rtn-%d", i);
    rt_spec spec = {
        .name = name, .disk_dir = d[i], .hostname = name, .join_netns = i < 2, .netns_fd = ns};
    sb[i] = rt_boot(&spec, err, sizeof err);
    if (!sb[i]) fprintf(stderr, "boot %d: %s\n", i, err);
    CHECK(sb[i] != NULL);
  }
  close(ns); /* the namespace lives on in the sandboxes */
  if (sb[0] && sb[1] && sb[2]) {
    /* A listener in the first; the second connects, the third cannot. */
    CHECK(rt_spawn(sb[0],
                   "exec python3 -c 'import socket;s=socket.socket();"
                   "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                   "s.bind((\"127.0.0.1\",29517));s.listen(4)\n"
                   "while True:\n c,_=s.accept();c.sendall(b\"peer\");c.close()'",
                   NULL, NULL, NULL, NULL, NULL, NULL) > 0);
    const char *cli = "python3 -c 'import socket,time\nfor i in range(100):\n try:\n  "
                      "c=socket.create_connection((\"127.0.0.1\",29517),1);break\n except "
                      "OSError: time.sleep(0.05)\nelse: raise SystemExit(3)\n"
                      "print(c.recv(9).decode())'";
    char *out = NULL;
    CHECK(exec_ok(sb[1], cli, NULL, &out) == 0);
    CHECK_STR(out, "peer\n");
    free(out);
    rt_result r;
    CHECK(rt_exec(sb[2],
                  "python3 -c 'import socket;socket.create_connection((\"127.0.0.1\",29517),1)'",
                  NULL, 10000, 1 << 16, &r) == 0);
    CHECK(r.exit_code != 0);
    rt_result_free(&r);
  }
  for (int i = 0; i < 3; i++)
    if (sb[i]) rt_stop(sb[i], 0);
  rt_disk_remove(base);
}

UNIT_MAIN("test_runtime", test_sandbox(); test_concurrent_boots(); test_shared_netns())
