"""The first hour of a new user (issue 15), on a stack started with ``sigstack up``:

1. the commands the ready report prints work as pasted into bash, with a PATH that does not hold
   the virtual environment (token, sign-blob, verify-blob, sigstore-python); without curl and jq
   the token command is ``sigstack oidc token``, which needs neither;
2. the report names the identities to verify against, and its password command resets the demo
   user's password;
3. a second ``up`` on ports a stack holds fails at once, naming the port and the service, with no
   traceback and no "sigstack is up"; a foreign server on one of the ports, even one that shares
   the port (SO_REUSEPORT, as the servers bind) and answers /healthz 200, is never taken for ours;
4. a token Fulcio refuses gets Fulcio's one wire message, the exact reason in Fulcio's log (under
   the request id) and, from ``sign-blob``, a list of what to check.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol.protojson import b64
from sigstack.services import stack_report
from tests.interop.conftest import SIGSTORE_PY, Stack, free_port_base
from tests.support.servers import Served
from tests.support.testdata import ROOT

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("stack")]

FULCIO_TOKEN_MESSAGE = "There was an error processing the identity token"


def _path_without_venv() -> str:
    """A PATH with bash, curl and jq (where installed) but not the virtual environment."""
    venv_bin = Path(sys.executable).parent.resolve()
    dirs = {str(Path(found).parent) for tool in ("bash", "curl", "jq")
            if (found := shutil.which(tool))}  # fmt: skip
    dirs = {d for d in dirs if Path(d).resolve() != venv_bin} or {"/usr/bin", "/bin"}
    path = os.pathsep.join(sorted(dirs))
    assert shutil.which("sigstack", path=path) is None, "a sigstack outside the venv is on PATH"
    return path


def _bash(
    script: str, cwd: Path, path: str, stdin: str | None = None
) -> subprocess.CompletedProcess:
    env = {"PATH": path, "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run(["/bin/bash", "-c", f"set -euo pipefail\n{script}"], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=180)  # fmt: skip


def _report(stack: Stack) -> list[str]:
    lines = stack.out.read_text().splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("sigstack is up in"))
    end = next(i for i in range(start, len(lines)) if lines[i] == "Ctrl-C stops the stack.")
    return lines[start : end + 1]


def _printed(report: list[str], marker: str) -> str:
    found = [line.strip() for line in report if marker in line]
    assert len(found) == 1, f"{marker!r} printed {len(found)} times:\n" + "\n".join(report)
    return found[0]


# -- 1. the printed commands, as pasted -------------------------------------------------------------


def test_printed_commands_work_as_pasted_without_the_venv_on_path(stack: Stack, tmp_path) -> None:
    report = _report(stack)
    token = _printed(report, "TOKEN=$(")
    sign = _printed(report, " sign-blob FILE ")
    verify = _printed(report, " verify-blob FILE ")
    assert SIGSTORE_PY.exists(), "sigstore-python is part of the test extra"
    sigstore = _printed(report, "sigstore-python: ").removeprefix("sigstore-python:").strip()
    (tmp_path / "FILE").write_text("pasted from the ready report\n")
    done = _bash("\n".join([token, sign, verify, sigstore]), tmp_path, _path_without_venv())
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "FILE.sigstore.json").exists()
    assert (tmp_path / "FILE.sigstore-python.json").exists()
    # sigstore-python's bundle verifies with our client too
    check = verify.replace("FILE.sigstore.json", "FILE.sigstore-python.json")
    assert _bash(check, tmp_path, _path_without_venv()).returncode == 0


def test_without_curl_and_jq_the_token_command_is_sigstack_oidc_token(
    stack: Stack, tmp_path, monkeypatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    line, note = stack_report.token_command(stack.data / "demo-service-account.json", stack.account)
    assert "curl" not in line and " oidc token --account " in line
    assert note is not None and "curl and jq are not installed" in note
    done = _bash(f'{line}\nprintf %s "$TOKEN"', tmp_path, str(empty))
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout, options={"verify_signature": False})
    assert claims["aud"] == "sigstore" and claims["email"] == stack.identity


# -- 2. identities and the demo user's password -----------------------------------------------------


def test_the_report_names_the_identities_to_verify_against(stack: Stack) -> None:
    report = "\n".join(_report(stack))
    assert stack.identity in report  # the service account's
    assert "demo@sigstack.local" in report  # the demo user's
    assert f"issuer {stack.urls['oidc']}" in report


def _sign_in(oidc: str, username: str, password: str) -> int:
    """The login form of the authorization endpoint: the status of the POST (302 = signed in)."""
    from tests.integration.oidc.live import auth_params, login_form, post_login, session
    from tests.support.oidc import pkce

    http = session()
    url, csrf = login_form(types.SimpleNamespace(url=oidc), http, auth_params(pkce()[1]))  # type: ignore[arg-type]
    return post_login(http, url, csrf, username, password).status_code


def test_the_printed_password_command_resets_the_demo_password(stack: Stack, tmp_path) -> None:
    printed = _printed(_report(stack), "demo user: demo")
    command = re.search(r"to change it: (.+)\)$", printed)
    assert command, printed
    old, new = stack.demo_password(), "a-new-password-" + secrets.token_hex(4)
    path = _path_without_venv()
    done = _bash(f"{command.group(1)} --password-stdin", tmp_path, path, stdin=new + "\n")
    try:
        assert done.returncode == 0, done.stderr
        assert _sign_in(stack.urls["oidc"], "demo", new) == 302
        assert _sign_in(stack.urls["oidc"], "demo", old) != 302
    finally:  # other tests sign in with the password the report showed
        restore = _bash(f"{command.group(1)} --password-stdin", tmp_path, path, stdin=old + "\n")
        assert restore.returncode == 0, restore.stderr
    short = _bash(f"{command.group(1)} --password-stdin", tmp_path, path, stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr


# -- 3. ports ---------------------------------------------------------------------------------------


def _up(
    data: Path, port_base: int, timeout: float = 90, env: dict[str, str] | None = None
) -> tuple[int | None, str, float]:
    """``sigstack up`` until it exits (or ``timeout``: then stopped, services included);
    (code, output, seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sigstack.client.cli", "up", "--data-dir", str(data),
                             "--port-base", str(port_base)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out, time.monotonic() - started
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        return None, out, time.monotonic() - started


def test_a_second_up_on_held_ports_fails_fast_and_names_the_port(stack: Stack, tmp_path) -> None:
    code, out, seconds = _up(tmp_path / "second", stack.port_base)
    assert code == 1, out
    assert seconds < 20, out
    assert f"port {stack.port_base} " in out and "oidc" in out and "PORT_BASE=N" in out
    assert "Traceback" not in out and "sigstack is up" not in out
    assert not (tmp_path / "second").exists()  # refused before anything was made
    assert stack.proc is not None and stack.proc.poll() is None  # the first stack is unharmed


def test_up_takes_the_database_from_the_environment(tmp_path) -> None:
    """``SIGSTACK_DATABASE_URL`` stands in for ``--database-url`` (the password stays off ``up``'s
    command line); an unreachable database is a message, not a traceback, and the password is
    not in it."""
    url = f"postgresql://sigstack:pw-{secrets.token_hex(6)}@127.0.0.1:{free_port_base(1)}/none"
    env = {**os.environ, "SIGSTACK_DATABASE_URL": url}
    code, out, _seconds = _up(tmp_path / "data", free_port_base(), timeout=60, env=env)
    assert code == 1, out
    assert "$SIGSTACK_DATABASE_URL" in out and "Connection refused" in out
    assert "Traceback" not in out and url.split("@")[0].split(":")[-1] not in out


class _Foreign(ThreadingHTTPServer):
    """Answers ``GET /healthz`` with 200 ``{"status": "ok"}``; binds with SO_REUSEPORT, as the
    services' server does, so that a careless second binder could share the port with it."""

    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[tuple[int, str]]:
    """(port base, URL) with a foreign /healthz server on the base's ctlog port (N+2)."""
    base = free_port_base()
    with Served(_Foreign(("127.0.0.1", base + 2), _Healthy)) as served:
        yield base, served.url


def test_a_foreign_healthz_on_a_port_is_not_taken_for_ours(foreign, tmp_path) -> None:
    base, _url = foreign
    code, out, _seconds = _up(tmp_path / "data", base, timeout=90)
    assert code == 1, out
    assert f"port {base + 2} " in out and "ctlog" in out and "another program" in out
    assert "sigstack is up" not in out and "Traceback" not in out


def test_readiness_takes_only_our_own_instance(foreign, tmp_path) -> None:
    """Should a foreign server take a port after the check (a race), the health wait refuses its
    answer instead of counting the service as up."""
    from sigstack.protocol.errors import ConfigError
    from sigstack.services.stack_processes import wait_healthy

    _base, url = foreign
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = time.monotonic()
        with pytest.raises(ConfigError, match="answers /healthz, but not as the ctlog"):
            wait_healthy({"ctlog": child}, {"ctlog": url}, {"ctlog": "up-ours"}, 30, tmp_path)
        assert time.monotonic() - started < 10
    finally:
        child.kill()
        child.wait()


# -- 4. tokens Fulcio refuses -----------------------------------------------------------------------


def _issuer_key(stack: Stack) -> tuple[Any, str]:
    (path,) = (stack.data / "oidc" / "keys").glob("*.pem")
    return serialization.load_pem_private_key(path.read_bytes(), None), path.stem


def _token(stack: Stack, key: Any = None, kid: str = "", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": stack.urls["oidc"], "sub": "first-hour", "aud": "sigstore",
            "email": "demo@sigstack.local", "email_verified": True, "iat": now, "exp": now + 300,
            **claims}  # fmt: skip
    if key is None:
        key, kid = _issuer_key(stack)
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def _ask_fulcio(stack: Stack, token: str) -> tuple[int, dict[str, Any], str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))  # fmt: skip
    request_id = "first-hour-" + secrets.token_hex(8)
    req = urllib.request.Request(
        f"{stack.urls['fulcio']}/api/v2/signingCert", method="POST",
        data=json.dumps({"certificateSigningRequest": b64(csr)}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                 "X-Request-Id": request_id},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read()), request_id
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), request_id


