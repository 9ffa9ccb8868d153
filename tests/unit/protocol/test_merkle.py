"""sigstack.protocol.merkle against transparency-dev's vectors, the RFC 6962 reference tree and real Rekor proofs."""

from __future__ import annotations

import base64
import random

import pytest

from sigstack.protocol import merkle
from sigstack.protocol.errors import VerificationError
from tests.support.testdata import VECTORS, load_json

TD = VECTORS / "merkle" / "transparency-dev"
INCLUSION = sorted((TD / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((TD / "consistency").rglob("*.json"))
REFERENCE = load_json(VECTORS / "merkle" / "rfc6962-reference-tree.json")


def _b(s: str | None) -> bytes:
    return base64.b64decode(s or "")


def test_vector_counts() -> None:
    assert len(INCLUSION) == 98 and len(CONSISTENCY) == 98


@pytest.mark.parametrize("path", INCLUSION, ids=lambda p: str(p.relative_to(TD)))
def test_inclusion_vectors(path) -> None:
    v = load_json(path)
    args = (
        v["leafIdx"],
        v["treeSize"],
        _b(v["leafHash"]),
        [_b(p) for p in v["proof"] or []],
        _b(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=lambda p: str(p.relative_to(TD)))
def test_consistency_vectors(path) -> None:
    v = load_json(path)
    args = (
        v["size1"],
        v["size2"],
        [_b(p) for p in v["proof"] or []],
        _b(v["root1"]),
        _b(v["root2"]),
    )
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


LEAVES = [merkle.leaf_hash(bytes.fromhex(x)) for x in REFERENCE["leafInputsHex"]]


def _oracle(leaves):
    def subtree(start: int, end: int) -> bytes:
        return merkle.root_of(leaves[start:end])

    return subtree


def test_reference_roots_and_nodes() -> None:
    for size, want in enumerate(REFERENCE["rootHashesHexBySize"]):
        assert merkle.root_of(LEAVES[:size]).hex() == want
    for level, nodes in enumerate(REFERENCE["nodeHashesHexByLevel"]):
        for i, want in enumerate(nodes):
            width = 1 << level
            assert merkle.root_of(LEAVES[i * width : (i + 1) * width]).hex() == want


def test_generated_proofs_verify_on_reference_tree() -> None:
    for size in range(1, 9):
        leaves = LEAVES[:size]
        root = merkle.root_of(leaves)
        for i in range(size):
            proof = merkle.inclusion_proof(i, size, _oracle(leaves))
            merkle.verify_inclusion(i, size, leaves[i], proof, root)
        for size1 in range(1, size + 1):
            proof = merkle.consistency_proof(size1, size, _oracle(leaves))
            merkle.verify_consistency(size1, size, proof, merkle.root_of(leaves[:size1]), root)


def test_generated_proofs_larger_trees() -> None:
    rng = random.Random(6962)
    leaves = [merkle.leaf_hash(rng.randbytes(8)) for _ in range(1100)]
    for size in [1, 2, 3, 255, 256, 257, 511, 1024, 1025, 1100]:
        root = merkle.root_of(leaves[:size])
        for i in {0, size - 1, size // 2, rng.randrange(size)}:
            proof = merkle.inclusion_proof(i, size, _oracle(leaves))
            merkle.verify_inclusion(i, size, leaves[i], proof, root)
            bad = list(proof)
            if bad:
                bad[0] = bytes(32)
                with pytest.raises(VerificationError):
                    merkle.verify_inclusion(i, size, leaves[i], bad, root)
        for size1 in {1, size // 3 or 1, size - 1 or 1, size}:
            proof = merkle.consistency_proof(size1, size, _oracle(leaves))
            merkle.verify_consistency(size1, size, proof, merkle.root_of(leaves[:size1]), root)


def test_complete_subtrees_cover_range() -> None:
    for start, end in [(0, 1), (0, 7), (4, 7), (8, 13), (256, 700), (0, 1 << 20)]:
        pos = start
        for level, index in merkle.complete_subtrees(start, end):
            assert index << level == pos
            pos += 1 << level
        assert pos == end


@pytest.mark.parametrize(
    "v", load_json(VECTORS / "sigstore" / "inclusion-proofs.json"), ids=lambda v: v["desc"]
)
def test_real_sigstore_proofs(v) -> None:
    assert v["wantErr"] in (False, None)
    merkle.verify_inclusion(
        v["leafIdx"], v["treeSize"], _b(v["leafHash"]), [_b(p) for p in v["proof"]], _b(v["root"])
    )
