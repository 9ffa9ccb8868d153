"""C2SP signed-note verifier keys in their text form, ``<name>+<hex key ID>+base64(type || key)``.

Types read and written here:

* 0x01, Ed25519 (c2sp.org/signed-note): key ID SHA-256(name || 0x0A || 0x01 || key)[:4];
* 0x02, ECDSA (signed-note's ECDSA type, as OmniWitness and the witness-network log lists give a
  Rekor v1 log's key): the key is a DER SubjectPublicKeyInfo, key ID SHA-256(SPKI)[:4];
* 0x04, Ed25519 cosignature (c2sp.org/tlog-cosignature): key ID as 0x01 with type 0x04.

``parse_vkey`` reads what a witness or an Ed25519 log publishes (0x01, 0x04); ``parse_log_vkey``
a log's key (0x01, 0x02: a type 0x04 key is a witness's); ``format_vkey`` writes a verifier's.
Both sides use them: a witness's log list, a client's or a log's witness policy
(``protocol.policy``). The verifiers themselves are ``protocol.note``'s and
``protocol.cosignature``'s.
"""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from . import keys
from .cosignature import TYPE_COSIGNATURE, CosignatureVerifier
from .errors import ValidationError
from .note import (
    TYPE_ED25519,
    NoteVerifier,
    ecdsa_key_id,
    named_key_digest,
    raw_ed25519,
    valid_key_name,
)
from .protojson import strict_b64decode

TYPE_ECDSA = 0x02
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


def parse_vkey(vkey: str) -> NoteVerifier:
    """Parse ``<name>+<hex key ID>+base64(type || key)`` for types 0x01 (Ed25519) and 0x04
    (Ed25519 cosignature); the key ID must match the key."""
    name, _, rest = vkey.partition("+")
    hex_id, _, b64 = rest.partition("+")
    if not valid_key_name(name) or not _HEX_KEY_ID.fullmatch(hex_id):
        raise ValidationError("malformed verifier key")
    blob = strict_b64decode(b64, "verifier key", canonical=True)
    if len(blob) != 33 or blob[0] not in (TYPE_ED25519, TYPE_COSIGNATURE):
        raise ValidationError("verifier key is not a 32-byte Ed25519 key of type 0x01 or 0x04")
    key_id = bytes.fromhex(hex_id)
    if named_key_digest(name, blob[0], blob[1:])[:4] != key_id:
        raise ValidationError("verifier key ID does not match the key")
    key = ed25519.Ed25519PublicKey.from_public_bytes(blob[1:])
    cls = CosignatureVerifier if blob[0] == TYPE_COSIGNATURE else NoteVerifier
    return cls(name, key_id, key)


def parse_log_vkey(vkey: str) -> NoteVerifier:
    """A log's verifier key: type 0x01 (Ed25519, as ``parse_vkey``) or 0x02 (ECDSA, DER SPKI);
    raises ``ValidationError``."""
    name, _, rest = vkey.partition("+")
    hex_id, _, b64 = rest.partition("+")
    if not name or not _HEX_KEY_ID.fullmatch(hex_id) or not b64:
        raise ValidationError("malformed verifier key: want <name>+<8 hex digits>+<base64>")
    blob = strict_b64decode(b64, "the verifier key")
    if blob[:1] != bytes([TYPE_ECDSA]):
        verifier = parse_vkey(vkey)
        if isinstance(verifier, CosignatureVerifier):
            raise ValidationError("a type 0x04 key is a witness's cosigning key, not a log's")
        return verifier
    key = keys.load_public_key(blob[1:], "the ECDSA verifier key")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValidationError("a type 0x02 verifier key must hold an ECDSA public key")
    key_id = bytes.fromhex(hex_id)
    if ecdsa_key_id(blob[1:]) != key_id:
        raise ValidationError("the verifier key ID does not match the key")
    return NoteVerifier(name, key_id, key)


def format_vkey(verifier: NoteVerifier) -> str:
    """The vkey of ``verifier``: type 0x04 for a cosignature verifier, 0x01 for another Ed25519
    key, 0x02 (DER SPKI) for an ECDSA key; RSA has no vkey type (``ValidationError``)."""
    key = verifier.public_key
    if isinstance(verifier, CosignatureVerifier) and isinstance(key, ed25519.Ed25519PublicKey):
        blob = bytes([TYPE_COSIGNATURE]) + raw_ed25519(key)
    elif isinstance(key, ed25519.Ed25519PublicKey):
        blob = bytes([TYPE_ED25519]) + raw_ed25519(key)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        blob = bytes([TYPE_ECDSA]) + keys.spki_der(key)
    else:
        raise ValidationError(f"no C2SP vkey type for the key of {verifier.name}")
    return f"{verifier.name}+{verifier.key_id.hex()}+{base64.b64encode(blob).decode()}"
