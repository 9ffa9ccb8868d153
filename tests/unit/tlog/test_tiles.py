"""``tlog.tiles.Edge``: the root it keeps as a compact range while appending, and the one it starts
from when loaded out of stored tiles, against the reference tree, across tile boundaries of the
first three levels."""

from __future__ import annotations

import hashlib

from sigstack.protocol import merkle
from sigstack.services.tlog.tiles import Edge

BOUNDARIES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 65536 + 256 + 3]


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(n)]


def test_the_root_follows_appends_and_survives_a_reload() -> None:
    hashes = _leaves(BOUNDARIES[-1] + 3)
    edge = Edge(0, {})
    assert edge.root() == merkle.EMPTY_ROOT
    stored: dict[tuple[int, int], bytes] = {}  # what the sequencer would have written
    for size in BOUNDARIES:
        edge.begin()
        while edge.size < size:
            edge.append(hashes[edge.size])
        stored.update({(level, index): data for level, index, data in edge.changed_tiles()})
        want = merkle.root_of(hashes[:size])
        assert edge.root() == want, size
        loaded = Edge(size, {key: stored[key] for key in Edge.needed(size)})
        assert loaded.root() == want, size
        for grown in range(size + 1, size + 4):  # a reloaded edge goes on from where it stood
            loaded.append(hashes[grown - 1])
            assert loaded.root() == merkle.root_of(hashes[:grown]), (size, grown)
