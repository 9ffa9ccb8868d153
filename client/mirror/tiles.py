"""What a mirror needs of C2SP tlog-tiles (https://c2sp.org/tlog-tiles; spec rekor.md section 6) on
top of ``protocol.tiles`` (the paths, widths and reader every side shares): the tiles *and entry
bundles* a tree of ``new`` leaves has that a tree of ``old`` leaves lacks or holds narrower
(``grown``: exactly what an update carries), the exact-width checks of what it reads back
(``hashes``, ``entries``, ``bundle_prefix``) and ``Tiles``, the proof-building oracle over any tile
store. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sigstack.protocol import merkle
from sigstack.protocol import tiles as _tiles
from sigstack.protocol.errors import VerificationError
from sigstack.protocol.tiles import (
    ENTRIES,
    HASH,
    HEIGHT,
    MAX_ENTRY,
    WIDTH,
    levels,
    parse_path,
    tile_path,
    width,
)
from sigstack.protocol.tiles import TileRef as Tile


def tiles(size: int) -> Iterator[Tile]:
    """Every tile and entry bundle of a tree of ``size`` (``grown(0, size)``)."""
    return grown(0, size)


def grown(old: int, new: int) -> Iterator[Tile]:
    """The tiles of the tree of ``new`` leaves that the tree of ``old`` leaves lacks or holds
    narrower, level by level from the bottom, each level-0 tile followed by its entry bundle."""
    for tile in _tiles.grown(old, new):
        yield tile
        if tile.level == 0:
            yield Tile(ENTRIES, tile.index, tile.width)


def hashes(data: bytes, tile: Tile) -> list[bytes]:
    """The hashes of a hash tile, which must hold exactly ``tile.width`` of them."""
    if len(data) != tile.width * HASH:
        raise VerificationError(
            f"tile {tile.path} has {len(data)} bytes, expected {tile.width * HASH}"
        )
    return _tiles.split_hashes(data, tile.width)


def entries(data: bytes, tile: Tile) -> list[bytes]:
    """The entries of an entry bundle, which must hold exactly ``tile.width`` of them."""
    out = _tiles.bundle_entries(data, name=f"entry bundle {tile.path}")
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


class Tiles(_tiles.TileReader):
    """Nodes and subtree hashes of the tree of ``size`` leaves, read from ``read`` (each tile once,
    at the width that tree has, which it must hold exactly)."""

    def __init__(self, size: int, read: Read) -> None:
        def fetch(level: int, index: int, w: int) -> list[bytes]:
            tile = Tile(level, index, w)
            return hashes(read(tile), tile)

        super().__init__(size, fetch)


__all__ = [
    "ENTRIES",
    "HASH",
    "HEIGHT",
    "MAX_ENTRY",
    "WIDTH",
    "Tile",
    "Tiles",
    "bundle_prefix",
    "entries",
    "grown",
    "hashes",
    "levels",
    "parse_path",
    "tile_path",
    "tile_root",
    "tiles",
    "width",
]
