"""Device authorization grant (RFC 8628) with PKCE, scripted approval through the device page."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sigstack.services.oidc.store import device_codes
from tests.support.oidc import claims_of, csrf_from, pkce

from .helpers import PASSWORD

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _start(env, challenge=None, method="S256"):
    data = {"client_id": "sigstore", "scope": "openid email"}
    if challenge:
        data.update(code_challenge=challenge, code_challenge_method=method)
    return env.client.post("/device/code", data=data)


def _poll(env, device_code, verifier=None):
    data = {"grant_type": GRANT, "device_code": device_code, "client_id": "sigstore"}
    if verifier:
        data["code_verifier"] = verifier
    return env.client.post("/token", data=data)


def _decide(env, user_code, decision="approve", password=PASSWORD):
    page = env.client.get(f"/device?user_code={user_code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'value="{user_code}"' in html and '<label for="user_code">' in html
    return env.client.post(
        "/device",
        data={
            "user_code": user_code.lower().replace("-", " "),  # people type it loosely
            "username": "alice",
            "password": password,
            "decision": decision,
            "csrf_token": csrf_from(html),
        },
    )


def test_device_flow_with_pkce(env):
    verifier, challenge = pkce()
    start = _start(env, challenge)
    assert start.status_code == 200
    body = start.get_json()
    assert body["verification_uri"] == env.issuer.url + "/device"
    assert body["verification_uri_complete"].endswith("user_code=" + body["user_code"])
    assert body["interval"] == 5 and body["expires_in"] == 300
    assert _poll(env, body["device_code"], verifier).get_json()["error"] == "authorization_pending"
    # polling again at once is too fast
    assert _poll(env, body["device_code"], verifier).get_json()["error"] == "slow_down"
    env.clock.advance(11)
    assert _poll(env, body["device_code"], verifier).get_json()["error"] == "authorization_pending"
    done = _decide(env, body["user_code"])
    assert done.status_code == 200 and "Device approved" in done.get_data(as_text=True)
    env.clock.advance(11)
    tok = _poll(env, body["device_code"], verifier)
    assert tok.status_code == 200, tok.get_json()
    claims = claims_of(tok.get_json()["id_token"])
    assert claims["aud"] == "sigstore" and claims["email"] == "alice@example.org"
    assert claims["sub"] == env.user_sub
    # a device code gives tokens once
    env.clock.advance(11)
    assert _poll(env, body["device_code"], verifier).status_code == 400
    events = [(r["event"], r["outcome"]) for r in env.store.audit_rows()]
    assert events == [("device_login", "success"), ("device", "approved")]


def test_device_flow_wrong_or_missing_verifier_is_refused(env):
    verifier, challenge = pkce()
    body = _start(env, challenge).get_json()
    _decide(env, body["user_code"])
    other, _ = pkce()
    assert _poll(env, body["device_code"], other).get_json()["error"] == "invalid_grant"
    assert _poll(env, body["device_code"]).get_json()["error"] == "invalid_request"
    env.clock.advance(20)
    assert _poll(env, body["device_code"], verifier).status_code == 200


def test_device_flow_without_pkce_rejects_a_stray_verifier(env):
    body = _start(env).get_json()
    _decide(env, body["user_code"])
    verifier, _ = pkce()
    assert _poll(env, body["device_code"], verifier).get_json()["error"] == "invalid_request"
    env.clock.advance(20)
    assert _poll(env, body["device_code"]).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": "s256"},
        {"code_challenge_method": None},
        {"code_challenge": None},
        {"code_challenge": "short"},
        {"code_challenge": "é" * 43},
    ],
)
def test_device_challenge_must_be_s256_when_sent(env, change):
    _, challenge = pkce()
    data = {"client_id": "sigstore", "code_challenge": challenge, "code_challenge_method": "S256"}
    data = {k: v for k, v in {**data, **change}.items() if v is not None}
    resp = env.client.post("/device/code", data=data)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"
    assert "Traceback" not in resp.get_data(as_text=True)
    with env.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(device_codes)).scalar() == 0


def test_device_denied(env):
    body = _start(env).get_json()
    assert "Request denied" in _decide(env, body["user_code"], "deny").get_data(as_text=True)
    assert _poll(env, body["device_code"]).get_json()["error"] == "access_denied"


def test_device_expired(env):
    body = _start(env).get_json()
    env.clock.advance(301)
    assert _poll(env, body["device_code"]).get_json()["error"] == "expired_token"
    resp = _decide(env, body["user_code"])
    assert resp.status_code == 400 and "expired" in resp.get_data(as_text=True)


def test_device_page_refuses_bad_password_csrf_and_unknown_codes(env):
    body = _start(env).get_json()
    assert _decide(env, body["user_code"], password="wrong").status_code == 401
    resp = env.client.post(
        "/device",
        data={
            "user_code": body["user_code"],
            "username": "alice",
            "password": PASSWORD,
            "decision": "approve",
            "csrf_token": "x" * 43,
        },
    )
    assert resp.status_code == 400
    assert _decide(env, "BCDF-GHJK").status_code == 400
    assert _poll(env, body["device_code"]).get_json()["error"] == "authorization_pending"


def test_unknown_device_code_and_client(env):
    unknown = _poll(env, "nope")
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_grant"
    missing = env.client.post("/token", data={"grant_type": GRANT, "client_id": "sigstore"})
    assert missing.status_code == 400 and missing.get_json()["error"] == "invalid_request"
    resp = env.client.post("/device/code", data={"client_id": "nobody"})
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"
