"""The Rekor v1 log's configuration (docs/configuration.md, "sigstack serve rekor")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sigstack.services.tlog.config import WitnessedLogConfig


@dataclass(frozen=True)
class RekorConfig(WitnessedLogConfig):
    SERVICE: ClassVar[str] = "rekor"

    hostname: str | None = None  # checkpoint origin host; keep it stable for the life of the log
    max_body_bytes: int = 4 << 20
    trusted_ca_file: str | None = None  # PEM CA certs: if set, only entries they certify
