"""``sigstack sign`` / ``attest`` prove that the registry takes the push before a certificate is
requested (issue 15, item 4): a certificate also makes a permanent Rekor entry, which must not
exist for a signature the registry then refuses to store. The registry is the real Debian
``docker-registry`` with htpasswd basic auth; a second one serves the same storage read-only
(``maintenance.readonly``), which answers pulls and refuses pushes. Whether Fulcio was asked is
read from Fulcio's own access log."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigstack.client.cli import main
from tests.support.servers import free_port

from .conftest import PASSWORD, USER, make_image


def _serve(tmp: Path, storage: Path, htpasswd: Path, readonly: bool) -> Iterator[str]:
    if shutil.which("docker-registry") is None:
        pytest.skip("needs docker-registry (apt-get install -y docker-registry)")
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "test-secret"},
        "auth": {"htpasswd": {"realm": "sigstack-test", "path": str(htpasswd)}},
    }
    if readonly:
        config["storage"]["maintenance"] = {"readonly": {"enabled": True}}
    name = "readonly" if readonly else "writable"
    (tmp / f"{name}.yml").write_text(json.dumps(config))  # JSON is YAML
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(["docker-registry", "serve", str(tmp / f"{name}.yml")], stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp / f"{name}.log").read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).close()  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # 401: up, wants credentials
            except OSError:
                assert time.monotonic() < deadline, "docker-registry did not start"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(writable, read-only) registries on one storage, both with basic auth."""
    bcrypt = pytest.importorskip("bcrypt")
    tmp = tmp_path_factory.mktemp("probe-registries")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (tmp / "htpasswd").write_text(f"{USER}:{hashed}\n")
    writable = _serve(tmp, tmp / "storage", tmp / "htpasswd", readonly=False)
    readonly = _serve(tmp, tmp / "storage", tmp / "htpasswd", readonly=True)
    try:
        yield next(writable), next(readonly)
    finally:
        writable.close()
        readonly.close()


def _certificate_requests(stack: dict[str, Any]) -> int:
    log = Path(stack["trust_config"]).parent / "fulcio.log"
    return sum("/api/v2/signingCert" in line for line in log.read_text().splitlines())


def _docker_config(tmp: Path, host: str, password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
    (tmp / "docker").mkdir(exist_ok=True)
    (tmp / "docker" / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp / "docker"))


def _sign(stack: dict[str, Any], image: str, capsys: Any, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main([*extra, image, "--identity-token", stack["token"](),
                 "--trust-config", str(stack["trust_config"])])  # fmt: skip
    return code, capsys.readouterr().err


@pytest.mark.parametrize("command", [["sign"], ["sign", "--new-bundle-format"], ["attest"]])
def test_a_registry_that_refuses_the_push_fails_before_fulcio(
    stack, registries, tmp_path, capsys, monkeypatch, command
) -> None:
    writable, readonly = registries
    digest = make_image(tmp_path, f"{writable}/probe/app:v1", creds=f"{USER}:{PASSWORD}")
    _docker_config(tmp_path, readonly, PASSWORD, monkeypatch)
    if command[0] == "attest":
        (tmp_path / "predicate.json").write_text('{"x": 1}')
        command = [*command, "--predicate", str(tmp_path / "predicate.json")]
    before = _certificate_requests(stack)
    code, err = _sign(stack, f"{readonly}/probe/app@{digest}", capsys, command[0], *command[1:])
    assert code == 1
    assert f"registry {readonly} will not take a push to probe/app" in err
    assert "nothing was signed" in err
    assert "Retrieving signed certificate" not in err
    assert _certificate_requests(stack) == before


def test_wrong_credentials_fail_before_fulcio(
    stack, registries, tmp_path, capsys, monkeypatch
) -> None:
    writable, _ = registries
    image = f"{writable}/probe/creds:v1"
    digest = make_image(tmp_path, image, creds=f"{USER}:{PASSWORD}")
    _docker_config(tmp_path, writable, "wrong", monkeypatch)
    before = _certificate_requests(stack)
    code, err = _sign(stack, f"{writable}/probe/creds@{digest}", capsys, "sign")
    assert code == 1 and "(HTTP 401)" in err and "check your credentials" in err
    assert _certificate_requests(stack) == before

    _docker_config(tmp_path, writable, PASSWORD, monkeypatch)  # the probe leaves nothing behind
    code, err = _sign(stack, f"{writable}/probe/creds@{digest}", capsys, "sign")
    assert code == 0, err
    assert _certificate_requests(stack) == before + 1
