"""Many clients at once against a real issuer (issue 11 §5), on SQLite and on PostgreSQL.

The issuer runs as ``sigstack serve oidc`` with two gunicorn worker processes of several threads
each, so requests race inside one process and across processes. Every test states the exact
outcome of each request: no "at most", no "some".
"""

from __future__ import annotations

from functools import partial

import pytest

from tests.support.oidc import claims_of, csrf_from, pkce

from .live import (
    DEVICE_GRANT,
    PASSWORD,
    REDIRECT,
    Live,
    at_once,
    auth_params,
    code_of,
    live_issuer,
    login_form,
    post_login,
    session,
)

FLOWS = 48
USERS = [f"user{i:02d}" for i in range(FLOWS)]
ACCOUNT_FREE = 5  # login_max_failures (the default)
ADDRESS_FREE = 20  # login_ip_max_failures, lowered from 50 to keep the test short
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    config = {"device_poll_interval": 1, "login_ip_max_failures": ADDRESS_FREE}
    tmp = tmp_path_factory.mktemp(f"oidc-{request.param}")
    with live_issuer(request.param, tmp, USERS, config) as issuer:
        yield issuer


def _start_device(live: Live, challenge: str | None):
    data = {"client_id": "sigstore", "scope": "openid email"}
    if challenge:
        data.update(code_challenge=challenge, code_challenge_method="S256")
    return session().post(live.url + "/device/code", data=data, timeout=60)


def _approve(live: Live, user_code: str, username: str, source: str):
    http = session(source)
    page = http.get(f"{live.url}/device?user_code={user_code}", timeout=60)
    assert page.status_code == 200, page.text
    return http.post(
        live.url + "/device",
        data={
            "user_code": user_code,
            "username": username,
            "password": PASSWORD,
            "decision": "approve",
            "csrf_token": csrf_from(page.text),
        },
        timeout=60,
    )


def _poll(live: Live, device_code: str, verifier: str | None):
    data = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "sigstore"}
    if verifier:
        data["code_verifier"] = verifier
    resp = session().post(live.url + "/token", data=data, timeout=60)
    return resp.status_code, resp.json()


def test_simultaneous_device_flows_each_keep_their_own_pkce_challenge(live):
    """48 device requests at once, every fourth without a challenge (PKCE is optional in the
    device flow): each stored request carries exactly the challenge its own request sent; each
    flow ends with one token for the person who approved it, obtained with its own verifier; a
    wrong or missing verifier is always refused, also while the right one races it."""
    pairs = [pkce() if i % 4 else (None, None) for i in range(FLOWS)]
    starts = at_once([partial(_start_device, live, challenge) for _, challenge in pairs])
    assert [r.status_code for r in starts] == [200] * FLOWS, [r.text for r in starts]
    grants = [r.json() for r in starts]
    stored = [live.store.device_by_code(g["device_code"]) for g in grants]
    assert [row["code_challenge"] if row else "gone" for row in stored] == [c for _, c in pairs]

    approved = at_once(
        [
            partial(_approve, live, g["user_code"], USERS[i], f"127.0.1.{i + 1}")
            for i, g in enumerate(grants)
        ]
    )
    assert [r.status_code for r in approved] == [200] * FLOWS
    assert all("Device approved" in r.text for r in approved)

    def stranger(i: int) -> str:  # another flow's verifier, or a fresh one
        return pairs[(i + 1) % FLOWS][0] or pkce()[0]

    wrong = at_once(
        [partial(_poll, live, g["device_code"], stranger(i)) for i, g in enumerate(grants)]
    )
    expected = ["invalid_grant" if v else "invalid_request" for v, _ in pairs]
    assert [(status, body["error"]) for status, body in wrong] == [(400, e) for e in expected]
    missing = at_once(
        [partial(_poll, live, g["device_code"], None) for i, g in enumerate(grants) if pairs[i][0]]
    )
    assert {(status, body["error"]) for status, body in missing} == {(400, "invalid_request")}

    # per flow, at once: the right verifier twice and (for PKCE flows) a wrong one
    calls, owners = [], []
    for i, g in enumerate(grants):
        verifier = pairs[i][0]
        calls += [partial(_poll, live, g["device_code"], verifier)] * 2
        owners += [i, i]
        if verifier:
            calls.append(partial(_poll, live, g["device_code"], stranger(i)))
            owners.append(-1 - i)
    results = at_once(calls)
    for i in range(FLOWS):
        mine = [results[k] for k, owner in enumerate(owners) if owner == i]
        assert sorted(status for status, _ in mine) == [200, 400], (i, mine)
        token = next(body for status, body in mine if status == 200)
        refused = next(body for status, body in mine if status == 400)
        assert refused["error"] == "invalid_grant", (i, refused)
        claims = claims_of(token["id_token"])
        assert claims["sub"] == live.subs[USERS[i]], i
        assert claims["email"] == f"{USERS[i]}@example.org"
        assert claims_of(token["access_token"])["sub"] == claims["sub"]
    thieves = [results[k] for k, owner in enumerate(owners) if owner < 0]
    assert {(status, body["error"]) for status, body in thieves} == {(400, "invalid_grant")}

    replays = at_once(
        [partial(_poll, live, g["device_code"], pairs[i][0]) for i, g in enumerate(grants)]
    )
    assert {(status, body["error"]) for status, body in replays} == {(400, "invalid_grant")}


