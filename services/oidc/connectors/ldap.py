"""Sign-in against an LDAP directory (RFC 4511 simple bind) with ``ldap3`` (docs/oidc.md,
"Connectors: LDAP").

A sign-in is: connect (LDAPS, or StartTLS before anything is sent; plain LDAP only with
``insecure_plain``), bind with the search account (or anonymously), find exactly one entry with
``(&<user_filter>(<username_attribute>=<name>))``, bind as that entry's DN with the password,
refuse an entry matching ``disabled_filter``, then read the groups with
``(&<group_filter>(<group_member_attribute>=<the entry's DN or attribute>))``. Directories without
a search account use ``user_dn_template`` instead: the issuer binds as the DN built from the name
and reads the entry as that user.

What keeps it safe:
- every value put into a filter is escaped (RFC 4515 section 3, ``escape_filter_chars``) and the
  name put into a DN template is escaped as an RDN value (RFC 4514 section 2.4), so a name such as
  ``*)(uid=*`` matches nothing but itself;
- an empty password is refused before the directory is asked (RFC 4513 section 5.1.2: a simple bind
  with a DN and no password is an *unauthenticated* bind, which many servers let succeed);
- TLS always verifies the certificate chain (``ca_file`` or the system's CAs) and the host name,
  with TLS 1.2 at least; referrals are never followed;
- connecting and each answer wait at most ``timeout`` seconds; an unreachable or misbehaving
  directory is ``UnavailableError``, never a traceback or a hang;
- passwords are never logged: the log names the connector, the DN and the LDAP result code.

A new connection is opened per sign-in (no pool), so nothing is shared between threads.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from ldap3 import BASE, NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from sigstack.protocol.errors import (
    AuthenticationError,
    ConfigError,
    UnavailableError,
    VerificationError,
)

from .base import PasswordConnector, Upstream, check_email, check_subject, clean_groups
from .options import Options

log = logging.getLogger("sigstack.oidc.ldap")

WRONG = "The username or password is not correct."
DISABLED = "This account is disabled. Ask an administrator if you need it."
UNREACHABLE = "The directory cannot be reached just now. Try again later or ask an administrator."
INVALID_CREDENTIALS = 49
MAX_USERNAME = 256


def user_filter(base_filter: str, attribute: str, username: str) -> str:
    """The search filter for ``username``, its value escaped (RFC 4515 section 3)."""
    return f"(&{base_filter}({attribute}={escape_filter_chars(username)}))"


def user_dn(template: str, username: str) -> str:
    """``template`` with ``{username}`` replaced by the name escaped as an RDN value (RFC 4514)."""
    return template.replace("{username}", escape_rdn(username))


def _filter(value: str, where: str) -> str:
    if not (value.startswith("(") and value.endswith(")")):
        raise ConfigError(
            f"{where} must be an LDAP filter in parentheses, such as (objectClass=person)"
        )
    return value


@dataclass(frozen=True)
class LDAPOptions:
    host: str
    port: int
    ldaps: bool
    start_tls: bool
    ca_file: str | None
    timeout: float
    bind_dn: str | None
    bind_password: str | None
    user_base: str
    user_filter: str
    user_dn_template: str | None
    username_attribute: str
    id_attribute: str
    email_attribute: str
    disabled_filter: str | None
    group_base: str | None
    group_filter: str
    group_member_attribute: str
    group_member_value: str  # "dn" or an attribute of the user's entry (memberUid: "uid")
    group_name_attribute: str

    @classmethod
    def read(cls, opts: Options) -> LDAPOptions:
        url = opts.text("url")
        parts = urlsplit(url)
        if (
            parts.scheme not in ("ldap", "ldaps")
            or not parts.hostname
            or parts.path not in ("", "/")
        ):
            raise ConfigError(
                f"{opts.name('url')} must be ldaps://HOST[:PORT] or ldap://HOST[:PORT]"
            )
        try:
            port = parts.port or (636 if parts.scheme == "ldaps" else 389)
        except ValueError as exc:
            raise ConfigError(f"{opts.name('url')} has a bad port") from exc
        start_tls, plain = opts.flag("start_tls"), opts.flag("insecure_plain")
        if parts.scheme == "ldaps" and (start_tls or plain):
            raise ConfigError(
                f"{opts.where}: ldaps:// is TLS already; drop start_tls/insecure_plain"
            )
        if parts.scheme == "ldap" and start_tls == plain:
            raise ConfigError(
                f"{opts.where}: with ldap:// set start_tls (recommended) or, only for a directory "
                "on a trusted network, insecure_plain (passwords then cross the network in clear)"
            )
        bind_dn, bind_password = opts.optional_text("bind_dn"), opts.secret("bind_password")
        if (bind_dn is None) != (bind_password is None):
            raise ConfigError(f"{opts.where}: set bind_dn and bind_password together")
        template = opts.optional_text("user_dn_template")
        if template is not None and (bind_dn is not None or "{username}" not in template):
            raise ConfigError(
                f"{opts.name('user_dn_template')} needs '{{username}}' and no bind_dn "
                "(it is for directories without a search account)"
            )
        member_value = opts.text("group_member_value", "dn")
        disabled = opts.optional_text("disabled_filter")
        return cls(
            host=parts.hostname,
            port=port,
            ldaps=parts.scheme == "ldaps",
            start_tls=start_tls,
            ca_file=opts.file("ca_file"),
            timeout=opts.seconds("timeout", 10, 1, 60),
            bind_dn=bind_dn,
            bind_password=bind_password,
            user_base=opts.text("user_base"),
            user_filter=_filter(opts.text("user_filter", "(objectClass=person)"), opts.name("user_filter")),
            user_dn_template=template,
            username_attribute=opts.text("username_attribute", "uid"),
            id_attribute=opts.text("id_attribute", "entryUUID"),
            email_attribute=opts.text("email_attribute", "mail"),
            disabled_filter=_filter(disabled, opts.name("disabled_filter")) if disabled else None,
            group_base=opts.optional_text("group_base"),
            group_filter=_filter(opts.text("group_filter", "(objectClass=groupOfNames)"), opts.name("group_filter")),
            group_member_attribute=opts.text("group_member_attribute", "member"),
            group_member_value=member_value,
            group_name_attribute=opts.text("group_name_attribute", "cn"),
        )  # fmt: skip


class _VerifiedTls(Tls):
    """ldap3's ``Tls`` with the standard library's checks: ldap3 turns the context's host name
    check off and does its own with ``ssl.match_hostname``, which Python 3.12 removed."""

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self._context = context
        self._host = host

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self._context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=self._host,
        )


def _values(entry: dict[str, Any], attribute: str) -> list[str]:
    found = entry.get("attributes", {}).get(attribute)
    values = found if isinstance(found, list) else [] if found is None else [found]
    return [str(v) for v in values]


class LDAPConnector(PasswordConnector):
    def __init__(self, connector_id: str, name: str, options: LDAPOptions) -> None:
        super().__init__(connector_id, name)
        self.options = options
        self._tls: ssl.SSLContext | None = None
        if options.ldaps or options.start_tls:
            context = ssl.create_default_context(cafile=options.ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            self._tls = context

    @classmethod
    def from_options(cls, connector_id: str, name: str, opts: Options) -> LDAPConnector:
        return cls(connector_id, name, LDAPOptions.read(opts))

    # -- connections ----------------------------------------------------------------------------
    def _server(self) -> Server:
        o = self.options
        tls = _VerifiedTls(self._tls, o.host) if self._tls is not None else None
        return Server(o.host, port=o.port, use_ssl=o.ldaps, tls=tls, get_info=NONE,
                      connect_timeout=o.timeout)  # fmt: skip

    @contextmanager
    def _connection(self, dn: str | None, password: str | None) -> Iterator[Connection | None]:
        """An open connection bound as ``dn`` (anonymously for None), or None when the bind was
        refused as invalid credentials; ``UnavailableError`` when the directory cannot be used."""
        o = self.options
        conn = Connection(self._server(), user=dn, password=password,
                          authentication=SIMPLE if dn else None, auto_referrals=False,
                          read_only=True, raise_exceptions=False,
                          receive_timeout=math.ceil(o.timeout))  # fmt: skip
        try:
            try:
                conn.open(read_server_info=False)
                if o.start_tls and not conn.start_tls(read_server_info=False):
                    raise UnavailableError(UNREACHABLE)
                bound = conn.bind(read_server_info=False)
            except LDAPException as exc:
                log.warning("ldap %s: %s:%d cannot be used: %s", self.id, o.host, o.port,
                            type(exc).__name__)  # fmt: skip
                raise UnavailableError(UNREACHABLE) from None
            if not bound:
                code = conn.result.get("result") if isinstance(conn.result, dict) else None
                if code != INVALID_CREDENTIALS:
                    log.warning("ldap %s: bind as %s answered %s", self.id, dn, code)
                    raise UnavailableError(UNREACHABLE)
                yield None
            else:
                yield conn
        finally:
            try:
                conn.unbind()
            except LDAPException:
                pass

    def _search(self, conn: Connection, base: str, filter_: str, scope: Literal["BASE", "LEVEL", "SUBTREE"],
                attributes: Sequence[str], limit: int) -> list[dict[str, Any]]:  # fmt: skip
        try:
            conn.search(base, filter_, search_scope=scope, attributes=list(attributes),
                        size_limit=limit, time_limit=int(self.options.timeout))  # fmt: skip
        except LDAPException as exc:
            log.warning("ldap %s: search under %s failed: %s", self.id, base, type(exc).__name__)
            raise UnavailableError(UNREACHABLE) from None
        code = conn.result.get("result") if isinstance(conn.result, dict) else None
        if code not in (0, 4, 32):  # success, sizeLimitExceeded, noSuchObject
            log.warning("ldap %s: search under %s answered %s", self.id, base, code)
            raise UnavailableError(UNREACHABLE)
        return [r for r in conn.response or [] if r.get("type") == "searchResEntry"]

    # -- the sign-in ----------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> Upstream:
        if not username or len(username) > MAX_USERNAME or any(ord(c) < 0x20 for c in username):
            raise AuthenticationError(WRONG)
        if not password:  # an unauthenticated bind (RFC 4513 section 5.1.2) must never pass
            raise AuthenticationError(WRONG)
        o = self.options
        if o.user_dn_template is not None:
            with self._connection(user_dn(o.user_dn_template, username), password) as conn:
                if conn is None:
                    raise AuthenticationError(WRONG)
                entry = self._find(conn, username, base=user_dn(o.user_dn_template, username))
                if entry is None:
                    raise AuthenticationError(WRONG)
                return self._upstream(conn, entry)
        with self._connection(o.bind_dn, o.bind_password) as search:
            if search is None:
                log.error("ldap %s: the search account %s was refused", self.id, o.bind_dn)
                raise UnavailableError(UNREACHABLE)
            entry = self._find(search, username)
            if entry is None:
                raise AuthenticationError(WRONG)
            with self._connection(str(entry["dn"]), password) as user:
                if user is None:
                    raise AuthenticationError(WRONG)
            return self._upstream(search, entry)

    def _find(
        self, conn: Connection, username: str, base: str | None = None
    ) -> dict[str, Any] | None:
        o = self.options
        attributes = [o.username_attribute, o.id_attribute, o.email_attribute]
        if o.group_member_value != "dn":
            attributes.append(o.group_member_value)
        found = self._search(conn, base or o.user_base,
                             user_filter(o.user_filter, o.username_attribute, username),
                             BASE if base else SUBTREE, attributes, 2)  # fmt: skip
        if len(found) > 1:
            log.warning("ldap %s: the user filter matches several entries for one name", self.id)
            return None
        return found[0] if found else None

    def _upstream(self, conn: Connection, entry: dict[str, Any]) -> Upstream:
        o, dn = self.options, str(entry["dn"])
        if o.disabled_filter and self._search(conn, dn, o.disabled_filter, BASE, ["1.1"], 1):
            raise AuthenticationError(DISABLED)
        where = f"the directory entry {dn}"
        ids, emails, names = (_values(entry, a) for a in (o.id_attribute, o.email_attribute,
                                                            o.username_attribute))  # fmt: skip
        if len(ids) != 1:
            log.warning("ldap %s: %s has %d %s values", self.id, dn, len(ids), o.id_attribute)
            raise VerificationError(f"{where} has no single {o.id_attribute}")
        if not emails:
            raise VerificationError(
                "Your directory entry has no email address, which a signing certificate needs. "
                "Ask an administrator."
            )
        return Upstream(
            connector=self.id,
            subject=check_subject(ids[0], where),
            email=check_email(emails[0], where),
            name=names[0] if names else dn,
            groups=self._groups(conn, entry),
        )

    def _groups(self, conn: Connection, entry: dict[str, Any]) -> tuple[str, ...]:
        o = self.options
        if o.group_base is None:
            return ()
        if o.group_member_value == "dn":
            members = [str(entry["dn"])]
        else:
            members = _values(entry, o.group_member_value)[:1]
        if not members:
            return ()
        query = f"(&{o.group_filter}({o.group_member_attribute}={escape_filter_chars(members[0])}))"
        found = self._search(conn, o.group_base, query, SUBTREE, [o.group_name_attribute], 1000)
        return clean_groups(v for group in found for v in _values(group, o.group_name_attribute))
