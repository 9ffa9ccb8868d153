"""sigstack.protocol.trust: the must-load and must-reject lists of testdata/README.md, windows, selection."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.trust import (
    CertificateAuthority,
    ClientTrustConfig,
    Service,
    ServiceConfiguration,
    SigningConfig,
    TimeRange,
    TrustedRoot,
    select_services,
)
from tests.support.testdata import TESTDATA

P = TESTDATA / "pyassets"
TA = P / "test-assets"


@pytest.mark.parametrize(
    "path",
    [
        P / "trust/production/trusted_root.json",
        P / "trust/staging/trusted_root.json",
        TA / "trusted_root/trustedroot.v1.json",
        TA / "trusted_root/trustedroot.v1.local_tlog_ed25519_rekor-tiles.json",
    ],
    ids=lambda p: p.name,
)
def test_trusted_roots_load_and_round_trip(path) -> None:
    root = TrustedRoot.from_file(str(path))
    assert root.tlogs and root.certificate_authorities
    assert TrustedRoot.from_json(root.to_json()) == root


@pytest.mark.parametrize(
    "path",
    [
        P / "trust/production/signing_config.v0.2.json",
        P / "trust/staging/signing_config.v0.2.json",
        TA / "signing_config/signingconfig.v2.json",
        TA / "signing_config/signingconfig-only-v1-rekor.v2.json",
    ],
    ids=lambda p: p.name,
)
def test_signing_configs_load(path) -> None:
    config = SigningConfig.from_file(str(path))
    assert SigningConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    "path", [TA / "trust_config/config.v1.json", TA / "tsa/trust_config.json"], ids=str
)
def test_trust_configs_load(path) -> None:
    config = ClientTrustConfig.from_file(str(path))
    assert ClientTrustConfig.from_json(config.to_json()) == config


def test_rejects() -> None:
    with pytest.raises(ValidationError, match="media type"):
        TrustedRoot.from_file(str(TA / "trusted_root/trustedroot.badtype.json"))
    with pytest.raises(ValidationError, match="media type"):
        ClientTrustConfig.from_file(str(TA / "trust_config/config.badtype.json"))
    with pytest.raises(ValidationError, match="missing a certificate"):
        CertificateAuthority.from_json(
            (TA / "trusted_root/certificate_authority.empty.json").read_text()
        )
    assert (
        len(
            CertificateAuthority.from_json(
                (TA / "trusted_root/certificate_authority.json").read_text()
            ).cert_chain
        )
        == 3
    )
    CertificateAuthority.from_json(
        (TA / "trusted_root/certificate_authority.missingroot.json").read_text()
    )


def test_missing_start_is_an_error() -> None:
    obj = json.loads((P / "trust/staging/trusted_root.json").read_text())
    del obj["tlogs"][0]["publicKey"]["validFor"]["start"]
    with pytest.raises(ValidationError, match="start"):
        TrustedRoot.from_dict(obj)


def test_signing_config_v01_rejected() -> None:
    with pytest.raises(ValidationError, match="media type"):
        SigningConfig.from_json(
            '{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.1+json"}'
        )
    assert (
        SigningConfig.from_json(
            '{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json"}'
        ).ca_urls
        == ()
    )


def test_closed_windows() -> None:
    a, b = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    w = TimeRange(a, b)
    assert w.contains(a) and w.contains(b)
    assert not w.contains(datetime(2024, 2, 1, 0, 0, 1, tzinfo=UTC))


def test_select_services() -> None:
    now = datetime(2025, 10, 1, tzinfo=UTC)
    config = SigningConfig.from_file(str(P / "trust/staging/signing_config.v0.2.json"))
    chosen = select_services(config.rekor_tlog_urls, (1, 2), config.rekor_tlog_config, now)
    assert [s.url for s in chosen] == ["https://log2025-alpha3.rekor.sigstage.dev"]
    only_v1 = select_services(config.rekor_tlog_urls, (1,), None, now)
    assert [s.url for s in only_v1] == ["https://rekor.sigstage.dev"]
    two = (Service("https://a", 1, None, "a"), Service("https://b", 1, None, "b"))
    assert len(select_services(two, (1,), ServiceConfiguration("ALL"), now)) == 2
    with pytest.raises(ValidationError):
        select_services(two, (1,), ServiceConfiguration("EXACT", 3), now)
    with pytest.raises(ValidationError):
        select_services((), (1,), None, now)
