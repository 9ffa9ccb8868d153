"""Run a WSGI app under gunicorn from Python (``sigstack serve <service>``).

The app factory is called in each worker after fork (``preload`` off), so every worker opens its own
database connections and starts its own background threads; state shared between workers lives in
the database only (and, for metrics, in a per-server ``SIGSTACK_METRICS_DIR``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from .metrics import DIR_ENV


def run(
    app_factory: Callable[[], Any],
    *,
    host: str,
    port: int,
    workers: int = 2,
    threads: int = 8,
    timeout: int = 60,
    log_level: str = "info",
) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": os.environ.get(WORKER_CLASS_ENV)
                or (THREADED_WORKER if threads > 1 else "sync"),
                "timeout": timeout,
                "graceful_timeout": 10,
                "keepalive": 5,
                "loglevel": log_level,
                "accesslog": None,
                "preload_app": False,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from .observe import configure_logging

            configure_logging()
            return app_factory()

    try:
        _App().run()
    finally:
        metrics_dir = os.environ.get(DIR_ENV, "")
        if os.path.basename(metrics_dir).startswith(METRICS_PREFIX):
            shutil.rmtree(metrics_dir, ignore_errors=True)


METRICS_PREFIX = "sigstack-metrics-"
# Threaded servers use our connection-per-thread worker (runtime.worker); SIGSTACK_WORKER_CLASS
# names another gunicorn worker class instead (for example gthread).
THREADED_WORKER = "services.runtime.worker.ConnectionWorker"
WORKER_CLASS_ENV = "SIGSTACK_WORKER_CLASS"


def prepare_metrics_dir() -> None:
    """Give this server's workers a shared metrics directory (``runtime.metrics``)."""
    if not os.environ.get(DIR_ENV):
        os.environ[DIR_ENV] = tempfile.mkdtemp(prefix=METRICS_PREFIX)


def log_workers(workers: int | None, threads: int | None, database_url: str) -> dict[str, int]:
    """Worker layout for a log: SQLite takes one writer at a time (two processes queue on its lock
    with back-off sleeps), so one process with more threads; PostgreSQL two processes."""
    sqlite = database_url.startswith("sqlite")
    workers = workers or (1 if sqlite else 2)
    return {"workers": workers, "threads": threads or (32 if workers == 1 else 16)}


def add_log_server_arguments(parser: Any, port: int) -> None:
    """The flags ``sigstack serve rekor`` and ``sigstack serve ctlog`` share."""
    parser.add_argument(
        "--data-dir", required=True, help="key and (by default) the SQLite database"
    )
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in the data dir)")
    parser.add_argument("--key", dest="key_uri", help="log key URI (default: file in the data dir)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: 1 on SQLite, which "
                        "takes one writer at a time; 2 on PostgreSQL)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="threads per worker (default 32 with one "
                        "worker, else 16); concurrent requests are what the log batches")  # fmt: skip
    parser.add_argument("--config", help="JSON configuration file")
