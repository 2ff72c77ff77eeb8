"""Blob authentication hardening (issue 16): Shared Key replays (item 3), unsigned SAS
response overrides (item 5), unknown service versions (item 13), SAS create (c) and
account-SAS write for new blobs and containers, AZURITE_ACCOUNTS (item 14), and
host-style addressing from a real client (item 19).

Raw-protocol cases sign their own requests with `requests`; everything a client would do
goes through the Python SDK.
"""
import base64
import datetime
import email.utils
import hashlib
import hmac
import os
import socket
import sys
import time
import unittest
import urllib.parse
import uuid

import requests
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (AccountSasPermissions, BlobSasPermissions, BlobServiceClient,
                                ContentSettings,
                                ContainerSasPermissions, ResourceTypes, generate_account_sas,
                                generate_blob_sas, generate_container_sas)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from azlite_harness import Azlite  # noqa: E402

ACCOUNT = "devstoreaccount1"
DEV_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
           "KBHBeksoGMGw==")
TIMEOUT = 30
srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    if srv:
        srv.cleanup()


def conn_of(s, account=ACCOUNT, key=DEV_KEY):
    return ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s/%s;"
            % (account, key, blob_url(s), account))


def blob_url(s):
    return "http://127.0.0.1:%d" % s.ports["blob"]


def service(s=None, account=ACCOUNT, key=DEV_KEY):
    return BlobServiceClient.from_connection_string(conn_of(s or srv, account, key),
                                                    connection_timeout=TIMEOUT,
                                                    read_timeout=TIMEOUT)


