"""The per-stage CPU instrumentation ``rekor_profile.py`` and ``tsa_profile.py`` share: a stage
in a loop of its own (``per_call_us``), a WSGI app driven through ``runtime.bridge`` on a uvloop
loop without a socket (``drive``), the CPU of this process's threads by role (``thread_cpu``) and
of a PostgreSQL backend (``backend_cpu``), functions wrapped to add up their CPU where they run
(``CpuParts``), and the figures printed (``show``). CPU time only, never wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any

from common import median


def per_call_us(fn: Callable[[Any], Any], items: list[Any], repeats: int) -> float:
    """Median over ``repeats`` passes of the thread CPU per call of ``fn`` over ``items``."""
    runs = []
    for _ in range(repeats):
        t = time.thread_time()
        for item in items:
            fn(item)
        runs.append((time.thread_time() - t) / len(items) * 1e6)
    return median(runs)


def show(title: str, figures: dict[str, float]) -> None:
    print(title)
    for name, value in figures.items():
        print(f"  {name:<55} {value:8.1f}")


def backend_cpu(pid: int | None) -> float:
    """CPU seconds of the PostgreSQL backend ``pid`` so far (/proc: 10 ms ticks); 0 for None."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's live threads so far (their CPU clocks), by role: the event
    loop (this thread), the bridge's request threads (``http_*``), the log's sequencer
    (``tlog-*``), others."""
    out: dict[str, float] = {}
    for t in threading.enumerate():
        if t.ident is None:
            continue
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
        except OSError:  # it ended meanwhile
            continue
        role = ("event loop" if t is threading.main_thread() else "request threads"
                if t.name.startswith("http") else "sequencer" if t.name.startswith("tlog")
                else "other")  # fmt: skip
        out[role] = out.get(role, 0.0) + seconds
    return out


class CpuParts:
    """``time.thread_time`` of wrapped functions, summed in ``cpu`` by ``key(part)`` (the part
    itself unless told otherwise; ``key`` runs on the calling thread, so it may look at it).
    ``close`` puts the original functions back."""

    def __init__(
        self, wraps: Iterable[tuple[Any, str, str]],
        key: Callable[[str], Hashable] = lambda part: part,
    ) -> None:  # fmt: skip
        self.cpu: dict[Any, float] = {}
        self._lock = threading.Lock()
        self._key = key
        self._undo: list[tuple[Any, str, Any]] = []
        for owner, name, part in wraps:
            self.wrap(owner, name, part)

    def wrap(self, owner: Any, name: str, part: str) -> None:
        original, cpu, lock, key = getattr(owner, name), self.cpu, self._lock, self._key

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                k = key(part)
                with lock:
                    cpu[k] = cpu.get(k, 0.0) + spent

        self._undo.append((owner, name, original))
        setattr(owner, name, wrapped)

    def close(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def _scope(path: str, body: bytes, content_type: bytes = b"application/json") -> dict[str, Any]:
    """An ASGI http scope as granian builds it for a POST."""
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "server": ("127.0.0.1", 3000), "client": ("127.0.0.1", 40000),
            "scheme": "http", "method": "POST", "root_path": "", "path": path,
            "raw_path": path.encode(), "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:3000"), (b"user-agent", b"wrk"),
                        (b"content-type", content_type),
                        (b"content-length", str(len(body)).encode())]}  # fmt: skip


def drive(
    app: Any, path: str, bodies: list[bytes], concurrency: int, threads: int,
    cpu: dict[str, float] | None = None, content_type: bytes = b"application/json",
) -> list[int]:  # fmt: skip
    """Run every body through ``runtime.bridge.WSGIBridge`` around ``app`` on a uvloop loop,
    ``concurrency`` at once; returns the statuses. ``cpu`` gets ``thread_cpu()`` at the end,
    before the request threads stop."""
    import uvloop

    from sigstack.services.runtime.bridge import WSGIBridge

    bridge = WSGIBridge(app, threads=threads, body_timeout=15, max_body=4 << 20)
    statuses: list[int] = []
    todo = iter(bodies)

    async def client() -> None:
        for body in todo:

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await bridge(_scope(path, body, content_type), receive, send)

    async def main() -> None:
        await asyncio.gather(*(client() for _ in range(concurrency)))

    uvloop.run(main())
    if cpu is not None:
        cpu.update(thread_cpu())
    bridge.pool.shutdown()
    return statuses


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Access lines are written (as in a server) to a file, not shown; other lines are shown."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink:
                if b'"sigstack.access"' not in line:
                    sys.stderr.write(line.decode(errors="replace")[:2000])
