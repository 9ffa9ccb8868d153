"""``sigstack serve rekor`` as a real gunicorn server: data-dir rules, restarts, crashes, PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import stat
import threading
import time
import urllib.error
import urllib.request

import pytest

from sigstack.protocol import merkle, note
from sigstack.services.keys import load_signer
from tests.support.checks import sigstore_python_verify
from tests.support.dbs import fresh_postgres
from tests.support.entries import hashedrekord
from tests.support.servers import Service, kill_under_load

pytestmark = pytest.mark.xdist_group("servers")


def post(url: str, body: dict, timeout: float = 30) -> tuple[int, dict, dict]:
    req = urllib.request.Request(
        f"{url}/api/v1/log/entries",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read())


def test_new_dir_is_initialised_reused_and_inconsistent_dirs_refused(tmp_path) -> None:
    data = tmp_path / "rekor"
    with Service("rekor", "--data-dir", str(data), "--hostname", "log.test") as srv:
        key = data / "rekor-key.pem"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        status, body, headers = post(srv.url, hashedrekord(b"one"))
        assert status == 201
        signer = load_signer(f"file:{key}")
        sigstore_python_verify(body, signer.public_der)
        tree = get(f"{srv.url}/api/v1/log")["treeID"]
    log = tmp_path / "server.log"
    with Service("rekor", "--data-dir", str(data), "--hostname", "log.test", log=log) as srv:
        info = get(f"{srv.url}/api/v1/log")
        assert info["treeID"] == tree and info["treeSize"] == 1
        status, body, _ = post(srv.url, hashedrekord(b"two"))
        assert status == 201 and next(iter(body.values()))["logIndex"] == 1
        for _ in range(4):  # several requests so that both workers have answered some
            get(f"{srv.url}/api/v1/log")
        want = ('sigstack_log_entries{log="rekor"} 2.0',
                'route="/api/v1/log/entries",service="rekor",status="201"} 1.0')  # fmt: skip
        deadline = time.monotonic() + 5  # the other worker flushes its totals every 0.25 s
        while True:
            with urllib.request.urlopen(f"{srv.url}/metrics", timeout=30) as resp:  # noqa: S310
                metrics = resp.read().decode()
            if all(w in metrics for w in want) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert all(w in metrics for w in want), metrics
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    requests = [x for x in lines if x.get("message") == "request"]
    assert any(x["route"] == "/api/v1/log/entries" and x["status"] == 201 for x in requests)
    assert all(len(x["request_id"]) == 32 for x in requests)
    moved = tmp_path / "key.bak"
    (data / "rekor-key.pem").rename(moved)
    result = Service("rekor", "--data-dir", str(data)).run_to_exit()
    assert result.returncode != 0 and "key" in result.stderr and "missing" in result.stderr
    moved.rename(data / "rekor-key.pem")
    (data / "rekor.db").rename(tmp_path / "db.bak")
    result = Service("rekor", "--data-dir", str(data)).run_to_exit()
    assert result.returncode != 0 and "database" in result.stderr and "missing" in result.stderr
    (tmp_path / "db.bak").rename(data / "rekor.db")
    result = Service("rekor", "--data-dir", str(data), "--key", "ephemeral:").run_to_exit()
    assert result.returncode != 0 and "ephemeral" in result.stderr


def _hammer(url: str, stop: threading.Event, acked: dict, heads: list, prefix: str) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        try:
            status, body, _ = post(url, hashedrekord(f"{prefix}-{i}".encode()), timeout=10)
        except (OSError, http.client.HTTPException, ValueError):  # killed mid-answer: not acked
            continue
        if status == 201:
            ((entry_id, entry),) = body.items()
            proof = entry["verification"]["inclusionProof"]
            acked[entry_id] = (entry["logIndex"], entry["body"])
            heads.append((proof["treeSize"], proof["rootHash"], proof["checkpoint"]))


def _check_after_crash(url: str, acked: dict, heads: list, log_id: bytes, key) -> None:
    info = get(f"{url}/api/v1/log")
    size, root = info["treeSize"], bytes.fromhex(info["rootHash"])
    note.verify_rekor_checkpoint(info["signedTreeHead"], log_id, key)
    assert acked, "no entry was acknowledged before the crash"
    for entry_id, (index, body) in acked.items():
        got = get(f"{url}/api/v1/log/entries?logIndex={index}")
        assert next(iter(got)) == entry_id and got[entry_id]["body"] == body
    for old_size, old_root, checkpoint in {h[:2]: h for h in heads}.values():
        note.verify_rekor_checkpoint(checkpoint, log_id, key)
        proof = get(f"{url}/api/v1/log/proof?firstSize={old_size}&lastSize={size}")
        merkle.verify_consistency(
            old_size,
            size,
            [bytes.fromhex(h) for h in proof["hashes"]],
            bytes.fromhex(old_root),
            root,
        )


def _crash_cycle(servers: list[Service], seconds: float = 2.0) -> tuple[dict, list]:
    acked: dict = {}
    heads: list = []
    kill_under_load(servers, lambda url, stop, prefix: _hammer(url, stop, acked, heads, prefix),
                    seconds)  # fmt: skip
    return acked, heads


def test_sigkill_during_concurrent_writes_loses_nothing_acknowledged(tmp_path) -> None:
    data = tmp_path / "rekor"
    srv = Service("rekor", "--data-dir", str(data), "--workers", "2").start()
    acked, heads = _crash_cycle([srv])
    signer = load_signer(f"file:{data / 'rekor-key.pem'}")
    log_id = hashlib.sha256(signer.public_der).digest()
    with Service("rekor", "--data-dir", str(data), port=srv.port) as again:
        _check_after_crash(again.url, acked, heads, log_id, signer.public_key)
        status, body, _ = post(again.url, hashedrekord(b"after the crash"))
        assert status == 201


@pytest.mark.postgres
def test_two_servers_on_one_postgres_survive_sigkill(tmp_path) -> None:
    with fresh_postgres() as url:
        first = Service("rekor", "--data-dir", str(tmp_path / "a"), "--database-url", url).start()
        key = tmp_path / "a" / "rekor-key.pem"
        second_dir = tmp_path / "b"
        second_dir.mkdir()
        os.link(key, second_dir / "rekor-key.pem")
        second = Service("rekor", "--data-dir", str(second_dir), "--database-url", url).start()
        acked, heads = _crash_cycle([first, second])
        signer = load_signer(f"file:{key}")
        log_id = hashlib.sha256(signer.public_der).digest()
        indexes = sorted(index for index, _ in acked.values())
        assert len(set(indexes)) == len(indexes), "two servers handed out the same index"
        with Service("rekor", "--data-dir", str(tmp_path / "a"), "--database-url", url) as again:
            _check_after_crash(again.url, acked, heads, log_id, signer.public_key)
            size = get(f"{again.url}/api/v1/log")["treeSize"]
            assert size >= len(acked) and indexes[-1] < size
            for index, body in sorted(acked.values())[:: max(1, len(acked) // 20)]:
                leaf = base64.b64decode(body)
                got = get(f"{again.url}/api/v1/log/entries?logIndex={index}")
                entry_id = next(iter(got))
                assert entry_id.endswith(merkle.leaf_hash(leaf).hex())


def test_key_kept_outside_the_data_dir(tmp_path) -> None:
    """--key names an encrypted key elsewhere: a new log is made, then reused; on PostgreSQL a
    database that lost the log is refused rather than restarted under the same key."""
    from sigstack.services.keys import create_file_key

    create_file_key(tmp_path / "log.pem", passphrase=b"correct horse")
    uri = f"file:{tmp_path / 'log.pem'}?passphrase-env=SIGSTACK_TEST_LOG_PASS"
    os.environ["SIGSTACK_TEST_LOG_PASS"] = "correct horse"
    data = tmp_path / "data"
    with Service("rekor", "--data-dir", str(data), "--key", uri) as srv:
        assert post(srv.url, hashedrekord(b"external key"))[0] == 201
    assert not (data / "rekor-key.pem").exists()
    with Service("rekor", "--data-dir", str(data), "--key", uri) as srv:
        assert get(f"{srv.url}/api/v1/log")["treeSize"] == 1


@pytest.mark.postgres
def test_external_key_on_postgres_refuses_a_lost_log(tmp_path) -> None:
    from sigstack.services.keys import create_file_key

    create_file_key(tmp_path / "log.pem")
    uri = f"file:{tmp_path / 'log.pem'}"
    data = tmp_path / "data"
    with fresh_postgres() as url:
        with Service("rekor", "--data-dir", str(data), "--key", uri, "--database-url", url) as srv:
            assert post(srv.url, hashedrekord(b"pg external"))[0] == 201
    with fresh_postgres() as url:  # an empty database: the log this data dir made is gone
        result = Service(
            "rekor", "--data-dir", str(data), "--key", uri, "--database-url", url
        ).run_to_exit()
        assert result.returncode != 0
