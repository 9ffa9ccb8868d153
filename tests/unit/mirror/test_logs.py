"""client.mirror.logs on static tlog-tiles logs (tests.unit.mirror.kit) read through a real
``DirSource``: first copies and increments, C2SP and Rekor v1 checkpoints, every refusal (a fork,
a rollback that is not a prefix, a tampered entry or tile, another key, another origin), the
fallback from a partial tile the source no longer has to the full one, and a source that is
behind the mirror."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sigstack.client.mirror import logs
from sigstack.client.mirror.layout import LogRecord
from sigstack.client.mirror.logs import ForkError, LogKey
from sigstack.client.mirror.sources import DirSource
from sigstack.protocol import merkle
from sigstack.protocol.errors import ConfigError, ValidationError, VerificationError
from sigstack.protocol.trust import TrustedRoot
from tests.unit.mirror.kit import StaticLog, snapshot, trusted_root


class Reading(DirSource):
    """A DirSource that remembers the paths it was asked for."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.asked: list[str] = []

    def get(self, path: str, limit: int) -> bytes | None:
        self.asked.append(path)
        return super().get(path, limit)


def _root(*logs_: StaticLog) -> TrustedRoot:
    return TrustedRoot.from_json(trusted_root(logs_))


def _pull(log: StaticLog, out: Path, record: LogRecord | None = None,
          root: TrustedRoot | None = None) -> logs.Outcome:  # fmt: skip
    root = root or _root(log)
    source = Reading(log.root)
    text = logs.fetch_checkpoint(source)
    if record is None:
        key, checkpoint = logs.identify(text, root, None)
        record = LogRecord("log", checkpoint.origin, key.log_id, None)
    else:
        key = logs.key_for(record, root)
    return logs.update_log(record, key, text, source, out)


