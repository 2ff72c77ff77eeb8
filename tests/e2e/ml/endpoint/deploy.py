"""A numpy model deployed to a managed online endpoint with azure-ai-ml 1.4.0,
as a user would run it under `azlite exec` (code written for Azure, unchanged
endpoints): the model registered from a local file, endpoint lin-ep with key
auth, deployment blue (score.py from ./blue), all traffic to blue, invoke,
requests.post to the scoring URI as the seed does, getLogs, and a deployment
whose init() raises.  Prints one JSON line of what it saw, last."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the pydash stand-in

import numpy as np  # noqa: E402
import requests  # noqa: E402
from azure.ai.ml import MLClient  # noqa: E402
from azure.ai.ml.entities import (CodeConfiguration, Environment,  # noqa: E402
                                  ManagedOnlineDeployment, ManagedOnlineEndpoint, Model)
from azure.core.exceptions import HttpResponseError  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402

W = json.loads(sys.argv[1])
DATA = json.loads(sys.argv[2])
out = {}
cred = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"],
                              os.environ["AZURE_CLIENT_SECRET"])
ml = MLClient(cred, os.environ["AZURE_SUBSCRIPTION_ID"], "ep", "epws")
tmp = tempfile.mkdtemp()
np.save(os.path.join(tmp, "weights.npy"), np.array(W))
model = ml.models.create_or_update(Model(name="lin", path=os.path.join(tmp, "weights.npy"),
                                         type="custom_model"))
env = ml.environments.create_or_update(Environment(name="inference", image="ubuntu:22.04"))

ep = ml.online_endpoints.begin_create_or_update(
    ManagedOnlineEndpoint(name="lin-ep", auth_mode="key")).result()
out["endpoint"] = [ep.provisioning_state, ep.auth_mode, bool(ep.identity.principal_id)]
keys = ml.online_endpoints.get_keys("lin-ep")
out["keys"] = [keys.primary_key, keys.secondary_key]

dep = ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
    name="blue", endpoint_name="lin-ep", model=model, environment=env,
    code_configuration=CodeConfiguration(code=os.path.join(HERE, "blue"),
                                         scoring_script="score.py"),
    environment_variables={"GREETING": "hello from blue"},
    instance_type="Standard_DS3_v2", instance_count=1)).result()
out["deployment"] = dep.provisioning_state
got = ml.online_deployments.get(name="blue", endpoint_name="lin-ep")
rs = got.request_settings
out["defaults"] = [rs.request_timeout_ms, rs.max_concurrent_requests_per_instance,
                   rs.max_queue_wait_ms, got.liveness_probe.period,
                   got.readiness_probe.failure_threshold, got.instance_count, got.instance_type]

ep = ml.online_endpoints.get("lin-ep")
out["traffic_before"] = ep.traffic
ep.traffic = {"blue": 100}
ep = ml.online_endpoints.begin_create_or_update(ep).result()
out["traffic"] = ep.traffic
out["scoring_uri"] = ep.scoring_uri

req = os.path.join(tmp, "request.json")
with open(req, "w") as f:
    json.dump({"data": DATA}, f)
out["invoke"] = json.loads(ml.online_endpoints.invoke(endpoint_name="lin-ep", request_file=req))
out["invoke_blue"] = json.loads(ml.online_endpoints.invoke(
    endpoint_name="lin-ep", request_file=req, deployment_name="blue"))
# As the seed does it.
r = requests.post(ep.scoring_uri, json={"data": DATA},
                  headers={"Authorization": f"Bearer {keys.primary_key}"})
out["post"] = [r.status_code, r.json(), r.headers.get("azureml-model-deployment")]
out["post_no_key"] = requests.post(ep.scoring_uri, json={"data": DATA}).status_code
out["logs"] = ml.online_deployments.get_logs(name="blue", endpoint_name="lin-ep", lines=100)

# Blue/green: green gets 10% of the traffic, then all of it.
ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
    name="green", endpoint_name="lin-ep", model=model, environment=env,
    code_configuration=CodeConfiguration(code=os.path.join(HERE, "blue"),
                                         scoring_script="score.py"),
    environment_variables={"GREETING": "hello from green", "WORKER_COUNT": "2"},
    instance_type="Standard_DS3_v2", instance_count=1)).result()
ep.traffic = {"blue": 90, "green": 10}
ep = ml.online_endpoints.begin_create_or_update(ep).result()
s = requests.Session()
counts = {}
for _ in range(1000):
    r = s.post(ep.scoring_uri, json={"data": DATA},
               headers={"Authorization": f"Bearer {keys.primary_key}"})
    assert r.status_code == 200 and r.json() == json.loads(json.dumps(out["invoke"])), r.text
    name = r.headers.get("azureml-model-deployment")
    counts[name] = counts.get(name, 0) + 1
out["split"] = counts
ep.traffic = {"blue": 0, "green": 100}
ep = ml.online_endpoints.begin_create_or_update(ep).result()
counts = {}
for _ in range(50):
    r = s.post(ep.scoring_uri, json={"data": DATA},
               headers={"Authorization": f"Bearer {keys.primary_key}"})
    name = r.headers.get("azureml-model-deployment")
    counts[name] = counts.get(name, 0) + 1
out["all_green"] = counts
out["green_logs"] = ml.online_deployments.get_logs(name="green", endpoint_name="lin-ep",
                                                   lines=100)

try:
    ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name="bad", endpoint_name="lin-ep", model=model, environment=env,
        code_configuration=CodeConfiguration(code=os.path.join(HERE, "bad"),
                                             scoring_script="score.py"),
        instance_type="Standard_DS3_v2", instance_count=1)).result()
    out["bad_error"] = None
except HttpResponseError as e:
    out["bad_error"] = str(e)
out["bad_state"] = ml.online_deployments.get(name="bad", endpoint_name="lin-ep").provisioning_state
out["bad_logs"] = ml.online_deployments.get_logs(name="bad", endpoint_name="lin-ep", lines=100)
out["deployments"] = sorted(d.name for d in ml.online_deployments.list(endpoint_name="lin-ep"))
print()
print(json.dumps(out))
