"""The witness on PostgreSQL under its own login role: ``sigstack db upgrade --grant witness``
creates the role from the URL the witness connects with and grants it SELECT, INSERT and UPDATE on
``witness_checkpoints`` only; the server cosigns and swaps with that role, and the role can touch
nothing else."""

from __future__ import annotations

import secrets
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.integration.db.roles import Role, clean_environment, drop_roles
from tests.support.dbs import fresh_postgres
from tests.support.servers import Service, sigstack_cli
from tests.unit.witness.helpers import TestLog, body, log_list

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("servers")]


def test_the_witness_runs_under_its_own_role(tmp_path: Path) -> None:
    role = Role("witness", f"sigstack_t{secrets.token_hex(4)}_witness", secrets.token_hex(12))
    log = TestLog("log.example/role").grow(9)
    (tmp_path / "logs.txt").write_text(log_list(log))
    try:
        with fresh_postgres() as owner_url:
            env = clean_environment(SIGSTACK_DATABASE_URL=owner_url,
                                    SIGSTACK_WITNESS_DATABASE_URL=role.url(owner_url))  # fmt: skip
            done = sigstack_cli("db", "upgrade", "--grant", "witness", env=env)
            assert done.returncode == 0, done.stderr
            assert "witness: role" in done.stdout and "witness_checkpoints" in done.stdout
            with Service("witness", "--data-dir", str(tmp_path / "w"), "--logs",
                         str(tmp_path / "logs.txt"), "--name", "witness.test/role", env=env,
                         log=tmp_path / "witness.log") as srv:  # fmt: skip
                for old in (0, 9):
                    if old:
                        log.grow(5)
                    req = urllib.request.Request(f"{srv.url}/add-checkpoint",
                                                 data=body(old, log.proof(old), log.checkpoint()))  # fmt: skip
                    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                        assert resp.status == 200
            with psycopg.connect(role.url(owner_url), autocommit=True) as conn:
                assert conn.execute("SELECT size FROM witness_checkpoints").fetchall() == [(14,)]
                for statement in ("DELETE FROM witness_checkpoints", "SELECT * FROM tlog_trees",
                                  "CREATE TABLE x (a int)", "DROP TABLE witness_checkpoints"):  # fmt: skip
                    with pytest.raises(psycopg.errors.InsufficientPrivilege):
                        conn.execute(statement)  # type: ignore[arg-type]
    finally:
        drop_roles([role.name])
