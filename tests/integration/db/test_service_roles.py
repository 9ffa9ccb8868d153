"""The services at work on their own roles, with their database URLs passed outside the command line.

Each of oidc, ctlog and rekor is started as a real server on a fresh, migrated PostgreSQL whose
roles ``sigstack db upgrade --grant`` made, its URL given only through the environment
(``SIGSTACK_<SERVICE>_DATABASE_URL``, or ``..._FILE`` for Rekor), and then does what it exists
for: Rekor logs and serves an entry, the CT log logs a certificate, the issuer signs in a user
(a wrong password first), redeems a code, runs a device flow and issues a service account token.
No process of any of them has a database URL on its command line; nor has any child of
``sigstack up --database-url URL``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import text

from sigstack.services.runtime import db
from tests.integration.db.roles import (
    Role,
    clean_environment,
    command_line,
    environment_of,
    process_tree,
    service_roles,
)
from tests.integration.oidc.live import (
    DEVICE_GRANT,
    REDIRECT,
    auth_params,
    code_of,
    login_form,
    post_login,
)
from tests.support.dbs import fresh_postgres
from tests.support.entries import hashedrekord
from tests.support.oidc import csrf_from, pkce
from tests.support.servers import Service, sigstack_cli

pytestmark = [pytest.mark.postgres, pytest.mark.xdist_group("servers")]
PASSWORD = "roles-pass-1"


@contextmanager
def serve(name: str, *args: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """``sigstack serve NAME`` on a free port with ``env``; yields its URL; checks on the way out
    that no process of the server carries a database URL on its command line."""
    service = Service(name, *args, env=env, log=log)
    try:
        service.start(timeout=60)
        assert service.proc is not None
        yield service.url
        lines = [command_line(pid) for pid in process_tree(service.proc.pid)]
        assert len(lines) >= 2, lines  # the server and its worker(s)
        assert not [line for line in lines if "postgres" in line], lines
    finally:
        service.kill(signal.SIGTERM)


def _ca(tmp: Path) -> tuple[Path, list[str]]:
    """A root (written as PEM for --roots) and a leaf it issued, as a base64 DER chain."""
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key, issuer: str, signer, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    root_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    root = cert("test root", root_key, "test root", root_key, True)
    leaf = cert("test leaf", leaf_key, "test root", root_key, False)
    roots = tmp / "roots.pem"
    roots.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    der = [c.public_bytes(serialization.Encoding.DER) for c in (leaf, root)]
    return roots, [base64.b64encode(d).decode() for d in der]


def _oidc_flows(url: str, account: dict[str, str]) -> None:
    """Sign-in with a wrong then the right password, code exchange, device flow, service account:
    every table of the issuer read and written the way the issuer does it."""
    issuer = SimpleNamespace(url=url)
    http = requests.Session()
    verifier, challenge = pkce()
    form, csrf = login_form(issuer, http, auth_params(challenge))  # type: ignore[arg-type]
    wrong = post_login(http, form, csrf, "alice", "not-the-password")
    assert wrong.status_code in (200, 401) and "code=" not in wrong.headers.get("Location", "")
    form, csrf = login_form(issuer, http, auth_params(challenge))  # type: ignore[arg-type]
    code = code_of(post_login(http, form, csrf, "alice", PASSWORD))
    redeemed = requests.post(f"{url}/token", timeout=30, data={
        "grant_type": "authorization_code", "client_id": "sigstore", "redirect_uri": REDIRECT,
        "code": code, "code_verifier": verifier,
    })  # fmt: skip
    assert redeemed.status_code == 200, redeemed.text
    assert "id_token" in redeemed.json()

    started = requests.post(f"{url}/device/code", timeout=30,
                            data={"client_id": "sigstore", "scope": "openid email"})  # fmt: skip
    assert started.status_code == 200, started.text
    grant = started.json()
    page = http.get(f"{url}/device?user_code={grant['user_code']}", timeout=30)
    approved = http.post(f"{url}/device", timeout=30, data={
        "user_code": grant["user_code"], "username": "alice", "password": PASSWORD,
        "decision": "approve", "csrf_token": csrf_from(page.text),
    })  # fmt: skip
    assert approved.status_code == 200 and "Device approved" in approved.text, approved.text
    polled = requests.post(f"{url}/token", timeout=30, data={
        "grant_type": DEVICE_GRANT, "device_code": grant["device_code"], "client_id": "sigstore",
    })  # fmt: skip
    assert polled.status_code == 200, polled.text

    issued = requests.post(f"{url}/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": account["client_id"],
        "client_secret": account["client_secret"], "scope": "openid email",
    })  # fmt: skip
    assert issued.status_code == 200, issued.text


def _start_oidc(tmp: Path, env: dict[str, str]) -> dict[str, str]:
    """The admin commands, on the issuer's role too (compose's `admin` service uses it)."""
    data = str(tmp / "oidc")
    added = sigstack_cli("oidc", "add-user", "alice", "--email", "alice@example.org",
                     "--password-stdin", "--data-dir", data, env=env, stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    made = sigstack_cli("oidc", "add-service-account", "ci", "--data-dir", data, env=env)
    assert made.returncode == 0, made.stderr
    return dict(line.split(": ", 1) for line in made.stdout.splitlines() if ": " in line)


def test_each_service_runs_on_its_own_role_with_its_url_outside_the_command_line(tmp_path) -> None:
    with service_roles() as roles, fresh_postgres() as url:
        owner = clean_environment(SIGSTACK_DATABASE_URL=url,
                                  **{r.variable: r.url(url) for r in roles.values()})  # fmt: skip
        granted = sigstack_cli("db", "upgrade", "--grant", "oidc", "--grant", "ctlog",
                           "--grant", "rekor", env=owner)  # fmt: skip
        assert granted.returncode == 0, granted.stderr

        def env_of(role: Role) -> dict[str, str]:
            return clean_environment(**{role.variable: role.url(url)})

        rekor_file = tmp_path / "rekor-database-url"
        rekor_file.write_text(roles["rekor"].url(url) + "\n")
        rekor_env = clean_environment(SIGSTACK_REKOR_DATABASE_URL_FILE=str(rekor_file))
        with serve("rekor", "--data-dir", str(tmp_path / "rekor"), "--hostname", "log.test",
                   "--workers", "1", env=rekor_env, log=tmp_path / "rekor.log") as rekor:  # fmt: skip
            posted = requests.post(f"{rekor}/api/v1/log/entries", json=hashedrekord(b"roles"),
                                   timeout=30)  # fmt: skip
            assert posted.status_code == 201, posted.text
            read = requests.get(f"{rekor}/api/v1/log/entries?logIndex=0", timeout=30)
            assert read.status_code == 200 and read.json().keys() == posted.json().keys()
            digest = hashlib.sha256(b"roles").hexdigest()
            found = requests.post(f"{rekor}/api/v1/index/retrieve", timeout=30,
                                  json={"hash": f"sha256:{digest}"})  # fmt: skip
            assert found.status_code == 200 and len(found.json()) == 1, found.text

        roots, chain = _ca(tmp_path)
        with serve("ctlog", "--data-dir", str(tmp_path / "ctlog"), "--roots", str(roots),
                   "--workers", "1", env=env_of(roles["ctlog"]),
                   log=tmp_path / "ctlog.log") as ctlog:  # fmt: skip
            added = requests.post(f"{ctlog}/ct/v1/add-chain", json={"chain": chain}, timeout=30)
            assert added.status_code == 200, added.text
            sth = requests.get(f"{ctlog}/ct/v1/get-sth", timeout=30).json()
            assert sth["tree_size"] == 1

        oidc_env = env_of(roles["oidc"])
        account = _start_oidc(tmp_path, oidc_env)
        with serve("oidc", "--data-dir", str(tmp_path / "oidc"), "--workers", "1",
                   env=oidc_env, log=tmp_path / "oidc.log") as oidc:  # fmt: skip
            _oidc_flows(oidc, account)

        engine = db.make_engine(url)  # what the services wrote is in the database
        with engine.connect() as conn:
            sizes = dict(conn.execute(text("SELECT name, size FROM tlog_trees")).all())
            events = set(conn.execute(text("SELECT event FROM oidc_audit")).scalars())
            codes = conn.execute(text("SELECT count(*) FROM oidc_device_codes")).scalar()
        engine.dispose()
        assert sizes == {"rekor": 1, "ctlog": 1}
        assert len(events) >= 3 and codes == 0, events  # the device code was taken


@pytest.mark.xdist_group("stack")
def test_up_passes_the_database_url_to_its_children_in_their_environment(tmp_path) -> None:
    from tests.interop.conftest import Stack

    with fresh_postgres() as url:
        stack = Stack(tmp_path / "data", tmp_path / "up.out").start("--database-url", url)
        try:
            assert stack.proc is not None
            tree = process_tree(stack.proc.pid)
            lines = {pid: command_line(pid) for pid in tree}
            assert url in lines[stack.proc.pid]  # the test sees command lines where they are
            children = {pid: line for pid, line in lines.items() if " serve " in line}
            served = {line.split(" serve ", 1)[1].split()[0]: pid for pid, line in children.items()
                      if _parent(pid) == stack.proc.pid}  # fmt: skip
            assert set(served) == {"oidc", "fulcio", "ctlog", "rekor", "tuf", "tsa", "rekor2"}, (
                lines
            )
            assert len(tree) > 8  # up, seven services and their workers
            leaked = [line for pid, line in lines.items()
                      if pid != stack.proc.pid and ("postgres" in line or url in line)]  # fmt: skip
            assert leaked == []
            for name, pid in served.items():
                env = environment_of(pid)
                own = {k: v for k, v in env.items() if k.endswith("_DATABASE_URL")}
                if name in ("oidc", "ctlog", "rekor", "rekor2"):
                    assert own == {f"SIGSTACK_{name.upper()}_DATABASE_URL": url}, name
                else:
                    assert own == {}, name
        finally:
            assert stack.stop() == 0


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])
