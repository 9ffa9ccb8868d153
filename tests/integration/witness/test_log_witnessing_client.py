"""End to end: a bundle made against a Rekor v2 log that calls a real witness before publishing
carries the cosigned checkpoint in its entry, and ``sigstack verify-blob --witness-policy``
accepts it as it comes from the log (no feeder); a policy whose quorum the checkpoint does not
meet (a second witness that never saw the log) is refused, naming what is missing."""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from sigstack.services.tuf.trustroot import certificate_authority, log_instance, rekor_v2_log_id
from tests.integration.witness.logside import (
    LogKey,
    log_service,
    signers,
    start_witness,
    write_policy,
)
from tests.support.entries import v2_hashedrekord, write_key_bundle
from tests.support.servers import Service, sigstack_cli

pytestmark = pytest.mark.xdist_group("servers")


def test_a_bundle_from_a_witnessed_log_meets_the_policy(tmp_path: Path) -> None:
    from sigstack.client.sign.services import timestamp, upload_entry_v2

    key = LogKey.make(tmp_path / "log-key.pem")
    with ExitStack() as stack:
        w1 = start_witness(stack, tmp_path, "w1", key)
        w2 = start_witness(stack, tmp_path, "w2", LogKey.make(tmp_path / "other-key.pem"))
        policy = write_policy(tmp_path / "log-policy.txt", [w1], "quorum w1")
        log = stack.enter_context(log_service(tmp_path, key, witness_policy=str(policy)))
        tsa = stack.enter_context(Service("tsa", "--data-dir", str(tmp_path / "tsa"),
                                          log=tmp_path / "tsa.log"))  # fmt: skip
        tsa_url = f"{tsa.url}/api/v1/timestamp"
        der = key.public.public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
        start = datetime.now(UTC) - timedelta(hours=1)
        chain = (tmp_path / "tsa" / "chain" / "chain.pem").read_bytes()
        root = tmp_path / "trusted_root.json"
        root.write_text(json.dumps({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [log_instance(der, log.url, start=start,
                                   log_id=rekor_v2_log_id(der, key.origin))],
            "certificateAuthorities": [], "ctlogs": [],
            "timestampAuthorities": [certificate_authority(chain, tsa_url, start=start)],
        }))  # fmt: skip
        artifact = tmp_path / "artifact.txt"
        artifact.write_bytes(b"an artifact logged by a witnessed log\n")
        signed = v2_hashedrekord(artifact.read_bytes(), with_certificate=False)
        entry = upload_entry_v2(log.url, signed.request)
        assert entry.inclusion_proof is not None
        assert signers(entry.inclusion_proof.checkpoint) == [key.origin, "witness.test/w1"]
        path, pem = write_key_bundle(tmp_path, signed, entry,
                                     timestamp(tsa_url, signed.signature))  # fmt: skip

        def verify(policy_text: str) -> subprocess.CompletedProcess[str]:
            (tmp_path / "client-policy.txt").write_text(policy_text)
            return sigstack_cli("verify-blob", str(artifact), "--bundle", str(path), "--key",
                                str(pem), "--trusted-root", str(root), "--witness-policy",
                                str(tmp_path / "client-policy.txt"))  # fmt: skip

        accepted = verify(f"witness w1 {w1.vkey}\nquorum w1\n")
        assert accepted.returncode == 0, accepted.stderr
        assert "meeting the witness policy: w1 at" in accepted.stderr
        refused = verify(f"witness w1 {w1.vkey}\nwitness w2 {w2.vkey}\n"
                         "group both all w1 w2\nquorum both\n")  # fmt: skip
        assert refused.returncode == 1
        assert "no valid cosignature from: w2" in refused.stderr
