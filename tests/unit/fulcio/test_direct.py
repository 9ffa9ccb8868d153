"""Fulcio's ``POST /api/v2/signingCert`` answered from the ASGI bridge (``runtime.direct``) and
through Flask: the same refusals byte for byte (nothing issued, nothing sent to the CT log), and
certificates of the same shape for the same identity, the token taken from the body or from the
``Authorization`` header."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.bridge import Pair, asgi_post
from tests.support.fulcio import check_leaf, v2_key_body
from tests.support.keys import new_key, sign
from tests.support.oidc import OIDCIssuer

PATH = "/api/v2/signingCert"


@pytest.fixture
def pair(stack: dict[str, Any]) -> Pair:
    return Pair(stack["client"].application)


def _refusals(issuer: OIDCIssuer) -> list[tuple[bytes, list[tuple[bytes, bytes]]]]:
    key = new_key("ec-p256")
    good = issuer.email_token("bob@example.com")
    wrong_proof = v2_key_body(key, sign(key, b"someone else"), good)
    no_token = v2_key_body(key, sign(key, b"bob@example.com"))
    return [
        (b"", []),
        (b"not json", []),
        (b"[1]", []),
        (b'{"a": 1, "a": 2}', []),
        (json.dumps(no_token).encode(), []),
        (json.dumps(no_token).encode(), [(b"authorization", b"Bearer not-a-token")]),
        (
            json.dumps(no_token).encode(),
            [
                (b"authorization", f"Bearer {good}".encode()),
                (b"authorization", f"Bearer {good}".encode()),
            ],
        ),  # fmt: skip
        (json.dumps(v2_key_body(key, sign(key, b"x"), "a.b.c")).encode(), []),
        (json.dumps(wrong_proof).encode(), []),
        (json.dumps({"publicKeyRequest": {"publicKey": {"content": 5}}}).encode(), []),
    ]


def test_refusals_are_the_same_bytes(
    pair: Pair, stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    for body, headers in _refusals(issuer):
        direct, flask = pair.both(PATH, body, more=headers)
        assert direct == flask, body[:80]
        assert 400 <= direct[0] < 500
        assert set(json.loads(direct[2])) == {"code", "message", "details"}


@pytest.mark.parametrize("in_header", [False, True])
def test_certificates_from_both_paths(
    pair: Pair, stack: dict[str, Any], issuer: OIDCIssuer, in_header: bool
) -> None:
    for bridge in (pair.direct, pair.flask):
        key = new_key("ec-p256")
        token = issuer.email_token("bob@example.com")
        body = v2_key_body(key, sign(key, b"bob@example.com"), None if in_header else token)
        headers = [(b"authorization", f"Bearer {token}".encode())] if in_header else []
        status, got, data = asgi_post(bridge, PATH, json.dumps(body).encode(), headers)
        assert status == 200, data
        assert set(got) == {"content-type", "content-length", "x-request-id"}
        chain = json.loads(data)["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        check_leaf(chain, stack["chain"], stack["ctlog"].signer.public_key, key)


def test_a_refusal_is_logged_with_the_request_id_on_both_paths(
    pair: Pair, issuer: OIDCIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """The reason Fulcio logs for a refused token carries the request id the client saw, so
    that it can be found from what the client printed (tests/interop/test_first_hour.py); and
    the id does not stay behind for the next request on the same thread."""
    from sigstack.services.runtime.observe import current_request_id

    key = new_key("ec-p256")
    body = json.dumps(v2_key_body(key, sign(key, b"x"), "a.b.c")).encode()
    for bridge, rid in ((pair.direct, "direct-1"), (pair.flask, "flask-1")):
        caplog.clear()
        with caplog.at_level("WARNING", logger="sigstack.fulcio"):
            status, headers, _ = asgi_post(bridge, PATH, body, [(b"x-request-id", rid.encode())])
        assert status == 400 and headers["x-request-id"] == rid
        fields = [getattr(r, "fields", {}) for r in caplog.records if r.name == "sigstack.fulcio"]
        assert fields and all(f.get("request_id") == rid for f in fields), fields
        assert pair.direct.pool.submit(current_request_id).result() is None
        assert pair.flask.pool.submit(current_request_id).result() is None
