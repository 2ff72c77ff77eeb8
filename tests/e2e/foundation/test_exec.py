"""Transparent mode: `azlite exec -- COMMAND` runs code written for Azure,
unchanged (default endpoints, default authority), against azlite: the
preloaded library answers Azure's host names with azlite and refuses the
Azure names azlite does not serve."""
import json
import os
import subprocess
import tempfile
import textwrap
import time
import unittest

from azlite_harness import BIN, Azlite, clean_environ

PY = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def run_exec(*cmd, timeout=120, env=None):
    return subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--"] + list(cmd),
                          capture_output=True, text=True, timeout=timeout,
                          env=env or clean_environ())


def run_exec_opts(opts, *cmd, timeout=120):
    return subprocess.run([BIN, "exec", "--data-dir", srv.data_dir] + opts + ["--"] + list(cmd),
                          capture_output=True, text=True, timeout=timeout, env=clean_environ())


def run_script(source, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(textwrap.dedent(source))
    try:
        return run_exec(PY, f.name, *args)
    finally:
        os.unlink(f.name)


class Exec(unittest.TestCase):
    def test_sdk_default_credential_and_endpoint(self):
        p = run_script("""
            import os
            from azure.identity import DefaultAzureCredential
            from azure.mgmt.resource import ResourceManagementClient
            cred = DefaultAzureCredential()
            c = ResourceManagementClient(cred, os.environ["AZURE_SUBSCRIPTION_ID"])
            c.resource_groups.create_or_update("exec-rg", {"location": "eastus"})
            print(",".join(sorted(g.name for g in c.resource_groups.list())))
        """)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("exec-rg", p.stdout.strip().split(","))
        self.assertEqual(srv.az_json("group", "show", "-n", "exec-rg")["name"], "exec-rg")

    def test_environment(self):
        p = run_exec("sh", "-c", "echo $AZURE_TENANT_ID; echo ${AZURE_AUTHORITY_HOST-unset}; "
                     "echo $REQUESTS_CA_BUNDLE; echo $LD_PRELOAD")
        self.assertEqual(p.returncode, 0, p.stderr)
        tenant, authority, bundle, preload = p.stdout.split("\n")[:4]
        self.assertEqual(tenant, srv.env["AZLITE_TENANT_ID"])
        self.assertEqual(authority, "unset")
        self.assertEqual(bundle, os.path.join(srv.data_dir, "pki", "exec-ca-bundle.pem"))
        with open(bundle) as f, open(srv.ca) as g:
            text = f.read()
            self.assertIn(g.read().strip(), text)
        self.assertGreater(text.count("BEGIN CERTIFICATE"), 1)  # the system's CAs too
        self.assertTrue(preload.endswith("libazlite_preload.so"), preload)
        # An existing LD_PRELOAD is kept, ours appended.
        env = dict(clean_environ(), LD_PRELOAD="libm.so.6")
        if "ASAN_OPTIONS" in env:
            # An ASan build of azlite itself refuses a library preloaded before its runtime.
            env["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
        p = run_exec("sh", "-c", "echo $LD_PRELOAD", env=env)
        self.assertTrue(p.stdout.startswith("libm.so.6 "), p.stdout)

    def test_curl_management_with_token(self):
        p = run_exec("sh", "-c", textwrap.dedent("""\
            token=$(%s -c 'from azure.identity import DefaultAzureCredential as D
            print(D().get_token("https://management.azure.com/.default").token)') || exit 3
            curl -sS -w '\\n%%{http_code}' -H "Authorization: Bearer $token" \\
              'https://management.azure.com/subscriptions?api-version=2020-01-01'
            """ % PY))
        self.assertEqual(p.returncode, 0, p.stderr)
        body, code = p.stdout.rsplit("\n", 1)
        self.assertEqual(code, "200", p.stdout + p.stderr)
        self.assertIn(srv.env["AZURE_SUBSCRIPTION_ID"], body)

    def test_blob_on_azure_host_name(self):
        self.assertEqual(srv.az("group", "create", "-n", "exec-st", "-l", "eastus").returncode, 0)
        cs = srv.storage_account("execacct1", "exec-st")
        key = dict(kv.split("=", 1) for kv in cs.split(";") if "=" in kv)["AccountKey"]
        p = run_script("""
            import sys
            from azure.storage.blob import BlobServiceClient
            svc = BlobServiceClient("https://execacct1.blob.core.windows.net",
                                    credential={"account_name": "execacct1",
                                                "account_key": sys.argv[1]})
            svc.create_container("cont1")
            svc.get_blob_client("cont1", "hello.txt").upload_blob(b"hello azure host")
            print(svc.get_blob_client("cont1", "hello.txt").download_blob().readall().decode())
            print(svc.primary_hostname)
        """, key)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split("\n")[:2],
                         ["hello azure host", "execacct1.blob.core.windows.net"])

    def test_node_storage_blob_on_azure_host_name(self):
        """npm @azure/storage-blob, unchanged, on https://<account>.blob.core.windows.net."""
        self.assertEqual(srv.az("group", "create", "-n", "exec-node", "-l", "eastus").returncode, 0)
        cs = srv.storage_account("execnode1", "exec-node")
        key = dict(kv.split("=", 1) for kv in cs.split(";") if "=" in kv)["AccountKey"]
        node_dir = os.path.join(os.path.dirname(HERE), "node")
        script = os.path.join(tempfile.mkdtemp(prefix="exec-node-"), "blob.js")
        with open(script, "w") as f:
            f.write(textwrap.dedent("""\
                const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");
                (async () => {
                  const [acct, key] = process.argv.slice(2);
                  const svc = new BlobServiceClient(`https://${acct}.blob.core.windows.net`,
                                                    new StorageSharedKeyCredential(acct, key));
                  const c = svc.getContainerClient("nodec");
                  await c.create();
                  await c.getBlockBlobClient("hello.txt").upload("hi from node", 12);
                  const d = await c.getBlobClient("hello.txt").downloadToBuffer();
                  const names = [];
                  for await (const b of c.listBlobsFlat()) names.push(b.name);
                  console.log(d.toString() + "|" + names.join(",") + "|" + c.url);
                })().catch(e => { console.error("ERR", e.message); process.exit(1); });
            """))
        env = dict(clean_environ(), NODE_PATH=os.path.join(node_dir, "node_modules"))
        p = run_exec("node", script, "execnode1", key, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(),
                         "hi from node|hello.txt|https://execnode1.blob.core.windows.net/nodec")
        # It landed in that account: read it back outside exec, path style.
        from azure.storage.blob import BlobServiceClient
        got = BlobServiceClient.from_connection_string(cs).get_blob_client(
            "nodec", "hello.txt").download_blob().readall()
        self.assertEqual(got, b"hi from node")

    def test_answers_name_azure_hosts(self):
        """What azlite returns names Azure's hosts when the caller came by one:
        an account's primaryEndpoints, a long-running operation's status URLs."""
        self.assertEqual(srv.az("group", "create", "-n", "exec-names", "-l", "eastus").returncode, 0)
        srv.storage_account("execnames1", "exec-names")
        # Outside exec, azlite's own URLs.
        r = srv.http("GET", "/subscriptions/%s/resourceGroups/exec-names/providers/"
                     "Microsoft.Storage/storageAccounts/execnames1?api-version=2022-09-01"
                     % srv.env["AZURE_SUBSCRIPTION_ID"])
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.json()["properties"]["primaryEndpoints"]["blob"].startswith(
            "http://127.0.0.1:"), r.text)
        p = run_exec("sh", "-c", textwrap.dedent("""\
            token=$(%s -c 'from azure.identity import DefaultAzureCredential as D
            print(D().get_token("https://management.azure.com/.default").token)') || exit 3
            base=https://management.azure.com/subscriptions/$AZURE_SUBSCRIPTION_ID/resourceGroups
            curl -sS -H "Authorization: Bearer $token" \
              "$base/exec-names/providers/Microsoft.Storage/storageAccounts/execnames1?api-version=2022-09-01"
            echo
            curl -sS -D - -o /dev/null -X DELETE -H "Authorization: Bearer $token" \
              "$base/exec-names?api-version=2021-04-01" | tr -d '\r' | grep -i '^location:'
            """ % PY))
        self.assertEqual(p.returncode, 0, p.stderr)
        body, loc = p.stdout.split("\n", 1)
        self.assertEqual(json.loads(body)["properties"]["primaryEndpoints"]["blob"],
                         "https://execnames1.blob.core.windows.net/")
        self.assertRegex(loc.strip(), r"(?i)^location: https://management\.azure\.com/")

    def test_unserved_azure_name_fails_fast(self):
        t = time.time()
        p = run_exec(PY, "-c", "import socket; socket.getaddrinfo('myvault.vault.azure.net', 443)")
        self.assertLess(time.time() - t, 10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("gaierror", p.stderr)
        self.assertIn("azlite exec: myvault.vault.azure.net is an Azure host name that azlite "
                      "does not serve", p.stderr)
        # The other resolver entry points refuse it too; served names answer there.
        p = run_exec(PY, "-c", "import socket\n"
                     "print(socket.gethostbyname_ex('management.azure.com')[2])\n"
                     "print(socket.gethostbyname('a.blob.core.windows.net'))\n"
                     "socket.gethostbyname_ex('myvault.vault.azure.net')")
        self.assertEqual(p.stdout.split("\n")[:2], ["['127.77.77.77']", "127.77.77.77"])
        self.assertIn("myvault.vault.azure.net is an Azure host name", p.stderr)
        self.assertIn("gaierror", p.stderr)
        # Other Azure suffixes, and names one label too deep for a served pattern.
        for host in ("foo.azure.com", "x.queue.core.windows.net", "a.b.blob.core.windows.net",
                     "login.windows.net", "MANAGEMENT.AZURE.NET"):
            p = run_exec(PY, "-c", "import socket; socket.getaddrinfo(%r, 443)" % host)
            self.assertIn("%s is an Azure host name" % host, p.stderr, host)

    def test_other_names_unchanged(self):
        code = ("import socket\ntry:\n print(sorted(set(a[4][0] for a in "
                "socket.getaddrinfo('example.org', 443))))\nexcept OSError as e:\n print(e)\n"
                "print(socket.getaddrinfo('127.0.0.1', 80)[0][4])\n")
        plain = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60,
                               env=clean_environ())
        p = run_exec(PY, "-c", code)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, plain.stdout)
        self.assertNotIn("azlite exec", p.stderr)

    def test_static_program_warned(self):
        static = "/sbin/ldconfig"  # Debian's is static-pie
        if not os.path.exists(static):
            self.skipTest("no statically linked program here")
        p = run_exec(static, "--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.count("is statically linked; azlite exec does not cover it"), 1)
        p = run_exec(PY, "-c", "pass")
        self.assertEqual(p.stderr, "")

    def test_imds_refused_and_usage(self):
        p = run_exec(PY, "-c", "import socket; socket.create_connection(('169.254.169.254', 80), 5)")
        self.assertIn("ConnectionRefusedError", p.stderr)
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir], capture_output=True,
                           text=True, env=clean_environ(), timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage:", p.stderr)
        p = run_exec("/nonexistent/prog")
        self.assertEqual(p.returncode, 127)

    def test_imds_for_the_identity_given(self):
        """`--identity` makes the command that workload to IMDS at 169.254.169.254:
        DefaultAzureCredential and a plain request get the identity's tokens."""
        self.assertEqual(srv.az("group", "create", "-n", "exec-mi", "-l", "eastus").returncode, 0)
        uai = srv.az_json("identity", "create", "-n", "exec-uai", "-g", "exec-mi")
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--identity", uai["id"],
                            "--", PY, "-c", textwrap.dedent("""\
            import base64, json, os, requests
            from azure.identity import DefaultAzureCredential
            t = DefaultAzureCredential().get_token("https://management.azure.com/.default").token
            claims = json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "=="))
            print(claims["oid"], os.environ["AZURE_CLIENT_ID"],
                  "AZURE_CLIENT_SECRET" in os.environ)
            u = "http://169.254.169.254/metadata/identity/oauth2/token"
            r = requests.get(u, params={"api-version": "2018-02-01",
                                        "resource": "https://storage.azure.com/"},
                             headers={"Metadata": "true"}, timeout=10)
            print(r.status_code, r.json()["client_id"], r.json()["resource"])
            r = requests.get(u, params={"resource": "https://storage.azure.com/"}, timeout=10)
            print(r.status_code)
            r = requests.get("http://169.254.169.254/metadata/instance?api-version=2021-02-01",
                             headers={"Metadata": "true"}, timeout=10)
            print(r.status_code)
            """)], capture_output=True, text=True, timeout=120, env=clean_environ())
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split("\n")
        self.assertEqual(lines[0], "%s %s False" % (uai["principalId"], uai["clientId"]))
        self.assertEqual(lines[1], "200 %s https://storage.azure.com/" % uai["clientId"])
        self.assertEqual(lines[2], "400")  # no Metadata header, as IMDS answers
        self.assertEqual(lines[3], "404")  # no VM: an identity alone has no instance metadata
        # A key that is not azlite's gets no answer.
        sock = os.path.join(srv.data_dir, "exec", "imds.sock")
        self.assertEqual(oct(os.stat(os.path.dirname(sock)).st_mode & 0o777), "0o700")
        import socket
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(10)
        c.connect(sock)
        c.sendall(b"AZLITE-IMDS bm90LWEta2V5.AAAA\nGET /metadata/identity/oauth2/token?"
                  b"resource=https://storage.azure.com/ HTTP/1.1\r\nHost: x\r\n"
                  b"Metadata: true\r\n\r\n")
        try:
            answer = c.recv(100)
        except ConnectionResetError:
            answer = b""  # closed with our request unread
        self.assertEqual(answer, b"")
        c.close()
        # Something that is no identity is refused before the command runs.
        p = run_exec_opts(["--identity", "/subscriptions/x/resourceGroups/y"], "true")
        self.assertEqual(p.returncode, 1)
        self.assertIn("--identity /subscriptions/x/resourceGroups/y: not a user-assigned "
                      "identity", p.stderr)

    def test_shell(self):
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--shell"],
                           input="echo \"preload=$LD_PRELOAD\"\n"
                           "getent hosts management.azure.com\nexit 7\n",
                           capture_output=True, text=True, timeout=60,
                           env=dict(clean_environ(), SHELL="/bin/sh"))
        self.assertEqual(p.returncode, 7, p.stderr)
        self.assertRegex(p.stdout, r"preload=\S*libazlite_preload\.so")
        self.assertIn("127.77.77.77", p.stdout)
        self.assertIn("a shell where Azure's host names are answered by azlite", p.stderr)
        p = run_exec_opts(["--shell"], "true")
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage:", p.stderr)


