"""Real registries for the image tests: Debian's ``docker-registry`` (distribution 2.8, no
referrers API) served on a free 127.0.0.1 port from a temporary storage directory, with and
without htpasswd basic auth (a bcrypt htpasswd file written here). Each registry process is
stopped at teardown. Test images are OCI layouts the tests write, copied in with ``skopeo``.
The ``stack`` fixture (CT log, Fulcio, Rekor, OIDC issuer) is the client tests' one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.client.conftest import stack  # noqa: F401 - re-exported fixture

USER, PASSWORD = "alice", "correct horse"


def serve_registry(
    tmp: Path, name: str, storage: Path, htpasswd: Path | None = None, readonly: bool = False
) -> Iterator[str]:
    """Debian's docker-registry (distribution 2.8) on a free port, storing under ``storage``,
    with basic auth from ``htpasswd`` and read-only if asked; yields ``127.0.0.1:PORT``. Its
    configuration and log are ``tmp/NAME.yml`` and ``tmp/NAME.log``."""
    if shutil.which("docker-registry") is None:
        pytest.skip("needs docker-registry (apt-get install -y docker-registry)")
    from tests.support.servers import free_port

    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "test-secret"},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "sigstack-test", "path": str(htpasswd)}}
    if readonly:
        config["storage"]["maintenance"] = {"readonly": {"enabled": True}}
    (tmp / f"{name}.yml").write_text(json.dumps(config))  # JSON is YAML
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(tmp / f"{name}.yml")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def _wait(port: int, proc: subprocess.Popen) -> None:
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).close()  # noqa: S310
            return
        except urllib.error.HTTPError:
            return  # 401: up, wants credentials
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("docker-registry did not start")


@pytest.fixture(scope="package")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("registry")
    yield from serve_registry(tmp, "registry", tmp / "data")


@pytest.fixture(scope="package")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bcrypt = pytest.importorskip("bcrypt")
    tmp = tmp_path_factory.mktemp("auth-registry")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
    (tmp / "htpasswd").write_text(f"{USER}:{hashed}\n")
    yield from serve_registry(tmp, "registry", tmp / "data", tmp / "htpasswd")


# -- test images -----------------------------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_layout(
    layout: Path, tag: str, layers: list[tuple[str, bytes, dict[str, str] | None]], config: bytes
) -> str:
    """An OCI image layout with one image manifest; returns the manifest digest."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(layout, config)},
        "layers": [
            {"mediaType": mt, **_blob(layout, data), **({"annotations": ann} if ann else {})}
            for mt, data, ann in layers
        ],
    }  # fmt: skip
    raw = json.dumps(manifest).encode()
    desc = {"mediaType": manifest["mediaType"], **_blob(layout, raw)}
    desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    return str(desc["digest"])


def skopeo_copy(layout: Path, tag: str, dest: str, creds: str | None = None) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo (apt-get install -y skopeo)")
    cmd = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
           "--preserve-digests", f"oci:{layout}:{tag}", f"docker://{dest}"]  # fmt: skip
    if creds:
        cmd[4:4] = ["--dest-creds", creds]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def make_image(tmp: Path, dest: str, creds: str | None = None) -> str:
    """A fresh random single-layer image pushed with skopeo to ``dest`` (host/repo:tag)."""
    layer = os.urandom(2048)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }).encode()  # fmt: skip
    layout = tmp / f"layout-{hashlib.sha256(layer).hexdigest()[:8]}"
    digest = write_layout(
        layout, "t", [("application/vnd.oci.image.layer.v1.tar", layer, None)], config
    )
    skopeo_copy(layout, "t", dest, creds)
    return digest
