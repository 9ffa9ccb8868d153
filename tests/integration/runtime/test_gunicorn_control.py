"""With ``SIGSTACK_SERVER=gunicorn`` no control socket is opened: gunicorn 25.1 added one by
default (``$XDG_RUNTIME_DIR/gunicorn.ctl``, else ``~/.gunicorn/gunicorn.ctl``) through which anyone
with the user's rights can change workers or stop the server; ``runtime.server`` turns it off."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port, wait_http
from tests.support.testdata import ROOT

pytestmark = pytest.mark.xdist_group("servers")


def _unix_sockets(pid: int) -> set[str]:
    """Paths of the Unix sockets bound anywhere (Linux /proc/net/unix) that ``pid`` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    paths = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in inodes:
            paths.add(fields[7])
    return paths


def test_gunicorn_runs_without_a_control_socket(tmp_path: Path) -> None:
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    port = free_port()
    env = {**os.environ, "SIGSTACK_SERVER": "gunicorn", "TEST_SERVER_OPTIONS": "{}",
           "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.runtime.server_app", str(port)], cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, proc)
        assert _unix_sockets(proc.pid) == set()
        assert list(runtime.iterdir()) == [] and list(home.iterdir()) == []
        assert set(tmp_path.iterdir()) == {home, runtime}  # nothing in the working directory
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    text = out.decode(errors="replace")
    assert "Starting gunicorn" in text and "control" not in text.lower(), text
