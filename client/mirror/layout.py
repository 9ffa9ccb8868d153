"""A mirror directory: generations swapped atomically, and the manifest each one carries.

```
DIR/
  current -> gen.000007     the generation readers use (a symlink, replaced by rename)
  gen.000007/
    mirror.json             the manifest (``Manifest``): logs, their origins, sizes and roots, trust
    tuf/                    the TUF repository as a TUF client fetches it: N.root.json,
                            timestamp.json, V.snapshot.json, V.targets.json, targets/<hash>.<name>
    trust/trusted_root.json the trusted root given by hand (mirrors without TUF only)
    log/<name>/checkpoint   each log's latest verified checkpoint, as the log signed it
    log/<name>/tile/...     its tlog-tiles: hash tiles and entry bundles, partial ones included
  gen.000006/               the previous generation, kept until the next update
  exported.json             what `sigstack mirror export` last carried out (connected side)
  .lock                     held by every writer
```

An update (``stage``) starts a new generation as hard links to the current one's files, writes
only what is new (every write goes to a temporary name then ``os.replace``: a file shared with
the live generation is never changed in place), and ``commit`` makes it live by renaming the
``current`` link, after syncing; ``abort`` removes it and nothing a reader sees has changed. A
crash mid-update leaves a ``.staging.*`` directory that the next update removes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError, ValidationError

FORMAT = "sigstack-mirror/v1"
CURRENT = "current"
MANIFEST = "mirror.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_GEN = re.compile(r"gen\.([0-9]{6,})")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def name_for(origin: str) -> str:
    """A directory name for a log: its origin with runs of other characters made one ``-``
    (``rekor.example - 123`` → ``rekor.example-123``, ``127.0.0.1:3003`` → ``127.0.0.1-3003``)."""
    name = re.sub("-{2,}", "-", _SAFE.sub("-", origin)).strip("-.")[:64].rstrip("-.")
    return name if NAME.fullmatch(name) else "log"


@dataclass(frozen=True)
class LogRecord:
    """One mirrored log: where it is read from (None when fed by ``import``), and what the
    mirror holds of it (``size`` 0 and no checkpoint before its first update)."""

    name: str
    origin: str
    log_id: bytes
    url: str | None
    size: int = 0
    root: bytes = b""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "log_id": self.log_id.hex(),
                "url": self.url, "size": self.size, "root": self.root.hex()}  # fmt: skip

    @classmethod
    def from_json(cls, obj: Any) -> LogRecord:
        try:
            record = cls(str(obj["name"]), str(obj["origin"]), bytes.fromhex(obj["log_id"]),
                         obj["url"], int(obj["size"]), bytes.fromhex(obj["root"]))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            raise ValidationError("a log of the manifest is malformed") from None
        if (
            not NAME.fullmatch(record.name)
            or record.url is not None
            and not isinstance(record.url, str)
        ):
            raise ValidationError("a log of the manifest is malformed")
        return record


@dataclass(frozen=True)
class Manifest:
    """``trust``: ``tuf`` (the trusted root is the mirrored TUF repository's target) or ``file``
    (``trust/trusted_root.json``, given by hand); ``tuf_url``: where ``pull`` reads TUF from."""

    trust: str
    tuf_url: str | None = None
    logs: tuple[LogRecord, ...] = ()
    updated: str = ""

    def log(self, name: str) -> LogRecord | None:
        return next((r for r in self.logs if r.name == name), None)

    def with_log(self, record: LogRecord) -> Manifest:
        others = tuple(r for r in self.logs if r.name != record.name)
        return replace(self, logs=tuple(sorted((*others, record), key=lambda r: r.name)))

    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "updated": self.updated, "trust": self.trust,
               "tuf_url": self.tuf_url, "logs": [r.to_json() for r in self.logs]}  # fmt: skip
        return json.dumps(doc, indent=2).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise ValidationError(f"{where} is not JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValidationError(f"{where} is not a {FORMAT} manifest")
        trust, url, logs = doc.get("trust"), doc.get("tuf_url"), doc.get("logs")
        if trust not in ("tuf", "file") or not isinstance(logs, list):
            raise ValidationError(f"{where} is malformed")
        if url is not None and not isinstance(url, str):
            raise ValidationError(f"{where} is malformed")
        return cls(trust, url, tuple(LogRecord.from_json(o) for o in logs),
                   str(doc.get("updated", "")))  # fmt: skip


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path`` and rename it over ``path``: a name
    shared (hard link) with another generation keeps its old content there. World-readable: a
    mirror holds public data and is served by web servers running as other users."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class MirrorDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def current(self) -> Path | None:
        """The live generation, or None for a directory that holds no mirror yet."""
        link = self.root / CURRENT
        if not link.is_symlink():
            if link.exists():
                raise ConfigError(f"{link} is not the link a mirror keeps")
            return None
        target = os.readlink(link)
        if not _GEN.fullmatch(target) or not (self.root / target).is_dir():
            raise ConfigError(f"{link} points to {target!r}, not to one of the mirror's "
                              "generations: restore it or start a new mirror")  # fmt: skip
        return self.root / target

    def manifest(self, generation: Path | None = None) -> Manifest | None:
        gen = generation or self.current()
        if gen is None:
            return None
        try:
            data = (gen / MANIFEST).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {gen / MANIFEST}: {exc.strerror}") from None
        return Manifest.from_bytes(data, str(gen / MANIFEST))

    def check_new(self) -> None:
        """Refuse to start a mirror in a directory that holds other things (a wrong ``--out``)."""
        ours = (".lock", "exported.json", ".staging.", ".import.", f".{CURRENT}.tmp", "gen.")
        others = [p.name for p in self.root.iterdir() if not p.name.startswith(ours)]
        if others:
            raise ConfigError(f"{self.root} is not empty and holds no mirror ({others[0]}, ...): "
                              "give an empty or new directory")  # fmt: skip

    def require(self) -> tuple[Path, Manifest]:
        gen = self.current()
        if gen is None:
            raise ConfigError(f"{self.root} holds no mirror (make one with `sigstack mirror "
                              "pull` or `sigstack mirror import`)")  # fmt: skip
        manifest = self.manifest(gen)
        assert manifest is not None
        return gen, manifest

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The writers' lock (another update or import waits for it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def stage(self) -> Path:
        """A new generation to write, holding links to the live one's files (hold the lock)."""
        for stale in self.root.glob(".staging.*"):
            shutil.rmtree(stale)
        stage = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging."))
        os.chmod(stage, 0o755)  # noqa: S103 - public data, served by web servers
        live = self.current()
        if live is not None:
            for dirpath, dirnames, filenames in os.walk(live):
                rel = Path(dirpath).relative_to(live)
                for d in dirnames:
                    (stage / rel / d).mkdir(mode=0o755)
                for f in filenames:
                    os.link(Path(dirpath) / f, stage / rel / f)
        return stage

    def commit(self, stage: Path) -> Path:
        """Make ``stage`` the live generation; keep the one before it, remove older ones."""
        live = self.current()
        found = _GEN.fullmatch(live.name) if live is not None else None
        gen = self.root / f"gen.{int(found[1]) + 1 if found else 1:06d}"
        os.sync()  # the new files are on disk before any reader can be sent to them
        os.rename(stage, gen)
        link = self.root / f".{CURRENT}.tmp"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(gen.name, link)
        os.replace(link, self.root / CURRENT)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        keep = {gen.name, live.name if live else ""}
        for old in self.root.glob("gen.*"):
            if old.name not in keep and _GEN.fullmatch(old.name):
                shutil.rmtree(old, ignore_errors=True)
        return gen

    def abort(self, stage: Path) -> None:
        shutil.rmtree(stage, ignore_errors=True)
