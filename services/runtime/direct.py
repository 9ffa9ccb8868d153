"""Body routes: a POST view that takes the request body and gives back a JSON answer, served by
Flask everywhere and, on granian, also straight from the ASGI bridge without Flask.

The log write paths (``POST /api/v1/log/entries``, ``POST /api/v2/log/entries``) are the hottest
requests of the stack, and Flask's and werkzeug's request machinery (request context, routing,
environ, response object, hooks) took a quarter of their CPU (bench/README.md, "Where the write
path's CPU goes"; docs/adr/0009-direct-write-routes.md). A body route is one plain function,
``view(body, header) -> (status, JSON value, headers)`` (``header(name)``: a request header, or
None), registered twice by ``post_route``:

- as an ordinary Flask route, which gunicorn (``SIGSTACK_SERVER=gunicorn``), Flask's test client and
  every request the bridge does not take (a body cut off by the bridge's limits, a body over the
  app's own limit) go through;
- in ``app.extensions[DIRECT]``, which ``runtime.bridge.WSGIBridge`` looks up by (method, path) and
  calls through ``answer`` in one of its threads.

A view that must wait for other work (a log write waits for its batch to be committed) returns a
``Deferred`` instead of an answer: ``start(notify)`` hands the work over and returns a ``Ticket``,
``then(ticket)`` makes the answer once it is done. A route registered ``inline=True`` (its view
and both steps only compute, never block) is run by the bridge on its event loop
(``answer_async``): the loop awaits the ticket's notification, so no thread is parked per request
and the GIL is not handed between dozens of them (docs/adr/0010-inline-log-writes.md). Elsewhere
(the bridge's threads for routes that are not inline, Flask) the thread blocks in
``Ticket.join``. Either way a ticket not done within its timeout is answered with its ``late()``
error (503).

``answer`` does exactly what ``runtime.app``'s hooks and ``runtime.errors``' handlers do around a
Flask view, and gives the same bytes: the request id (the client's ``X-Request-Id`` when it is
well formed, else a new one; ``observe.current_request_id`` gives it to log lines written meanwhile), the error mapping (``protocol.errors`` to the service's status and
body; anything else logged with the request id and answered 500 "internal error"), the request
metrics and the access line, and Flask's JSON (compact, keys in order, ASCII, a final newline).
``tests/unit/runtime/test_direct.py`` holds the two paths to the same answers, byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from flask import Flask, Response, jsonify, request

from sigstack.protocol import errors as perrors

from . import errors, observe

DIRECT = "sigstack_direct"  # app.extensions key: {(method, path): DirectRoute}
Answer = tuple[int, Any, dict[str, str]]  # (status, JSON value, extra headers)
Header = Callable[[str], "str | None"]  # a request header by name (several joined by ","), or None
Headers = list[tuple[bytes, bytes]]


class Ticket(Protocol):
    """Work handed to another thread (``tlog.engine.Ticket``: an entry given to the sequencer)."""

    timeout: float  # seconds a waiter gives it
    late: Callable[[], Exception]  # the error for a wait longer than ``timeout``

    def join(self) -> None: ...  # block until it is done; raise ``late()`` after ``timeout``


@dataclass(frozen=True)
class Deferred:
    """A view's answer that waits for other work: ``start(notify)`` hands the work over and
    returns its ``Ticket`` (``notify``, when not None, is to be called once, from any thread,
    when the work is done); ``then(ticket)`` makes the answer once it is done. Through Flask and
    the thread pool, ``start(None)`` and the request thread blocks in ``Ticket.join``; on the
    bridge's event loop (``inline`` routes) the loop awaits the notification, no thread waits.
    Either way a ticket not done within its ``timeout`` is answered with its ``late()`` error."""

    start: Callable[[Callable[[], None] | None], Any]  # -> a Ticket
    then: Callable[[Any], Answer]  # (the Ticket) -> the answer


@dataclass(frozen=True)
class RawJSON:
    """An answer's JSON value already encoded, byte for byte as this module's and Flask's
    encoders write it (compact, keys in the order given, ASCII), without the final newline. A
    view whose answer is large and made of known pieces (a log entry) writes it once instead of
    building a dict for the encoder to walk."""

    data: bytes


BodyView = Callable[[bytes, Header], "Answer | Deferred"]
T = TypeVar("T")

log = logging.getLogger("sigstack.http")
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=False).encode


@dataclass(frozen=True)
class DirectRoute:
    service: str
    route: str
    view: BodyView
    error_body: errors.Formatter
    max_body: int  # the app's own limit (Flask's MAX_CONTENT_LENGTH): larger bodies go to Flask
    inline: bool = False  # the view neither blocks nor runs long: the bridge runs it on its loop

    def answer(self, body: bytes, request_headers: Headers) -> tuple[int, Headers, bytes]:
        """The HTTP answer to a POST of ``body`` with ``request_headers`` (ASGI's: lower-case
        names, as bytes), as (status, headers, body), from a thread that may block."""
        started = time.perf_counter()
        request_id = self._begin(request_headers)
        try:
            answer = self._mapped(self.view, body, _header_of(request_headers))
            if isinstance(answer, Deferred):
                answer = self._mapped(_settle_blocking, answer)
        finally:
            observe.set_request_id(None)
        return self._respond(answer, request_id, started)

    async def answer_async(
        self, body: bytes, request_headers: Headers
    ) -> tuple[int, Headers, bytes]:
        """``answer`` on the event loop, for an ``inline`` route: the view and a ``Deferred``'s
        ``start`` and ``then`` run on the loop; the work between is awaited, no thread waits."""
        started = time.perf_counter()
        request_id = self._begin(request_headers)
        try:
            answer = self._mapped(self.view, body, _header_of(request_headers))
            if isinstance(answer, Deferred):
                answer = await self._settle(answer)
                observe.set_request_id(request_id)  # other requests ran on this loop meanwhile
        finally:
            observe.set_request_id(None)
        return self._respond(answer, request_id, started)

    async def _settle(self, deferred: Deferred) -> Answer:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        ticket = self._mapped(deferred.start, partial(loop.call_soon_threadsafe, _resolve, done))
        if isinstance(ticket, tuple):  # refused before anything was handed over
            return ticket
        timer = loop.call_later(ticket.timeout, _expire, done)
        try:
            await done
        except TimeoutError:
            return self._mapped(_raise, ticket.late())
        finally:
            timer.cancel()
        return self._mapped(deferred.then, ticket)

    def _begin(self, request_headers: Headers) -> str:
        given = b",".join(v for n, v in request_headers if n == b"x-request-id").decode("latin-1")
        request_id = given if observe.REQUEST_ID.match(given) else observe.new_request_id()
        observe.set_request_id(request_id)  # for log lines written while answering
        return request_id

    def _respond(
        self, answer: Answer, request_id: str, started: float
    ) -> tuple[int, Headers, bytes]:
        status, value, extra = answer
        data = value.data + b"\n" if type(value) is RawJSON else (_dumps(value) + "\n").encode()
        headers: Headers = [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]  # fmt: skip
        headers += [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in extra.items()]
        headers.append((b"x-request-id", request_id.encode("latin-1")))
        seconds = time.perf_counter() - started
        observe.observe_request(self.service, "POST", self.route, status, seconds)
        observe.access({"service": self.service, "request_id": request_id, "method": "POST",
                        "route": self.route, "path": self.route, "status": status,
                        "ms": round(seconds * 1000, 2)})  # fmt: skip
        return status, headers, data

    def _mapped(self, step: Callable[..., T], *args: Any) -> T | Answer:
        """``step(*args)``, or the error mapping's answer to what it raised."""
        try:
            return step(*args)
        except perrors.Error as exc:
            status = errors.status_of(exc)
            return status, self.error_body(status, exc.message), errors.headers_of(exc)
        except Exception:
            log.exception("unhandled error on POST %s", self.route)
            return 500, self.error_body(500, "internal error"), {}


