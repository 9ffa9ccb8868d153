"""Fulcio end-to-end issuance throughput on this machine. Prints figures; asserts nothing.

1. Creates a CA (``--ca-algorithm``, P-256 by default), starts ``sigstack serve ctlog`` (SQLite, or
   PostgreSQL with --database-url) and ``sigstack serve fulcio`` (gunicorn workers with threads) with
   the CT log's public key (every SCT is checked), plus a throw-away OIDC issuer in this process.
2. Pre-generates --requests distinct CSRs (P-256, as sigstore-python sends) and a pool of RS256
   identity tokens, and drives ``POST /api/v2/signingCert`` with ``wrk`` for --seconds: every
   answer is a full issuance (token check, proof of possession, precert, CT append, final cert).
   Prints certificates/s, p50/p99 latency and non-200 answers.
3. Measures, in the same run, the per-certificate crypto ceiling on one core: RS256 token
   verification, CSR parse + self-signature check, two CA signatures (precert, final), the CT
   log's SCT signature and Fulcio's check of it; scaled to the cores.

Usage: .venv/bin/python bench/fulcio_issue.py [--seconds 10] [--connections 16] [--requests 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT, cpu_seconds, loadavg, wrk_post

from sigstack.services.fulcio.cli import create_ca
from sigstack.services.keys import load_signer
from tests.support.fulcio import v2_csr_body
from tests.support.keys import csr_pem, new_key
from tests.support.oidc import OIDCIssuer
from tests.support.servers import Service


def _csr_bodies(n: int, tokens: list[str]) -> tuple[list[str], list[bytes]]:
    bodies, pems = [], []
    for i in range(n):
        pem = csr_pem(new_key("ec-p256"))
        pems.append(pem)
        bodies.append(json.dumps(v2_csr_body(pem, tokens[i % len(tokens)])))
    return bodies, pems


def crypto_ceiling(
    issuer: OIDCIssuer, tokens: list[str], pems: list[bytes], ca_dir: Path, seconds: float = 3.0
) -> float:
    """Certificates/s one core can do counting only the cryptography of one issuance."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from sigstack.protocol import sct as ctsct
    from sigstack.services.fulcio.ca import CertificateAuthority
    from sigstack.services.fulcio.config import parse_identity_config
    from sigstack.services.fulcio.identity import principal
    from sigstack.services.fulcio.pop import parse_csr
    from sigstack.services.fulcio.tokens import TokenVerifier

    chain = x509.load_pem_x509_certificates((ca_dir / "chain.pem").read_bytes())
    ca = CertificateAuthority(load_signer(f"file:{ca_dir / 'intermediate-key.pem'}"), chain)
    verifier = TokenVerifier(
        parse_identity_config({"OIDCIssuers": {issuer.url: {"Type": "email"}}})
    )
    verifier.verify(tokens[0])  # discovery + JWKS outside the timing
    ct_key = ec.generate_private_key(ec.SECP256R1())
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        found, claims = verifier.verify(tokens[done % len(tokens)])
        who = principal(found, claims)
        key, _ = parse_csr(pems[done % len(pems)])
        builder = ca.leaf_builder(who, key)
        precert = ca.precertificate(builder)
        tbs = ctsct.strip_extension_from_tbs(precert.tbs_certificate_bytes)
        data = ctsct.precert_signed_data(int(time.time() * 1000), b"\0" * 32, tbs)
        sig = ct_key.sign(data, ec.ECDSA(hashes.SHA256()))
        sct = ctsct.SignedCertificateTimestamp(b"\0" * 32, 1, sig)
        sct.verify(ct_key.public_key(), data)
        ca.final(builder, [sct])
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers for each service")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--ca-algorithm", default="ecdsa-p256")
    p.add_argument("--database-url", help="PostgreSQL for the CT log (default: SQLite)")
    p.add_argument("--ct-workers", type=int, help="gunicorn workers of the CT log (its default)")
    args = p.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    os.chdir(ROOT)
    issuer = OIDCIssuer(("RS256",))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = create_ca(work / "ca", algorithm=args.ca_algorithm)
        tokens = [issuer.email_token(f"user{i}@example.com", exp_in=3600)
                  for i in range(args.tokens)]  # fmt: skip
        t0 = time.perf_counter()
        bodies, pems = _csr_bodies(args.requests, tokens)
        print(f"generated {args.requests} CSRs in {time.perf_counter() - t0:.1f}s")
        extra = ["--database-url", args.database_url] if args.database_url else []
        if args.ct_workers:
            extra += ["--workers", str(args.ct_workers)]
        ct = Service(
            "ctlog",
            "--data-dir",
            str(work / "ct"),
            "--roots",
            str(paths["root.pem"]),
            *extra,
            log=work / "ct.log",
        ).start()  # fmt: skip  (the log's own defaults)
        (work / "ct.pub").write_bytes(
            load_signer(f"file:{work / 'ct' / 'ctlog-key.pem'}").public_pem
        )
        (work / "fulcio.json").write_text(
            json.dumps({"OIDCIssuers": {issuer.url: {"Type": "email"}}})
        )
        fulcio = Service(
            "fulcio", "--data-dir", str(work / "f"), "--config", str(work / "fulcio.json"),
            "--ct-url", ct.url, "--ct-public-key", str(work / "ct.pub"),
            "--ca-key", f"file:{paths['intermediate-key.pem']}", "--ca-chain", str(paths["chain.pem"]),
            "--workers", str(args.workers), "--threads", str(args.threads), log=work / "fulcio.log",
        ).start()  # fmt: skip
        try:
            pids = [s.proc.pid for s in (fulcio, ct)]  # type: ignore[union-attr]
            cpu0 = [cpu_seconds(p) for p in pids]
            r = wrk_post(fulcio.url, "/api/v2/signingCert", bodies, args.connections,
                         args.seconds, work)  # fmt: skip
            cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)]
        finally:
            fulcio.stop()
            ct.stop()
        rate = r["ok"] / r["seconds"]
        print(f"CT log on {'PostgreSQL' if args.database_url else 'SQLite'}; CA {args.ca_algorithm}; "
              f"Fulcio {args.workers} workers x {args.threads} threads, CT log "
              f"{args.ct_workers or 'default'} workers; "
              f"{args.connections} connections for {args.seconds}s; {loadavg()}")  # fmt: skip
        print(
            f"  requests {r['requests']}, 200: {r['ok']}, other: {r['other']}, "
            f"socket errors: {r['socket_errors']}"
        )
        print(f"  certificates/s: {rate:.0f}")
        print(f"  latency p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms")
        per = [1000 * c / max(r["ok"], 1) for c in cpu]
        print(
            f"  CPU per certificate: Fulcio {per[0]:.2f} ms, CT log {per[1]:.2f} ms "
            f"(total {sum(per):.2f} ms; 2 cores allow {2000 / sum(per):.0f}/s)"
        )
        if r["requests"] > args.requests:
            print(
                "  NOTE: wrk wrapped around the CSRs (the CT log deduplicated repeats): raise --requests"
            )
        ceiling = crypto_ceiling(issuer, tokens, pems, work / "ca")
        cores = os.cpu_count() or 1
        print(f"  crypto ceiling (token + CSR + 2 CA sigs + SCT sign/verify): {ceiling:.0f}/s on "
              f"one core, {ceiling * cores:.0f}/s on {cores} cores; achieved/ceiling = "
              f"{rate / (ceiling * cores):.2f}")  # fmt: skip
    issuer.close()


if __name__ == "__main__":
    main()
