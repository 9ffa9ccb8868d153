"""Public keys and certificates inside Rekor entries: parsing, canonical PEM, signature checks.

A "verifier" in an entry is base64 of PEM: either a SubjectPublicKeyInfo or an X.509 certificate
(optionally a chain of up to 10, leaf first, each issued by the next). Its canonical form is the PEM
re-encoded the way Go's ``pem.Encode`` writes it (which is also what ``cryptography`` writes), so
equal keys give equal entry bodies. Index keys taken from certificates are their SANs, lower-cased.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.protocol import keys, x509ext
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.protojson import strict_b64decode

MAX_CHAIN = 10
HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
# Rekor's default --client-signing-algorithms that sign a digest (a hashedrekord): the names of
# the algorithm registry (protocol.keys); Ed25519 signs whole messages and Ed25519ph cannot be
# verified here (keys.REFUSED)
DIGEST_ALGORITHMS = frozenset(
    {
        "ecdsa-sha2-256-nistp256",
        "ecdsa-sha2-384-nistp384",
        "ecdsa-sha2-512-nistp521",
        "rsa-sign-pkcs1-2048-sha256",
        "rsa-sign-pkcs1-3072-sha256",
        "rsa-sign-pkcs1-4096-sha256",
    }
)
NOT_ALLOWED = "entry algorithms are not allowed"


def b64decode(value: object, what: str) -> bytes:
    """Strict standard base64 (padding required, ``strict_b64decode``), and not empty;
    ValidationError names the field."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a non-empty base64 string")
    return strict_b64decode(value, what)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Verifier:
    key: keys.PublicKey
    certificates: tuple[x509.Certificate, ...]

    @cached_property
    def canonical_pem(self) -> bytes:
        """The PEM the v1 log records: the certificates (leaf first), else the public key.
        Made when first asked for: a Rekor v2 entry keeps its DER as sent and never needs it."""
        if self.certificates:
            return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.certificates)
        return keys.spki_pem(self.key)

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
        verify(self.key, signature, digest, check_pair(self.key, algorithm), prehashed=True)

    def verify_message(self, signature: bytes, message: bytes) -> None:
        """Verify a signature over a whole message (DSSE PAE): SHA-256 for ECDSA of every curve
        and RSA, as Rekor's DSSE types load their verifiers; Ed25519 over the message itself."""
        if isinstance(self.key, ed25519.Ed25519PublicKey):
            algorithm = keys.ALGORITHMS["PKIX_ED25519"]
        else:
            try:
                algorithm = keys.Algorithm.for_key(self.key, "sha256")
            except ValidationError:
                raise ValidationError("unsupported key type") from None
        verify(self.key, signature, message, algorithm)


def verify(
    key: PublicKeyTypes,
    signature: bytes,
    message: bytes,
    algorithm: keys.Algorithm,
    prehashed: bool = False,
) -> None:
    """``keys.verify`` with the log's client message for a signature that does not verify."""
    try:
        keys.verify(key, signature, message, algorithm, prehashed=prehashed)
    except VerificationError as exc:
        raise ValidationError("signature does not verify with the given key") from exc


def _der_utf8(der: bytes) -> str:
    if len(der) < 2 or der[0] != 0x0C:
        raise ValueError("not a UTF8String")
    length, pos = der[1], 2
    if length & 0x80:
        n = length & 0x7F
        length, pos = int.from_bytes(der[2 : 2 + n], "big"), 2 + n
    return der[pos : pos + length].decode()


def check_pair(key: PublicKeyTypes, algorithm: str) -> keys.Algorithm:
    """The registry algorithm of a key and digest, refused unless it is one of Rekor's default
    client signing algorithms for digests (``DIGEST_ALGORITHMS``)."""
    try:
        found = keys.Algorithm.for_key(key, algorithm)
    except ValidationError:
        raise ValidationError(NOT_ALLOWED) from None
    if found.registry_name not in DIGEST_ALGORITHMS:
        raise ValidationError(NOT_ALLOWED)
    return found


def load_verifier(encoded: object, what: str = "publicKey.content") -> Verifier:
    """Parse base64(PEM public key or certificate chain) into a Verifier."""
    pem = b64decode(encoded, what)
    if b"-----BEGIN CERTIFICATE-----" in pem:
        try:
            certs = x509.load_pem_x509_certificates(pem)
        except (ValueError, x509.InvalidVersion) as exc:
            raise ValidationError(f"{what} holds an unreadable certificate") from exc
        return _certificates_verifier(certs, what)
    try:
        pem_key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{what} is not a PEM public key or certificate") from exc
    key = _check_key(pem_key, what)
    return Verifier(key, ())


def _certificates_verifier(certs: list[x509.Certificate], what: str) -> Verifier:
    """The Verifier of a certificate chain (leaf first), after its checks: 1 to MAX_CHAIN
    certificates whose extensions parse, each issued by the next, a leaf key of a type the
    registry signs with."""
    if not 1 <= len(certs) <= MAX_CHAIN:
        raise ValidationError(f"{what} must hold 1 to {MAX_CHAIN} certificates")
    for cert in certs:  # parsed now, so that reading the SANs later cannot fail
        try:
            x509ext.extensions(cert)
        except ValidationError as exc:
            raise ValidationError(f"{what}: {exc.message}") from None
    for child, parent in zip(certs, certs[1:], strict=False):
        try:
            keys.verify_issued_by(child, parent)
        except VerificationError as exc:
            raise ValidationError(f"{what}: certificate chain does not verify") from exc
    try:
        cert_key = certs[0].public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{what}: unsupported certificate key") from exc
    return Verifier(_check_key(cert_key, what), tuple(certs))


def _check_key(key: PublicKeyTypes, what: str) -> keys.PublicKey:
    """``key``, if of a type some algorithm of the registry signs with
    (``keys.Algorithm.for_key``): RSA from 2048 bits, ECDSA P-256/P-384/P-521, Ed25519."""
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ValidationError(f"{what}: unsupported key type")
    try:
        keys.Algorithm.for_key(key)
    except ValidationError:
        raise ValidationError(NOT_ALLOWED) from None
    return key


def load_der_verifier(der: bytes, *, certificate: bool, what: str) -> Verifier:
    """A Verifier for the DER forms Rekor v2 entries carry: one X.509 certificate
    (``x509Certificate.rawBytes``), with the checks of its PEM form (``load_verifier``), or a
    SubjectPublicKeyInfo (``publicKey.rawBytes``) with the same key checks."""
    if certificate:
        try:
            cert = x509.load_der_x509_certificate(der)
        except (ValueError, x509.InvalidVersion) as exc:
            raise ValidationError(f"{what} holds an unreadable certificate") from exc
        return _certificates_verifier([cert], what)
    try:
        der_key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{what} is not a DER public key") from exc
    key = _check_key(der_key, what)
    return Verifier(key, ())
