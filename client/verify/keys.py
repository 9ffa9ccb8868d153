"""Public keys of the trusted root (logs, CT logs) loaded for verification, and keyrings.

A ``LogKey`` pairs a loaded key with the identifiers a bundle may use to name it (SHA-256 of the
DER SubjectPublicKeyInfo, and the ``logId`` the trusted root gives, which differs for Rekor v2)
and its validity window. The key must be one the registry algorithm its ``keyDetails`` names
describes (``protocol.keys``: that curve, that RSA size, that hash); other keys are skipped, as
sigstore-python skips keys of unsupported types.

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

from collections.abc import Sequence
from datetime import datetime

from sigstack.protocol import keys
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.record import record
from sigstack.protocol.trust import PublicKey, TimeRange, TransparencyLogInstance, in_window


@record(frozen=True)
class LogKey:
    key: keys.PublicKey
    ids: frozenset[bytes]
    algorithm: keys.Algorithm
    valid_for: TimeRange | None
    base_url: str = ""

    def verify(self, signature: bytes, data: bytes, hash_name: str | None = None) -> None:
        """Raise ``VerificationError`` unless the key signed ``data`` with its algorithm, or with
        ``hash_name`` when the signed object fixes the hash (an RFC 6962 SCT: SHA-256)."""
        algorithm = self.algorithm
        if hash_name is not None and algorithm.hash != hash_name:
            try:
                algorithm = keys.Algorithm.for_key(self.key, hash_name)
            except ValidationError as exc:
                raise VerificationError(exc.message) from None
        keys.verify(self.key, signature, data, algorithm)


def load_public_key(pk: PublicKey) -> tuple[keys.PublicKey, keys.Algorithm] | None:
    """A trusted-root key and the registry algorithm its ``keyDetails`` names; ``None`` for an
    empty key, a name outside the registry, or a key that name does not describe."""
    if not pk.raw_bytes:
        return None
    try:
        algorithm = keys.Algorithm.named(pk.key_details)
        key = keys.load_public_key(pk.raw_bytes)
    except ValidationError:
        return None
    return (key, algorithm) if algorithm.fits(key) else None


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
            key, algorithm = loaded
            ids = frozenset({keys.key_id(key), log.log_id})
            self.keys.append(LogKey(key, ids, algorithm, window, log.base_url))

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
        self,
        key_id: bytes,
        signature: bytes,
        data: bytes,
        *,
        at: Sequence[datetime],
        hash_name: str | None = None,
    ) -> None:
        """Raise unless a key named by ``key_id``, valid at every time in ``at``, verifies
        ``signature`` over ``data`` (with ``hash_name``, see ``LogKey.verify``)."""
        for key in self.candidates(key_id, at=at):
            try:
                key.verify(signature, data, hash_name)
                return
            except VerificationError:
                continue
        raise VerificationError(f"no trusted {self.what} key verifies the signature")
