"""C2SP tlog-tiles arithmetic (https://c2sp.org/tlog-tiles) over RFC 6962 hashes, for the log
that writes tiles and for every reader (monitor, mirror, witness feeder).

A tile at level L, index N holds up to 256 hashes of tree level 8L: hash i is the root of the
complete subtree of 256^L leaves starting at leaf (N*256 + i) * 256^L. A tree of ``size`` leaves
has ``size >> 8L`` hashes at level L (``count``); its tiles there are full but for the last, which
is partial (``<L>/<N>.p/<W>``) when that count is not a multiple of 256 (``width``). A node at tree
level h = 8L + r, index k is the root of 2^r consecutive hashes of one level-L tile
(``node_location``). Entry bundles (``entries/<N>[.p/<W>]``) hold the entries behind the level-0
tile of the same index, each as a big-endian 16-bit length and the entry (``bundle_entries``).

Here: the paths (``tile_path``, ``parse_index``, ``parse_path``), which tiles a tree has and which
grow from one size to a larger one (``grown``), and ``TileReader``, which answers nodes and
subtree hashes (the proof-building oracle of ``protocol.merkle``) from a tree's tiles. Fetching
tiles, and storing them, is the caller's. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from . import merkle
from .errors import ValidationError, VerificationError

WIDTH = 256
HEIGHT = 8
HASH = merkle.HASH_SIZE
ENTRIES = "entries"  # the level part of an entry bundle's path
MAX_LEVEL = 63
MAX_ENTRY = 0xFFFF  # an entry's length prefix is 16 bits

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")  # ASCII only: str.isdigit() also says yes to "٣" and "²"
_THREE_DIGITS = re.compile(r"[0-9]{3}")


def index_path(index: int) -> str:
    """``1234067`` -> ``x001/x234/067``: 3-digit groups, all but the last prefixed ``x``."""
    digits = f"{index:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def tile_path(level: int | str, index: int, width: int = WIDTH) -> str:
    """``<level>/x001/x234/067[.p/<width>]`` (relative to ``tile/``); level ``entries`` for an
    entry bundle. A width below 256 names a partial tile."""
    return f"{level}/{index_path(index)}" + (f".p/{width}" if width < WIDTH else "")


def parse_index(parts: Sequence[str]) -> tuple[int, int | None]:
    """The index and partial width (None: a full tile) of a path's index part, split on ``/``
    (``["x001", "x234", "067.p", "5"]``). Every group is three ASCII digits, all but the last
    prefixed ``x``; a width is 1-255 without leading zeros. ``ValidationError`` otherwise."""
    width: int | None = None
    parts = list(parts)
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not _WIDTH.fullmatch(parts[-1]) or int(parts[-1]) >= WIDTH:
            raise ValidationError("bad partial tile width")
        width = int(parts[-1])
        parts = parts[:-2] + [parts[-2][:-2]]
    if not parts:
        raise ValidationError("no tile index")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if (not last and not part.startswith("x")) or not _THREE_DIGITS.fullmatch(
            part if last else part[1:]
        ):
            raise ValidationError("bad tile index")
    return int("".join(p.lstrip("x") for p in parts)), width


def parse_level(text: str) -> int | str:
    """A path's level part: 0-63 without leading zeros, or ``entries``."""
    if text == ENTRIES:
        return ENTRIES
    if not _LEVEL.fullmatch(text) or int(text) > MAX_LEVEL:
        raise ValidationError("bad tile level")
    return int(text)


@dataclass(frozen=True, order=True)
class TileRef:
    """One resource of a tree: a hash tile (``level`` 0-63) or an entry bundle (``entries``) of
    ``width`` hashes or entries (1-256)."""

    level: int | str
    index: int
    width: int

    @property
    def path(self) -> str:
        """``<level>/x001/x234/067[.p/<width>]``, relative to ``tile/``."""
        return tile_path(self.level, self.index, self.width)


def parse_path(path: str) -> TileRef:
    """The tile of a canonical path relative to ``tile/`` (the form ``tile_path`` writes: no
    extra zero groups); ``ValidationError`` for anything else."""
    level_text, _, rest = path.partition("/")
    try:
        level = parse_level(level_text)
        index, width = parse_index(rest.split("/"))
    except ValidationError:
        raise ValidationError(f"{path!r} is not a tlog-tiles path") from None
    if tile_path(level, index, width or WIDTH) != path:
        raise ValidationError(f"{path!r} is not the canonical path of its tile")
    return TileRef(level, index, width or WIDTH)


def count(size: int, level: int | str) -> int:
    """How many hashes level ``level`` has (entries, for ``entries``) in a tree of ``size``."""
    return size >> (HEIGHT * (0 if level == ENTRIES else int(level)))


def width(size: int, level: int | str, index: int) -> int:
    """Hashes (entries, for a bundle) in tile ``index`` of ``level`` of a tree of ``size``; 0 when
    the tree has no such tile."""
    return max(0, min(WIDTH, count(size, level) - index * WIDTH))


