"""``rekor_profile.py``'s stages in the app under load, through ``runtime.bridge`` without a
socket (``profile_stages.drive``): ``http`` (the bridge, Flask and the shared hooks on a bare
POST) and ``whole`` (the real Rekor app, its CPU per entry split by thread and by part, measured
where each part runs: ``InSitu``). Prints nothing itself; ``rekor_profile.py`` shows the figures.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import median
from profile_stages import CpuParts, backend_cpu, drive, quiet_stderr, thread_cpu


def http_stage(bodies: list[bytes], concurrency: int, threads: int, repeats: int
               ) -> dict[str, float]:  # fmt: skip
    from flask import Flask, jsonify

    from sigstack.services.runtime.app import create_app

    def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "application/json")])
        return [b"{}"]

    flask_app = Flask("bare")

    @flask_app.post("/api/v1/log/entries")
    def _flask_entry() -> Any:
        from flask import request

        request.get_data(cache=False)
        return jsonify({}), 201

    def register(app: Flask) -> None:
        @app.post("/api/v1/log/entries")
        def _entry() -> Any:
            from flask import request

            request.get_data(cache=False)
            return jsonify({}), 201

    ours = create_app("rekor", {"max_body_bytes": 4 << 20}, register)
    out: dict[str, float] = {}
    for name, app in (("bridge + bare WSGI callable", bare), ("bridge + bare Flask", flask_app),
                      ("bridge + sigstack app (hooks, metrics, access line)", ours)):  # fmt: skip
        runs = []
        for _ in range(repeats):
            with quiet_stderr():
                t = time.process_time()
                statuses = drive(app, "/api/v1/log/entries", bodies, concurrency, threads)
                runs.append((time.process_time() - t) / len(bodies) * 1e6)
            assert set(statuses) == {201}, set(statuses)
        out[name] = median(runs)
    return out


class InSitu(CpuParts):
    """CPU of the write path's parts measured where they run, in the server's own threads under
    load: each part's function is wrapped to add its ``time.thread_time`` to (role, part), where
    role is the calling thread's (request thread or sequencer). Cold caches and interleaving make
    a part cost more here than in a loop of its own; this is what it costs in a server."""

    def __init__(self) -> None:
        from sigstack.protocol import strictjson
        from sigstack.services.rekor import api, log, types, verifiers
        from sigstack.services.rekor import store as rekor_store
        from sigstack.services.runtime import direct, observe
        from sigstack.services.tlog import engine
        from sigstack.services.tlog import store as tlog_store

        parts = (
            (strictjson, "loads", "JSON body (strictjson)"),
            (api, "prepare_entry", "entry"),
            (types, "load_verifier", "entry: verifier (base64, PEM, certificate)"),
            (verifiers.Verifier, "verify_digest", "entry: signature check"),
            (log.RekorLog, "render", "answer"),
            (engine.Log, "inclusion_proof", "answer: inclusion proof"),
            (direct, "_dumps", "answer: JSON"),
            (engine.Log, "submit", "hand-off to the sequencer"),
            (observe, "observe_request", "metrics"),
            (observe, "access", "access line"),
            (tlog_store, "lock_head", "lock the tree row"),
            (tlog_store, "existing", "dedup query"),
            (tlog_store, "insert_entries", "insert entries"),
            (rekor_store, "add_keys", "insert search keys"),
            (tlog_store, "store_tiles", "upsert tiles"),
            (tlog_store, "update_head", "update the head"),
        )
        super().__init__(parts, _role_part)

    def wrap_signer(self, signer: Any) -> None:
        """The log key's signatures: SETs (request threads) and checkpoints (sequencer)."""
        self.wrap(signer, "sign", "signature")


def _role_part(part: str) -> tuple[str, str]:
    """(the calling thread's role, part): the sequencer's threads are ``tlog-*``."""
    role = "sequencer" if threading.current_thread().name.startswith("tlog") else "request"
    return role, part


