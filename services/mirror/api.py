"""The mirror's HTTP routes, GET (and HEAD) only, from the directory's live generation:

- ``/tuf/<file>``: the TUF repository as a TUF client asks for it (``N.root.json``,
  ``timestamp.json``, ``V.snapshot.json``, ``V.targets.json``, ``targets/<hash>.<name>``), so
  ``sigstack initialize --mirror http://HOST:PORT/tuf`` works;
- ``/log/<name>/checkpoint`` and ``/log/<name>/tile/...``: each log's C2SP tlog-tiles, ``<name>``
  being the log's name in the mirror or the lowercase hex SHA-256 of its origin (the path C2SP
  tlog-mirror serves a log's tiles under);
- ``/mirror.json``: the manifest (logs, origins, log IDs, sizes, roots).

Every name is checked against the forms above before the file system is touched; anything else
is 404. The live generation is looked up on every request (``sigstack mirror`` swaps it by
renaming a link), so an update is served at once, without a restart. Tiles and versioned files
are immutable and cached for a year; checkpoints, ``timestamp.json`` and ``root.json`` not at
all. This reads only the directory: it imports nothing of the client's mirror code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, abort

IMMUTABLE = "public, max-age=31536000, immutable"
_GEN = re.compile(r"gen\.[0-9]{6,}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")
_TILE = re.compile(r"(?:[0-9]{1,2}|entries)/(?:x[0-9]{3}/)*[0-9]{3}(?:\.p/[1-9][0-9]{0,2})?")
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}"
_TUF = re.compile(r"(?:[1-9][0-9]{0,9}\.)?(?:root|snapshot|targets)\.json|timestamp\.json"
                  rf"|targets/{_SEGMENT}(?:/{_SEGMENT}){{0,7}}")  # fmt: skip
_UNVERSIONED = {"root.json", "timestamp.json", "snapshot.json", "targets.json"}


class Directory:
    """The mirror directory's live generation and its logs' names."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._aliases: tuple[str, dict[str, str]] = ("", {})

    def live(self) -> Path | None:
        try:
            target = os.readlink(self.root / "current")
        except OSError:
            return None
        return self.root / target if _GEN.fullmatch(target) else None

    def log_dir(self, gen: Path, name: str) -> Path | None:
        if _ORIGIN_HASH.fullmatch(name):
            aliases = self._aliases  # read once: another request may replace them meanwhile
            if aliases[0] != gen.name:
                aliases = (gen.name, self._origin_hashes(gen))
                self._aliases = aliases
            found = aliases[1].get(name)
            name = found if found is not None else ""
        if not _NAME.fullmatch(name):
            return None
        return gen / "log" / name

    @staticmethod
    def _origin_hashes(gen: Path) -> dict[str, str]:
        try:
            logs = json.loads((gen / "mirror.json").read_bytes())["logs"]
            return {hashlib.sha256(str(log["origin"]).encode()).hexdigest(): str(log["name"])
                    for log in logs}  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            return {}


def _file(path: Path, content_type: str, cache: str) -> Response:
    try:
        data = path.read_bytes()
    except OSError:
        abort(404)
    return Response(data, content_type=content_type, headers={"Cache-Control": cache})


def register(directory: Directory) -> Callable[[Flask], None]:
    """The ``register`` callback for ``runtime.app.create_app``."""

    def _register(app: Flask) -> None:
        def live() -> Path:
            gen = directory.live()
            if gen is None:
                abort(404)
            return gen

        @app.get("/tuf/<path:name>")
        def _tuf(name: str) -> Response:
            if not _TUF.fullmatch(name):
                abort(404)
            kind = "application/json" if name.endswith(".json") else "application/octet-stream"
            cache = "no-cache" if name in _UNVERSIONED else IMMUTABLE
            return _file(live() / "tuf" / name, kind, cache)

        @app.get("/log/<name>/checkpoint")
        def _checkpoint(name: str) -> Response:
            log = directory.log_dir(live(), name)
            if log is None:
                abort(404)
            return _file(log / "checkpoint", "text/plain; charset=utf-8", "no-cache")

        @app.get("/log/<name>/tile/<path:rest>")
        def _tile(name: str, rest: str) -> Response:
            log = directory.log_dir(live(), name)
            if log is None or not _TILE.fullmatch(rest):
                abort(404)
            return _file(log / "tile" / rest, "application/octet-stream", IMMUTABLE)

        @app.get("/mirror.json")
        def _manifest() -> Response:
            return _file(live() / "mirror.json", "application/json", "no-cache")

    return _register
