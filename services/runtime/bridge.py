"""Serve a service's WSGI app (Flask) from granian's ASGI interface, with a whole-request deadline.

granian (a Rust HTTP server) parses requests, keeps connections and enforces the deadline for
request *headers*; it offers none for the body. So the body is received here, on the worker's event
loop, where a slow or silent client costs a suspended coroutine instead of a thread: it must arrive
within ``body_timeout`` seconds and be at most ``max_body`` bytes (Content-Length is checked before
anything is read). Only a complete request is handed to one of ``threads`` threads that run the WSGI
app; its answer is collected there and sent back from the loop. A complete POST to one of the app's
direct routes (``runtime.direct``: the log write paths) is answered by that route without the
WSGI environ and Flask: in the same threads, or, for an ``inline`` route (the Rekor log writes), on
the event loop itself, which awaits the log's sequencer; anything else about it (a cut-off body,
one over the app's own limit) goes to the WSGI app as before.

What is left to others: HTTP parsing, keep-alive, the header deadline and the cap on connections are
granian's (``server.py`` configures them); building the WSGI environ is ``a2wsgi.build_environ``'s;
error bodies are the service's own (``runtime.app`` answers 408 and 413 through the error mapping,
flagged in the environ by ``BODY_STATE``). A request header whose name holds ``_`` is dropped, as
gunicorn does, so that ``X_Request_Id`` cannot pose as ``X-Request-Id`` in the environ.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from a2wsgi.asgi_typing import HTTPScope
from a2wsgi.wsgi import build_environ

from .direct import routes_of

BODY_STATE = "sigstack.body"  # environ key: "timeout" or "too-large" when the body was cut off
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _TooLarge(Exception):
    pass


class WSGIBridge:
    """An ASGI app (``http`` scopes only; no lifespan) around a WSGI app."""

    def __init__(self, app: WSGIApp, *, threads: int, body_timeout: float, max_body: int) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.max_body = max_body
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        self.direct = routes_of(app)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        state = ""
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._body(scope, receive)
        except TimeoutError:
            body, state = b"", "timeout"
        except _TooLarge:
            body, state = b"", "too-large"
        loop = asyncio.get_running_loop()
        route = self.direct.get((scope["method"], scope["path"])) if self.direct else None
        if route is not None and not state and len(body) <= route.max_body:
            if route.inline:
                status, headers, data = await route.answer_async(body, scope["headers"])
            else:
                status, headers, data = await loop.run_in_executor(
                    self.pool, route.answer, body, scope["headers"]
                )
        else:
            status, headers, data = await loop.run_in_executor(
                self.pool, self._call, scope, body, state
            )
        if state:  # the rest of the request was never read: the connection cannot be reused
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def _body(self, scope: dict[str, Any], receive: Any) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body:
                    raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _call(
        self, scope: dict[str, Any], body: bytes, state: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        headers = [(n, v) for n, v in scope["headers"] if b"_" not in n]
        # granian's scope is a plain dict, a2wsgi's parameter the ASGI spec's TypedDict; a2wsgi
        # annotates the body as its own streaming Body where any file object is a WSGI input; and
        # a WSGI environ is an open dict (PEP 3333) where a2wsgi's TypedDict has no BODY_STATE
        http_scope = cast(HTTPScope, {**scope, "headers": headers})
        environ = cast(
            dict[str, Any],
            build_environ(http_scope, io.BytesIO(body)),  # type: ignore[arg-type]
        )
        if state:
            environ[BODY_STATE] = state
            environ.pop("CONTENT_LENGTH", None)
        started: list[Any] = []

        def start_response(status: str, response_headers: Any, exc_info: Any = None) -> Any:
            started[:] = [status, response_headers]
            return None

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, response_headers = started
        return (
            int(status.split(" ", 1)[0]),
            [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in response_headers],
            data,
        )
