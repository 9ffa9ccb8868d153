"""Build a Sigstore ``SigningConfig`` v0.2 (``signing_config.v0.2.json``): pure, no I/O.

``build_signing_config`` writes it from service URLs or ``Service`` entries (``service``;
``parse_service`` reads cosign's ``url=...,api-version=N,start-time=...,end-time=...,operator=...``
form). The trusted root it travels with is built by ``trustroot``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sigstack.protocol.errors import ValidationError

from .trustroot import parse_time, valid_for

SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"


def service(
    url: str,
    operator: str,
    *,
    start: datetime,
    api_version: int = 1,
    end: datetime | None = None,
) -> dict[str, Any]:
    """A signing-config ``Service`` entry (``operator`` is required by sigstore-python)."""
    if api_version < 1:
        raise ValidationError("a service's API version is at least 1")
    return {
        "url": url.rstrip("/"),
        "majorApiVersion": api_version,
        "validFor": valid_for(start, end),
        "operator": operator,
    }


SERVICE_KEYS = ("url", "api-version", "start-time", "end-time", "operator")


def parse_service(
    text: str, operator: str, *, start: datetime, api_version: int = 1
) -> dict[str, Any]:
    """A ``Service`` from a plain URL, or from cosign's ``signing-config create`` form
    ``url=URL[,api-version=N][,start-time=RFC3339][,end-time=RFC3339][,operator=NAME]``; what the
    text leaves out comes from the arguments."""
    if "=" not in text.split(",", 1)[0]:
        return service(text, operator, start=start, api_version=api_version)
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in SERVICE_KEYS:
            raise ValidationError(
                f"{part!r} in {text!r}: expected KEY=VALUE with KEY one of {', '.join(SERVICE_KEYS)}"
            )
        if key in fields:
            raise ValidationError(f"{key} is given twice in {text!r}")
        fields[key] = value.strip()
    if not fields.get("url"):
        raise ValidationError(f"{text!r} names no url=")
    version = api_version
    if "api-version" in fields:
        try:
            version = int(fields["api-version"])
        except ValueError:
            raise ValidationError(f"api-version in {text!r} is not a number") from None
    return service(
        fields["url"],
        fields.get("operator", operator),
        start=parse_time(fields["start-time"]) if "start-time" in fields else start,
        api_version=version,
        end=parse_time(fields["end-time"]) if "end-time" in fields else None,
    )


ServiceRef = str | Mapping[str, Any]


def _services(
    refs: Sequence[ServiceRef], operator: str, start: datetime, version: int
) -> list[dict[str, Any]]:
    return [
        dict(r)
        if isinstance(r, Mapping)
        else service(r, operator, start=start, api_version=version)
        for r in refs
    ]


def build_signing_config(
    *,
    ca_urls: Sequence[ServiceRef],
    oidc_urls: Sequence[ServiceRef],
    rekor_urls: Sequence[ServiceRef],
    tsa_urls: Sequence[ServiceRef] = (),
    rekor_v2_urls: Sequence[ServiceRef] = (),
    operator: str,
    valid_from: datetime,
) -> dict[str, Any]:
    """``signing_config.v0.2.json``: Fulcio API v1, OIDC, Rekor API v1 and v2, TSA.

    Each list holds URLs (a window from ``valid_from``, ``operator``, API version 1 — 2 for
    ``rekor_v2_urls``) or ready ``Service`` entries (``service``, ``parse_service``). CA, OIDC and
    Rekor URLs are base URLs; TSA URLs name the timestamp endpoint itself
    (``.../api/v1/timestamp``). Selectors are ``ANY`` as in Sigstore's public configuration; a
    client picks, per operator, the Rekor with the highest API version it speaks.
    """
    if not ca_urls or not (rekor_urls or rekor_v2_urls):
        raise ValidationError("a signing config needs at least one CA URL and one Rekor URL")
    rekors = _services(rekor_v2_urls, operator, valid_from, 2)
    rekors += _services(rekor_urls, operator, valid_from, 1)
    return {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": _services(ca_urls, operator, valid_from, 1),
        "oidcUrls": _services(oidc_urls, operator, valid_from, 1),
        "rekorTlogUrls": rekors,
        "tsaUrls": _services(tsa_urls, operator, valid_from, 1),
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }
