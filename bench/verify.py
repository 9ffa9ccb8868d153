"""Whole-process wall time of ``sigstack verify-bundle`` vs sigstore-python's
``sigstore verify identity --offline`` on the same bundle and trust root, and file hashing speed
against ``sha256sum``.

    .venv/bin/python bench/verify.py [--runs N] [--case NAME] [--hash-size MIB]

Prints the median of N runs for each side and the ratio (target: ours <= 0.3 of sigstore-python's),
then the hashing throughput of ``client.hashing.hash_file`` vs ``sha256sum`` on a temporary file
(target: >= 80% of sha256sum's speed). Start-up is included on purpose: it is what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from tests.support.testdata import TESTDATA

CASES = TESTDATA / "pyassets/cases"
PLACEHOLDER_SIGNING_CONFIG = {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}


def _time(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True)
        samples.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed: {proc.stderr.decode()[-500:]}")
    return statistics.median(samples)


def bench_verify(case: str, runs: int) -> None:
    d = CASES / case
    artifact = str(d / "artifact") if (d / "artifact").exists() else str(CASES / "a.txt")
    identity = (d / "identity").read_text().strip()
    issuer = (d / "issuer").read_text().strip()
    py = sys.executable
    # exactly what the installed `sigstack` console script runs (pip's wrapper: import main, call it)
    entry = "import sys; from sigstack.client.cli import main; sys.exit(main())"
    ours = [py, "-c", entry, "verify-bundle", "--bundle", str(d / "bundle.sigstore.json"),
            "--certificate-identity", identity, "--certificate-oidc-issuer", issuer,
            "--trusted-root", str(d / "trusted_root.json"), artifact]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        tc = Path(tmp) / "trust_config.json"
        tc.write_text(json.dumps({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": json.loads((d / "trusted_root.json").read_text()),
            "signingConfig": PLACEHOLDER_SIGNING_CONFIG,
        }))  # fmt: skip
        sigstore = str(Path(py).with_name("sigstore"))
        theirs = [sigstore, "--trust-config", str(tc), "verify", "identity", "--offline",
                  "--bundle", str(d / "bundle.sigstore.json"), "--cert-identity", identity,
                  "--cert-oidc-issuer", issuer, artifact]  # fmt: skip
        _time(ours, 1), _time(theirs, 1)  # warm the page cache and .pyc files
        t_ours, t_theirs = _time(ours, runs), _time(theirs, runs)
    print(f"verify ({case}, median of {runs} runs, whole process)")
    print(f"  sigstack verify-bundle           {t_ours * 1000:8.1f} ms")
    print(f"  sigstore verify identity --offline {t_theirs * 1000:6.1f} ms")
    print(f"  ratio ours/theirs                {t_ours / t_theirs:8.3f}  (target <= 0.3)")


def bench_hash(size_mib: int) -> None:
    from sigstack.client.hashing import hash_file

    if shutil.which("sha256sum") is None:
        print("hashing: sha256sum not found, skipped")
        return
    with tempfile.NamedTemporaryFile(delete=False) as fh:
        block = os.urandom(1 << 20)
        for _ in range(size_mib):
            fh.write(block)
        path = fh.name
    try:
        subprocess.run(["sha256sum", path], capture_output=True, check=True)  # warm cache
        start = time.perf_counter()
        subprocess.run(["sha256sum", path], capture_output=True, check=True)
        t_ref = time.perf_counter() - start
        start = time.perf_counter()
        hash_file(path, progress=False)
        t_ours = time.perf_counter() - start
    finally:
        os.unlink(path)
    mib = float(size_mib)
    print(f"hashing {size_mib} MiB (page cache warm)")
    print(f"  sha256sum          {mib / t_ref:8.1f} MiB/s")
    print(f"  client.hashing     {mib / t_ours:8.1f} MiB/s")
    print(f"  ours/sha256sum     {t_ref / t_ours:8.3f}  (target >= 0.8)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--case", default="staging-v0.3-happy-path")
    p.add_argument("--hash-size", type=int, default=1024, help="MiB (default 1 GiB)")
    ns = p.parse_args()
    bench_verify(ns.case, ns.runs)
    bench_hash(ns.hash_size)


if __name__ == "__main__":
    main()
