"""Flask app factory shared by every service.

``create_app`` wires the pieces every service needs (body-size limit answered with 413, error
mapping, ``/healthz``, ``/metrics``, ``/openapi.json`` when the service ships
``services/<name>/openapi.json``, a request id on every response and a JSON log line per request,
see ``observe``) and then lets the service register its own blueprint. Configuration arrives as
the service's typed ``runtime.config.ServiceConfig``, loaded once (a plain mapping is read for
the keys every service has).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from flask import Flask, Request, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from . import errors, observe
from .bridge import BODY_STATE
from .config import ServiceConfig
from .observe import REQUEST_ID, new_request_id

_ID, _STARTED = "sigstack.request_id", "sigstack.started"  # keys in the WSGI environ
HealthAnswer = tuple[dict[str, str], int]  # what /healthz views return: (JSON body, status)


def _openapi_document(name: str) -> bytes | None:
    """The service's OpenAPI 3 document (``services/<name>/openapi.json``), if it has one."""
    path = Path(__file__).resolve().parent.parent / name / "openapi.json"
    try:
        return path.read_bytes()
    except OSError:
        return None


def create_app(
    name: str,
    config: ServiceConfig | Mapping[str, Any],
    register: Callable[[Flask], None],
    *,
    error_body: errors.Formatter = errors.default_body,
    health: Callable[[], bool] | None = None,
    metrics: Callable[[], None] | None = None,
) -> Flask:
    """``metrics`` is called before each /metrics answer to refresh gauges (log sizes)."""
    if not isinstance(config, ServiceConfig):
        config = ServiceConfig.from_mapping(config)
    app = Flask(name)
    app.extensions["sigstack_config"] = config
    app.extensions["sigstack_error_body"] = error_body  # for runtime.direct's answers
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    json_provider = app.json
    assert isinstance(json_provider, DefaultJSONProvider)  # Flask's own, unless a service sets one
    json_provider.sort_keys = False
    errors.register_error_handlers(app, error_body)

    # The proxies (request, g) are resolved once per hook: each access through one costs a
    # context lookup, and these hooks run on every request.
    @app.before_request
    def _start() -> None:
        # flask types ``request`` as the Request, not the LocalProxy it is
        environ = request._get_current_object().environ  # type: ignore[attr-defined]
        given = environ.get("HTTP_X_REQUEST_ID", "")
        environ[_ID] = given if REQUEST_ID.match(given) else new_request_id()
        observe.set_request_id(environ[_ID])
        environ[_STARTED] = time.perf_counter()
        cut = environ.get(BODY_STATE)
        if cut:  # the server stopped reading the body (runtime.bridge): answer in our format
            raise RequestTimeout() if cut == "timeout" else RequestEntityTooLarge()

    @app.after_request
    def _finish(resp: Response) -> Response:
        req: Request = request._get_current_object()  # type: ignore[attr-defined]  # as above
        environ = req.environ
        request_id = environ.get(_ID, "")
        headers = resp.headers
        headers["X-Request-Id"] = request_id
        method = req.method
        if method == "GET" and "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-cache"
        seconds = time.perf_counter() - environ.get(_STARTED, time.perf_counter())
        rule = req.url_rule
        route = rule.rule if rule is not None else "unmatched"
        status = resp.status_code
        observe.observe_request(name, method, route, status, seconds)
        observe.access({"service": name, "request_id": request_id, "method": method,
                        "route": route, "path": req.path[:200], "status": status,
                        "ms": round(seconds * 1000, 2)})  # fmt: skip
        return resp

    @app.teardown_request
    def _forget(exc: BaseException | None) -> None:
        observe.set_request_id(None)  # the thread's next request must not log under this id

    @app.get("/metrics")
    def _metrics() -> tuple[bytes, int, dict[str, str]]:
        return observe.metrics_response(metrics)

    spec = _openapi_document(name)
    if spec is not None:

        @app.get("/openapi.json")
        def _openapi() -> Response:
            return Response(spec, content_type="application/json")

    @app.get("/healthz")
    def _healthz() -> HealthAnswer:
        ok = health() if health else True
        return ({"status": "ok"}, 200) if ok else ({"status": "unavailable"}, 503)

    register(app)
    if config.instance:  # SIGSTACK_<SERVICE>_INSTANCE, set by `sigstack up` (services.stack)
        _name_health(app, name, config.instance)
    return app


def _name_health(app: Flask, name: str, instance: str) -> None:
    """A 200 /healthz answer (the one above, or the one a service put in its place) also names
    the service and its instance id, so that ``sigstack up`` takes only its own children for
    ready and never a process that held the port before."""
    # the view above, or a service's (fulcio's), answers (body, status) like it
    answer = cast(Callable[[], HealthAnswer], app.view_functions["_healthz"])

    def _healthz() -> HealthAnswer:
        body, status = answer()
        if status == 200 and isinstance(body, dict):
            body = {**body, "service": name, "instance": instance}
        return body, status

    app.view_functions["_healthz"] = _healthz
