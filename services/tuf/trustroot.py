"""Build the Sigstore trust documents a TUF repository distributes: pure functions, no I/O.

``build_trusted_root`` turns the running stack's public material (Fulcio CA chain, CT log key,
Rekor key, optional Rekor v2 log and TSA chain) into ``trusted_root.json`` (protobuf-specs
``TrustedRoot``, JSON names in camelCase, media type
``application/vnd.dev.sigstore.trustedroot+json;version=0.1`` — the only one sigstore-python 4.5.1
and sigstore-go accept). A Rekor v2 log's ``logId`` is its C2SP checkpoint key ID
(``rekor_v2_log_id``), not the SHA-256 of its key. ``rotate`` adds a new key or CA and closes the
window (``validFor.end``) of the one it replaces, so signatures made before the rotation keep
verifying. ``build_client_trust_config`` wraps a trusted root and a signing config (the latter is
built by ``signingconfig``).

Reading keys from files or fetching them from services is left to callers (``services.tuf.cli``).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.protocol import keys
from sigstack.protocol.errors import ValidationError

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
KINDS = ("tlogs", "ctlogs", "certificateAuthorities", "timestampAuthorities")


def rfc3339(when: datetime) -> str:
    """``2026-01-02T03:04:05Z`` (UTC, whole seconds), the form protobuf JSON uses."""
    if when.tzinfo is None:
        raise ValidationError("timestamps must be timezone-aware")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _public_key(pem_or_der: bytes) -> PublicKeyTypes:
    try:
        if pem_or_der.lstrip().startswith(b"-----"):
            return serialization.load_pem_public_key(pem_or_der)
        return serialization.load_der_public_key(pem_or_der)
    except (ValueError, TypeError) as exc:
        raise ValidationError("not a PEM or DER SubjectPublicKeyInfo public key") from exc


def key_details(key: PublicKeyTypes) -> str:
    """The protobuf-specs ``PublicKeyDetails`` name for ``key``: its usual algorithm of the
    registry (``protocol.keys``), which must not be a deprecated one."""
    try:
        algorithm = keys.Algorithm.for_key(key)
    except ValidationError:
        algorithm = None
    if algorithm is None or algorithm.deprecated:
        raise ValidationError(f"unsupported log key type {type(key).__name__}")
    return algorithm.name


def rekor_v2_log_id(public_key: bytes, origin: str) -> bytes:
    """A Rekor v2 log's ID: the C2SP signed-note key ID of its checkpoint key under ``origin``
    (``note.note_key_digest``: SHA-256 over the origin, a type byte and the key)."""
    from sigstack.protocol.note import note_key_digest

    if not origin or origin != origin.strip() or "\n" in origin:
        raise ValidationError("a Rekor v2 log needs its checkpoint origin (one line)")
    return note_key_digest(origin, _public_key(public_key))  # type: ignore[arg-type]


def valid_for(start: datetime, end: datetime | None) -> dict[str, str]:
    window = {"start": rfc3339(start)}
    if end is not None:
        if end <= start:
            raise ValidationError("validFor.end must be after validFor.start")
        window["end"] = rfc3339(end)
    return window


def log_instance(
    public_key: bytes,
    base_url: str,
    *,
    start: datetime,
    end: datetime | None = None,
    log_id: bytes | None = None,
) -> dict[str, Any]:
    """A ``TransparencyLogInstance``: ``public_key`` is PEM or DER SPKI; ``log_id`` defaults to
    SHA-256 of the DER SPKI (Rekor v1 and RFC 6962 CT log ids)."""
    key = _public_key(public_key)
    der = keys.spki_der(key)
    if log_id is None:
        log_id = keys.key_id(key)
    return {
        "baseUrl": base_url.rstrip("/"),
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": _b64(der),
            "keyDetails": key_details(key),
            "validFor": valid_for(start, end),
        },
        "logId": {"keyId": _b64(log_id)},
    }


def _load_chain(chain_pem: bytes | Sequence[bytes]) -> list[x509.Certificate]:
    blobs = [chain_pem] if isinstance(chain_pem, bytes) else list(chain_pem)
    certs: list[x509.Certificate] = []
    try:
        for blob in blobs:
            certs.extend(x509.load_pem_x509_certificates(blob))
    except ValueError as exc:
        raise ValidationError("certificate chain is not a list of PEM certificates") from exc
    if not certs:
        raise ValidationError("certificate chain is empty")
    return certs


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def certificate_authority(
    chain_pem: bytes | Sequence[bytes],
    uri: str,
    *,
    start: datetime,
    end: datetime | None = None,
) -> dict[str, Any]:
    """A ``CertificateAuthority``: chain ordered issuing cert first, trust anchor (root) last.

    The subject is taken from the trust anchor, as Sigstore's own trusted roots do.
    """
    certs = _load_chain(chain_pem)
    anchor = certs[-1].subject
    return {
        "subject": {
            "organization": _name_attr(anchor, x509.NameOID.ORGANIZATION_NAME),
            "commonName": _name_attr(anchor, x509.NameOID.COMMON_NAME),
        },
        "uri": uri.rstrip("/"),
        "certChain": {
            "certificates": [
                {"rawBytes": _b64(c.public_bytes(serialization.Encoding.DER))} for c in certs
            ]
        },
        "validFor": valid_for(start, end),
    }


@dataclass(frozen=True)
class RekorV2:
    """A Rekor v2 log for the trusted root: its checkpoint key (PEM or DER SPKI), base URL and
    checkpoint origin (the ``logId`` is derived from key and origin unless given)."""

    public_key: bytes
    url: str
    origin: str
    start: datetime | None = None
    end: datetime | None = None
    log_id: bytes | None = None

    def instance(self, default_start: datetime) -> dict[str, Any]:
        log_id = self.log_id or rekor_v2_log_id(self.public_key, self.origin)
        return log_instance(
            self.public_key,
            self.url,
            start=self.start or default_start,
            end=self.end,
            log_id=log_id,
        )


def build_trusted_root(
    *,
    fulcio_chain_pem: bytes | Sequence[bytes],
    fulcio_url: str,
    ctlog_public_key: bytes,
    ctlog_url: str,
    rekor_public_key: bytes,
    rekor_url: str,
    valid_from: datetime,
    ctlog_id: bytes | None = None,
    rekor_log_id: bytes | None = None,
    tsa_chain_pem: bytes | Sequence[bytes] | None = None,
    tsa_url: str | None = None,
    tsa_window: tuple[datetime | None, datetime | None] = (None, None),
    rekor_v2: RekorV2 | None = None,
) -> dict[str, Any]:
    """``trusted_root.json`` for one Fulcio CA, one CT log, one Rekor log and optionally a Rekor
    v2 log (listed after the v1 log) and a TSA.

    Every window opens at ``valid_from`` and stays open, except the TSA's and the v2 log's when
    ``tsa_window`` / ``rekor_v2.start``/``end`` say otherwise (``rotate`` closes windows later).
    A TSA chain needs at least two certificates (signing cert, ..., root), as sigstore-python
    requires.
    """
    tsas: list[dict[str, Any]] = []
    if tsa_chain_pem is not None:
        if not tsa_url:
            raise ValidationError("a TSA chain needs the TSA URL")
        if len(_load_chain(tsa_chain_pem)) < 2:
            raise ValidationError("the TSA chain must hold the signing certificate and its root")
        tsa_start, tsa_end = tsa_window
        tsas.append(
            certificate_authority(
                tsa_chain_pem, tsa_url, start=tsa_start or valid_from, end=tsa_end
            )
        )
    elif tsa_url:
        raise ValidationError("a TSA URL needs the TSA's certificate chain")
    tlogs = [log_instance(rekor_public_key, rekor_url, start=valid_from, log_id=rekor_log_id)]
    if rekor_v2 is not None:
        tlogs.append(rekor_v2.instance(valid_from))
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": tlogs,
        "certificateAuthorities": [
            certificate_authority(fulcio_chain_pem, fulcio_url, start=valid_from)
        ],
        "ctlogs": [log_instance(ctlog_public_key, ctlog_url, start=valid_from, log_id=ctlog_id)],
        "timestampAuthorities": tsas,
    }


def _same_service(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    field = "baseUrl" if kind in ("tlogs", "ctlogs") else "uri"
    return bool(old.get(field) == new.get(field))


def _window(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    if kind in ("tlogs", "ctlogs"):
        return entry.setdefault("publicKey", {}).setdefault("validFor", {})  # type: ignore[no-any-return]
    return entry.setdefault("validFor", {})  # type: ignore[no-any-return]


def rotate(
    trusted_root: Mapping[str, Any], kind: str, new_entry: Mapping[str, Any], at: datetime
) -> dict[str, Any]:
    """Return a copy of ``trusted_root`` with ``new_entry`` added to ``kind`` and the open windows
    of the entries it replaces (same ``baseUrl`` for logs, same ``uri`` for CAs/TSAs) closed at
    ``at``.

    ``new_entry`` comes from ``log_instance`` / ``certificate_authority``; its window should start
    at or before ``at`` so that there is no gap. Adding the same key twice is refused.
    """
    if kind not in KINDS:
        raise ValidationError(f"unknown trusted root section {kind!r}; one of {', '.join(KINDS)}")
    result = copy.deepcopy(dict(trusted_root))
    entries: list[dict[str, Any]] = result.setdefault(kind, [])
    fresh = copy.deepcopy(dict(new_entry))
    if any(_identity(kind, e) == _identity(kind, fresh) for e in entries):
        raise ValidationError(f"{kind} already holds this key or certificate chain")
    closing = rfc3339(at)
    for entry in entries:
        window = _window(kind, entry)
        if _same_service(kind, entry, fresh) and "end" not in window:
            if window.get("start", closing) >= closing:
                raise ValidationError("the replaced entry's window starts after the rotation time")
            window["end"] = closing
    entries.append(fresh)
    return result


def _identity(kind: str, entry: Mapping[str, Any]) -> Any:
    if kind in ("tlogs", "ctlogs"):
        return entry.get("publicKey", {}).get("rawBytes")
    return tuple(c.get("rawBytes") for c in entry.get("certChain", {}).get("certificates", []))


def parse_time(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not an ISO 8601 time: {text}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def build_client_trust_config(
    trusted_root: Mapping[str, Any], signing_config: Mapping[str, Any]
) -> dict[str, Any]:
    """A ``ClientTrustConfig`` (``sigstore --trust-config FILE``) wrapping both documents."""
    return {
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": dict(trusted_root),
        "signingConfig": dict(signing_config),
    }
