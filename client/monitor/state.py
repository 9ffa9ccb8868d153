"""The monitor's state file: per log, the last verified checkpoint and how far entries were read.

One JSON document, mode 0600, replaced atomically (written to a temporary file in the same
directory, flushed to disk, renamed over the old one, the directory flushed), so a crash leaves
either the old state or the new one. A lock file next to it (``<state>.lock``, ``flock``) keeps
two monitors off one state file; where ``fcntl`` does not exist (Windows) there is no lock.

Per log (``LogState``): the trusted-root identity it was made for (a state for another key is
refused, not reused), the last verified head (size, root, signed text), the scan position with
its ``Frontier`` (``scan``) and the last position whose frontier matched a signed root
(``verified``, where a scan restarts if the log's entries turn out not to match), the heads of
others already proven consistent (``compared``), and cumulative counters for the metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sigstack.protocol.errors import ConfigError, ValidationError

from .heads import Head
from .tree import Frontier

VERSION = 1
MAX_COMPARED = 256


@dataclass
class LogState:
    log_id: str  # hex of the trusted root's log ID
    url: str
    head: Head | None = None
    scan: Frontier | None = None
    verified: Frontier | None = None
    compared: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def remember(self, head: Head) -> None:
        key = f"{head.size}:{head.root.hex()}"
        if key not in self.compared:
            self.compared = [*self.compared, key][-MAX_COMPARED:]

    def known(self, head: Head) -> bool:
        return f"{head.size}:{head.root.hex()}" in self.compared

    def to_json(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id,
            "url": self.url,
            "head": None
            if self.head is None
            else {**self.head.to_json(), "origin": self.head.origin},
            "scan": None if self.scan is None else self.scan.to_json(),
            "verified": None if self.verified is None else self.verified.to_json(),
            "compared": self.compared,
            "counters": self.counters,
        }

    @classmethod
    def from_json(cls, obj: Any, name: str) -> LogState:
        if not isinstance(obj, dict) or not isinstance(obj.get("log_id"), str):
            raise ValidationError(f"the state of log {name} is malformed")
        head = obj.get("head")
        counters = obj.get("counters") or {}
        compared = obj.get("compared") or []
        if (
            not isinstance(counters, dict)
            or not all(isinstance(v, int) for v in counters.values())
            or not isinstance(compared, list)
        ):
            raise ValidationError(f"the state of log {name} is malformed")
        try:
            parsed_head = (
                None
                if head is None
                else Head(
                    head["size"],
                    bytes.fromhex(head["root"]),
                    head["checkpoint"],
                    head.get("origin", ""),
                )
            )
        except (KeyError, TypeError, ValueError):
            raise ValidationError(f"the state of log {name} has a malformed head") from None
        return cls(
            log_id=obj["log_id"],
            url=str(obj.get("url", "")),
            head=parsed_head,
            scan=None if obj.get("scan") is None else Frontier.from_json(obj["scan"]),
            verified=None if obj.get("verified") is None else Frontier.from_json(obj["verified"]),
            compared=[str(c) for c in compared],
            counters=dict(counters),
        )


class StateFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.logs: dict[str, LogState] = {}
        self.counters: dict[str, int] = {}  # not per log (webhook failures)

    def load(self) -> StateFile:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return self
        except OSError as exc:
            raise ConfigError(f"cannot read the state file {self.path}: {exc.strerror}") from None
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict) or obj.get("version") != VERSION:
                raise ValidationError("unknown state file version")
            logs = obj.get("logs", {})
            if not isinstance(logs, dict):
                raise ValidationError("logs is not an object")
            self.logs = {name: LogState.from_json(v, name) for name, v in logs.items()}
            counters = obj.get("counters", {})
            self.counters = {k: v for k, v in counters.items() if isinstance(v, int)}
        except (ValueError, UnicodeDecodeError, ValidationError) as exc:
            why = exc.message if isinstance(exc, ValidationError) else "not JSON"
            raise ConfigError(
                f"the state file {self.path} is unreadable ({why}); move it away to start over"
            ) from None
        return self

    def log(self, name: str, log_id: bytes, url: str) -> LogState:
        """The state of log ``name``; a state made for another log key is refused."""
        state = self.logs.get(name)
        if state is None:
            state = self.logs[name] = LogState(log_id.hex(), url)
        elif state.log_id != log_id.hex():
            raise ConfigError(
                f"the state file {self.path} follows log {name} under the log ID "
                f"{state.log_id}, and the trusted root now names {log_id.hex()}: a new key is a "
                "new log (give it another name), or remove the old one from the state file"
            )
        state.url = url
        return state

    def save(self) -> None:
        doc = {
            "version": VERSION,
            "logs": {name: s.to_json() for name, s in sorted(self.logs.items())},
            "counters": self.counters,
        }
        data = json.dumps(doc, indent=1).encode() + b"\n"
        directory = self.path.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)  # mode 0600
        except OSError as exc:
            raise ConfigError(f"cannot write the state file {self.path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ConfigError(f"cannot write the state file {self.path}: {exc.strerror}") from None
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold ``<path>.lock`` for the block; ``ConfigError`` if another monitor holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    lock_path = Path(f"{path}.lock")
    try:
        fh: IO[bytes] = open(lock_path, "ab")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise ConfigError(f"cannot open the lock file {lock_path}: {exc.strerror}") from None
    try:
        os.chmod(lock_path, 0o600)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"another monitor is using the state file {path} (it holds {lock_path})"
            ) from None
        yield
    finally:
        fh.close()
