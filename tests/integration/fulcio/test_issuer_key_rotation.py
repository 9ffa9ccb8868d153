"""A key the issuer has removed stops working in Fulcio (security review, issue 11, item 1).

Real parts only: a sigstack OIDC issuer (``sigstack serve oidc``) with a service account, a CT log
and Fulcio as gunicorn servers on 127.0.0.1. A token is minted with the issuer's key, the key is
rotated with ``sigstack oidc rotate-key`` and then deleted as docs/oidc.md says for a compromised
key (its ``oidc_keys`` row and its file). Fulcio must refuse the old token:

- after ``oidc_cache_max_age`` seconds (set to 2 here, so the test need not wait five minutes);
- at once after ``SIGHUP`` to the Fulcio master (gunicorn starts fresh workers), even with the
  default bound, under which the cached key is still accepted until then.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from sigstack.services.fulcio.cli import create_ca
from tests.support.keys import b64, csr_pem, new_key
from tests.support.servers import Service, sigstack_out

pytestmark = [pytest.mark.xdist_group("servers")]

REFUSED = {"code": 3, "message": "There was an error processing the identity token", "details": []}


def _fulcio(tmp: Path, name: str, ct: Service, issuer_url: str, **settings: Any) -> Service:
    config = tmp / f"{name}.json"
    config.write_text(json.dumps({"OIDCIssuers": {issuer_url: {"Type": "email"}}, **settings}))
    return Service(
        "fulcio", "--data-dir", str(tmp / name), "--config", str(config),
        "--ct-url", ct.url, "--ct-public-key", str(tmp / "ct" / "ctlog.pub"),
        "--ca-key", f"file:{tmp / 'ca' / 'intermediate-key.pem'}",
        "--ca-chain", str(tmp / "ca" / "chain.pem"), "--workers", "1", log=tmp / f"{name}.log",
    ).start()  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("fulcio-rotation")
    create_ca(tmp / "ca", algorithm="ecdsa-p256")
    out = sigstack_out(
        "oidc", "add-service-account", "release-bot", "--data-dir", str(tmp / "oidc")
    )
    account = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    started: list[Service] = []
    try:
        oidc = Service("oidc", "--data-dir", str(tmp / "oidc"), "--workers", "1",
                       log=tmp / "oidc.log").start()  # fmt: skip
        started.append(oidc)
        ct = Service("ctlog", "--data-dir", str(tmp / "ct"), "--roots",
                     str(tmp / "ca" / "root.pem"), log=tmp / "ct.log").start()  # fmt: skip
        started.append(ct)
        quick = _fulcio(tmp, "fulcio-quick", ct, oidc.url, oidc_cache_max_age=2)
        started.append(quick)
        default = _fulcio(tmp, "fulcio-default", ct, oidc.url)
        started.append(default)
        yield {"tmp": tmp, "oidc": oidc, "quick": quick, "default": default,
               "account": (account["client_id"], account["client_secret"])}  # fmt: skip
    finally:
        for service in reversed(started):
            service.kill()


def _token(stack: dict[str, Any]) -> str:
    resp = requests.post(f"{stack['oidc'].url}/token", auth=stack["account"], timeout=10,
                         data={"grant_type": "client_credentials", "audience": "sigstore"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id_token"])


def _sign(fulcio: Service, token: str) -> requests.Response:
    body = {"credentials": {"oidcIdentityToken": token},
            "certificateSigningRequest": b64(csr_pem(new_key("ec-p256")))}  # fmt: skip
    return requests.post(f"{fulcio.url}/api/v2/signingCert", json=body, timeout=30)


def _rotate_and_delete(stack: dict[str, Any], token: str) -> None:
    """``rotate-key``, then the old key's row and file deleted (docs/oidc.md, compromised key)."""
    kid = jwt.get_unverified_header(token)["kid"]
    data_dir = stack["tmp"] / "oidc"
    sigstack_out("oidc", "rotate-key", "--data-dir", str(data_dir))
    with sqlite3.connect(data_dir / "oidc.db") as db:
        assert db.execute("DELETE FROM oidc_keys WHERE kid = ?", (kid,)).rowcount == 1
    (data_dir / "keys" / f"{kid}.pem").unlink()
    deadline = time.monotonic() + 10
    while True:  # the issuer re-reads its key rows within a second
        jwks = requests.get(f"{stack['oidc'].url}/keys", timeout=10).json()
        if kid not in [k["kid"] for k in jwks["keys"]]:
            return
        assert time.monotonic() < deadline, "the issuer still publishes the deleted key"
        time.sleep(0.2)


def test_deleted_key_refused_after_the_cache_bound(stack: dict[str, Any]) -> None:
    old = _token(stack)
    assert _sign(stack["quick"], old).status_code == 200
    _rotate_and_delete(stack, old)
    time.sleep(2.5)  # oidc_cache_max_age = 2 (the issuer says max-age=300)
    resp = _sign(stack["quick"], old)
    assert resp.status_code == 400 and resp.json() == REFUSED, resp.text
    assert _sign(stack["quick"], _token(stack)).status_code == 200  # the new key works


def test_sighup_reloads_the_issuer_keys_at_once(stack: dict[str, Any]) -> None:
    fulcio = stack["default"]
    old = _token(stack)
    assert _sign(fulcio, old).status_code == 200
    _rotate_and_delete(stack, old)
    # Within the default bound (300 s, the issuer's max-age) the cached key is still trusted ...
    assert _sign(fulcio, old).status_code == 200
    assert fulcio.proc is not None
    os.kill(fulcio.proc.pid, signal.SIGHUP)  # ... until the operator reloads Fulcio
    deadline = time.monotonic() + 30
    while (resp := _sign(fulcio, old)).status_code == 200:
        assert time.monotonic() < deadline, "SIGHUP did not drop the cached keys"
        time.sleep(0.2)
    assert resp.status_code == 400 and resp.json() == REFUSED, resp.text
    assert _sign(fulcio, _token(stack)).status_code == 200
    assert fulcio.proc.poll() is None  # the master kept running
