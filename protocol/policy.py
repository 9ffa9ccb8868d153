"""C2SP tlog-policy (``https://c2sp.org/tlog-policy``): which witnesses must cosign a log's
checkpoints, parsed, and whether a set of witnesses meets the quorum. Pure.

Line based, items separated by spaces or tabs, ``#`` starts a comment, blank lines are ignored; a
group or the quorum may only name things defined above it; exactly one ``quorum`` line::

    log <vkey> [<url>]                     # optional: the checkpoint must be signed by one of these
    witness <name> <vkey> [<url>]          # vkey: type 0x04 (or 0x01) Ed25519
    group <name> all|any|<k> <member>...   # 1 <= k <= number of members; members: witnesses, groups
    quorum <name>|none

Names are the policy's labels (the signature lines carry the vkey's own key name); keywords are not
valid names and a name is defined once. A witness's vkey of type 0x01 is taken as its cosigning key
(key ID recomputed with type 0x04), as transparency-dev/formats' ``NewVerifierForCosignatureV1``
does. ML-DSA-44 witness keys (type 0x06) are refused: only Ed25519 cosignatures are checked.
Log vkeys: type 0x01 (Ed25519) or 0x02 (ECDSA, DER SPKI; key ID SHA-256(SPKI)[:4]); the key name
must be the checkpoint's origin.

Both sides read it: a client requires a quorum of valid cosignatures on a checkpoint
(``sigstack.client.verify.witness``), and a log asks the witnesses (at their URLs) to cosign its
checkpoints before it publishes them (``sigstack.services.tlog.witnessing``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from cryptography.hazmat.primitives.asymmetric import ed25519

from . import note, vkeys
from .cosignature import CosignatureVerifier, cosignature_verifier
from .errors import ValidationError

KEYWORDS = frozenset({"log", "witness", "group", "quorum", "all", "any", "none"})
MAX_POLICY = 1 << 20


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


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


def witness_verifier(vkey: str, where: str = "witness vkey") -> note.NoteVerifier:
    """The cosignature verifier of a witness's vkey (type 0x04, or 0x01 taken as its key)."""
    name, _, blob = _decode_vkey(vkey, where)
    if blob[0] == 0x06:
        raise ValidationError(f"{where}: ML-DSA-44 witness keys (type 0x06) are not supported")
    try:
        verifier = vkeys.parse_vkey(vkey)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None
    if isinstance(verifier, CosignatureVerifier):
        return verifier
    assert isinstance(verifier.public_key, ed25519.Ed25519PublicKey)
    return cosignature_verifier(name, verifier.public_key)


def _log_verifier(vkey: str, where: str) -> note.NoteVerifier:
    """A log's vkey (type 0x01 or 0x02, ``vkeys.parse_log_vkey``)."""
    _decode_vkey(vkey, where)
    try:
        return vkeys.parse_log_vkey(vkey)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None


class TlogPolicy:
    """A parsed tlog-policy (module docstring); ``quorum`` None means ``quorum none``. ``urls``
    holds the witnesses' URLs, for those given one."""

    def __init__(
        self,
        logs: Sequence[note.NoteVerifier],
        witnesses: dict[str, note.NoteVerifier],
        groups: dict[str, Group],
        quorum: str | None,
        urls: dict[str, str] | None = None,
    ) -> None:
        self.logs = tuple(logs)
        self.witnesses = witnesses
        self.groups = groups
        self.quorum = quorum
        self.urls = dict(urls or {})

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
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
    def from_text(cls, text: str, source: str = "witness policy") -> Self:
        logs: list[note.NoteVerifier] = []
        witnesses: dict[str, note.NoteVerifier] = {}
        urls: dict[str, str] = {}
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
                verifier = witness_verifier(args[1], where)
                if any(
                    (v.name, v.key_id) == (verifier.name, verifier.key_id)
                    for v in witnesses.values()
                ):
                    raise ValidationError(f"{where}: this witness key is listed twice")
                witnesses[args[0]] = verifier
                if len(args) == 3:
                    urls[args[0]] = args[2]
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
        return cls(logs, witnesses, groups, quorum[0], urls)

    # -- the quorum ------------------------------------------------------------------------------

    def quorum_met(self, cosigned: set[str]) -> bool:
        """Whether the witnesses named ``cosigned`` (policy names) satisfy the quorum."""
        return self.quorum is None or self._met(self.quorum, cosigned)

    def _met(self, name: str, cosigned: set[str]) -> bool:
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self._met(m, cosigned) for m in group.members) >= group.threshold

    def witnesses_under(self, name: str) -> list[str]:
        """The witnesses a name (a witness or a group) stands for, each once, in policy order."""
        if name in self.witnesses:
            return [name]
        found = [w for m in self.groups[name].members for w in self.witnesses_under(m)]
        return list(dict.fromkeys(found))

    def describe(self, name: str) -> str:
        """``witness w1`` or ``group g (2 of 3: w1, w2, w3)``."""
        if name not in self.groups:
            return f"witness {name}"
        group = self.groups[name]
        n = len(group.members)
        k = "all" if group.threshold == n else f"{group.threshold}"
        return f"group {name} ({k} of {n}: {', '.join(group.members)})"


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
