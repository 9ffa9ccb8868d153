"""The witness's configuration (docs/witness.md, "Running a witness").

``name`` is worked out by ``serve.configure`` (given, the data directory's, or ``HOST:PORT``), as
are ``key_uri`` and ``database_url`` for a data directory; ``logs`` and ``trusted_root`` are read
by ``logs.load_logs``, which checks them with its own messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sigstack.services.runtime.config import ServiceConfig


@dataclass(frozen=True)
class WitnessConfig(ServiceConfig):
    SERVICE: ClassVar[str] = "witness"

    name: str | None = None  # the cosigner name, the data directory's for life
    key_uri: str | None = None  # an Ed25519 key behind services.keys
    database_url: str | None = None  # the witness_checkpoints table
    logs: Any = ()  # log list files (logs/v0): a path or a list of them
    trusted_root: str | None = None  # follow the Rekor v2 logs of this trusted_root.json too
    max_body_bytes: int = 64 << 10  # a checkpoint, 63 proof lines and room for many signatures
