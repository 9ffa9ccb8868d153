"""RFC 6962 / RFC 9162 Merkle tree hashing and proofs, both building and verifying.

Hashes: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), empty tree = SHA-256("")
(RFC 9162 section 2.1.1). Verification follows RFC 9162 sections 2.1.3.2 (inclusion) and 2.1.4.2
(consistency) in the bit-twiddling form used by transparency-dev/merkle; proofs are lists of 32-byte
hashes ordered from the leaf towards the root.

Proof *building* (RFC 6962 section 2.1.1 PATH, 2.1.2 SUBPROOF) is written against an oracle
``subtree(start, end) -> bytes`` that returns MTH(D[start:end]) for ranges that are either complete,
aligned subtrees or the right edge of one; storage decides how it answers (the log engine reads
256-wide tiles). Every range asked for here has ``start`` aligned to the largest power of two below
``end - start`` so an oracle can always split it into O(log n) complete subtrees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from .errors import VerificationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash of ``data``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 6962: the largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over a list of *leaf hashes* (not leaf data); iterative, O(n)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def complete_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Split [start, end) into maximal aligned complete subtrees, left to right, as (level, index).

    For the ranges proofs ask about (start aligned to a power of two at least as large as the range's
    left part) this yields at most one subtree per level.
    """
    out: list[tuple[int, int]] = []
    while start < end:
        size = start & -start if start else 1 << (end - start).bit_length()
        while size > end - start:
            size >>= 1
        level = size.bit_length() - 1
        out.append((level, start >> level))
        start += size
    return out


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its complete subtrees' hashes (left to right, sizes non-increasing)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]) using the ``subtree`` oracle."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not inside a tree of size {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if index < start + k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
    proof.reverse()
    return proof


def consistency_proof(size1: int, size2: int, subtree: Subtree) -> list[bytes]:
    """RFC 6962 SUBPROOF(size1, D[0:size2], true) using the ``subtree`` oracle."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    proof: list[bytes] = []
    start, end, m, complete = 0, size2, size1, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(subtree(start, end))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise VerificationError(f"hash has {len(h)} bytes, expected {HASH_SIZE}")


def _decomp(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Recompute the root implied by an inclusion proof; raise VerificationError if malformed."""
    if index < 0 or size <= 0 or index >= size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes(leaf, *proof)
    inner, border = _decomp(index, size)
    if len(proof) != inner + border:
        raise VerificationError(
            f"inclusion proof has {len(proof)} hashes, a tree of size {size} needs {inner + border}"
        )
    res = _chain_inner(leaf, proof[:inner], index)
    return _chain_border_right(res, proof[inner:])


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf`` (a leaf hash) is at ``index`` in the tree of ``size`` with ``root``."""
    _check_hashes(root)
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:
        raise VerificationError("inclusion proof does not lead to the expected root hash")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify that the tree (size2, root2) extends the tree (size1, root1)."""
    _check_hashes(*proof)
    if size1 < 0 or size2 < size1:
        raise VerificationError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        raise VerificationError("consistency from an empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise VerificationError("equal tree sizes with different root hashes")
        return
    if not proof:
        raise VerificationError("empty consistency proof")
    inner, border = _decomp(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise VerificationError(
            f"consistency proof has {len(proof)} hashes, expected {start + inner + border}"
        )
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise VerificationError("consistency proof does not lead to the first root hash")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise VerificationError("consistency proof does not lead to the second root hash")
