/* exec.c: `azlite exec [--] COMMAND [ARGS...]` runs a command written for Azure,
 * unchanged, against azlite ("transparent mode").  It preloads
 * libazlite_preload.so (src/preload/, installed beside the binary), which
 * answers Azure's host names with azlite's listeners and refuses the Azure
 * names azlite does not serve, sets the environment of `azlite env` (with the
 * real tenant id and the default authority), and a CA bundle of the system's
 * CAs plus azlite's, then execs the command. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../arm/arm.h"
#include "../core/azure_hosts.h"
#include "../identity/identity.h"
#include "cli.h"

#define EXEC_ADDR "127.77.77.77"

/* ---- the environment, recorded for the next exec ------------------------------
 *
 * What exec sets depends on the server only (its endpoints, keys and CA),
 * and reading it costs opening the store.  So the first exec against a
 * server records each change it makes to the environment in
 * <data>/exec/env (0600), and later ones replay that file while the same
 * server runs: the same pid holds serve.lock and endpoints.json, which each
 * start rewrites, is the same file.  Lines: "K=V" set, "?K=V" set unless
 * set, "-K" unset. */

static FILE *exec_rec; /* the record being written, or NULL */

static void xset(const char *k, const char *v) {
  setenv(k, v, 1);
  if (exec_rec) fprintf(exec_rec, "%s=%s\n", k, v);
}

static void xset_default(const char *k, const char *v) {
  if (!getenv(k)) setenv(k, v, 1);
  if (exec_rec) fprintf(exec_rec, "?%s=%s\n", k, v);
}

static void xunset(const char *k) {
  unsetenv(k);
  if (exec_rec) fprintf(exec_rec, "-%s\n", k);
}

/* The header naming the server a record is valid for, into out; -1 when
 * no server runs. */
static int exec_rec_stamp(const char *data_dir, char *out, size_t cap) {
  pid_t pid = cli_server_pid(data_dir);
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/endpoints.json", data_dir);
  if (pid <= 0 || stat(path, &st) != 0) return -1;
  snprintf(out, cap, "azlite-exec-env 1 %d %llu %lld.%09ld %lld\n", (int)pid,
           (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
           (long long)st.st_size);
  return 0;
}

/* Replays <data>/exec/env if it was recorded for the server running now. */
static int exec_rec_replay(const char *data_dir) {
  char path[PATH_MAX], want[256], line[8192];
  snprintf(path, sizeof path, "%s/exec/env", data_dir);
  if (exec_rec_stamp(data_dir, want, sizeof want) != 0) return -1;
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int ok = fgets(line, sizeof line, f) && strcmp(line, want) == 0;
  while (ok && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *k = line + (line[0] == '?' || line[0] == '-');
    char *eq = strchr(k, '=');
    if (line[0] == '-') {
      unsetenv(k);
      continue;
    }
    if (!eq) continue;
    *eq = 0;
    if (line[0] != '?' || !getenv(k)) setenv(k, eq + 1, 1);
  }
  fclose(f);
  /* The bundle it names must still be there. */
  const char *b = getenv("REQUESTS_CA_BUNDLE");
  return ok && b && access(b, R_OK) == 0 ? 0 : -1;
}

/* Applies `export K=V` lines (V bare or in single quotes) to the environment. */
static void apply_exports(char *text) {
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "export ", 7) != 0) continue;
    char *k = line + 7, *eq = strchr(k, '=');
    if (!eq) continue;
    *eq = 0;
    char *v = eq + 1;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '\'' && v[n - 1] == '\'') {
      v[n - 1] = 0;
      v++;
    }
    xset(k, v);
  }
}

/* The value of KEY= in a connection string, into out; "" when absent. */
static void cs_get(const char *cs, const char *key, char *out, size_t cap) {
  size_t k = strlen(key);
  out[0] = 0;
  for (const char *p = cs; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL)
    if (strncasecmp(p, key, k) == 0 && p[k] == '=') {
      snprintf(out, cap, "%.*s", (int)strcspn(p + k + 1, ";"), p + k + 1);
      return;
    }
}

/* AZURE_STORAGE_CONNECTION_STRING (azlite env's, path style on 127.0.0.1)
 * rewritten to the account's Azure form: https://<account>.blob.core.windows.net. */
