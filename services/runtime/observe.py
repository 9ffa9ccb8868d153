"""Observability shared by every service: JSON log lines and Prometheus metrics.

Logs: one JSON object per line on stderr (``time``, ``level``, ``logger``, ``message`` and, for
requests, ``service``, ``request_id``, ``method``, ``route``, ``path``, ``status``, ``ms``). Secrets
never reach a log: request bodies, headers and tokens are not logged.

Metrics: ``GET /metrics`` in the Prometheus text format, kept by ``prometheus_client``. A server's
workers share one directory for it (``PROMETHEUS_MULTIPROC_DIR``, made per ``sigstack serve`` by
``runtime.server.prepare_metrics_dir`` before anything imports ``prometheus_client``), so a scrape of
any worker reports the whole service; a worker that exited keeps counting. Without that directory
(tests, one process) a scrape reports the process alone:

- ``sigstack_http_requests_total{service,method,route,status}``
- ``sigstack_http_request_duration_seconds{service,route}`` (histogram)
- ``sigstack_log_entries{log}`` size of a transparency log at the last scrape
- ``sigstack_certificates_issued_total{service}`` certificates issued by the CA
- ``sigstack_issuance_refused_total{rule}`` certificate requests Fulcio's issuance policy refused
- ``sigstack_witness_submissions_total{log,witness,result}`` checkpoints a log sent to a witness,
  by answer: cosigned, unreachable, conflict, refused, invalid (``services.tlog.witnessing``)
- ``sigstack_witness_quorum_missed_total{log,action}`` checkpoints without the witness policy's
  quorum: ``published`` (fail-open) or ``withheld`` (fail-closed)
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("sigstack_http_requests", "HTTP requests answered",
                   ["service", "method", "route", "status"])  # fmt: skip
LATENCY = Histogram(
    "sigstack_http_request_duration_seconds", "Time to answer an HTTP request",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
# Set by the worker answering a scrape; across workers the most recent value is the one shown.
LOG_ENTRIES = Gauge("sigstack_log_entries", "Entries in a transparency log", ["log"],
                    multiprocess_mode="mostrecent")  # fmt: skip
CERTIFICATES = Counter("sigstack_certificates_issued", "Certificates issued", ["service"])
# Fulcio's issuance policy (docs/fulcio.md "Issuance policy"): refusals by the rule that refused
REFUSED_ISSUANCE = Counter("sigstack_issuance_refused", "Certificates refused by an issuance policy rule",
                           ["rule"])  # fmt: skip
# A log's witnesses (docs/witness.md): answers to checkpoints sent, and checkpoints without quorum
WITNESS_SUBMISSIONS = Counter("sigstack_witness_submissions", "Checkpoints a log sent to a witness, by answer",
                              ["log", "witness", "result"])  # fmt: skip
WITNESS_QUORUM_MISSED = Counter("sigstack_witness_quorum_missed",
                                "Checkpoints without the witness quorum, published or withheld",
                                ["log", "action"])  # fmt: skip


ACCESS = logging.getLogger("sigstack.access")

# Request ids: a client's X-Request-Id is kept when it matches REQUEST_ID, else one is made here.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ID_PREFIX = {"prefix": os.urandom(8).hex()}
_ID_COUNTER = itertools.count()


def _renew_id_prefix() -> None:
    _ID_PREFIX["prefix"] = os.urandom(8).hex()


# a forked worker gets its own prefix before any of its threads runs: renewing it lazily on the
# first request raced when several threads took their first requests at once
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_id_prefix)


def new_request_id() -> str:
    """A request id unique across processes and restarts: a random per-process prefix (renewed
    in a forked child) and a counter; cheaper than a uuid4 per request."""
    return f"{_ID_PREFIX['prefix']}{next(_ID_COUNTER):016x}"


# the id of the request the current thread is answering: set for the request's duration by
# runtime.app's hooks (Flask routes) and runtime.direct (body routes), None between requests
_REQUEST_ID: ContextVar[str | None] = ContextVar("sigstack_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being answered on this thread (what the client got in
    ``X-Request-Id``), for log lines written while answering it; None outside a request."""
    return _REQUEST_ID.get()


def set_request_id(request_id: str | None) -> None:
    """Mark the start (an id) or the end (None) of a request on this thread."""
    _REQUEST_ID.set(request_id)


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def timestamp(when: float) -> str:
    """``2026-11-25T03:04:05.678Z`` for a ``time.time()`` value (the seconds part is cached)."""
    global _second
    whole = int(when)
    cached = _second
    if cached[0] != whole:
        cached = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
        _second = cached
    return f"{cached[1]}.{int((when - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": timestamp(record.created),
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
            self.write_line(self.format(record))
        except Exception:
            self.handleError(record)

    @staticmethod
    def write_line(text: str) -> None:
        line = text + "\n"
        stream = sys.stderr
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            stream.write(line)
            return
        data = line.encode()
        while data:
            data = data[os.write(fd, data) :]


def access(fields: dict[str, Any]) -> None:
    """Log the ``request`` line of ``sigstack.access`` with ``fields``. When the line would only
    reach our own handler, it is written directly: the same JSON object, without building a
    LogRecord (which looks up the caller's frame, thread and process on every request)."""
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    root = ACCESS.parent
    direct = (
        not ACCESS.handlers
        and not ACCESS.filters
        and ACCESS.propagate
        and root is not None
        and root.name == "sigstack"
        and not root.propagate
        and not root.filters
        and len(root.handlers) == 1
        and type(root.handlers[0]) is LineHandler
        and isinstance(root.handlers[0].formatter, JsonFormatter)
        and root.handlers[0].level <= logging.INFO
    )
    if not direct:
        ACCESS.info("request", extra={"fields": fields})
        return
    out = {"time": timestamp(time.time()), "level": "info", "logger": ACCESS.name,
           "message": "request", **fields}  # fmt: skip
    try:
        LineHandler.write_line(json.dumps(out))
    except Exception:  # noqa: BLE001 - as logging does: a failed log line never fails a request
        logging.raiseExceptions and sys.stderr.write("sigstack: cannot write the access log\n")


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
    key = (service, method, route, status)
    children = _CHILDREN.get(key)
    if children is None:
        children = (REQUESTS.labels(service, method, route, str(status)),
                    LATENCY.labels(service, route))  # fmt: skip
        if len(_CHILDREN) < CHILDREN_MAX:
            _CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


# The labelled series of each (service, method, route, status) seen: ``labels`` looks them up
# under a lock and builds the label tuple on every call (5 of the 13 us a log write spent on
# metrics here).
# Routes are rule patterns, so the set is small; past CHILDREN_MAX, lookups go to ``labels``.
CHILDREN_MAX = 4096
_CHILDREN: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}


def metrics_response(before: Callable[[], None] | None = None) -> tuple[bytes, int, dict[str, str]]:
    """The Prometheus exposition of this service: every worker's, when they share a directory."""
    if before is not None:
        before()
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        # prometheus_client leaves MultiProcessCollector.__init__ unannotated
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}
