"""The HTTP API on the real Flask app (test client): media types, the error body
``{"code", "message"}`` for every refusal, nothing signed for any of them, and the certchain."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from flask.testing import FlaskClient
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from sigstack.services.runtime.app import create_app
from sigstack.services.tsa.api import register
from sigstack.services.tsa.app import create_app as tsa_app
from sigstack.services.tsa.authority import TimestampAuthority
from sigstack.services.tsa.config import TSAConfig
from tests.unit.tsa.helpers import Chain, CountingSigner, der_request, dev_chain, verify_rfc3161

MESSAGE = b"signature"
DIGEST = hashlib.sha256(MESSAGE).digest()
URL = "/api/v1/timestamp"
QUERY = {"Content-Type": "application/timestamp-query"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return dev_chain(tmp_path_factory.mktemp("api"), intermediate=True)


@pytest.fixture
def signer(chain: Chain) -> CountingSigner:
    return CountingSigner(chain.signer())


@pytest.fixture
def client(chain: Chain, signer: CountingSigner) -> FlaskClient:
    tsa = TimestampAuthority(signer, chain.certs)
    return create_app("tsa", TSAConfig(max_body_bytes=4096), register(tsa)).test_client()


def test_der_request(client: FlaskClient, chain: Chain, signer: CountingSigner) -> None:
    req = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256).data(MESSAGE).build()
    resp = client.post(URL, data=req.as_bytes(), headers=QUERY)
    assert resp.status_code == 200
    assert resp.content_type == "application/timestamp-reply"
    assert resp.headers["Cache-Control"] == "no-store"
    verify_rfc3161(resp.data, MESSAGE, chain.certs, nonce=req.nonce)
    assert signer.count == 1


def test_media_type_parameters_and_case(client: FlaskClient, chain: Chain) -> None:
    for ctype in ("application/timestamp-query; charset=binary", "Application/Timestamp-Query"):
        resp = client.post(URL, data=der_request(DIGEST), headers={"Content-Type": ctype})
        assert resp.status_code == 200, ctype
    body = json.dumps(
        {"artifactHash": base64.b64encode(DIGEST).decode(), "hashAlgorithm": "sha256", "nonce": 9}
    )
    resp = client.post(URL, data=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status_code == 200
    verify_rfc3161(resp.data, MESSAGE, chain.certs, nonce=9)


def _json(**fields: object) -> str:
    return json.dumps(
        {"artifactHash": base64.b64encode(DIGEST).decode(), "hashAlgorithm": "sha256", **fields}
    )


BAD: dict[str, tuple[str | None, bytes | str, int, str]] = {
    "garbage": ("application/timestamp-query", b"\x00garbage", 400, "not a DER-encoded"),
    "sha1": (
        "application/timestamp-query",
        der_request(hashlib.sha1(MESSAGE).digest(), "1.3.14.3.2.26"),
        400,
        "Weak hash",
    ),
    "unknown-hash": (
        "application/timestamp-query",
        der_request(DIGEST, "1.2.3.4"),
        400,
        "unsupported hash algorithm",
    ),
    "wrong-length": (
        "application/timestamp-query",
        der_request(DIGEST, "sha512"),
        400,
        "incorrect length",
    ),
    "oversized-der": (
        "application/timestamp-query",
        der_request(DIGEST, nonce=2 ** (8 * 1200)),
        400,
        "too large",
    ),
    "empty": ("application/timestamp-query", b"", 400, "empty"),
    "policy": (
        "application/timestamp-query",
        der_request(DIGEST, policy="1.2.3"),
        400,
        "unaccepted policy: 1.2.3",
    ),
    "json-too-large": ("application/json", _json(pad="x" * 1100), 400, "too large"),
    "json-sha1": ("application/json", _json(hashAlgorithm="sha1"), 400, "Weak hash"),
    "json-garbage": ("application/json", "{", 400, "not valid JSON"),
    "der-as-json": ("application/json", der_request(DIGEST), 400, "not valid JSON"),
    "other-application-type": (
        "application/xml",
        der_request(DIGEST),
        400,
        "unsupported content type",
    ),
    "text-plain": ("text/plain", der_request(DIGEST), 415, "unsupported media type"),
    "form": ("multipart/form-data; boundary=x", der_request(DIGEST), 415, "unsupported media"),
    "no-content-type": (None, der_request(DIGEST), 415, "unsupported media type"),
    "over-body-limit": (
        "application/timestamp-query",
        b"\x30" * 5000,
        413,
        "larger than the configured limit",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_refusals(client: FlaskClient, signer: CountingSigner, case: str) -> None:
    ctype, body, status, message = BAD[case]
    headers = {"Content-Type": ctype} if ctype else {}
    resp = client.post(URL, data=body, headers=headers)
    assert resp.status_code == status
    assert resp.content_type == "application/json"
    doc = resp.get_json()
    assert set(doc) == {"code", "message"} and doc["code"] == status
    assert message in doc["message"]
    assert signer.count == 0  # nothing signed


def test_certchain_and_ping(client: FlaskClient, chain: Chain) -> None:
    resp = client.get(f"{URL}/certchain")
    assert resp.status_code == 200
    assert resp.content_type == "application/pem-certificate-chain"
    assert x509.load_pem_x509_certificates(resp.data) == chain.certs
    assert "max-age=86400" in resp.headers["Cache-Control"]
    assert client.get("/ping").data == b"."
    assert client.get(URL).status_code == 405
    assert client.get("/healthz").status_code == 200


def test_factory_from_configuration(chain: Chain, tmp_path: Path) -> None:
    app = tsa_app(
        TSAConfig.from_mapping(
            {
                "key_uri": chain.key_uri,
                "chain_file": str(chain.chain_file),
                "include_chain_in_response": True,
            }
        )
    )
    resp = app.test_client().post(URL, data=der_request(DIGEST, cert_req=True), headers=QUERY)
    assert resp.status_code == 200
    verify_rfc3161(resp.data, MESSAGE, chain.certs)


def test_openapi_document_lists_the_routes(client: FlaskClient) -> None:
    served = client.get("/openapi.json")
    assert served.status_code == 200
    doc = served.get_json()
    assert doc["openapi"].startswith("3.")
    routes = {r.rule for r in client.application.url_map.iter_rules()} - {"/static/<path:filename>"}
    assert set(doc["paths"]) == routes
    assert set(doc["paths"]["/api/v1/timestamp"]["post"]["requestBody"]["content"]) == {
        "application/timestamp-query",
        "application/json",
    }
