"""Watch lists: which log entries the monitor reports.

Rules (any one matching makes the entry a match; every rule that matched is reported):

* ``identities``: a certificate whose SAN (email, URI, DNS name, or Fulcio's username otherName
  1.3.6.1.4.1.57264.1.7) equals ``identity`` or matches ``identity_regexp``, and whose OIDC
  issuer (extension .1.8, else .1.1) equals ``issuer`` or matches ``issuer_regexp``. A rule may
  leave out the identity (every certificate of an issuer) or the issuer (any issuer). Regular
  expressions are Python's ``re`` and **anchored** (the whole value must match, ``re.fullmatch``),
  unlike rekor-monitor's unanchored RE2.
* ``extensions``: a certificate extension whose value equals one of ``values``: named by
  ``oid`` (dotted) or by ``name`` (a Sigstore extension of ``protocol.x509ext.NAMES``, e.g.
  ``source_repository_uri``, ``github_workflow_ref``). The ``extnValue`` is read as a DER
  UTF8String, IA5String or PrintableString, or else as raw UTF-8 (Fulcio's old .1.1-.1.6).
* ``fingerprints``: SHA-256 (hex) of a DER SubjectPublicKeyInfo, of a bare key or of the key in
  a certificate, or of a whole DER certificate.
* ``digests``: an artifact or payload digest the entry records, ``sha256:<hex>`` (or bare hex:
  the algorithm follows from the length).

Certificates are read with ``der`` (SANs and extension values straight from the bytes, no
X.509 objects), and only when a rule might match: with exact rules only, a certificate whose DER
holds none of the rules' values as bytes is skipped unread (DER stores those values verbatim).
The issuer is read only for rules that name one. Pure; reading logs and alerting are the
monitor's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from sigstack.protocol import x509ext
from sigstack.protocol.errors import ValidationError
from sigstack.protocol.record import record

from .der import CertificateView, certificate_tbs, spki_of_tbs, string
from .entries import Subjects

_HEX = re.compile(r"[0-9a-f]+")
_DIGEST_LENGTHS = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
_ISSUER = x509ext.OID_ISSUER.dotted_string
_ISSUER_V1 = x509ext.OID_ISSUER_V1.dotted_string


@record(frozen=True)
class IdentityRule:
    identity: str | None = None
    identity_regexp: re.Pattern[str] | None = None
    issuer: str | None = None
    issuer_regexp: re.Pattern[str] | None = None

    def describe(self) -> dict[str, str]:
        out = {}
        for name in ("identity", "identity_regexp", "issuer", "issuer_regexp"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value if isinstance(value, str) else value.pattern
        return out


@record(frozen=True)
class ExtensionRule:
    oid: str
    values: frozenset[str]
    name: str = ""


@record(frozen=True)
class CertificateFacts:
    """What an alert shows of a matched certificate."""

    identities: tuple[str, ...]
    issuer: str | None
    fingerprint: str | None  # SHA-256 of the DER certificate (None for a precertificate entry)
    key_fingerprint: str | None

    def to_json(self) -> dict[str, Any]:
        return {"identities": list(self.identities), "issuer": self.issuer,
                "sha256": self.fingerprint, "key_sha256": self.key_fingerprint}  # fmt: skip


def _regexp(value: Any, where: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{where} must be a non-empty string")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValidationError(f"{where} is not a valid regular expression: {exc}") from None


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{where} must be a non-empty string")
    return value


def normalize_digest(value: Any, where: str) -> str:
    """``alg:hex`` in lower case; bare hex gets its algorithm from its length."""
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string")
    alg, _, hexpart = value.lower().rpartition(":")
    if not _HEX.fullmatch(hexpart) or len(hexpart) not in _DIGEST_LENGTHS:
        raise ValidationError(f"{where} is not a hex SHA-1/SHA-2 digest")
    return f"{alg or _DIGEST_LENGTHS[len(hexpart)]}:{hexpart}"


def normalize_fingerprint(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{where} must be a string")
    text = value.lower().removeprefix("sha256:").replace(":", "")
    if len(text) != 64 or not _HEX.fullmatch(text):
        raise ValidationError(f"{where} is not a SHA-256 fingerprint (64 hex digits)")
    return text


class WatchList:
    """The compiled rules; ``match`` returns what matched in an entry's subjects."""

    def __init__(
        self,
        identities: Sequence[IdentityRule] = (),
        extensions: Sequence[ExtensionRule] = (),
        fingerprints: Sequence[str] = (),
        digests: Sequence[str] = (),
    ) -> None:
        self.identities = tuple(identities)
        self.extensions = tuple(extensions)
        self.fingerprints = frozenset(fingerprints)
        self.digests = frozenset(digests)
        self._parse_certs = bool(self.identities or self.extensions)
        needles: list[bytes] = []
        exact = True
        for rule in self.identities:  # a value the DER must hold for the rule to match
            if rule.identity is not None:
                needles.append(rule.identity.encode())
            elif rule.identity_regexp is None and rule.issuer is not None:
                needles.append(rule.issuer.encode())
            else:
                exact = False
        for ext in self.extensions:
            needles += [v.encode() for v in ext.values]
        self._needles: tuple[bytes, ...] | None = tuple(needles) if exact else None

    def __bool__(self) -> bool:
        return bool(self.identities or self.extensions or self.fingerprints or self.digests)

    @classmethod
    def from_json(cls, obj: Any) -> WatchList:
        if obj is None:
            return cls()
        obj = _object(obj, "watch", {"identities", "extensions", "fingerprints", "digests"})
        identities = [_identity_rule(r, f"watch.identities[{i}]")
                      for i, r in enumerate(_items(obj, "identities"))]  # fmt: skip
        extensions = [_extension_rule(r, f"watch.extensions[{i}]")
                      for i, r in enumerate(_items(obj, "extensions"))]  # fmt: skip
        prints = [normalize_fingerprint(v, f"watch.fingerprints[{i}]")
                  for i, v in enumerate(_items(obj, "fingerprints"))]  # fmt: skip
        digests = [normalize_digest(v, f"watch.digests[{i}]")
                   for i, v in enumerate(_items(obj, "digests"))]  # fmt: skip
        return cls(identities, extensions, prints, digests)

    # --- matching ---------------------------------------------------------------------------

    def match(self, subjects: Subjects) -> tuple[list[dict[str, str]], list[CertificateFacts]]:
        """(matched rules, facts of the certificates that matched) for one entry."""
        found: list[dict[str, str]] = []
        facts: list[CertificateFacts] = []
        for digest in subjects.digests:
            if digest in self.digests:
                found.append({"rule": "digest", "digest": digest})
        for key in subjects.keys:
            if self.fingerprints:
                fp = hashlib.sha256(key).hexdigest()
                if fp in self.fingerprints:
                    found.append({"rule": "fingerprint", "key_sha256": fp})
        for der in subjects.certificates:
            hits = self._match_certificate(der, subjects.precert)
            if hits:
                found += hits
                facts.append(certificate_facts(der, subjects.precert))
        return found, facts

    def _match_certificate(self, der: bytes, precert: bool) -> list[dict[str, str]]:
        hits: list[dict[str, str]] = []
        if self.fingerprints:
            if not precert and (fp := hashlib.sha256(der).hexdigest()) in self.fingerprints:
                hits.append({"rule": "fingerprint", "sha256": fp})
            try:
                key_fp = hashlib.sha256(spki_of_tbs(certificate_tbs(der))).hexdigest()
            except ValueError:
                key_fp = ""
            if key_fp in self.fingerprints:
                hits.append({"rule": "fingerprint", "key_sha256": key_fp})
        if not self._parse_certs:
            return hits
        if self._needles is not None and not any(n in der for n in self._needles):
            return hits
        try:
            view = CertificateView(der)
        except ValueError:
            return hits
        for rule in self.identities:
            if _identity_matches(rule, view):
                hits.append({"rule": "identity", **rule.describe()})
        for ext in self.extensions:
            raw = view.extensions.get(ext.oid)
            value = string(raw) if raw is not None else None
            if value is not None and value in ext.values:
                hits.append({"rule": "extension", "oid": ext.oid, "name": ext.name,
                             "value": value})  # fmt: skip
        return hits


