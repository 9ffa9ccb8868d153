"""No database connection crosses the fork from a server's parent into its workers.

A SQLite connection left open in the parent (it prepared the data directory) made the worker's
SQLite reuse the parent's lock bookkeeping and shared-memory index; when the parent later closed
that connection it deleted the WAL under the worker: "disk I/O error" on every read after the first
write, and acknowledged entries gone. These tests look at the parent's open files directly, then
mix writes, duplicates and reads on many connections and require zero 5xx and an intact log.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from sigstack.protocol import merkle, note
from sigstack.services.keys import load_signer
from sigstack.services.runtime.server import open_database_files
from tests.support.dbs import fresh_postgres
from tests.support.entries import hashedrekord
from tests.support.servers import Service

pytestmark = pytest.mark.xdist_group("servers")


def _roots(tmp_path: Path) -> str:
    from sigstack.services.fulcio.cli import create_ca

    create_ca(tmp_path / "ca", algorithm="ecdsa-p256", common_name="fork test")
    return str(tmp_path / "ca" / "root.pem")


@pytest.mark.parametrize("service", ["rekor", "ctlog", "oidc"])
def test_server_parent_holds_no_database_file(service: str, tmp_path: Path) -> None:
    args = ["--data-dir", str(tmp_path / service)]
    if service == "ctlog":
        args += ["--roots", _roots(tmp_path)]
    for _ in range(2):  # a new data directory, then the same one again
        with Service(service, *args, log=tmp_path / "server.log") as srv:
            assert srv.proc is not None
            assert open_database_files(srv.proc.pid) == set()


def _request(conn: http.client.HTTPConnection, method: str, path: str,
             body: bytes | None = None) -> tuple[int, Any, str | None]:  # fmt: skip
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, json.loads(data) if data else None, resp.getheader("Location")


def _client(port: int, n: int, bodies: list[bytes], out: dict[str, Any]) -> None:
    """Write its own entries, re-send its neighbour's (duplicates), read back every Location and
    the log's head, all on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    mine, neighbour = bodies[n], bodies[(n + 1) % len(bodies)]
    for body in (mine, neighbour, mine):
        status, answer, location = _request(conn, "POST", "/api/v1/log/entries", body)
        out["statuses"].append(status)
        if status == 201:
            ((uuid, entry),) = answer.items()
            out["created"][uuid] = (entry["logIndex"], entry["body"])
        assert location is not None, (status, answer)
        status, answer, _ = _request(conn, "GET", location)
        out["statuses"].append(status)
        status, answer, _ = _request(conn, "GET", "/api/v1/log")
        out["statuses"].append(status)
        if status == 200:
            out["heads"].append((answer["treeSize"], answer["rootHash"], answer["signedTreeHead"]))


def _mixed_load(url: str, port: int, clients: int = 24) -> dict[str, Any]:
    bodies = [json.dumps(hashedrekord(f"fork-{n}".encode())).encode() for n in range(clients)]
    out: dict[str, Any] = {"statuses": [], "created": {}, "heads": []}
    threads = [threading.Thread(target=_client, args=(port, n, bodies, out))
               for n in range(clients)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _check_log(srv: Service, out: dict[str, Any], key_path: Path, clients: int) -> None:
    assert out["statuses"] and all(s < 500 for s in out["statuses"]), sorted(set(out["statuses"]))
    assert set(out["statuses"]) <= {200, 201, 409}
    assert len(out["created"]) == clients  # each distinct entry created exactly once
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    status, info, _ = _request(conn, "GET", "/api/v1/log")
    assert status == 200 and info["treeSize"] == clients
    signer = load_signer(f"file:{key_path}")
    log_id = hashlib.sha256(signer.public_der).digest()
    for uuid, (index, body) in out["created"].items():
        status, got, _ = _request(conn, "GET", f"/api/v1/log/entries?logIndex={index}")
        assert status == 200 and got[uuid]["body"] == body
    root = bytes.fromhex(info["rootHash"])
    for size, old_root, checkpoint in out["heads"]:
        note.verify_rekor_checkpoint(checkpoint, log_id, signer.public_key)
        if 0 < size < clients:
            status, proof, _ = _request(
                conn, "GET", f"/api/v1/log/proof?firstSize={size}&lastSize={clients}"
            )
            merkle.verify_consistency(size, clients, [bytes.fromhex(h) for h in proof["hashes"]],
                                      bytes.fromhex(old_root), root)  # fmt: skip


def test_mixed_writes_duplicates_and_reads_on_sqlite(tmp_path: Path) -> None:
    data, log = tmp_path / "rekor", tmp_path / "server.log"
    for round_ in range(2):  # the first run creates the data directory; the second reuses it
        with Service("rekor", "--data-dir", str(data), log=log) as srv:
            if round_ == 0:
                out = _mixed_load(srv.url, srv.port)
                _check_log(srv, out, data / "rekor-key.pem", 24)
            else:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
                assert _request(conn, "GET", "/api/v1/log")[1]["treeSize"] == 24
    text = log.read_text()
    assert "Traceback" not in text and "disk I/O" not in text


@pytest.mark.postgres
def test_mixed_writes_duplicates_and_reads_on_postgres(tmp_path: Path) -> None:
    data, log = tmp_path / "rekor", tmp_path / "server.log"
    with fresh_postgres() as url:
        with Service("rekor", "--data-dir", str(data), "--database-url", url, log=log) as srv:
            out = _mixed_load(srv.url, srv.port)
            _check_log(srv, out, data / "rekor-key.pem", 24)
    assert "Traceback" not in log.read_text()
