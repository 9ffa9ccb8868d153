"""Rekor v1 calls its witness too: its checkpoint (origin ``<hostname> - <tree ID>``, signed by
the ECDSA log key under the name ``<hostname>``) is a C2SP signed note, which a witness that takes
type 0x02 keys (ours) cosigns. The entry's inclusion proof and ``/api/v1/log`` carry the
cosignature once the log has a ``witness_policy``."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest

from sigstack.client.verify.witness import WitnessPolicy
from sigstack.protocol import note, vkeys
from sigstack.services.keys import load_signer
from tests.integration.witness.logside import http, signers
from tests.support.entries import hashedrekord
from tests.support.servers import Service, free_port, sigstack_cli

pytestmark = pytest.mark.xdist_group("servers")
HOST = "rekor.test"


def test_rekor_v1_checkpoints_are_cosigned(tmp_path: Path) -> None:
    port = free_port()
    args = ("rekor", "--data-dir", str(tmp_path / "rekor"), "--hostname", HOST)
    with Service(*args, port=port, log=tmp_path / "rekor.log") as log:  # makes the log
        origin = note.SignedNote.from_text(http(f"{log.url}/checkpoint")[1].decode()).text
        origin = origin.splitlines()[0]
    signer = load_signer(f"file:{tmp_path / 'rekor' / 'rekor-key.pem'}")
    spki = signer.public_der
    vkey = vkeys.format_vkey(note.verifier_for_key(HOST, spki, note.ecdsa_key_id(spki)))
    (tmp_path / "logs.txt").write_text(f"logs/v0\nvkey {vkey}\norigin {origin}\n")
    with ExitStack() as stack:
        witness = stack.enter_context(Service(
            "witness", "--data-dir", str(tmp_path / "w1"), "--name", "witness.test/w1",
            "--logs", str(tmp_path / "logs.txt"), log=tmp_path / "w1.log"))  # fmt: skip
        wkey = sigstack_cli("witness", "vkey", "--data-dir", str(tmp_path / "w1")).stdout.strip()
        policy = tmp_path / "policy.txt"
        policy.write_text(f"witness w1 {wkey} {witness.url}\nquorum w1\n")
        (tmp_path / "rekor.json").write_text(json.dumps({"witness_policy": str(policy)}))
        log = stack.enter_context(Service(*args, "--config", str(tmp_path / "rekor.json"),
                                          port=port, log=tmp_path / "rekor.log"))  # fmt: skip
        for i in range(3):
            body = json.dumps(hashedrekord(f"v1 entry {i}".encode())).encode()
            status, raw = http(f"{log.url}/api/v1/log/entries", body)
            assert status == 201, raw
            (answer,) = json.loads(raw).values()
            signed = answer["verification"]["inclusionProof"]["checkpoint"]
            assert signers(signed) == [HOST, "witness.test/w1"]
            cosigned = WitnessPolicy.from_text(policy.read_text()).require(signed)
            assert set(cosigned.witnesses) == {"w1"}
        info = json.loads(http(f"{log.url}/api/v1/log")[1])
        assert info["treeSize"] == 3 and signers(info["signedTreeHead"]) == [
            HOST,
            "witness.test/w1",
        ]
