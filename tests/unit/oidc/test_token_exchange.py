"""RFC 8693 token exchange at /token (docs/oidc.md, "Token exchange"): a workload's token from a
trusted outside issuer (here a real test provider on 127.0.0.1 playing GitHub Actions and a
Kubernetes cluster) becomes a token of a service account its rules name. The issued token has the
claims of that account's client_credentials token plus ``act`` (RFC 8693 section 4.1); the
answer is RFC 8693 section 2.2.1's; every exchange is in the audit log. Refusals are in
test_token_exchange_refusals.py, the configuration schema in test_token_exchange_config.py."""

from __future__ import annotations

import jwt
import pytest

from sigstack.services.oidc import cli
from tests.support.oidc import claims_of

from .exchange_env import (
    ACCESS_TOKEN_TYPE,
    EXCHANGE,
    ID_TOKEN_TYPE,
    exchange,
    exchange_audits,
    github_token,
    k8s_token,
    make_exchange_env,
)
from .helpers import ISSUER, basic, make_env


@pytest.fixture
def env(tmp_path, ci):
    return make_exchange_env(tmp_path, ci)


def _verify(env, token: str, audience: str = "sigstore") -> dict:
    """The token checked as a relying party would: PyJWT against the issuer's JWKS."""
    jwks = env.client.get("/keys").get_json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(token, key=key.key, algorithms=["RS256"], audience=audience, issuer=ISSUER)


def test_github_job_token_becomes_the_service_accounts_token(env, ci):
    token = github_token(ci)
    resp = exchange(env, token, requested_subject="release-bot", audience="sigstore")
    assert resp.status_code == 200, resp.get_json()
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in"}
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    claims = _verify(env, body["access_token"])
    row = env.store.service_account_by_name("release-bot")
    assert claims["sub"] == row["sub"] and claims["email"] == row["email"]
    assert claims["email_verified"] is True and claims["aud"] == "sigstore"
    assert claims["act"] == {"iss": ci.url + "/github", "sub": claims_of(token)["sub"]}
    assert claims["exp"] - claims["iat"] == 600
    # usable as an access token of ours: /userinfo names the service account
    info = env.client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.get_json()["email"] == row["email"]
    # the same claims as a token the issuer mints for the account itself, plus act
    identity = env.store.identity(row["sub"])
    reference = claims_of(
        env.issuer.issue(identity, audience="sigstore", scope="x")["access_token"]
    )
    assert set(claims) == set(reference) | {"act"}
    assert {k: claims[k] for k in ("iss", "sub", "aud", "email", "email_verified")} == {
        k: reference[k] for k in ("iss", "sub", "aud", "email", "email_verified")
    }
    [audit] = exchange_audits(env)
    assert audit["outcome"] == "success" and audit["username"] == "release-bot"
    assert audit["detail"]["rule"] == "octo-app-releases"
    assert audit["detail"]["iss"] == ci.url + "/github"
    assert audit["detail"]["sub"] == claims_of(token)["sub"]
    assert token not in str(env.store.audit_rows())


def test_the_service_account_may_be_named_by_email_and_an_id_token_asked_for(env, ci):
    email = env.store.service_account_by_name("release-bot")["email"]
    resp = exchange(env, github_token(ci), requested_subject=email,
                    requested_token_type=ID_TOKEN_TYPE)  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["issued_token_type"] == ID_TOKEN_TYPE and body["token_type"] == "N_A"
    claims = _verify(env, body["access_token"])
    assert claims["email"] == email and "at_hash" in claims and "act" in claims


def test_without_requested_subject_the_one_account_the_rules_name_is_used(env, ci):
    resp = exchange(env, github_token(ci))
    assert resp.status_code == 200, resp.get_json()
    claims = _verify(env, resp.get_json()["access_token"])
    assert claims["email"] == env.store.service_account_by_name("release-bot")["email"]


def test_kubernetes_token_from_the_ci_namespace(env, ci):
    token = k8s_token(ci)
    # two accounts are named for this namespace: the request must say which
    unnamed = exchange(env, token)
    assert unnamed.status_code == 400
    assert unnamed.get_json()["error"] == "invalid_request"
    assert "requested_subject" in unnamed.get_json()["error_description"]
    for name in ("deployer", "release-bot"):
        resp = exchange(env, token, requested_subject=name)
        assert resp.status_code == 200, resp.get_json()
        claims = _verify(env, resp.get_json()["access_token"])
        assert claims["email"] == env.store.service_account_by_name(name)["email"]
        assert claims["act"] == {"iss": ci.url + "/k8s",
                                 "sub": "system:serviceaccount:ci:builder"}  # fmt: skip
    assert [a["detail"]["rule"] for a in exchange_audits(env) if a["outcome"] == "success"] == [
        "ci-namespace",
        "ci-namespace",
    ]


def test_es256_and_an_id_token_subject_type(env, ci):
    resp = exchange(env, github_token(ci, alg="ES256"), subject_token_type=ID_TOKEN_TYPE)
    assert resp.status_code == 200, resp.get_json()


def test_another_audience_of_service_account_audiences(tmp_path, ci):
    env = make_exchange_env(tmp_path, ci, service_account_audiences=["sigstore", "deploy"])
    resp = exchange(env, github_token(ci), audience="deploy")
    assert resp.status_code == 200, resp.get_json()
    assert _verify(env, resp.get_json()["access_token"], "deploy")["aud"] == "deploy"


def test_a_public_client_may_name_itself(env, ci):
    by_form = exchange(env, github_token(ci), client_id="sigstore")
    by_basic = env.client.post(
        "/token",
        headers=basic("sigstore"),
        data={"grant_type": EXCHANGE, "subject_token": github_token(ci),
              "subject_token_type": ID_TOKEN_TYPE},
    )  # fmt: skip
    assert by_form.status_code == 200 and by_basic.status_code == 200, by_basic.get_json()


def test_a_service_accounts_credentials_are_not_a_way_in(env, ci):
    _, client_id, secret = cli.create_service_account(env.store, env.config, "other-bot")
    resp = env.client.post(
        "/token",
        headers=basic(client_id, secret),
        data={"grant_type": EXCHANGE, "subject_token": github_token(ci),
              "subject_token_type": ID_TOKEN_TYPE},
    )  # fmt: skip
    assert resp.status_code in (400, 401) and resp.get_json()["error"] == "invalid_client"


def test_discovery_lists_the_grant_only_when_configured(env, tmp_path):
    grants = env.client.get("/.well-known/openid-configuration").get_json()
    assert EXCHANGE in grants["grant_types_supported"]
    plain = make_env(tmp_path / "plain")
    listed = plain.client.get("/.well-known/openid-configuration").get_json()
    assert EXCHANGE not in listed["grant_types_supported"]
    resp = plain.client.post(
        "/token",
        data={"grant_type": EXCHANGE, "subject_token": "x.y.z",
              "subject_token_type": ID_TOKEN_TYPE},
    )  # fmt: skip
    assert resp.status_code == 400 and resp.get_json()["error"] == "unsupported_grant_type"
