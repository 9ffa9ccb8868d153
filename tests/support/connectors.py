"""What a client and a person do with a sigstack issuer that has connectors (issue 16), over real
HTTP with ``requests``: start an authorization request, sign in with a password through a
connector, follow an upstream round trip by hand, redeem codes, run the device flow, and check a
token against the issuer's JWKS. The browser versions of the same steps are the tests' own
(Chromium, tests/integration/oidc/test_connectors_browser.py).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import jwt
import requests

from tests.support.oidc import csrf_from, pkce

REDIRECT = "http://127.0.0.1:41999/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class Flow:
    """One authorization request of the public ``sigstore`` client (PKCE S256, a nonce)."""

    def __init__(self, issuer: str, connector_id: str | None = None) -> None:
        self.issuer = issuer
        self.verifier, challenge = pkce()
        self.params = {"response_type": "code", "client_id": "sigstore", "redirect_uri": REDIRECT,
                       "scope": "openid email", "state": "client-state-1", "nonce": "client-nonce-1",
                       "code_challenge": challenge, "code_challenge_method": "S256"}  # fmt: skip
        if connector_id is not None:
            self.params["connector_id"] = connector_id

    @property
    def url(self) -> str:
        return f"{self.issuer}/auth?{urlencode(self.params)}"

    def redeem(self, code: str) -> requests.Response:
        return requests.post(f"{self.issuer}/token", timeout=30, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": "sigstore", "code_verifier": self.verifier})  # fmt: skip


def location(resp: requests.Response) -> str:
    """Where a redirect sends the browser (a relative Location resolved as a browser does)."""
    assert resp.status_code in (302, 303), (resp.status_code, resp.text[:500])
    return urljoin(resp.url, resp.headers["Location"])


def code_of(resp: requests.Response) -> str:
    """The code of a redirect back to the client; the test fails on anything else."""
    found = location(resp)
    assert found.startswith(REDIRECT + "?"), found
    return parse_qs(urlsplit(found).query)["code"][0]


def no_code(resp: requests.Response) -> None:
    """``resp`` is a page, not a redirect that could carry a code to the client."""
    assert resp.status_code >= 400, (resp.status_code, resp.headers.get("Location"))
    assert "Location" not in resp.headers
    assert resp.headers["Content-Type"].startswith("text/html")


def password_sign_in(
    http: requests.Session, flow: Flow, username: str, password: str
) -> requests.Response:
    """GET the login page of ``flow`` (its connector chosen), POST the name and password."""
    page = http.get(flow.url, timeout=30, allow_redirects=False)
    assert page.status_code == 200, page.text[:500]
    return http.post(flow.url, timeout=30, allow_redirects=False,
                     data={"username": username, "password": password,
                           "csrf_token": csrf_from(page.text)})  # fmt: skip


def visible_text(html: str) -> str:
    """The page's words, tags dropped and entities of the messages decoded."""
    text = re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'").replace("&#39;", "'")
    return " ".join(text.replace("&quot;", '"').replace("&amp;", "&").split())


def verified(issuer: str, token: str, audience: str = "sigstore") -> dict[str, Any]:
    """The claims of ``token`` after checking its signature with ``issuer``'s JWKS."""
    key = jwt.PyJWKClient(f"{issuer}/keys").get_signing_key_from_jwt(token)
    return dict(jwt.decode(token, key.key, algorithms=["RS256", "ES256"], audience=audience,
                           issuer=issuer))  # fmt: skip


def device_start(issuer: str) -> tuple[dict[str, Any], str]:
    """(the device authorization answer, the PKCE verifier to poll with)."""
    verifier, challenge = pkce()
    resp = requests.post(f"{issuer}/device/code", timeout=30, data={
        "client_id": "sigstore", "scope": "openid email", "code_challenge": challenge,
        "code_challenge_method": "S256"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    return resp.json(), verifier


def device_poll(issuer: str, grant: dict[str, Any], verifier: str) -> requests.Response:
    return requests.post(f"{issuer}/token", timeout=30, data={
        "grant_type": DEVICE_GRANT, "client_id": "sigstore",
        "device_code": grant["device_code"], "code_verifier": verifier})  # fmt: skip


def device_token(
    issuer: str, grant: dict[str, Any], verifier: str, timeout: float = 30
) -> dict[str, Any]:
    """Poll as RFC 8628 section 3.5 says until the token comes; fail on any other error."""
    interval, deadline = float(grant["interval"]), time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = device_poll(issuer, grant, verifier)
        if resp.status_code == 200:
            return dict(resp.json())
        error = resp.json()["error"]
        assert error in ("authorization_pending", "slow_down"), resp.text
        interval += 5 if error == "slow_down" else 0
        time.sleep(interval)
    raise AssertionError("the device was never approved")
