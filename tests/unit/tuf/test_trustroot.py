"""trusted_root.json / signing_config builders, checked by sigstore-python 4.5.1 itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from sigstore.models import Bundle, ClientTrustConfig, TrustedRoot
from sigstore.verify import Verifier, policy

from sigstack.protocol.errors import ValidationError
from sigstack.services.tuf import signingconfig, trustroot
from sigstack.services.tuf.cli import main as tuf_main
from tests.unit.tuf.helpers import CASE, staging_case_root

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _pub(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ca_chain() -> list[bytes]:
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP384R1())

    def cert(subject: str, key, issuer: str, signer, ca_path: int | None):
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstack"),
                x509.NameAttribute(NameOID.COMMON_NAME, subject),
            ]
        )
        iname = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstack"),
                x509.NameAttribute(NameOID.COMMON_NAME, issuer),
            ]
        )
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(iname)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=ca_path), critical=True)
            .sign(signer, hashes.SHA384())
        ).public_bytes(serialization.Encoding.PEM)

    return [
        cert("sigstack-intermediate", inter_key, "sigstack-root", root_key, 0),
        cert("sigstack-root", root_key, "sigstack-root", root_key, None),
    ]


def _fresh_root() -> dict:
    return trustroot.build_trusted_root(
        fulcio_chain_pem=_ca_chain(),
        fulcio_url="https://fulcio.example/",
        ctlog_public_key=_pub(ec.generate_private_key(ec.SECP256R1())),
        ctlog_url="https://ctlog.example",
        rekor_public_key=_pub(ed25519.Ed25519PrivateKey.generate()),
        rekor_url="https://rekor.example",
        valid_from=NOW,
    )


def _signing_config() -> dict:
    return signingconfig.build_signing_config(
        ca_urls=["https://fulcio.example"],
        oidc_urls=["https://oidc.example"],
        rekor_urls=["https://rekor.example"],
        tsa_urls=["https://tsa.example/api/v1/timestamp"],
        operator="sigstack.test",
        valid_from=NOW - timedelta(days=1),
    )


def test_fresh_trusted_root_shape_and_sigstore_python_accepts_it(tmp_path: Path) -> None:
    doc = _fresh_root()
    assert doc["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    assert doc["certificateAuthorities"][0]["subject"] == {
        "organization": "sigstack",
        "commonName": "sigstack-root",
    }
    assert doc["certificateAuthorities"][0]["uri"] == "https://fulcio.example"
    assert len(doc["certificateAuthorities"][0]["certChain"]["certificates"]) == 2
    assert doc["tlogs"][0]["publicKey"]["keyDetails"] == "PKIX_ED25519"
    assert doc["ctlogs"][0]["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert doc["ctlogs"][0]["publicKey"]["validFor"] == {"start": "2026-11-25T00:00:00Z"}
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(doc))
    root = TrustedRoot.from_file(str(path))
    Verifier(trusted_root=root)  # needs tlogs and CAs it can parse


def test_client_trust_config_accepted_by_sigstore_python() -> None:
    cfg = ClientTrustConfig.from_json(
        json.dumps(trustroot.build_client_trust_config(_fresh_root(), _signing_config()))
    )
    sc = cfg.signing_config
    assert sc._fulcios[0].url == "https://fulcio.example"  # what get_fulcio() uses
    assert sc.get_oidc_url() == "https://oidc.example"
    assert [t.url for t in sc.get_tsas()] == ["https://tsa.example/api/v1/timestamp"]
    assert len(sc.get_tlogs()) == 1


def test_signing_config_needs_ca_and_rekor() -> None:
    with pytest.raises(ValidationError):
        signingconfig.build_signing_config(
            ca_urls=[], oidc_urls=[], rekor_urls=["https://r"], operator="x", valid_from=NOW
        )


def _verify_case(root_doc: dict, tmp_path: Path) -> None:
    path = tmp_path / "root.json"
    path.write_text(json.dumps(root_doc))
    verifier = Verifier(trusted_root=TrustedRoot.from_file(str(path)))
    bundle = Bundle.from_json((CASE / "bundle.sigstore.json").read_bytes())
    identity = policy.Identity(
        identity=(CASE / "identity").read_text().strip(),
        issuer=(CASE / "issuer").read_text().strip(),
    )
    verifier.verify_artifact((CASE / "artifact").read_bytes(), bundle, identity)


def test_built_root_verifies_a_real_staging_bundle(tmp_path: Path) -> None:
    _verify_case(staging_case_root(), tmp_path)


def test_built_root_with_a_wrong_rekor_key_rejects_the_bundle(tmp_path: Path) -> None:
    doc = staging_case_root()
    other = trustroot.log_instance(
        _pub(ec.generate_private_key(ec.SECP256R1())),
        "https://rekor.sigstage.dev",
        start=NOW - timedelta(days=2000),
    )
    doc["tlogs"] = [other]
    with pytest.raises(Exception, match="(?i)checkpoint|log|signature|key"):
        _verify_case(doc, tmp_path)


def test_rotation_adds_key_closes_old_window_and_old_bundles_still_verify(tmp_path: Path) -> None:
    doc = staging_case_root()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    new_rekor = trustroot.log_instance(
        _pub(ec.generate_private_key(ec.SECP256R1())), "https://rekor.sigstage.dev/", start=at
    )
    rotated = trustroot.rotate(doc, "tlogs", new_rekor, at)
    assert doc["tlogs"][0]["publicKey"]["validFor"] == {"start": "2022-07-01T00:00:00Z"}  # pure
    old, new = rotated["tlogs"]
    assert old["publicKey"]["validFor"] == {
        "start": "2022-07-01T00:00:00Z",
        "end": "2026-01-01T00:00:00Z",
    }
    assert new["publicKey"]["validFor"] == {"start": "2026-01-01T00:00:00Z"}
    new_ca = trustroot.certificate_authority(_ca_chain(), "https://fulcio.sigstage.dev", start=at)
    rotated = trustroot.rotate(rotated, "certificateAuthorities", new_ca, at)
    assert rotated["certificateAuthorities"][0]["validFor"]["end"] == "2026-01-01T00:00:00Z"
    assert "end" not in rotated["certificateAuthorities"][1]["validFor"]
    _verify_case(rotated, tmp_path)
    with pytest.raises(ValidationError, match="already"):
        trustroot.rotate(rotated, "tlogs", new_rekor, at)
    with pytest.raises(ValidationError, match="after the rotation"):
        trustroot.rotate(
            doc,
            "ctlogs",
            trustroot.log_instance(
                _pub(ec.generate_private_key(ec.SECP256R1())),
                "https://ctfe.sigstage.dev/2022-2",
                start=NOW,
            ),
            datetime(2020, 1, 1, tzinfo=UTC),
        )


def test_tsa_chain_needs_two_certificates() -> None:
    chain = _ca_chain()
    with pytest.raises(ValidationError, match="TSA"):
        trustroot.build_trusted_root(
            fulcio_chain_pem=chain,
            fulcio_url="https://f",
            ctlog_public_key=_pub(ec.generate_private_key(ec.SECP256R1())),
            ctlog_url="https://c",
            rekor_public_key=_pub(ec.generate_private_key(ec.SECP256R1())),
            rekor_url="https://r",
            valid_from=NOW,
            tsa_chain_pem=chain[1],
            tsa_url="https://t",
        )


def test_cli_builds_documents_from_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "chain.pem").write_bytes(b"".join(_ca_chain()))
    (tmp_path / "ct.pem").write_bytes(_pub(ec.generate_private_key(ec.SECP256R1())))
    rekor_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "rekor.pem").write_bytes(_pub(rekor_key))
    out = tmp_path / "trusted_root.json"
    assert (
        tuf_main(
            [
                "trusted-root",
                "--fulcio-chain",
                str(tmp_path / "chain.pem"),
                "--fulcio-url",
                "https://f.example",
                "--ctlog-key",
                str(tmp_path / "ct.pem"),
                "--ctlog-url",
                "https://ct.example",
                "--rekor-key",
                str(tmp_path / "rekor.pem"),
                "--rekor-url",
                "https://r.example",
                "--valid-from",
                "2026-01-01T00:00:00Z",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    (tmp_path / "rekor2.pem").write_bytes(_pub(ec.generate_private_key(ec.SECP256R1())))
    assert (
        tuf_main(
            [
                "trusted-root-rotate",
                str(out),
                "--kind",
                "tlogs",
                "--key",
                str(tmp_path / "rekor2.pem"),
                "--url",
                "https://r.example",
                "--at",
                "2026-06-01T00:00:00Z",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert (
        tuf_main(
            [
                "signing-config",
                "--ca-url",
                "https://f.example",
                "--rekor-url",
                "https://r.example",
                "--oidc-url",
                "https://o.example",
                "--operator",
                "example.com",
                "--valid-from",
                "2026-01-01",
                "-o",
                str(tmp_path / "sc.json"),
            ]
        )
        == 0
    )
    assert (
        tuf_main(
            [
                "trust-config",
                "--trusted-root",
                str(out),
                "--signing-config",
                str(tmp_path / "sc.json"),
                "-o",
                str(tmp_path / "tc.json"),
            ]
        )
        == 0
    )
    cfg = ClientTrustConfig.from_json((tmp_path / "tc.json").read_text())
    assert cfg.signing_config._fulcios[0].url == "https://f.example"
    tlogs = json.loads(out.read_text())["tlogs"]
    assert [t["publicKey"]["validFor"].get("end") for t in tlogs] == ["2026-06-01T00:00:00Z", None]
