"""Database glue: engines for SQLite (WAL) and PostgreSQL, the shared MetaData, Alembic upgrade/check.

Tables are declared with SQLAlchemy Core on ``metadata`` by each service's ``store.py`` (names are
prefixed per service). The schema is only ever created by Alembic (``migrations/``); a service refuses
to start on a database whose schema is behind.
"""

from __future__ import annotations

import os
import sqlite3
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.exc import DBAPIError

from sigstack.protocol.errors import ConfigError

metadata = MetaData()

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()  # every engine made here, for dispose_all


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and route them to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine. SQLite gets WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for writers.

    A connection whose execution options contain ``immediate=True`` starts its transaction with
    ``BEGIN IMMEDIATE`` on SQLite (it takes the write lock up front); PostgreSQL writers lock rows
    explicitly instead.
    """
    engine = _make_engine(normalize_url(url), **kwargs)
    _ENGINES.add(engine)
    return engine


def dispose_all() -> None:
    """Close every pooled connection of every engine this process made (before a fork: see
    ``runtime.server``)."""
    for engine in list(_ENGINES):
        engine.dispose()


def _private_sqlite_file(url: str) -> None:
    """Create the database file 0600 before SQLite does (SQLite gives its WAL and shared-memory
    files the database file's mode), or tighten an existing database and its files to 0600."""
    path = url.split("///", 1)[1] if "///" in url else ""
    if not path or path.startswith(":memory:") or "?" in path:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for name in (path, f"{path}-wal", f"{path}-shm", f"{path}-journal"):
            try:
                if os.stat(name).st_mode & 0o077:
                    os.chmod(name, 0o600)
            except FileNotFoundError:
                continue


def _make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 24)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_size", 8)
    kwargs.setdefault("max_overflow", 16)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on the database at ``url``."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)


def schema_state(engine: Engine) -> tuple[set[str], set[str]]:
    """Return (current revisions in the database, head revisions of the code)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(_alembic_config(str(engine.url))).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current, heads


def require_current_schema(engine: Engine) -> None:
    """Refuse a database whose schema is not at the code's head revision."""
    current, heads = schema_state(engine)
    if current != heads:
        raise ConfigError(
            f"database schema is at {sorted(current) or 'nothing'}, the code needs {sorted(heads)}: "
            "run `sigstack db upgrade --database-url URL` first"
        )


_PG_ARRAY_TYPES = {
    "BIGINT": "bigint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BYTEA": "bytea",
    "TEXT": "text",
}


def row_where(engine: Engine, table: Table, where: ColumnElement[bool]) -> dict[str, Any] | None:
    """The first row of ``table`` where ``where`` holds, as a dict (column name: value), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(table).where(where)).mappings().first()
    return dict(row) if row else None


def sqlite_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run ``sql`` (``?`` parameters) on ``conn``'s own sqlite3 connection, inside the transaction
    ``conn`` began, and return its rows (tuples). For a log batch's statements: SQLAlchemy's
    execution layer (events, context and result set-up) cost more CPU than SQLite's own work for
    them, in the thread that shares the GIL with the event loop. A sqlite3 error is raised as
    SQLAlchemy's (``DBAPIError``), as through ``exec_driver_sql``."""
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        return raw.execute(sql, params).fetchall()  # type: ignore[no-any-return]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


_SQLITE_VARIABLES = 999  # parameters per statement: SQLite's limit before 3.32, safe on any build


def bulk_insert(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    conflict: tuple[str, ...] = (),
) -> None:
    """Insert many rows in one round trip; with ``conflict`` (the key columns), replace the other
    columns of rows that exist already (an upsert).

    PostgreSQL: ``COPY`` for plain inserts (adapting large ``bytea`` values as array parameters
    costs several times more than COPY's framing), one ``INSERT ... SELECT * FROM unnest(...)``
    statement for upserts; never a multi-row VALUES statement (costly to compile in SQLAlchemy) or
    executemany (a round trip per row). SQLite: one multi-row ``VALUES`` statement per
    ``_SQLITE_VARIABLES`` parameters, written as driver SQL (nothing for SQLAlchemy to compile).
    Not executemany: Python's sqlite3 releases and retakes the GIL around every row's step, and
    in a busy server each retake waits for the other threads (the event loop) to let go of it, so
    a batch of rows took milliseconds of waiting (docs/adr/0010-inline-log-writes.md).
    """
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(columns)
    upsert = ""
    if conflict:
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in conflict)
        upsert = f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {updates}"
    if conn.dialect.name != "postgresql":
        row_marks = f"({', '.join('?' * len(columns))})"
        per_statement = max(1, _SQLITE_VARIABLES // len(columns))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            marks = ", ".join([row_marks] * len(chunk))
            sqlite_rows(
                conn,
                f"INSERT INTO {table.name} ({names}) VALUES {marks}{upsert}",  # noqa: S608 (our schema)
                tuple(r[c] for r in chunk for c in columns),
            )
        return
    if not conflict:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[c] for c in columns))
        return
    casts = []
    for name in columns:
        sql_type = table.c[name].type.compile(dialect=conn.dialect).split("(")[0].upper()
        casts.append(f"%({name})s::{_PG_ARRAY_TYPES.get(sql_type, sql_type.lower())}[]")
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({', '.join(casts)}){upsert}",  # noqa: S608
        {name: [r[name] for r in rows] for name in columns},
    )