class Restart(unittest.TestCase):
    def test_recorded_environment_follows_the_server(self):
        """exec records the environment it sets (<data>/exec/env, 0600) and replays
        it while the same server runs; a restart on other ports is seen at once."""
        from azlite_harness import free_port
        s = Azlite().start()
        try:
            def port_seen():
                p = subprocess.run([BIN, "exec", "--data-dir", s.data_dir, "--", "sh", "-c",
                                    "echo $AZLITE_EXEC_MGMT_PORT"], capture_output=True,
                                   text=True, timeout=60, env=clean_environ())
                self.assertEqual(p.returncode, 0, p.stderr)
                return int(p.stdout.strip())
            self.assertEqual(port_seen(), s.ports["mgmt"])
            rec = os.path.join(s.data_dir, "exec", "env")
            self.assertEqual(oct(os.stat(rec).st_mode & 0o777), "0o600")
            with open(rec) as f:
                self.assertTrue(f.readline().startswith("azlite-exec-env 1 "))
            self.assertEqual(port_seen(), s.ports["mgmt"])  # replayed
            s.stop()
            p = subprocess.run([BIN, "exec", "--data-dir", s.data_dir, "--", "true"],
                               capture_output=True, text=True, timeout=60, env=clean_environ())
            self.assertEqual(p.returncode, 1)
            self.assertIn("no azlite server is running", p.stderr)
            s.ports["mgmt"] = free_port()
            s.start()
            self.assertEqual(port_seen(), s.ports["mgmt"])
        finally:
            s.cleanup()


