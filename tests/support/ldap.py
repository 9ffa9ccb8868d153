"""A private OpenLDAP ``slapd`` for the LDAP connector tests: its own slapd.conf, database, TLS
certificate (a fresh CA's, for 127.0.0.1) and people, in a temporary directory, listening on
``ldap://`` (StartTLS offered) and ``ldaps://`` on free loopback ports.

The directory (suffix ``dc=example,dc=org``) holds:

- ``cn=reader``: the search account (``READER_PASSWORD``);
- people under ``ou=people`` (``PEOPLE``: uid, mail, password; ``erin`` is disabled by
  ``employeeType: disabled``, ``dave`` has no mail);
- groups under ``ou=groups``: ``groupOfNames`` with ``member`` DNs and ``posixGroup`` with
  ``memberUid`` names (``GROUPS``).

Passwords can only be used to bind (``by anonymous auth``); everything else can be read by
anyone bound. A test that needs slapd skips when it is not installed (a failure under
``SIGSTACK_TEST_NO_SKIP=1``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.keys import tls_pair
from tests.support.servers import free_port

SLAPD = Path("/usr/sbin/slapd")
SCHEMA = Path("/etc/ldap/schema")
SUFFIX = "dc=example,dc=org"
ADMIN_DN, ADMIN_PASSWORD = f"cn=admin,{SUFFIX}", "admin-secret-1"
READER_DN, READER_PASSWORD = f"cn=reader,{SUFFIX}", "reader-secret-1"
PEOPLE_BASE, GROUP_BASE = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}"
# uid -> (mail or None, password, disabled)
PEOPLE: dict[str, tuple[str | None, str, bool]] = {
    "alice": ("alice@example.org", "alice-pass-1", False),
    "bob": ("bob@example.org", "bob-pass-1", False),
    "carol": ("carol@example.org", "carol-pass-1", False),
    "dave": (None, "dave-pass-1", False),
    "erin": ("erin@example.org", "erin-pass-1", True),
}
# cn -> (objectClass, members by uid)
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "signers": ("groupOfNames", ("alice", "carol")),
    "release-managers": ("groupOfNames", ("alice",)),
    "developers": ("posixGroup", ("alice", "bob")),
}


def person_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE_BASE}"


def _seed() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example",
        f"dn: {READER_DN}\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\n"
        f"cn: reader\nuserPassword: {READER_PASSWORD}",
        f"dn: {PEOPLE_BASE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUP_BASE}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for uid, (mail, password, disabled) in PEOPLE.items():
        lines = [f"dn: {person_dn(uid)}", "objectClass: inetOrgPerson", f"uid: {uid}",
                 f"cn: {uid.title()}", f"sn: {uid.title()}", f"userPassword: {password}"]  # fmt: skip
        if mail:
            lines.append(f"mail: {mail}")
        if disabled:
            lines.append("employeeType: disabled")
        entries.append("\n".join(lines))
    for gid, (cn, (kind, members)) in enumerate(GROUPS.items(), start=5000):
        lines = [f"dn: cn={cn},{GROUP_BASE}", f"objectClass: {kind}", f"cn: {cn}"]
        if kind == "posixGroup":
            lines += [f"gidNumber: {gid}", *(f"memberUid: {uid}" for uid in members)]
        else:
            lines += [f"member: {person_dn(uid)}" for uid in members]
        entries.append("\n".join(lines))
    return "\n\n".join(entries) + "\n"


@dataclass
class Directory:
    ldap_url: str  # ldap://127.0.0.1:PORT (StartTLS offered)
    ldaps_url: str  # ldaps://127.0.0.1:PORT
    ca_file: Path  # the CA that issued the server's certificate (for 127.0.0.1 only)
    root: Path
    pid_file: Path

    def ldapadd(self, ldif: str) -> None:
        """Add entries as the administrator (the ``ldapadd`` tool over ``ldap://``)."""
        subprocess.run(["ldapadd", "-x", "-H", self.ldap_url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD],
                       input=ldif, text=True, check=True, capture_output=True, timeout=30)  # fmt: skip

    def stop(self) -> None:
        """Stop slapd (SIGTERM to the pid in its pid file) and wait until its port is closed."""
        if not self.pid_file.exists():
            return
        pid = int(self.pid_file.read_text().split()[0])
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"slapd did not listen on port {port}")


@contextmanager
def slapd(tmp: Path) -> Iterator[Directory]:
    """A running private slapd in ``tmp`` with the people and groups of the module docstring."""
    if not SLAPD.exists() or not shutil.which("ldapadd") or not (SCHEMA / "nis.schema").exists():
        pytest.skip("needs OpenLDAP slapd and ldap-utils (apt-get install slapd ldap-utils)")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "db").mkdir()
    ca_pem, _ = tls_pair(tmp)  # writes srv.pem and srv.key for 127.0.0.1
    ca_file = tmp / "ca.pem"
    ca_file.write_bytes(ca_pem)
    admin_hash = subprocess.run(["slappasswd", "-s", ADMIN_PASSWORD], check=True, text=True,
                                capture_output=True).stdout.strip()  # fmt: skip
    pid_file = tmp / "slapd.pid"
    schemas = "\n".join(
        f"include {SCHEMA / n}.schema" for n in ("core", "cosine", "inetorgperson", "nis")
    )
    (tmp / "slapd.conf").write_text(f"""{schemas}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {pid_file}
argsfile {tmp / "slapd.args"}
TLSCertificateFile {tmp / "srv.pem"}
TLSCertificateKeyFile {tmp / "srv.key"}
database mdb
maxsize 104857600
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {admin_hash}
directory {tmp / "db"}
index objectClass eq
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by anonymous none
""")  # fmt: skip
    plain, tls = free_port(), free_port()
    urls = f"ldap://127.0.0.1:{plain}/ ldaps://127.0.0.1:{tls}/"
    started = subprocess.run([str(SLAPD), "-f", str(tmp / "slapd.conf"), "-h", urls],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    if started.returncode != 0:
        raise RuntimeError(f"slapd did not start: {started.stderr[-2000:]}")
    directory = Directory(f"ldap://127.0.0.1:{plain}", f"ldaps://127.0.0.1:{tls}", ca_file, tmp,
                          pid_file)  # fmt: skip
    try:
        _wait_port(plain)
        _wait_port(tls)
        directory.ldapadd(_seed())
        yield directory
    finally:
        directory.stop()


def ldap_connector(directory: Directory, **extra: object) -> dict[str, object]:
    """A connector entry for ``directory`` over LDAPS with the search account; ``extra`` adds to
    or replaces its options (None removes one)."""
    entry: dict[str, object] = {
        "type": "ldap", "id": "corp-ldap", "name": "Corp directory", "url": directory.ldaps_url,
        "ca_file": str(directory.ca_file), "bind_dn": READER_DN, "bind_password": READER_PASSWORD,
        "user_base": PEOPLE_BASE, "user_filter": "(objectClass=inetOrgPerson)",
        "disabled_filter": "(employeeType=disabled)", "group_base": GROUP_BASE,
        "group_filter": "(objectClass=groupOfNames)", "timeout": 5,
    }  # fmt: skip
    entry.update(extra)
    return {k: v for k, v in entry.items() if v is not None}
