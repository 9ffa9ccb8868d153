"""One PostgreSQL login role per service, holding only what that service's queries use.

Each service that keeps tables (oidc, ctlog, rekor, rekor2, witness) connects with its own role. ``grant`` makes
that role's privileges exactly ``PRIVILEGES[service]`` (plus SELECT on ``alembic_version``, which
every service reads at start to check the schema revision, and USAGE on the sequences behind the
tables it inserts into). It runs as the owner of the tables, the role that ``sigstack db upgrade``
uses, after every upgrade: a migration that creates or recreates a table leaves the new table
without grants, and the next ``grant`` gives them back. ``sigstack db grant`` and
``sigstack db upgrade --grant SERVICE`` (services/cli.py) are the ways in.

The role is created when it does not exist and a password is known (the one in the service's own
database URL); the password is sent as a SCRAM verifier computed here by libpq, never in clear,
so it does not reach the server's statement log. A role that can do more than a plain login role
(superuser, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS, member of another role) is refused,
as is the owner itself. After granting, the role's effective privileges on every table and
sequence of the schema, PUBLIC's grants included, are read back and compared with the rules;
any difference rolls everything back and is reported.

Left to others: ctlog, rekor and rekor2 share the ``tlog_`` tables (rows keyed by ``tree_id``), and
rekor and rekor2 the ``rekor_index`` table, so each of these roles can write the others' rows. Row-level security could separate them, but PostgreSQL
refuses ``COPY FROM`` (the log engine's batch insert) on tables with row-level security.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime import db

SELECT, INSERT, UPDATE, DELETE = "SELECT", "INSERT", "UPDATE", "DELETE"


def _rules(table_privileges: dict[str, tuple[str, ...]]) -> Mapping[str, frozenset[str]]:
    return MappingProxyType({t: frozenset(p) for t, p in table_privileges.items()})


# The log engine (services/tlog): reads; the batch INSERTs entries (COPY), upserts tiles
# (INSERT ... ON CONFLICT DO UPDATE) and locks then UPDATEs its tree row (SELECT ... FOR UPDATE
# needs UPDATE too). Nothing is ever deleted from a log.
_TLOG = {
    "tlog_trees": (SELECT, INSERT, UPDATE),
    "tlog_entries": (SELECT, INSERT),
    "tlog_tiles": (SELECT, INSERT, UPDATE),
}

# What each service's queries use, table by table (services/*/store.py, services/tlog/*.py,
# services/rekor/log.py). Every table of the schema must appear under some service: the test
# tests/integration/db/test_grants.py compares these keys with the tables the code declares.
PRIVILEGES: Mapping[str, Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "oidc": _rules(
            {
                "oidc_keys": (SELECT, INSERT, UPDATE),  # add, promote/retire, note_key_use
                "oidc_users": (SELECT, INSERT),
                "oidc_service_accounts": (SELECT, INSERT),
                "oidc_auth_codes": (SELECT, INSERT, DELETE),  # single use: taken by DELETE
                "oidc_device_codes": (SELECT, INSERT, UPDATE, DELETE),
                # upsert, conditional UPDATE, SELECT ... FOR UPDATE, clean-up by DELETE
                "oidc_throttle": (SELECT, INSERT, UPDATE, DELETE),
                "oidc_audit": (SELECT, INSERT),
                # services/oidc/federation.py: a person from a connector is made, then updated at
                # each sign-in; a redirect sign-in is saved, marked used/done, and deleted
                "oidc_connector_identities": (SELECT, INSERT, UPDATE),
                "oidc_upstream_logins": (SELECT, INSERT, UPDATE, DELETE),
            }
        ),
        "ctlog": _rules(_TLOG),
        "rekor": _rules({**_TLOG, "rekor_index": (SELECT, INSERT)}),
        # Rekor v2 (services/rekor2/log.py): the same log engine and the v1 log's search index
        "rekor2": _rules({**_TLOG, "rekor_index": (SELECT, INSERT)}),
        # the witness (services/witness/store.py): compare-and-swap by INSERT ... ON CONFLICT DO
        # NOTHING and a conditional UPDATE; nothing is deleted
        "witness": _rules({"witness_checkpoints": (SELECT, INSERT, UPDATE)}),
    }
)
SCHEMA_TABLE = "alembic_version"  # SELECT for every service: require_current_schema()
SERVICES = tuple(PRIVILEGES)

_CHECKED = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_POWERS = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
_ROLE_QUERY = (
    "SELECT oid, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
    " FROM pg_roles WHERE rolname = %s"
)


@dataclass(frozen=True)
class Login:
    """The role a service connects as, and its password when known."""

    role: str
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Login:
        """The role and password a database URL logs in with."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(db.normalize_url(url))
        except ArgumentError as exc:
            raise ConfigError("the service's database URL does not parse") from exc
        if not parsed.drivername.startswith("postgresql") or not parsed.username:
            raise ConfigError("the service's database URL must be postgresql://ROLE:PASSWORD@...")
        return cls(parsed.username, parsed.password or None)


@dataclass(frozen=True)
class Granted:
    role: str
    service: str
    created: bool
    password_set: bool
    tables: Mapping[str, frozenset[str]]


def expected(service: str) -> dict[str, frozenset[str]]:
    """Table -> privileges the role of ``service`` holds after ``grant``."""
    if service not in PRIVILEGES:
        raise ConfigError(f"no database role for {service!r}: one of {', '.join(SERVICES)}")
    return {**PRIVILEGES[service], SCHEMA_TABLE: frozenset({SELECT})}


