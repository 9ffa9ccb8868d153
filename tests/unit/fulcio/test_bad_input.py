"""Input malformed in ways the error table did not foresee (security review, issue 11, item 4).

Each of these used to escape as a foreign exception and become a 500 (``{"code": 13, "message":
"internal error"}``), or was accepted although it is not JSON. Now each is a 400 with one of the
documented messages, nothing is issued and nothing reaches the CT log:

- request bodies nested deeper than the JSON parser's recursion limit (``RecursionError``), with a
  lone surrogate (``UnicodeEncodeError`` when the key was encoded), with ``NaN``, or in UTF-16;
- a token payload nested that deep;
- a CSR whose version is not v1 (0): ``x509.InvalidVersion`` is not a ``ValueError``
  (found by mutating valid CSRs, see ``_csr_with_version``);
- discovery documents and JWKS of the wrong shape (``keys`` not a list, a non-string ``kid``, the
  algorithm list not a list of strings), which are the issuer's input to Fulcio;
- a CT log answer whose SCT timestamp overflows, is out of uint64 range, is fractional, or which is
  nested too deep: now the documented 500 "Error entering certificate in CTL" (code 13) instead of
  an unhandled ``OverflowError``/``struct.error``/``RecursionError`` (or, for ``1.5``, a
  certificate with a truncated timestamp).

And one shared-state fix: the count of issued certificates is kept under a lock, so concurrent
issuance cannot lose an increment.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sigstack.services.fulcio import errors as msg
from sigstack.services.fulcio.app import create_app
from sigstack.services.fulcio.config import FulcioConfig
from tests.support.fulcio import refused, v2_csr_body
from tests.support.keys import b64, csr_pem, new_key, pem_public, sign
from tests.support.oidc import OIDCIssuer
from tests.support.servers import Served, serve_wsgi

NOT_JSON = "request body is not valid JSON"


def _post_raw(stack: dict[str, Any], data: bytes) -> Any:
    return stack["client"].post("/api/v2/signingCert", data=data, content_type="application/json")


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
     b'{"credentials": NaN}', b'{"a": Infinity}', b'{"a": 1e999}',
     json.dumps({"credentials": {}}).encode("utf-16")],
    ids=["deep-array", "deep-object", "NaN", "Infinity", "overflow", "utf-16"],
)  # fmt: skip
def test_body_that_is_not_strict_json_refused(
    stack: dict[str, Any], unchanged: None, body: bytes
) -> None:
    refused(_post_raw(stack, body), NOT_JSON)


def test_lone_surrogate_in_the_public_key_refused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    key = new_key("ec-p256")
    body = json.dumps({
        "credentials": {"oidcIdentityToken": issuer.email_token()},
        "publicKeyRequest": {"publicKey": {"content": pem_public(key).decode() + "\udc80"},
                             "proofOfPossession": b64(sign(key, b"alice@example.com"))},
    }).encode()  # fmt: skip
    refused(_post_raw(stack, body), NOT_JSON)


def test_deeply_nested_token_payload_refused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None
) -> None:
    claims = json.dumps({"iss": issuer.url, "sub": "1", "aud": "sigstore", "exp": 2**40,
                         "email": "alice@example.com", "email_verified": True})  # fmt: skip
    payload = claims[:-1] + ', "x": ' + "[" * 20_000 + "]" * 20_000 + "}"
    body = v2_csr_body(csr_pem(new_key("ec-p256")), issuer.raw_token(payload.encode()))
    refused(stack["client"].post("/api/v2/signingCert", json=body), msg.MSG_TOKEN)


def _csr_with_version(version: int) -> bytes:
    """A validly signed-looking CSR whose CertificationRequestInfo version is ``version``: the
    first ``INTEGER 0`` of the DER (the version) rewritten. The signature no longer matches, but
    parsing must refuse it before anything else looks at it."""
    pem = csr_pem(new_key("ec-p256"))
    der = bytearray(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    at = der.index(b"\x02\x01\x00")
    der[at + 2] = version
    return (b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der))
            + b"-----END CERTIFICATE REQUEST-----\n")  # fmt: skip


@pytest.mark.parametrize("version", [1, 2, 0x7F])
def test_csr_with_unknown_version_refused(
    stack: dict[str, Any], issuer: OIDCIssuer, unchanged: None, version: int
) -> None:
    body = v2_csr_body(_csr_with_version(version), issuer.email_token())
    refused(stack["client"].post("/api/v2/signingCert", json=body), msg.MSG_CSR_PARSE)


@pytest.fixture()
def idp() -> Iterator[OIDCIssuer]:
    oidc = OIDCIssuer(("RS256",))
    yield oidc
    oidc.close()


def _client_for(stack: dict[str, Any], idp: OIDCIssuer) -> Any:
    config = json.loads(json.dumps(stack["config"]))
    config.update(OIDCIssuers={idp.url: {"Type": "email"}}, MetaIssuers={})
    return create_app(FulcioConfig.from_mapping(config)).test_client()


ODD_DOCUMENTS = {
    "keys-not-a-list": ("jwks", {"keys": 5}),
    "keys-missing": ("jwks", {"kyes": []}),
    "jwks-not-an-object": ("jwks", [1, 2]),
    "algs-not-a-list": ("discovery", {"id_token_signing_alg_values_supported": 5}),
    "algs-not-strings": ("discovery", {"id_token_signing_alg_values_supported": [["RS256"]]}),
    "jwks-uri-not-http": ("discovery", {"jwks_uri": "file:///etc/passwd"}),
    "jwks-uri-not-a-string": ("discovery", {"jwks_uri": {"url": "x"}}),
}


@pytest.mark.parametrize("where,document", list(ODD_DOCUMENTS.values()), ids=list(ODD_DOCUMENTS))
def test_issuer_documents_of_the_wrong_shape_refused(
    stack: dict[str, Any], idp: OIDCIssuer, where: str, document: Any
) -> None:
    if where == "jwks":
        idp.jwks_document = document
    else:
        idp.discovery_extra = document
    body = v2_csr_body(csr_pem(new_key("ec-p256")), idp.email_token())
    refused(_client_for(stack, idp).post("/api/v2/signingCert", json=body), msg.MSG_TOKEN)


def test_unusable_jwks_entries_skipped_and_the_good_key_used(
    stack: dict[str, Any], idp: OIDCIssuer
) -> None:
    good = idp.jwks()["keys"][0]
    idp.jwks_document = {"keys": [
        {**good, "kid": ["not", "a", "string"]}, {**good, "n": 12345}, {"kty": "EC", "crv": "X"},
        "not an object", {**good, "kty": "oct"}, good,
    ]}  # fmt: skip
    body = v2_csr_body(csr_pem(new_key("ec-p256")), idp.email_token())
    assert _client_for(stack, idp).post("/api/v2/signingCert", json=body).status_code == 200


def test_issued_count_is_exact_under_concurrency(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    """Eight threads issue at once; the count of issued certificates and the CT log agree."""
    import sys

    fulcio = stack["client"].application.extensions["fulcio"]
    before, size = fulcio.issued, stack["ctlog"].log.head().size
    token = issuer.email_token()
    statuses: list[int] = []

    def work() -> None:
        client = stack["client"].application.test_client()
        for _ in range(8):
            body = v2_csr_body(csr_pem(new_key("ec-p256")), token)
            statuses.append(client.post("/api/v2/signingCert", json=body).status_code)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert statuses == [200] * 64
    assert fulcio.issued - before == 64
    assert stack["ctlog"].log.head().size - size == 64


def test_error_answers_carry_no_traceback(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    """The refusals above answer with the fixed message only (no exception text or trace)."""
    resp = _post_raw(stack, b"[" * 100_000)
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and "Recursion" not in text and resp.status_code == 400


def _raw_ct(answer: bytes) -> Served:
    """A stand-in CT log that answers every add-pre-chain with ``answer`` (status 200)."""

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [answer]

    return serve_wsgi(app)


def _sct(timestamp: str) -> bytes:
    return (b'{"sct_version": 0, "id": "' + b64(b"\x01" * 32).encode() + b'", "timestamp": '
            + timestamp.encode() + b', "extensions": "", "signature": "BAMAAjAA"}')  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [_sct("1e400"), _sct(str(2**70)), _sct("-1"), _sct("1.5"), b"[" * 100_000],
    ids=["timestamp-overflow", "timestamp-huge", "timestamp-negative", "timestamp-fraction",
         "deep"],
)  # fmt: skip
def test_malformed_ct_answer_is_the_documented_500(
    stack: dict[str, Any], issuer: OIDCIssuer, answer: bytes
) -> None:
    """The CT log is ours, but its answer is still input: a malformed SCT is a CT failure (500,
    "Error entering certificate in CTL"), not an unhandled exception, and no certificate."""
    server = _raw_ct(answer)
    try:
        config = json.loads(json.dumps(stack["config"]))
        config.update(ct_log_url=server.url, ct_log_public_key="")
        client = create_app(FulcioConfig.from_mapping(config)).test_client()
        fulcio = client.application.extensions["fulcio"]
        body = v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token())
        refused(client.post("/api/v2/signingCert", json=body), msg.MSG_CT, 500, 13)
        assert fulcio.issued == 0
    finally:
        server.close()


def test_private_jwk_in_the_jwks_is_never_used(stack: dict[str, Any], idp: OIDCIssuer) -> None:
    """A JWKS that publishes a private key (``d``) has leaked it: anyone can sign with it. Such an
    entry is skipped (it used to reach verification as a private key object and fail with an
    ``AttributeError``, a 500)."""
    from tests.support.oidc import ALGS

    kid = idp.kid_for("RS256")
    private = ALGS["RS256"].to_jwk(idp.keys[kid][1], as_dict=True)
    idp.jwks_document = {"keys": [{**private, "kid": kid, "alg": "RS256", "use": "sig"}]}
    body = v2_csr_body(csr_pem(new_key("ec-p256")), idp.email_token())
    refused(_client_for(stack, idp).post("/api/v2/signingCert", json=body), msg.MSG_TOKEN)


def test_null_algorithm_list_means_rs256(stack: dict[str, Any], idp: OIDCIssuer) -> None:
    """As go-oidc reads it: ``null`` is an absent list, so RS256."""
    idp.discovery_extra = {"id_token_signing_alg_values_supported": None}
    body = v2_csr_body(csr_pem(new_key("ec-p256")), idp.email_token())
    assert _client_for(stack, idp).post("/api/v2/signingCert", json=body).status_code == 200
