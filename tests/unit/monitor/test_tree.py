"""``client.monitor.tree``: the compact range against RFC 6962 hashing done the long way, and the
frontier taken out of consistency proofs (built here and from transparency-dev's vectors)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sigstack.client.monitor.tree import Frontier, frontier_from_consistency, is_power_of_two
from sigstack.protocol import merkle
from sigstack.protocol.errors import ValidationError, VerificationError
from tests.support.testdata import VECTORS, load_json

LEAVES = [merkle.leaf_hash(b"leaf %d" % i) for i in range(300)]


def _subtree(start: int, end: int) -> bytes:
    return merkle.root_of(LEAVES[start:end])


def _frontier(n: int) -> Frontier:
    f = Frontier()
    f.extend(LEAVES[:n])
    return f


def test_frontier_root_and_subtrees_match_the_tree_for_every_size() -> None:
    for n in range(len(LEAVES)):
        f = _frontier(n)
        assert f.root() == merkle.root_of(LEAVES[:n])
        assert f.hashes == [_subtree(i << lv, (i + 1) << lv)
                            for lv, i in merkle.complete_subtrees(0, n)]  # fmt: skip


def test_frontier_json_round_trip_and_malformed_states() -> None:
    f = _frontier(77)
    again = Frontier.from_json(f.to_json())
    assert (again.size, again.hashes) == (77, f.hashes)
    again.append(LEAVES[77])
    assert again.root() == merkle.root_of(LEAVES[:78]) and f.size == 77
    for bad in [None, {"size": 3, "hashes": [f.hashes[0].hex()]}, {"size": "3", "hashes": []},
                {"size": 1, "hashes": ["zz" * 32]}, {"size": 1, "hashes": ["00"]},
                {"size": True, "hashes": []}, {"size": 1, "hashes": [1]}]:  # fmt: skip
        with pytest.raises(ValidationError):
            Frontier.from_json(bad)


def test_frontier_from_consistency_equals_the_leaves_frontier() -> None:
    for size1 in range(1, 140):
        if is_power_of_two(size1):
            continue
        for size2 in (size1 + 1, size1 + 7, 256, 299):
            if size2 <= size1:
                continue
            proof = merkle.consistency_proof(size1, size2, _subtree)
            got = frontier_from_consistency(size1, size2, proof, _subtree(0, size2))
            assert got.hashes == _frontier(size1).hashes, (size1, size2)


def test_frontier_from_consistency_refuses_what_does_not_add_up() -> None:
    proof = merkle.consistency_proof(5, 9, _subtree)
    root = _subtree(0, 9)
    for bad in ([*proof[:-1]], [*proof, proof[0]], [proof[0][:31], *proof[1:]],
                [bytes(32), *proof[1:]], []):  # fmt: skip
        with pytest.raises(VerificationError):
            frontier_from_consistency(5, 9, bad, root)
    with pytest.raises(VerificationError):
        frontier_from_consistency(5, 9, proof, bytes(32))
    for size1, size2 in ((4, 9), (0, 9), (9, 9), (10, 9)):
        with pytest.raises(ValidationError):
            frontier_from_consistency(size1, size2, proof, root)


def _b64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def _with_a_frontier(path: Path) -> bool:
    v = load_json(path)
    return bool(0 < v["size1"] < v["size2"]) and not is_power_of_two(v["size1"])


@pytest.mark.parametrize("path", [p for p in sorted(
    (VECTORS / "merkle/transparency-dev/consistency").rglob("*.json")) if _with_a_frontier(p)],
    ids=lambda p: str(p.relative_to(VECTORS)))  # fmt: skip
def test_transparency_dev_consistency_vectors(path: Path) -> None:
    """Frontier + first root accepts exactly what ``verify_consistency`` accepts (the vectors
    whose first size is not empty, equal to the second or a power of two: those have none)."""
    v = load_json(path)
    size1, size2 = v["size1"], v["size2"]
    proof, root1, root2 = _b64(v["proof"] or []), *_b64([v["root1"], v["root2"]])
    try:
        merkle.verify_consistency(size1, size2, proof, root1, root2)
        valid = True
    except VerificationError:
        valid = False
    assert valid == (not v["wantErr"])
    try:
        ok = frontier_from_consistency(size1, size2, proof, root2).root() == root1
    except VerificationError:
        ok = False
    assert ok == valid
