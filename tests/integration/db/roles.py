"""Login roles for the grant tests: cluster-wide in PostgreSQL, so each test makes its own names and
drops the roles afterwards; and a clean environment for ``sigstack`` child processes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import create_engine, text

from sigstack.services.runtime import db
from tests.support.dbs import postgres_server_url

SERVICES = ("oidc", "ctlog", "rekor")


@dataclass(frozen=True)
class Role:
    service: str
    name: str
    password: str

    def url(self, database_url: str) -> str:
        """``database_url`` with this role's name and password."""
        parts = urlsplit(database_url)
        netloc = f"{self.name}:{self.password}@{parts.hostname}:{parts.port or 5432}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def variable(self) -> str:
        return f"SIGSTACK_{self.service.upper()}_DATABASE_URL"


@contextmanager
def service_roles() -> Iterator[dict[str, Role]]:
    """A fresh role name and password per service; the roles are dropped on exit (enter this
    before ``fresh_postgres`` so that the database, which holds their grants, goes first)."""
    tag = secrets.token_hex(4)
    roles = {s: Role(s, f"sigstack_t{tag}_{s}", secrets.token_hex(12)) for s in SERVICES}
    try:
        yield roles
    finally:
        drop_roles([r.name for r in roles.values()])


def drop_roles(names: list[str]) -> None:
    admin = create_engine(db.normalize_url(postgres_server_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    admin.dispose()


def clean_environment(**extra: str) -> dict[str, str]:
    """Our environment without any database URL a developer may have exported, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if "DATABASE_URL" not in k}
    return {**env, **extra}


def scram_verifies(verifier: str, password: str) -> bool:
    """Whether a PostgreSQL SCRAM-SHA-256 verifier (``pg_authid.rolpassword``) is ``password``'s
    (RFC 5802 section 3: StoredKey = H(HMAC(SaltedPassword, "Client Key")))."""
    method, rest = verifier.split("$", 1)
    if method != "SCRAM-SHA-256":
        return False
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored, _server = keys.split(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), base64.b64decode(stored))


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def environment_of(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0") if item)
    return dict(p for p in pairs if len(p) == 2)
