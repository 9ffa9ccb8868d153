"""Shard rotation in the trust documents: closing a log's (or CA's) validity window, and moving a
signing-config service to a new URL (docs/rotating-keys.md, "Rotating a log shard").

A log shard is replaced by a new log with a new key, origin and URL. ``trustroot.rotate`` adds the
new log (a different ``baseUrl`` closes nothing); ``end_window`` closes the old log's window once
it is frozen, at its freeze time, so that the trusted root says exactly when entries could be
made under it; ``rotate_service`` ends the old URL's window in the signing config and puts the new
URL first, so that clients write to the new shard from their next refresh. Pure functions: the
documents in, new documents out (copies); the TUF repository publishes them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sigstack.protocol.errors import ValidationError

from .trustroot import KINDS, rfc3339

# signing-config services by the name the commands give them: (field, majorApiVersion or None)
SERVICES: dict[str, tuple[str, int | None]] = {
    "rekor": ("rekorTlogUrls", 1),
    "rekor2": ("rekorTlogUrls", 2),
    "ca": ("caUrls", None),
    "oidc": ("oidcUrls", None),
    "tsa": ("tsaUrls", None),
}


def _window(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    holder = entry.setdefault("publicKey", {}) if kind in ("tlogs", "ctlogs") else entry
    window: dict[str, Any] = holder.setdefault("validFor", {})
    return window


def _url(kind: str, entry: Mapping[str, Any]) -> Any:
    return entry.get("baseUrl") if kind in ("tlogs", "ctlogs") else entry.get("uri")


def _close(window: dict[str, Any], at: datetime, what: str) -> None:
    end = rfc3339(at)
    if window.get("start", end) > end:
        raise ValidationError(f"{what}'s window starts after {end}")
    window["end"] = end


def end_window(
    trusted_root: Mapping[str, Any],
    kind: str,
    url: str,
    at: datetime,
    *,
    raw_key: str | None = None,
) -> dict[str, Any]:
    """A copy of ``trusted_root`` in which the open window of the ``kind`` entry at ``url``
    (``baseUrl`` of a log, ``uri`` of a CA or TSA) ends at ``at``. ``raw_key`` (the base64 DER key
    of a log) picks one when several open entries share the URL. Exactly one entry must match;
    an entry whose window is closed already is left as it is."""
    if kind not in KINDS:
        raise ValidationError(f"unknown trusted root section {kind!r}; one of {', '.join(KINDS)}")
    result = copy.deepcopy(dict(trusted_root))
    wanted = url.rstrip("/")
    matches = [
        e
        for e in result.get(kind, [])
        if str(_url(kind, e) or "").rstrip("/") == wanted
        and "end" not in _window(kind, e)
        and (raw_key is None or e.get("publicKey", {}).get("rawBytes") == raw_key)
    ]
    if not matches:
        raise ValidationError(f"{kind} holds no entry for {url} with an open window")
    if len(matches) > 1:
        raise ValidationError(f"{kind} holds several open entries for {url}: name the key")
    _close(_window(kind, matches[0]), at, f"the {kind} entry for {url}")
    return result


def rotate_service(
    signing_config: Mapping[str, Any],
    name: str,
    url: str,
    replaces: str,
    at: datetime,
    *,
    operator: str | None = None,
) -> dict[str, Any]:
    """A copy of ``signing_config`` in which the open ``name`` service at ``replaces`` ends at
    ``at`` and a service at ``url`` starts then, listed first (clients take the first valid one).
    The new service keeps the old one's operator and API version unless told otherwise."""
    if name not in SERVICES:
        raise ValidationError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    field, version = SERVICES[name]
    result = copy.deepcopy(dict(signing_config))
    services: list[dict[str, Any]] = result.setdefault(field, [])
    old = replaces.rstrip("/")
    replaced = [
        s
        for s in services
        if str(s.get("url", "")).rstrip("/") == old
        and "end" not in s.get("validFor", {})
        and (version is None or s.get("majorApiVersion") == version)
    ]
    if not replaced:
        raise ValidationError(f"{field} holds no {name} service at {replaces} with an open window")
    if any(str(s.get("url", "")).rstrip("/") == url.rstrip("/") for s in services):
        raise ValidationError(f"{field} lists {url} already")
    for s in replaced:
        _close(s.setdefault("validFor", {}), at, f"the service at {replaces}")
    fresh = {
        "url": url.rstrip("/"),
        "majorApiVersion": version or replaced[0].get("majorApiVersion", 1),
        "validFor": {"start": rfc3339(at)},
        "operator": operator if operator is not None else replaced[0].get("operator", ""),
    }
    services.insert(0, fresh)
    return result
