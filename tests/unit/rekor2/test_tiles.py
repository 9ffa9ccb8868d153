"""The tlog-tiles read API of the Rekor v2 log, checked as a tiles client would with
protocol.merkle: entry bundles hash to the level-0 tiles, the tiles to the signed checkpoint's
root, and the inclusion proofs of the write answers against it."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol import merkle, note
from sigstack.services.rekor2.entries import prepare_entry
from sigstack.services.rekor2.log import Rekor2Log
from sigstack.services.tlog import resources
from tests.support.entries import v2_hashedrekord
from tests.unit.rekor2.conftest import ORIGIN

HASH = 32


def fill(log: Rekor2Log, count: int, start: int = 0) -> list[bytes]:
    """Append ``count`` real entries in concurrent batches; return their bodies by index."""
    key = ec.generate_private_key(ec.SECP256R1())
    prepared = [prepare_entry(json.dumps(v2_hashedrekord(b"tile %d" % i, key).request).encode())
                for i in range(start, start + count)]  # fmt: skip
    with ThreadPoolExecutor(32) as pool:
        added = list(pool.map(log.add, prepared))
    bodies = {int(a["logIndex"]): p.body for a, p in zip(added, prepared, strict=True)}
    return [bodies[i] for i in sorted(bodies)]


def bundle_entries(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    assert pos == len(data)
    return out


def hashes_of(tile: bytes) -> list[bytes]:
    assert len(tile) % HASH == 0
    return [tile[i : i + HASH] for i in range(0, len(tile), HASH)]


def _get(client: Any, path: str) -> bytes:
    resp = client.get(path)
    assert resp.status_code == 200, path
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.content_type == "application/octet-stream"
    return bytes(resp.data)


def test_tiles_hash_to_the_checkpoint(client, rekor2) -> None:
    bodies = fill(rekor2, 300)
    checkpoint = note.verify_checkpoint(
        client.get("/checkpoint").data, [note.verifier_for_key(ORIGIN, rekor2.signer.public_der)]
    )
    assert checkpoint.size == 300
    leaves = bundle_entries(_get(client, "/tile/entries/000"))
    leaves += bundle_entries(_get(client, "/tile/entries/001.p/44"))
    assert leaves == bodies
    level0 = hashes_of(_get(client, "/tile/0/000")) + hashes_of(_get(client, "/tile/0/001.p/44"))
    assert level0 == [merkle.leaf_hash(b) for b in bodies]
    assert merkle.root_of(level0) == checkpoint.root_hash
    (level1,) = hashes_of(_get(client, "/tile/1/000.p/1"))
    assert level1 == merkle.root_of(level0[:256])
    shorter = _get(client, "/tile/0/001.p/10")  # a prefix, for a client at an older size
    assert shorter == _get(client, "/tile/0/001.p/44")[: 10 * HASH]


def test_write_answers_prove_inclusion_in_the_tiles(client) -> None:
    answers = [client.post("/api/v2/log/entries", json=v2_hashedrekord(b"p%d" % i).request)
               for i in range(5)]  # fmt: skip
    leaves = [merkle.leaf_hash(b) for b in bundle_entries(_get(client, "/tile/entries/000.p/5"))]
    for resp in answers:
        proof = resp.get_json()["inclusionProof"]
        index, size = int(proof["logIndex"]), int(proof["treeSize"])
        merkle.verify_inclusion(
            index, size, leaves[index], [base64.b64decode(h) for h in proof["hashes"]],
            merkle.root_of(leaves[:size]),
        )  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/000",  # only 3 leaves: no full tile
        "/tile/0/000.p/4",
        "/tile/1/000.p/1",
        "/tile/entries/001.p/1",
        "/tile/0/1",
        "/tile/0/x000/000",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/0/000.p/03",
        "/tile/64/000",
        "/tile/00/000",
        "/tile/x/000",
        "/tile/entries",
        "/tile/entries/",
        "/tile/0/",
    ],
)
def test_tiles_that_do_not_exist_are_404(client, rekor2, path: str) -> None:
    fill(rekor2, 3)
    resp = client.get(path)
    assert resp.status_code == 404 and resp.get_json()["code"] == 5


def test_grown_matches_the_spec_example() -> None:
    """c2sp.org/tlog-tiles: a tree of 70,000 leaves has 273 full and one 112-wide level-0 tiles,
    a full and a 17-wide level-1 tile, and a 1-wide level-2 tile."""
    grown = list(resources.grown(0, 70000))
    by_level: dict[int, list[int]] = {}
    for r in grown:
        by_level.setdefault(r.level, []).append(r.width)
    assert by_level[0] == [256] * 273 + [112] == by_level[resources.ENTRIES]
    assert by_level[1] == [256, 17] and by_level[2] == [1] and set(by_level) == {-1, 0, 1, 2}
    assert [r.path for r in resources.grown(256, 257)] == ["tile/entries/001.p/1", "tile/0/001.p/1"]
    assert [r.path for r in resources.grown(255, 256)] == [
        "tile/entries/000", "tile/0/000", "tile/1/000.p/1"]  # fmt: skip
    assert list(resources.grown(300, 300)) == [] == list(resources.grown(0, 0))
    assert resources.Resource(0, 1234067, 256).path == "tile/0/x001/x234/067"
