"""Fixtures for the TUF integration tests: a repository and its mirror on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sigstack.services.tuf import keys as tufkeys
from sigstack.services.tuf.app import create_app
from sigstack.services.tuf.config import TUFConfig
from sigstack.services.tuf.repo import Repository
from tests.support.clock import Clock
from tests.support.servers import Service, serve_wsgi


class Mirror:
    """A repository plus the URL its HTTP mirror answers on."""

    def __init__(self, repo: Repository, url: str, offline: Path) -> None:
        self.repo, self.url, self.offline = repo, url, offline

    def signer(self, name: str) -> tufkeys.UriSigner:
        return tufkeys.open_signer(str(self.offline / f"{name}.pem"))

    def publish_targets(self, files: dict[str, bytes], signers: list[str]) -> None:
        for name, data in files.items():
            self.repo.add_target(name, data)
        for s in signers:
            self.repo.sign("targets", self.signer(s))
        self.repo.publish()


def init_repo(tmp_path: Path, clock: Clock[datetime] | None = None, **kwargs: int) -> Repository:
    repo = Repository(tmp_path / "repo", clock=clock)
    repo.init(tmp_path / "offline", **kwargs)
    return repo


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    """A 1-of-1 root, 2-of-2 targets repository served in-process with an injectable clock."""
    clock = Clock.utc()
    repo = init_repo(tmp_path, clock, targets_keys=2, targets_threshold=2)
    app = create_app(TUFConfig(data_dir=str(repo.layout.root)), clock=clock)
    with serve_wsgi(app) as served:
        yield Mirror(repo, served.url, tmp_path / "offline")


@pytest.fixture
def serve_tuf(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start ``sigstack serve tuf`` (gunicorn, through the front door) on a free port."""
    services: list[Service] = []

    def start(data_dir: Path, *extra: str) -> str:
        log = tmp_path / f"serve-tuf-{len(services)}.log"
        service = Service("tuf", "--data-dir", str(data_dir), "--host", "127.0.0.1", *extra,
                          log=log)  # fmt: skip
        services.append(service)
        return service.start().url

    yield start
    for service in services:
        service.kill()
