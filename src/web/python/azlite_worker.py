"""azlite's Python function worker.

  azlite_worker.py check PACKAGE.zip DIR [URL]
                                           (fetch URL into PACKAGE.zip, then) extract
                                           the package into DIR and load
                                           DIR/function_app.py; print the functions
                                           it declares (JSON) or why it cannot load
  azlite_worker.py serve DIR               load DIR/function_app.py and serve
                                           invocations on fd 3

The host (src/web/host.c) talks to `serve` over a socket: each message is a
4-byte big-endian length and a JSON object.  The worker first sends
{"ready": true, "functions": [...]} (or {"ready": false, "error": ...}), then
answers each invocation {"fn", "kind": "http"|"timer"|"blob", ...} with
{"status", "headers", "body_b64"} or {"error": traceback}.  A function that
raises is answered, and the worker goes on.  When azlite goes away the
socket closes and the worker exits.
"""
import asyncio
import base64
import importlib.util
import inspect
import json
import os
import socket
import struct
import sys
import time
import traceback
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def use_functions_module():
    """The real azure.functions when importable, else azlite's (beside this file)."""
    try:
        import azure.functions  # noqa: F401
        return
    except ImportError:
        pass
    sys.path.append(HERE)
    try:
        import azure
        p = os.path.join(HERE, "azure")
        if p not in list(azure.__path__):
            azure.__path__.append(p)
    except ImportError:
        pass
    import azure.functions  # noqa: F401