def _fulcio_log_line(stack: Stack, request_id: str) -> dict[str, Any]:
    """Fulcio's refusal line for ``request_id``."""
    deadline = time.monotonic() + 10
    while True:
        for line in (stack.data / "logs" / "fulcio.log").read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("request_id") == request_id and record.get("logger") == "sigstack.fulcio":
                return dict(record)
        assert time.monotonic() < deadline, f"no refusal logged for {request_id}"
        time.sleep(0.1)


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[10] != "A" else "B") + signature[11:]
    return ".".join((head, payload, signature[:10] + flipped))


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("bad signature", "no key of the issuer verifies the token signature"),
        ("expired", "token is expired"),
        ("wrong audience", 'expected audience "sigstore"'),
        ("unknown issuer", "'https://issuer.elsewhere.example' is not configured"),
    ],
)
def test_fulcio_keeps_its_wire_message_and_logs_the_reason(stack: Stack, case, reason) -> None:
    if case == "bad signature":
        token = _tampered(_token(stack))
    elif case == "expired":
        token = _token(stack, exp=int(time.time()) - 60, iat=int(time.time()) - 660)
    elif case == "wrong audience":
        token = _token(stack, aud="not-sigstore")
    else:
        token = _token(stack, ec.generate_private_key(ec.SECP256R1()), "k1",
                       iss="https://issuer.elsewhere.example")  # fmt: skip
    status, body, request_id = _ask_fulcio(stack, token)
    assert status == 400
    assert body == {"code": 3, "message": FULCIO_TOKEN_MESSAGE, "details": []}
    line = _fulcio_log_line(stack, request_id)
    assert line["level"] == "warning" and FULCIO_TOKEN_MESSAGE in line["message"]
    assert reason in line["message"]


def test_sign_blob_explains_a_refused_token(stack: Stack, tmp_path) -> None:
    artifact = tmp_path / "a.txt"
    artifact.write_text("refused\n")
    done = subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", "sign-blob", str(artifact), "--bundle",
         str(tmp_path / "a.json"), "--trust-config", str(stack.trust_config),
         "--identity-token", _tampered(stack.token())],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    err = done.stderr
    assert FULCIO_TOKEN_MESSAGE in err
    assert "expired" in err and "audience" in err and "'sigstore'" in err
    assert "OIDCIssuers" in err and stack.urls["oidc"] in err
    found = re.search(r"under request id (\S+)\.", err)
    assert found, err
    line = _fulcio_log_line(stack, found.group(1))
    assert "no key of the issuer verifies the token signature" in line["message"]
    assert not (tmp_path / "a.json").exists()
