"""Nothing secret reaches a log line or the audit table, with every logger at DEBUG (authlib's
too): passwords, client secrets, codes, PKCE verifiers, device codes and tokens."""

from __future__ import annotations

import json
import logging

from sigstack.services.oidc.cli import create_service_account
from tests.support.oidc import csrf_from, pkce

from .helpers import PASSWORD, REDIRECT, auth_params, basic, code_from, login

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def test_flows_log_no_secrets(env, caplog):
    caplog.set_level(logging.DEBUG)
    secrets_seen = [PASSWORD, "wrong-password-123"]

    verifier, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    login(env, auth_params(challenge), password="wrong-password-123")
    token = env.client.post(
        "/token",
        headers=basic("sigstore"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    ).get_json()
    secrets_seen += [code, verifier, token["access_token"], token["id_token"]]

    dv, dc = pkce()
    grant = env.client.post(
        "/device/code",
        data={"client_id": "sigstore", "code_challenge": dc, "code_challenge_method": "S256"},
    ).get_json()
    page = env.client.get("/device")
    env.client.post(
        "/device",
        data={
            "user_code": grant["user_code"],
            "username": "alice",
            "password": PASSWORD,
            "decision": "approve",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    device_token = env.client.post(
        "/token",
        data={
            "grant_type": GRANT,
            "device_code": grant["device_code"],
            "client_id": "sigstore",
            "code_verifier": dv,
        },
    ).get_json()
    secrets_seen += [grant["device_code"], dv, device_token["id_token"]]

    _email, client_id, client_secret = create_service_account(env.store, env.config, "ci-bot")
    sa_token = env.client.post(
        "/token", headers=basic(client_id, client_secret), data={"grant_type": "client_credentials"}
    ).get_json()
    env.client.post(
        "/token",
        headers=basic(client_id, "not-the-secret-42"),
        data={"grant_type": "client_credentials"},
    )
    secrets_seen += [client_secret, "not-the-secret-42", sa_token["id_token"]]

    logged = caplog.text + json.dumps(env.store.audit_rows())
    assert "login failed" in caplog.text  # the log did capture the flows
    leaked = [s[:12] + "…" for s in secrets_seen if s in logged]
    assert leaked == []
