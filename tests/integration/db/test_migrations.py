"""Alembic is the only schema author: ``upgrade head`` then the schema equals the code's tables
(the equivalent of ``alembic check``), on SQLite and PostgreSQL; services refuse a schema behind."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import db
from sigstack.services.runtime.tables import load_all_tables
from tests.support.dbs import fresh_postgres


def _diff(url: str) -> list:
    load_all_tables()
    engine = db.make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    engine.dispose()
    return diff


def _check(url: str) -> None:
    engine = db.make_engine(url)
    with pytest.raises(ConfigError, match="sigstack db upgrade"):
        db.require_current_schema(engine)
    db.upgrade(url)
    db.require_current_schema(engine)
    assert _diff(url) == []
    engine.dispose()


def test_sqlite_migrations_match_tables(tmp_path) -> None:
    _check(db.sqlite_url(tmp_path / "m.db"))


@pytest.mark.postgres
def test_postgres_migrations_match_tables() -> None:
    with fresh_postgres() as url:
        _check(url)