def test_simultaneous_polls_of_a_pending_code_get_one_pending_answer(live):
    """RFC 8628 §3.5: a poll sooner than ``interval`` after the previous one is ``slow_down``.
    Of 8 polls at once, exactly one is on time; the others are too soon."""
    verifier, challenge = pkce()
    grant = _start_device(live, challenge).json()
    answers = at_once([partial(_poll, live, grant["device_code"], verifier)] * 8)
    errors = sorted(body["error"] for _, body in answers)
    assert errors == ["authorization_pending"] + ["slow_down"] * 7
    assert live.store.device_by_code(grant["device_code"])["interval"] == 1 + 7 * 5


def _burst_of_logins(live: Live, source: str, attempts: list[tuple[str, str]]):
    """Open a login form per attempt (own cookie and CSRF token), then post them all at once."""
    _, challenge = pkce()
    forms = []
    for _ in attempts:
        http = session(source)
        forms.append((http, *login_form(live, http, auth_params(challenge))))
    return at_once(
        [
            partial(post_login, http, url, csrf, username, password)
            for (http, url, csrf), (username, password) in zip(forms, attempts, strict=True)
        ]
    )


def _sign_in(live: Live, source: str, username: str):
    """The right password from ``source``: the response, and the verifier of its code."""
    verifier, challenge = pkce()
    http = session(source)
    url, csrf = login_form(live, http, auth_params(challenge))
    return post_login(http, url, csrf, username, PASSWORD), verifier


def _redeem(live: Live, code: str, verifier: str, source: str = "127.0.0.1"):
    resp = session(source).post(
        live.url + "/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "sigstore",
            "redirect_uri": REDIRECT,
            "code": code,
            "code_verifier": verifier,
        },
        timeout=60,
    )
    return resp.status_code, resp.json()


def _signed_in_as(live: Live, signed_in) -> str:
    """The username whose token the login's code redeems to."""
    resp, verifier = signed_in
    status, token = _redeem(live, code_of(resp), verifier)
    assert status == 200, token
    sub = claims_of(token["id_token"])["sub"]
    return next(name for name, s in live.subs.items() if s == sub)


def _audited(live: Live, source: str, outcome: str) -> list[str]:
    rows = live.store.audit_rows()
    return [r["username"] for r in rows if r["ip"] == source and r["outcome"] == outcome]


