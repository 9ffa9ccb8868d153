"""``services.runtime.server.run`` on a real port, with the server a service gets by default
(granian) and with gunicorn where the property is the server's own: keep-alive, a whole-request
deadline against slow and silent clients, body limits, malformed requests, the cap on connections
and a clean stop on SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.servers import free_port, wait_http
from tests.support.testdata import ROOT

pytestmark = pytest.mark.xdist_group("servers")


class Server:
    def __init__(self, kind: str = "granian", **options: Any) -> None:
        self.port = free_port()
        env = {**os.environ, "SIGSTACK_SERVER": kind, "TEST_SERVER_OPTIONS": json.dumps(options)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.runtime.server_app", str(self.port)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{self.port}/healthz", 30, self.proc)

    def conn(self, timeout: float = 10) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def raw(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return out.decode(errors="replace")


@pytest.fixture()
def start() -> Iterator[Any]:
    servers: list[Server] = []

    def make(kind: str = "granian", **options: Any) -> Server:
        servers.append(Server(kind, **options))
        return servers[-1]

    yield make
    for s in servers:
        s.stop()


def _get(conn: http.client.HTTPConnection, path: str = "/healthz") -> http.client.HTTPResponse:
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    return resp


def _healthz_seconds(port: int) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as resp:  # noqa: S310
        assert resp.status == 200
    return time.monotonic() - started


@pytest.mark.parametrize("kind", ["granian", "gunicorn"])
def test_keep_alive_serves_many_requests_on_one_connection(start, kind: str) -> None:
    server = start(kind)
    conn = server.conn()
    first = _get(conn)
    sock = conn.sock
    ids = {first.getheader("X-Request-Id")}
    for _ in range(20):
        resp = _get(conn)
        assert resp.status == 200
        ids.add(resp.getheader("X-Request-Id"))
    assert conn.sock is sock  # never reconnected
    assert len(ids) == 21
    conn.request("POST", "/echo", body=b"x" * 100)
    assert conn.getresponse().read() == b'{"length":100}\n'


def _dribble(server: Server, head: bytes, results: list[float], stop: threading.Event) -> None:
    """Send ``head`` at once, then one byte every half second until the server closes."""
    started = time.monotonic()
    s = server.raw(timeout=30)
    try:
        s.sendall(head)
        while not stop.is_set():
            s.sendall(b"x")
            time.sleep(0.5)
            s.setblocking(False)
            try:
                if s.recv(1024) is not None:
                    break  # an answer (408) or EOF: cut off
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
    except OSError:
        pass
    finally:
        results.append(time.monotonic() - started)
        s.close()


def test_slow_clients_do_not_freeze_the_service(start) -> None:
    # More slow clients than threads, half dribbling headers and half dribbling a body: the
    # service keeps answering, and each slow client is cut off at the deadline (2 s here).
    server = start(threads=4, header_timeout=2.0, body_timeout=2.0)
    stop = threading.Event()
    cut: list[float] = []
    heads = [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
             b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"] * 8  # fmt: skip
    threads = [threading.Thread(target=_dribble, args=(server, h, cut, stop)) for h in heads]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        worst = max(_healthz_seconds(server.port) for _ in range(10))
        assert worst < 1.0, f"/healthz took {worst:.1f}s while slow clients were connected"
        for t in threads:
            t.join(timeout=10)
        assert len(cut) == 16 and max(cut) < 6.0, cut
    finally:
        stop.set()


def test_silent_client_after_headers_gets_408_at_the_deadline(start) -> None:
    server = start(body_timeout=1.0)
    with server.raw(timeout=10) as s:
        started = time.monotonic()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        answer = s.recv(4096)
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b'"message":"the request did not arrive in time"' in answer
        assert 0.8 < waited < 5.0
        s.settimeout(5)
        rest = s.recv(4096)
        while rest:  # the connection is closed after the answer
            rest = s.recv(4096)


def test_oversized_bodies_are_refused_before_they_are_read(start) -> None:
    server = start()
    conn = server.conn()
    conn.request("POST", "/echo", body=b"x" * 4096)  # declared by Content-Length
    resp = conn.getresponse()
    assert resp.status == 413 and b"larger than the configured limit" in resp.read()
    conn = server.conn()
    conn.putrequest("POST", "/echo")  # chunked: no length declared
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for _ in range(8):
            conn.send(b"200\r\n" + b"y" * 512 + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close as soon as it has answered
    resp = conn.getresponse()
    assert resp.status == 413
    assert _get(server.conn()).status == 200  # still serving


def test_malformed_requests_get_400_and_the_server_keeps_serving(start) -> None:
    server = start()
    for garbage in (b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                    b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"):  # fmt: skip
        with server.raw() as s:
            s.sendall(garbage)
            answer = s.recv(4096)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400 "), answer
    assert _get(server.conn()).status == 200


def test_header_names_with_underscores_are_dropped(start) -> None:
    server = start()
    conn = server.conn()
    conn.request("GET", "/healthz", headers={"X_Request_Id": "spoofed-id"})
    resp = conn.getresponse()
    resp.read()
    assert resp.getheader("X-Request-Id") != "spoofed-id"
    conn.request("GET", "/healthz", headers={"X-Request-Id": "given-id"})
    resp = conn.getresponse()
    resp.read()
    assert resp.getheader("X-Request-Id") == "given-id"


def test_connections_beyond_the_cap_wait_instead_of_being_served(start) -> None:
    server = start(max_connections=4)
    held = [server.conn() for _ in range(4)]
    for conn in held:
        assert _get(conn).status == 200  # four kept-alive connections: the cap is reached
    fifth = server.raw(timeout=1.0)
    fifth.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(TimeoutError):
        fifth.recv(4096)  # accepted by the kernel, not served while four are held
    held[0].close()
    fifth.settimeout(10)
    assert fifth.recv(4096).startswith(b"HTTP/1.1 200 ")
    fifth.close()


@pytest.mark.parametrize("kind", ["granian", "gunicorn"])
def test_sigterm_finishes_the_request_in_progress(start, kind: str) -> None:
    server = start(kind)
    conn = server.conn(timeout=20)
    conn.request("GET", "/slow?s=1.5")
    time.sleep(0.5)
    os.killpg(server.proc.pid, signal.SIGTERM)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b'{"slept":"yes"}\n'
    assert server.proc.wait(timeout=20) == 0
    assert "Traceback" not in server.stop()


def test_a_second_server_on_a_held_port_is_refused(start) -> None:
    # granian binds with SO_REUSEPORT: without a check, two servers would share a port silently
    # and each would answer some of the requests.
    server = start()
    env = {**os.environ, "TEST_SERVER_OPTIONS": "{}"}
    second = subprocess.run(
        [sys.executable, "-m", "tests.integration.runtime.server_app", str(server.port)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode != 0
    assert f"port {server.port} on 127.0.0.1 is in use" in second.stderr + second.stdout
    assert "Traceback" not in second.stderr + second.stdout
    assert _get(server.conn()).status == 200
