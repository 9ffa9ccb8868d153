"""The configured connectors, built once from the ``connectors`` and ``local_accounts`` keys
(docs/oidc.md, "Connectors"), in the order the login page shows them.

Each entry names its ``type`` (``oidc`` or ``ldap``), an ``id`` (lower case, unique; it appears
in URLs and in tokens' ``federated_claims.connector_id``) and a ``name`` for people. Everything
is checked here, before a worker starts: a bad entry stops the issuer with a ``ConfigError``
naming it. The local accounts are the ``local`` method on the login page unless switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigstack.protocol.errors import ConfigError

from ..config import OIDCConfig
from .base import LOCAL, Connector, PasswordConnector, RedirectConnector, check_id
from .options import Options, entries


@dataclass(frozen=True)
class Method:
    """A way to sign in, as the login page offers it: ``kind`` is ``password`` (local accounts,
    LDAP) or ``redirect`` (an OpenID Connect provider)."""

    id: str
    name: str
    kind: str


def _ldap(connector_id: str, name: str, opts: Options, _issuer: str) -> Connector:
    from .ldap import LDAPConnector  # ldap3 is loaded only when a directory is configured

    return LDAPConnector.from_options(connector_id, name, opts)


def _oidc(connector_id: str, name: str, opts: Options, issuer: str) -> Connector:
    from .oidc import OIDCConnector

    return OIDCConnector.from_options(connector_id, name, opts, issuer)


_TYPES: dict[str, Callable[[str, str, Options, str], Connector]] = {"ldap": _ldap, "oidc": _oidc}


class Registry:
    def __init__(self, connectors: tuple[Connector, ...], local_accounts: bool) -> None:
        self.connectors = connectors
        self.local_accounts = local_accounts
        self._by_id = {c.id: c for c in connectors}

    @classmethod
    def from_config(cls, config: OIDCConfig) -> Registry:
        connectors: list[Connector] = []
        for index, raw in enumerate(entries(config.connectors, "connectors", "connector objects")):
            opts = Options(raw, f"connectors[{index}]")
            kind = opts.text("type")
            if kind not in _TYPES:
                raise ConfigError(f"{opts.name('type')} must be one of {', '.join(sorted(_TYPES))}")
            connector_id = check_id(opts.text("id"), opts.name("id"))
            if any(c.id == connector_id for c in connectors):
                raise ConfigError(f"{opts.name('id')}: {connector_id!r} is used twice")
            name = opts.text("name", connector_id)
            connectors.append(_TYPES[kind](connector_id, name, opts, config.issuer_url or ""))
            opts.done()
        return cls(tuple(connectors), config.local_accounts)

    def get(self, connector_id: str) -> Connector | None:
        return self._by_id.get(connector_id)

    def password(self, connector_id: str) -> PasswordConnector | None:
        found = self._by_id.get(connector_id)
        return found if isinstance(found, PasswordConnector) else None

    def redirect(self, connector_id: str) -> RedirectConnector | None:
        found = self._by_id.get(connector_id)
        return found if isinstance(found, RedirectConnector) else None

    def methods(self) -> list[Method]:
        """The ways to sign in, local accounts last (when on)."""
        out = [Method(c.id, c.name, c.KIND) for c in self.connectors]
        if self.local_accounts:
            out.append(Method(LOCAL, "Account on this issuer", "password"))
        return out

    def method(self, method_id: str) -> Method | None:
        return next((m for m in self.methods() if m.id == method_id), None)
