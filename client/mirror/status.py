"""What a mirror holds, read from its live generation (``sigstack mirror status``): the trust it
keeps (TUF versions and the timestamp's expiry, which bounds how long clients can refresh from
the mirror), and per log its origin, log ID, size, root and checkpoint. The JSON form is also
what ``sigstack mirror export --since`` reads, and what a monitor's configuration needs
(``monitor_config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigstack.protocol import note
from sigstack.protocol.errors import ValidationError

from .layout import MirrorDir
from .tufrepo import root_versions


def describe(directory: str | Path) -> dict[str, Any]:
    mirror = MirrorDir(directory)
    gen, manifest = mirror.require()
    doc: dict[str, Any] = {"dir": str(mirror.root), "generation": gen.name,
                           "updated": manifest.updated, "trust": manifest.trust}  # fmt: skip
    if manifest.trust == "tuf":
        doc["tuf"] = _tuf(gen / "tuf") | {"url": manifest.tuf_url}
    logs = []
    for record in manifest.logs:
        checkpoint = gen / "log" / record.name / "checkpoint"
        text = checkpoint.read_text() if checkpoint.is_file() else None
        logs.append(record.to_json() | {"checkpoint": text})
    doc["logs"] = logs
    return doc


def _tuf(tuf: Path) -> dict[str, Any]:
    from tuf.api.metadata import Metadata

    versions = root_versions(tuf)
    out: dict[str, Any] = {"root_versions": versions}
    try:
        ts: Any = Metadata.from_bytes((tuf / "timestamp.json").read_bytes()).signed
        out |= {"timestamp_version": ts.version,
                "timestamp_expires": ts.expires.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        out["timestamp_version"] = None
    return out


def render(doc: dict[str, Any]) -> str:
    lines = [f"mirror {doc['dir']} ({doc['generation']}, updated {doc['updated']})"]
    if doc["trust"] == "tuf":
        tuf = doc["tuf"]
        roots = tuf["root_versions"]
        lines.append(f"  TUF: root v{roots[0] if roots else '?'}..v{roots[-1] if roots else '?'}, "
                     f"timestamp v{tuf.get('timestamp_version')} expires "
                     f"{tuf.get('timestamp_expires')} (from {tuf.get('url') or 'import'})")  # fmt: skip
    else:
        lines.append("  trust: trust/trusted_root.json (given by hand)")
    for log in doc["logs"]:
        lines.append(f"  log {log['name']}: origin {log['origin']}, size {log['size']}, root "
                     f"{log['root'][:16]}..., log ID {log['log_id'][:16]}..., from "
                     f"{log['url'] or 'import'}")  # fmt: skip
    return "\n".join(lines)


def flavour(log: dict[str, Any]) -> str | None:
    """How the log signs its checkpoints: ``c2sp`` (key name = origin, as Rekor v2), ``rekor``
    (Rekor v1: key name = the host, origin ``<host> - <tree ID>``; the mirror verified it by key
    ID, as the monitor's ``rekor`` logs do), or None (no checkpoint held)."""
    try:
        signed = note.SignedNote.from_text(log["checkpoint"] or "")
    except ValidationError:
        return None
    return "c2sp" if any(s.name == log["origin"] for s in signed.signatures) else "rekor"


def monitor_config(doc: dict[str, Any], url: str) -> dict[str, Any]:
    """A ``sigstack monitor`` configuration following the mirrored logs at ``url`` (where the
    mirror is served), each by its log ID and origin: a mirrored log is not at its ``baseUrl``.
    C2SP logs are ``tiles`` logs; Rekor v1 logs are ``rekor`` logs read without their v1 API,
    which a mirror does not serve (``head`` and ``entries`` from the tiles). Logs without a
    checkpoint are left out."""
    base = url.rstrip("/")
    logs = []
    for log in doc["logs"]:
        kind = flavour(log)
        if kind is None:
            continue
        spec = {"name": log["name"], "type": "tiles" if kind == "c2sp" else "rekor",
                "url": f"{base}/log/{log['name']}", "log_id": log["log_id"],
                "origin": log["origin"]}  # fmt: skip
        if kind == "rekor":
            spec |= {"head": "checkpoint", "entries": "tiles"}
        logs.append(spec)
    return {"logs": logs}
