"""Public keys of the trusted root (logs, CT logs) loaded for verification, and keyrings.

A ``LogKey`` pairs a loaded key with the identifiers a bundle may use to name it (SHA-256 of the
DER SubjectPublicKeyInfo, and the ``logId`` the trusted root gives, which differs for Rekor v2)
and its validity window. Keys of unsupported types are skipped, as sigstore-python does.

Two rules are stricter than sigstore-python's keyring, and every caller goes through them:

* a key counts only at times inside its ``validFor`` window (closed interval), and the caller must
  name the times (``at``: the verified signing times, plus the time the signer claims, such as a
  SET's integrated time or an SCT's timestamp). A retired log key therefore vouches for nothing
  signed after its window ended, whatever signature it made. There is no default: a check
  without times would be a check of no window at all.
* the key must be the one the signed object names (the entry's ``logId``, the SCT's log ID);
  a log ID that names no key of the trusted root is refused instead of trying every key, so the
  log a bundle says it came from is the log that signed it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from sigstack.protocol.errors import VerificationError
from sigstack.protocol.record import record
from sigstack.protocol.trust import PublicKey, TimeRange, TransparencyLogInstance, in_window

_EC_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "PKIX_ECDSA_P256_SHA_256": hashes.SHA256,
    "PKIX_ECDSA_P384_SHA_384": hashes.SHA384,
    "PKIX_ECDSA_P521_SHA_512": hashes.SHA512,
}
_RSA = {
    "PKCS1_RSA_PKCS1V5",
    "PKIX_RSA_PKCS1V5",
    "PKIX_RSA_PKCS1V15_2048_SHA256",
    "PKIX_RSA_PKCS1V15_3072_SHA256",
    "PKIX_RSA_PKCS1V15_4096_SHA256",
}

AnyKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


def spki_id(key: Any) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo (the Rekor v1 / RFC 6962 log ID)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).digest()


def verify_signature(
    key: AnyKey, signature: bytes, data: bytes, hash_: type[hashes.HashAlgorithm] | None = None
) -> bool:
    """True when ``signature`` over ``data`` verifies; ECDSA defaults to the curve's usual hash."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            algo = hash_ or {384: hashes.SHA384, 521: hashes.SHA512}.get(
                key.curve.key_size, hashes.SHA256
            )
            key.verify(signature, data, ec.ECDSA(algo()))
        else:
            key.verify(signature, data, padding.PKCS1v15(), (hash_ or hashes.SHA256)())
    except InvalidSignature:
        return False
    return True


@record(frozen=True)
class LogKey:
    key: AnyKey
    ids: frozenset[bytes]
    hash: type[hashes.HashAlgorithm] | None
    valid_for: TimeRange | None
    base_url: str = ""

    def verify(self, signature: bytes, data: bytes) -> bool:
        return verify_signature(self.key, signature, data, self.hash)


def load_public_key(pk: PublicKey) -> tuple[AnyKey, type[hashes.HashAlgorithm] | None] | None:
    """Load a trusted-root key; ``None`` for an empty key or an unsupported type."""
    if not pk.raw_bytes:
        return None
    try:
        key = serialization.load_der_public_key(pk.raw_bytes)
    except (ValueError, UnsupportedAlgorithm):
        return None
    if pk.key_details in _EC_HASH and isinstance(key, ec.EllipticCurvePublicKey):
        return key, _EC_HASH[pk.key_details]
    if pk.key_details == "PKIX_ED25519" and isinstance(key, ed25519.Ed25519PublicKey):
        return key, None
    if pk.key_details in _RSA and isinstance(key, rsa.RSAPublicKey):
        return key, hashes.SHA256
    return None


class Keyring:
    """The keys of a set of logs whose window has started by ``now`` (the end is checked against
    the signing times, per call)."""

    def __init__(
        self, logs: tuple[TransparencyLogInstance, ...], now: datetime, what: str = "log"
    ) -> None:
        self.what = what
        self.keys: list[LogKey] = []
        for log in logs:
            window = log.public_key.valid_for
            if window is not None and not window.started(now):
                continue
            loaded = load_public_key(log.public_key)
            if loaded is None:
                continue
            key, hash_ = loaded
            ids = frozenset({spki_id(key), log.log_id})
            self.keys.append(LogKey(key, ids, hash_, window, log.base_url))

    def __bool__(self) -> bool:
        return bool(self.keys)

    def candidates(self, key_id: bytes, *, at: Sequence[datetime]) -> list[LogKey]:
        """The keys named by ``key_id`` whose window holds every time in ``at``; raises when the
        ID names no trusted key, or names only keys outside their windows."""
        if not at:
            raise VerificationError(
                f"no verified time to check the {self.what} key's validity window against"
            )
        named = [k for k in self.keys if key_id in k.ids]
        if not named:
            raise VerificationError(
                f"the {self.what} ID {key_id.hex()} names no {self.what} key of the trusted root"
            )
        usable = [k for k in named if all(in_window(k.valid_for, when) for when in at)]
        if not usable:
            times = ", ".join(sorted({when.isoformat() for when in at}))
            raise VerificationError(
                f"the {self.what} key {key_id.hex()} of the trusted root was not valid at {times}"
            )
        return usable

    def verify(
        self, key_id: bytes, signature: bytes, data: bytes, *, at: Sequence[datetime]
    ) -> None:
        """Raise unless a key named by ``key_id``, valid at every time in ``at``, verifies
        ``signature`` over ``data``."""
        for key in self.candidates(key_id, at=at):
            if key.verify(signature, data):
                return
        raise VerificationError(f"no trusted {self.what} key verifies the signature")
