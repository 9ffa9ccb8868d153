"""The mirror service's configuration (docs/mirror.md, "Air-gapped side: serving")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sigstack.services.runtime.config import ServiceConfig


@dataclass(frozen=True)
class MirrorConfig(ServiceConfig):
    SERVICE: ClassVar[str] = "mirror"

    dir: str = ""  # the mirror directory (the one holding `current`), made by `sigstack mirror`
    max_body_bytes: int = 1 << 10  # read-only: no request has a body worth reading
