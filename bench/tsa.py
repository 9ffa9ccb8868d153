"""RFC 3161 timestamps per second on this machine, next to the crypto ceiling. Prints figures;
asserts nothing.

1. Starts ``sigstack serve tsa`` on a fresh data directory (its development chain, P-256 leaf),
   pre-generates distinct DER requests as sigstore-python sends them (SHA-256 imprint, 64-bit
   nonce, certReq TRUE; ``--no-cert-req`` for sigstore-go's shape) and drives them with ``wrk``
   (C, so the load generator costs little CPU) at --connections concurrent clients for --seconds.
   Prints timestamps/s (200 answers), p50/p99 latency, non-200 answers, and the CPU each server
   process used per timestamp (read from /proc before and after).
2. Measures, in the same run and on one core: the crypto ceiling (one ECDSA P-256 signature and
   the two SHA-256 digests of a timestamp: the TSTInfo and the signed attributes) and the
   in-process ceiling (request parsed + answer built and signed, no HTTP), each scaled to the
   cores, so the achieved rate can be read against both.
3. Checks a sample of the answers with rfc3161-client (a benchmark of wrong answers is no use).

Usage: .venv/bin/python bench/tsa.py [--seconds 15] [--connections 16] [--workers 2] [--threads 4]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT, loadavg, wrk_post

from tests.support.servers import Service


def requests(n: int, cert_req: bool) -> list[bytes]:
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

    out = []
    for _ in range(n):
        builder = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256)
        builder = builder.data(os.urandom(64)).cert_request(cert_request=cert_req)
        builder = builder.nonce(nonce=cert_req)  # sigstore-go sends neither
        out.append(builder.build().as_bytes())
    return out


def process_cpu(root_pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of ``root_pid`` and every process under it, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        name = "main" if pid == root_pid else "worker"
        fields = stat.rsplit(")", 1)[1].split()
        out[pid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def crypto_ceiling(seconds: float = 2.0) -> float:
    """Timestamps/s one core could sign: ECDSA P-256 over SHA-256 + the TSTInfo digest."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    tst, attrs = os.urandom(180), os.urandom(230)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        hashlib.sha256(tst).digest()
        key.sign(attrs, ec.ECDSA(hashes.SHA256()))
        done += 1
    return done / (time.perf_counter() - start)


def build_ceiling(chain_dir: Path, bodies: list[bytes], seconds: float = 2.0) -> float:
    """Timestamps/s one core builds in process: parse the request, build and sign the answer."""
    from sigstack.services.tsa.app import build_authority
    from sigstack.services.tsa.config import TSAConfig
    from sigstack.services.tsa.request import parse_der

    tsa = build_authority(
        TSAConfig(
            key_uri=f"file:{chain_dir / 'leaf-key.pem'}", chain_file=str(chain_dir / "chain.pem")
        )
    )
    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        tsa.timestamp(parse_der(bodies[done % len(bodies)]))
        done += 1
    return done / (time.process_time() - start)


def check_sample(url: str, chain_dir: Path, n: int = 20) -> None:
    import requests as http
    from cryptography import x509
    from rfc3161_client import (
        HashAlgorithm,
        TimestampRequestBuilder,
        VerifierBuilder,
        decode_timestamp_response,
    )

    chain = x509.load_pem_x509_certificates((chain_dir / "chain.pem").read_bytes())
    verifier = VerifierBuilder().tsa_certificate(chain[0]).add_root_certificate(chain[-1]).build()
    for _ in range(n):
        message = os.urandom(64)
        builder = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256)
        req = builder.data(message).nonce(nonce=True).build().as_bytes()
        resp = http.post(
            f"{url}/api/v1/timestamp",
            data=req,
            timeout=10,
            headers={"Content-Type": "application/timestamp-query"},
        )
        resp.raise_for_status()
        verifier.verify_message(decode_timestamp_response(resp.content), message)
    print(f"  {n} sample answers verified with rfc3161-client")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--no-cert-req", action="store_true", help="sigstore-go's request shape")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    os.chdir(ROOT)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bodies = requests(args.requests, not args.no_cert_req)
        srv = Service(
            "tsa",
            "--data-dir",
            str(work / "data"),
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            log=work / "server.log",
        ).start()
        try:
            assert srv.proc is not None
            before = process_cpu(srv.proc.pid)
            r = wrk_post(srv.url, "/api/v1/timestamp", bodies, args.connections,
                         args.seconds, work, "application/timestamp-query")  # fmt: skip
            after = process_cpu(srv.proc.pid)
            check_sample(srv.url, work / "data" / "chain")
        finally:
            srv.stop()
        rate = r["ok"] / r["seconds"]
        print(
            f"tsa: {args.workers} workers x {args.threads} threads; {args.connections} "
            f"connections for {args.seconds}s; certReq {not args.no_cert_req}; {loadavg()}"
        )
        print(f"  requests {r['requests']}: {r['ok']} timestamps (200), {r['other']} other")
        print(f"  timestamps/s: {rate:.0f}")
        print(f"  latency p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms")
        total = 0.0
        for pid, (name, cpu) in sorted(after.items()):
            used = cpu - before.get(pid, (name, 0.0))[1]
            total += used
            print(f"  CPU per timestamp, {name} {pid}: {1000 * used / max(r['ok'], 1):.3f} ms")
        per = total / max(r["ok"], 1)
        print(
            f"  CPU per timestamp, all server processes: {1000 * per:.3f} ms, i.e. at most "
            f"{cores / per:.0f} timestamps/s on {cores} idle cores"
        )
        crypto = crypto_ceiling()
        built = build_ceiling(work / "data" / "chain", bodies)
        print(
            f"  crypto ceiling (ECDSA P-256 sign + SHA-256): {crypto:.0f}/s on one core, "
            f"{crypto * cores:.0f}/s on {cores} cores"
        )
        print(
            f"  in-process ceiling (parse + build + sign, no HTTP): {built:.0f}/s on one core, "
            f"{built * cores:.0f}/s on {cores} cores; achieved/in-process = "
            f"{rate / (built * cores):.2f}"
        )


if __name__ == "__main__":
    main()
