"""RFC 8693 token exchange: every refusal (docs/oidc.md, "Token exchange: refusals"). The subject
token is verified in full (issuer trusted, signature from the issuer's JWKS, audience, exp, nbf,
iat and a maximum age) before any rule is looked at; a subject may act only as a service account
that a matching rule names. Each refusal has its OAuth error code and a safe message (never the
token, never the reason's detail), issues no token, and is in the audit log with its reason."""

from __future__ import annotations

import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .exchange_env import (
    ACCESS_TOKEN_TYPE,
    EXCHANGE,
    exchange,
    exchange_audits,
    github_token,
    k8s_token,
    make_exchange_env,
)


@pytest.fixture
def env(tmp_path, ci):
    return make_exchange_env(tmp_path, ci)


def _refused(env, resp, error: str, reason: str, status: int = 400) -> dict:
    """``resp`` is the OAuth error ``error``; the audit log's last exchange is a refusal whose
    reason contains ``reason``; no exchange succeeded."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"] == error, body
    assert "access_token" not in body
    audits = exchange_audits(env)
    assert audits and all(a["outcome"] == "refused" for a in audits)
    assert reason in audits[-1]["detail"]["reason"], audits[-1]
    return body


def _now(env) -> int:
    return env.store.now()


# -- the subject token does not verify: invalid_grant -------------------------------------------


def test_untrusted_issuer(env, ci):
    body = _refused(env, exchange(env, github_token(ci, iss="/gitlab")), "invalid_grant",
                    "is not trusted")  # fmt: skip
    assert "gitlab" not in body["error_description"]


def test_wrong_audience(env, ci):
    _refused(env, exchange(env, github_token(ci, aud="sigstore")), "invalid_grant", "audience")


def test_kubernetes_token_for_another_audience(env, ci):
    _refused(env, exchange(env, k8s_token(ci, aud=["https://kubernetes.default.svc"])),
             "invalid_grant", "audience")  # fmt: skip


def test_expired(env, ci):
    now = _now(env)
    token = github_token(ci, iat=now - 120, exp=now - 1)
    _refused(env, exchange(env, token), "invalid_grant", "expired")


def test_not_yet_valid(env, ci):
    now = _now(env)
    token = github_token(ci, iat=now, nbf=now + 300, exp=now + 900)
    _refused(env, exchange(env, token), "invalid_grant", "not valid yet")


def test_issued_in_the_future(env, ci):
    now = _now(env)
    token = github_token(ci, iat=now + 300, exp=now + 900)
    _refused(env, exchange(env, token), "invalid_grant", "issued in the future")


def test_older_than_max_token_age(env, ci):
    now = _now(env)
    # the k8s entry allows 600 s: a token of 11 minutes is refused though its exp is hours away
    token = k8s_token(ci, iat=now - 660, nbf=now - 660, exp=now + 3 * 3600)
    _refused(env, exchange(env, token, requested_subject="deployer"), "invalid_grant", "too old")
    fresh = k8s_token(ci, iat=now - 540, nbf=now - 540, exp=now + 3 * 3600)
    assert exchange(env, fresh, requested_subject="deployer").status_code == 200


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_a_required_claim_is_missing(env, ci, missing):
    token = ci.token("repo:octo/app:ref:refs/tags/v1", iss=ci.url + "/github", aud="http://127.0.0.1:5556",
                     repository="octo/app", ref="refs/tags/v1", drop=(missing,))  # fmt: skip
    _refused(env, exchange(env, token), "invalid_grant", missing)


def test_bad_signature(env, ci):
    good = github_token(ci)
    # the same header and claims, signed by a key the issuer never published
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(jwt.decode(good, options={"verify_signature": False}), stranger,
                        algorithm="RS256", headers={"kid": ci.kid_for("RS256")})  # fmt: skip
    _refused(env, exchange(env, forged), "invalid_grant", "no key of the issuer verifies")
    head, payload, _ = good.split(".")
    other = github_token(ci, repository="octo/other").split(".")[1]
    _refused(env, exchange(env, f"{head}.{other}.{good.split('.')[2]}"), "invalid_grant",
             "no key of the issuer verifies")  # fmt: skip


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_none_and_hmac_never_verify(env, ci, alg):
    claims = jwt.decode(github_token(ci), options={"verify_signature": False})
    key = None if alg == "none" else "a shared secret of thirty-two bytes!!"
    token = jwt.encode(claims, key, algorithm=alg, headers={"kid": ci.kid_for("RS256")})
    if alg == "none":
        token += "c2ln"  # a compact JWS has three non-empty parts
    _refused(env, exchange(env, token), "invalid_grant", "not accepted")


def test_not_a_jws(env):
    _refused(env, exchange(env, "not-a-token"), "invalid_grant", "three-part JWS")


# -- the subject may not act as the account: unauthorized_client --------------------------------


def test_subject_that_no_rule_allows(env, ci):
    wrong_repo = github_token(ci, repository="octo/fork")
    _refused(env, exchange(env, wrong_repo, requested_subject="release-bot"),
             "unauthorized_client", "no rule")  # fmt: skip
    branch = github_token(ci, ref="refs/heads/main")
    _refused(env, exchange(env, branch), "unauthorized_client", "no rule")
    other_namespace = k8s_token(ci, namespace="default")
    _refused(env, exchange(env, other_namespace, requested_subject="deployer"),
             "unauthorized_client", "no rule")  # fmt: skip


def test_service_account_the_rule_does_not_name(env, ci):
    body = _refused(env, exchange(env, github_token(ci), requested_subject="deployer"),
                    "unauthorized_client", "deployer")  # fmt: skip
    # an account that does not exist is refused the same way: names cannot be probed
    unknown = exchange(env, github_token(ci), requested_subject="no-such-bot")
    assert unknown.get_json() == body
    by_email = exchange(env, github_token(ci),
                        requested_subject="deployer@serviceaccounts.sigstack.internal")  # fmt: skip
    assert by_email.get_json() == body


def test_service_account_that_does_not_exist(env, ci):
    token = github_token(ci, repository="octo/ghost", sub="repo:octo/ghost:ref:refs/heads/main")
    _refused(env, exchange(env, token, requested_subject="ghost-bot"), "invalid_grant",
             "unknown or disabled")  # fmt: skip


def test_email_of_another_domain(env, ci):
    _refused(env, exchange(env, github_token(ci), requested_subject="release-bot@evil.example"),
             "invalid_grant", "unknown or disabled")  # fmt: skip


# -- the request itself: invalid_request, invalid_target, invalid_scope --------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"subject_token_type": None}, "subject_token_type"),
        ({"subject_token_type": ACCESS_TOKEN_TYPE}, "subject_token_type"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"}, "subject_token_type"),
        ({"subject_token": None}, "subject_token"),
        ({"subject_token": ""}, "subject_token"),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:saml2"},
            "requested_token_type",
        ),
        ({"actor_token": "x.y.z", "actor_token_type": ACCESS_TOKEN_TYPE}, "actor_token"),
    ],
)
def test_malformed_requests(env, ci, fields, reason):
    body = _refused(env, exchange(env, github_token(ci), **fields), "invalid_request", reason)
    assert reason in body["error_description"]


def test_a_parameter_sent_twice(env, ci):
    token = github_token(ci)
    resp = env.client.post("/token", data={
        "grant_type": EXCHANGE, "subject_token": [token, token],
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"})  # fmt: skip
    _refused(env, resp, "invalid_request", "subject_token")


def test_oversize_token(env, ci):
    # correctly signed by a trusted issuer, but larger than any workload token should be
    big = github_token(ci, padding="x" * 20000)
    body = _refused(env, exchange(env, big), "invalid_request", "too long")
    assert "too long" in body["error_description"]
    huge = env.client.post("/token", data={"grant_type": EXCHANGE, "subject_token": "x" * 70000,
                                           "subject_token_type": ACCESS_TOKEN_TYPE})  # fmt: skip
    assert huge.status_code == 413


def test_audience_the_issuer_does_not_mint_for(env, ci):
    _refused(env, exchange(env, github_token(ci), audience="aws"), "invalid_target", "audience")
    _refused(env, exchange(env, github_token(ci), resource="https://deploy.example/"),
             "invalid_target", "resource")  # fmt: skip


def test_unknown_scope(env, ci):
    _refused(env, exchange(env, github_token(ci), scope="openid admin"), "invalid_scope", "scope")


# -- nothing secret leaves ----------------------------------------------------------------------


def test_tokens_are_never_logged_nor_echoed(env, ci, caplog):
    caplog.set_level(logging.DEBUG)
    ok_token = github_token(ci)
    bad_token = github_token(ci, aud="wrong", exp=int(time.time()) - 5)
    ok = exchange(env, ok_token)
    bad = exchange(env, bad_token)
    assert ok.status_code == 200 and bad.status_code == 400
    issued = ok.get_json()["access_token"]
    for secret in (ok_token, bad_token, issued):
        for part in secret.split("."):
            assert part not in caplog.text
            assert part not in str(env.store.audit_rows())
        assert secret not in bad.get_data(as_text=True)
