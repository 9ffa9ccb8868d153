"""The TUF part of a mirror (client.mirror.tufrepo through mirror.apply), copied from a real
repository made with services.tuf (read as a directory, as an unpacked bundle is): the files a TUF
client asks for, the client's own ``sigstack initialize`` code against the copy served over HTTP,
a root rotation carried and walked from 1.root.json, the trusted root the logs are checked with
taken from TUF, and refusals (rollback, a changed target, expired metadata, a second bootstrap)
that leave the mirror unchanged."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sigstack.client import tuf as tufclient
from sigstack.client.mirror.layout import MirrorDir
from sigstack.client.mirror.mirror import LogPlan, Plan, apply
from sigstack.client.mirror.sources import DirSource
from sigstack.protocol.errors import ConfigError, Error, ValidationError, VerificationError
from sigstack.services.tuf import keys as tufkeys
from sigstack.services.tuf.repo import Repository
from tests.support.clock import Clock
from tests.support.servers import serve_directory
from tests.unit.mirror.kit import StaticLog, snapshot, trusted_root


class Repo:
    """A repository with its offline keys, publishing a trusted root for some logs."""

    def __init__(self, tmp: Path, clock: Clock[datetime] | None = None) -> None:
        self.tmp = tmp
        self.repo = Repository(tmp / "repo", clock=clock)
        self.repo.init(tmp / "offline")
        self.public = self.repo.layout.public

    def publish(self, logs: list[StaticLog], extra: bytes = b'{"config": 1}') -> None:
        self.repo.add_target("trusted_root.json", trusted_root(logs))
        self.repo.add_target("signing_config.v0.2.json", extra)
        self.repo.sign("targets", tufkeys.open_signer(str(self.tmp / "offline/targets-1.pem")))
        self.repo.publish()

    def rotate_root(self) -> None:
        new_path = self.tmp / "offline/root-2.pem"
        new_key = tufkeys.create_key(new_path)
        old = tufkeys.public_key_of(str(self.tmp / "offline/root-1.pem"))
        self.repo.rotate_key("root", old, new_key)
        self.repo.sign("root", tufkeys.open_signer(str(self.tmp / "offline/root-1.pem")))
        self.repo.sign("root", tufkeys.open_signer(str(new_path)))
        self.repo.publish()

    @property
    def first_root(self) -> bytes:
        return (self.public / "1.root.json").read_bytes()


def _plan(repo: Repo, *logs: StaticLog, bootstrap: bytes | None = None,
          public: Path | None = None) -> Plan:  # fmt: skip
    return Plan(logs=tuple(LogPlan(None, DirSource(log.root)) for log in logs),
                tuf=DirSource(public or repo.public), tuf_root=bootstrap)  # fmt: skip


def _refused(mirror: MirrorDir, plan: Plan, error: type[Error], match: str) -> None:
    before = snapshot(mirror.root)
    with pytest.raises(error, match=match):
        apply(mirror, plan)
    assert snapshot(mirror.root) == before


def test_a_mirror_serves_what_tuf_clients_ask_for(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "log", "log.example").add(10)
    repo = Repo(tmp_path)
    repo.publish([log])
    mirror = MirrorDir(tmp_path / "mirror")
    report = apply(mirror, _plan(repo, log, bootstrap=repo.first_root))
    assert report.tuf is not None and report.tuf.root_version == 1
    assert report.tuf.targets == ("signing_config.v0.2.json", "trusted_root.json")
    gen, manifest = mirror.require()
    assert manifest.trust == "tuf" and manifest.log("log.example") is not None
    published = {p.relative_to(repo.public) for p in repo.public.rglob("*") if p.is_file()}
    copied = {p.relative_to(gen / "tuf") for p in (gen / "tuf").rglob("*") if p.is_file()}
    # what the repository publishes now (not its older snapshot and targets versions)
    assert copied == published - {Path("1.snapshot.json"), Path("1.targets.json")}
    for rel in copied:
        assert (gen / "tuf" / rel).read_bytes() == (repo.public / rel).read_bytes()
    # the client's own TUF bootstrap, over HTTP, against the copy
    with serve_directory(gen / "tuf") as served:
        env = {"TUF_ROOT": str(tmp_path / "client")}
        _, got = tufclient.initialize(served.url, repo.first_root, env)
        assert got == ["trusted_root.json", "signing_config.v0.2.json"]
        data = tufclient.cached_target("trusted_root.json", None, env)
    assert json.loads(data)["tlogs"][0]["logId"]["keyId"]


def test_updates_carry_new_roots_and_targets(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "log", "log.example").add(10)
    repo = Repo(tmp_path)
    repo.publish([log])
    mirror = MirrorDir(tmp_path / "mirror")
    apply(mirror, _plan(repo, log, bootstrap=repo.first_root))
    again = apply(mirror, _plan(repo))
    assert again.tuf is not None and again.tuf.fetched == 0  # the targets held still match
    second = StaticLog(tmp_path / "second", "second.example").add(5)
    repo.rotate_root()
    repo.publish([log, second], b'{"config": 2}')  # a new log arrives through TUF
    report = apply(mirror, _plan(repo, log, second))
    assert report.tuf is not None and (report.tuf.root_version, report.tuf.fetched) == (2, 2)
    gen, manifest = mirror.require()
    assert manifest.log("second.example") is not None
    assert (gen / "tuf/2.root.json").read_bytes() == (repo.public / "2.root.json").read_bytes()
    with serve_directory(gen / "tuf") as served:  # a client starting from 1.root.json
        env = {"TUF_ROOT": str(tmp_path / "client")}
        tufclient.initialize(served.url, repo.first_root, env)
        meta = Path(env["TUF_ROOT"]) / tufclient._mirror_dir(Path(env["TUF_ROOT"]), served.url)
        assert json.loads((meta / "metadata/root.json").read_bytes())["signed"]["version"] == 2


def test_refusals_change_nothing(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "log", "log.example").add(10)
    repo = Repo(tmp_path)
    repo.publish([log])
    old_public = tmp_path / "old-public"
    shutil.copytree(repo.public, old_public)
    repo.publish([log], b'{"config": 2}')
    mirror = MirrorDir(tmp_path / "mirror")
    apply(mirror, _plan(repo, log, bootstrap=repo.first_root))
    # an older copy of the repository: TUF's rollback checks
    _refused(mirror, _plan(repo, public=old_public), VerificationError, "does not verify")
    # a target changed after it was signed
    changed = tmp_path / "changed"
    shutil.copytree(repo.public, changed)
    repo.publish([log], b'{"config": 3}')
    shutil.copytree(repo.public, changed, dirs_exist_ok=True)
    for content, match in ((b'{"config": 9}', "does not verify"), (b'{"config": 666}', "longer")):
        for path in (changed / "targets").glob("*.signing_config.v0.2.json"):
            path.write_bytes(content)
        _refused(mirror, _plan(repo, public=changed), VerificationError, match)
    (changed / "timestamp.json").unlink()
    _refused(mirror, _plan(repo, public=changed), ValidationError, "is incomplete")
    # a bootstrap root is for a new mirror only; a log's key comes from TUF, not from a file
    _refused(mirror, _plan(repo, bootstrap=repo.first_root), ConfigError, "already trusts")
    _refused(mirror, Plan(trusted_root=trusted_root([log])), ConfigError, "from TUF, not from")


def test_expired_metadata_cannot_be_mirrored(tmp_path: Path) -> None:
    clock = Clock.utc(datetime.now(UTC) - timedelta(days=3))
    repo = Repo(tmp_path, clock)
    repo.publish([StaticLog(tmp_path / "log", "log.example")])
    mirror = MirrorDir(tmp_path / "mirror")
    with pytest.raises(VerificationError, match="has expired"):
        apply(mirror, _plan(repo, bootstrap=repo.first_root))
    assert mirror.current() is None


def test_a_new_tuf_mirror_needs_its_root(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.publish([])
    with pytest.raises(ConfigError, match="needs the root to start from"):
        apply(MirrorDir(tmp_path / "mirror"), _plan(repo))
    other = Repo(tmp_path / "other")
    with pytest.raises(VerificationError, match="does not verify"):
        apply(MirrorDir(tmp_path / "mirror"), _plan(repo, bootstrap=other.first_root))
