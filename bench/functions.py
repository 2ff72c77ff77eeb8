#!/usr/bin/python3
"""Azure Functions benchmark: cold start and warm requests of a trivial
Python HTTP function on azlite's function host.  A benchmark, never part of
`make test`.

  cold start: a zip deployment (POST /api/zipdeploy on the app's SCM site,
    synchronous: extracted and loaded once to check it) to the first answer
    of its function (which starts the worker: a python3 process that loads
    function_app.py), BENCH_RUNS times; the issue's goal is under 1 s plus
    the app's own import time;
  warm: the same function with a worker running, one connection, keep-alive
    (wrk -c1 when installed, else Python requests): p50, p99 and requests/s,
    beside the same measure of an endpoint that involves no worker
    (/metadata/endpoints on the same port): the difference is what the host
    and its worker add (goal: warm p50 under 1 ms of host overhead).

Needs: build/azlite (AZLITE_BIN overrides), /usr/bin/python3 with requests;
wrk for the warm figures (scripts/setup.sh installs it).
"""
import base64
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e", "lib"))
from azlite_harness import Azlite  # noqa: E402

import requests  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
APP = "benchfn"
SRC = '''import azure.functions as func
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("%s")
'''


def package(tag):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("function_app.py", SRC % tag)
    return buf.getvalue()


def wrk(url, host):
    out = subprocess.run(["wrk", "-t1", "-c1", "-d5s", "--latency", "-H", "Host: " + host, url],
                         capture_output=True, text=True, timeout=60).stdout

    def ms(label):
        m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)" % label, out, re.M)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return ms("50%"), ms("99%"), rps


def py_loop(session, url, host, n=2000):
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        session.get(url, headers={"Host": host}).raise_for_status()
        lat.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)], n / total


def main():
    srv = Azlite(log_level="warn").start()
    try:
        sub = srv.env["AZURE_SUBSCRIPTION_ID"]
        base = "/subscriptions/%s/resourceGroups/bench" % sub
        srv.http("PUT", base + "?api-version=2021-04-01", json={"location": "eastus"})
        site = base + "/providers/Microsoft.Web/sites/" + APP
        r = srv.http("PUT", site + "?api-version=2022-03-01",
                     json={"location": "eastus", "kind": "functionapp,linux",
                           "properties": {"reserved": True}})
        r.raise_for_status()
        cred = srv.http("POST", site + "/config/publishingcredentials/list?api-version=2022-03-01")
        p = cred.json()["properties"]
        auth = "Basic " + base64.b64encode(("%s:%s" % (p["publishingUserName"],
                                                        p["publishingPassword"])).encode()).decode()
        s = requests.Session()
        s.verify = srv.ca
        scm, host = APP + ".scm.azurewebsites.net", APP + ".azurewebsites.net"
        url = srv.mgmt_url + "/api/ping"
        cold, deploys = [], []
        for i in range(RUNS):
            zipb = package("v%d" % i)
            t0 = time.perf_counter()
            r = s.post(srv.mgmt_url + "/api/zipdeploy", data=zipb,
                       headers={"Host": scm, "Authorization": auth,
                                "Content-Type": "application/octet-stream"})
            assert r.status_code == 200, (r.status_code, r.text)
            t1 = time.perf_counter()
            r = s.get(url, headers={"Host": host})
            t2 = time.perf_counter()
            assert r.text == "v%d" % i, r.text
            deploys.append((t1 - t0) * 1000)
            cold.append((t2 - t0) * 1000)
        print("cold start (zip deploy to first answer): median %.0f ms (deploy %.0f ms, first "
              "request %.0f ms), %d runs; goal < 1000 ms" % (
                  statistics.median(cold), statistics.median(deploys),
                  statistics.median(cold) - statistics.median(deploys), RUNS))
        meta = srv.mgmt_url + "/metadata/endpoints?api-version=2019-05-01"
        if shutil.which("wrk"):
            fn = wrk(url, host)
            base_ = wrk(meta, "127.0.0.1")
            how = "wrk -c1, keep-alive"
        else:
            fn = py_loop(s, url, host)
            base_ = py_loop(s, meta, "127.0.0.1")
            how = "python requests, keep-alive"
        print("warm function (%s): p50 %.3f ms, p99 %.3f ms, %.0f req/s" % ((how,) + fn))
        print("same port, no worker (/metadata/endpoints): p50 %.3f ms, p99 %.3f ms, %.0f req/s"
              % base_)
        print("host and worker overhead at p50: %.3f ms (goal < 1 ms)" % (fn[0] - base_[0]))
    finally:
        srv.cleanup()


if __name__ == "__main__":
    main()
