"""Prometheus metrics for gunicorn workers, cheap on the request path.

Each process counts in plain dictionaries under one lock (a few hundred nanoseconds per request;
prometheus_client's multiprocess mode writes memory-mapped files on every update and cost the log a
fifth of its write throughput). A background thread writes the process's totals, when they changed,
to ``SIGSTACK_METRICS_DIR/<pid>.json`` every ``FLUSH_SECONDS``; a scrape answered by any worker
flushes its own, then adds up every file in the directory (a worker that exited keeps counting,
so counters never go back). Gauges are set at scrape time by the service (log sizes) and are
reported by the answering worker only. Without the directory (tests, one process) a scrape reports
the process alone. Output: the Prometheus text exposition format 0.0.4.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DIR_ENV = "SIGSTACK_METRICS_DIR"
FLUSH_SECONDS = 0.25

Labels = tuple[tuple[str, str], ...]


class Metric:
    def __init__(self, kind: str, name: str, help_: str, labels: Sequence[str],
                 buckets: Sequence[float] = ()) -> None:  # fmt: skip
        self.kind, self.name, self.help, self.label_names = kind, name, help_, tuple(labels)
        self.buckets = tuple(buckets)
        REGISTRY.metrics[name] = self

    def _key(self, values: Sequence[str]) -> Labels:
        return tuple(zip(self.label_names, (str(v) for v in values), strict=True))

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        REGISTRY.add(self.name, self._key(labels), amount)

    def set(self, *labels: str, value: float) -> None:
        with REGISTRY.lock:
            REGISTRY.gauges[(self.name, self._key(labels))] = float(value)

    def observe(self, *labels: str, value: float) -> None:
        key = (self.name, self._key(labels))
        slot = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        with REGISTRY.lock:
            row = REGISTRY.histograms.get(key)
            if row is None:
                row = REGISTRY.histograms[key] = [0.0] * (len(self.buckets) + 3)
            row[slot] += 1  # the last bucket slot is +Inf; then sum, count
            row[-2] += value
            row[-1] += 1
            REGISTRY.dirty = True


class Registry:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metrics: dict[str, Metric] = {}
        self.counters: dict[tuple[str, Labels], float] = {}
        self.histograms: dict[tuple[str, Labels], list[float]] = {}
        self.gauges: dict[tuple[str, Labels], float] = {}
        self.dirty = False
        self._flusher_pid = -1

    def add(self, name: str, key: Labels, amount: float) -> None:
        with self.lock:
            self.counters[(name, key)] = self.counters.get((name, key), 0.0) + amount
            self.dirty = True
        if self._flusher_pid != os.getpid() and os.environ.get(DIR_ENV):
            self._start_flusher()

    def _start_flusher(self) -> None:
        with self.lock:
            if self._flusher_pid == os.getpid():
                return
            self._flusher_pid = os.getpid()
        threading.Thread(target=self._flush_forever, name="metrics", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()

    def _snapshot(self) -> dict[str, Any]:
        with self.lock:
            self.dirty = False
            return {
                "counters": [[n, list(k), v] for (n, k), v in self.counters.items()],
                "histograms": [[n, list(k), list(v)] for (n, k), v in self.histograms.items()],
            }

    def flush(self) -> None:
        directory = os.environ.get(DIR_ENV)
        if not directory or not self.dirty:
            return
        path = Path(directory) / f"{os.getpid()}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._snapshot()))
        os.replace(tmp, path)

    def _totals(self) -> tuple[dict[Any, float], dict[Any, list[float]]]:
        directory = os.environ.get(DIR_ENV)
        snapshots = []
        if directory:
            self.flush()
            for path in Path(directory).glob("*.json"):
                try:
                    snapshots.append(json.loads(path.read_text()))
                except (OSError, ValueError):
                    continue  # being replaced right now: the next scrape has it
        else:
            snapshots.append(self._snapshot())
        counters: dict[Any, float] = {}
        histograms: dict[Any, list[float]] = {}
        for snap in snapshots:
            for name, key, value in snap["counters"]:
                k = (name, tuple(tuple(p) for p in key))
                counters[k] = counters.get(k, 0.0) + value
            for name, key, row in snap["histograms"]:
                k = (name, tuple(tuple(p) for p in key))
                old = histograms.setdefault(k, [0.0] * len(row))
                histograms[k] = [a + b for a, b in zip(old, row, strict=True)]
        return counters, histograms

    def exposition(self) -> bytes:
        counters, histograms = self._totals()
        with self.lock:
            gauges = dict(self.gauges)
        out: list[str] = []
        for name, metric in sorted(self.metrics.items()):
            out.append(f"# HELP {name} {metric.help}")
            out.append(f"# TYPE {name} {metric.kind}")
            if metric.kind == "counter":
                out += [
                    f"{name}{_labels(k)} {v!r}"
                    for (n, k), v in sorted(counters.items())
                    if n == name
                ]
            elif metric.kind == "gauge":
                out += [
                    f"{name}{_labels(k)} {v!r}" for (n, k), v in sorted(gauges.items()) if n == name
                ]
            else:
                for (n, k), row in sorted(histograms.items()):
                    if n != name:
                        continue
                    running = 0.0
                    for bound, count in zip([*metric.buckets, float("inf")], row, strict=False):
                        running += count
                        le = "+Inf" if bound == float("inf") else repr(float(bound))
                        out.append(f"{name}_bucket{_labels(k, ('le', le))} {running!r}")
                    out.append(f"{name}_sum{_labels(k)} {row[-2]!r}")
                    out.append(f"{name}_count{_labels(k)} {row[-1]!r}")
        return ("\n".join(out) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(key: Labels, *extra: tuple[str, str]) -> str:
    pairs = sorted(key) + list(extra)
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


REGISTRY = Registry()
