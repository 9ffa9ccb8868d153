"""On-disk layout of a sigstack TUF repository, with locking and atomic writes.

```
DATA/
  repo.json         settings: expiry periods, re-sign margin, online key URIs (no secrets)
  keys/             online keys (0600) that the server uses for snapshot and timestamp
  public/           what is served: N.root.json, root.json, V.targets.json, V.snapshot.json,
                    timestamp.json, targets/<sha256>.<name>
  staged/           role changes waiting for signatures: root.json, targets.json, online.json,
                    targets/<name>
  .lock             flock()ed by every writer (CLI and each gunicorn worker)
```

Offline (root, targets) keys never live here. Every file is written to a temporary name in the
same directory, fsync'ed and renamed, so readers (the HTTP server) see either the old or the new
file, never half of one. Deciding *what* to write is ``services.tuf.repo``'s job.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError

TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SERVED = re.compile(
    r"^(?:root\.json|[1-9][0-9]{0,9}\.(?:root|snapshot|targets)\.json|timestamp\.json"
    r"|targets/[0-9a-f]{64}\.[A-Za-z0-9][A-Za-z0-9._-]{0,127})$"
)


class Layout:
    """Paths inside one repository directory."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir).resolve()
        self.settings = self.root / "repo.json"
        self.keys = self.root / "keys"
        self.public = self.root / "public"
        self.public_targets = self.public / "targets"
        self.staged = self.root / "staged"
        self.staged_targets = self.staged / "targets"
        self.lock_file = self.root / ".lock"

    def exists(self) -> bool:
        return self.settings.is_file()

    def require(self) -> None:
        if not self.exists():
            raise ConfigError(f"no TUF repository in {self.root} (run `sigstack tuf init` first)")

    def served_path(self, name: str) -> Path | None:
        """The file behind a request path, or None if the name is not one the mirror serves."""
        if not SERVED.match(name):
            return None
        return self.public / name

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the repository's exclusive lock (works across processes and gunicorn workers)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read {path.name}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path.name} is not valid JSON") from exc


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n")


def check_outside(path: Path, served: Path) -> None:
    """Refuse to keep private keys where the HTTP server could hand them out."""
    resolved = path.resolve()
    if resolved == served.resolve() or served.resolve() in resolved.parents:
        raise ConfigError(f"refusing to store keys inside the served directory {served}")
