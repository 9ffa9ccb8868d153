"""Fulcio and the CT log as real gunicorn servers, driven by sigstore-python 4.5.1.

The CA is made with ``sigstack ca create`` (encrypted file keys), the CT log and Fulcio are
started with ``sigstack serve``, tokens come from a throw-away OIDC issuer. sigstore-python's Fulcio
client obtains a certificate, its SCT verification accepts it with a trusted root listing our CA and
CT log, and a full ``sign_artifact`` + ``verify_artifact`` round trip (with our Rekor) succeeds.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.keys import csr_pem
from tests.support.servers import sigstack_cli
from tests.support.signing_services import signing_services, trust_config
from tests.support.testdata import ROOT

pytestmark = [pytest.mark.xdist_group("servers"), pytest.mark.interop]

SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("fulcio-int")
    with signing_services(tmp) as running:
        key = (tmp / "ca" / "intermediate-key.pem").read_bytes()
        assert key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        yield running


def test_sigstore_python_fulcio_client_and_sct(stack: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from sigstore._internal.fulcio.client import FulcioClient
    from sigstore._internal.sct import verify_sct
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken

    config = ClientTrustConfig.from_json(json.dumps(trust_config(stack)))
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.load_pem_x509_csr(csr_pem(key))
    token = IdentityToken(stack["issuer"].email_token("pat@example.com"))
    resp = FulcioClient(stack["fulcio"].url).signing_cert.post(csr, token)
    verify_sct(resp.cert, resp.chain, config.trusted_root.ct_keyring(KeyringPurpose.SIGN))
    assert resp.cert.signature_hash_algorithm.name == "sha384"  # type: ignore[union-attr]
    # The SCT must not verify against a keyring without our CT log.
    from sigstore._internal.trust import CTKeyring, Keyring
    from sigstore.errors import VerificationError

    with pytest.raises(VerificationError):
        verify_sct(resp.cert, resp.chain, CTKeyring(Keyring([])))


def test_sigstore_python_sign_and_verify(stack: dict[str, Any]) -> None:
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    config = ClientTrustConfig.from_json(json.dumps(trust_config(stack)))
    ctx = SigningContext.from_trust_config(config)
    token = IdentityToken(stack["issuer"].email_token("quinn@example.com"))
    with ctx.signer(token) as signer:
        bundle = signer.sign_artifact(b"hello sigstack")
    verifier = Verifier(trusted_root=config.trusted_root)
    policy = Identity(identity="quinn@example.com", issuer=stack["issuer"].url)
    verifier.verify_artifact(b"hello sigstack", bundle, policy)
    from sigstore.errors import VerificationError

    with pytest.raises(VerificationError):
        verifier.verify_artifact(b"tampered", bundle, policy)


def test_v1_api_and_refusal_through_gunicorn(stack: dict[str, Any]) -> None:
    url = stack["fulcio"].url
    root = requests.get(f"{url}/api/v1/rootCert", timeout=10)
    assert root.status_code == 200 and root.text.count("BEGIN CERTIFICATE") == 2
    before = requests.get(f"{stack['ct'].url}/ct/v1/get-sth", timeout=10).json()["tree_size"]
    bad = requests.post(f"{url}/api/v2/signingCert", timeout=10,
                        json={"certificateSigningRequest": "AAAA"},
                        headers={"Authorization": "Bearer " + stack["issuer"].email_token(
                            aud="other")})  # fmt: skip
    assert bad.status_code == 400 and bad.json()["code"] == 3
    after = requests.get(f"{stack['ct'].url}/ct/v1/get-sth", timeout=10).json()["tree_size"]
    assert after == before
    assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "SERVING"}


def test_serve_refuses_inconsistent_data_dirs(stack: dict[str, Any], tmp_path: Path) -> None:
    ca = stack["tmp"] / "ca" / "root.pem"
    data = tmp_path / "ct"
    data.mkdir()
    (data / "ctlog.db").write_bytes(b"")
    done = sigstack_cli(
        "serve", "ctlog", "--data-dir", str(data), "--roots", str(ca), "--port", "1"
    )
    assert done.returncode != 0 and "missing" in done.stderr
    fdata = tmp_path / "fulcio" / "ca"
    fdata.mkdir(parents=True)
    (fdata / "chain.pem").write_bytes(ca.read_bytes())
    done = sigstack_cli("serve", "fulcio", "--data-dir", str(tmp_path / "fulcio"), "--port", "1",
                     "--config", str(stack["tmp"] / "fulcio.json"))  # fmt: skip
    assert done.returncode != 0 and "intermediate-key.pem is missing" in done.stderr


SIGSTORE_JS = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "sigstore"


@pytest.mark.skipif(not SIGSTORE_JS.exists(), reason="sigstore-js CLI not installed (make sysdeps)")
def test_sigstore_js_attest_gets_a_certificate(stack: dict[str, Any], tmp_path: Path) -> None:
    """sigstore-js (public key + proof of possession over the email) signs with our Fulcio."""
    (tmp_path / "statement.json").write_text('{"_type": "https://in-toto.io/Statement/v1"}')
    env = {**os.environ, "CI": "true",
           "SIGSTORE_ID_TOKEN": stack["issuer"].email_token("js@example.com")}  # fmt: skip
    done = subprocess.run(
        [str(SIGSTORE_JS), "attest", str(tmp_path / "statement.json"), "--no-tlog-upload",
         "--fulcio-url", stack["fulcio"].url, "-o", str(tmp_path / "bundle.json")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    bundle = json.loads((tmp_path / "bundle.json").read_text())
    material = bundle["verificationMaterial"]
    raw = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
    leaf = x509.load_der_x509_certificate(base64.b64decode(raw["rawBytes"]))
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["js@example.com"]
    chain = x509.load_pem_x509_certificates((stack["tmp"] / "ca" / "chain.pem").read_bytes())
    leaf.verify_directly_issued_by(chain[0])
