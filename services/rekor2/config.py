"""The Rekor v2 log's configuration (docs/configuration.md, "sigstack serve rekor2")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sigstack.services.tlog.config import WitnessedLogConfig


@dataclass(frozen=True)
class Rekor2Config(WitnessedLogConfig):
    SERVICE: ClassVar[str] = "rekor2"

    origin: str | None = None  # resolved by serve.configure: given, the database's, or HOST:PORT
    key_algorithm: str = "ed25519"  # of the key a new data directory gets
    signing_algorithms: str = ""  # keyDetails accepted in entries; "" = every one entries has
    max_body_bytes: int = 4 << 20
    trusted_ca_file: str | None = None  # PEM CA certs: if set, only entries they certify
