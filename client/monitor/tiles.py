"""C2SP tlog-tiles arithmetic for a reader (https://c2sp.org/tlog-tiles; spec/rekor.md section 6).

A tile at level L, index N holds up to 256 hashes of tree level 8L; a node at tree level
h = 8L + r, index k is the root of 2^r consecutive hashes of one level-L tile. ``TileReader``
answers ``subtree(start, end)`` (the oracle ``protocol.merkle.consistency_proof`` builds proofs
with) and ``node(level, index)`` from tiles of a tree of ``size`` leaves, fetching each tile once
and at the width that tree has (``fetch(level, index, width)``). ``entry_bundle`` splits an entry
bundle (uint16 big-endian length before each entry).

The services keep their own copy of this arithmetic (``services.tlog.tiles``, for writing);
this one is the client's, which may not import services. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from sigstack.protocol import merkle
from sigstack.protocol.errors import ValidationError, VerificationError

WIDTH = 256
HEIGHT = 8
HASH = merkle.HASH_SIZE

Fetch = Callable[[int, int, int], bytes]


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    """``<level>/x001/x234/067[.p/<width>]``; level ``entries`` for entry bundles."""
    digits = f"{index:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    suffix = f".p/{width}" if width < WIDTH else ""
    return f"{level}/{path}{suffix}"


def tile_width(size: int, level: int, index: int) -> int:
    """How many hashes (or entries, level 0) tile ``index`` of ``level`` has in a tree of ``size``."""
    return max(0, min(WIDTH, (size >> (HEIGHT * level)) - index * WIDTH))


def entry_bundle(data: bytes, count: int) -> list[bytes]:
    """The first ``count`` entries of a bundle; ``VerificationError`` if it holds fewer or is
    malformed (a full bundle may be served where a partial one was asked for)."""
    out: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end and len(out) < count:
        if pos + 2 > end:
            raise VerificationError("an entry bundle ends inside a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > end:
            raise VerificationError("an entry bundle ends inside an entry")
        out.append(data[pos : pos + n])
        pos += n
    if len(out) != count:
        raise VerificationError(f"an entry bundle holds {len(out)} entries, expected {count}")
    return out


class TileReader:
    """Nodes and subtree hashes of a tree of ``size`` leaves, from its tiles."""

    def __init__(self, size: int, fetch: Fetch) -> None:
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], list[list[bytes]]] = {}

    def _levels(self, level: int, index: int) -> list[list[bytes]]:
        key = (level, index)
        levels = self._tiles.get(key)
        if levels is None:
            width = tile_width(self.size, level, index)
            if width == 0:
                raise ValidationError(f"tile {level}/{index} is outside a tree of {self.size}")
            data = self._fetch(level, index, width)
            if len(data) < width * HASH:
                raise VerificationError(f"tile {level}/{index} is shorter than {width} hashes")
            hashes = [data[i * HASH : (i + 1) * HASH] for i in range(width)]
            levels = [hashes]
            while len(levels[-1]) > 1:
                below = levels[-1]
                levels.append([merkle.node_hash(below[2 * i], below[2 * i + 1])
                               for i in range(len(below) // 2)])  # fmt: skip
            self._tiles[key] = levels
        return levels

    def node(self, level: int, index: int) -> bytes:
        """Root of the complete subtree of 2**level leaves starting at leaf index << level."""
        tile_level, r = divmod(level, HEIGHT)
        first = index << r
        tile_index, offset = divmod(first, WIDTH)
        levels = self._levels(tile_level, tile_index)
        if r >= len(levels) or (offset >> r) >= len(levels[r]):
            raise VerificationError(f"tile {tile_level}/{tile_index} lacks node {level}/{index}")
        return levels[r][offset >> r]

    def subtree(self, start: int, end: int) -> bytes:
        return merkle.fold_subtrees(
            [self.node(level, index) for level, index in merkle.complete_subtrees(start, end)]
        )

    def frontier_hashes(self, size: int) -> list[bytes]:
        """The complete-subtree roots of ``[0, size)``, largest first (a ``Frontier``'s)."""
        return [self.node(level, index) for level, index in merkle.complete_subtrees(0, size)]
