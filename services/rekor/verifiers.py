"""Public keys and certificates inside Rekor entries: parsing, canonical PEM, signature checks.

A "verifier" in an entry is base64 of PEM: either a SubjectPublicKeyInfo or an X.509 certificate
(optionally a chain of up to 10, leaf first, each issued by the next). Its canonical form is the PEM
re-encoded the way Go's ``pem.Encode`` writes it (which is also what ``cryptography`` writes), so
equal keys give equal entry bodies. Index keys taken from certificates are their SANs, lower-cased.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.protocol import x509ext
from sigstack.protocol.errors import ValidationError

MAX_CHAIN = 10
HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def b64decode(value: object, what: str) -> bytes:
    """Strict standard base64 (padding required); ValidationError names the field."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a non-empty base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"{what} is not valid base64") from exc


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Verifier:
    key: PublicKeyTypes
    canonical_pem: bytes
    certificates: tuple[x509.Certificate, ...]

    @property
    def key_hash(self) -> str:
        """Lower-case hex SHA-256 of the canonical PEM (Rekor's public-key index key)."""
        return hashlib.sha256(self.canonical_pem).hexdigest()

    def subjects(self) -> list[str]:
        if not self.certificates:
            return []
        try:
            san = (
                self.certificates[0]
                .extensions.get_extension_for_class(x509.SubjectAlternativeName)
                .value
            )
        except x509.ExtensionNotFound:
            return []
        out: list[str] = []
        for name in san:
            if isinstance(name, x509.OtherName):
                try:
                    out.append(_der_utf8(name.value))
                except ValueError:
                    continue
            elif isinstance(name.value, ipaddress.IPv4Address | ipaddress.IPv6Address):
                out.append(str(name.value))
            elif isinstance(name.value, str):
                out.append(name.value)
        return [s.lower() for s in out]

    def verify_digest(self, signature: bytes, digest: bytes, algorithm: str) -> None:
        """Verify a signature over a pre-computed digest (hashedrekord)."""
        check_pair(self.key, algorithm)
        prehashed = utils.Prehashed(HASHES[algorithm])
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, digest, ec.ECDSA(prehashed))
            elif isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, digest, padding.PKCS1v15(), prehashed)
            else:  # check_pair let nothing else through
                raise ValidationError("unsupported key type")
        except InvalidSignature as exc:
            raise ValidationError("signature does not verify with the given key") from exc

    def verify_message(self, signature: bytes, message: bytes) -> None:
        """Verify a signature over a whole message (DSSE PAE), hashing with SHA-256."""
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            elif isinstance(self.key, rsa.RSAPublicKey):
                self.key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, message)
            else:
                raise ValidationError("unsupported key type")
        except InvalidSignature as exc:
            raise ValidationError("signature does not verify with the given key") from exc


def _der_utf8(der: bytes) -> str:
    if len(der) < 2 or der[0] != 0x0C:
        raise ValueError("not a UTF8String")
    length, pos = der[1], 2
    if length & 0x80:
        n = length & 0x7F
        length, pos = int.from_bytes(der[2 : 2 + n], "big"), 2 + n
    return der[pos : pos + length].decode()


def check_pair(key: PublicKeyTypes, algorithm: str) -> None:
    """Refuse key / digest combinations outside Rekor's default client-signing-algorithms list."""
    allowed = False
    if isinstance(key, ec.EllipticCurvePublicKey):
        allowed = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}.get(
            key.curve.name
        ) == algorithm
    elif isinstance(key, rsa.RSAPublicKey):
        allowed = key.key_size >= 2048 and algorithm == "sha256"
    if not allowed:
        raise ValidationError("entry algorithms are not allowed")


def load_verifier(encoded: object, what: str = "publicKey.content") -> Verifier:
    """Parse base64(PEM public key or certificate chain) into a Verifier."""
    pem = b64decode(encoded, what)
    if b"-----BEGIN CERTIFICATE-----" in pem:
        try:
            certs = x509.load_pem_x509_certificates(pem)
        except (ValueError, x509.InvalidVersion) as exc:
            raise ValidationError(f"{what} holds an unreadable certificate") from exc
        if not 1 <= len(certs) <= MAX_CHAIN:
            raise ValidationError(f"{what} must hold 1 to {MAX_CHAIN} certificates")
        for cert in certs:  # parsed now, so that reading the SANs later cannot fail
            try:
                x509ext.extensions(cert)
            except ValidationError as exc:
                raise ValidationError(f"{what}: {exc.message}") from None
        for child, parent in zip(certs, certs[1:], strict=False):
            try:
                child.verify_directly_issued_by(parent)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as exc:
                raise ValidationError(f"{what}: certificate chain does not verify") from exc
        try:
            key = certs[0].public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise ValidationError(f"{what}: unsupported certificate key") from exc
        canonical = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
        _check_key(key, what)
        return Verifier(key, canonical, tuple(certs))
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{what} is not a PEM public key or certificate") from exc
    _check_key(key, what)
    canonical = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Verifier(key, canonical, ())


def _check_key(key: PublicKeyTypes, what: str) -> None:
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise ValidationError("entry algorithms are not allowed")
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ValidationError(f"{what}: unsupported key type")


def load_der_verifier(der: bytes, *, certificate: bool, what: str) -> Verifier:
    """A Verifier for the DER forms Rekor v2 entries carry: one X.509 certificate
    (``x509Certificate.rawBytes``), read as its PEM form is (``load_verifier``), or a
    SubjectPublicKeyInfo (``publicKey.rawBytes``) with the same key checks."""
    if certificate:
        body = b64(der)
        lines = "".join(f"{body[i : i + 64]}\n" for i in range(0, len(body), 64))
        pem = f"-----BEGIN CERTIFICATE-----\n{lines}-----END CERTIFICATE-----\n"
        return load_verifier(b64(pem.encode()), what)
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{what} is not a DER public key") from exc
    _check_key(key, what)
    canonical = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Verifier(key, canonical, ())
