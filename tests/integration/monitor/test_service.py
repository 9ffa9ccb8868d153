"""``sigstack monitor`` as a long-running service: every ``--interval`` it reads what the log
gained, serves Prometheus metrics on ``--metrics-port``, keeps a second monitor off its state
file, and stops cleanly on SIGTERM with its state saved."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.monitor.kit import (
    Ca,
    add_v2,
    email,
    monitor,
    new_key,
    v2_hashedrekord,
    v2_instance,
    write_config,
    write_trusted_root,
)
from tests.support.servers import ROOT, Service, free_port

pytestmark = pytest.mark.xdist_group("servers")


def _scanned(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:  # noqa: S310
        for family in text_string_to_metric_families(resp.read().decode()):
            for s in family.samples:
                if s.name == "sigstack_monitor_entries_scanned_total":
                    return float(s.value)
    return -1.0


def test_long_running_monitor(tmp_path: Path) -> None:
    ca = Ca(tmp_path)
    data = tmp_path / "rekor2"
    with Service("rekor2", "--data-dir", str(data), "--origin", "rekor2.test",
                 log=tmp_path / "rekor2.log") as srv:  # fmt: skip
        add_v2(srv, v2_hashedrekord(b"first", new_key(), None))
        root = write_trusted_root(
            tmp_path / "root.json", [v2_instance(srv, data, "rekor2.test")], []
        )
        config = write_config(
            tmp_path / "m.json", trusted_root=root.name, state="state.json",
            logs=[{"name": "v2", "type": "tiles", "url": srv.url, "origin": "rekor2.test"}],
            watch={"identities": [{"identity": "alice@example.com"}]},
        )  # fmt: skip
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "sigstack.client.cli", "monitor", "--config", str(config),
             "--interval", "0.2", "--metrics-port", str(port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)  # type: ignore[union-attr]
        reader.start()
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _scanned(port) == 1:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
            second = monitor(config)  # the same state file, while the first one runs
            assert second.status == 1 and "another monitor is using" in second.stderr
            k = new_key()
            written = add_v2(srv, v2_hashedrekord(b"a", k, ca.leaf(email("alice@example.com"), k)))
            alert = json.loads(lines.get(timeout=60))
            assert (alert["type"], alert["index"], alert["uuid"]) == (
                "match", written.index, written.uuid)  # fmt: skip
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        state = json.loads((tmp_path / "state.json").read_text())["logs"]["v2"]
        assert state["head"]["size"] == 2 and state["scan"]["size"] == 2
        assert state["counters"]["entries_scanned"] == 2 and state["counters"]["alerts_match"] == 1
