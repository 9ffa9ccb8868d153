"""What every connector is: a way to sign in at the organisation's identity provider, turned into
an ``Upstream`` identity (docs/oidc.md, "Connectors"; issue 16).

Two kinds, by how the person signs in:

- ``PasswordConnector`` (LDAP): the issuer's own login form takes the username and password and
  the connector checks them upstream (``authenticate``). The issuer throttles the attempts first,
  exactly as for local accounts (login.py).
- ``RedirectConnector`` (OpenID Connect): the browser goes to the upstream provider (``start``) and
  comes back to the issuer's fixed ``{issuer}/callback`` with a code (``finish``).

Connectors hold configuration only: one object serves every thread of a worker. What a redirect
sign-in needs between ``start`` and ``finish`` (state, nonce, PKCE verifier) is handed to the
caller, which keeps it in the database bound to the browser (federation.py, signin.py).

An ``Upstream`` is the connector's answer: the upstream's immutable subject, a verified email
address (the signing certificate's identity), a name for the audit log and the groups. The issuer
gives it a ``sub`` of its own (federation.py) before any token is minted. Refusals are the error
tree's: ``AuthenticationError`` (wrong name or password), ``UnavailableError`` (the upstream cannot
be reached), ``VerificationError`` (an upstream answer that fails a check); each message is safe to
show on the login page, the detail goes to the log.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from sigstack.protocol.errors import ConfigError, VerificationError

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
LOCAL = "local"  # the id of the issuer's own accounts on the login page; no connector may take it
MAX_GROUPS = 256
MAX_GROUP_LENGTH = 256
MAX_SUBJECT_LENGTH = 255
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,253}$")


@dataclass(frozen=True)
class Upstream:
    """A person as the upstream provider vouched for them."""

    connector: str
    subject: str  # the upstream's immutable id: an OIDC ``sub``, an LDAP ``entryUUID``
    email: str  # verified: the signing certificate's identity
    name: str  # the upstream's user name, for the audit log and pages
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Started:
    """A redirect sign-in begun: send the browser to ``url``; keep the rest, bound to the browser,
    until the callback."""

    url: str
    state: str
    nonce: str
    verifier: str


class Connector(ABC):
    """One configured connector: its ``id`` (in URLs and tokens), the ``name`` people see."""

    KIND: ClassVar[str]

    def __init__(self, connector_id: str, name: str) -> None:
        self.id = connector_id
        self.name = name


class PasswordConnector(Connector):
    KIND: ClassVar[str] = "password"

    @abstractmethod
    def authenticate(self, username: str, password: str) -> Upstream:
        """The person behind ``username`` if ``password`` is theirs; else raise (module doc)."""


class RedirectConnector(Connector):
    KIND: ClassVar[str] = "redirect"

    @abstractmethod
    def start(self, redirect_uri: str) -> Started:
        """Begin a sign-in that comes back to ``redirect_uri``."""

    @abstractmethod
    def finish(
        self, params: Mapping[str, str], *, redirect_uri: str, nonce: str, verifier: str
    ) -> Upstream:
        """The person behind the callback's ``params`` (its ``state`` checked by the caller)."""


def check_email(value: object, where: str) -> str:
    """``value`` as an email address fit for a certificate, or ``VerificationError``."""
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise VerificationError(f"{where} gave no usable email address")
    return value


def check_subject(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_SUBJECT_LENGTH:
        raise VerificationError(f"{where} gave no usable subject")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise VerificationError(f"{where} gave no usable subject")
    return value


def clean_groups(values: Iterable[object]) -> tuple[str, ...]:
    """The group names among ``values``: strings only, without control characters, sorted,
    at most ``MAX_GROUPS`` of at most ``MAX_GROUP_LENGTH`` characters."""
    names = {
        v
        for v in values
        if isinstance(v, str)
        and 0 < len(v) <= MAX_GROUP_LENGTH
        and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in v)
    }
    return tuple(sorted(names)[:MAX_GROUPS])


def check_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ConfigError(
            f"{where}: a connector id is 1-64 lower-case letters, digits, '.', '_' or '-'"
        )
    if value == LOCAL:
        raise ConfigError(f"{where}: the id {LOCAL!r} names the local accounts")
    return value
