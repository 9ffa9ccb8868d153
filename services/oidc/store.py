"""The OIDC issuer's tables (SQLAlchemy Core, prefix ``oidc_``) and the queries on them.

Everything that must be shared by several gunicorn workers, several hosts or the admin CLI lives
here: signing-key metadata (the private keys themselves stay behind ``services.keys`` URIs), users,
service accounts, pending authorization codes and device requests, login throttling counters and
the audit log. Codes are stored as SHA-256 hashes so a database dump cannot be replayed. Times are
integer Unix seconds. The schema is created by Alembic revision ``0002_oidc`` only.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from services.runtime.db import metadata

keys = sa.Table(
    "oidc_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("key_uri", sa.Text, nullable=False),
    # next: published, not yet used; active: signs new tokens; retired: verifies old tokens only
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("retired_at", sa.BigInteger, nullable=True),
    # latest ``exp`` of any token signed with this key: the key stays in the JWKS until then
    sa.Column("last_exp", sa.BigInteger, nullable=True),
)

users = sa.Table(
    "oidc_users",
    metadata,
    sa.Column("sub", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(128), nullable=False, unique=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

service_accounts = sa.Table(
    "oidc_service_accounts",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("sub", sa.String(64), nullable=False, unique=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

auth_codes = sa.Table(
    "oidc_auth_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("sub", sa.String(64), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("nonce", sa.Text, nullable=True),
    sa.Column("code_challenge", sa.String(128), nullable=False),
    sa.Column("code_challenge_method", sa.String(16), nullable=False),
    sa.Column("auth_time", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)

device_codes = sa.Table(
    "oidc_device_codes",
    metadata,
    sa.Column("device_code_hash", sa.String(64), primary_key=True),
    sa.Column("user_code", sa.String(16), nullable=False, unique=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("code_challenge", sa.String(128), nullable=True),
    sa.Column("code_challenge_method", sa.String(16), nullable=True),
    # pending → approved | denied; the row is deleted once tokens are issued
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("sub", sa.String(64), nullable=True),
    sa.Column("interval", sa.Integer, nullable=False),
    sa.Column("last_poll", sa.BigInteger, nullable=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)

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

audit = sa.Table(
    "oidc_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False, index=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("username", sa.String(128), nullable=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("ip", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),
)


def code_hash(code: str) -> str:
    """Codes are stored hashed: a leaked database row cannot be exchanged for a token."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


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


@dataclass(frozen=True)
class Identity:
    """Who a token is about: a person (``kind='user'``) or a service account."""

    sub: str
    email: str
    kind: str
    name: str


