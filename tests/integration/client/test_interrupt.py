"""Ctrl-C during a device-flow sign-in: a real ``sigstack sign-blob`` process without a token,
against the project's real OIDC issuer (``sigstack serve oidc``), stops with ``Interrupted.`` and
exit status 130 (what a shell reports for SIGINT), without a traceback and without leaving a
bundle or its temporary file behind."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.servers import Service
from tests.support.testdata import ROOT

pytestmark = pytest.mark.xdist_group("servers")


def _read_until(proc: subprocess.Popen[bytes], words: bytes, seconds: float) -> bytes:
    """What ``proc`` wrote on stderr until ``words`` appeared (or it exited, or time ran out)."""
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while words not in seen and time.monotonic() < deadline:
            if sel.select(timeout=0.5):
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    return seen


def test_ctrl_c_during_a_device_sign_in_prints_interrupted_and_exits_130(tmp_path: Path) -> None:
    artifact, bundle = tmp_path / "artifact.txt", tmp_path / "out" / "artifact.sigstore.json"
    artifact.write_text("signed by nobody\n")
    bundle.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "SIGSTORE_ID_TOKEN"}
    env["SIGSTACK_OIDC_DEVICE_POLL_INTERVAL"] = "1"
    with Service("oidc", "--data-dir", str(tmp_path / "oidc"), "--workers", "1", env=env,
                 log=tmp_path / "oidc.log") as issuer:  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "sigstack.client.cli", "sign-blob", str(artifact),
             "--bundle", str(bundle), "--device", "--oidc-issuer", issuer.url,
             "--fulcio-url", "http://127.0.0.1:9", "--rekor-url", "http://127.0.0.1:9"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            before = _read_until(proc, b"Ctrl-C to stop", 60)
            assert b"Ctrl-C to stop" in before, before.decode(errors="replace")
            assert f"Open {issuer.url}/device".encode() in before
            time.sleep(1.5)  # at least one poll answered authorization_pending: it is waiting
            assert proc.poll() is None
            proc.send_signal(signal.SIGINT)
            out, rest = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = (before + rest).decode(errors="replace")
    assert proc.returncode == 130, err
    assert rest.decode().strip().endswith("Interrupted."), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert out == b""
    assert list(bundle.parent.iterdir()) == []  # neither the bundle nor its temporary file
