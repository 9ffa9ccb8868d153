"""The witness proper: C2SP tlog-witness ``add-checkpoint`` decided and cosigned.

``Witness.add_checkpoint(body)`` returns the cosignature line (C2SP tlog-cosignature, Ed25519,
type 0x04: ``— <name> base64(key ID || u64 time || signature over "cosignature/v1\\ntime <t>\\n"
+ checkpoint body)``) or raises ``Refusal`` with the spec's status, checked in the spec's order:

=====  ==================================================================================
400    body unparsable (``request.parse``), checkpoint or note malformed, ``old`` > size, a
       size of 2^63 or more (not storable)
404    the origin is not a log this witness follows (``logs``)
403    no signature line from the log's key, or one that does not verify
409    ``old`` is not the size of the last checkpoint cosigned for the origin (0 if none);
       ``Refusal.size`` carries that size (the answer's ``text/x.tlog.size`` body)
422    size 0 with a root other than SHA-256(""); ``old`` = 0 with a proof; ``old`` = size with
       a proof or another root; a consistency proof that does not verify
=====  ==================================================================================

The state changes by compare-and-swap (``store.Store.swap``): decide on the stored state, sign,
then swap only if the stored state is still the one decided on; otherwise read it again and decide
again (usually a 409 now). The line is returned only after the swap committed, so an answer never
vouches for a state a crash could lose. A brand-new origin is not trusted on first use with any
``old``: the first request must say ``old 0`` (the spec; OmniWitness is laxer).

A refused checkpoint that carries a valid log signature but contradicts the stored one is evidence
of a split view: it is written to the ``sigstack.witness`` logger with both checkpoints.

Left to others: HTTP (``api``), where the key lives (``services.keys``), which logs to follow
(``logs``), rate limits (a proxy).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sigstack.protocol import cosignature, merkle, note, vkeys
from sigstack.protocol.errors import ConfigError, Error, UnavailableError, ValidationError
from sigstack.protocol.errors import VerificationError as _VerificationError

from . import request
from .logs import Logs
from .store import MAX_STORED_SIZE, State, Store

log = logging.getLogger("sigstack.witness")

NAME = re.compile(r"[!-*,-~]{1,255}")  # printable ASCII but space and "+": a signed-note key name
_SWAP_ATTEMPTS = 16


class Refusal(Error):
    """A tlog-witness refusal: ``status`` is the HTTP status the spec gives it; ``size`` (409 only)
    the size of the last checkpoint cosigned for the origin."""

    def __init__(self, status: int, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"the witness name {name[:80]!r} must be 1 to 255 printable ASCII characters without "
            "spaces or '+' (e.g. witness.example.com/w1)"
        )
    return name


def raw_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, ed25519.Ed25519PublicKey):
        raise ConfigError("the witness key must be Ed25519 (C2SP tlog-cosignature type 0x04)")
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def vkey(name: str, public_key: object) -> str:
    """The witness's C2SP verifier key: ``<name>+<hex key ID>+base64(0x04 || key)``."""
    raw_public_key(public_key)  # refuses a key that is not Ed25519
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    return vkeys.format_vkey(cosignature.cosignature_verifier(check_name(name), public_key))


class Witness:
    def __init__(
        self,
        name: str,
        public_key: object,
        sign: Callable[[bytes], bytes],
        logs: Logs,
        store: Store,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = check_name(name)
        self.key_id = cosignature.cosignature_key_id(name, raw_public_key(public_key))
        self.vkey = vkey(name, public_key)
        self._sign = sign
        self.logs = logs
        self.store = store
        self._clock = clock

    # -- the protocol ----------------------------------------------------------------------------

    def add_checkpoint(self, body: bytes) -> str:
        try:
            req = request.parse(body)
        except ValidationError as exc:
            raise Refusal(400, exc.message) from None
        signed, checkpoint = _parse_note(req.note)
        followed = self.logs.get(checkpoint.origin)
        if followed is None:
            raise Refusal(404, "unknown log: this witness does not follow that origin")
        try:
            opened = note.open_note(req.note, followed.verifiers)
        except _VerificationError:
            raise Refusal(
                403, "the checkpoint carries no valid signature by the log's key"
            ) from None
        if checkpoint.size > MAX_STORED_SIZE:
            raise Refusal(400, "the checkpoint's size is out of range")
        if req.old > checkpoint.size:
            raise Refusal(400, "old size is larger than the checkpoint's size")
        log_lines = "".join(s.to_line() for s in opened.signatures)
        for _ in range(_SWAP_ATTEMPTS):
            state = self.store.get(checkpoint.origin)
            self._check(req, checkpoint, state, signed.text)
            timestamp = self._now()
            line = cosignature.cosign_line(
                signed.text, self.name, self.key_id, timestamp, self._sign
            )
            new = State(checkpoint.size, checkpoint.root_hash,
                        f"{signed.text}\n{log_lines}{line}", timestamp)  # fmt: skip
            if self.store.swap(checkpoint.origin, state, new):
                return line
        raise UnavailableError("the witness's state kept changing under this request; retry")

    def latest(self, origin: str) -> str | None:
        """The last checkpoint cosigned for ``origin`` with the log's and this witness's lines."""
        state = self.store.get(origin)
        return state.note if state is not None else None

    # -- steps -----------------------------------------------------------------------------------

    def _now(self) -> int:
        seconds = int(self._clock())
        if seconds <= 0:
            raise UnavailableError("the witness's clock is not set")
        return seconds

    def _check(
        self, req: request.AddCheckpoint, cp: note.Checkpoint, state: State | None, text: str
    ) -> None:
        stored = state.size if state is not None else 0
        if req.old != stored:
            raise Refusal(409, f"old size {req.old} is not this witness's latest", size=stored)
        if cp.size == 0 and cp.root_hash != merkle.EMPTY_ROOT:
            raise Refusal(422, "an empty tree's root must be SHA-256 of nothing")
        if req.old == 0:
            if req.proof:
                raise Refusal(422, "a consistency proof from size 0 must be empty")
            return
        assert state is not None
        if req.old == cp.size:
            if req.proof:
                raise Refusal(422, "a consistency proof between equal sizes must be empty")
            if cp.root_hash != state.root_hash:
                self._evidence(
                    cp, state, text, "INCONSISTENT CHECKPOINTS", "same size, another root"
                )
                raise Refusal(422, "the checkpoint's root differs from the cosigned one")
            return
        try:
            merkle.verify_consistency(req.old, cp.size, req.proof, state.root_hash, cp.root_hash)
        except _VerificationError as exc:
            self._evidence(cp, state, text, "UNPROVEN CHECKPOINT", exc.message)
            raise Refusal(422, f"invalid consistency proof: {exc.message}") from None

    def _evidence(self, cp: note.Checkpoint, state: State, text: str, what: str, why: str) -> None:
        """A log-signed checkpoint that contradicts (or is not proved to extend) the cosigned one:
        kept in the log with both, for whoever investigates a split view."""
        log.warning(
            "%s for %s (%s): cosigned size %d, offered size %d; cosigned note %r; offered %r",
            what, cp.origin, why, state.size, cp.size, state.note, text,
        )  # fmt: skip


def _parse_note(text: str) -> tuple[note.SignedNote, note.Checkpoint]:
    try:
        signed = note.SignedNote.from_text(text)
        return signed, note.Checkpoint.from_text(signed.text)
    except ValidationError as exc:
        raise Refusal(400, f"malformed checkpoint: {exc.message}") from None
