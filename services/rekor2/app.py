"""Rekor v2 app factory: configuration in, Flask app out (one per server worker)."""

from __future__ import annotations

from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer
from sigstack.services.rekor.trustedca import load_trusted_ca
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app
from sigstack.services.runtime.direct import post_route
from sigstack.services.runtime.errors import grpc_body
from sigstack.services.runtime.observe import LOG_ENTRIES
from sigstack.services.tlog.api import tiles_blueprint

from .api import ENTRIES, blueprint, entry_writer
from .config import Rekor2Config
from .entries import signing_algorithms
from .log import Rekor2Log


def open_rekor2(config: Rekor2Config) -> Rekor2Log:
    """The log the configuration names (made if ``config.create`` and absent)."""
    if not config.origin:
        raise ConfigError("the Rekor v2 log needs its origin")
    database_url, key_uri = config.storage()
    return Rekor2Log(
        db.make_engine(database_url),
        load_signer(key_uri),
        config.origin,
        create=config.create,
        **config.batch_options(),
        **config.witness_options(config.origin),
    )


def create_app(config: Rekor2Config) -> Flask:
    allowed = signing_algorithms(config.signing_algorithms)
    trusted = load_trusted_ca(config.trusted_ca_file)
    log = open_rekor2(config)

    def register(app: Flask) -> None:
        post_route(
            app, ENTRIES, "rekor2_create_entry", entry_writer(log, allowed, trusted), inline=True
        )
        app.register_blueprint(blueprint(log))
        app.register_blueprint(tiles_blueprint(log))
        app.extensions["rekor2"] = log

    def gauges() -> None:
        LOG_ENTRIES.labels("rekor2").set(log.size())

    return _create_app("rekor2", config, register, error_body=grpc_body, metrics=gauges)
