"""Configuration, data-dir rules and the Flask app of the OIDC issuer.

Data dir (``--data-dir DIR``):

- a new or empty directory is initialised: ``DIR/oidc.db`` (SQLite, schema by Alembic) and the
  first signing key in ``DIR/keys/<kid>.pem`` (mode 0600, directory 0700);
- an initialised directory is reused as it is (the schema must be at head: ``sigstack db upgrade``);
- inconsistent state is refused with ``ConfigError``: keys without a database or a database
  without keys (a fresh key must never be generated over existing data), a database whose keys
  are missing, unreadable or readable by others, or more or fewer than one active key.

With ``--database-url`` (PostgreSQL) the tables live there (migrated by ``sigstack db upgrade``)
and the data dir holds only the keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import db
from sigstack.services.runtime.app import create_app
from sigstack.services.runtime.config import load_config
from sigstack.services.runtime.datadir import private_dir

from . import api, keys
from .issuer import Issuer, Settings
from .store import Store
from .store import keys as keys_table

log = logging.getLogger("sigstack.oidc")

# Read-only: shared by every thread; load() copies it into each configuration.
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "issuer_url": None,  # default: http://HOST:PORT of `sigstack serve oidc`
        "data_dir": None,
        "database_url": None,  # default: sqlite:///DATA_DIR/oidc.db
        "signing_alg": "RS256",  # or ES256; used for new keys (first key and rotations)
        "client_id": "sigstore",
        "token_lifetime": 600,
        "code_lifetime": 120,
        "device_code_lifetime": 300,
        "device_poll_interval": 5,
        "login_max_failures": 5,
        "login_ip_max_failures": 50,
        "login_window_seconds": 900,  # a series of failures is forgotten after this quiet time
        "login_backoff_seconds": 30,  # first wait after the free failures; doubles each time
        "login_lockout_seconds": 900,  # the longest wait
        "service_account_domain": "serviceaccounts.sigstack.internal",
        "service_account_audiences": ("sigstore",),
        "service_account_default_audience": "sigstore",
        "proxy_fix_x_for": 0,  # number of trusted reverse proxies setting X-Forwarded-For
        "max_body_bytes": 65536,
    }
)

ENV_PREFIX = "SIGSTACK_OIDC"


def load(
    overrides: Mapping[str, Any], file: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return load_config(
        DEFAULTS, file=file, env_prefix=ENV_PREFIX, overrides=overrides, environ=environ
    )


def database_url(config: Mapping[str, Any]) -> str:
    if config.get("database_url"):
        return str(config["database_url"])
    if not config.get("data_dir"):
        raise ConfigError("give --data-dir DIR (and optionally --database-url URL)")
    return db.sqlite_url(Path(config["data_dir"]) / "oidc.db")


def _key_files(data_dir: Path) -> list[Path]:
    keys_dir = data_dir / "keys"
    return sorted(keys_dir.glob("*.pem")) if keys_dir.is_dir() else []


def prepare(config: Mapping[str, Any]) -> Store:
    """Initialise a new data dir, or check an existing one; return a ``Store`` on it."""
    if not config.get("data_dir"):
        raise ConfigError("give --data-dir DIR: the issuer's signing keys live there")
    data_dir = Path(config["data_dir"])
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"data dir {data_dir} is not a directory")
    own_sqlite = not config.get("database_url")
    url = database_url(config)
    db_file = data_dir / "oidc.db"
    key_files = _key_files(data_dir)
    if own_sqlite:
        if db_file.exists() and not key_files:
            raise ConfigError(
                f"{db_file} exists but {data_dir / 'keys'} holds no signing key: "
                "restore the keys from backup; refusing to make new ones"
            )
        if key_files and not db_file.exists():
            raise ConfigError(
                f"{data_dir / 'keys'} holds signing keys but {db_file} is missing: "
                "restore the database from backup; refusing to start afresh"
            )
        if not db_file.exists():
            private_dir(data_dir)
            db.upgrade(url)
    private_dir(data_dir)
    engine = db.make_engine(url)
    db.require_current_schema(engine)
    store = Store(engine)
    rows = store.key_rows()
    if not rows:
        if key_files:
            raise ConfigError(
                f"the database has no signing keys but {data_dir / 'keys'} has some: "
                "refusing to mix a new issuer with old keys"
            )
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        kid = keys.create_key(store, data_dir, str(config.get("signing_alg") or "RS256"), "next")
        store.promote_key(kid)
        log.warning("initialised OIDC issuer data in %s with signing key %s", data_dir, kid)
    keys.KeyRing(store, data_dir).check()
    return store


def build_app(config: Mapping[str, Any], store: Store | None = None) -> Flask:
    """The issuer's WSGI app. ``config`` is the merged configuration (``load``)."""
    settings = Settings.from_config(config)
    if store is None:
        engine = db.make_engine(database_url(config))
        db.require_current_schema(engine)
        store = Store(engine)
    data_dir = Path(config["data_dir"]) if config.get("data_dir") else None
    keyring = keys.KeyRing(store, data_dir)
    keyring.check()
    issuer = Issuer(settings, store, keyring)

    def register(app: Flask) -> None:
        app.extensions["sigstack_oidc_server"] = api.register(app, issuer)
        app.extensions["sigstack_oidc"] = issuer

    def healthy() -> bool:
        try:
            with store.engine.connect() as conn:
                conn.execute(keys_table.select().limit(1))
        except Exception:  # noqa: BLE001 - any database failure means unhealthy
            return False
        return True

    app = create_app("oidc", config, register, error_body=api.oauth_error_body, health=healthy)
    hops = int(config.get("proxy_fix_x_for") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
    return app
