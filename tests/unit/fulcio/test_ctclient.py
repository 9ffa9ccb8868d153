"""The CT client retries transport failures (no connection, an answer cut short) like 503s, until
its deadline, and then gives up with Fulcio's CT error, not with a crash of its own."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sigstack.protocol.errors import InternalError
from sigstack.services.fulcio import errors as msg
from sigstack.services.fulcio.ctclient import CTClient


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cut_short() -> Iterator[tuple[str, list[int]]]:
    """A server whose every answer promises 100 bytes of body, sends 3 and closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                accepted.append(1)
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}x")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_no_connection_is_retried_until_the_deadline() -> None:
    client = CTClient(f"http://127.0.0.1:{_closed_port()}", timeout=1.0, deadline=0.3)
    with pytest.raises(InternalError) as exc:
        client.add_chain([b"certificate"])
    assert exc.value.message == msg.MSG_CT


def test_an_answer_cut_short_is_retried_until_the_deadline(
    cut_short: tuple[str, list[int]],
) -> None:
    url, accepted = cut_short
    client = CTClient(url, timeout=1.0, deadline=0.3)
    with pytest.raises(InternalError) as exc:
        client.add_chain([b"certificate"])
    assert exc.value.message == msg.MSG_CT
    assert len(accepted) > 1  # retried