static void exec_azure_connection_string(void) {
  const char *cs = getenv("AZURE_STORAGE_CONNECTION_STRING");
  char name[128], key[256];
  if (!cs) return;
  cs_get(cs, "AccountName", name, sizeof name);
  cs_get(cs, "AccountKey", key, sizeof key);
  if (!name[0] || !key[0]) return;
  char out[512];
  snprintf(
      out, sizeof out,
      "DefaultEndpointsProtocol=https;AccountName=%s;AccountKey=%s;EndpointSuffix=core.windows.net",
      name, key);
  setenv("AZURE_STORAGE_CONNECTION_STRING", out, 1);
}

static int append_file(FILE *out, const char *path) {
  FILE *in = fopen(path, "r");
  if (!in) return -1;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    fwrite(buf, 1, n, out);
  fclose(in);
  fputc('\n', out);
  return 0;
}

/* <data>/pki/exec-ca-bundle.pem: the system's CAs and azlite's, so HTTPS to
 * everyone else keeps working under exec. */
static char *write_ca_bundle(srv *s) {
  static const char *const system_cas[] = {"/etc/ssl/certs/ca-certificates.crt",
                                           "/etc/pki/tls/certs/ca-bundle.crt",
                                           "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem", NULL};
  char *path = srv_path(s, "pki/exec-ca-bundle.pem"), *ca = srv_path(s, "pki/ca.pem");
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  FILE *f = fopen(tmp, "w");
  int ok = f != NULL;
  if (f) {
    for (int i = 0; system_cas[i]; i++)
      if (append_file(f, system_cas[i]) == 0) break;
    ok = append_file(f, ca) == 0;
    ok = fclose(f) == 0 && ok;
  }
  if (ok) ok = rename(tmp, path) == 0;
  if (!ok) {
    unlink(tmp);
    fprintf(stderr, "%s exec: cannot write %s: %s\n", cli_prog, path, strerror(errno));
    free(path);
    path = NULL;
  }
  free(ca);
  return path;
}

/* Whether the file that execvp would run is an ELF without an interpreter
 * (statically linked): the preloaded library cannot reach it. */
static int is_static_elf(const char *cmd) {
  char path[PATH_MAX];
  if (strchr(cmd, '/')) {
    snprintf(path, sizeof path, "%s", cmd);
  } else {
    const char *p = getenv("PATH");
    int found = 0;
    while (p && *p && !found) {
      const char *e = strchr(p, ':');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      snprintf(path, sizeof path, "%.*s/%s", (int)len, p, cmd);
      found = access(path, X_OK) == 0;
      p += len + (e ? 1 : 0);
    }
    if (!found) return 0;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  Elf64_Ehdr eh;
  int is_static = 0;
  if (read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
      eh.e_ident[EI_CLASS] == ELFCLASS64) {
    is_static = 1;
    for (int i = 0; i < eh.e_phnum; i++) {
      Elf64_Phdr ph;
      if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (size_t)i * eh.e_phentsize)) !=
          (ssize_t)sizeof ph)
        break;
      if (ph.p_type == PT_INTERP) {
        is_static = 0;
        break;
      }
    }
  }
  close(fd);
  return is_static;
}

/* --identity ID: the command is that workload to IMDS (169.254.169.254), as
 * a process on a VM with that identity is: a user-assigned identity's resource
 * id (its client id goes to AZURE_CLIENT_ID, as Azure's docs have it for
 * DefaultAzureCredential), or a resource with a system-assigned identity (a
 * VM).  The service principal's secret is left out, so DefaultAzureCredential
 * comes to the managed identity.  0, or -1 having said why. */
static int exec_identity(srv *s, const char *id) {
  char pid[40], cid[40];
  const char *what = "a user-assigned identity or a resource with a managed identity";
  if (strcasestr(id, "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/")) {
    if (identity_user_assigned_lookup(s, id, pid, cid) != 0) {
      fprintf(stderr, "%s exec: --identity %s: no such user-assigned identity\n", cli_prog, id);
      return -1;
    }
    setenv("AZURE_CLIENT_ID", cid, 1);
  } else {
    json_t *body = id[0] == '/' ? arm_resource_get(s, id) : NULL;
    const char *type =
        json_string_value(json_object_get(json_object_get(body, "identity"), "type"));
    int ok = type && strcasestr(type, "SystemAssigned");
    json_decref(body);
    if (!ok) {
      fprintf(stderr, "%s exec: --identity %s: not %s (give its resource id)\n", cli_prog, id,
              what);
      return -1;
    }
    unsetenv("AZURE_CLIENT_ID");
  }
  /* As on a VM: no service principal's variables, so azure-identity's
   * EnvironmentCredential neither answers nor warns. */
  unsetenv("AZURE_CLIENT_SECRET");
  unsetenv("AZURE_CLIENT_CERTIFICATE_PATH");
  unsetenv("AZURE_TENANT_ID");
  char **env = identity_workload_env(s, id);
  for (int i = 0; env[i]; i++)
    if (!strncmp(env[i], "IDENTITY_HEADER=", 16)) setenv("AZLITE_EXEC_IMDS_KEY", env[i] + 16, 1);
  identity_workload_env_free(env);
  char *sock = srv_path(s, "exec/imds.sock");
  setenv("AZLITE_EXEC_IMDS_SOCK", sock, 1);
  free(sock);
  return 0;
}

