"""Servers for tests, all on 127.0.0.1: a free port, waiting until a URL answers 200, an app or a
request handler served in a daemon thread (``serve_wsgi``, ``serve_handler``, ``serve_directory``),
``sigstack serve NAME`` started as a real process (``Service``) and killed under load
(``kill_under_load``), and the ``sigstack`` CLI run as a process (``sigstack_cli``).

What the servers answer is the tests' business (the fakes live with them); TLS material comes from
``tests.support.keys.tls_pair``.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.testdata import ROOT


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick for bind(0), released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Return once ``url`` answers 200; raise RuntimeError if ``proc`` exits first, TimeoutError
    after ``timeout`` seconds."""
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


# ---- in-process servers --------------------------------------------------------------------------


class Served:
    """A server answering on 127.0.0.1 from a daemon thread until ``close()`` (or the end of a
    ``with`` block): ``port``, ``host`` (``127.0.0.1:PORT``) and ``url`` say where."""

    def __init__(
        self, server: socketserver.BaseServer, scheme: str = "http", poll_interval: float = 0.5
    ) -> None:
        self.server = server
        self.port = int(server.server_address[1])  # type: ignore[index]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"{scheme}://{self.host}"
        self.thread = threading.Thread(
            target=server.serve_forever, args=(poll_interval,), daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_wsgi(app: Callable[..., Any], *, ssl_context: ssl.SSLContext | None = None) -> Served:
    """Serve a WSGI app with werkzeug's threaded development server on a free port."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
    return Served(server, "https" if ssl_context is not None else "http")


def serve_handler(
    handler: Callable[..., BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None,
    poll_interval: float = 0.5, quiet_errors: bool = False,
) -> Served:  # fmt: skip
    """Serve an ``http.server`` request handler (a thread per connection) on a free port.

    ``quiet_errors``: a client that hangs up mid-answer prints no traceback (for tests about
    exactly that); ``tls`` wraps the listening socket."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if quiet_errors:
        server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    return Served(server, "https" if tls is not None else "http", poll_interval)


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass


def serve_directory(directory: Path) -> Served:
    """Serve the files under ``directory`` (404 for anything else), as a static mirror would."""
    return serve_handler(functools.partial(_QuietFiles, directory=str(directory)))


# ---- sigstack serve NAME as a process ------------------------------------------------------------


class Service:
    """``sigstack serve NAME ARGS...`` as a child process in its own process group.

    ``env`` replaces the environment (default: this process's); with ``log`` the output is
    appended there, and a server that does not start says the log's last lines."""

    def __init__(
        self, name: str, *args: str, port: int | None = None, log: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
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
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Service:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        finally:
            if self.log:
                out.close()  # the child has its own descriptor
        try:
            wait_http(f"{self.url}/healthz", timeout, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.kill()
            if self.log is None:
                raise
            tail = self.log.read_text(errors="replace")[-3000:]
            raise type(exc)(f"{self.name} did not start ({exc}):\n{tail}") from None
        return self

    def run_to_exit(self, timeout: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

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


def sigstack_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``sigstack ARGS...`` in a child process from the repository root; its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", *args], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def sigstack_out(*args: str, **kwargs: Any) -> str:
    """``sigstack_cli``'s standard output; the test fails with its stderr if it exits non-zero."""
    done = sigstack_cli(*args, **kwargs)
    assert done.returncode == 0, done.stderr
    return done.stdout


def kill_under_load(
    services: list[Service], write: Callable[[str, threading.Event, str], None],
    seconds: float = 2.0, writers: int = 6,
) -> None:  # fmt: skip
    """``writers`` threads a service run ``write(url, stop, prefix)`` (until ``stop`` is set;
    ``prefix`` tells the writers apart) for ``seconds``; then every service's whole process group
    (master and workers) is SIGKILLed mid-write, and the writers are stopped and joined. What was
    acknowledged before the kill is the writers' record to keep."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=write, args=(srv.url, stop, f"{srv.port}-{n}"))
        for srv in services
        for n in range(writers)
    ]
    for t in threads:
        t.start()
    time.sleep(seconds)
    for srv in services:
        srv.kill(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
