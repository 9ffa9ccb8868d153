"""The CT log's configuration (docs/configuration.md, "sigstack serve ctlog")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sigstack.services.tlog.config import LogConfig


@dataclass(frozen=True)
class CTLogConfig(LogConfig):
    SERVICE: ClassVar[str] = "ctlog"

    roots_file: str | None = None  # PEM; every certificate in it is an accepted trust anchor
    max_body_bytes: int = 1 << 20
