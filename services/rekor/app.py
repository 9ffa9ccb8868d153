"""Rekor app factory: configuration in, Flask app out (one per gunicorn worker)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from flask import Flask

from sigstack.services.keys import load_signer
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app
from sigstack.services.runtime.observe import LOG_ENTRIES
from sigstack.services.tlog.api import tiles_blueprint

from .api import blueprint
from .log import RekorLog

DEFAULTS: dict[str, Any] = {
    "database_url": None,
    "key_uri": None,
    "hostname": None,  # checkpoint origin host; keep it stable for the life of the log
    "max_body_bytes": 4 << 20,
    "batch_max": 256,
    "batch_wait_ms": 2,
    "create": False,
}


def create_app(config: Mapping[str, Any]) -> Flask:
    cfg = {**DEFAULTS, **config}
    engine = db.make_engine(cfg["database_url"])
    signer = load_signer(cfg["key_uri"])
    rekor = RekorLog(
        engine,
        signer,
        cfg["hostname"] or socket.gethostname(),
        create=bool(cfg["create"]),
        batch_max=int(cfg["batch_max"]),
        batch_wait=float(cfg["batch_wait_ms"]) / 1000.0,
    )

    def register(app: Flask) -> None:
        app.register_blueprint(blueprint(rekor))
        app.register_blueprint(tiles_blueprint(rekor))
        app.extensions["rekor"] = rekor

    def gauges() -> None:
        LOG_ENTRIES.labels("rekor").set(rekor.size())

    return _create_app("rekor", cfg, register, metrics=gauges)
