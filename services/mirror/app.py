"""The mirror service's app factory: configuration in, Flask app out (one per server worker)."""

from __future__ import annotations

from flask import Flask

from sigstack.services.runtime.app import create_app as _create_app

from .api import Directory, register
from .config import MirrorConfig


def create_app(config: MirrorConfig) -> Flask:
    """``config.dir`` is the mirror directory (the one holding ``current``)."""
    directory = Directory(config.dir)
    return _create_app("mirror", config, register(directory),
                       health=lambda: directory.live() is not None)  # fmt: skip