/* Preloads libazlite_preload.so (beside the binary) into what is exec'd next,
 * appended to an LD_PRELOAD already set; mgmt_port, when given, also sets the
 * library's variables (exec_prepare sets them for exec).  0, or -1 having
 * said why. */
int cli_preload(const char *mgmt_port) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "%s: cannot read /proc/self/exe: %s\n", cli_prog, strerror(errno));
    return -1;
  }
  self[n] = 0;
  char *slash = strrchr(self, '/');
  char lib[PATH_MAX + 32];
  snprintf(lib, sizeof lib, "%.*s/libazlite_preload.so", (int)(slash ? slash - self : 1),
           slash ? self : ".");
  if (access(lib, R_OK) != 0) {
    fprintf(stderr, "%s: %s is missing (it is built and installed beside azlite)\n", cli_prog, lib);
    return -1;
  }
  const char *old = getenv("LD_PRELOAD");
  if (old && strstr(old, lib)) return 0; /* already under exec */
  char *preload = NULL;
  if (asprintf(&preload, "%s%s%s", old && *old ? old : "", old && *old ? " " : "", lib) < 0)
    abort();
  setenv("LD_PRELOAD", preload, 1);
  free(preload);
  if (mgmt_port) {
    setenv("AZLITE_EXEC_ADDR", EXEC_ADDR, 1);
    setenv("AZLITE_EXEC_HOSTS", AZURE_HOSTS, 1);
    setenv("AZLITE_EXEC_MGMT_PORT", mgmt_port, 1);
  }
  return 0;
}

/* Sets the environment from the server's store (the slow path), recording
 * it for the next exec unless an identity is given.  0, else the exit status. */
static int exec_prepare(srv *sp, const char *identity) {
  srv s = *sp;
  char what[256];
  snprintf(what, sizeof what, "%s exec", cli_prog);
  if (cli_require_server(&s, what) != 0) return 1;
  if (cli_open(&s) != 0) {
    srv_close(&s);
    return 1;
  }
  char stamp[256], *rec_text = NULL;
  size_t rec_len = 0;
  if (!identity && exec_rec_stamp(s.cfg.data_dir, stamp, sizeof stamp) == 0) {
    exec_rec = open_memstream(&rec_text, &rec_len);
    fputs(stamp, exec_rec);
  }
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  fprintf(mem, "export AZLITE_DATA_DIR=%s\n", s.cfg.data_dir);
  for (int i = 0; providers[i]; i++)
    if (providers[i]->env) providers[i]->env(&s, mem);
  fclose(mem);
  apply_exports(text);
  free(text);
  exec_azure_connection_string();
  /* The real tenant and the default authority: MSAL's instance discovery is
   * answered by azlite at login.microsoftonline.com. */
  xset("AZURE_TENANT_ID", s.tenant_id);
  xunset("AZURE_AUTHORITY_HOST");
  xunset("AZLITE_EXEC_IMDS_KEY");
  xunset("AZLITE_EXEC_IMDS_SOCK");
  int rc = 0;
  if (identity && exec_identity(&s, identity) != 0) rc = 1;
  const char *colon = strrchr(s.mgmt_url, ':');
  char port[16];
  snprintf(port, sizeof port, "%d", colon ? atoi(colon + 1) : s.cfg.mgmt_port);
  xset("AZLITE_EXEC_ADDR", EXEC_ADDR);
  xset("AZLITE_EXEC_HOSTS", AZURE_HOSTS);
  xset("AZLITE_EXEC_MGMT_PORT", port);
  /* Plain az under exec keeps its login apart from the user's (~/.azure
   * holds real Azure's): `az login --service-principal` with the variables
   * above logs it in to azlite. */
  char *azdir = srv_path(&s, "az-exec");
  mkdir(azdir, 0700);
  xset_default("AZURE_CONFIG_DIR", azdir);
  free(azdir);
  char *bundle = rc == 0 ? write_ca_bundle(&s) : NULL;
  if (rc == 0 && !bundle) rc = 1;
  const char *ca_vars[] = {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS",
                           "CURL_CA_BUNDLE"};
  for (size_t i = 0; bundle && i < sizeof ca_vars / sizeof *ca_vars; i++)
    xset(ca_vars[i], bundle);
  free(bundle);
  if (exec_rec) {
    fclose(exec_rec);
    exec_rec = NULL;
    char *dir = srv_path(&s, "exec"), *path = srv_path(&s, "exec/env"), tmp[PATH_MAX];
    mkdir(dir, 0700);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = rc == 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd >= 0) {
      int ok = write(fd, rec_text, rec_len) == (ssize_t)rec_len;
      ok = close(fd) == 0 && ok;
      if (!ok || rename(tmp, path) != 0) unlink(tmp);
    }
    free(dir);
    free(path);
    free(rec_text);
  }
  srv_close(&s);
  return rc;
}