def levels(size: int) -> int:
    """How many tile levels a tree of ``size`` leaves has (0 for the empty tree)."""
    n = 0
    while count(size, n) > 0:
        n += 1
    return n


def grown(old: int, new: int) -> Iterator[TileRef]:
    """The hash tiles of the tree of ``new`` leaves that the tree of ``old`` leaves lacks or holds
    narrower, at their new width, level by level from the bottom. (Level 0's are also the entry
    bundles that grew.)"""
    for level in range(levels(new)):
        first = count(old, level) // WIDTH
        last = (count(new, level) + WIDTH - 1) // WIDTH
        for index in range(first, last):
            w = width(new, level, index)
            if w > width(old, level, index):
                yield TileRef(level, index, w)


def node_location(level: int, index: int) -> tuple[int, int, int, int]:
    """Where tree node (level, index) lives: (tile level, tile index, offset, count), the node
    being the root of ``count`` (a power of two) hashes of that tile from ``offset``."""
    tile_level, r = divmod(level, HEIGHT)
    first = index << r
    return tile_level, first // WIDTH, first % WIDTH, 1 << r


def split_hashes(data: bytes, expected: int) -> list[bytes]:
    """The hashes of a tile's bytes, which must be exactly ``expected`` of them."""
    if len(data) != expected * HASH:
        raise VerificationError(f"a tile of {len(data)} bytes, expected {expected * HASH}")
    return [data[i : i + HASH] for i in range(0, len(data), HASH)]


def subtree_levels(hashes: list[bytes]) -> list[list[bytes]]:
    """A tile's hashes, then the complete-subtree roots above them, level by level (the last
    level's odd hash, if any, has no parent within the tile)."""
    rows = [hashes]
    while len(rows[-1]) > 1:
        below = rows[-1]
        rows.append([merkle.node_hash(below[2 * i], below[2 * i + 1])
                     for i in range(len(below) // 2)])  # fmt: skip
    return rows


def bundle_entries(
    data: bytes, limit: int | None = None, name: str = "an entry bundle"
) -> list[bytes]:
    """The entries of an entry bundle (all, or the first ``limit``); ``VerificationError`` naming
    the bundle ``name`` if a length prefix or an entry is cut short."""
    out: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end and (limit is None or len(out) < limit):
        if pos + 2 > end:
            raise VerificationError(f"{name} ends inside a length prefix")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > end:
            raise VerificationError(f"{name} ends inside an entry")
        out.append(data[pos : pos + n])
        pos += n
    return out


Fetch = Callable[[int, int, int], list[bytes]]


class TileReader:
    """Nodes and subtree hashes of the tree of ``size`` leaves, from its tiles:
    ``fetch(level, index, width)`` gives the ``width`` hashes that tree has in that tile (the
    caller checks what it read). Each tile is fetched once."""

    def __init__(self, size: int, fetch: Fetch) -> None:
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], list[list[bytes]]] = {}

    def _rows(self, level: int, index: int) -> list[list[bytes]]:
        rows = self._tiles.get((level, index))
        if rows is None:
            w = width(self.size, level, index)
            if w == 0:
                raise VerificationError(f"tile {level}/{index} is outside a tree of {self.size}")
            hashes = self._fetch(level, index, w)
            if len(hashes) != w or any(len(h) != HASH for h in hashes):
                raise VerificationError(f"tile {level}/{index} does not hold {w} hashes")
            rows = self._tiles[(level, index)] = subtree_levels(hashes)
        return rows

    def node(self, height: int, index: int) -> bytes:
        """Root of the complete subtree of 2**height leaves starting at leaf index << height."""
        level, tile_index, offset, n = node_location(height, index)
        rows = self._rows(level, tile_index)
        r = n.bit_length() - 1
        if r >= len(rows) or (offset >> r) >= len(rows[r]):
            raise VerificationError(f"tile {level}/{tile_index} lacks node {height}/{index}")
        return rows[r][offset >> r]

    def subtree(self, start: int, end: int) -> bytes:
        return merkle.fold_subtrees(
            [self.node(h, i) for h, i in merkle.complete_subtrees(start, end)]
        )

    def frontier_hashes(self, size: int) -> list[bytes]:
        """The complete-subtree roots of ``[0, size)``, largest first (a ``Frontier``'s)."""
        return [self.node(h, i) for h, i in merkle.complete_subtrees(0, size)]

    def root(self) -> bytes:
        """The tree's root hash, from the tiles."""
        return merkle.EMPTY_ROOT if self.size == 0 else self.subtree(0, self.size)


__all__ = [
    "ENTRIES",
    "HASH",
    "HEIGHT",
    "MAX_ENTRY",
    "MAX_LEVEL",
    "WIDTH",
    "TileReader",
    "TileRef",
    "bundle_entries",
    "count",
    "grown",
    "index_path",
    "levels",
    "node_location",
    "parse_index",
    "parse_level",
    "parse_path",
    "split_hashes",
    "subtree_levels",
    "tile_path",
    "width",
]
