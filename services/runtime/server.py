"""Run a WSGI app under gunicorn from Python (``sigstack serve <service>``).

The app factory is called in each worker after fork (``preload`` off), so every worker opens its own
database connections and starts its own background threads; state shared between workers lives in
the database only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any


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
                "worker_class": "gthread" if threads > 1 else "sync",
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
            logging.basicConfig(
                stream=sys.stderr,
                level=logging.WARNING,
                format="%(asctime)s %(name)s %(levelname)s %(message)s",
            )
            return app_factory()

    _App().run()