def _identity_matches(rule: IdentityRule, view: CertificateView) -> bool:
    if rule.identity is not None and rule.identity not in view.sans:
        return False
    pattern = rule.identity_regexp
    if pattern is not None and not any(pattern.fullmatch(s) for s in view.sans):
        return False
    if rule.issuer is None and rule.issuer_regexp is None:
        return True
    issuer = issuer_of(view)
    if issuer is None or (rule.issuer is not None and issuer != rule.issuer):
        return False
    return rule.issuer_regexp is None or rule.issuer_regexp.fullmatch(issuer) is not None


def _items(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise ValidationError(f"watch.{key} must be a list")
    return value


def _object(obj: Any, where: str, keys: set[str]) -> dict[str, Any]:
    """``obj`` as a JSON object holding no key outside ``keys``, or a ValidationError."""
    if not isinstance(obj, dict):
        raise ValidationError(f"{where} must be a JSON object")
    unknown = set(obj) - keys
    if unknown:
        raise ValidationError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    return obj


def _identity_rule(obj: Any, where: str) -> IdentityRule:
    obj = _object(obj, where, {"identity", "identity_regexp", "issuer", "issuer_regexp"})
    rule = IdentityRule(
        identity=_text(obj.get("identity"), f"{where}.identity"),
        identity_regexp=_regexp(obj.get("identity_regexp"), f"{where}.identity_regexp"),
        issuer=_text(obj.get("issuer"), f"{where}.issuer"),
        issuer_regexp=_regexp(obj.get("issuer_regexp"), f"{where}.issuer_regexp"),
    )
    if rule.identity is not None and rule.identity_regexp is not None:
        raise ValidationError(f"{where}: give identity or identity_regexp, not both")
    if rule.issuer is not None and rule.issuer_regexp is not None:
        raise ValidationError(f"{where}: give issuer or issuer_regexp, not both")
    if not rule.describe():
        raise ValidationError(f"{where} needs an identity or an issuer")
    return rule


def _extension_rule(obj: Any, where: str) -> ExtensionRule:
    obj = _object(obj, where, {"oid", "name", "value", "values"})
    name, oid = obj.get("name"), obj.get("oid")
    if (name is None) == (oid is None):
        raise ValidationError(f"{where} needs exactly one of oid and name")
    if name is not None:
        if name not in x509ext.NAMES:
            raise ValidationError(f"{where}.name {name!r} is not a Sigstore extension name")
        oid = x509ext.NAMES[name].dotted_string
    elif not isinstance(oid, str) or not re.fullmatch(r"[0-2](\.(0|[1-9][0-9]*))+", oid):
        raise ValidationError(f"{where}.oid must be a dotted object identifier")
    values = obj.get("values", [])
    if "value" in obj:
        values = [obj["value"], *values] if isinstance(values, list) else values
    if not isinstance(values, list) or not values:
        raise ValidationError(f"{where} needs value or values")
    if not all(isinstance(v, str) and v for v in values):
        raise ValidationError(f"{where} values must be non-empty strings")
    return ExtensionRule(oid, frozenset(values), name or "")


# --- certificate facts ----------------------------------------------------------------------------


def issuer_of(view: CertificateView) -> str | None:
    """The OIDC issuer: extension .1.8 (DER UTF8String), else .1.1 (raw; protocol.x509ext)."""
    raw = view.extensions.get(_ISSUER)
    if raw is None:
        raw = view.extensions.get(_ISSUER_V1)
    return string(raw) if raw is not None else None


def certificate_facts(der: bytes, precert: bool = False) -> CertificateFacts:
    try:
        view: CertificateView | None = CertificateView(der)
    except ValueError:
        view = None
    try:
        key_fp: str | None = hashlib.sha256(spki_of_tbs(certificate_tbs(der))).hexdigest()
    except ValueError:
        key_fp = None
    return CertificateFacts(
        identities=tuple(view.sans) if view is not None else (),
        issuer=issuer_of(view) if view is not None else None,
        fingerprint=None if precert else hashlib.sha256(der).hexdigest(),
        key_fingerprint=key_fp,
    )
