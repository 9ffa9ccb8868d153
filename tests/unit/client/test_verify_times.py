"""Every key of the trusted root counts only inside its validity window, at every verified time:
the log key that signed a checkpoint or a SET, the CT log key that signed the SCT (also at the
SCT's own timestamp). Signed times from the future and integrated times out of range are refused
with a ``VerificationError``, never a foreign exception (security review, issue 11 section 3)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sigstack.client.cli import main
from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
from sigstack.protocol.bundle import Bundle
from sigstack.protocol.errors import VerificationError
from sigstack.protocol.trust import TimeRange, TrustedRoot
from tests.support.testdata import TESTDATA

from .kit import IDENTITY, ISSUER, Kit

CASES = TESTDATA / "pyassets" / "cases"
RETIRED = TimeRange(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 6, 1, tzinfo=UTC))
DATA = b"times\n"
DIGEST = hashlib.sha256(DATA).digest()
POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


def _case(name: str) -> tuple[Bundle, TrustedRoot, Artifact, IdentityPolicy]:
    case = CASES / name
    bundle = Bundle.from_json((case / "bundle.sigstore.json").read_bytes())
    root = TrustedRoot.from_file(str(case / "trusted_root.json"))
    artifact = (case / "artifact") if (case / "artifact").exists() else CASES / "a.txt"
    policy = IdentityPolicy(
        identity=(case / "identity").read_text().strip(),
        issuer=(case / "issuer").read_text().strip(),
    )
    return bundle, root, Artifact(hashlib.sha256(artifact.read_bytes()).digest()), policy


def _retire(logs: tuple, window: TimeRange = RETIRED) -> tuple:
    return tuple(
        dataclasses.replace(log, public_key=dataclasses.replace(log.public_key, valid_for=window))
        for log in logs
    )


@pytest.mark.parametrize(
    "name",
    [
        "staging-rekor-v2-happy-path",  # checkpoint only (Rekor v2 + RFC 3161)
        "staging-rekor-v2-dsse-happy-path",
        "staging-v0.3-happy-path",  # checkpoint and SET (Rekor v1)
        "staging-tsa-happy-path",  # SET and two timestamps
    ],
)
def test_retired_log_keys_vouch_for_nothing(name: str) -> None:
    bundle, root, artifact, policy = _case(name)
    Verifier(root).verify_artifact(bundle, artifact, policy)  # the control
    retired = dataclasses.replace(root, tlogs=_retire(root.tlogs))
    with pytest.raises(VerificationError, match="not valid at|valid at the"):
        Verifier(retired).verify_artifact(bundle, artifact, policy)


def test_retired_log_key_through_the_command(tmp_path: Path, capsys) -> None:
    """The reviewer's reproduction: every log window 2020-01..2020-06, a 2025 Rekor v2 bundle."""
    case = CASES / "staging-rekor-v2-happy-path"
    doc = json.loads((case / "trusted_root.json").read_text())
    for log in doc["tlogs"]:
        log["publicKey"]["validFor"] = {
            "start": "2020-01-01T00:00:00Z",
            "end": "2020-06-01T00:00:00Z",
        }
    (tmp_path / "root.json").write_text(json.dumps(doc))
    code = main(["verify-bundle", "--bundle", str(case / "bundle.sigstore.json"),
                 "--certificate-identity", (case / "identity").read_text().strip(),
                 "--certificate-oidc-issuer", (case / "issuer").read_text().strip(),
                 "--trusted-root", str(tmp_path / "root.json"), str(case / "artifact")])  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err.startswith("Error: ")


@pytest.mark.parametrize(
    "name", ["staging-v0.3-happy-path", "staging-rekor-v2-happy-path", "staging-tsa-happy-path"]
)
def test_retired_ct_log_keys_vouch_for_no_sct(name: str) -> None:
    bundle, root, artifact, policy = _case(name)
    retired = dataclasses.replace(root, ctlogs=_retire(root.ctlogs))
    with pytest.raises(VerificationError, match="SCT"):
        Verifier(retired).verify_artifact(bundle, artifact, policy)


