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

``answer`` does exactly what ``runtime.app``'s hooks and ``runtime.errors``' handlers do around a
Flask view, and gives the same bytes: the request id (the client's ``X-Request-Id`` when it is
well formed, else a new one; ``observe.current_request_id`` gives it to log lines written meanwhile), the error mapping (``protocol.errors`` to the service's status and
body; anything else logged with the request id and answered 500 "internal error"), the request
metrics and the access line, and Flask's JSON (compact, keys in order, ASCII, a final newline).
``tests/unit/runtime/test_direct.py`` holds the two paths to the same answers, byte for byte.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request

from sigstack.protocol import errors as perrors

from . import errors, observe

DIRECT = "sigstack_direct"  # app.extensions key: {(method, path): DirectRoute}
Answer = tuple[int, Any, dict[str, str]]  # (status, JSON value, extra headers)
Header = Callable[[str], "str | None"]  # a request header by name (several joined by ","), or None
BodyView = Callable[[bytes, Header], Answer]
Headers = list[tuple[bytes, bytes]]

log = logging.getLogger("sigstack.http")
_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=False).encode


@dataclass(frozen=True)
class DirectRoute:
    service: str
    route: str
    view: BodyView
    error_body: errors.Formatter
    max_body: int  # the app's own limit (Flask's MAX_CONTENT_LENGTH): larger bodies go to Flask

    def answer(self, body: bytes, request_headers: Headers) -> tuple[int, Headers, bytes]:
        """The HTTP answer to a POST of ``body`` with ``request_headers`` (ASGI's: lower-case
        names, as bytes), as (status, headers, body)."""
        started = time.perf_counter()
        given = b",".join(v for n, v in request_headers if n == b"x-request-id").decode("latin-1")
        request_id = given if observe.REQUEST_ID.match(given) else observe.new_request_id()
        observe.set_request_id(request_id)  # for log lines written while answering
        try:
            status, value, extra = self._call(body, request_headers)
        finally:
            observe.set_request_id(None)
        data = (_dumps(value) + "\n").encode()
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

    def _call(self, body: bytes, request_headers: Headers) -> Answer:
        """The view's answer, or the error mapping's answer to what it raised."""

        def header(name: str) -> str | None:
            key = name.lower().encode("latin-1")
            values = [v for n, v in request_headers if n == key]
            return b",".join(values).decode("latin-1") if values else None

        try:
            return self.view(body, header)
        except perrors.Error as exc:
            status = errors.status_of(exc)
            return status, self.error_body(status, exc.message), errors.headers_of(exc)
        except Exception:
            log.exception("unhandled error on POST %s", self.route)
            return 500, self.error_body(500, "internal error"), {}


def post_route(app: Flask, path: str, endpoint: str, view: BodyView) -> None:
    """Serve ``POST path`` with ``view``: as a Flask route and as a direct route (module doc)."""

    def flask_view() -> Response:
        status, value, extra = view(request.get_data(cache=False), request.headers.get)
        resp = jsonify(value)
        resp.status_code = status
        resp.headers.update(extra)
        return resp

    app.add_url_rule(path, endpoint, flask_view, methods=["POST"])
    service = app.name
    max_body = app.config.get("MAX_CONTENT_LENGTH") or sys.maxsize  # None: Flask sets no limit
    error_body = app.extensions.get("sigstack_error_body", errors.default_body)
    routes = app.extensions.setdefault(DIRECT, {})
    routes[("POST", path)] = DirectRoute(service, path, view, error_body, max_body)


def routes_of(app: Any) -> dict[tuple[str, str], DirectRoute]:
    """The direct routes a WSGI app carries (none for one that is not a ``post_route`` Flask app)."""
    extensions = getattr(app, "extensions", None)
    found = extensions.get(DIRECT) if isinstance(extensions, dict) else None
    return dict(found) if found else {}
