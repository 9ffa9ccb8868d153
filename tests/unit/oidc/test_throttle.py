"""Sign-in throttling (issue 11, item 2): per account and client address with exponential back-off,
per address across accounts, atomic admission, and nothing secret in the audit log.

Defaults: 5 free failures per account and address, then waits of 30 s, 60 s, 120 s ... at most
900 s; 50 free failures per address.
"""

from __future__ import annotations

import json
import logging
import threading

import pytest

from sigstack.services.oidc.store import Limit, Store
from tests.support.dbs import fresh_postgres
from tests.support.oidc import csrf_from, pkce

from .helpers import PASSWORD, auth_params, login, make_env

ATTACKER, OWNER = "10.0.0.66", "10.0.0.7"


def _params():
    return auth_params(pkce()[1])


def _retry_after(resp) -> int:
    assert resp.status_code == 429, resp.status_code
    return int(resp.headers["Retry-After"])


def test_failures_back_off_exponentially_up_to_the_cap(env):
    params = _params()
    for i in range(5):
        assert login(env, params, password=f"guess-{i}", ip=ATTACKER).status_code == 401
    refused = login(env, params, password="guess-5", ip=ATTACKER)
    assert _retry_after(refused) == 30
    assert "Wait 30 seconds" in refused.get_data(as_text=True)
    # the right password from the same address waits too, and is not checked
    assert _retry_after(login(env, params, ip=ATTACKER)) == 30
    env.clock.advance(29)
    assert _retry_after(login(env, params, password="x", ip=ATTACKER)) == 1
    for wait, following in [(1, 60), (60, 120), (120, 240), (240, 480), (480, 900), (900, 900)]:
        env.clock.advance(wait)
        assert login(env, params, password="again", ip=ATTACKER).status_code == 401
        assert _retry_after(login(env, params, password="again", ip=ATTACKER)) == following
    env.clock.advance(900)
    assert login(env, params, ip=ATTACKER).status_code == 302
    # a success ends the series: the account has its free tries back at that address
    assert [login(env, params, password="x", ip=ATTACKER).status_code for _ in range(5)] == [
        401
    ] * 5
    outcomes = [r["outcome"] for r in env.store.audit_rows()]
    assert outcomes.count("failure") == 5 + 6 + 5 and outcomes.count("success") == 1
    assert outcomes.count("throttled") == 2 + 1 + 6


def test_the_owner_on_another_address_is_not_held_up(env):
    params = _params()
    for i in range(8):
        login(env, params, password=f"guess-{i}", ip=ATTACKER)
    assert login(env, params, ip=ATTACKER).status_code == 429
    assert login(env, params, ip=OWNER).status_code == 302
    assert login(env, params, password="typo", ip=OWNER).status_code == 401


def test_unknown_names_are_throttled_and_answered_alike(env):
    params = _params()

    def run(name, ip):
        answers = []
        for i in range(7):
            resp = login(env, params, username=name, password=f"guess-{i}", ip=ip)
            body = resp.get_data(as_text=True)
            answers.append(
                (resp.status_code, resp.headers.get("Retry-After"), "not correct" in body)
            )
        return answers

    assert run("mallory", "10.0.0.1") == run("alice", "10.0.0.2")


def test_one_address_guessing_many_accounts_waits(tmp_path):
    env = make_env(tmp_path, login_ip_max_failures=3)
    params = _params()
    for name in ("a1", "a2", "alice"):
        assert login(env, params, username=name, password="x", ip=ATTACKER).status_code == 401
    assert _retry_after(login(env, params, username="a4", password="x", ip=ATTACKER)) == 30
    assert login(env, params, ip=ATTACKER).status_code == 429
    assert login(env, params, ip=OWNER).status_code == 302
    env.clock.advance(30)
    assert login(env, params, ip=ATTACKER).status_code == 302


