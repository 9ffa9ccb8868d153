"""Login page: no-JS HTML with labels, CSRF, audit log (throttling: test_throttle.py); tokens
presented back to /userinfo with a forged algorithm or a foreign audience."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization

from sigstack.services.oidc import tokens
from tests.support.oidc import csrf_from, pkce

from .helpers import PASSWORD, auth_params, code_from, login


def _page(env):
    _, challenge = pkce()
    url = "/auth?" + urlencode(auth_params(challenge))
    return url, env.client.get(url)


def test_login_page_is_plain_accessible_html(env):
    _, page = _page(env)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script" not in html
    assert '<label for="username">' in html and 'id="username"' in html
    assert '<label for="password">' in html and 'type="password"' in html
    assert 'autocomplete="current-password"' in html and '<html lang="en">' in html
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_login_post_without_the_csrf_cookie_is_refused(env):
    """A cross-site form post carries the fields but not our SameSite cookie."""
    url, page = _page(env)
    token = csrf_from(page.get_data(as_text=True))
    env.client.delete_cookie("sigstack_oidc_csrf")
    resp = env.client.post(
        url, data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert [r["outcome"] for r in env.store.audit_rows()] == ["csrf"]


def test_login_post_with_a_wrong_csrf_token_is_refused(env):
    url, _ = _page(env)
    resp = env.client.post(
        url, data={"username": "alice", "password": PASSWORD, "csrf_token": "A" * 43}
    )
    assert resp.status_code == 400 and "Location" not in resp.headers
    resp = env.client.post(url, data={"username": "alice", "password": PASSWORD})
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_wrong_password_shows_the_form_again(env):
    _, challenge = pkce()
    resp = login(env, auth_params(challenge), password="wrong password")
    assert resp.status_code == 401
    html = resp.get_data(as_text=True)
    assert 'role="alert"' in html and "not correct" in html and PASSWORD not in html
    assert 'aria-describedby="form-error"' in html


def test_success_is_audited(env):
    _, challenge = pkce()
    code_from(login(env, auth_params(challenge)))
    rows = env.store.audit_rows()
    assert [(r["event"], r["outcome"], r["username"]) for r in rows] == [
        ("login", "success", "alice")
    ]
    assert rows[0]["ip"] == "127.0.0.1"


def _access_token(env):
    return env.issuer.issue(
        env.store.identity(env.user_sub), audience="sigstore", scope="openid email"
    )["access_token"]


def _forge(header, claims, key=b""):
    head = tokens.b64url(json.dumps(header).encode())
    body = tokens.b64url(json.dumps(claims).encode())
    return f"{head}.{body}." + (tokens.b64url(key) if key else "")


def test_userinfo_refuses_alg_none(env):
    real = _access_token(env)
    header = {**jwt.get_unverified_header(real), "alg": "none"}
    claims = jwt.decode(real, options={"verify_signature": False})
    forged = _forge(header, claims)
    resp = env.client.get("/userinfo", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_token"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_refuses_hs256_signed_with_the_public_key(env):
    """The classic key-confusion attack: HMAC keyed with the published RSA public key."""
    real = _access_token(env)
    kid = jwt.get_unverified_header(real)["kid"]
    public_pem = env.issuer.keyring.verification_keys()[kid][0].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(real, options={"verify_signature": False})
    import hashlib
    import hmac

    head = tokens.b64url(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = tokens.b64url(json.dumps(claims).encode())
    sig = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{head}.{body}.{tokens.b64url(sig)}"
    resp = env.client.get("/userinfo", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401
    assert "algorithm" in resp.get_json()["error_description"]


def test_userinfo_refuses_a_token_for_a_foreign_audience(env):
    kid, alg, signer = env.issuer.keyring.active()
    now = env.store.now()
    claims = {
        "iss": env.issuer.url,
        "sub": env.user_sub,
        "aud": "some-other-app",
        "iat": now,
        "exp": now + 60,
    }
    foreign = tokens.encode(claims, signer, kid, alg)
    resp = env.client.get("/userinfo", headers={"Authorization": f"Bearer {foreign}"})
    assert resp.status_code == 401 and "audience" in resp.get_json()["error_description"]


def test_userinfo_refuses_tampered_expired_and_missing_tokens(env):
    real = _access_token(env)
    head, body, sig = real.split(".")
    claims = json.loads(tokens.b64url_decode(body))
    claims["email"] = "mallory@example.org"
    tampered = f"{head}.{tokens.b64url(json.dumps(claims).encode())}.{sig}"
    for bad in (tampered, "not-a-jwt", "a.b.c"):
        resp = env.client.get("/userinfo", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status_code == 401
    assert env.client.get("/userinfo").status_code == 401
    env.clock.advance(env.issuer.settings.token_lifetime + 1)
    resp = env.client.get("/userinfo", headers={"Authorization": f"Bearer {real}"})
    assert resp.status_code == 401 and "expired" in resp.get_json()["error_description"]
