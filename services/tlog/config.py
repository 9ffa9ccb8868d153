"""The configuration keys every log service has (Rekor v1 and v2, the CT log), on top of the ones
every service has (``runtime.config.ServiceConfig``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigstack.services.runtime.config import ServiceConfig


@dataclass(frozen=True)
class LogConfig(ServiceConfig):
    database_url: str | None = None  # default: the data directory's SQLite file
    key_uri: str | None = None  # default: the data directory's key file
    batch_max: int = 256  # entries per transaction (and per signed head)
    batch_wait_ms: float = 2  # to wait for a batch to fill
    create: bool = False  # make the log if the database has none (the first start only)

    def batch_options(self) -> dict[str, Any]:
        """The engine's batching options (``open_log``)."""
        return {"batch_max": self.batch_max, "batch_wait": self.batch_wait_ms / 1000.0}
