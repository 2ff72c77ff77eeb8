"""Cost management end to end, the seed's part 6, through the Python SDKs
(Debian azure-mgmt-consumption 2021-10-01, azure-mgmt-costmanagement
2022-10-01, azure-mgmt-monitor's action groups 2022-06-01, azure-mgmt-compute
for the VMs, azure-storage-blob for the data) and `az rest`:

a month passes on azlite's clock with a Standard_NC6s_v3 VM running, a spot
VM at a pinned spot price and 1 TiB of Hot block blob data; the usage list
prices VM hours at the catalog price and the storage in GB-months, the query
grouped by resource group adds up to the same total, the hand computation
agrees to the cent, the 80% budget alert is in the Maildir exactly once (also
after a kill -9 and a restart), the webhook receiver got Azure's budget
payload, a receiver answering 500 is retried and recorded as failed, and bad
budgets get 400s."""
import base64
import datetime
import glob
import http.server
import json
import os
import threading
import time
import unittest

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.consumption import ConsumptionManagementClient
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.storage.blob import BlobBlock, BlobServiceClient, StandardBlobTier

from azlite_harness import Azlite

RG, SPOT_RG = "ml-resources", "spot-rg"
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4mN3tH0t7CkP8Y2PXo4s2yQk6mJk0m1Z3s0L8g9v9X "
       "test@azlite")
NC6_PRICE = 3.06          # src/compute/sizes.c, pay-as-you-go
SPOT_PRICE = 0.0421       # pinned below for the spot VM's size
HOT_GB_MONTH = 0.018      # src/cost/prices.json, Hot LRS Data Stored
BLOCK = 32 * 1024 * 1024
NBLOCKS = 32768           # 32 MiB x 32768 = 1 TiB
DAY = 86400

