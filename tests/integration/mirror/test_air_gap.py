"""An air-gapped site fed by ``sigstack mirror``, against a whole stack started with ``sigstack up``.

Connected side (this machine's network): signatures made with the stack (Rekor v2 and Rekor v1
entries), ``sigstack mirror pull`` of the stack's TUF repository and both logs' tlog-tiles, then
``sigstack mirror export`` into a tar file.

Air-gapped side: a network namespace holding only a loopback interface (``ip netns add``), so no
route leads anywhere, the stack included, which the test shows first. Everything there runs inside
it: ``sigstack mirror import`` of the tar (proved against the root the site was given), ``sigstack
serve mirror``, ``sigstack initialize`` against the served mirror, ``sigstack verify-blob`` of
the bundles with that trust alone, and ``sigstack monitor`` following both mirrored logs (Rekor v1
through its tiles and checkpoint, without its v1 API) and finding the watched entries. A second
round carries only what is new and the monitor proves it consistent with what it saw.

Needs root (network namespaces) and iproute2; skips with the reason otherwise (CI runs as root).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import Stack
from tests.support.servers import sigstack_cli, sigstack_out
from tests.support.testdata import ROOT

pytestmark = pytest.mark.xdist_group("stack")

PORT = 8090  # inside the namespace: its own ports


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs the suite as root)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed (apt-get install iproute2)"
    return None


class Namespace:
    """A network namespace with only ``lo`` up, and commands run inside it."""

    def __init__(self) -> None:
        self.name = f"sigstack-airgap-{secrets.token_hex(4)}"
        self.procs: list[subprocess.Popen[bytes]] = []
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.run_raw(["ip", "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.close()
            raise

    def run_raw(self, args: list[str], env: dict[str, str] | None = None,
                check: bool = False) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(["ip", "netns", "exec", self.name, *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300, check=check)  # fmt: skip

    def sigstack(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return self.run_raw([sys.executable, "-m", "sigstack.client.cli", *args],
                            env={**os.environ, **(env or {})})  # fmt: skip

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run_raw([sys.executable, "-c", code])

    def start(self, args: list[str], log: Path) -> None:
        with open(log, "ab") as out:
            self.procs.append(subprocess.Popen(
                ["ip", "netns", "exec", self.name, sys.executable, "-m", "sigstack.client.cli",
                 *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip

    def wait_http(self, url: str, log: Path, timeout: float = 60) -> None:
        code = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.python(code).returncode == 0:
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.3)
        raise AssertionError(f"{url} did not answer in the namespace:\n{log.read_text()[-3000:]}")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("stack")
    running = Stack(tmp / "data", tmp / "up.out").start()
    try:
        yield running
    finally:
        if running.proc and running.proc.poll() is None:
            running.stop()


@pytest.fixture
def airgap() -> Iterator[Namespace]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    ns = Namespace()
    try:
        yield ns
    finally:
        ns.close()


def _sign(stack: Stack, tmp: Path, name: str, v2: bool) -> tuple[Path, Path]:
    artifact, bundle = tmp / name, tmp / f"{name}.sigstore.json"
    artifact.write_text(f"{name}: signed on the connected side\n")
    trust = stack.trust_config_v2 if v2 else stack.trust_config
    sigstack_out("sign-blob", str(artifact), "--bundle", str(bundle), "--trust-config",
                 str(trust), "--identity-token", stack.token())  # fmt: skip
    return artifact, bundle


def _host_address() -> str | None:
    """A global IPv4 address of this machine, if it has one (reachable from here, not from the
    namespace)."""
    done = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    for line in done.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    return None


_REACH = """
import socket, sys
s = socket.socket()
s.settimeout(5)
try:
    s.connect(({host!r}, {port}))
except OSError as exc:
    print(exc.errno)
    sys.exit(0)
