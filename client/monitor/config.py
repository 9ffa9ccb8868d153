"""The monitor's configuration file (JSON; docs/monitor.md has the reference).

```
{"trusted_root": "trusted_root.json",   # optional: else --trusted-root/--trust-config/TUF cache
 "state": "monitor-state.json",          # optional: else --state
 "interval": 300,                        # seconds between runs when not --once
 "webhook": "https://hooks.example/x" | {"url": ..., "headers": {...}, "timeout": 10},
 "compare": ["checkpoints/", "saved.jsonl"],   # checkpoints others saw (files or directories)
 "logs": [{"name": "rekor", "type": "rekor" | "tiles" | "ct", "url": "https://...",
           "log_id": "<hex or base64 of the trusted root's logId.keyId>",   # else by baseUrl
           "origin": "...", "head": "api" | "checkpoint", "entries": "api" | "tiles",
           "start": 0 | "latest" | N,
           "witnesses": ["https://witness.example/prefix"], "batch": 256}],
 "watch": {...}}                         # watch.WatchList
```

Relative paths are taken from the configuration file's directory. Unknown keys are refused (a
misspelt key must not silently turn a rule off). ``resolve_key`` finds a log's trusted-root entry:
by ``log_id`` if given, else the one entry (``tlogs`` for Rekor, ``ctlogs`` for CT) whose
``baseUrl`` is the log's URL.

A Rekor v1 log is read through its v1 API by default (``head: api``: the signed tree head and
consistency proofs from ``/api/v1/log``); ``head: checkpoint`` reads it as tlog-tiles only: its
checkpoint (the same signed note, in Rekor v1's flavour) from ``/checkpoint``, proofs built from
its tiles, entries from its entry bundles. That is what a mirror of the log serves
(``sigstack mirror status --monitor-config``), which has no v1 API.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.protocol.protojson import strict_b64decode
from sigstack.protocol.record import record
from sigstack.protocol.trust import TransparencyLogInstance, TrustedRoot

from .heads import KINDS, LogKey
from .watch import WatchList

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TOP = {"trusted_root", "state", "interval", "webhook", "compare", "logs", "watch"}
_LOG = {"name", "type", "url", "log_id", "origin", "head", "entries", "start", "witnesses", "batch"}
# what each kind of log reads its head and its entries from; the first is the default
_HEADS = {"rekor": ("api", "checkpoint"), "tiles": ("checkpoint",), "ct": ("api",)}
_ENTRIES = {"rekor": ("api", "tiles"), "tiles": ("tiles",), "ct": ("ct",)}


@record(frozen=True)
class LogSpec:
    name: str
    kind: str  # rekor | tiles | ct
    url: str
    log_id: bytes | None = None
    origin: str | None = None
    head: str = "api"  # rekor: api (/api/v1/log) | checkpoint (/checkpoint, proofs from tiles)
    entries: str = "api"  # rekor only: api | tiles
    start: int | str = 0  # first index to scan, or "latest"
    witnesses: tuple[str, ...] = ()
    batch: int = 256


@record(frozen=True)
class Webhook:
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 10.0


@record(frozen=True)
class MonitorConfig:
    logs: tuple[LogSpec, ...]
    watch: WatchList
    trusted_root: str | None = None
    state: str | None = None
    interval: float = 300.0
    webhook: Webhook | None = None
    compare: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: str | Path) -> MonitorConfig:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the monitor configuration {path}: {exc.strerror}"
            ) from None
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"the monitor configuration {path} is not JSON") from None
        try:
            return cls.from_json(obj, Path(path).resolve().parent)
        except ValidationError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None

    @classmethod
    def from_json(cls, obj: Any, base: Path) -> MonitorConfig:
        if not isinstance(obj, dict):
            raise ValidationError("the configuration must be a JSON object")
        _no_unknown(obj, _TOP, "the configuration")
        logs = obj.get("logs")
        if not isinstance(logs, list) or not logs:
            raise ValidationError("logs must be a non-empty list")
        specs = tuple(_log(item, f"logs[{i}]") for i, item in enumerate(logs))
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValidationError("two logs have the same name")
        interval = obj.get("interval", 300)
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise ValidationError("interval must be a positive number of seconds")
        compare = obj.get("compare", [])
        if not isinstance(compare, list) or not all(isinstance(c, str) and c for c in compare):
            raise ValidationError("compare must be a list of paths")
        return cls(
            logs=specs,
            watch=WatchList.from_json(obj.get("watch")),
            trusted_root=_path(obj.get("trusted_root"), base, "trusted_root"),
            state=_path(obj.get("state"), base, "state"),
            interval=float(interval),
            webhook=webhook(obj.get("webhook")),
            compare=tuple(str(base / c) for c in compare),
        )


def _no_unknown(obj: dict[str, Any], known: set[str], where: str) -> None:
    unknown = set(obj) - known
    if unknown:
        raise ValidationError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")


def _path(value: Any, base: Path, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{where} must be a path")
    return str(base / value)


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.match(r"https?://[^/\s]+", value):
        raise ValidationError(f"{where} must be an http(s) URL")
    return value.rstrip("/")


def webhook(value: Any) -> Webhook | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Webhook(_url(value, "webhook"))
    if not isinstance(value, dict):
        raise ValidationError("webhook must be a URL or an object")
    _no_unknown(value, {"url", "headers", "timeout"}, "webhook")
    headers = value.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ValidationError("webhook.headers must map names to strings")
    timeout = value.get("timeout", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ValidationError("webhook.timeout must be a positive number of seconds")
    return Webhook(_url(value.get("url"), "webhook.url"), tuple(headers.items()), float(timeout))


def _log(obj: Any, where: str) -> LogSpec:
    if not isinstance(obj, dict):
        raise ValidationError(f"{where} must be a JSON object")
    _no_unknown(obj, _LOG, where)
    name, kind = obj.get("name"), obj.get("type")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(f"{where}.name must be 1-64 letters, digits, '.', '_' or '-'")
    if kind not in KINDS:
        raise ValidationError(f"{where}.type must be one of {', '.join(KINDS)}")
    head = obj.get("head", _HEADS[kind][0])
    if head not in _HEADS[kind]:
        raise ValidationError(f"{where}.head must be one of {', '.join(_HEADS[kind])}")
    tiles_only = kind == "rekor" and head == "checkpoint"  # a Rekor v1 log without its v1 API
    allowed = ("tiles",) if tiles_only else _ENTRIES[kind]
    entries = obj.get("entries", allowed[0])
    if entries not in allowed:
        because = ' (with "head": "checkpoint")' if tiles_only else ""
        raise ValidationError(f"{where}.entries must be one of {', '.join(allowed)}{because}")
    start = obj.get("start", 0)
    if start != "latest" and (not isinstance(start, int) or isinstance(start, bool) or start < 0):
        raise ValidationError(f'{where}.start must be an index or "latest"')
    witnesses = obj.get("witnesses", [])
    if not isinstance(witnesses, list) or kind == "ct" and witnesses:
        raise ValidationError(f"{where}.witnesses must be a list of URLs (not for CT logs)")
    batch = obj.get("batch", 256)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 1024:
        raise ValidationError(f"{where}.batch must be 1 to 1024")
    origin = obj.get("origin")
    if origin is not None and (not isinstance(origin, str) or not origin or "\n" in origin):
        raise ValidationError(f"{where}.origin must be one line of text")
    url = _url(obj.get("url"), f"{where}.url")
    if kind == "tiles" and origin is None:
        origin = url.split("://", 1)[1]  # rekor-monitor's rule: the URL without its scheme
    return LogSpec(
        name=name, kind=kind, url=url, log_id=_log_id(obj.get("log_id"), where), origin=origin,
        head=head, entries=entries, start=start, witnesses=tuple(_url(w, f"{where}.witnesses[]")
                                                      for w in witnesses), batch=batch,
    )  # fmt: skip


def _log_id(value: Any, where: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return bytes.fromhex(value) if len(value) == 64 else strict_b64decode(value, where)
        except (ValueError, ValidationError):
            pass
    raise ValidationError(f"{where}.log_id must be the log ID in hex (64 digits) or base64")


def resolve_key(spec: LogSpec, root: TrustedRoot) -> LogKey:
    """The trusted-root entry of ``spec`` as a ``LogKey`` (``ConfigError`` if none or several)."""
    pool = root.ctlogs if spec.kind == "ct" else root.tlogs
    if spec.log_id is not None:
        found = [t for t in pool if spec.log_id in (t.log_id, t.checkpoint_key_id)]
        how = f"log ID {spec.log_id.hex()}"
    else:
        found = [t for t in pool if t.base_url.rstrip("/") == spec.url]
        how = f"baseUrl {spec.url}"
    if len({_identity(t) for t in found}) != 1:
        what = "CT log" if spec.kind == "ct" else "transparency log"
        raise ConfigError(
            f"log {spec.name}: the trusted root has {'no' if not found else 'several'} {what} "
            f"entries with {how}" + ("" if found else "; set log_id")
        )
    entry = found[0]
    try:
        return LogKey(spec.kind, entry.public_key.raw_bytes, entry.log_id,
                      entry.checkpoint_key_id, spec.origin)  # fmt: skip
    except ValidationError as exc:
        raise ConfigError(f"log {spec.name}: {exc.message}") from None


def _identity(t: TransparencyLogInstance) -> tuple[bytes, bytes]:
    return (t.public_key.raw_bytes, t.log_id)