class OldDataDir(unittest.TestCase):
    def test_server_certificate_renewed_from_same_ca(self):
        """A data dir whose server certificate predates Azure's names gets a new
        one at start, signed by the same CA (clients' trust stays valid)."""
        s = Azlite().start()
        try:
            pki = os.path.join(s.data_dir, "pki")
            with open(os.path.join(pki, "ca.pem")) as f:
                ca_before = f.read()
            s.stop()
            csr = os.path.join(pki, "old.csr")
            ext = os.path.join(pki, "old.ext")
            with open(ext, "w") as f:
                f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
            subprocess.run(["openssl", "req", "-new", "-key", os.path.join(pki, "server.key"),
                            "-subj", "/CN=localhost", "-out", csr], check=True,
                           capture_output=True)
            subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA",
                            os.path.join(pki, "ca.pem"), "-CAkey", os.path.join(pki, "ca.key"),
                            "-days", "30", "-extfile", ext, "-out",
                            os.path.join(pki, "server.pem")], check=True, capture_output=True)
            s.start()
            san = subprocess.run(["openssl", "x509", "-in", os.path.join(pki, "server.pem"),
                                  "-noout", "-ext", "subjectAltName"], capture_output=True,
                                 text=True, check=True).stdout
            for name in ("management.azure.com", "login.microsoftonline.com",
                         "graph.microsoft.com", "*.blob.core.windows.net",
                         "*.azurewebsites.net", "*.scm.azurewebsites.net", "*.api.azureml.ms",
                         "*.inference.ml.azure.com", "localhost", "127.0.0.1"):
                self.assertIn(name, san)
            with open(os.path.join(pki, "ca.pem")) as f:
                self.assertEqual(f.read(), ca_before)
            v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(pki, "ca.pem"),
                                os.path.join(pki, "server.pem")], capture_output=True, text=True)
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            self.assertIn("renewed the server certificate", s.read_log())
            self.assertEqual(s.http("GET", "/subscriptions?api-version=2020-01-01").status_code,
                             200)
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()
