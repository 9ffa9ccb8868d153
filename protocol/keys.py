"""Public keys: their encodings, their IDs, the one registry of signing algorithms, and
verify-or-raise for every algorithm in it.

The client and every service take these from here, so that a key encoded, named or checked on
one side is encoded, named and checked the same way on the other:

* ``spki_der`` / ``spki_pem``: the DER and PEM SubjectPublicKeyInfo (RFC 5280 section 4.1.2.7);
  ``load_public_key``: PEM or DER (SubjectPublicKeyInfo, or PKCS#1 for RSA, which the deprecated
  ``PKCS1_RSA_PKCS1V5`` keys of trusted roots use) to a key of a type the registry covers.
* ``key_id``: SHA-256 of the DER SubjectPublicKeyInfo. It is the RFC 6962 log ID (section 3.2),
  the RFC 6962 ``issuer_key_hash`` of a precertificate entry (section 3.2), Rekor v1's log ID and
  the ``key:`` search key of a Rekor v2 entry. (Signed-note key IDs, which a Rekor v2 ``logId`` is,
  are ``protocol.note``'s: they hash a key name too.)
* ``ALGORITHMS``: the signing algorithms sigstack allows, keyed by protobuf-specs
  ``PublicKeyDetails`` name, each with its Sigstore algorithm-registry name
  (``ecdsa-sha2-256-nistp256``; spec: sigstore/architecture-docs algorithm-registry.md), its key
  type and its hash. ``REFUSED`` gives the reason for the names it leaves out on purpose.
  ``Algorithm.named(name)`` looks one up; ``Algorithm.for_key(key, hash)`` finds the one a key
  signs with (its usual hash when none is given: P-256 SHA-256, P-384 SHA-384, P-521 SHA-512, RSA
  SHA-256, Ed25519 none). Each service narrows the registry to its own allow-list by name.
* ``verify(key, signature, message, algorithm, prehashed=...)``: returns nothing or raises
  ``VerificationError`` with a reason; never ``InvalidSignature`` or a bare boolean. ECDSA
  signatures are ASN.1 DER; ``prehashed`` takes ``message`` as the digest (Rekor's hashedrekord).
* ``verify_issued_by(cert, issuer)``: a certificate's signature by its issuer, names included
  (RFC 5280 section 6.1.3 (a)(1) and (a)(4)); X.509 signature algorithms are X.509's, not the
  registry's.

Left to others: which algorithms a service accepts (its configuration), trust decisions (which
keys to verify with), signing (``services.keys`` and the client's signer, which choose their hash
with ``Algorithm.for_key`` too).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from .errors import ValidationError, VerificationError

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

MIN_RSA_BITS = 2048
_HASHES: dict[str, tuple[type[hashes.HashAlgorithm], str, str]] = {
    # hashlib name: (class, protobuf-specs HashAlgorithm, display name)
    "sha256": (hashes.SHA256, "SHA2_256", "SHA-256"),
    "sha384": (hashes.SHA384, "SHA2_384", "SHA-384"),
    "sha512": (hashes.SHA512, "SHA2_512", "SHA-512"),
}
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

ECDSA, ED25519, RSA_PKCS1V15 = "ecdsa", "ed25519", "rsa-pkcs1v15"


def key_type(key: object) -> str:
    """A short human name of a key's type and size, for messages."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {_CURVES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    return type(key).__name__


