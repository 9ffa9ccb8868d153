"""Issuance policy: per-issuer rules on a verified token's claims that decide whether a certificate
is issued (docs/fulcio.md "Issuance policy"; beyond upstream, which certifies every valid token of a
configured issuer, fulcio.md section 7.4 item 1; issue 16).

An issuer entry's ``IssuancePolicy`` is a list of named rules, and **every rule must hold**::

    "IssuancePolicy": [
      {"Name": "company-domain", "Claims": {"email": "*@example.com"}},
      {"Name": "release-workflow", "Claims": {"repository": "octo/app",
                                              "ref": ["refs/tags/v*"]}}
    ]

A rule holds when each claim it names matches one of its patterns (``services.runtime.claims``:
top-level names or RFC 6901 pointers such as ``/kubernetes.io/namespace``, ``*`` wildcards). No
``IssuancePolicy`` (or an empty one): every verified token gets a certificate, as today. Rule
names are unique in the file and short (``[A-Za-z0-9._-]``, at most 64), because they are what a
refusal shows.

``check`` runs after the token is verified and its principal built, before the key is looked at
or anything is signed. A refusal is ``PermissionDeniedError`` (HTTP 403, gRPC code 7) whose message
names the rule, never a claim value; it is counted in ``sigstack_issuance_refused_total{rule}``
and logged with the issuer, the token's subject and the rule.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigstack.protocol.errors import ConfigError, PermissionDeniedError
from sigstack.services.runtime.claims import Condition, all_hold, parse_conditions
from sigstack.services.runtime.observe import REFUSED_ISSUANCE

from .errors import _request_fields

log = logging.getLogger("sigstack.fulcio")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_RULE_KEYS = frozenset({"Name", "Claims", "Description"})


def refusal_message(rule: str) -> str:
    """What the client reads: stable, naming the rule only."""
    return f'certificate refused by the issuance policy: rule "{rule}" does not allow this identity'


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]
    description: str = ""

    def holds(self, claims: Mapping[str, Any]) -> bool:
        return all_hold(self.conditions, claims)


def parse_policy(raw: Any, where: str) -> tuple[Rule, ...]:
    """The ``IssuancePolicy`` of one issuer entry (``where`` names it in errors)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: IssuancePolicy must be a list of rules")
    rules: list[Rule] = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: IssuancePolicy rule {number} must be a JSON object")
        unknown = sorted(set(item) - _RULE_KEYS)
        if unknown:
            raise ConfigError(f"{where}: IssuancePolicy rule {number} has unknown keys {unknown}")
        name = item.get("Name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: IssuancePolicy rule {number} needs a Name of letters, digits, '.', "
                "'_' and '-' (at most 64)"
            )
        if any(rule.name == name for rule in rules):
            raise ConfigError(f"{where}: IssuancePolicy names rule {name!r} twice")
        description = item.get("Description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{where}: rule {name!r}: Description must be a string")
        conditions = parse_conditions(item.get("Claims"), f"{where}: rule {name!r}")
        rules.append(Rule(name, conditions, description))
    return tuple(rules)


def check(rules: tuple[Rule, ...], issuer_url: str, claims: Mapping[str, Any]) -> None:
    """Every rule holds for ``claims``, or ``PermissionDeniedError`` naming the first that does
    not (counted and logged, module docstring)."""
    for rule in rules:
        if rule.holds(claims):
            continue
        REFUSED_ISSUANCE.labels(rule.name).inc()
        subject = claims.get("sub")
        log.warning(
            "issuance refused by policy rule %s (issuer %s, subject %s)",
            rule.name,
            issuer_url,
            str(subject)[:256],
            extra=_request_fields(),
        )
        raise PermissionDeniedError(refusal_message(rule.name))


__all__ = ["Rule", "check", "parse_policy", "refusal_message"]
