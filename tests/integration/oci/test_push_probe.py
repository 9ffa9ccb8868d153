"""``sigstack sign`` / ``attest`` prove that the registry takes the push before a certificate is
requested (issue 15, item 4): a certificate also makes a permanent Rekor entry, which must not
exist for a signature the registry then refuses to store. The registry is the real Debian
``docker-registry`` with htpasswd basic auth; a second one serves the same storage read-only
(``maintenance.readonly``), which answers pulls and refuses pushes. Whether Fulcio was asked is
read from Fulcio's own access log."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sigstack.client.cli import main

from .conftest import PASSWORD, USER, make_image, serve_registry


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(writable, read-only) registries on one storage, both with basic auth."""
    bcrypt = pytest.importorskip("bcrypt")
    tmp = tmp_path_factory.mktemp("probe-registries")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (tmp / "htpasswd").write_text(f"{USER}:{hashed}\n")
    writable = serve_registry(tmp, "writable", tmp / "storage", tmp / "htpasswd")
    readonly = serve_registry(tmp, "readonly", tmp / "storage", tmp / "htpasswd", readonly=True)
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
