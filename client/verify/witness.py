"""Witness policies: a log checkpoint must carry cosignatures from a quorum of named witnesses.

Policy file: C2SP tlog-policy text, parsed by ``sigstack.protocol.policy`` (the format, and which
keys it takes, are described there; the log side reads the same files).

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

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sigstack.protocol import cosignature, note
from sigstack.protocol.bundle import Bundle
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.policy import KEYWORDS, MAX_POLICY, Group, TlogPolicy

__all__ = ["KEYWORDS", "MAX_POLICY", "Cosigned", "Group", "WitnessPolicy", "load_policy",
           "require_witnessed"]  # fmt: skip


@dataclass(frozen=True)
class Cosigned:
    """What ``require`` found: the witnesses (policy names) with a valid cosignature, and when."""

    witnesses: dict[str, datetime]


class WitnessPolicy(TlogPolicy):
    """A parsed tlog-policy (``protocol.policy``) that checks checkpoints' cosignatures."""

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
        if not self.quorum_met(set(cosigned)):
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
                    timestamp, _ = cosignature.parse_cosignature(line)
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

    def _missing(self, body: note.Checkpoint, cosigned: set[str]) -> str:
        assert self.quorum is not None
        under = self.witnesses_under(self.quorum)
        missing = [w for w in under if w not in cosigned]
        have = [w for w in under if w in cosigned]
        need = self.describe(self.quorum)
        return (
            f"the log checkpoint ({body.origin}, size {body.size}) is not witnessed as the policy "
            f"requires: the quorum {need} is not met; cosigned by: {', '.join(have) or 'none'}; "
            f"no valid cosignature from: {', '.join(missing)}"
        )


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
