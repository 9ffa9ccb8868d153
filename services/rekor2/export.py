"""Export a Rekor v2 log as static C2SP tlog-tiles files, incrementally.

``sigstack serve rekor2 export-tiles --data-dir DIR --to OUT [--every SECONDS]`` writes, under
``OUT``, what the server's read API answers: ``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]``
and ``checkpoint``, so that any web server or object store can serve the log. Each run:

1. reads the latest committed head from the database (the signed note the engine stored with it);
2. refuses to go on if ``OUT/checkpoint`` belongs to another origin, is larger than the head, or
   is not a prefix of the log (its root differs from the log's root at its size): the export and
   the database disagree, and publishing would contradict a checkpoint already served;
3. writes the tiles and entry bundles that grew since ``OUT/checkpoint`` (each file written to a
   temporary name, flushed, and renamed: a reader never sees half a file);
4. syncs them and their directories, then replaces ``checkpoint`` the same way: a checkpoint is
   only ever published once everything it names is on disk;
5. deletes the partial versions (``.p/``) of tiles that became full (C2SP tlog-tiles clients fall
   back to the full tile).

Files are world-readable (0644, directories 0755) whatever the umask: they are public. The
export needs the database only, not the log key. Running it again after an interruption is safe.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from sigstack.protocol import note
from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.services.runtime import db
from sigstack.services.tlog import LogReads, TreeReader, open_reader, resources

from .log import TREE_PREFIX, origins_in

FILE_MODE, DIR_MODE = 0o644, 0o755


@dataclass(frozen=True)
class Exported:
    old_size: int
    size: int
    files: int  # tiles and bundles written


def open_tree(engine: Engine, origin: str) -> TreeReader:
    reader = open_reader(engine, TREE_PREFIX + origin)
    if reader is None:
        raise ConfigError(f"the database holds no Rekor v2 log {origin}")
    return reader


def _write(path: Path, data: bytes, made: set[Path]) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    parent = path.parent
    if not parent.is_dir():
        missing = [p for p in (parent, *parent.parents) if not p.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        for directory in missing:
            directory.chmod(DIR_MODE)
    temporary = parent / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    made.add(parent)


def _sync_dirs(directories: set[Path]) -> None:
    for directory in sorted(directories):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _published(out: Path, origin: str) -> note.Checkpoint | None:
    path = out / "checkpoint"
    if not path.exists():
        return None
    try:
        text = note.SignedNote.from_text(path.read_bytes()).text
        checkpoint = note.Checkpoint.from_text(text)
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"{path} is not a checkpoint: {exc}") from exc
    if checkpoint.origin != origin:
        raise ConfigError(f"{path} is the checkpoint of {checkpoint.origin}, not of {origin}")
    return checkpoint


def export(log: LogReads, origin: str, out: Path) -> Exported:
    """One incremental export of ``log`` (whose origin is ``origin``) to ``out``."""
    head = log.head()
    previous = _published(out, origin)
    old_size = previous.size if previous else 0
    if previous is not None:
        if previous.size > head.size:
            raise ConfigError(
                f"{out}/checkpoint is at size {previous.size} but the database holds "
                f"{head.size} entries: was the database restored from an older backup? "
                "Publishing would contradict a checkpoint already served"
            )
        if log.root_at(previous.size) != previous.root_hash:
            raise ConfigError(
                f"{out}/checkpoint (size {previous.size}) is not a checkpoint of this log: its "
                "root differs from the database's at that size"
            )
    if not head.note or head.size == old_size:
        return Exported(old_size, old_size, 0)
    out.mkdir(parents=True, exist_ok=True)
    made: set[Path] = set()
    filled, files = [], 0
    for resource in resources.grown(old_size, head.size):
        _write(out / resource.path, resources.read(log, head.size, resource), made)
        files += 1
        if resource.full:
            filled.append(resource)
    _sync_dirs(made)
    _write(out / "checkpoint", head.note.encode(), made)
    _sync_dirs({out})
    for resource in filled:
        shutil.rmtree(out / f"{resource.path}.p", ignore_errors=True)
    return Exported(old_size, head.size, files)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="sigstack serve rekor2 export-tiles",
        description="Write the Rekor v2 log's checkpoint, tiles and entry bundles (C2SP "
        "tlog-tiles) under a directory any web server or object store can serve; only what "
        "grew since the last run is written, the checkpoint last.",
    )
    p.add_argument("--data-dir", required=True, help="the log's data directory (its SQLite "
                   "database, unless --database-url)")  # fmt: skip
    p.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in the data dir)")
    p.add_argument("--origin", help="the log (default: the only Rekor v2 log in the database)")
    p.add_argument("--to", required=True, help="the directory to write (created if missing)")
    p.add_argument("--every", type=float, help="export again every SECONDS, until stopped")
    p.add_argument("--config", help="JSON configuration file (as for the server)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    from .serve import load

    args = parse(argv)
    config = load(args.config, {"database_url": args.database_url, "origin": args.origin})
    url = config.database_url
    if not url:
        path = Path(args.data_dir) / "rekor2.db"
        if not path.exists():
            raise ConfigError(f"{path} does not exist: give the log's data directory")
        url = db.sqlite_url(path)
    engine = db.make_engine(url)
    try:
        db.require_current_schema(engine)
        origins = origins_in(engine)
        origin = config.origin or (origins[0] if len(origins) == 1 else "")
        if not origin:
            raise ConfigError(
                "name the log with --origin: the database holds "
                + (f"several Rekor v2 logs ({', '.join(origins)})" if origins else "none")
            )
        log = open_tree(engine, origin)
        out = Path(args.to)
        first = True
        while True:
            done = export(log, origin, out)
            if first or done.files:  # a loop that found nothing new stays quiet
                print(f"rekor2 export: {origin} at size {done.size} in {out} ({done.files} "
                      f"tiles and bundles written since size {done.old_size})", flush=True)  # fmt: skip
            first = False
            if not args.every:
                return 0
            with contextlib.suppress(KeyboardInterrupt):
                time.sleep(max(args.every, 0.1))
                continue
            return 0
    finally:
        engine.dispose()
