"""Rekor app factory: configuration in, Flask app out (one per server worker)."""

from __future__ import annotations

import socket

from flask import Flask

from sigstack.services.keys import load_signer
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app
from sigstack.services.runtime.direct import post_route
from sigstack.services.runtime.observe import LOG_ENTRIES
from sigstack.services.tlog.api import tiles_blueprint

from .api import blueprint, entry_writer
from .config import RekorConfig
from .log import ENTRIES, RekorLog
from .trustedca import load_trusted_ca


def open_rekor(config: RekorConfig) -> RekorLog:
    """The log the configuration names (made if ``config.create`` and absent)."""
    database_url, key_uri = config.storage()
    return RekorLog(
        db.make_engine(database_url),
        load_signer(key_uri),
        config.hostname or socket.gethostname(),
        create=config.create,
        **config.batch_options(),
        **config.witness_options(config.hostname or socket.gethostname()),
    )


def create_app(config: RekorConfig) -> Flask:
    trusted = load_trusted_ca(config.trusted_ca_file)
    rekor = open_rekor(config)

    def register(app: Flask) -> None:
        post_route(app, ENTRIES, "rekor_create_entry", entry_writer(rekor, trusted), inline=True)
        app.register_blueprint(blueprint(rekor, trusted))
        app.register_blueprint(tiles_blueprint(rekor))
        app.extensions["rekor"] = rekor

    def gauges() -> None:
        LOG_ENTRIES.labels("rekor").set(rekor.size())

    return _create_app("rekor", config, register, metrics=gauges)
