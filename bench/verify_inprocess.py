"""Bundles verified per second in one process: sigstack's library API against sigstore-python's,
on the same real bundles and trusted roots. Prints figures; asserts nothing.

    .venv/bin/python bench/verify_inprocess.py [--seconds 5 | --count N] [--repeats 7]

1. Loads the happy-path cases of tests/data/pyassets/cases (bundle, trusted root, identity,
   issuer, artifact digest). Message-signature bundles go through ``verify_artifact`` on both
   sides (the artifact as its SHA-256 digest, so no side hashes a file), the DSSE bundle through
   ``verify_dsse`` on both sides (neither then compares the in-toto subject).
2. Builds each side's verifiers once per distinct trusted root (sigstack: ``TrustedRoot.from_file``
   + ``Verifier``; sigstore-python 4.5.1, offline: ``TrustedRoot.from_file`` + ``Verifier``) and
   times that construction and the first verification apart from the run.
3. Checks that both sides accept every case and refuse two tampered copies of each (a bit flipped
   in the artifact signature, one in the first inclusion-proof hash), and prints what refused.
4. Alternates runs (ours, theirs; then theirs, ours; ...) of --seconds each, or --count bundles
   each, cycling through the cases; each verification parses the bundle's JSON
   (``Bundle.from_json``) and verifies it. Prints bundles/s per run, the medians and the ratio
   (target: ours >= 2x theirs), and per case the median time of one verification.
5. Measures, in the same run, the single-core ceiling of the public-key operations a verification
   implies (artifact signature, leaf certificate by its CA, SCT, SET, checkpoint, RFC 3161
   timestamp, each with a fresh key of the algorithm the case uses).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import loadavg, median

from tests.support.testdata import TESTDATA

CASES = TESTDATA / "pyassets/cases"


@dataclass
class Case:
    name: str
    raw: bytes
    root: Path
    digest: str  # "sha256:<hex>"
    identity: str
    issuer: str
    dsse: bool


def load_cases() -> list[Case]:
    cases = []
    for d in sorted(p for p in CASES.iterdir() if p.is_dir() and not p.name.endswith("_fail")):
        if (d / "digest").exists():
            digest = (d / "digest").read_text().strip()
        else:
            artifact = d / "artifact" if (d / "artifact").exists() else CASES / "a.txt"
            digest = "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()
        raw = (d / "bundle.sigstore.json").read_bytes()
        cases.append(Case(d.name, raw, d / "trusted_root.json", digest,
                          (d / "identity").read_text().strip(), (d / "issuer").read_text().strip(),
                          "dsseEnvelope" in json.loads(raw)))  # fmt: skip
    return cases


# ---- the two sides: (root path -> verifier), (case -> a function of the raw bundle) ----------


def ours_verifier(root: Path) -> Any:
    from sigstack.client import TrustedRoot, Verifier

    return Verifier(TrustedRoot.from_file(str(root)))


def ours_check(verifier: Any, case: Case) -> Callable[[bytes], object]:
    from sigstack.client import Artifact, Bundle, IdentityPolicy

    policy = IdentityPolicy(identity=case.identity, issuer=case.issuer)
    artifact = Artifact.from_digest(case.digest)
    if case.dsse:
        return lambda raw: verifier.verify_dsse(Bundle.from_json(raw), policy)
    return lambda raw: verifier.verify_artifact(Bundle.from_json(raw), artifact, policy)


def theirs_verifier(root: Path) -> Any:
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    return Verifier(trusted_root=TrustedRoot.from_file(str(root)))


def theirs_check(verifier: Any, case: Case) -> Callable[[bytes], object]:
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify.policy import Identity
    from sigstore_models.common.v1 import HashAlgorithm

    policy = Identity(identity=case.identity, issuer=case.issuer)
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(case.digest[7:]))
    if case.dsse:
        return lambda raw: verifier.verify_dsse(Bundle.from_json(raw), policy)
    return lambda raw: verifier.verify_artifact(hashed, Bundle.from_json(raw), policy)


SIDES = {
    "sigstack": (ours_verifier, ours_check),
    "sigstore-python": (theirs_verifier, theirs_check),
}


def build(side: str, cases: list[Case]) -> tuple[list[Callable[[bytes], object]], float, float]:
    """The side's per-case checks, its construction time (ms per trusted root, median of 5) and
    the first verification's time (ms)."""
    make, check = SIDES[side]
    roots = sorted({c.root for c in cases})
    construct = []
    for _ in range(5):
        t = time.perf_counter()
        for root in roots:
            make(root)
        construct.append((time.perf_counter() - t) * 1000 / len(roots))
    verifiers = {root: make(root) for root in roots}
    checks = [check(verifiers[c.root], c) for c in cases]
    t = time.perf_counter()
    checks[0](cases[0].raw)
    return checks, median(construct), (time.perf_counter() - t) * 1000


