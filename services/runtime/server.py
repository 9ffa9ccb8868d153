"""Run a service's app on a well-kept HTTP server (``sigstack serve <service>``): granian by default,
gunicorn's ``gthread`` worker when ``SIGSTACK_SERVER=gunicorn`` (docs/adr/0005-http-server.md says
why and what each costs).

Both are set up the same way:

- **No database connection crosses the fork.** Every engine the parent made while preparing the
  data directory is disposed of, and the parent is checked to hold no SQLite file open, before any
  worker starts (``_release_databases``). A SQLite connection open in the parent at fork time lets
  the child's SQLite reuse the parent's lock bookkeeping and shared-memory index without taking
  real locks; when the parent later closes its connection it checkpoints and deletes the WAL under
  the child, which then answers "disk I/O error" and can lose acknowledged writes.
- The app factory runs in each worker after the fork; state shared between workers lives in the
  database (and, for metrics, in a per-server ``SIGSTACK_METRICS_DIR``).
- **A whole-request deadline** (``Limits``): request headers within ``header_timeout`` seconds
  (granian's header timeout), the body within ``body_timeout`` seconds after them
  (``runtime.bridge``); a late request gets 408 and its connection is closed.
- **A cap on connections**: at most ``max_connections`` per worker are served at once (granian's
  backpressure); further connections wait in the listen backlog instead of taking memory or threads.
- **SIGTERM** stops accepting, lets requests in progress finish (up to ``graceful_timeout``) and
  exits 0; SIGINT does the same.

gunicorn's gthread worker parses headers and bodies in its pool threads with no deadline, so a slow
client holds a thread there; it is kept for operators who need gunicorn, not as the default.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from sigstack.protocol.errors import ConfigError

from . import db
from .config import ServiceConfig

if TYPE_CHECKING:
    from .bridge import WSGIApp

DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's shared directory for a server's workers

SERVER_ENV = "SIGSTACK_SERVER"  # "granian" (default) or "gunicorn"
METRICS_PREFIX = "sigstack-metrics-"
_LIMIT_KEYS = ("http_header_timeout", "http_body_timeout", "http_max_connections",
               "http_graceful_timeout")  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """What one client may take of a server (docs/configuration.md, "HTTP server")."""

    header_timeout: float = 10.0  # seconds for a request's headers to arrive
    body_timeout: float = 15.0  # seconds for its body to arrive, after the headers
    max_connections: int = 256  # connections served at once per worker
    graceful_timeout: int = 10  # seconds requests in progress get to finish after SIGTERM

    @classmethod
    def from_config(cls, config: ServiceConfig | Mapping[str, Any]) -> Limits:
        """From a service's configuration keys ``http_header_timeout``, ``http_body_timeout``,
        ``http_max_connections`` and ``http_graceful_timeout`` (each optional in a mapping)."""
        if isinstance(config, ServiceConfig):
            config = {key: getattr(config, key) for key in _LIMIT_KEYS}
        try:
            return cls(
                header_timeout=float(config.get("http_header_timeout") or cls.header_timeout),
                body_timeout=float(config.get("http_body_timeout") or cls.body_timeout),
                max_connections=int(config.get("http_max_connections") or cls.max_connections),
                graceful_timeout=int(config.get("http_graceful_timeout") or cls.graceful_timeout),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad HTTP server limit in the configuration: {exc}") from exc


def run(
    app_factory: Callable[[], WSGIApp],
    *,
    host: str,
    port: int,
    workers: int = 2,
    threads: int = 8,
    max_body_bytes: int = 4 << 20,
    limits: Limits | None = None,
    log_level: str = "info",
) -> None:
    """Serve ``app_factory()`` (a WSGI app, built in each worker) until SIGTERM or SIGINT."""
    limits = limits or Limits()
    kind = os.environ.get(SERVER_ENV) or "granian"
    if kind not in ("granian", "gunicorn"):
        raise ConfigError(f"{SERVER_ENV} must be granian or gunicorn, not {kind!r}")
    _release_databases()
    _require_free_port(host, port)
    try:
        if kind == "granian":
            _granian(app_factory, host, port, workers, threads, max_body_bytes, limits, log_level)
        else:
            _gunicorn(app_factory, host, port, workers, threads, limits, log_level)
    finally:
        metrics_dir = os.environ.get(DIR_ENV, "")
        if os.path.basename(metrics_dir).startswith(METRICS_PREFIX):
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _require_free_port(host: str, port: int) -> None:
    """Refuse a port another process listens on. granian binds with SO_REUSEPORT (its workers share
    the socket), so a second server on the same port would otherwise start and silently take part
    of the first one's traffic. This socket asks for no such sharing, so any listener makes it
    fail (SO_REUSEADDR only lets it past connections of an earlier run still in TIME_WAIT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"port {port} on {host} is in use ({exc.strerror}): stop what listens there, "
                "or choose another port"
            ) from None


