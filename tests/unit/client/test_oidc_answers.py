"""The sign-in flows refuse an issuer's malformed answers with a ValidationError that says what was
wrong (``Error:`` and exit 1 from the CLI), not an AttributeError, KeyError or ValueError out of
the flow. Found by typing ``client.http.json_request`` as returning any JSON value: the device
flow read its device authorization answer as a dict unchecked, and the browser flow assumed an
``authorization_endpoint``."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from sigstack.client.http import RefusedError
from sigstack.client.sign import oidc
from sigstack.protocol.errors import ValidationError

ISSUER = "http://issuer.invalid"
DISCOVERY = {
    "token_endpoint": ISSUER + "/token",
    "authorization_endpoint": ISSUER + "/authorize",
    "device_authorization_endpoint": ISSUER + "/device",
}


def _answers(monkeypatch: pytest.MonkeyPatch, discovery: object, device: object) -> list[str]:
    """``json_request`` answering the discovery document and the device authorization request;
    the token endpoint says ``authorization_pending`` once, then hands out ``tok``."""
    polls: list[str] = []

    def fake(method: str, url: str, *args: object, **kwargs: object) -> object:
        if url.endswith("/.well-known/openid-configuration"):
            return discovery
        if url == ISSUER + "/device":
            return device
        polls.append(url)
        if len(polls) == 1:
            raise RefusedError("pending", 400, {"error": "authorization_pending"})
        return {"id_token": "tok"}

    monkeypatch.setattr(oidc, "json_request", fake)
    return polls


def _device(monkeypatch: pytest.MonkeyPatch, device: object, discovery: object = DISCOVERY) -> str:
    _answers(monkeypatch, discovery, device)
    return oidc.device_flow(ISSUER, out=io.StringIO(), sleep=lambda _s: None, timeout=5)


@pytest.mark.parametrize(("device", "words"), [
    (["not", "an", "object"], "answered with something other than a JSON object"),
    ("text", "answered with something other than a JSON object"),
    ({"user_code": "ABCD", "verification_uri": "http://x"}, "answered no device_code"),
    ({"device_code": 7}, "answered no device_code"),
    ({"device_code": "d", "interval": "soon"}, "interval is not a number of seconds"),
    ({"device_code": "d", "interval": -1}, "interval is not a number of seconds"),
    ({"device_code": "d", "interval": [5]}, "interval is not a number of seconds"),
    ({"device_code": "d", "expires_in": "NaN"}, "expires_in is not a number of seconds"),
])  # fmt: skip
def test_a_malformed_device_authorization_is_refused(monkeypatch, device, words) -> None:
    with pytest.raises(ValidationError, match=words):
        _device(monkeypatch, device)


def test_a_well_formed_device_authorization_still_signs_in(monkeypatch) -> None:
    polls = _answers(monkeypatch, DISCOVERY, {"device_code": "d", "user_code": 1234,
                                              "verification_uri": "http://x", "interval": "2"})  # fmt: skip
    out = io.StringIO()
    slept: list[float] = []
    monkeypatch.setattr(oidc.IdentityToken, "parse", classmethod(lambda cls, raw, aud: None))
    raw = oidc.device_flow(ISSUER, out=out, sleep=slept.append, timeout=5)
    assert raw == "tok" and len(polls) == 2 and slept == [2.0, 2.0]
    assert "Open http://x and enter the code 1234" in out.getvalue()


@pytest.mark.parametrize("discovery", [
    ["a list"],
    {"authorization_endpoint": ISSUER + "/authorize"},
    {"token_endpoint": 42},
    {"token_endpoint": ""},
])  # fmt: skip
def test_a_discovery_document_without_a_token_endpoint_is_refused(monkeypatch, discovery) -> None:
    with pytest.raises(ValidationError, match="is not an OpenID Connect discovery document"):
        _device(monkeypatch, {"device_code": "d"}, discovery)


def test_an_issuer_without_the_device_endpoint_says_so(monkeypatch) -> None:
    discovery = {**DISCOVERY, "device_authorization_endpoint": 5}
    with pytest.raises(ValidationError, match="does not offer the device flow"):
        _device(monkeypatch, {"device_code": "d"}, discovery)


def test_an_issuer_without_the_authorization_endpoint_refuses_the_browser_flow(
    monkeypatch,
) -> None:
    _answers(monkeypatch, {"token_endpoint": ISSUER + "/token"}, None)
    opened: list[str] = []
    never: Callable[[str], bool] = lambda url: bool(opened.append(url))  # noqa: E731
    with pytest.raises(ValidationError, match="does not offer the browser sign-in"):
        oidc.browser_flow(ISSUER, open_url=never, out=io.StringIO(), timeout=1)
    assert opened == []  # refused before any listener or browser