srv = None
SUB = None
clients = {}
hooks = {"ok": [], "bad": [], "slow": []}


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path.startswith("/slow"):
            hooks["slow"].append(json.loads(body))
            time.sleep(7)  # past azlite's 5 s timeout
        bad = self.path.startswith("/bad")
        if not self.path.startswith("/slow"):
            hooks["bad" if bad else "ok"].append(json.loads(body))
        self.send_response(500 if bad else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def clock_ms():
    return srv.http("GET", "/azlite/clock").json()


def now_s():
    c = clock_ms()
    for k in ("nowMs", "now_ms", "ms"):
        if k in c:
            return c[k] / 1000.0
    return datetime.datetime.fromisoformat(c["now"].replace("Z", "+00:00")[:26] +
                                           "+00:00").timestamp()


def advance(seconds):
    p = srv.cli("clock", "advance", "%ds" % int(seconds))
    assert p.returncode == 0, p.stderr


def month_bounds(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    start = d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start + datetime.timedelta(days=32)).replace(day=1)
    return start, nxt


def setUpModule():
    global srv, SUB
    srv = Azlite().start()
    e = srv.env
    SUB = e["AZURE_SUBSCRIPTION_ID"]
    cred = ClientSecretCredential(e["AZURE_TENANT_ID"], e["AZURE_CLIENT_ID"],
                                  e["AZURE_CLIENT_SECRET"], authority=e["AZURE_AUTHORITY_HOST"],
                                  connection_verify=srv.ca)
    kw = dict(base_url=srv.mgmt_url, connection_verify=srv.ca,
              credential_scopes=[srv.mgmt_url + "/.default"], polling_interval=0.1)
    clients["cmp"] = ComputeManagementClient(cred, SUB, **kw)
    clients["net"] = NetworkManagementClient(cred, SUB, **kw)
    clients["mon"] = MonitorManagementClient(cred, SUB, **kw)
    clients["use"] = ConsumptionManagementClient(cred, SUB, **kw)
    clients["cm"] = CostManagementClient(cred, **kw)
    hs = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    clients["hook_port"] = hs.server_address[1]
    clients["hook_server"] = hs
    for rg in (RG, SPOT_RG):
        r = srv.http("PUT", "/subscriptions/%s/resourceGroups/%s?api-version=2021-04-01"
                     % (SUB, rg), json={"location": "eastus"})
        assert r.status_code in (200, 201), r.text
    # A clean month: the clock moves to 01:00 of the next month's first day.
    t = now_s()
    _, nxt = month_bounds(t)
    advance(nxt.timestamp() - t + 3600)


def tearDownModule():
    clients["hook_server"].shutdown()
    srv.cleanup()


def rg_scope(rg):
    return "/subscriptions/%s/resourceGroups/%s" % (SUB, rg)


def create_vm(rg, name, size, **extra):
    net, cmp = clients["net"], clients["cmp"]
    subnet = net.virtual_networks.begin_create_or_update(rg, "vnet", {
        "location": "eastus", "address_space": {"address_prefixes": ["10.1.0.0/16"]},
        "subnets": [{"name": "default", "address_prefix": "10.1.0.0/24"}]}).result().subnets[0]
    nic = net.network_interfaces.begin_create_or_update(rg, name + "-nic", {
        "location": "eastus",
        "ip_configurations": [{"name": "ipconfig1", "subnet": {"id": subnet.id}}]}).result()
    body = {
        "location": "eastus",
        "hardware_profile": {"vm_size": size},
        "storage_profile": {"image_reference": {"publisher": "Canonical",
                                                "offer": "0001-com-ubuntu-server-jammy",
                                                "sku": "22_04-lts-gen2", "version": "latest"}},
        "os_profile": {"computer_name": name, "admin_username": "azureuser",
                       "linux_configuration": {
                           "disable_password_authentication": True,
                           "ssh": {"public_keys": [{"path": "/home/azureuser/.ssh/authorized_keys",
                                                    "key_data": KEY}]}}},
        "network_profile": {"network_interfaces": [{"id": nic.id}]},
    }
    body.update(extra)
    return cmp.virtual_machines.begin_create_or_update(rg, name, body).result()


class Month(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = clients["hook_port"]
        mon = clients["mon"]
        cls.ag = mon.action_groups.create_or_update(RG, "ml-alerts", {
            "location": "Global", "group_short_name": "mlalerts", "enabled": True,
            "email_receivers": [{"name": "ops", "email_address": "ops@example.com"}],
            "webhook_receivers": [{"name": "hook",
                                   "service_uri": "http://127.0.0.1:%d/budget" % port}]})
        cls.ag_bad = mon.action_groups.create_or_update(SPOT_RG, "bad-hook", {
            "location": "Global", "group_short_name": "badhook", "enabled": True,
            "webhook_receivers": [{"name": "hook",
                                   "service_uri": "http://127.0.0.1:%d/bad" % port},
                                  {"name": "slow",
                                   "service_uri": "http://127.0.0.1:%d/slow" % port}]})
        start, cls.month_end = month_bounds(now_s())
        cls.month_start = start
        use = clients["use"]
        cls.budget = use.budgets.create_or_update(rg_scope(RG), "monthly-ml-budget", {
            "category": "Cost", "amount": 1000, "time_grain": "Monthly",
            "time_period": {"start_date": start},
            "notifications": {"actual_GreaterThan_80_Percent": {
                "enabled": True, "operator": "GreaterThan", "threshold": 80,
                "contact_emails": ["admin@example.com"], "contact_groups": [cls.ag.id],
                "threshold_type": "Actual"}}})
        use.budgets.create_or_update(rg_scope(SPOT_RG), "spot-budget", {
            "category": "Cost", "amount": 10, "time_grain": "Monthly",
            "time_period": {"start_date": start},
            "notifications": {
                "actual50": {"enabled": True, "operator": "GreaterThanOrEqualTo", "threshold": 50,
                             "contact_groups": [cls.ag_bad.id], "threshold_type": "Actual"},
                "forecast100": {"enabled": True, "operator": "GreaterThan", "threshold": 100,
                                "contact_emails": ["forecast@example.com"],
                                "threshold_type": "Forecasted"}}})
        use.budgets.create_or_update("/subscriptions/" + SUB, "sub-budget", {
            "category": "Cost", "amount": 1, "time_grain": "Monthly",
            "time_period": {"start_date": start},
            "notifications": {"actual10": {"enabled": True, "operator": "GreaterThan",
                                           "threshold": 10, "contact_emails": ["sub@example.com"],
                                           "threshold_type": "Actual"}}})
        # 1 TiB of Hot block blob data: one 32 MiB block committed 32768 times.
        conn = srv.storage_account("mldata", RG)
        bsc = BlobServiceClient.from_connection_string(conn)
        cc = bsc.create_container("datasets")
        bc = cc.get_blob_client("imagenet.tar")
        bid = base64.b64encode(b"block-0000").decode()
        bc.stage_block(bid, b"\0" * BLOCK)
        bc.commit_block_list([BlobBlock(block_id=bid)] * NBLOCKS, standard_blob_tier=StandardBlobTier.HOT)
        assert bc.get_blob_properties().size == BLOCK * NBLOCKS
        # The VMs.
        r = srv.http("PUT", "/azlite/compute/spotPrices/eastus/Standard_D2s_v3",
                     json={"price": SPOT_PRICE})
        assert r.status_code == 200, r.text
        t0 = now_s()
        cls.vm = create_vm(RG, "gpu-vm", "Standard_NC6s_v3")
        cls.spot = create_vm(SPOT_RG, "spot-vm", "Standard_D2s_v3", priority="Spot",
                             eviction_policy="Deallocate", billing_profile={"max_price": -1})
        t1 = now_s()
        # Through the month to its last day, then the VMs stop.
        cls.day0 = int(t1 // DAY)
        advance(cls.month_end.timestamp() - t1 - 20 * 3600)
        t2 = now_s()
        cmp = clients["cmp"]
        cmp.virtual_machines.begin_deallocate(RG, "gpu-vm").result()
        cmp.virtual_machines.begin_deallocate(SPOT_RG, "spot-vm").result()
        t3 = now_s()
        cls.hours_min = (t2 - t1) / 3600.0
        cls.hours_max = (t3 - t0) / 3600.0
        cls.today = int(t3 // DAY)
        cls.days_in_month = (cls.month_end - start).days

    def usage(self, scope):
        f = "properties/usageStart ge '%s' and properties/usageEnd le '%s'" % (
            self.month_start.strftime("%Y-%m-%d"),
            (self.month_end - datetime.timedelta(days=1)).strftime("%Y-%m-%d"))
        return [u for u in clients["use"].usage_details.list(scope, filter=f)]

    def test_usage_prices_vm_hours_and_storage(self):
        rows = self.usage("/subscriptions/" + SUB)
        by = {}
        for u in rows:
            self.assertEqual(u.kind, "legacy")
            key = (u.resource_id.rsplit("/", 1)[1], u.meter_details.meter_name
                   if u.meter_details else None)
            by.setdefault(key, []).append(u)
        gpu = [u for u in rows if u.resource_id.lower().endswith("/gpu-vm")]
        spot = [u for u in rows if u.resource_id.lower().endswith("/spot-vm")]
        acct = [u for u in rows if u.resource_id.lower().endswith("/mldata")]
        data = [u for u in acct if u.meter_details.meter_name == "Hot LRS Data Stored"]
        # Blob operations by class (container create, 2 writes, 1 read), at Hot prices.
        ops = {}
        for u in acct:
            if u.meter_details.meter_name != "Hot LRS Data Stored":
                ops[u.meter_details.meter_name] = ops.get(u.meter_details.meter_name, 0) + \
                    u.quantity
        self.assertEqual({k: round(v * 10000) for k, v in ops.items()},
                         {"Hot LRS Write Operations": 2, "Hot Read Operations": 1,
                          "Hot LRS List and Create Container Operations": 1})
        ops_cost = (2 * 0.05 + 1 * 0.004 + 1 * 0.05) / 10000
        self.assertTrue(gpu and spot and data, [(u.resource_id, u.quantity) for u in rows])
        gh = sum(u.quantity for u in gpu)
        sh = sum(u.quantity for u in spot)
        self.assertGreaterEqual(gh, self.hours_min - 1e-6)
        self.assertLessEqual(gh, self.hours_max + 1e-6)
        self.assertGreaterEqual(sh, self.hours_min - 1e-6)
        self.assertLessEqual(sh, self.hours_max + 1e-6)
        for u in gpu:
            self.assertAlmostEqual(u.unit_price, NC6_PRICE, places=9)
            self.assertEqual(u.meter_details.meter_name, "NC6s v3")
            self.assertEqual(u.pricing_model, "OnDemand")
        for u in spot:
            self.assertAlmostEqual(u.unit_price, SPOT_PRICE, places=9)
            self.assertEqual(u.pricing_model, "Spot")
        # A day a row: one per day the VM ran.
        self.assertEqual(len({u.date.date() for u in gpu}), len(gpu))
        # Storage: a GB-month share a day, for every whole day the TiB was kept.
        days = self.today - self.day0
        self.assertEqual(len(data), days)
        for u in data:
            self.assertEqual(u.meter_details.meter_name, "Hot LRS Data Stored")
            self.assertEqual(u.meter_details.unit_of_measure, "1 GB/Month")
            self.assertAlmostEqual(u.quantity, 1024.0 / self.days_in_month, places=6)
        gb_months = sum(u.quantity for u in data)
        self.assertAlmostEqual(gb_months, 1024.0 * days / self.days_in_month, places=6)
        # The hand computation, to the cent.
        hand = round(gh * NC6_PRICE + sh * SPOT_PRICE + gb_months * HOT_GB_MONTH + ops_cost, 2)
        total = round(sum(u.cost for u in rows), 2)
        self.assertEqual(total, hand)
        self.assertEqual(round(sum(u.cost for u in data), 2),
                         round(1024.0 * days / self.days_in_month * HOT_GB_MONTH, 2))
        # The group's scope shows the group's rows only.
        rg_rows = self.usage(rg_scope(RG))
        self.assertEqual({u.resource_group.lower() for u in rg_rows}, {RG})
        self.assertEqual(round(sum(u.cost for u in rg_rows), 2),
                         round(gh * NC6_PRICE + gb_months * HOT_GB_MONTH + ops_cost, 2))

    def test_query_by_resource_group_adds_up(self):
        rows = self.usage("/subscriptions/" + SUB)
        total = sum(u.cost for u in rows)
        q = clients["cm"].query.usage("/subscriptions/" + SUB, {
            "type": "ActualCost", "timeframe": "Custom",
            "time_period": {"from_property": self.month_start,
                            "to": self.month_end - datetime.timedelta(seconds=1)},
            "dataset": {"granularity": "None",
                        "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                        "grouping": [{"type": "Dimension", "name": "ResourceGroup"}]}})
        cols = [c.name for c in q.columns]
        self.assertEqual(cols, ["Cost", "ResourceGroup", "Currency"])
        groups = {r[1].lower(): r[0] for r in q.rows}
        self.assertEqual(set(groups), {RG, SPOT_RG})
        self.assertEqual(round(sum(groups.values()), 2), round(total, 2))
        # Daily and by service, month to date.
        q = clients["cm"].query.usage(rg_scope(RG), {
            "type": "ActualCost", "timeframe": "MonthToDate",
            "dataset": {"granularity": "Daily",
                        "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                        "grouping": [{"type": "Dimension", "name": "ServiceName"}]}})
        self.assertEqual([c.name for c in q.columns], ["Cost", "UsageDate", "ServiceName",
                                                       "Currency"])
        self.assertEqual({r[2] for r in q.rows}, {"Virtual Machines", "Storage"})
        self.assertEqual(round(sum(r[0] for r in q.rows), 2), round(groups[RG], 2))

    def test_budget_spend_and_forecast(self):
        b = clients["use"].budgets.get(rg_scope(RG), "monthly-ml-budget")
        self.assertEqual(b.amount, 1000)
        self.assertEqual(b.time_grain, "Monthly")
        self.assertGreater(b.current_spend.amount, 800)
        self.assertEqual(b.current_spend.unit, "USD")
        self.assertGreaterEqual(b.forecast_spend.amount, b.current_spend.amount)
        names = [x.name for x in clients["use"].budgets.list(rg_scope(RG))]
        self.assertEqual(names, ["monthly-ml-budget"])
        # An extension resource: not among the group's resources; its action group is.
        r = srv.http("GET", rg_scope(RG) + "/resources?api-version=2021-04-01")
        types = {x["type"] for x in r.json()["value"]}
        self.assertIn("Microsoft.Insights/actionGroups", types)
        self.assertNotIn("Microsoft.Consumption/budgets", types)
        f = clients["cm"].forecast.usage(rg_scope(RG), {
            "type": "ActualCost", "timeframe": "Custom",
            "time_period": {"from_property": self.month_start,
                            "to": self.month_end - datetime.timedelta(seconds=1)},
            "dataset": {"granularity": "Daily",
                        "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}}}})
        self.assertEqual({r[2] for r in f.rows}, {"Actual", "Forecast"})
        self.assertEqual(len(f.rows), self.days_in_month)

    def mails(self, addr):
        return sorted(glob.glob(os.path.join(srv.data_dir, "mail", addr, "new", "*")))

    def test_alert_mail_once_and_webhook(self):
        m = self.mails("admin@example.com")
        self.assertEqual(len(m), 1, m)
        text = open(m[0], newline="").read()
        self.assertIn("To: <admin@example.com>", text)
        self.assertIn("Subject: Budget alert: 'monthly-ml-budget' has reached 80%", text)
        self.assertIn("\r\n\r\n", text)
        self.assertEqual(len(self.mails("ops@example.com")), 1)
        # Forecasted: the spot budget's forecast passed 100%.
        self.assertEqual(len(self.mails("forecast@example.com")), 1)
        deadline = time.time() + 30
        while not hooks["ok"] and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(len(hooks["ok"]), 1, hooks)
        p = hooks["ok"][0]
        self.assertEqual(p["schemaId"], "AIP Budget Notification")
        self.assertEqual(set(p["data"]), {
            "SubscriptionName", "SubscriptionId", "SpendingAmount", "BudgetStartDate", "Budget",
            "Unit", "BudgetCreator", "BudgetName", "BudgetType", "ResourceGroup",
            "NotificationThresholdAmount"})
        start = self.month_start
        self.assertEqual(p["data"]["BudgetStartDate"],
                         "%d/%d/%d" % (start.month, start.day, start.year))
        self.assertEqual(p["data"]["BudgetName"], "monthly-ml-budget")
        self.assertEqual(p["data"]["Budget"], "1000")
        self.assertEqual(p["data"]["NotificationThresholdAmount"], "0.8")
        self.assertEqual(p["data"]["ResourceGroup"], RG)
        self.assertEqual(p["data"]["SubscriptionId"], SUB)
        self.assertGreater(float(p["data"]["SpendingAmount"]), 800)
        # The admin API lists the mailbox.
        box = srv.http("GET", "/azlite/cost/mail").json()["value"]
        self.assertEqual(sorted(x["mailbox"] for x in box),
                         ["admin@example.com", "forecast@example.com", "ops@example.com",
                          "sub@example.com"])
        # More time in the same month: nothing is sent again.
        advance(3600)
        self.assertEqual(len(self.mails("admin@example.com")), 1)
        alerts = [a for a in clients["cm"].alerts.list(rg_scope(RG)).value]
        self.assertEqual(len(alerts), 1)
        self.assertEqual(alerts[0].definition.criteria, "CostThresholdExceeded")

    def test_failing_webhooks_are_retried_then_failed(self):
        """A receiver answering 500 and one that never answers in time: each is
        tried 4 times, then recorded Failed; azlite answers meanwhile."""
        deadline = time.time() + 120
        statuses = None
        while time.time() < deadline:
            r = srv.http("GET", rg_scope(SPOT_RG) +
                         "/providers/Microsoft.CostManagement/alerts?api-version=2022-10-01")
            self.assertEqual(r.status_code, 200, r.text)
            hooks_d = {d["target"].rsplit("/", 1)[1]: d for a in r.json()["value"]
                       for d in a["properties"]["details"]["deliveries"] if d["kind"] == "webhook"}
            statuses = {k: d["status"] for k, d in hooks_d.items()}
            if statuses == {"bad": "Failed", "slow": "Failed"}:
                break
            self.assertTrue(srv.alive())
            time.sleep(0.5)
        self.assertEqual(statuses, {"bad": "Failed", "slow": "Failed"})
        self.assertEqual(hooks_d["bad"]["attempts"], 4)
        self.assertEqual(hooks_d["bad"]["lastError"], "HTTP 500")
        self.assertEqual(hooks_d["slow"]["attempts"], 4)
        self.assertIn("Timeout", hooks_d["slow"]["lastError"])
        self.assertEqual(len(hooks["bad"]), 4)
        self.assertEqual(len(hooks["slow"]), 4)
        self.assertTrue(srv.alive())

    def test_zz_restart_loses_nothing_and_sends_nothing_again(self):
        before = round(sum(u.cost for u in self.usage("/subscriptions/" + SUB)), 6)
        srv.kill9()
        srv.start()
        advance(60)
        after = round(sum(u.cost for u in self.usage("/subscriptions/" + SUB)), 6)
        self.assertEqual(before, after)
        self.assertEqual(len(self.mails("admin@example.com")), 1)

    def test_zzz_new_period_starts_afresh(self):
        self.assertEqual(len(self.mails("sub@example.com")), 1)
        self.assertEqual([b.name for b in clients["use"].budgets.list("/subscriptions/" + SUB)],
                         ["sub-budget"])
        # Into the next month: the TiB keeps costing, the VMs are deallocated.
        advance(self.month_end.timestamp() - now_s() + 2 * DAY + 60)
        self.assertEqual(len(self.mails("sub@example.com")), 2)
        self.assertEqual(len(self.mails("admin@example.com")), 1)
        b = clients["use"].budgets.get("/subscriptions/" + SUB, "sub-budget")
        nm_days = (month_bounds(self.month_end.timestamp())[1] - self.month_end).days
        self.assertAlmostEqual(b.current_spend.amount, 2 * 1024.0 / nm_days * HOT_GB_MONTH,
                               places=6)
        subs = [a for a in clients["cm"].alerts.list("/subscriptions/" + SUB).value
                if a.cost_entity_id.endswith("/sub-budget")]
        self.assertEqual(len(subs), 2)
        self.assertEqual(len({a.details.period_start_date for a in subs}), 2)

    def test_cli_cost(self):
        p = srv.cli("cost")
        self.assertIn(RG, p.stdout)
        self.assertIn("Virtual Machines", p.stdout)
        p = srv.cli("cost", "mail")
        self.assertIn("admin@example.com", p.stdout)
        self.assertIn("monthly-ml-budget", p.stdout)


class Prices(unittest.TestCase):
    def test_retail_prices_filter(self):
        r = srv.http("GET", "/api/retail/prices", token=None,
                     params={"$filter": "armSkuName eq 'Standard_NC6s_v3' and type eq 'Consumption'"})
        self.assertEqual(r.status_code, 200, r.text)
        items = r.json()["Items"]
        self.assertEqual(len(items), 2)  # pay-as-you-go and spot
        payg = [i for i in items if i["skuName"] == "NC6s v3"][0]
        self.assertEqual(payg["retailPrice"], NC6_PRICE)
        self.assertEqual(payg["unitOfMeasure"], "1 Hour")
        self.assertNotIn("azliteMeter", payg)
        r = srv.http("GET", "/api/retail/prices", token=None,
                     params={"$filter": "meterName eq 'Hot LRS Data Stored'"})
        self.assertEqual(r.json()["Items"][0]["retailPrice"], HOT_GB_MONTH)
        r = srv.http("GET", "/api/retail/prices", token=None, params={"$filter": "bogus"})
        self.assertEqual(r.status_code, 400)

    def test_usage_details_bad_filter(self):
        with self.assertRaises(HttpResponseError) as e:
            list(clients["use"].usage_details.list("/subscriptions/" + SUB, filter="bogus"))
        self.assertEqual((e.exception.status_code, e.exception.error.code), (400, "BadRequest"))


class BadInput(unittest.TestCase):
    def code(self, body, scope=None, name="bad"):
        try:
            clients["use"].budgets.create_or_update(scope or rg_scope(RG), name, body)
        except HttpResponseError as e:
            return e.status_code, e.error.code if e.error else None, str(e)
        return 200, None, ""

    def base(self, **kw):
        start = month_bounds(now_s())[0]
        b = {"category": "Cost", "amount": 100, "time_grain": "Monthly",
             "time_period": {"start_date": start},
             "notifications": {"n": {"enabled": True, "operator": "GreaterThan", "threshold": 50,
                                     "contact_emails": ["a@example.com"]}}}
        b.update(kw)
        return b

    def test_end_before_start(self):
        start = month_bounds(now_s())[0]
        st, code, msg = self.code(self.base(time_period={
            "start_date": start, "end_date": start - datetime.timedelta(days=40)}))
        self.assertEqual((st, code), (400, "BadRequest"), msg)
        self.assertIn("end date", msg)

    def test_threshold_over_1000(self):
        b = self.base()
        b["notifications"]["n"]["threshold"] = 1001
        st, code, msg = self.code(b)
        self.assertEqual((st, code), (400, "BadRequest"), msg)
        self.assertIn("1000", msg)

    def test_unknown_time_grain(self):
        st, code, msg = self.code(self.base(time_grain="Weekly"))
        self.assertEqual((st, code), (400, "BadRequest"), msg)

    def test_missing_scope(self):
        st, code, msg = self.code(self.base(), scope=rg_scope("no-such-group"))
        self.assertEqual((st, code), (404, "ResourceGroupNotFound"), msg)
        with self.assertRaises(HttpResponseError) as e:
            clients["use"].budgets.get(rg_scope(RG), "no-such-budget")
        self.assertEqual(e.exception.status_code, 404)

    def test_az_rest(self):
        url = (srv.mgmt_url + rg_scope(RG) +
               "/providers/Microsoft.Consumption/budgets/rest-budget?api-version=2021-10-01")
        start = month_bounds(now_s())[0].strftime("%Y-%m-%dT00:00:00Z")
        good = {"properties": {"category": "Cost", "amount": 50, "timeGrain": "Quarterly",
                               "timePeriod": {"startDate": start},
                               "notifications": {"n": {"enabled": True, "operator": "GreaterThan",
                                                       "threshold": 90,
                                                       "contactEmails": ["a@example.com"]}}}}
        p = srv.az("rest", "--method", "put", "--url", url, "--body", json.dumps(good))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["properties"]["timeGrain"], "Quarterly")
        bad = json.loads(json.dumps(good))
        bad["properties"]["timeGrain"] = "Fortnightly"
        p = srv.az("rest", "--method", "put", "--url", url, "--body", json.dumps(bad))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("BadRequest", p.stderr)
        cm = url.replace("Microsoft.Consumption", "Microsoft.CostManagement").replace(
            "2021-10-01", "2023-03-01")
        p = srv.az("rest", "--method", "get", "--url", cm)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = json.loads(p.stdout)
        self.assertEqual(got["type"], "Microsoft.CostManagement/budgets")
        # An update naming a stale eTag is refused; the current one is taken.
        stale = dict(good, eTag='"00000000-0000-0000-0000-000000000000"')
        p = srv.az("rest", "--method", "put", "--url", url, "--body", json.dumps(stale))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PreconditionFailed", p.stderr)
        p = srv.az("rest", "--method", "put", "--url", url,
                   "--body", json.dumps(dict(good, eTag=got["eTag"])))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotEqual(json.loads(p.stdout)["eTag"], got["eTag"])
        p = srv.az("rest", "--method", "delete", "--url", url)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = srv.az("rest", "--method", "get", "--url", url)
        self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
