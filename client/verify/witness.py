"""Witness policies: a log checkpoint must carry cosignatures from a quorum of named witnesses.

Policy file: C2SP tlog-policy text (``https://c2sp.org/tlog-policy``). Line based, items separated
by spaces or tabs, ``#`` starts a comment, blank lines are ignored; a group or the quorum may only
name things defined above it; exactly one ``quorum`` line::

    log <vkey> [<url>]                     # optional: the checkpoint must be signed by one of these
    witness <name> <vkey> [<url>]          # vkey: type 0x04 (or 0x01) Ed25519
    group <name> all|any|<k> <member>...   # 1 <= k <= number of members; members: witnesses, groups
    quorum <name>|none

Names are the policy's labels (the signature lines carry the vkey's own key name); keywords are not
valid names and a name is defined once. A witness's vkey of type 0x01 is taken as its cosigning key
(key ID recomputed with type 0x04), as transparency-dev/formats' ``NewVerifierForCosignatureV1``
does. ML-DSA-44 witness keys (type 0x06) are refused: this client verifies Ed25519 cosignatures only.
Log vkeys: type 0x01 (Ed25519) or 0x02 (ECDSA, DER SPKI; key ID SHA-256(SPKI)[:4]); the key name
must be the checkpoint's origin.

``WitnessPolicy.require(checkpoint)`` checks a signed checkpoint: every cosignature line of a
policy witness (matched by key name and key ID, C2SP's rule) must verify over
``cosignature/v1\\ntime <t>\\n<checkpoint body>`` with a non-zero time, and the witnesses with a
valid line must satisfy the quorum; otherwise ``VerificationError`` names what is missing.
``require_witnessed(bundle, policy)`` applies it to a bundle's log entries. The checkpoint's log
signature, inclusion proof and root are the ``Verifier``'s business: call this on a bundle it
accepted (the cosignatures then vouch for the very checkpoint the entry is proved against).
Cosignature times are reported, not judged (C2SP leaves them to the application).

No Sigstore client checks cosignatures yet (sigstore-python, sigstore-js, sigstore-go and cosign
ignore the extra signature lines; the trusted root has no witness field): this is sigstack's own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.protocol import note
from sigstack.protocol.bundle import Bundle
from sigstack.protocol.errors import ValidationError, VerificationError

KEYWORDS = frozenset({"log", "witness", "group", "quorum", "all", "any", "none"})
MAX_POLICY = 1 << 20


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Cosigned:
    """What ``require`` found: the witnesses (policy names) with a valid cosignature, and when."""

    witnesses: dict[str, datetime]


def _decode_vkey(vkey: str, where: str) -> tuple[str, bytes, bytes]:
    """(name, key ID, type || key) of ``<name>+<hex key ID>+<base64>``."""
    name, _, rest = vkey.partition("+")
    hex_id, _, b64 = rest.partition("+")
    try:
        key_id = bytes.fromhex(hex_id) if len(hex_id) == 8 else b""
        blob = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error):
        key_id, blob = b"", b""
    if not name or len(key_id) != 4 or not blob:
        raise ValidationError(f"{where}: malformed vkey (want <name>+<8 hex>+<base64>)")
    return name, key_id, blob


def _witness_verifier(vkey: str, where: str) -> note.NoteVerifier:
    name, _, blob = _decode_vkey(vkey, where)
    if blob[0] == 0x06:
        raise ValidationError(
            f"{where}: ML-DSA-44 witness keys (type 0x06) are not supported by this client"
        )
    try:
        verifier = note.parse_vkey(vkey)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None
    if isinstance(verifier, note.CosignatureVerifier):
        return verifier
    assert isinstance(verifier.public_key, ed25519.Ed25519PublicKey)
    return note.cosignature_verifier(name, verifier.public_key)


def _log_verifier(vkey: str, where: str) -> note.NoteVerifier:
    name, key_id, blob = _decode_vkey(vkey, where)
    try:
        if blob[0] != 0x02:
            verifier = note.parse_vkey(vkey)
            if isinstance(verifier, note.CosignatureVerifier):
                raise ValidationError("a type 0x04 key is a witness's, not a log's")
            return verifier
        key = serialization.load_der_public_key(blob[1:])
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValidationError("a type 0x02 vkey must hold an ECDSA public key")
        if hashlib.sha256(blob[1:]).digest()[:4] != key_id:
            raise ValidationError("the vkey's key ID does not match its key")
        return note.NoteVerifier(name, key_id, key)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValidationError(f"{where}: the vkey holds no usable public key") from None


class WitnessPolicy:
    """A parsed tlog-policy (module docstring); ``quorum`` None means ``quorum none``."""

    def __init__(
        self,
        logs: Sequence[note.NoteVerifier],
        witnesses: dict[str, note.NoteVerifier],
        groups: dict[str, Group],
        quorum: str | None,
    ) -> None:
        self.logs = tuple(logs)
        self.witnesses = witnesses
        self.groups = groups
        self.quorum = quorum

    @classmethod
    def from_file(cls, path: str | Path) -> WitnessPolicy:
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_POLICY + 1)
        except OSError as exc:
            raise ValidationError(f"cannot read witness policy {path}: {exc.strerror}") from None
        if len(raw) > MAX_POLICY:
            raise ValidationError(f"witness policy {path} is larger than {MAX_POLICY} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"witness policy {path} is not UTF-8 text") from None
        return cls.from_text(text, str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "witness policy") -> WitnessPolicy:
        logs: list[note.NoteVerifier] = []
        witnesses: dict[str, note.NoteVerifier] = {}
        groups: dict[str, Group] = {}
        quorum: list[str | None] = []
        for number, raw in enumerate(text.splitlines(), 1):
            items = raw.split("#", 1)[0].split()
            if not items:
                continue
            where = f"{source} line {number}"
            keyword, args = items[0], items[1:]
            if keyword == "log":
                if len(args) not in (1, 2):
                    raise ValidationError(f"{where}: want 'log <vkey> [<url>]'")
                logs.append(_log_verifier(args[0], where))
            elif keyword == "witness":
                if len(args) not in (2, 3):
                    raise ValidationError(f"{where}: want 'witness <name> <vkey> [<url>]'")
                _new_name(args[0], witnesses, groups, where)
                verifier = _witness_verifier(args[1], where)
                if any(
                    (v.name, v.key_id) == (verifier.name, verifier.key_id)
                    for v in witnesses.values()
                ):
                    raise ValidationError(f"{where}: this witness key is listed twice")
                witnesses[args[0]] = verifier
            elif keyword == "group":
                if len(args) < 3:
                    raise ValidationError(f"{where}: want 'group <name> all|any|<k> <member>...'")
                _new_name(args[0], witnesses, groups, where)
                groups[args[0]] = _group(args, witnesses, groups, where)
            elif keyword == "quorum":
                if len(args) != 1:
                    raise ValidationError(f"{where}: want 'quorum <name>|none'")
                if quorum:
                    raise ValidationError(f"{where}: a policy has exactly one quorum line")
                target = args[0]
                if target != "none" and target not in witnesses and target not in groups:
                    raise ValidationError(
                        f"{where}: quorum names {target!r}, defined nowhere above"
                    )
                quorum.append(None if target == "none" else target)
            else:
                raise ValidationError(f"{where}: unknown keyword {keyword[:40]!r}")
        if not quorum:
            raise ValidationError(f"{source}: no 'quorum' line")
        return cls(logs, witnesses, groups, quorum[0])

    # -- checking ----------------------------------------------------------------------------------

    def require(self, checkpoint: str) -> Cosigned:
        """Verify ``checkpoint`` (a signed note) against the policy, or raise (module docstring)."""
        try:
            signed = note.SignedNote.from_text(checkpoint)
            body = note.Checkpoint.from_text(signed.text)
        except ValidationError as exc:
            raise VerificationError(f"the log checkpoint is malformed: {exc.message}") from None
        if self.logs:
            self._require_log(checkpoint, body)
        cosigned = self._cosignatures(signed)
        if self.quorum is not None and not self._met(self.quorum, set(cosigned)):
            raise VerificationError(self._missing(body, set(cosigned)))
        return Cosigned(cosigned)

    def _require_log(self, checkpoint: str, body: note.Checkpoint) -> None:
        named = [v for v in self.logs if v.name == body.origin]
        if not named:
            raise VerificationError(
                f"the checkpoint's log {body.origin!r} is not one of the policy's logs"
            )
        try:
            note.open_note(checkpoint, named)
        except VerificationError as exc:
            raise VerificationError(
                f"the checkpoint is not signed by the policy's log key: {exc.message}"
            ) from None

    def _cosignatures(self, signed: note.SignedNote) -> dict[str, datetime]:
        text = signed.text.encode()
        found: dict[str, datetime] = {}
        for name, verifier in self.witnesses.items():
            for line in signed.signatures:
                if (line.name, line.key_id) != (verifier.name, verifier.key_id):
                    continue
                try:
                    timestamp, _ = note.parse_cosignature(line)
                    verifier.verify(text, line.signature)
                except (ValidationError, VerificationError):
                    raise VerificationError(
                        f"the cosignature of witness {name} ({verifier.name}) does not verify "
                        "over the checkpoint"
                    ) from None
                if timestamp == 0:
                    raise VerificationError(
                        f"the cosignature of witness {name} has time 0 (not a witness's)"
                    )
                try:
                    found[name] = datetime.fromtimestamp(timestamp, UTC)
                except (OverflowError, OSError, ValueError):
                    raise VerificationError(
                        f"the cosignature of witness {name} has an impossible time {timestamp}"
                    ) from None
        return found

    def _met(self, name: str, cosigned: set[str]) -> bool:
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self._met(m, cosigned) for m in group.members) >= group.threshold

    def _witnesses_under(self, name: str) -> list[str]:
        if name in self.witnesses:
            return [name]
        return [w for m in self.groups[name].members for w in self._witnesses_under(m)]

    def _missing(self, body: note.Checkpoint, cosigned: set[str]) -> str:
        assert self.quorum is not None
        under = list(dict.fromkeys(self._witnesses_under(self.quorum)))
        missing = [w for w in under if w not in cosigned]
        have = [w for w in under if w in cosigned]
        need = (
            f"group {self.quorum} ({self._describe(self.quorum)})"
            if self.quorum in self.groups
            else f"witness {self.quorum}"
        )
        return (
            f"the log checkpoint ({body.origin}, size {body.size}) is not witnessed as the policy "
            f"requires: the quorum {need} is not met; cosigned by: {', '.join(have) or 'none'}; "
            f"no valid cosignature from: {', '.join(missing)}"
        )

    def _describe(self, name: str) -> str:
        group = self.groups[name]
        n = len(group.members)
        k = "all" if group.threshold == n else f"{group.threshold}"
        return f"{k} of {n}: {', '.join(group.members)}"


def _new_name(
    name: str, witnesses: dict[str, note.NoteVerifier], groups: dict[str, Group], where: str
) -> None:
    if name in KEYWORDS:
        raise ValidationError(f"{where}: {name!r} is a keyword, not a valid name")
    if name in witnesses or name in groups:
        raise ValidationError(f"{where}: {name!r} is defined twice")


def _group(
    args: list[str], witnesses: dict[str, note.NoteVerifier], groups: dict[str, Group], where: str
) -> Group:
    name, threshold, members = args[0], args[1], tuple(args[2:])
    for member in members:
        if member not in witnesses and member not in groups:
            raise ValidationError(f"{where}: group member {member!r} is defined nowhere above")
    if len(set(members)) != len(members):
        raise ValidationError(f"{where}: a group member may appear once")
    if threshold == "all":
        k = len(members)
    elif threshold == "any":
        k = 1
    elif threshold.isascii() and threshold.isdigit() and len(threshold) <= 6:
        k = int(threshold)
    else:
        raise ValidationError(f"{where}: the threshold is all, any or a number")
    if not 1 <= k <= len(members):
        raise ValidationError(f"{where}: the threshold must be from 1 to {len(members)}")
    return Group(name, k, members)


def load_policy(path: str | Path | None) -> WitnessPolicy | None:
    """``--witness-policy FILE``: the parsed policy, or None when no file is given."""
    return WitnessPolicy.from_file(path) if path else None


def require_witnessed(bundle: Bundle, policy: WitnessPolicy) -> str:
    """Every log entry's checkpoint meets ``policy``; returns the line for the checks list. Call it
    on a bundle the ``Verifier`` accepted (module docstring)."""
    entries = bundle.verification_material.tlog_entries
    if not entries:
        raise VerificationError("the bundle has no log entry whose checkpoint could be witnessed")
    seen: dict[str, datetime] = {}
    for entry in entries:
        proof = entry.inclusion_proof
        if proof is None or not proof.checkpoint:
            raise VerificationError(
                "the witness policy needs the log entry's checkpoint, and the entry has none"
            )
        seen.update(policy.require(proof.checkpoint).witnesses)
    if policy.quorum is None:
        return "The witness policy asks for no cosignatures (quorum none)"
    names = ", ".join(f"{n} at {t.isoformat()}" for n, t in sorted(seen.items()))
    return f"The log checkpoint carries valid cosignatures meeting the witness policy: {names}"
