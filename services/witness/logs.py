"""The logs a witness follows: origin -> the note verifiers of the log's key(s). Pure.

Two sources, both read once by the app factory:

* a log list in the witness-network ``logs/v0`` text form (C2SP/witness-network
  ``log-list-format.md``): a ``logs/v0`` header line, then per log a ``vkey <vkey>`` line followed
  by optional ``origin <origin>`` (default: the vkey's name), ``qpd <n>`` and ``contact <text>``
  lines; blank lines and ``#`` comments are ignored. The vkey is a C2SP signed-note verifier key:
  type 0x01 (Ed25519, ``<name>+<hex id>+base64(0x01 || key)``) or, as OmniWitness accepts for
  Rekor v1 logs, type 0x02 (ECDSA, ``base64(0x02 || DER SPKI)``, key ID SHA-256(SPKI)[:4]); read
  and written by ``protocol.vkeys``.
* a Sigstore ``trusted_root.json``: each ``tlogs`` entry whose ``logId`` is the rekor-tiles key ID
  of its key under the origin its ``baseUrl`` gives (the URL without its scheme, as rekor-monitor
  derives it), i.e. every Rekor v2 log. A Rekor v1 log's origin (``<host> - <tree ID>``) and
  signer name (``<host>``) cannot be read from a trusted root: list it with a type 0x02 vkey.

A witness never looks at key validity windows: a log key signs checkpoints for the life of the log.
``qpd`` is read and kept, not enforced (rate limits are left to the proxy in front).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sigstack.protocol import note, vkeys
from sigstack.protocol.errors import ConfigError, ValidationError

MAX_ORIGIN = 512  # witness_checkpoints.origin
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")
_VISIBLE = re.compile(r"[!-~]+")  # printable ASCII without spaces


@dataclass(frozen=True)
class Log:
    """One followed log: its origin and the verifiers of the keys that sign its checkpoints."""

    origin: str
    verifiers: tuple[note.NoteVerifier, ...]
    qpd: int | None = None
    source: str = ""

    def describe(self) -> str:
        keys = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in self.verifiers)
        return f"{self.origin} (key {keys}; from {self.source})"


@dataclass
class Logs:
    """Origin -> ``Log``; two sources naming one origin merge their keys."""

    by_origin: dict[str, Log] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # trusted-root entries not followed, and why

    def add(self, log: Log) -> None:
        known = self.by_origin.get(log.origin)
        if known is None:
            self.by_origin[log.origin] = log
            return
        ids = {(v.name, v.key_id) for v in known.verifiers}
        extra = tuple(v for v in log.verifiers if (v.name, v.key_id) not in ids)
        self.by_origin[log.origin] = Log(
            log.origin, known.verifiers + extra, known.qpd, f"{known.source}, {log.source}"
        )

    def get(self, origin: str) -> Log | None:
        return self.by_origin.get(origin)

    def __len__(self) -> int:
        return len(self.by_origin)

    def __iter__(self) -> Iterator[Log]:
        return iter(self.by_origin.values())


def check_origin(origin: str, where: str) -> str:
    if not origin or len(origin.encode()) > MAX_ORIGIN or "\n" in origin:
        raise ConfigError(f"{where}: an origin is one line of 1 to {MAX_ORIGIN} bytes")
    return origin


def parse_log_list(text: str, source: str = "log list") -> list[Log]:
    """The ``logs/v0`` list (module docstring); raises ``ConfigError`` naming the line."""
    logs: list[Log] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            verifier = current["verifier"]
            assert isinstance(verifier, note.NoteVerifier)
            origin = str(current.get("origin") or verifier.name)
            qpd = current.get("qpd")
            logs.append(Log(check_origin(origin, source), (verifier,),
                            qpd if isinstance(qpd, int) else None, source))  # fmt: skip

    lines = text.split("\n")
    header_seen = False
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source} line {number}"
        if not header_seen:
            if line != "logs/v0":
                raise ConfigError(f"{where}: a log list starts with the line 'logs/v0'")
            header_seen = True
            continue
        keyword, _, value = line.partition(" ")
        value = value.strip()
        if keyword == "vkey":
            close()
            try:
                current = {"verifier": vkeys.parse_log_vkey(value)}
            except ValidationError as exc:
                raise ConfigError(f"{where}: {exc.message}") from None
        elif current is None:
            raise ConfigError(f"{where}: {keyword!r} before any 'vkey' line")
        elif keyword == "origin":
            if "origin" in current:
                raise ConfigError(f"{where}: a second origin for one log")
            current["origin"] = check_origin(value, where)
        elif keyword == "qpd":
            if not re.fullmatch(r"[0-9]{1,12}", value):
                raise ConfigError(f"{where}: qpd takes a number of requests per day")
            current["qpd"] = int(value)
        elif keyword == "contact":
            continue
        else:
            raise ConfigError(f"{where}: unknown keyword {keyword[:40]!r}")
    if not header_seen:
        raise ConfigError(f"{source}: empty log list (it starts with the line 'logs/v0')")
    close()
    return logs


def origin_of_url(url: str) -> str:
    """rekor-monitor's (and rekor-tiles' client's) origin of a Rekor v2 URL: the scheme cut off."""
    origin = url.split("://", 1)[1] if "://" in url else url
    return origin.rstrip("/")


