"""The TUF part of a mirror: a repository's published files, fetched and verified as a TUF client
does it (python-tuf's ngclient ``Updater``, TUF specification section 5), then laid out as the
repository serves them, so that ``sigstack initialize --mirror <mirror>/tuf`` (or any TUF client)
works against the copy.

The updater starts from the newest root the mirror already holds (the ``bootstrap`` root given by
hand for a new mirror: no trust on first use) and from the mirror's timestamp, snapshot and
targets, so the TUF rollback checks (5.3.5, 5.4.3, 5.5.4) apply to every update. Copied: every
root version from the bootstrap one on (``N.root.json``; a client that starts from an older root
than the mirror's first needs those older files too, so give the mirror the root your clients
ship), ``timestamp.json``, ``snapshot.json`` and ``targets.json`` under the names a client asks
for (``V.snapshot.json`` and ``V.targets.json`` with consistent snapshots), ``root.json`` (the
newest root, for people), and every target of the top-level targets metadata
(``targets/<hash>.<name>`` for each of its hashes, or ``targets/<name>``), each checked against
its length and hashes; a target file the mirror holds already and that still matches is not
fetched again. Delegated targets metadata is not copied (the Sigstore repositories keep the
trusted root and signing configs at the top level).

Metadata the repository lets expire cannot be mirrored: the update fails as a client would.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import (
    ConfigError,
    Error,
    UnavailableError,
    ValidationError,
    VerificationError,
)

from .layout import write_file
from .sources import Source, check_path, tuf_fetcher

TRUSTED_ROOT = "trusted_root.json"
_ROOT = re.compile(r"([1-9][0-9]{0,9})\.root\.json")


@dataclass(frozen=True)
class TufOutcome:
    root_version: int
    timestamp_version: int
    timestamp_expires: str
    targets: tuple[str, ...]
    fetched: int  # target files fetched (not already held)
    delegations: bool


def root_versions(tuf: Path) -> list[int]:
    """The root versions a mirror's ``tuf/`` holds, ascending."""
    if not tuf.is_dir():
        return []
    return sorted(int(m[1]) for p in tuf.iterdir() if (m := _ROOT.fullmatch(p.name)))


def target_paths(name: str, hashes: dict[str, str], consistent: bool) -> list[str]:
    """Where a TUF client asks for target ``name`` (relative to ``tuf/``)."""
    dirname, sep, base = name.rpartition("/")
    names = [f"{dirname}{sep}{h}.{base}" for h in hashes.values()] if consistent else [name]
    return [check_path(f"targets/{n}") for n in names]


def update_tuf(tuf: Path, source: Source, base: str, bootstrap: bytes | None) -> TufOutcome:
    """Refresh ``tuf`` (the staged generation's ``tuf/``, holding the live files) from
    ``source``, whose files python-tuf asks for as URLs under ``base``."""
    from tuf.api.exceptions import (
        DownloadError,
        DownloadHTTPError,
        DownloadLengthMismatchError,
        ExpiredMetadataError,
        RepositoryError,
    )

    held = root_versions(tuf)
    if held:
        if bootstrap is not None:
            raise ConfigError(f"this mirror already trusts TUF root v{held[-1]}: a root given by "
                              "hand is for a new mirror only")  # fmt: skip
        bootstrap = (tuf / f"{held[-1]}.root.json").read_bytes()
    elif bootstrap is None:
        raise ConfigError("a new TUF mirror needs the root to start from (--tuf-root FILE, the "
                          "root.json your clients are given)")  # fmt: skip
    base = base.rstrip("/") + "/"
    work = Path(tempfile.mkdtemp(dir=tuf.parent.parent, prefix=".staging.tuf-"))
    try:
        return _refresh(tuf, work, source, base, bootstrap)
    except ExpiredMetadataError as exc:
        raise VerificationError(f"the TUF metadata from {source.where} has expired ({exc}): a "
                                "client would refuse it; carry a fresher copy") from None  # fmt: skip
    except RepositoryError as exc:
        raise VerificationError(f"the TUF metadata from {source.where} does not verify: "
                                f"{exc or exc.__class__.__name__}") from None  # fmt: skip
    except DownloadLengthMismatchError as exc:
        raise VerificationError(f"a TUF file from {source.where} is longer than its metadata "
                                f"allows: {exc}") from None  # fmt: skip
    except DownloadHTTPError as exc:
        raise ValidationError(
            f"the TUF repository at {source.where} is incomplete: {exc}"
        ) from None
    except DownloadError as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, Error):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, Error):
            raise cause from None
        raise UnavailableError(f"TUF download from {source.where} failed: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"the TUF metadata from {source.where} is malformed "
                                f"({exc.__class__.__name__})") from None  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _refresh(tuf: Path, work: Path, source: Source, base: str, bootstrap: bytes) -> TufOutcome:
    from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp
    from tuf.ngclient.updater import Updater

    meta = work / "metadata"
    meta.mkdir()
    _seed(tuf, meta)
    first = Metadata[Root].from_bytes(bootstrap).signed.version
    got: dict[str, bytes] = {}
    fetcher = tuf_fetcher(source, base, got)
    updater = Updater(metadata_dir=str(meta), metadata_base_url=base,
                      target_dir=str(work / "targets"), target_base_url=base + "targets/",
                      fetcher=fetcher, bootstrap=bootstrap)  # fmt: skip
    updater.refresh()
    root_bytes = (meta / "root.json").read_bytes()
    root: Any = Metadata.from_bytes(root_bytes).signed
    if not isinstance(root, Root):
        raise VerificationError("the trusted TUF root is not root metadata")
    roots = {first: bootstrap}
    for version in range(first + 1, root.version + 1):
        data = got.get(f"{version}.root.json")
        if data is None:
            raise VerificationError(f"TUF root v{version} was trusted but not fetched")
        roots[version] = data
    if roots[root.version] != root_bytes:
        raise VerificationError("the trusted TUF root is not the one fetched last")
    raw = {role: (meta / f"{role}.json").read_bytes() for role in ("timestamp", "snapshot",
                                                                    "targets")}  # fmt: skip
    timestamp: Any = Metadata.from_bytes(raw["timestamp"]).signed
    snapshot: Any = Metadata.from_bytes(raw["snapshot"]).signed
    targets: Any = Metadata.from_bytes(raw["targets"]).signed
    if not (isinstance(timestamp, Timestamp) and isinstance(snapshot, Snapshot)
            and isinstance(targets, Targets)):  # fmt: skip
        raise VerificationError("the TUF metadata roles are mixed up")
    consistent = bool(root.consistent_snapshot)
    fetched, names = 0, sorted(targets.targets)
    pending: dict[str, bytes] = {}
    for name in names:
        info = updater.get_targetinfo(name)
        if info is None:
            raise VerificationError(f"TUF target {name} vanished from the targets metadata")
        paths = target_paths(name, dict(info.hashes), consistent)
        if all(_matches(tuf / p, info) for p in paths):
            continue
        data = Path(updater.download_target(info, str(work / "download"))).read_bytes()
        pending.update(dict.fromkeys(paths, data))
        fetched += 1
    # the stage is written only once everything verified; the timestamp last
    for version, data in roots.items():
        write_file(tuf / f"{version}.root.json", data)
    write_file(tuf / "root.json", root_bytes)
    for path, data in pending.items():
        write_file(tuf / path, data)
    if consistent:
        write_file(tuf / f"{snapshot.version}.snapshot.json", raw["snapshot"])
        write_file(tuf / f"{targets.version}.targets.json", raw["targets"])
    else:
        write_file(tuf / "snapshot.json", raw["snapshot"])
        write_file(tuf / "targets.json", raw["targets"])
    write_file(tuf / "timestamp.json", raw["timestamp"])
    expires = timestamp.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return TufOutcome(root.version, timestamp.version, expires, tuple(names), fetched,
                      bool(targets.delegations))  # fmt: skip


