"""The OIDC issuer's data directory: initialised once, or checked, before the workers start.

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
from pathlib import Path

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import db
from sigstack.services.runtime.datadir import private_dir

from . import keys
from .config import OIDCConfig
from .store import Store

log = logging.getLogger("sigstack.oidc")


def database_url(config: OIDCConfig) -> str:
    if config.database_url:
        return config.database_url
    if not config.data_dir:
        raise ConfigError("give --data-dir DIR (and optionally --database-url URL)")
    return db.sqlite_url(Path(config.data_dir) / "oidc.db")


def _key_files(data_dir: Path) -> list[Path]:
    keys_dir = data_dir / "keys"
    return sorted(keys_dir.glob("*.pem")) if keys_dir.is_dir() else []


def prepare_data_dir(config: OIDCConfig) -> Store:
    """Initialise a new data dir, or check an existing one; return a ``Store`` on it."""
    if not config.data_dir:
        raise ConfigError("give --data-dir DIR: the issuer's signing keys live there")
    data_dir = Path(config.data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"data dir {data_dir} is not a directory")
    own_sqlite = not config.database_url
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
        kid = keys.create_key(store, data_dir, config.signing_alg or "RS256", "next")
        store.promote_key(kid)
        log.warning("initialised OIDC issuer data in %s with signing key %s", data_dir, kid)
    keys.KeyRing(store, data_dir).check()
    return store
