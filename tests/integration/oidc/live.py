"""A real issuer for the concurrency tests: ``sigstack serve oidc`` (gunicorn, several worker
processes with threads) on 127.0.0.1, on SQLite or on a fresh PostgreSQL database, plus HTTP
clients that speak to it from a chosen loopback address (127.0.0.x) so that tests can play
several client addresses without trusting any proxy header."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from sigstack.services.oidc.config import OIDCConfig
from sigstack.services.oidc.datadir import prepare_data_dir
from sigstack.services.oidc.passwords import hash_password
from sigstack.services.oidc.store import Store
from sigstack.services.runtime import db
from tests.support.dbs import fresh_postgres
from tests.support.oidc import csrf_from
from tests.support.servers import Service

PASSWORD = "concurrency-pass-1"
REDIRECT = "http://127.0.0.1:41999/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
T = TypeVar("T")


@dataclass
class Live:
    url: str
    store: Store  # the same database, opened by the test process (setup and audit checks)
    subs: dict[str, str]  # username -> sub
    backend: str
    log: Path


@contextmanager
def live_issuer(
    backend: str, tmp: Path, users: Sequence[str], config: dict[str, Any]
) -> Iterator[Live]:
    """Start the issuer with ``users`` (all with ``PASSWORD``) on ``backend`` (sqlite|postgres)."""
    with ExitStack() as stack:
        data_dir = tmp / "data"
        args = ["--data-dir", str(data_dir), "--workers", "2"]
        database_url = None
        if backend == "postgres":
            database_url = stack.enter_context(fresh_postgres())
            db.upgrade(database_url)
            args += ["--database-url", database_url]
        config_file = tmp / "oidc.json"
        config_file.write_text(json.dumps(config))
        args += ["--config", str(config_file)]
        merged = OIDCConfig.load(
            flags={"data_dir": str(data_dir), "database_url": database_url},
            file=str(config_file),
            environ={},
        )
        store = prepare_data_dir(merged)
        stack.callback(store.engine.dispose)
        password_hash = hash_password(PASSWORD)
        subs = {}
        for name in users:
            subs[name] = "u-" + secrets.token_hex(8)
            store.add_user(subs[name], name, f"{name}@example.org", password_hash)
        log = tmp / "server.log"
        service = stack.enter_context(Service("oidc", *args, log=log))
        yield Live(service.url, store, subs, backend, log)


class _FromAddress(HTTPAdapter):
    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__(pool_connections=4, pool_maxsize=4)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def session(source: str = "127.0.0.1") -> requests.Session:
    """An HTTP client whose connections come from ``source`` (any 127.0.0.0/8 address)."""
    s = requests.Session()
    s.mount("http://", _FromAddress(source))
    return s


def at_once(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` in threads released together by a barrier; results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def auth_params(challenge: str, nonce: str | None = None) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "sigstore",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": secrets.token_hex(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if nonce:
        params["nonce"] = nonce
    return params


def login_form(live: Live, http: requests.Session, params: dict[str, str]) -> tuple[str, str]:
    """GET the login page; return (URL to post to, CSRF token). The cookie stays in ``http``."""
    url = f"{live.url}/auth?{urlencode(params)}"
    page = http.get(url, timeout=60)
    assert page.status_code == 200, page.text
    return url, csrf_from(page.text)


def post_login(
    http: requests.Session, url: str, csrf: str, username: str, password: str
) -> requests.Response:
    return http.post(
        url,
        data={"username": username, "password": password, "csrf_token": csrf},
        allow_redirects=False,
        timeout=60,
    )


def code_of(resp: requests.Response) -> str:
    assert resp.status_code == 302, (resp.status_code, resp.text[:300])
    return parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
