"""The ``token_exchange`` configuration key: which outside issuers' tokens the RFC 8693 exchange
(``exchange.py``) accepts, and which service accounts each of their subjects may act as
(docs/oidc.md, "Token exchange").

The key is a list of trusted issuers::

    {"issuer": URL, "audience": "x" | ["x", ...], "max_token_age": 3600, "ca_file": PATH,
     "timeout": 10, "jwks_max_age": 300,
     "rules": [{"name": "...", "description": "...", "subject": PATTERN(S),
                "claims": {CLAIM: PATTERN(S)}, "service_accounts": ["name", ...]}]}

- ``issuer`` is compared with the token's ``iss`` byte for byte and must be unique;
- ``audience``: the subject token's ``aud`` must contain one of them (default: this issuer's
  own URL, so a token minted for some other relying party is never accepted);
- ``max_token_age``: seconds since the token's ``iat`` beyond which it is refused whatever its
  ``exp`` (60 to 86400, default 3600: a Kubernetes projected token is refreshed long before);
- a rule holds when every condition holds: ``subject`` (patterns on ``sub``) and ``claims``
  (``services.runtime.claims``: names or JSON pointers, ``*`` patterns); at least one of them is
  required, so no rule matches every token of an issuer by accident. Rule names are unique in the
  whole key (they are what the audit log records);
- ``service_accounts`` names accounts (as ``sigstack oidc add-service-account`` made them), never
  patterns: who may act as whom is spelt out.

Every mistake is a ``ConfigError`` naming where it is (``token_exchange[0].rules[1].name``), and
unknown keys are refused, so the service does not start with a rule it misread. That a named
service account exists is checked at each exchange: accounts are made and disabled at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigstack.protocol.errors import ConfigError
from sigstack.services.runtime.claims import Condition, all_hold, parse_conditions

from .connectors.options import Options, entries

ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")  # as `sigstack oidc add-service-account`
RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_MAX_TOKEN_AGE = 3600


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]
    service_accounts: tuple[str, ...]

    def holds(self, claims: Mapping[str, Any]) -> bool:
        return all_hold(self.conditions, claims)


@dataclass(frozen=True)
class TrustedIssuer:
    url: str
    audiences: tuple[str, ...]
    max_token_age: int
    ca_file: str | None
    timeout: float
    jwks_max_age: float
    rules: tuple[Rule, ...]

    def allowed(self, claims: Mapping[str, Any]) -> dict[str, str]:
        """The service accounts the verified ``claims`` may act as, each with the first rule
        that names it."""
        found: dict[str, str] = {}
        for rule in self.rules:
            if rule.holds(claims):
                for account in rule.service_accounts:
                    found.setdefault(account, rule.name)
        return found


class _Entry(Options):
    """``Options`` (typed reads, unknown keys refused) with a read of a raw value."""

    def value(self, key: str) -> Any:
        return self._get(key)


def _audiences(opts: _Entry, default: str) -> tuple[str, ...]:
    value = opts.value("audience")
    if value is None:
        return (default,)
    listed = [value] if isinstance(value, str) else value
    if (
        not isinstance(listed, list)
        or not listed
        or not all(isinstance(a, str) and a for a in listed)
    ):
        raise ConfigError(
            f"{opts.name('audience')} must be an audience or a non-empty list of them"
        )
    return tuple(listed)


def _rule(raw: Any, where: str, seen: set[str]) -> Rule:
    opts = _Entry(raw, where)
    name = opts.text("name")
    if not RULE_NAME.fullmatch(name):
        raise ConfigError(f"{opts.name('name')} must be 1-64 of A-Z a-z 0-9 . _ - ({name!r})")
    if name in seen:
        raise ConfigError(f"{where}: rule name {name!r} is used twice in token_exchange")
    seen.add(name)
    opts.optional_text("description")
    conditions: list[Condition] = []
    subject = opts.value("subject")
    if subject is not None:
        if isinstance(subject, list) and not all(isinstance(s, str) for s in subject):
            raise ConfigError(f"{opts.name('subject')} must be a pattern or a list of them")
        conditions.append(Condition.parse("sub", subject, opts.name("subject")))
    claims = opts.value("claims")
    if claims is not None:
        conditions.extend(parse_conditions(claims, opts.name("claims")))
    if not conditions:
        raise ConfigError(f"{where} needs subject or claims: a rule must say whom it lets in")
    accounts = opts.value("service_accounts")
    if (
        not isinstance(accounts, list)
        or not accounts
        or not all(isinstance(a, str) and ACCOUNT_NAME.fullmatch(a) for a in accounts)
    ):
        raise ConfigError(
            f"{opts.name('service_accounts')} must list service account names (a-z 0-9 . _ -, "
            "no patterns)"
        )
    opts.done()
    return Rule(name, tuple(conditions), tuple(dict.fromkeys(accounts)))


def _trusted(raw: Any, where: str, issuer_url: str, seen: set[str]) -> TrustedIssuer:
    opts = _Entry(raw, where)
    url = opts.issuer("issuer", "the issuer's http(s) URL, as its tokens' iss says it")
    audiences = _audiences(opts, issuer_url)
    max_age = opts.seconds("max_token_age", DEFAULT_MAX_TOKEN_AGE, 60, 86400)
    rules = opts.value("rules")
    if not isinstance(rules, list) or not rules:
        raise ConfigError(f"{opts.name('rules')} must be a non-empty list of rules")
    trusted = TrustedIssuer(
        url=url,
        audiences=audiences,
        max_token_age=int(max_age),
        ca_file=opts.file("ca_file"),
        timeout=opts.seconds("timeout", 10, 1, 60),
        jwks_max_age=opts.seconds("jwks_max_age", 300, 1, 86400),
        rules=tuple(_rule(r, f"{opts.name('rules')}[{i}]", seen) for i, r in enumerate(rules)),
    )
    opts.done()
    return trusted


def parse_exchange(raw: Any, issuer_url: str) -> dict[str, TrustedIssuer]:
    """The ``token_exchange`` key's trusted issuers by URL; ``issuer_url`` is ours (the default
    audience). Empty when nothing is configured: the grant is then not offered."""
    issuers: dict[str, TrustedIssuer] = {}
    rule_names: set[str] = set()
    for index, entry in enumerate(entries(raw, "token_exchange", "trusted issuers (JSON objects)")):
        where = f"token_exchange[{index}]"
        trusted = _trusted(entry, where, issuer_url, rule_names)
        if trusted.url in issuers:
            raise ConfigError(f"{where}.issuer {trusted.url} is listed twice")
        issuers[trusted.url] = trusted
    return issuers


__all__ = ["Rule", "TrustedIssuer", "parse_exchange"]
