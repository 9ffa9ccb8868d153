"""Carrying a mirror across an air gap: ``export`` writes what is new into one tar file, ``import``
applies it to the site's mirror after proving it (the same checks as a pull, ``mirror.apply``).

A bundle is a plain, uncompressed tar of files laid out as in a mirror generation, plus
``bundle.json`` (what it claims to carry; hints only, everything is verified on import):

```
bundle.json                   {"format": "sigstack-mirror-export/v1", "created", "trust",
                               "logs": [{"name", "origin", "log_id", "since", "size", "root"}]}
tuf/...                       every file of the mirror's TUF part (small: metadata and targets)
log/<name>/checkpoint         the log's latest checkpoint
log/<name>/tile/...           the tiles and entry bundles the tree at ``size`` has that the tree
                              at ``since`` lacks or holds narrower (``tiles.grown``)
```

``since`` is per log: what the site holds. ``export`` takes it from checkpoints the site sent
out (``--since PATH``: files or directories of signed checkpoints, e.g. copies of the site's
``log/*/checkpoint``, or ``sigstack mirror status --json`` output), else from what the previous
export carried (``exported.json`` beside the generations), else 0 (everything). A bundle
starting after what the site holds cannot be applied (the tiles in between are missing) and is
refused, naming what to carry; one starting at or before it applies (an older bundle changes
nothing). A trusted root is never carried: a site without TUF keeps the one given by hand.

Import reads the tar defensively (regular files only, each name checked and under a size cap,
no duplicates) into a scratch directory inside the mirror directory, removed afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigstack.protocol import note
from sigstack.protocol.errors import ConfigError, ValidationError

from . import tiles
from .layout import NAME, MirrorDir, now
from .logs import MAX_BUNDLE, MAX_CHECKPOINT
from .mirror import LogPlan, Plan, Report, apply
from .sources import MAX_TUF_FILE, DirSource, check_path

FORMAT = "sigstack-mirror-export/v1"
EXPORTED = "exported.json"
MAX_MEMBERS = 10_000_000


@dataclass(frozen=True)
class Exported:
    path: Path
    files: int
    size: int
    sha256: str
    logs: tuple[dict[str, Any], ...]


def read_since(paths: list[str]) -> dict[str, int]:
    """Tree sizes by origin from the checkpoints (signed notes) or ``status --json`` documents in
    ``paths``: files, or directories searched for files named ``checkpoint`` or ``*.json``
    (outside ``tile/``); the largest size per origin. Not verified:
    a size only chooses what to carry, and the import verifies what it receives."""
    sizes: dict[str, int] = {}
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and "tile" not in p.parts
                            and (p.name == "checkpoint" or p.suffix == ".json"))  # fmt: skip
        elif path.is_file():
            files.append(path)
        else:
            raise ValidationError(f"--since {given}: no such file or directory")
    for path in files:
        for origin, size in _sizes_in(path):
            sizes[origin] = max(size, sizes.get(origin, 0))
    return sizes


def _sizes_in(path: Path) -> list[tuple[str, int]]:
    data = path.read_bytes()[: 1 << 20]
    text = data.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
            return [(str(r["origin"]), int(r["size"])) for r in doc["logs"]]
        except (ValueError, KeyError, TypeError):
            raise ValidationError(f"{path} is JSON but not `sigstack mirror status --json` "
                                  "output") from None  # fmt: skip
    try:
        checkpoint = note.Checkpoint.from_text(note.SignedNote.from_text(text).text)
    except ValidationError:
        raise ValidationError(f"{path} is not a signed checkpoint") from None
    return [(checkpoint.origin, checkpoint.size)]


def export(directory: str | Path, out: str | Path, since: dict[str, int] | None) -> Exported:
    """Write the bundle of what the mirror holds beyond ``since`` (origin → size; None: what the
    previous export carried) to ``out``, then record what it carried."""
    mirror = MirrorDir(directory)
    out = Path(out)
    with mirror.locked():
        gen, manifest = mirror.require()
        if since is None:
            since = {o: int(v["size"]) for o, v in _read_exported(mirror).items()}
        carried = []
        for record in manifest.logs:
            start = min(since.get(record.origin, 0), record.size)
            carried.append({"name": record.name, "origin": record.origin,
                            "log_id": record.log_id.hex(), "since": start,
                            "size": record.size, "root": record.root.hex()})  # fmt: skip
        head = {"format": FORMAT, "created": now(), "trust": manifest.trust, "logs": carried}
        files = [("bundle.json", json.dumps(head, indent=2).encode() + b"\n")]
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        count = 0
        try:
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for name, data in files:
                        _add(tar, name, data)
                        count += 1
                    for rel in _members(gen, manifest.logs, carried):
                        _add(tar, rel, (gen / rel).read_bytes())
                        count += 1
                raw.flush()
                os.fsync(raw.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        record_export(mirror, carried, out.name)
    return Exported(out, count, out.stat().st_size, _sha256(out), tuple(carried))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _members(gen: Path, records: Any, carried: list[dict[str, Any]]) -> Iterator[str]:
    tuf = gen / "tuf"
    if tuf.is_dir():
        yield from sorted(str(p.relative_to(gen)) for p in tuf.rglob("*") if p.is_file())
    for record, info in zip(records, carried, strict=True):
        base = f"log/{record.name}"
        if record.size or (gen / base / "checkpoint").is_file():
            yield f"{base}/checkpoint"
        for tile in tiles.grown(info["since"], record.size):
            yield f"{base}/tile/{tile.path}"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _read_exported(mirror: MirrorDir) -> dict[str, Any]:
    path = mirror.root / EXPORTED
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path} ({exc.__class__.__name__}): remove it and "
                          "give --since") from None  # fmt: skip
    return doc if isinstance(doc, dict) else {}


def record_export(mirror: MirrorDir, carried: list[dict[str, Any]], name: str) -> None:
    done = _read_exported(mirror)
    for info in carried:
        done[info["origin"]] = {"size": info["size"], "root": info["root"], "at": now(),
                                "bundle": name}  # fmt: skip
    tmp = mirror.root / f".{EXPORTED}.tmp"
    tmp.write_text(json.dumps(done, indent=2) + "\n")
    os.replace(tmp, mirror.root / EXPORTED)


# --- import ---------------------------------------------------------------------------------------


def import_bundle(
    bundle: str | Path, directory: str | Path, *, tuf_root: bytes | None = None,
    trusted_root: bytes | None = None,
) -> Report:  # fmt: skip
    """Apply the export bundle at ``bundle`` to the mirror in ``directory`` (a new one needs
    ``tuf_root`` or ``trusted_root``, as the bundle's trust says); nothing changes on refusal."""
    mirror = MirrorDir(directory)
    mirror.root.mkdir(parents=True, exist_ok=True)
    for stale in mirror.root.glob(".import.*"):
        shutil.rmtree(stale, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(dir=mirror.root, prefix=".import."))
    try:
        head = _unpack(Path(bundle), scratch)
        held = mirror.manifest()
        plans = []
        for info in head["logs"]:
            record = held.log(info["name"]) if held else None
            if (
                record is not None
                and record.origin == info["origin"]
                and info["since"] > record.size
            ):
                raise ConfigError(
                    f"log {record.name}: this bundle carries the tree from size {info['since']} "
                    f"on, the site holds {record.size}: import the bundles in between first, or "
                    f"export with --since the site's checkpoint (size {record.size})"
                )
            if record is None and info["since"] > 0:
                raise ConfigError(f"log {info['name']} is new here but this bundle carries it "
                                  f"from size {info['since']} on: export it with --since all")  # fmt: skip
            if (scratch / "log" / info["name"] / "checkpoint").is_file():
                url = record.url if record is not None else None
                plans.append(LogPlan(info["name"], DirSource(scratch / "log" / info["name"]), url))
        tuf = scratch / "tuf"
        plan = Plan(logs=tuple(plans), tuf=DirSource(tuf) if tuf.is_dir() else None,
                    tuf_root=tuf_root, trusted_root=trusted_root, trust=head["trust"])  # fmt: skip
        if held is not None and held.trust != head["trust"]:
            raise ConfigError(f"the bundle's trust is {head['trust']}, this mirror's "
                              f"{held.trust}")  # fmt: skip
        return apply(mirror, plan)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _limit(name: str) -> int:
    if name == "bundle.json" or name.endswith("/checkpoint"):
        return MAX_CHECKPOINT
    if name.startswith("tuf/"):
        return MAX_TUF_FILE
    return MAX_BUNDLE if "/tile/entries/" in name else tiles.WIDTH * tiles.HASH


def _allowed(name: str) -> bool:
    if name == "bundle.json" or name.startswith("tuf/"):
        return True
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != "log" or not NAME.fullmatch(parts[1]):
        return False
    if parts[2:] == ["checkpoint"]:
        return True
    if parts[2] != "tile":
        return False
    try:
        tiles.parse_path("/".join(parts[3:]))
    except ValidationError:
        return False
    return True


def _unpack(bundle: Path, into: Path) -> dict[str, Any]:
    seen: set[str] = set()
    try:
        with tarfile.open(bundle, mode="r:") as tar:
            for member in tar:
                name = member.name
                if not member.isfile():
                    if member.isdir() and not name.startswith("/") and ".." not in name.split("/"):
                        continue
                    raise ValidationError(f"the bundle holds {name!r}, which is not a plain file")
                check_path(name)
                if not _allowed(name) or name in seen:
                    raise ValidationError(f"the bundle holds {name!r}, which no bundle holds")
                if member.size > _limit(name) or len(seen) >= MAX_MEMBERS:
                    raise ValidationError(f"the bundle's {name} is larger than any such file")
                seen.add(name)
                source = tar.extractfile(member)
                assert source is not None
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, open(target, "xb") as fh:
                    shutil.copyfileobj(source, fh)
    except FileNotFoundError:
        raise ValidationError(f"{bundle}: no such file") from None
    except (tarfile.TarError, EOFError) as exc:
        raise ValidationError(f"{bundle} is not a readable tar file ({exc})") from None
    return _head(into / "bundle.json")


def _head(path: Path) -> dict[str, Any]:
    try:
        head = json.loads(path.read_bytes())
        logs = head["logs"]
        ok = head.get("format") == FORMAT and head.get("trust") in ("tuf", "file")
        for info in logs:
            ok = ok and NAME.fullmatch(info["name"]) is not None and isinstance(info["origin"], str)
            ok = ok and all(isinstance(info[k], int) and info[k] >= 0 for k in ("since", "size"))
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ValidationError(f"the bundle has no valid bundle.json ({FORMAT})")
    return dict(head)
