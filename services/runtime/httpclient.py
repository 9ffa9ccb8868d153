"""A small HTTP/1.1 client with keep-alive for calls between our services (Fulcio → CT log).

Why not urllib3: on a certificate issuance the POST to the CT log is the one outgoing call, and
urllib3 + http.client (header parsing through the ``email`` package, several layers of wrappers)
cost about as much CPU as the rest of Fulcio's own work on a request (bench/README.md, "Fulcio").
This client does only what that call needs:

- ``Pool(base_url).request(method, path, body, headers, timeout)`` → ``Reply(status, headers, body)``;
  headers are lower-cased; bodies by ``Content-Length``, ``Transfer-Encoding: chunked`` or, failing
  both, until the server closes;
- idle connections are kept per pool (thread-safe) and reused; a reused connection that turns out
  to have been closed by the server before answering anything is replaced by a new one and the
  request sent again, once (what every keep-alive client does: the server may close an idle
  connection at any moment). Any other failure, a timeout included, is raised and not retried
  here, since the server may have acted on the request;
- ``https`` with a CA file or the system roots, or no verification when asked;
- answers larger than ``max_body`` bytes and malformed answers raise ``HTTPError``, as do
  timeouts and connection failures.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024


class HTTPError(Exception):
    """The request could not be completed: connection, timeout or a malformed answer."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_until(self, marker: bytes, limit: int) -> bytes | None:
        """Bytes up to and including ``marker``; None if the peer closed before sending any."""
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[: i + len(marker)], self.buf[i + len(marker) :]
                return out
            if len(self.buf) > limit:
                raise HTTPError("answer header too long")
            if not self._fill():
                if not self.buf:
                    return None
                raise HTTPError("connection closed in the middle of an answer")

    def read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise HTTPError("connection closed in the middle of an answer")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_close(self, limit: int) -> bytes:
        while self._fill():
            if len(self.buf) > limit:
                raise HTTPError("answer body too large")
        out, self.buf = self.buf, b""
        return out


class Pool:
    def __init__(
        self,
        base_url: str,
        *,
        verify_tls: str | bool = True,
        max_idle: int = 64,
        max_body: int = 16 * 1024 * 1024,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        default_port = self.port == (443 if self.tls else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default_port else f"{host}:{self.port}"
        self.prefix = parts.path.rstrip("/")
        self.max_idle = max_idle
        self.max_body = max_body
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        if self.tls:
            if verify_tls is False:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif isinstance(verify_tls, str):
                ctx = ssl.create_default_context(cafile=verify_tls)
            else:
                ctx = ssl.create_default_context()
            self._context = ctx

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # ---- connections ---------------------------------------------------------------------------

    def _connect(self, timeout: float) -> _Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except OSError as exc:
            raise HTTPError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return _Connection(sock)

    def _checkout(self) -> _Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _checkin(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    # ---- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        head = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host_header}",
                f"Content-Length: {len(body)}"]  # fmt: skip
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        what = f"{method} {path}"
        conn = self._checkout()
        if conn is not None:
            reply = self._attempt(conn, message, timeout, what)
            if reply is not None:
                return reply
            # the server had closed the kept connection before answering: once more, on a new one
        reply = self._attempt(self._connect(timeout), message, timeout, what)
        if reply is None:
            raise HTTPError(f"{what}: the server closed the connection without answering")
        return reply

    def _attempt(
        self, conn: _Connection, message: bytes, timeout: float, what: str
    ) -> Reply | None:
        try:
            reply = self._exchange(conn, message, timeout)
        except HTTPError:
            conn.close()
            raise
        except OSError as exc:  # timeouts included: the request may have been acted on
            conn.close()
            raise HTTPError(f"{what}: {exc}") from exc
        if reply is None:
            conn.close()
        return reply

    def _exchange(self, conn: _Connection, message: bytes, timeout: float) -> Reply | None:
        """Send and read one answer; None when the peer closed before answering anything."""
        conn.sock.settimeout(timeout)
        try:
            conn.sock.sendall(message)
        except (BrokenPipeError, ConnectionResetError):
            return None
        try:
            raw = conn.read_until(b"\r\n\r\n", MAX_HEAD)
        except ConnectionResetError:
            return None
        if raw is None:
            return None
        status, headers, keep = self._parse_head(raw)
        length = headers.get("content-length")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked(conn)
        elif length is not None:
            if not length.isdigit() or int(length) > self.max_body:
                raise HTTPError(f"bad or too large Content-Length {length[:20]!r}")
            body = conn.read_exactly(int(length))
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:
            body = conn.read_to_close(self.max_body)
            keep = False
        if keep:
            self._checkin(conn)
        else:
            conn.close()
        return Reply(status, headers, body)

    @staticmethod
    def _parse_head(raw: bytes) -> tuple[int, dict[str, str], bool]:
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise HTTPError(f"malformed status line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise HTTPError(f"malformed header line {line[:80]!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        connection = headers.get("connection", "").lower()
        keep = parts[0] == "HTTP/1.1" and "close" not in connection
        return int(parts[1]), headers, keep

    def _read_chunked(self, conn: _Connection) -> bytes:
        out = bytearray()
        while True:
            line = conn.read_until(b"\r\n", 1024)
            if line is None:
                raise HTTPError("connection closed in the middle of a chunked answer")
            size_text = line[:-2].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise HTTPError("malformed chunk size") from exc
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = conn.read_until(b"\r\n", MAX_HEAD)
                    if trailer in (None, b"\r\n"):
                        return bytes(out)
            if len(out) + size > self.max_body:
                raise HTTPError("answer body too large")
            out += conn.read_exactly(size)
            if conn.read_exactly(2) != b"\r\n":
                raise HTTPError("malformed chunk")
