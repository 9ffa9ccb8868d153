"""People who sign in through connectors, and upstream sign-ins in progress (issue 16; tables of
Alembic revision ``0005_oidc_connectors``).

``oidc_connector_identities``: one row per (connector, upstream subject), holding the ``sub`` the
issuer gave that person at the first sign-in (``c-`` and 16 random hex digits, immutable, never
reused) and what the upstream said at the latest sign-in: email, name and groups. Tokens are
minted from this row (``Store.identity``), so codes and device approvals need to keep only the
``sub``, as for local accounts.

``oidc_upstream_logins``: a redirect sign-in between ``/auth`` (or ``/device``) and the callback,
keyed by a hash of its ``state``: the browser binding (a hash of a cookie's value), the nonce and
PKCE verifier for the upstream, and what to continue with afterwards (the original authorization
request's query, or a device user code). It moves ``pending`` → ``used`` (the callback took it:
a state works once) → ``done`` (the upstream identity checked, with a fresh one-time ``finish``
token for the last step) and is deleted when that step takes it. Every transition is one
conditional statement, so two requests with the same state or finish token never both win.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from sigstack.services.runtime.db import metadata, row_where

from .connectors.base import Upstream

connector_identities = sa.Table(
    "oidc_connector_identities",
    metadata,
    sa.Column("sub", sa.String(64), primary_key=True),
    sa.Column("connector_id", sa.String(64), nullable=False),
    sa.Column("upstream_sub", sa.String(255), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("groups", sa.Text, nullable=False),  # JSON list of strings
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_login", sa.BigInteger, nullable=False),
    sa.UniqueConstraint(
        "connector_id", "upstream_sub", name="uq_oidc_connector_identities_upstream"
    ),
)

upstream_logins = sa.Table(
    "oidc_upstream_logins",
    metadata,
    sa.Column("state_hash", sa.String(64), primary_key=True),
    sa.Column("browser_hash", sa.String(64), nullable=False),
    sa.Column("connector_id", sa.String(64), nullable=False),
    sa.Column("nonce", sa.String(128), nullable=False),
    sa.Column("code_verifier", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),  # auth | device
    sa.Column("request", sa.Text, nullable=False),  # the /auth query, or the device user code
    sa.Column("status", sa.String(16), nullable=False),  # pending | used | done
    sa.Column("sub", sa.String(64), nullable=True),
    sa.Column("finish_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)


def _hash(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


class FederationQueries:
    """The queries on both tables, as part of ``store.Store``."""

    engine: Engine
    now: Callable[[], int]

    # -- identities ----------------------------------------------------------------------------
    def connector_identity(self, upstream: Upstream) -> str:
        """The ``sub`` of ``upstream``'s person, made at the first sign-in; their email, name and
        groups are updated to what the upstream said this time."""
        ci = connector_identities.c
        now = self.now()
        values = {"email": upstream.email, "name": upstream.name[:256],
                  "groups": json.dumps(list(upstream.groups)), "last_login": now}  # fmt: skip
        where = sa.and_(ci.connector_id == upstream.connector, ci.upstream_sub == upstream.subject)
        for _ in range(3):
            with self.engine.begin() as conn:
                sub = conn.execute(sa.select(ci.sub).where(where)).scalar()
                if sub is not None:
                    conn.execute(
                        sa.update(connector_identities).where(ci.sub == sub).values(**values)
                    )
                    return str(sub)
            new = "c-" + secrets.token_hex(8)
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(connector_identities).values(
                        sub=new, connector_id=upstream.connector, upstream_sub=upstream.subject,
                        created_at=now, **values))  # fmt: skip
                return new
            except IntegrityError:  # a concurrent first sign-in of the same person won
                continue
        raise RuntimeError("cannot record a connector identity")

    def connector_identity_row(self, sub: str) -> Mapping[str, Any] | None:
        return row_where(self.engine, connector_identities, connector_identities.c.sub == sub)

    # -- upstream sign-ins in progress ---------------------------------------------------------
    def save_upstream_login(self, state: str, browser: str, **values: Any) -> None:
        now = self.now()
        ul = upstream_logins.c
        with self.engine.begin() as conn:
            conn.execute(sa.delete(upstream_logins).where(ul.expires_at < now))
            conn.execute(sa.insert(upstream_logins).values(
                state_hash=_hash(state), browser_hash=_hash(browser), status="pending", **values))  # fmt: skip

    def take_upstream_login(self, state: str) -> Mapping[str, Any] | None:
        """The pending sign-in of ``state``, marked used (a state works once), or None."""
        ul = upstream_logins.c
        row = ul.state_hash == _hash(state)
        with self.engine.begin() as conn:
            taken = conn.execute(
                sa.update(upstream_logins)
                .where(row, ul.status == "pending", ul.expires_at > self.now())
                .values(status="used")
            )
            if taken.rowcount != 1:
                return None
            found = conn.execute(sa.select(upstream_logins).where(row)).mappings().first()
        return dict(found) if found else None

    def finish_upstream_login(self, state: str, sub: str, finish: str, lifetime: int) -> None:
        """Record the checked identity; the browser then has ``lifetime`` seconds to present
        ``finish`` for the last step."""
        ul = upstream_logins.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(upstream_logins)
                .where(ul.state_hash == _hash(state), ul.status == "used")
                .values(
                    status="done",
                    sub=sub,
                    finish_hash=_hash(finish),
                    expires_at=self.now() + lifetime,
                )  # fmt: skip
            )

    def finished_upstream_login(
        self, finish: str, browser: str, *, take: bool
    ) -> Mapping[str, Any] | None:
        """The done sign-in of ``finish`` if ``browser`` started it and it has not expired; with
        ``take`` it is deleted too (only one caller gets it)."""
        ul = upstream_logins.c
        where = sa.and_(ul.finish_hash == _hash(finish), ul.status == "done",
                        ul.browser_hash == _hash(browser), ul.expires_at > self.now())  # fmt: skip
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(upstream_logins).where(where)).mappings().first()
            if found is None:
                return None
            if take and conn.execute(sa.delete(upstream_logins).where(where)).rowcount != 1:
                return None
        return dict(found)
