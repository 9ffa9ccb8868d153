"""Fuzzing RFC 6962 structures (protocol.sct): only ``protocol.errors.Error`` escapes.

Entry points: ``decode_sct_list``, ``SignedCertificateTimestamp.from_bytes`` and ``from_json``
(the CT log's ``AddChainResponse`` that Fulcio reads), ``parse_digitally_signed``,
``strip_extension_from_tbs`` (precertificate TBS) and ``scts_from_certificate`` (certificates
that cryptography accepts). Seeds: the SCT lists embedded in the real certificates of tests/data,
their SCTs, and a precertificate made here.
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sigstack.protocol import sct, strictjson

from . import seeds
from .core import Target, property_tests


@functools.cache
def sct_seeds() -> list[bytes]:
    return [s.to_bytes() for raw in seeds.sct_lists() for s in sct.decode_sct_list(raw)]


@functools.cache
def json_seeds() -> list[bytes]:
    return [json.dumps(sct.SignedCertificateTimestamp.from_bytes(s).to_json()).encode()
            for s in sct_seeds()]  # fmt: skip


@functools.cache
def signed_seeds() -> list[bytes]:
    return [base64.b64decode(json.loads(s)["signature"]) for s in json_seeds()]


@functools.cache
def tbs_seeds() -> list[bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz")])
    now = datetime.now(UTC)
    precert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + timedelta(minutes=10))
        .add_extension(x509.PrecertPoison(), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("a@example.com")]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return [precert.tbs_certificate_bytes]


def _from_json(data: bytes) -> None:
    sct.SignedCertificateTimestamp.from_json(strictjson.loads(data, "AddChainResponse"))


def _from_certificate(data: bytes) -> None:
    try:
        cert = x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion):
        return  # not a certificate: cryptography's parser, not ours
    sct.scts_from_certificate(cert)


TARGETS = [
    Target("decode_sct_list", sct.decode_sct_list, seeds.sct_lists),
    Target("SCT.from_bytes", sct.SignedCertificateTimestamp.from_bytes, sct_seeds),
    Target("SCT.from_json", _from_json, json_seeds),
    Target("parse_digitally_signed", sct.parse_digitally_signed, signed_seeds),
    Target("strip_extension_from_tbs", sct.strip_extension_from_tbs, tbs_seeds),
    Target("scts_from_certificate", _from_certificate, seeds.certificates),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=200, mutated=800)
