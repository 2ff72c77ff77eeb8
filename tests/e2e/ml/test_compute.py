"""AmlCompute clusters through azure-ai-ml 1.4.0: the seed's gpu-cluster
(Standard_NC6s_v3, max 4, idle 300 s) made by the SDK's poller (201 with
Azure-AsyncOperation and Retry-After), read back, listed; nodes that are real
sandboxes (minNodeCount 1 boots one; lowering it lets the node go once it has
been idle the cluster's idle time on azlite's clock); the errors Azure
answers; delete through its poller."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from azlite_harness import Azlite  # noqa: E402
import mlsdk  # noqa: E402

srv = None
ml = None
SUB = None
RG = "ml-resources"
API = "api-version=2022-10-01-preview"
WS = None


def setUpModule():
    global srv, ml, SUB, WS
    srv = Azlite().start()
    SUB = srv.env["AZURE_SUBSCRIPTION_ID"]
    r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01" % (SUB, RG),
                 json={"location": "eastus"})
    assert r.status_code in (200, 201), r.text
    WS = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices" \
         "/workspaces/ml-workspace" % (SUB, RG)
    r = srv.http("PUT", WS + "?" + API, json={"location": "eastus"})
    assert r.status_code == 201, r.text
    ml = mlsdk.ml_client(srv, RG, "ml-workspace")


def tearDownModule():
    mlsdk.unset()
    srv.cleanup()


def raw(name):
    r = srv.http("GET", "%s/computes/%s?%s" % (WS, name, API))
    assert r.status_code == 200, r.text
    return r.json()["properties"]


def wait_for(fn, what, limit=120):
    """Polls fn until it is true (the scaling threads are asynchronous)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class Cluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from azure.ai.ml.entities import AmlCompute
        c = AmlCompute(name="gpu-cluster", size="Standard_NC6s_v3", min_instances=0,
                       max_instances=4, idle_time_before_scale_down=300)
        cls.made = ml.compute.begin_create_or_update(c).result()

    def test_created(self):
        c = self.made
        self.assertEqual(c.name, "gpu-cluster")
        self.assertEqual(c.provisioning_state, "Succeeded")
        self.assertEqual(c.size, "Standard_NC6s_v3")
        self.assertEqual(c.max_instances, 4)
        self.assertEqual(c.min_instances, 0)
        self.assertEqual(c.idle_time_before_scale_down, 300)
        self.assertEqual(c.location, "eastus")
        self.assertEqual(c.type, "amlcompute")

    def test_get_list_and_counts(self):
        g = ml.compute.get("gpu-cluster")
        self.assertEqual(g.size, "Standard_NC6s_v3")
        self.assertIn("gpu-cluster", [x.name for x in ml.compute.list()])
        p = raw("gpu-cluster")["properties"]
        self.assertEqual(p["currentNodeCount"], 0)
        self.assertEqual(p["allocationState"], "Steady")
        self.assertEqual(p["nodeStateCounts"]["idleNodeCount"], 0)
        self.assertEqual(list(ml.compute.list_nodes("gpu-cluster")), [])

    def test_sizes(self):
        sizes = {s.name: s for s in ml.compute.list_sizes(location="eastus")}
        self.assertIn("Standard_NC6s_v3", sizes)
        self.assertEqual(sizes["Standard_NC6s_v3"].gpus, 1)
        self.assertEqual(sizes["Standard_NC6s_v3"].v_cp_us, 6)

    def test_create_is_asynchronous(self):
        r = srv.http("PUT", "%s/computes/async-cluster?%s" % (WS, API), json={
            "location": "eastus", "properties": {"computeType": "AmlCompute", "properties": {
                "vmSize": "Standard_DS3_v2", "scaleSettings": {"maxNodeCount": 2}}}})
        self.assertEqual(r.status_code, 201, r.text)
        self.assertIn("Azure-AsyncOperation", r.headers)
        self.assertEqual(r.headers["Retry-After"], "1")
        self.assertEqual(r.json()["properties"]["provisioningState"], "Creating")
        import requests
        op = wait_for(lambda: (lambda j: j if j["status"] != "InProgress" else None)(
            requests.get(r.headers["Azure-AsyncOperation"], verify=srv.ca, timeout=30, headers={
                "Authorization": "Bearer " + srv.token()}).json()), "the create")
        self.assertEqual(op["status"], "Succeeded")
        self.assertEqual(raw("async-cluster")["provisioningState"], "Succeeded")
        self.assertEqual(raw("async-cluster")["properties"]["scaleSettings"]["minNodeCount"], 0)

    def test_bad_input(self):
        from azure.ai.ml.entities import AmlCompute
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        with self.assertRaises(HttpResponseError) as e:
            ml.compute.begin_create_or_update(
                AmlCompute(name="bad-size", size="Standard_Nope", max_instances=1)).result()
        self.assertIn("Standard_Nope", str(e.exception))
        with self.assertRaises(HttpResponseError) as e:
            ml.compute.begin_create_or_update(
                AmlCompute(name="bad-range", size="Standard_DS3_v2", min_instances=3,
                           max_instances=2)).result()
        self.assertIn("minNodeCount", str(e.exception))
        for n in ("bad-size", "bad-range"):
            self.assertEqual(srv.http("GET", "%s/computes/%s?%s" % (WS, n, API)).status_code, 404)
        # minNodeCount's nodes must fit the subscription's vCPU quota (Compute's).
        q = srv.http("PUT", "/azlite/compute/quotas/eastus/standardNCSv3Family",
                     json={"limit": 0})
        self.assertEqual(q.status_code, 200, q.text)
        r = srv.http("PUT", "%s/computes/over-quota?%s" % (WS, API), json={
            "location": "eastus", "properties": {"computeType": "AmlCompute", "properties": {
                "vmSize": "Standard_NC6s_v3",
                "scaleSettings": {"minNodeCount": 1, "maxNodeCount": 2}}}})
        self.assertEqual(r.status_code, 409, r.text)
        self.assertEqual(r.json()["error"]["code"], "OperationNotAllowed")
        self.assertIn("standardNCSv3Family", r.json()["error"]["message"])
        self.assertEqual(srv.http("GET", "%s/computes/over-quota?%s" % (WS, API)).status_code, 404)
        srv.http("PUT", "/azlite/compute/quotas/eastus/standardNCSv3Family", json={"limit": 48})
        r = srv.http("PUT", "%s/computes/aks?%s" % (WS, API), json={
            "location": "eastus", "properties": {"computeType": "Kubernetes"}})
        self.assertEqual(r.status_code, 400, r.text)
        self.assertIn("Kubernetes", r.json()["error"]["message"])
        with self.assertRaises(ResourceNotFoundError):
            ml.compute.get("nosuch")
        r = srv.http("PUT", "%s/computes/gpu-cluster?%s" % (WS, API), json={
            "location": "eastus", "properties": {"computeType": "AmlCompute", "properties": {
                "vmSize": "Standard_DS3_v2", "scaleSettings": {"maxNodeCount": 4}}}})
        self.assertEqual(r.status_code, 400, r.text)


