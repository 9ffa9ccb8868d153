"""The client's own sign-in flows against the project's real OIDC issuer (``sigstack serve oidc``),
with headless Chromium doing what a person would: the browser flow (loopback redirect, PKCE S256,
state and nonce) and the device flow (link and code printed, approval in the browser while the
client polls). Skipped when Chromium is not installed (the fixtures come from tests/integration/oidc).
"""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from sigstack.client.sign import oidc
from tests.integration.oidc.conftest import PASSWORD, USER, browser, server  # noqa: F401

pytestmark = pytest.mark.interop


def test_browser_flow_against_our_issuer(server, browser) -> None:  # noqa: F811
    page = browser.new_page()
    seen: list[str] = []

    def open_url(url: str) -> bool:
        seen.append(url)
        page.goto(url)
        page.get_by_label("Username").fill(USER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("http://localhost:*/auth/callback?*", timeout=20000)
        return True

    raw = oidc.browser_flow(server.url, open_url=open_url, out=io.StringIO())
    token = oidc.IdentityToken.parse(raw)
    assert token.issuer == server.url
    assert token.claims["nonce"]  # the ID token carries the nonce we sent, and it was checked
    assert "code_challenge_method=S256" in seen[0]


def test_device_flow_against_our_issuer(server, browser) -> None:  # noqa: F811
    out = io.StringIO()
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["token"] = oidc.device_flow(server.url, out=out, timeout=60)
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while "enter the code" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.1)
    match = re.search(r"Open (\S+) and enter the code (\S+)", out.getvalue())
    assert match, out.getvalue()
    page = browser.new_page()
    page.goto(match.group(1))
    code_box = page.get_by_label("Code shown by the device")
    if not code_box.input_value():
        code_box.fill(match.group(2))
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Approve").click()
    page.get_by_role("heading", name="Device approved").wait_for(timeout=10000)
    thread.join(timeout=60)
    assert "error" not in result, result.get("error")
    assert oidc.IdentityToken.parse(str(result["token"])).issuer == server.url
