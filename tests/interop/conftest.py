"""A whole stack started with ``sigstack up`` for the interoperability tests (real clients)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.stack_report import service_account_token
from tests.servers import ROOT

NPM_SIGSTORE = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "sigstore"
SIGSTORE_PY = Path(sys.executable).with_name("sigstore")


def free_port_base(count: int = 5) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65000:
            continue
        try:
            socks = []
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no 5 consecutive free ports")


class Stack:
    def __init__(self, data: Path, out: Path) -> None:
        self.data = data
        self.out = out
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str, port_base: int | None = None, timeout: float = 90) -> Stack:
        self.port_base = port_base or free_port_base()
        with open(self.out, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "client.cli", "up", "--data-dir", str(self.data),
                 "--port-base", str(self.port_base), *extra],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not (self.data / "stack.json").exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"sigstack up exited: {self.out.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"stack not ready: {self.out.read_text()[-2000:]}")
            time.sleep(0.1)
        self.urls: dict[str, str] = json.loads((self.data / "stack.json").read_text())
        return self

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    @property
    def trust_config(self) -> Path:
        return self.data / "trust_config.json"

    @property
    def account(self) -> dict[str, Any]:
        return json.loads((self.data / "demo-service-account.json").read_text())

    def token(self) -> str:
        return service_account_token(self.account)

    @property
    def identity(self) -> str:
        return str(self.account["email"])

    def demo_password(self) -> str:
        found = re.findall(r"demo user: demo / (\S+)", self.out.read_text())
        assert found, "the demo password was not printed"
        return found[0]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    running = Stack(tmp / "data", tmp / "up.out").start()
    try:
        yield running
    finally:
        if running.proc and running.proc.poll() is None:
            running.stop()


def run(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **kwargs)  # fmt: skip


def sigstack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "client.cli", *args], env=env)
