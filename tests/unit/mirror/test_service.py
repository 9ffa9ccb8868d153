"""``sigstack serve mirror``'s app (services.mirror) over real HTTP on a mirror made by
client.mirror: the TUF files a client asks for (the client's own ``initialize`` against
``<url>/tuf``), each log's checkpoint and tiles by name and by the hash of its origin, the
headers, an update served without a restart, and nothing but those names."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.client import tuf as tufclient
from sigstack.client.mirror.layout import MirrorDir
from sigstack.client.mirror.mirror import LogPlan, Plan, apply
from sigstack.client.mirror.sources import DirSource
from sigstack.protocol.errors import ConfigError
from sigstack.services.mirror.app import create_app
from sigstack.services.mirror.config import MirrorConfig
from sigstack.services.mirror.serve import configure
from tests.support.servers import Served, serve_directory, serve_wsgi
from tests.unit.mirror.kit import StaticLog, trusted_root
from tests.unit.mirror.test_tuf import Repo


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, MirrorDir, StaticLog,
                                                                    Repo]]:  # fmt: skip
    tmp_path = tmp_path_factory.mktemp("site")
    log = StaticLog(tmp_path / "log", "log2026.example").add(300)
    repo = Repo(tmp_path)
    repo.publish([log])
    mirror = MirrorDir(tmp_path / "mirror")
    apply(mirror, Plan(logs=(LogPlan(None, DirSource(log.root)),), tuf=DirSource(repo.public),
                       tuf_root=repo.first_root))  # fmt: skip
    with serve_wsgi(create_app(MirrorConfig(dir=str(mirror.root)))) as served:
        yield served, mirror, log, repo


def test_tuf_clients_bootstrap_from_it(site: tuple[Served, MirrorDir, StaticLog, Repo],
                                       tmp_path: Path) -> None:  # fmt: skip
    served, mirror, log, repo = site
    env = {"TUF_ROOT": str(tmp_path / "client")}
    _, got = tufclient.initialize(f"{served.url}/tuf", repo.first_root, env)
    assert got == ["trusted_root.json", "signing_config.v0.2.json"]
    status, headers, body = _get(f"{served.url}/tuf/timestamp.json")
    assert (status, headers["Content-Type"], headers["Cache-Control"]) == (
        200, "application/json", "no-cache")  # fmt: skip
    status, headers, _ = _get(f"{served.url}/tuf/1.root.json")
    assert (status, headers["Cache-Control"]) == (200, "public, max-age=31536000, immutable")


def test_logs_by_name_and_by_origin_hash(site: tuple[Served, MirrorDir, StaticLog, Repo]) -> None:
    served, mirror, log, repo = site
    by_hash = hashlib.sha256(log.origin.encode()).hexdigest()
    for name in ("log2026.example", by_hash):
        status, headers, body = _get(f"{served.url}/log/{name}/checkpoint")
        assert (status, headers["Content-Type"], headers["Cache-Control"]) == (
            200, "text/plain; charset=utf-8", "no-cache")  # fmt: skip
        assert body == (log.root / "checkpoint").read_bytes()
        for tile in ("0/000", "0/001.p/44", "1/000.p/1", "entries/001.p/44"):
            status, headers, body = _get(f"{served.url}/log/{name}/tile/{tile}")
            assert (status, headers["Content-Type"]) == (200, "application/octet-stream")
            assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert body == (log.root / "tile" / tile).read_bytes()
    manifest = json.loads(_get(f"{served.url}/mirror.json")[2])
    assert manifest["logs"][0]["origin"] == log.origin


def test_an_update_is_served_at_once(tmp_path: Path) -> None:
    log = StaticLog(tmp_path / "log", "log.example").add(300)
    mirror = MirrorDir(tmp_path / "mirror")
    plan = Plan(logs=(LogPlan(None, DirSource(log.root)),), trusted_root=trusted_root([log]))
    apply(mirror, plan)
    with serve_wsgi(create_app(MirrorConfig(dir=str(mirror.root)))) as served:
        assert _get(f"{served.url}/log/log.example/tile/0/001.p/44")[0] == 200
        log.add(10)
        apply(mirror, Plan(logs=(LogPlan("log.example", DirSource(log.root)),)))
        status, _, body = _get(f"{served.url}/log/log.example/checkpoint")
        assert (status, body) == (200, (log.root / "checkpoint").read_bytes())
        assert _get(f"{served.url}/log/log.example/tile/0/001.p/54")[0] == 200


@pytest.mark.parametrize("path", [
    "/tuf/../mirror.json", "/tuf/%2e%2e/mirror.json", "/tuf/repo.json", "/tuf/.lock",
    "/tuf/targets/../../../mirror.json", "/log/../../.lock", "/log/nope/checkpoint",
    "/log/log2026.example/tile/0/0001", "/log/log2026.example/tile/../checkpoint",
    "/log/log2026.example/tile/0/002", "/log/" + "0" * 64 + "/checkpoint", "/current/mirror.json",
    "/gen.000001/mirror.json", "/log/.staging/checkpoint", "/",
])  # fmt: skip
def test_nothing_else(site: tuple[Served, MirrorDir, StaticLog, Repo], path: str) -> None:
    served, *_ = site
    status, _, body = _get(served.url + path)
    assert status == 404, body


def test_health_and_no_mirror(site: tuple[Served, MirrorDir, StaticLog, Repo],
                              tmp_path: Path) -> None:  # fmt: skip
    served, *_ = site
    assert _get(f"{served.url}/healthz")[0] == 200
    with serve_wsgi(create_app(MirrorConfig(dir=str(tmp_path / "empty")))) as empty:
        assert _get(f"{empty.url}/healthz")[0] == 503
        assert _get(f"{empty.url}/tuf/timestamp.json")[0] == 404


def test_any_static_server_serves_the_current_generation(
    site: tuple[Served, MirrorDir, StaticLog, Repo], tmp_path: Path
) -> None:
    """docs/mirror.md: `DIR/current` served by a plain file server (Python's http.server here)
    answers what the service answers, and TUF clients bootstrap from it."""
    served, mirror, log, repo = site
    with serve_directory(mirror.root / "current") as static:
        for path in ("log/log2026.example/checkpoint", "log/log2026.example/tile/0/001.p/44",
                     "tuf/timestamp.json", "tuf/1.root.json", "mirror.json"):  # fmt: skip
            assert _get(f"{static.url}/{path}")[2] == _get(f"{served.url}/{path}")[2]
        env = {"TUF_ROOT": str(tmp_path / "client")}
        _, got = tufclient.initialize(f"{static.url}/tuf", repo.first_root, env)
        assert got == ["trusted_root.json", "signing_config.v0.2.json"]


def test_configure(site: tuple[Served, MirrorDir, StaticLog, Repo], tmp_path: Path) -> None:
    _, mirror, *_ = site
    env = {"SIGSTACK_MIRROR_DIR": str(mirror.root), "SIGSTACK_MIRROR_HTTP_MAX_CONNECTIONS": "9"}
    config = configure(None, environ=env)
    assert (config.dir, config.http_max_connections) == (str(mirror.root.resolve()), 9)
    with pytest.raises(ConfigError, match="give the mirror directory"):
        configure(None, environ={})
    with pytest.raises(ConfigError, match="holds no mirror"):
        configure(str(tmp_path), environ={})
