"""C2SP signed notes and transparency-log checkpoints, Rekor v1 and C2SP flavours.

Formats implemented (c2sp.org):

* signed-note: note text (valid UTF-8, no ASCII control characters but newline, ending in a
  newline), one blank line, then one or more signature lines ``— <name> base64(key ID[4] || sig)``.
  Key names are non-empty, without spaces or ``+``. ``open_note`` follows the spec's verifier
  rules: lines from unknown (name, key ID) pairs are ignored, a known key with a bad signature
  rejects the note, no verified signature rejects it; up to 100 signature lines are accepted (the
  golang.org/x/mod/sumdb/note limit; the spec asks for at least 16). Key IDs: Ed25519 (type 0x01)
  SHA-256(name || 0x0A || 0x01 || key)[:4]; ECDSA (0x02) SHA-256(DER SPKI)[:4]; RSA as rekor-tiles
  does, SHA-256(name || 0x0A || 0xFF || "PKIX-RSA-PKCS#1v1.5" || DER SPKI)[:4]. The text form of
  verifier keys, ``<name>+<hex key ID>+base64(type || key)``, is ``protocol.vkeys``'s.
* tlog-checkpoint: ``origin\\nsize\\nbase64(root)\\n`` + optional extension lines (``Checkpoint``).
  Rekor v1 names its origin ``<hostname> - <treeID>`` and signs as ``<hostname>`` with key ID
  SHA-256(DER SPKI)[:4] for every key type; Rekor v2 signs as the origin with the C2SP key IDs.
* tlog-cosignature (type 0x04, a witness's timestamped signature) is ``protocol.cosignature``'s.

``verify_rekor_checkpoint`` mirrors sigstore-python: it ignores key names and picks the lines whose
key ID equals the first 4 bytes of the transparency log entry's log ID.

Left to others: key storage and signing (``sign`` callables come from services.keys), Merkle proof
checks (protocol.merkle), trust policy (which keys to pass in), witness quorum rules.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from . import keys
from .errors import ValidationError, VerificationError
from .keys import PublicKey
from .protojson import strict_b64decode

Sign = Callable[[bytes], bytes]

MAX_SIGNATURES = 100
_SIG_PREFIX = "\u2014 "  # em dash + space
_MAX_SIZE = (1 << 64) - 1
TYPE_ED25519 = 0x01
_TYPE_CUSTOM = 0xFF
_RSA_IDENTIFIER = b"PKIX-RSA-PKCS#1v1.5"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]*")


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding and canonical trailing bits."""
    return strict_b64decode(text, what, canonical=True)


def valid_key_name(name: str) -> bool:
    """Non-empty, no space or ``+``, and UTF-8 text (a name is hashed as UTF-8 in key IDs)."""
    if not name or "+" in name or any(c.isspace() for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str, what: str) -> None:
    if _CONTROL.search(text):
        raise ValidationError(f"{what} contains a control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} is not valid UTF-8") from None


