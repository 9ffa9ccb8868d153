"""The C2SP tlog-tiles read API (https://c2sp.org/tlog-tiles) of a log, as a Flask blueprint:
served once here for every log personality that has it (Rekor v1 and v2).

- ``GET /checkpoint``: the latest signed checkpoint, ``text/plain; charset=utf-8``, not cached;
- ``GET /tile/<L>/<N>[.p/<W>]`` and ``/tile/entries/<N>[.p/<W>]``: hash tiles and entry bundles of
  the latest committed tree (``resources``), immutable, so cached for a year; a path that names no
  resource of that tree is a ``NotFoundError`` (404 in the service's error format).

The personality signs the checkpoint (``head()``); the tiles are the engine's (``log``).
"""

from __future__ import annotations

from typing import Protocol

from flask import Blueprint, Response

from . import resources
from .engine import Log, TreeHead

TILE_CACHE = "public, max-age=31536000, immutable"


class TiledLog(Protocol):
    """What a personality offers the tiles API: its engine log and its signed latest head."""

    @property
    def log(self) -> Log: ...

    def head(self) -> TreeHead: ...


def tiles_blueprint(personality: TiledLog) -> Blueprint:
    bp = Blueprint("tlog_tiles", __name__)

    @bp.get("/checkpoint")
    def checkpoint() -> Response:
        return Response(personality.head().note, content_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip

    @bp.get("/tile/<path:rest>")
    def tile(rest: str) -> Response:
        resource = resources.parse(rest)
        log = personality.log
        body = resources.read(log, log.head().size, resource)
        return Response(body, content_type="application/octet-stream",
                        headers={"Cache-Control": TILE_CACHE})  # fmt: skip

    return bp


__all__ = ["TILE_CACHE", "TiledLog", "tiles_blueprint"]