def _seed(tuf: Path, meta: Path) -> None:
    """The mirror's current timestamp, snapshot and targets, where the updater keeps its trusted
    copies: what it compares versions against (rollback protection)."""
    from tuf.api.metadata import Metadata

    timestamp = tuf / "timestamp.json"
    if not timestamp.is_file():
        return
    shutil.copyfile(timestamp, meta / "timestamp.json")
    try:
        ts: Any = Metadata.from_bytes(timestamp.read_bytes()).signed
        snapshot_version = ts.snapshot_meta.version
        for name, role in ((f"{snapshot_version}.snapshot.json", "snapshot"),
                           ("snapshot.json", "snapshot")):  # fmt: skip
            if (tuf / name).is_file():
                shutil.copyfile(tuf / name, meta / f"{role}.json")
                break
        snap: Any = Metadata.from_bytes((meta / "snapshot.json").read_bytes()).signed
        targets_version = snap.meta["targets.json"].version
        for name in (f"{targets_version}.targets.json", "targets.json"):
            if (tuf / name).is_file():
                shutil.copyfile(tuf / name, meta / "targets.json")
                break
    except (OSError, ValueError, KeyError, AttributeError):
        pass  # the updater then fetches what is missing; the timestamp still guards versions


def _matches(path: Path, info: Any) -> bool:
    from tuf.api.exceptions import LengthOrHashMismatchError

    try:
        with open(path, "rb") as fh:
            info.verify_length_and_hashes(fh)
    except (OSError, LengthOrHashMismatchError):
        return False
    return True


def trusted_root_bytes(tuf: Path) -> bytes:
    """The ``trusted_root.json`` target of a mirrored repository, checked against the targets
    metadata the mirror holds (which ``update_tuf`` verified)."""
    from tuf.api.exceptions import RepositoryError

    try:
        return _trusted_root_bytes(tuf)
    except (OSError, ValueError, KeyError, TypeError, RepositoryError) as exc:
        raise ConfigError(f"the mirror's {TRUSTED_ROOT} cannot be read from its TUF "
                          f"metadata ({exc.__class__.__name__}): a damaged mirror") from None  # fmt: skip


def _trusted_root_bytes(tuf: Path) -> bytes:
    from tuf.api.metadata import Metadata, Root

    versions = root_versions(tuf)
    if not versions:
        raise ConfigError("the mirror holds no TUF repository")
    root: Any = Metadata.from_bytes((tuf / f"{versions[-1]}.root.json").read_bytes()).signed
    if not isinstance(root, Root):
        raise ConfigError("the mirror's TUF root is not root metadata")
    ts: Any = Metadata.from_bytes((tuf / "timestamp.json").read_bytes()).signed
    consistent = bool(root.consistent_snapshot)
    snap_name = f"{ts.snapshot_meta.version}.snapshot.json" if consistent else "snapshot.json"
    snap: Any = Metadata.from_bytes((tuf / snap_name).read_bytes()).signed
    version = snap.meta["targets.json"].version
    targets: Any = Metadata.from_bytes(
        (tuf / (f"{version}.targets.json" if consistent else "targets.json")).read_bytes()
    ).signed
    info = targets.targets.get(TRUSTED_ROOT)
    if info is None:
        raise ConfigError(f"the TUF repository publishes no {TRUSTED_ROOT}")
    path = tuf / target_paths(TRUSTED_ROOT, dict(info.hashes), consistent)[0]
    data = path.read_bytes()
    info.verify_length_and_hashes(data)
    return data
