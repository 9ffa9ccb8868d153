"""JSON log lines: the direct access-line path writes what the logging path would, and steps aside
when someone else listens on the access logger."""

from __future__ import annotations

import json
import logging
import re
import time

from sigstack.services.runtime import observe

FIELDS = {"service": "t", "request_id": "ab", "method": "POST", "route": "/x", "path": "/x",
          "status": 201, "ms": 1.5}  # fmt: skip


def test_access_line_direct_and_through_logging_agree(capfd) -> None:
    observe.configure_logging()
    capfd.readouterr()
    observe.access(FIELDS)
    observe.ACCESS.info("request", extra={"fields": FIELDS})
    direct, logged = (json.loads(line) for line in capfd.readouterr().err.splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", direct["time"])
    direct.pop("time"), logged.pop("time")
    assert direct == logged == {"level": "info", "logger": "sigstack.access",
                                "message": "request", **FIELDS}  # fmt: skip


def test_access_line_goes_through_logging_when_another_handler_listens(capfd) -> None:
    observe.configure_logging()
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    observe.ACCESS.addHandler(handler)
    try:
        observe.access(FIELDS)
    finally:
        observe.ACCESS.removeHandler(handler)
    assert [r.fields for r in seen] == [FIELDS]  # type: ignore[attr-defined]
    assert json.loads(capfd.readouterr().err.splitlines()[-1])["request_id"] == "ab"


def test_access_line_respects_the_level(capfd) -> None:
    observe.configure_logging()
    capfd.readouterr()
    logging.getLogger("sigstack").setLevel(logging.WARNING)
    try:
        observe.access(FIELDS)
    finally:
        logging.getLogger("sigstack").setLevel(logging.INFO)
    assert capfd.readouterr().err == ""


def test_timestamp_matches_strftime() -> None:
    now = time.time()
    for when in (now, now + 0.999, now + 1.0005, 0.0):
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(when)))
        assert observe.timestamp(when) == f"{expected}.{int((when - int(when)) * 1000):03d}Z"


def test_request_metrics_count_with_and_past_the_cached_series(monkeypatch) -> None:
    """``observe_request`` keeps the labelled series it used; every answer is counted in the
    registry's series either way, also once the cache is full."""

    def count(route: str) -> float:
        return observe.REQUESTS.labels("t", "POST", route, "201")._value.get()

    before = count("/cached"), count("/uncached")
    for _ in range(3):
        observe.observe_request("t", "POST", "/cached", 201, 0.01)
    monkeypatch.setattr(observe, "CHILDREN_MAX", 0)
    for _ in range(2):
        observe.observe_request("t", "POST", "/uncached", 201, 0.01)
    assert (count("/cached"), count("/uncached")) == (before[0] + 3, before[1] + 2)
    assert ("t", "POST", "/cached", 201) in observe._CHILDREN
    assert ("t", "POST", "/uncached", 201) not in observe._CHILDREN


def test_request_metrics_count_every_answer_of_concurrent_threads() -> None:
    """Threads observing the same new series at once (each may make and store its children)
    lose no count."""
    import threading

    route = f"/concurrent-{time.monotonic_ns()}"
    start = threading.Barrier(8)

    def observe_many() -> None:
        start.wait()
        for _ in range(500):
            observe.observe_request("t", "POST", route, 201, 0.001)

    threads = [threading.Thread(target=observe_many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert observe.REQUESTS.labels("t", "POST", route, "201")._value.get() == 4000
    assert observe.LATENCY.labels("t", route)._sum.get() >= 3.9  # 4,000 answers of 1 ms