def grant(admin_url: str, service: str, login: Login) -> Granted:
    """Create or update ``login.role`` and give it exactly what ``service`` needs (see module)."""
    wanted = expected(service)
    if not _ROLE_NAME.fullmatch(login.role):
        raise ConfigError(
            f"role name {login.role!r}: use lower-case letters, digits and _ (at most 63)"
        )
    engine = db.make_engine(admin_url)
    try:
        if engine.dialect.name != "postgresql":
            raise ConfigError("database roles and grants exist only on PostgreSQL")
        db.require_current_schema(engine)
        with engine.begin() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur:
                return _grant(raw, cur, service, login, wanted)
    finally:
        engine.dispose()


def _grant(
    raw: Any, cur: Any, service: str, login: Login, wanted: dict[str, frozenset[str]]
) -> Granted:
    from psycopg import sql

    role = sql.Identifier(login.role)
    cur.execute("SELECT current_user, current_schema(), current_database()")
    owner, schema_name, database = cur.fetchone()
    if login.role == owner:
        raise ConfigError(
            f"{service} would connect as {owner}, the role that owns the tables and runs the "
            "migrations: give it a role of its own"
        )
    created = _ensure_role(raw, cur, login)
    schema = sql.Identifier(schema_name)
    cur.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role)
    )
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
    cur.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, role))
    cur.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, role))
    for table, privileges in sorted(wanted.items()):
        cur.execute(
            sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(p) for p in sorted(privileges)),
                sql.Identifier(schema_name, table),
                role,
            )
        )
    sequences = _sequences_of(cur, schema_name, [t for t, p in wanted.items() if INSERT in p])
    for sequence in sequences:
        cur.execute(
            sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
                sql.Identifier(schema_name, sequence), role
            )
        )
    found = _differences(cur, login.role, schema_name, database, wanted, set(sequences))
    if found:
        raise ConfigError(
            f"role {login.role} would not hold exactly what {service} needs (nothing was "
            "changed): " + "; ".join(found)
        )
    return Granted(login.role, service, created, login.password is not None, wanted)


def _ensure_role(raw: Any, cur: Any, login: Login) -> bool:
    """Create the role (True) or check the existing one; set its password when one is given."""
    from psycopg import sql

    role = sql.Identifier(login.role)
    cur.execute(_ROLE_QUERY, (login.role,))
    row = cur.fetchone()
    password: sql.Composable = sql.SQL("")
    if login.password is not None:
        verifier = raw.pgconn.encrypt_password(login.password.encode(), login.role.encode())
        password = sql.SQL(" PASSWORD {}").format(sql.Literal(verifier.decode()))
    if row is None:
        if login.password is None:
            raise ConfigError(
                f"role {login.role} does not exist: create it, or give the service's database "
                "URL (with its password) so that it is created"
            )
        plain = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
        cur.execute(sql.SQL("CREATE ROLE {} " + plain + "{}").format(role, password))
        return True
    oid, can_login, *powers = row
    held = [name for name, has in zip(_POWERS, powers, strict=True) if has]
    if held:
        raise ConfigError(
            f"role {login.role} has {', '.join(held)}: a service needs a plain login role"
        )
    if not can_login:
        raise ConfigError(f"role {login.role} cannot log in (NOLOGIN)")
    cur.execute(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
        " WHERE m.member = %s ORDER BY 1",
        (oid,),
    )
    groups = [r[0] for r in cur.fetchall()]
    if groups:
        raise ConfigError(
            f"role {login.role} is a member of {', '.join(groups)} and could act as it: "
            "revoke the membership"
        )
    if login.password is not None:
        cur.execute(sql.SQL("ALTER ROLE {}{}").format(role, password))
    return False


def _sequences_of(cur: Any, schema: str, tables: list[str]) -> list[str]:
    """Sequences owned by columns of ``tables`` (serial and identity columns)."""
    cur.execute(
        "SELECT DISTINCT s.relname FROM pg_class s"
        " JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
        " JOIN pg_class t ON t.oid = d.refobjid"
        " JOIN pg_namespace n ON n.oid = s.relnamespace"
        " WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i') AND n.nspname = %s"
        " AND t.relname = ANY(%s) ORDER BY 1",
        (schema, tables),
    )
    return [r[0] for r in cur.fetchall()]


def _differences(
    cur: Any,
    role: str,
    schema: str,
    database: str,
    wanted: dict[str, frozenset[str]],
    sequences: set[str],
) -> list[str]:
    """What the role can do beyond, or short of, the rules (effective privileges, PUBLIC's and
    ownership included), on every table, view and sequence of the schema."""
    found = []
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
        (schema, list(wanted)),
    )
    found += [f"table {t} is missing" for t in sorted(set(wanted) - {r[0] for r in cur})]
    for function, kinds, privileges in (
        ("has_table_privilege", ["r", "p", "v", "m", "f"], _CHECKED),
        ("has_sequence_privilege", ["S"], ("USAGE", "SELECT", "UPDATE")),
    ):
        cur.execute(
            f"SELECT c.relname, p.name, {function}(%s, c.oid, p.name) FROM pg_class c"  # noqa: S608
            " JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN unnest(%s::text[]) p(name)"
            " WHERE n.nspname = %s AND c.relkind::text = ANY(%s) ORDER BY 1, 2",
            (role, list(privileges), schema, kinds),
        )
        for name, privilege, has in cur.fetchall():
            if function == "has_sequence_privilege":
                should = privilege == "USAGE" and name in sequences
            else:
                should = privilege in wanted.get(name, frozenset())
            if has != should:
                found.append(f"{'can' if has else 'cannot'} {privilege} {name}")
    for function, target in (
        ("has_schema_privilege", schema),
        ("has_database_privilege", database),
    ):
        cur.execute(f"SELECT {function}(%s, %s, 'CREATE')", (role, target))  # noqa: S608
        if cur.fetchone()[0]:
            found.append(f"can CREATE in {function.split('_')[1]} {target}")
    return found
