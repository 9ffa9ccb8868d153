"""Start sigstack services as real processes on 127.0.0.1 for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class Service:
    """``sigstack serve NAME ARGS...`` as a child process in its own process group."""

    def __init__(self, name: str, *args: str, port: int | None = None, log: Path | None = None):
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable,
            "-m",
            "sigstack.client.cli",
            "serve",
            name,
            "--port",
            str(self.port),
            *args,
        ]
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Service:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_http(f"{self.url}/healthz", timeout, self.proc)
        return self

    def run_to_exit(self, timeout: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run(self.args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill(signal.SIGKILL)
