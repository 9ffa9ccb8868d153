"""Rekor v2 app factory: configuration in, Flask app out (one per server worker)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app
from sigstack.services.runtime.errors import grpc_body
from sigstack.services.runtime.observe import LOG_ENTRIES
from sigstack.services.tlog.api import tiles_blueprint

from .api import blueprint
from .entries import signing_algorithms
from .log import Rekor2Log

DEFAULTS: dict[str, Any] = {
    "database_url": None,
    "key_uri": None,
    "origin": None,  # resolved by serve.prepare: given, the database's, or HOST:PORT for a new log
    "key_algorithm": "ed25519",  # of the key a new data directory gets
    "signing_algorithms": "",  # keyDetails accepted in entries; "" = every one entries.ALGORITHMS has
    "max_body_bytes": 4 << 20,
    "batch_max": 256,
    "batch_wait_ms": 2,
    "create": False,
}


def create_app(config: Mapping[str, Any]) -> Flask:
    cfg = {**DEFAULTS, **config}
    if not cfg["origin"]:
        raise ConfigError("the Rekor v2 log needs its origin")
    allowed = signing_algorithms(cfg["signing_algorithms"])
    engine = db.make_engine(cfg["database_url"])
    log = Rekor2Log(
        engine,
        load_signer(cfg["key_uri"]),
        str(cfg["origin"]),
        create=bool(cfg["create"]),
        batch_max=int(cfg["batch_max"]),
        batch_wait=float(cfg["batch_wait_ms"]) / 1000.0,
    )

    def register(app: Flask) -> None:
        app.register_blueprint(blueprint(log, allowed))
        app.register_blueprint(tiles_blueprint(log))
        app.extensions["rekor2"] = log

    def gauges() -> None:
        LOG_ENTRIES.labels("rekor2").set(log.size())

    return _create_app("rekor2", cfg, register, error_body=grpc_body, metrics=gauges)
