"""Bad tokens, bad credentials and bad requests: each gets Azure's error
(status, code, WWW-Authenticate), never a crash, and changes nothing.

Tokens are forged here with the `cryptography` module (Debian
python3-cryptography): re-signing a real token's claims with azlite's own key
must be accepted (the control), so each refused forgery is refused for the
one thing it changes."""
import base64
import json
import socket
import ssl
import subprocess
import time
import unittest

import requests
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from azlite_harness import Azlite

srv = None
real = None  # a real token from azlite's token endpoint
key = None  # azlite's signing key, read from its data dir


def setUpModule():
    global srv, real, key
    srv = Azlite().start()
    real = srv.token()
    with open(srv.data_dir + "/pki/signing.key", "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)


def tearDownModule():
    srv.cleanup()


def b64(data):
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def parts(token):
    h, c, _ = token.split(".")
    return unb64(h), unb64(c)


def forge(header_changes=None, claim_changes=None, signer=None):
    """The real token with some header fields or claims changed, RS256-signed by
    `signer` (azlite's key unless told).  A change to None removes the field."""
    h, c = parts(real)
    for d, changes in ((h, header_changes), (c, claim_changes)):
        for k, v in (changes or {}).items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
    signing_input = (b64(h) + "." + b64(c)).encode()
    sig = (signer or key).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64(sig)


def groups_path(name=None):
    p = "/subscriptions/%s/resourcegroups" % srv.env["AZURE_SUBSCRIPTION_ID"]
    return p + ("/" + name if name else "") + "?api-version=2021-04-01"


class BearerTokens(unittest.TestCase):
    def refused(self, token, code, raw_header=None):
        headers = {"Authorization": raw_header} if raw_header is not None else None
        r = srv.http("GET", groups_path(), token=token if raw_header is None else None,
                     headers=headers)
        self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(r.json()["error"]["code"], code, r.text)
        self.assertTrue(r.json()["error"]["message"])
        www = r.headers.get("WWW-Authenticate", "")
        self.assertTrue(www.startswith("Bearer "), www)
        self.assertIn('authorization_uri="%s/adfs"' % srv.mgmt_url, www)
        self.assertIn('error="invalid_token"', www)
        # The refusal changed nothing: a PUT with the same token creates nothing.
        r = srv.http("PUT", groups_path("made-by-a-bad-token"), token=token
                     if raw_header is None else None, headers=headers, json={"location": "eastus"})
        self.assertEqual(r.status_code, 401)
        self.assertEqual(srv.http("HEAD", groups_path("made-by-a-bad-token")).status_code, 404)
        return r

    def test_control_resigned_real_claims_are_accepted(self):
        self.assertEqual(srv.http("GET", groups_path(), token=forge()).status_code, 200)

    def test_tampered_signature(self):
        h, c, sig = real.split(".")
        raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
        raw[10] ^= 1
        self.refused("%s.%s.%s" % (h, c, b64(bytes(raw))), "InvalidAuthenticationToken")

    def test_tampered_claims(self):
        _, c = parts(real)
        c["exp"] += 86400  # a longer life, with the original signature
        h, _, sig = real.split(".")
        self.refused("%s.%s.%s" % (h, b64(c), sig), "InvalidAuthenticationToken")

    def test_alg_none(self):
        h, c = parts(real)
        h["alg"] = "none"
        self.refused(b64(h) + "." + b64(c) + ".", "InvalidAuthenticationToken")

    def test_alg_hs256_with_public_key(self):
        # The classic confusion: an HMAC keyed with the (public) verification key.
        h, c = parts(real)
        h["alg"] = "HS256"
        pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        signing_input = (b64(h) + "." + b64(c)).encode()
        mac = hmac.HMAC(pub, hashes.SHA256())
        mac.update(signing_input)
        self.refused(signing_input.decode() + "." + b64(mac.finalize()),
                     "InvalidAuthenticationToken")

    def test_signed_by_another_key(self):
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.refused(forge(signer=other), "InvalidAuthenticationToken")

    def test_expired(self):
        now = int(time.time())
        r = self.refused(forge(claim_changes={"iat": now - 7200, "nbf": now - 7200,
                                              "exp": now - 600}), "ExpiredAuthenticationToken")
        self.assertIn("expir", r.json()["error"]["message"])

    def test_not_yet_valid(self):
        now = int(time.time())
        self.refused(forge(claim_changes={"nbf": now + 3600, "exp": now + 7200}),
                     "InvalidAuthenticationToken")

    def test_wrong_audience(self):
        storage = srv.token(scope="https://storage.azure.com/.default")
        self.assertEqual(parts(storage)[1]["aud"], "https://storage.azure.com")
        r = self.refused(storage, "InvalidAuthenticationTokenAudience")
        self.assertIn("https://storage.azure.com", r.json()["error"]["message"])

    def test_wrong_issuer(self):
        tid = srv.env["AZLITE_TENANT_ID"]
        self.refused(forge(claim_changes={"iss": "https://sts.windows.net/%s/" % tid}),
                     "InvalidAuthenticationTokenTenant")
        self.refused(forge(claim_changes={"iss": None}), "InvalidAuthenticationTokenTenant")

    def test_unknown_principal(self):
        self.refused(forge(claim_changes={"oid": "00000000-0000-0000-0000-000000000000"}),
                     "InvalidAuthenticationToken")

    def test_missing_authorization(self):
        r = self.refused(None, "AuthenticationFailed")
        self.assertIn("Authorization", r.json()["error"]["message"])

    def test_garbage(self):
        self.refused("garbage", "InvalidAuthenticationToken")
        self.refused("a.b.c", "InvalidAuthenticationToken")
        self.refused("....", "InvalidAuthenticationToken")
        self.refused(None, "InvalidAuthenticationToken", raw_header="Basic dXNlcjpwYXNz")
        self.refused(None, "InvalidAuthenticationToken", raw_header="Bearer")
        self.refused(None, "InvalidAuthenticationToken", raw_header="Bearer " + "A" * 6000)


class TokenEndpoint(unittest.TestCase):
    def post(self, **fields):
        data = {"grant_type": "client_credentials", "client_id": srv.env["AZURE_CLIENT_ID"],
                "client_secret": srv.env["AZURE_CLIENT_SECRET"],
                "scope": srv.mgmt_url + "/.default"}
        data.update(fields)
        data = {k: v for k, v in data.items() if v is not None}
        return requests.post(srv.mgmt_url + "/adfs/oauth2/token", data=data, verify=srv.ca,
                             timeout=30)

    def test_control(self):
        self.assertEqual(self.post().status_code, 200)

    def test_wrong_secret(self):
        r = self.post(client_secret="not-the-secret")
        self.assertEqual(r.status_code, 401, r.text)
        j = r.json()
        self.assertEqual(j["error"], "invalid_client")
        self.assertIn("AADSTS7000215", j["error_description"])
        self.assertEqual(j["error_codes"], [7000215])
        self.assertNotIn("access_token", j)

    def test_unknown_client(self):
        r = self.post(client_id="11111111-2222-3333-4444-555555555555")
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"], "unauthorized_client")
        self.assertIn("AADSTS700016", r.json()["error_description"])

    def test_missing_secret(self):
        r = self.post(client_secret=None)
        self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_unsupported_grant(self):
        r = self.post(grant_type="password")
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"], "unsupported_grant_type")

    def test_missing_grant(self):
        r = self.post(grant_type=None)
        self.assertEqual(r.status_code, 400, r.text)
        self.assertEqual(r.json()["error"], "invalid_request")

    def test_v2_token_path(self):
        r = requests.post("%s/%s/oauth2/v2.0/token" % (srv.mgmt_url, srv.env["AZLITE_TENANT_ID"]),
                          verify=srv.ca, timeout=30, data={
                              "grant_type": "client_credentials",
                              "client_id": srv.env["AZURE_CLIENT_ID"],
                              "client_secret": "wrong", "scope": srv.mgmt_url + "/.default"})
        self.assertEqual(r.status_code, 401)
        self.assertEqual(r.json()["error"], "invalid_client")


class BadRequests(unittest.TestCase):
    def arm_error(self, r, status, code):
        self.assertEqual(r.status_code, status, r.text)
        self.assertEqual(r.json()["error"]["code"], code, r.text)
        self.assertTrue(r.json()["error"]["message"])

    def test_missing_api_version(self):
        r = srv.http("GET", "/subscriptions/%s/resourcegroups" % srv.env["AZURE_SUBSCRIPTION_ID"])
        self.arm_error(r, 400, "MissingApiVersionParameter")

    def test_known_api_versions_are_accepted(self):
        for v in ("2016-09-01", "2019-10-01", "2021-04-01", "2022-09-01"):
            r = srv.http("GET", groups_path().replace("2021-04-01", v))
            self.assertEqual(r.status_code, 200, v)

    def test_unknown_api_versions_are_refused(self):
        # Issue 16 item 13: ARM refuses versions it does not know, naming the known ones.
        for v in ("2099-01-01", "2099-01-01-preview", "garbage", ""):
            r = srv.http("GET", groups_path().replace("2021-04-01", v))
            self.arm_error(r, 400, "InvalidApiVersionParameter")
            msg = r.json()["error"]["message"]
            self.assertIn("The api-version '%s' is invalid. The supported versions are '" % v, msg)
            self.assertIn("2021-04-01,", msg)
        r = srv.http("PUT", groups_path("from-bad-version").replace("2021-04-01", "2099-01-01"),
                     json={"location": "eastus"})
        self.arm_error(r, 400, "InvalidApiVersionParameter")
        self.assertEqual(srv.http("HEAD", groups_path("from-bad-version")).status_code, 404)

    def test_provider_types_refuse_unknown_versions(self):
        sub = "/subscriptions/%s" % srv.env["AZURE_SUBSCRIPTION_ID"]
        path = sub + "/providers/Microsoft.Storage/storageAccounts?api-version="
        r = srv.http("GET", path + "2099-01-01")
        self.arm_error(r, 400, "NoRegisteredProviderFound")
        self.assertIn("API version '2099-01-01' for type 'storageAccounts'. The supported "
                      "api-versions are '", r.json()["error"]["message"])
        self.assertIn("2022-09-01, ", r.json()["error"]["message"])
        self.arm_error(srv.http("GET", path + "garbage"), 400, "InvalidApiVersionParameter")
        # What GET /providers/{ns} lists is what the check takes, type by type.
        prov = srv.http("GET", sub + "/providers/Microsoft.Storage?api-version=2021-04-01").json()
        types = {t["resourceType"]: t["apiVersions"] for t in prov["resourceTypes"]}
        self.assertIn("2022-09-01", types["storageAccounts"])
        for v in types["storageAccounts"]:
            self.assertEqual(srv.http("GET", path + v).status_code, 200, v)
        for ns in ("Microsoft.Resources", "Microsoft.Authorization",
                   "Microsoft.ManagedIdentity"):
            prov = srv.http("GET", sub + "/providers/%s?api-version=2021-04-01" % ns).json()
            for t in prov["resourceTypes"]:
                self.assertTrue(t["apiVersions"], (ns, t))

    def test_malformed_json(self):
        for body in (b'{"location": "eastus"', b"not json", b"",
                     b'{"location":"eastus","location":"westus"}'):
            r = srv.http("PUT", groups_path("from-bad-json"), data=body,
                         headers={"Content-Type": "application/json"})
            self.arm_error(r, 400, "InvalidRequestContent")
        self.assertEqual(srv.http("HEAD", groups_path("from-bad-json")).status_code, 404)
        self.assertNotIn("from-bad-json", srv.http("GET", groups_path()).text)

    def test_missing_location(self):
        r = srv.http("PUT", groups_path("no-location"), json={"tags": {}})
        self.arm_error(r, 400, "LocationRequired")
        self.assertEqual(srv.http("HEAD", groups_path("no-location")).status_code, 404)

    def test_bad_tags(self):
        r = srv.http("PUT", groups_path("bad-tags"), json={"location": "eastus", "tags": [1]})
        self.arm_error(r, 400, "InvalidRequestContent")
        r = srv.http("PUT", groups_path("bad-tags"),
                     json={"location": "eastus", "tags": {"t%d" % i: "v" for i in range(51)}})
        self.arm_error(r, 400, "InvalidTagCount")
        self.assertEqual(srv.http("HEAD", groups_path("bad-tags")).status_code, 404)

    def test_unknown_path(self):
        self.arm_error(srv.http("GET", "/no/such/path?api-version=2021-04-01"), 404, "NotFound")
        self.arm_error(srv.http("GET", "/subscriptions/%s/nothing-here?api-version=2021-04-01"
                                % srv.env["AZURE_SUBSCRIPTION_ID"]), 404, "NotFound")
        self.arm_error(srv.http("GET", "/../../etc/passwd"), 404, "NotFound")

    def test_wrong_method(self):
        self.arm_error(srv.http("POST", groups_path("x"), json={}), 405, "MethodNotAllowed")

    def test_unknown_subscription(self):
        r = srv.http("GET", "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups"
                     "?api-version=2021-04-01")
        self.arm_error(r, 404, "SubscriptionNotFound")
        r = srv.http("PUT", "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/"
                     "g?api-version=2021-04-01", json={"location": "eastus"})
        self.arm_error(r, 404, "SubscriptionNotFound")

    def test_oversized_body(self):
        big = b'{"location":"eastus","tags":{"a":"' + b"x" * (5 * 1024 * 1024) + b'"}}'
        # Content-Length announces it; the client sends it all (no Expect: 100-continue)
        # and must read the 413, not a reset connection.
        r = srv.http("PUT", groups_path("too-big"), data=big,
                     headers={"Content-Type": "application/json"})
        self.arm_error(r, 413, "RequestEntityTooLarge")

        # Chunked, so nothing announces the size.
        def chunks():
            for i in range(0, len(big), 65536):
                yield big[i:i + 65536]
        r = srv.http("PUT", groups_path("too-big"), data=chunks(),
                     headers={"Content-Type": "application/json"})
        self.arm_error(r, 413, "RequestEntityTooLarge")
        self.assertTrue(srv.alive())
        self.assertEqual(srv.http("HEAD", groups_path("too-big")).status_code, 404)

    def test_oversized_body_expect_continue(self):
        # curl sends Expect: 100-continue: it is refused before it sends the body.
        tok = srv.token()
        big = b"{" + b" " * (5 * 1024 * 1024) + b"}"
        p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                            "--cacert", srv.ca, "-X", "PUT", "-H", "Authorization: Bearer " + tok,
                            "-H", "Content-Type: application/json", "--data-binary", "@-",
                            srv.mgmt_url + groups_path("too-big")],
                           input=big, capture_output=True, timeout=60)
        self.assertEqual(p.stdout, b"413", p.stderr)
        self.assertTrue(srv.alive())

    def test_huge_header(self):
        try:
            r = srv.http("GET", groups_path(), headers={"X-Huge": "h" * (256 * 1024)})
            self.assertGreaterEqual(r.status_code, 400)
        except requests.ConnectionError:
            pass
        try:
            many = {"X-Many-%d" % i: "v" * 100 for i in range(2000)}
            r = srv.http("GET", groups_path(), headers=many)
            self.assertGreaterEqual(r.status_code, 400)
        except requests.ConnectionError:
            pass
        self.assertTrue(srv.alive())
        self.assertEqual(srv.http("GET", groups_path()).status_code, 200)

    def test_garbage_bytes_and_slow_close(self):
        ctx = ssl.create_default_context(cafile=srv.ca)
        for payload in (b"\x00\xff garbage \r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                        b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nshort"):
            with socket.create_connection(("127.0.0.1", srv.ports["mgmt"]), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(payload)
                    s.shutdown(socket.SHUT_WR)
                    try:
                        s.recv(4096)
                    except (OSError, ssl.SSLError):
                        pass
        # Not TLS at all on the TLS port.
        with socket.create_connection(("127.0.0.1", srv.ports["mgmt"]), timeout=10) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                raw.recv(4096)
            except OSError:
                pass
        self.assertTrue(srv.alive())


if __name__ == "__main__":
    unittest.main()