def test_ct_key_window_must_cover_the_sct_timestamp() -> None:
    """The CT key's window starts after the SCT was signed but before the signing time."""
    kit = Kit()
    now = datetime.now(UTC)
    sct_time = now - timedelta(minutes=2)
    bundle, _ = kit.sign_blob(DATA, not_before=now - timedelta(minutes=3), sct_time=sct_time)
    Verifier(kit.trusted_root()).verify_artifact(bundle, Artifact(DIGEST), POLICY)
    late = TimeRange(sct_time + timedelta(seconds=30))
    root = kit.trusted_root(ctlogs=_retire(kit.trusted_root().ctlogs, late))
    with pytest.raises(VerificationError, match="SCT"):
        Verifier(root).verify_artifact(bundle, Artifact(DIGEST), POLICY)


def test_ct_key_window_must_cover_the_signing_time() -> None:
    kit = Kit()
    now = datetime.now(UTC)
    bundle, _ = kit.sign_blob(DATA, not_before=now - timedelta(minutes=3))
    ended = TimeRange(now - timedelta(days=1), now - timedelta(minutes=1))  # after the SCT
    root = kit.trusted_root(ctlogs=_retire(kit.trusted_root().ctlogs, ended))
    with pytest.raises(VerificationError, match="SCT"):
        Verifier(root).verify_artifact(bundle, Artifact(DIGEST), POLICY)


def test_sct_from_the_future_is_refused() -> None:
    kit = Kit()
    now = datetime.now(UTC)
    bundle, _ = kit.sign_blob(
        DATA, not_before=now - timedelta(minutes=1), sct_time=now + timedelta(minutes=5)
    )
    with pytest.raises(VerificationError, match="future"):
        Verifier(kit.trusted_root(), now=now).verify_artifact(bundle, Artifact(DIGEST), POLICY)
    # once that time has come, the same bundle verifies
    later = now + timedelta(minutes=6)
    Verifier(kit.trusted_root(), now=later).verify_artifact(bundle, Artifact(DIGEST), POLICY)


def test_integrated_time_from_the_future_is_refused() -> None:
    kit = Kit()
    now = datetime.now(UTC)
    future = int((now + timedelta(minutes=5)).timestamp())
    bundle, _ = kit.sign_blob(DATA, integrated_time=future)  # a validly signed SET
    with pytest.raises(VerificationError, match="future"):
        Verifier(kit.trusted_root(), now=now).verify_artifact(bundle, Artifact(DIGEST), POLICY)


def test_set_key_window_is_checked_at_the_integrated_time() -> None:
    kit = Kit()
    bundle, _ = kit.sign_blob(DATA)
    when = datetime.fromtimestamp(bundle.verification_material.tlog_entries[0].integrated_time, UTC)
    ended = TimeRange(when - timedelta(days=1), when - timedelta(seconds=1))
    root = kit.trusted_root(tlogs=_retire(kit.trusted_root().tlogs, ended))
    with pytest.raises(VerificationError, match="valid at"):
        Verifier(root, now=when).verify_artifact(bundle, Artifact(DIGEST), POLICY)


@pytest.mark.parametrize(
    "value", [10**18, 99999999999999999999, 2**63 - 1, -1, -(10**18), 253402300800]
)
def test_integrated_time_out_of_range_is_a_clean_refusal(value: int) -> None:
    kit = Kit()
    bundle, _ = kit.sign_blob(DATA)
    vm = bundle.verification_material
    entry = dataclasses.replace(vm.tlog_entries[0], integrated_time=value)
    bad = dataclasses.replace(
        bundle, verification_material=dataclasses.replace(vm, tlog_entries=(entry,))
    )
    verifier = Verifier(kit.trusted_root())
    with pytest.raises(VerificationError):
        verifier.verify_artifact(bad, Artifact(DIGEST), POLICY)
    with pytest.raises(VerificationError):
        verifier.verify_with_key(bad, Artifact(DIGEST), kit.log_key.public_key())


@pytest.mark.parametrize("value", ["1000000000000000000", "99999999999999999999", "-5"])
def test_integrated_time_out_of_range_through_the_command(
    value: str, tmp_path: Path, capsys
) -> None:
    case = CASES / "staging-v0.3-happy-path"
    doc = json.loads((case / "bundle.sigstore.json").read_text())
    doc["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = value
    (tmp_path / "b.json").write_text(json.dumps(doc))
    code = main(["verify-bundle", "--bundle", str(tmp_path / "b.json"),
                 "--certificate-identity", (case / "identity").read_text().strip(),
                 "--certificate-oidc-issuer", (case / "issuer").read_text().strip(),
                 "--trusted-root", str(case / "trusted_root.json"), str(case / "artifact")])  # fmt: skip
    assert code == 1
    assert capsys.readouterr().err.startswith("Error: ")
