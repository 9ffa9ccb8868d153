"""A whole stack started with ``sigstack up`` for the interoperability tests (real clients)."""

from __future__ import annotations

import json
import os
import random
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

from sigstack.services.stack import SERVICES
from sigstack.services.stack_report import service_account_token
from tests.support.testdata import ROOT

NPM_SIGSTORE = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "sigstore"
SIGSTORE_PY = Path(sys.executable).with_name("sigstore")


def free_port_base(count: int = len(SERVICES)) -> int:
    """``count`` consecutive free ports below the kernel's ephemeral range, so that outgoing
    connections made while the stack starts cannot take them (ports from bind(0) could)."""
    low, _high = (
        int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    )
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(10000, max(10001, low - count))
        socks = []
        try:
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
    raise RuntimeError(f"no {count} consecutive free ports")


class Stack:
    def __init__(self, data: Path, out: Path) -> None:
        self.data = data
        self.out = out
        self.proc: subprocess.Popen | None = None

    def start(
        self, *extra: str, port_base: int | None = None, timeout: float = 90, retries: int = 2
    ) -> Stack:
        self.port_base = port_base or free_port_base()
        with open(self.out, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sigstack.client.cli", "up", "--data-dir", str(self.data),
                 "--port-base", str(self.port_base), *extra],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not (self.data / "stack.json").exists():
            if self.proc.poll() is not None:
                taken = "is in use" in self.out.read_text(errors="replace") or any(
                    "Address already in use" in p.read_text(errors="replace")
                    for p in (self.data / "logs").glob("*.log"))  # fmt: skip
                if taken and port_base is None and retries > 0:  # lost a race for a port
                    return self.start(*extra, timeout=timeout, retries=retries - 1)
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
    def trust_config_v2(self) -> Path:
        return self.data / "trust_config_rekor_v2.json"

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
    return run([sys.executable, "-m", "sigstack.client.cli", *args], env=env)
