"""The same score.py behind Flask, as gunicorn serves it (BENCH_SCRIPT names
the script): init() once per worker, run(raw) per POST /score."""
import importlib.util
import json
import os

from flask import Flask, Response, request

spec = importlib.util.spec_from_file_location("score", os.environ["BENCH_SCRIPT"])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
mod.init()
app = Flask(__name__)


@app.route("/score", methods=["POST"])
def score():
    out = mod.run(request.get_data(as_text=True))
    return Response(json.dumps(out), mimetype="application/json")
