"""The Rekor v2 personality on the log engine: origin, C2SP checkpoints, entries, search.

- The log is named by its origin (``--origin``, rekor-tiles' ``--hostname``): the checkpoint's
  first line and its signer's key name. The engine stores it as the tree name ``rekor2:<origin>``,
  so a log keeps its origin for life and one database may hold several v2 logs (shards).
- Checkpoints are C2SP tlog-checkpoints signed as C2SP signed notes by the log key, Ed25519 or
  ECDSA P-256 (spec/rekor.md section 3, rekor-tiles pkg/note): key ID SHA-256(origin || 0x0A ||
  0x01 || key) for Ed25519, SHA-256(DER SPKI) for ECDSA. The whole 32-byte digest is the entries'
  ``logId.keyId`` (the trusted root's ``logId``); its first 4 bytes are the note's key hint.
- A checkpoint is published per committed batch: the engine signs the batch's head in the
  batch's transaction, and every entry of the batch is answered with it (docs/rekor.md says why
  not every few seconds, as Tessera does).
- Entries are answered as protobuf-specs ``TransparencyLogEntry`` JSON with every field present
  (rekor-tiles marshals with EmitUnpopulated): no inclusion promise, integrated time 0.
- Search keys (``entries.index_keys``) go to the v1 log's index table in the batch's transaction,
  under this log's tree ID, so the index never drifts from the log (its SQL is
  ``services.rekor.store``'s).
- ``add`` is "log this entry, or tell me it exists": the ``TransparencyLogEntry``, or a
  ``ConflictError`` carrying the existing entry's index (409 with ``x-log-index``).
- ``freeze`` makes the log read-only for good (rekor-tiles' ``--read-only`` with its final
  checkpoint): writes are refused with a 405 from then on, reads and tiles go on.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

from sigstack.protocol import note
from sigstack.protocol.errors import ConfigError, ConflictError
from sigstack.services.keys import Signer
from sigstack.services.rekor.store import add_keys, indexes_matching
from sigstack.services.tlog import (
    Appended,
    Frozen,
    Log,
    Sequenced,
    Ticket,
    TreeHead,
    frozen_line,
    log_names,
    open_log,
)

from .entries import KIND, VERSION, Prepared

TREE_PREFIX = "rekor2:"
MAX_ORIGIN = 64 - len(TREE_PREFIX)  # tlog_trees.name is 64 characters
_ORIGIN = re.compile(r"[!-*,-~]+")  # printable ASCII but space and "+" (a signed-note key name)


def check_origin(origin: str) -> str:
    if not _ORIGIN.fullmatch(origin) or len(origin) > MAX_ORIGIN:
        raise ConfigError(
            f"the origin {origin[:80]!r} must be 1 to {MAX_ORIGIN} printable ASCII characters "
            "without spaces or '+' (a schemeless URL such as log2025-1.rekor.example.com)"
        )
    return origin


def origins_in(engine: Engine) -> list[str]:
    """The origins of the Rekor v2 logs in a database."""
    return [name[len(TREE_PREFIX) :] for name in log_names(engine, TREE_PREFIX)]


def resolve_origin(engine: Engine, wanted: str | None, default: str, *, create: bool) -> str:
    """The origin to serve: ``wanted`` if given (for an existing log, one the database holds),
    else the only v2 log in the database, else (a new log) ``default``."""
    existing = origins_in(engine)
    if wanted:
        check_origin(wanted)
        if not create and existing and wanted not in existing:
            raise ConfigError(
                f"this database holds the Rekor v2 log {', '.join(existing)}, not {wanted}: a "
                "log keeps its origin for life (a new origin is a new log, with a new data "
                "directory and key)"
            )
        return wanted
    if create or not existing:
        return check_origin(default)
    if len(existing) > 1:
        raise ConfigError(
            f"this database holds several Rekor v2 logs ({', '.join(existing)}): name one "
            "with --origin"
        )
    return existing[0]


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode()


def _new(ticket: Ticket) -> Appended:
    """The outcome of a finished append of a new entry; its error, or ``ConflictError`` for an
    entry logged already."""
    appended = ticket.outcome()
    if appended.duplicate:
        raise ConflictError(
            "an equivalent entry already exists in the transparency log with index "
            f"{appended.index}",
            log_index=appended.index,
        )
    return appended


# the checkpoint keys rekor-tiles signs with (names of the algorithm registry, protocol.keys)
CHECKPOINT_ALGORITHMS = frozenset({"PKIX_ED25519", "PKIX_ECDSA_P256_SHA_256"})


class Rekor2Log:
    def __init__(
        self, engine: Engine, signer: Signer, origin: str, *, create: bool = False, **options: Any
    ) -> None:
        key = signer.public_key
        if signer.algorithm.name not in CHECKPOINT_ALGORITHMS:  # the key's, protocol.keys
            raise ConfigError("the Rekor v2 log key must be Ed25519 or ECDSA P-256")
        self.signer = signer
        self.origin = check_origin(origin)
        self.key_id = note.note_key_digest(origin, key)
        self.log: Log = open_log(
            engine,
            TREE_PREFIX + origin,
            signer.public_der,
            self._sign_head,
            create=create,
            on_sequenced=self._index,
            **options,
        )
        self.tree_id = self.log.tree_id
        self._key_id_b64 = _b64(self.key_id)
        # (head, root hash, size, checkpoint as JSON) of the last head answered: a pure
        # function of the head, replaced whole (render_json)
        self._head_parts: tuple[Any, str, str, str] = (None, "", "", "")

    @property
    def key_details(self) -> str:
        """The trusted root's ``publicKey.keyDetails`` for the log key."""
        return self.signer.algorithm.name

    # ---- checkpoints ---------------------------------------------------------------------------

    def _sign_head(self, size: int, root: bytes, timestamp_ms: int) -> str:
        checkpoint = note.Checkpoint(self.origin, size, root)
        return note.sign_checkpoint(checkpoint, self.origin, self.key_id[:4], self.signer.sign)

    def _sign_final(self, size: int, root: bytes, frozen_ms: int) -> str:
        checkpoint = note.Checkpoint(self.origin, size, root, (frozen_line(frozen_ms),))
        return note.sign_checkpoint(checkpoint, self.origin, self.key_id[:4], self.signer.sign)

    def freeze(self, successor: str | None = None) -> Frozen:
        """Freeze the log for good (``tlog.freeze``): a final checkpoint with the extension line
        ``Log frozen — <time>``, and every later write refused (405, naming ``successor``)."""
        return self.log.freeze(self._sign_final, successor)

    def head(self) -> TreeHead:
        head = self.log.head()
        if not head.note:  # the empty tree's head is signed when first asked for
            note_text = self._sign_head(head.size, head.root_hash, head.timestamp_ms)
            head = TreeHead(head.size, head.root_hash, head.timestamp_ms, note_text)
        return head

    def size(self) -> int:
        """The size of the latest committed tree."""
        return self.log.head().size

    def close(self) -> None:
        """Drop the database connections (before a fork: none may cross it, runtime.server)."""
        self.log.engine.dispose()

    # ---- writing -------------------------------------------------------------------------------

    def add(self, prepared: Prepared) -> dict[str, Any]:
        """Log ``prepared`` (block until its batch is committed with its checkpoint) and return
        its TransparencyLogEntry; ``ConflictError`` with the existing entry's index when the same
        entry is logged already."""
        ticket = self.submit(prepared)
        ticket.join()
        return self.answer(prepared, ticket)

    def submit(self, prepared: Prepared, notify: Callable[[], None] | None = None) -> Ticket:
        """``add`` without the wait: hand the entry to the sequencer (``Log.submit``); ``answer``
        makes the reply from the ticket's outcome."""
        return self.log.submit(prepared.body, keys=prepared.index_keys, notify=notify)

    def answer(self, prepared: Prepared, ticket: Ticket) -> dict[str, Any]:
        """The TransparencyLogEntry of ``prepared`` once its ``ticket`` is done; the append's
        error, or ``ConflictError`` for an entry logged already."""
        appended = _new(ticket)
        return self.render(appended.index, prepared.body, appended.head)

    def answer_json(self, prepared: Prepared, ticket: Ticket) -> bytes:
        """``answer`` as the JSON bytes the API sends (``render_json``)."""
        appended = _new(ticket)
        return self.render_json(appended.index, prepared.body, appended.head)

    def _index(self, conn: Connection, sequenced: list[Sequenced]) -> None:
        add_keys(conn, self.tree_id, sequenced)

    # ---- reading -------------------------------------------------------------------------------

    def render(self, index: int, body: bytes, head: TreeHead) -> dict[str, Any]:
        """The TransparencyLogEntry of the entry at ``index`` with an inclusion proof and the
        checkpoint of ``head`` (``render_json``'s, decoded: the one place the entry's form is
        written)."""
        value: dict[str, Any] = json.loads(self.render_json(index, body, head))
        return value

    def render_json(self, index: int, body: bytes, head: TreeHead) -> bytes:
        """The TransparencyLogEntry of the entry at ``index`` (rekor-tiles marshals every field,
        ``integratedTime`` 0, no inclusion promise) with an inclusion proof and the checkpoint of
        ``head``, as compact ASCII JSON in field order: the bytes ``runtime.direct`` and Flask
        write for its decoded form, built without a dict (the write path's answer; the parts of
        a checkpoint are made once for the entries of its batch)."""
        parts = self._head_parts
        if parts[0] is not head:
            note = json.dumps(head.note)  # the checkpoint is the one value with escapes
            parts = self._head_parts = (head, _b64(head.root_hash), str(head.size), note)
        proof = self.log.inclusion_proof(index, head.size)
        hashes = '","'.join([_b64(h) for h in proof])
        return "".join((
            '{"logIndex":"', str(index), '","logId":{"keyId":"', self._key_id_b64,
            '"},"kindVersion":{"kind":"', KIND, '","version":"', VERSION,
            '"},"integratedTime":"0","inclusionPromise":null,"inclusionProof":{"logIndex":"',
            str(index), '","rootHash":"', parts[1], '","treeSize":"', parts[2], '","hashes":[',
            f'"{hashes}"' if proof else "", '],"checkpoint":{"envelope":', parts[3],
            '}},"canonicalizedBody":"', _b64(body), '"}',
        )).encode()  # fmt: skip

    def entries(self, indexes: list[int], head: TreeHead) -> list[dict[str, Any]]:
        """The entries at ``indexes`` (each below ``head.size``), in that order."""
        found = self.log.entries_at(indexes)
        return [self.render(i, found[i].leaf, head) for i in indexes]

    def search(
        self, keys: list[str], operator: str, *, after: int, limit: int, size: int
    ) -> list[int]:
        """Indexes below ``size`` and above ``after`` of the entries carrying any (``or``) or all
        (``and``) of ``keys``, lowest first, at most ``limit``."""
        return indexes_matching(self.log.engine, self.tree_id, keys, operator,
                                after=after, limit=limit, size=size)  # fmt: skip
