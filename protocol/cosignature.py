"""C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature): a witness's timestamped Ed25519
signature over a checkpoint, as a signed-note line of key type 0x04.

The signed message is ``cosignature/v1\\ntime <ts>\\n<checkpoint text>`` (``cosignature_message``);
the signature blob is the u64 big-endian timestamp then the 64-byte Ed25519 signature
(``parse_cosignature``); the key ID is SHA-256(name || 0x0A || 0x04 || key)[:4]
(``cosignature_key_id``). The note format, opening notes and the other key types are
``protocol.note``'s; the text form of a witness's key is ``protocol.vkeys``'s; which witnesses
must cosign is ``protocol.policy``'s.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import ValidationError, VerificationError
from .note import NoteSignature, NoteVerifier, Sign, named_key_digest, raw_ed25519

TYPE_COSIGNATURE = 0x04
_MAX_TIME = (1 << 64) - 1


def cosignature_key_id(name: str, raw_key: bytes) -> bytes:
    """C2SP tlog-cosignature key ID: SHA-256(name || 0x0A || 0x04 || key)[:4]."""
    return named_key_digest(name, TYPE_COSIGNATURE, raw_key)[:4]


def cosignature_message(checkpoint_text: str | bytes, timestamp: int) -> bytes:
    """The tlog-cosignature ``cosignature/v1`` signed message for a checkpoint body."""
    if not 0 <= timestamp <= _MAX_TIME:
        raise ValidationError("cosignature timestamp out of range")
    if isinstance(checkpoint_text, str):
        checkpoint_text = checkpoint_text.encode()
    return b"cosignature/v1\ntime %d\n" % timestamp + checkpoint_text


def cosign_line(checkpoint_text: str, name: str, key_id: bytes, timestamp: int, sign: Sign) -> str:
    """A witness's type 0x04 cosignature line over ``checkpoint_text`` (``sign`` is Ed25519)."""
    signature = sign(cosignature_message(checkpoint_text, timestamp))
    return NoteSignature(name, key_id, struct.pack(">Q", timestamp) + signature).to_line()


def parse_cosignature(signature: NoteSignature | bytes) -> tuple[int, bytes]:
    """Split a type 0x04 signature into (timestamp, 64-byte Ed25519 signature)."""
    raw = signature.signature if isinstance(signature, NoteSignature) else signature
    if len(raw) != 72:
        raise ValidationError("a cosignature is an 8-byte timestamp and a 64-byte signature")
    return struct.unpack(">Q", raw[:8])[0], raw[8:]


class CosignatureVerifier(NoteVerifier):
    """Verifies C2SP tlog-cosignature (type 0x04, timestamped Ed25519) lines."""

    def verify(self, text: bytes, signature: bytes) -> None:
        try:
            timestamp, sig = parse_cosignature(signature)
        except ValidationError as e:
            raise VerificationError(e.message) from None
        self._verify_raw(cosignature_message(text, timestamp), sig)


def cosignature_verifier(name: str, public_key: ed25519.Ed25519PublicKey) -> CosignatureVerifier:
    return CosignatureVerifier(name, cosignature_key_id(name, raw_ed25519(public_key)), public_key)
