"""Fixtures for the TUF integration tests: a repository and its mirror on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from sigstack.services.tuf import keys as tufkeys
from sigstack.services.tuf.repo import Repository
from sigstack.services.tuf.serve import build_app
from tests.testdata import ROOT
from tests.unit.tuf.helpers import Clock


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


def init_repo(tmp_path: Path, clock: Clock | None = None, **kwargs: int) -> Repository:
    repo = Repository(tmp_path / "repo", clock=clock)
    repo.init(tmp_path / "offline", **kwargs)
    return repo


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    """A 1-of-1 root, 2-of-2 targets repository served in-process with an injectable clock."""
    clock = Clock()
    repo = init_repo(tmp_path, clock, targets_keys=2, targets_threshold=2)
    app = build_app({"data_dir": str(repo.layout.root), "clock": clock})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirror(repo, f"http://127.0.0.1:{server.server_port}", tmp_path / "offline")
    finally:
        server.shutdown()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve_tuf() -> Iterator:
    """Start ``sigstack serve tuf`` (gunicorn, through the front door) on a free port."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(data_dir: Path, *extra: str) -> str:
        port = free_port()
        cmd = [
            sys.executable,
            "-c",
            "import sys; from sigstack.client.cli import main; sys.exit(main())",
            "serve",
            "tuf",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *extra,
        ]
        proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                return url
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
