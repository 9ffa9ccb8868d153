"""Repository operations: init, staged threshold signing, publish, rotation, online re-signing."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata, Root

from sigstack.protocol.errors import ConfigError, NotFoundError, ValidationError, VerificationError
from sigstack.services.tuf import keys as tufkeys
from sigstack.services.tuf.cli import main as tuf_main
from sigstack.services.tuf.repo import Repository
from tests.support.clock import Clock


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    r = Repository(tmp_path / "repo", clock=Clock.utc())
    r.init(tmp_path / "offline", root_keys=3, root_threshold=2, targets_keys=2, targets_threshold=2)
    return r


def _signer(tmp_path: Path, name: str) -> tufkeys.UriSigner:
    return tufkeys.open_signer(str(tmp_path / "offline" / f"{name}.pem"))


def test_init_layout_key_modes_and_thresholds(repo: Repository, tmp_path: Path) -> None:
    pub = repo.layout.public
    assert sorted(p.name for p in pub.iterdir()) == [
        "1.root.json",
        "1.snapshot.json",
        "1.targets.json",
        "root.json",
        "timestamp.json",
    ]
    for key in [*(tmp_path / "offline").glob("*-?.pem"), repo.layout.keys / "online.pem"]:
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert not list(pub.rglob("*.pem"))
    root_md = repo.published("root")
    root: Root = root_md.signed
    assert root.consistent_snapshot is True
    assert (root.roles["root"].threshold, len(root.roles["root"].keyids)) == (2, 3)
    assert (root.roles["targets"].threshold, len(root.roles["targets"].keyids)) == (2, 2)
    assert root.roles["snapshot"].keyids == root.roles["timestamp"].keyids
    root_md.verify_delegate("root", root_md)
    for role in ("targets", "snapshot", "timestamp"):
        root_md.verify_delegate(role, repo.published(role))


def test_init_refuses_to_overwrite_and_keys_in_served_dir(repo: Repository, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="already holds"):
        repo.init(tmp_path / "offline2")
    fresh = Repository(tmp_path / "other")
    with pytest.raises(ConfigError, match="served directory"):
        fresh.init(tmp_path / "other" / "public" / "keys")
    with pytest.raises(ConfigError, match="earlier init"):
        Repository(tmp_path / "fourth").init(tmp_path / "offline")
    with pytest.raises(ConfigError, match="threshold"):
        Repository(tmp_path / "third").init(tmp_path / "k3", root_keys=1, root_threshold=2)


def test_target_needs_threshold_before_publish(repo: Repository, tmp_path: Path) -> None:
    custom = {"sigstore": {"usage": "Unknown", "status": "Active"}}
    repo.add_target("trusted_root.json", b'{"x": 1}', custom)
    status = repo.status()["targets"]
    assert (status["version"], status["ready"], status["missing"]) == (2, False, 2)
    repo.sign("targets", _signer(tmp_path, "targets-1"))
    with pytest.raises(VerificationError, match="targets v2 needs 1 more"):
        repo.publish()
    assert repo.published("targets").signed.version == 1
    assert not repo.layout.public_targets.exists()
    with pytest.raises(VerificationError, match="not a targets key"):
        repo.sign("targets", _signer(tmp_path, "root-1"))
    repo.sign("targets", _signer(tmp_path, "targets-2"))
    assert repo.publish() == ["targets"]
    targets = repo.published("targets").signed
    assert targets.version == 2
    info = targets.targets["trusted_root.json"]
    assert info.unrecognized_fields["custom"] == custom
    served = repo.layout.public_targets / f"{info.hashes['sha256']}.trusted_root.json"
    assert served.read_bytes() == b'{"x": 1}'
    assert repo.published("snapshot").signed.meta["targets.json"].version == 2
    assert repo.status() == {}


def test_restaging_clears_signatures(repo: Repository, tmp_path: Path) -> None:
    repo.add_target("a.json", b"1")
    repo.sign("targets", _signer(tmp_path, "targets-1"))
    repo.add_target("b.json", b"2")
    assert repo.status()["targets"]["signatures"] == 0


def test_bad_targets_and_custom(repo: Repository) -> None:
    with pytest.raises(ValidationError):
        repo.add_target("../evil", b"x")
    with pytest.raises(ValidationError, match="usage"):
        repo.add_target("a.json", b"x", {"sigstore": {"usage": "Nope"}})
    with pytest.raises(NotFoundError):
        repo.remove_target("missing.json")
    with pytest.raises(NotFoundError):
        repo.sign("root", tufkeys.open_signer(str(repo.layout.keys / "online.pem")))


def test_root_key_rotation_needs_old_and_new_thresholds(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "repo", clock=Clock.utc())
    repo.init(tmp_path / "offline")
    new_path = tmp_path / "offline" / "root-new.pem"
    new_key = tufkeys.create_key(new_path)
    old_key = tufkeys.public_key_of(str(tmp_path / "offline" / "root-1.pem"))
    repo.rotate_key("root", old_key, new_key)
    repo.sign("root", tufkeys.open_signer(str(new_path)))
    assert not repo.status()["root"]["ready"]  # the old root's threshold is not met
    with pytest.raises(VerificationError):
        repo.publish()
    repo.discard("root")
    repo.rotate_key("root", old_key, new_key)
    repo.sign("root", _signer(tmp_path, "root-1"))
    assert not repo.status()["root"]["ready"]  # the new root's threshold is not met
    repo.sign("root", tufkeys.open_signer(str(new_path)))
    assert repo.publish() == ["root"]
    v1 = repo.published("root")
    assert v1.signed.version == 2
    Metadata.from_file(str(repo.layout.public / "1.root.json")).verify_delegate("root", v1)
    assert json.loads((repo.layout.public / "root.json").read_text())["signed"]["version"] == 2


def test_targets_rotation_requires_targets_signed_by_new_key(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "repo", clock=Clock.utc())
    repo.init(tmp_path / "offline")
    new_path = tmp_path / "targets-new.pem"
    repo.rotate_key(
        "targets",
        tufkeys.public_key_of(str(tmp_path / "offline" / "targets-1.pem")),
        tufkeys.create_key(new_path),
    )
    repo.sign("root", _signer(tmp_path, "root-1"))
    with pytest.raises(VerificationError, match="targets"):
        repo.publish()
    with pytest.raises(VerificationError):  # the old key no longer counts
        repo.sign("targets", _signer(tmp_path, "targets-1"))
    repo.sign("targets", tufkeys.open_signer(str(new_path)))
    assert repo.publish() == ["root", "targets"]


def test_online_key_rotation_switches_the_signer(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "repo", clock=Clock.utc())
    repo.init(tmp_path / "offline")
    new_path = repo.layout.keys / "online-2.pem"
    new_key = tufkeys.create_key(new_path)
    old = tufkeys.public_key_of(str(repo.layout.keys / "online.pem"))
    for role in ("snapshot", "timestamp"):
        repo.rotate_key(role, old, new_key, new_uri=tufkeys.key_uri(str(new_path)))
    repo.sign("root", _signer(tmp_path, "root-1"))
    repo.publish()
    ts = repo.published("timestamp")
    assert list(ts.signatures) == [new_key.keyid]
    repo.published("root").verify_delegate("timestamp", ts)


def test_online_roles_resigned_within_margin(repo: Repository) -> None:
    clock: Clock[datetime] = repo.clock  # type: ignore[assignment]
    ts1 = repo.published("timestamp").signed
    assert repo.refresh_online(timedelta(hours=12)) is None
    clock.advance(hours=13)  # timestamp (1 day) now expires in 11h < 12h margin
    assert repo.refresh_online(timedelta(hours=12)) == "timestamp"
    ts2 = repo.published("timestamp").signed
    assert ts2.version == ts1.version + 1
    assert ts2.expires == clock.now.replace(microsecond=0) + timedelta(days=1)
    assert ts2.snapshot_meta.version == ts1.snapshot_meta.version
    assert repo.refresh_online(timedelta(hours=12)) is None
    clock.advance(days=6, hours=12)  # snapshot (7 days) is within the margin now
    assert repo.refresh_online(timedelta(hours=12)) == "snapshot"
    assert repo.published("timestamp").signed.snapshot_meta.version == 2
    assert repo.published("snapshot").signed.version == 2


def test_cli_flow_and_rotate_key_signs_with_private_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, keys = str(tmp_path / "repo"), tmp_path / "offline"
    assert (
        tuf_main(
            [
                "init",
                "--data-dir",
                data,
                "--key-dir",
                str(keys),
                "--targets-keys",
                "2",
                "--targets-threshold",
                "2",
            ]
        )
        == 0
    )
    (tmp_path / "tr.json").write_text("{}")
    assert (
        tuf_main(
            [
                "add-target",
                "--data-dir",
                data,
                "trusted_root.json",
                str(tmp_path / "tr.json"),
                "--custom",
                '{"sigstore": {"status": "Active"}}',
            ]
        )
        == 0
    )
    assert (
        tuf_main(["sign", "--data-dir", data, "targets", "--key", str(keys / "targets-1.pem")]) == 0
    )
    assert "needs 1 more" in capsys.readouterr().out
    assert (
        tuf_main(["sign", "--data-dir", data, "targets", "--key", str(keys / "targets-2.pem")]) == 0
    )
    assert "published: targets" in capsys.readouterr().out
    assert (
        tuf_main(
            [
                "rotate-key",
                "--data-dir",
                data,
                "root",
                "--old",
                str(keys / "root-1.pub.pem"),
                "--new",
                str(tmp_path / "root-2.pem"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "created new key" in out and "needs 1 more" in out  # only the new key signed
    assert tuf_main(["sign", "--data-dir", data, "root", "--key", str(keys / "root-1.pem")]) == 0
    assert "published: root" in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(tmp_path / "root-2.pem").st_mode) == 0o600
    assert Repository(data).published("root").signed.version == 2
    assert tuf_main(["refresh", "--data-dir", data]) == 0
    assert "nothing (not due)" in capsys.readouterr().out
    assert tuf_main(["refresh", "--data-dir", data, "--margin", str(2 * 86400)]) == 0
    assert "re-signed timestamp" in capsys.readouterr().out
    assert tuf_main(["renew", "--data-dir", data, "targets"]) == 0
    assert tuf_main(["remove-target", "--data-dir", data, "trusted_root.json"]) == 0
    assert tuf_main(["status", "--data-dir", data]) == 0
    assert "targets v3: 0 signature(s), needs 2 more" in capsys.readouterr().out
    assert tuf_main(["discard", "--data-dir", data, "targets"]) == 0
    assert tuf_main(["publish", "--data-dir", data]) == 0
    assert "snapshot and timestamp only" in capsys.readouterr().out
    assert "trusted_root.json" in Repository(data).published("targets").signed.targets
