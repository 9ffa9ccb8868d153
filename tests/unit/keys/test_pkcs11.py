"""pkcs11: keys on a real SoftHSM2 token: generate, load, sign; CA creation in the HSM; a Fulcio
leaf issued by an HSM-held intermediate that chains root -> intermediate -> leaf."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import load_signer

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321"

pytestmark = pytest.mark.skipif(
    not os.path.exists(MODULE), reason=f"SoftHSM2 module {MODULE} is not installed (apt softhsm2)"
)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SoftHSM2 token with a unique label; SOFTHSM2_CONF points at a temp config."""
    tmp = tmp_path_factory.mktemp("softhsm")
    (tmp / "tokens").mkdir()
    conf = tmp / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp / 'tokens'}\nobjectstore.backend = file\n")
    # SoftHSM reads the variable when the module is first initialised in this process; every
    # token these tests use lives in this one directory.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    label = "t" + uuid.uuid4().hex[:8]
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                    "--pin", PIN, "--so-pin", "87654321"], check=True, capture_output=True,
                   env={**os.environ, "SOFTHSM2_CONF": str(conf)})  # fmt: skip
    return label


def _uri(label: str, obj: str, pin: str = "pin-env=HSM_PIN") -> str:
    return f"pkcs11:token={label};object={obj}?module-path={MODULE}&{pin}"


def test_generate_load_sign(token: str) -> None:
    from sigstack.services.keys import pkcs11

    env = {"HSM_PIN": PIN}
    signer = pkcs11.generate(_uri(token, "k1"), "secp256r1", env)
    again = load_signer(_uri(token, "k1"), env)
    assert again.public_der == signer.public_der
    sig = again.sign(b"message")
    again.public_key.verify(sig, b"message", ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr]
    with pytest.raises(UnsupportedAlgorithm):
        again.private_key.private_bytes()
    with pytest.raises(ConfigError, match="already holds"):
        pkcs11.generate(_uri(token, "k1"), "secp256r1", env)


def test_uri_errors(token: str) -> None:
    with pytest.raises(ConfigError, match="token= and object="):
        load_signer(f"pkcs11:object=x?module-path={MODULE}&pin-value={PIN}")
    with pytest.raises(ConfigError, match="module-path"):
        load_signer(f"pkcs11:token={token};object=x?pin-value={PIN}")
    with pytest.raises(ConfigError, match="HSM_PIN"):
        load_signer(_uri(token, "k1"), {})
    with pytest.raises(ConfigError, match="no PKCS#11 token"):
        load_signer(_uri("nosuchtoken", "k1", f"pin-value={PIN}"))
    with pytest.raises(ConfigError, match="found 0"):
        load_signer(_uri(token, "absent"), {"HSM_PIN": PIN})
    with pytest.raises(ConfigError, match="cannot load PKCS#11 module"):
        load_signer(f"pkcs11:token={token};object=k1?module-path=/nonexistent.so&pin-value=1")


def test_ca_create_in_hsm_and_issue(token: str, tmp_path: Path, monkeypatch: Any) -> None:
    from sigstack.services.fulcio.app import create_app
    from sigstack.services.fulcio.cli import ca_main
    from sigstack.services.fulcio.config import FulcioConfig
    from tests.support.fulcio import v2_csr_body
    from tests.support.keys import csr_pem, new_key
    from tests.support.oidc import OIDCIssuer

    monkeypatch.setenv("HSM_PIN", PIN)
    root_uri, inter_uri = _uri(token, "root"), _uri(token, "intermediate")
    assert ca_main(["create", "--out-dir", str(tmp_path), "--algorithm", "ecdsa-p384",
                    "--root-key-uri", root_uri, "--intermediate-key-uri", inter_uri]) == 0  # fmt: skip
    assert not list(tmp_path.glob("*key*"))  # keys stay in the token
    chain = x509.load_pem_x509_certificates((tmp_path / "chain.pem").read_bytes())
    issuer = OIDCIssuer(("RS256",))
    try:
        config = {"OIDCIssuers": {issuer.url: {"Type": "email"}}, "ca_key": inter_uri,
                  "ca_chain": str(tmp_path / "chain.pem"), "ct_log_url": ""}  # fmt: skip
        client = create_app(
            FulcioConfig.from_mapping(json.loads(json.dumps(config))), os.environ
        ).test_client()
        key = new_key("ec-p256")
        resp = client.post(
            "/api/v2/signingCert", json=v2_csr_body(csr_pem(key), issuer.email_token())
        )
        assert resp.status_code == 200, resp.get_json()
        pems = resp.get_json()["signedCertificateDetachedSct"]["chain"]["certificates"]
    finally:
        issuer.close()
    leaf = x509.load_pem_x509_certificate(pems[0].encode())
    assert leaf.signature_hash_algorithm.name == "sha384"  # type: ignore[union-attr]
    verifier = (
        PolicyBuilder()
        .store(Store([chain[-1]]))
        .time(dt.datetime.now(dt.UTC))
        .extension_policies(**_relaxed_eku())
        .build_client_verifier()
    )
    verified = verifier.verify(leaf, [chain[0]])
    assert [c.subject for c in verified.chain] == [leaf.subject, chain[0].subject, chain[1].subject]


def _relaxed_eku() -> dict[str, Any]:
    """sigstore-python's policy: WebPKI defaults with the EKU check relaxed to codeSigning."""
    from cryptography.x509.verification import Criticality, ExtensionPolicy

    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    return {"ca_policy": ca, "ee_policy": ee}
