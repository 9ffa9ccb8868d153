"""Body routes (``runtime.direct``): the log write paths answered from the ASGI bridge without
Flask give the same answers as through Flask, byte for byte where the log's state allows it.

Two bridges serve one real app (Rekor v1 on SQLite, Rekor v2 on SQLite): one takes the direct
routes (and fails the test if it falls back to the WSGI app), the other has none, so every request
goes through Flask and the hooks of ``runtime.app``. With the same ``X-Request-Id`` the two answer
an error with the same bytes; a new entry is answered with the same status, headers and JSON shape.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sigstack.services.keys import create_file_key
from sigstack.services.rekor.app import create_app as rekor_app
from sigstack.services.rekor.config import RekorConfig
from sigstack.services.rekor2.app import create_app as rekor2_app
from sigstack.services.rekor2.config import Rekor2Config
from sigstack.services.runtime import db, observe
from sigstack.services.runtime.bridge import WSGIBridge
from tests.support.entries import hashedrekord, v2_hashedrekord

V1, V2 = "/api/v1/log/entries", "/api/v2/log/entries"
Answer = tuple[int, dict[str, str], bytes]


def _post(bridge: WSGIBridge, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    async def run() -> list[dict[str, Any]]:
        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
                 "server": ("127.0.0.1", 3000), "client": ("127.0.0.1", 40000),
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode()), *headers]}  # fmt: skip
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await bridge(scope, receive, send)
        return sent

    start, body_message = asyncio.run(run())
    names = [n.decode() for n, _ in start["headers"]]
    assert len(names) == len(set(names)), names  # no header twice
    return (
        start["status"],
        {n.decode(): v.decode() for n, v in start["headers"]},
        body_message["body"],
    )


class Pair:
    """The same app behind a bridge that answers its body routes directly and one that does not."""

    def __init__(self, app: Flask, max_body: int = 1 << 20) -> None:
        self.direct = WSGIBridge(app, threads=4, body_timeout=5, max_body=max_body)
        self.flask = WSGIBridge(app, threads=4, body_timeout=5, max_body=max_body)
        self.flask.direct = {}

        def no_fallback(*args: Any) -> Any:
            raise AssertionError("the direct bridge handed a body route to the WSGI app")

        self.strict = True
        self._fallback = self.direct._call
        self.direct._call = self._call  # type: ignore[method-assign]
        self._no_fallback = no_fallback

    def _call(self, *args: Any) -> Any:
        if self.strict:
            self._no_fallback()
        return self._fallback(*args)

    def both(self, path: str, body: bytes, request_id: str = "req-1") -> tuple[Answer, Answer]:
        headers = [(b"x-request-id", request_id.encode())]
        return _post(self.direct, path, body, headers), _post(self.flask, path, body, headers)


@pytest.fixture
def v1(tmp_path: Path) -> Iterator[Pair]:
    url = db.sqlite_url(tmp_path / "rekor.db")
    db.upgrade(url)
    create_file_key(tmp_path / "key.pem")
    app = rekor_app(RekorConfig(database_url=url, key_uri=f"file:{tmp_path / 'key.pem'}",
                                hostname="rekor.test", create=True, batch_wait_ms=0,
                                max_body_bytes=64 * 1024))  # fmt: skip
    yield Pair(app)
    app.extensions["rekor"].close()


@pytest.fixture
def v2(tmp_path: Path) -> Iterator[Pair]:
    url = db.sqlite_url(tmp_path / "rekor2.db")
    db.upgrade(url)
    create_file_key(tmp_path / "key.pem", "ed25519")
    app = rekor2_app(Rekor2Config.from_mapping({"database_url": url, "origin": "rekor2.test",
                                                "key_uri": f"file:{tmp_path / 'key.pem'}",
                                                "create": True, "batch_wait_ms": 0,
                                                "max_body_bytes": 64 * 1024}))  # fmt: skip
    yield Pair(app)
    app.extensions["rekor2"].close()


def _v1_entry(n: int) -> bytes:
    return json.dumps(hashedrekord(b"artifact %d" % n)).encode()


def _v2_entry(n: int) -> bytes:
    return json.dumps(v2_hashedrekord(b"artifact %d" % n).request).encode()


BAD_BODIES = [
    b"",
    b"not json",
    b"[]",
    b"{}",
    b'{"a": 1, "a": 2}',
    b'{"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {}}',
    b'{"hashedRekordRequestV002": {}}',
    b'{"kind": 1e999}',
    b'{"x": "\xff"}',
    b"{" * 5000,
    json.dumps({"kind": "nope", "apiVersion": "9", "spec": {"x": [1, 2, 3]}}).encode(),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_v1_refusals_are_the_same_bytes(v1: Pair, body: bytes) -> None:
    direct, flask = v1.both(V1, body)
    assert direct == flask
    assert 400 <= direct[0] < 500 and direct[1]["x-request-id"] == "req-1"


@pytest.mark.parametrize("body", BAD_BODIES)
def test_v2_refusals_are_the_same_bytes(v2: Pair, body: bytes) -> None:
    direct, flask = v2.both(V2, body)
    assert direct == flask
    assert 400 <= direct[0] < 500 and set(json.loads(direct[2])) == {"code", "message", "details"}


def test_v1_new_entries_and_duplicates(v1: Pair) -> None:
    one, two = _v1_entry(1), _v1_entry(2)
    made_direct = _post(v1.direct, V1, one, [])
    made_flask = _post(v1.flask, V1, two, [])
    for status, headers, body in (made_direct, made_flask):
        assert status == 201
        assert set(headers) == {
            "content-type",
            "content-length",
            "location",
            "etag",
            "x-request-id",
        }
        assert headers["content-type"] == "application/json"
        assert int(headers["content-length"]) == len(body) and body.endswith(b"}\n")
        (uuid, entry), = json.loads(body).items()  # fmt: skip
        assert headers["location"] == f"{V1}/{uuid}" and headers["etag"] == uuid
    shape = [(k, sorted(v)) for k, v in next(iter(json.loads(made_direct[2]).values())).items()
             if isinstance(v, dict)]  # fmt: skip
    assert shape == [(k, sorted(v)) for k, v in next(iter(json.loads(made_flask[2]).values())).items()
                     if isinstance(v, dict)]  # fmt: skip
    # the same duplicate answered by both: the same 409, Location and x-log-index
    for entry in (one, two):
        direct, flask = v1.both(V1, entry)
        assert direct == flask and direct[0] == 409
        assert "location" in direct[1]


def test_v2_new_entries_and_duplicates(v2: Pair) -> None:
    one, two = _v2_entry(1), _v2_entry(2)
    made = [_post(v2.direct, V2, one, []), _post(v2.flask, V2, two, [])]
    for status, headers, body in made:
        assert status == 201
        assert set(headers) == {"content-type", "content-length", "x-request-id"}
        assert int(headers["content-length"]) == len(body)
    entries = [json.loads(body) for _, _, body in made]
    assert [e["logIndex"] for e in entries] == ["0", "1"]
    assert sorted(entries[0]) == sorted(entries[1])
    for entry in (one, two):
        direct, flask = v2.both(V2, entry)
        assert direct == flask and direct[0] == 409 and "x-log-index" in direct[1]


def test_request_ids(v1: Pair) -> None:
    for given, kept in (("abc-1.2_3", True), ("not ok!", False), ("x" * 65, False)):
        status, headers, _ = _post(v1.direct, V1, b"{}", [(b"x-request-id", given.encode())])
        assert status == 422
        assert (headers["x-request-id"] == given) is kept
        if not kept:
            assert len(headers["x-request-id"]) == 32
    # a header spelt with an underscore is not the request id; two of them are not one id
    _, headers, _ = _post(v1.direct, V1, b"{}", [(b"x_request_id", b"smuggled")])
    assert headers["x-request-id"] != "smuggled"
    _, headers, _ = _post(v1.direct, V1, b"{}", [(b"x-request-id", b"a"), (b"x-request-id", b"b")])
    direct_id = headers["x-request-id"]
    _, headers, _ = _post(v1.flask, V1, b"{}", [(b"x-request-id", b"a"), (b"x-request-id", b"b")])
    assert direct_id not in ("a", "b") and headers["x-request-id"] not in ("a", "b")


def test_an_unexpected_exception_is_a_safe_500(v1: Pair, caplog: pytest.LogCaptureFixture) -> None:
    rekor = v1.flask.app.extensions["rekor"]  # type: ignore[attr-defined]

    def broken(prepared: Any) -> Any:
        raise RuntimeError("secret detail")

    rekor.add = broken
    with caplog.at_level(logging.ERROR, logger="sigstack.http"):
        direct, flask = v1.both(V1, _v1_entry(3))
    assert direct == flask and direct[0] == 500
    assert json.loads(direct[2]) == {"code": 500, "message": "internal error"}
    assert b"secret" not in direct[2]
    assert sum("unhandled error on POST /api/v1/log/entries" in r.getMessage()
               for r in caplog.records) == 2  # fmt: skip


def test_a_body_over_the_apps_limit_goes_to_flask(v1: Pair) -> None:
    """The bridge's own limit is larger than the app's (64 KiB) here: the direct route hands the
    request to Flask, which answers 413 as it always has."""
    v1.strict = False
    body = b'{"kind": "' + b"x" * (70 * 1024) + b'"}'
    direct, flask = v1.both(V1, body)
    assert direct == flask and direct[0] == 413


def test_metrics_count_direct_answers(v1: Pair) -> None:
    def count(status: str) -> float:
        value = observe.REQUESTS.labels("rekor", "POST", V1, status)._value.get()
        return float(value)

    before = count("201"), count("422")
    _post(v1.direct, V1, _v1_entry(4), [])
    _post(v1.direct, V1, b"{}", [])
    assert (count("201"), count("422")) == (before[0] + 1, before[1] + 1)
