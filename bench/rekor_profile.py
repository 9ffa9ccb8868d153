"""Where the Rekor v1 write path's CPU goes, stage by stage, in one process (issue 14). Prints
figures; asserts nothing.

Every figure is CPU time (``time.thread_time`` for a stage run on this thread, ``process_time``
for the whole process, /proc for the PostgreSQL backend), never wall time, and each is the median
of ``--repeats`` runs: a busy host slows the figures a little (cache pressure) but does not fill
them with waiting. Stages, in µs of CPU per entry, for entries signed by a bare key (what
``rekor_write.py`` sends) and by a certificate (what keyless signers send):

- ``json``: the request body through ``protocol.strictjson`` (and ``json``/``orjson`` beside it);
- ``entry``: ``prepare_entry`` split into the verifier (base64, PEM, certificate and its
  extensions), the signature check and the rest (canonical body, index keys);
- ``answer``: ``RekorLog.render`` (inclusion proof from cached tiles, SET payload and signature)
  and the JSON of the answer (Flask's provider);
- ``batch``: the sequencer's transaction for B entries, on SQLite and PostgreSQL: this process's
  CPU and the PostgreSQL backend's CPU (from /proc: 10 ms ticks, so summed over many batches);
- ``http``: the ASGI bridge on a uvloop loop, Flask and the shared hooks (request id, metrics,
  access line) on a bare POST, C requests at once, without a socket (granian's own share needs
  a socket: ``rekor_write.py`` and a bare app under wrk);
- ``whole``: the real Rekor app through the bridge, C requests at once: the whole process's CPU
  per entry, split by thread (event loop, request threads, sequencer), and the batch sizes.

The crypto ceiling (PEM key load + ECDSA verify + SET sign) is measured in the same run. The
stages in the app (``http``, ``whole``) are in ``rekor_profile_app.py``, the instrumentation shared
with ``tsa_profile.py`` in ``profile_stages.py``.

Usage: .venv/bin/python bench/rekor_profile.py [--repeats 5] [--only json,entry,...] [--postgres]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import ROOT, loadavg, median, ticket
from profile_stages import backend_cpu, per_call_us, show
from rekor_profile_app import http_stage, whole_stage

STAGES = ("ceiling", "json", "entry", "answer", "batch", "http", "whole")


def make_entries(n: int, certificate: bool) -> list[bytes]:
    """Request bodies of ``n`` distinct hashedrekord entries: verified by a bare public key, or by
    a Fulcio-like certificate (email SAN, critical; OIDC issuer extensions)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from cryptography.x509.oid import ObjectIdentifier

    from tests.support.entries import hashedrekord_entry
    from tests.support.keys import leaf_certificate, pem_public

    issuer = b"\x0c\x1bhttps://accounts.example.com"
    extensions = [
        x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer[2:]),
        x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), issuer),
        x509.KeyUsage(True, False, False, False, False, False, False, False, False),
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]),
    ]
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        digest = hashlib.sha256(os.urandom(16)).digest()
        sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        if certificate:
            cert = leaf_certificate(key, [x509.RFC822Name(f"signer{i}@example.com")], extensions)
            pem = cert.public_bytes(serialization.Encoding.PEM)
        else:
            pem = pem_public(key)
        out.append(json.dumps(hashedrekord_entry(digest, sig, pem)).encode())
    return out


