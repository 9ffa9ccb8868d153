"""The read side of a log: heads, entries, tiles and proofs.

Reads take no lock: tiles only grow, so a proof built for a committed head stays valid while
writers append. Tiles are kept in a per-process LRU cache of immutable prefixes (a longer version
of a tile replaces a shorter one); a proof fetches every tile it lacks in one query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine, select, tuple_

from sigstack.protocol import merkle
from sigstack.protocol.errors import NotFoundError

from . import store
from .tiles import HASH, Tile, TileReader, node_location

T = TypeVar("T")

SUBTREES_MAX = 1 << 14  # subtree hashes a log keeps (about 3 MiB); the memo starts over when full


class _NotCached(Exception):
    """A tile ``LogReads._cached`` does not hold (or not wide enough)."""


@dataclass(frozen=True)
class TreeHead:
    size: int
    root_hash: bytes
    timestamp_ms: int
    note: str


@dataclass(frozen=True)
class Frozen:
    """A frozen log: its final head (the final checkpoint in ``head.note``), when it was frozen,
    and the URL of the log that replaces it (if the operator named one)."""

    head: TreeHead
    frozen_ms: int
    successor: str | None


@dataclass(frozen=True)
class Entry:
    index: int
    leaf: bytes
    extra: bytes
    leaf_hash: bytes
    integrated_ms: int


class LogReads:
    engine: Engine
    tree_id: int
    _cache: OrderedDict[tuple[int, int], Tile]
    _cache_max: int
    _cache_lock: threading.Lock
    # (start, end) -> hash of leaves [start, end): fixed once the range is committed, and proofs
    # only ask about committed ranges; entries of one batch share most of their proofs' nodes
    _subtrees: dict[tuple[int, int], bytes]

    def head(self) -> TreeHead:
        t = store.trees
        with self.engine.connect() as conn:
            r = conn.execute(
                select(t.c.size, t.c.root_hash, t.c.timestamp_ms, t.c.note).where(
                    t.c.tree_id == self.tree_id
                )
            ).one()
        return TreeHead(r.size, bytes(r.root_hash), r.timestamp_ms, r.note)

    def frozen(self) -> Frozen | None:
        """The log's frozen state, or None while it takes entries."""
        t = store.trees
        with self.engine.connect() as conn:
            r = conn.execute(
                select(t.c.size, t.c.root_hash, t.c.timestamp_ms, t.c.note, t.c.frozen_ms,
                       t.c.successor).where(t.c.tree_id == self.tree_id)
            ).one()  # fmt: skip
        if r.frozen_ms is None:
            return None
        head = TreeHead(r.size, bytes(r.root_hash), r.timestamp_ms, r.note)
        return Frozen(head, r.frozen_ms, r.successor)

    def entries(self, start: int, end: int) -> list[Entry]:
        e = store.entries
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e.c.idx, e.c.data, e.c.extra, e.c.leaf_hash, e.c.integrated_ms)
                .where(e.c.tree_id == self.tree_id, e.c.idx >= start, e.c.idx < end)
                .order_by(e.c.idx)
            ).all()
        return [
            Entry(r.idx, bytes(r.data), bytes(r.extra), bytes(r.leaf_hash), r.integrated_ms)
            for r in rows
        ]

    def entries_at(self, indexes: Sequence[int]) -> dict[int, Entry]:
        """The entries at ``indexes`` that the log holds, by index (in one query)."""
        e = store.entries
        if not indexes:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(e.c.idx, e.c.data, e.c.extra, e.c.leaf_hash, e.c.integrated_ms).where(
                    e.c.tree_id == self.tree_id, e.c.idx.in_(list(indexes))
                )
            ).all()
        return {
            r.idx: Entry(r.idx, bytes(r.data), bytes(r.extra), bytes(r.leaf_hash), r.integrated_ms)
            for r in rows
        }

    def entry(self, index: int) -> Entry:
        found = self.entries(index, index + 1) if index >= 0 else []
        if not found:
            raise NotFoundError(f"no entry at index {index}")
        return found[0]

    def indexes_of(self, leaf_hashes: Sequence[bytes]) -> dict[bytes, int]:
        """Map each leaf hash present in the log to its (first) index."""
        e = store.entries
        out: dict[bytes, int] = {}
        if not leaf_hashes:
            return out
        with self.engine.connect() as conn:
            for r in conn.execute(
                select(e.c.leaf_hash, e.c.idx)
                .where(e.c.tree_id == self.tree_id, e.c.leaf_hash.in_(list(leaf_hashes)))
                .order_by(e.c.idx)
            ):
                out.setdefault(bytes(r.leaf_hash), r.idx)
        return out

    def index_of(self, leaf_hash: bytes) -> int | None:
        return self.indexes_of([leaf_hash]).get(leaf_hash)

    def tile(self, level: int, index: int, min_width: int = 1) -> bytes:
        """Tile content (at least ``min_width`` hashes, possibly more); NotFoundError if shorter."""
        return self._tile(level, index, min_width).data

    def _tile(self, level: int, index: int, min_width: int = 1) -> Tile:
        key = (level, index)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None and cached.width >= min_width:
                self._cache.move_to_end(key)
                return cached
        t = store.tiles
        with self.engine.connect() as conn:
            data = conn.execute(
                select(t.c.hashes).where(
                    t.c.tree_id == self.tree_id, t.c.level == level, t.c.idx == index
                )
            ).scalar()
        if data is None or len(data) < min_width * HASH:
            raise NotFoundError(f"tile {level}/{index} does not exist")
        with self._cache_lock:
            return self._cache_put(key, bytes(data))

    def _cache_put(self, key: tuple[int, int], data: bytes) -> Tile:
        """Keep the longest version of a tile seen (tiles only grow); return what is cached."""
        current = self._cache.get(key)
        if current is None or current.width < len(data) // HASH:
            current = self._cache[key] = Tile(data, base=current)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_max:
            self._cache.popitem(last=False)
        return current

    def _reader(self) -> TileReader:
        return TileReader(self._tile)

    def _cached(self, level: int, index: int, min_width: int = 1) -> Tile:
        """A tile from the cache, at least ``min_width`` wide; ``_NotCached`` otherwise."""
        with self._cache_lock:
            cached = self._cache.get((level, index))
            if cached is None or cached.width < min_width:
                raise _NotCached
            self._cache.move_to_end((level, index))
            return cached

    def _with_tiles(self, build: Callable[[merkle.Subtree], T]) -> T:
        """Run a proof builder on cached tiles; when one is missing (``_NotCached``), run it
        twice: first with a recording oracle to learn which tiles it needs (the ranges depend
        only on sizes and indexes), then for real after fetching every tile missing from the
        cache in one query. Proofs for new entries are built from the tiles their batch just
        wrote, which the sequencer put in the cache: one pass."""
        try:
            return build(self._memoized(TileReader(self._cached)))
        except _NotCached:
            pass
        ranges: list[tuple[int, int]] = []

        def record(start: int, end: int) -> bytes:
            ranges.append((start, end))
            return merkle.EMPTY_ROOT

        build(record)
        need: dict[tuple[int, int], int] = {}
        for start, end in ranges:
            for level, index in merkle.complete_subtrees(start, end):
                tl, ti, off, count = node_location(level, index)
                need[(tl, ti)] = max(need.get((tl, ti), 0), off + count)
        with self._cache_lock:
            missing = [k for k, w in need.items()
                       if k not in self._cache or self._cache[k].width < w]  # fmt: skip
        if len(missing) > 1:
            t = store.tiles
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(t.c.level, t.c.idx, t.c.hashes).where(
                        t.c.tree_id == self.tree_id, tuple_(t.c.level, t.c.idx).in_(missing)
                    )
                ).all()
            with self._cache_lock:
                for r in rows:
                    self._cache_put((r.level, r.idx), bytes(r.hashes))
        return build(self._memoized(self._reader()))

    def _memoized(self, reader: TileReader) -> merkle.Subtree:
        """``reader.subtree``, answered from (and kept in) the log's memo of subtree hashes."""
        memo = self._subtrees

        def subtree(start: int, end: int) -> bytes:
            found = memo.get((start, end))
            if found is None:
                found = reader.subtree(start, end)
                if len(memo) >= SUBTREES_MAX:
                    memo.clear()
                memo[(start, end)] = found
            return found

        return subtree

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self._with_tiles(lambda oracle: merkle.inclusion_proof(index, size, oracle))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        if size1 == size2:
            return []
        return self._with_tiles(lambda oracle: merkle.consistency_proof(size1, size2, oracle))

    def root_at(self, size: int) -> bytes:
        return merkle.EMPTY_ROOT if size == 0 else self._reader().subtree(0, size)


class TreeReader(LogReads):
    """Read access to one log by tree ID: no key, no sequencer (``open_reader``)."""

    def __init__(self, engine: Engine, tree_id: int, cache_tiles: int = 4096) -> None:
        self.engine = engine
        self.tree_id = tree_id
        self._cache = OrderedDict()
        self._cache_max = cache_tiles
        self._cache_lock = threading.Lock()
        self._subtrees = {}


def open_reader(engine: Engine, name: str) -> TreeReader | None:
    """Read access to the log called ``name``, or None if the database holds no such log."""
    t = store.trees
    with engine.connect() as conn:
        tree_id = conn.execute(select(t.c.tree_id).where(t.c.name == name)).scalar()
    return None if tree_id is None else TreeReader(engine, int(tree_id))


def log_names(engine: Engine, prefix: str = "") -> list[str]:
    """The names of the logs in a database that start with ``prefix``, sorted."""
    t = store.trees
    with engine.connect() as conn:
        names = conn.execute(select(t.c.name)).scalars().all()
    return sorted(n for n in names if n.startswith(prefix))
