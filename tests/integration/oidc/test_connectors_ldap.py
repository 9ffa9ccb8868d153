"""Sign-in through LDAP connectors (issue 16) against a real OpenLDAP slapd started by the tests
(tests/support/ldap.py: its own people, groups and TLS certificate) and a real issuer
(``sigstack serve oidc``, gunicorn) configured with three connectors: the directory over LDAPS
with groupOfNames groups, the same directory over StartTLS with posixGroup (memberUid) groups,
and a directory that is not there.

What is proved: the login page offers every configured way; a sign-in gives a token whose
``email`` and ``groups`` come from the directory and whose ``federated_claims.user_id`` is the
entry's entryUUID; wrong password, unknown user, disabled user, an entry without mail and an
unreachable directory each give a clear page and no code; the throttle applies as for local
accounts (and an unreachable directory does not count); the device flow works through LDAP.
Then the connector on its own against the same slapd: the TLS chain and host name are checked,
plain LDAP only when configured, a directory that never answers is given up after ``timeout``,
a directory without a search account is used through ``user_dn_template``.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sigstack.protocol.errors import AuthenticationError, ConfigError, UnavailableError
from sigstack.services.oidc.connectors.ldap import LDAPConnector
from sigstack.services.oidc.connectors.options import Options
from tests.support.connectors import (
    Flow,
    code_of,
    device_poll,
    device_start,
    device_token,
    no_code,
    password_sign_in,
    verified,
    visible_text,
)
from tests.support.keys import tls_pair
from tests.support.ldap import (
    PEOPLE,
    PEOPLE_BASE,
    READER_DN,
    READER_PASSWORD,
    Directory,
    ldap_connector,
    slapd,
)
from tests.support.oidc import csrf_from
from tests.support.servers import free_port

from .live import PASSWORD, Live, live_issuer, session

WRONG = "The username or password is not correct."


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    with slapd(tmp_path_factory.mktemp("slapd")) as running:
        yield running


@pytest.fixture(scope="module")
def live(directory: Directory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    connectors = [
        ldap_connector(directory),
        ldap_connector(
            directory,
            id="corp-starttls",
            name="Directory over StartTLS",
            url=directory.ldap_url,
            start_tls=True,
            group_filter="(objectClass=posixGroup)",
            group_member_attribute="memberUid",
            group_member_value="uid",
        ),  # fmt: skip
        ldap_connector(
            directory,
            id="gone",
            name="Old directory",
            timeout=2,
            url=f"ldaps://127.0.0.1:{free_port()}",
        ),  # fmt: skip
    ]
    config = {"connectors": connectors, "login_max_failures": 2, "login_backoff_seconds": 60,
              "device_poll_interval": 1}  # fmt: skip
    with live_issuer("sqlite", tmp_path_factory.mktemp("issuer"), ["alice"], config) as running:
        yield running


def entry_uuid(directory: Directory, uid: str) -> str:
    out = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", directory.ldap_url, "-D", READER_DN,
                          "-w", READER_PASSWORD, "-b", f"uid={uid},ou=people,dc=example,dc=org",
                          "-s", "base", "entryUUID"],
                         check=True, capture_output=True, text=True, timeout=30).stdout  # fmt: skip
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("entryUUID"))


def test_the_login_page_offers_every_connector_and_the_local_accounts(live):
    page = requests.get(Flow(live.url).url, timeout=30)
    assert page.status_code == 200
    text = visible_text(page.text)
    for name in ("Corp directory", "Directory over StartTLS", "Old directory",
                 "Account on this issuer"):  # fmt: skip
        assert name in text
    for connector_id in ("corp-ldap", "corp-starttls", "gone", "local"):
        assert f"connector_id={connector_id}" in page.text
    chosen = requests.get(Flow(live.url, "corp-ldap").url, timeout=30)
    assert chosen.status_code == 200 and "Corp directory" in visible_text(chosen.text)
    assert 'name="password"' in chosen.text


def test_ldaps_sign_in_gives_the_directory_email_groups_and_entry_uuid(live, directory):
    flow = Flow(live.url, "corp-ldap")
    resp = password_sign_in(session(), flow, "alice", PEOPLE["alice"][1])
    answer = flow.redeem(code_of(resp))
    assert answer.status_code == 200, answer.text
    claims = verified(live.url, answer.json()["id_token"])
    assert claims["email"] == "alice@example.org" and claims["email_verified"] is True
    assert claims["groups"] == ["release-managers", "signers"]
    assert claims["federated_claims"] == {"connector_id": "corp-ldap",
                                          "user_id": entry_uuid(directory, "alice")}  # fmt: skip
    assert claims["sub"].startswith("c-") and claims["nonce"] == "client-nonce-1"
    access = verified(live.url, answer.json()["access_token"])
    assert access["email"] == claims["email"] and access["groups"] == claims["groups"]
    again = Flow(live.url, "corp-ldap")
    second = again.redeem(code_of(password_sign_in(session(), again, "alice", PEOPLE["alice"][1])))
    assert verified(live.url, second.json()["id_token"])["sub"] == claims["sub"]  # immutable
    rows = [
        r for r in live.store.audit_rows() if r["event"] == "login" and r["outcome"] == "success"
    ]
    assert any(r["username"] == "corp-ldap:alice" for r in rows)


def test_starttls_sign_in_with_posix_group_membership(live, directory):
    flow = Flow(live.url, "corp-starttls")
    resp = password_sign_in(session("127.0.0.2"), flow, "bob", PEOPLE["bob"][1])
    claims = verified(live.url, flow.redeem(code_of(resp)).json()["id_token"])
    assert claims["email"] == "bob@example.org"
    assert claims["groups"] == ["developers"]
    assert claims["federated_claims"]["connector_id"] == "corp-starttls"
    assert claims["federated_claims"]["user_id"] == entry_uuid(directory, "bob")


def test_the_same_person_through_two_connectors_is_two_identities(live):
    subs = []
    for connector_id in ("corp-ldap", "corp-starttls"):
        flow = Flow(live.url, connector_id)
        resp = password_sign_in(session("127.0.0.3"), flow, "carol", PEOPLE["carol"][1])
        subs.append(verified(live.url, flow.redeem(code_of(resp)).json()["id_token"])["sub"])
    assert subs[0] != subs[1]


@pytest.mark.parametrize(
    ("username", "password", "status", "message"),
    [
        ("alice", "not-her-password", 401, WRONG),
        ("nobody", "whatever-1", 401, WRONG),
        ("erin", PEOPLE["erin"][1], 401, "This account is disabled."),
        ("alice", "", 401, WRONG),  # an unauthenticated bind (RFC 4513 5.1.2) must not pass
        ("*", PEOPLE["alice"][1], 401, WRONG),  # a filter wildcard matches nothing but itself
        ("alice)(uid=*", PEOPLE["alice"][1], 401, WRONG),
        ("dave", PEOPLE["dave"][1], 400, "no email address"),
    ],
)
def test_refused_sign_ins_give_a_clear_page_and_no_code(live, username, password, status, message):
    flow = Flow(live.url, "corp-ldap")
    resp = password_sign_in(session("127.0.0.4"), flow, username, password)
    no_code(resp)
    assert resp.status_code == status
    assert message in visible_text(resp.text)
    assert f'value="{username}"' in resp.text or not username.isalnum()  # the form again


def test_an_unreachable_directory_gives_a_clear_page_and_is_not_counted(live):
    http = session("127.0.0.5")
    for _ in range(4):  # more than login_max_failures: none of them counts
        resp = password_sign_in(http, Flow(live.url, "gone"), "alice", "any-password-1")
        no_code(resp)
        assert resp.status_code == 503
        assert "The directory cannot be reached just now" in visible_text(resp.text)
    outcomes = [r["outcome"] for r in live.store.audit_rows() if r["ip"] == "127.0.0.5"]
    assert outcomes == ["unavailable"] * 4


def test_wrong_passwords_throttle_the_account_at_that_address_as_for_local_accounts(live):
    http = session("127.0.0.6")
    for _ in range(2):  # login_max_failures
        assert (
            password_sign_in(http, Flow(live.url, "corp-ldap"), "carol", "guess").status_code == 401
        )
    held = password_sign_in(http, Flow(live.url, "corp-ldap"), "carol", PEOPLE["carol"][1])
    no_code(held)
    assert held.status_code == 429 and int(held.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in visible_text(held.text)
    # the owner elsewhere is not held up, and the local account of the same name is another count
    elsewhere = Flow(live.url, "corp-ldap")
    code_of(password_sign_in(session("127.0.0.7"), elsewhere, "carol", PEOPLE["carol"][1]))
    local = Flow(live.url, "local")
    code_of(password_sign_in(http, local, "alice", PASSWORD))


def test_device_flow_through_the_directory(live):
    grant, verifier = device_start(live.url)
    http = session("127.0.0.8")
    url = f"{live.url}/device?user_code={grant['user_code']}&connector_id=corp-ldap"
    page = http.get(url, timeout=30)
    assert page.status_code == 200 and "Corp directory" in visible_text(page.text)
    wrong = http.post(url, timeout=30, data={
        "user_code": grant["user_code"], "username": "alice", "password": "nope",
        "decision": "approve", "csrf_token": csrf_from(page.text)})  # fmt: skip
    assert wrong.status_code == 401 and WRONG in visible_text(wrong.text)
    assert device_poll(live.url, grant, verifier).json()["error"] == "authorization_pending"
    done = http.post(url, timeout=30, data={
        "user_code": grant["user_code"], "username": "alice", "password": PEOPLE["alice"][1],
        "decision": "approve", "csrf_token": csrf_from(wrong.text)})  # fmt: skip
    assert done.status_code == 200 and "Device approved" in visible_text(done.text)
    token = device_token(live.url, grant, verifier)
    claims = verified(live.url, token["id_token"])
    assert claims["email"] == "alice@example.org"
    assert claims["groups"] == ["release-managers", "signers"]
    assert claims["federated_claims"]["connector_id"] == "corp-ldap"


def test_nothing_typed_is_logged_in_clear(live):
    log = Path(live.log).read_text(errors="replace")
    for _, password, _ in PEOPLE.values():
        assert password not in log
    assert "not-her-password" not in log


# -- the connector on its own ---------------------------------------------------------------------
def connector(directory: Directory, **extra: object) -> LDAPConnector:
    return LDAPConnector.from_options("t", "Test", Options(ldap_connector(directory, **extra), "t"))


def test_a_certificate_from_another_ca_is_refused(directory, tmp_path):
    other_ca, _ = tls_pair(tmp_path)
    (tmp_path / "other.pem").write_bytes(other_ca)
    for url in (directory.ldaps_url, directory.ldap_url):
        ldap = connector(directory, url=url, start_tls=url.startswith("ldap:") or None,
                         ca_file=str(tmp_path / "other.pem"))  # fmt: skip
        with pytest.raises(UnavailableError, match="cannot be reached"):
            ldap.authenticate("alice", PEOPLE["alice"][1])
    assert connector(directory).authenticate("alice", PEOPLE["alice"][1]).email


def test_the_host_name_is_checked(directory):
    """The server's certificate names 127.0.0.1 only: reached as localhost it is refused."""
    port = directory.ldaps_url.rsplit(":", 1)[1]
    ldap = connector(directory, url=f"ldaps://localhost:{port}")
    with pytest.raises(UnavailableError):
        ldap.authenticate("alice", PEOPLE["alice"][1])


