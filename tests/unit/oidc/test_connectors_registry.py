"""The ``connectors`` and ``local_accounts`` keys (services/oidc/connectors: registry, options,
the LDAP options and filter/DN escaping) and what the login and device pages offer, through the
app in-process (Flask's test client); sign-ins themselves are in tests/integration/oidc."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from sigstack.protocol.errors import ConfigError
from sigstack.services.oidc.config import OIDCConfig
from sigstack.services.oidc.connectors.ldap import LDAPOptions, user_dn, user_filter
from sigstack.services.oidc.connectors.options import Options
from sigstack.services.oidc.connectors.registry import Registry

from .helpers import auth_params, make_env

LDAP = {"type": "ldap", "id": "corp-ldap", "name": "Corp directory", "url": "ldaps://127.0.0.1:1",
        "user_base": "ou=people,dc=example,dc=org"}  # fmt: skip
OIDC = {"type": "oidc", "id": "corp-sso", "name": "Corp SSO", "issuer": "https://idp.example",
        "client_id": "sigstack"}  # fmt: skip


def registry(connectors: Any, local_accounts: bool = True) -> Registry:
    config = OIDCConfig.load(flags={"connectors": connectors, "local_accounts": local_accounts,
                                    "issuer_url": "http://127.0.0.1:5556"}, environ={})  # fmt: skip
    return Registry.from_config(config)


def test_several_connectors_in_order_with_local_accounts_last():
    found = registry([LDAP, OIDC])
    assert [(m.id, m.name, m.kind) for m in found.methods()] == [
        ("corp-ldap", "Corp directory", "password"), ("corp-sso", "Corp SSO", "redirect"),
        ("local", "Account on this issuer", "password")]  # fmt: skip
    assert found.password("corp-ldap") is not None and found.redirect("corp-ldap") is None
    assert found.redirect("corp-sso") is not None and found.get("nope") is None
    assert [m.id for m in registry([LDAP], local_accounts=False).methods()] == ["corp-ldap"]


def test_the_connectors_key_may_be_json_text_as_from_the_environment():
    assert [m.id for m in registry(json.dumps([OIDC])).methods()] == ["corp-sso", "local"]


def test_the_name_defaults_to_the_id():
    assert registry([{**OIDC, "name": None}]).methods()[0].name == "corp-sso"


@pytest.mark.parametrize(
    ("connectors", "message"),
    [
        ({"type": "ldap"}, "must be a list"),
        ("not json", "JSON list"),
        ([LDAP, {**OIDC, "id": "corp-ldap"}], "used twice"),
        ([{**LDAP, "id": "Corp"}], "lower-case"),
        ([{**LDAP, "id": "local"}], "local accounts"),
        ([{**LDAP, "type": "saml"}], "must be one of ldap, oidc"),
        ([{**LDAP, "start_tsl": True}], "unknown keys: start_tsl"),
        ([{**OIDC, "client_secret": "a", "client_secret_file": "/etc/hostname"}], "not both"),
        (["ldap"], r"connectors\[0\] must be an object"),
        ([OIDC, {**LDAP, "url": "http://dir"}], r"connectors\[1\]\.url"),
    ],
)
def test_bad_entries_are_refused_with_their_place(connectors, message):
    with pytest.raises(ConfigError, match=message):
        registry(connectors)


def ldap_options(**extra: Any) -> LDAPOptions:
    entry = {k: v for k, v in {**LDAP, **extra}.items() if v is not None}
    return LDAPOptions.read(Options(entry, "connectors[0]"))


def test_ldap_defaults():
    o = ldap_options()
    assert (o.host, o.port, o.ldaps, o.start_tls, o.timeout) == ("127.0.0.1", 1, True, False, 10)
    assert (o.user_filter, o.username_attribute, o.id_attribute, o.email_attribute) == (
        "(objectClass=person)", "uid", "entryUUID", "mail")  # fmt: skip
    assert (o.group_base, o.group_filter, o.group_member_attribute, o.group_member_value,
            o.group_name_attribute) == (None, "(objectClass=groupOfNames)", "member", "dn", "cn")  # fmt: skip
    assert ldap_options(url="ldap://dir.example", start_tls=True).port == 389
    assert ldap_options(url="ldaps://dir.example").port == 636


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"url": "ldap://dir.example"}, "start_tls"),
        ({"url": "ldap://dir.example", "start_tls": True, "insecure_plain": True}, "start_tls"),
        ({"start_tls": True}, "TLS already"),
        ({"url": "ldaps://dir.example/dc=x"}, "url"),
        ({"bind_dn": "cn=reader"}, "together"),
        ({"user_dn_template": "uid=x,ou=people"}, "{username}"),
        ({"user_dn_template": "uid={username}", "bind_dn": "cn=r", "bind_password": "p"}, "bind_dn"),
        ({"user_filter": "objectClass=person"}, "parentheses"),
        ({"disabled_filter": "x"}, "parentheses"),
        ({"timeout": 600}, "timeout"),
        ({"ca_file": "/nonexistent/ca.pem"}, "not a readable file"),
    ],
)  # fmt: skip
def test_bad_ldap_options(extra, message):
    with pytest.raises(ConfigError, match=message):
        ldap_options(**extra)


def test_a_bind_password_from_a_file_and_never_in_errors(tmp_path):
    (tmp_path / "pw").write_text("s3cret-line\nignored\n")
    assert ldap_options(bind_dn="cn=r", bind_password_file=str(tmp_path / "pw")).bind_password == (
        "s3cret-line")  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        ldap_options(bind_dn="cn=r", bind_password="hunter2-secret", bind_password_file="/x")
    assert "hunter2-secret" not in str(refused.value)


def test_names_are_escaped_in_filters_and_dns():
    """RFC 4515 section 3 and RFC 4514 section 2.4: what is typed never changes the query."""
    assert user_filter("(objectClass=person)", "uid", "*)(uid=*") == (
        r"(&(objectClass=person)(uid=\2a\29\28uid=\2a))")  # fmt: skip
    assert user_filter("(objectClass=person)", "uid", "a\\b\x00") == (
        r"(&(objectClass=person)(uid=a\5cb\00))")  # fmt: skip
    assert user_dn("uid={username},ou=people", "x,ou=admins") == r"uid=x\,ou\=admins,ou=people"
    assert user_dn("uid={username},ou=people", "#a+b") == r"uid=\#a\+b,ou=people"


# -- the pages -------------------------------------------------------------------------------------
def test_the_login_page_lists_every_way_to_choose(tmp_path):
    env = make_env(tmp_path, connectors=[LDAP, OIDC])
    page = env.client.get("/auth?" + urlencode(auth_params("x" * 43)))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for connector_id, name in (("corp-ldap", "Corp directory"), ("corp-sso", "Corp SSO"),
                               ("local", "Account on this issuer")):  # fmt: skip
        assert f"connector_id={connector_id}" in text and name in text
    assert 'name="password"' not in text  # nothing to type before choosing
    unknown = env.client.get("/auth?" + urlencode(auth_params("x" * 43, connector_id="dex-ldap")))
    assert "connector_id=corp-ldap" in unknown.get_data(as_text=True)  # ignored: choose
    chosen = env.client.get("/auth?" + urlencode(auth_params("x" * 43, connector_id="corp-ldap")))
    assert 'name="password"' in chosen.get_data(as_text=True)
    assert "Corp directory" in chosen.get_data(as_text=True)


def test_one_way_only_is_used_at_once(tmp_path):
    env = make_env(tmp_path, connectors=[LDAP], local_accounts=False)
    page = env.client.get("/auth?" + urlencode(auth_params("x" * 43)))
    assert 'name="password"' in page.get_data(as_text=True)
    assert "connector_id=local" not in page.get_data(as_text=True)
    local = env.client.get("/auth?" + urlencode(auth_params("x" * 43, connector_id="local")))
    assert "Account on this issuer" not in local.get_data(as_text=True)


def test_no_way_at_all_is_a_clear_page(tmp_path):
    env = make_env(tmp_path, connectors=[], local_accounts=False)
    page = env.client.get("/auth?" + urlencode(auth_params("x" * 43)))
    assert page.status_code == 400
    assert "No way for people to sign in is configured" in page.get_data(as_text=True)


def test_the_device_page_offers_every_way(tmp_path):
    env = make_env(tmp_path, connectors=[LDAP, OIDC])
    text = env.client.get("/device?user_code=BCDF-GHJK").get_data(as_text=True)
    for name in ("Corp directory", "Corp SSO", "Account on this issuer"):
        assert f"Continue with {name}" in text
    assert 'value="BCDF-GHJK"' in text
    unknown = env.client.get("/device?user_code=BCDF-GHJK&connector_id=corp-sso")
    assert unknown.status_code == 400  # a redirect way needs a pending code before going upstream
    assert "unknown, already used or expired" in unknown.get_data(as_text=True)