def _release_databases() -> None:
    db.dispose_all()
    held = open_database_files()
    if held:
        raise ConfigError(
            "refusing to start workers while this process holds database files open "
            f"({', '.join(sorted(held))}): a SQLite connection must not cross a fork"
        )


def open_database_files(pid: int | str = "self") -> set[str]:
    """SQLite files (database, WAL, shared memory) the process ``pid`` holds open."""
    found: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except OSError:  # no /proc (not Linux): nothing to check with
        return found
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.endswith((".db", ".db-wal", ".db-shm", ".db-journal")):
            found.add(target)
    return found


def _granian(
    app_factory: Callable[[], WSGIApp],
    host: str,
    port: int,
    workers: int,
    threads: int,
    max_body_bytes: int,
    limits: Limits,
    log_level: str,
) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    from .bridge import WSGIBridge

    def load() -> WSGIBridge:
        from .observe import configure_logging

        configure_logging()
        return WSGIBridge(app_factory(), threads=threads, body_timeout=limits.body_timeout,
                          max_body=max_body_bytes)  # fmt: skip

    server = Server(
        "sigstack",
        address=host,
        port=port,
        interface=Interfaces.ASGINL,
        workers=workers,
        loop=_event_loop(Loops),
        http=HTTPModes.http1,
        websockets=False,
        backpressure=limits.max_connections,
        http1_settings=HTTP1Settings(header_read_timeout=int(limits.header_timeout * 1000)),
        log_level=LogLevels(log_level),
        log_access=False,
        workers_kill_timeout=limits.graceful_timeout,
    )
    server.serve(target_loader=load, wrap_loader=False)


def _event_loop(loops: Any) -> Any:
    """uvloop when it is installed (a dependency on Linux and macOS): the bridge's hand-offs between
    the event loop and its threads cost a quarter less CPU on it than on asyncio's own loop
    (docs/adr/0005-http-server.md)."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return loops.asyncio
    return loops.uvloop


def _gunicorn(
    app_factory: Callable[[], WSGIApp],
    host: str,
    port: int,
    workers: int,
    threads: int,
    limits: Limits,
    log_level: str,
) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            settings = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "worker_connections": limits.max_connections,
                "timeout": int(limits.header_timeout + limits.body_timeout + 30),
                "graceful_timeout": limits.graceful_timeout,
                "keepalive": 5,
                "loglevel": log_level,
                "accesslog": None,
                "preload_app": False,
                "control_socket_disable": True,
            }
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        # types-gunicorn has apps take any MutableMapping as environ; Flask's (PEP 3333) take a dict
        def load(self) -> WSGIApp:  # type: ignore[override]
            from .observe import configure_logging

            configure_logging()
            return app_factory()

    _App().run()


def prepare_metrics_dir() -> None:
    """Give this server's workers a shared metrics directory (``runtime.observe``); must run before
    anything imports ``prometheus_client``, which reads it once."""
    if not os.environ.get(DIR_ENV):
        os.environ[DIR_ENV] = tempfile.mkdtemp(prefix=METRICS_PREFIX)


class WorkerLayout(TypedDict):
    """Keyword arguments of ``run``: server processes and threads in each."""

    workers: int
    threads: int


def log_workers(workers: int | None, threads: int | None, database_url: str) -> WorkerLayout:
    """Worker layout for a log: SQLite takes one writer at a time (two processes queue on its lock
    with back-off sleeps), so one process with more threads; PostgreSQL two processes."""
    sqlite = database_url.startswith("sqlite")
    workers = workers or (1 if sqlite else 2)
    return {"workers": workers, "threads": threads or (32 if workers == 1 else 16)}


def add_log_server_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    """The flags ``sigstack serve rekor`` and ``sigstack serve ctlog`` share."""
    parser.add_argument(
        "--data-dir", required=True, help="key and (by default) the SQLite database"
    )
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in the data dir)")
    parser.add_argument("--key", dest="key_uri", help="log key URI (default: file in the data dir)")
    parser.add_argument("--workers", type=int, help="server worker processes (default: 1 on "
                        "SQLite, which takes one writer at a time; 2 on PostgreSQL)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="threads per worker (default 32 with one "
                        "worker, else 16); concurrent requests are what the log batches")  # fmt: skip
    parser.add_argument("--config", help="JSON configuration file")
