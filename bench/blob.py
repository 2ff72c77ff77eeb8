#!/usr/bin/python3
"""Blob Storage benchmark: azlite (persisting to disk) vs Azurite 3.37 (in
memory), same machine, same run, same client code; prints ratios.

  1 KiB Put Blob and Get Blob over SAS URLs with wrk, 32 connections
  one 256 MiB Put Blob and Get Blob
  256 MiB as 8 MiB blocks + Put Block List
  (each large transfer BENCH_REPEAT=3 times, the best run counting)

A second azlite pass runs the same workload against a storage account created
through Resource Manager with blob versioning and soft delete (blobs and
containers, 7 days) on (blobServices/default), and prints its ratios next to
the plain ones: every 256 MiB overwrite keeps the previous version.
BENCH_VERSIONED=0 leaves that pass out.

The physical reference: nginx serving the same 1 KiB as a static file, read by
the same wrk script (nginx ignores the SAS query): a GET can hardly be cheaper.

Needs: build/azlite, wrk, node, and `npm install` in bench/ (Azurite); nginx (Debian's
package; not installed by setup.sh, whose CI must not start a web server) for the
reference, skipped when absent.
Goals (issue): small ops >= 10x Azurite, 1 KiB get >= 0.5x nginx, 256 MiB put >= 3x,
get >= 2x, blocks >= 10x.
"""
import os
import base64
import hashlib
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import datetime, timedelta

import requests
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ACCOUNT = "devstoreaccount1"
DURATION = os.environ.get("BENCH_SECONDS", "10")
BIG = int(os.environ.get("BENCH_BIG_MIB", "256")) * 1024 * 1024
BLOCK = 8 * 1024 * 1024
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def start_azlite(tmp):
    port = free_port()
    global AZLITE_ARGS
    AZLITE_ARGS = ["--data-dir", os.path.join(tmp, "azlite"), "--blob-port", str(port),
                   "--mgmt-port", str(free_port()), "--blob-tls-port", str(free_port()),
                   "--dfs-port", str(free_port())]
    p = subprocess.Popen([os.path.join(ROOT, "build", "azlite"), "serve", "--log-level", "warn"]
                         + AZLITE_ARGS, stdout=subprocess.DEVNULL)
    wait_port(port, p)
    return p, port


AZLITE_ARGS = []