class Store:
    """Queries over the ``oidc_`` tables. Every method is one short transaction."""

    def __init__(self, engine: Engine, clock: Any = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def now(self) -> int:
        return int(self.clock())

    # -- keys ----------------------------------------------------------------------------------
    def key_rows(self) -> list[Mapping[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(keys).order_by(keys.c.created_at)).mappings().all()
        return [dict(r) for r in rows]

    def add_key(self, kid: str, alg: str, key_uri: str, state: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(keys).values(
                    kid=kid, alg=alg, key_uri=key_uri, state=state, created_at=self.now()
                )
            )

    def promote_key(self, kid: str) -> None:
        """Make ``kid`` the active key and retire the previous active key (one transaction)."""
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(keys)
                .where(keys.c.state == "active")
                .values(state="retired", retired_at=now)
            )
            conn.execute(sa.update(keys).where(keys.c.kid == kid).values(state="active"))

    def note_key_use(self, kid: str, exp: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(keys)
                .where(keys.c.kid == kid, sa.or_(keys.c.last_exp.is_(None), keys.c.last_exp < exp))
                .values(last_exp=exp)
            )

    # -- users and service accounts ------------------------------------------------------------
    def add_user(self, sub: str, username: str, email: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(users).values(
                    sub=sub,
                    username=username,
                    email=email,
                    password_hash=password_hash,
                    disabled=False,
                    created_at=self.now(),
                )
            )

    def user_by_name(self, username: str) -> Mapping[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(users).where(users.c.username == username))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def identity(self, sub: str) -> Identity | None:
        """Look a subject up among users, then service accounts; disabled ones are not found."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.sub == sub)).mappings().first()
            if row and not row["disabled"]:
                return Identity(row["sub"], row["email"], "user", row["username"])
            row = (
                conn.execute(sa.select(service_accounts).where(service_accounts.c.sub == sub))
                .mappings()
                .first()
            )
            if row and not row["disabled"]:
                return Identity(row["sub"], row["email"], "service", row["name"])
        return None

    def add_service_account(
        self, client_id: str, name: str, sub: str, email: str, secret_hash: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(service_accounts).values(
                    client_id=client_id,
                    name=name,
                    sub=sub,
                    email=email,
                    secret_hash=secret_hash,
                    disabled=False,
                    created_at=self.now(),
                )
            )

    def service_account(self, client_id: str) -> Mapping[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(service_accounts).where(service_accounts.c.client_id == client_id)
                )
                .mappings()
                .first()
            )
        return dict(row) if row and not row["disabled"] else None

    def service_account_by_name(self, name: str) -> Mapping[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(service_accounts).where(service_accounts.c.name == name))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    # -- authorization codes -------------------------------------------------------------------
    def save_code(self, code: str, **values: Any) -> None:
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(auth_codes).where(auth_codes.c.expires_at < now))
            conn.execute(sa.insert(auth_codes).values(code_hash=code_hash(code), **values))

    def find_code(self, code: str) -> Mapping[str, Any] | None:
        """The unexpired code row, or None (unknown, already used, or expired)."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(auth_codes).where(auth_codes.c.code_hash == code_hash(code)))
                .mappings()
                .first()
            )
        if row is None or row["expires_at"] <= self.now():
            return None
        return dict(row)

    def take_code(self, code: str) -> bool:
        """Delete the code; True only for the one caller that actually deleted it (single use)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(auth_codes).where(auth_codes.c.code_hash == code_hash(code))
            )
        return result.rowcount == 1

    # -- device requests -----------------------------------------------------------------------
    def save_device(self, device_code: str, **values: Any) -> None:
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(device_codes).where(device_codes.c.expires_at < now - 3600))
            conn.execute(
                sa.insert(device_codes).values(
                    device_code_hash=code_hash(device_code), status="pending", **values
                )
            )

    def device_by_code(self, device_code: str) -> Mapping[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(device_codes).where(
                        device_codes.c.device_code_hash == code_hash(device_code)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def device_by_user_code(self, user_code: str) -> Mapping[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(device_codes).where(device_codes.c.user_code == user_code))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def decide_device(self, user_code: str, sub: str | None, approved: bool) -> bool:
        """Record the user's decision on a pending, unexpired request; False if there is none."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(device_codes)
                .where(
                    device_codes.c.user_code == user_code,
                    device_codes.c.status == "pending",
                    device_codes.c.expires_at > self.now(),
                )
                .values(status="approved" if approved else "denied", sub=sub)
            )
        return result.rowcount == 1

    def record_poll(self, device_code: str, now: int) -> bool:
        """Record a poll of a pending request. True when it came at least ``interval`` seconds
        after the previous one; otherwise the interval grows by 5 s (RFC 8628 §3.5) and False.

        The on-time test and the write are one conditional UPDATE, so of simultaneous polls
        (several threads or workers) exactly one is on time."""
        dc = device_codes.c
        row = dc.device_code_hash == code_hash(device_code)
        with self.engine.begin() as conn:
            on_time = conn.execute(
                sa.update(device_codes)
                .where(row, sa.or_(dc.last_poll.is_(None), dc.last_poll + dc.interval <= now))
                .values(last_poll=now)
            )
            if on_time.rowcount == 1:
                return True
            conn.execute(
                sa.update(device_codes).where(row).values(interval=dc.interval + 5, last_poll=now)
            )
        return False

    def take_device(self, device_code: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(device_codes).where(
                    device_codes.c.device_code_hash == code_hash(device_code),
                    device_codes.c.status == "approved",
                )
            )
        return result.rowcount == 1

    # -- throttling ----------------------------------------------------------------------------
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

    def throttle_rows(self) -> list[Mapping[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(throttle).order_by(throttle.c.key)).mappings().all()
        return [dict(r) for r in rows]

    def _write(self) -> Any:
        """A connection whose transactions take SQLite's write lock at BEGIN."""
        return self.engine.connect().execution_options(immediate=True)

    @staticmethod
    def _ensure_throttle_row(conn: Any, key: str) -> Any:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        values = {"key": key, "failures": 0, "last_failure": 0, "blocked_until": 0}
        return insert(throttle).values(**values).on_conflict_do_nothing(index_elements=["key"])

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

    # -- audit ---------------------------------------------------------------------------------
    def audit(
        self,
        event: str,
        outcome: str,
        *,
        username: str | None = None,
        client_id: str | None = None,
        ip: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(audit).values(
                    at=self.now(),
                    event=event,
                    outcome=outcome,
                    username=username,
                    client_id=client_id,
                    ip=ip,
                    detail=json.dumps(dict(detail), sort_keys=True) if detail else None,
                )
            )

    def audit_rows(self) -> list[Mapping[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit).order_by(audit.c.id)).mappings().all()
        return [dict(r) for r in rows]
