"""The seed's "Deploy Model" step with azure-ai-ml 1.4.0, as a user would run
it under `azlite exec`: a command job trains the seed's torch classifier
(../seed/src/train.py) on a cluster and writes outputs/model.pt; the model is
registered from the job's output (azureml://jobs/<job>/outputs/artifacts/
paths/outputs/model.pt); endpoint mnist-service with key auth; deployment blue
whose score.py (./mnist) loads it in init(); get_keys; invoke; requests.post
to the scoring URI as the seed does; green at 10% of 1000 requests; a wrong
key; getLogs.  Argv: a JSON list of input rows and a folder to download the
job's model.pt to.  Prints one JSON line of what it saw, last."""
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the pydash stand-in

import requests  # noqa: E402
from azure.ai.ml import MLClient, command  # noqa: E402
from azure.ai.ml.entities import (AmlCompute, CodeConfiguration, Environment,  # noqa: E402
                                  ManagedOnlineDeployment, ManagedOnlineEndpoint, Model)
from azure.identity import ClientSecretCredential  # noqa: E402

DATA = json.loads(sys.argv[1])
out = {}
cred = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"],
                              os.environ["AZURE_CLIENT_SECRET"])
ml = MLClient(cred, os.environ["AZURE_SUBSCRIPTION_ID"], "mnist", "mnistws")
ml.compute.begin_create_or_update(AmlCompute(name="cpu-cluster", size="Standard_DS3_v2",
                                             max_instances=1)).result()
env = ml.environments.create_or_update(Environment(name="torch-env", image="ubuntu:22.04"))
job = ml.jobs.create_or_update(command(
    code=os.path.join(os.path.dirname(HERE), "seed", "src"),
    command="python3 train.py --epochs 2 --batch-size 64 --learning-rate 0.01",
    environment="torch-env:%s" % env.version, compute="cpu-cluster",
    experiment_name="mnist-training"))
ml.jobs.stream(job.name)
out["job"] = [job.name, ml.jobs.get(job.name).status]
ml.jobs.download(job.name, download_path=sys.argv[2])

model = ml.models.create_or_update(Model(
    name="mnist-classifier",
    path="azureml://jobs/%s/outputs/artifacts/paths/outputs/model.pt" % job.name))
out["model"] = [model.name, model.version]

ep = ml.online_endpoints.begin_create_or_update(
    ManagedOnlineEndpoint(name="mnist-service", auth_mode="key")).result()


def deployment(name):
    return ManagedOnlineDeployment(
        name=name, endpoint_name="mnist-service", model=model, environment=env,
        code_configuration=CodeConfiguration(code=os.path.join(HERE, "mnist"),
                                             scoring_script="score.py"),
        instance_type="Standard_DS3_v2", instance_count=1)


out["blue"] = ml.online_deployments.begin_create_or_update(deployment("blue")).result() \
    .provisioning_state
ep.traffic = {"blue": 100}
ep = ml.online_endpoints.begin_create_or_update(ep).result()
keys = ml.online_endpoints.get_keys("mnist-service")
key = keys.primary_key

req = os.path.join(tempfile.mkdtemp(), "request.json")
with open(req, "w") as f:
    json.dump({"data": DATA}, f)
out["invoke"] = json.loads(ml.online_endpoints.invoke(endpoint_name="mnist-service",
                                                      request_file=req))
# As the seed does it.
data = {"data": DATA}
r = requests.post(ep.scoring_uri, json=data, headers={'Authorization': f'Bearer {key}'})
out["post"] = [r.status_code, r.json()]
r = requests.post(ep.scoring_uri, json=data, headers={'Authorization': 'Bearer wrong-key'})
out["wrong_key"] = r.status_code

ml.online_deployments.begin_create_or_update(deployment("green")).result()
ep.traffic = {"blue": 90, "green": 10}
ep = ml.online_endpoints.begin_create_or_update(ep).result()
s = requests.Session()
counts = {}
for _ in range(1000):
    r = s.post(ep.scoring_uri, json={"data": DATA[:1]},
               headers={'Authorization': f'Bearer {key}'})
    assert r.status_code == 200, r.text
    name = r.headers.get("azureml-model-deployment")
    counts[name] = counts.get(name, 0) + 1
out["split"] = counts
out["logs"] = ml.online_deployments.get_logs(name="blue", endpoint_name="mnist-service",
                                             lines=100)
print()
print(json.dumps(out))