int cmd_exec(int argc, char **argv) {
  srv s = {0};
  srv_config_defaults(&s.cfg);
  /* Options stop at the command: its own arguments are not azlite's.  exec's
   * own (--identity, --shell) are taken out before the common ones. */
  const char *identity = NULL;
  int shell = 0, first = 1, kept = 1;
  while (first < argc && argv[first][0] == '-' && strcmp(argv[first], "--") != 0) {
    if (!strcmp(argv[first], "--shell")) {
      shell = 1;
      first++;
      continue;
    }
    if (!strncmp(argv[first], "--identity=", 11)) {
      identity = argv[first++] + 11;
      continue;
    }
    if (!strcmp(argv[first], "--identity") && first + 1 < argc) {
      identity = argv[first + 1];
      first += 2;
      continue;
    }
    int n = (strchr(argv[first], '=') || first + 1 >= argc) ? 1 : 2;
    for (int i = 0; i < n; i++)
      argv[kept++] = argv[first++];
  }
  char **cmd = argv + first;
  /* Parsing the options ends its array with NULL: it gets argv[0..kept) only,
   * so the command's own words stay as they are. */
  char *head = argv[kept];
  argc = cli_common_options(&s.cfg, kept, argv);
  argv[kept] = head;
  if (argc < 0) return 2;
  if (*cmd && strcmp(*cmd, "--") == 0) cmd++;
  /* --shell: the user's shell, interactive, where all of this holds. */
  static char *shell_cmd[3];
  if (shell && !*cmd) {
    const char *sh = getenv("SHELL");
    shell_cmd[0] = (char *)(sh && *sh ? sh : "/bin/sh");
    shell_cmd[1] = "-i";
    cmd = shell_cmd;
  }
  if (argc != 1 || !*cmd || (shell && cmd != shell_cmd)) {
    fprintf(stderr,
            "usage: %s exec [--data-dir DIR] [--identity ID] [--] COMMAND [ARGS...]\n"
            "       %s exec [--data-dir DIR] [--identity ID] --shell\n",
            cli_prog, cli_prog);
    return 2;
  }
  /* A connection string the caller set is kept (it names the account the
   * command is meant for); otherwise the development account's, by Azure's
   * host name as everything else under exec. */
  const char *own_cs = getenv("AZURE_STORAGE_CONNECTION_STRING");
  char *keep_cs = own_cs && *own_cs ? strdup(own_cs) : NULL;
  if (identity || exec_rec_replay(s.cfg.data_dir) != 0) {
    int rc = exec_prepare(&s, identity);
    if (rc != 0) {
      free(keep_cs);
      return rc;
    }
  }
  if (keep_cs) {
    setenv("AZURE_STORAGE_CONNECTION_STRING", keep_cs, 1);
    free(keep_cs);
  }

  if (cli_preload(NULL) != 0) return 1;
  if (shell)
    fprintf(stderr,
            "%s exec: a shell where Azure's host names are answered by azlite (exit to "
            "leave)\n",
            cli_prog);
  if (is_static_elf(cmd[0]))
    fprintf(stderr,
            "%s exec: warning: %s is statically linked; azlite exec does not cover it (its "
            "names resolve as usual)\n",
            cli_prog, cmd[0]);
  execvp(cmd[0], cmd);
  fprintf(stderr, "%s exec: %s: %s\n", cli_prog, cmd[0], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
