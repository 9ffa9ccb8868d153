"""Proof of possession: the client's public key, its signature over the principal name, CSRs, and
the (key, hash) allow-list (fulcio.md section 2).

Public-key path: the hash comes from the key alone (P-256 -> SHA-256, P-384 -> SHA-384, P-521 ->
SHA-512, RSA -> PKCS#1 v1.5 SHA-256, Ed25519 -> pure); ECDSA signatures are accepted in DER or as
raw r||s. CSR path: the CSR's self-signature is checked and its hash must pair with the key in the
allow-list; RSA-PSS CSRs are refused. Every failure raises ``ValidationError`` with Fulcio's
client message.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import SignatureAlgorithmOID

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

_CURVES = {"secp256r1": "nistp256", "secp384r1": "nistp384", "secp521r1": "nistp521"}
_CURVE_HASH = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384, "secp521r1": hashes.SHA512}
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
    """protojson ``bytes``: standard or URL-safe alphabet, padding optional."""
    if not isinstance(value, str):
        raise client_error(message, f"{what} is not a string")
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
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
    check_key(key)
    return key  # type: ignore[return-value]


def check_key(key: object) -> None:
    """goodkey: RSA 2048/3072/4096, ECDSA P-256/384/521, Ed25519; anything else is insecure."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size in (2048, 3072, 4096):
        return
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
        return
    if isinstance(key, ed25519.Ed25519PublicKey):
        return
    raise client_error(MSG_KEY_INSECURE, f"key type {type(key).__name__} is not allowed")


def _ecdsa_der(signature: bytes) -> list[bytes]:
    forms = [signature]
    if len(signature) % 2 == 0 and 0 < len(signature) <= 132:
        half = len(signature) // 2
        r = int.from_bytes(signature[:half], "big")
        s = int.from_bytes(signature[half:], "big")
        forms.append(encode_dss_signature(r, s))
    return forms


def verify_proof(key: PublicKey, signature: bytes, name: str) -> None:
    """Check the proof of possession: ``signature`` by ``key`` over the UTF-8 principal name."""
    message = name.encode("utf-8")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            digest = _CURVE_HASH[key.curve.name]()
            for form in _ecdsa_der(signature):
                try:
                    key.verify(form, message, ec.ECDSA(digest))
                    return
                except (InvalidSignature, ValueError):
                    continue
            raise InvalidSignature()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return
        key.verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise client_error(MSG_SIGNATURE, "proof of possession does not verify") from exc


def default_hash(key: PublicKey) -> str | None:
    """The hash the public-key path implies for ``key`` (``None`` = pure Ed25519)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVE_HASH[key.curve.name].name
    if isinstance(key, rsa.RSAPublicKey):
        return "sha256"
    return None


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
    check_key(key)
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise client_error(MSG_SIGNATURE, "CSR self-signature does not verify")
    digest = csr.signature_hash_algorithm
    return key, (digest.name if digest is not None else None)  # type: ignore[return-value]


def algorithm_name(key: PublicKey, hash_name: str | None) -> str:
    """Registry name of a (key, hash) pair, e.g. ``ecdsa-sha2-256-nistp256``."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        bits = (hash_name or "").removeprefix("sha")
        return f"ecdsa-sha2-{bits}-{_CURVES[key.curve.name]}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-sign-pkcs1-{key.key_size}-{hash_name}"
    return "ed25519" if hash_name is None else f"ed25519-{hash_name}"


def check_allowed(key: PublicKey, hash_name: str | None, allowed: Iterable[str]) -> None:
    """Refuse a (key, hash) pair not in ``allowed`` with Fulcio's Go-flavoured message."""
    if algorithm_name(key, hash_name) in set(allowed):
        return
    go_type = (
        "*ecdsa.PublicKey" if isinstance(key, ec.EllipticCurvePublicKey)
        else "*rsa.PublicKey" if isinstance(key, rsa.RSAPublicKey)
        else "ed25519.PublicKey"
    )  # fmt: skip
    go_hash = _GO_HASH.get(hash_name or "", "unknown hash value 0")
    raise client_error(f"signing algorithm not permitted: {go_type}, {go_hash}", "allow-list")
