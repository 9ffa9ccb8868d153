"""The TUF mirror's configuration (docs/configuration.md, "sigstack serve tuf")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sigstack.services.runtime.config import ServiceConfig


@dataclass(frozen=True)
class TUFConfig(ServiceConfig):
    SERVICE: ClassVar[str] = "tuf"

    data_dir: str = "./data/tuf"  # the repository `sigstack tuf init` made
    resign_margin_seconds: float | None = None  # None: the repository's own (repo.json)