def ceiling(bodies: list[bytes], repeats: int) -> float:
    """µs of the crypto an entry needs at least: PEM key load + ECDSA verify + SET sign."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    log_key = ec.generate_private_key(ec.SECP256R1())
    specs = [json.loads(b)["spec"] for b in bodies]
    if any(b"CERTIFICATE" in base64.b64decode(s["signature"]["publicKey"]["content"])
           for s in specs):  # fmt: skip
        raise ValueError("the ceiling is measured on entries verified by a bare key")

    def one(spec: dict[str, Any]) -> None:
        key = serialization.load_pem_public_key(
            base64.b64decode(spec["signature"]["publicKey"]["content"])
        )
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(
            base64.b64decode(spec["signature"]["content"]),
            bytes.fromhex(spec["data"]["hash"]["value"]),
            ec.ECDSA(utils.Prehashed(hashes.SHA256())),
        )
        log_key.sign(b'{"body":"...","integratedTime":1,"logID":"..","logIndex":1}',
                     ec.ECDSA(hashes.SHA256()))  # fmt: skip

    return per_call_us(one, specs, repeats)


def json_stage(bodies: list[bytes], repeats: int) -> dict[str, float]:
    from sigstack.protocol import strictjson

    out = {
        "strictjson.loads": per_call_us(lambda b: strictjson.loads(b, "body"), bodies, repeats),
        "json.loads": per_call_us(json.loads, bodies, repeats),
    }
    with contextlib.suppress(ImportError):
        import orjson

        out["orjson.loads"] = per_call_us(orjson.loads, bodies, repeats)
    return out


def entry_stage(bodies: list[bytes], repeats: int) -> dict[str, float]:
    from sigstack.services.rekor.types import prepare_entry
    from sigstack.services.rekor.verifiers import b64decode, load_verifier

    parsed = [json.loads(b) for b in bodies]
    sigs = [p["spec"]["signature"] for p in parsed]
    verifiers = [load_verifier(s["publicKey"]["content"]) for s in sigs]
    checks = [(v, b64decode(s["content"], "sig"), bytes.fromhex(p["spec"]["data"]["hash"]["value"]))
              for v, s, p in zip(verifiers, sigs, parsed, strict=True)]  # fmt: skip
    total = per_call_us(prepare_entry, parsed, repeats)
    load = per_call_us(lambda s: load_verifier(s["publicKey"]["content"]), sigs, repeats)
    verify = per_call_us(lambda c: c[0].verify_digest(c[1], c[2], "sha256"), checks, repeats)
    return {"prepare_entry": total, "  verifier (base64, PEM, certificate)": load,
            "  signature check": verify, "  rest (canonical body, index keys)": total - load - verify}  # fmt: skip


@contextlib.contextmanager
def rekor_log(url: str | None, **options: Any) -> Iterator[Any]:
    """A fresh RekorLog on SQLite (``url`` None) or on the PostgreSQL database at ``url``."""
    from sigstack.services.keys import create_file_key, load_signer
    from sigstack.services.rekor.log import RekorLog
    from sigstack.services.runtime import db

    with tempfile.TemporaryDirectory() as tmp:
        url = url or db.sqlite_url(Path(tmp) / "rekor.db")
        db.upgrade(url)
        create_file_key(Path(tmp) / "key.pem")
        engine = db.make_engine(url)
        try:
            yield RekorLog(engine, load_signer(f"file:{Path(tmp) / 'key.pem'}"), "bench.local",
                           create=True, **options)  # fmt: skip
        finally:
            engine.dispose()


def _pending(bodies: list[bytes]) -> list[Any]:
    from sigstack.services.rekor.types import prepare_entry

    prepared = [prepare_entry(json.loads(b)) for b in bodies]
    return [ticket(p.body, p.index_keys) for p in prepared]


def answer_stage(bodies: list[bytes], repeats: int) -> dict[str, float]:
    from flask import Flask

    from sigstack.protocol.rekor import set_payload
    from sigstack.services.tlog import Entry

    with rekor_log(None) as rekor:
        items = _pending(bodies)
        rekor.log._commit(items)
        head = rekor.head()
        entries = [Entry(i.result.index, i.leaf, b"", i.leaf_hash, i.result.integrated_ms)
                   for i in items]  # fmt: skip
        rendered = [rekor.render(e, head) for e in entries]
        render = per_call_us(lambda e: rekor.render(e, head), entries, repeats)
        proof = per_call_us(lambda e: rekor.log.inclusion_proof(e.index, head.size), entries,
                            repeats)  # fmt: skip
        payloads = [set_payload(base64.b64encode(e.leaf).decode(), 1, rekor.log_id_hex, e.index)
                    for e in entries]  # fmt: skip
        sign = per_call_us(rekor.signer.sign, payloads, repeats)
        app = Flask("bench")
        app.json.sort_keys = False  # type: ignore[attr-defined]  # as runtime.app sets it
        with app.app_context():
            flask_json = per_call_us(app.json.response, rendered, repeats)
        out = {"render": render, "  inclusion proof (cached tiles)": proof,
               "  SET signature": sign, "  rest (base64, payload, dict)": render - proof - sign,
               "Flask JSON response": flask_json,
               "  json.dumps": per_call_us(json.dumps, rendered, repeats)}  # fmt: skip
        with contextlib.suppress(ImportError):
            import orjson

            out["  orjson.dumps"] = per_call_us(orjson.dumps, rendered, repeats)
        return out


def batch_stage(url: str | None, sizes: list[int], repeats: int, per_size: int = 512
                ) -> dict[int, tuple[float, float]]:  # fmt: skip
    """{batch size: (this process µs/entry, PG backend µs/entry)}: ``per_size`` new entries per
    size and repeat, committed by ``Log._commit`` (the sequencer's transaction) in batches."""
    out: dict[int, tuple[float, float]] = {}
    with rekor_log(url) as rekor:
        conn = rekor.log._writer()
        backend = None
        if url:
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            conn.rollback()
        pending = _pending(make_entries(1 + per_size * repeats * len(sizes), False))
        rekor.log._commit(pending[:1])  # a warm edge and connection
        at = 1
        runs: dict[int, list[tuple[float, float]]] = {size: [] for size in sizes}
        for _ in range(repeats):
            for size in sizes:  # alternated: the log grows under every size alike
                todo = [pending[at + i : at + i + size] for i in range(0, per_size, size)]
                at += per_size
                pg, t = backend_cpu(backend), time.thread_time()
                for batch in todo:
                    rekor.log._commit(batch)
                runs[size].append(((time.thread_time() - t) / per_size * 1e6,
                                   (backend_cpu(backend) - pg) / per_size * 1e6))  # fmt: skip
        for size, values in runs.items():
            out[size] = (median([v[0] for v in values]), median([v[1] for v in values]))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--entries", type=int, default=3000)
    p.add_argument("--only", default=",".join(STAGES))
    p.add_argument("--postgres", action="store_true", help="batch and whole on PostgreSQL too")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--threads", type=int, default=32)
    p.add_argument("--batch-sizes", default="1,8,32,128")
    p.add_argument("--kinds", default="key,cert", help="entries verified by a key, a certificate")
    args = p.parse_args()
    only = set(args.only.split(","))
    # as `sigstack serve` does before anything imports prometheus_client: a shared directory
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-metrics-"))
    os.chdir(ROOT)
    from sigstack.services.runtime.observe import configure_logging

    configure_logging()  # the access line is written, as by `sigstack serve`
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores; {loadavg()}; "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; median of {args.repeats} runs, "
          "µs of CPU per entry")  # fmt: skip
    kinds = {k: make_entries(args.entries, k == "cert") for k in args.kinds.split(",")}
    small = {k: v[:500] for k, v in kinds.items()}
    if "ceiling" in only:
        c = ceiling(make_entries(500, False), args.repeats)
        print(f"crypto ceiling (PEM key load + verify + SET sign): {c:.1f} µs = {1e6 / c:.0f}/s "
              f"on one core, {2e6 / c:.0f}/s on two")  # fmt: skip
    for kind, items in small.items():
        if "json" in only:
            show(f"json ({kind} entries)", json_stage(items, args.repeats))
        if "entry" in only:
            show(f"entry ({kind} entries)", entry_stage(items, args.repeats))
        if "answer" in only:
            show(f"answer ({kind} entries)", answer_stage(items, args.repeats))
    urls: list[tuple[str, Any]] = [("SQLite", None)]
    pg_stack = contextlib.ExitStack()
    if args.postgres:
        from tests.support.dbs import fresh_postgres

        urls.append(("PostgreSQL", pg_stack.enter_context(fresh_postgres())))
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    if "batch" in only:
        for name, url in urls:
            print(f"batch on {name}: size -> this process µs/entry, PG backend µs/entry")
            for size, (cpu, pg) in batch_stage(url, sizes, args.repeats).items():
                print(f"  {size:>4}: {cpu:8.1f} {pg:8.1f}")
    pg_stack.close()
    if "http" in only:
        show(f"http in-process ({args.concurrency} at once, {args.threads} threads)",
             http_stage(next(iter(kinds.values()))[:2000], args.concurrency, args.threads, args.repeats))  # fmt: skip
    if "whole" in only:
        for name, url in urls:
            for kind, items in kinds.items():
                show(f"whole on {name} ({kind} entries, {args.concurrency} at once, "
                     f"{args.threads} threads)",
                     whole_stage(items, url, args.concurrency, args.threads, args.repeats))  # fmt: skip
    print(loadavg())


if __name__ == "__main__":
    main()
