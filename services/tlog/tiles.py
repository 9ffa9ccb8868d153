"""The log's tile storage shapes over ``protocol.tiles`` (C2SP tlog-tiles arithmetic and paths).

``Tile`` keeps a stored tile's subtree levels, reusing a shorter version's. ``Edge`` is the right
edge of the tree kept as the rightmost (partial) tile of every level: enough to append leaves and
compute the root, like a compact range. ``TileReader`` answers ``subtree(start, end)`` for proof
building from any tile source, with the tiles a proof touches fetched once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sigstack.protocol import merkle
from sigstack.protocol.tiles import HASH, WIDTH, node_location, tile_path
from sigstack.protocol.tiles import count as level_count


def node_from_tile(tile: bytes, offset: int, count: int) -> bytes:
    """Root of ``count`` (a power of two) hashes of a tile starting at ``offset``."""
    hashes = [tile[i * HASH : (i + 1) * HASH] for i in range(offset, offset + count)]
    return merkle.root_of(hashes)


class Tile:
    """A tile's hashes plus the subtree levels above them, computed once and kept.

    Tiles only grow and their prefixes never change, so a longer version of a tile (``base``: the
    version seen before) reuses every level hash the shorter one computed.
    """

    __slots__ = ("data", "_levels", "_base")

    def __init__(self, data: bytes, base: Tile | None = None) -> None:
        self.data = data
        self._levels: list[list[bytes]] | None = None
        self._base = base._levels if base is not None else None

    @property
    def width(self) -> int:
        return len(self.data) // HASH

    def node(self, offset: int, count: int) -> bytes:
        """Root of ``count`` (a power of two, aligned) hashes starting at ``offset``."""
        if count == 1:
            return self.data[offset * HASH : (offset + 1) * HASH]
        levels = self._levels if self._levels is not None else self._build()
        return levels[count.bit_length() - 1][offset // count]

    def _build(self) -> list[list[bytes]]:
        level = [self.data[i * HASH : (i + 1) * HASH] for i in range(self.width)]
        levels = [level]
        base = self._base or []
        while len(level) > 1:
            depth = len(levels)
            known = base[depth] if depth < len(base) else []
            n = len(level) // 2
            upper = known[:n]
            upper += [
                merkle.node_hash(level[2 * i], level[2 * i + 1]) for i in range(len(upper), n)
            ]
            level = upper
            levels.append(level)
        self._levels, self._base = levels, None
        return levels


class Edge:
    """The rightmost tile of each level for a tree of ``size`` leaves."""

    def __init__(self, size: int, tiles: dict[tuple[int, int], bytes]) -> None:
        self.size = size
        self.partial: list[bytearray] = []
        level = 0
        while True:
            index, width = divmod(level_count(size, level), WIDTH)
            data = tiles.get((level, index), b"")[: width * HASH] if width else b""
            if len(data) != width * HASH:
                raise ValueError(f"tile {level}/{index} has fewer hashes than the tree needs")
            self.partial.append(bytearray(data))
            if index == 0:
                break
            level += 1
        self._range = self._subtree_hashes()  # complete subtrees of [0, size), left to right
        self.begin()

    @staticmethod
    def needed(size: int) -> list[tuple[int, int]]:
        """The (level, index) of partial tiles an ``Edge`` of ``size`` must be loaded with."""
        out = []
        level = 0
        while True:
            index, width = divmod(level_count(size, level), WIDTH)
            if width:
                out.append((level, index))
            if index == 0:
                return out
            level += 1

    def _index(self, level: int) -> int:
        return level_count(self.size, level) // WIDTH

    def append(self, leaf_hash: bytes) -> None:
        # the compact range: the new leaf merges with every complete subtree it completes
        merged, size = leaf_hash, self.size
        while size & 1:
            merged = merkle.node_hash(self._range.pop(), merged)
            size >>= 1
        self._range.append(merged)
        level, h = 0, leaf_hash
        while True:
            if level == len(self.partial):
                self.partial.append(bytearray())
            index = self._index(level)
            tile = self.partial[level]
            tile += h
            self.dirty.add((level, index))
            if len(tile) < WIDTH * HASH:
                break
            h = node_from_tile(bytes(tile), 0, WIDTH)
            self.full_tiles[(level, index)] = bytes(tile)
            self.partial[level] = bytearray()
            level += 1
        self.size += 1

    def begin(self) -> None:
        """Start tracking the tiles touched by the next appends."""
        self.dirty: set[tuple[int, int]] = set()
        self.full_tiles: dict[tuple[int, int], bytes] = {}

    def changed_tiles(self) -> Iterable[tuple[int, int, bytes]]:
        """(level, index, content) of every tile touched since ``begin``."""
        for level, index in sorted(self.dirty):
            if (level, index) in self.full_tiles:
                yield level, index, self.full_tiles[(level, index)]
            else:
                yield level, index, bytes(self.partial[level])

    def tile(self, level: int, index: int) -> bytes | None:
        if level < len(self.partial) and index == self._index(level):
            return bytes(self.partial[level])
        return None

    def root(self) -> bytes:
        """The tree's root: its complete subtrees' hashes (``_range``, kept up to date by
        ``append``) folded, about log2(size) hashes instead of every edge tile's levels."""
        if self.size == 0:
            return merkle.EMPTY_ROOT
        return merkle.fold_subtrees(self._range)

    def _subtree_hashes(self) -> list[bytes]:
        """The hashes of ``merkle.complete_subtrees(0, size)``, read from the edge tiles: the
        compact range a loaded edge starts from."""
        hashes = []
        edge_tiles: dict[int, Tile] = {}  # several subtrees may lie in one tile
        for level, index in merkle.complete_subtrees(0, self.size):
            tl, ti, off, count = node_location(level, index)
            assert ti == self._index(tl), "root node outside the edge tiles"
            if tl not in edge_tiles:
                edge_tiles[tl] = Tile(bytes(self.partial[tl]))
            hashes.append(edge_tiles[tl].node(off, count))
        return hashes


TileSource = Callable[[int, int, int], Tile]


class TileReader:
    """Answers ``subtree(start, end)`` from tiles; ``fetch(level, index, min_width)`` gets a Tile."""

    def __init__(self, fetch: TileSource) -> None:
        self._fetch = fetch
        self._seen: dict[tuple[int, int], Tile] = {}

    def node(self, level: int, index: int) -> bytes:
        tl, ti, off, count = node_location(level, index)
        tile = self._seen.get((tl, ti))
        if tile is None or tile.width < off + count:
            tile = self._fetch(tl, ti, off + count)
            self._seen[(tl, ti)] = tile
        if tile.width < off + count:
            raise LookupError(f"tile {tl}/{ti} is missing hashes")
        return tile.node(off, count)

    def subtree(self, start: int, end: int) -> bytes:
        return merkle.fold_subtrees(
            [self.node(level, index) for level, index in merkle.complete_subtrees(start, end)]
        )


__all__ = [
    "HASH",
    "WIDTH",
    "Edge",
    "Tile",
    "TileReader",
    "node_from_tile",
    "node_location",
    "tile_path",
]