def test_a_burst_of_wrong_passwords_gets_exactly_the_allowed_checks(live):
    """20 wrong passwords for one account from one address at once: exactly
    ``login_max_failures`` are checked (401); the others are refused unchecked (429). The owner
    signs in from another address at once; from the attacker's address they must wait too."""
    results = _burst_of_logins(live, "127.0.0.2", [("user00", f"guess-{i}") for i in range(20)])
    assert _audited(live, "127.0.0.2", "failure") == ["user00"] * ACCOUNT_FREE
    statuses = sorted(r.status_code for r in results)
    assert statuses == [401] * ACCOUNT_FREE + [429] * (20 - ACCOUNT_FREE)
    assert all(int(r.headers["Retry-After"]) > 0 for r in results if r.status_code == 429)
    assert _signed_in_as(live, _sign_in(live, "127.0.0.3", "user00")) == "user00"
    assert _sign_in(live, "127.0.0.2", "user00")[0].status_code == 429


def test_a_burst_across_many_accounts_from_one_address_gets_exactly_the_allowed_checks(live):
    """30 wrong sign-ins for 30 different names (most unknown) from one address at once: exactly
    ``login_ip_max_failures`` are checked; then that address waits, for every account, while the
    same accounts sign in from another address."""
    names = [f"user{i:02d}" for i in range(10, 20)] + [f"nobody{i}" for i in range(20)]
    results = _burst_of_logins(live, "127.0.0.4", [(name, "wrong") for name in names])
    assert len(_audited(live, "127.0.0.4", "failure")) == ADDRESS_FREE
    statuses = sorted(r.status_code for r in results)
    assert statuses == [401] * ADDRESS_FREE + [429] * (30 - ADDRESS_FREE)
    assert _sign_in(live, "127.0.0.4", "user30")[0].status_code == 429
    assert _signed_in_as(live, _sign_in(live, "127.0.0.5", "user30")) == "user30"


def test_simultaneous_logins_and_code_exchanges_redeem_each_code_exactly_once(live):
    """32 people sign in at once (each from their own address) and each code is then redeemed
    four times at once, three times with its verifier and once with another code's verifier:
    per code exactly one token, for the person who signed in, with their nonce; every other
    exchange and every later replay is ``invalid_grant``."""
    n = 32
    users = USERS[:n]
    pairs = [pkce() for _ in range(n)]
    nonces = [f"nonce-{i}" for i in range(n)]
    forms = []
    for i in range(n):
        http = session(f"127.0.2.{i + 1}")
        forms.append((http, *login_form(live, http, auth_params(pairs[i][1], nonces[i]))))
    logins = at_once(
        [
            partial(post_login, http, url, csrf, users[i], PASSWORD)
            for i, (http, url, csrf) in enumerate(forms)
        ]
    )
    codes = [code_of(resp) for resp in logins]
    assert len(set(codes)) == n

    calls, owners = [], []
    for i, code in enumerate(codes):
        calls += [partial(_redeem, live, code, pairs[i][0])] * 3
        calls.append(partial(_redeem, live, code, pairs[(i + 1) % n][0]))
        owners += [i] * 4
    results = at_once(calls)
    for i in range(n):
        mine = [results[k] for k, owner in enumerate(owners) if owner == i]
        assert sorted(status for status, _ in mine) == [200, 400, 400, 400], (i, mine)
        assert {body["error"] for status, body in mine if status == 400} == {"invalid_grant"}
        token = next(body for status, body in mine if status == 200)
        claims = claims_of(token["id_token"])
        assert claims["sub"] == live.subs[users[i]] and claims["nonce"] == nonces[i]
        assert claims_of(token["access_token"])["sub"] == claims["sub"]

    replays = at_once([partial(_redeem, live, code, pairs[i][0]) for i, code in enumerate(codes)])
    assert {(status, body["error"]) for status, body in replays} == {(400, "invalid_grant")}
