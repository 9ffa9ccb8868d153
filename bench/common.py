"""Shared bits for the benchmarks: percentiles, a CPU-quietness note, server start-up."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (gunicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def context_switches(root_pid: int) -> int:
    """Context switches (voluntary and not) of every thread of ``root_pid`` and the processes
    under it, so far; a thread that has exited is no longer counted."""
    total = 0
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
                for line in (task / "status").read_text().splitlines():
                    if "ctxt_switches:" in line:
                        total += int(line.split()[1])
            except OSError:
                continue
    return total


def cpu_by_service(root_pid: int) -> dict[str, float]:
    """CPU seconds of every process under ``root_pid`` (itself included), summed per service:
    ``sigstack serve NAME`` processes count as NAME, the rest by their command name."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        name = words[words.index("serve") + 1] if "serve" in words[:-1] else Path(words[0]).name
        if "up" in words and "serve" not in words:
            name = "sigstack up"
        out[name] = out.get(name, 0.0) + (int(stat[11]) + int(stat[12])) / tick
    return out


def log_write_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the log write benchmarks (Rekor v1 and v2): load, entries, server layout,
    database."""
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--entries", type=int, default=60000)
    p.add_argument("--workers", type=int, help="default: the server's (1 on SQLite, 2 on PG)")
    p.add_argument("--threads", type=int, help="default: the server's (32 with 1 worker, else 16)")
    p.add_argument("--sqlite", action="store_true")


def loadavg() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# Requests are formatted once, in init, and statuses are counted by wrk itself (summary.errors.status:
# answers of 400 and above), not by a Lua response() callback, which has wrk build a table of
# headers and a body string per answer: the load generator shares the two cores with the server,
# and this halves its CPU per request (bench/README.md, "Log writes on the event loop").
_WRK_LUA = """
local threads = {}
local n = 0
function setup(thread)
  thread:set("id", n)
  n = n + 1
  table.insert(threads, thread)
end
local requests = {}
local i = 0
function init(args)
  local f = io.open(args[1], "rb")
  local lengths = f:read("*l")
  local data = f:read("*a")
  f:close()
  local k, pos = 0, 1
  for length in lengths:gmatch("%d+") do
    local n = tonumber(length)
    if k % tonumber(args[2]) == id then
      table.insert(requests, wrk.format("POST", "PATH", {["Content-Type"] = "CONTENT_TYPE"},
                                        data:sub(pos, pos + n - 1)))
    end
    k, pos = k + 1, pos + n
  end
end
request = function()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %f %f %f %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, summary.requests - e.status,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_post(
    url: str,
    path: str,
    bodies: list[bytes] | list[str],
    connections: int,
    seconds: float,
    work: Path,
    content_type: str = "application/json",
) -> dict[str, float]:
    """POST each pre-generated body (any bytes: written after a line of their lengths, cut out by
    the Lua script) with wrk, cycling through them.

    Returns requests, ok (answers below 400: a caller that needs one exact status checks a sample
    of fresh answers itself), other (answers of 400 and above), socket_errors (connections wrk
    could not open, read, write or that timed out), seconds, p50/p99/mean in ms.
    """
    import subprocess

    raw = [b if isinstance(b, bytes) else b.encode() for b in bodies]
    (work / "bodies.txt").write_bytes(" ".join(str(len(b)) for b in raw).encode() + b"\n"
                                      + b"".join(raw))  # fmt: skip
    script = _WRK_LUA.replace("PATH", path)
    script = script.replace("CONTENT_TYPE", content_type)
    (work / "post.lua").write_text(script)
    threads = 2
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout",
         "10s", "-s", str(work / "post.lua"), url, "--", str(work / "bodies.txt"), str(threads)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    r = next(line.split() for line in out.splitlines() if line.startswith("RESULT"))
    return {"requests": int(r[1]), "seconds": int(r[2]) / 1e6, "p50": float(r[3]) / 1000,
            "p99": float(r[4]) / 1000, "mean": float(r[5]) / 1000, "ok": int(r[6]),
            "other": int(r[7]), "socket_errors": int(r[8])}  # fmt: skip


def ticket(leaf: bytes, keys: tuple[str, ...] = ()) -> Any:
    """A log engine ticket for ``leaf`` and its search keys, for the benchmarks that hand whole
    batches to the sequencer's commit (``Log._commit``) themselves."""
    from sigstack.protocol.errors import UnavailableError
    from sigstack.services.tlog import Ticket

    return Ticket(leaf, None, b"", keys, None, 30.0, lambda: UnavailableError("late"))