# ---- correctness: both accept, both refuse tampered copies -----------------------------------


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def tampered(raw: bytes) -> dict[str, bytes]:
    doc = json.loads(raw)
    out = {}
    sig = doc.get("messageSignature") or doc["dsseEnvelope"]["signatures"][0]
    key = "signature" if "messageSignature" in doc else "sig"
    sig[key], saved = _flip(sig[key]), sig[key]
    out["artifact signature"] = json.dumps(doc).encode()
    sig[key] = saved
    proof = doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["hashes"][0] = _flip(proof["hashes"][0])
    out["inclusion proof hash"] = json.dumps(doc).encode()
    return out


def outcome(fn: Callable[[bytes], object], raw: bytes) -> str:
    try:
        fn(raw)
    except Exception as exc:  # noqa: BLE001 - any refusal counts; its type is printed
        return f"refused ({type(exc).__name__})"
    return "accepted"


def correctness(cases: list[Case], checks: dict[str, list[Callable[[bytes], object]]]) -> None:
    print("== correctness (each side, every case; tampered copies must be refused)")
    for i, case in enumerate(cases):
        row = {side: outcome(fns[i], case.raw) for side, fns in checks.items()}
        print(f"  {case.name:40} " + "; ".join(f"{s}: {o}" for s, o in row.items()))
        for what, raw in tampered(case.raw).items():
            row = {side: outcome(fns[i], raw) for side, fns in checks.items()}
            print(f"    tampered {what:22} " + "; ".join(f"{s}: {o}" for s, o in row.items()))


# ---- throughput ---------------------------------------------------------------------------------


def run(fns: list[Callable[[bytes], object]], cases: list[Case], seconds: float, count: int
        ) -> float:  # fmt: skip
    """Bundles/s over one run: --count bundles, or whole cycles through the cases for --seconds."""
    work = list(zip(fns, [c.raw for c in cases], strict=True))
    start = time.perf_counter()
    if count:
        for i in range(count):
            fn, raw = work[i % len(work)]
            fn(raw)
        done = count
    else:
        done = 0
        while time.perf_counter() - start < seconds:
            for fn, raw in work:
                fn(raw)
            done += len(work)
    return done / (time.perf_counter() - start)


def per_case_ms(fns: list[Callable[[bytes], object]], cases: list[Case], n: int) -> list[float]:
    out = []
    for fn, case in zip(fns, cases, strict=True):
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            fn(case.raw)
            samples.append((time.perf_counter() - t) * 1000)
        out.append(median(samples))
    return out


# ---- crypto ceiling -------------------------------------------------------------------------------


def _kind(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ECDSA P-256", "secp384r1": "ECDSA P-384"}.get(key.curve.name,
                                                                           key.curve.name)  # fmt: skip
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return type(key).__name__


