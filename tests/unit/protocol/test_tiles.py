"""protocol.tiles: C2SP tlog-tiles paths, widths, which tiles grow, and nodes read from tiles."""

from __future__ import annotations

import pytest

from sigstack.protocol import merkle, tiles
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.tiles import ENTRIES, TileRef


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        # the examples of c2sp.org/tlog-tiles ("N = 1234067")
        (1, 1234067, 256, "1/x001/x234/067"),
        (1, 1234067, 8, "1/x001/x234/067.p/8"),
        (ENTRIES, 1234067, 256, "entries/x001/x234/067"),
        (0, 0, 256, "0/000"),
        (0, 999, 255, "0/999.p/255"),
        (0, 1000, 1, "0/x001/000.p/1"),
        (63, 10**9, 256, "63/x001/x000/x000/000"),
    ],
)
def test_paths_round_trip(level: int | str, index: int, width: int, path: str) -> None:
    assert tiles.tile_path(level, index, width) == path
    assert tiles.parse_path(path) == TileRef(level, index, width)
    assert TileRef(level, index, width).path == path


def test_index_part() -> None:
    assert tiles.index_path(1234067) == "x001/x234/067"
    assert tiles.parse_index(["x001", "x234", "067"]) == (1234067, None)
    assert tiles.parse_index(["x001", "x234", "067.p", "8"]) == (1234067, 8)
    # a server reads zero groups it would not write; parse_path wants the canonical form
    assert tiles.parse_index(["x000", "067"]) == (67, None)
    with pytest.raises(ValidationError):
        tiles.parse_path("0/x000/067")


@pytest.mark.parametrize(
    "parts",
    [[], [""], ["67"], ["0067"], ["001", "234"], ["x001"], ["y001", "234"], ["٠٠٠"],
     ["000.p", "0"], ["000.p", "256"], ["000.p", "07"], ["000.p", "٣"], ["000.p", "²"]],
)  # fmt: skip
def test_bad_index_parts(parts: list[str]) -> None:
    with pytest.raises(ValidationError):
        tiles.parse_index(parts)


@pytest.mark.parametrize(
    "path", ["64/000", "01/000", "-1/000", "entry/000", "0", "0/000.p/256", "0/000/", "/0/000"]
)
def test_bad_paths(path: str) -> None:
    with pytest.raises(ValidationError):
        tiles.parse_path(path)


def test_widths_and_levels() -> None:
    size = 70000  # level 0: 273 full tiles and one of 112; level 1: 273 hashes; level 2: 1
    assert tiles.count(size, 0) == tiles.count(size, ENTRIES) == 70000
    assert (tiles.count(size, 1), tiles.count(size, 2), tiles.count(size, 3)) == (273, 1, 0)
    assert tiles.width(size, 0, 273) == 112 and tiles.width(size, 0, 272) == 256
    assert tiles.width(size, 0, 274) == 0 and tiles.width(size, 1, 1) == 17
    assert [tiles.levels(n) for n in (0, 1, 255, 256, 65535, 65536)] == [0, 1, 1, 2, 2, 3]


def _brute_grown(old: int, new: int) -> set[TileRef]:
    out = set()
    for level in range(tiles.levels(new)):
        for index in range(tiles.count(new, level) // 256 + 1):
            w = tiles.width(new, level, index)
            if w > tiles.width(old, level, index):
                out.add(TileRef(level, index, w))
    return out


@pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 1), (1, 2), (255, 256), (256, 257),
                                          (300, 70000), (65535, 65536), (70000, 70000)])  # fmt: skip
def test_grown(old: int, new: int) -> None:
    got = list(tiles.grown(old, new))
    assert set(got) == _brute_grown(old, new) and len(got) == len(set(got))
    assert [t.level for t in got] == sorted(t.level for t in got)  # bottom level first


def test_node_location() -> None:
    assert tiles.node_location(0, 300) == (0, 1, 44, 1)
    assert tiles.node_location(3, 40) == (0, 1, 64, 8)  # leaves 320..327
    assert tiles.node_location(8, 5) == (1, 0, 5, 1)
    assert tiles.node_location(9, 200) == (1, 1, 144, 2)


def _tree(size: int) -> tuple[list[bytes], dict[tuple[int, int], list[bytes]]]:
    """The leaf hashes of a tree and its tiles (every level's hashes, cut in 256s)."""
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    stored: dict[tuple[int, int], list[bytes]] = {}
    row, level = leaves, 0
    while row:
        for index in range(0, len(row), 256):
            stored[(level, index // 256)] = row[index : index + 256]
        row = [merkle.root_of(row[i : i + 256]) for i in range(0, len(row) - 255, 256)]
        level += 1
    return leaves, stored


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 513, 65537])
def test_reader_root_and_proofs(size: int) -> None:
    leaves, stored = _tree(size)
    fetched: list[tuple[int, int, int]] = []

    def fetch(level: int, index: int, width: int) -> list[bytes]:
        fetched.append((level, index, width))
        return stored[(level, index)][:width]

    reader = tiles.TileReader(size, fetch)
    assert reader.root() == merkle.root_of(leaves)
    assert merkle.fold_subtrees(reader.frontier_hashes(size)) == reader.root()
    for old in {1, size // 2 or 1, size - 1 or 1}:
        proof = merkle.consistency_proof(old, size, reader.subtree)
        merkle.verify_consistency(old, size, proof, merkle.root_of(leaves[:old]), reader.root())
    assert len(fetched) == len(set(fetched))  # each tile once


def test_reader_refuses_short_tiles_and_nodes_outside() -> None:
    _, stored = _tree(300)
    reader = tiles.TileReader(300, lambda level, index, width: stored[(level, index)][:-1])
    with pytest.raises(VerificationError):
        reader.root()
    reader = tiles.TileReader(300, lambda level, index, width: stored[(level, index)][:width])
    with pytest.raises(VerificationError):
        reader.node(0, 300)
    with pytest.raises(VerificationError):
        reader.node(9, 0)  # 512 leaves: more than the tree has


def test_hashes_and_bundles() -> None:
    assert tiles.split_hashes(b"\x01" * 64, 2) == [b"\x01" * 32] * 2
    with pytest.raises(VerificationError):
        tiles.split_hashes(b"\x01" * 63, 2)
    data = b"\x00\x01a\x00\x00\x00\x02bc"
    assert tiles.bundle_entries(data) == [b"a", b"", b"bc"]
    assert tiles.bundle_entries(data, limit=2) == [b"a", b""]
    assert tiles.bundle_entries(data + b"\x00\x05", limit=3) == [b"a", b"", b"bc"]
    for bad in (data[:-1], data + b"\x00", data + b"\x00\x05abc"):
        with pytest.raises(VerificationError, match="bundle x ends inside"):
            tiles.bundle_entries(bad, name="bundle x")
