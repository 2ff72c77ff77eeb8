#!/usr/bin/python3
"""Online endpoint benchmark: azlite's managed online endpoint against the
same score.py behind Flask + gunicorn, in the same run.  A benchmark, never
part of `make test`.

For two scripts, a trivial run() and a small torch model (the seed's
classifier, one 28x28 row per request):
  throughput: wrk, BENCH_CONNS keep-alive connections for BENCH_SECONDS, on
    azlite's scoring URI (HTTPS, key checked, routed by traffic) and on
    gunicorn (sync workers, plain HTTP on 127.0.0.1), both with
    BENCH_WORKERS workers;
  latency: p50/p99 of one connection;
  added p50: the one-connection p50 less run()'s own p50 called in-process.

Goals (issue 17): >= 2x gunicorn's throughput on the trivial run(), >= 1x on
the model, < 0.3 ms added p50.

Needs: build/azlite (AZLITE_BIN overrides), root (sandboxes), wrk, Debian's
python3-flask, gunicorn, python3-torch, python3-azure.
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e", "lib"))
from azlite_harness import Azlite, BIN, clean_environ, free_port  # noqa: E402

WORKERS = os.environ.get("BENCH_WORKERS", "2")
CONNS = os.environ.get("BENCH_CONNS", "16")
SECONDS = os.environ.get("BENCH_SECONDS", "5")
API = "api-version=2022-10-01-preview"


def wrk(url, body, conns, key=None, dep=None):
    """(requests/s, p50 ms, p99 ms, non-2xx count) of a wrk run."""
    env = dict(os.environ, BENCH_BODY=body, BENCH_KEY=key or "", BENCH_DEPLOYMENT=dep or "")
    r = subprocess.run(["wrk", "-t%d" % min(2, conns), "-c%d" % conns, "-d" + SECONDS + "s",
                        "--latency", "-s", os.path.join(HERE, "wrk_score.lua"), url],
                       capture_output=True, text=True, env=env, check=True)

    def ms(label):
        m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, r.stdout, re.M)
        v = float(m.group(1))
        return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", r.stdout)
    return rps, ms("50%"), ms("99%"), int(bad.group(1)) if bad else 0


def in_process_p50(script, raw, model_dir):
    code = ("import importlib.util, os, statistics, sys, time\n"
            "spec = importlib.util.spec_from_file_location('score', sys.argv[1])\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m.init()\n"
            "raw = open(sys.argv[2]).read()\n"
            "ts = []\n"
            "for _ in range(2000):\n"
            "    t = time.perf_counter(); m.run(raw); ts.append(time.perf_counter() - t)\n"
            "print(statistics.median(ts) * 1000)\n")
    env = dict(os.environ, AZUREML_MODEL_DIR=model_dir, OMP_NUM_THREADS="1")
    p = subprocess.run(["/usr/bin/python3", "-c", code, script, raw], capture_output=True,
                       text=True, env=env, check=True)
    return float(p.stdout.strip().splitlines()[-1])


def gunicorn(script, model_dir):
    port = free_port()
    env = dict(os.environ, BENCH_SCRIPT=script, AZUREML_MODEL_DIR=model_dir, OMP_NUM_THREADS="1",
               PYTHONPATH=os.path.join(HERE, "endpoint"))
    p = subprocess.Popen(["gunicorn", "-w", WORKERS, "-b", "127.0.0.1:%d" % port,
                          "--log-level", "warning", "wsgi:app"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    import requests
    deadline = time.time() + 60
    while True:
        try:
            requests.post("http://127.0.0.1:%d/score" % port, data="{}", timeout=1)
            break
        except requests.ConnectionError:
            assert time.time() < deadline and p.poll() is None, "gunicorn did not start"
            time.sleep(0.2)
    return p, "http://127.0.0.1:%d/score" % port


def main():
    tmp = tempfile.mkdtemp()
    subprocess.run(["/usr/bin/python3", "-c",
                    "import torch, sys\nfrom torch import nn\ntorch.manual_seed(0)\n"
                    "m = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(),"
                    " nn.Linear(32, 10))\ntorch.save(m, sys.argv[1])\n",
                    os.path.join(tmp, "model.pt")], check=True)
    bodies = {"trivial": os.path.join(tmp, "trivial.json"),
              "torch": os.path.join(tmp, "torch.json")}
    with open(bodies["trivial"], "w") as f:
        json.dump({"data": [[1.0, 2.0, 3.0]]}, f)
    with open(bodies["torch"], "w") as f:
        json.dump({"data": [[((i * 7) % 13) / 13.0 for i in range(784)]]}, f)

    srv = Azlite(log_level="warn").start()
    try:
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        srv.http("PUT", "/subscriptions/%s/resourceGroups/b?api-version=2021-04-01" % sub,
                 json={"location": "eastus"})
        ws = "/subscriptions/%s/resourceGroups/b/providers/Microsoft.MachineLearningServices" \
             "/workspaces/bws" % sub
        assert srv.http("PUT", ws + "?" + API, json={"location": "eastus"}).status_code == 201
        env = clean_environ()
        p = subprocess.run([BIN, "exec", "--data-dir", srv.data_dir, "--", "/usr/bin/python3",
                            os.path.join(HERE, "endpoint", "deploy.py"), tmp, WORKERS],
                           capture_output=True, text=True, env=env, timeout=600)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
        key = json.loads(p.stdout.strip().splitlines()[-1])["key"]
        ep = srv.http("GET", ws + "/onlineEndpoints/bench-ep?" + API).json()
        uri = ep["properties"]["scoringUri"]
        print("workers %s, %s connections, %s s per run; azlite %s" % (WORKERS, CONNS, SECONDS,
                                                                     uri))
        print("%-8s %-9s %10s %8s %8s %6s" % ("script", "server", "req/s", "p50 ms", "p99 ms",
                                             "errors"))
        summary = []
        for name in ("trivial", "torch"):
            script = os.path.join(HERE, "endpoint", name, "score.py")
            own = in_process_p50(script, bodies[name], tmp)
            wrk(uri, bodies[name], 4, key, name)  # warm-up
            a = wrk(uri, bodies[name], int(CONNS), key, name)
            a1 = wrk(uri, bodies[name], 1, key, name)
            g, gurl = gunicorn(script, tmp)
            try:
                wrk(gurl, bodies[name], 4)
                b = wrk(gurl, bodies[name], int(CONNS))
                b1 = wrk(gurl, bodies[name], 1)
            finally:
                os.killpg(g.pid, signal.SIGTERM)
                g.wait()
            for who, x, x1 in (("azlite", a, a1), ("gunicorn", b, b1)):
                print("%-8s %-9s %10.0f %8.2f %8.2f %6d   (1 conn: p50 %.2f ms, p99 %.2f ms)"
                      % (name, who, x[0], x[1], x[2], x[3], x1[1], x1[2]))
            summary.append("%s: azlite/gunicorn throughput %.2fx; run() in-process p50 %.3f ms,"
                           " added p50 azlite %.2f ms, gunicorn %.2f ms"
                           % (name, a[0] / b[0], own, a1[1] - own, b1[1] - own))
        print("\n".join(summary))
        print("goals: >= 2x (trivial), >= 1x (torch), added p50 < 0.3 ms")
    finally:
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
