"""A real issuer for the integration tests: `sigstack serve oidc` (gunicorn) on a free loopback
port, with a user and a service account added through the `sigstack oidc` CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.browser import chromium
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sigstack(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("oidc") / "data"
    env = {**os.environ, "SIGSTACK_OIDC_DEVICE_POLL_INTERVAL": "1"}
    sigstack(
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
    out = sigstack(
        "oidc", "add-service-account", "ci-release", "--data-dir", str(data_dir), env=env
    )
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (data_dir.parent / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sigstack.client.cli",
            "serve",
            "oidc",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(
                    "issuer did not start:\n" + (data_dir.parent / "server.log").read_text()
                )
            time.sleep(0.2)
        yield Server(
            url, data_dir, fields["client_id"], fields["client_secret"], fields["service account"]
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b
