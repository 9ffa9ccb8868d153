"""What a monitor needs of C2SP tlog-tiles (https://c2sp.org/tlog-tiles; spec/rekor.md section 6)
on top of ``protocol.tiles``: ``TileReader`` over tiles fetched as bytes (a tile filled up since
the checkpoint may be served whole: its prefix is the one asked for) and ``entry_bundle``, the
first entries of a bundle. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from sigstack.protocol import tiles as _tiles
from sigstack.protocol.errors import VerificationError
from sigstack.protocol.tiles import HASH, HEIGHT, WIDTH, tile_path
from sigstack.protocol.tiles import width as tile_width

Fetch = Callable[[int, int, int], bytes]


def entry_bundle(data: bytes, count: int) -> list[bytes]:
    """The first ``count`` entries of a bundle; ``VerificationError`` if it holds fewer or is
    malformed (a full bundle may be served where a partial one was asked for)."""
    out = _tiles.bundle_entries(data, limit=count)
    if len(out) != count:
        raise VerificationError(f"an entry bundle holds {len(out)} entries, expected {count}")
    return out


class TileReader(_tiles.TileReader):
    """Nodes and subtree hashes of a tree of ``size`` leaves, from its tiles as
    ``fetch(level, index, width)`` returns them."""

    def __init__(self, size: int, fetch: Fetch) -> None:
        def hashes(level: int, index: int, width: int) -> list[bytes]:
            data = fetch(level, index, width)
            if len(data) < width * HASH:
                raise VerificationError(f"tile {level}/{index} is shorter than {width} hashes")
            return _tiles.split_hashes(data[: width * HASH], width)

        super().__init__(size, hashes)


__all__ = ["HASH", "HEIGHT", "WIDTH", "TileReader", "entry_bundle", "tile_path", "tile_width"]
