"""The OIDC issuer's configuration (docs/oidc.md, "Configuration keys"; docs/configuration.md).

Loaded once by ``serve`` (and the admin CLI); the issuer's policy (``issuer.Settings``) is built
from it, with the ranges of the lifetimes and limits checked there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sigstack.services.runtime.config import ServiceConfig


@dataclass(frozen=True)
class OIDCConfig(ServiceConfig):
    SERVICE: ClassVar[str] = "oidc"

    issuer_url: str | None = None  # default: http://HOST:PORT of `sigstack serve oidc`
    data_dir: str | None = None
    database_url: str | None = None  # default: sqlite:///DATA_DIR/oidc.db
    signing_alg: str = "RS256"  # or ES256; used for new keys (first key and rotations)
    client_id: str = "sigstore"
    token_lifetime: int = 600
    code_lifetime: int = 120
    device_code_lifetime: int = 300
    device_poll_interval: int = 5
    login_max_failures: int = 5
    login_ip_max_failures: int = 50
    login_window_seconds: int = 900  # a series of failures is forgotten after this quiet time
    login_backoff_seconds: int = 30  # first wait after the free failures; doubles each time
    login_lockout_seconds: int = 900  # the longest wait
    service_account_domain: str = "serviceaccounts.sigstack.internal"
    service_account_audiences: Any = ("sigstore",)  # a list, or a comma-separated string
    service_account_default_audience: str = "sigstore"
    proxy_fix_x_for: int = 0  # number of trusted reverse proxies setting X-Forwarded-For
    # sign-in through the organisation's identity provider (docs/oidc.md, "Connectors"): a list
    # of {"type": "oidc"|"ldap", "id", "name", ...}, checked by connectors.registry
    connectors: Any = ()
    local_accounts: bool = True  # false: people sign in through connectors only
    max_body_bytes: int = 65536
    # RFC 8693 token exchange: trusted outside issuers and their rules (docs/oidc.md); a list
    token_exchange: Any = ()
