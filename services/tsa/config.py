"""The TSA's configuration (docs/configuration.md, "sigstack serve tsa").

The policy keys (``default_policy_oid``, ``accepted_policy_oids``, ``include_chain_in_response``,
``accuracy_seconds``) are checked, with their own messages, by ``authority.Options``, built from
them at start (``TSAConfig.options``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from sigstack.services.runtime.config import ServiceConfig

from .authority import SIGSTORE_POLICY, Options


@dataclass(frozen=True)
class TSAConfig(ServiceConfig):
    SERVICE: ClassVar[str] = "tsa"

    key_uri: str | None = None  # the leaf's signer URI: file: or pkcs11:
    chain_file: str | None = None  # PEM, leaf first, root last
    default_policy_oid: Any = SIGSTORE_POLICY
    accepted_policy_oids: Any = None  # None: the default policy only
    include_chain_in_response: Any = False
    accuracy_seconds: Any = 1
    max_body_bytes: int = 1 << 20  # upstream's --max-request-body-size; over 1 KiB gets 400

    def options(self) -> Options:
        return Options.from_config(dataclasses.asdict(self))
