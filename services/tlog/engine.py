"""The append-only log engine shared by Rekor and the CT log.

Appends are batched: requests hand a leaf to the process's sequencer thread (``Log.submit``, which
returns a ``Ticket``) and wait for it: a thread blocks in ``Ticket.join`` (``Log.append`` does both),
an event loop is woken by the ticket's ``notify``. The sequencer wakes on the first leaf, lets the
batch gather for ``batch_wait`` seconds, takes up to ``batch_max`` waiting leaves (one wake per batch,
not per leaf), and in ONE database transaction locks the tree row,
deduplicates, assigns consecutive indexes, stores leaves and changed tiles, computes the new root,
has the personality sign the new head, and commits. Only then are the waiting requests answered, so an
acknowledged entry is always durable and every signed head is one the database holds.

Several worker processes or hosts may share a database: the row lock (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) serialises batches, and each batch re-reads the tree size and
reloads the right edge when another writer has moved it. Nothing a second worker would need lives only
in process memory (the tile cache holds immutable prefixes only).

Reads (entries, heads, proofs, tiles, in ``reads``) need no lock: tiles only grow, so proofs built for a
committed head stay valid while writers append.

Freezing (``Log.freeze``) takes the same row lock: it waits for the batch being committed, marks the
tree frozen (``tlog_trees.frozen_ms``) and stores a final signed checkpoint of the head it found.
Every entry acknowledged before is in that checkpoint; every batch after it reads the mark under
the lock and is refused (``FrozenError``), by every worker and host, after any restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sigstack.protocol.errors import ConfigError, UnavailableError, ValidationError

from . import store
from .freeze import SignHead, freeze_tree, frozen_error
from .publish import Cosign, Publisher, integrated_size
from .reads import Entry, Frozen, LogReads, TreeHead
from .tickets import Appended, OnSequenced, Sequenced, Ticket
from .tiles import Edge, Tile

log = logging.getLogger("sigstack.tlog")

MAX_LEAF = 65535  # C2SP entry bundles prefix each entry with a uint16 length


class Log(LogReads):
    """One log (tree) in a database. Create with ``open_log``. Reads are in ``reads.LogReads``."""

    def __init__(
        self,
        engine: Engine,
        tree_id: int,
        sign_head: SignHead,
        *,
        batch_max: int = 256,
        batch_wait: float = 0.002,
        on_sequenced: OnSequenced | None = None,
        cache_tiles: int = 4096,
        cosign: Cosign | None = None,
        append_timeout: float = 30.0,
    ) -> None:
        self.engine = engine
        self.tree_id = tree_id
        self._sign_head = sign_head
        self._batch_max = batch_max
        self._batch_wait = batch_wait
        self._on_sequenced = on_sequenced
        self._cache: OrderedDict[tuple[int, int], Tile] = OrderedDict()
        self._cache_max = cache_tiles
        self._cache_lock = threading.Lock()
        self._subtrees: dict[tuple[int, int], bytes] = {}
        self._edge: Edge | None = None
        self._conn: Connection | None = None
        self._pid = -1
        self._queue: queue.SimpleQueue[Ticket] = queue.SimpleQueue()
        self._start_lock = threading.Lock()
        self._append_timeout = append_timeout
        # with witnesses, heads are published by this (module publish), not by the batch
        self._publisher = None if cosign is None else Publisher(self, sign_head, cosign)
        self._frozen: str | None = None  # set once a batch found the log frozen: its successor
        self._is_frozen = False

    # ---- writing -------------------------------------------------------------------------------

    def append(
        self,
        leaf: bytes,
        identity: bytes | None = None,
        extra: bytes = b"",
        keys: tuple[str, ...] = (),
        timeout: float | None = None,
    ) -> Appended:
        """Append ``leaf``; block until it is committed. ``identity`` deduplicates (default: leaf
        hash); ``keys`` reach ``on_sequenced`` if the leaf is new (Rekor's search index)."""
        return self.submit(leaf, identity, extra, keys, timeout=timeout).wait()

    def submit(
        self,
        leaf: bytes,
        identity: bytes | None = None,
        extra: bytes = b"",
        keys: tuple[str, ...] = (),
        *,
        notify: Callable[[], None] | None = None,
        timeout: float | None = None,
    ) -> Ticket:
        """Hand ``leaf`` to the sequencer and return at once (``append`` without the wait): the
        ``Ticket`` gives the outcome, and calls ``notify`` (from another thread) when it is known.
        Refusals that need no batch (too long, frozen) are raised here."""
        if len(leaf) > MAX_LEAF:
            raise ValidationError(f"entry is {len(leaf)} bytes; the log accepts at most {MAX_LEAF}")
        if self._is_frozen:  # for good: no need to ask the database again
            raise frozen_error(self._frozen)
        self._ensure_sequencer()
        item = Ticket(leaf, identity, extra, keys, notify,
                      self._append_timeout if timeout is None else timeout, self._late)  # fmt: skip
        self._queue.put(item)
        return item

    def _late(self) -> Exception:
        if self._publisher is not None and self._publisher.withheld:
            return self._publisher.withheld_error()
        return UnavailableError("the log did not sequence the entry in time; retry")

    def _ensure_sequencer(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._edge = None
                self._conn = None  # a forked child must not share its parent's connection
                threading.Thread(target=self._run, name=f"tlog-{self.tree_id}", daemon=True).start()
                if self._publisher is not None:  # it publishes what an earlier run left, too
                    self._publisher.start(f"tlog-{self.tree_id}-publish")
                self._pid = os.getpid()

    def _run(self) -> None:
        q = self._queue
        while True:
            batch = [q.get()]
            # Let the batch gather for batch_wait, then take what came: one wake per batch
            # instead of one per entry (each wake is a thread switch and a GIL hand-over).
            time.sleep(self._batch_wait)
            while len(batch) < self._batch_max:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except Exception as exc:
                if len(batch) == 1:
                    self._fail(batch, exc)
                    continue
                # One item may be what the database refused: commit each on its own, so that a
                # bad item fails alone and never the entries that happened to share its batch.
                log.warning("log batch of %d failed (%s); committing its items one by one",
                            len(batch), type(exc).__name__)  # fmt: skip
                for item in batch:
                    try:
                        self._commit([item])
                    except Exception as item_exc:  # noqa: BLE001 (reported to the waiter)
                        self._fail([item], item_exc)

    def _fail(self, items: list[Ticket], exc: Exception) -> None:
        """Tell every waiter of ``items`` that its entry was not logged."""
        self._edge = None
        if isinstance(exc, SQLAlchemyError):
            log.exception("log batch failed", exc_info=exc)
            exc = UnavailableError("log storage is unavailable; retry")
        elif not isinstance(exc, ValidationError):
            log.exception("log batch failed", exc_info=exc)
            exc = UnavailableError("the log could not sequence the entry; retry")
        for item in items:
            item.finish(None, exc)

    def _writer(self) -> Connection:
        """The sequencer's own connection, kept between batches (no pool checkout, ping or reset
        per batch); dropped after any failure so that the next batch starts on a fresh one."""
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(immediate=True)
        return self._conn

    def _commit(self, batch: list[Ticket]) -> None:
        conn = self._writer()
        try:
            with conn.begin():
                row = store.lock_head(conn, self.tree_id)
                edge: Edge | None = None
                if row.frozen_ms is not None:  # nothing written: the transaction ends empty
                    self._frozen, self._is_frozen = row.successor, True
                else:
                    edge, size = self._edge, row.size
                    if edge is None or self._publisher is not None:  # entries past the head?
                        size = max(size, integrated_size(conn, self.tree_id))
                    if edge is None or edge.size != size:
                        edge = self._load_edge(conn, size)
                    edge.begin()
                    head, results = self._sequence(conn, edge, batch, row)
        except BaseException:
            self._edge = None
            self._conn = None
            with contextlib.suppress(Exception):
                conn.invalidate()  # whatever state the failure left it in, it is not reused
                conn.close()
            raise
        if edge is None:  # the log is frozen
            for item in batch:
                item.finish(None, frozen_error(self._frozen))
            return
        self._edge = edge
        with self._cache_lock:
            for level, index, data in edge.changed_tiles():
                self._cache_put((level, index), data)
        answers = [(index, _answer(item, index, duplicate, integrated))
                   for item, (index, duplicate, integrated) in zip(batch, results, strict=True)]  # fmt: skip
        if head is None:  # answered once a witnessed checkpoint holds them
            assert self._publisher is not None
            self._publisher.committed(answers)
            return
        for _, answer in answers:
            answer(head)

    def _sequence(
        self, conn: Connection, edge: Edge, batch: list[Ticket], row: Any
    ) -> tuple[TreeHead | None, list[tuple[int, bool, int]]]:
        existing = store.existing(conn, self.tree_id, list({item.identity for item in batch}))
        now_ms = int(time.time() * 1000)
        rows: list[dict[str, Any]] = []
        results: list[tuple[int, bool, int]] = []
        sequenced: list[Sequenced] = []
        for item in batch:
            if item.identity in existing:
                index, integrated = existing[item.identity]
                results.append((index, True, integrated))
                continue
            index = edge.size
            edge.append(item.leaf_hash)
            existing[item.identity] = (index, now_ms)
            rows.append(
                {
                    "tree_id": self.tree_id,
                    "idx": index,
                    "leaf_hash": item.leaf_hash,
                    "identity": item.identity,
                    "data": item.leaf,
                    "extra": item.extra,
                    "integrated_ms": now_ms,
                }
            )
            results.append((index, False, now_ms))
            sequenced.append(Sequenced(index, item.keys))
        if self._publisher is not None and rows:  # the head is the publisher's to sign
            store.insert_entries(conn, rows)
            store.store_tiles(conn, self.tree_id, edge.changed_tiles())
        if self._publisher is not None:
            if rows and self._on_sequenced is not None:
                self._on_sequenced(conn, sequenced)
            return None, results
        if not rows:
            head = TreeHead(row.size, bytes(row.root_hash), row.timestamp_ms, row.note)
            return head, results
        store.insert_entries(conn, rows)
        store.store_tiles(conn, self.tree_id, edge.changed_tiles())
        root = edge.root()
        note = self._sign_head(edge.size, root, now_ms)
        store.update_head(conn, self.tree_id, edge.size, root, now_ms, note)
        if self._on_sequenced is not None:
            self._on_sequenced(conn, sequenced)
        return TreeHead(edge.size, root, now_ms, note), results

    def _load_edge(self, conn: Connection, size: int) -> Edge:
        tiles = store.load_tiles(conn, self.tree_id, Edge.needed(size))
        try:
            return Edge(size, tiles)
        except ValueError as exc:
            raise ConfigError(f"log {self.tree_id} storage is inconsistent: {exc}") from exc

    # ---- freezing ------------------------------------------------------------------------------

    def freeze(self, final_note: SignHead, successor: str | None = None) -> Frozen:
        """Make the log read-only for good with a final checkpoint (``freeze.freeze_tree``)."""
        return freeze_tree(self, final_note, successor)


def _answer(
    item: Ticket, index: int, duplicate: bool, integrated: int
) -> Callable[[TreeHead], None]:
    def answer(head: TreeHead) -> None:
        item.finish(Appended(index, item.leaf_hash, integrated, duplicate, head))

    return answer


def open_log(
    engine: Engine,
    name: str,
    public_key: bytes,
    sign_head: SignHead,
    *,
    create: bool = True,
    **options: Any,
) -> Log:
    """Open the log called ``name``; create it when absent and ``create`` is true.

    ``public_key`` (DER SPKI of the log's key) must match the key the log was created with: a log never
    silently changes keys (ConfigError otherwise).
    """
    with engine.connect() as conn:
        row = store.find_tree(conn, name)
    if row is not None:
        if bytes(row.public_key) != public_key:
            raise ConfigError(
                f"log {name!r} in this database was created with a different key; refusing to "
                "start (restore the original key or use a new database)"
            )
        return Log(engine, row.tree_id, sign_head, **options)
    if not create:
        raise ConfigError(f"log {name!r} does not exist in this database")
    with engine.begin() as conn:
        tree_id = store.create_tree(conn, name, public_key)
    return Log(engine, tree_id, sign_head, **options)


def identity_of(*parts: bytes) -> bytes:
    """A dedup identity from several byte strings (length-prefixed, hashed)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big") + p)
    return h.digest()


__all__ = [
    "Appended",
    "SignHead",
    "Entry",
    "Frozen",
    "Log",
    "OnSequenced",
    "Sequenced",
    "Ticket",
    "TreeHead",
    "identity_of",
    "open_log",
]
