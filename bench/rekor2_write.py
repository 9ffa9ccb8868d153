"""Rekor v2 write throughput on this machine. Prints figures; asserts nothing.

1. Starts ``sigstack serve rekor2`` (Ed25519 log key) on a fresh PostgreSQL database (or SQLite
   with --sqlite), pre-generates distinct hashedrekord 0.0.2 requests as sigstore-python sends them
   (P-256 signature over a SHA-256 digest, DER certificate), and drives them with ``wrk`` at
   --connections concurrent clients for --seconds. Prints entries/s, p50/p99 latency, non-201
   answers and socket errors, the CPU per entry of every server process, the server's context
   switches per entry, the load generator's own CPU per request, and the checkpoint
   interval the run had: one checkpoint per committed batch, counted from the database afterwards
   (the entries of one batch share their integration time).
2. Measures, in the same run, the per-entry crypto ceiling (DER certificate parse + ECDSA P-256
   verification, plus the Ed25519 checkpoint signature shared by a batch) and the in-process
   ceiling (``services.rekor2.entries.prepare_entry``: JSON, checks, verification, RFC 8785 body),
   single-threaded, scaled to the cores.
3. Verifies a sample of fresh answers with sigstack's verifier and sigstore-python's.

Target (issue 13): 1,500 entries/s at 32 connections, as for the v1 log.

Usage: .venv/bin/python bench/rekor2_write.py [--seconds 20] [--connections 32] [--sqlite]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, context_switches, loadavg, log_write_arguments, wrk_post
from tsa import process_cpu  # CPU per server process, by pid

from tests.support.dbs import fresh_postgres
from tests.support.entries import V2Signed, v2_hashedrekord, v2_request
from tests.support.servers import Service

TARGET = 1500


def make_requests(n: int, keys: int = 64) -> list[bytes]:
    """``n`` distinct requests from ``keys`` signers (a certificate each), as JSON lines."""
    import hashlib

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    signers = []
    for i in range(keys):
        seed = v2_hashedrekord(b"seed %d" % i)
        assert seed.certificate is not None
        signers.append((seed.key, seed.certificate.public_bytes(serialization.Encoding.DER)))
    out = []
    for i in range(n):
        key, der = signers[i % keys]
        digest = hashlib.sha256(os.urandom(16)).digest()
        sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        out.append(json.dumps(v2_request(digest, sig, der), separators=(",", ":")).encode())
    return out


def crypto_ceiling(bodies: list[bytes], batch: float, seconds: float = 3.0) -> float:
    """Entries/s one core verifies: DER certificate parse + ECDSA P-256 prehashed verification,
    plus an Ed25519 checkpoint signature per ``batch`` entries."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

    log_key = ed25519.Ed25519PrivateKey.generate()
    parsed = []
    for raw in bodies[:2000]:
        spec = json.loads(raw)["hashedRekordRequestV002"]
        parsed.append((
            base64.b64decode(spec["signature"]["verifier"]["x509Certificate"]["rawBytes"]),
            base64.b64decode(spec["signature"]["content"]),
            base64.b64decode(spec["digest"]),
        ))  # fmt: skip
    done, signed, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        der, sig, digest = parsed[done % len(parsed)]
        key = x509.load_der_x509_certificate(der).public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        key.verify(sig, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        done += 1
        if done / max(batch, 1.0) > signed:
            log_key.sign(b"origin\n%d\nroot-hash-in-base64-44-characters-long-xxxxx=\n" % done)
            signed += 1
    return done / (time.perf_counter() - start)


def prepare_ceiling(bodies: list[bytes], seconds: float = 3.0) -> float:
    """Entries/s one core takes through ``entries.prepare_entry`` (no HTTP, no database)."""
    from sigstack.services.rekor2.entries import prepare_entry

    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        prepare_entry(bodies[done % len(bodies)])
        done += 1
    return done / (time.process_time() - start)


def http_ceiling(bodies: list[bytes], args: argparse.Namespace, work: Path, workers: int) -> float:
    """Entries/s of ``ceiling_app`` (HTTP, JSON, certificate, ECDSA verify; no database) on granian
    with ``workers`` workers, driven by the same ``wrk`` load for as long: the host's ceiling for
    this request in this run."""
    import subprocess
    import sys

    from tests.support.servers import free_port, wait_http

    port = free_port()
    granian = Path(sys.executable).parent / "granian"
    with (work / "ceiling.log").open("wb") as errors:
        proc = subprocess.Popen(
            [str(granian), "--interface", "asgi", "--workers", str(workers), "--loop", "uvloop",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level",
             "error", "ceiling_app:app"],
            cwd=ROOT / "bench", stdout=subprocess.DEVNULL, stderr=errors,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/", proc=proc)
            r = wrk_post(url, "/api/v2/log/entries", bodies, args.connections, args.seconds, work)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if r["other"] or r["socket_errors"]:
        print(f"  NOTE: the ceiling app answered {r['other']} errors, {r['socket_errors']} "
              "socket errors")  # fmt: skip
    return r["ok"] / r["seconds"]


def batches(url: str) -> int:
    """Checkpoints the run published: distinct integration times of the log's entries."""
    from sqlalchemy import func, select

    from sigstack.services.runtime import db
    from sigstack.services.tlog import store

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            e = store.entries
            return int(conn.execute(select(func.count(e.c.integrated_ms.distinct()))).scalar() or 0)
    finally:
        engine.dispose()


def check_sample(url: str, data: Path, n: int = 5) -> None:
    import requests as http

    from sigstack.protocol import note
    from sigstack.services.keys import load_signer
    from tests.support.checks import our_verify_v2, sigstore_python_verify_v2

    signer = load_signer(f"file:{data / 'rekor2-key.pem'}")
    origin = http.get(f"{url}/checkpoint", timeout=10).text.split("\n", 1)[0]
    key_id = note.note_key_digest(origin, signer.public_key)
    for i in range(n):
        signed: V2Signed = v2_hashedrekord(b"sample %d %s" % (i, os.urandom(8)))
        resp = http.post(f"{url}/api/v2/log/entries", json=signed.request, timeout=30)
        assert resp.status_code == 201, resp.text
        entry: dict[str, Any] = resp.json()
        our_verify_v2(entry, signer.public_der, "PKIX_ED25519", key_id, signed)
        sigstore_python_verify_v2(entry, signer.public_der, "PKIX_ED25519", signed)
    print(f"  {n} sample answers verified with sigstack's verifier and sigstore-python 4.5.1")


def write_bench(args: argparse.Namespace, work: Path, url: str | None) -> None:
    t0 = time.perf_counter()
    bodies = make_requests(args.entries)
    print(f"generated {len(bodies)} distinct signed requests in {time.perf_counter() - t0:.1f}s")
    extra = ["--database-url", url] if url else []
    for flag, value in (("--workers", args.workers), ("--threads", args.threads)):
        extra += [flag, str(value)] if value else []
    data = work / "data"
    srv = Service("rekor2", "--data-dir", str(data), *extra, log=work / "server.log").start()
    try:
        assert srv.proc is not None
        before, switches = process_cpu(srv.proc.pid), context_switches(srv.proc.pid)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
        r = wrk_post(srv.url, "/api/v2/log/entries", bodies, args.connections,
                     args.seconds, work)  # fmt: skip
        after, switches = process_cpu(srv.proc.pid), context_switches(srv.proc.pid) - switches
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_cpu = (waited.ru_utime + waited.ru_stime) - (children.ru_utime + children.ru_stime)
        check_sample(srv.url, data)
    finally:
        srv.stop()
    ceiling = http_ceiling(bodies, args, work, args.workers or (2 if url else 1))
    from sigstack.services.runtime import db

    published = batches(url or db.sqlite_url(data / "rekor2.db"))
    rate = r["ok"] / r["seconds"]
    per_batch = r["ok"] / max(published, 1)
    cores = os.cpu_count() or 1
    layout = f"workers {args.workers or 'default'} x threads {args.threads or 'default'}"
    print(f"backend: {'PostgreSQL' if url else 'SQLite'}; {layout}; {args.connections} "
          f"connections for {args.seconds}s; {loadavg()}")  # fmt: skip
    print(f"  requests {r['requests']}: {r['ok']} created (201), {r['other']} other, "
          f"{r['socket_errors']} socket errors")  # fmt: skip
    print(f"  entries/s (201 only): {rate:.0f} (target {TARGET}: {rate / TARGET:.2f} of it)")
    print(f"  HTTP ceiling, same run (bench/ceiling_app.py on granian, same workers and wrk load: "
          f"JSON + certificate + ECDSA verify, no database): {ceiling:.0f}/s; achieved/ceiling = "
          f"{rate / ceiling:.2f}; the target is {TARGET / ceiling:.2f} of it")  # fmt: skip
    print(f"  latency p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, mean {r['mean']:.1f} ms")
    print(f"  checkpoint interval: one per committed batch; {published} checkpoints, "
          f"{published / r['seconds']:.0f}/s, {per_batch:.1f} entries each on average")  # fmt: skip
    total = 0.0
    for pid, (name, cpu) in sorted(after.items()):
        used = cpu - before.get(pid, (name, 0.0))[1]
        total += used
        print(f"  CPU per entry, {name} {pid}: {1000 * used / max(r['ok'], 1):.3f} ms")
    per = total / max(r["ok"], 1)
    print(f"  CPU per entry, all server processes: {1000 * per:.3f} ms, i.e. at most "
          f"{cores / per if per else 0:.0f} entries/s on {cores} idle cores (the database "
          "server's own CPU not included)")  # fmt: skip
    print(f"  context switches per entry, all server threads: {switches / max(r['ok'], 1):.1f}")
    wrk_per = load_cpu / max(r["requests"], 1)
    print(f"  CPU per request of the load generator (wrk and its Lua script): "
          f"{1000 * wrk_per:.3f} ms; server and wrk together allow at most "
          f"{cores / (per + wrk_per) if per else 0:.0f} entries/s on {cores} cores")  # fmt: skip
    if r["ok"] < r["requests"] - r["other"]:
        print("  NOTE: wrk wrapped around the bodies: raise --entries")
    crypto = crypto_ceiling(bodies, per_batch)
    built = prepare_ceiling(bodies)
    print(f"  crypto ceiling (certificate parse + ECDSA P-256 verify, Ed25519 checkpoint per "
          f"batch): {crypto:.0f}/s on one core, {crypto * cores:.0f}/s on {cores} cores; "
          f"achieved/ceiling = {rate / (crypto * cores):.2f}")  # fmt: skip
    print(f"  in-process ceiling (entries.prepare: JSON, checks, verify, RFC 8785): {built:.0f}/s "
          f"on one core, {built * cores:.0f}/s on {cores} cores")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    log_write_arguments(p)
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("== Rekor v2 write throughput")
        if args.sqlite:
            write_bench(args, work, None)
        else:
            with fresh_postgres() as url:
                write_bench(args, work, url)


if __name__ == "__main__":
    main()
