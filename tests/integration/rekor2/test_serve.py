"""``sigstack serve rekor2`` as a real server: data-dir rules, restarts, SIGKILL during concurrent
writes, two servers on one PostgreSQL, simultaneous writes, duplicates and reads.

Consistency is checked the way a tlog-tiles client (a witness, a monitor) checks it: from the
tiles the log serves, a consistency proof from every checkpoint handed out to the latest one."""

from __future__ import annotations

import base64
import http.client
import json
import os
import stat
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol import merkle, note
from sigstack.services.keys import load_signer
from sigstack.services.tlog.tiles import Tile, TileReader, tile_path
from tests.support.checks import our_verify_v2, sigstore_python_verify_v2
from tests.support.dbs import fresh_postgres
from tests.support.entries import v2_dsse, v2_hashedrekord
from tests.support.servers import Service, kill_under_load
from tests.support.testdata import ROOT

pytestmark = pytest.mark.xdist_group("servers")
ENTRIES = "/api/v2/log/entries"


def post(url: str, body: dict[str, Any], timeout: float = 30) -> tuple[int, dict, dict]:
    req = urllib.request.Request(f"{url}{ENTRIES}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_ok(url: str) -> bytes:
    status, data = get(url)
    assert status == 200, (url, status, data[:200])
    return data


def signer_of(data: Path) -> Any:
    return load_signer(f"file:{data / 'rekor2-key.pem'}")


def log_identity(url: str, data: Path) -> tuple[str, Any, bytes, str]:
    """(origin, signer, logId.keyId, keyDetails) of the log served at ``url``."""
    signer = signer_of(data)
    origin = get_ok(f"{url}/checkpoint").decode().split("\n", 1)[0]
    key_id = note.note_key_digest(origin, signer.public_key)
    details = "PKIX_ED25519" if len(signer.public_der) == 44 else "PKIX_ECDSA_P256_SHA_256"
    return origin, signer, key_id, details


class HttpTiles:
    """A tlog-tiles client: tiles of a tree of ``size`` leaves, fetched over HTTP once each."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self._tiles: dict[tuple[int, int], Tile] = {}
        self.reader = TileReader(self._fetch)

    def _fetch(self, level: int, index: int, min_width: int) -> Tile:
        if (level, index) not in self._tiles:
            width = min(256, (self.size >> (8 * level)) - index * 256)
            data = get_ok(f"{self.url}/tile/{tile_path(level, index, width)}")
            assert len(data) == 32 * width
            self._tiles[(level, index)] = Tile(data)
        return self._tiles[(level, index)]


def check_consistency(url: str, heads: set[tuple[int, bytes]], verifier: Any) -> int:
    """Every (size, root) handed out is consistent with the latest signed checkpoint."""
    latest = note.verify_checkpoint(get_ok(f"{url}/checkpoint"), [verifier])
    tiles = HttpTiles(url, latest.size)
    assert tiles.reader.subtree(0, latest.size) == latest.root_hash
    for size, root in sorted(heads):
        proof = merkle.consistency_proof(size, latest.size, tiles.reader.subtree)
        merkle.verify_consistency(size, latest.size, proof, root, latest.root_hash)
    return latest.size


def test_new_dir_is_initialised_reused_and_inconsistent_dirs_refused(tmp_path: Path) -> None:
    data = tmp_path / "rekor2"
    with Service("rekor2", "--data-dir", str(data), "--origin", "log.rekor2.test") as srv:
        assert stat.S_IMODE((data / "rekor2-key.pem").stat().st_mode) == 0o600
        origin, signer, key_id, details = log_identity(srv.url, data)
        assert origin == "log.rekor2.test" and details == "PKIX_ED25519"
        for signed in (v2_hashedrekord(b"one"), v2_dsse(b'{"_type": "t"}')):
            status, entry, _ = post(srv.url, signed.request)
            assert status == 201
            our_verify_v2(entry, signer.public_der, details, key_id, signed)
            sigstore_python_verify_v2(entry, signer.public_der, details, signed)
        _sigstore_python_client_writes(srv.url, signer.public_der)
    with Service("rekor2", "--data-dir", str(data)) as srv:  # the origin is the log's
        assert log_identity(srv.url, data)[0] == "log.rekor2.test"
        status, entry, _ = post(srv.url, v2_hashedrekord(b"two").request)
        assert status == 201 and entry["logIndex"] == "3"
    result = Service("rekor2", "--data-dir", str(data), "--origin", "renamed.test").run_to_exit()
    assert result.returncode != 0 and "keeps its origin for life" in result.stderr
    moved = tmp_path / "key.bak"
    (data / "rekor2-key.pem").rename(moved)
    result = Service("rekor2", "--data-dir", str(data)).run_to_exit()
    assert result.returncode != 0 and "key" in result.stderr and "missing" in result.stderr
    moved.rename(data / "rekor2-key.pem")
    result = Service("rekor2", "--data-dir", str(data), "--key", "ephemeral:").run_to_exit()
    assert result.returncode != 0 and "ephemeral" in result.stderr
    p256 = tmp_path / "p256"
    with Service("rekor2", "--data-dir", str(p256), "--key-algorithm", "ecdsa-p256") as srv:
        origin, signer, key_id, details = log_identity(srv.url, p256)
        assert origin == f"127.0.0.1:{srv.port}" and details == "PKIX_ECDSA_P256_SHA_256"
        signed = v2_hashedrekord(b"p256")
        status, entry, _ = post(srv.url, signed.request)
        our_verify_v2(entry, signer.public_der, details, key_id, signed)
        sigstore_python_verify_v2(entry, signer.public_der, details, signed)


def _sigstore_python_client_writes(url: str, log_public_der: bytes) -> None:
    """sigstore-python 4.5.1's own RekorV2Client builds the request, posts it and reads the answer;
    the entry it returns verifies with sigstore-python's keyring."""
    from sigstore._internal.rekor.client_v2 import RekorV2Client
    from sigstore._internal.trust import Keyring, RekorKeyring
    from sigstore.hashes import Hashed
    from sigstore_models.common import v1 as common_v1

    signed = v2_hashedrekord(b"written by sigstore-python")
    client = RekorV2Client(url)
    request = client._build_hashed_rekord_request(
        Hashed(algorithm=common_v1.HashAlgorithm.SHA2_256, digest=signed.digest),
        signed.signature,
        signed.certificate,
    )
    entry = client.create_entry(request)
    key = common_v1.PublicKey(raw_bytes=base64.b64encode(log_public_der),
                              key_details=common_v1.PublicKeyDetails.PKIX_ED25519)  # fmt: skip
    entry._verify(RekorKeyring(Keyring([key])))


def _hammer(url: str, stop: threading.Event, acked: dict, heads: set, prefix: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    i = 0
    while not stop.is_set():
        i += 1
        try:
            status, entry, _ = post(url, v2_hashedrekord(f"{prefix}-{i}".encode(), key).request,
                                    timeout=10)  # fmt: skip
        except (OSError, http.client.HTTPException, ValueError):  # killed mid-answer: not acked
            continue
        if status == 201:
            proof = entry["inclusionProof"]
            acked[int(entry["logIndex"])] = entry["canonicalizedBody"]
            heads.add((int(proof["treeSize"]), base64.b64decode(proof["rootHash"]),
                       proof["checkpoint"]["envelope"]))  # fmt: skip


def _crash_cycle(servers: list[Service], seconds: float = 2.0) -> tuple[dict, set]:
    acked: dict[int, str] = {}
    heads: set[tuple[int, bytes, str]] = set()
    kill_under_load(servers, lambda url, stop, prefix: _hammer(url, stop, acked, heads, prefix),
                    seconds)  # fmt: skip
    return acked, heads


def _check_after_crash(url: str, data: Path, acked: dict, heads: set) -> int:
    origin, signer, _, _ = log_identity(url, data)
    verifier = note.verifier_for_key(origin, signer.public_der)
    assert acked, "no entry was acknowledged before the crash"
    for index, body in acked.items():
        entry = json.loads(get_ok(f"{url}{ENTRIES}/{index}"))
        assert entry["canonicalizedBody"] == body
    for _, _, checkpoint in heads:
        note.verify_checkpoint(checkpoint, [verifier])
    return check_consistency(url, {(size, root) for size, root, _ in heads}, verifier)


def test_sigkill_during_concurrent_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "rekor2"
    srv = Service("rekor2", "--data-dir", str(data), "--workers", "2").start()
    acked, heads = _crash_cycle([srv])
    with Service("rekor2", "--data-dir", str(data), port=srv.port) as again:
        _check_after_crash(again.url, data, acked, heads)
        assert post(again.url, v2_hashedrekord(b"after the crash").request)[0] == 201


def _export(data: Path, out: Path, *extra: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", "serve", "rekor2", "export-tiles",
         "--data-dir", str(data), "--to", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.postgres
def test_two_servers_on_one_postgres_survive_sigkill(tmp_path: Path) -> None:
    with fresh_postgres() as url:
        a, b = tmp_path / "a", tmp_path / "b"
        first = Service("rekor2", "--data-dir", str(a), "--database-url", url,
                        "--origin", "pg.rekor2.test").start()  # fmt: skip
        b.mkdir()
        os.link(a / "rekor2-key.pem", b / "rekor2-key.pem")
        second = Service("rekor2", "--data-dir", str(b), "--database-url", url).start()
        acked, heads = _crash_cycle([first, second])
        sizes = {size for size, _, _ in heads}
        assert len(heads) == len({(s, r) for s, r, _ in heads}), "one size, two checkpoints"
        assert len({r for _, r, _ in heads}) == len(sizes), "two roots for one tree size: a fork"
        with Service("rekor2", "--data-dir", str(b), "--database-url", url) as again:
            size = _check_after_crash(again.url, a, acked, heads)
            assert size >= len(acked) and max(acked) < size
            out = tmp_path / "public"
            _export(a, out, "--database-url", url)
            latest = get_ok(f"{again.url}/checkpoint")
            assert (out / "checkpoint").read_bytes() == latest
            for path in out.rglob("*"):
                if path.is_file() and path.name != "checkpoint":
                    assert get_ok(f"{again.url}/{path.relative_to(out)}") == path.read_bytes()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_simultaneous_writes_duplicates_and_reads(tmp_path: Path, backend: str) -> None:
    """60 distinct entries, each sent by three clients at once, while others read checkpoints,
    tiles, entries and searches: exactly one 201 per entry, the other two 409 naming its index,
    no 5xx anywhere, and a log of exactly 60 entries."""
    with fresh_postgres() if backend == "postgres" else _no_database() as url:
        extra = ["--database-url", url, "--workers", "2"] if url else []
        with Service("rekor2", "--data-dir", str(tmp_path / "d"), *extra) as srv:
            _simultaneous(srv.url)


class _no_database:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _simultaneous(url: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    requests = [v2_hashedrekord(b"simultaneous %d" % i, key) for i in range(60)]
    statuses: list[int] = []
    answers: dict[int, list[tuple[int, dict, dict]]] = {i: [] for i in range(60)}
    start = threading.Barrier(60 * 3 + 12)

    def write(i: int) -> None:
        start.wait()
        answer = post(url, requests[i].request)
        answers[i].append(answer)

    def read(n: int) -> None:
        start.wait()
        for _ in range(15):
            status, text = get(f"{url}/checkpoint")
            statuses.append(status)
            size = int(text.split(b"\n")[1])
            if size:
                index = (size - 1) // 256
                width = size - index * 256
                path = tile_path("entries", index, width)
                statuses.append(get(f"{url}/tile/{path}")[0])
                statuses.append(get(f"{url}{ENTRIES}/{size - 1}")[0])
            digest = requests[n].digest.hex()
            statuses.append(get(f"{url}/api/v2/search?digest=sha256:{digest}")[0])

    with ThreadPoolExecutor(60 * 3 + 12) as pool:
        jobs = [pool.submit(write, i) for i in range(60) for _ in range(3)]
        jobs += [pool.submit(read, n) for n in range(12)]
        for job in jobs:
            job.result()
    assert statuses and all(s == 200 for s in statuses), sorted(set(statuses))
    indexes = set()
    for i, got in answers.items():
        codes = sorted(status for status, _, _ in got)
        assert codes == [201, 409, 409], (i, codes, got)
        created = next(body for status, body, _ in got if status == 201)
        index = created["logIndex"]
        indexes.add(index)
        for status, body, headers in got:
            if status == 409:
                assert headers["x-log-index"] == index and body["code"] == 6
    assert len(indexes) == 60
    latest = note.Checkpoint.from_text(note.SignedNote.from_text(get_ok(f"{url}/checkpoint")).text)
    assert latest.size == 60
