"""The TUF mirror's HTTP routes: the repository's ``public/`` files, GET (and HEAD) only.

Names are limited to what a TUF client asks for (``Layout.served_path``); anything else is 404.
Before answering ``timestamp.json`` (the first request of every client refresh) snapshot and
timestamp are re-signed if they are within the margin of expiry (``refresh_online``); a failure
there is logged and what exists is served (a stale timestamp is the client's to reject).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, Response, abort

from .online import PublishedRepository

log = logging.getLogger("sigstack.tuf")

CONTENT_TYPES = {
    ".json": "application/json",
    ".pem": "application/x-pem-file",
    ".pub": "application/x-pem-file",
    ".crt": "application/x-pem-file",
}


def _content_type(name: str) -> str:
    for suffix, ctype in CONTENT_TYPES.items():
        if name.endswith(suffix):
            return ctype
    return "application/octet-stream"


def register(repo: PublishedRepository, margin: timedelta | None) -> Callable[[Flask], None]:
    """The ``register`` callback for ``runtime.app.create_app``."""

    def _register(app: Flask) -> None:
        @app.get("/<path:name>")
        def _file(name: str) -> Response:
            if name == "timestamp.json":
                try:
                    resigned = repo.refresh_online(margin)
                except Exception:
                    # Serve what exists: a stale timestamp is the client's to reject.
                    log.exception("re-signing snapshot/timestamp failed")
                else:
                    if resigned:
                        log.warning("re-signed %s before it expired", resigned)
            path = repo.layout.served_path(name)
            if path is None or not path.is_file():
                abort(404)
            try:
                data = path.read_bytes()
            except OSError:
                abort(404)
            return Response(data, status=200, content_type=_content_type(name))

    return _register
