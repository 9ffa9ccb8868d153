"""The OIDC issuer's app factory: configuration in, Flask app out (one per server worker).

The data directory is the parent's to initialise or check first (``datadir.prepare_data_dir``);
each worker then opens its own database connections and key ring here.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app as _create_app

from . import api, keys
from .config import OIDCConfig
from .connectors.registry import Registry
from .datadir import database_url
from .exchange import Exchange
from .issuer import Issuer, Settings
from .store import Store
from .store import keys as keys_table


def create_app(config: OIDCConfig, store: Store | None = None) -> Flask:
    """The issuer's WSGI app."""
    settings = Settings.from_config(config)
    if store is None:
        engine = db.make_engine(database_url(config))
        db.require_current_schema(engine)
        store = Store(engine)
    data_dir = Path(config.data_dir) if config.data_dir else None
    keyring = keys.KeyRing(store, data_dir)
    keyring.check()
    issuer = Issuer(settings, store, keyring)
    connectors = Registry.from_config(config)
    exchange = Exchange.from_config(config, settings.issuer)

    def register(app: Flask) -> None:
        app.extensions["sigstack_oidc_server"] = api.register(app, issuer, connectors, exchange)
        app.extensions["sigstack_oidc"] = issuer

    def healthy() -> bool:
        try:
            with store.engine.connect() as conn:
                conn.execute(keys_table.select().limit(1))
        except Exception:  # noqa: BLE001 - any database failure means unhealthy
            return False
        return True

    app = _create_app("oidc", config, register, error_body=api.oauth_error_body, health=healthy)
    if config.proxy_fix_x_for:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_fix_x_for)  # type: ignore[method-assign]
    return app
