"""Fuzzing the Rekor v2 log's request parsing (services/rekor2): only ``protocol.errors.Error``
escapes.

Entry points:

- ``entries.prepare_entry`` on a ``CreateEntryRequest`` body, as ``POST /api/v2/log/entries`` hands it
  over (the raw bytes): JSON, protojson names, base64, the verifier's DER, the key checks, the
  signature check, the logged entry and its search keys. Seeds: the requests real clients sent to
  the staging rekor-tiles (tests/data, rebuilt from the bundles as
  tests/unit/rekor2/test_entries.py does), every real bundle with a message signature and a
  certificate as the v2 request that logs it, and requests made here with the v2 builders of
  tests/support/entries.py: a certificate, a bare key, a DSSE envelope, snake_case names, every
  algorithm of ``entries.ALGORITHMS`` and a ``dsseRequestV002``.
- ``entries.prepare_entry`` on a request whose certificate is the input and whose signature is made by
  that certificate's key (anyone may log what they sign, so what ``index_keys`` reads behind the
  signature check, SANs and Sigstore extensions, is outside input too). Seeds: the real Fulcio
  leaves of tests/data with their SubjectPublicKeyInfo replaced by the signing key's, so that
  mutations outside the key keep the signature valid.
- ``api.search_keys`` on a query string (``GET /api/v2/search``) and ``tlog.resources.parse`` on
  a tile path (``GET /tile/...``), the other parsers of the log's outside input.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any
from urllib.parse import quote_from_bytes

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from flask import Flask

from sigstack.services.rekor2.api import search_keys
from sigstack.services.rekor2.entries import ALGORITHMS, prepare_entry
from sigstack.services.tlog import resources
from tests.support.entries import v2_dsse, v2_hashedrekord, v2_request
from tests.support.spellings import snake_case
from tests.support.testdata import TESTDATA

from . import seeds
from .core import Target, property_tests, text
from .mutate import der_parse, der_write

DIGEST = hashlib.sha256(b"fuzz").digest()
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
CURVES = {"secp256r1": "PKIX_ECDSA_P256_SHA_256", "secp384r1": "PKIX_ECDSA_P384_SHA_384",
          "secp521r1": "PKIX_ECDSA_P521_SHA_512"}  # fmt: skip


def _dumps(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()


@functools.cache
def _key() -> ec.EllipticCurvePrivateKey:
    """The signing key of the certificate target (fixed, so its seeds are the same each run)."""
    return ec.derive_private_key(0x5EED, ec.SECP256R1())


@functools.cache
def _signature() -> bytes:
    return _key().sign(
        DIGEST, ec.ECDSA(utils.Prehashed(hashes.SHA256()), deterministic_signing=True)
    )


def _v2_from_bundle(bundle: dict[str, Any]) -> dict[str, Any] | None:
    """The v2 request that logs a bundle's message signature with its leaf certificate."""
    material = bundle.get("verificationMaterial", {})
    leaf = material.get("certificate") or next(
        iter(material.get("x509CertificateChain", {}).get("certificates", [])), None
    )
    signed = bundle.get("messageSignature", {})
    if leaf is None or "messageDigest" not in signed:
        return None
    der = base64.b64decode(leaf["rawBytes"])
    key = x509.load_der_x509_certificate(der).public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        return None
    digest = base64.b64decode(signed["messageDigest"]["digest"])
    details = CURVES[key.curve.name]
    if len(digest) != ALGORITHMS[details].digest_size:
        return None  # (a P-384 key over a SHA-256 digest: no v2 log takes it)
    signature = base64.b64decode(signed["signature"])
    return v2_request(digest, signature, der, key_details=details)


def _v2_from_rekor_tiles(bundle: dict[str, Any]) -> dict[str, Any]:
    """The request a client sent to rekor-tiles for a v2 bundle (a DSSE one logs its PAE)."""
    logged = json.loads(base64.b64decode(bundle["verificationMaterial"]["tlogEntries"][0][
        "canonicalizedBody"]))["spec"]["hashedRekordV002"]  # fmt: skip
    der = base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"])
    if "dsseEnvelope" not in bundle:
        request = _v2_from_bundle(bundle)
        assert request is not None
        return request
    env = bundle["dsseEnvelope"]
    payload, ptype = base64.b64decode(env["payload"]), env["payloadType"]
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
    signature = base64.b64decode(env["signatures"][0]["sig"])
    details = logged["signature"]["verifier"]["keyDetails"]
    return v2_request(hashlib.sha256(pae).digest(), signature, der, key_details=details)


