"""Data-dir rules, key files, rotation and the JWKS, ES256, token encoding, the admin CLI."""

from __future__ import annotations

import io
import os
import stat

import jwt
import pytest

from sigstack.protocol.errors import ConfigError, VerificationError
from sigstack.services.oidc import cli, keys, tokens
from sigstack.services.oidc.config import OIDCConfig
from sigstack.services.oidc.datadir import prepare_data_dir
from sigstack.services.oidc.passwords import hash_password, verify_password
from tests.support.oidc import claims_of, header_of

from .helpers import ISSUER, make_env


def _config(data_dir, **extra):
    flags = {"data_dir": str(data_dir), "issuer_url": ISSUER, **extra}
    return OIDCConfig.load(flags=flags, environ={})


def test_new_dir_is_initialised_with_private_key_files(tmp_path):
    store = prepare_data_dir(_config(tmp_path / "d"))
    files = list((tmp_path / "d" / "keys").glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d" / "keys").stat().st_mode) == 0o700
    assert (tmp_path / "d" / "oidc.db").exists()
    [row] = store.key_rows()
    assert row["state"] == "active" and files[0].name == f"{row['kid']}.pem"
    # reused as it is: no second key
    prepare_data_dir(_config(tmp_path / "d"))
    assert len(list((tmp_path / "d" / "keys").glob("*.pem"))) == 1


def test_inconsistent_dirs_are_refused(tmp_path):
    prepare_data_dir(_config(tmp_path / "a"))
    (tmp_path / "a" / "oidc.db").rename(tmp_path / "a" / "moved.db")
    with pytest.raises(ConfigError, match="refusing to start afresh"):
        prepare_data_dir(_config(tmp_path / "a"))

    prepare_data_dir(_config(tmp_path / "b"))
    for f in (tmp_path / "b" / "keys").glob("*.pem"):
        f.unlink()
    with pytest.raises(ConfigError, match="refusing to make new ones"):
        prepare_data_dir(_config(tmp_path / "b"))

    prepare_data_dir(_config(tmp_path / "c"))
    [key] = (tmp_path / "c" / "keys").glob("*.pem")
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        prepare_data_dir(_config(tmp_path / "c"))

    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        prepare_data_dir(_config(tmp_path / "file"))


def test_bad_issuer_urls_are_refused(tmp_path):
    for i, url in enumerate(("https://x/auth/", "ftp://x", "https://x?a=b", "x")):
        with pytest.raises(ConfigError):
            make_env(tmp_path / str(i), issuer_url=url)


def test_issuer_with_a_path_serves_under_it(tmp_path):
    env = make_env(tmp_path, issuer_url="https://id.example.internal/auth")
    doc = env.client.get("/auth/.well-known/openid-configuration").get_json()
    assert doc["issuer"] == "https://id.example.internal/auth"
    assert doc["token_endpoint"] == "https://id.example.internal/auth/token"
    assert env.client.get("/auth/keys").status_code == 200


def test_rotation_keeps_the_old_key_until_its_tokens_expire(env):
    sub = env.store.identity(env.user_sub)
    old_token = env.issuer.issue(sub, audience="sigstore", scope="openid")["id_token"]
    old_kid = header_of(old_token)["kid"]
    assert cli.main(["rotate-key", "--data-dir", str(env.data_dir)]) == 0
    env.issuer.keyring.forget()  # as KEYS_TTL passing would
    new_token = env.issuer.issue(sub, audience="sigstore", scope="openid")["id_token"]
    new_kid = header_of(new_token)["kid"]
    assert new_kid != old_kid
    kids = {k["kid"] for k in env.client.get("/keys").get_json()["keys"]}
    assert kids == {old_kid, new_kid}
    # both tokens verify with an outside library against the published JWKS
    jwks = jwt.PyJWKSet.from_dict(env.client.get("/keys").get_json())
    for token in (old_token, new_token):
        key = jwks[header_of(token)["kid"]].key
        jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience="sigstore",
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    # after the old key's last token has expired (+ grace), it leaves the JWKS
    env.clock.advance(env.issuer.settings.token_lifetime + keys.LAST_EXP_AHEAD + 61)
    env.issuer.keyring.forget()
    kids = {k["kid"] for k in env.client.get("/keys").get_json()["keys"]}
    assert kids == {new_kid}


def test_prepared_rotation_publishes_before_use(env):
    active = env.issuer.keyring.active()[0]
    assert cli.main(["rotate-key", "--prepare", "--data-dir", str(env.data_dir)]) == 0
    env.issuer.keyring.forget()
    kids = [k["kid"] for k in env.client.get("/keys").get_json()["keys"]]
    assert len(kids) == 2 and env.issuer.keyring.active()[0] == active
    cli.main(["rotate-key", "--data-dir", str(env.data_dir)])
    env.issuer.keyring.forget()
    assert env.issuer.keyring.active()[0] != active and env.issuer.keyring.active()[0] in kids


def test_es256_is_selectable(tmp_path):
    env = make_env(tmp_path, signing_alg="ES256")
    doc = env.client.get("/.well-known/openid-configuration").get_json()
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    token = env.issuer.issue(env.store.identity(env.user_sub), audience="sigstore", scope="openid")[
        "id_token"
    ]
    jwk = env.client.get("/keys").get_json()["keys"][0]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["ES256"], audience="sigstore")
    assert claims["iss"] == ISSUER


