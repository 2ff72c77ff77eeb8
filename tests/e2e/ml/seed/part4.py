"""The seed's Part 4 (azure_ml_training.py) mapped to azure-ai-ml v2, as a
user would run it under `azlite exec` (code written for Azure, unchanged
endpoints).  Prints one JSON line of what it saw, last."""
import io
import json
import os
import sys
import tempfile
import contextlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the pydash stand-in

from azure.ai.ml import Input, MLClient, command  # noqa: E402
from azure.ai.ml.entities import AmlCompute, Data, Environment, Model, Workspace  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402

out = {}
cred = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"],
                              os.environ["AZURE_CLIENT_SECRET"])
ml = MLClient(cred, os.environ["AZURE_SUBSCRIPTION_ID"], "ml-resources", "ml-workspace")

# The seed's Workspace.create: the SDK sends its workspace template (storage,
# key vault, Application Insights, the workspace) to management.azure.com.
ws = ml.workspaces.begin_create(Workspace(name="ml-workspace", location="eastus")).result()
out["workspace"] = ws.name

compute_name = "gpu-cluster"
try:
    compute_target = ml.compute.get(compute_name)
    print("Found existing compute target: %s" % compute_name)
except Exception:  # azure.core.exceptions.ResourceNotFoundError
    print("Creating compute target: %s" % compute_name)
    compute_target = ml.compute.begin_create_or_update(AmlCompute(
        name=compute_name, size="Standard_NC6s_v3", max_instances=4,
        idle_time_before_scale_down=300)).result()
out["compute"] = [compute_target.size, compute_target.max_instances,
                  compute_target.idle_time_before_scale_down]

env = ml.environments.create_or_update(Environment(
    name="pytorch-env", conda_file=os.path.join(HERE, "environment.yml"),
    image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"))
out["environment"] = [env.name, env.version]

# The training data, uploaded to the workspace's blob store as a data asset.
import numpy as np  # noqa: E402
rng = np.random.default_rng(0)
xs = rng.standard_normal((512, 1, 28, 28)).astype("float32")
npz = os.path.join(tempfile.mkdtemp(), "mnist-sample.npz")
np.savez(npz, x=xs, y=(xs.mean(axis=(1, 2, 3)) > 0).astype("int64"))
data = ml.data.create_or_update(Data(name="mnist-sample", path=npz, type="uri_file"))
out["data"] = [data.name, data.version]

job = command(
    code=os.path.join(HERE, "src"),
    command="python3 train.py --epochs ${{inputs.epochs}} --batch-size ${{inputs.batch_size}}"
            " --learning-rate ${{inputs.learning_rate}} --data ${{inputs.data}}",
    inputs={"epochs": 10, "batch_size": 32, "learning_rate": 0.001,
            "data": Input(type="uri_file", path="azureml:mnist-sample:%s" % data.version)},
    environment="pytorch-env:%s" % env.version,
    compute=compute_name,
    experiment_name="mnist-training",
)
run = ml.jobs.create_or_update(job)
out["submitted"] = run.status

buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    ml.jobs.stream(run.name)
out["stream"] = buf.getvalue()
done = ml.jobs.get(run.name)
out["status"] = done.status
out["job"] = run.name

d = tempfile.mkdtemp()
ml.jobs.download(run.name, download_path=d)
path = os.path.join(d, "artifacts", "outputs", "model.pt")
out["downloaded"] = os.path.exists(path)
if out["downloaded"]:
    import torch
    m = torch.load(path)
    out["model_out"] = list(m(torch.zeros(1, 1, 28, 28)).shape)

versions = []
for _ in range(2):
    model = ml.models.create_or_update(Model(
        name="mnist-classifier",
        path="azureml://jobs/%s/outputs/artifacts/paths/outputs/model.pt" % run.name,
        tags={"framework": "pytorch", "task": "classification"}))
    print("Model registered: %s, version: %s" % (model.name, model.version))
    versions.append([model.name, model.version, model.tags])
out["models"] = versions
d2 = tempfile.mkdtemp()
ml.models.download("mnist-classifier", version="2", download_path=d2)
found = [os.path.join(a, f) for a, _, fs in os.walk(d2) for f in fs]
out["model_files"] = [os.path.relpath(f, d2) for f in found]
if found:
    import torch
    out["registered_out"] = list(torch.load(found[0])(torch.zeros(1, 1, 28, 28)).shape)
# A model from a local file: uploaded to the workspace's blob store, then fetched back.
local = ml.models.create_or_update(Model(name="mnist-local", path=path,
                                         description="uploaded from the downloaded output"))
d3 = tempfile.mkdtemp()
ml.models.download("mnist-local", version=local.version, download_path=d3)
out["local_model"] = [local.version, sorted(os.path.relpath(os.path.join(a, f), d3)
                                            for a, _, fs in os.walk(d3) for f in fs)]
out["nodes"] = [[n.node_id, n.node_state] for n in ml.compute.list_nodes(compute_name)]
print(json.dumps(out))
