"""``sigstack up`` waiting for its children (issue 15, item 3): a child that exits before it is
ready is reported with its name, port, exit status, its log's path and the log's last lines, and
a port clash says how to choose another base. The children are real processes that write their
log and exit, as a service that cannot start does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sigstack.protocol.errors import ConfigError
from sigstack.services.stack_processes import wait_healthy
from tests.support.servers import free_port


def _child(logs: Path, name: str, lines: list[str], status: int) -> subprocess.Popen[bytes]:
    """A process that writes ``lines`` to ``logs/name.log`` and exits with ``status``."""
    log = logs / f"{name}.log"
    code = (f"import sys; open({str(log)!r}, 'w').write({chr(10).join(lines)!r} + '\\n'); "
            f"sys.exit({status})")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code])
    proc.wait(timeout=30)
    return proc


def _wait(tmp_path: Path, name: str, lines: list[str], status: int) -> str:
    port = free_port()
    proc = _child(tmp_path, name, lines, status)
    with pytest.raises(ConfigError) as caught:
        wait_healthy({name: proc}, {name: f"http://127.0.0.1:{port}"}, {name: "x"}, 30, tmp_path)
    return f"{caught.value.message}|{port}"


def test_a_child_that_exits_names_itself_its_status_and_its_log(tmp_path: Path) -> None:
    lines = [f"line {n}" for n in range(12)] + ["ConfigError: the key file is readable by others"]
    message, port = _wait(tmp_path, "fulcio", lines, 3).rsplit("|", 1)
    assert message.startswith(f"fulcio (port {port}) exited with 3 before it was ready")
    assert f"its log is {tmp_path / 'fulcio.log'}" in message
    shown = [line.removeprefix("  | ") for line in message.splitlines()[1:]]
    assert shown == lines[-8:]  # the end of the log, where the reason is
    assert "--port-base" not in message  # not a port clash


def test_a_child_that_found_its_port_taken_says_how_to_choose_another(tmp_path: Path) -> None:
    lines = ["starting", "OSError: [Errno 98] Address already in use"]
    message, port = _wait(tmp_path, "rekor", lines, 1).rsplit("|", 1)
    assert (
        f"rekor (port {port}) exited with 1 before it was ready: port {port} is in use" in message
    )
    assert "sigstack up --port-base N" in message and "make up PORT_BASE=N" in message


def test_a_child_without_a_log_is_still_reported(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    proc.wait(timeout=30)
    with pytest.raises(ConfigError, match=r"^tsa \(port \d+\) exited with 2 before it was ready"):
        wait_healthy({"tsa": proc}, {"tsa": f"http://127.0.0.1:{free_port()}"}, {"tsa": "x"},
                     30, tmp_path)  # fmt: skip