def test_verify_rejects_wrong_issuer_unknown_kid_and_crit(env):
    kid, alg, signer = env.issuer.keyring.active()
    now = env.store.now()
    keys = env.issuer.keyring.verification_keys()
    good = {"iss": ISSUER, "sub": "s", "aud": "sigstore", "iat": now, "exp": now + 60}
    tokens.verify(
        tokens.encode(good, signer, kid, alg), keys, issuer=ISSUER, audiences={"sigstore"}, now=now
    )
    with pytest.raises(VerificationError, match="issuer"):
        tokens.verify(
            tokens.encode({**good, "iss": ISSUER + "/"}, signer, kid, alg),
            keys,
            issuer=ISSUER,
            audiences={"sigstore"},
            now=now,
        )
    with pytest.raises(VerificationError, match="not signed by a key"):
        tokens.verify(
            tokens.encode(good, signer, "other", alg),
            keys,
            issuer=ISSUER,
            audiences={"sigstore"},
            now=now,
        )
    with pytest.raises(VerificationError, match="future"):
        tokens.verify(
            tokens.encode({**good, "iat": now + 30}, signer, kid, alg),
            keys,
            issuer=ISSUER,
            audiences={"sigstore"},
            now=now,
        )


def test_at_hash_matches_the_access_token(env):
    body = env.issuer.issue(env.store.identity(env.user_sub), audience="sigstore", scope="openid")
    assert claims_of(body["id_token"])["at_hash"] == tokens.at_hash(body["access_token"], "RS256")
    # OIDC Core §3.1.3.6: left half of SHA-256, base64url; recomputed independently
    import base64
    import hashlib

    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert (
        claims_of(body["id_token"])["at_hash"]
        == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    )