@dataclass(frozen=True)
class Algorithm:
    """One signing algorithm: a key type (and curve or RSA size) with a hash."""

    name: str  # protobuf-specs PublicKeyDetails
    registry_name: str  # Sigstore algorithm registry; "" for deprecated values without one
    family: str  # ECDSA, ED25519 or RSA_PKCS1V15
    hash: str | None  # hashlib name; None: Ed25519 signs the message itself
    curve: str | None = None  # ECDSA: the cryptography curve name
    rsa_bits: int | None = None  # RSA: the exact size; None: any size from MIN_RSA_BITS
    deprecated: bool = False

    def hash_algorithm(self) -> hashes.HashAlgorithm | None:
        """A fresh ``cryptography`` hash object for this algorithm (``None`` for Ed25519)."""
        return _HASHES[self.hash][0]() if self.hash else None

    @property
    def proto_hash(self) -> str | None:
        """The protobuf-specs ``HashAlgorithm`` name of the hash (``SHA2_256``...)."""
        return _HASHES[self.hash][1] if self.hash else None

    @property
    def digest_size(self) -> int | None:
        digest = self.hash_algorithm()
        return digest.digest_size if digest is not None else None

    def describe(self) -> str:
        """``ECDSA P-256 with SHA-256``, ``Ed25519``, ``RSA-3072 PKCS#1 v1.5 with SHA-256``."""
        if self.family == ED25519:
            return "Ed25519"
        digest = _HASHES[self.hash or "sha256"][2]
        if self.family == ECDSA:
            return f"ECDSA {_CURVES[self.curve or '']} with {digest}"
        bits = f"-{self.rsa_bits}" if self.rsa_bits else ""
        return f"RSA{bits} PKCS#1 v1.5 with {digest}"

    def fits(self, key: object) -> bool:
        """``key`` is of the type, curve or size this algorithm names."""
        if self.family == ECDSA:
            return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == self.curve
        if self.family == ED25519:
            return isinstance(key, ed25519.Ed25519PublicKey)
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        return key.key_size == self.rsa_bits if self.rsa_bits else key.key_size >= MIN_RSA_BITS

    @classmethod
    def named(cls, name: str) -> Algorithm:
        """The algorithm a ``PublicKeyDetails`` or algorithm-registry name names; ``ValidationError``
        for a name the registry leaves out (with the reason when it is one of ``REFUSED``)."""
        found = ALGORITHMS.get(name) or BY_REGISTRY_NAME.get(name)
        if found is not None:
            return found
        if name in REFUSED:
            raise ValidationError(f"{name} is not allowed: {REFUSED[name]}")
        raise ValidationError(
            f"{name[:64]!r} is not a signing algorithm sigstack allows (allowed: "
            f"{', '.join(a for a in ALGORITHMS if not ALGORITHMS[a].deprecated)})"
        )

    @classmethod
    def for_key(cls, key: object, hash_name: str | None = None) -> Algorithm:
        """The algorithm ``key`` signs with using ``hash_name`` (a hashlib name), or its usual one
        when ``hash_name`` is ``None``. Exact-size RSA entries come before the deprecated any-size
        one. ``ValidationError`` when the registry has no such algorithm."""
        if isinstance(key, ed25519.Ed25519PublicKey) and hash_name is not None:
            raise ValidationError(
                f"an Ed25519 key with {hash_name} is Ed25519ph: {REFUSED['ed25519-ph']}"
            )
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < MIN_RSA_BITS:
                raise ValidationError(
                    f"RSA keys need at least {MIN_RSA_BITS} bits; this one has {key.key_size}"
                )
            wanted = hash_name or "sha256"
            exact = ALGORITHMS.get(f"PKIX_RSA_PKCS1V15_{key.key_size}_SHA256")
            for candidate in (exact, ALGORITHMS["PKIX_RSA_PKCS1V5"]):
                if candidate is not None and candidate.hash == wanted:
                    return candidate
            raise ValidationError(f"RSA keys sign with SHA-256 only, not {wanted}")
        for candidate in ALGORITHMS.values():
            if candidate.family == RSA_PKCS1V15 or not candidate.fits(key):
                continue
            if (hash_name is None and not candidate.deprecated) or candidate.hash == hash_name:
                return candidate
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
            raise ValidationError(f"an {key_type(key)} key does not sign with {hash_name}")
        raise ValidationError(
            f"{key_type(key)} keys are not allowed: use ECDSA P-256, P-384 or P-521, Ed25519, or "
            f"RSA of {MIN_RSA_BITS} bits or more"
        )


def _ecdsa(name: str, registry: str, curve: str, hash_: str, deprecated: bool = False) -> Algorithm:
    return Algorithm(name, registry, ECDSA, hash_, curve=curve, deprecated=deprecated)


def _rsa(bits: int) -> Algorithm:
    return Algorithm(f"PKIX_RSA_PKCS1V15_{bits}_SHA256", f"rsa-sign-pkcs1-{bits}-sha256",
                     RSA_PKCS1V15, "sha256", rsa_bits=bits)  # fmt: skip


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        _ecdsa("PKIX_ECDSA_P256_SHA_256", "ecdsa-sha2-256-nistp256", "secp256r1", "sha256"),
        _ecdsa("PKIX_ECDSA_P384_SHA_384", "ecdsa-sha2-384-nistp384", "secp384r1", "sha384"),
        _ecdsa("PKIX_ECDSA_P521_SHA_512", "ecdsa-sha2-512-nistp521", "secp521r1", "sha512"),
        _ecdsa("PKIX_ECDSA_P384_SHA_256", "ecdsa-sha2-256-nistp384", "secp384r1", "sha256", True),
        _ecdsa("PKIX_ECDSA_P521_SHA_256", "ecdsa-sha2-256-nistp521", "secp521r1", "sha256", True),
        Algorithm("PKIX_ED25519", "ed25519", ED25519, None),
        _rsa(2048),
        _rsa(3072),
        _rsa(4096),
        # deprecated PublicKeyDetails for RSA keys of any size (trusted roots still carry them)
        Algorithm("PKIX_RSA_PKCS1V5", "", RSA_PKCS1V15, "sha256", deprecated=True),
        Algorithm("PKCS1_RSA_PKCS1V5", "", RSA_PKCS1V15, "sha256", deprecated=True),
    )
}
BY_REGISTRY_NAME: dict[str, Algorithm] = {
    a.registry_name: a for a in ALGORITHMS.values() if a.registry_name
}
_NO_PSS = (
    "no part of sigstack signs or accepts RSA-PSS (Fulcio refuses PSS requests, as upstream "
    "does); sign with RSA PKCS#1 v1.5, ECDSA or Ed25519"
)
REFUSED: dict[str, str] = {
    "PKIX_ED25519_PH": "Ed25519ph cannot be verified here (the cryptography library has no "
    "Ed25519ph); sign with ECDSA, RSA or pure Ed25519",
    "ed25519-ph": "Ed25519ph cannot be verified here (the cryptography library has no "
    "Ed25519ph); sign with ECDSA, RSA or pure Ed25519",
    **{
        n: _NO_PSS
        for n in (
            "PKCS1_RSA_PSS",
            "PKIX_RSA_PSS",
            "PKIX_RSA_PSS_2048_SHA256",
            "PKIX_RSA_PSS_3072_SHA256",
            "PKIX_RSA_PSS_4096_SHA256",
        )
    },  # fmt: skip
}


