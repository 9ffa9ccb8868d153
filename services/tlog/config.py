"""The configuration keys every log service has (Rekor v1 and v2, the CT log), on top of the ones
every service has (``runtime.config.ServiceConfig``), and those of a log whose checkpoints are
signed notes that witnesses can cosign (``WitnessedLogConfig``: Rekor v1 and v2; docs/witness.md,
"Our logs call their witnesses")."""

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


@dataclass(frozen=True)
class WitnessedLogConfig(LogConfig):
    witness_policy: str | None = None  # a C2SP tlog-policy file: witnesses (with URLs), quorum
    witness_fail_closed: bool = False  # no quorum: publish nothing (else publish uncosigned)
    witness_timeout: float = 5  # seconds per request to a witness
    witness_wait: float = 30  # seconds a writer waits for a checkpoint with its entry (then 503)

    def witness_options(self, log_name: str) -> dict[str, Any]:
        """The engine's options for witnessing (``open_log``): none without a policy."""
        if not self.witness_policy:
            return {}
        if self.witness_timeout <= 0 or self.witness_wait <= 0:
            raise ConfigError("witness_timeout and witness_wait must be positive")
        from .witnessing import Witnesses, load_policy  # prometheus_client: not before the fork

        witnesses = Witnesses(load_policy(self.witness_policy), log_name,
                              fail_open=not self.witness_fail_closed,
                              timeout=self.witness_timeout)  # fmt: skip
        return {"cosign": witnesses.cosign, "append_timeout": self.witness_wait}