def _same_files(a: Path, b: Path) -> None:
    left = {str(p.relative_to(a)): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    right = {str(p.relative_to(b)): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert left == right


@pytest.mark.parametrize("v1", [False, True], ids=["c2sp", "rekor-v1"])
@pytest.mark.parametrize("size", [0, 1, 255, 256, 300, 65537])
def test_first_copy_is_the_log(tmp_path: Path, size: int, v1: bool) -> None:
    origin = "rekor.example - 7" if v1 else "log2026.example"
    log = StaticLog(tmp_path / "src", origin, v1=v1).add(size)
    done = _pull(log, tmp_path / "out")
    assert (done.status, done.record.size, done.record.origin) == ("new", size, origin)
    assert done.record.root == merkle.root_of([merkle.leaf_hash(e) for e in log.entries])
    assert done.record.log_id == log.log_id
    _same_files(log.root, tmp_path / "out")


def test_increments_fetch_only_what_is_new(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(300)
    out = tmp_path / "out"
    record = _pull(log, out).record
    for more in (1, 211, 70000, 0):
        log.add(more)
        source = Reading(log.root)
        text = logs.fetch_checkpoint(source)
        done = logs.update_log(record, logs.key_for(record, _root(log)), text, source, out)
        asked = [p for p in source.asked if p != "checkpoint"]
        wanted = [f"tile/{t.path}" for t in logs.tiles.grown(record.size, done.record.size)]
        assert asked == wanted
        assert done.status == ("grew" if more else "same") and done.added == more
        record = done.record
        _same_files(log.root, out)  # partial tiles kept until full, then removed


def test_a_fork_of_the_same_size_is_refused(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(300)
    record = _pull(log, tmp_path / "out").record
    fork = log.fork(tmp_path / "fork", 200).add(100, b"other")
    with pytest.raises(ForkError, match="same size, another root hash"):
        _pull(fork, tmp_path / "out", record)


@pytest.mark.parametrize(("held", "keep", "grow"), [(300, 200, 300), (256, 255, 2), (512, 100, 600),
                                                    (70000, 65536, 10000)])  # fmt: skip
def test_a_larger_fork_is_refused(tmp_path: Path, held: int, keep: int, grow: int) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(held)
    out = tmp_path / "out"
    record = _pull(log, out).record
    fork = log.fork(tmp_path / "fork", keep).add(grow, b"other")
    with pytest.raises(ForkError, match="not consistent with the mirror") as err:
        _pull(fork, out, record)
    assert record.root.hex() in str(err.value)


def test_a_smaller_tree_is_kept_out_when_consistent_and_refused_when_not(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(700)
    out = tmp_path / "out"
    record = _pull(log, out).record
    before = snapshot(out)
    stale = log.fork(tmp_path / "stale", 300)  # a cache serving an older, honest checkpoint
    done = _pull(stale, out, record)
    assert (done.status, done.record, done.source_size) == ("behind", record, 300)
    assert snapshot(out) == before
    other = log.fork(tmp_path / "other", 100).add(200, b"other")
    with pytest.raises(ForkError):
        _pull(other, out, record)


def test_the_source_growing_after_its_checkpoint_was_read(tmp_path: Path) -> None:
    """The partial tiles of the checkpoint read are gone by the time the tiles are fetched (the
    log grew and removed them): the mirror cuts them from the full tiles, as clients do."""
    log = StaticLog(tmp_path / "src", "log.example").add(300)
    source = DirSource(log.root)
    text = logs.fetch_checkpoint(source)
    log.add(300)
    assert not (log.root / "tile/0/001.p/44").exists()
    root = _root(log)
    key, checkpoint = logs.identify(text, root, None)
    record = LogRecord("log", checkpoint.origin, key.log_id, None)
    done = logs.update_log(record, key, text, source, tmp_path / "out")
    assert done.record.size == 300
    assert (tmp_path / "out/tile/0/001.p/44").read_bytes() == (
        log.root / "tile/0/001").read_bytes()[: 44 * 32]  # fmt: skip


@pytest.fixture(scope="module")
def three_levels(tmp_path_factory: pytest.TempPathFactory) -> StaticLog:
    """A log with tiles on three levels (written once for the module; tests copy it)."""
    return StaticLog(tmp_path_factory.mktemp("three") / "log", "log.example").add(65536 * 2 + 1)


def _tamper(path: Path, at: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("where", "message"), [
    ("tile/entries/000", "entry 255 from .* does not hash to its leaf"),
    ("tile/entries/512.p/1", "entry 131072 from"),
    ("tile/0/000", "entry 255 .*does not hash"),
    ("tile/0/512.p/1", "entry 131072 .*does not hash"),
    ("tile/1/000", "hash 255 of tile 1/000 .* is not the root of the tile below"),
    ("tile/1/001", "hash 255 of tile 1/001 .* is not the root of the tile below"),
    ("tile/2/000.p/2", "hash 1 of tile 2/000.p/2 .* is not the root of the tile below"),
])  # fmt: skip
def test_tampered_tiles_are_refused(tmp_path: Path, three_levels: StaticLog, where: str,
                                    message: str) -> None:  # fmt: skip
    log = StaticLog(tmp_path / "src", three_levels.origin, key=three_levels.key)
    shutil.copytree(three_levels.root, log.root, dirs_exist_ok=True)
    _tamper(log.root / where)
    with pytest.raises(VerificationError, match=message):
        _pull(log, tmp_path / "out")


def test_tiles_of_another_tree_than_the_signed_one(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(300)
    (log.root / "checkpoint").write_text(log.sign(300, bytes(32)))
    with pytest.raises(VerificationError, match="do not hash to the checkpoint's root"):
        _pull(log, tmp_path / "out")


def test_a_replaced_tile_must_begin_as_the_held_one(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(300)
    out = tmp_path / "out"
    record = _pull(log, out).record
    _tamper(out / "tile/0/001.p/44", 5)  # the mirror's own copy, damaged
    log.add(10)
    with pytest.raises(ForkError, match="does not begin with the hashes the mirror holds"):
        _pull(log, out, record)


def test_missing_and_malformed_resources(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(300)
    (log.root / "tile/entries/001.p/44").unlink()
    with pytest.raises(ValidationError, match="lacks tile/entries/001.p/44"):
        _pull(log, tmp_path / "a")
    log.publish()
    (log.root / "tile/0/001.p/44").write_bytes(b"\x00" * 31)
    with pytest.raises(VerificationError, match="has 31 bytes, expected 1408"):
        _pull(log, tmp_path / "b")
    (log.root / "checkpoint").unlink()
    with pytest.raises(ValidationError, match="has no checkpoint"):
        _pull(log, tmp_path / "c")


def test_checkpoints_not_signed_by_the_trusted_log(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(3)
    impostor = StaticLog(tmp_path / "impostor", "log.example").add(3)
    with pytest.raises(VerificationError, match="signed by no log of the trusted root"):
        _pull(impostor, tmp_path / "out", root=_root(log))
    # the right key ID but a signature by another key
    text = (impostor.root / "checkpoint").read_text()
    head, _, sig = text.rpartition("\n\n")
    real_id = (log.root / "checkpoint").read_text().rpartition("\n\n")[2].split(" ")[2][:8]
    forged = head + "\n\n" + sig.replace(sig.split(" ")[2][:8], real_id)
    (impostor.root / "checkpoint").write_text(forged)
    with pytest.raises(VerificationError, match="signed by no log|invalid signature"):
        _pull(impostor, tmp_path / "out", root=_root(log))


def test_the_origin_must_stay_the_same(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(3)
    out = tmp_path / "out"
    record = _pull(log, out).record
    renamed = StaticLog(tmp_path / "renamed", "log2.example", key=log.key).add(5)
    key = LogKey(record.log_id, renamed.log_id[:4], renamed.spki, "")
    text = logs.fetch_checkpoint(DirSource(renamed.root))
    with pytest.raises(VerificationError, match="signs origin 'log2.example'"):
        logs.update_log(record, key, text, DirSource(renamed.root), out)


def test_a_log_the_trusted_root_dropped(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "src", "log.example").add(3)
    other = StaticLog(tmp_path / "other", "other.example").add(3)
    record = _pull(log, tmp_path / "out").record
    with pytest.raises(ConfigError, match="no longer lists its log ID"):
        logs.key_for(record, _root(other))
