"""Rekor v2 write requests: validate a ``CreateEntryRequest``, verify its signature, build the entry.

The request is proto3 JSON of ``dev.sigstore.rekor.v2.CreateEntryRequest`` (rekor-tiles
api/proto/rekor/v2): field names in lowerCamelCase or snake_case, ``bytes`` in base64, enums by
name; unknown fields are refused, as rekor-tiles' protojson (DiscardUnknown false) does. Only
``hashedRekordRequestV002`` is accepted: rekor-tiles takes nothing else, and clients log a DSSE
envelope as a hashedrekord over its pre-authentication encoding (PAE) with the envelope's
signature.

Checks, in order, every failure a ``ValidationError`` (400) naming what is wrong:
- ``keyDetails`` is one of the log's signing algorithms (``ALGORITHMS``, narrowed by the
  operator's ``signing_algorithms``) and names the key's actual type and size;
- the digest has the length of that algorithm's hash;
- the verifier is one DER certificate or one canonical DER SubjectPublicKeyInfo
  (``services.rekor.verifiers``, the checks the v1 log applies to its PEM forms);
- the signature verifies over the digest;
- the entry fits a C2SP entry bundle (at most 65,535 bytes).

The entry logged (``Prepared.body``) is RFC 8785 JSON of the ``hashedrekord`` 0.0.2 ``Entry`` as
protojson writes it, ``{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":
{"data":{"algorithm","digest"},"signature":{"content","verifier":{"keyDetails",
"x509Certificate"|"publicKey":{"rawBytes"}}}}}}``: the bytes clients rebuild and compare when they
verify a bundle, so certificates are kept exactly as sent.

``Prepared.index_keys`` are the search keys of the entry (``services.rekor2.log``):
``<sha256|sha384|sha512>:<hex digest>``, ``key:<hex SHA-256 of the DER public key>``,
``id:<certificate SAN>`` and ``issuer:<OIDC issuer of a Fulcio certificate>``, lower-cased.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from sigstack.protocol import keys, x509ext
from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.protocol.protojson import Reader, b64, camel
from sigstack.protocol.strictjson import loads_object
from sigstack.services.rekor.verifiers import Verifier, load_der_verifier
from sigstack.services.tlog.engine import MAX_LEAF

KIND, VERSION = "hashedrekord", "0.0.2"
INVALID = "invalid hashedrekord request"
MAX_INDEX_KEYS = 256
MAX_KEY_CHARS = 512  # the search index's key column


# The algorithm registry (protocol.keys) narrowed to what a hashedrekord carries and this log can
# verify: Rekor's default client signing algorithms for digests; see REFUSED. Each is a
# keys.Algorithm: ``hash`` (hashlib name), ``proto_hash`` (the logged HashAlgorithm),
# ``digest_size``, ``fits(key)`` (the key's type, curve or RSA size).
ALGORITHMS: dict[str, keys.Algorithm] = {
    name: keys.ALGORITHMS[name]
    for name in (
        "PKIX_ECDSA_P256_SHA_256",
        "PKIX_ECDSA_P384_SHA_384",
        "PKIX_ECDSA_P521_SHA_512",
        "PKIX_RSA_PKCS1V15_2048_SHA256",
        "PKIX_RSA_PKCS1V15_3072_SHA256",
        "PKIX_RSA_PKCS1V15_4096_SHA256",
    )
}
REFUSED = {
    "PKIX_ED25519": "Ed25519 signs whole messages and a hashedrekord carries only a digest "
    "(Ed25519 keys sign hashedrekord entries as PKIX_ED25519_PH)",
    "PKIX_ED25519_PH": "this log cannot verify Ed25519ph signatures (the cryptography library "
    "has no Ed25519ph); sign with an ECDSA or RSA key",
}


def signing_algorithms(config: object) -> frozenset[str]:
    """The operator's ``signing_algorithms`` (a comma-separated string or a list; empty or None
    for every algorithm of ``ALGORITHMS``); ConfigError for a name outside it."""
    if not config:
        return frozenset(ALGORITHMS)
    names = config.split(",") if isinstance(config, str) else config
    if not isinstance(names, list | tuple):
        raise ConfigError("signing_algorithms must be a comma-separated string or a list")
    chosen = frozenset(str(n).strip() for n in names if str(n).strip())
    unknown = sorted(chosen - set(ALGORITHMS))
    if unknown or not chosen:
        raise ConfigError(
            f"signing_algorithms: {', '.join(unknown) or 'none given'}; choose among "
            f"{', '.join(ALGORITHMS)}"
        )
    return chosen


@dataclass(frozen=True)
class Prepared:
    body: bytes
    index_keys: tuple[str, ...]
    signers: tuple[Verifier, ...] = ()  # the verifier (for the operator's trusted_ca_file)


@functools.cache
def _known(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(n for name in names for n in (name, camel(name)))


def _fields(value: object, path: str, names: tuple[str, ...]) -> Reader:
    """A Reader over an object that may hold only the proto fields ``names`` (snake_case)."""
    reader = Reader(value, path)
    known = _known(names)
    assert isinstance(value, dict)  # Reader refused anything else
    for key in value:
        if key not in known:
            raise ValidationError(f"{INVALID}: {path} has an unknown field {key[:64]!r}")
    return reader


def _request(raw: bytes) -> Reader:
    top = _fields(
        loads_object(raw, "request body"),
        "request",
        ("hashed_rekord_request_v002", "dsse_request_v002"),
    )
    if top.has("dsse_request_v002"):
        raise ValidationError(
            "invalid type, must be hashedrekord (log a DSSE envelope as a hashedrekord over its "
            "PAE, signed by the envelope's signature)"
        )
    if not top.has("hashed_rekord_request_v002"):
        raise ValidationError(f"{INVALID}: hashedRekordRequestV002 is required")
    return top


def _verifier(r: Reader, allowed: frozenset[str]) -> tuple[Verifier, keys.Algorithm, str, bytes]:
    """The verifier, the algorithm its ``keyDetails`` names, and its logged form: the field
    (``x509Certificate`` or ``publicKey``) and the DER as sent."""
    v = _fields(r.raw("verifier"), r.where("verifier"), ("public_key", "x509_certificate",
                                                          "key_details"))  # fmt: skip
    details = v.raw("key_details")
    if not isinstance(details, str) or not details:
        raise ValidationError(
            f"{INVALID}: {v.where('key_details')} must name a PublicKeyDetails value"
        )
    algorithm = _algorithm(details, allowed)
    has_key, has_cert = v.has("public_key"), v.has("x509_certificate")
    if has_key == has_cert:
        raise ValidationError(f"{INVALID}: the verifier needs one of publicKey and x509Certificate")
    name = "x509_certificate" if has_cert else "public_key"
    holder = _fields(v.raw(name), v.where(name), ("raw_bytes",))
    der = holder.blob("raw_bytes")
    where = holder.where("raw_bytes")
    verifier = load_der_verifier(der, certificate=has_cert, what=where)
    if not has_cert and keys.spki_der(verifier.key) != der:
        raise ValidationError(f"{INVALID}: {where} is not a DER SubjectPublicKeyInfo")
    if not algorithm.fits(verifier.key):
        raise ValidationError(f"{INVALID}: keyDetails {algorithm.name} does not describe the key")
    return verifier, algorithm, camel(name), der


def _algorithm(details: str, allowed: frozenset[str]) -> keys.Algorithm:
    if details in REFUSED:
        raise ValidationError(
            f"{INVALID}: keyDetails {details} is not accepted: {REFUSED[details]}"
        )
    if details not in allowed:
        raise ValidationError(
            f"{INVALID}: keyDetails {details[:64]} is not one of this log's signing algorithms "
            f"({', '.join(sorted(allowed))})"
        )
    return ALGORITHMS[details]


def prepare_entry(raw: bytes, allowed: frozenset[str] = frozenset(ALGORITHMS)) -> Prepared:
    """Validate a CreateEntryRequest body and return the entry to log and its search keys."""
    try:
        return _prepare(raw, allowed)
    except ValidationError as exc:
        if exc.message.startswith((INVALID, "invalid type")):
            raise
        raise ValidationError(f"{INVALID}: {exc.message}") from None


def _prepare(raw: bytes, allowed: frozenset[str]) -> Prepared:
    request = _request(raw)
    spec = _fields(request.raw("hashed_rekord_request_v002"), "hashedRekordRequestV002",
                   ("digest", "signature"))  # fmt: skip
    digest = spec.blob("digest")
    sig = _fields(spec.raw("signature"), spec.where("signature"), ("content", "verifier"))
    content = sig.blob("content")
    if not content:
        raise ValidationError(f"{INVALID}: {sig.where('content')} is empty")
    verifier, algorithm, field, der = _verifier(sig, allowed)
    details = algorithm.name
    hash_name = algorithm.hash
    if hash_name is None:  # not in ALGORITHMS, whose algorithms all sign digests
        raise ValidationError(f"{INVALID}: keyDetails {details} signs no digest")
    if len(digest) != algorithm.digest_size:
        raise ValidationError(
            f"{INVALID}: the digest is {len(digest)} bytes; {details} signs a "
            f"{algorithm.digest_size}-byte {algorithm.proto_hash} digest"
        )
    try:
        verifier.verify_digest(content, digest, hash_name)
    except ValidationError as exc:
        raise ValidationError(f"{INVALID}: {exc.message}") from None
    body = entry_body(algorithm, digest, content, field, der)
    if len(body) > MAX_LEAF:
        raise ValidationError(
            f"{INVALID}: the entry would be {len(body)} bytes; a log entry holds at most "
            f"{MAX_LEAF} bytes"
        )
    return Prepared(body, index_keys(verifier, hash_name, digest), (verifier,))


def entry_body(
    algorithm: keys.Algorithm, digest: bytes, content: bytes, field: str, der: bytes
) -> bytes:
    """The logged entry (module docstring) as RFC 8785 JSON, written out: every value is base64
    or a name of the registry (nothing to escape) and the keys are already in RFC 8785 order, so
    the bytes are those of the canonicalizer over the entry's dict (tests/unit/rekor2/
    test_entries.py) in 2.6 instead of 17.9 us."""
    proto_hash = algorithm.proto_hash
    if proto_hash is None or field not in ("x509Certificate", "publicKey"):
        raise ValueError(f"no hashedrekord entry with {algorithm.name} and {field}")
    return "".join((
        '{"apiVersion":"', VERSION, '","kind":"', KIND, '","spec":{"hashedRekordV002":{"data":',
        '{"algorithm":"', proto_hash, '","digest":"', b64(digest), '"},"signature":',
        '{"content":"', b64(content), '","verifier":{"keyDetails":"', algorithm.name, '","',
        field, '":{"rawBytes":"', b64(der), '"}}}}}}',
    )).encode()  # fmt: skip


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def index_keys(verifier: Verifier, hash_name: str, digest: bytes) -> tuple[str, ...]:
    """The entry's search keys (module docstring): lower-cased, unique, each at most
    MAX_KEY_CHARS long (longer SANs are not indexed). An entry whose certificate names an
    identity with a control character (which a PostgreSQL text column cannot hold), or that
    would add more than MAX_INDEX_KEYS keys, is refused before it reaches a batch."""
    key_id = keys.key_id(verifier.key)
    found = [f"{hash_name}:{digest.hex()}", f"key:{key_id.hex()}"]
    found += [f"id:{s}" for s in verifier.subjects()]
    if verifier.certificates:
        issuer = x509ext.oidc_issuer(verifier.certificates[0])
        if issuer:
            found.append(f"issuer:{issuer.lower()}")
    unique = tuple(dict.fromkeys(k for k in found if len(k) <= MAX_KEY_CHARS))
    if any(_CONTROL.search(k) for k in unique):
        raise ValidationError(
            f"{INVALID}: the certificate names an identity with a control character"
        )
    if len(unique) > MAX_INDEX_KEYS:
        raise ValidationError(
            f"{INVALID}: the certificate names {len(unique)} identities; the log indexes at most "
            f"{MAX_INDEX_KEYS} search keys per entry"
        )
    return unique


__all__ = ["ALGORITHMS", "INVALID", "KIND", "REFUSED", "VERSION", "Prepared", "prepare_entry",
           "signing_algorithms"]  # fmt: skip