class Nodes(unittest.TestCase):
    def test_min_nodes_are_sandboxes_and_scale_down(self):
        from azure.ai.ml.entities import AmlCompute
        c = AmlCompute(name="cpu-cluster", size="Standard_DS3_v2", min_instances=1,
                       max_instances=2, idle_time_before_scale_down=300)
        ml.compute.begin_create_or_update(c).result()
        nodes = wait_for(lambda: [n for n in ml.compute.list_nodes("cpu-cluster")
                                  if n.node_state == "idle"], "a node")
        self.assertEqual(len(nodes), 1)
        p = raw("cpu-cluster")["properties"]
        self.assertEqual(p["currentNodeCount"], 1)
        self.assertEqual(p["nodeStateCounts"]["idleNodeCount"], 1)
        self.assertEqual(p["allocationState"], "Steady")
        # The node is a booted sandbox, its disk in the data dir.
        hostname = nodes[0].node_id
        self.assertIn("ml: node %s of %s/computes/cpu-cluster is up" % (hostname, WS),
                      open(srv.log_path, errors="replace").read())
        self.assertEqual(len(os.listdir(os.path.join(srv.data_dir, "ml", "nodes"))), 1)
        # Lowering the minimum leaves the node until it has been idle 300 s.
        c.min_instances = 0
        ml.compute.begin_create_or_update(c).result()
        srv.cli("clock", "advance", "2m")
        time.sleep(1.5)
        self.assertEqual(raw("cpu-cluster")["properties"]["currentNodeCount"], 1)
        srv.cli("clock", "advance", "4m")
        wait_for(lambda: raw("cpu-cluster")["properties"]["currentNodeCount"] == 0 and
                 raw("cpu-cluster")["properties"]["allocationState"] == "Steady", "scale-down")
        self.assertEqual(list(ml.compute.list_nodes("cpu-cluster")), [])
        self.assertEqual(os.listdir(os.path.join(srv.data_dir, "ml", "nodes")), [], hostname)

    def test_resize(self):
        # The management client's Compute_Update (PATCH with the cluster's new
        # scale settings), as azure-ai-ml's generated client sends it.
        from azure.ai.ml.entities import AmlCompute
        from azure.ai.ml._restclient.v2022_10_01_preview.models import (
            ClusterUpdateParameters, ScaleSettings, ScaleSettingsInformation)
        from azure.core.exceptions import HttpResponseError
        ml.compute.begin_create_or_update(AmlCompute(
            name="resize-cluster", size="Standard_DS3_v2", min_instances=2, max_instances=3,
            idle_time_before_scale_down=300)).result()
        wait_for(lambda: len([n for n in ml.compute.list_nodes("resize-cluster")
                              if n.node_state == "idle"]) == 2, "two nodes")
        ops = ml.compute._operation

        def update(**kw):
            return ops.begin_update(RG, "ml-workspace", "resize-cluster", ClusterUpdateParameters(
                properties=ScaleSettingsInformation(scale_settings=ScaleSettings(**kw)))).result()
        with self.assertRaises(HttpResponseError) as e:
            update(max_node_count=1, min_node_count=2)
        self.assertIn("minNodeCount (2)", str(e.exception))
        self.assertEqual(raw("resize-cluster")["properties"]["scaleSettings"]["maxNodeCount"], 3)
        got = update(max_node_count=1, min_node_count=0)
        self.assertEqual(got.properties.properties.scale_settings.max_node_count, 1)
        # Above the new maximum, an idle node goes at once; the other once idle 300 s.
        wait_for(lambda: raw("resize-cluster")["properties"]["currentNodeCount"] == 1, "resize")
        p = raw("resize-cluster")["properties"]
        self.assertEqual(p["scaleSettings"], {"maxNodeCount": 1, "minNodeCount": 0,
                                              "nodeIdleTimeBeforeScaleDown": "PT5M"})
        srv.cli("clock", "advance", "6m")
        wait_for(lambda: raw("resize-cluster")["properties"]["currentNodeCount"] == 0,
                 "scale-down")
        r = srv.http("PATCH", "%s/computes/nope?%s" % (WS, API),
                     json={"properties": {"properties": {"scaleSettings": {"maxNodeCount": 1}}}})
        self.assertEqual(r.status_code, 404, r.text)

    def test_delete(self):
        from azure.ai.ml.entities import AmlCompute
        ml.compute.begin_create_or_update(
            AmlCompute(name="gone-cluster", size="Standard_DS3_v2", max_instances=1)).result()
        ml.compute.begin_delete("gone-cluster").result()
        from azure.core.exceptions import ResourceNotFoundError
        with self.assertRaises(ResourceNotFoundError):
            ml.compute.get("gone-cluster")


if __name__ == "__main__":
    unittest.main()