def test_plain_ldap_only_when_configured(directory):
    with pytest.raises(ConfigError, match="start_tls"):
        connector(directory, url=directory.ldap_url)
    with pytest.raises(ConfigError, match="ldaps:// is TLS already"):
        connector(directory, start_tls=True)
    plain = connector(directory, url=directory.ldap_url, insecure_plain=True, ca_file=None)
    assert plain.authenticate("bob", PEOPLE["bob"][1]).email == "bob@example.org"


def test_a_directory_that_never_answers_is_given_up_after_the_timeout():
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        opts = {"type": "ldap", "url": f"ldap://127.0.0.1:{port}", "insecure_plain": True,
                "user_base": PEOPLE_BASE, "timeout": 1}  # fmt: skip
        ldap = LDAPConnector.from_options("hung", "Hung", Options(opts, "hung"))
        started = time.monotonic()
        with pytest.raises(UnavailableError):
            ldap.authenticate("alice", "a-password")
        assert time.monotonic() - started < 10


def test_a_directory_without_a_search_account_through_a_dn_template(directory):
    ldap = connector(directory, bind_dn=None, bind_password=None,
                     user_dn_template="uid={username},ou=people,dc=example,dc=org")  # fmt: skip
    alice = ldap.authenticate("alice", PEOPLE["alice"][1])
    assert (alice.email, alice.name, alice.groups) == (
        "alice@example.org", "alice", ("release-managers", "signers"))  # fmt: skip
    assert alice.subject == entry_uuid(directory, "alice")
    with pytest.raises(AuthenticationError):
        ldap.authenticate("alice", "wrong")
    with pytest.raises(AuthenticationError):
        ldap.authenticate("alice,ou=people", PEOPLE["alice"][1])  # escaped, so no such entry
    with pytest.raises(AuthenticationError, match="disabled"):
        ldap.authenticate("erin", PEOPLE["erin"][1])


def test_a_refused_search_account_is_the_operators_problem_not_a_wrong_password(directory):
    ldap = connector(directory, bind_password="not-the-reader-password")
    with pytest.raises(UnavailableError):
        ldap.authenticate("alice", PEOPLE["alice"][1])
