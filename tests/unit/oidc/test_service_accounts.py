"""Service accounts: created by the CLI, tokens by client_credentials, checked with PyJWT."""

from __future__ import annotations

import jwt
import pytest

from sigstack.services.oidc import cli

from .helpers import ISSUER, basic


def _add(env, capsys, name="release-bot"):
    assert cli.main(["add-service-account", name, "--data-dir", str(env.data_dir)]) == 0
    out = capsys.readouterr().out
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return fields["client_id"], fields["client_secret"], fields["service account"]


def _pyjwt_verify(env, token, audience):
    jwks = env.client.get("/keys").get_json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(token, key=key.key, algorithms=["RS256"], audience=audience, issuer=ISSUER)


def test_client_credentials_basic_gives_an_id_token_for_the_audience(env, capsys):
    client_id, secret, email = _add(env, capsys)
    assert email == "release-bot@serviceaccounts.sigstack.internal"
    resp = env.client.post(
        "/token",
        headers=basic(client_id, secret),
        data={"grant_type": "client_credentials", "audience": "sigstore"},
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    claims = _pyjwt_verify(env, body["id_token"], "sigstore")
    assert claims["email"] == email and claims["email_verified"] is True
    assert claims["aud"] == "sigstore" and claims["sub"].startswith("sa-")
    assert _pyjwt_verify(env, body["access_token"], "sigstore")["sub"] == claims["sub"]
    # the secret never reaches the database in clear
    row = env.store.service_account(client_id)
    assert secret not in row["secret_hash"]
    # the same account gets the same sub next time
    again = env.client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "openid email",
        },
    )
    assert again.status_code == 200
    assert _pyjwt_verify(env, again.get_json()["id_token"], "sigstore")["sub"] == claims["sub"]


def test_foreign_audience_is_refused(env, capsys):
    client_id, secret, _ = _add(env, capsys)
    resp = env.client.post(
        "/token",
        headers=basic(client_id, secret),
        data={"grant_type": "client_credentials", "audience": "aws"},
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_target"


def test_configured_extra_audience(tmp_path, capsys):
    from .helpers import make_env

    env = make_env(tmp_path, service_account_audiences=["sigstore", "internal-deploy"])
    client_id, secret, _ = _add(env, capsys)
    resp = env.client.post(
        "/token",
        headers=basic(client_id, secret),
        data={"grant_type": "client_credentials", "audience": "internal-deploy"},
    )
    token = resp.get_json()["id_token"]
    assert _pyjwt_verify(env, token, "internal-deploy")["aud"] == "internal-deploy"
    with pytest.raises(jwt.InvalidAudienceError):
        _pyjwt_verify(env, token, "sigstore")


@pytest.mark.parametrize("how", ["wrong-secret", "no-secret", "public-client", "unknown"])
def test_bad_client_credentials_are_refused(env, capsys, how):
    client_id, secret, _ = _add(env, capsys)
    data = {"grant_type": "client_credentials"}
    headers = {}
    if how == "wrong-secret":
        headers = basic(client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    elif how == "no-secret":
        data["client_id"] = client_id
    elif how == "public-client":
        headers = basic("sigstore")
    else:
        headers = basic("sa-unknown", secret)
    resp = env.client.post("/token", headers=headers, data=data)
    assert resp.status_code in (400, 401)
    assert resp.get_json()["error"] in ("invalid_client", "unauthorized_client")
    assert "id_token" not in resp.get_json()


def test_service_account_cannot_use_the_code_flow(env, capsys):
    client_id, secret, _ = _add(env, capsys)
    resp = env.client.post(
        "/token",
        headers=basic(client_id, secret),
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "http://localhost/"},
    )
    assert resp.status_code in (400, 401)
    assert resp.get_json()["error"] == "unauthorized_client"


def test_duplicate_and_bad_names_are_refused(env, capsys):
    from sigstack.protocol.errors import ValidationError

    _add(env, capsys, "ci")
    with pytest.raises(ValidationError):
        cli.main(["add-service-account", "ci", "--data-dir", str(env.data_dir)])
    with pytest.raises(ValidationError):
        cli.main(["add-service-account", "bad name!", "--data-dir", str(env.data_dir)])
