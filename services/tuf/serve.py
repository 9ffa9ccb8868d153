"""``sigstack serve tuf``: the repository's ``public/`` directory as a TUF mirror over HTTP.

GET (and HEAD) only, static files only, names limited to what a TUF client asks for
(``N.root.json``, ``timestamp.json``, ``V.snapshot.json``, ``V.targets.json``,
``targets/<sha256>.<name>``; ``root.json`` for bootstrapping by hand). Anything else is 404.
Before answering ``timestamp.json`` (the first request of every client refresh) the server
re-signs timestamp/snapshot if they are within the margin of expiry (``Repository.refresh_online``,
serialised across server workers by the repository's file lock). Metadata changes for offline
roles are made with ``sigstack tuf`` (``services.tuf.cli``), never over HTTP.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, Response, abort

from sigstack.services.runtime.app import create_app
from sigstack.services.runtime.config import load_config

from .online import PublishedRepository

log = logging.getLogger("sigstack.tuf")

DEFAULTS: dict[str, Any] = {"data_dir": "./data/tuf", "resign_margin_seconds": None}
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


def build_app(config: Mapping[str, Any]) -> Flask:
    """The mirror app. ``config["clock"]`` (a callable returning aware UTC now) is for tests."""
    repo = PublishedRepository(config["data_dir"], clock=config.get("clock"))
    repo.layout.require()
    margin_s = config.get("resign_margin_seconds")
    margin = timedelta(seconds=float(margin_s)) if margin_s is not None else None

    def register(app: Flask) -> None:
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

    return create_app("tuf", config, register, health=repo.layout.exists)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="sigstack serve tuf", description="serve a TUF repository's public/ as a mirror"
    )
    parser.add_argument("--data-dir", help="repository directory made by `sigstack tuf init`")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", help="JSON configuration file")
    parser.add_argument(
        "--resign-margin",
        type=float,
        dest="resign_margin_seconds",
        help="re-sign snapshot/timestamp this many seconds before they expire",
    )
    args = parser.parse_args(argv)
    config = load_config(
        DEFAULTS,
        file=args.config,
        env_prefix="SIGSTACK_TUF",
        overrides={"data_dir": args.data_dir, "resign_margin_seconds": args.resign_margin_seconds},
    )
    PublishedRepository(config["data_dir"]).layout.require()  # fail before forking workers
    from sigstack.services.runtime import server

    server.run(lambda: build_app(config), host=args.host, port=args.port, workers=args.workers,
               limits=server.Limits.from_config(config))  # fmt: skip
    return 0
