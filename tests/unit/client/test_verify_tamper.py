"""Every rejection path of the verifier, each by tampering one thing in an otherwise good bundle
built with the throw-away instance in ``kit``."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
from sigstack.protocol.bundle import MEDIA_TYPE_V01, Bundle
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.trust import TimeRange, TrustedRoot
from tests.support.entries import hashedrekord_body

from .kit import IDENTITY, ISSUER, Kit, make_ca, pem

DATA = b"the artifact\n"
DIGEST = hashlib.sha256(DATA).digest()
POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit()


@pytest.fixture(scope="module")
def good(kit: Kit) -> Bundle:
    return kit.sign_blob(DATA)[0]


def _verify(kit: Kit, bundle: Bundle, root: TrustedRoot | None = None, **policy: str) -> None:
    pol = IdentityPolicy(**policy) if policy else POLICY
    Verifier(root or kit.trusted_root()).verify_artifact(bundle, Artifact(DIGEST), pol)


def _reject(match: str, kit: Kit, bundle: Bundle, root: TrustedRoot | None = None, **policy: str):
    with pytest.raises(VerificationError, match=match):
        _verify(kit, bundle, root, **policy)


def _entry(bundle: Bundle, **changes: object) -> Bundle:
    vm = bundle.verification_material
    entry = dataclasses.replace(vm.tlog_entries[0], **changes)
    return dataclasses.replace(
        bundle, verification_material=dataclasses.replace(vm, tlog_entries=(entry,))
    )


def test_good_bundle_verifies_and_round_trips(kit: Kit, good: Bundle) -> None:
    _verify(kit, good)
    _verify(kit, Bundle.from_json(good.to_json()))


def test_regexp_policy(kit: Kit, good: Bundle) -> None:
    _verify(kit, good, identity_regexp=r"^alice@", issuer_regexp=r"issuer\.example")
    _reject("does not match", kit, good, identity_regexp=r"^bob@", issuer=ISSUER)
    _reject("does not match", kit, good, identity=IDENTITY, issuer_regexp=r"^https://other")


def test_wrong_identity(kit: Kit, good: Bundle) -> None:
    _reject("is not the expected", kit, good, identity="bob@example.com", issuer=ISSUER)


def test_wrong_issuer(kit: Kit, good: Bundle) -> None:
    _reject(
        "expected 'https://accounts",
        kit,
        good,
        identity=IDENTITY,
        issuer="https://accounts.example.com",
    )


def test_policy_needs_one_of_each() -> None:
    with pytest.raises(VerificationError):
        IdentityPolicy(identity=IDENTITY)
    with pytest.raises(VerificationError):
        IdentityPolicy(identity=IDENTITY, identity_regexp="x", issuer=ISSUER)


def test_untrusted_ca(kit: Kit, good: Bundle) -> None:
    other = Kit()
    root = kit.trusted_root(certificate_authorities=other.trusted_root().certificate_authorities)
    _reject("does not chain to a trusted CA", kit, good, root)


def test_ca_window_must_cover_signing_time(kit: Kit, good: Bundle) -> None:
    ca = kit.trusted_root().certificate_authorities[0]
    past = TimeRange(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
    root = kit.trusted_root(certificate_authorities=(dataclasses.replace(ca, valid_for=past),))
    _reject("no certificate authority", kit, good, root)


def test_sct_from_untrusted_ct_log(kit: Kit) -> None:
    bundle = kit.sign_blob(DATA, ct_key=ec.generate_private_key(ec.SECP256R1()))[0]
    _reject("SCT is not signed by a CT log", kit, bundle)


def test_no_ct_keys(kit: Kit, good: Bundle) -> None:
    _reject("no CT log keys", kit, good, kit.trusted_root(ctlogs=()))


def test_leaf_without_code_signing(kit: Kit) -> None:
    bundle = kit.sign_blob(DATA, eku=ExtendedKeyUsageOID.CLIENT_AUTH)[0]
    _reject("codeSigning", kit, bundle)


def test_cert_not_valid_at_integrated_time(kit: Kit) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    past = datetime.now(UTC) - timedelta(hours=3)
    cert = kit.leaf(key, not_before=past)
    bundle, _ = kit.sign_blob(DATA)
    # re-log with a cert that had expired by the integrated time (now)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from cryptography.hazmat.primitives.serialization import Encoding

    from sigstack.protocol.bundle import MessageSignature

    sig = key.sign(DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))
    entry = kit.log_entry(hashedrekord_body(DIGEST, sig, pem(cert)))
    vm = dataclasses.replace(
        bundle.verification_material,
        certificate=cert.public_bytes(Encoding.DER),
        tlog_entries=(entry,),
    )
    tampered = dataclasses.replace(
        bundle,
        verification_material=vm,
        message_signature=MessageSignature(sig, bundle.message_signature.message_digest),
    )
    _reject("does not chain|not valid at the signed time", kit, tampered)


def test_inclusion_proof_tampered(kit: Kit, good: Bundle) -> None:
    proof = good.verification_material.tlog_entries[0].inclusion_proof
    hashes_ = (bytes(32),) + proof.hashes[1:]
    bad = _entry(good, inclusion_proof=dataclasses.replace(proof, hashes=hashes_))
    _reject("invalid inclusion proof", kit, bad)


def test_checkpoint_root_differs(kit: Kit, good: Bundle) -> None:
    entry = good.verification_material.tlog_entries[0]
    other = kit.log_entry(b'{"other": 1}')
    proof = dataclasses.replace(entry.inclusion_proof, checkpoint=other.inclusion_proof.checkpoint)
    _reject("root hash differs", kit, _entry(good, inclusion_proof=proof))


def test_checkpoint_signed_by_other_key(kit: Kit, good: Bundle) -> None:
    entry = good.verification_material.tlog_entries[0]
    rogue = kit.log_entry(entry.canonicalized_body, log_key=ec.generate_private_key(ec.SECP256R1()))
    proof = dataclasses.replace(entry.inclusion_proof, checkpoint=rogue.inclusion_proof.checkpoint)
    _reject("invalid checkpoint", kit, _entry(good, inclusion_proof=proof))


def test_set_tampered(kit: Kit, good: Bundle) -> None:
    entry = good.verification_material.tlog_entries[0]
    bad = bytearray(entry.inclusion_promise)
    bad[-1] ^= 1
    _reject("inclusion promise", kit, _entry(good, inclusion_promise=bytes(bad)))


def test_integrated_time_changed(kit: Kit, good: Bundle) -> None:
    entry = good.verification_material.tlog_entries[0]
    _reject("inclusion promise", kit, _entry(good, integrated_time=entry.integrated_time - 5))


def test_log_entry_from_untrusted_log(kit: Kit, good: Bundle) -> None:
    other = Kit()
    _reject(
        "checkpoint|inclusion promise",
        kit,
        good,
        kit.trusted_root(tlogs=other.trusted_root().tlogs),
    )


def test_no_signed_time(kit: Kit, good: Bundle) -> None:
    _reject("no source of signed time", kit, _entry(good, inclusion_promise=None))


def test_v01_needs_set(kit: Kit, good: Bundle) -> None:
    chain = (good.verification_material.certificate,)
    vm = dataclasses.replace(
        good.verification_material, certificate=None, x509_certificate_chain=chain
    )
    v01 = dataclasses.replace(good, media_type=MEDIA_TYPE_V01, verification_material=vm)
    _verify(kit, v01)
    _reject("inclusion promise", kit, _entry(v01, inclusion_promise=None))


def test_v03_needs_single_certificate(kit: Kit, good: Bundle) -> None:
    chain = (good.verification_material.certificate,)
    vm = dataclasses.replace(
        good.verification_material, certificate=None, x509_certificate_chain=chain
    )
    _reject("single leaf certificate", kit, dataclasses.replace(good, verification_material=vm))


def test_missing_checkpoint(kit: Kit, good: Bundle) -> None:
    proof = good.verification_material.tlog_entries[0].inclusion_proof
    bad = _entry(good, inclusion_proof=dataclasses.replace(proof, checkpoint=None))
    _reject("checkpoint", kit, bad)


def test_two_log_entries(kit: Kit, good: Bundle) -> None:
    entries = good.verification_material.tlog_entries * 2
    vm = dataclasses.replace(good.verification_material, tlog_entries=entries)
    _reject("exactly one", kit, dataclasses.replace(good, verification_material=vm))


def test_signature_over_other_artifact(kit: Kit, good: Bundle) -> None:
    other = hashlib.sha256(b"something else").digest()
    with pytest.raises(VerificationError, match="message digest does not match"):
        Verifier(kit.trusted_root()).verify_artifact(good, Artifact(other), POLICY)
    ms = dataclasses.replace(good.message_signature, message_digest=None)
    with pytest.raises(VerificationError, match="signature is not valid"):
        Verifier(kit.trusted_root()).verify_artifact(
            dataclasses.replace(good, message_signature=ms), Artifact(other), POLICY
        )


def test_log_body_inconsistent(kit: Kit, good: Bundle) -> None:
    # a correctly logged entry, but for another signature: CVE-2022-36056
    body = hashedrekord_body(DIGEST, b"\x30\x00", b"not the cert")
    entry = kit.log_entry(body)
    vm = dataclasses.replace(good.verification_material, tlog_entries=(entry,))
    _reject("inconsistent", kit, dataclasses.replace(good, verification_material=vm))


def test_dsse_subject_and_payload(kit: Kit) -> None:
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": DIGEST.hex()}}],  # nameless subject is fine
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }
    bundle = kit.attest(statement)
    _verify(kit, bundle)
    result = Verifier(kit.trusted_root()).verify_dsse(bundle, POLICY)
    assert result.payload_type == "application/vnd.in-toto+json"
    with pytest.raises(VerificationError, match="no subject"):
        Verifier(kit.trusted_root()).verify_artifact(
            bundle, Artifact(hashlib.sha256(b"x").digest()), POLICY
        )
    env = bundle.dsse_envelope
    tampered = dataclasses.replace(env, payload=env.payload.replace(b"v1", b"v2"))
    _reject("signature is not valid", kit, dataclasses.replace(bundle, dsse_envelope=tampered))


def test_managed_key(kit: Kit) -> None:
    bundle, key = kit.sign_blob(DATA)
    verifier = Verifier(kit.trusted_root())
    # a key-based check of the same signature with the cert's key: the log body names the cert
    verifier.verify_with_key(bundle, Artifact(DIGEST), key.public_key())
    with pytest.raises(VerificationError, match="signature is not valid"):
        verifier.verify_with_key(
            bundle, Artifact(DIGEST), ec.generate_private_key(ec.SECP256R1()).public_key()
        )


def test_trusted_root_window_needs_start(kit: Kit) -> None:
    text = kit.trusted_root().to_json().replace('"start": "2020-01-01T00:00:00Z"', '"x": 1')
    with pytest.raises(ValidationError, match="start"):
        TrustedRoot.from_json(text)


def test_ca_window_is_closed(kit: Kit, good: Bundle) -> None:
    when = datetime.fromtimestamp(good.verification_material.tlog_entries[0].integrated_time, UTC)
    ca = kit.trusted_root().certificate_authorities[0]
    edge = TimeRange(datetime(2020, 1, 1, tzinfo=UTC), when)
    _verify(
        kit,
        good,
        kit.trusted_root(certificate_authorities=(dataclasses.replace(ca, valid_for=edge),)),
    )
    assert make_ca  # the kit's CA builder is shared with the other tests


def test_managed_key_bundle_through_the_command(kit: Kit, tmp_path, capsys) -> None:
    from sigstack.client.cli import main

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "b.json").write_text(kit.sign_with_key(DATA, key).to_json())
    (tmp_path / "key.pub").write_bytes(pem(key.public_key()))
    (tmp_path / "other.pub").write_bytes(pem(ec.generate_private_key(ec.SECP256R1()).public_key()))
    (tmp_path / "root.json").write_text(kit.trusted_root().to_json())
    (tmp_path / "a.txt").write_bytes(DATA)
    base = ["verify-bundle", "--bundle", str(tmp_path / "b.json")]
    tail = ["--trusted-root", str(tmp_path / "root.json")]
    assert main([*base, "--key", str(tmp_path / "key.pub"), *tail, str(tmp_path / "a.txt")]) == 0
    assert main([*base, "--key", str(tmp_path / "key.pub"), *tail, "sha256:" + DIGEST.hex()]) == 0
    assert main([*base, "--key", str(tmp_path / "other.pub"), *tail, str(tmp_path / "a.txt")]) == 1
    # a managed-key bundle is not accepted on identity flags
    ident = ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]
    assert main([*base, *ident, *tail, str(tmp_path / "a.txt")]) == 1
    assert "--key" in capsys.readouterr().err
