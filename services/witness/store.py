"""The witness's state: per log origin, the last checkpoint it cosigned (table ``witness_checkpoints``,
Alembic revision ``0004_witness``).

The tlog-witness rule is compare-and-swap: a checkpoint is cosigned only if the request's ``old``
equals the stored size, and the stored checkpoint is replaced only if it is still the one the
decision was made on. ``swap`` is that second step as one conditional statement, committed before
it returns (so before the 200 goes out):

- the first checkpoint of an origin: ``INSERT ... ON CONFLICT (origin) DO NOTHING``;
- later ones: ``UPDATE ... WHERE origin = :o AND size = :old_size AND root_hash = :old_root``.

Either changes one row or none (``RETURNING origin`` says which). On PostgreSQL a concurrent UPDATE of the row waits for the first
to commit and then re-checks its WHERE against the new row (so it matches nothing); on SQLite
writers are serialised by the database lock. Several workers and several hosts on one database
therefore agree without any lock held across the request. A swap that changes nothing means
another request won: the caller reads the state again and decides anew (``cosigner``).

Sizes are kept as signed 64-bit integers (PostgreSQL has no unsigned type): a checkpoint of
2^63 leaves or more is refused before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Engine, LargeBinary, String, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite

from sigstack.services.runtime.db import metadata

MAX_STORED_SIZE = (1 << 63) - 1

checkpoints = Table(
    "witness_checkpoints",
    metadata,
    Column("origin", String(512), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary, nullable=False),
    # the checkpoint as cosigned: body, the log's verified signature lines, this witness's line
    Column("note", Text, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False),  # the cosignature's timestamp (seconds)
)


@dataclass(frozen=True)
class State:
    size: int
    root_hash: bytes
    note: str
    cosigned_at: int


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, origin: str) -> State | None:
        c = checkpoints.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(c.size, c.root_hash, c.note, c.cosigned_at).where(c.origin == origin)
            ).one_or_none()
        if row is None:
            return None
        return State(int(row.size), bytes(row.root_hash), str(row.note), int(row.cosigned_at))

    def swap(self, origin: str, expected: State | None, new: State) -> bool:
        """Replace ``expected`` (None: no row yet) by ``new``; False when the row is no longer
        ``expected`` (another request changed it first). Committed when True is returned."""
        c = checkpoints.c
        values = {"size": new.size, "root_hash": new.root_hash, "note": new.note,
                  "cosigned_at": new.cosigned_at}  # fmt: skip
        with self.engine.connect().execution_options(immediate=True) as conn:
            with conn.begin():
                if expected is None:
                    insert = (
                        postgresql.insert(checkpoints)
                        if conn.dialect.name == "postgresql"
                        else sqlite.insert(checkpoints)
                    )
                    statement: Any = insert.values(origin=origin, **values).on_conflict_do_nothing(
                        index_elements=[c.origin]
                    )
                else:
                    statement = (
                        checkpoints.update()
                        .where(
                            c.origin == origin,
                            c.size == expected.size,
                            c.root_hash == expected.root_hash,
                        )
                        .values(**values)
                    )
                # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT
                return len(conn.execute(statement.returning(c.origin)).all()) == 1

    def origins(self) -> list[tuple[str, int]]:
        """(origin, size) of every log this witness has cosigned."""
        c = checkpoints.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.origin, c.size).order_by(c.origin)).all()
        return [(str(r.origin), int(r.size)) for r in rows]
