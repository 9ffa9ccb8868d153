"""The whole stack end to end (issue: the whole stack). Prints figures; asserts nothing.

1. ``sigstack up`` from nothing to ready: wall time until ``stack.json`` appears, for a new data
   directory (keys, databases, CA, TUF repository made) and for a restart on the same directory.
2. Keyless signing round trips per second with --signers concurrent signers against that stack:
   each round trip is a service-account token (client_credentials), an ephemeral key and a Fulcio
   certificate with its SCT from the CT log, a Rekor entry, and the v0.3 bundle checked against the
   trusted root, through the client library (``client.sign.Signer``), as ``sigstack sign-blob``
   does. p50/p99 per round trip.

Usage: .venv/bin/python bench/e2e.py [--seconds 20] [--signers 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, cpu_by_service, loadavg, median, pct

from sigstack.client.sign.oidc import IdentityToken
from sigstack.client.sign.signer import Signer
from sigstack.protocol.trust import ClientTrustConfig
from sigstack.services.stack_report import service_account_token
from tests.interop.conftest import Stack


def time_up(work: Path, workers: int) -> tuple[Stack, float, float]:
    t0 = time.perf_counter()
    stack = Stack(work / "data", work / "up.out").start("--workers", str(workers))
    fresh = time.perf_counter() - t0
    stack.stop()
    t0 = time.perf_counter()
    stack = Stack(work / "data", work / "up2.out").start(
        "--workers", str(workers), port_base=stack.port_base)  # fmt: skip
    return stack, fresh, time.perf_counter() - t0


def round_trips(stack: Stack, seconds: float, signers: int) -> None:
    trust = ClientTrustConfig.from_file(str(stack.trust_config))
    account = stack.account
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def signer_loop(n: int) -> None:
        i = 0
        while time.monotonic() < stop:
            i += 1
            t0 = time.perf_counter()
            try:
                token = IdentityToken.parse(service_account_token(account))
                signer = Signer(trust.signing_config, trust.trusted_root, token)
                signer.sign_digest(hashlib.sha256(f"{n}-{i}-{os.getpid()}".encode()).digest())
            except Exception as exc:  # noqa: BLE001 - counted and shown
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=signer_loop, args=(n,)) for n in range(signers)]
    assert stack.proc is not None
    before = cpu_by_service(stack.proc.pid)
    mine = time.process_time()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    mine = time.process_time() - mine
    after = cpu_by_service(stack.proc.pid)
    ms = [x * 1000 for x in latencies]
    print(f"  {len(latencies)} keyless signings in {elapsed:.1f}s with {signers} signers: "
          f"{len(latencies) / elapsed:.1f}/s; p50 {median(ms):.0f} ms, p99 {pct(ms, 99):.0f} ms; "
          f"errors {len(errors)}{' e.g. ' + errors[0] if errors else ''}")  # fmt: skip
    n = max(len(latencies), 1)
    used = {k: after[k] - before.get(k, 0.0) for k in after}
    used["signers (this process)"] = mine
    parts = ", ".join(f"{k} {1000 * v / n:.2f}" for k, v in sorted(used.items(), key=lambda kv: -kv[1])
                      if v > 0.005)  # fmt: skip
    total = 1000 * sum(used.values()) / n
    print(
        f"  CPU ms per signing: {parts}; total {total:.2f} ms (2 cores allow {2000 / total:.0f}/s)"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--signers", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers per service")
    args = p.parse_args()
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"== sigstack up ({loadavg()})")
        stack, fresh, again = time_up(work, args.workers)
        try:
            print(
                f"  new data directory to ready: {fresh:.2f}s; restart on the same data: {again:.2f}s"
            )
            said = [
                line for line in (work / "up.out").read_text().splitlines() if "is up in" in line
            ]
            print(f"  (up's own report: {said[0] if said else 'n/a'})")
            print(f"== keyless sign round trips ({loadavg()})")
            round_trips(stack, args.seconds, args.signers)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
