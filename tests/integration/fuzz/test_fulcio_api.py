"""Fuzz every route of a real Fulcio (``sigstack serve fulcio``) from its own OpenAPI document.

Fulcio runs with a CA made here, its CT log (``sigstack serve ctlog``) and a throw-away OIDC
issuer. One certificate is issued for real first, so the setup is known to be able to issue; the
fuzzer has no token the issuer signed, so no further certificate may be issued: the CT log keeps
its one entry and Fulcio's certificate counter stays at one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.services.fulcio.cli import create_ca
from tests.support.oidc import OIDCIssuer
from tests.support.servers import Service

from . import harness

BUDGET = {
    "POST /api/v2/signingCert": 1200,
    "POST /api/v1/signingCert": 900,
}
ISSUED = 'sigstack_certificates_issued_total{service="fulcio"}'


class Fulcio(harness.Fuzzer):
    log: Path
    ct: Service
    ct_log: Path


def issue_one(url: str, token: str) -> None:
    """A certificate through the v2 API: the setup can issue."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    proof = key.sign(b"fuzz@example.com", ec.ECDSA(hashes.SHA256()))
    body = {
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pem.decode()},
            "proofOfPossession": base64.b64encode(proof).decode(),
        },
    }
    resp = requests.post(f"{url}/api/v2/signingCert", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    assert "signedCertificateEmbeddedSct" in resp.json()


def ct_size(ct: Service) -> int:
    return int(requests.get(f"{ct.url}/ct/v1/get-sth", timeout=30).json()["tree_size"])


@pytest.fixture(scope="module")
def fulcio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fulcio]:
    tmp = tmp_path_factory.mktemp("fuzz-fulcio")
    ca = create_ca(tmp / "ca", algorithm="ecdsa-p256")
    issuer = OIDCIssuer(("ES256",))
    services: list[Service] = []
    try:
        ct_log = tmp / "ct.log"
        ct = Service("ctlog", "--data-dir", str(tmp / "ct"), "--roots", str(ca["root.pem"]),
                     log=ct_log).start()  # fmt: skip
        services.append(ct)
        (tmp / "fulcio.json").write_text(
            json.dumps({"OIDCIssuers": {issuer.url: {"Type": "email"}}})
        )
        log = tmp / "fulcio.log"
        service = Service(
            "fulcio", "--data-dir", str(tmp / "fulcio"), "--config", str(tmp / "fulcio.json"),
            "--ct-url", ct.url, "--ct-public-key", str(tmp / "ct" / "ctlog.pub"),
            "--ca-key", f"file:{ca['intermediate-key.pem']}", "--ca-chain", str(ca["chain.pem"]),
            log=log,
        ).start()  # fmt: skip
        services.append(service)
        issue_one(service.url, issuer.email_token("fuzz@example.com", alg="ES256"))
        fuzzer = Fulcio(service)
        fuzzer.log, fuzzer.ct, fuzzer.ct_log = log, ct, ct_log
        assert ct_size(ct) == 1 and fuzzer.metric(ISSUED) == 1
        yield fuzzer
    finally:
        for running in reversed(services):
            running.kill()
        issuer.close()


@pytest.mark.parametrize(("operation", "examples"), harness.cases("fulcio", BUDGET, 300))
def test_fuzz(fulcio: Fulcio, operation: str, examples: int) -> None:
    fulcio.run(operation, examples)


def test_nothing_written(fulcio: Fulcio) -> None:
    """Runs after the fuzzing (module order): no certificate issued, nothing logged to CT."""
    assert ct_size(fulcio.ct) == 1
    assert fulcio.metric(ISSUED) == 1
    fulcio.assert_clean(fulcio.ct_log)
    print("\n" + fulcio.summary())
