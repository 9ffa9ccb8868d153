"""Helpers for the OIDC issuer's unit tests: a real data dir (SQLite + key files), a clock the
tests can move, and functions that drive the flows through Flask's test client."""

from __future__ import annotations

import atexit
import base64
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from sigstack.services.oidc.app import create_app
from sigstack.services.oidc.config import OIDCConfig
from sigstack.services.oidc.datadir import prepare_data_dir
from sigstack.services.oidc.issuer import Issuer
from sigstack.services.oidc.passwords import hash_password
from sigstack.services.oidc.store import Store
from tests.support.clock import Clock
from tests.support.oidc import csrf_from

ISSUER = "http://127.0.0.1:5556"
REDIRECT = "http://localhost:41234/auth/callback"
PASSWORD = "correct horse battery staple"


@dataclass
class Env:
    app: Any
    client: Any
    issuer: Issuer
    store: Store
    clock: Clock[float]
    data_dir: Path
    config: dict[str, Any]
    user_sub: str


def auth_params(challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "sigstore",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "st-" + secrets.token_hex(4),
    }
    if challenge is not None:
        params["code_challenge"] = challenge
        params["code_challenge_method"] = "S256"
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def login(
    env: Env,
    params: dict[str, str],
    username: str = "alice",
    password: str = PASSWORD,
    ip: str = "127.0.0.1",
) -> Any:
    """GET the login page for ``params``, then POST the credentials with its CSRF token, both
    from client address ``ip``."""
    url = "/auth?" + urlencode(params)
    address = {"REMOTE_ADDR": ip}
    page = env.client.get(url, environ_base=address)
    assert page.status_code == 200, page.get_data(as_text=True)
    csrf = csrf_from(page.get_data(as_text=True))
    return env.client.post(
        url,
        data={"username": username, "password": password, "csrf_token": csrf},
        environ_base=address,
    )


def code_from(resp: Any) -> str:
    assert resp.status_code == 302, resp.get_data(as_text=True)
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    return query["code"][0]


def basic(client_id: str, secret: str = "") -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


_TEMPLATES: dict[str, Path] = {}


def _template(alg: str) -> Path:
    """One initialised data dir per algorithm, copied for each test (Alembic and key generation
    once per session instead of once per test)."""
    if alg not in _TEMPLATES:
        root = Path(tempfile.mkdtemp(prefix="oidc-template-")) / "data"
        atexit.register(shutil.rmtree, root.parent, True)
        prepare_data_dir(
            OIDCConfig.load(flags={"data_dir": str(root), "signing_alg": alg}, environ={})
        )
        _TEMPLATES[alg] = root
    return _TEMPLATES[alg]


def make_env(tmp_path: Path, **overrides: Any) -> Env:
    data_dir = tmp_path / "data"
    if not overrides.get("database_url"):
        shutil.copytree(_template(overrides.get("signing_alg", "RS256")), data_dir)
    config = OIDCConfig.load(
        flags={"data_dir": str(data_dir), "issuer_url": ISSUER, **overrides}, environ={}
    )
    store = prepare_data_dir(config)
    clock = Clock.wall()
    store = Store(store.engine, clock=clock)
    sub = "u-" + secrets.token_hex(8)
    store.add_user(sub, "alice", "alice@example.org", _password_hash())
    app = create_app(config, store)
    issuer = app.extensions["sigstack_oidc"]
    return Env(app, app.test_client(), issuer, store, clock, data_dir, config, sub)


_HASH: list[str] = []


def _password_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]
