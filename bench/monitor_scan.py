"""How fast ``sigstack monitor`` reads a large log from its tiles. Prints figures; asserts nothing.

1. Builds a Rekor v2 log of --entries entries directly through the engine (as
   bench/rekor_write.py does for proofs), in a data directory ``sigstack serve rekor2`` then
   serves: hashedrekord 0.0.2 bodies as the log stores them, each with a Fulcio-profile
   certificate (a pool of --certificates distinct ones, so parsing is real work; the monitor keeps
   no cache) or, for one entry in ten, a bare public key; one entry in 10,000 carries the watched
   identity.
2. Serves it (``sigstack serve rekor2``) and runs ``sigstack monitor --once`` on it with a watch
   list of exact identities and extensions plus a key fingerprint and a digest (``--rules
   exact``: a certificate is parsed only when its bytes hold a watched value), with an identity
   regexp (``--rules regexp``: every certificate parsed), or with none (``--rules none``: a
   consistency check only, no entry read).
3. Prints the entries read per second of wall time, the monitor's and the server's CPU, and
   checks the matches found against the ones written.

Usage: .venv/bin/python bench/monitor_scan.py [--entries 1000000] [--rules exact|regexp|none]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, cpu_seconds, loadavg, ticket

from sigstack.protocol import note
from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.trust import (
    TRUSTED_ROOT_V01,
    PublicKey,
    TimeRange,
    TransparencyLogInstance,
    TrustedRoot,
)
from tests.support.servers import Service

ORIGIN = "bench.rekor2.example"
WATCHED = "watched@example.com"
REPO = "https://github.com/org/watched-repo"


def _certificates(n: int) -> tuple[list[bytes], bytes]:
    """``n`` distinct Fulcio-profile leaves (DER) and one for the watched identity."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from sigstack.protocol import x509ext

    ca = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "sigstack-intermediate")])  # fmt: skip
    now = dt.datetime.now(dt.UTC)

    def leaf(san: x509.GeneralName, repo: str) -> bytes:
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(name)
            .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(minutes=10))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
        )  # fmt: skip
        for ext in x509ext.encode_extensions({
            "issuer": "https://token.actions.githubusercontent.com",
            "source_repository_uri": repo, "source_repository_ref": "refs/heads/main",
            "build_config_uri": f"{repo}/.github/workflows/release.yml@refs/heads/main",
            "runner_environment": "github-hosted", "token_subject": f"repo:{repo}:ref:main",
        }):  # fmt: skip
            builder = builder.add_extension(ext, critical=False)
        return builder.sign(ca, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    pool = [leaf(x509.UniformResourceIdentifier(
        f"https://github.com/org{i}/repo{i}/.github/workflows/release.yml@refs/heads/main"),
        f"https://github.com/org{i}/repo{i}") for i in range(n)]  # fmt: skip
    return pool, leaf(x509.RFC822Name(WATCHED), REPO)


def _body(digest: bytes, signature: bytes, verifier: dict[str, object]) -> bytes:
    b64 = base64.b64encode
    return canonicalize({"apiVersion": "0.0.2", "kind": "hashedrekord", "spec": {"hashedRekordV002": {
        "data": {"algorithm": "SHA2_256", "digest": b64(digest).decode()},
        "signature": {"content": b64(signature).decode(),
                      "verifier": {**verifier, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}})  # fmt: skip


def build(data: Path, entries: int, certificates: int) -> tuple[set[int], str, bytes]:
    """The log in ``data``; returns the indexes of the watched entries, a watched key's
    fingerprint and a watched digest (each written once more, at known indexes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from sigstack.services.keys import create_file_key, load_signer
    from sigstack.services.rekor2.log import Rekor2Log
    from sigstack.services.runtime import db

    data.mkdir(mode=0o700)
    create_file_key(data / "rekor2-key.pem", "ed25519")
    url = db.sqlite_url(data / "rekor2.db")
    db.upgrade(url)
    (data / "rekor2.created").touch()
    engine = db.make_engine(url)
    log = Rekor2Log(engine, load_signer(f"file:{data / 'rekor2-key.pem'}"), ORIGIN, create=True)
    t0 = time.perf_counter()
    pool, watched_cert = _certificates(certificates)
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        for _ in range(64)]  # fmt: skip
    print(f"  {certificates} certificates and 64 keys made in {time.perf_counter() - t0:.1f}s")
    rng = random.Random(1)
    watched: set[int] = set()
    watched_digest = hashlib.sha256(b"the watched artifact").digest()
    t0, done = time.perf_counter(), 0
    while done < entries:
        batch = []
        for i in range(done, min(done + 20000, entries)):
            digest = watched_digest if i == entries // 2 else rng.randbytes(32)
            signature = rng.randbytes(71)
            if i % 10000 == 5000:
                verifier: dict[str, object] = {
                    "x509Certificate": {"rawBytes": base64.b64encode(watched_cert).decode()}
                }
                watched.add(i)
            elif i % 10 == 3:
                verifier = {"publicKey": {"rawBytes": base64.b64encode(keys[i % 64]).decode()}}
            else:
                verifier = {
                    "x509Certificate": {"rawBytes": base64.b64encode(pool[i % len(pool)]).decode()}
                }
            batch.append(ticket(_body(digest, signature, verifier)))
        log.log._commit(batch)
        done += len(batch)
    print(f"  {entries} entries written through the engine in {time.perf_counter() - t0:.1f}s")
    engine.dispose()
    key_fp = hashlib.sha256(keys[3 % 64]).hexdigest()
    watched |= {i for i in range(entries) if i % 10 == 3 and i % 64 == 3 and i % 10000 != 5000}
    watched.add(entries // 2)
    return watched, key_fp, watched_digest


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--certificates", type=int, default=2000, help="distinct certificates")
    p.add_argument("--rules", choices=["exact", "regexp", "none"], default="exact")
    p.add_argument("--keep", metavar="DIR", help="build the log in DIR (kept; reused if present)")
    args = p.parse_args()
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(exist_ok=True)
        data = work / "rekor2"
        meta = work / "watched.json"
        if not data.exists():
            print(f"== building a log of {args.entries} entries")
            watched, key_fp, digest = build(data, args.entries, args.certificates)
            meta.write_text(json.dumps({"watched": sorted(watched), "key": key_fp,
                                        "digest": digest.hex(), "entries": args.entries}))  # fmt: skip
        saved = json.loads(meta.read_text())
        run(work, data, saved, args.rules)


def run(work: Path, data: Path, saved: dict[str, object], rules: str) -> None:
    from sigstack.services.keys import load_signer

    signer = load_signer(f"file:{data / 'rekor2-key.pem'}")
    srv = Service("rekor2", "--data-dir", str(data), log=work / "server.log").start(timeout=120)
    try:
        instance = TransparencyLogInstance(
            base_url=srv.url, hash_algorithm="SHA2_256",
            public_key=PublicKey(signer.public_der, "PKIX_ED25519",
                                 TimeRange(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))),
            log_id=note.note_key_digest(ORIGIN, signer.public_key),
        )  # fmt: skip
        (work / "root.json").write_text(
            TrustedRoot(TRUSTED_ROOT_V01, (instance,), (), ()).to_json()
        )
        watch = {
            "exact": {"identities": [{"identity": WATCHED, "issuer": "https://token.actions.githubusercontent.com"}],
                      "extensions": [{"name": "source_repository_uri", "value": REPO}],
                      "fingerprints": [saved["key"]], "digests": [f"sha256:{saved['digest']}"]},
            "regexp": {"identities": [{"identity_regexp": r"watched@example\.com"}],
                       "fingerprints": [saved["key"]], "digests": [f"sha256:{saved['digest']}"]},
            "none": {},
        }[rules]  # fmt: skip
        state = work / f"state-{rules}-{time.time_ns()}.json"
        (work / "monitor.json").write_text(json.dumps({
            "trusted_root": "root.json", "state": state.name, "watch": watch,
            "logs": [{"name": "bench", "type": "tiles", "url": srv.url, "origin": ORIGIN}]}))  # fmt: skip
        assert srv.proc is not None
        server_cpu = cpu_seconds(srv.proc.pid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "sigstack.client.cli", "monitor", "--config",
                               str(work / "monitor.json"), "--once"], cwd=ROOT, capture_output=True,
                              text=True)  # fmt: skip
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = cpu_seconds(srv.proc.pid) - server_cpu
    finally:
        srv.stop()
    entries = int(saved["entries"])  # type: ignore[call-overload]
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    found = {a["index"] for a in alerts if a["type"] == "match"}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"== monitor --once over {entries} entries from tiles, rules: {rules}; {loadavg()}")
    print(
        f"  exit status {done.returncode}; {len(found)} entries matched"
        + (
            ""
            if rules == "none"
            else f" (written: {len(saved['watched'])}, "  # type: ignore[arg-type]
            f"all found: {found == set(saved['watched'])})"
        )
    )  # type: ignore[arg-type]
    if rules == "none":
        print(f"  wall {wall:.1f}s for the checkpoint and its consistency (no entry read)")
    else:
        print(f"  wall {wall:.1f}s: {entries / wall:,.0f} entries/s read, matched and hashed")
    print(
        f"  CPU: monitor {cpu:.1f}s ({1e6 * cpu / entries:.1f} us/entry), server {server_cpu:.1f}s"
    )
    if done.returncode not in (0, 3):
        print(done.stderr[-2000:])


if __name__ == "__main__":
    main()
