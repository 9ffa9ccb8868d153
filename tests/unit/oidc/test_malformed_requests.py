"""Malformed OAuth requests are refused in OAuth's terms, never with a 500.

Both were found by the fuzz tests (tests/integration/fuzz/test_oidc_api.py): authlib copies an
unsupported ``response_type`` into the error description and raises ValueError when it holds a
character RFC 6749 forbids there; it decodes HTTP Basic credentials as UTF-8 without catching
UnicodeDecodeError.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.support.oidc import pkce

from .helpers import REDIRECT, Env, auth_params, basic

NOT_UTF8 = {"Authorization": "Basic " + base64.b64encode(b"\xf2\x9f:\xb8").decode()}


@pytest.mark.parametrize("response_type", ["t\u00e9", 'a"b', "a\\b", "\x10", "code\n"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unprintable_response_type_is_refused(env: Env, method: str, response_type: str) -> None:
    _, challenge = pkce()
    query = urlencode(auth_params(challenge, response_type=response_type))
    resp = getattr(env.client, method)(f"/auth?{query}")
    # a checked client and loopback redirect_uri: the error goes back to the client
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert location.geturl().startswith(REDIRECT)
    assert parse_qs(location.query)["error"] == ["unsupported_response_type"]

    unchecked = urlencode(auth_params(challenge, response_type=response_type,
                                      redirect_uri="https://evil.example/cb"))  # fmt: skip
    page = getattr(env.client, method)(f"/auth?{unchecked}")
    assert page.status_code == 400  # no redirect to a URI that was not checked
    assert "unsupported_response_type" in page.get_data(as_text=True)


def test_a_printable_unsupported_response_type_is_refused_as_before(env: Env) -> None:
    _, challenge = pkce()
    resp = env.client.get("/auth?" + urlencode(auth_params(challenge, response_type="token")))
    assert resp.status_code == 302
    assert "error=unsupported_response_type" in resp.headers["Location"]


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/token", {"grant_type": "client_credentials"}),
        ("/token", {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}),
        (
            "/token",
            {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "x"},
        ),  # fmt: skip
        ("/device/code", {"client_id": "sigstore"}),
    ],
)
def test_basic_credentials_that_are_not_utf8_are_invalid_client(
    env: Env, path: str, form: dict[str, str]
) -> None:
    resp = env.client.post(path, data=form, headers=NOT_UTF8)
    assert resp.status_code in (400, 401), resp.get_data(as_text=True)
    assert resp.get_json()["error"] == "invalid_client"


def test_utf8_basic_credentials_still_work(env: Env) -> None:
    resp = env.client.post("/device/code", data={"scope": "openid"}, headers=basic("sigstore"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["user_code"]