def fresh(prefix="c"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def http_date(dt):
    return email.utils.format_datetime(dt.astimezone(datetime.timezone.utc), usegmt=True)


def sign_shared_key(method, path, query, headers, account=ACCOUNT, key=DEV_KEY, lite=False):
    """The Authorization of a body-less request, as the service computes it."""
    h = {k.lower(): v for k, v in headers.items()}
    xms = "".join("%s:%s\n" % (k, h[k]) for k in sorted(h) if k.startswith("x-ms-"))
    date = "" if "x-ms-date" in h else h.get("date", "")
    if lite:
        sts = "%s\n\n\n%s\n%s/%s%s" % (method, date, xms, account, path)
        if "comp" in query:
            sts += "?comp=" + query["comp"]
    else:
        fields = [method, "", "", "", "", "", date, "", "", "", "", ""]
        sts = "\n".join(fields) + "\n" + xms + "/" + account + path
        for k in sorted(query):
            sts += "\n%s:%s" % (k.lower(), query[k])
    mac = hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()
    return "%s %s:%s" % ("SharedKeyLite" if lite else "SharedKey", account,
                         base64.b64encode(mac).decode())


def signed_get(path, query, headers, lite=False, account=ACCOUNT, key=DEV_KEY, s=None):
    headers = dict(headers)
    headers["Authorization"] = sign_shared_key("GET", path, query, headers, account, key, lite)
    return requests.get(blob_url(s or srv) + path, params=query, headers=headers,
                        timeout=TIMEOUT)


def error_detail(resp, name):
    import xml.etree.ElementTree as ET
    root = ET.fromstring(resp.content)
    el = root.find(name)
    return el.text if el is not None else None


def error_code(resp):
    return error_detail(resp, "Code")


class SharedKeyReplay(unittest.TestCase):
    """Item 3: a Shared Key request is good for 15 minutes either side of its date."""

    path = "/" + ACCOUNT + "/"
    query = {"comp": "list"}

    def at(self, delta, lite=False, header="x-ms-date"):
        hdrs = {"x-ms-version": "2021-12-02"}
        if delta is not None:
            hdrs[header] = http_date(utcnow() + delta)
        return signed_get(self.path, self.query, hdrs, lite=lite)

    def assert_refused(self, r, detail_prefix):
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(error_code(r), "AuthenticationFailed")
        detail = error_detail(r, "AuthenticationErrorDetail") or ""
        self.assertTrue(detail.startswith(detail_prefix), detail)

    def test_fresh_request_is_accepted(self):
        self.assertEqual(self.at(datetime.timedelta(0)).status_code, 200)
        self.assertEqual(self.at(datetime.timedelta(minutes=-14)).status_code, 200)
        self.assertEqual(self.at(datetime.timedelta(minutes=14)).status_code, 200)
        self.assertEqual(self.at(datetime.timedelta(0), header="Date").status_code, 200)
        self.assertEqual(self.at(datetime.timedelta(0), lite=True).status_code, 200)

    def test_old_requests_are_refused(self):
        for delta in (datetime.timedelta(minutes=-16), datetime.timedelta(hours=-2),
                      datetime.timedelta(days=-400)):
            for lite in (False, True):
                for header in ("x-ms-date", "Date"):
                    with self.subTest(delta=delta, lite=lite, header=header):
                        r = self.at(delta, lite=lite, header=header)
                        self.assert_refused(r, "Request date header too old: '")

    def test_future_requests_are_refused(self):
        r = self.at(datetime.timedelta(minutes=20))
        self.assert_refused(r, "Request date header too new: '")

    def test_missing_or_bad_date_is_refused(self):
        for lite in (False, True):
            r = self.at(None, lite=lite)
            self.assert_refused(r, "The Date header in the request is incorrect.")
        hdrs = {"x-ms-version": "2021-12-02", "x-ms-date": "2026-11-26T10:00:00Z"}
        self.assert_refused(signed_get(self.path, self.query, hdrs),
                            "The Date header in the request is incorrect.")

    def test_replayed_sdk_request_is_refused(self):
        """A request the SDK signed, captured and sent again two hours later (the clock
        of the sender is what ages; azlite's clock advance must not matter)."""
        captured = {}

        def grab(response):
            captured["headers"] = dict(response.http_request.headers)
            captured["url"] = response.http_request.url

        svc = service()
        list(svc.list_containers(raw_response_hook=grab))
        self.assertIn("Authorization", captured["headers"])
        h = captured["headers"]
        self.assertEqual(requests.get(captured["url"], headers=h, timeout=TIMEOUT).status_code,
                         200)
        # Re-sign the same request as if sent 2 hours ago (the signature must hold, the date
        # alone refuses it).
        old = dict(h)
        old["x-ms-date"] = http_date(utcnow() - datetime.timedelta(hours=2))
        u = urllib.parse.urlsplit(captured["url"])
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        old = {k: v for k, v in old.items() if k.lower() != "authorization"}
        old["Authorization"] = sign_shared_key("GET", u.path, q,
                                               {k: v for k, v in old.items()
                                                if k.lower().startswith("x-ms-")})
        r = requests.get(captured["url"], headers=old, timeout=TIMEOUT)
        self.assert_refused(r, "Request date header too old: '")

    def test_clock_advance_does_not_age_shared_key(self):
        """Shared Key dates follow the wall clock: after `azlite clock advance`, SDK
        requests signed now still work."""
        s = Azlite().start()
        try:
            s.cli("clock", "advance", "2d")
            svc = service(s)
            name = fresh()
            svc.create_container(name)
            self.assertIn(name, [c.name for c in svc.list_containers()])
        finally:
            s.cleanup()


class SasClockAndOverrides(unittest.TestCase):
    """Items 5 and 15: SAS times follow azlite's clock with a right message; only signed
    response overrides apply."""

    @classmethod
    def setUpClass(cls):
        cls.svc = service()
        cls.cname = fresh()
        cls.cc = cls.svc.create_container(cls.cname)
        cls.cc.upload_blob("page.txt", b"<script>alert(1)</script>",
                           content_settings=ContentSettings(content_type="text/plain"))

    def sas_2012(self, extra):
        """A service SAS of version 2012-02-12, whose string-to-sign has no overrides."""
        se = (utcnow() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        resource = "/%s/%s/page.txt" % (ACCOUNT, self.cname)
        sts = "\n".join(["r", "", se, resource, "", "2012-02-12"])
        sig = base64.b64encode(hmac.new(base64.b64decode(DEV_KEY), sts.encode(),
                                        hashlib.sha256).digest()).decode()
        q = {"sv": "2012-02-12", "sr": "b", "sp": "r", "se": se, "sig": sig}
        q.update(extra)
        return q

    def test_unsigned_overrides_are_ignored(self):
        url = "%s/%s/%s/page.txt" % (blob_url(srv), ACCOUNT, self.cname)
        q = self.sas_2012({"rsct": "text/html", "rscd": "inline; filename=x.html",
                           "rscc": "public", "rsce": "gzip", "rscl": "fr"})
        r = requests.get(url, params=q, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["Content-Type"], "text/plain")
        self.assertNotIn("Content-Disposition", r.headers)
        self.assertNotIn("Content-Encoding", r.headers)
        self.assertNotEqual(r.headers.get("Cache-Control"), "public")
        self.assertNotEqual(r.headers.get("Content-Language"), "fr")
        self.assertEqual(r.content, b"<script>alert(1)</script>")
        h = requests.head(url, params=q, timeout=TIMEOUT)
        self.assertEqual(h.headers["Content-Type"], "text/plain")

    def test_signed_overrides_apply(self):
        sas = generate_blob_sas(ACCOUNT, self.cname, "page.txt", account_key=DEV_KEY,
                                permission=BlobSasPermissions(read=True),
                                expiry=utcnow() + datetime.timedelta(hours=1),
                                content_type="text/csv", content_disposition="attachment")
        url = "%s/%s/%s/page.txt?%s" % (blob_url(srv), ACCOUNT, self.cname, sas)
        r = requests.get(url, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.headers["Content-Type"], "text/csv")
        self.assertEqual(r.headers["Content-Disposition"], "attachment")

    def test_expired_without_start_names_no_start(self):
        """A SAS minted from the wall clock, after `azlite clock advance` past its expiry:
        refused, and the detail names no start time (none was signed)."""
        s = Azlite().start()
        try:
            svc = service(s)
            cname = fresh()
            svc.create_container(cname).upload_blob("b", b"x")
            sas = generate_blob_sas(ACCOUNT, cname, "b", account_key=DEV_KEY,
                                    permission=BlobSasPermissions(read=True),
                                    expiry=utcnow() + datetime.timedelta(hours=1))
            url = "%s/%s/%s/b?%s" % (blob_url(s), ACCOUNT, cname, sas)
            self.assertEqual(requests.get(url, timeout=TIMEOUT).status_code, 200)
            s.cli("clock", "advance", "2h")
            r = requests.get(url, timeout=TIMEOUT)
            self.assertEqual(r.status_code, 403)
            self.assertEqual(error_code(r), "AuthenticationFailed")
            detail = error_detail(r, "AuthenticationErrorDetail")
            self.assertTrue(detail.startswith("Signature not valid in the specified time frame: "
                                              "Expiry ["), detail)
            self.assertNotIn("start", detail.lower().replace("`azlite clock advance`", ""))
            self.assertIn("ahead of the wall clock", detail)
        finally:
            s.cleanup()


class ServiceVersions(unittest.TestCase):
    """Item 13: x-ms-version values the service does not know are refused."""

    def get(self, version):
        hdrs = {"x-ms-version": version, "x-ms-date": http_date(utcnow())}
        return signed_get("/" + ACCOUNT + "/", {"comp": "list"}, hdrs)

    def test_unknown_versions_are_refused(self):
        for v in ("2099-01-01", "garbage", "2021-12-03", ""):
            with self.subTest(version=v):
                r = self.get(v)
                self.assertEqual(r.status_code, 400, r.text)
                self.assertEqual(error_code(r), "InvalidHeaderValue")
                self.assertEqual(error_detail(r, "HeaderName"), "x-ms-version")
                self.assertEqual(error_detail(r, "HeaderValue") or "", v)
                self.assertEqual(r.headers["x-ms-version"], "2025-01-05")
        # Anonymous too: the version is checked before anything reads it.
        r = requests.get("%s/%s/x/y" % (blob_url(srv), ACCOUNT),
                         headers={"x-ms-version": "2099-01-01"}, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 400)
        self.assertEqual(error_code(r), "InvalidHeaderValue")

    def test_client_versions_are_accepted(self):
        # python3-azure-storage, az's vendored SDKs (multiapi storagev2), the JS SDK, old ones.
        for v in ("2021-12-02", "2019-07-07", "2021-06-08", "2021-08-06", "2026-10-06",
                  "2025-01-05", "2015-04-05", "2017-04-17", "2017-11-09", "2018-03-28",
                  "2018-11-09", "2009-09-19"):
            with self.subTest(version=v):
                self.assertEqual(self.get(v).status_code, 200)

    def test_unknown_sas_version_is_refused(self):
        se = (utcnow() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        q = {"sv": "2099-01-01", "ss": "b", "srt": "sco", "sp": "rl", "se": se,
             "sig": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
        r = requests.get("%s/%s/" % (blob_url(srv), ACCOUNT), params=dict(q, comp="list"),
                         timeout=TIMEOUT)
        self.assertEqual(r.status_code, 403, r.text)
        self.assertEqual(error_code(r), "AuthenticationFailed")
        self.assertEqual(r.headers["x-ms-version"], "2025-01-05")


class CreatePermission(unittest.TestCase):
    """Item 14: SAS create (c) writes new blobs only; account SAS w or c creates containers;
    add (a) or write (w) appends."""

    @classmethod
    def setUpClass(cls):
        cls.svc = service()
        cls.cname = fresh()
        cls.cc = cls.svc.create_container(cls.cname)

    def container_client(self, perm):
        from azure.storage.blob import ContainerClient
        sas = generate_container_sas(ACCOUNT, self.cname, account_key=DEV_KEY,
                                     permission=ContainerSasPermissions.from_string(perm),
                                     expiry=utcnow() + datetime.timedelta(hours=1))
        return ContainerClient.from_container_url(
            "%s/%s/%s?%s" % (blob_url(srv), ACCOUNT, self.cname, sas),
            connection_timeout=TIMEOUT, read_timeout=TIMEOUT)

    def assert_denied(self, fn):
        with self.assertRaises(HttpResponseError) as cm:
            fn()
        self.assertEqual(cm.exception.status_code, 403)
        self.assertEqual(cm.exception.error_code, "AuthorizationPermissionMismatch")

    def read(self, name):
        return self.cc.download_blob(name).readall()

    def test_create_writes_a_new_blob_but_never_overwrites(self):
        c = self.container_client("c")
        c.upload_blob("new.txt", b"first")
        self.assertEqual(self.read("new.txt"), b"first")
        self.assert_denied(lambda: c.upload_blob("new.txt", b"second", overwrite=True))
        self.assertEqual(self.read("new.txt"), b"first")

    def test_racing_creates_leave_one_winner(self):
        """Create-only writers racing for one name: one wins, the others are refused, and
        the blob holds the winner's bytes (the check is inside the write)."""
        from concurrent.futures import ThreadPoolExecutor
        c = self.container_client("c")
        name = fresh("race")

        def put(i):
            try:
                c.upload_blob(name, b"writer %d" % i)
                return i
            except HttpResponseError as e:
                return (e.status_code, e.error_code)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(put, range(8)))
        winners = [r for r in results if isinstance(r, int)]
        self.assertEqual(len(winners), 1, results)
        for r in results:
            if not isinstance(r, int):
                self.assertEqual(r, (403, "AuthorizationPermissionMismatch"))
        self.assertEqual(self.read(name), b"writer %d" % winners[0])

    def test_create_commits_a_new_block_list(self):
        c = self.container_client("c")
        data = os.urandom(3 * 1024)
        b = c.get_blob_client("blocks.bin")
        b.stage_block("AAAA", data[:1024])
        b.stage_block("AAAB", data[1024:])
        b.commit_block_list(["AAAA", "AAAB"])
        self.assertEqual(self.read("blocks.bin"), data)
        self.assert_denied(lambda: b.stage_block("AAAC", b"x"))
        self.assert_denied(lambda: b.commit_block_list(["AAAA"]))
        self.assertEqual(self.read("blocks.bin"), data)

    def test_create_makes_append_and_page_blobs_and_snapshots(self):
        c = self.container_client("c")
        c.get_blob_client("app.log").create_append_blob()
        c.get_blob_client("disk.vhd").create_page_blob(1024)
        self.assert_denied(lambda: c.get_blob_client("app.log").create_append_blob())
        self.assertEqual(self.cc.get_blob_client("disk.vhd").get_blob_properties().size, 1024)
        snap = c.get_blob_client("disk.vhd").create_snapshot()
        self.assertIn("snapshot", snap)

    def test_create_copies_to_a_new_blob_only(self):
        self.cc.upload_blob("src.txt", b"copy me", overwrite=True)
        src_sas = generate_blob_sas(ACCOUNT, self.cname, "src.txt", account_key=DEV_KEY,
                                    permission=BlobSasPermissions(read=True),
                                    expiry=utcnow() + datetime.timedelta(hours=1))
        src = "%s/%s/%s/src.txt?%s" % (blob_url(srv), ACCOUNT, self.cname, src_sas)
        c = self.container_client("c")
        c.get_blob_client("dst.txt").start_copy_from_url(src)
        self.assertEqual(self.read("dst.txt"), b"copy me")
        c.get_blob_client("dst2.txt").start_copy_from_url(src, requires_sync=True)
        self.assertEqual(self.read("dst2.txt"), b"copy me")
        self.assert_denied(lambda: c.get_blob_client("dst.txt").start_copy_from_url(src))

    def test_write_still_overwrites_and_appends(self):
        w = self.container_client("w")
        w.upload_blob("w.txt", b"1")
        w.upload_blob("w.txt", b"2", overwrite=True)
        self.assertEqual(self.read("w.txt"), b"2")
        self.cc.get_blob_client("w.log").create_append_blob()
        w.get_blob_client("w.log").append_block(b"line\n")
        self.assertEqual(self.read("w.log"), b"line\n")

    def test_read_only_sas_writes_nothing(self):
        r = self.container_client("rl")
        self.assert_denied(lambda: r.upload_blob("ro.txt", b"x"))
        self.assert_denied(lambda: r.get_blob_client("ro.txt").create_append_blob())

    def test_account_sas_write_or_create_creates_containers(self):
        for perm, ok in (("w", True), ("c", True), ("r", False), ("l", False)):
            with self.subTest(perm=perm):
                sas = generate_account_sas(ACCOUNT, DEV_KEY,
                                           ResourceTypes(container=True, object=True),
                                           AccountSasPermissions.from_string(perm),
                                           utcnow() + datetime.timedelta(hours=1))
                svc = BlobServiceClient("%s/%s" % (blob_url(srv), ACCOUNT), credential=sas,
                                        connection_timeout=TIMEOUT, read_timeout=TIMEOUT)
                name = fresh()
                if ok:
                    svc.create_container(name)
                    self.assertTrue(self.svc.get_container_client(name).exists())
                else:
                    self.assert_denied(lambda: svc.create_container(name))

    def test_account_sas_create_never_overwrites(self):
        sas = generate_account_sas(ACCOUNT, DEV_KEY, ResourceTypes(object=True),
                                   AccountSasPermissions(create=True),
                                   utcnow() + datetime.timedelta(hours=1))
        svc = BlobServiceClient("%s/%s" % (blob_url(srv), ACCOUNT), credential=sas,
                                connection_timeout=TIMEOUT, read_timeout=TIMEOUT)
        c = svc.get_container_client(self.cname)
        c.upload_blob("acct.txt", b"one")
        self.assert_denied(lambda: c.upload_blob("acct.txt", b"two", overwrite=True))
        self.assertEqual(self.read("acct.txt"), b"one")


KEY2 = base64.b64encode(b"second account key, 32 bytes!!!!").decode()
KEY3A = base64.b64encode(os.urandom(64)).decode()
KEY3B = base64.b64encode(os.urandom(64)).decode()


class AzuriteAccounts(unittest.TestCase):
    """Item 14: AZURITE_ACCOUNTS ("name:key1[:key2];...") accounts exist for the blob data
    plane at start, beside devstoreaccount1."""

    @classmethod
    def setUpClass(cls):
        cls.s = Azlite(server_env={
            "AZURITE_ACCOUNTS": "account2:%s; account3:%s:%s;" % (KEY2, KEY3A, KEY3B)}).start()

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def test_accounts_serve_blobs_with_their_keys(self):
        for account, key in (("account2", KEY2), ("account3", KEY3A), ("account3", KEY3B),
                             (ACCOUNT, DEV_KEY)):
            with self.subTest(account=account):
                svc = service(self.s, account, key)
                name = fresh()
                svc.create_container(name).upload_blob("b.txt", account.encode())
                got = svc.get_blob_client(name, "b.txt").download_blob().readall()
                self.assertEqual(got, account.encode())
        # Each account has its own namespace.
        names2 = {c.name for c in service(self.s, "account2", KEY2).list_containers()}
        names1 = {c.name for c in service(self.s).list_containers()}
        self.assertFalse(names1 & names2)

    def test_env_prints_their_connection_strings(self):
        out = self.s.cli("env").stdout
        lines = [l for l in out.splitlines() if l.startswith("# AZURITE_ACCOUNTS ")]
        self.assertEqual([l.split()[2] for l in lines], ["account2:", "account3:"], out)
        conn = lines[0].split(": ", 1)[1]
        self.assertIn("AccountKey=%s;" % KEY2, conn)
        svc = BlobServiceClient.from_connection_string(conn, connection_timeout=TIMEOUT,
                                                       read_timeout=TIMEOUT)
        list(svc.list_containers())

    def test_wrong_key_is_refused(self):
        with self.assertRaises(HttpResponseError) as cm:
            list(service(self.s, "account2", KEY3A).list_containers())
        self.assertEqual(cm.exception.status_code, 403)
        self.assertEqual(cm.exception.error_code, "AuthenticationFailed")

    def test_sas_of_a_second_account(self):
        svc = service(self.s, "account2", KEY2)
        name = fresh()
        svc.create_container(name).upload_blob("s.txt", b"sas")
        sas = generate_blob_sas("account2", name, "s.txt", account_key=KEY2,
                                permission=BlobSasPermissions(read=True),
                                expiry=utcnow() + datetime.timedelta(hours=1))
        r = requests.get("%s/account2/%s/s.txt?%s" % (blob_url(self.s), name, sas),
                         timeout=TIMEOUT)
        self.assertEqual((r.status_code, r.content), (200, b"sas"))

    def test_not_arm_resources(self):
        """Like devstoreaccount1, they are data-plane accounts: not listed by ARM."""
        sub = self.s.env.get("AZURE_SUBSCRIPTION_ID") or self.s.az_json(
            "account", "show")["id"]
        r = self.s.http("GET", "/subscriptions/%s/providers/Microsoft.Storage/storageAccounts"
                        "?api-version=2023-01-01" % sub)
        self.assertEqual(r.status_code, 200, r.text)
        names = [a["name"] for a in r.json()["value"]]
        self.assertNotIn("account2", names)

    def test_malformed_variable_stops_the_server(self):
        for bad in ("justaname", "account4:not base64!", "UPPER:%s" % KEY2, "a:b:c:d"):
            with self.subTest(value=bad):
                s = Azlite(server_env={"AZURITE_ACCOUNTS": bad})
                try:
                    with self.assertRaises(RuntimeError) as cm:
                        s.start(timeout=20)
                    self.assertIn("AZURITE_ACCOUNTS", str(cm.exception))
                finally:
                    s.cleanup()


class HostStyle(unittest.TestCase):
    """Item 19: <account>.blob.localhost addressing from the SDK (with the name resolved to
    loopback, as a resolver that maps *.localhost does)."""

    def setUp(self):
        self.real = socket.getaddrinfo

        def resolve(host, *a, **kw):
            if isinstance(host, str) and host.endswith(".blob.localhost"):
                host = "127.0.0.1"
            return self.real(host, *a, **kw)

        socket.getaddrinfo = resolve

    def tearDown(self):
        socket.getaddrinfo = self.real

    def test_sdk_host_style(self):
        url = "http://%s.blob.localhost:%d" % (ACCOUNT, srv.ports["blob"])
        conn = ("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;BlobEndpoint=%s;"
                % (ACCOUNT, DEV_KEY, url))
        svc = BlobServiceClient.from_connection_string(conn, connection_timeout=TIMEOUT,
                                                       read_timeout=TIMEOUT)
        name = fresh()
        c = svc.create_container(name)
        c.upload_blob("dir/h.txt", b"host style")
        self.assertEqual(c.download_blob("dir/h.txt").readall(), b"host style")
        self.assertEqual([b.name for b in c.list_blobs()], ["dir/h.txt"])
        # The same blob, path style.
        self.assertEqual(service().get_blob_client(name, "dir/h.txt").download_blob().readall(),
                         b"host style")
        # A SAS minted for the host-style URL.
        sas = generate_blob_sas(ACCOUNT, name, "dir/h.txt", account_key=DEV_KEY,
                                permission=BlobSasPermissions(read=True),
                                expiry=utcnow() + datetime.timedelta(hours=1))
        from azure.storage.blob import BlobClient
        b = BlobClient.from_blob_url("%s/%s/dir/h.txt?%s" % (url, name, sas))
        self.assertEqual(b.download_blob().readall(), b"host style")
        # A host naming another (unknown) account is that account, not devstoreaccount1.
        other = BlobServiceClient("http://nosuchacct.blob.localhost:%d" % srv.ports["blob"],
                                  credential={"account_name": "nosuchacct",
                                              "account_key": DEV_KEY})
        with self.assertRaises(HttpResponseError) as cm:
            list(other.list_containers())
        self.assertEqual(cm.exception.status_code, 404)

    def test_second_account_host_style(self):
        s = Azlite(server_env={"AZURITE_ACCOUNTS": "hostacct:%s" % KEY2}).start()
        try:
            url = "http://hostacct.blob.localhost:%d" % s.ports["blob"]
            svc = BlobServiceClient(url, credential={"account_name": "hostacct",
                                                     "account_key": KEY2},
                                    connection_timeout=TIMEOUT, read_timeout=TIMEOUT)
            name = fresh()
            svc.create_container(name).upload_blob("x", b"y")
            self.assertEqual([c.name for c in svc.list_containers()], [name])
        finally:
            s.cleanup()


if __name__ == "__main__":
    unittest.main()
