"""Sigstore X.509 extensions (OID arc 1.3.6.1.4.1.57264.1), encode and decode.

Fulcio writes the identity details of a code-signing certificate into non-critical extensions under
1.3.6.1.4.1.57264.1 (Fulcio ``docs/oid-info.md``). Two encodings exist:

- .1.1 to .1.6 (deprecated): the extnValue contents are the raw UTF-8 bytes, with no ASN.1 wrapper;
- .1.8 to .1.24: the extnValue contents are a DER ``UTF8String`` (tag 0x0C, definite length).

.1.7 is not an extension: it is the type-id of the ``otherName`` SAN Fulcio uses for username
identities (``sub!domain`` as a UTF8String inside ``[0] EXPLICIT``).

API (pure: stdlib + ``cryptography``):

- ``OID_*`` constants and ``NAMES`` (snake_case name -> ``ObjectIdentifier``), in OID order;
- ``encode_extensions(values)`` -> list of ``x509.UnrecognizedExtension`` to add **non-critical**,
  in OID order, each encoded as its class requires; unknown names raise ``ValidationError``,
  empty values are skipped (Fulcio emits a field only if non-empty);
- ``extensions(cert)`` -> the parsed extensions, or ``ValidationError`` if they do not parse;
- ``decode_extensions(cert)`` -> ``{name: value}`` for every Sigstore extension present; tolerant of
  both encodings on every OID (some issuers wrote raw bytes where DER is specified and vice versa);
- ``oidc_issuer(cert)`` -> the issuer, .1.8 preferred, .1.1 as fallback, ``None`` if neither;
- ``username_san(value)`` / ``decode_username_san(other_name)`` for the .1.7 otherName SAN.

Names: ``issuer_v1`` is .1.1 (deprecated) and ``issuer`` is .1.8; ``decode_extensions`` also fills
``issuer`` from .1.1 when .1.8 is absent, so callers can always read ``issuer``.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from .errors import ValidationError

ARC = "1.3.6.1.4.1.57264.1"

OID_ISSUER_V1 = ObjectIdentifier(f"{ARC}.1")
OID_GITHUB_WORKFLOW_TRIGGER = ObjectIdentifier(f"{ARC}.2")
OID_GITHUB_WORKFLOW_SHA = ObjectIdentifier(f"{ARC}.3")
OID_GITHUB_WORKFLOW_NAME = ObjectIdentifier(f"{ARC}.4")
OID_GITHUB_WORKFLOW_REPOSITORY = ObjectIdentifier(f"{ARC}.5")
OID_GITHUB_WORKFLOW_REF = ObjectIdentifier(f"{ARC}.6")
OID_OTHERNAME_USERNAME = ObjectIdentifier(f"{ARC}.7")
OID_ISSUER = ObjectIdentifier(f"{ARC}.8")
OID_BUILD_SIGNER_URI = ObjectIdentifier(f"{ARC}.9")
OID_BUILD_SIGNER_DIGEST = ObjectIdentifier(f"{ARC}.10")
OID_RUNNER_ENVIRONMENT = ObjectIdentifier(f"{ARC}.11")
OID_SOURCE_REPOSITORY_URI = ObjectIdentifier(f"{ARC}.12")
OID_SOURCE_REPOSITORY_DIGEST = ObjectIdentifier(f"{ARC}.13")
OID_SOURCE_REPOSITORY_REF = ObjectIdentifier(f"{ARC}.14")
OID_SOURCE_REPOSITORY_IDENTIFIER = ObjectIdentifier(f"{ARC}.15")
OID_SOURCE_REPOSITORY_OWNER_URI = ObjectIdentifier(f"{ARC}.16")
OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER = ObjectIdentifier(f"{ARC}.17")
OID_BUILD_CONFIG_URI = ObjectIdentifier(f"{ARC}.18")
OID_BUILD_CONFIG_DIGEST = ObjectIdentifier(f"{ARC}.19")
OID_BUILD_TRIGGER = ObjectIdentifier(f"{ARC}.20")
OID_RUN_INVOCATION_URI = ObjectIdentifier(f"{ARC}.21")
OID_SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING = ObjectIdentifier(f"{ARC}.22")
OID_DEPLOYMENT_ENVIRONMENT = ObjectIdentifier(f"{ARC}.23")
OID_TOKEN_SUBJECT = ObjectIdentifier(f"{ARC}.24")

NAMES: dict[str, ObjectIdentifier] = {
    "issuer_v1": OID_ISSUER_V1,
    "github_workflow_trigger": OID_GITHUB_WORKFLOW_TRIGGER,
    "github_workflow_sha": OID_GITHUB_WORKFLOW_SHA,
    "github_workflow_name": OID_GITHUB_WORKFLOW_NAME,
    "github_workflow_repository": OID_GITHUB_WORKFLOW_REPOSITORY,
    "github_workflow_ref": OID_GITHUB_WORKFLOW_REF,
    "issuer": OID_ISSUER,
    "build_signer_uri": OID_BUILD_SIGNER_URI,
    "build_signer_digest": OID_BUILD_SIGNER_DIGEST,
    "runner_environment": OID_RUNNER_ENVIRONMENT,
    "source_repository_uri": OID_SOURCE_REPOSITORY_URI,
    "source_repository_digest": OID_SOURCE_REPOSITORY_DIGEST,
    "source_repository_ref": OID_SOURCE_REPOSITORY_REF,
    "source_repository_identifier": OID_SOURCE_REPOSITORY_IDENTIFIER,
    "source_repository_owner_uri": OID_SOURCE_REPOSITORY_OWNER_URI,
    "source_repository_owner_identifier": OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER,
    "build_config_uri": OID_BUILD_CONFIG_URI,
    "build_config_digest": OID_BUILD_CONFIG_DIGEST,
    "build_trigger": OID_BUILD_TRIGGER,
    "run_invocation_uri": OID_RUN_INVOCATION_URI,
    "source_repository_visibility_at_signing": OID_SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING,
    "deployment_environment": OID_DEPLOYMENT_ENVIRONMENT,
    "token_subject": OID_TOKEN_SUBJECT,
}

_BY_OID = {oid.dotted_string: name for name, oid in NAMES.items()}
_RAW = {f"{ARC}.{i}" for i in range(1, 7)}


def der_utf8string(value: str) -> bytes:
    """DER encoding of an ASN.1 UTF8String (tag 0x0C, definite length, long form above 127)."""
    data = value.encode("utf-8")
    n = len(data)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return b"\x0c" + length + data


def parse_der_utf8string(der: bytes) -> str | None:
    """The text of a DER UTF8String that spans all of ``der``; ``None`` if it is not one."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    first = der[1]
    if first < 0x80:
        start, n = 2, first
    else:
        width = first & 0x7F
        if width == 0 or width > 4 or len(der) < 2 + width:
            return None
        start, n = 2 + width, int.from_bytes(der[2 : 2 + width], "big")
        if n < 0x80 or der[2] == 0:  # not minimal: not DER
            return None
    if start + n != len(der):
        return None
    try:
        return der[start:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def encode_value(oid: ObjectIdentifier, value: str) -> bytes:
    """extnValue contents for ``value``: raw for .1.1–.1.6, DER UTF8String from .1.8 on."""
    if oid.dotted_string in _RAW:
        return value.encode("utf-8")
    return der_utf8string(value)


def encode_extensions(values: Mapping[str, str]) -> list[x509.UnrecognizedExtension]:
    """Encode Sigstore extension values by name, in OID order; add each one non-critical."""
    unknown = sorted(set(values) - set(NAMES))
    if unknown:
        raise ValidationError(f"unknown Sigstore extension name(s): {', '.join(unknown)}")
    out = []
    for name, oid in NAMES.items():
        value = values.get(name)
        if value:
            out.append(x509.UnrecognizedExtension(oid, encode_value(oid, value)))
    return out


def _decode_value(oid_str: str, raw: bytes) -> str | None:
    if oid_str in _RAW:
        text = parse_der_utf8string(raw) if raw[:1] == b"\x0c" else None
        if text is not None:
            return text
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    text = parse_der_utf8string(raw)
    if text is not None:
        return text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def extensions(cert: x509.Certificate) -> x509.Extensions:
    """``cert.extensions``, which cryptography parses on first use: a malformed extension, one
    that appears twice or a SAN of an unsupported type raises ``ValidationError`` here instead of
    ``ValueError`` / ``DuplicateExtension`` wherever the certificate is looked at first."""
    try:
        return cert.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        why = "an extension appears twice" if isinstance(exc, x509.DuplicateExtension) else (
            "an extension is malformed or of an unsupported type")  # fmt: skip
        raise ValidationError(f"the certificate's extensions do not parse: {why}") from None


def decode_extensions(cert: x509.Certificate) -> dict[str, str]:
    """Every Sigstore extension in ``cert`` by name (module docstring); undecodable ones skipped.
    Raises ``ValidationError`` when the certificate's extensions do not parse (``extensions``)."""
    out: dict[str, str] = {}
    for ext in extensions(cert):
        name = _BY_OID.get(ext.oid.dotted_string)
        if name is None or not isinstance(ext.value, x509.UnrecognizedExtension):
            continue
        value = _decode_value(ext.oid.dotted_string, ext.value.value)
        if value is not None:
            out[name] = value
    if "issuer" not in out and "issuer_v1" in out:
        out["issuer"] = out["issuer_v1"]
    return out


def oidc_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer recorded in ``cert``: .1.8 preferred, .1.1 as fallback."""
    return decode_extensions(cert).get("issuer")


def username_san(value: str) -> x509.OtherName:
    """The .1.7 otherName SAN for a username identity (``value`` is ``sub!domain``)."""
    return x509.OtherName(OID_OTHERNAME_USERNAME, der_utf8string(value))


def decode_username_san(name: x509.OtherName) -> str | None:
    """The text of a .1.7 otherName SAN, ``None`` for any other otherName."""
    if name.type_id != OID_OTHERNAME_USERNAME:
        return None
    return parse_der_utf8string(name.value)
