"""Observability shared by every service: JSON log lines and Prometheus metrics.

Logs: one JSON object per line on stderr (``time``, ``level``, ``logger``, ``message`` and, for
requests, ``service``, ``request_id``, ``method``, ``route``, ``path``, ``status``, ``ms``). Secrets
never reach a log: request bodies, headers and tokens are not logged.

Metrics: ``GET /metrics`` in the Prometheus text format (``runtime.metrics``). Under gunicorn every
worker writes its totals to ``SIGSTACK_METRICS_DIR`` (set up by ``runtime.server``), and a scrape of
any worker reports the whole service:

- ``sigstack_http_requests_total{service,method,route,status}``
- ``sigstack_http_request_duration_seconds{service,route}`` (histogram)
- ``sigstack_log_entries{log}`` size of a transparency log at the last scrape
- ``sigstack_certificates_issued_total{service}`` certificates issued by the CA
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from .metrics import CONTENT_TYPE, REGISTRY, Metric

REQUESTS = Metric("counter", "sigstack_http_requests_total", "HTTP requests answered",
                  ["service", "method", "route", "status"])  # fmt: skip
LATENCY = Metric(
    "histogram", "sigstack_http_request_duration_seconds", "Time to answer an HTTP request",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
LOG_ENTRIES = Metric("gauge", "sigstack_log_entries", "Entries in a transparency log", ["log"])
CERTIFICATES = Metric("counter", "sigstack_certificates_issued_total", "Certificates issued",
                      ["service"])  # fmt: skip


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out)


class LineHandler(logging.Handler):
    """Writes each record to stderr as one line with a single ``write(2)``.

    A request thread never waits for another one's log line: no handler lock (a line written by one
    system call is not interleaved with others on a pipe or an O_APPEND file) and no flush. When
    stderr has no file descriptor (a test capturing it), the line goes through ``write`` instead.
    """

    def handle(self, record: logging.LogRecord) -> bool:
        if self.filter(record):
            self.emit(record)
            return True
        return False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            stream = sys.stderr
            try:
                fd = stream.fileno()
            except (AttributeError, OSError, ValueError):
                stream.write(line)
                return
            data = line.encode()
            while data:
                data = data[os.write(fd, data) :]
        except Exception:
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the ``sigstack`` loggers (idempotent)."""
    root = logging.getLogger("sigstack")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = LineHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.inc(service, method, route, str(status))
    LATENCY.observe(service, route, value=seconds)


def metrics_response(before: Callable[[], None] | None = None) -> tuple[bytes, int, dict[str, str]]:
    """The Prometheus exposition of this service (all its workers under gunicorn)."""
    if before is not None:
        before()
    return REGISTRY.exposition(), 200, {"Content-Type": CONTENT_TYPE}
