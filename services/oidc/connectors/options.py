"""Reading one connector's entry of the ``connectors`` configuration key, each value checked for
its type and refused with a ``ConfigError`` that names it (``connectors[1].url``), and unknown
keys refused too: a misspelt security option (``start_tsl``) must not be ignored silently.

Secrets (an OIDC client secret, an LDAP bind password) come inline or, better, from a file
(``client_secret_file``); they are never part of an error message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sigstack.protocol.errors import ConfigError


def entries(raw: Any, key: str, items: str) -> list[Any]:
    """The configuration key ``key``: a list of ``items`` (JSON objects, each read with
    ``Options``), or that list as JSON text (from an environment variable)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"{key} must be a list of {items}; as text, a JSON list") from exc
    if isinstance(raw, Mapping) or not isinstance(raw, list | tuple):
        raise ConfigError(f"{key} must be a list of {items}")
    return list(raw)


class Options:
    """The entry ``raw`` at ``where`` (``connectors[N]``); ``done()`` refuses keys not read."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be an object")
        self.raw: Mapping[str, Any] = raw
        self.where = where
        self._read: set[str] = set()

    def _get(self, key: str) -> Any:
        self._read.add(key)
        return self.raw.get(key)

    def name(self, key: str) -> str:
        return f"{self.where}.{key}"

    def text(self, key: str, default: str | None = None) -> str:
        value = self._get(key)
        if value is None:
            if default is None:
                raise ConfigError(f"{self.name(key)} is required")
            return default
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.name(key)} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.name(key)} must be a non-empty string")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self.name(key)} must be true or false")
        return value

    def seconds(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(key)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise ConfigError(f"{self.name(key)} must be a number of seconds from {low} to {high}")
        return float(value)

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.name(key)} must be a list of strings")
        return tuple(value)

    def issuer(self, key: str, must_be: str) -> str:
        """An OpenID Connect issuer URL: http(s), a host, no query, fragment or user name
        (OpenID Connect Discovery 1.0 section 3); refused as "``key`` must be ``must_be``"."""
        url = self.text(key)
        parts = urlsplit(url)
        if (
            parts.scheme not in ("https", "http")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise ConfigError(f"{self.name(key)} must be {must_be}")
        return url

    def file(self, key: str) -> str | None:
        """A path that must name a readable file (a CA bundle)."""
        path = self.optional_text(key)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{self.name(key)}: {path} is not a readable file")
        return path

    def secret(self, key: str) -> str | None:
        """``key`` inline, or the first line of the file ``<key>_file``; not both."""
        inline, path = self._get(key), self.optional_text(f"{key}_file")
        if inline is not None and path is not None:
            raise ConfigError(f"{self.where}: set {key} or {key}_file, not both")
        if path is not None:
            try:
                lines = Path(path).read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"{self.name(key + '_file')}: cannot read {path}") from exc
            value = lines[0] if lines else ""
            if not value:
                raise ConfigError(f"{self.name(key + '_file')}: {path} is empty")
            return value
        if inline is None:
            return None
        if not isinstance(inline, str) or not inline:
            raise ConfigError(f"{self.name(key)} must be a non-empty string")
        return inline

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._read)
        if unknown:
            raise ConfigError(f"{self.where} has unknown keys: {', '.join(unknown)}")
