"""services.runtime.metrics: exposition format, and totals added up across worker files."""

from __future__ import annotations

import json
import os

from services.runtime import metrics
from services.runtime.metrics import REGISTRY, Metric

DEMO_C = Metric("counter", "sigstack_test_things_total", "Things", ["kind"])
DEMO_H = Metric("histogram", "sigstack_test_seconds", "Seconds", ["kind"], buckets=(0.1, 1))


def test_exposition_and_cross_process_totals(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(metrics.DIR_ENV, str(tmp_path))
    DEMO_C.inc('a"b')
    DEMO_C.inc('a"b', amount=2)
    DEMO_H.observe("x", value=0.05)
    DEMO_H.observe("x", value=5)
    # another (possibly exited) worker's totals, as its flusher would have written them
    other = {"counters": [["sigstack_test_things_total", [["kind", 'a"b']], 4.0]],
             "histograms": [["sigstack_test_seconds", [["kind", "x"]], [1, 0, 0, 0.01, 1]]]}  # fmt: skip
    (tmp_path / f"{os.getpid() + 100000}.json").write_text(json.dumps(other))
    text = REGISTRY.exposition().decode()
    assert "# TYPE sigstack_test_things_total counter" in text
    assert 'sigstack_test_things_total{kind="a\\"b"} 7.0' in text
    assert 'sigstack_test_seconds_bucket{kind="x",le="0.1"} 2.0' in text
    assert 'sigstack_test_seconds_bucket{kind="x",le="1.0"} 2.0' in text
    assert 'sigstack_test_seconds_bucket{kind="x",le="+Inf"} 3.0' in text
    assert 'sigstack_test_seconds_count{kind="x"} 3.0' in text
    assert (tmp_path / f"{os.getpid()}.json").exists()  # the scrape flushed this process first
