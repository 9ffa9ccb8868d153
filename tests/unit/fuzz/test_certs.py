"""Fuzzing certificates, CSRs and public keys where they enter sigstack: only
``protocol.errors.Error`` escapes.

Entry points:
- Fulcio: the v2 and v1 request bodies (``api._v2_key_request`` / ``_v1_key_request``) through
  ``Fulcio.issue`` with a valid identity token (CSR parsing and self-signature, public key parsing,
  proof of possession, allow-list, certificate issuance), and ``pop.parse_csr`` /
  ``pop.parse_public_key`` on raw bytes;
- Rekor: ``verifiers.load_verifier`` (PEM key or certificate chain) and the SANs it indexes;
- CT log: ``CTLog.add_chain`` for precertificate and final chains (``_parse_chain``);
- client: a signing certificate through ``load_certificate``, ``check_leaf_usage``,
  ``certificate_identities``, ``x509ext.decode_extensions``, an identity policy and
  ``verify_signing_certificate`` against the staging trusted root.
Seeds: CSRs and keys of every type Fulcio accepts (tests/support/keys.py), the real
certificates of tests/data, and chains issued by the fuzz stack's CA.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.client.verify.certs import (
    ChainVerifier,
    IdentityPolicy,
    certificate_identities,
    check_leaf_usage,
    load_certificate,
    verify_signing_certificate,
)
from sigstack.client.verify.keys import Keyring
from sigstack.protocol import strictjson, x509ext
from sigstack.protocol.trust import TrustedRoot
from sigstack.services.fulcio import api as fulcio_api
from sigstack.services.fulcio import pop
from sigstack.services.rekor.verifiers import load_verifier
from tests.support.fulcio import v2_csr_body, v2_key_body
from tests.support.keys import csr_pem, new_key, pem_public, sign

from . import seeds, stack
from .core import Target, property_tests

KINDS = ("ec-p256", "ec-p384", "ec-p521", "rsa-2048", "ed25519")
NAME = "alice@example.com"  # the principal of stack.tokens()[0]


@functools.cache
def _keys() -> list[object]:
    return [new_key(k) for k in KINDS]


@functools.cache
def csr_seeds() -> list[bytes]:
    return [csr_pem(k) for k in _keys()]


@functools.cache
def key_seeds() -> list[bytes]:
    pems = [pem_public(k) for k in _keys()]
    ders = [
        k.public_key().public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for k in _keys()
    ]
    return pems + ders


@functools.cache
def body_seeds() -> list[bytes]:
    bodies = [v2_csr_body(c) for c in csr_seeds()]
    bodies += [v2_key_body(k, sign(k, NAME.encode())) for k in _keys()]
    v1 = [{"publicKey": {"content": base64.b64encode(pem_public(k)).decode()},
           "signedEmailAddress": base64.b64encode(sign(k, NAME.encode())).decode()}
          for k in _keys()[:2]]  # fmt: skip
    return [json.dumps(b).encode() for b in bodies + v1]


def _issue(data: bytes) -> None:
    body = strictjson.loads_object(data, "request body")
    fulcio = stack.fulcio()
    for parse in (fulcio_api._v2_key_request, fulcio_api._v1_key_request):
        fulcio.issue(stack.tokens()[0], parse(body))


def _parse_csr(data: bytes) -> None:
    key, hash_name = pop.parse_csr(data)
    pop.check_allowed(key, hash_name, pop.DEFAULT_ALGORITHMS)


def _parse_key(data: bytes) -> None:
    key = pop.parse_public_key(data)
    pop.verify_proof(key, data[-64:], NAME)


@functools.cache
def pem_seeds() -> list[bytes]:
    certs = [x509.load_der_x509_certificate(d) for d in seeds.certificates()]
    pems = [c.public_bytes(serialization.Encoding.PEM) for c in certs]
    chain = [x509.load_der_x509_certificate(d) for d in stack.ctlog().final_chain]
    pems.append(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return pems + key_seeds()[: len(KINDS)]


def _load_verifier(data: bytes) -> None:
    verifier = load_verifier(base64.b64encode(data).decode(), "publicKey.content")
    verifier.subjects()


@functools.cache
def chain_seeds() -> list[bytes]:
    ct = stack.ctlog()
    out = []
    for chain, precert in ((ct.precert_chain, True), (ct.final_chain, False)):
        out.append(json.dumps({"chain": [base64.b64encode(c).decode() for c in chain],
                               "precert": precert}).encode())  # fmt: skip
    return out


def _add_chain(data: bytes) -> None:
    body = strictjson.loads_object(data, "add-chain body")
    items = body.get("chain")
    if not isinstance(items, list) or not all(isinstance(c, str) for c in items):
        return  # the API's schema check, not the chain parser
    try:
        chain = [base64.b64decode(c, validate=True) for c in items]
    except (binascii.Error, ValueError):
        return
    stack.ctlog().log.add_chain(chain, precert=body.get("precert") is True)


@functools.cache
def _staging() -> tuple[ChainVerifier, Keyring]:
    path = seeds.CASES / "staging-v0.3-happy-path" / "trusted_root.json"
    root = TrustedRoot.from_json(path.read_bytes())
    return ChainVerifier(root), Keyring(root.ctlogs, datetime.now(UTC), "CT log")


def _signing_certificate(data: bytes) -> None:
    cert = load_certificate(data)
    certificate_identities(cert)
    x509ext.decode_extensions(cert)
    check_leaf_usage(cert)
    chains, ct_keys = _staging()
    policy = IdentityPolicy(identity_regexp="", issuer_regexp="", extensions=(("issuer", "x"),))
    when = cert.not_valid_before_utc
    verify_signing_certificate(cert, [when], chains, ct_keys, policy, [], datetime.now(UTC))


TARGETS = [
    Target("fulcio: request body -> issue", _issue, body_seeds),
    Target("fulcio: parse_csr", _parse_csr, csr_seeds),
    Target("fulcio: parse_public_key", _parse_key, key_seeds),
    Target("rekor: load_verifier", _load_verifier, pem_seeds),
    Target("ctlog: add_chain", _add_chain, chain_seeds),
    Target("client: signing certificate", _signing_certificate, seeds.certificates),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=600)