def parts_per_entry(cpu: dict[tuple[str, str], float], threads: dict[str, float], n: int
                    ) -> dict[str, float]:  # fmt: skip
    """µs per entry by part, with what the wrapped parts leave of each thread's CPU."""
    us = {key: v / n * 1e6 for key, v in cpu.items()}

    def get(role: str, part: str) -> float:
        return us.get((role, part), 0.0)

    # the write route runs on the event loop (ADR 0010); other requests on the request threads
    request = (threads.get("event loop", 0.0) + threads.get("request threads", 0.0)) / n * 1e6
    sequencer = threads.get("sequencer", 0.0) / n * 1e6
    entry, answer = get("request", "entry"), get("request", "answer")
    out = {"event loop and request threads": request,
           "  JSON body (strictjson)": get("request", "JSON body (strictjson)")}  # fmt: skip
    for part in ("entry: verifier (base64, PEM, certificate)", "entry: signature check"):
        out[f"  {part}"] = get("request", part)
    out["  entry: rest (canonical body, index keys)"] = (
        entry - get("request", "entry: verifier (base64, PEM, certificate)")
        - get("request", "entry: signature check"))  # fmt: skip
    out["  answer: inclusion proof"] = get("request", "answer: inclusion proof")
    out["  answer: SET signature"] = get("request", "signature")
    out["  answer: rest of render"] = (answer - get("request", "answer: inclusion proof")
                                       - get("request", "signature"))  # fmt: skip
    for part in ("answer: JSON", "hand-off to the sequencer", "metrics", "access line"):
        out[f"  {part}"] = get("request", part)
    named = (get("request", "JSON body (strictjson)") + entry
             + answer + get("request", "answer: JSON")
             + get("request", "hand-off to the sequencer") + get("request", "metrics")
             + get("request", "access line"))  # fmt: skip
    out["  the bridge, the loop, our hooks' rest"] = request - named
    out["sequencer"] = sequencer
    parts = ("lock the tree row", "dedup query", "insert entries", "insert search keys",
             "upsert tiles", "update the head")  # fmt: skip
    for part in parts:
        out[f"  {part}"] = get("sequencer", part)
    out["  checkpoint signature"] = get("sequencer", "signature")
    out["  rest (begin, commit, tree edge, answers)"] = (
        sequencer - sum(get("sequencer", p) for p in parts) - get("sequencer", "signature"))  # fmt: skip
    return out


def whole_stage(bodies: list[bytes], url: str | None, concurrency: int, threads: int,
                repeats: int) -> dict[str, float]:  # fmt: skip
    from sigstack.services.rekor.app import create_app
    from sigstack.services.rekor.config import RekorConfig
    from sigstack.services.runtime import db

    per = len(bodies) // repeats
    runs, pg_runs, batch_sizes = [], [], []
    split: dict[str, list[float]] = {}
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
            if url is None:
                db_url = db.sqlite_url(Path(tmp) / "rekor.db")
            else:
                from tests.support.dbs import fresh_postgres

                db_url = stack.enter_context(fresh_postgres())
            db.upgrade(db_url)
            from sigstack.services.keys import create_file_key

            create_file_key(Path(tmp) / "key.pem")
            app = create_app(RekorConfig(database_url=db_url, key_uri=f"file:{tmp}/key.pem",
                                         hostname="bench.local", create=True))  # fmt: skip
            rekor = app.extensions["rekor"]
            log = rekor.log
            sizes: list[int] = []
            commit = log._commit

            def counted(batch: list[Any], commit: Any = commit, sizes: list[int] = sizes) -> None:
                sizes.append(len(batch))
                commit(batch)

            log._commit = counted
            insitu = InSitu()
            stack.callback(insitu.close)
            insitu.wrap_signer(rekor.signer)
            chunk = bodies[r * per : (r + 1) * per]
            with quiet_stderr():
                drive(app, "/api/v1/log/entries", chunk[:50], concurrency, threads)  # warm
            backend = None
            if url is not None:
                backend = log._writer().exec_driver_sql("SELECT pg_backend_pid()").scalar()
                log._conn.rollback()
            sizes.clear()
            insitu.cpu.clear()
            with quiet_stderr():
                pg, t, before = backend_cpu(backend), time.process_time(), thread_cpu()
                roles: dict[str, float] = {}
                statuses = drive(app, "/api/v1/log/entries", chunk[50:], concurrency, threads,
                                 roles)  # fmt: skip
                runs.append((time.process_time() - t) / len(statuses) * 1e6)
                pg_runs.append((backend_cpu(backend) - pg) / len(statuses) * 1e6)
            for role in roles:  # the request threads are new: all of theirs is the run's
                if role != "request threads":
                    roles[role] -= before.get(role, 0.0)
            for name, value in parts_per_entry(insitu.cpu, roles, len(statuses)).items():
                split.setdefault(name, []).append(value)
            if set(statuses) != {201}:
                print(f"  NOTE: answers {sorted(set(statuses))}, not only 201")
            batch_sizes.append(statistics.mean(sizes))
            log.engine.dispose()
    return {"process CPU per entry": median(runs), **{k: median(v) for k, v in split.items()},
            "PostgreSQL backend": median(pg_runs),
            "mean batch size": median(batch_sizes)}  # fmt: skip