def _as_text(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("malformed note: not valid UTF-8") from None
    return note


# --- checkpoints (c2sp.org/tlog-checkpoint) -----------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint body: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise ValidationError("checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= _MAX_SIZE:
            raise ValidationError("checkpoint size out of range")
        if not self.root_hash:
            raise ValidationError("checkpoint root hash is empty")
        if any("\n" in e for e in self.extensions):
            raise ValidationError("checkpoint extension lines must not contain newlines")

    def to_text(self) -> str:
        """The note text: ``origin\\nsize\\nbase64root\\n`` followed by the extension lines."""
        head = f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"
        return head + "".join(f"{e}\n" for e in self.extensions)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Strict parse of a checkpoint body; raises ``ValidationError``."""
        _check_text(text, "checkpoint")
        if not text.endswith("\n"):
            raise ValidationError("checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ValidationError("checkpoint has fewer than three lines")
        origin, size, root = lines[:3]
        if not origin:
            raise ValidationError("checkpoint origin is empty")
        if not _SIZE.fullmatch(size) or int(size) > _MAX_SIZE:
            raise ValidationError("checkpoint size is not a decimal 64-bit unsigned integer")
        return cls(origin, int(size), _b64decode(root, "checkpoint root hash"), tuple(lines[3:]))


def rekor_v1_origin(hostname: str, tree_id: int) -> str:
    """The origin line Rekor v1 writes: ``<hostname> - <treeID>``."""
    return f"{hostname} - {tree_id}"


# --- signed notes (c2sp.org/signed-note) ---------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, and the signature proper."""

    name: str
    key_id: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not valid_key_name(self.name):
            raise ValidationError(
                "signature key name is empty, has a space or '+', or is not UTF-8 text"
            )
        if len(self.key_id) != 4 or not self.signature:
            raise ValidationError("signature needs a 4-byte key ID and a non-empty signature")

    def to_line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_SIG_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class SignedNote:
    """A note text and its signature lines (all of them after ``from_text``; the verified ones
    after ``open_note``)."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        if not self.text.endswith("\n"):
            raise ValidationError("note text must end with a newline")
        _check_text(self.text, "note text")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise ValidationError(f"a note needs 1 to {MAX_SIGNATURES} signatures")

    @classmethod
    def from_text(cls, note: str | bytes) -> SignedNote:
        """Parse (no verification); raises ``ValidationError`` on a malformed note."""
        note = _as_text(note)
        _check_text(note, "note")
        split = note.rfind("\n\n")
        if split < 0:
            raise ValidationError("malformed note: no blank line before the signatures")
        text, block = note[: split + 1], note[split + 2 :]
        if not block.endswith("\n"):
            raise ValidationError("malformed note: no signature lines ending in a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise ValidationError(f"malformed note: more than {MAX_SIGNATURES} signatures")
        return cls(text, tuple(_parse_signature_line(line) for line in lines))

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.to_line() for s in self.signatures)


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise ValidationError("malformed note: a signature line must start with an em dash")
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not valid_key_name(name) or not b64:
        raise ValidationError("malformed note: bad signature line")
    blob = _b64decode(b64, "note signature")
    if len(blob) < 5:
        raise ValidationError("malformed note: signature shorter than 5 bytes")
    return NoteSignature(name, blob[:4], blob[4:])


# --- keys and verifiers -----------------------------------------------------------------------


def raw_ed25519(public_key: ed25519.Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def named_key_digest(name: str, key_type: int, key: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || key): the C2SP key ID (its first 4 bytes) of named keys."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + key).digest()


def ecdsa_key_id(spki_der: bytes) -> bytes:
    """SHA-256(DER SPKI)[:4] (``keys.key_id`` of the key, cut to 4 bytes): C2SP type 0x02 and
    every Rekor v1 checkpoint key."""
    return hashlib.sha256(spki_der).digest()[:4]


def ed25519_key_id(name: str, raw_key: bytes) -> bytes:
    """C2SP Ed25519 key ID: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return named_key_digest(name, TYPE_ED25519, raw_key)[:4]


def note_key_digest(name: str, public_key: PublicKey) -> bytes:
    """The full 32-byte key ID digest rekor-tiles uses as ``logId.keyId`` (hint = first 4 bytes)."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return named_key_digest(name, TYPE_ED25519, raw_ed25519(public_key))
    if isinstance(public_key, rsa.RSAPublicKey):
        return named_key_digest(name, _TYPE_CUSTOM, _RSA_IDENTIFIER + keys.spki_der(public_key))
    return keys.key_id(public_key)


class NoteVerifier:
    """Verifies note signatures by one (name, key ID, public key).

    The key's usual algorithm of the registry (``keys.Algorithm.for_key``): ECDSA signatures are
    ASN.1 DER over SHA-256 (P-256), SHA-384 (P-384) or SHA-512 (P-521) of the text; RSA is PKCS#1
    v1.5 with SHA-256; Ed25519 signs the text itself.
    """

    def __init__(self, name: str, key_id: bytes, public_key: PublicKey) -> None:
        if not valid_key_name(name) or len(key_id) != 4:
            raise ValidationError("verifier needs a valid key name and a 4-byte key ID")
        self.algorithm = keys.Algorithm.for_key(public_key)
        self.name = name
        self.key_id = bytes(key_id)
        self.public_key = public_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}+{self.key_id.hex()})"

    def _verify_raw(self, message: bytes, signature: bytes) -> None:
        try:
            keys.verify(self.public_key, signature, message, self.algorithm)
        except VerificationError:
            raise VerificationError(
                f"invalid signature for key {self.name}+{self.key_id.hex()}"
            ) from None

    def verify(self, text: bytes, signature: bytes) -> None:
        """Verify ``signature`` (without the key ID) over the note ``text``, or raise."""
        self._verify_raw(text, signature)


def verifier_for_key(
    name: str, public_key: PublicKey | bytes, key_id: bytes | None = None
) -> NoteVerifier:
    """A verifier for ``public_key`` (object or DER SPKI); ``key_id`` defaults per key type:
    Ed25519 and RSA as C2SP/rekor-tiles, ECDSA SHA-256(SPKI)[:4]. Rekor v1 callers pass
    ``ecdsa_key_id(spki)`` (= log ID[:4]) for every key type."""
    if not valid_key_name(name):
        raise ValidationError("verifier needs a valid key name")
    if isinstance(public_key, bytes):
        public_key = keys.load_public_key(public_key, "the note's public key")
    if key_id is None:
        key_id = note_key_digest(name, public_key)[:4]
    return NoteVerifier(name, key_id, public_key)


# --- signing and opening ----------------------------------------------------------------------


def sign_note(text: str, name: str, key_id: bytes, sign: Sign) -> str:
    """Sign ``text`` (must end in a newline) and return the whole note with one signature line."""
    SignedNote(text, (NoteSignature(name, key_id, b"-"),))  # validate before calling the signer
    return SignedNote(text, (NoteSignature(name, key_id, sign(text.encode())),)).to_text()


def sign_checkpoint(checkpoint: Checkpoint, name: str, key_id: bytes, sign: Sign) -> str:
    return sign_note(checkpoint.to_text(), name, key_id, sign)


def open_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> SignedNote:
    """Verify a note per C2SP; returns it with only the verified signatures (deduplicated).

    Raises ``VerificationError`` for a malformed note, a bad signature by a known key, or when no
    known key signed it."""
    try:
        parsed = SignedNote.from_text(note)
    except ValidationError as e:
        raise VerificationError(e.message) from None
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v) is not v:
            raise VerificationError(f"two verifiers for key {v.name}+{v.key_id.hex()}")
    message = parsed.text.encode()
    verified: list[NoteSignature] = []
    for sig in parsed.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None or sig in verified:
            continue
        verifier.verify(message, sig.signature)
        verified.append(sig)
    if not verified:
        raise VerificationError("note has no signature from a known key")
    return SignedNote(parsed.text, tuple(verified))


def verify_checkpoint(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """``open_note`` then parse the body; any failure is a ``VerificationError``."""
    opened = open_note(note, verifiers)
    try:
        return Checkpoint.from_text(opened.text)
    except ValidationError as e:
        raise VerificationError(e.message) from None


def verify_rekor_checkpoint(
    note: str | bytes, log_id: bytes, public_key: PublicKey | bytes
) -> Checkpoint:
    """sigstore-python's rule: every line whose key ID is ``log_id[:4]`` (any key name) must verify
    with the log's key, and there must be at least one."""
    hint = log_id[:4]
    if len(hint) != 4:
        raise VerificationError("log ID is shorter than 4 bytes")
    try:
        parsed = SignedNote.from_text(note)
        checkpoint = Checkpoint.from_text(parsed.text)
        matching = [s for s in parsed.signatures if s.key_id == hint]
        if not matching:
            raise VerificationError(f"checkpoint has no signature for log ID {log_id.hex()}")
        verifier = verifier_for_key(matching[0].name, public_key, hint)
    except ValidationError as e:
        raise VerificationError(e.message) from None
    for sig in matching:
        verifier.verify(parsed.text.encode(), sig.signature)
    return checkpoint
