"""Prometheus metrics of the monitor, from its state file (so counters add up across cron runs).

Two ways out, each only when asked:

* ``--metrics-file FILE``: the text exposition format written here (no dependency), replaced
  atomically after every run; for node_exporter's textfile collector, which suits ``--once``
  from cron.
* ``--metrics-port PORT``: prometheus_client's own HTTP server with a collector over the same
  values; prometheus_client is not a dependency of the client (it comes with the ``server``
  extra), so this mode says what to install when it is missing.

Metrics (label ``log`` = the configured name): ``sigstack_monitor_entries_scanned_total``,
``..._entries_unreadable_total``, ``..._alerts_total{type}``, ``..._errors_total`` (runs the
log could not be checked), ``..._log_size`` (entries in the last verified checkpoint),
``..._scanned_entries`` (entries read), ``..._lag_entries`` (the difference, when a watch list
asks for entries), ``..._last_success_timestamp_seconds``; and
``sigstack_monitor_webhook_failures_total``, ``..._webhook_sent_total``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sigstack.protocol.errors import ConfigError

from .alerts import TYPES
from .state import StateFile

if TYPE_CHECKING:  # prometheus_client is optional (the server extra), imported by serve alone
    import threading
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.metrics_core import Metric

PREFIX = "sigstack_monitor_"

Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]  # name, type, help, samples


def families(state: StateFile, names: Iterable[str], scanning: bool) -> list[Family]:
    logs = [(n, state.logs[n]) for n in names if n in state.logs]

    def per_log(key: str) -> list[tuple[dict[str, str], float]]:
        return [({"log": n}, float(s.counters.get(key, 0))) for n, s in logs]

    out: list[Family] = [
        ("entries_scanned_total", "counter", "Log entries read and matched against the watch list.",
         per_log("entries_scanned")),
        ("entries_unreadable_total", "counter", "Entries of a kind or shape the monitor cannot read.",
         per_log("entries_unreadable")),
        ("alerts_total", "counter", "Alerts raised, by type.",
         [({"log": n, "type": t}, float(s.counters.get(f"alerts_{t}", 0)))
          for n, s in logs for t in TYPES]),
        ("errors_total", "counter", "Runs in which the log could not be checked (unreachable, refused).",
         per_log("errors")),
        ("log_size", "gauge", "Entries in the last verified checkpoint.",
         [({"log": n}, float(s.head.size if s.head else 0)) for n, s in logs]),
        ("scanned_entries", "gauge", "Entries read so far (the next index to read).",
         [({"log": n}, float(s.scan.size if s.scan else 0)) for n, s in logs]),
        ("last_success_timestamp_seconds", "gauge", "When the log was last checked completely.",
         per_log("last_success")),
        ("webhook_failures_total", "counter", "Alerts the webhook did not take.",
         [({}, float(state.counters.get("webhook_failures", 0)))]),
        ("webhook_sent_total", "counter", "Alerts the webhook took.",
         [({}, float(state.counters.get("webhook_sent", 0)))]),
    ]  # fmt: skip
    if scanning:
        out.append(("lag_entries", "gauge", "Entries in the verified checkpoint not read yet.",
                    [({"log": n}, float(max(0, (s.head.size if s.head else 0)
                                         - (s.scan.size if s.scan else 0)))) for n, s in logs]))  # fmt: skip
    return out


def _value(v: float) -> str:
    return str(int(v)) if v.is_integer() else repr(v)


def render(fams: list[Family]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for name, kind, text, samples in fams:
        full = PREFIX + name
        lines += [f"# HELP {full} {text}", f"# TYPE {full} {kind}"]
        for labels, value in samples:
            inner = ",".join(f'{k}="{v}"' for k, v in labels.items())  # names are [A-Za-z0-9._-]
            lines.append(
                f"{full}{{{inner}}} {_value(value)}" if inner else f"{full} {_value(value)}"
            )
    return "\n".join(lines) + "\n"


def write_file(path: str | Path, text: str) -> None:
    """Replace ``path`` atomically (textfile collectors must never read half a file)."""
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write the metrics file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # read by the collector, often another user
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot write the metrics file {path}: {exc.strerror}") from None


def serve(
    host: str, port: int, source: Callable[[], list[Family]]
) -> tuple[WSGIServer, threading.Thread]:
    """prometheus_client's HTTP server on ``host:port`` with the monitor's metrics; returns it
    and the thread serving it."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    except ImportError:
        raise ConfigError(
            "--metrics-port needs prometheus_client (pip install prometheus-client, or "
            "'sigstack[server]'); --metrics-file writes the same metrics without it"
        ) from None

    class Collector:
        def collect(self) -> Iterable[Metric]:
            for name, kind, text, samples in source():
                labels = sorted({k for s, _ in samples for k in s})
                if kind == "counter":
                    fam: CounterMetricFamily | GaugeMetricFamily = CounterMetricFamily(PREFIX + name.removesuffix("_total"), text,
                                                   labels=labels)  # fmt: skip
                else:
                    fam = GaugeMetricFamily(PREFIX + name, text, labels=labels)
                for sample_labels, value in samples:
                    fam.add_metric([sample_labels[k] for k in labels], value)
                yield fam

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