def test_add_user_from_stdin_and_scrypt_hash(env, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
    assert (
        cli.main(
            [
                "add-user",
                "bob",
                "--email",
                "bob@example.org",
                "--password-stdin",
                "--data-dir",
                str(env.data_dir),
            ]
        )
        == 0
    )
    assert "added user bob" in capsys.readouterr().out
    row = env.store.user_by_name("bob")
    assert row["password_hash"].startswith("scrypt$")
    verify_password("s3cret-passw0rd", row["password_hash"])
    with pytest.raises(VerificationError):
        verify_password("s3cret-passw0rd!", row["password_hash"])
    assert env.store.identity(row["sub"]).email == "bob@example.org"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    from sigstack.protocol.errors import ValidationError

    with pytest.raises(ValidationError):
        cli.main(
            [
                "add-user",
                "carol",
                "--email",
                "c@example.org",
                "--password-stdin",
                "--data-dir",
                str(env.data_dir),
            ]
        )


def test_password_hashes_are_salted_and_malformed_ones_never_match():
    a, b = hash_password("pw-123456"), hash_password("pw-123456")
    assert a != b
    verify_password("pw-123456", a)
    verify_password("pw-123456", b)
    for stored in ("", "scrypt$x", "bcrypt$1$2$3$4$5", a.replace("scrypt", "plain")):
        with pytest.raises(VerificationError):
            verify_password("pw-123456", stored)


def test_migration_matches_the_table_definitions(env):
    """Alembic's 0002_oidc creates exactly what store.py declares (autogenerate finds no diff)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from sigstack.services.runtime.db import metadata

    with env.store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, metadata)

    def touches_oidc(diff) -> bool:
        text = repr(diff)
        return "oidc_" in text

    assert [d for d in diffs if touches_oidc(d)] == []
    assert len([t for t in metadata.tables if t.startswith("oidc_")]) == 9  # 0005: connectors


def test_algorithm_change_at_rotation_advertises_both_until_old_tokens_expire(env):
    old = env.issuer.issue(env.store.identity(env.user_sub), audience="sigstore", scope="openid")
    assert cli.main(["rotate-key", "--alg", "ES256", "--data-dir", str(env.data_dir)]) == 0
    env.issuer.keyring.forget()
    doc = env.client.get("/.well-known/openid-configuration").get_json()
    assert doc["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]
    new = env.issuer.issue(env.store.identity(env.user_sub), audience="sigstore", scope="openid")
    assert header_of(new["id_token"])["alg"] == "ES256"
    assert header_of(old["id_token"])["alg"] == "RS256"
    for body in (old, new):
        resp = env.client.get(
            "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
        )
        assert resp.status_code == 200
    env.clock.advance(env.issuer.settings.token_lifetime + keys.LAST_EXP_AHEAD + 61)
    env.issuer.keyring.forget()
    doc = env.client.get("/.well-known/openid-configuration").get_json()
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]


def test_running_issuer_sees_a_rotation_once_its_key_cache_expires(env, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(keys.time, "monotonic", lambda: now[0])
    env.issuer.keyring.forget()
    before = env.issuer.keyring.active()[0]
    assert cli.main(["rotate-key", "--data-dir", str(env.data_dir)]) == 0
    assert env.issuer.keyring.active()[0] == before  # cached rows, within KEYS_TTL
    now[0] += keys.KEYS_TTL
    after = env.issuer.keyring.active()[0]
    assert after != before
    assert after in {k["kid"] for k in env.client.get("/keys").get_json()["keys"]}


def test_last_exp_is_written_ahead_and_not_on_every_signature(env, monkeypatch):
    writes = []
    real = env.store.note_key_use
    monkeypatch.setattr(
        env.store, "note_key_use", lambda kid, exp: (writes.append(exp), real(kid, exp))
    )
    sub = env.store.identity(env.user_sub)
    expiries = []
    for _ in range(5):
        token = env.issuer.issue(sub, audience="sigstore", scope="openid")["id_token"]
        expiries.append(claims_of(token)["exp"])
        env.clock.advance(10)
    assert len(writes) == 1  # 5 tokens (10 signatures), one write
    kid = env.issuer.keyring.active()[0]
    (row,) = [r for r in env.store.key_rows() if r["kid"] == kid]
    assert row["last_exp"] >= max(expiries)  # never behind a token that was handed out
    env.clock.advance(keys.LAST_EXP_AHEAD)
    env.issuer.issue(sub, audience="sigstore", scope="openid")
    assert len(writes) == 2  # past the written value: written ahead again


def test_verify_refuses_a_token_that_is_not_ascii(env):
    """A non-ASCII character after the header (from a header decoded as Latin-1, or a lone
    surrogate) is not a token: it was a UnicodeEncodeError (found by fuzzing)."""
    kid, alg, signer = env.issuer.keyring.active()
    now = env.store.now()
    keys = env.issuer.keyring.verification_keys()
    good = tokens.encode(
        {"iss": ISSUER, "sub": "s", "aud": "sigstore", "iat": now, "exp": now + 60},
        signer, kid, alg,
    )  # fmt: skip
    for bad in (good[:-3] + "é" + good[-2:], good + "\udce5"):
        with pytest.raises(VerificationError, match="compact JWS"):
            tokens.verify(bad, keys, issuer=ISSUER, audiences={"sigstore"}, now=now)
