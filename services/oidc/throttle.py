"""Sign-in throttling in the database: admit and count an attempt in one atomic step.

A ``Limit`` names a counter (``acct:<address> <name hash>`` or ``addr:<address>``, see login.py)
and its rule. ``take_attempt`` admits an attempt under several limits and counts it as a failure,
or refuses it without counting, in one transaction of conditional UPDATEs; ``forgive`` gives the
attempt back after a successful sign-in. Correct on SQLite and PostgreSQL with any number of
threads, workers and hosts. The rule itself (free failures, then a doubling wait up to a cap) is
written in SQL (``_count_failure``) so that it applies to the row the UPDATE has locked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from sigstack.services.runtime.db import metadata

# Sign-in failures per key (``acct:<address> <name hash>`` or ``addr:<address>``, see login.py):
# the failures of the current series, the time of the last one, and the earliest time the next
# attempt is accepted (``blocked_until - last_failure`` is the current wait).
throttle = sa.Table(
    "oidc_throttle",
    metadata,
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure", sa.BigInteger, nullable=False),
    sa.Column("blocked_until", sa.BigInteger, nullable=False, index=True),
)


@dataclass(frozen=True)
class Limit:
    """One sign-in throttle: ``free`` failures in a series are checked without waiting; from
    then on each failure makes the next attempt wait, ``first`` seconds after the ``free``-th
    failure and twice as long after each further one, at most ``cap``. A series is forgotten
    when ``window`` seconds have passed after its wait ended without another attempt."""

    key: str
    free: int
    first: int
    cap: int
    window: int


def _count_failure(limit: Limit, now: int) -> dict[str, Any]:
    """The SET clause that counts one failure for ``limit`` at ``now`` (see ``Limit``).

    Written in SQL so that it reads the row as the UPDATE locks it: every column on the right
    is the row's value before this statement, in SQLite and PostgreSQL alike."""
    t = throttle.c
    stale = t.blocked_until + limit.window <= now
    failures = sa.case((stale, 0), else_=t.failures) + 1
    previous = sa.case((stale, 0), else_=t.blocked_until - t.last_failure)
    first = min(limit.first, limit.cap)
    wait = sa.case(
        (failures < limit.free, 0),
        (previous * 2 <= first, first),
        (previous * 2 >= limit.cap, limit.cap),
        else_=previous * 2,
    )
    return {"failures": failures, "last_failure": now, "blocked_until": wait + now}


class ThrottleQueries:
    """The throttle's queries, as part of ``store.Store``."""

    engine: Engine
    now: Callable[[], int]  # Store's clock

    def take_attempt(self, limits: Sequence[Limit]) -> tuple[int, int]:
        """Admit one sign-in attempt under every limit and count it as a failure, or refuse it.

        Returns ``(0, failures)`` when admitted (``failures``: the first limit's count including
        this attempt) or ``(wait, 0)`` when a limit is still waiting, with the seconds left. The
        check and the count are one conditional UPDATE per limit, in one transaction that takes
        the limits in the given order; a refusal rolls the whole transaction back, so a refused
        attempt counts nowhere. On PostgreSQL the UPDATE waits for the row lock of a concurrent
        attempt and re-checks its condition on the row that attempt left; SQLite takes the write
        lock up front (``BEGIN IMMEDIATE``). So of a burst of simultaneous attempts, from any
        number of threads, workers or hosts, exactly as many are admitted as the limits allow.
        The caller checks the password only when admitted, and calls ``forgive`` on success."""
        now = self.now()
        self._forget_stale_throttles(now, max(limit.window for limit in limits))
        t = throttle.c
        with self._write() as conn, conn.begin() as trans:
            counts = []
            for limit in limits:
                for _ in range(3):  # the row may vanish to a concurrent clean-up; make it again
                    conn.execute(self._ensure_throttle_row(conn, limit.key))
                    counted = conn.execute(
                        sa.update(throttle)
                        .where(t.key == limit.key, t.blocked_until <= now)
                        .values(**_count_failure(limit, now))
                        .returning(t.failures)
                    ).first()
                    if counted is not None:
                        counts.append(int(counted[0]))
                        break
                    until = conn.execute(
                        sa.select(t.blocked_until).where(t.key == limit.key)
                    ).scalar()
                    if until is not None:
                        trans.rollback()
                        return max(1, int(until) - now), 0
                else:
                    raise RuntimeError(f"throttle row {limit.key!r} keeps disappearing")
        return 0, counts[0]

    def forgive(self, clear: str, refund: Limit) -> None:
        """After a successful sign-in: forget the failures of ``clear`` (the account at this
        address), and give back the attempt ``take_attempt`` counted against ``refund`` (the
        address), lifting its wait if that brings it under its limit."""
        t = throttle.c
        with self._write() as conn, conn.begin():
            conn.execute(sa.delete(throttle).where(t.key == clear))
            conn.execute(
                sa.update(throttle)
                .where(t.key == refund.key, t.failures > 0)
                .values(
                    failures=t.failures - 1,
                    blocked_until=sa.case(
                        (t.failures - 1 < refund.free, t.last_failure), else_=t.blocked_until
                    ),
                )
            )

    def refund(self, limits: Sequence[Limit]) -> None:
        """Give back an attempt ``take_attempt`` counted under ``limits`` that checked nothing
        (the directory could not be reached), lifting a wait that brings a limit under its
        free failures, as ``forgive`` does for the address."""
        t = throttle.c
        with self._write() as conn, conn.begin():
            for limit in limits:
                conn.execute(
                    sa.update(throttle)
                    .where(t.key == limit.key, t.failures > 0)
                    .values(
                        failures=t.failures - 1,
                        blocked_until=sa.case(
                            (t.failures - 1 < limit.free, t.last_failure), else_=t.blocked_until
                        ),
                    )
                )

    def throttle_rows(self) -> list[Mapping[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(throttle).order_by(throttle.c.key)).mappings().all()
        return [dict(r) for r in rows]

    def _write(self) -> Any:
        """A connection whose transactions take SQLite's write lock at BEGIN."""
        return self.engine.connect().execution_options(immediate=True)

    @staticmethod
    def _ensure_throttle_row(conn: sa.Connection, key: str) -> sa.Insert:
        values = {"key": key, "failures": 0, "last_failure": 0, "blocked_until": 0}
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects import postgresql

            pg = postgresql.insert(throttle).values(**values)
            return pg.on_conflict_do_nothing(index_elements=["key"])
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(throttle).values(**values)
        return lite.on_conflict_do_nothing(index_elements=["key"])

    def _forget_stale_throttles(self, now: int, window: int) -> None:
        """Delete series that have been quiet for ``window`` seconds after their wait ended.
        Rows locked by an attempt in progress are skipped (PostgreSQL ``SKIP LOCKED``), so the
        clean-up never waits for, or deadlocks with, a sign-in."""
        t = throttle.c
        stale = (
            sa.select(t.key)
            .where(t.blocked_until < now - window)
            .limit(500)
            .with_for_update(skip_locked=True)
        )
        with self._write() as conn, conn.begin():
            conn.execute(sa.delete(throttle).where(t.key.in_(stale)))
