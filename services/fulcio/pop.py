"""Proof of possession: the client's public key, its signature over the principal name, CSRs, and
the (key, hash) allow-list (fulcio.md section 2).

Keys, hashes and algorithm names are the algorithm registry's (``protocol.keys``), which the logs
and the client read too. Public-key path: the hash comes from the key alone (its usual algorithm:
P-256 -> SHA-256, P-384 -> SHA-384, P-521 -> SHA-512, RSA -> PKCS#1 v1.5 SHA-256, Ed25519 -> pure);
ECDSA signatures are accepted in DER or as raw r||s. CSR path: the CSR's self-signature is checked
and its (key, hash) must be an algorithm of the registry in the allow-list; RSA-PSS CSRs are
refused. Every failure raises ``ValidationError`` with Fulcio's client message.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import SignatureAlgorithmOID

from sigstack.protocol import keys, protojson
from sigstack.protocol.errors import ValidationError, VerificationError

from .errors import MSG_CSR_PARSE, MSG_KEY_INSECURE, MSG_KEY_PARSE, MSG_SIGNATURE, client_error

DEFAULT_ALGORITHMS = (
    "ecdsa-sha2-256-nistp256",
    "ecdsa-sha2-384-nistp384",
    "ecdsa-sha2-512-nistp521",
    "rsa-sign-pkcs1-2048-sha256",
    "rsa-sign-pkcs1-3072-sha256",
    "rsa-sign-pkcs1-4096-sha256",
    "ed25519",
)
KNOWN_ALGORITHMS = (*DEFAULT_ALGORITHMS, "ecdsa-sha2-256-nistp384", "ecdsa-sha2-256-nistp521")
_GO_HASH = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512", "sha1": "SHA-1"}
_GO_SIG = {
    SignatureAlgorithmOID.RSASSA_PSS: "SHA256-RSAPSS",
    SignatureAlgorithmOID.RSA_WITH_SHA1: "SHA1-RSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "ECDSA-SHA1",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "DSA-SHA256",
}
_ACCEPTED_CSR_SIGS = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256, SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512, SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384, SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ED25519,
}  # fmt: skip

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def b64decode(value: str, what: str, message: str) -> bytes:
    """protojson ``bytes`` (``protojson.b64decode``: standard or URL-safe alphabet, padding
    optional), refused with Fulcio's client ``message``."""
    if not isinstance(value, str):
        raise client_error(message, f"{what} is not a string")
    try:
        return protojson.b64decode(value, what)
    except ValidationError as exc:
        raise client_error(message, f"{what} is not base64") from exc


def parse_public_key(content: bytes) -> PublicKey:
    """PEM (SPKI or PKCS#1 RSA) first, then DER; the key type must be one Fulcio can certify."""
    key = None
    for load in (serialization.load_pem_public_key, serialization.load_der_public_key):
        try:
            key = load(content)
            break
        except (ValueError, UnsupportedAlgorithm, TypeError):
            continue
    if key is None:
        raise client_error(MSG_KEY_PARSE, "public key is neither PEM nor DER")
    return _certifiable(key)


def _certifiable(key: object) -> PublicKey:
    """``key`` as a key type Fulcio certifies (``check_key``)."""
    check_key(key)
    if not isinstance(key, PublicKey):  # check_key let no other type through
        raise client_error(MSG_KEY_INSECURE, f"key type {type(key).__name__} is not allowed")
    return key


def check_key(key: object) -> keys.Algorithm:
    """goodkey: RSA 2048/3072/4096, ECDSA P-256/384/521, Ed25519 (a key whose usual algorithm
    has a name in the registry); anything else is insecure. Returns that algorithm."""
    try:
        algorithm = keys.Algorithm.for_key(key)
    except ValidationError:
        algorithm = None
    if algorithm is None or not algorithm.registry_name:  # no name: an RSA size of no algorithm
        raise client_error(MSG_KEY_INSECURE, f"key type {type(key).__name__} is not allowed")
    return algorithm


def _ecdsa_der(signature: bytes) -> list[bytes]:
    forms = [signature]
    if len(signature) % 2 == 0 and 0 < len(signature) <= 132:
        half = len(signature) // 2
        r = int.from_bytes(signature[:half], "big")
        s = int.from_bytes(signature[half:], "big")
        forms.append(encode_dss_signature(r, s))
    return forms


def verify_proof(key: PublicKey, signature: bytes, name: str) -> None:
    """Check the proof of possession: ``signature`` by ``key`` over the UTF-8 principal name,
    with the key's usual algorithm (``keys.verify``)."""
    message = name.encode("utf-8")
    algorithm = check_key(key)
    forms = _ecdsa_der(signature) if isinstance(key, ec.EllipticCurvePublicKey) else [signature]
    for form in forms:
        try:
            keys.verify(key, form, message, algorithm)
            return
        except VerificationError:
            continue
    raise client_error(MSG_SIGNATURE, "proof of possession does not verify")


def default_hash(key: PublicKey) -> str | None:
    """The hash the public-key path implies for ``key`` (``None`` = pure Ed25519)."""
    return check_key(key).hash


def parse_csr(pem: bytes) -> tuple[PublicKey, str | None]:
    """Parse and self-verify a PEM CSR; returns its key and signature hash (``None`` for Ed25519)."""
    text = pem.strip()
    if not (
        text.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")
        or text.startswith(b"-----BEGIN NEW CERTIFICATE REQUEST-----")
    ):
        raise client_error(MSG_CSR_PARSE, "CSR is not PEM CERTIFICATE REQUEST")
    if text.startswith(b"-----BEGIN NEW"):
        text = text.replace(b"NEW CERTIFICATE REQUEST", b"CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(text)
        oid = csr.signature_algorithm_oid
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise client_error(MSG_CSR_PARSE, "CSR does not parse") from exc
    if oid not in _ACCEPTED_CSR_SIGS:
        name = _GO_SIG.get(oid, oid.dotted_string)
        raise client_error(f"unrecognized signature algorithm: {name}", "CSR signature algorithm")
    public_key = _certifiable(key)
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise client_error(MSG_SIGNATURE, "CSR self-signature does not verify")
    digest = csr.signature_hash_algorithm
    return public_key, (digest.name if digest is not None else None)


def algorithm_name(key: PublicKey, hash_name: str | None) -> str | None:
    """Registry name of a (key, hash) pair, e.g. ``ecdsa-sha2-256-nistp256``; ``None`` when the
    registry has no such algorithm."""
    try:
        return keys.Algorithm.for_key(key, hash_name).registry_name or None
    except ValidationError:
        return None


def check_allowed(key: PublicKey, hash_name: str | None, allowed: Iterable[str]) -> None:
    """Refuse a (key, hash) pair not in ``allowed`` with Fulcio's Go-flavoured message."""
    name = algorithm_name(key, hash_name)
    if name is not None and name in set(allowed):
        return
    go_type = (
        "*ecdsa.PublicKey" if isinstance(key, ec.EllipticCurvePublicKey)
        else "*rsa.PublicKey" if isinstance(key, rsa.RSAPublicKey)
        else "ed25519.PublicKey"
    )  # fmt: skip
    go_hash = _GO_HASH.get(hash_name or "", "unknown hash value 0")
    raise client_error(f"signing algorithm not permitted: {go_type}, {go_hash}", "allow-list")
