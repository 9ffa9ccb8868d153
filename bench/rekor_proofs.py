"""Inclusion proofs and storage per entry of large Rekor v1 logs (10^5 to 10^7 entries). Prints
figures; asserts nothing.

1. Grows a Rekor v1 log through the engine (``RekorLog``, batches of 20,000 committed as the
   sequencer commits them, search-index keys included) to each of --sizes in turn. Entries are
   real hashedrekord bodies as Rekor stores them: a pool of 64 signed entries (--entries key: a
   bare P-256 key, what bench/rekor_write.py sends; cert: a Fulcio-like certificate), each copy
   given its own artifact digest (so its body, leaf hash and ``sha256:`` search key are its own;
   the copied signature no longer verifies, which storage does not care about).
2. At each size: the database's bytes per entry. SQLite: the file and its WAL after a
   ``wal_checkpoint(TRUNCATE)``, split per table and index (``dbstat``). PostgreSQL:
   ``pg_total_relation_size`` per table, split into heap, indexes and the rest (TOAST, free-space
   and visibility maps). The mean body size is printed next to it: the rest is overhead.
3. At each size: the server's time for an inclusion proof (``Log.inclusion_proof``, in process, no
   HTTP), p50/p99 over 200 random leaves: steady state (the tile cache kept, as a serving worker
   has it) and cold (the tile cache cleared before each proof: every tile read from the
   database); the same leaf again; and a whole GET-by-index answer (entry read + proof + SET),
   cold. Each proof is checked against the signed head's root.

With --keep DIR the log is built in DIR (SQLite: DIR/rekor-KIND.db) or in the PostgreSQL database
``sigstack_bench_proofs_KIND`` (kept; drop it by hand), and is reused and grown on the next run:
an interrupted build resumes where its last batch committed; sizes the kept log has passed
already are skipped.

Usage: .venv/bin/python bench/rekor_proofs.py [--sizes 100000,1000000,10000000]
       [--backend sqlite|postgresql|both] [--entries key|cert] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import ROOT, loadavg, median, pct, ticket

from sigstack.protocol import merkle
from sigstack.services.runtime import db

CHUNK = 20000


class Bodies:
    """Distinct hashedrekord bodies and search keys, copied from a pool of real entries."""

    def __init__(self, kind: str, pool: int = 64) -> None:
        from rekor_profile import make_entries

        from sigstack.services.rekor.types import prepare_entry

        self.pool = []
        for raw in make_entries(pool, certificate=kind == "cert"):
            value = json.loads(raw)["spec"]["data"]["hash"]["value"]
            prepared = prepare_entry(json.loads(raw))
            if prepared.body.count(value.encode()) != 1:
                raise SystemExit("the digest is not in the canonical body exactly once")
            self.pool.append((prepared.body, prepared.index_keys, value))
        self.mean_body = sum(len(b) for b, _, _ in self.pool) / len(self.pool)

    def pending(self, index: int) -> Any:
        body, keys, value = self.pool[index % len(self.pool)]
        new = hashlib.sha256(b"bench entry %d" % index).hexdigest()
        return ticket(
            body.replace(value.encode(), new.encode()), tuple(k.replace(value, new) for k in keys)
        )


def open_rekor(url: str, keydir: Path, **options: Any) -> Any:
    from sigstack.services.keys import create_file_key, load_signer
    from sigstack.services.rekor.log import RekorLog

    key = keydir / "rekor-key.pem"
    if not key.exists():
        create_file_key(key)
    return RekorLog(
        db.make_engine(url), load_signer(f"file:{key}"), "bench", create=True, **options
    )


def grow(rekor: Any, target: int, bodies: Bodies) -> float:
    """Append until the log holds ``target`` entries; returns the seconds it took."""
    size, t0, shown = rekor.size(), time.perf_counter(), time.perf_counter()
    start = size
    while size < target:
        n = min(CHUNK, target - size)
        rekor.log._commit([bodies.pending(size + i) for i in range(n)])
        size += n
        if time.perf_counter() - shown > 60:
            rate = (size - start) / (time.perf_counter() - t0)
            print(f"    ... {size:,} entries ({rate:,.0f}/s; {(target - size) / rate:.0f}s to go)",
                  flush=True)  # fmt: skip
            shown = time.perf_counter()
    return time.perf_counter() - t0


def storage_sqlite(path: Path, size: int) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        files = {s: Path(f"{path}{s}") for s in ("", "-wal", "-shm")}
        total = sum(p.stat().st_size for p in files.values() if p.exists())
        rows = conn.execute(
            "SELECT m.tbl_name, m.type, m.name, SUM(d.pgsize) FROM dbstat d "
            "JOIN sqlite_master m ON d.name = m.name GROUP BY m.name ORDER BY m.tbl_name, m.type DESC"
        ).fetchall()
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    wal = files["-wal"].stat().st_size if files["-wal"].exists() else 0
    lines = [f"{total / size:8.1f} B/entry: file + WAL {total / 1e6:,.1f} MB (WAL {wal:,} B "
             f"after a checkpoint; {free * page:,} B free pages)"]  # fmt: skip
    tables: dict[str, list[str]] = {}
    for table, kind, name, nbytes in rows:
        if not table.startswith(("tlog_", "rekor_")) or table == "tlog_trees":
            continue
        what = "table" if kind == "table" else f"index {name}"
        tables.setdefault(table, []).append(f"{what} {nbytes / size:.1f}")
    lines += [f"  {t:13} " + ", ".join(parts) + " B/entry" for t, parts in tables.items()]
    return lines


def storage_postgres(engine: Any, size: int) -> list[str]:
    with engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        rows = conn.exec_driver_sql(
            "SELECT relname, pg_relation_size(oid), pg_indexes_size(oid), "
            "pg_total_relation_size(oid) FROM pg_class WHERE relkind = 'r' AND "
            "relname IN ('tlog_entries', 'tlog_tiles', 'rekor_index', 'tlog_trees') ORDER BY relname"
        ).fetchall()
    tlog = sum(r[3] for r in rows)
    lines = [f"{tlog / size:8.1f} B/entry: the log's tables with their indexes "
             f"{tlog / 1e6:,.1f} MB (whole database {total / 1e6:,.1f} MB)"]  # fmt: skip
    for name, heap, indexes, whole in rows:
        if name != "tlog_trees":
            lines.append(f"  {name:13} {whole / size:.1f} B/entry: heap {heap / size:.1f}, indexes "
                         f"{indexes / size:.1f}, rest {(whole - heap - indexes) / size:.1f}")  # fmt: skip
    return lines


def proofs(rekor: Any, size: int, leaves: int = 200) -> str:
    log = rekor.log
    head = rekor.head()
    rng = random.Random(size)
    picks = [rng.randrange(size) for _ in range(leaves)]
    steady, cold, again, full = [], [], [], []
    log._cache.clear()
    for i in picks:  # a server's steady state: random leaves, the tile cache kept
        t = time.perf_counter()
        log.inclusion_proof(i, size)
        steady.append((time.perf_counter() - t) * 1000)
    wrong = 0
    for i in picks:
        log._cache.clear()
        t = time.perf_counter()
        proof = log.inclusion_proof(i, size)
        cold.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        log.inclusion_proof(i, size)
        again.append((time.perf_counter() - t) * 1000)
        try:
            merkle.verify_inclusion(i, size, log.entry(i).leaf_hash, proof, head.root_hash)
        except Exception:  # noqa: BLE001 - counted and printed
            wrong += 1
        log._cache.clear()
        t = time.perf_counter()
        rekor.by_index(i, head)
        full.append((time.perf_counter() - t) * 1000)
    return (f"proof p50/p99: steady {median(steady):.2f}/{pct(steady, 99):.2f} ms, cold "
            f"{median(cold):.2f}/{pct(cold, 99):.2f} ms, same leaf again {median(again):.2f} ms; "
            f"whole entry read+proof+SET, cold {median(full):.2f}/{pct(full, 99):.2f} ms"
            + (f"; {wrong} PROOFS DID NOT VERIFY" if wrong else ""))  # fmt: skip


def bench(url: str, sizes: list[int], kind: str, keydir: Path, sqlite_path: Path | None) -> None:
    """Grow the log at ``url`` to each size and print its storage and proof figures."""
    t0 = time.perf_counter()
    bodies = Bodies(kind)
    print(f"  entries: {kind}, mean body {bodies.mean_body:.0f} B (pool of {len(bodies.pool)} "
          f"made in {time.perf_counter() - t0:.1f}s); {loadavg()}")  # fmt: skip
    rekor = open_rekor(url, keydir)
    try:
        for target in sizes:
            have = rekor.size()
            if have > target:
                print(f"  size {target:>10,}: skipped (the kept log holds {have:,} entries)")
                continue
            built = grow(rekor, target, bodies)
            note = f"grown from {have:,} in {built:.1f}s" if have < target else "kept"
            print(f"  size {target:>10,} ({note}; {loadavg()})", flush=True)
            if sqlite_path is not None:
                lines = storage_sqlite(sqlite_path, target)
            else:
                lines = storage_postgres(rekor.log.engine, target)
            print("    storage " + "\n    ".join(lines))
            print("    " + proofs(rekor, target), flush=True)
    finally:
        rekor.log.engine.dispose()


@contextlib.contextmanager
def kept_postgres(name: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    from tests.support.dbs import postgres_server_url

    server = postgres_server_url()
    admin = create_engine(db.normalize_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            print(f"  (reusing the PostgreSQL database {name})")
        else:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield f"{server.rsplit('/', 1)[0]}/{name}"


def run_backend(backend: str, sizes: list[int], kind: str, work: Path, keep: bool) -> None:
    from tests.support.dbs import fresh_postgres

    work.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        print("== Rekor v1 log on SQLite")
        path = work / f"rekor-{kind}.db"
        db.upgrade(db.sqlite_url(path))
        bench(db.sqlite_url(path), sizes, kind, work, path)
        return
    print("== Rekor v1 log on PostgreSQL")
    ctx = kept_postgres(f"sigstack_bench_proofs_{kind}") if keep else fresh_postgres()
    with ctx as url:
        db.upgrade(url)
        keydir = work / "postgresql"
        keydir.mkdir(exist_ok=True)
        bench(url, sizes, kind, keydir, None)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="100000,1000000,10000000", help="ascending, comma-separated")
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--entries", choices=["key", "cert"], default="key", help="entry kind")
    p.add_argument("--keep", metavar="DIR", help="build the logs in DIR (kept; reused and grown)")
    args = p.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    os.chdir(ROOT)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep).resolve() if args.keep else Path(tmp)
        for backend in backends:
            run_backend(backend, sizes, args.entries, work, bool(args.keep))


if __name__ == "__main__":
    main()
