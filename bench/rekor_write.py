"""Rekor write throughput and proof latency on this machine. Prints figures; asserts nothing.

1. Starts ``sigstack serve rekor`` (gunicorn, threaded workers) on a fresh PostgreSQL database
   (or SQLite with --sqlite), pre-generates distinct signed hashedrekord entries, and drives them
   with ``wrk`` (Debian package; C, so the load generator costs little CPU) at --connections
   concurrent clients for --seconds. Prints entries/s, p50/p99 latency and non-201 answers.
2. Measures, in the same run, the per-entry crypto ceiling: one signature verification of the
   entry (key parsed from PEM) plus one SET signature, single-threaded, scaled to the cores.
3. Builds logs of 10^4, 10^5, 10^6 entries directly through the engine and prints their storage
   per entry and the inclusion proofs' times (bench/rekor_proofs.py, which also goes to 10^7).

Usage: .venv/bin/python bench/rekor_write.py [--seconds 20] [--connections 32] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT, cpu_seconds, loadavg, log_write_arguments, wrk_post

from tests.support.dbs import fresh_postgres
from tests.support.entries import hashedrekord
from tests.support.servers import Service


def crypto_ceiling(entries: list[bytes], seconds: float = 3.0) -> float:
    """Entries/s one core can verify + SET-sign (PEM key load + ECDSA verify + ECDSA sign)."""
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    log_key = ec.generate_private_key(ec.SECP256R1())
    parsed = [json.loads(e) for e in entries[:2000]]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        spec = parsed[done % len(parsed)]["spec"]
        key = serialization.load_pem_public_key(
            base64.b64decode(spec["signature"]["publicKey"]["content"])
        )
        key.verify(
            base64.b64decode(spec["signature"]["content"]),  # type: ignore[union-attr]
            bytes.fromhex(spec["data"]["hash"]["value"]),
            ec.ECDSA(utils.Prehashed(hashes.SHA256())),
        )  # type: ignore[call-arg]
        log_key.sign(
            b'{"body":"...","integratedTime":1,"logID":"..","logIndex":1}',
            ec.ECDSA(hashes.SHA256()),
        )
        done += 1
    return done / (time.perf_counter() - start)


def write_bench(args: argparse.Namespace, work: Path, url: str | None) -> None:
    n = args.entries
    t0 = time.perf_counter()
    entries = [json.dumps(hashedrekord(os.urandom(16))).encode() for _ in range(n)]
    print(f"generated {n} distinct signed entries in {time.perf_counter() - t0:.1f}s")
    extra = ["--database-url", url] if url else []
    for flag, value in (("--workers", args.workers), ("--threads", args.threads)):
        extra += [flag, str(value)] if value else []
    srv = Service("rekor", "--data-dir", str(work / "data"), *extra,
                  log=work / "server.log").start()  # fmt: skip
    try:
        assert srv.proc is not None
        cpu = cpu_seconds(srv.proc.pid)
        r = wrk_post(srv.url, "/api/v1/log/entries", entries, args.connections,
                     args.seconds, work)  # fmt: skip
        cpu = cpu_seconds(srv.proc.pid) - cpu
    finally:
        srv.stop()
    rate = r["ok"] / r["seconds"]
    layout = f"workers {args.workers or 'default'} x threads {args.threads or 'default'}"
    print(f"backend: {'PostgreSQL' if url else 'SQLite'}; {layout}; {args.connections} "
          f"connections for {args.seconds}s; {loadavg()}")  # fmt: skip
    print(
        f"  requests {r['requests']}: {r['ok']} created (201), {r['other']} other, "
        f"{r['socket_errors']} socket errors"
    )
    print(f"  entries/s (201 only): {rate:.0f}")
    print(f"  latency p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, mean {r['mean']:.1f} ms")
    print(
        f"  Rekor CPU per entry {1000 * cpu / max(r['ok'], 1):.2f} ms (the database server's "
        "own CPU not included)"
    )
    if r["ok"] < r["requests"]:
        print("  NOTE: not every request was a fresh entry (wrk wraps around the bodies): "
              "raise --entries")  # fmt: skip
    ceiling = crypto_ceiling(entries)
    cores = os.cpu_count() or 1
    print(
        f"  crypto ceiling (verify + SET sign): {ceiling:.0f}/s on one core, "
        f"{ceiling * cores:.0f}/s on {cores} cores; achieved/ceiling = "
        f"{rate / (ceiling * cores):.2f}"
    )


def proof_bench(sizes: list[int], work: Path) -> None:
    """Inclusion proofs and storage per entry at each size, on SQLite then PostgreSQL
    (bench/rekor_proofs.py, hashedrekord entries with a bare key)."""
    from rekor_proofs import run_backend

    for backend in ("sqlite", "postgresql"):
        run_backend(backend, sizes, "key", work / "proofs", keep=False)


def main() -> None:
    p = argparse.ArgumentParser()
    log_write_arguments(p)
    p.add_argument("--skip-write", action="store_true")
    p.add_argument("--skip-proofs", action="store_true")
    p.add_argument("--proof-sizes", default="10000,100000,1000000")
    args = p.parse_args()
    if not shutil.which("wrk") and not args.skip_write:
        raise SystemExit("wrk is needed: apt-get install wrk")
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_write:
            print("== write throughput")
            if args.sqlite:
                write_bench(args, work, None)
            else:
                with fresh_postgres() as url:
                    write_bench(args, work, url)
        if not args.skip_proofs:
            proof_bench(sorted(int(s) for s in args.proof_sizes.split(",")), work)


if __name__ == "__main__":
    main()
