"""One login role per service, on a real PostgreSQL (issue 11, finding 2.8).

``sigstack db upgrade --grant SERVICE`` (run by the compose file's ``migrate`` job as the owner)
creates each service's role from the URL that service connects with and grants it exactly its
rules (services/runtime/grants.py). These tests read the effective privileges back from
PostgreSQL, try what a role must not do (other services' tables, DDL, deletes a log never makes),
and check that a migration which recreates a table is followed by the grants again.
"""

from __future__ import annotations

import subprocess
from contextlib import ExitStack

import psycopg
import pytest
from sqlalchemy import text

from sigstack.services.runtime import db, grants
from sigstack.services.runtime.tables import load_all_tables
from tests.integration.db.roles import (
    Role,
    clean_environment,
    scram_verifies,
    service_roles,
)
from tests.support.dbs import fresh_postgres
from tests.support.servers import sigstack_cli

ALL = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def test_every_table_of_the_code_has_exactly_one_owner_service() -> None:
    """The rules name every table the code declares, each service only its own prefixes, and
    only the four statements the services issue."""
    load_all_tables()
    ruled = {t for rules in grants.PRIVILEGES.values() for t in rules}
    assert ruled == set(db.metadata.tables)
    prefixes = {"oidc": ("oidc_",), "ctlog": ("tlog_",), "rekor": ("tlog_", "rekor_"),
                "rekor2": ("tlog_", "rekor_"), "witness": ("witness_",)}  # fmt: skip
    for service, rules in grants.PRIVILEGES.items():
        assert all(t.startswith(prefixes[service]) for t in rules), service
        assert all(p <= {"SELECT", "INSERT", "UPDATE", "DELETE"} for p in rules.values())
        assert all("SELECT" in p for p in rules.values())  # every write is checked or returned


def _granted(url: str, roles: dict[str, Role]) -> subprocess.CompletedProcess:
    env = clean_environment(SIGSTACK_DATABASE_URL=url,
                            **{r.variable: r.url(url) for r in roles.values()})  # fmt: skip
    return sigstack_cli("db", "upgrade", "--grant", "oidc", "--grant", "ctlog", "--grant", "rekor",
                    env=env)  # fmt: skip


def _privileges(url: str, role: str) -> dict[str, set[str]]:
    """Table -> what ``role`` may do on it, as PostgreSQL answers (every table of the schema)."""
    engine = db.make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, p.name FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'"
                " CROSS JOIN unnest(CAST(:all AS text[])) p(name)"
                " WHERE c.relkind = 'r' AND has_table_privilege(:role, c.oid, p.name)"
            ),
            {"all": list(ALL), "role": role},
        ).all()
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        out: dict[str, set[str]] = {t: set() for t in tables}
    engine.dispose()
    for table, privilege in rows:
        out[table].add(privilege)
    return out


