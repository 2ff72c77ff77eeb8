"""The seed's scoring script for the torch classifier a job trained: init()
loads outputs/model.pt from AZUREML_MODEL_DIR, run() predicts."""
import json
import os

import torch

model = None


def init():
    global model
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pt")
    model = torch.load(path)
    model.eval()
    print("init: loaded the mnist model from %s" % path, flush=True)


def run(raw_data):
    x = torch.tensor(json.loads(raw_data)["data"], dtype=torch.float32)
    with torch.no_grad():
        logits = model(x)
    return {"predictions": logits.argmax(1).tolist(), "logits": logits.tolist()}