def logs_of_trusted_root(data: bytes, source: str = "trusted root") -> tuple[list[Log], list[str]]:
    """(logs followed, why the others are not) of a trusted root's ``tlogs``."""
    from sigstack.protocol.trust import TrustedRoot

    try:
        root = TrustedRoot.from_json(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {exc.message}") from None
    logs, skipped = [], []
    for tlog in root.tlogs:
        origin = origin_of_url(tlog.base_url)
        label = f"{tlog.base_url or '(no baseUrl)'}"
        if not origin or not _VISIBLE.fullmatch(origin) or "+" in origin:
            skipped.append(f"{label}: no origin can be read from its baseUrl")
            continue
        try:
            verifier = note.verifier_for_key(origin, tlog.public_key.raw_bytes)
            digest = note.note_key_digest(origin, verifier.public_key)
        except ValidationError as exc:
            skipped.append(f"{label}: {exc.message}")
            continue
        if digest != tlog.log_id:
            skipped.append(
                f"{label}: its logId is not the Rekor v2 key ID for origin {origin} (a Rekor v1 "
                "log, or a v2 log whose origin is not its URL: list it in a log list)"
            )
            continue
        logs.append(Log(check_origin(origin, source), (verifier,), None, source))
    return logs, skipped


def to_log_list(logs: Iterable[Log]) -> str:
    """The ``logs/v0`` text of ``logs`` (what another party's witness is given)."""
    out = ["logs/v0"]
    for log in logs:
        for verifier in log.verifiers:
            out.append(f"vkey {vkeys.format_vkey(verifier)}")
            if log.origin != verifier.name:
                out.append(f"origin {log.origin}")
    return "\n".join(out) + "\n"


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc.strerror}") from None


def load_logs(files: object = (), trusted_root: str | None = None) -> Logs:
    """The logs of the configuration keys ``logs`` (log list files: a path or a list of paths)
    and ``trusted_root`` (a trusted_root.json path)."""
    found = Logs()
    files = files or []
    paths = [files] if isinstance(files, str | Path) else files
    if not isinstance(paths, list | tuple):
        raise ConfigError("logs: give a log list file, or a list of them")
    for path in paths:
        raw = _read(path, "log list")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"the log list {path} is not UTF-8 text") from None
        for log in parse_log_list(text, str(path)):
            found.add(log)
    if trusted_root:
        root = str(trusted_root)
        logs, skipped = logs_of_trusted_root(_read(root, "trusted root"), root)
        for log in logs:
            found.add(log)
        found.skipped.extend(skipped)
    return found
