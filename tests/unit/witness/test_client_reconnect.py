"""The log's witness client replaces a connection the witness dropped without an answer (as a
kept-alive connection closed between two checkpoints is), once: a real socket server that
closes the first connection unanswered and answers the second. Without the retry the
checkpoint was counted as a witness outage and published uncosigned."""

from __future__ import annotations

import socket
import threading

import pytest

from sigstack.services.witness.client import Refused, WitnessClient

LINE = "\u2014 witness.test/w1 AAAAAAAA\n"


def _server(drops: int) -> tuple[str, list[int]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    seen = [0]

    def run() -> None:
        while True:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                seen[0] += 1
                if seen[0] <= drops:
                    continue  # closed without an answer
                body = LINE.encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)  # fmt: skip

    threading.Thread(target=run, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", seen


def test_a_dropped_connection_is_replaced_once() -> None:
    url, seen = _server(drops=1)
    assert WitnessClient(url, timeout=5).add_checkpoint(0, [], "note\n") == LINE
    assert seen[0] == 2


def test_a_witness_that_keeps_dropping_is_unreachable() -> None:
    url, seen = _server(drops=5)
    with pytest.raises(Refused) as refused:
        WitnessClient(url, timeout=5).add_checkpoint(0, [], "note\n")
    assert refused.value.status == 0 and seen[0] == 2
