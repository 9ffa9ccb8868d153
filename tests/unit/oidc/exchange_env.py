"""The token-exchange tests' issuer: a unit-test issuer (``helpers.make_env``) whose
``token_exchange`` configuration trusts paths of a test OIDC provider (``tests.support.oidc``, a
real discovery/JWKS server on 127.0.0.1) as a GitHub Actions issuer and a Kubernetes cluster, with
the service accounts the rules name (but not ``ghost-bot``, which a rule names and nobody made)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sigstack.services.oidc import cli
from tests.support.oidc import GITHUB_CLAIMS, OIDCIssuer

from .helpers import ISSUER, Env, make_env

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
K8S_AUDIENCE = "sigstack-token-exchange"
TAG_CLAIMS = {**GITHUB_CLAIMS, "repository": "octo/app", "ref": "refs/tags/v1.2.0"}


def exchange_config(base: str) -> list[dict[str, Any]]:
    """The configuration under test: the worked examples of docs/oidc.md, on the provider's paths."""
    return [
        {
            "issuer": base + "/github",  # audience: the issuer URL, by default
            "rules": [
                {"name": "octo-app-releases",
                 "claims": {"repository": "octo/app", "ref": "refs/tags/v*"},
                 "service_accounts": ["release-bot"]},
                {"name": "ghost-repo", "subject": "repo:octo/ghost:*",
                 "service_accounts": ["ghost-bot"]},
            ],
        },
        {
            "issuer": base + "/k8s",
            "audience": [K8S_AUDIENCE],
            "max_token_age": 600,
            "rules": [
                {"name": "ci-namespace", "claims": {"/kubernetes.io/namespace": "ci"},
                 "service_accounts": ["deployer", "release-bot"]},
            ],
        },
    ]  # fmt: skip


def make_exchange_env(tmp_path: Path, ci: OIDCIssuer, **overrides: Any) -> Env:
    overrides.setdefault("token_exchange", exchange_config(ci.url))
    env = make_env(tmp_path, **overrides)
    for name in ("release-bot", "deployer"):
        cli.create_service_account(env.store, env.config, name)
    return env


def github_token(ci: OIDCIssuer, **claims: Any) -> str:
    values: dict[str, Any] = {**TAG_CLAIMS, "aud": ISSUER, "iss": "/github"}
    values.update(claims)
    sub = values.pop("sub", f"repo:{values['repository']}:ref:{values['ref']}")
    return ci.token(sub, **values)


def k8s_token(ci: OIDCIssuer, namespace: str = "ci", **claims: Any) -> str:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": "/k8s",
        "aud": [K8S_AUDIENCE],
        "nbf": now,
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": "builder", "uid": "6c1f0d1e"},
            "pod": {"name": "builder-7d9f", "uid": "0b1e2c3d"},
        },
    }
    values.update(claims)
    return ci.token(f"system:serviceaccount:{namespace}:builder", **values)


def exchange(env: Env, token: str | None, **fields: Any) -> Any:
    """POST /token with the token-exchange grant; ``fields`` add or (as None) drop parameters."""
    data: dict[str, Any] = {
        "grant_type": EXCHANGE,
        "subject_token": token,
        "subject_token_type": JWT_TYPE,
    }
    data.update(fields)
    return env.client.post("/token", data={k: v for k, v in data.items() if v is not None})


def exchange_audits(env: Env) -> list[dict[str, Any]]:
    import json

    rows = [r for r in env.store.audit_rows() if r["event"] == "token_exchange"]
    return [{**r, "detail": json.loads(r["detail"] or "{}")} for r in rows]
