#!/usr/bin/env bash
# bench/startup.sh: how fast `azlite serve` answers, and how little memory it
# holds when idle.  A benchmark, never part of `make test`.
#
#   start to first answer: from exec of `azlite serve` to the first successful
#     HTTPS answer (200) on /metadata/endpoints, both for a first start (empty
#     data dir: store, tenant, keys and certificates are created) and for a
#     restart (all of that is loaded);
#   idle RSS: VmRSS from /proc/<pid>/status after start and a few requests
#     (a token, resource group writes and reads).
#
# Usage: bench/startup.sh [runs]   (default 7; AZLITE_BIN overrides build/azlite)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${AZLITE_BIN:-$PWD/build/azlite}"
RUNS="${1:-7}"
[ -x "$BIN" ] || { echo "bench/startup.sh: $BIN is missing; run make" >&2; exit 1; }

exec /usr/bin/python3 - "$BIN" "$RUNS" <<'PY'
import json, os, shutil, signal, socket, ssl, statistics, subprocess, sys, tempfile, time
import urllib.request

BIN, RUNS = sys.argv[1], int(sys.argv[2])
GOAL_MS, GOAL_MIB = 50.0, 15.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The probe must not verify: on a first start the CA it would need does not
# exist yet when the clock starts.  (The tests check the certificate.)
PROBE = ssl.create_default_context()
PROBE.check_hostname = False
PROBE.verify_mode = ssl.CERT_NONE
REQ = b"GET /metadata/endpoints?api-version=2019-05-01 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            # As curl and urllib3 do; without it Nagle holds the request ~40 ms.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with PROBE.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(REQ)
                return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def serve(data, ports):
    args = [BIN, "serve", "--log-level", "warn", "--data-dir", data,
            "--mgmt-port", str(ports[0]), "--blob-port", str(ports[1]),
            "--blob-tls-port", str(ports[2])]
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while not answers(ports[0]):
        if p.poll() is not None:
            sys.exit("azlite serve exited with %d" % p.returncode)
        if time.perf_counter() - t0 > 30:
            p.kill()
            sys.exit("azlite serve did not answer within 30 s")
    ms = (time.perf_counter() - t0) * 1000
    # The banner's own figure: from main() to listening, inside the process.
    banner = p.stdout.readline().decode()
    inside = float(banner.split("(")[1].split()[0]) if "ready (" in banner else float("nan")
    return p, ms, inside


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(20)


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def exercise(data, port):
    """A few real requests: a token, then resource group writes and reads."""
    env = {}
    out = subprocess.run([BIN, "env", "--data-dir", data], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        k, _, v = line[len("export "):].partition("=")
        env[k] = v
    ctx = ssl.create_default_context(cafile=os.path.join(data, "pki", "ca.pem"))
    base = "https://127.0.0.1:%d" % port

    def call(method, path, body=None, headers=None, form=None):
        data_ = form.encode() if form else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(base + path, data=data_, method=method, headers=headers or {})
        with urllib.request.urlopen(req, context=ctx) as r:
            return json.loads(r.read() or b"null")

    tok = call("POST", "/adfs/oauth2/token", form="grant_type=client_credentials&client_id=%s"
               "&client_secret=%s&scope=%s/.default" % (env["AZURE_CLIENT_ID"],
                                                       env["AZURE_CLIENT_SECRET"], base))
    h = {"Authorization": "Bearer " + tok["access_token"], "Content-Type": "application/json"}
    sub = "/subscriptions/" + env["AZURE_SUBSCRIPTION_ID"]
    for i in range(20):
        call("PUT", "%s/resourcegroups/bench-%d?api-version=2021-04-01" % (sub, i),
             {"location": "eastus", "tags": {"i": str(i)}}, h)
        call("GET", "%s/resourcegroups/bench-%d?api-version=2021-04-01" % (sub, i), None, h)
    call("GET", "%s/resourcegroups?api-version=2021-04-01" % sub, None, h)
    call("GET", "%s/locations?api-version=2022-12-01" % sub, None, h)
    call("GET", "/subscriptions?api-version=2022-12-01", None, h)


first, restart, rss, first_in, restart_in = [], [], [], [], []
for i in range(RUNS):
    data = tempfile.mkdtemp(prefix="azlite-bench-")
    ports = (free_port(), free_port(), free_port())
    try:
        p, ms, inside = serve(data, ports)
        first.append(ms)
        first_in.append(inside)
        stop(p)
        p, ms, inside = serve(data, ports)
        restart.append(ms)
        restart_in.append(inside)
        exercise(data, ports[0])
        time.sleep(0.5)  # idle
        rss.append(rss_mib(p.pid))
        stop(p)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def line(name, values, unit, goal=None):
    med = statistics.median(values)
    text = "%-38s median %7.1f %s  (min %.1f, max %.1f, %d runs)" % (
        name, med, unit, min(values), max(values), len(values))
    if goal is not None:
        text += "  goal < %g %s: %s" % (goal, unit.strip(), "meets" if med < goal else "MISSES")
    print(text)


print("azlite startup benchmark: %s" % BIN)
line("start to first answer, first start", first, "ms ", GOAL_MS)
line("  of which in-process (banner)", first_in, "ms ")
line("start to first answer, restart", restart, "ms ", GOAL_MS)
line("  of which in-process (banner)", restart_in, "ms ")
line("idle RSS after start + requests", rss, "MiB", GOAL_MIB)
PY
