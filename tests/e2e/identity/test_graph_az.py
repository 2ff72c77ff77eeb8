"""az 2.45's own commands over Graph credentials (`ad app credential reset --append`,
`ad app credential delete`, `ad sp credential reset`, `ad sp update`), the token
service's signing keys (JWKS) verified with a real library, and interactive
sign-in refused with a message that says what works."""
import base64
import json
import unittest

import requests
from azure.core.exceptions import ClientAuthenticationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from azlite_harness import Azlite
from idhelp import create_sp, credential

srv = None


def setUpModule():
    global srv
    srv = Azlite().start()


def tearDownModule():
    srv.cleanup()


def logs_in(sp, secret):
    try:
        credential(srv, sp, secret).get_token(srv.mgmt_url + "/.default")
        return True
    except ClientAuthenticationError:
        return False


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class AzCredentials(unittest.TestCase):
    def test_app_credential_reset_append_keeps_the_old_secret(self):
        sp = create_sp(srv, "az-append")
        new = srv.az_json("ad", "app", "credential", "reset", "--id", sp["appId"], "--append")
        self.assertNotEqual(new["password"], sp["password"])
        self.assertTrue(logs_in(sp, sp["password"]))
        self.assertTrue(logs_in(sp, new["password"]))
        creds = srv.az_json("ad", "app", "credential", "list", "--id", sp["appId"])
        self.assertEqual(len(creds), 2, creds)

    def test_app_credential_delete_revokes_that_secret(self):
        sp = create_sp(srv, "az-cred-delete")
        new = srv.az_json("ad", "app", "credential", "reset", "--id", sp["appId"], "--append")
        creds = srv.az_json("ad", "app", "credential", "list", "--id", sp["appId"])
        old = [c for c in creds if c["hint"] == sp["password"][:3]]
        self.assertEqual(len(old), 1, creds)
        p = srv.az("ad", "app", "credential", "delete", "--id", sp["appId"], "--key-id",
                   old[0]["keyId"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(logs_in(sp, sp["password"]))
        self.assertTrue(logs_in(sp, new["password"]))
        creds = srv.az_json("ad", "app", "credential", "list", "--id", sp["appId"])
        self.assertEqual([c["keyId"] for c in creds if c["keyId"] == old[0]["keyId"]], [])

    def test_sp_credential_reset(self):
        sp = create_sp(srv, "az-sp-reset")
        p = srv.az("ad", "sp", "credential", "reset", "--id", sp["appId"], "--output", "json")
        self.assertEqual(p.returncode, 0, p.stderr)
        new = json.loads(p.stdout)
        self.assertEqual(new["appId"], sp["appId"])
        self.assertTrue(logs_in(sp, new["password"]))

    def test_sp_update(self):
        sp = create_sp(srv, "az-sp-update")
        p = srv.az("ad", "sp", "update", "--id", sp["appId"], "--set",
                   "notes=changed by az ad sp update")
        self.assertEqual(p.returncode, 0, p.stderr)
        shown = srv.az_json("ad", "sp", "show", "--id", sp["appId"])
        self.assertEqual(shown.get("notes"), "changed by az ad sp update", shown)


class Jwks(unittest.TestCase):
    def test_tokens_verify_against_the_published_keys(self):
        tenant = srv.env["AZLITE_TENANT_ID"]
        for cfg_path in ("/adfs/.well-known/openid-configuration",
                         "/%s/v2.0/.well-known/openid-configuration" % tenant):
            with self.subTest(cfg=cfg_path):
                cfg = requests.get(srv.mgmt_url + cfg_path, verify=srv.ca, timeout=30)
                self.assertEqual(cfg.status_code, 200, cfg.text)
                jwks = requests.get(cfg.json()["jwks_uri"], verify=srv.ca, timeout=30)
                self.assertEqual(jwks.status_code, 200, jwks.text)
                keys = {k["kid"]: k for k in jwks.json()["keys"]}
                token = srv.token()
                head, body, sig = token.split(".")
                kid = json.loads(unb64(head))["kid"]
                self.assertIn(kid, keys)
                k = keys[kid]
                self.assertEqual(k["kty"], "RSA")
                pub = rsa.RSAPublicNumbers(int.from_bytes(unb64(k["e"]), "big"),
                                           int.from_bytes(unb64(k["n"]), "big")).public_key()
                pub.verify(unb64(sig), (head + "." + body).encode(), padding.PKCS1v15(),
                           hashes.SHA256())
                # A changed payload does not verify.
                with self.assertRaises(Exception):
                    pub.verify(unb64(sig), (head + "." + body + "x").encode(),
                               padding.PKCS1v15(), hashes.SHA256())


class Interactive(unittest.TestCase):
    def test_device_code_says_what_works(self):
        for path in ("/adfs/oauth2/devicecode",
                     "/%s/oauth2/v2.0/devicecode" % srv.env["AZLITE_TENANT_ID"]):
            with self.subTest(path=path):
                r = requests.post(srv.mgmt_url + path, data={"client_id": "x", "resource": "y"},
                                  verify=srv.ca, timeout=30)
                self.assertEqual(r.status_code, 400, r.text)
                self.assertEqual(r.json()["error"], "invalid_request")
                self.assertIn("azlite az", r.json()["error_description"])


if __name__ == "__main__":
    unittest.main()
