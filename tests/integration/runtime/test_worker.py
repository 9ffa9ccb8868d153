"""services.runtime.worker.ConnectionWorker under a real gunicorn on 127.0.0.1: keep-alive, a crowded
pool cutting idle connections, silent connections not taking a thread, malformed requests, body
limits and a graceful stop that finishes the request in progress."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import ROOT, free_port, wait_http


class Gunicorn:
    def __init__(self, threads: int, keepalive: int = 30) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "services.runtime.worker.ConnectionWorker",
             "-w", "1", "--threads", str(threads), "--keep-alive", str(keepalive),
             "--graceful-timeout", "10", "-b", f"127.0.0.1:{self.port}",
             "tests.integration.runtime.worker_app:app"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{self.port}/healthz", 30, self.proc)

    def conn(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return err.decode(errors="replace")


@pytest.fixture()
def start() -> Iterator[Any]:
    servers: list[Gunicorn] = []

    def make(**kw: Any) -> Gunicorn:
        servers.append(Gunicorn(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


def _get(conn: http.client.HTTPConnection, path: str = "/healthz") -> http.client.HTTPResponse:
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    return resp


def test_keep_alive_serves_many_requests_on_one_connection(start) -> None:
    server = start(threads=2)
    conn = server.conn()
    first = _get(conn)
    sock = conn.sock
    ids = {first.getheader("X-Request-Id")}
    for _ in range(20):
        resp = _get(conn)
        assert resp.status == 200 and resp.getheader("Connection") != "close"
        ids.add(resp.getheader("X-Request-Id"))
    assert conn.sock is sock  # never reconnected
    assert len(ids) == 21
    conn.request("POST", "/echo", body=b"x" * 100)
    assert conn.getresponse().read() == b'{"length":100}\n'


def test_idle_keep_alive_connection_gives_way_when_others_wait(start) -> None:
    # One thread, keep-alive of 30 s: an idle kept connection must be dropped for a new client
    # instead of making it wait for those 30 s (the client here gives up after 10).
    server = start(threads=1, keepalive=30)
    idle = server.conn()
    assert _get(idle).status == 200
    other = server.conn(timeout=10)
    assert _get(other).status == 200
    assert idle.sock is not None and idle.sock.recv(1) == b""  # the server closed it


def test_silent_connection_does_not_take_the_thread(start) -> None:
    server = start(threads=1)
    silent = socket.create_connection(("127.0.0.1", server.port))
    try:
        time.sleep(0.3)  # accepted by now, yet it has sent nothing
        assert _get(server.conn(timeout=10)).status == 200
    finally:
        silent.close()


def test_malformed_request_line_and_oversized_body(start) -> None:
    server = start(threads=2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    conn = server.conn()
    conn.request("POST", "/echo", body=b"x" * 4096)
    resp = conn.getresponse()
    assert resp.status == 413
    resp.read()
    assert _get(server.conn()).status == 200  # the worker is still serving


def test_graceful_stop_finishes_the_request_in_progress(start) -> None:
    server = start(threads=2)
    conn = server.conn(timeout=20)
    conn.request("GET", "/slow?s=1.5")
    time.sleep(0.5)
    os.killpg(server.proc.pid, signal.SIGTERM)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b'{"slept":"yes"}\n'
    assert server.proc.wait(timeout=20) == 0
    assert "Traceback" not in server.stop()
