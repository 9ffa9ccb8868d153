"""services.runtime.httpclient against a real TCP (and TLS) server on 127.0.0.1 whose answers are
written byte by byte by the test: framing, keep-alive reuse, a kept connection the server closed,
malformed and oversized answers, timeouts, certificate checks."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.runtime.httpclient import HTTPError, Pool
from tests.tls import tls_pair

# (request, index on the connection) -> answer; None closes the connection without an answer, and
# (answer, "close") closes it after the answer.
Handler = Callable[[bytes, int], bytes | tuple[bytes, str] | None]


class RawServer:
    """Accepts connections; for each request (headers + Content-Length body) sends what
    ``handler`` returns, or closes the connection when it returns None."""

    def __init__(self, handler: Handler, context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.context = context
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            buf, index = b"", 0
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                request, buf = head + b"\r\n\r\n" + buf[:length], buf[length:]
                self.requests.append(request)
                answer = self.handler(request, index)
                index += 1
                if answer is None:
                    return
                if isinstance(answer, tuple):
                    conn.sendall(answer[0])
                    return
                conn.sendall(answer)
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler, context: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(handler, context))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_post_with_body_and_headers_then_reuse(serve) -> None:
    server = serve(lambda req, i: ok(b"answer %d" % i, "X-Thing: a\r\nX-Thing: b\r\n"))
    pool = Pool(f"http://127.0.0.1:{server.port}/base/")
    first = pool.request("POST", "/ct/v1/add-chain", b'{"chain":[]}', {"Content-Type": "a/b"})
    second = pool.request("GET", "/x")
    assert (first.status, first.body, second.body) == (200, b"answer 0", b"answer 1")
    assert first.headers["x-thing"] == "a, b"
    assert server.connections == 1  # kept alive
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /base/ct/v1/add-chain HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"Content-Length: 12" in lines and b"Content-Type: a/b" in lines
    assert body == b'{"chain":[]}'


def test_chunked_and_close_delimited_bodies(serve) -> None:
    chunked = (b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nRetry-After: 2\r\n\r\n"
               b"4;ext=1\r\nbusy\r\n6\r\n, come\r\n0\r\nX-Trailer: t\r\n\r\n")  # fmt: skip
    server = serve(lambda req, i: chunked)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    for _ in range(2):  # the chunked framing leaves the connection usable
        busy = pool.request("POST", "/a", timeout=5)
        assert (busy.status, busy.body, busy.headers["retry-after"]) == (503, b"busy, come", "2")
    assert server.connections == 1
    until_close = serve(lambda req, i: (b"HTTP/1.0 200 OK\r\n\r\nuntil the end", "close"))
    reply = Pool(f"http://127.0.0.1:{until_close.port}").request("GET", "/b", timeout=5)
    assert reply.body == b"until the end"


def test_connection_close_answer_is_not_reused(serve) -> None:
    server = serve(lambda req, i: ok(extra="Connection: close\r\n") if i == 0 else None)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    for _ in range(3):
        assert pool.request("GET", "/").status == 200
    assert server.connections == 3


def test_kept_connection_closed_by_the_server_is_replaced_once(serve) -> None:
    # Every connection answers one request, then closes without answering the next: a reused
    # connection fails before any answer byte, and the request goes out again on a new one.
    server = serve(lambda req, i: ok() if i == 0 else None)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    for _ in range(3):
        assert pool.request("POST", "/p", b"x").status == 200
    assert server.connections == 3
    assert len(server.requests) == 3 + 2  # two requests were lost to closed connections


def test_request_on_a_kept_connection_that_times_out_is_not_sent_again(serve) -> None:
    gate = threading.Event()

    def second_hangs(req: bytes, i: int) -> bytes | None:
        if i == 1:
            gate.wait(5)
        return ok()

    server = serve(second_hangs)
    pool = Pool(f"http://127.0.0.1:{server.port}")
    assert pool.request("POST", "/p", b"1").status == 200
    try:
        with pytest.raises(HTTPError, match="timed out"):
            pool.request("POST", "/p", b"2", timeout=0.3)
    finally:
        gate.set()
    assert len(server.requests) == 2 and server.connections == 1  # sent once, not resent


def test_new_connection_closed_without_answer_is_an_error(serve) -> None:
    server = serve(lambda req, i: None)
    with pytest.raises(HTTPError, match="without answering"):
        Pool(f"http://127.0.0.1:{server.port}").request("GET", "/")


@pytest.mark.parametrize(
    "answer, message",
    [
        (b"SMTP 220 hello\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n", "too large"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "middle of an answer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000, "header too long"),
    ],
    ids=["status", "header", "negative-length", "huge-length", "truncated", "chunk", "long-head"],
)
def test_malformed_answers_raise(serve, answer: bytes, message: str) -> None:
    server = serve(lambda req, i: (answer, "close"))
    with pytest.raises(HTTPError, match=message):
        Pool(f"http://127.0.0.1:{server.port}", max_body=1 << 20).request("GET", "/", timeout=5)


def test_timeout_and_refused_connection(serve) -> None:
    gate = threading.Event()

    def slow(req: bytes, i: int) -> bytes | None:
        gate.wait(5)
        return ok()

    server = serve(slow)
    try:
        with pytest.raises(HTTPError):
            Pool(f"http://127.0.0.1:{server.port}").request("GET", "/", timeout=0.3)
    finally:
        gate.set()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(HTTPError, match="cannot connect"):
        Pool(f"http://127.0.0.1:{port}").request("GET", "/")


def test_not_http_urls_are_refused() -> None:
    for url in ("ftp://example.com", "127.0.0.1:80", "http://"):
        with pytest.raises(ValueError):
            Pool(url)


def test_https_checks_the_certificate(serve, tmp_path: Path) -> None:
    ca_pem, ctx = tls_pair(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_pem)
    server = serve(lambda req, i: ok(b"secret"), ctx)
    url = f"https://127.0.0.1:{server.port}"
    assert Pool(url, verify_tls=str(ca)).request("GET", "/").body == b"secret"
    assert Pool(url, verify_tls=False).request("GET", "/").body == b"secret"
    with pytest.raises(HTTPError, match="certificate"):
        Pool(url).request("GET", "/")  # system roots do not know this certificate
