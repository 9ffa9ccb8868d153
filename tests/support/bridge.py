"""Requests driven straight into ``runtime.bridge.WSGIBridge`` (no socket), and ``Pair``: one app
behind a bridge that answers its body routes directly (``runtime.direct``) and one that sends
everything through Flask, to hold the two paths to the same answers."""

from __future__ import annotations

import asyncio
from typing import Any

from flask import Flask

from sigstack.services.runtime.bridge import WSGIBridge

Answer = tuple[int, dict[str, str], bytes]  # status, headers (lower-case names), body


def asgi_post(
    bridge: WSGIBridge, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> Answer:
    """POST ``body`` to ``path`` through ``bridge``; no header may come back twice."""

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

        self.strict = True  # the direct bridge must not hand a body route to the WSGI app
        fallback = self.direct._call

        def guarded(*args: Any) -> Any:
            if self.strict:
                raise AssertionError("the direct bridge handed a body route to the WSGI app")
            return fallback(*args)

        self.direct._call = guarded  # type: ignore[method-assign]

    def both(
        self,
        path: str,
        body: bytes,
        request_id: str = "req-1",
        more: list[tuple[bytes, bytes]] | None = None,
    ) -> tuple[Answer, Answer]:
        headers = [(b"x-request-id", request_id.encode()), *(more or [])]
        return asgi_post(self.direct, path, body, headers), asgi_post(
            self.flask, path, body, headers
        )
