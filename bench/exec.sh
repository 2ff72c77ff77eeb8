#!/usr/bin/env bash
# bench/exec.sh: what `azlite exec` adds to a command's start (issue goal: under
# 5 ms).  A benchmark, never part of `make test`.
#
#   /bin/true, and /usr/bin/python3 -c pass, each run RUNS times directly and
#   through `azlite exec` against a running server; prints the medians and
#   the difference (loading azlite, replaying the environment it recorded for
#   the running server in <data>/exec/env, and the preload library).
#
# Usage: bench/exec.sh [runs]   (default 30; AZLITE_BIN overrides build/azlite)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${AZLITE_BIN:-$PWD/build/azlite}"
RUNS="${1:-30}"
[ -x "$BIN" ] || { echo "bench/exec.sh: $BIN is missing; run make" >&2; exit 1; }

exec /usr/bin/python3 - "$BIN" "$RUNS" <<'PY'
import os, shutil, socket, statistics, subprocess, sys, tempfile, time

BIN, RUNS = sys.argv[1], int(sys.argv[2])

def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

d = tempfile.mkdtemp(prefix="azlite-bench-exec-")
mgmt = port()
srv = subprocess.Popen([BIN, "serve", "--log-level", "warn", "--data-dir", d, "--mgmt-port",
                        str(mgmt), "--blob-port", str(port()), "--blob-tls-port", str(port())],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(200):
        if os.path.exists(os.path.join(d, "endpoints.json")):
            break
        time.sleep(0.05)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZLITE_"))}

    def median_ms(cmd):
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)  # warm
        t = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            t.append((time.perf_counter() - t0) * 1000)
        return statistics.median(t)

    via = [BIN, "exec", "--data-dir", d, "--"]
    for cmd in (["/bin/true"], ["/usr/bin/python3", "-c", "pass"]):
        a, b = median_ms(cmd), median_ms(via + cmd)
        print("%-28s direct %7.2f ms, through azlite exec %7.2f ms: +%.2f ms (goal < 5 ms: %s)"
              % (" ".join(cmd), a, b, b - a, "met" if b - a < 5 else "NOT met"))
finally:
    srv.terminate()
    srv.wait(30)
    shutil.rmtree(d, ignore_errors=True)
PY
