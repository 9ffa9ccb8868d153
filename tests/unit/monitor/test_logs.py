"""``client.monitor.logs`` and ``client.monitor.tiles`` against real HTTP servers on 127.0.0.1: a
static tlog-tiles log that no longer has a partial tile (the full one is read), gzip answers,
statuses mapped to the error tree, proofs and frontiers from tiles."""

from __future__ import annotations

import base64
import gzip
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from sigstack.client.monitor.config import LogSpec
from sigstack.client.monitor.heads import Head
from sigstack.client.monitor.logs import Http, RekorApi, TilesLog
from sigstack.client.monitor.tiles import WIDTH, entry_bundle, tile_path, tile_width
from sigstack.client.monitor.tree import Frontier
from sigstack.protocol import merkle
from sigstack.protocol.errors import (
    NotFoundError,
    UnavailableError,
    ValidationError,
    VerificationError,
)
from tests.support.servers import serve_directory, serve_handler

ENTRIES = [b"entry %d" % i for i in range(600)]
LEAVES = [merkle.leaf_hash(e) for e in ENTRIES]


def _write(out: Path, rel: str, data: bytes) -> None:
    path = out / "tile" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _static(out: Path, size: int) -> None:
    """The tiles of a tree of ``size`` leaves, full tiles only where a tile is full (a static
    log whose partial tiles were deleted once full), and a partial where one is still partial."""
    for level in range(3):
        for index in range(-(-(size >> (8 * level)) // WIDTH)):
            width = tile_width(size, level, index)
            start = index * WIDTH << (8 * level)
            step = 1 << (8 * level)
            hashes = [merkle.root_of(LEAVES[s : s + step])
                      for s in range(start, start + width * step, step)]  # fmt: skip
            _write(out, tile_path(level, index, width), b"".join(hashes))
    for index in range(-(-size // WIDTH)):
        width = tile_width(size, 0, index)
        bundle = b"".join(len(e).to_bytes(2, "big") + e
                          for e in ENTRIES[index * WIDTH : index * WIDTH + width])  # fmt: skip
        _write(out, tile_path("entries", index, width), bundle)


def _head(size: int) -> Head:
    return Head(size, merkle.root_of(LEAVES[:size]), "")


def test_entries_proofs_and_frontiers_from_tiles(tmp_path: Path) -> None:
    _static(tmp_path, 600)  # 2 full tiles and a partial one of 88
    with serve_directory(tmp_path) as served:
        log = TilesLog(LogSpec("t", "tiles", served.url, origin="o"))
        # a reader that saw a tree of 300 asks for the partial .p/44 the log no longer has
        got = [e for chunk in log.chunks(250, 300, _head(300)) for e in chunk]
        assert got == ENTRIES[250:300]
        assert [e for c in log.chunks(0, 600, _head(600)) for e in c] == ENTRIES
        for size1, size2 in ((5, 600), (300, 600), (257, 600), (1, 600), (599, 600)):
            proof = log.proof(size1, size2, _head(size2))
            merkle.verify_consistency(size1, size2, proof, _head(size1).root, _head(size2).root)
        for size in (0, 1, 255, 256, 300, 600):
            f = log.frontier(size, _head(600))
            assert f.size == size and f.root() == _head(size).root
        api_style = super(TilesLog, log).frontier(600, _head(600))  # from a consistency proof
        expected = Frontier()
        expected.extend(LEAVES[: api_style.size])
        assert api_style.size == 599 and api_style.hashes == expected.hashes
        (tmp_path / "tile" / "0" / "001").unlink()
        with pytest.raises(NotFoundError):
            log.proof(300, 600, _head(600))


def test_a_rekor_v1_log_read_through_its_tiles_alone(tmp_path: Path) -> None:
    """``head: checkpoint``: a static copy of a Rekor v1 log (a mirror) has no v1 API, which the
    reader never asks for (the static server answers 404 there)."""
    _static(tmp_path, 600)
    text = "rekor.example - 1\n600\nroot\n\n\u2014 rekor.example sig\n"
    (tmp_path / "checkpoint").write_text(text)
    with serve_directory(tmp_path) as served:
        spec = LogSpec("r", "rekor", served.url, head="checkpoint", entries="tiles")
        log = RekorApi(spec)
        assert log.latest() == text and log.index_offset == 0
        proof = log.proof(300, 600, _head(600))
        merkle.verify_consistency(300, 600, proof, _head(300).root, _head(600).root)
        assert log.frontier(257, _head(600)).root() == _head(257).root
        assert [e for c in log.chunks(250, 600, _head(600)) for e in c] == ENTRIES[250:]
        with pytest.raises(NotFoundError):  # what the API reader would have asked for
            RekorApi(LogSpec("r", "rekor", served.url, entries="tiles")).latest()


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        status, body, headers = {
            "/gz": (200, gzip.compress(b"hello"), {"Content-Encoding": "gzip"}),
            "/badgz": (200, b"not gzip", {"Content-Encoding": "gzip"}),
            "/500": (500, b"", {}), "/429": (429, b"", {}), "/403": (403, b"", {}),
            "/json": (200, b"{", {}),
        }.get(self.path, (404, b"", {}))  # fmt: skip
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_http_answers_and_failures() -> None:
    with serve_handler(_Answers) as served:
        http = Http(served.url, timeout=10)
        assert http.request("gz") == b"hello"
        for path, error in (("badgz", ValidationError), ("500", UnavailableError),
                            ("429", UnavailableError), ("403", ValidationError),
                            ("nothing", NotFoundError), ("json", ValidationError)):  # fmt: skip
            with pytest.raises(error):
                http.json(path) if path == "json" else http.request(path)
    with pytest.raises(UnavailableError):
        Http(served.url, timeout=2).request("gz")  # closed now


def test_entry_bundles_and_tile_paths() -> None:
    bundle = b"".join(len(e).to_bytes(2, "big") + e for e in ENTRIES[:3])
    assert entry_bundle(bundle, 2) == ENTRIES[:2] and entry_bundle(bundle, 3) == ENTRIES[:3]
    for bad, count in ((bundle, 4), (bundle[:-1], 3), (b"\x00", 1), (b"", 1)):
        with pytest.raises(VerificationError):
            entry_bundle(bad, count)
    assert tile_path(0, 1234067) == "0/x001/x234/067"
    assert tile_path("entries", 5, 17) == "entries/005.p/17"
    assert tile_width(70000, 0, 273) == 112 and tile_width(70000, 1, 1) == 17
    assert tile_width(70000, 2, 0) == 1 and tile_width(70000, 0, 274) == 0


def test_a_sharded_rekor_numbers_entries_after_its_inactive_shards() -> None:
    """A stand-in Rekor v1 API (a real HTTP server): its active shard's tree index 0 is log
    index 1000, after an inactive shard of 1000 entries."""
    asked: list[Any] = []

    class Rekor(BaseHTTPRequestHandler):
        def _answer(self, obj: Any) -> None:
            body = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self._answer({"signedTreeHead": "note", "treeSize": 3,
                          "inactiveShards": [{"treeSize": 1000}, {"treeSize": "x"}]})  # fmt: skip

        def do_POST(self) -> None:  # noqa: N802
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked.append(query["logIndexes"])
            self._answer([{f"{i:064x}": {"logIndex": i, "body": base64.b64encode(ENTRIES[i - 1000]).decode()}}
                          for i in query["logIndexes"]])  # fmt: skip

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    with serve_handler(Rekor) as served:
        log = RekorApi(LogSpec("r", "rekor", served.url, batch=2))
        assert log.latest() == "note" and log.index_offset == 1000
        assert [e for c in log.chunks(0, 3, _head(3)) for e in c] == ENTRIES[:3]
        assert sorted(asked) == [[1000, 1001], [1002]]
