"""Data-directory rules shared by the services that keep a log or keys on disk.

``sigstack serve <service> --data-dir DIR``: a new or empty DIR is initialised (a key written with
mode 0600, the SQLite database created by Alembic); an existing DIR is reused; a DIR whose database
exists but whose key is missing, or the reverse, is refused with a message that says what to do.
With ``--key URI`` (a key kept elsewhere) the log is new when its SQLite file is, or, on PostgreSQL,
when the data dir holds no ``<service>.created`` marker. The check that the key matches the log
stored in the database is the log engine's (``open_log``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import create_file_key
from sigstack.services.runtime import db


@dataclass(frozen=True)
class DataDir:
    """A log's data directory, checked or initialised (``prepare_data_dir``)."""

    database_url: str
    key_uri: str
    created: bool  # the key was made now: the log may be created too


def _file_key_log_is_new(key_path: Path, db_path: Path, database_url: str | None) -> bool:
    """With the key in the data dir: new exactly when the key is absent (and, on SQLite, the
    database too; one without the other is refused)."""
    key_present = key_path.exists()
    if database_url is None:
        db_present = db_path.exists()
        if db_present and not key_present:
            raise ConfigError(
                f"{db_path} exists but its key {key_path} is missing: restore the key from backup "
                "(a log must never continue under a new key), or start with an empty directory"
            )
        if key_present and not db_present:
            raise ConfigError(
                f"{key_path} exists but the database {db_path} is missing: restore the database "
                "from backup, or start with an empty directory"
            )
    return not key_present


def _external_key_log_is_new(
    directory: Path, service: str, db_path: Path, database_url: str | None
) -> bool:
    """With the key elsewhere (``--key``: an HSM, an encrypted file): on SQLite the log is new when
    its database file is; on PostgreSQL when this data dir has never created it (the marker file
    ``<service>.created``), so a wiped database is refused instead of silently restarted."""
    if database_url is None:
        return not db_path.exists()
    return not (directory / f"{service}.created").exists()


def private_dir(path: str | Path) -> Path:
    """Make ``path`` (and missing parents) a directory only its owner can enter: created 0700, an
    existing looser one tightened to 0700. Every service's data directory goes through here."""
    directory = Path(path)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o077:
        directory.chmod(0o700)
    return directory


def key_and_chain(directory: Path, key_name: str, what: str) -> tuple[Path, Path]:
    """``directory``'s key file ``key_name`` and certificate chain ``chain.pem``; one without the
    other is refused, so a new ``what`` (a CA, a TSA chain) is never made over half of the old."""
    key, chain = directory / key_name, directory / "chain.pem"
    if key.exists() != chain.exists():
        missing = chain if key.exists() else key
        raise ConfigError(
            f"{directory} holds a key or a chain but not both ({missing.name} is missing); "
            f"refusing to make a new {what} over existing material"
        )
    return key, chain


def prepare_data_dir(
    data_dir: str | Path,
    service: str,
    *,
    database_url: str | None = None,
    key_uri: str | None = None,
    key_algorithm: str = "ecdsa-p256",
) -> DataDir:
    """Check ``data_dir`` or initialise it (see the module docstring); the database URL and key
    URI the log uses, and whether the log is new."""
    directory = private_dir(data_dir)
    key_path = directory / f"{service}-key.pem"
    db_path = directory / f"{service}.db"
    url = database_url or db.sqlite_url(db_path)
    if key_uri and key_uri.startswith("ephemeral:"):
        raise ConfigError(
            f"an ephemeral key would be lost at restart while the {service} log persists; "
            "use a file: or pkcs11: key"
        )
    if key_uri:
        created = _external_key_log_is_new(directory, service, db_path, database_url)
    else:
        created = _file_key_log_is_new(key_path, db_path, database_url)
        if created:
            create_file_key(key_path, key_algorithm)
        key_uri = f"file:{key_path.resolve()}"
    if created:
        db.upgrade(url)
        (directory / f"{service}.created").touch()
    else:
        engine = db.make_engine(url)
        try:
            db.require_current_schema(engine)
        finally:
            engine.dispose()  # nothing of the parent's may stay open into the server's workers
    return DataDir(url, key_uri, created)


def existing_log_dir(
    data_dir: str | Path,
    service: str,
    what: str,
    *,
    database_url: str | None = None,
    key_uri: str | None = None,
) -> DataDir:
    """The data directory of a log that must exist already (a maintenance command such as
    ``freeze``): one holding no key, with none given elsewhere, is refused instead of
    initialised; otherwise checked as ``prepare_data_dir`` does."""
    if not key_uri and not (Path(data_dir) / f"{service}-key.pem").exists():
        raise ConfigError(f"{data_dir} holds no {what} key ({service}-key.pem)")
    return prepare_data_dir(data_dir, service, database_url=database_url, key_uri=key_uri)
