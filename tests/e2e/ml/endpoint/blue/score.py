"""A linear model's scoring script, as Azure ML runs it: init() once,
run(raw_data) per request."""
import json
import os
import time

import numpy as np

model = None


def init():
    global model
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.npy")
    model = np.load(path)
    print("init: loaded weights of shape %s from %s" % (model.shape, path), flush=True)
    print("init: GREETING=" + os.environ.get("GREETING", ""), flush=True)


def run(raw_data):
    req = json.loads(raw_data)
    if "tag" in req:  # which deployment saw which request
        print("run: tag=%s" % req["tag"], flush=True)
    if "sleep" in req:  # a slow request, for the concurrency limit
        time.sleep(req["sleep"])
    data = np.array(req["data"])
    return (data @ model).tolist()
