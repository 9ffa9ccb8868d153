"""C2SP tlog-tiles arithmetic for a mirror (https://c2sp.org/tlog-tiles; spec rekor.md section 6).

A tile at level L, index N holds up to 256 hashes of tree level 8L: hash i is the root of the
complete subtree of 256^L leaves starting at leaf (N*256 + i) * 256^L. A tree of ``size`` leaves
has, at level L, ``size >> 8L`` such hashes; its tiles are full (256 hashes) but for the last,
which is partial (``<L>/<N>.p/<W>``) when that count is not a multiple of 256. Entry bundles
(``entries/<N>[.p/<W>]``) hold the entries behind the level-0 tile of the same index, each as a
big-endian 16-bit length and the entry.

What a mirror needs on top of a reader: which tiles a tree of ``new`` leaves has that a tree of
``old`` leaves lacks or holds narrower (``grown``: exactly what an update carries), paths parsed
back (``parse_path``: file names in a bundle or under a served directory), and ``Tiles``, which
answers nodes and subtree hashes of one tree from any tile store (the proof-building oracle of
``protocol.merkle``).

The services (``services.tlog.tiles``) and the monitor (``client.monitor.tiles``) keep their own
copies of this arithmetic; this package may import ``protocol`` only. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sigstack.protocol import merkle
from sigstack.protocol.errors import ValidationError, VerificationError

WIDTH = 256
HEIGHT = 8
HASH = merkle.HASH_SIZE
ENTRIES = "entries"
MAX_ENTRY = 0xFFFF

_PATH = re.compile(r"(?P<level>[0-9]{1,2}|entries)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
                   r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?")  # fmt: skip


@dataclass(frozen=True, order=True)
class Tile:
    """One resource of a tree: a hash tile (``level`` 0-63) or an entry bundle (``entries``)."""

    level: int | str
    index: int
    width: int

    @property
    def path(self) -> str:
        """``<level>/x001/x234/067[.p/<width>]``, relative to ``tile/``."""
        return tile_path(self.level, self.index, self.width)


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    digits = f"{index:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    return f"{level}/{path}" + (f".p/{width}" if width < WIDTH else "")


def parse_path(path: str) -> Tile:
    """The tile of a path relative to ``tile/``; ``ValidationError`` for anything else (the
    canonical form only: no leading zero groups beyond the three digits, widths 1-255)."""
    m = _PATH.fullmatch(path)
    if m is None:
        raise ValidationError(f"{path!r} is not a tlog-tiles path")
    level: int | str = m["level"] if m["level"] == ENTRIES else int(m["level"])
    index = int(m["index"].replace("x", "").replace("/", ""))
    width = int(m["width"] or WIDTH)
    if isinstance(level, int) and level > 63 or m["width"] and width >= WIDTH:
        raise ValidationError(f"{path!r} is not a tlog-tiles path")
    if tile_path(level, index, width) != path:
        raise ValidationError(f"{path!r} is not the canonical path of its tile")
    return Tile(level, index, width)


def count(size: int, level: int) -> int:
    """How many hashes level ``level`` has in a tree of ``size`` leaves."""
    return size >> (HEIGHT * level)


def width(size: int, level: int | str, index: int) -> int:
    """Hashes (entries, for a bundle) in tile ``index`` of ``level`` of a tree of ``size``; 0 when
    the tree has no such tile."""
    n = count(size, 0 if level == ENTRIES else int(level))
    return max(0, min(WIDTH, n - index * WIDTH))


def levels(size: int) -> int:
    """How many tile levels a tree of ``size`` leaves has (0 for the empty tree)."""
    n = 0
    while count(size, n) > 0:
        n += 1
    return n


def tiles(size: int) -> Iterator[Tile]:
    """Every tile and entry bundle of a tree of ``size`` (``grown(0, size)``)."""
    return grown(0, size)


def grown(old: int, new: int) -> Iterator[Tile]:
    """The tiles of the tree of ``new`` leaves that the tree of ``old`` leaves lacks or holds
    narrower, level by level from the bottom, each level-0 tile followed by its entry bundle."""
    for level in range(levels(new)):
        first = count(old, level) // WIDTH
        last = (count(new, level) + WIDTH - 1) // WIDTH
        for index in range(first, last):
            w = width(new, level, index)
            if w > width(old, level, index):
                yield Tile(level, index, w)
                if level == 0:
                    yield Tile(ENTRIES, index, w)


def hashes(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes of a hash tile, which must hold exactly ``tile.width`` of them."""
    if len(data) != tile.width * HASH:
        raise VerificationError(
            f"tile {tile.path} has {len(data)} bytes, expected {tile.width * HASH}"
        )
    return [data[i : i + HASH] for i in range(0, len(data), HASH)]


