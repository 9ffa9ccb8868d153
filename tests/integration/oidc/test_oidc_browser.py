"""sigstore-python's own OAuth flow and the device flow against the real server, with headless
Chromium filling in our pages. Screenshots go to artifacts/ for a person to look at."""

from __future__ import annotations

import base64
import hashlib
import queue
import secrets
import threading
import time

import jwt
import pytest
import requests

from .conftest import ARTIFACTS, EMAIL, PASSWORD, USER


def _fulcio_ready(claims: dict, issuer: str, now: float) -> None:
    """What Fulcio's email-type issuer checks (spec/oidc.md §1.3) plus sigstore-python's needs."""
    assert claims["iss"] == issuer
    assert claims["aud"] == "sigstore"
    assert claims["email"] == EMAIL and claims["email_verified"] is True
    assert claims["iat"] <= now + 1 and claims["exp"] > now
    assert claims["exp"] - claims["iat"] <= 600
    assert isinstance(claims["sub"], str) and claims["sub"]


def _verify(server, token: str, audience: str = "sigstore") -> dict:
    keys = jwt.PyJWKClient(server.url + "/keys")
    key = keys.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=server.url)


@pytest.mark.interop
def test_sigstore_python_oauth_flow_with_chromium(server, browser, monkeypatch):
    import sigstore.oidc
    from sigstore.oidc import IdentityToken, Issuer

    opened: queue.Queue[str] = queue.Queue()
    monkeypatch.setattr(
        sigstore.oidc.webbrowser, "open", lambda url, *a, **k: opened.put(url) or True
    )
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["token"] = Issuer(server.url).identity_token()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = opened.get(timeout=30)
    assert url.startswith("http://localhost:")  # sigstore-python's own redirect server

    page = browser.new_page()
    page.goto(url)
    assert page.url.startswith(server.url + "/auth?")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc-login.png"), full_page=True)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("http://localhost:*/auth/callback?*", timeout=20000)
    assert "authentication successful" in page.content()
    thread.join(timeout=30)
    assert "error" not in result, result.get("error")
    token = result["token"]
    assert isinstance(token, IdentityToken)
    assert token.issuer == server.url
    claims = _verify(server, str(token))
    _fulcio_ready(claims, server.url, time.time())
    assert token.identity == claims["sub"]  # not a public-good issuer: sigstore-python uses sub


@pytest.mark.interop
def test_sigstore_python_out_of_band_flow(server, browser, monkeypatch):
    """force_oob: sigstore-python prints the authorize URL (redirect_uri urn:...:oob) and reads
    the code from stdin; the person copies it from our code page."""
    import sys

    from sigstore.oidc import Issuer

    urls: queue.Queue[str] = queue.Queue()
    codes: queue.Queue[str] = queue.Queue()

    class _Stderr:
        def write(self, text: str) -> int:
            for word in text.split():
                if word.startswith(server.url + "/auth?"):
                    urls.put(word)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stderr", _Stderr())
    monkeypatch.setattr("builtins.input", lambda prompt="": codes.get(timeout=30))
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["token"] = Issuer(server.url).identity_token(force_oob=True)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = urls.get(timeout=30)
    assert "redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob" in url
    page = browser.new_page()
    page.goto(url)
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    code_box = page.get_by_label("Verification code")
    code_box.wait_for(timeout=10000)
    assert page.url.startswith(server.url)  # no redirect to the URN
    codes.put(code_box.input_value())
    thread.join(timeout=30)
    assert "error" not in result, result.get("error")
    _fulcio_ready(_verify(server, str(result["token"])), server.url, time.time())


def test_device_flow_with_scripted_approval(server, browser):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    start = requests.post(
        server.url + "/device/code",
        data={
            "client_id": "sigstore",
            "scope": "openid email",
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        },
        timeout=10,
    )
    assert start.status_code == 200, start.text
    grant = start.json()

    def poll() -> requests.Response:
        return requests.post(
            server.url + "/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": "sigstore",
                "device_code": grant["device_code"],
                "code_verifier": verifier,
            },
            timeout=10,
        )

    assert poll().json()["error"] == "authorization_pending"

    page = browser.new_page()
    page.goto(grant["verification_uri_complete"])
    assert page.get_by_label("Code shown by the device").input_value() == grant["user_code"]
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc-device.png"), full_page=True)
    page.get_by_role("button", name="Approve").click()
    page.get_by_role("heading", name="Device approved").wait_for(timeout=10000)

    interval = grant["interval"]
    for _ in range(20):
        time.sleep(interval)
        resp = poll()
        if resp.status_code == 200:
            break
        error = resp.json()["error"]
        assert error in ("authorization_pending", "slow_down"), resp.text
        if error == "slow_down":
            interval += 5
    assert resp.status_code == 200, resp.text
    claims = _verify(server, resp.json()["id_token"])
    _fulcio_ready(claims, server.url, time.time())
    assert _verify(server, resp.json()["access_token"])["sub"] == claims["sub"]