def _refused(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.mark.postgres
def test_each_role_holds_exactly_its_rules_and_nothing_of_the_others() -> None:
    with service_roles() as roles, fresh_postgres() as url:
        done = _granted(url, roles)
        assert done.returncode == 0, done.stderr
        assert "role" in done.stdout and "created" in done.stdout
        for service, role in roles.items():
            want = {t: set(p) for t, p in grants.expected(service).items()}
            got = _privileges(url, role.name)
            assert {t: p for t, p in got.items() if p} == want, service
        engine = db.make_engine(url)
        with engine.connect() as conn:
            stored = dict(
                conn.execute(
                    text("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(:n)"),
                    {"n": [r.name for r in roles.values()]},
                ).all()
            )
            powers = conn.execute(
                text(
                    "SELECT bool_or(rolsuper or rolcreaterole or rolcreatedb or rolbypassrls)"
                    " FROM pg_roles WHERE rolname = ANY(:n)"
                ),
                {"n": [r.name for r in roles.values()]},
            ).scalar()
        engine.dispose()
        for role in roles.values():  # the password of the URL, kept as a SCRAM verifier only
            assert scram_verifies(stored[role.name], role.password), role.name
            assert role.password not in stored[role.name]
        assert powers is False

        rekor, oidc, ctlog = (roles[s].url(url) for s in ("rekor", "oidc", "ctlog"))
        for statement in (
            "SELECT * FROM oidc_users",
            "SELECT * FROM oidc_service_accounts",
            "DELETE FROM tlog_entries",  # a log never deletes
            "UPDATE tlog_entries SET data = ''",
            "TRUNCATE rekor_index",
            "UPDATE alembic_version SET version_num = 'x'",
            "CREATE TABLE rekor_extra (i int)",
            "DROP TABLE rekor_index",
            "ALTER TABLE tlog_trees ADD COLUMN x int",
            "CREATE SCHEMA rekor_own",
        ):
            _refused(rekor, statement)
        for statement in (
            "UPDATE tlog_trees SET size = 0",
            "SELECT * FROM tlog_entries",
            "SELECT * FROM rekor_index",
            "DELETE FROM oidc_users",  # users are added, never removed by the issuer
            "UPDATE oidc_users SET disabled = true",
            "CREATE TABLE oidc_extra (i int)",
            "DROP TABLE oidc_throttle",
            "CREATE INDEX ON oidc_audit (event)",
        ):
            _refused(oidc, statement)
        for statement in (
            "SELECT * FROM rekor_index",
            "INSERT INTO rekor_index VALUES ('k', 1, 1)",
            "SELECT * FROM oidc_keys",
            "DELETE FROM tlog_trees",
            "CREATE TABLE tlog_extra (i int)",
        ):
            _refused(ctlog, statement)
        with psycopg.connect(oidc) as conn:  # USAGE on the audit id sequence: INSERT works
            conn.execute(
                "INSERT INTO oidc_audit (at, event, outcome) VALUES (1, 'test', 'success')"
            )
            _refused(oidc, "SELECT setval('oidc_audit_id_seq', 1)")


@pytest.mark.postgres
def test_tables_a_later_migration_recreates_get_their_grants_again() -> None:
    """A migration that (re)creates a table leaves it without grants; `db upgrade --grant`
    (what the migrate job runs every time) gives them back, and the role can write again."""
    with service_roles() as roles, fresh_postgres() as url:
        assert _granted(url, roles).returncode == 0
        db_env = clean_environment(SIGSTACK_DATABASE_URL=url)
        from alembic import command
        from alembic.config import Config

        alembic = Config()
        alembic.set_main_option("script_location", str(db.MIGRATIONS))
        alembic.set_main_option("sqlalchemy.url", db.normalize_url(url))
        # 0003_oidc_throttle recreates OIDC tables: undo it (and what came after), then redo
        command.downgrade(alembic, "0002_oidc")
        redone = sigstack_cli("db", "upgrade", env=db_env)  # and redone, without --grant
        assert redone.returncode == 0, redone.stderr
        want = {t: set(p) for t, p in grants.expected("oidc").items()}
        got = _privileges(url, roles["oidc"].name)
        lost = {t for t in want if got.get(t) != want[t]}
        assert lost, "0003_oidc_throttle recreated no oidc table: pick another to undo"
        again = _granted(url, roles)
        assert again.returncode == 0, again.stderr
        assert "updated" in again.stdout and "created" not in again.stdout
        got = _privileges(url, roles["oidc"].name)
        assert {t: p for t, p in got.items() if p} == want
        with psycopg.connect(roles["oidc"].url(url)) as conn:
            for table in sorted(lost):
                conn.execute(f"SELECT count(*) FROM {table}")  # type: ignore[arg-type]


@pytest.mark.postgres
def test_unsafe_roles_and_missing_inputs_are_refused(tmp_path) -> None:
    with ExitStack() as stack:
        roles = stack.enter_context(service_roles())
        url = stack.enter_context(fresh_postgres())
        env = clean_environment()
        refused = sigstack_cli("db", "check", env=env)
        assert refused.returncode != 0 and "SIGSTACK_DATABASE_URL" in refused.stderr
        url_file = tmp_path / "database-url"
        url_file.write_text(url + "\n")
        behind = sigstack_cli("db", "check", "--database-url-file", str(url_file), env=env)
        assert behind.returncode != 0 and "sigstack db upgrade" in behind.stderr
        env = clean_environment(SIGSTACK_DATABASE_URL_FILE=str(url_file))
        assert sigstack_cli("db", "upgrade", env=env).returncode == 0
        assert sigstack_cli("db", "check", env=env).returncode == 0

        rekor = roles["rekor"]
        cases = [
            (["--role", rekor.name], {}, "does not exist"),
            ([], {}, "give --role"),
            (["--role", "other"], {rekor.variable: rekor.url(url)}, "differs"),
            (["--role", "postgres"], {}, "owns the tables"),
            (["--role", "Robert'); DROP"], {}, "lower-case"),
        ]
        for args, extra, message in cases:
            out = sigstack_cli("db", "grant", "--service", "rekor", *args, env={**env, **extra})
            assert out.returncode != 0 and message in out.stderr, (args, out.stderr)

        admin = psycopg.connect(url, autocommit=True)
        stack.callback(admin.close)
        for attribute in ("CREATEROLE", "SUPERUSER", "BYPASSRLS"):
            admin.execute(f"CREATE ROLE {rekor.name} LOGIN {attribute}")  # type: ignore[arg-type]
            out = sigstack_cli("db", "grant", "--service", "rekor", "--role", rekor.name, env=env)
            assert out.returncode != 0 and f"has {attribute}" in out.stderr, out.stderr
            admin.execute(f"DROP ROLE {rekor.name}")  # type: ignore[arg-type]
        admin.execute(f"CREATE ROLE {rekor.name} LOGIN IN ROLE pg_read_all_data")  # type: ignore[arg-type]
        out = sigstack_cli("db", "grant", "--service", "rekor", "--role", rekor.name, env=env)
        assert out.returncode != 0 and "member of pg_read_all_data" in out.stderr, out.stderr
        admin.execute(f"REVOKE pg_read_all_data FROM {rekor.name}")  # type: ignore[arg-type]

        # a grant to PUBLIC reaches every role: the read-back refuses it, and changes nothing
        admin.execute("GRANT SELECT ON oidc_users TO PUBLIC")
        out = sigstack_cli("db", "grant", "--service", "rekor", "--role", rekor.name, env=env)
        assert out.returncode != 0 and "can SELECT oidc_users" in out.stderr, out.stderr
        assert "nothing was changed" in out.stderr
        assert not _privileges(url, rekor.name)["tlog_trees"]
        admin.execute("REVOKE SELECT ON oidc_users FROM PUBLIC")
        out = sigstack_cli("db", "grant", "--service", "rekor", "--role", rekor.name, env=env)
        assert out.returncode == 0 and "kept" in out.stdout, out.stderr

        sqlite = f"sqlite:///{tmp_path / 'x.db'}"
        assert sigstack_cli("db", "upgrade", "--database-url", sqlite, env=env).returncode == 0
        out = sigstack_cli("db", "grant", "--service", "rekor", "--role", "r",
                       "--database-url", sqlite, env=env)  # fmt: skip
        assert out.returncode != 0 and "only on PostgreSQL" in out.stderr, out.stderr


def test_the_roles_module_refuses_an_unknown_service() -> None:
    from sigstack.protocol.errors import ConfigError

    with pytest.raises(ConfigError, match="no database role"):
        grants.expected("fulcio")
    with pytest.raises(ConfigError, match="ROLE:PASSWORD"):
        grants.Login.from_url("sqlite:///x.db")
    assert grants.Login.from_url("postgres://a%40b:p%2Fw@h/d") == grants.Login("a@b", "p/w")
