"""Sign-in through an upstream OpenID Connect provider (issue 16): a real issuer
(``sigstack serve oidc``) whose connectors point at a throw-away provider served by the test
(tests/support/upstream.py), driven over HTTP as a browser would (cookies kept per session).

The provider does what a correct one does unless a test tells it otherwise, so each refusal a
real provider never produces can be made: a wrong nonce, an expired ID token, another audience,
a key outside its JWKS, an unverified email, an error answer, another issuer in the callback. The
issuer's own refusals need no help: a state used twice, a callback in another browser, a
provider that cannot be reached. Each gives a clear page and no code (so no token).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from tests.support.connectors import (
    Flow,
    code_of,
    device_start,
    device_token,
    location,
    no_code,
    verified,
    visible_text,
)
from tests.support.keys import new_key
from tests.support.oidc import csrf_from
from tests.support.servers import free_port
from tests.support.upstream import CLIENT_ID, UpstreamProvider, connector_config, query_of

from .live import Live, live_issuer, session

UNVERIFIABLE = "could not be verified"


@pytest.fixture(scope="module")
def provider() -> Iterator[UpstreamProvider]:
    running = UpstreamProvider()
    yield running
    running.close()


@pytest.fixture(scope="module")
def live(provider: UpstreamProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    connectors = [
        connector_config(provider),
        connector_config(
            provider,
            id="corp-trusting",
            name="Corp SSO (domain rule)",
            unverified_email_domains=["corp.example"],
        ),  # fmt: skip
        {
            "type": "oidc",
            "id": "down",
            "name": "Down SSO",
            "client_id": "x",
            "timeout": 2,
            "issuer": f"http://127.0.0.1:{free_port()}",
        },  # fmt: skip
    ]
    config = {"connectors": connectors, "local_accounts": False, "device_poll_interval": 1}
    with live_issuer("sqlite", tmp_path_factory.mktemp("issuer"), [], config) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(provider: UpstreamProvider) -> None:
    provider.reset()


def to_callback(http: requests.Session, start_url: str) -> str:
    """Follow the issuer's redirect to the provider and the provider's back: the callback URL."""
    start = http.get(start_url, timeout=30, allow_redirects=False)
    at_provider = http.get(location(start), timeout=30, allow_redirects=False)
    return location(at_provider)


def sign_in(http: requests.Session, flow: Flow) -> requests.Response:
    """The whole round trip; the answer of the last step (a redirect with a code, or a page)."""
    callback = http.get(to_callback(http, flow.url), timeout=30, allow_redirects=False)
    if callback.status_code != 302:
        return callback
    return http.get(location(callback), timeout=30, allow_redirects=False)


def refused(resp: requests.Response, message: str, status: int = 400) -> None:
    no_code(resp)
    assert resp.status_code == status, resp.text[:500]
    assert message in visible_text(resp.text), visible_text(resp.text)


def test_the_round_trip_maps_the_upstream_claims_into_our_token(live, provider):
    flow = Flow(live.url, "corp")
    answer = flow.redeem(code_of(sign_in(session(), flow)))
    assert answer.status_code == 200, answer.text
    claims = verified(live.url, answer.json()["id_token"])
    assert claims["email"] == "carol@corp.example" and claims["email_verified"] is True
    assert claims["groups"] == ["signers", "staff"]
    assert claims["federated_claims"] == {"connector_id": "corp", "user_id": "up-carol-1"}
    assert claims["sub"].startswith("c-") and claims["nonce"] == "client-nonce-1"
    # what went upstream: code flow, S256, our callback, our own state and nonce (not the client's)
    sent = provider.authorized[-1]
    assert sent["response_type"] == "code" and sent["client_id"] == CLIENT_ID
    assert sent["redirect_uri"] == f"{live.url}/callback"
    assert sent["code_challenge_method"] == "S256" and sent["scope"] == "openid email profile"
    assert sent["state"] != "client-state-1" and sent["nonce"] != "client-nonce-1"
    assert len(sent["state"]) >= 43 and len(sent["nonce"]) >= 43
    token_request = provider.token_requests[-1]
    assert token_request["redirect_uri"] == sent["redirect_uri"]
    assert "client_secret" not in token_request  # HTTP Basic, checked by the provider


def test_the_same_upstream_subject_keeps_its_sub_and_gets_new_claims(live, provider):
    first = Flow(live.url, "corp")
    sub = verified(live.url, first.redeem(code_of(sign_in(session(), first))).json()["id_token"])
    provider.claims.update(email="carol.new@corp.example", groups=["staff"])
    again = Flow(live.url, "corp")
    claims = verified(live.url, again.redeem(code_of(sign_in(session(), again))).json()["id_token"])
    assert claims["sub"] == sub["sub"]
    assert (claims["email"], claims["groups"]) == ("carol.new@corp.example", ["staff"])


def _expired(provider: UpstreamProvider) -> None:
    now = int(time.time())
    provider.claims.update(iat=now - 900, exp=now - 60)


def _stranger_key(provider: UpstreamProvider) -> None:
    key = new_key("rsa-2048")
    provider.sign = lambda claims: jwt.encode(
        {"iss": provider.url, "iat": int(time.time()), "exp": int(time.time()) + 300, **claims},
        key, algorithm="RS256", headers={"kid": "not-in-the-jwks"})  # fmt: skip


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        pytest.param(lambda p: p.claims.update(nonce="another-nonce"), "nonce is not the one sent",
                     id="wrong-nonce"),
        pytest.param(_expired, "the ID token has expired", id="expired"),
        pytest.param(lambda p: p.claims.update(aud="another-client"), "for another audience",
                     id="other-audience"),
        pytest.param(lambda p: p.claims.update(aud=[CLIENT_ID, "x"], azp="x"), "another azp",
                     id="other-azp"),
        pytest.param(lambda p: p.claims.update(iss="http://127.0.0.1:1"),
                     "the ID token's iss is another issuer", id="other-issuer"),
        pytest.param(_stranger_key, "verifies the token signature", id="key-not-in-jwks"),
        pytest.param(lambda p: setattr(p, "drop", ("nonce",)), "nonce is not the one sent",
                     id="no-nonce"),
        pytest.param(lambda p: p.callback_extra.update(iss="http://evil.example"),
                     "the callback's iss is another issuer", id="mix-up"),
    ],
)  # fmt: skip
def test_an_id_token_that_fails_a_check_gives_no_token(live, provider, spoil, reason):
    """The page says the answer could not be verified; the log says why."""
    spoil(provider)
    before = len(log_lines(live))
    refused(sign_in(session("127.0.0.2"), Flow(live.url, "corp")), UNVERIFIABLE)
    assert any(reason in line for line in log_lines(live)[before:]), log_lines(live)[before:]
    assert provider.token_requests or reason.startswith("the callback")


def log_lines(live: Live) -> list[str]:
    time.sleep(0.2)  # the workers' log lines reach the file at once, but not atomically with 400
    return [
        line for line in live.log.read_text(errors="replace").splitlines() if "upstream" in line
    ]


def test_an_unverified_email_is_refused_unless_its_domain_has_a_rule(live, provider):
    for unverified in (False, "true"):  # a string is not the boolean the provider must say
        provider.claims["email_verified"] = unverified
        refused(sign_in(session(), Flow(live.url, "corp")), "has not verified your email address")
    provider.drop = ("email_verified",)
    refused(sign_in(session(), Flow(live.url, "corp")), "has not verified your email address")
    flow = Flow(live.url, "corp-trusting")
    claims = verified(live.url, flow.redeem(code_of(sign_in(session(), flow))).json()["id_token"])
    assert claims["email"] == "carol@corp.example"
    provider.claims["email"] = "carol@elsewhere.example"  # the rule names corp.example only
    refused(sign_in(session(), Flow(live.url, "corp-trusting")), "has not verified")


def test_no_email_at_all_is_refused(live, provider):
    provider.drop = ("email",)
    refused(sign_in(session(), Flow(live.url, "corp")), "did not tell us your email address")


def test_the_provider_saying_no_is_shown(live, provider):
    provider.callback_extra = {"error": "access_denied"}
    refused(sign_in(session(), Flow(live.url, "corp")), "did not sign you in (access_denied)")


def test_a_state_works_once(live):
    http = session()
    flow = Flow(live.url, "corp")
    callback = to_callback(http, flow.url)
    first = http.get(callback, timeout=30, allow_redirects=False)
    assert first.status_code == 302
    refused(http.get(callback, timeout=30, allow_redirects=False), "was used already")
    code_of(http.get(location(first), timeout=30, allow_redirects=False))  # the first goes on
    refused(http.get(location(first), timeout=30, allow_redirects=False), "was used already")


def test_a_callback_in_another_browser_is_refused(live):
    callback = to_callback(session(), Flow(live.url, "corp").url)
    refused(session().get(callback, timeout=30, allow_redirects=False), "another browser")
    audited = [r["outcome"] for r in live.store.audit_rows() if r["event"] == "upstream_login"]
    assert audited[-1] == "other_browser"


def test_a_finished_sign_in_serves_only_the_request_it_was_started_for(live):
    http = session()
    callback = http.get(to_callback(http, Flow(live.url, "corp").url), timeout=30,
                        allow_redirects=False)  # fmt: skip
    finish = query_of(location(callback))["login"]
    other = Flow(live.url, "corp")  # another authorization request (another PKCE challenge)
    resp = http.get(f"{other.url}&login={finish}", timeout=30, allow_redirects=False)
    refused(resp, "belongs to another request")


def test_a_provider_that_cannot_be_reached_gives_a_clear_page(live):
    resp = requests.get(Flow(live.url, "down").url, timeout=30, allow_redirects=False)
    refused(resp, "Down SSO cannot be reached just now", 503)


def test_a_key_rotation_at_the_provider_is_followed(live, provider):
    kid = provider.add_key("RS256")
    provider.sign = lambda claims: provider.token(kid=kid, **claims)
    time.sleep(1.1)  # an unknown kid refetches the JWKS at most once a second (issuerkeys)
    flow = Flow(live.url, "corp")
    assert flow.redeem(code_of(sign_in(session(), flow))).status_code == 200


def test_device_flow_through_the_provider(live):
    grant, verifier = device_start(live.url)
    http = session("127.0.0.3")
    start = f"{live.url}/device?user_code={grant['user_code']}&connector_id=corp"
    back = http.get(to_callback(http, start), timeout=30, allow_redirects=False)
    page = http.get(location(back), timeout=30)
    assert page.status_code == 200 and "carol@corp.example" in visible_text(page.text)
    form: dict[str, Any] = {"user_code": grant["user_code"], "decision": "approve",
                            "login": query_of(location(back))["login"],
                            "csrf_token": csrf_from(page.text)}  # fmt: skip
    done = http.post(f"{live.url}/device", data=form, timeout=30)
    assert done.status_code == 200 and "Device approved" in visible_text(done.text)
    claims = verified(live.url, device_token(live.url, grant, verifier)["id_token"])
    assert claims["email"] == "carol@corp.example"
    assert claims["federated_claims"] == {"connector_id": "corp", "user_id": "up-carol-1"}
    replay = http.post(f"{live.url}/device", data=form, timeout=30)  # the login works once
    no_code(replay)


def test_local_accounts_switched_off_are_not_offered(live):
    page = requests.get(Flow(live.url).url, timeout=30)
    assert "Account on this issuer" not in visible_text(page.text)
    assert "connector_id=local" not in page.text
    resp = requests.post(Flow(live.url, "local").url, timeout=30, allow_redirects=False,
                         data={"username": "x", "password": "y", "csrf_token": "z"})  # fmt: skip
    no_code(resp)
