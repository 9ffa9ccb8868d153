"""client.mirror.tiles against tiles written the long way (tests.unit.mirror.kit): paths both
ways, what a tree of N leaves has beyond one of M, roots and proofs from tiles, bundles."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigstack.client.mirror import tiles
from sigstack.client.mirror.tiles import ENTRIES, Tile
from sigstack.protocol import merkle
from sigstack.protocol.errors import ValidationError, VerificationError
from tests.unit.mirror.kit import StaticLog, path_of


@pytest.mark.parametrize(("level", "index", "width", "path"), [
    (0, 0, 256, "0/000"), (0, 1234067, 256, "0/x001/x234/067"), (2, 5, 17, "2/005.p/17"),
    (ENTRIES, 1000, 3, "entries/x001/000.p/3"), (63, 0, 1, "63/000.p/1"),
])  # fmt: skip
def test_paths_both_ways(level: int | str, index: int, width: int, path: str) -> None:
    assert tiles.tile_path(level, index, width) == path == path_of(level, index, width)
    assert tiles.parse_path(path) == Tile(level, index, width)


@pytest.mark.parametrize("path", [
    "0/0", "0/0000", "0/x000/001", "0/001.p/0", "0/001.p/256", "0/001.p/01", "64/000",
    "0/001/", "../000", "0/x01/001", "entries/001.p/", "1/000.p/1/2", "00/000", "-1/000",
])  # fmt: skip
def test_paths_refused(path: str) -> None:
    with pytest.raises(ValidationError):
        tiles.parse_path(path)


def _files(size: int) -> set[Tile]:
    return set(tiles.tiles(size))


@pytest.mark.parametrize(("old", "new"), [
    (0, 0), (0, 1), (0, 256), (1, 256), (255, 257), (256, 512), (300, 70000), (65535, 65537),
    (65536, 65536 * 2 + 1), (70000, 70000),
])  # fmt: skip
def test_grown_is_what_the_new_tree_has_beyond_the_old(old: int, new: int) -> None:
    expected = _files(new) - _files(old)
    got = list(tiles.grown(old, new))
    assert set(got) == expected and len(got) == len(expected)
    # each level-0 tile is followed by its entry bundle, levels bottom up
    for i, tile in enumerate(got):
        if tile.level == 0:
            assert got[i + 1] == Tile(ENTRIES, tile.index, tile.width)


def test_tiles_of_70000_as_the_spec_counts_them() -> None:
    """tlog-tiles' own example: 273 full + 1 partial (112) level-0 tiles, 1 full + 1 partial
    (17) level-1 tiles, 1 partial (1) level-2 tile."""
    by_level: dict[int | str, list[int]] = {}
    for tile in tiles.tiles(70000):
        by_level.setdefault(tile.level, []).append(tile.width)
    assert by_level[0] == [256] * 273 + [112] == by_level[ENTRIES]
    assert by_level[1] == [256, 17] and by_level[2] == [1] and len(by_level) == 4


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 511, 513, 65536, 65537, 70000])
def test_root_and_proofs_from_tiles(tmp_path: Path, size: int) -> None:
    log = StaticLog(tmp_path / "log", "log.example").add(size)
    leaves = [merkle.leaf_hash(e) for e in log.entries]
    reader = tiles.Tiles(size, lambda t: (log.root / "tile" / t.path).read_bytes())
    assert reader.root() == merkle.root_of(leaves)
    for old in {1, size // 2 or 1, size - 1 or 1}:
        proof = merkle.consistency_proof(old, size, reader.subtree)
        merkle.verify_consistency(old, size, proof, merkle.root_of(leaves[:old]), reader.root())


def test_entry_bundles() -> None:
    data = b"\x00\x01a\x00\x00\x00\x02bc"
    assert tiles.entries(data, Tile(ENTRIES, 0, 3)) == [b"a", b"", b"bc"]
    assert tiles.bundle_prefix(data, 2) == b"\x00\x01a\x00\x00"
    for bad, width in ((data, 2), (data, 4), (data[:-1], 3), (data + b"\x00", 4)):
        with pytest.raises(VerificationError):
            tiles.entries(bad, Tile(ENTRIES, 0, width))
    with pytest.raises(VerificationError):
        tiles.bundle_prefix(data, 4)
    with pytest.raises(VerificationError):
        tiles.hashes(b"\x00" * 33, Tile(0, 0, 1))
