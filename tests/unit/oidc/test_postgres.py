"""The issuer on PostgreSQL: schema by Alembic, keys in the data dir, the flows unchanged."""

from __future__ import annotations

import pytest

from sigstack.services.oidc import cli
from sigstack.services.runtime import db
from tests.support.dbs import fresh_postgres
from tests.support.oidc import pkce

from .helpers import auth_params, code_from, login, make_env

pytestmark = pytest.mark.postgres


def _redeem(env, code: str, verifier: str):
    """The authorization code ``code`` exchanged at /token."""
    return env.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "redirect_uri": auth_params(None)["redirect_uri"],
            "code": code,
            "client_id": "sigstore",
            "code_verifier": verifier,
        },
    )


def test_code_flow_throttling_and_rotation_on_postgres(tmp_path):
    with fresh_postgres() as url:
        db.upgrade(url)
        env = make_env(tmp_path, database_url=url)
        try:
            assert env.data_dir.joinpath("keys").is_dir()
            assert not env.data_dir.joinpath("oidc.db").exists()
            verifier, challenge = pkce()
            code = code_from(login(env, auth_params(challenge)))
            tok = _redeem(env, code, verifier)
            assert tok.status_code == 200, tok.get_json()
            again = _redeem(env, code, verifier)
            assert again.get_json()["error"] == "invalid_grant"
            params = auth_params(challenge)
            limit = env.issuer.settings.login_max_failures
            statuses = [login(env, params, password="nope").status_code for _ in range(limit + 1)]
            assert statuses == [401] * limit + [429]
            assert login(env, params, ip="10.0.0.7").status_code == 302
            before = env.issuer.keyring.active()[0]
            assert (
                cli.main(["rotate-key", "--data-dir", str(env.data_dir), "--database-url", url])
                == 0
            )
            env.issuer.keyring.forget()
            assert env.issuer.keyring.active()[0] != before
            assert len(env.client.get("/keys").get_json()["keys"]) == 2
        finally:
            env.store.engine.dispose()
