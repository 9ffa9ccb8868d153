"""Signed tree heads a monitor accepts, and how two of them relate.

A ``Head`` is a verified (size, root) of one log with the signed text it came from (the
evidence an alert carries). ``LogKey`` is the trusted-root entry the log is identified by; its
``verify`` takes the log's signed text and returns a ``Head`` or raises ``CheckpointError``:

* Rekor v1 (``rekor``): a signed note whose signature lines carrying the first 4 bytes of the
  trusted root's log ID must verify with the log key (sigstore-python's rule; spec/rekor.md
  section 3), origin ``<hostname> - <treeID>``;
* C2SP tlog-tiles logs, Rekor v2 (``tiles``): a C2SP signed note by key name = origin, key ID
  from the trusted root (``checkpointKeyId``, else ``logId``; first 4 bytes), unknown lines
  (witness cosignatures) ignored;
* RFC 6962 (``ct``): the JSON of ``get-sth``, its ``tree_head_signature`` a TLS DigitallySigned
  over the TreeHeadSignature (section 3.5).

For the note logs the origin must equal the expected one when given (rekor-monitor requires the
Rekor v2 origin to be the log URL without its scheme). ``relate`` says what a monitor does with
a head it holds and one it sees (spec witness-monitor section 7: never move back; same size with
another root is a fork; a smaller size is a rollback; a larger one needs a consistency proof).
``parse_evidence`` reads what others saved: signed notes, Rekor ``GET /api/v1/log`` answers or
CT STHs, one per file or as JSON lines (docs/backup.md's cron job writes the latter).

Pure: the HTTP is ``logs``'.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sigstack.protocol import keys, note, sct
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.protojson import strict_b64decode
from sigstack.protocol.record import record

KINDS = ("rekor", "tiles", "ct")


class CheckpointError(VerificationError):
    """A checkpoint the log's trusted key did not sign (``bad_signature``) or signed for
    something else (``bad_checkpoint``: another origin, or a body that does not parse)."""

    def __init__(self, message: str, alert: str = "bad_signature") -> None:
        super().__init__(message)
        self.alert = alert


@record(frozen=True)
class Head:
    size: int
    root: bytes
    evidence: str  # the signed note, or the STH JSON
    origin: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root.hex(), "checkpoint": self.evidence}


class LogKey:
    """The trusted-root entry a log is verified with."""

    def __init__(
        self, kind: str, spki_der: bytes, log_id: bytes, key_id: bytes | None, origin: str | None
    ) -> None:
        if kind not in KINDS:
            raise ValidationError(f"unknown log type {kind!r} (one of {', '.join(KINDS)})")
        self.public_key = keys.load_public_key(spki_der, "the trusted root's key for this log")
        self.kind = kind
        self.spki_der = spki_der
        self.log_id = log_id
        self.hint = (key_id or log_id)[:4]
        self.origin = origin
        if len(self.hint) != 4:
            raise ValidationError("the trusted root's log ID is shorter than 4 bytes")

    def verify(self, evidence: str) -> Head:
        """The head ``evidence`` signs, or ``CheckpointError``."""
        if self.kind == "ct":
            return self._verify_sth(evidence)
        try:
            if self.kind == "rekor":
                checkpoint = note.verify_rekor_checkpoint(evidence, self.log_id, self.spki_der)
            else:
                if self.origin is None:
                    raise CheckpointError("a tlog-tiles log needs its origin", "bad_checkpoint")
                verifier = note.verifier_for_key(self.origin, self.spki_der, self.hint)
                checkpoint = note.verify_checkpoint(evidence, [verifier])
        except CheckpointError:
            raise
        except (VerificationError, ValidationError) as exc:
            raise CheckpointError(f"the checkpoint does not verify: {exc.message}") from None
        if self.origin is not None and checkpoint.origin != self.origin:
            raise CheckpointError(
                f"the checkpoint is for origin {checkpoint.origin!r}, not {self.origin!r}",
                "bad_checkpoint",
            )
        if len(checkpoint.root_hash) != 32:
            raise CheckpointError("the checkpoint's root hash is not 32 bytes", "bad_checkpoint")
        return Head(checkpoint.size, checkpoint.root_hash, evidence, checkpoint.origin)

    def _verify_sth(self, evidence: str) -> Head:
        try:
            sth = json.loads(evidence)
            size, ts = sth["tree_size"], sth["timestamp"]
            root = strict_b64decode(sth["sha256_root_hash"], "sha256_root_hash")
            signed = strict_b64decode(sth["tree_head_signature"], "tree_head_signature")
            hash_alg, _, signature = sct.parse_digitally_signed(signed)
        except (ValueError, KeyError, TypeError, ValidationError):
            raise CheckpointError(
                "the STH is not RFC 6962 get-sth JSON", "bad_checkpoint"
            ) from None
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64
                   for v in (size, ts)) or len(root) != 32:  # fmt: skip
            raise CheckpointError(
                "the STH's size, timestamp or root is malformed", "bad_checkpoint"
            )
        try:
            sct.verify_digitally_signed(self.public_key, hash_alg, signature,
                                        sct.tree_head_signed_data(ts, size, root))  # fmt: skip
        except VerificationError as exc:
            raise CheckpointError(f"the STH does not verify: {exc.message}") from None
        return Head(size, root, sth_text(sth))


def sth_text(sth: dict[str, Any]) -> str:
    """One line of JSON with the four STH fields (what a CT head's evidence is)."""
    keys = ("tree_size", "timestamp", "sha256_root_hash", "tree_head_signature")
    return json.dumps({k: sth[k] for k in keys}, separators=(",", ":"))


# --- comparing ------------------------------------------------------------------------------------

SAME, EXTENDS, BEHIND, FORK = "same", "extends", "behind", "fork"


def relate(held: Head, seen: Head) -> str:
    """``same``; ``extends`` (seen is larger: prove held → seen); ``behind`` (seen is smaller:
    a rollback if the log shows it now, else prove seen → held); ``fork`` (same size, other root)."""
    if seen.size == held.size:
        return SAME if seen.root == held.root else FORK
    return EXTENDS if seen.size > held.size else BEHIND


def parse_evidence(data: bytes, what: str) -> list[str]:
    """The signed heads in a file others saved (see the module docstring)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{what} is not UTF-8 text") from None
    if not text.lstrip().startswith("{"):
        return [text]  # a signed note (witness or log checkpoint)
    try:
        docs = [json.loads(text)]  # one document, perhaps pretty-printed
    except ValueError:
        docs = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    docs.append(json.loads(line))
                except ValueError:
                    raise ValidationError(f"{what} line {n} is not JSON") from None
    return [_evidence_of(obj, what) for obj in docs]


def _evidence_of(obj: Any, what: str) -> str:
    if isinstance(obj, dict) and isinstance(obj.get("signedTreeHead"), str):
        return str(obj["signedTreeHead"])
    if isinstance(obj, dict) and "tree_head_signature" in obj:
        try:
            return sth_text(obj)
        except KeyError:
            raise ValidationError(f"{what} holds an incomplete STH") from None
    raise ValidationError(f"{what} holds JSON that is neither a Rekor log info nor an STH")


def peek(kind: str, evidence: str) -> Head | None:
    """The size and root ``evidence`` claims, unverified (for an alert about a bad one)."""
    try:
        if kind == "ct":
            sth = json.loads(evidence)
            return Head(int(sth["tree_size"]), base64.b64decode(sth["sha256_root_hash"]), evidence)
        checkpoint = note.Checkpoint.from_text(note.SignedNote.from_text(evidence).text)
        return Head(checkpoint.size, checkpoint.root_hash, evidence, checkpoint.origin)
    except (ValueError, KeyError, TypeError, ValidationError):
        return None


def claims(key: LogKey, evidence: str) -> bool:
    """Whether ``evidence`` says it is signed by ``key`` (a note line with its key ID; any STH
    for a CT log, which cannot say)."""
    if key.kind == "ct":
        return True
    try:
        return any(s.key_id == key.hint for s in note.SignedNote.from_text(evidence).signatures)
    except ValidationError:
        return False