def _log_key(keys: list[dict[str, Any]], key_id: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    for entry in keys:
        if base64.b64decode(entry["logId"]["keyId"]) == key_id:
            return load_der_public_key(base64.b64decode(entry["publicKey"]["rawBytes"]))
    raise LookupError("log key not in the trusted root")


def operations(case: Case) -> list[tuple[str, str]]:
    """(what, algorithm) of each public-key verification the case's bundle implies."""
    from cryptography import x509

    doc, root = json.loads(case.raw), json.loads(case.root.read_text())
    material = doc["verificationMaterial"]
    der = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
    leaf = x509.load_der_x509_certificate(base64.b64decode(der["rawBytes"]))
    ops = [("artifact signature", _kind(leaf.public_key()))]
    for ca in root["certificateAuthorities"]:
        for c in ca["certChain"]["certificates"]:
            cert = x509.load_der_x509_certificate(base64.b64decode(c["rawBytes"]))
            if cert.subject == leaf.issuer:
                ops.append(("leaf certificate by its CA", _kind(cert.public_key())))
                break
        else:
            continue
        break
    scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    ops += [("SCT", _kind(_log_key(root["ctlogs"], s.log_id))) for s in scts.value]
    entry = material["tlogEntries"][0]
    rekor = _kind(_log_key(root["tlogs"], base64.b64decode(entry["logId"]["keyId"])))
    if "inclusionPromise" in entry:
        ops.append(("SET", rekor))
    if entry.get("inclusionProof", {}).get("checkpoint"):
        ops.append(("checkpoint", rekor))
    stamps = material.get("timestampVerificationData", {}).get("rfc3161Timestamps", [])
    if stamps:  # signed by the leaf of the trusted root's TSA chain
        tsa = root["timestampAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"]
        key = x509.load_der_x509_certificate(base64.b64decode(tsa)).public_key()
        ops += [("RFC 3161 timestamp", _kind(key))] * len(stamps)
    return ops


def op_cost_us(algorithm: str, seconds: float = 0.5) -> float:
    """Median µs of one verification with a fresh key of ``algorithm`` over a 1 KB message."""
    import os

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    msg = os.urandom(1024)
    if algorithm.startswith("ECDSA"):
        curve, hash_ = ((ec.SECP256R1(), hashes.SHA256()) if "256" in algorithm
                        else (ec.SECP384R1(), hashes.SHA384()))  # fmt: skip
        k = ec.generate_private_key(curve)
        sig, pub = k.sign(msg, ec.ECDSA(hash_)), k.public_key()
        verify: Callable[[], None] = lambda: pub.verify(sig, msg, ec.ECDSA(hash_))  # noqa: E731
    elif algorithm == "Ed25519":
        e = ed25519.Ed25519PrivateKey.generate()
        esig, epub = e.sign(msg), e.public_key()
        verify = lambda: epub.verify(esig, msg)  # noqa: E731
    else:
        r = rsa.generate_private_key(65537, int(algorithm.split()[1]))
        rsig, rpub = r.sign(msg, padding.PKCS1v15(), hashes.SHA256()), r.public_key()
        verify = lambda: rpub.verify(rsig, msg, padding.PKCS1v15(), hashes.SHA256())  # noqa: E731
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        for _ in range(20):
            verify()
        samples.append((time.perf_counter() - t) * 1e6 / 20)
    return median(samples)


def ceiling(cases: list[Case]) -> None:
    per_case = {c.name: operations(c) for c in cases}
    algorithms = sorted({alg for ops in per_case.values() for _, alg in ops})
    cost = {alg: op_cost_us(alg) for alg in algorithms}
    print("== crypto ceiling (one core, public-key verifications only; hashing, parsing, Merkle "
          "paths not counted)")  # fmt: skip
    print("  per verification: " + ", ".join(f"{a} {cost[a]:.0f} us" for a in algorithms))
    total = 0.0
    for name, ops in per_case.items():
        us = sum(cost[alg] for _, alg in ops)
        total += us
        print(f"  {name:40} {us:6.0f} us  " + ", ".join(f"{w} ({a})" for w, a in ops))
    print(f"  the cycle through {len(cases)} cases: {len(cases) / total * 1e6:,.0f} bundles/s "
          "on one core")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="per run (default 5)")
    p.add_argument("--count", type=int, default=0, help="bundles per run instead of --seconds")
    p.add_argument("--repeats", type=int, default=7, help="alternated runs per side")
    args = p.parse_args()
    cases = load_cases()
    print(f"{len(cases)} cases: {', '.join(c.name for c in cases)}; {loadavg()}")
    checks = {}
    print("== construction (per trusted root, median of 5) and first verification")
    for side in SIDES:
        checks[side], construct, first = build(side, cases)
        print(f"  {side:16} construct {construct:7.2f} ms; first verification {first:7.2f} ms")
    correctness(cases, checks)
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    sides = list(SIDES)
    what = f"{args.count} bundles" if args.count else f"{args.seconds:g} s"
    print(f"== throughput ({args.repeats} alternated runs of {what} per side, one thread)")
    for r in range(args.repeats):
        for side in sides if r % 2 == 0 else sides[::-1]:
            rates[side].append(run(checks[side], cases, args.seconds, args.count))
    for side, values in rates.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        print(f"  {side:16} median {median(values):8.1f} bundles/s  (runs: {runs})")
    ratio = median(rates["sigstack"]) / median(rates["sigstore-python"])
    print(f"  ratio sigstack/sigstore-python  {ratio:.2f}x  (target >= 2x)")
    n = 5 if args.count else 25
    ms = {side: per_case_ms(checks[side], cases, n) for side in SIDES}
    print(f"  per case, median of {n} verifications (ms): sigstack / sigstore-python")
    for i, case in enumerate(cases):
        print(f"    {case.name:40} {ms['sigstack'][i]:6.2f} / {ms['sigstore-python'][i]:6.2f}")
    ceiling(cases)


if __name__ == "__main__":
    main()
