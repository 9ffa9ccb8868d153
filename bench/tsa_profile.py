"""Where the TSA's CPU per timestamp goes, in one process (issue 14). Prints figures; asserts
nothing.

The TSA app (``services.tsa.app``) runs through the ASGI bridge on a uvloop loop, as in
``rekor_profile.py``'s ``whole`` stage (no socket, so granian's own share is not in it), with
--concurrency requests at once on --threads request threads; each part of the path adds its
``time.thread_time`` where it runs. Beside it, the same parts in a loop of their own and the
crypto ceiling (one ECDSA P-256 signature and the SHA-256 digests). Medians of --repeats runs, µs
of CPU per timestamp. The instrumentation is ``profile_stages.py``'s, shared with
``rekor_profile.py``.

Usage: .venv/bin/python bench/tsa_profile.py [--repeats 5] [--requests 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import tempfile
import time
from pathlib import Path

from common import ROOT, loadavg, median
from profile_stages import CpuParts, drive, per_call_us, quiet_stderr, show, thread_cpu
from tsa import requests

QUERY = b"application/timestamp-query"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--threads", type=int, default=4, help="per worker, as `serve tsa` defaults")
    args = p.parse_args()
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-metrics-"))
    os.chdir(ROOT)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from sigstack.services.runtime import bridge, observe
    from sigstack.services.tsa import api
    from sigstack.services.tsa.app import build_authority, create_app
    from sigstack.services.tsa.authority import TimestampAuthority
    from sigstack.services.tsa.config import TSAConfig
    from sigstack.services.tsa.request import parse_der
    from sigstack.services.tsa.serve import prepare_data_dir

    observe.configure_logging()
    print(f"{os.cpu_count()} cores; {loadavg()}; median of {args.repeats} runs, µs of CPU per "
          "timestamp")  # fmt: skip
    bodies = requests(args.requests * args.repeats, True)
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()):
            key_uri, chain = prepare_data_dir(Path(tmp) / "data")
        config = TSAConfig(key_uri=key_uri, chain_file=chain)
        tsa = build_authority(config)
        key = ec.generate_private_key(ec.SECP256R1())
        tst, attrs = os.urandom(180), os.urandom(230)
        crypto = per_call_us(lambda _: (hashlib.sha256(tst).digest(),
                                        key.sign(attrs, ec.ECDSA(hashes.SHA256()))),
                             list(range(2000)), args.repeats)  # fmt: skip
        parsed = [parse_der(b) for b in bodies[:2000]]
        loop = {"crypto ceiling (ECDSA P-256 sign + SHA-256)": crypto,
                "parse the DER request": per_call_us(parse_der, bodies[:2000], args.repeats),
                "build and sign the answer (timestamp())": per_call_us(tsa.timestamp, parsed,
                                                                       args.repeats)}  # fmt: skip
        show("in a loop of their own", loop)
        parts = CpuParts([(bridge, "build_environ", "WSGI environ"),
                          (api, "parse_der", "parse the DER request"),
                          (TimestampAuthority, "timestamp", "answer"),
                          (TimestampAuthority, "tst_info", "answer: TSTInfo"),
                          (TimestampAuthority, "signed_attributes", "answer: signed attributes"),
                          (TimestampAuthority, "_sign", "answer: signature"),
                          (observe, "observe_request", "metrics"),
                          (observe, "access", "access line")])  # fmt: skip
        runs: dict[str, list[float]] = {}
        for r in range(args.repeats):
            app = create_app(config)
            chunk = bodies[r * args.requests : (r + 1) * args.requests]
            with quiet_stderr():
                drive(app, "/api/v1/timestamp", chunk[:50], args.concurrency, args.threads,
                      content_type=QUERY)  # fmt: skip
            parts.cpu.clear()
            roles: dict[str, float] = {}
            with quiet_stderr():
                t, before = time.process_time(), thread_cpu()
                statuses = drive(app, "/api/v1/timestamp", chunk[50:], args.concurrency,
                                 args.threads, roles, QUERY)  # fmt: skip
                total = time.process_time() - t
            if set(statuses) != {200}:
                print(f"  NOTE: answers {sorted(set(statuses))}, not only 200")
            n = len(statuses)
            us = {k: v / n * 1e6 for k, v in parts.cpu.items()}
            request = roles.get("request threads", 0.0) / n * 1e6
            answer = us.get("answer", 0.0)
            inner = sum(us.get(k, 0.0) for k in ("answer: TSTInfo", "answer: signed attributes",
                                                 "answer: signature"))  # fmt: skip
            named = sum(us.get(k, 0.0) for k in ("WSGI environ", "parse the DER request",
                                                 "metrics", "access line")) + answer  # fmt: skip
            row = {"process": total / n * 1e6,
                   "event loop": (roles.get("event loop", 0.0) - before.get("event loop", 0.0))
                   / n * 1e6, "request threads": request,
                   "  WSGI environ": us.get("WSGI environ", 0.0),
                   "  parse the DER request": us.get("parse the DER request", 0.0),
                   "  answer: TSTInfo": us.get("answer: TSTInfo", 0.0),
                   "  answer: signed attributes": us.get("answer: signed attributes", 0.0),
                   "  answer: signature": us.get("answer: signature", 0.0),
                   "  answer: rest (CMS assembly)": answer - inner,
                   "  metrics": us.get("metrics", 0.0),
                   "  access line": us.get("access line", 0.0),
                   "  Flask, werkzeug, our hooks' rest, the pool": request - named}  # fmt: skip
            for k, v in row.items():
                runs.setdefault(k, []).append(v)
        show(f"in the app, {args.concurrency} at once, {args.threads} threads",
             {k: median(v) for k, v in runs.items()})  # fmt: skip
    print(loadavg())


if __name__ == "__main__":
    main()
