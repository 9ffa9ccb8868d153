"""Fuzz every route of a real OIDC issuer (``sigstack serve oidc``) from its own OpenAPI document.

The issuer has a user and a service account (made here, before the server starts). The fuzzer
knows neither password nor secret (its sign-ins get past the CSRF check: ``same_csrf``), so no
code, device approval or token may come out of it: the users, service accounts, codes and keys
(whose ``last_exp`` moves whenever a token is signed) must be exactly as set up, a device request
may only be pending, and the audit log may only hold refusals. Failed sign-ins and their
throttling counters are written, as they should be.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigstack.services.oidc.cli import create_service_account, create_user
from sigstack.services.oidc.config import OIDCConfig
from sigstack.services.oidc.datadir import prepare_data_dir
from tests.support.servers import Service, free_port

from . import harness

BUDGET = {
    "POST /auth": 150,
    "POST /device": 150,
    "POST /token": 250,
    "POST /device/code": 200,
}
COOKIE_VALUE = re.compile(r"[!#-+\--:<-\[\]-~]+")  # RFC 6265 cookie-octets
KEPT = ("oidc_users", "oidc_service_accounts", "oidc_auth_codes", "oidc_keys")


class OIDC(harness.Fuzzer):
    log: Path
    db: Path
    before: dict[str, list[Any]]


def snapshot(db: Path) -> dict[str, list[Any]]:
    with sqlite3.connect(db) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in KEPT}  # noqa: S608


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDC]:
    tmp = tmp_path_factory.mktemp("fuzz-oidc")
    data, port = tmp / "oidc", free_port()
    config = OIDCConfig.load(flags={"data_dir": str(data)}, environ={})
    store = prepare_data_dir(config)
    create_user(store, "alice", "alice@example.org", "correct horse battery")
    create_service_account(store, config, "release-bot")
    store.engine.dispose()
    log = tmp / "oidc.log"
    # a few password checks (scrypt) are enough; after them the address is throttled. Token
    # exchange is on (an issuer nobody serves), so that the fuzzer reaches its checks too.
    exchange = [{"issuer": "http://127.0.0.1:9/ci", "rules": [
        {"name": "any-job", "subject": "*", "service_accounts": ["release-bot"]}]}]  # fmt: skip
    (tmp / "oidc.json").write_text(
        json.dumps({"login_ip_max_failures": 8, "token_exchange": exchange})
    )
    with Service("oidc", "--data-dir", str(data), "--issuer-url", f"http://127.0.0.1:{port}",
                 "--config", str(tmp / "oidc.json"), port=port, log=log) as service:  # fmt: skip
        fuzzer = OIDC(service)
        fuzzer.log, fuzzer.db = log, data / "oidc.db"
        fuzzer.before = snapshot(fuzzer.db)
        yield fuzzer


def same_csrf(case: Any) -> dict[str, Any]:
    """Send a form's csrf_token as the CSRF cookie too (unless the case has a cookie of its own),
    so that fuzzed sign-ins get past the CSRF check to the throttle and the password check."""
    token = case.body.get("csrf_token") if isinstance(case.body, dict) else None
    if isinstance(token, str) and COOKIE_VALUE.fullmatch(token) and not case.cookies:
        return {"cookies": {"sigstack_oidc_csrf": token}}
    return {}


@pytest.mark.parametrize(("operation", "examples"), harness.cases("oidc", BUDGET, 300))
def test_fuzz(oidc: OIDC, operation: str, examples: int) -> None:
    oidc.run(operation, examples, prepare=same_csrf, allow_redirects=False)


def test_nothing_written(oidc: OIDC) -> None:
    """Runs after the fuzzing (module order): no account, code, device request or token."""
    assert snapshot(oidc.db) == oidc.before
    with sqlite3.connect(oidc.db) as conn:
        outcomes = dict(conn.execute("SELECT outcome, count(*) FROM oidc_audit GROUP BY outcome"))
        issued = conn.execute("SELECT count(*) FROM oidc_audit WHERE outcome = 'success' "
                              "AND event NOT IN ('add_user', 'add_service_account')").fetchone()  # fmt: skip
        # A device authorization request needs no secret (RFC 8628 section 3.1); it grants
        # nothing until a person signs in and approves it.
        devices = conn.execute("SELECT status, sub FROM oidc_device_codes").fetchall()
    assert all(device == ("pending", None) for device in devices), devices
    assert issued == (0,), outcomes
    assert not {"approved", "denied"} & set(outcomes), outcomes
    assert "token issued" not in oidc.log.read_text()
    oidc.assert_clean()
    print("\n" + oidc.summary())
