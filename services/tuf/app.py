"""TUF mirror app factory: configuration in, Flask app out (one per server worker)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask

from sigstack.services.runtime.app import create_app as _create_app

from .api import register
from .config import TUFConfig
from .online import PublishedRepository


def create_app(config: TUFConfig, *, clock: Callable[[], datetime] | None = None) -> Flask:
    """The mirror app. ``clock`` (a callable returning aware UTC now) is for tests."""
    repo = PublishedRepository(config.data_dir, clock=clock)
    repo.layout.require()
    margin = config.resign_margin_seconds
    delta = timedelta(seconds=float(margin)) if margin is not None else None
    return _create_app("tuf", config, register(repo, delta), health=repo.layout.exists)
