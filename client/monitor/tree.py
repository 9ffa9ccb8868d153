"""The monitor's own Merkle bookkeeping: a compact range over the leaves it has read.

A ``Frontier`` holds the roots of the maximal complete subtrees of ``[0, size)`` (one per set bit
of ``size``, largest first; RFC 9162 section 2.1.1 hashing). Appending every leaf hash the log
serves and comparing ``root()`` with a verified checkpoint proves that the entries read are
exactly the ones the checkpoint commits to: a log cannot hide an entry from the monitor by
serving something else in its place. It is a few dozen hashes, so the state file keeps it and a
restarted monitor goes on from where it stopped.

``frontier_from_consistency`` takes the frontier of ``[0, size1)`` out of a consistency proof from
``size1`` to ``size2`` (the proof's left-hand hashes are exactly those subtrees when ``size1`` is
not a power of two), checking that the proof leads to ``root2``: a monitor that starts in the
middle of a log needs no entry before its start.

Pure: hashes in, hashes out; ``VerificationError`` when something does not add up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sigstack.protocol import merkle
from sigstack.protocol.errors import ValidationError, VerificationError

_HASH = merkle.HASH_SIZE


class Frontier:
    """Compact range of ``[0, size)``: ``hashes[i]`` is the root of the i-th largest subtree."""

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != bin(size).count("1"):
            raise ValidationError(f"a frontier of size {size} needs {bin(size).count('1')} hashes")
        if any(len(h) != _HASH for h in hashes):
            raise ValidationError("a frontier hash is not 32 bytes")
        self.size = size
        self.hashes = list(hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf (its RFC 6962 leaf hash)."""
        hashes, node, size = self.hashes, leaf_hash, self.size
        while size & 1:  # merge with the equal-sized subtrees at the right edge
            node = merkle.node_hash(hashes.pop(), node)
            size >>= 1
        hashes.append(node)
        self.size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH of ``[0, size)``."""
        if not self.hashes:
            return merkle.EMPTY_ROOT
        return merkle.fold_subtrees(self.hashes)

    def to_json(self) -> dict[str, object]:
        return {"size": self.size, "hashes": [h.hex() for h in self.hashes]}

    @classmethod
    def from_json(cls, obj: object) -> Frontier:
        if not isinstance(obj, dict):
            raise ValidationError("a frontier must be a JSON object")
        size, hashes = obj.get("size"), obj.get("hashes")
        if not isinstance(size, int) or isinstance(size, bool) or not isinstance(hashes, list):
            raise ValidationError("a frontier needs an integer size and a list of hashes")
        try:
            raw = [bytes.fromhex(h) for h in hashes if isinstance(h, str)]
        except ValueError:
            raise ValidationError("a frontier hash is not hex") from None
        if len(raw) != len(hashes):
            raise ValidationError("a frontier hash is not a string")
        return cls(size, raw)


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def frontier_from_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root2: bytes
) -> Frontier:
    """The frontier of ``[0, size1)`` out of an RFC 6962 consistency proof to ``(size2, root2)``.

    ``size1`` must not be a power of two (the proof then leaves its only subtree out) and must be
    below ``size2``. Raises ``VerificationError`` if the proof is malformed or does not lead to
    ``root2``. Mirrors ``protocol.merkle.verify_consistency`` without knowing the first root."""
    if not 0 < size1 < size2 or is_power_of_two(size1):
        raise ValidationError(f"no frontier of size {size1} from a proof to size {size2}")
    if any(len(h) != _HASH for h in proof) or len(root2) != _HASH:
        raise VerificationError("a consistency proof hash is not 32 bytes")
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = bin((size1 - 1) >> inner).count("1")
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if not proof or len(proof) != 1 + inner + border:
        raise VerificationError(
            f"consistency proof has {len(proof)} hashes, expected {1 + inner + border}"
        )
    seed, rest = proof[0], proof[1:]
    mask = (size1 - 1) >> shift
    left: list[bytes] = []  # the subtrees left of the seed, nearest first
    node = seed
    for i, h in enumerate(rest[:inner]):
        if (mask >> i) & 1:
            left.append(h)
            node = merkle.node_hash(h, node)
        else:
            node = merkle.node_hash(node, h)
    for h in rest[inner:]:
        left.append(h)
        node = merkle.node_hash(h, node)
    if node != root2:
        raise VerificationError("consistency proof does not lead to the checkpoint's root hash")
    frontier = Frontier(size1, [*reversed(left), seed])
    return frontier
