"""The monitor's outputs and its command: alerts on stdout and to a webhook (real HTTP servers on
127.0.0.1, one failing, one absent), Prometheus metrics as a file and on a port (read back with
prometheus_client's parser), and ``sigstack monitor``'s exit statuses when nothing can be read."""

from __future__ import annotations

import io
import json
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sigstack.client.monitor import metrics
from sigstack.client.monitor.alerts import Alert, Sink
from sigstack.client.monitor.config import Webhook
from sigstack.client.monitor.heads import Head
from sigstack.client.monitor.state import StateFile
from tests.integration.monitor.kit import log_instance, write_config, write_trusted_root
from tests.support.servers import free_port, serve_handler, sigstack_cli
from tests.unit.monitor.certs import key, spki


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip


def _state(tmp: Path) -> StateFile:
    state = StateFile(tmp / "s.json")
    log = state.log("rekor", b"\x01" * 32, "https://r")
    log.head = Head(10, bytes(32), "n\n")
    log.count("entries_scanned", 7)
    log.count("alerts_fork")
    state.counters["webhook_failures"] = 2
    return state


def test_metrics_file_and_port(tmp_path: Path) -> None:
    fams = metrics.families(_state(tmp_path), ["rekor", "absent"], scanning=True)
    path = tmp_path / "m.prom"
    metrics.write_file(path, metrics.render(fams))
    got = _samples(path.read_text())
    assert got[("sigstack_monitor_entries_scanned_total", (("log", "rekor"),))] == 7
    assert got[("sigstack_monitor_alerts_total", (("log", "rekor"), ("type", "fork")))] == 1
    assert got[("sigstack_monitor_alerts_total", (("log", "rekor"), ("type", "match")))] == 0
    assert got[("sigstack_monitor_log_size", (("log", "rekor"),))] == 10
    assert got[("sigstack_monitor_lag_entries", (("log", "rekor"),))] == 10
    assert got[("sigstack_monitor_webhook_failures_total", ())] == 2
    assert not any(labels == (("log", "absent"),) for _, labels in got)
    port = free_port()
    server, _ = metrics.serve("127.0.0.1", port, lambda: fams)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:  # noqa: S310
            served = _samples(resp.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    assert {k: v for k, v in served.items() if k[0].startswith("sigstack_")} == got


def _hook(status: int, seen: list[Any]) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return serve_handler(Handler)


def test_alerts_go_to_stdout_and_the_webhook_whose_failures_are_counted() -> None:
    alert = Alert("fork", "rekor", "m", "https://r", trusted=Head(1, bytes(32), "a"),
                  seen=Head(1, b"\x01" * 32, "b"))  # fmt: skip
    seen: list[Any] = []
    for status in (200, 500):
        with _hook(status, seen) as hook:
            out, err = io.StringIO(), io.StringIO()
            sink = Sink(out, Webhook(f"{hook.url}/x", (("X-Token", "t"),), 5), err=err)
            sink.emit(alert)
            line = json.loads(out.getvalue())
            assert line["type"] == "fork" and line["seen"]["root"] == "01" * 32
            assert seen[-1] == line
            assert (sink.sent, sink.failed) == ((1, 0) if status == 200 else (0, 1))
    nothing = Sink(
        io.StringIO(), Webhook(f"http://127.0.0.1:{free_port()}/x"), err=(err := io.StringIO())
    )
    nothing.emit(Alert("match", "ct", "m", index=1, uuid="ab"))
    assert nothing.failed == 1 and "webhook did not take an alert" in err.getvalue()


def test_command_exit_statuses_without_a_log_to_read(tmp_path: Path) -> None:
    usage = sigstack_cli("monitor")
    assert usage.returncode == 2
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    der = spki(key())
    write_trusted_root(tmp_path / "root.json", [log_instance(url, der, "PKIX_ECDSA_P256_SHA_256",
                                                             bytes(32))], [])  # fmt: skip
    config = write_config(tmp_path / "m.json", trusted_root="root.json",
                          logs=[{"name": "r", "type": "rekor", "url": url}])  # fmt: skip
    no_state = sigstack_cli("monitor", "--config", str(config), "--once")
    assert no_state.returncode == 1 and "--state" in no_state.stderr
    down = sigstack_cli("monitor", "--config", str(config), "--once", "--state",
                        str(tmp_path / "s.json"))  # fmt: skip
    assert down.returncode == 1 and down.stdout == ""
    assert "log r: not checked this run: cannot reach" in down.stderr
    counted = json.loads((tmp_path / "s.json").read_text())["logs"]["r"]["counters"]
    assert counted == {"errors": 1}
    write_config(config, trusted_root="root.json",
                 logs=[{"name": "r", "type": "ct", "url": url}])  # fmt: skip
    wrong = sigstack_cli("monitor", "--config", str(config), "--once", "--state",
                         str(tmp_path / "s.json"))  # fmt: skip
    assert wrong.returncode == 1 and "Error: log r: the trusted root has no CT log" in wrong.stderr