def _algorithm_requests() -> list[dict[str, Any]]:
    """One request per algorithm of entries.ALGORITHMS, signed with a bare key of its kind."""
    out = []
    for name, algorithm in ALGORITHMS.items():
        digest = hashlib.new(algorithm.hash, b"fuzz").digest()
        prehashed = utils.Prehashed(getattr(hashes, algorithm.hash.upper())())
        key: Any
        if algorithm.curve:
            key = ec.generate_private_key(getattr(ec, algorithm.curve.upper())())
            signature = key.sign(digest, ec.ECDSA(prehashed))
        else:
            key = rsa.generate_private_key(65537, algorithm.rsa_bits or 2048)
            signature = key.sign(digest, padding.PKCS1v15(), prehashed)
        der = key.public_key().public_bytes(*SPKI)
        out.append(v2_request(digest, signature, der, certificate=False, key_details=name))
    return out


@functools.cache
def request_seeds() -> list[bytes]:
    cases = TESTDATA / "pyassets" / "cases"
    real = [
        _v2_from_rekor_tiles(json.loads((cases / name / "bundle.sigstore.json").read_text()))
        for name in ("staging-rekor-v2-happy-path", "staging-rekor-v2-dsse-happy-path")
    ]
    for raw in seeds.bundles():
        try:
            made = _v2_from_bundle(json.loads(raw))
        except (ValueError, KeyError, TypeError):
            continue  # the assets include malformed bundles on purpose
        if made is not None:
            real.append(made)
    made_here = [
        v2_hashedrekord(b"artifact").request,
        v2_hashedrekord(b"artifact", with_certificate=False).request,
        v2_dsse(b'{"_type": "https://in-toto.io/Statement/v1"}').request,
        snake_case(v2_hashedrekord(b"snake").request),
        {"dsseRequestV002": {"envelope": {"payload": "e30=", "payloadType": "x"}}},
        *_algorithm_requests(),
    ]
    return list(dict.fromkeys(_dumps(r) for r in real + made_here))


def _rekeyed(der: bytes) -> bytes | None:
    """``der`` (a certificate) with the SubjectPublicKeyInfo of ``_key()``; None if it has no
    version 3 TBSCertificate to edit."""
    tree = der_parse(der, 0, len(der), 0)
    key = _key().public_key().public_bytes(*SPKI)
    spki = der_parse(key, 0, len(key), 0)
    if not tree or not spki or not isinstance(tree[0][1], list):
        return None
    tbs = tree[0][1][0][1]
    if not isinstance(tbs, list) or len(tbs) < 7 or tbs[0][0] != 0xA0:
        return None
    tbs[6] = spki[0]
    return der_write(tree)


@functools.cache
def certificate_seeds() -> list[bytes]:
    out = []
    for der in seeds.certificates():
        rekeyed = _rekeyed(der)
        if rekeyed is None:
            continue
        try:
            _signed_certificate(rekeyed)
        except Exception:  # noqa: BLE001, S112 - a seed must be a certificate the log takes
            continue
        out.append(rekeyed)
    assert len(out) >= 5, "too few real certificates to seed the certificate target"
    return out


def _signed_certificate(der: bytes) -> None:
    """A request logging ``der`` as the certificate of a signature by ``_key()``."""
    prepare_entry(_dumps(v2_request(DIGEST, _signature(), der)))


@functools.cache
def _app() -> Flask:
    return Flask(__name__)


_PRINTABLE = bytes(range(0x21, 0x7F))


def _search(data: bytes) -> None:
    """``data`` as the query string a server hands the app (PEP 3333: the raw bytes as a latin-1
    str). granian and gunicorn refuse a request target that is not UTF-8 (400, before the app),
    so bytes that are not UTF-8 arrive percent-encoded, as a client has to send them."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        data = quote_from_bytes(data, safe=_PRINTABLE).encode()
    raw = {"QUERY_STRING": data.decode("latin-1")}
    with _app().test_request_context("/api/v2/search", environ_overrides=raw):
        search_keys()


def search_seeds() -> list[bytes]:
    return [
        b"digest=sha256:" + DIGEST.hex().encode() + b"&operator=and&limit=5",
        b"digest=" + hashlib.sha512(b"x").hexdigest().encode() + b"&after=3",
        b"publicKey=sha256%3A" + b"ab" * 32 + b"&identity=alice%40example.com",
        b"identity=https%3A%2F%2Fgithub.com%2Fo%2Fr%2F.github%2Fworkflows%2Fci.yml%40refs%2Fheads"
        b"%2Fmain&issuer=https%3A%2F%2Ftoken.actions.githubusercontent.com&operator=or",
    ]


def tile_seeds() -> list[bytes]:
    return [b"0/000", b"0/x001/x234/067.p/5", b"entries/000.p/3", b"63/x999/999", b"1/000.p/255"]


TARGETS = [
    Target("prepare_entry(CreateEntryRequest)", prepare_entry, request_seeds),
    Target("prepare_entry(certificate, signed)", _signed_certificate, certificate_seeds),
    Target("search_keys(query string)", _search, search_seeds),
    Target("resources.parse(tile path)", lambda d: resources.parse(text(d)), tile_seeds),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=700)
