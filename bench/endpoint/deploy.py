"""Run under `azlite exec` by bench/endpoint.py: endpoint bench-ep with
deployments trivial and torch (./trivial, ./torch; WORKER_COUNT workers, one
instance each), through azure-ai-ml 1.4.0.  Argv: the model.pt folder, the
worker count.  Prints one JSON line: the scoring URI and a key."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "e2e", "ml"))

from azure.ai.ml import MLClient  # noqa: E402
from azure.ai.ml.entities import (CodeConfiguration, Environment,  # noqa: E402
                                  ManagedOnlineDeployment, ManagedOnlineEndpoint, Model,
                                  OnlineRequestSettings)
from azure.identity import ClientSecretCredential  # noqa: E402

cred = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"],
                              os.environ["AZURE_CLIENT_SECRET"])
ml = MLClient(cred, os.environ["AZURE_SUBSCRIPTION_ID"], "b", "bws")
model = ml.models.create_or_update(Model(name="bench-model",
                                         path=os.path.join(sys.argv[1], "model.pt")))
env = ml.environments.create_or_update(Environment(name="bench", image="ubuntu:22.04"))
ep = ml.online_endpoints.begin_create_or_update(
    ManagedOnlineEndpoint(name="bench-ep", auth_mode="key")).result()
for name in ("trivial", "torch"):
    ml.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
        name=name, endpoint_name="bench-ep", model=model, environment=env,
        code_configuration=CodeConfiguration(code=os.path.join(HERE, name),
                                             scoring_script="score.py"),
        environment_variables={"WORKER_COUNT": sys.argv[2], "OMP_NUM_THREADS": "1"},
        request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=64),
        instance_type="Standard_DS3_v2", instance_count=1)).result()
ep.traffic = {"trivial": 100}
ml.online_endpoints.begin_create_or_update(ep).result()
print()
print(json.dumps({"key": ml.online_endpoints.get_keys("bench-ep").primary_key}))
