"""Authorization code flow with PKCE, shaped like sigstore-python and cosign requests, and the
attacks on it (spec/oidc.md §2, §4, §5).

Where stock authlib falls short (spec/oidc.md §4) and the test that shows our fix:

- sigstore-python's Basic ``sigstore:`` token request got 401: test_sigstore_python_shaped_flow
- opaque access tokens broke sigstore-python: test_sigstore_python_shaped_flow (IdentityToken)
- OOB redirected to ``urn:...:oob?code=``: test_oob_redirect_shows_a_copyable_code
- ``plain`` and missing PKCE were accepted: test_authorize_requires_s256_pkce and
  test_plain_verifier_equal_to_challenge_is_refused
- the device grant ignored PKCE: test_device.py::test_device_flow_wrong_or_missing_verifier_is_refused
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.support.oidc import claims_of, header_of, pkce

from .helpers import ISSUER, REDIRECT, auth_params, basic, code_from, login


def test_discovery_is_what_cosign_and_sigstore_python_need(env):
    doc = env.client.get("/.well-known/openid-configuration").get_json()
    assert doc["issuer"] == ISSUER
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["authorization_endpoint"] == ISSUER + "/auth"
    assert doc["token_endpoint"] == ISSUER + "/token"
    assert doc["device_authorization_endpoint"] == ISSUER + "/device/code"
    assert "none" in doc["token_endpoint_auth_methods_supported"]
    keys = env.client.get("/keys").get_json()["keys"]
    assert [k["kty"] for k in keys] == ["RSA"] and all("d" not in k for k in keys)


def test_sigstore_python_shaped_flow(env):
    """sigstore-python sends client_secret= at /authorize, Basic `sigstore:` at /token, no
    client_id in the token body and no nonce; it reads access_token as the identity token."""
    verifier, challenge = pkce()
    params = auth_params(challenge, client_secret="")
    resp = login(env, params)
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert parse_qs(location.query)["state"] == [params["state"]]
    code = code_from(resp)
    tok = env.client.post(
        "/token",
        headers=basic("sigstore"),
        data={
            "grant_type": "authorization_code",
            "redirect_uri": REDIRECT,
            "code": code,
            "code_verifier": verifier,
        },
    )
    assert tok.status_code == 200, tok.get_json()
    assert tok.headers["Cache-Control"] == "no-store"
    body = tok.get_json()
    access, id_token = claims_of(body["access_token"]), claims_of(body["id_token"])
    for claims in (access, id_token):
        assert claims["iss"] == ISSUER
        assert claims["aud"] == "sigstore"  # a string, not a list
        assert claims["sub"] == env.user_sub
        assert claims["email"] == "alice@example.org"
        assert claims["email_verified"] is True
        assert claims["exp"] - claims["iat"] == 600
        assert claims["iat"] <= int(env.clock())
        assert "nonce" not in claims
    assert "at_hash" in id_token
    # sigstore-python 4.5.1 takes the access token as its identity token
    from sigstore.oidc import IdentityToken

    identity = IdentityToken(body["access_token"])
    assert identity.issuer == ISSUER and identity.identity == env.user_sub
    assert header_of(body["id_token"])["alg"] == "RS256"
    info = env.client.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 200 and info.get_json()["email"] == "alice@example.org"


def test_cosign_shaped_flow_echoes_nonce_and_accepts_extra_params(env):
    verifier, challenge = pkce()
    params = auth_params(
        challenge, nonce="n-0S6_WzA2Mj", access_type="online", connector_id="ignored"
    )
    code = code_from(login(env, params))
    tok = env.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "redirect_uri": REDIRECT,
            "code": code,
            "code_verifier": verifier,
            "client_id": "sigstore",
            "nonce": "n-0S6_WzA2Mj",
        },
    )
    assert tok.status_code == 200, tok.get_json()
    assert claims_of(tok.get_json()["id_token"])["nonce"] == "n-0S6_WzA2Mj"


@pytest.mark.parametrize("host", ["127.0.0.1:1", "localhost:65000", "[::1]:8080", "localhost"])
def test_any_loopback_redirect_is_accepted(env, host):
    _, challenge = pkce()
    params = auth_params(challenge, redirect_uri=f"http://{host}/cb")
    assert env.client.get("/auth?" + urlencode(params)).status_code == 200


@pytest.mark.parametrize(
    "uri",
    [
        "http://evil.example/cb",
        "https://localhost:8080/cb",
        "http://localhost.evil.example/cb",
        "http://127.0.0.1.nip.io/cb",
        "http://localhost@evil.example/cb",
        "http://evil.example@localhost:99/cb",
        "http://localhost\\@evil.example/cb",
        "http://%6cocalhost/cb",
        "javascript:alert(1)",
        "//evil.example/cb",
        "http://localhost:99/cb#frag",
    ],
)
def test_non_loopback_redirect_is_refused_without_redirecting(env, uri):
    _, challenge = pkce()
    resp = env.client.get("/auth?" + urlencode(auth_params(challenge, redirect_uri=uri)))
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert "redirect" in resp.get_data(as_text=True).lower()


def test_unknown_client_is_refused_with_a_page(env):
    _, challenge = pkce()
    resp = env.client.get("/auth?" + urlencode(auth_params(challenge, client_id="other")))
    assert resp.status_code == 400 and "Location" not in resp.headers


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge": "short"},
    ],
)
def test_authorize_requires_s256_pkce(env, change):
    _, challenge = pkce()
    params = {**auth_params(challenge), **change}
    params = {k: v for k, v in params.items() if v is not None}
    resp = env.client.get("/auth?" + urlencode(params))
    # the redirect URI is valid, so the error goes back to the client (RFC 6749 §4.1.2.1)
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == [params["state"]]


def test_authorize_requires_openid_scope(env):
    _, challenge = pkce()
    resp = env.client.get("/auth?" + urlencode(auth_params(challenge, scope="email")))
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == ["invalid_scope"]


def _exchange(env, code, verifier, **extra):
    data = {
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT,
        "code": code,
        "client_id": "sigstore",
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return env.client.post("/token", data=data)


def test_wrong_pkce_verifier_is_refused(env):
    verifier, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    other, _ = pkce()
    resp = _exchange(env, code, other)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"
    # a failed attempt does not burn the code for its rightful owner
    assert _exchange(env, code, verifier).status_code == 200


def test_missing_pkce_verifier_is_refused(env):
    _, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    resp = _exchange(env, code, None)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


def test_plain_verifier_equal_to_challenge_is_refused(env):
    """A verifier equal to the challenge would pass a `plain` check; S256 must refuse it."""
    _, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    assert _exchange(env, code, challenge).get_json()["error"] == "invalid_grant"


def test_code_reuse_is_refused(env):
    verifier, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    assert _exchange(env, code, verifier).status_code == 200
    again = _exchange(env, code, verifier)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_expired_code_is_refused(env):
    verifier, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    env.clock.advance(env.issuer.settings.code_lifetime + 1)
    resp = _exchange(env, code, verifier)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_grant"


def test_token_request_must_repeat_the_redirect_uri(env):
    verifier, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    resp = _exchange(env, code, verifier, redirect_uri="http://localhost:1/other")
    assert resp.get_json()["error"] == "invalid_grant"


def test_basic_auth_with_a_secret_is_not_the_public_client(env):
    verifier, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    resp = env.client.post(
        "/token",
        headers=basic("sigstore", "guess"),
        data={
            "grant_type": "authorization_code",
            "redirect_uri": REDIRECT,
            "code": code,
            "code_verifier": verifier,
        },
    )
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"


def test_oob_redirect_shows_a_copyable_code(env):
    verifier, challenge = pkce()
    oob = "urn:ietf:wg:oauth:2.0:oob"
    resp = login(env, auth_params(challenge, redirect_uri=oob))
    assert resp.status_code == 200 and "Location" not in resp.headers
    html = resp.get_data(as_text=True)
    assert '<label for="code">' in html and "<script" not in html
    import re

    code = re.search(r'id="code" class="code" type="text" readonly value="([^"]+)"', html).group(1)
    tok = _exchange(env, code, verifier, redirect_uri=oob)
    assert tok.status_code == 200, tok.get_json()
    wrong = _exchange(env, code, verifier, redirect_uri=oob)
    assert wrong.get_json()["error"] == "invalid_grant"


def test_unsupported_grant_and_junk_bodies_get_oauth_errors(env):
    assert env.client.post("/token", data={"grant_type": "password"}).get_json()["error"] == (
        "unsupported_grant_type"
    )
    resp = env.client.post("/token", data="\x00\xff", content_type="application/json")
    assert resp.status_code == 400 and "error" in resp.get_json()
    resp = env.client.post(
        "/token", data={"grant_type": "authorization_code", "client_id": "sigstore"}
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


def test_concurrent_exchanges_of_one_code_give_one_token(env):
    """The code row is deleted before tokens are minted: of racing requests exactly one wins."""
    import threading

    verifier, challenge = pkce()
    code = code_from(login(env, auth_params(challenge)))
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def exchange() -> None:
        client = env.app.test_client()
        barrier.wait()
        resp = client.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "redirect_uri": REDIRECT,
                "code": code,
                "client_id": "sigstore",
                "code_verifier": verifier,
            },
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=exchange) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [400] * 5
