"""A whole mirror update (client.mirror.mirror.apply) on static logs: the staged generation is
swapped in by one rename of ``current``, the previous one is kept and older ones removed, a file
shared with the live generation is never changed in place, and a refused update (a fork, a bad
signature, a missing resource, an unknown log, the wrong trust) leaves the directory exactly as
it was, with no staging directory behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sigstack.client.mirror.layout import Manifest, MirrorDir, name_for
from sigstack.client.mirror.logs import ForkError
from sigstack.client.mirror.mirror import LogPlan, Plan, apply
from sigstack.client.mirror.sources import DirSource
from sigstack.protocol.errors import ConfigError, Error, ValidationError, VerificationError
from tests.unit.mirror.kit import StaticLog, snapshot, trusted_root


def _plan(*logs: StaticLog, root: bytes | None = None, names: bool = True) -> Plan:
    return Plan(logs=tuple(LogPlan(name_for(log.origin) if names else None, DirSource(log.root))
                           for log in logs), trusted_root=root)  # fmt: skip


@pytest.fixture
def two(tmp_path: Path) -> tuple[StaticLog, StaticLog, MirrorDir]:
    a = StaticLog(tmp_path / "a", "a.example").add(300)
    b = StaticLog(tmp_path / "b", "rekor.example - 9", v1=True).add(20)
    mirror = MirrorDir(tmp_path / "mirror")
    apply(mirror, _plan(a, b, root=trusted_root([a, b]), names=False))
    return a, b, mirror


def test_a_new_mirror(two: tuple[StaticLog, StaticLog, MirrorDir]) -> None:
    a, b, mirror = two
    gen, manifest = mirror.require()
    assert os.readlink(mirror.root / "current") == gen.name == "gen.000001"
    assert [(r.name, r.origin, r.size, r.log_id) for r in manifest.logs] == [
        ("a.example", "a.example", 300, a.log_id), ("rekor.example-9", "rekor.example - 9", 20,
                                                    b.log_id)]  # fmt: skip
    assert manifest.trust == "file" and (gen / "trust/trusted_root.json").is_file()
    assert Manifest.from_bytes((gen / "mirror.json").read_bytes(), "x") == manifest
    assert sorted(p.name for p in mirror.root.iterdir()) == [".lock", "current", "gen.000001"]


def test_updates_swap_generations(two: tuple[StaticLog, StaticLog, MirrorDir]) -> None:
    a, b, mirror = two
    first = mirror.current()
    assert first is not None
    old_checkpoint = (first / "log/a.example/checkpoint").read_bytes()
    a.add(10)
    report = apply(mirror, _plan(a))
    second = mirror.current()
    assert report.generation == second and second is not None and second.name == "gen.000002"
    # the previous generation is kept as it was: nothing written in place through a hard link
    assert (first / "log/a.example/checkpoint").read_bytes() == old_checkpoint
    assert (first / "log/a.example/tile/0/001.p/44").is_file()
    assert (second / "log/a.example/tile/0/001.p/54").is_file()
    tile = "log/a.example/tile/0/000"
    assert os.stat(first / tile).st_ino == os.stat(second / tile).st_ino  # shared, not copied
    assert mirror.require()[1].log("rekor.example-9").size == 20  # type: ignore[union-attr]
    a.add(1)
    apply(mirror, _plan(a))
    assert sorted(p.name for p in mirror.root.glob("gen.*")) == ["gen.000002", "gen.000003"]


def _refused(mirror: MirrorDir, plan: Plan, error: type[Error], match: str) -> None:
    before = snapshot(mirror.root)
    with pytest.raises(error, match=match):
        apply(mirror, plan)
    assert snapshot(mirror.root) == before
    assert not list(mirror.root.glob(".staging*"))


def test_refused_updates_change_nothing(tmp_path: Path,
                                        two: tuple[StaticLog, StaticLog, MirrorDir]) -> None:  # fmt: skip
    a, b, mirror = two
    b.add(5)  # a good update of one log beside a bad one of the other: neither is applied
    fork = a.fork(tmp_path / "fork", 100).add(250, b"other")
    _refused(mirror, _plan(b, fork), ForkError, "not consistent with the mirror")
    stranger = StaticLog(tmp_path / "stranger", "stranger.example").add(3)
    _refused(mirror, _plan(b, stranger, names=False), VerificationError, "signed by no log")
    (a.root / "tile/entries/001.p/44").unlink()
    a.add(1)  # entries/001.p/45 exists, but the mirror copies from 300 with tile 001.p/45 only
    (a.root / "tile/0/001.p/45").unlink()
    _refused(mirror, _plan(b, a), ValidationError, "lacks tile/0/001.p/45")
    _refused(mirror, _plan(a, root=trusted_root([b])), ConfigError, "no longer lists its log ID")
    _refused(mirror, Plan(tuf=DirSource(tmp_path)), ConfigError, "from a file, not from TUF")
    _refused(mirror, _plan(b, b), ConfigError, "named twice")


def test_an_interrupted_update_leaves_a_staging_directory_the_next_one_removes(
    two: tuple[StaticLog, StaticLog, MirrorDir],
) -> None:
    a, b, mirror = two
    with mirror.locked():
        leftover = mirror.stage()  # as a crash would leave it
    (leftover / "junk").write_text("x")
    a.add(3)
    apply(mirror, _plan(a))
    assert not leftover.exists() and not list(mirror.root.glob(".staging*"))


def test_a_new_mirror_needs_trust_and_a_directory_of_its_own(tmp_path: Path) -> None:
    a = StaticLog(tmp_path / "a", "a.example").add(3)
    mirror = MirrorDir(tmp_path / "mirror")
    with pytest.raises(ConfigError, match="needs its trust"):
        apply(mirror, _plan(a))
    assert mirror.current() is None and not list(mirror.root.glob("gen.*"))
    (mirror.root / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"is not empty and holds no mirror \(notes.txt"):
        apply(mirror, _plan(a, root=trusted_root([a])))
    assert sorted(p.name for p in mirror.root.iterdir()) == [".lock", "notes.txt"]


def test_a_broken_current_link_is_refused(two: tuple[StaticLog, StaticLog, MirrorDir]) -> None:
    a, b, mirror = two
    (mirror.root / "current").unlink()
    (mirror.root / "current").symlink_to("/etc")
    with pytest.raises(ConfigError, match="not to one of the mirror's generations"):
        apply(mirror, _plan(a))
