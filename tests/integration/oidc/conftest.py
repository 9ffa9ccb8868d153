"""A real issuer for the integration tests: `sigstack serve oidc` (gunicorn) on a free loopback
port, with a user and a service account added through the `sigstack oidc` CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.browser import chromium
from tests.support.servers import Service, sigstack_out
from tests.support.testdata import ROOT

ARTIFACTS = ROOT / "artifacts"
USER, EMAIL, PASSWORD = "alice", "alice@example.org", "integration-pass-1"


@dataclass
class Server:
    url: str
    data_dir: Path
    sa_client_id: str
    sa_secret: str
    sa_email: str


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("oidc") / "data"
    env = {**os.environ, "SIGSTACK_OIDC_DEVICE_POLL_INTERVAL": "1"}
    sigstack_out(
        "oidc",
        "add-user",
        USER,
        "--email",
        EMAIL,
        "--password-stdin",
        "--data-dir",
        str(data_dir),
        stdin=PASSWORD + "\n",
        env=env,
    )
    out = sigstack_out(
        "oidc", "add-service-account", "ci-release", "--data-dir", str(data_dir), env=env
    )
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    log = data_dir.parent / "server.log"
    with Service("oidc", "--data-dir", str(data_dir), "--workers", "1", env=env, log=log) as srv:
        yield Server(
            srv.url, data_dir, fields["client_id"], fields["client_secret"],
            fields["service account"],
        )  # fmt: skip


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b
