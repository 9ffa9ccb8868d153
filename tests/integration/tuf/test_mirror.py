"""The mirror over real HTTP, consumed by python-tuf's ngclient ``Updater``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata
from tuf.ngclient import Updater

from sigstack.services.tuf import keys as tufkeys
from sigstack.services.tuf.repo import Repository

from .conftest import Mirror, init_repo


def _updater(url: str, cache: Path, bootstrap: bytes) -> Updater:
    (cache / "metadata").mkdir(parents=True, exist_ok=True)
    (cache / "targets").mkdir(parents=True, exist_ok=True)
    return Updater(
        metadata_dir=str(cache / "metadata"),
        metadata_base_url=url + "/",
        target_dir=str(cache / "targets"),
        target_base_url=url + "/targets/",
        bootstrap=bootstrap,
    )


def _fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


FILES = {"trusted_root.json": b'{"mediaType": "tr"}\n', "signing_config.v0.2.json": b'{"sc": 1}\n'}


def test_updater_downloads_both_targets(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish_targets(FILES, ["targets-1", "targets-2"])
    bootstrap = (mirror.repo.layout.public / "1.root.json").read_bytes()
    updater = _updater(mirror.url, tmp_path / "client", bootstrap)
    updater.refresh()
    for name, data in FILES.items():
        info = updater.get_targetinfo(name)
        assert info is not None
        assert Path(updater.download_target(info)).read_bytes() == data


def test_http_surface(mirror: Mirror) -> None:
    mirror.publish_targets(FILES, ["targets-1", "targets-2"])
    info = mirror.repo.published("targets").signed.targets["trusted_root.json"]
    status, ctype, body = _fetch(f"{mirror.url}/targets/{info.hashes['sha256']}.trusted_root.json")
    assert (status, ctype, body) == (200, "application/json", FILES["trusted_root.json"])
    status, ctype, _ = _fetch(mirror.url + "/2.snapshot.json")
    assert (status, ctype) == (200, "application/json")
    assert _fetch(mirror.url + "/timestamp.json", "HEAD")[0] == 200
    for absent in (
        "/2.root.json",
        "/99.targets.json",
        "/repo.json",
        "/keys/online.pem",
        "/staged/targets.json",
        "/targets/trusted_root.json",
        "/%2e%2e/repo.json",
        "/targets/" + "0" * 64 + ".trusted_root.json",
    ):
        assert _fetch(mirror.url + absent)[0] == 404, absent
    assert _fetch(mirror.url + "/timestamp.json", "POST")[0] == 405


def test_change_without_threshold_is_not_published(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish_targets(FILES, ["targets-1", "targets-2"])
    mirror.repo.add_target("trusted_root.json", b'{"tampered": true}')
    mirror.repo.sign("targets", mirror.signer("targets-1"))
    with pytest.raises(Exception, match="needs 1 more"):
        mirror.repo.publish()
    updater = _updater(
        mirror.url, tmp_path / "client", (mirror.repo.layout.public / "1.root.json").read_bytes()
    )
    updater.refresh()
    info = updater.get_targetinfo("trusted_root.json")
    assert Path(updater.download_target(info)).read_bytes() == FILES["trusted_root.json"]
    assert _fetch(mirror.url + "/3.targets.json")[0] == 404


def test_client_follows_root_rotations(mirror: Mirror, tmp_path: Path) -> None:
    repo, offline = mirror.repo, mirror.offline
    mirror.publish_targets(FILES, ["targets-1", "targets-2"])
    bootstrap = (repo.layout.public / "1.root.json").read_bytes()
    client = tmp_path / "client"
    _updater(mirror.url, client, bootstrap).refresh()
    old = "root-1"
    for n in (2, 3):  # root key rotated twice: 1.root.json -> 2 -> 3
        new = offline / f"root-r{n}.pem"
        repo.rotate_key(
            "root", tufkeys.public_key_of(str(offline / f"{old}.pem")), tufkeys.create_key(new)
        )
        repo.sign("root", mirror.signer(old))
        repo.sign("root", tufkeys.open_signer(str(new)))
        repo.publish()
        old = f"root-r{n}"
    # and a targets key, which needs the targets re-signed by the new key
    new_t = offline / "targets-r.pem"
    repo.rotate_key(
        "targets", tufkeys.public_key_of(str(offline / "targets-1.pem")), tufkeys.create_key(new_t)
    )
    repo.sign("root", mirror.signer(old))
    repo.sign("targets", mirror.signer("targets-2"))
    repo.sign("targets", tufkeys.open_signer(str(new_t)))
    repo.publish()
    updater = _updater(mirror.url, client, None)  # continue from the cached root
    updater.refresh()
    cached = Metadata.from_file(str(client / "metadata" / "root.json"))
    assert cached.signed.version == 4
    info = updater.get_targetinfo("signing_config.v0.2.json")
    assert Path(updater.download_target(info)).read_bytes() == FILES["signing_config.v0.2.json"]
    fresh = _updater(mirror.url, tmp_path / "fresh", bootstrap)  # a new client walks 1 -> 4
    fresh.refresh()
    assert (
        Metadata.from_file(str(tmp_path / "fresh" / "metadata" / "root.json")).signed.version == 4
    )


def test_server_resigns_timestamp_and_snapshot_near_expiry(mirror: Mirror, tmp_path: Path) -> None:
    mirror.publish_targets(FILES, ["targets-1", "targets-2"])
    bootstrap = (mirror.repo.layout.public / "1.root.json").read_bytes()
    ts_before = mirror.repo.published("timestamp").signed
    clock = mirror.repo.clock
    clock.advance(hours=13)  # type: ignore[attr-defined]
    updater = _updater(mirror.url, tmp_path / "client", bootstrap)
    updater.refresh()
    cached_ts = Metadata.from_file(str(tmp_path / "client" / "metadata" / "timestamp.json"))
    assert cached_ts.signed.version == ts_before.version + 1
    assert cached_ts.signed.snapshot_meta.version == ts_before.snapshot_meta.version
    clock.advance(days=6)  # type: ignore[attr-defined]
    _updater(mirror.url, tmp_path / "client", None).refresh()
    cached_snap = Metadata.from_file(str(tmp_path / "client" / "metadata" / "snapshot.json"))
    assert cached_snap.signed.version == ts_before.snapshot_meta.version + 1


def test_gunicorn_workers_resign_safely(tmp_path: Path, serve_tuf) -> None:
    """With a margin longer than the timestamp's lifetime every request re-signs: two workers
    racing must never serve a torn or unverifiable timestamp, and versions never repeat."""
    repo: Repository = init_repo(tmp_path)
    url = serve_tuf(repo.layout.root, "--workers", "2", "--resign-margin", str(2 * 86400))
    root_md = repo.published("root")

    def get(_: int) -> int:
        status, _ctype, body = _fetch(url + "/timestamp.json")
        assert status == 200
        md = Metadata.from_bytes(body)
        root_md.verify_delegate("timestamp", md)
        return md.signed.version

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(get, range(40)))
    final = repo.published("timestamp").signed.version
    assert max(versions) <= final
    assert final == 41  # one re-sign per request, none lost, none doubled
    assert (
        json.loads((repo.layout.public / "timestamp.json").read_text())["signed"]["version"] == 41
    )