print("connected")
"""


def test_air_gapped_site(stack: Stack, airgap: Namespace, tmp_path: Path) -> None:
    root_json = stack.data / "tuf" / "public" / "1.root.json"
    tuf_url, rekor2, rekor = stack.urls["tuf"], stack.urls["rekor2"], stack.urls["rekor"]
    signed = [_sign(stack, tmp_path, "first.txt", v2=True), _sign(stack, tmp_path, "v1.txt", False)]
    # --- connected side -----------------------------------------------------------------------
    out = tmp_path / "connected"
    sigstack_out("mirror", "pull", "--out", str(out), "--tuf-mirror", tuf_url, "--tuf-root",
                 str(root_json), "--log", rekor2, "--log", f"rekor-v1={rekor}")  # fmt: skip
    first = sigstack_out("mirror", "export", "--dir", str(out), "--out", str(tmp_path / "1.tar"))
    assert "sha256" in first
    # --- the site: no route to anything ------------------------------------------------------
    port = int(tuf_url.rsplit(":", 1)[1])
    seen = airgap.python(_REACH.format(host="127.0.0.1", port=port))
    assert seen.stdout.strip() == "111", seen  # ECONNREFUSED: the namespace's own loopback
    address = _host_address()
    if address is not None:
        seen = airgap.python(_REACH.format(host=address, port=port))
        assert seen.stdout.strip() == "101", seen  # ENETUNREACH: no route at all
    assert sigstack_cli("mirror", "status", "--dir", str(out)).returncode == 0  # (from outside)
    site, cache = tmp_path / "site", tmp_path / "tuf-cache"
    env = {"TUF_ROOT": str(cache), "SIGSTORE_ROOT_FILE": "", "SIGSTORE_REKOR_PUBLIC_KEY": "",
           "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": "", "SIGSTORE_TSA_CERTIFICATE_FILE": ""}  # fmt: skip
    done = airgap.sigstack("mirror", "import", str(tmp_path / "1.tar"), "--into", str(site),
                           "--tuf-root", str(root_json))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "new" in done.stderr and "rekor-v1" in done.stderr
    log = tmp_path / "serve-mirror.log"
    airgap.start(["serve", "mirror", "--dir", str(site), "--port", str(PORT)], log)
    mirror = f"http://127.0.0.1:{PORT}"
    airgap.wait_http(f"{mirror}/healthz", log)
    done = airgap.sigstack("initialize", "--mirror", f"{mirror}/tuf", "--root", str(root_json),
                           env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for artifact, bundle in signed:
        done = airgap.sigstack("verify-blob", str(artifact), "--bundle", str(bundle),
                               "--certificate-identity", stack.identity,
                               "--certificate-oidc-issuer", stack.urls["oidc"], env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    # the monitor follows both mirrored logs (Rekor v1 through its tiles) and finds the watched
    # entries: one in each
    config = json.loads(sigstack_out("mirror", "status", "--dir", str(site), "--monitor-config",
                                     mirror))  # fmt: skip
    kinds = {log["name"]: (log["type"], log.get("head")) for log in config["logs"]}
    assert kinds.pop("rekor-v1") == ("rekor", "checkpoint")
    ((v2_name, v2_kind),) = kinds.items()
    assert v2_kind == ("tiles", None)
    config |= {"state": str(tmp_path / "monitor-state.json"),
               "watch": {"identities": [{"identity": stack.identity}]}}  # fmt: skip
    (tmp_path / "monitor.json").write_text(json.dumps(config))
    done = airgap.sigstack("monitor", "--config", str(tmp_path / "monitor.json"), "--once", env=env)
    matches = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 3, done.stderr
    assert sorted((m["type"], m["log"]) for m in matches) == sorted([("match", "rekor-v1"),
                                                                     ("match", v2_name)])  # fmt: skip
    v1_entry = json.loads(signed[1][1].read_text())["verificationMaterial"]["tlogEntries"][0]
    assert [m["index"] for m in matches if m["log"] == "rekor-v1"] == [int(v1_entry["logIndex"])]
    # --- a second round: only what is new travels --------------------------------------------
    signed.append(_sign(stack, tmp_path, "second.txt", v2=True))
    sigstack_out("mirror", "update", "--dir", str(out))
    sigstack_out("mirror", "export", "--dir", str(out), "--out", str(tmp_path / "2.tar"))
    with tarfile.open(tmp_path / "2.tar") as tar:
        head = json.loads(tar.extractfile("bundle.json").read())  # type: ignore[union-attr]
    first_sizes = {log["name"]: log["size"] for log in json.loads(
        sigstack_out("mirror", "status", "--dir", str(site), "--json"))["logs"]}  # fmt: skip
    assert {log["name"]: log["since"] for log in head["logs"]} == first_sizes
    done = airgap.sigstack("mirror", "import", str(tmp_path / "2.tar"), "--into", str(site))
    assert done.returncode == 0, done.stderr
    artifact, bundle = signed[-1]
    done = airgap.sigstack("verify-blob", str(artifact), "--bundle", str(bundle),
                           "--certificate-identity", stack.identity,
                           "--certificate-oidc-issuer", stack.urls["oidc"], env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = airgap.sigstack("monitor", "--config", str(tmp_path / "monitor.json"), "--once", env=env)
    matches = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 3, done.stderr  # consistent with what it saw, one new match
    assert [(m["type"], m["log"]) for m in matches] == [("match", v2_name)]
    assert matches[0]["index"] == first_sizes[v2_name]
