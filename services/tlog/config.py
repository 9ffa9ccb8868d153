"""The configuration keys every log service has (Rekor v1 and v2, the CT log), on top of the ones
every service has (``runtime.config.ServiceConfig``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime.config import ServiceConfig


@dataclass(frozen=True)
class LogConfig(ServiceConfig):
    database_url: str | None = None  # default: the data directory's SQLite file
    key_uri: str | None = None  # default: the data directory's key file
    batch_max: int = 256  # entries per transaction (and per signed head)
    batch_wait_ms: float = 2  # to wait for a batch to fill
    create: bool = False  # make the log if the database has none (the first start only)

    def storage(self) -> tuple[str, str]:
        """(database URL, key URI): both set by ``serve.configure`` before any app opens the log."""
        if not self.database_url or not self.key_uri:
            raise ConfigError(f"the {self.SERVICE} log needs database_url and key_uri")
        return self.database_url, self.key_uri

    def batch_options(self) -> dict[str, Any]:
        """The engine's batching options (``open_log``)."""
        return {"batch_max": self.batch_max, "batch_wait": self.batch_wait_ms / 1000.0}
