"""Rekor's personality on the log engine: entry IDs, signed entry timestamps, v1 checkpoints.

- entry UUID = hex leaf hash; entryID = 16-hex tree ID + UUID (80 hex).
- SET = the log key's signature over RFC 8785 ``{body, integratedTime, logID, logIndex}``, made on
  every response like Rekor v1 (ECDSA signatures are randomised, so nothing signed is stored but heads).
- checkpoints: ``<hostname> - <treeID>`` origin, signed by key name ``<hostname>`` with key hint
  SHA-256(DER SPKI)[:4] (spec/rekor.md section 3), one per committed batch.
- ``add`` is "log this entry, or tell me it exists": the rendered entry, or a ``ConflictError``
  naming the existing one (409 with ``Location``). Search keys go to ``store`` in the batch's
  transaction; the search SQL is there too.
- ``freeze`` makes the log read-only for good (a shard replaced by a new log): its final
  checkpoint carries the extension line ``Log frozen — <time>``, and ``add`` answers
  ``FrozenError`` (405) from then on; reads and proofs go on against the final checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from sigstack.protocol import note
from sigstack.protocol.errors import ConflictError, FrozenError, NotFoundError, ValidationError
from sigstack.protocol.rekor import set_payload
from sigstack.services.keys import Signer
from sigstack.services.tlog import (
    Entry,
    Frozen,
    Log,
    Sequenced,
    Ticket,
    TreeHead,
    frozen_line,
    open_log,
)

from . import store
from .types import Prepared

ENTRIES = "/api/v1/log/entries"  # an entry's Location is ENTRIES/<entryID>


@dataclass(frozen=True)
class Added:
    """A new entry: its entryID, its ``Location`` and its ``{entryID: LogEntryAnon}`` answer."""

    entry_id: str
    location: str
    rendered: dict[str, Any]


class RekorLog:
    def __init__(
        self, engine: Engine, signer: Signer, hostname: str, *, create: bool = False, **options: Any
    ) -> None:
        self.signer = signer
        self.hostname = hostname
        self.log_id = hashlib.sha256(signer.public_der).digest()
        self.log_id_hex = self.log_id.hex()
        self.log: Log = open_log(
            engine,
            "rekor",
            signer.public_der,
            self._sign_head,
            create=create,
            on_sequenced=self._index,
            **options,
        )
        self.tree_id = self.log.tree_id
        self.origin = note.rekor_v1_origin(hostname, self.tree_id)

    # ---- signing -------------------------------------------------------------------------------

    def _sign_head(self, size: int, root: bytes, timestamp_ms: int) -> str:
        checkpoint = note.Checkpoint(self.origin, size, root)
        return note.sign_checkpoint(checkpoint, self.hostname, self.log_id[:4], self.signer.sign)

    def _sign_final(self, size: int, root: bytes, frozen_ms: int) -> str:
        checkpoint = note.Checkpoint(self.origin, size, root, (frozen_line(frozen_ms),))
        return note.sign_checkpoint(checkpoint, self.hostname, self.log_id[:4], self.signer.sign)

    def freeze(self, successor: str | None = None) -> Frozen:
        """Freeze the log for good (``tlog.Log.freeze``) with a final checkpoint; ``successor``
        is the URL of the log that replaces it, named in the refusals of later writes."""
        return self.log.freeze(self._sign_final, successor)

    def head(self) -> TreeHead:
        head = self.log.head()
        if not head.note:  # the empty tree's head is signed when first asked for
            head = TreeHead(
                head.size,
                head.root_hash,
                head.timestamp_ms,
                self._sign_head(head.size, head.root_hash, head.timestamp_ms),
            )
        return head

    def _index(self, conn: Connection, sequenced: list[Sequenced]) -> None:
        store.add_keys(conn, self.tree_id, sequenced)

    def size(self) -> int:
        """The size of the latest committed tree."""
        return self.log.head().size

    def close(self) -> None:
        """Drop the database connections (before a fork: none may cross it, runtime.server)."""
        self.log.engine.dispose()

    # ---- ids -----------------------------------------------------------------------------------

    def entry_id(self, leaf_hash: bytes) -> str:
        return f"{self.tree_id:016x}{leaf_hash.hex()}"

    def parse_entry_id(self, text: str) -> bytes:
        """Leaf hash named by a 64-hex UUID or an 80-hex entryID; NotFoundError for other trees."""
        t = text.lower()
        if len(t) not in (64, 80) or any(c not in "0123456789abcdef" for c in t):
            raise ValidationError("entry UUID must be 64 or 80 hexadecimal characters")
        if len(t) == 80:
            if int(t[:16], 16) != self.tree_id:
                raise NotFoundError("no entry with that ID in this log")
            t = t[16:]
        return bytes.fromhex(t)

    # ---- entries -------------------------------------------------------------------------------

    def add(self, prepared: Prepared) -> Added:
        """Log ``prepared`` (block until committed) and answer it; ``ConflictError`` with the
        existing entry's ``Location`` when an equal body is logged already."""
        ticket = self.submit(prepared)
        ticket.join()
        return self.answer(prepared, ticket)

    def submit(self, prepared: Prepared, notify: Callable[[], None] | None = None) -> Ticket:
        """``add`` without the wait: hand the entry to the sequencer (``Log.submit``); ``answer``
        makes the reply from the ticket's outcome."""
        try:
            return self.log.submit(prepared.body, keys=prepared.index_keys, notify=notify)
        except FrozenError as exc:
            raise _frozen(exc) from None

    def answer(self, prepared: Prepared, ticket: Ticket) -> Added:
        """The answer to ``prepared`` once its ``ticket`` is done: the append's error (a frozen
        log's 405 allowing reads), or ``ConflictError`` for an entry logged already."""
        try:
            appended = ticket.outcome()
        except FrozenError as exc:
            raise _frozen(exc) from None
        entry_id = self.entry_id(appended.leaf_hash)
        location = f"{ENTRIES}/{entry_id}"
        if appended.duplicate:
            raise ConflictError(
                f"an equivalent entry already exists in the transparency log with UUID {entry_id}",
                location=location,
            )
        entry = Entry(
            appended.index, prepared.body, b"", appended.leaf_hash, appended.integrated_ms
        )
        return Added(entry_id, location, self.render(entry, appended.head))

    def render(self, entry: Entry, head: TreeHead) -> dict[str, Any]:
        """The ``{entryID: LogEntryAnon}`` object with SET and inclusion proof against ``head``."""
        body = base64.b64encode(entry.leaf).decode()
        integrated = entry.integrated_ms // 1000
        payload = set_payload(body, integrated, self.log_id_hex, entry.index)
        proof = self.log.inclusion_proof(entry.index, head.size)
        return {
            self.entry_id(entry.leaf_hash): {
                "body": body,
                "integratedTime": integrated,
                "logID": self.log_id_hex,
                "logIndex": entry.index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": head.note,
                        "hashes": [h.hex() for h in proof],
                        "logIndex": entry.index,
                        "rootHash": head.root_hash.hex(),
                        "treeSize": head.size,
                    },
                    "signedEntryTimestamp": base64.b64encode(self.signer.sign(payload)).decode(),
                },
            }
        }

    def by_index(self, index: int, head: TreeHead | None = None) -> dict[str, Any]:
        head = head or self.head()
        if not 0 <= index < head.size:
            raise NotFoundError(f"no entry at index {index}")
        return self.render(self.log.entry(index), head)

    def by_leaf_hashes(self, leaf_hashes: list[bytes]) -> list[dict[str, Any]]:
        head = self.head()
        found = self.log.indexes_of(leaf_hashes)
        return [
            self.by_index(found[h], head)
            for h in dict.fromkeys(leaf_hashes)
            if h in found and found[h] < head.size
        ]

    def consistency(self, first: int, last: int) -> tuple[list[bytes], bytes]:
        """The consistency proof from tree size ``first`` to ``last`` and the root at ``last``."""
        return self.log.consistency_proof(first, last), self.log.root_at(last)

    def search(self, keys: list[list[str]], operator: str) -> list[str]:
        """Entry IDs whose index keys match: ``keys`` is one list of alternatives per criterion."""
        matched = store.leaf_hashes_matching(self.log.engine, self.tree_id, keys, operator)
        return sorted(self.entry_id(h) for h in matched)


def _frozen(exc: FrozenError) -> FrozenError:
    """A frozen log's refusal of a write, allowing the reads the entries path still answers."""
    return FrozenError(exc.message, exc.successor, allow=("GET", "HEAD"))