# --- encodings and IDs -------------------------------------------------------------------------


def spki_der(key: PublicKeyTypes) -> bytes:
    """The key's DER SubjectPublicKeyInfo (of any key, also one no algorithm here signs with: a
    CA's or a logged key being compared)."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def spki_pem(key: PublicKey) -> bytes:
    """The key's PEM SubjectPublicKeyInfo (``-----BEGIN PUBLIC KEY-----``, 64-column lines, the
    form Go's ``pem.Encode`` writes too)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PublicKeyTypes) -> bytes:
    """SHA-256 of the key's DER SubjectPublicKeyInfo: RFC 6962 log ID and issuer key hash, Rekor
    v1 log ID, a Rekor v2 entry's ``key:`` search key."""
    return hashlib.sha256(spki_der(key)).digest()


def load_public_key(data: bytes, what: str = "the public key") -> PublicKey:
    """A PEM or DER public key (SubjectPublicKeyInfo, or PKCS#1 for RSA) of a type some algorithm
    of the registry signs with; ``ValidationError`` naming ``what`` otherwise."""
    pem = data.lstrip().startswith(b"-----")
    try:
        if pem:
            key: object = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        form = "PEM" if pem else "DER"
        raise ValidationError(f"{what} is not a {form} public key") from None
    try:
        Algorithm.for_key(key)
    except ValidationError as exc:
        raise ValidationError(f"{what}: {exc.message}") from None
    assert isinstance(key, PublicKey)  # for_key let nothing else through
    return key


# --- verification ------------------------------------------------------------------------------


def verify(
    key: object,
    signature: bytes,
    message: bytes,
    algorithm: Algorithm | str | None = None,
    *,
    prehashed: bool = False,
) -> None:
    """Raise ``VerificationError`` unless ``signature`` by ``key`` over ``message`` verifies with
    ``algorithm`` (an ``Algorithm``, a registry or ``PublicKeyDetails`` name, or ``None`` for the
    key's usual algorithm). With ``prehashed``, ``message`` is the digest, of the algorithm's hash.
    """
    try:
        if algorithm is None:
            alg = Algorithm.for_key(key)
        else:
            alg = Algorithm.named(algorithm) if isinstance(algorithm, str) else algorithm
    except ValidationError as exc:
        raise VerificationError(exc.message) from None
    if not alg.fits(key):
        raise VerificationError(
            f"{alg.name} names an {alg.describe()} key; this key is {key_type(key)}"
        )
    digest = alg.hash_algorithm()
    if prehashed:
        if digest is None:
            raise VerificationError(
                "Ed25519 signs whole messages, not digests: verify it over the message"
            )
        if len(message) != digest.digest_size:
            raise VerificationError(
                f"the digest is {len(message)} bytes; {alg.describe()} signs a "
                f"{digest.digest_size}-byte digest"
            )
    chosen: hashes.HashAlgorithm | utils.Prehashed | None = (
        utils.Prehashed(digest) if prehashed and digest is not None else digest
    )
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            assert chosen is not None
            key.verify(signature, message, ec.ECDSA(chosen))
        elif isinstance(key, rsa.RSAPublicKey):
            assert chosen is not None
            key.verify(signature, message, padding.PKCS1v15(), chosen)
    except InvalidSignature:
        raise VerificationError(
            f"the signature does not verify with this {alg.describe()} key"
        ) from None
    except (ValueError, TypeError, UnsupportedAlgorithm):  # e.g. an unreadable ECDSA signature
        raise VerificationError(
            f"the signature is not a valid {alg.describe()} signature"
        ) from None


def verify_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    """Raise ``VerificationError`` unless ``cert`` names ``issuer``'s subject as its issuer and
    ``issuer``'s key signed it (with whatever X.509 signature algorithm the certificate names)."""
    try:  # cryptography parses names on first use: a malformed one raises here
        named = cert.issuer == issuer.subject
    except ValueError:
        raise VerificationError("a certificate's issuer or subject name cannot be read") from None
    if not named:
        raise VerificationError("the certificate names another issuer")
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        raise VerificationError("the issuer's key did not sign the certificate") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise VerificationError(
            "the certificate's signature cannot be checked with the issuer's key (unsupported "
            "or malformed algorithm)"
        ) from None
