"""A trivial scoring script: what the serving path costs by itself."""
import json


def init():
    print("init: trivial", flush=True)


def run(raw_data):
    return {"n": len(json.loads(raw_data)["data"])}
