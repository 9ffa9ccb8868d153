"""``sigstack tsa create-chain`` and ``check-chain``: the certificate profile, files and modes,
keys through URIs, and refusals (nothing overwritten, nothing half-made left behind)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.client.cli import main as sigstack
from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import create_file_key, load_signer
from sigstack.services.tsa.certs import create_chain
from sigstack.services.tsa.chain import check_chain

TS = ExtendedKeyUsageOID.TIME_STAMPING


def _load(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_root_and_leaf(tmp_path: Path) -> None:
    paths = create_chain(tmp_path / "c")
    assert sorted(paths) == ["chain.pem", "leaf-key.pem", "leaf.pem", "root-key.pem", "root.pem"]
    for name in ("leaf-key.pem", "root-key.pem"):
        assert stat.S_IMODE(paths[name].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "c").stat().st_mode) == 0o700
    leaf, root = _load(paths["chain.pem"])
    assert _load(paths["leaf.pem"]) == [leaf] and _load(paths["root.pem"]) == [root]
    check_chain([leaf, root], load_signer(f"file:{paths['leaf-key.pem']}").public_der)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [TS]
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    # the trusted root's "subject" needs both (sigstore-python's model)
    for oid in (x509.NameOID.ORGANIZATION_NAME, x509.NameOID.COMMON_NAME):
        assert root.subject.get_attributes_for_oid(oid)
    assert leaf.not_valid_after_utc <= root.not_valid_after_utc


def test_intermediate_p384(tmp_path: Path) -> None:
    paths = create_chain(
        tmp_path,
        intermediate=True,
        algorithm="ecdsa-p384",
        organization="Example",
        common_name="example-tsa",
    )
    leaf, inter, root = _load(paths["chain.pem"])
    assert leaf.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    assert leaf.signature_hash_algorithm.name == "sha384"  # type: ignore[union-attr]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert list(inter.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [TS]
    assert leaf.subject.rfc4514_string() == "CN=example-tsa,O=Example"
    assert stat.S_IMODE(paths["intermediate-key.pem"].stat().st_mode) == 0o600


def test_given_keys_and_ephemeral_root(tmp_path: Path) -> None:
    create_file_key(tmp_path / "mine.pem", "ecdsa-p256")
    paths = create_chain(
        tmp_path / "c", key_uri=f"file:{tmp_path / 'mine.pem'}", root_key_uri="ephemeral:ecdsa-p384"
    )
    assert sorted(paths) == ["chain.pem", "leaf.pem", "root.pem"]  # no key written
    leaf, root = _load(paths["chain.pem"])
    assert root.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    check_chain([leaf, root], load_signer(f"file:{tmp_path / 'mine.pem'}").public_der)


def test_encrypted_keys(tmp_path: Path) -> None:
    env = {"TSA_PASS": "correct horse"}
    paths = create_chain(tmp_path, passphrase_env="TSA_PASS", environ=env)
    signer = load_signer(f"file:{paths['leaf-key.pem']}?passphrase-env=TSA_PASS", env)
    check_chain(_load(paths["chain.pem"]), signer.public_der)
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_signer(f"file:{paths['leaf-key.pem']}")


def test_refusals(tmp_path: Path) -> None:
    create_chain(tmp_path / "c")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        create_chain(tmp_path / "c")
    with pytest.raises(ConfigError, match="--intermediate-key needs --intermediate"):
        create_chain(tmp_path / "d", intermediate_key_uri="ephemeral:")
    with pytest.raises(ConfigError, match="cannot be ephemeral"):
        create_chain(tmp_path / "d", key_uri="ephemeral:")
    with pytest.raises(ConfigError, match="--generate creates pkcs11"):
        create_chain(tmp_path / "d", generate=True)
    with pytest.raises(ConfigError, match="--algorithm"):
        create_chain(tmp_path / "d", algorithm="rsa-2048")
    with pytest.raises(ConfigError, match="P-256 or P-384"):
        create_chain(tmp_path / "d", root_key_uri="ephemeral:ed25519")


def test_nothing_half_made_is_left(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TSA_PASS is not set"):
        create_chain(tmp_path / "e", passphrase_env="TSA_PASS", environ={})
    assert list((tmp_path / "e").iterdir()) == []
    with pytest.raises(ConfigError, match="P-256 or P-384"):
        create_chain(tmp_path / "f", intermediate=True, intermediate_key_uri="ephemeral:rsa-2048")
    assert list((tmp_path / "f").iterdir()) == []


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert sigstack(["tsa", "create-chain", "--out-dir", str(out), "--intermediate"]) == 0
    printed = capsys.readouterr()
    assert "serve with: sigstack serve tsa" in printed.out
    assert "NOT encrypted" in printed.err
    assert len(_load(out / "chain.pem")) == 3
    assert (
        sigstack(
            [
                "tsa",
                "check-chain",
                "--key",
                f"file:{out / 'leaf-key.pem'}",
                "--chain",
                str(out / "chain.pem"),
            ]
        )
        == 0
    )
    assert "ok: CN=sigstack-tsa,O=sigstack" in capsys.readouterr().out
    # a chain whose leaf is not the key's
    other = tmp_path / "other"
    assert sigstack(["tsa", "create-chain", "--out-dir", str(other)]) == 0
    capsys.readouterr()
    assert (
        sigstack(
            [
                "tsa",
                "check-chain",
                "--key",
                f"file:{other / 'leaf-key.pem'}",
                "--chain",
                str(out / "chain.pem"),
            ]
        )
        == 1
    )
    assert "does not match" in capsys.readouterr().err
    assert sigstack(["tsa", "create-chain", "--out-dir", str(out)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
