"""Deferred answers on inline body routes (``runtime.direct``): the bridge runs the view on its
event loop and awaits the log's sequencer instead of parking a thread on it.

A real log (``tlog.open_log`` on SQLite) behind a real ``WSGIBridge``; many requests are driven
into the bridge at once on one event loop, as granian does.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sigstack.protocol import merkle
from sigstack.protocol.errors import ValidationError
from sigstack.services.runtime import db
from sigstack.services.runtime.bridge import WSGIBridge
from sigstack.services.runtime.direct import Answer, Deferred, Header, post_route
from sigstack.services.tlog import Log, Ticket, open_log
from tests.support.dbs import upgraded_database


def _sign_head(size: int, root: bytes, ts: int) -> str:
    return f"head {size} {root.hex()}"


def _app(log: Log, *, inline: bool = True) -> Flask:
    app = Flask("deferred")

    def write(body: bytes, header: Header) -> Deferred:
        if not body:
            raise ValidationError("an empty entry")

        def then(ticket: Ticket) -> Answer:
            a = ticket.outcome()
            return (409 if a.duplicate else 201), {"index": a.index, "size": a.head.size,
                                                   "root": a.head.root_hash.hex()}, {}  # fmt: skip

        return Deferred(lambda notify: log.submit(body, notify=notify), then)

    post_route(app, "/write", "write", write, inline=inline)
    app.add_url_rule("/ping", "ping", lambda: "pong")
    return app


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    with upgraded_database("sqlite", tmp_path / "log.db") as url:
        engine = db.make_engine(url)
        yield open_log(engine, "t", b"key", _sign_head, batch_wait=0.01)
        engine.dispose()


async def _request(
    bridge: WSGIBridge, method: str, path: str, body: bytes = b""
) -> tuple[int, bytes]:
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
             "server": ("127.0.0.1", 3000), "client": ("127.0.0.1", 40000),
             "headers": [(b"content-length", str(len(body)).encode())]}  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await bridge(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def test_many_writes_at_once_are_awaited_on_the_loop(log: Log) -> None:
    """64 writes at once on one loop: every one is answered with its own index and a head that
    holds it, the sequencer batched them, and no thread of the bridge's pool waited on one."""
    bridge = WSGIBridge(_app(log), threads=4, body_timeout=5, max_body=1 << 16)
    leaves = [b"leaf %d" % i for i in range(64)]

    async def run() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(_request(bridge, "POST", "/write", x) for x in leaves))

    answers = [json.loads(body) for status, body in asyncio.run(run()) if status == 201]
    assert sorted(a["index"] for a in answers) == list(range(64))
    assert all(a["size"] > a["index"] for a in answers)
    assert len({a["size"] for a in answers}) < 64  # several entries per committed batch
    assert not bridge.pool._threads  # type: ignore[attr-defined]  # no thread was ever needed
    by_index = {a["index"]: leaves[i] for i, a in enumerate(answers)}
    hashes = [merkle.leaf_hash(by_index[i]) for i in range(64)]
    assert log.head().root_hash == merkle.root_of(hashes)
    again = asyncio.run(_request(bridge, "POST", "/write", leaves[7]))
    assert again[0] == 409
    refused = asyncio.run(_request(bridge, "POST", "/write", b""))
    assert refused[0] == 400 and log.head().size == 64


def test_a_held_up_sequencer_answers_late_while_the_loop_goes_on(tmp_path: Path) -> None:
    """Another writer holds SQLite's write lock: the write is answered 503 after its ticket's
    timeout, other requests are served meanwhile (the loop is not blocked), and the entry is
    logged once the lock is released, so the writer's retry finds it."""
    with upgraded_database("sqlite", tmp_path / "log.db") as url:
        engine = db.make_engine(url)
        log = open_log(engine, "t", b"key", _sign_head, batch_wait=0, append_timeout=0.5)
        log.append(b"first")
        bridge = WSGIBridge(_app(log), threads=2, body_timeout=5, max_body=1 << 16)
        holder = sqlite3.connect(str(tmp_path / "log.db"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")

        async def run() -> tuple[tuple[int, bytes], list[tuple[int, bytes]]]:
            write = asyncio.ensure_future(_request(bridge, "POST", "/write", b"held"))
            pings = []
            for _ in range(3):
                await asyncio.sleep(0.05)
                pings.append(await _request(bridge, "GET", "/ping"))
                assert not write.done()
            return await write, pings

        try:
            (status, body), pings = asyncio.run(run())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert pings == [(200, b"pong")] * 3
        assert status == 503
        assert json.loads(body)["message"] == "the log did not sequence the entry in time; retry"
        again = asyncio.run(_request(bridge, "POST", "/write", b"held"))
        assert again[0] == 409 and json.loads(again[1])["index"] == 1
        engine.dispose()


def test_inline_and_threaded_routes_answer_alike(log: Log) -> None:
    """The same view on an inline route and on one run in the bridge's threads."""
    inline = WSGIBridge(_app(log), threads=2, body_timeout=5, max_body=1 << 16)
    threaded = WSGIBridge(_app(log, inline=False), threads=2, body_timeout=5, max_body=1 << 16)
    first = asyncio.run(_request(inline, "POST", "/write", b"a"))
    second = asyncio.run(_request(threaded, "POST", "/write", b"b"))
    assert (first[0], second[0]) == (201, 201)
    assert json.loads(second[1])["index"] == json.loads(first[1])["index"] + 1
    assert asyncio.run(_request(inline, "POST", "/write", b"b")) == (
        asyncio.run(_request(threaded, "POST", "/write", b"b"))
    )
    assert asyncio.run(_request(threaded, "POST", "/write", b""))[0] == 400
    assert threaded.pool._threads  # type: ignore[attr-defined]