def _header_of(request_headers: Headers) -> Header:
    def header(name: str) -> str | None:
        key = name.lower().encode("latin-1")
        values = [v for n, v in request_headers if n == key]
        return b",".join(values).decode("latin-1") if values else None

    return header


def _settle_blocking(deferred: Deferred) -> Answer:
    ticket = deferred.start(None)
    ticket.join()
    return deferred.then(ticket)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():  # not given up on (a timeout, a client gone)
        done.set_result(None)


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_exception(TimeoutError())


def _raise(error: Exception) -> Answer:
    raise error


def post_route(
    app: Flask, path: str, endpoint: str, view: BodyView, *, inline: bool = False
) -> None:
    """Serve ``POST path`` with ``view``: as a Flask route and as a direct route (module doc).
    ``inline``: the view (and its ``Deferred``'s ``start`` and ``then``) only computes, never
    blocks, so the bridge runs it on its event loop instead of handing it to a thread."""

    def flask_view() -> Response:
        answer = view(request.get_data(cache=False), request.headers.get)
        if isinstance(answer, Deferred):
            answer = _settle_blocking(answer)
        status, value, extra = answer
        if type(value) is RawJSON:
            resp = Response(value.data + b"\n", mimetype="application/json")
        else:
            resp = jsonify(value)
        resp.status_code = status
        resp.headers.update(extra)
        return resp

    app.add_url_rule(path, endpoint, flask_view, methods=["POST"])
    service = app.name
    max_body = app.config.get("MAX_CONTENT_LENGTH") or sys.maxsize  # None: Flask sets no limit
    error_body = app.extensions.get("sigstack_error_body", errors.default_body)
    routes = app.extensions.setdefault(DIRECT, {})
    routes[("POST", path)] = DirectRoute(service, path, view, error_body, max_body, inline)


def routes_of(app: Any) -> dict[tuple[str, str], DirectRoute]:
    """The direct routes a WSGI app carries (none for one that is not a ``post_route`` Flask app)."""
    extensions = getattr(app, "extensions", None)
    found = extensions.get(DIRECT) if isinstance(extensions, dict) else None
    return dict(found) if found else {}