def versioned_account(tmp):
    """A StorageV2 account created through Resource Manager (azure-mgmt-storage)
    with versioning and soft delete on; returns (account, key, blob endpoint)."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient
    from azure.mgmt.storage import models as m
    out = subprocess.run([os.path.join(ROOT, "build", "azlite"), "env"] + AZLITE_ARGS,
                         check=True, capture_output=True, text=True).stdout
    e = {}
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            e[k] = shlex.split(v)[0] if v else ""
    mgmt_url = "https://127.0.0.1:%s" % AZLITE_ARGS[AZLITE_ARGS.index("--mgmt-port") + 1]
    ca = os.path.join(tmp, "azlite", "pki", "ca.pem")
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=ca)
    kw = dict(base_url=mgmt_url, credential_scopes=[mgmt_url + "/.default"],
              connection_verify=ca)
    sub = e["AZURE_SUBSCRIPTION_ID"]
    ResourceManagementClient(cred, sub, **kw).resource_groups.create_or_update(
        "bench-rg", {"location": "westeurope"})
    st = StorageManagementClient(cred, sub, **kw)
    name = "benchversioned"
    st.storage_accounts.begin_create("bench-rg", name, m.StorageAccountCreateParameters(
        sku=m.Sku(name="Standard_LRS"), kind="StorageV2", location="westeurope")).result()
    got = st.blob_services.set_service_properties("bench-rg", name, m.BlobServiceProperties(
        is_versioning_enabled=True,
        delete_retention_policy=m.DeleteRetentionPolicy(enabled=True, days=7),
        container_delete_retention_policy=m.DeleteRetentionPolicy(enabled=True, days=7)))
    assert got.is_versioning_enabled, got
    key = st.storage_accounts.list_keys("bench-rg", name).keys[0].value
    ep = st.storage_accounts.get_properties("bench-rg", name).primary_endpoints.blob
    return name, key, ep.rstrip("/")


def start_azurite(tmp):
    port = free_port()
    exe = os.path.join(HERE, "node_modules", ".bin", "azurite-blob")
    p = subprocess.Popen([exe, "--inMemoryPersistence", "--blobHost", "127.0.0.1", "--blobPort",
                          str(port), "--silent", "--skipApiVersionCheck"], cwd=tmp, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_port(port, p)
    return p, port


def nginx_get_rate(tmp):
    """GET/s of nginx serving the 1 KiB blob's bytes as a static file, same wrk script,
    same connections; nginx with as many workers as azlite has cores."""
    root = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(root, "www", ACCOUNT, "bench"), exist_ok=True)
    with open(os.path.join(root, "www", ACCOUNT, "bench", "small"), "wb") as f:
        f.write(b"x" * 1024)
    port = free_port()
    conf = os.path.join(root, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; worker_processes auto; pid %(r)s/nginx.pid;
error_log %(r)s/error.log; events { worker_connections 1024; }
http { access_log off; client_body_temp_path %(r)s/body; proxy_temp_path %(r)s/proxy;
  fastcgi_temp_path %(r)s/fcgi; uwsgi_temp_path %(r)s/uwsgi; scgi_temp_path %(r)s/scgi;
  server { listen 127.0.0.1:%(p)d; root %(r)s/www; location / { } } }
""" % {"r": root, "p": port})
    p = subprocess.Popen(["nginx", "-c", conf, "-p", root], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        wait_port(port, p)
        env = dict(os.environ, BENCH_PATH="/%s/bench" % ACCOUNT, BENCH_SAS="sv=x",
                   BENCH_OP="get")
        r = subprocess.run(["wrk", "-t2", "-c32", "-d" + DURATION + "s", "-s",
                            os.path.join(HERE, "wrk_blob.lua"), "http://127.0.0.1:%d" % port],
                           env=env, capture_output=True, text=True)
        m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
        return float(m.group(1)) if m else 0.0
    finally:
        p.kill()
        p.wait()


def rss_peak_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def raw_get(url, headers):
    """GET that drops the body in the kernel (recv with MSG_TRUNC: counted, not
    copied): curl reads 16 KiB at a time into user space, and for a 256 MiB body
    its own copying would be most of what is timed.  The same client reads
    both servers.  Returns (seconds, status, body bytes)."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    req = "GET %s?%s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n" % (
        u.path, u.query, u.hostname, u.port, "".join("%s: %s\r\n" % kv for kv in headers.items()))
    buf = bytearray(4 << 20)
    view = memoryview(buf)
    t = time.time()
    s.sendall(req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        n = s.recv_into(view)
        if not n:
            raise RuntimeError("connection closed in the headers")
        head += bytes(view[:n])
    lines, _, got_bytes = head.partition(b"\r\n\r\n")
    lines = lines.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = int(next(l.split(b":", 1)[1] for l in lines if l.lower().startswith(b"content-length:")))
    got = len(got_bytes)
    while got < length:
        n = s.recv_into(view, min(len(view), length - got), socket.MSG_TRUNC)
        if not n:
            break
        got += n
    secs = time.time() - t
    s.close()
    return secs, status, got


def run_target(name, port, pid, account=ACCOUNT, key=KEY, base=None):
    base = base or "http://127.0.0.1:%d/%s" % (port, account)
    conn = ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;"
            % (account, key, base))
    svc = BlobServiceClient.from_connection_string(conn)
    cname = "bench"
    svc.create_container(cname)
    sas = generate_container_sas(account, cname, account_key=key,
                                 permission=ContainerSasPermissions(read=True, write=True,
                                                                    create=True),
                                 expiry=datetime.utcnow() + timedelta(hours=2))
    svc.get_blob_client(cname, "small").upload_blob(b"x" * 1024, overwrite=True)
    out = {}
    env = dict(os.environ, BENCH_PATH="%s/%s" % (urllib.parse.urlsplit(base).path, cname),
               BENCH_SAS=sas)
    for op in ("put", "get"):
        env["BENCH_OP"] = op
        r = subprocess.run(["wrk", "-t2", "-c32", "-d" + DURATION + "s", "-s",
                            os.path.join(HERE, "wrk_blob.lua"), "http://127.0.0.1:%d" % port],
                           env=env, capture_output=True, text=True)
        m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
        errs = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
        out["1KiB %s /s" % op] = float(m.group(1)) if m else 0.0
        if errs:
            print("  %s %s: %s non-2xx responses" % (name, op, errs.group(1)))
    # Large transfers with curl (uploads) and raw_get, so the client is not the bottleneck.
    work = tempfile.mkdtemp(prefix="bench-")
    big = os.path.join(work, "big")
    with open(big, "wb") as f:
        for _ in range(BIG // BLOCK):
            f.write(os.urandom(BLOCK))
    url = "%s/%s/big?%s" % (base, cname, sas)
    hdr = ["-H", "x-ms-version: 2021-12-02"]
    # 8 MiB blocks, one curl process for all of them (a config file), then the list.
    cfg = os.path.join(work, "blocks.cfg")
    ids = []
    with open(big, "rb") as src, open(cfg, "w") as c:
        for i in range(BIG // BLOCK):
            part = os.path.join(work, "part%d" % i)
            with open(part, "wb") as f:
                f.write(src.read(BLOCK))
            bid = base64.b64encode(b"%08d" % i).decode()
            ids.append(bid)
            c.write('url = "%s/%s/blocks?comp=block&blockid=%s&%s"\n' % (
                base, cname, urllib.parse.quote(bid, safe=""), sas))
            c.write('upload-file = "%s"\nheader = "x-ms-version: 2021-12-02"\n'
                    'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' % part)
    xml = "<?xml version='1.0' encoding='utf-8'?><BlockList>%s</BlockList>" % "".join(
        "<Latest>%s</Latest>" % b for b in ids)
    # The previous pass's gigabytes still being written back would slow this one's.
    os.sync()
    # Each large transfer runs REPEAT times; the best run counts (the same for both targets).
    for k in ("256MiB put s", "256MiB get s", "256MiB blocks s"):
        out[k] = float("inf")
    for _ in range(REPEAT):
        t = time.time()
        r = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{http_code}", "-T", big,
                            "-H", "x-ms-blob-type: BlockBlob"] + hdr + [url],
                           capture_output=True, text=True)
        out["256MiB put s"] = min(out["256MiB put s"], time.time() - t)
        assert r.stdout == "201", (r.stdout, r.stderr)
        secs, status, got = raw_get(url, {"x-ms-version": "2021-12-02"})
        out["256MiB get s"] = min(out["256MiB get s"], secs)
        assert status == 200 and got == BIG, (status, got)
        t = time.time()
        r = subprocess.run(["curl", "-s", "-K", cfg], capture_output=True, text=True)
        rr = requests.put("%s/%s/blocks?comp=blocklist&%s" % (base, cname, sas), data=xml,
                          headers={"x-ms-version": "2021-12-02"})
        out["256MiB blocks s"] = min(out["256MiB blocks s"], time.time() - t)
        assert r.stdout.split() == ["201"] * len(ids), r.stdout
        assert rr.status_code == 201, rr.text
    shutil.rmtree(work, ignore_errors=True)
    out["peak RSS MiB"] = rss_peak_mib(pid)
    if account != ACCOUNT:
        # Every overwrite of big and blocks kept a version: REPEAT of each.
        vers = [b for b in svc.get_container_client(cname).list_blobs(include=["versions"])
                if b.name in ("big", "blocks")]
        out["versions kept"] = len(vers)
        assert len(vers) == 2 * REPEAT, [(b.name, b.version_id) for b in vers]
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="azlite-bench-")
    procs = []
    try:
        results = {}
        for name, start in (("azlite", start_azlite), ("azurite", start_azurite)):
            p, port = start(tmp)
            procs.append(p)
            print("running %s ..." % name, flush=True)
            results[name] = run_target(name, port, p.pid)
            print("  " + ", ".join("%s=%.2f" % kv for kv in results[name].items()), flush=True)
            if name == "azlite" and os.environ.get("BENCH_VERSIONED", "1") != "0":
                print("running azlite, versioning + soft delete account ...", flush=True)
                acct, key, ep = versioned_account(tmp)
                results["versioned"] = run_target("versioned", port, p.pid, acct, key, ep)
                print("  " + ", ".join("%s=%.2f" % kv for kv in results["versioned"].items()),
                      flush=True)
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if shutil.which("nginx"):
            print("running nginx (static file) ...", flush=True)
            results["nginx"] = nginx_get_rate(tmp)
        a, z = results["azlite"], results["azurite"]
        v = results.get("versioned")
        print("\n%-18s %12s %12s %8s %6s%s" % ("", "azlite", "azurite", "ratio", "goal",
                                               "  %12s %8s" % ("versioned", "ratio") if v else ""))
        goals = {"1KiB put /s": 10, "1KiB get /s": 10, "256MiB put s": 3, "256MiB get s": 2,
                 "256MiB blocks s": 10}

        def ratio(x, k):
            return x[k] / z[k] if k.endswith("/s") else z[k] / max(x[k], 1e-9)
        for k in goals:
            print("%-18s %12.3f %12.3f %7.1fx %5dx%s" % (
                k, a[k], z[k], ratio(a, k), goals[k],
                "  %12.3f %7.1fx" % (v[k], ratio(v, k)) if v else ""))
        if "nginx" in results:
            n = results["nginx"]
            print("%-18s %12.3f %12.3f %7.2fx %5.1fx   (nginx, the same bytes as a static file)"
                  % ("1KiB get /s", a["1KiB get /s"], n, a["1KiB get /s"] / max(n, 1e-9), 0.5))
        print("%-18s %12.1f %12.1f" % ("peak RSS MiB", a["peak RSS MiB"], z["peak RSS MiB"]))
        # Put Blob must compute the blob's MD5 (Azure returns and stores it), and
        # MD5 is sequential: its speed on one core bounds any server's Put Blob.
        buf = os.urandom(BLOCK)
        h = hashlib.md5()
        t = time.time()
        for _ in range(BIG // BLOCK):
            h.update(buf)
        md5_s = time.time() - t
        print("\nMD5 of 256 MiB alone on this CPU: %.2f s, so Put Blob can reach at most %.1fx"
              % (md5_s, z["256MiB put s"] / md5_s))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
