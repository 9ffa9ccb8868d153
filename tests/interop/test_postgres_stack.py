"""``sigstack up --database-url postgresql://...``: every service on one PostgreSQL database."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sigstack.services.runtime import db
from tests.interop.conftest import Stack, sigstack
from tests.support.dbs import fresh_postgres

pytestmark = [pytest.mark.interop, pytest.mark.postgres, pytest.mark.xdist_group("stack")]


def test_stack_on_postgres_signs_verifies_and_resumes(tmp_path) -> None:
    with fresh_postgres() as url:
        stack = Stack(tmp_path / "data", tmp_path / "up.out").start("--database-url", url)
        try:
            artifact = tmp_path / "pg.txt"
            artifact.write_text("logged in PostgreSQL\n")
            bundle = tmp_path / "pg.sigstore.json"
            signed = sigstack("sign-blob", str(artifact), "--bundle", str(bundle),
                              "--trust-config", str(stack.trust_config),
                              "--identity-token", stack.token())  # fmt: skip
            assert signed.returncode == 0, signed.stderr
            bundle_v2 = tmp_path / "pg-v2.sigstore.json"
            signed = sigstack("sign-blob", str(artifact), "--bundle", str(bundle_v2),
                              "--trust-config", str(stack.trust_config_v2),
                              "--identity-token", stack.token())  # fmt: skip
            assert signed.returncode == 0, signed.stderr
        finally:
            assert stack.stop() == 0
        engine = db.make_engine(url)
        with engine.connect() as conn:
            sizes = dict(conn.execute(text("SELECT name, size FROM tlog_trees")).all())
            accounts = conn.execute(text("SELECT count(*) FROM oidc_service_accounts")).scalar()
        engine.dispose()
        rekor2 = f"rekor2:127.0.0.1:{stack.port_base + 6}"  # the v2 log, named by its origin
        assert sizes == {"rekor": 1, "ctlog": 2, rekor2: 1} and accounts == 1
        assert not (tmp_path / "data" / "rekor" / "rekor.db").exists()
        assert not (tmp_path / "data" / "rekor2" / "rekor2.db").exists()
        again = Stack(tmp_path / "data", tmp_path / "up2.out").start(
            "--database-url", url, port_base=stack.port_base)  # fmt: skip
        try:
            verified = sigstack("verify-blob", str(artifact), "--bundle", str(bundle),
                                "--trust-config", str(again.trust_config),
                                "--certificate-identity", again.identity,
                                "--certificate-oidc-issuer", again.urls["oidc"])  # fmt: skip
            assert verified.returncode == 0, verified.stderr
            verified = sigstack("verify-blob", str(artifact), "--bundle", str(bundle_v2),
                                "--trust-config", str(again.trust_config_v2),
                                "--certificate-identity", again.identity,
                                "--certificate-oidc-issuer", again.urls["oidc"])  # fmt: skip
            assert verified.returncode == 0, verified.stderr
        finally:
            assert again.stop() == 0
