"""``sigstack serve witness`` as a real server: the data directory (key 0600, name for life), the
vkey command, state kept across restarts, the start-up refusals, and compare-and-swap across
processes: many simultaneous add-checkpoint calls for one log, exactly one cosigned per step and
every other answered 409 with the winner's size (two workers on SQLite; two servers on one
PostgreSQL database)."""

from __future__ import annotations

import os
import stat
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol import note, vkeys
from sigstack.services.keys import create_file_key
from tests.support.dbs import fresh_postgres
from tests.support.servers import Service, sigstack_cli
from tests.unit.witness.helpers import TestLog, body, log_list, origin_hash

pytestmark = pytest.mark.xdist_group("servers")
NAME = "witness.test/w1"


def post(url: str, data: bytes) -> tuple[int, str, bytes]:
    req = urllib.request.Request(f"{url}/add-checkpoint", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def witness(data: Path, logs: Path, *args: str, env: dict[str, str] | None = None) -> Service:
    return Service("witness", "--data-dir", str(data), "--logs", str(logs), *args,
                   log=data.parent / "witness.log", env=env)  # fmt: skip


def printed_vkey(data: Path) -> str:
    done = sigstack_cli("witness", "vkey", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_data_dir_vkey_restart_and_refusals(tmp_path: Path) -> None:
    log = TestLog("log.example/one").grow(10)
    logs = tmp_path / "logs.txt"
    logs.write_text(log_list(log))
    data = tmp_path / "w"
    with witness(data, logs, "--name", NAME) as srv:
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("witness-key.pem", "witness-name", "witness.db"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
        vkey = printed_vkey(data)
        assert vkey.startswith(f"{NAME}+")
        assert get(f"{srv.url}/vkey") == (200, f"{vkey}\n".encode())
        assert f"witness: {vkey}" in (tmp_path / "witness.log").read_text()
        status, ctype, line = post(srv.url, body(0, [], log.checkpoint()))
        assert (status, ctype) == (200, "text/plain; charset=utf-8")
        note.open_note(log.checkpoint() + line.decode(), [vkeys.parse_vkey(vkey)])
        srv.stop()
    with witness(data, logs) as srv:  # the name is the data dir's; the state too
        assert printed_vkey(data) == vkey
        assert post(srv.url, body(0, [], log.checkpoint())) == (409, "text/x.tlog.size", b"10\n")
        assert get(f"{srv.url}/{origin_hash(log.origin)}/checkpoint") == (
            200, (log.checkpoint() + line.decode()).encode()
        )  # fmt: skip
        log.grow(7)
        assert post(srv.url, body(10, log.proof(10), log.checkpoint()))[0] == 200
        srv.kill()  # SIGKILL: an answered cosignature was committed before its answer
    with witness(data, logs) as srv:
        assert post(srv.url, body(10, log.proof(10), log.checkpoint()))[2] == b"17\n"
    refused = {
        "named": witness(data, logs, "--name", "witness.test/other"),
        "ephemeral": witness(tmp_path / "eph", logs, "--key", "ephemeral:ed25519"),
        "follows no log": Service("witness", "--data-dir", str(tmp_path / "none")),
    }
    for reason, service in refused.items():
        done = service.run_to_exit()
        assert done.returncode == 1 and reason in done.stderr, (reason, done.stderr)
    (tmp_path / "bad.txt").write_text("logs/v0\nvkey nonsense\n")
    done = witness(tmp_path / "fresh", tmp_path / "bad.txt").run_to_exit()
    assert done.returncode == 1 and "bad.txt line 2" in done.stderr
    assert not (tmp_path / "fresh").exists()  # refused before a data dir was made
    create_file_key(tmp_path / "p256.pem", "ecdsa-p256")
    done = witness(tmp_path / "p", logs, "--key", f"file:{tmp_path / 'p256.pem'}").run_to_exit()
    assert done.returncode == 1 and "must be Ed25519" in done.stderr
    (data / "witness-name").unlink()
    done = witness(data, logs).run_to_exit()
    assert done.returncode == 1 and "witness-name is missing" in done.stderr
    done = sigstack_cli("witness", "vkey", "--data-dir", str(data))
    assert done.returncode == 1 and "no witness in" in done.stderr


def _race(urls: list[str], log: TestLog, steps: int, per_step: int) -> None:
    """``per_step`` simultaneous requests from one state, spread over ``urls``, ``steps`` times."""
    old = 0
    for step in range(steps):
        log.grow(1 + 97 * step)
        new = len(log.leaves)
        data = body(old, log.proof(old), log.checkpoint())
        answers: list[tuple[int, str, bytes]] = []
        barrier = threading.Barrier(per_step)

        def send(i: int, data: bytes = data, answers: list = answers,
                 barrier: threading.Barrier = barrier) -> None:  # fmt: skip
            barrier.wait()
            answers.append(post(urls[i % len(urls)], data))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(per_step)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [a for a in answers if a[0] == 200]
        lost = [a for a in answers if a[0] != 200]
        assert len(won) == 1, [a[:2] for a in answers]
        assert lost == [(409, "text/x.tlog.size", f"{new}\n".encode())] * (per_step - 1)
        old = new


def test_simultaneous_requests_on_two_sqlite_workers(tmp_path: Path) -> None:
    log = TestLog("log.example/race")
    logs = tmp_path / "logs.txt"
    logs.write_text(log_list(log))
    with witness(tmp_path / "w", logs, "--name", NAME, "--workers", "2", "--threads", "8") as srv:
        _race([srv.url], log, steps=5, per_step=24)
        status, held = get(f"{srv.url}/{origin_hash(log.origin)}/checkpoint")
        assert status == 200 and held.decode().startswith(log.checkpoint())


@pytest.mark.postgres
def test_simultaneous_requests_on_two_servers_sharing_postgresql(tmp_path: Path) -> None:
    log = TestLog("log.example/race", ec.generate_private_key(ec.SECP256R1()))
    logs = tmp_path / "logs.txt"
    logs.write_text(log_list(log))
    with fresh_postgres() as url:
        env = {**os.environ, "SIGSTACK_WITNESS_DATABASE_URL": url}
        data = tmp_path / "w"
        with witness(data, logs, "--name", NAME, env=env) as one:
            with witness(data, logs, env=env) as two:  # another process, the same key and name
                _race([one.url, two.url], log, steps=4, per_step=16)
                assert get(f"{one.url}/vkey") == get(f"{two.url}/vkey")
        assert not (data / "witness.db").exists()
