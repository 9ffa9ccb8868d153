"""Flask app factory shared by every service.

``create_app`` wires the pieces every service needs (body-size limit answered with 413, error
mapping, ``/healthz``, a request id on every response and in the logs) and then lets the service
register its own blueprint. Configuration arrives as a dict built once by ``runtime.config``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, g, request

from . import errors

log = logging.getLogger("sigstack.access")


def create_app(
    name: str,
    config: Mapping[str, Any],
    register: Callable[[Flask], None],
    *,
    error_body: errors.Formatter = errors.default_body,
    health: Callable[[], bool] | None = None,
) -> Flask:
    app = Flask(name)
    app.config.update(config)
    app.config["MAX_CONTENT_LENGTH"] = int(config.get("max_body_bytes", 1 << 20))
    app.json.sort_keys = False  # type: ignore[attr-defined]
    errors.register_error_handlers(app, error_body)

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-Id"] = g.get("request_id", "")
        if request.method == "GET":
            resp.headers.setdefault("Cache-Control", "no-cache")
        if log.isEnabledFor(logging.INFO):
            log.info(
                json.dumps(
                    {
                        "service": name,
                        "request_id": g.get("request_id"),
                        "method": request.method,
                        "path": request.path,
                        "status": resp.status_code,
                        "ms": round(
                            (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2
                        ),
                    }
                )
            )
        return resp

    @app.get("/healthz")
    def _healthz() -> tuple[dict[str, str], int]:
        ok = health() if health else True
        return ({"status": "ok"}, 200) if ok else ({"status": "unavailable"}, 503)

    register(app)
    return app
