"""Service accounts against the real server: the documented curl one-liner, PyJWT verification
against the JWKS, a foreign audience refused, and rotation seen by a running server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import jwt
import pytest
import requests

from sigstack.services.oidc.keys import KEYS_TTL
from tests.support.servers import sigstack_out
from tests.support.testdata import ROOT


def _one_liner() -> str:
    doc = (ROOT / "docs" / "oidc.md").read_text()
    match = re.search(r"<!-- ci-one-liner -->\s*```sh\n(.+?)\n```", doc, re.S)
    assert match, "docs/oidc.md lost its CI one-liner"
    return match.group(1)


def _verify(server, token: str, audience: str = "sigstore") -> dict:
    key = jwt.PyJWKClient(server.url + "/keys").get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=server.url)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_documented_ci_one_liner_gets_a_verifiable_id_token(server):
    command = _one_liner().replace("https://oidc.example.internal", server.url)
    env = {
        **os.environ,
        "SIGSTACK_SA_CLIENT_ID": server.sa_client_id,
        "SIGSTACK_SA_CLIENT_SECRET": server.sa_secret,
    }
    out = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    claims = _verify(server, out.stdout.strip())
    assert claims["email"] == server.sa_email and claims["email_verified"] is True
    assert claims["aud"] == "sigstore" and claims["sub"].startswith("sa-")
    assert claims["exp"] - claims["iat"] <= 600


def test_form_credentials_foreign_audience_and_wrong_secret(server):
    ok = requests.post(
        server.url + "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": server.sa_client_id,
            "client_secret": server.sa_secret,
            "scope": "openid email",
        },
        timeout=10,
    )
    assert ok.status_code == 200, ok.text
    assert ok.headers["Cache-Control"] == "no-store"
    _verify(server, ok.json()["id_token"])
    foreign = requests.post(
        server.url + "/token",
        auth=(server.sa_client_id, server.sa_secret),
        data={"grant_type": "client_credentials", "audience": "other-app"},
        timeout=10,
    )
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_target"
    wrong = requests.post(
        server.url + "/token",
        auth=(server.sa_client_id, "not-the-secret"),
        data={"grant_type": "client_credentials"},
        timeout=10,
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_rotation_is_seen_by_the_running_server(server):
    def token() -> str:
        resp = requests.post(
            server.url + "/token",
            auth=(server.sa_client_id, server.sa_secret),
            data={"grant_type": "client_credentials"},
            timeout=10,
        )
        return str(resp.json()["id_token"])

    before = token()
    old_kid = jwt.get_unverified_header(before)["kid"]
    sigstack_out("oidc", "rotate-key", "--data-dir", str(server.data_dir))
    deadline = time.monotonic() + 3 * KEYS_TTL + 5  # every worker re-reads its keys by then
    while True:
        after = token()
        new_kid = jwt.get_unverified_header(after)["kid"]
        if new_kid != old_kid or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert old_kid != new_kid
    kids = {k["kid"] for k in requests.get(server.url + "/keys", timeout=10).json()["keys"]}
    assert {old_kid, new_kid} <= kids
    _verify(server, before)
    _verify(server, after)
