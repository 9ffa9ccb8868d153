"""Configuration loaded once, at start: defaults, then a JSON file, then environment, then flags.

Each service has one typed, frozen configuration class (``ServiceConfig`` subclasses: a field per
key, its default the built-in one), loaded once by ``ServiceConfig.load`` in the service's
``serve`` module and handed to its app factory. Environment variables are named
``SIGSTACK_<SERVICE>_<KEY>`` in upper case (``SIGSTACK_REKOR_MAX_BODY_BYTES``); values are parsed
as JSON when they parse, else taken as strings; flags that were given override the rest. A value
of the wrong type is refused with ``ConfigError`` naming the key; keys the class does not have are
ignored, as they always were (a file may hold other tools' keys). Core code receives the typed
object and never reads ``os.environ`` itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

from sigstack.protocol.errors import ConfigError


def load_config(
    defaults: Mapping[str, Any],
    *,
    file: str | Path | None = None,
    env_prefix: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults, a JSON config file, ``PREFIX_*`` environment variables and explicit overrides."""
    config = dict(defaults)
    if file:
        try:
            loaded = json.loads(Path(file).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read configuration file {file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"configuration file {file} must hold a JSON object")
        config.update(loaded)
    if env_prefix:
        env = os.environ if environ is None else environ
        prefix = env_prefix.upper() + "_"
        for name, raw in env.items():
            if name.startswith(prefix):
                key = name[len(prefix) :].lower()
                try:
                    config[key] = json.loads(raw)
                except ValueError:
                    config[key] = raw
    if overrides:
        config.update({k: v for k, v in overrides.items() if v is not None})
    return config


def _whole(key: str, value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number, not {str(value)[:32]!r}")
    return value


def _number(key: str, value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, not {str(value)[:32]!r}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {str(value)[:32]!r}")
    return value


def _text(key: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise ConfigError(f"{key} must be a string, not a JSON {type(value).__name__}")
    return str(value)


# Field type (as written in the class) -> conversion; ``| None`` fields take None as well. Other
# types (``Any``: a list or a string the service's core checks) are taken as they are.
_CONVERT = {"int": _whole, "float": _number, "bool": _boolean, "str": _text}


@dataclasses.dataclass(frozen=True)
class ServiceConfig:
    """The keys every service has: the HTTP server's limits (docs/configuration.md, "HTTP
    server"), the request body cap, and the instance id ``sigstack up`` gives its children."""

    SERVICE: ClassVar[str] = ""  # names the environment variables: SIGSTACK_<SERVICE>_<KEY>

    max_body_bytes: int = 1 << 20
    instance: str | None = None
    http_header_timeout: float = 10
    http_body_timeout: float = 15
    http_max_connections: int = 256
    http_graceful_timeout: int = 10

    @classmethod
    def env_prefix(cls) -> str:
        return f"SIGSTACK_{cls.SERVICE.upper()}"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every key and its built-in default."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    @classmethod
    def load(
        cls,
        *,
        file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
    ) -> Self:
        """Defaults, then ``file``, then ``SIGSTACK_<SERVICE>_*``, then the ``flags`` given."""
        merged = load_config(cls.defaults(), file=file, env_prefix=cls.env_prefix(),
                             overrides=flags, environ=environ)  # fmt: skip
        return cls.from_mapping(merged)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Self:
        """The configuration of ``raw``'s keys (the others keep their defaults), each value
        converted to its field's type or refused with ``ConfigError``."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in raw:
                continue
            value, hint = raw[field.name], hints[field.name]
            optional = False
            if typing.get_origin(hint) in (types.UnionType, typing.Union):
                args = typing.get_args(hint)
                optional = type(None) in args
                hint = next(a for a in args if a is not type(None))
            convert = _CONVERT.get(hint.__name__) if isinstance(hint, type) else None
            if value is None and optional:
                values[field.name] = None
            elif convert is not None:
                values[field.name] = convert(field.name, value)
            else:
                values[field.name] = value
        return cls(**values)

    def with_values(self, **changes: Any) -> Self:
        """A copy with ``changes`` (worked out at start: a data directory's key, a default)."""
        return dataclasses.replace(self, **changes)


__all__ = ["ServiceConfig", "load_config"]
