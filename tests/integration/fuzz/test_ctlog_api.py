"""Fuzz every route of a real CT log (``sigstack serve ctlog``) from its own OpenAPI document.

The log accepts chains to a CA made here and holds a few real certificates first, so reads and
proofs answer from data. The fuzzer cannot make a certificate signed by that CA, so the tree must
not grow.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.services.fulcio.cli import create_ca
from tests.support.servers import Service

from . import harness

SEEDED = 3
BUDGET = {
    "POST /ct/v1/add-chain": 250,
    "POST /ct/v1/add-pre-chain": 250,
}


class CTLog(harness.Fuzzer):
    log: Path


def _leaf(issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey, n: int) -> bytes:
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(minutes=10))
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(f"seed{n}@example.com")]), critical=True
        )  # fmt: skip
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def seed(url: str, ca: dict[str, Path]) -> None:
    """Log SEEDED certificates issued by the CA's intermediate."""
    chain = x509.load_pem_x509_certificates(ca["chain.pem"].read_bytes())
    key = serialization.load_pem_private_key(ca["intermediate-key.pem"].read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    tail = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    for n in range(SEEDED):
        body = {"chain": [base64.b64encode(c).decode() for c in [_leaf(chain[0], key, n), *tail]]}
        resp = requests.post(f"{url}/ct/v1/add-chain", json=body, timeout=30)
        assert resp.status_code == 200, resp.text


@pytest.fixture(scope="module")
def ctlog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CTLog]:
    tmp = tmp_path_factory.mktemp("fuzz-ctlog")
    ca = create_ca(tmp / "ca", algorithm="ecdsa-p256")
    log = tmp / "ctlog.log"
    with Service(
        "ctlog", "--data-dir", str(tmp / "ct"), "--roots", str(ca["root.pem"]), log=log
    ) as service:
        seed(service.url, ca)
        fuzzer = CTLog(service)
        fuzzer.log = log
        yield fuzzer


@pytest.mark.parametrize(("operation", "examples"), harness.cases("ctlog", BUDGET, 450))
def test_fuzz(ctlog: CTLog, operation: str, examples: int) -> None:
    ctlog.run(operation, examples)


def test_nothing_written(ctlog: CTLog) -> None:
    """Runs after the fuzzing (module order): the tree did not grow, the log shows no error."""
    sth = requests.get(f"{ctlog.service.url}/ct/v1/get-sth", timeout=30).json()
    assert sth["tree_size"] == SEEDED
    ctlog.assert_clean()
    print("\n" + ctlog.summary())
