"""The client takes keys through ``protocol.keys``'s registry. Where its old copies disagreed with
another copy, the registry's answer, and why:

* an SCT is checked with SHA-256 whatever hash the CT key's ``keyDetails`` names (RFC 6962
  section 2.1.4; ``protocol.sct`` did so, the keyring used the ``keyDetails`` hash, so a P-384 CT
  log's SCTs failed);
* a trusted-root key counts only when its ``keyDetails`` describes it (a P-384 key labelled
  ``PKIX_ECDSA_P256_SHA_256`` was loaded and used with SHA-256);
* a key read from ``SIGSTORE_REKOR_PUBLIC_KEY`` and friends gets the ``keyDetails`` of its own
  type and size (an RSA-4096 key was labelled 2048, a P-224 key P-521);
* a managed key outside the registry (secp256k1, RSA under 2048 bits) is refused, as the logs
  refuse it (it was accepted by ``verify_with_key``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sigstack.client import trust
from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.trust import TrustedRoot

from .kit import IDENTITY, ISSUER, Kit, pem

DATA = b"registry\n"
POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


def _with_ct_details(root: TrustedRoot, details: str) -> TrustedRoot:
    ctlogs = tuple(
        dataclasses.replace(c, public_key=dataclasses.replace(c.public_key, key_details=details))
        for c in root.ctlogs
    )
    return dataclasses.replace(root, ctlogs=ctlogs)


def test_an_sct_of_a_p384_ct_log_is_checked_with_sha256() -> None:
    kit = Kit(ct_key=ec.generate_private_key(ec.SECP384R1()))
    bundle, _ = kit.sign_blob(DATA)  # the kit signs SCTs with SHA-256, as RFC 6962 says
    root = _with_ct_details(kit.trusted_root(), "PKIX_ECDSA_P384_SHA_384")
    result = Verifier(root).verify_artifact(bundle, Artifact.from_digest(_digest()), POLICY)
    assert "The certificate's SCT was verified against a trusted CT log" in result.checks


def test_a_key_its_key_details_do_not_describe_is_not_trusted() -> None:
    kit = Kit(ct_key=ec.generate_private_key(ec.SECP384R1()))
    bundle, _ = kit.sign_blob(DATA)
    root = _with_ct_details(kit.trusted_root(), "PKIX_ECDSA_P256_SHA_256")
    with pytest.raises(VerificationError, match="the trusted root has no CT log keys"):
        Verifier(root).verify_artifact(bundle, Artifact.from_digest(_digest()), POLICY)


def _digest() -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.mark.parametrize(
    "key,details",
    [
        (ec.generate_private_key(ec.SECP256R1()), "PKIX_ECDSA_P256_SHA_256"),
        (ec.generate_private_key(ec.SECP521R1()), "PKIX_ECDSA_P521_SHA_512"),
        (rsa.generate_private_key(65537, 4096), "PKIX_RSA_PKCS1V15_4096_SHA256"),
    ],
    ids=["p256", "p521", "rsa4096"],
)
def test_environment_keys_get_their_own_key_details(
    tmp_path: Path, key: object, details: str
) -> None:
    env = _env(tmp_path)
    (tmp_path / "rekor.pub").write_bytes(pem(key.public_key()))  # type: ignore[attr-defined]
    root = trust.root_from_env(env)
    assert root is not None
    assert root.tlogs[0].public_key.key_details == details


@pytest.mark.parametrize(
    "key,reason",
    [
        (ec.generate_private_key(ec.SECP224R1()), "ECDSA secp224r1 keys are not allowed"),
        (rsa.generate_private_key(65537, 1024), "at least 2048 bits"),
    ],
    ids=["p224", "rsa1024"],
)
def test_environment_keys_outside_the_registry_are_refused(
    tmp_path: Path, key: object, reason: str
) -> None:
    env = _env(tmp_path)
    (tmp_path / "rekor.pub").write_bytes(pem(key.public_key()))  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match=f"SIGSTORE_REKOR_PUBLIC_KEY .*{reason}"):
        trust.root_from_env(env)


def _env(tmp: Path) -> dict[str, str]:
    kit = Kit()
    (tmp / "fulcio.pem").write_bytes(pem(kit.ca))
    (tmp / "ctfe.pub").write_bytes(pem(kit.ct_key.public_key()))
    return {
        "SIGSTORE_ROOT_FILE": str(tmp / "fulcio.pem"),
        "SIGSTORE_REKOR_PUBLIC_KEY": str(tmp / "rekor.pub"),
        "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": str(tmp / "ctfe.pub"),
    }


def test_a_managed_key_outside_the_registry_is_refused() -> None:
    kit = Kit()
    key = ec.generate_private_key(ec.SECP256K1())
    bundle = kit.sign_with_key(DATA, key)
    artifact = Artifact.from_digest(_digest())
    with pytest.raises(VerificationError, match="ECDSA secp256k1 keys are not allowed"):
        Verifier(kit.trusted_root()).verify_with_key(bundle, artifact, key.public_key())
    good = ec.generate_private_key(ec.SECP256R1())
    result = Verifier(kit.trusted_root()).verify_with_key(
        kit.sign_with_key(DATA, good), artifact, good.public_key()
    )
    assert "The signature over the artifact was verified" in result.checks
