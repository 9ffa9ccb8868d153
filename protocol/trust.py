"""Trust material: TrustedRoot, SigningConfig v0.2 and ClientTrustConfig (protobuf-specs
``sigstore_trustroot.proto``), frozen models with ``from_json`` / ``to_json``.

Parsing checks shape only: known media types, a non-empty certificate chain per authority, every
``validFor`` carrying a ``start`` (a window without a start is rejected rather than read as "since
forever"), decodable base64. Validity windows are closed intervals ``[start, end]``; a window that
is absent altogether means "always". Choosing keys for a purpose (verify vs. sign) and services
for signing is done by the helpers here; the cryptography is left to ``client``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .errors import ValidationError
from .files import read_file
from .protojson import Reader, b64, loads, rfc3339
from .record import record

TRUSTED_ROOT_V01 = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
TRUSTED_ROOT_V02 = "application/vnd.dev.sigstore.trustedroot.v0.2+json"
SIGNING_CONFIG_V02 = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_V01 = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"


@record(frozen=True)
class TimeRange:
    start: datetime
    end: datetime | None = None

    def contains(self, when: datetime) -> bool:
        """Closed interval: ``start <= when <= end`` (no end = open-ended)."""
        return self.start <= when and (self.end is None or when <= self.end)

    def started(self, when: datetime) -> bool:
        return self.start <= when

    @classmethod
    def _read(cls, r: Reader) -> TimeRange:
        if not r.has("start"):
            raise ValidationError(
                f"{r.where('start')} is required (a validity window needs a start)"
            )
        start = r.time("start")
        end = r.time("end") if r.has("end") else None
        if end is not None and end < start:
            raise ValidationError(f"{r.path} ends before it starts")
        return cls(start=start, end=end)

    def _write(self) -> dict[str, Any]:
        out = {"start": rfc3339(self.start)}
        if self.end is not None:
            out["end"] = rfc3339(self.end)
        return out


def _window(r: Reader) -> TimeRange | None:
    v = r.opt_obj("valid_for")
    return TimeRange._read(v) if v is not None else None


def in_window(window: TimeRange | None, when: datetime) -> bool:
    return window is None or window.contains(when)


@record(frozen=True)
class PublicKey:
    raw_bytes: bytes  # DER SubjectPublicKeyInfo
    key_details: str  # PublicKeyDetails enum name
    valid_for: TimeRange | None = None

    @classmethod
    def _read(cls, r: Reader) -> PublicKey:
        return cls(
            raw_bytes=r.blob("raw_bytes", required=False),
            key_details=r.text("key_details", "PUBLIC_KEY_DETAILS_UNSPECIFIED"),
            valid_for=_window(r),
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rawBytes": b64(self.raw_bytes), "keyDetails": self.key_details}
        if self.valid_for is not None:
            out["validFor"] = self.valid_for._write()
        return out


@record(frozen=True)
class TransparencyLogInstance:
    base_url: str
    hash_algorithm: str
    public_key: PublicKey
    log_id: bytes
    checkpoint_key_id: bytes | None = None
    operator: str = ""

    @classmethod
    def _read(cls, r: Reader) -> TransparencyLogInstance:
        cp = r.opt_obj("checkpoint_key_id")
        return cls(
            base_url=r.text("base_url", ""),
            hash_algorithm=r.text("hash_algorithm", "HASH_ALGORITHM_UNSPECIFIED"),
            public_key=PublicKey._read(r.obj("public_key")),
            log_id=r.obj("log_id").blob("key_id"),
            checkpoint_key_id=cp.blob("key_id") if cp is not None else None,
            operator=r.text("operator", ""),
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "baseUrl": self.base_url,
            "hashAlgorithm": self.hash_algorithm,
            "publicKey": self.public_key._write(),
            "logId": {"keyId": b64(self.log_id)},
        }
        if self.checkpoint_key_id is not None:
            out["checkpointKeyId"] = {"keyId": b64(self.checkpoint_key_id)}
        if self.operator:
            out["operator"] = self.operator
        return out


@record(frozen=True)
class CertificateAuthority:
    cert_chain: tuple[bytes, ...]  # DER, leaf-most first, trust anchor last
    valid_for: TimeRange | None = None
    uri: str = ""
    organization: str = ""
    common_name: str = ""
    operator: str = ""

    @classmethod
    def from_json(cls, text: str | bytes) -> CertificateAuthority:
        return cls._read(Reader(loads(text, "certificate authority"), "certificateAuthority"))

    @classmethod
    def _read(cls, r: Reader) -> CertificateAuthority:
        chain = r.opt_obj("cert_chain")
        certs = tuple(c.blob("raw_bytes") for c in chain.objs("certificates")) if chain else ()
        if not certs:
            raise ValidationError(f"{r.path} is missing a certificate in its certChain")
        subject = r.opt_obj("subject")
        return cls(
            cert_chain=certs,
            valid_for=_window(r),
            uri=r.text("uri", ""),
            organization=subject.text("organization", "") if subject else "",
            common_name=subject.text("common_name", "") if subject else "",
            operator=r.text("operator", ""),
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "subject": {"organization": self.organization, "commonName": self.common_name},
            "uri": self.uri,
            "certChain": {"certificates": [{"rawBytes": b64(c)} for c in self.cert_chain]},
        }
        if self.valid_for is not None:
            out["validFor"] = self.valid_for._write()
        if self.operator:
            out["operator"] = self.operator
        return out


@record(frozen=True)
class TrustedRoot:
    media_type: str
    tlogs: tuple[TransparencyLogInstance, ...]
    certificate_authorities: tuple[CertificateAuthority, ...]
    ctlogs: tuple[TransparencyLogInstance, ...]
    timestamp_authorities: tuple[CertificateAuthority, ...] = ()

    @classmethod
    def from_json(cls, text: str | bytes) -> TrustedRoot:
        return cls.from_dict(loads(text, "trusted root"))

    @classmethod
    def from_file(cls, path: str) -> TrustedRoot:
        return cls.from_json(read_file(path, "trusted root"))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> TrustedRoot:
        r = Reader(obj, "trustedRoot")
        media_type = r.text("media_type", "")
        if media_type not in (TRUSTED_ROOT_V01, TRUSTED_ROOT_V02):
            raise ValidationError(f"unsupported trusted root media type {media_type!r}")
        return cls(
            media_type=media_type,
            tlogs=tuple(TransparencyLogInstance._read(t) for t in r.objs("tlogs")),
            certificate_authorities=tuple(
                CertificateAuthority._read(c) for c in r.objs("certificate_authorities")
            ),
            ctlogs=tuple(TransparencyLogInstance._read(t) for t in r.objs("ctlogs")),
            timestamp_authorities=tuple(
                CertificateAuthority._read(c) for c in r.objs("timestamp_authorities")
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "tlogs": [t._write() for t in self.tlogs],
            "certificateAuthorities": [c._write() for c in self.certificate_authorities],
            "ctlogs": [t._write() for t in self.ctlogs],
            "timestampAuthorities": [c._write() for c in self.timestamp_authorities],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


@record(frozen=True)
class Service:
    url: str
    major_api_version: int
    valid_for: TimeRange | None = None
    operator: str = ""

    @classmethod
    def _read(cls, r: Reader) -> Service:
        url = r.text("url")
        if not url:
            raise ValidationError(f"{r.where('url')} must not be empty")
        return cls(
            url=url,
            major_api_version=r.integer("major_api_version"),
            valid_for=_window(r),
            operator=r.text("operator", ""),
        )

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "majorApiVersion": self.major_api_version}
        if self.valid_for is not None:
            out["validFor"] = self.valid_for._write()
        out["operator"] = self.operator
        return out


SELECTORS = ("ALL", "ANY", "EXACT")


@record(frozen=True)
class ServiceConfiguration:
    selector: str = "ANY"
    count: int = 0

    @classmethod
    def _read(cls, r: Reader | None) -> ServiceConfiguration:
        if r is None:
            return cls()
        selector = r.text("selector", "ANY")
        if selector not in SELECTORS:
            raise ValidationError(f"{r.where('selector')} must be one of {', '.join(SELECTORS)}")
        count = r.integer("count")
        if selector == "EXACT" and count < 1:
            raise ValidationError(f"{r.where('count')} must be at least 1 with selector EXACT")
        return cls(selector=selector, count=count)

    def _write(self) -> dict[str, Any]:
        out: dict[str, Any] = {"selector": self.selector}
        if self.count:
            out["count"] = self.count
        return out


@record(frozen=True)
class SigningConfig:
    media_type: str = SIGNING_CONFIG_V02
    ca_urls: tuple[Service, ...] = ()
    oidc_urls: tuple[Service, ...] = ()
    rekor_tlog_urls: tuple[Service, ...] = ()
    tsa_urls: tuple[Service, ...] = ()
    rekor_tlog_config: ServiceConfiguration = ServiceConfiguration()
    tsa_config: ServiceConfiguration = ServiceConfiguration()

    @classmethod
    def from_json(cls, text: str | bytes) -> SigningConfig:
        return cls.from_dict(loads(text, "signing config"))

    @classmethod
    def from_file(cls, path: str) -> SigningConfig:
        return cls.from_json(read_file(path, "signing config"))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> SigningConfig:
        r = Reader(obj, "signingConfig")
        media_type = r.text("media_type", "")
        if media_type != SIGNING_CONFIG_V02:
            raise ValidationError(
                f"unsupported signing config media type {media_type!r}"
                f" (expected {SIGNING_CONFIG_V02})"
            )

        def services(name: str) -> tuple[Service, ...]:
            return tuple(Service._read(s) for s in r.objs(name))

        return cls(
            media_type=media_type,
            ca_urls=services("ca_urls"),
            oidc_urls=services("oidc_urls"),
            rekor_tlog_urls=services("rekor_tlog_urls"),
            tsa_urls=services("tsa_urls"),
            rekor_tlog_config=ServiceConfiguration._read(r.opt_obj("rekor_tlog_config")),
            tsa_config=ServiceConfiguration._read(r.opt_obj("tsa_config")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "caUrls": [s._write() for s in self.ca_urls],
            "oidcUrls": [s._write() for s in self.oidc_urls],
            "rekorTlogUrls": [s._write() for s in self.rekor_tlog_urls],
            "tsaUrls": [s._write() for s in self.tsa_urls],
            "rekorTlogConfig": self.rekor_tlog_config._write(),
            "tsaConfig": self.tsa_config._write(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def select_services(
    services: tuple[Service, ...],
    versions: tuple[int, ...],
    config: ServiceConfiguration | None = None,
    now: datetime | None = None,
) -> list[Service]:
    """Services usable now, one per operator (highest supported API version, newest start first),
    pruned by the selector: ``ANY`` → the first, ``EXACT`` → ``count`` (error if fewer), ``ALL``
    → every one. Raises ``ValidationError`` when nothing usable is configured."""
    when = now or datetime.now(UTC)
    by_operator: dict[str, Service] = {}
    usable = [
        s for s in services if s.major_api_version in versions and in_window(s.valid_for, when)
    ]
    for s in usable:
        best = by_operator.get(s.operator)
        if best is None or s.major_api_version > best.major_api_version:
            by_operator[s.operator] = s
    chosen = list(by_operator.values())
    if not chosen:
        raise ValidationError(
            "no currently valid service with API version "
            f"{'/'.join(map(str, versions))} is configured"
        )
    config = config or ServiceConfiguration()
    if config.selector == "ANY":
        return chosen[:1]
    if config.selector == "EXACT":
        if len(chosen) < config.count:
            raise ValidationError(
                f"signing config asks for {config.count} services but only {len(chosen)} are usable"
            )
        return chosen[: config.count]
    return chosen


@record(frozen=True)
class ClientTrustConfig:
    trusted_root: TrustedRoot
    signing_config: SigningConfig
    media_type: str = CLIENT_TRUST_CONFIG_V01

    @classmethod
    def from_json(cls, text: str | bytes) -> ClientTrustConfig:
        r = Reader(loads(text, "client trust config"), "clientTrustConfig")
        media_type = r.text("media_type", "")
        if media_type != CLIENT_TRUST_CONFIG_V01:
            raise ValidationError(f"unsupported client trust config media type {media_type!r}")
        root = r.raw("trusted_root")
        config = r.raw("signing_config")
        if not isinstance(root, dict) or not isinstance(config, dict):
            raise ValidationError("client trust config needs both trustedRoot and signingConfig")
        return cls(
            trusted_root=TrustedRoot.from_dict(root),
            signing_config=SigningConfig.from_dict(config),
            media_type=media_type,
        )

    @classmethod
    def from_file(cls, path: str) -> ClientTrustConfig:
        return cls.from_json(read_file(path, "client trust config"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "trustedRoot": self.trusted_root.to_dict(),
            "signingConfig": self.signing_config.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
