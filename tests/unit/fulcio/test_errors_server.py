"""The error table's server-side rows (fulcio.md 1.8, code 13): a CT log that refuses, answers an
SCT that cannot be encoded or is not from the configured log, a CA that cannot sign; and the CT
log client without a log (a detached SCT-less certificate) and retrying a 503."""

from __future__ import annotations

import json
from typing import Any

from sigstack.services.fulcio import errors as msg
from sigstack.services.fulcio.app import create_app
from sigstack.services.fulcio.config import FulcioConfig
from tests.support.fulcio import refused, v2_csr_body
from tests.support.keys import b64, csr_pem, new_key
from tests.support.oidc import OIDCIssuer
from tests.support.servers import Served, serve_wsgi

# ---- server-side failures (code 13) ---------------------------------------------------------


def _fulcio_with_ct(stack: dict[str, Any], ct_url: str, **extra: Any) -> Any:
    config = {**stack["config"], "ct_log_url": ct_url, "ct_log_public_key": "", **extra}
    return create_app(FulcioConfig.from_mapping(config)).test_client()


def test_ct_log_refusal_is_500(tmp_path: Any, stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    from sigstack.services.fulcio.cli import create_ca
    from tests.support.fulcio import make_ctlog

    other = create_ca(tmp_path / "other", algorithm="ecdsa-p256")
    server, other_log = make_ctlog(tmp_path / "ct", other["root.pem"].read_bytes())
    try:
        client = _fulcio_with_ct(stack, server.url)
        resp = client.post("/api/v2/signingCert",
                           json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()))  # fmt: skip
        refused(resp, msg.MSG_CT, 500, 13)
        assert other_log.log.head().size == 0
    finally:
        server.close()


def _fake_ct(answer: dict[str, Any]) -> Served:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]

    return serve_wsgi(app)


def test_unencodable_sct_is_500(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    huge = {"sct_version": 0, "id": b64(b"\x01" * 32), "timestamp": 1,
            "extensions": b64(b"\x00" * 65530), "signature": b64(b"\x04\x03\x00\x02\x30\x00")}  # fmt: skip
    server = _fake_ct(huge)
    try:
        client = _fulcio_with_ct(stack, server.url)
        resp = client.post("/api/v2/signingCert",
                           json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()))  # fmt: skip
        refused(resp, msg.MSG_SCT, 500, 13)
    finally:
        server.close()


def test_sct_not_from_configured_log_is_500(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    fake = {"sct_version": 0, "id": b64(b"\x01" * 32), "timestamp": 1, "extensions": "",
            "signature": b64(b"\x04\x03\x00\x02\x30\x00")}  # fmt: skip
    server = _fake_ct(fake)
    try:
        config = {**stack["config"], "ct_log_url": server.url}
        resp = (
            create_app(FulcioConfig.from_mapping(config))
            .test_client()
            .post(
                "/api/v2/signingCert",
                json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()),
            )
        )
        refused(resp, msg.MSG_CT, 500, 13)
    finally:
        server.close()


def test_ca_signing_failure_is_500(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec as _ec

    from sigstack.services.fulcio.api import register
    from sigstack.services.fulcio.ca import CertificateAuthority
    from sigstack.services.fulcio.config import parse_identity_config
    from sigstack.services.fulcio.service import Fulcio
    from sigstack.services.keys import load_signer
    from sigstack.services.runtime.app import create_app
    from sigstack.services.runtime.errors import grpc_body

    real = load_signer(stack["config"]["ca_key"])

    class BrokenHSMKey(_ec.EllipticCurvePrivateKey):  # a key whose device has gone away
        curve = property(lambda self: real.private_key.curve)
        key_size = property(lambda self: real.private_key.key_size)
        public_key = lambda self: real.public_key  # noqa: E731

        def sign(self, data: bytes, alg: Any) -> bytes:
            raise OSError("device unplugged")

        exchange = private_numbers = private_bytes = __copy__ = __deepcopy__ = sign  # type: ignore

    real.private_key = BrokenHSMKey()
    ca = CertificateAuthority(real, stack["chain"])
    fulcio = Fulcio(parse_identity_config(stack["config"]), ca, None)
    client = create_app("fulcio", {}, register(fulcio), error_body=grpc_body).test_client()
    resp = client.post("/api/v2/signingCert",
                       json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()))  # fmt: skip
    refused(resp, msg.MSG_CA, 500, 13)
    assert "device unplugged" not in resp.get_data(as_text=True)


def test_without_ct_log_answers_detached_without_sct(
    stack: dict[str, Any], issuer: OIDCIssuer
) -> None:
    client = _fulcio_with_ct(stack, "")
    resp = client.post("/api/v2/signingCert",
                       json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()))  # fmt: skip
    assert resp.status_code == 200
    assert list(resp.get_json()) == ["signedCertificateDetachedSct"]


def test_ct_client_retries_503_then_succeeds(stack: dict[str, Any], issuer: OIDCIssuer) -> None:
    answers = iter([("503 Service Unavailable", b"{}"), ("429 Too Many Requests", b"{}")])
    sct = {"sct_version": 0, "id": b64(b"\x01" * 32), "timestamp": 1, "extensions": "",
           "signature": b64(b"\x04\x03\x00\x02\x30\x00")}  # fmt: skip
    hits = []

    def app(environ: Any, start_response: Any) -> Any:
        hits.append(environ["PATH_INFO"])
        status, body = next(answers, ("200 OK", json.dumps(sct).encode()))
        start_response(status, [("Content-Type", "application/json"), ("Retry-After", "0")])
        return [body]

    server = serve_wsgi(app)
    try:
        client = _fulcio_with_ct(stack, server.url)
        resp = client.post("/api/v2/signingCert",
                           json=v2_csr_body(csr_pem(new_key("ec-p256")), issuer.email_token()))  # fmt: skip
        assert resp.status_code == 200
        assert hits == ["/ct/v1/add-pre-chain"] * 3
    finally:
        server.close()
