"""The issuer's settings: short lifetimes by construction, and a clear error for every bad value
(spec/oidc.md §1.4 and §5: tokens 1-10 minutes, codes at most 5 minutes)."""

from __future__ import annotations

import pytest

from sigstack.protocol.errors import ConfigError
from sigstack.services.oidc.config import OIDCConfig
from sigstack.services.oidc.issuer import Settings
from tests.support.oidc import claims_of

from .helpers import ISSUER


def _settings(**overrides):
    return Settings.from_config(
        OIDCConfig.load(flags={"issuer_url": ISSUER, **overrides}, environ={})
    )


def test_defaults_are_short():
    s = _settings()
    assert (s.token_lifetime, s.code_lifetime, s.device_lifetime) == (600, 120, 300)
    assert (s.login_backoff, s.login_lockout, s.login_window) == (30, 900, 900)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("token_lifetime", 601, "token_lifetime must be between 30 and 600"),
        ("token_lifetime", 3600, "token_lifetime must be between 30 and 600"),
        ("token_lifetime", 29, "token_lifetime must be between 30 and 600"),
        ("code_lifetime", 301, "code_lifetime must be between 10 and 300"),
        ("device_code_lifetime", 0, "device_code_lifetime must be between 60 and 1800"),
        ("device_code_lifetime", 86400, "device_code_lifetime must be between 60 and 1800"),
        ("device_poll_interval", 0, "device_poll_interval must be between 1 and 60"),
        ("login_max_failures", 0, "login_max_failures must be between 1 and"),
        ("login_ip_max_failures", -5, "login_ip_max_failures must be between 1 and"),
        ("login_backoff_seconds", 0, "login_backoff_seconds must be between 1 and"),
        ("login_backoff_seconds", 901, "login_backoff_seconds must be between 1 and 900"),
        ("login_lockout_seconds", 86401, "login_lockout_seconds must be between 1 and 86400"),
        ("login_window_seconds", 0, "login_window_seconds must be between 1 and"),
        ("token_lifetime", "ten minutes", "token_lifetime must be a whole number"),
        ("token_lifetime", 60.5, "token_lifetime must be a whole number"),
        ("token_lifetime", True, "token_lifetime must be a whole number"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(key, value, message):
    with pytest.raises(ConfigError, match=message):
        _settings(**{key: value})


def test_issued_tokens_live_token_lifetime(tmp_path):
    from .helpers import make_env

    env = make_env(tmp_path, token_lifetime=300)
    token = env.issuer.issue(env.store.identity(env.user_sub), audience="sigstore", scope="openid")
    for name in ("access_token", "id_token"):
        claims = claims_of(token[name])
        assert claims["exp"] - claims["iat"] == 300
    assert token["expires_in"] == 300
