"""Configuration loaded once, in the app factory: defaults, then a JSON file, then environment.

Environment variables are named ``<PREFIX>_<KEY>`` in upper case (``SIGSTACK_REKOR_MAX_BODY_BYTES``);
values are parsed as JSON when they parse, else taken as strings. Core code receives the resulting
dict and never reads ``os.environ`` itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
