"""Export and import (client.mirror.bundle): a connected mirror's bundle applied to a site's
mirror, whole then incrementally (only what is new travels, from what the previous export carried
or from the site's checkpoints), with the TUF part or a trusted root given by hand; bundles that
cannot apply (a gap, a fork, a hostile tar) are refused and the site is left as it was."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from sigstack.client.mirror import bundle, tiles
from sigstack.client.mirror.layout import MirrorDir
from sigstack.client.mirror.logs import ForkError
from sigstack.client.mirror.mirror import LogPlan, Plan, apply
from sigstack.client.mirror.sources import DirSource
from sigstack.client.mirror.status import describe
from sigstack.protocol.errors import ConfigError, Error, ValidationError
from tests.unit.mirror.kit import StaticLog, snapshot, trusted_root
from tests.unit.mirror.test_tuf import Repo


def _pull(mirror: MirrorDir, *logs: StaticLog, **plan: object) -> None:
    apply(mirror, Plan(logs=tuple(LogPlan(None, DirSource(log.root)) for log in logs),
                       **plan))  # type: ignore[arg-type]  # fmt: skip


def _logs_of(mirror: MirrorDir) -> dict[str, bytes]:
    gen = mirror.current()
    assert gen is not None
    return {str(p.relative_to(gen)): p.read_bytes() for p in sorted((gen / "log").rglob("*"))
            if p.is_file()}  # fmt: skip


def _members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


@pytest.fixture
def connected(tmp_path: Path) -> tuple[StaticLog, StaticLog, MirrorDir, bytes]:
    a = StaticLog(tmp_path / "a", "a.example").add(300)
    b = StaticLog(tmp_path / "b", "rekor.example - 1", v1=True).add(40)
    root = trusted_root([a, b])
    out = MirrorDir(tmp_path / "out")
    _pull(out, a, b, trusted_root=root)
    return a, b, out, root


def test_whole_then_incremental(tmp_path: Path,
                                connected: tuple[StaticLog, StaticLog, MirrorDir, bytes]) -> None:  # fmt: skip
    a, b, out, root = connected
    site = MirrorDir(tmp_path / "site")
    first = bundle.export(out.root, tmp_path / "1.tar", None)
    assert [(log["since"], log["size"]) for log in first.logs] == [(0, 300), (0, 40)]
    with pytest.raises(ConfigError, match="holds no trusted root: give --trusted-root"):
        bundle.import_bundle(first.path, site.root)
    bundle.import_bundle(first.path, site.root, trusted_root=root)
    assert _logs_of(site) == _logs_of(out)
    a.add(100)
    _pull(out, a, b)
    second = bundle.export(out.root, tmp_path / "2.tar", None)  # since what the first carried
    assert [(log["since"], log["size"]) for log in second.logs] == [(300, 400), (40, 40)]
    names = _members(second.path)
    wanted = [f"log/a.example/tile/{t.path}" for t in tiles.grown(300, 400)]
    assert [n for n in names if "/tile/" in n] == wanted
    report = bundle.import_bundle(second.path, site.root)
    assert [o.status for o in report.logs] == ["grew", "same"]
    assert _logs_of(site) == _logs_of(out)
    # an old bundle again: consistent, nothing to apply
    report = bundle.import_bundle(first.path, site.root)
    assert [o.status for o in report.logs] == ["behind", "same"]
    assert _logs_of(site) == _logs_of(out)


def test_since_the_sites_checkpoints(tmp_path: Path,
                                     connected: tuple[StaticLog, StaticLog, MirrorDir, bytes]) -> None:  # fmt: skip
    a, b, out, root = connected
    site = MirrorDir(tmp_path / "site")
    bundle.import_bundle(bundle.export(out.root, tmp_path / "1.tar", {}).path, site.root,
                         trusted_root=root)  # fmt: skip
    a.add(600)
    b.add(1)
    _pull(out, a, b)
    bundle.export(out.root, tmp_path / "lost.tar", None)  # carried nowhere: lost on the way
    gap = bundle.export(out.root, tmp_path / "gap.tar", None)
    before = snapshot(site.root)
    with pytest.raises(ConfigError, match="import the bundles in between first"):
        bundle.import_bundle(gap.path, site.root)
    assert snapshot(site.root) == before
    status = tmp_path / "status.json"
    status.write_text(json.dumps(describe(site.root)))  # what the site sends out
    sizes = bundle.read_since([str(status)])
    assert sizes == {"a.example": 300, "rekor.example - 1": 40}
    gen = site.current()
    assert gen is not None
    assert bundle.read_since([str(gen / "log")]) == sizes  # or its checkpoint files
    fixed = bundle.export(out.root, tmp_path / "fixed.tar", sizes)
    bundle.import_bundle(fixed.path, site.root)
    assert _logs_of(site) == _logs_of(out)


def test_a_forked_bundle_is_refused(tmp_path: Path,
                                    connected: tuple[StaticLog, StaticLog, MirrorDir, bytes]) -> None:  # fmt: skip
    a, b, out, root = connected
    site = MirrorDir(tmp_path / "site")
    bundle.import_bundle(bundle.export(out.root, tmp_path / "1.tar", {}).path, site.root,
                         trusted_root=root)  # fmt: skip
    fork = a.fork(tmp_path / "fork", 200).add(300, b"other")
    other = MirrorDir(tmp_path / "other")  # a connected mirror fed by the forked log
    _pull(other, fork, b, trusted_root=root)
    forked = bundle.export(other.root, tmp_path / "forked.tar", {"a.example": 300})
    before = snapshot(site.root)
    with pytest.raises(ForkError, match="not consistent with the mirror"):
        bundle.import_bundle(forked.path, site.root)
    assert snapshot(site.root) == before
    assert not [p for p in site.root.iterdir() if p.name.startswith((".import", ".staging"))]


def test_with_tuf(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "log", "log.example").add(50)
    repo = Repo(tmp_path)
    repo.publish([log])
    out = MirrorDir(tmp_path / "out")
    _pull(out, log, tuf=DirSource(repo.public), tuf_root=repo.first_root)
    site = MirrorDir(tmp_path / "site")
    first = bundle.export(out.root, tmp_path / "1.tar", None)
    with pytest.raises(ConfigError, match="needs the root to start from"):
        bundle.import_bundle(first.path, site.root)
    with pytest.raises(ConfigError, match="from TUF, not from a file"):
        bundle.import_bundle(first.path, site.root, trusted_root=trusted_root([log]))
    bundle.import_bundle(first.path, site.root, tuf_root=repo.first_root)
    repo.rotate_root()
    second_log = StaticLog(tmp_path / "second", "second.example").add(3)
    repo.publish([log, second_log])
    log.add(10)
    _pull(out, log, second_log, tuf=DirSource(repo.public))
    report = bundle.import_bundle(bundle.export(out.root, tmp_path / "2.tar", None).path,
                                  site.root)  # fmt: skip
    assert report.tuf is not None and report.tuf.root_version == 2
    assert snapshot(site.current() / "tuf") == snapshot(out.current() / "tuf")  # type: ignore[operator]
    assert _logs_of(site) == _logs_of(out)


def _tar(path: Path, members: list[tarfile.TarInfo], data: bytes = b"x") -> Path:
    with tarfile.open(path, "w") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


def _link(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, "/etc/passwd"
    return info


@pytest.mark.parametrize(("members", "match"), [
    ([_link("log/a/checkpoint", tarfile.SYMTYPE)], "not a plain file"),
    ([_link("log/a/checkpoint", tarfile.LNKTYPE)], "not a plain file"),
    ([_file("../escape")], "not a path a mirror holds"),
    ([_file("/etc/cron.d/x")], "not a path a mirror holds"),
    ([_file("log/a/tile/0/0001")], "which no bundle holds"),
    ([_file("log/a/secret")], "which no bundle holds"),
    ([_file("trust/trusted_root.json")], "which no bundle holds"),
    ([_file("log/a/checkpoint"), _file("log/a/checkpoint")], "which no bundle holds"),
    ([_file("log/a/tile/0/000", 8193)], "larger than any such file"),
    ([_file("log/a/checkpoint")], "no valid bundle.json"),
])  # fmt: skip
def test_hostile_bundles(tmp_path: Path, connected: tuple[StaticLog, StaticLog, MirrorDir, bytes],
                         members: list[tarfile.TarInfo], match: str) -> None:  # fmt: skip
    a, b, out, root = connected
    site = MirrorDir(tmp_path / "site")
    bundle.import_bundle(bundle.export(out.root, tmp_path / "1.tar", {}).path, site.root,
                         trusted_root=root)  # fmt: skip
    before = snapshot(site.root)
    data = b"x" * max((m.size for m in members), default=1)
    with pytest.raises(Error, match=match):
        bundle.import_bundle(_tar(tmp_path / "bad.tar", members, data), site.root)
    assert snapshot(site.root) == before
    assert not (tmp_path / "etc").exists()


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_bytes(b"not a tar")
    with pytest.raises(ValidationError, match="not a readable tar file"):
        bundle.import_bundle(tmp_path / "x.tar", tmp_path / "site")
    with pytest.raises(ValidationError, match="no such file"):
        bundle.import_bundle(tmp_path / "none.tar", tmp_path / "site")
    with pytest.raises(ValidationError, match="not a signed checkpoint"):
        bundle.read_since([str(tmp_path / "x.tar")])
