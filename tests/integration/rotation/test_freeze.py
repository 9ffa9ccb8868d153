"""Freezing a log (issue 17): read-only for good, with a final checkpoint, on real databases.

Several "workers" (each its own engine and sequencer, as gunicorn workers or hosts are) write
while another one freezes the log: every entry acknowledged before the freeze is in the final
checkpoint, none is acknowledged after it, and the refusal is ``FrozenError`` naming the successor.
A restart (a new ``RekorLog`` on the same database) still refuses; freezing twice changes nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from sigstack.protocol import merkle, note
from sigstack.protocol.errors import FrozenError
from sigstack.services.keys import Signer, create_file_key, load_signer
from sigstack.services.rekor.log import RekorLog
from sigstack.services.rekor.types import prepare_entry
from sigstack.services.rekor2.entries import prepare_entry as prepare_v2
from sigstack.services.rekor2.log import Rekor2Log
from sigstack.services.runtime import db
from tests.support.dbs import upgraded_database
from tests.support.entries import hashedrekord, v2_hashedrekord
from tests.support.servers import sigstack_cli

NEXT = "https://rekor-2.example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    with upgraded_database(request.param, tmp_path / "rekor.db") as url:
        yield url


def _signer(tmp_path, kind: str = "ecdsa-p256") -> Signer:
    path = tmp_path / f"{kind}.pem"
    if not path.exists():
        create_file_key(path, kind)
    return load_signer(f"file:{path}")


def _worker(url: str, signer: Signer, *, create: bool = False) -> RekorLog:
    return RekorLog(db.make_engine(url), signer, "rekor.test", create=create, batch_wait=0.001)


def test_concurrent_writers_and_a_freeze_agree_on_one_final_checkpoint(database, tmp_path) -> None:
    signer = _signer(tmp_path)
    _worker(database, signer, create=True).close()
    workers = [_worker(database, signer) for _ in range(3)]
    acknowledged: list[tuple[int, bytes]] = []
    refused: list[FrozenError] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write(worker: RekorLog, name: str) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                added = worker.add(prepare_entry(hashedrekord(f"{name}-{n}".encode())))
            except FrozenError as exc:
                with lock:
                    refused.append(exc)
                continue
            entry = next(iter(added.rendered.values()))
            with lock:
                acknowledged.append((entry["logIndex"], entry["body"]))

    threads = [threading.Thread(target=write, args=(w, f"w{i}-{t}"))
               for i, w in enumerate(workers) for t in range(3)]  # fmt: skip
    for t in threads:
        t.start()
    time.sleep(1.0)
    freezer = _worker(database, signer)
    state = freezer.freeze(NEXT)
    time.sleep(0.5)  # writers go on against the frozen log
    stop.set()
    for t in threads:
        t.join()

    final = state.head
    assert acknowledged and refused, "the test must see writes on both sides of the freeze"
    assert all(index < final.size for index, _ in acknowledged)
    assert len({index for index, _ in acknowledged}) == len(acknowledged) == final.size
    assert all(exc.successor == NEXT and NEXT in exc.message for exc in refused)
    # the final checkpoint: signed by the log key, over the stored tree, marked frozen
    verifier = note.verifier_for_key(freezer.hostname, signer.public_key, freezer.log_id[:4])
    checkpoint = note.verify_checkpoint(final.note, [verifier])
    assert (checkpoint.size, checkpoint.root_hash) == (final.size, freezer.log.root_at(final.size))
    assert checkpoint.extensions[0].startswith("Log frozen — ")
    # every acknowledged entry is provably in it
    for index, _ in acknowledged[:: max(1, len(acknowledged) // 20)]:
        entry = freezer.log.entry(index)
        proof = freezer.log.inclusion_proof(index, final.size)
        merkle.verify_inclusion(index, final.size, entry.leaf_hash, proof, final.root_hash)
    # nothing moves any more, whoever asks: reads, a second freeze, a restarted worker
    again = _worker(database, signer).freeze()
    assert again == state
    restarted = _worker(database, signer)
    with pytest.raises(FrozenError):
        restarted.add(prepare_entry(hashedrekord(b"after a restart")))
    assert restarted.head() == final and restarted.log.frozen() == state
    for w in [*workers, freezer, restarted]:
        w.close()


def test_an_empty_log_freezes_and_a_new_successor_is_kept(database, tmp_path) -> None:
    signer = _signer(tmp_path)
    rekor = _worker(database, signer, create=True)
    first = rekor.freeze()
    assert first.head.size == 0 and first.successor is None
    with pytest.raises(FrozenError) as refused:
        rekor.add(prepare_entry(hashedrekord(b"too late")))
    assert refused.value.successor is None and refused.value.allow == ("GET", "HEAD")
    second = rekor.freeze(NEXT)
    assert second.successor == NEXT
    assert (second.head, second.frozen_ms) == (first.head, first.frozen_ms)
    rekor.close()


def test_a_rekor_v2_log_freezes_with_a_c2sp_final_checkpoint(database, tmp_path) -> None:
    signer = _signer(tmp_path, "ed25519")
    engine = db.make_engine(database)
    log = Rekor2Log(engine, signer, "log2026-1.rekor.test", create=True, batch_wait=0.001)
    entry = log.add(prepare_v2(json.dumps(v2_hashedrekord(b"before").request).encode()))
    state = log.freeze(NEXT)
    verifier = note.verifier_for_key(log.origin, signer.public_key, log.key_id[:4])
    checkpoint = note.verify_checkpoint(state.head.note, [verifier])
    assert checkpoint.size == 1 == int(entry["logIndex"]) + 1
    assert checkpoint.extensions[0].startswith("Log frozen — ")
    other = Rekor2Log(db.make_engine(database), signer, "log2026-1.rekor.test")
    with pytest.raises(FrozenError, match="switch to the latest log"):
        other.add(prepare_v2(json.dumps(v2_hashedrekord(b"after").request).encode()))
    log.close()
    other.close()


@pytest.mark.parametrize(("command", "message"), [
    ("rekor", "holds no Rekor log key (rekor-key.pem)"),
    ("rekor2", "holds no Rekor v2 log key (rekor2-key.pem)"),
])  # fmt: skip
def test_freezing_a_data_dir_without_a_log_is_refused_and_makes_nothing(
    tmp_path, command: str, message: str
) -> None:
    """``sigstack rekor freeze`` on a directory with no log must not initialise one there."""
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    done = sigstack_cli(command, "freeze", "--data-dir", str(empty))
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
    assert list(empty.iterdir()) == []
