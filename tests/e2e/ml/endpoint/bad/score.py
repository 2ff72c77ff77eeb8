"""A scoring script whose init() fails."""


def init():
    raise RuntimeError("cannot load the model: weights are missing")


def run(raw_data):
    return raw_data