def entries(data: bytes, tile: Tile) -> list[bytes]:
    """The entries of an entry bundle, which must hold exactly ``tile.width`` of them."""
    out: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise VerificationError(f"entry bundle {tile.path} ends inside a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > end:
            raise VerificationError(f"entry bundle {tile.path} ends inside an entry")
        out.append(data[pos : pos + n])
        pos += n
    if len(out) != tile.width:
        raise VerificationError(
            f"entry bundle {tile.path} holds {len(out)} entries, expected {tile.width}"
        )
    return out


def bundle_prefix(data: bytes, count: int) -> bytes:
    """The bytes of the first ``count`` entries of a bundle (a full bundle served for a partial
    one), or ``VerificationError`` if it holds fewer."""
    pos = 0
    for _ in range(count):
        if pos + 2 > len(data):
            raise VerificationError(f"an entry bundle holds fewer than {count} entries")
        pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
    if pos > len(data):
        raise VerificationError(f"an entry bundle holds fewer than {count} entries")
    return data[:pos]


def tile_root(hashes: list[bytes]) -> bytes:
    """The hash one level up of a full tile: the root of its 256 hashes."""
    return merkle.root_of(hashes)


Read = Callable[[Tile], bytes]


class Tiles:
    """Nodes and subtree hashes of the tree of ``size`` leaves, read from ``read`` (each tile once,
    at the width that tree has)."""

    def __init__(self, size: int, read: Read) -> None:
        self.size = size
        self._read = read
        self._cache: dict[tuple[int, int], list[list[bytes]]] = {}

    def _tile(self, level: int, index: int) -> list[list[bytes]]:
        got = self._cache.get((level, index))
        if got is None:
            w = width(self.size, level, index)
            if w == 0:
                raise VerificationError(f"tile {level}/{index} is outside a tree of {self.size}")
            tile = Tile(level, index, w)
            got = [hashes(self._read(tile), tile)]
            while len(got[-1]) > 1:
                below = got[-1]
                got.append([merkle.node_hash(below[2 * i], below[2 * i + 1])
                            for i in range(len(below) // 2)])  # fmt: skip
            self._cache[(level, index)] = got
        return got

    def node(self, height: int, index: int) -> bytes:
        """Root of the complete subtree of 2**height leaves starting at leaf index << height."""
        level, r = divmod(height, HEIGHT)
        first = index << r
        tile_index, offset = divmod(first, WIDTH)
        rows = self._tile(level, tile_index)
        if r >= len(rows) or (offset >> r) >= len(rows[r]):
            raise VerificationError(f"tile {level}/{tile_index} lacks node {height}/{index}")
        return rows[r][offset >> r]

    def subtree(self, start: int, end: int) -> bytes:
        return merkle.fold_subtrees(
            [self.node(h, i) for h, i in merkle.complete_subtrees(start, end)]
        )

    def root(self) -> bytes:
        """The tree's root hash, from the tiles."""
        return merkle.EMPTY_ROOT if self.size == 0 else self.subtree(0, self.size)