def test_successes_do_not_count_against_the_address(tmp_path):
    env = make_env(tmp_path, login_ip_max_failures=2)
    params = _params()
    assert [login(env, params).status_code for _ in range(5)] == [302] * 5
    assert login(env, params, password="x").status_code == 401
    assert login(env, params).status_code == 302


def test_a_quiet_window_forgets_a_series(env):
    params = _params()
    for _ in range(6):
        login(env, params, password="x", ip=ATTACKER)
    env.clock.advance(30 + env.issuer.settings.login_window - 1)
    assert login(env, params, password="x", ip=ATTACKER).status_code == 401
    assert _retry_after(login(env, params, password="x", ip=ATTACKER)) == 60
    env.clock.advance(60 + env.issuer.settings.login_window)
    statuses = [login(env, params, password="x", ip=ATTACKER).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_wrong_device_codes_count_against_the_address(tmp_path):
    env = make_env(tmp_path, login_ip_max_failures=2)
    address = {"REMOTE_ADDR": ATTACKER}

    def submit(code):
        page = env.client.get("/device", environ_base=address)
        return env.client.post(
            "/device",
            data={
                "user_code": code,
                "username": "alice",
                "password": PASSWORD,
                "decision": "approve",
                "csrf_token": csrf_from(page.get_data(as_text=True)),
            },
            environ_base=address,
        )

    assert submit("BCDF-GHJK").status_code == 400
    assert submit("BCDF-GHJL").status_code == 400
    assert _retry_after(submit("BCDF-GHJM")) == 30


def test_a_password_typed_as_the_username_is_not_logged(env, caplog):
    """People type the password into the wrong field. Names that are not accounts appear in the
    audit table and the log only as a short hash."""
    caplog.set_level(logging.INFO, logger="sigstack.oidc.audit")
    secret = "Tr0ub4dor&3-hunter2"
    params = _params()
    assert login(env, params, username=secret, password="alice").status_code == 401
    for _ in range(6):
        login(env, params, username=secret, password="x")
    rows = env.store.audit_rows()
    assert {r["outcome"] for r in rows} == {"failure", "throttled"}
    assert all(r["username"].startswith("unknown:") for r in rows)
    assert secret not in json.dumps(rows) and secret not in caplog.text
    assert secret.lower() not in json.dumps(env.store.throttle_rows())
    login(env, params, ip=OWNER)
    assert env.store.audit_rows()[-1]["username"] == "alice"


# -- the store's atomic admission, under threads ------------------------------------------------
def _race(store: Store, limits, n: int = 24) -> list[tuple[int, int]]:
    barrier = threading.Barrier(n)
    results: list[tuple[int, int]] = [(-1, -1)] * n

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = store.take_attempt(limits)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _check_atomic_admission(store: Store) -> None:
    account = Limit("acct:10.0.0.1 bob", 5, 30, 900, 900)
    results = _race(store, [account])
    assert sorted(count for wait, count in results if wait == 0) == [1, 2, 3, 4, 5]
    assert sorted(wait for wait, _ in results if wait) == [30] * 19
    # two limits: the tighter one decides, and a refusal counts against neither
    pair = Limit("acct:10.0.0.2 bob", 5, 30, 900, 900)
    address = Limit("addr:10.0.0.2", 3, 30, 900, 900)
    results = _race(store, [pair, address])
    assert sum(1 for wait, _ in results if wait == 0) == 3
    rows = {r["key"]: r["failures"] for r in store.throttle_rows()}
    assert rows[pair.key] == 3 and rows[address.key] == 3


def test_take_attempt_admits_exactly_the_limit_on_sqlite(env):
    _check_atomic_admission(env.store)


@pytest.mark.postgres
def test_take_attempt_admits_exactly_the_limit_on_postgres(tmp_path):
    from sigstack.services.runtime import db

    with fresh_postgres() as url:
        db.upgrade(url)
        engine = db.make_engine(url)
        try:
            _check_atomic_admission(Store(engine))
        finally:
            engine.dispose()
