"""The published side of a TUF repository: reading ``public/`` and keeping the online roles fresh.

``PublishedRepository`` is what the HTTP server needs: it reads the metadata clients get, and
re-signs timestamp (and snapshot) with the online key(s) named in ``repo.json`` when they come
within a margin of expiry. Re-signing takes the repository lock and re-checks under it, so with
several gunicorn workers exactly one of them writes; files are replaced by atomic rename.
Offline operations (staging, threshold signing, publishing, rotation) are in ``services.tuf.repo``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Timestamp
from tuf.api.serialization.json import JSONSerializer

from sigstack.protocol.errors import ConfigError, ValidationError

from . import keys as tufkeys
from .store import Layout, read_json, write_atomic

ONLINE_ROLES = ("snapshot", "timestamp")
DEFAULT_SETTINGS: dict[str, Any] = {
    "root_expiry_days": 365,
    "targets_expiry_days": 180,
    "snapshot_expiry_seconds": 7 * 86400,
    "timestamp_expiry_seconds": 86400,
    "resign_margin_seconds": 12 * 3600,
}
VERSIONED = re.compile(r"^([1-9][0-9]*)\.(root|targets|snapshot)\.json$")
SERIALIZER = JSONSerializer(compact=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PublishedRepository:
    """One repository directory. ``clock`` returns an aware UTC ``datetime`` (tests inject one)."""

    def __init__(
        self, data_dir: str | Path, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.layout = Layout(data_dir)
        self.clock = clock or _utcnow
        self._expiry_cache: tuple[int, datetime, datetime] | None = None

    # ----------------------------------------------------------------- reading
    def settings(self) -> dict[str, Any]:
        self.layout.require()
        return {**DEFAULT_SETTINGS, **read_json(self.layout.settings)}

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def _load(self, path: Path) -> Metadata[Any]:
        try:
            return Metadata.from_bytes(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read {path.name}: {exc.strerror}") from exc

    def root_version(self) -> int:
        versions = [
            int(m.group(1))
            for p in self.layout.public.glob("*.root.json")
            if (m := VERSIONED.match(p.name))
        ]
        if not versions:
            raise ConfigError(f"no published root in {self.layout.public}")
        return max(versions)

    def published(self, role: str) -> Metadata[Any]:
        """The metadata clients currently get for ``role``."""
        pub = self.layout.public
        if role == "root":
            return self._load(pub / f"{self.root_version()}.root.json")
        timestamp = self._load(pub / "timestamp.json")
        if role == "timestamp":
            return timestamp
        snapshot = self._load(pub / f"{timestamp.signed.snapshot_meta.version}.snapshot.json")
        if role == "snapshot":
            return snapshot
        if role == "targets":
            return self._load(pub / f"{snapshot.signed.meta['targets.json'].version}.targets.json")
        raise ValidationError(f"unknown role {role!r}")

    def staged(self, role: str) -> Metadata[Any] | None:
        path = self.layout.staged / f"{role}.json"
        return self._load(path) if path.is_file() else None

    def _online_signer(self, root: Root, role: str) -> Signer:
        uri = self.settings()["online_keys"][role]
        signer = tufkeys.open_signer(uri, self.layout.root)
        if signer.public_key.keyid not in root.roles[role].keyids:
            raise ConfigError(f"the configured {role} key is not the {role} key of the root")
        return signer

    def _sign_online(self, root: Root, *, new_snapshot: bool) -> None:
        """Write a new timestamp (and first a new snapshot if asked). Caller holds the lock."""
        conf = self.settings()
        now = self._now()
        pub = self.layout.public
        old_ts = self._load(pub / "timestamp.json") if (pub / "timestamp.json").is_file() else None
        snap_version = old_ts.signed.snapshot_meta.version if old_ts else 0
        if new_snapshot or old_ts is None:
            targets_version = max(
                int(m.group(1))
                for p in pub.glob("*.targets.json")
                if (m := VERSIONED.match(p.name))
            )
            targets_bytes = (pub / f"{targets_version}.targets.json").read_bytes()
            snap = Metadata(
                Snapshot(
                    version=snap_version + 1,
                    expires=now + timedelta(seconds=conf["snapshot_expiry_seconds"]),
                    meta={
                        "targets.json": MetaFile(
                            version=targets_version,
                            length=len(targets_bytes),
                            hashes={"sha256": hashlib.sha256(targets_bytes).hexdigest()},
                        )
                    },
                )
            )
            snap.sign(self._online_signer(root, "snapshot"))
            snap_version = snap.signed.version
            write_atomic(pub / f"{snap_version}.snapshot.json", snap.to_bytes(SERIALIZER))
        snap_bytes = (pub / f"{snap_version}.snapshot.json").read_bytes()
        ts = Metadata(
            Timestamp(
                version=(old_ts.signed.version if old_ts else 0) + 1,
                expires=now + timedelta(seconds=conf["timestamp_expiry_seconds"]),
                snapshot_meta=MetaFile(
                    version=snap_version,
                    length=len(snap_bytes),
                    hashes={"sha256": hashlib.sha256(snap_bytes).hexdigest()},
                ),
            )
        )
        ts.sign(self._online_signer(root, "timestamp"))
        write_atomic(pub / "timestamp.json", ts.to_bytes(SERIALIZER))
        self._expiry_cache = None

    def _expiries(self) -> tuple[datetime, datetime]:
        """(timestamp expiry, snapshot expiry), cached while timestamp.json is unchanged."""
        stamp = (self.layout.public / "timestamp.json").stat().st_mtime_ns
        cached = self._expiry_cache  # read once: a refresh on another thread may drop it
        if cached is None or cached[0] != stamp:
            ts = self.published("timestamp")
            snap = self.published("snapshot")
            cached = (stamp, ts.signed.expires, snap.signed.expires)
            self._expiry_cache = cached
        return cached[1], cached[2]

    def refresh_online(self, margin: timedelta | None = None) -> str | None:
        """Re-sign snapshot and/or timestamp if they expire within ``margin`` of now.

        Returns ``"snapshot"``, ``"timestamp"`` or ``None``. Safe to call from every worker: the
        decision is re-checked under the lock, so only one of them re-signs.
        """
        if margin is None:
            margin = timedelta(seconds=self.settings()["resign_margin_seconds"])
        if not self._due(margin):
            return None
        with self.layout.locked():
            self._expiry_cache = None
            due = self._due(margin)
            if due is None:
                return None
            self._sign_online(self.published("root").signed, new_snapshot=(due == "snapshot"))
            return due

    def _due(self, margin: timedelta) -> str | None:
        ts_expires, snap_expires = self._expiries()
        limit = self._now() + margin
        if snap_expires <= limit:
            return "snapshot"
        if ts_expires <= limit:
            return "timestamp"
        return None
