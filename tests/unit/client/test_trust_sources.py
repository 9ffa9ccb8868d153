"""Trust sources other than --trusted-root: --trust-config, the cosign-style SIGSTORE_* variables
(assembled into a trusted root), and signing configs from URL flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigstack.client import trust
from sigstack.client.cli import main
from sigstack.protocol.errors import ValidationError
from sigstack.protocol.trust import ClientTrustConfig, SigningConfig

from .kit import IDENTITY, ISSUER, Kit, pem

DATA = b"env trust\n"


@pytest.fixture
def setup(tmp_path: Path):
    kit = Kit()
    bundle, _ = kit.sign_blob(DATA)
    (tmp_path / "b.json").write_text(bundle.to_json())
    (tmp_path / "a.txt").write_bytes(DATA)
    (tmp_path / "fulcio.pem").write_bytes(pem(kit.ca))
    (tmp_path / "rekor.pub").write_bytes(pem(kit.log_key.public_key()))
    (tmp_path / "ctfe.pub").write_bytes(pem(kit.ct_key.public_key()))
    return kit, tmp_path


def _args(tmp: Path) -> list[str]:
    return ["verify-blob", str(tmp / "a.txt"), "--bundle", str(tmp / "b.json"),
            "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]  # fmt: skip


def test_sigstore_env_variables(setup, monkeypatch, capsys) -> None:
    _, tmp = setup
    monkeypatch.setenv("TUF_ROOT", str(tmp / "empty"))
    monkeypatch.setenv("SIGSTORE_ROOT_FILE", str(tmp / "fulcio.pem"))
    monkeypatch.setenv("SIGSTORE_REKOR_PUBLIC_KEY", str(tmp / "rekor.pub"))
    assert main(_args(tmp)) == 1
    assert "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE" in capsys.readouterr().err
    monkeypatch.setenv("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", str(tmp / "ctfe.pub"))
    assert main(_args(tmp)) == 0
    monkeypatch.setenv("SIGSTORE_REKOR_PUBLIC_KEY", str(tmp / "ctfe.pub"))  # wrong log key
    assert main(_args(tmp)) == 1


def test_trust_config_file(setup) -> None:
    kit, tmp = setup
    (tmp / "tc.json").write_text(ClientTrustConfig(kit.trusted_root(), SigningConfig()).to_json())
    assert main([*_args(tmp), "--trust-config", str(tmp / "tc.json")]) == 0


def test_signing_config_from_url_flags() -> None:
    opts = trust.TrustOptions(fulcio_url="https://f.test", rekor_url="https://r.test",
                              oidc_issuer="https://o.test")  # fmt: skip
    config = trust.signing_config(opts, env={})
    assert config.ca_urls[0].url == "https://f.test"
    assert config.oidc_urls[0].url == "https://o.test"
    with pytest.raises(ValidationError):
        trust.signing_config(trust.TrustOptions(fulcio_url="https://f.test"), env={})


def test_sigstore_env_files_cryptography_cannot_read(setup, tmp_path: Path) -> None:
    """A version-4 certificate (``InvalidVersion``) and a key of an unknown type
    (``UnsupportedAlgorithm``) are refused with the variable's name, not a traceback."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from tests.unit.fuzz import broken
    from tests.unit.fuzz.mutate import der_parse, der_write

    kit, tmp = setup
    env = {"SIGSTORE_ROOT_FILE": str(tmp / "fulcio.pem"),
           "SIGSTORE_REKOR_PUBLIC_KEY": str(tmp / "rekor.pub"),
           "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": str(tmp / "ctfe.pub")}  # fmt: skip
    assert trust.root_from_env(env) is not None

    def armour(der: bytes, kind: str) -> bytes:
        body = base64.encodebytes(der).decode()
        return f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n".encode()

    ca = kit.ca.public_bytes(Encoding.DER)
    (tmp / "v4.pem").write_bytes(armour(broken.bad_version(ca), "CERTIFICATE"))
    with pytest.raises(ValidationError, match="SIGSTORE_ROOT_FILE"):
        trust.root_from_env({**env, "SIGSTORE_ROOT_FILE": str(tmp / "v4.pem")})
    tree = der_parse(broken.unknown_key_type(ca), 0, len(broken.unknown_key_type(ca)), 0)
    spki = der_write([tree[0][1][0][1][6]])  # type: ignore[index]
    assert x509.load_der_x509_certificate(broken.unknown_key_type(ca))
    (tmp / "odd.pub").write_bytes(armour(spki, "PUBLIC KEY"))
    with pytest.raises(ValidationError, match="SIGSTORE_REKOR_PUBLIC_KEY"):
        trust.root_from_env({**env, "SIGSTORE_REKOR_PUBLIC_KEY": str(tmp / "odd.pub")})