def load(app_dir):
    """Imports function_app.py; returns {name: _Function-like}."""
    path = os.path.join(app_dir, "function_app.py")
    if not os.path.isfile(path):
        raise RuntimeError("function_app.py was not found at the root of the package: the "
                           "Python v2 programming model needs it")
    sys.path.insert(0, app_dir)
    # What a remote build or `func pack` puts in the package, as the Azure host reads it.
    ver = "python%d.%d" % sys.version_info[:2]
    for sub in ("lib/site-packages", "lib/%s/site-packages" % ver):
        p = os.path.join(app_dir, ".python_packages", sub)
        if os.path.isdir(p):
            sys.path.insert(1, p)
    use_functions_module()
    import azure.functions as func
    spec = importlib.util.spec_from_file_location("function_app", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = mod
    spec.loader.exec_module(mod)
    apps = [v for v in vars(mod).values() if isinstance(v, func.FunctionApp)]
    if not apps:
        raise RuntimeError("function_app.py defines no func.FunctionApp()")
    fns = {}
    for app in apps:
        for e in app.get_functions():
            if e.name in fns:
                raise RuntimeError("two functions are named %r" % e.name)
            fns[e.name] = e
    if not fns:
        raise RuntimeError("function_app.py declares no function")
    return fns


def describe(fns):
    return [e.describe() for e in fns.values()]


def extract(package, dest):
    with zipfile.ZipFile(package) as z:
        for info in z.infolist():
            name = info.filename
            target = os.path.realpath(os.path.join(dest, name))
            if not (target == os.path.realpath(dest) or
                    target.startswith(os.path.realpath(dest) + os.sep)):
                raise RuntimeError("the package names a path outside the site: %r" % name)
        z.extractall(dest)


def fetch(url, package):
    import urllib.request
    with urllib.request.urlopen(url, timeout=120) as r, open(package, "wb") as f:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            f.write(chunk)


def requirements(dest):
    """azlite installs no packages (this machine has no index to install from): for
    each line of requirements.txt the log says whether this machine has it (the
    package's own .python_packages in the zip, or the system's Python) or not."""
    path = os.path.join(dest, "requirements.txt")
    if not os.path.exists(path):
        return
    import importlib.metadata
    import re
    have, missing = [], []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            name = re.split(r"[\s<>=!~;\[]", line, 1)[0]
            if name.lower() in ("azure-functions", "azure_functions"):
                have.append("%s (azlite's azure.functions where the real one is absent)" % name)
                continue
            try:
                have.append("%s %s" % (name, importlib.metadata.version(name)))
            except importlib.metadata.PackageNotFoundError:
                missing.append(line)
    print("requirements.txt: not installed (azlite installs no packages); on this machine: "
          "%s" % (", ".join(have) or "none"), file=sys.stderr)
    if missing:
        print("requirements.txt: missing here: %s" % ", ".join(missing), file=sys.stderr)


def check(package, dest, url=None):
    if url:
        try:
            fetch(url, package)
        except Exception as e:  # noqa: BLE001 - the reason goes to the deployment log
            print("The package at WEBSITE_RUN_FROM_PACKAGE could not be fetched: %s" % e,
                  file=sys.stderr)
            return 1
    try:
        os.makedirs(dest, exist_ok=True)
        extract(package, dest)
    except (zipfile.BadZipFile, OSError, RuntimeError) as e:
        print("The package is not a valid zip file: %s" % e, file=sys.stderr)
        return 1
    requirements(dest)
    try:
        fns = load(dest)
    except BaseException:
        print("Loading function_app.py failed:\n" + traceback.format_exc(limit=-3),
              file=sys.stderr)
        return 1
    print(json.dumps({"functions": describe(fns)}))
    return 0


def stamp():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def send(sock, obj):
    data = json.dumps(obj).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv(sock):
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf
    hdr = exactly(4)
    if hdr is None:
        return None
    data = exactly(struct.unpack(">I", hdr)[0])
    return None if data is None else json.loads(data)


def call(e, arg, msg, app_dir):
    import azure.functions as func
    kwargs = {}
    params = inspect.signature(e.fn).parameters
    param = e.settings.get("param") or next(iter(params), None)
    if param in params:
        kwargs[param] = arg
    elif params:
        kwargs[next(iter(params))] = arg
    if "context" in params:
        kwargs["context"] = func.Context(msg.get("invocation_id", str(uuid.uuid4())), e.name,
                                         app_dir)
    out = e.fn(**kwargs)
    if inspect.isawaitable(out):
        out = asyncio.run(out) if inspect.iscoroutine(out) else out
    return out


def invoke(fns, msg, app_dir):
    import azure.functions as func
    e = fns.get(msg.get("fn"))
    if e is None:
        return {"error": "no function %r" % msg.get("fn")}
    kind = msg.get("kind")
    if kind == "http":
        body = base64.b64decode(msg.get("body_b64") or "")
        req = func.HttpRequest(msg["method"], msg["url"], headers=msg.get("headers"),
                               params=msg.get("params"), route_params=msg.get("route_params"),
                               body=body)
        out = call(e, req, msg, app_dir)
        if out is None:
            out = func.HttpResponse(status_code=204)
        elif isinstance(out, (str, bytes)):
            out = func.HttpResponse(out)
        elif isinstance(out, (dict, list)):
            out = func.HttpResponse(json.dumps(out), mimetype="application/json")
        headers = dict(out.headers)
        if out.mimetype and "content-type" not in headers:
            ct = out.mimetype
            if ct.startswith("text/") or ct == "application/json":
                ct += "; charset=" + out.charset
            headers["content-type"] = ct
        body = out.get_body()
        if isinstance(body, str):
            body = body.encode()
        return {"status": out.status_code, "headers": headers,
                "body_b64": base64.b64encode(body).decode()}
    if kind == "timer":
        call(e, func.TimerRequest(past_due=bool(msg.get("past_due"))), msg, app_dir)
        return {"status": 200}
    return {"error": "unknown invocation kind %r" % kind}


def receipts_load(path):
    try:
        with open(path) as f:
            return set(json.load(f))
    except (OSError, ValueError):
        return set()


def receipts_save(path, receipts):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(sorted(receipts), f)
    os.replace(tmp, path)


def scan(fns, msg, app_dir):
    """Blob triggers: each blob under a blob function's path that has no
    receipt yet (its name and ETag) runs the function once, as the Functions
    host's blob scan does.  Returns how many ran."""
    import azure.functions as func
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import ContainerClient
    path = os.environ.get("AZLITE_BLOB_RECEIPTS", os.path.join(app_dir, ".blob-receipts.json"))
    receipts = receipts_load(path)
    ran = 0
    for e in fns.values():
        if e.trigger != "blob":
            continue
        container, _, pattern = e.settings["path"].partition("/")
        prefix = pattern.split("{", 1)[0]
        conn = os.environ.get(e.settings.get("connection") or "AzureWebJobsStorage")
        if not conn:
            print("blob trigger %s: no app setting %r" % (e.name, e.settings.get("connection")),
                  file=sys.stderr, flush=True)
            continue
        cc = ContainerClient.from_connection_string(conn, container)
        try:
            blobs = list(cc.list_blobs(name_starts_with=prefix or None))
        except ResourceNotFoundError:
            continue
        for b in blobs:
            key = "%s|%s/%s|%s" % (e.name, container, b.name, b.etag)
            if key in receipts:
                continue
            data = cc.download_blob(b.name).readall()
            stream = func.InputStream(data=data, name="%s/%s" % (container, b.name),
                                      uri="%s/%s" % (cc.url.rstrip("/"), b.name),
                                      length=b.size)
            try:
                call(e, stream, msg, app_dir)
                print("Executed 'Functions.%s' (Succeeded, blob %s/%s)" % (e.name, container,
                                                                          b.name),
                      file=sys.stderr, flush=True)
            except Exception:  # noqa: BLE001 - the function's failure is logged; the receipt kept
                print("Executed 'Functions.%s' (Failed, blob %s/%s)\n%s" % (
                    e.name, container, b.name, traceback.format_exc()), file=sys.stderr,
                    flush=True)
            receipts.add(key)
            receipts_save(path, receipts)
            ran += 1
    return ran


def serve(app_dir):
    sock = socket.socket(fileno=3)
    os.chdir(app_dir)
    try:
        fns = load(app_dir)
    except BaseException:
        send(sock, {"ready": False, "error": traceback.format_exc(limit=-3)})
        return 1
    send(sock, {"ready": True, "functions": describe(fns), "pid": os.getpid()})
    while True:
        msg = recv(sock)
        if msg is None:
            return 0
        if msg.get("kind") == "scan":
            try:
                out = {"status": 200, "ran": scan(fns, msg, app_dir)}
            except BaseException:
                tb = traceback.format_exc()
                print("Blob scan failed\n%s" % tb, file=sys.stderr, flush=True)
                out = {"error": tb}
            send(sock, out)
            continue
        iid = msg.get("invocation_id") or str(uuid.uuid4())
        msg["invocation_id"] = iid
        t0 = time.monotonic()
        print("%s Executing 'Functions.%s' (Reason='%s', Id=%s)" % (
            stamp(), msg.get("fn"), msg.get("kind"), iid), file=sys.stderr, flush=True)
        try:
            out = invoke(fns, msg, app_dir)
            print("%s Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)" % (
                stamp(), msg.get("fn"), iid, (time.monotonic() - t0) * 1000), file=sys.stderr,
                flush=True)
        except BaseException:
            tb = traceback.format_exc()
            print("%s Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)\n%s" % (
                stamp(), msg.get("fn"), iid, (time.monotonic() - t0) * 1000, tb),
                file=sys.stderr, flush=True)
            out = {"error": tb}
        send(sock, out)


def main(argv):
    if len(argv) in (4, 5) and argv[1] == "check":
        return check(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    if len(argv) == 3 and argv[1] == "serve":
        return serve(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
