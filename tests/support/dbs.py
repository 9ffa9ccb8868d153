"""Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per test.

PostgreSQL tests read ``SIGSTACK_TEST_POSTGRES_URL`` (a server URL whose user may CREATE DATABASE).
When the variable is set (CI sets it), a PostgreSQL test that cannot reach the server FAILS; when it
is unset, such tests try 127.0.0.1:5432 and skip only if nothing answers there.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sigstack.services.runtime import db

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_server_url() -> str:
    url = os.environ.get("SIGSTACK_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        engine = create_engine(db.normalize_url(DEFAULT_PG))
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        pytest.skip(
            "PostgreSQL is not reachable on 127.0.0.1:5432 and SIGSTACK_TEST_POSTGRES_URL is unset"
        )
    return DEFAULT_PG


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards."""
    server = postgres_server_url()
    name = "sigstack_test_" + secrets.token_hex(6)
    admin = create_engine(db.normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def upgraded_database(kind: str, sqlite_file: Path) -> Iterator[str]:
    """The URL of a database at Alembic's head: ``kind`` ``"sqlite"`` (the file ``sqlite_file``)
    or anything else for a fresh PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        url = db.sqlite_url(sqlite_file)
        db.upgrade(url)
        yield url
        return
    with fresh_postgres() as url:
        db.upgrade(url)
        yield url
