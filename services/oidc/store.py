"""The OIDC issuer's tables (SQLAlchemy Core, prefix ``oidc_``) and the queries on them.

Everything that must be shared by several gunicorn workers, several hosts or the admin CLI lives
here: signing-key metadata (the private keys themselves stay behind ``services.keys`` URIs), users,
service accounts, pending authorization codes and device requests, login throttling counters and
the audit log (the login throttle's table and queries are in ``throttle.py``). Codes are stored as SHA-256 hashes so a database dump cannot be replayed. Times are
integer Unix seconds. The schema is created by Alembic revision ``0002_oidc`` only.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from sigstack.services.runtime.db import metadata, row_where

from .federation import FederationQueries, connector_identities
from .throttle import Limit, ThrottleQueries, throttle

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
class Identity:
    """Who a token is about: a person (``kind='user'``) or a service account. A person who signed
    in through a connector has its id, the upstream's subject and the groups (federation.py)."""

    sub: str
    email: str
    kind: str
    name: str
    connector: str | None = None
    upstream_sub: str | None = None
    groups: tuple[str, ...] = ()


class Store(ThrottleQueries, FederationQueries):
    """Queries over the ``oidc_`` tables. Every method is one short transaction (the sign-in
    throttle's are in ``throttle.py``, the connectors' in ``federation.py``)."""

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
        return row_where(self.engine, users, users.c.username == username)

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
            ci = connector_identities.c
            row = (
                conn.execute(sa.select(connector_identities).where(ci.sub == sub))
                .mappings()
                .first()
            )
            if row:
                return Identity(row["sub"], row["email"], "user", f"{row['connector_id']}:{row['name']}",
                                connector=row["connector_id"], upstream_sub=row["upstream_sub"],
                                groups=tuple(json.loads(row["groups"])))  # fmt: skip
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
        row = row_where(self.engine, service_accounts, service_accounts.c.client_id == client_id)
        return row if row and not row["disabled"] else None

    def service_account_by_name(self, name: str) -> Mapping[str, Any] | None:
        return row_where(self.engine, service_accounts, service_accounts.c.name == name)

    # -- authorization codes -------------------------------------------------------------------
    def save_code(self, code: str, **values: Any) -> None:
        now = self.now()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(auth_codes).where(auth_codes.c.expires_at < now))
            conn.execute(sa.insert(auth_codes).values(code_hash=code_hash(code), **values))

    def find_code(self, code: str) -> Mapping[str, Any] | None:
        """The unexpired code row, or None (unknown, already used, or expired)."""
        row = row_where(self.engine, auth_codes, auth_codes.c.code_hash == code_hash(code))
        if row is None or row["expires_at"] <= self.now():
            return None
        return row

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
        hashed = code_hash(device_code)
        return row_where(self.engine, device_codes, device_codes.c.device_code_hash == hashed)

    def device_by_user_code(self, user_code: str) -> Mapping[str, Any] | None:
        return row_where(self.engine, device_codes, device_codes.c.user_code == user_code)

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


__all__ = ["Identity", "Limit", "Store", "connector_identities", "throttle"]
