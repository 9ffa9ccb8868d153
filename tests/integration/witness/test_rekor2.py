"""A real ``sigstack serve rekor2`` log witnessed by a real ``sigstack serve witness``.

- The log's checkpoints (its ``/checkpoint``) go to the witness with consistency proofs built here
  from the log's tiles; every cosignature verifies with the key ``sigstack witness vkey`` prints.
  ``sigstack witness feed`` does the same from the command line.
- A fork (a second log with the same origin and key, another history) is refused: 422 when its
  checkpoint is offered from the witness's size, 409 with that size otherwise, nothing changed.
- End to end for the client: a managed-key bundle (entry in the v2 log, timestamp from a real
  ``sigstack serve tsa``) gets the witness's cosignature from ``sigstack witness feed --bundle``,
  and ``sigstack verify-blob --witness-policy`` accepts it under a 1-of-1 policy and refuses it
  under 2-of-2 or with the cosignature tampered; sigstore-python's own code still verifies the
  entry with the extra line in its checkpoint.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sigstack.protocol import merkle, note, vkeys
from sigstack.services.keys import load_signer
from sigstack.services.tlog.tiles import Tile, TileReader, tile_path
from sigstack.services.tuf.trustroot import certificate_authority, log_instance, rekor_v2_log_id
from sigstack.services.witness.cosigner import vkey as make_vkey
from tests.support.checks import sigstore_python_verify_v2
from tests.support.entries import v2_hashedrekord, write_key_bundle
from tests.support.servers import Service, sigstack_cli
from tests.unit.witness.helpers import body, origin_hash

pytestmark = pytest.mark.xdist_group("servers")
NAME = "witness.test/w1"


def http(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {},
                                 method="POST" if data is not None else "GET")  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def append(log_url: str, *artifacts: bytes) -> list[dict[str, Any]]:
    entries = []
    for artifact in artifacts:
        signed = v2_hashedrekord(artifact)
        status, _, raw = http(f"{log_url}/api/v2/log/entries", json.dumps(signed.request).encode(),
                              {"Content-Type": "application/json"})  # fmt: skip
        assert status == 201, raw[:300]
        entries.append(json.loads(raw))
    return entries


class LogTiles:
    """The proof builder a witness client needs: tiles of a tree of ``size`` leaves, over HTTP."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self.reader = TileReader(self._fetch)

    def _fetch(self, level: int, index: int, min_width: int) -> Tile:
        width = min(256, (self.size >> (8 * level)) - index * 256)
        status, _, data = http(f"{self.url}/tile/{tile_path(level, index, width)}")
        assert status == 200 and len(data) == 32 * width
        return Tile(data)

    def proof(self, old: int) -> list[bytes]:
        if not 0 < old < self.size:
            return []
        return merkle.consistency_proof(old, self.size, self.reader.subtree)


def log_checkpoint(url: str) -> tuple[str, note.Checkpoint]:
    status, _, raw = http(f"{url}/checkpoint")
    assert status == 200
    text = raw.decode()
    return text, note.Checkpoint.from_text(note.SignedNote.from_text(text).text)


def trusted_root(path: Path, log: Service, log_data: Path, origin: str,
                 tsa: tuple[str, bytes] | None = None) -> Path:  # fmt: skip
    der = load_signer(f"file:{log_data / 'rekor2-key.pem'}").public_der
    start = datetime.now(UTC) - timedelta(hours=1)
    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [log_instance(der, log.url, start=start, log_id=rekor_v2_log_id(der, origin))],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [certificate_authority(tsa[1], tsa[0], start=start)] if tsa else [],
    }
    path.write_text(json.dumps(root))
    return path


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A v2 log (origin 127.0.0.1:PORT) and a witness following it through a trusted root."""
    log_data = tmp_path / "rekor2"
    with Service("rekor2", "--data-dir", str(log_data), log=tmp_path / "rekor2.log") as log:
        origin = log_checkpoint(log.url)[1].origin
        root = trusted_root(tmp_path / "trusted_root.json", log, log_data, origin)
        with Service("witness", "--data-dir", str(tmp_path / "w"), "--name", NAME,
                     "--trusted-root", str(root), log=tmp_path / "witness.log") as witness:  # fmt: skip
            done = sigstack_cli("witness", "vkey", "--data-dir", str(tmp_path / "w"))
            assert done.returncode == 0, done.stderr
            yield {"log": log, "log_data": log_data, "origin": origin, "witness": witness,
                   "vkey": done.stdout.strip(), "tmp": tmp_path}  # fmt: skip


def test_the_logs_checkpoints_are_cosigned_from_proofs_built_from_its_tiles(
    witnessed: dict[str, Any],
) -> None:
    log, witness = witnessed["log"], witnessed["witness"]
    verifier = vkeys.parse_vkey(witnessed["vkey"])
    old = 0
    for round_, count in enumerate((1, 4, 300, 2)):
        append(log.url, *(f"round {round_} entry {i}".encode() for i in range(count)))
        signed, checkpoint = log_checkpoint(log.url)
        proof = LogTiles(log.url, checkpoint.size).proof(old)
        status, _, line = http(f"{witness.url}/add-checkpoint", body(old, proof, signed))
        assert status == 200, line
        opened = note.open_note(signed + line.decode(), [verifier])
        assert [s.name for s in opened.signatures] == [NAME]
        held = http(f"{witness.url}/{origin_hash(checkpoint.origin)}/checkpoint")[2].decode()
        assert held == signed + line.decode()
        old = checkpoint.size
    assert old == 307
    append(log.url, b"one more")
    done = sigstack_cli("witness", "feed", "--log", log.url, "--witness", witness.url,
                        "--witness-vkey", witnessed["vkey"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    fed = note.verify_checkpoint(done.stdout, [verifier])  # the feeder found the old size by 409
    assert fed.size == 308


def test_a_forked_log_is_refused(witnessed: dict[str, Any]) -> None:
    log, witness, tmp = witnessed["log"], witnessed["witness"], witnessed["tmp"]
    append(log.url, *(f"honest {i}".encode() for i in range(5)))
    signed, honest = log_checkpoint(log.url)
    assert http(f"{witness.url}/add-checkpoint", body(0, [], signed))[0] == 200
    held = http(f"{witness.url}/{origin_hash(honest.origin)}/checkpoint")
    key = f"file:{witnessed['log_data'] / 'rekor2-key.pem'}"
    with Service("rekor2", "--data-dir", str(tmp / "fork"), "--key", key, "--origin",
                 witnessed["origin"], log=tmp / "fork.log") as fork:  # fmt: skip
        append(fork.url, *(f"forked {i}".encode() for i in range(5)))
        forked_same_size, same = log_checkpoint(fork.url)
        assert (same.origin, same.size) == (honest.origin, honest.size)
        assert same.root_hash != honest.root_hash  # signed by the same key, another history
        status, _, reason = http(f"{witness.url}/add-checkpoint", body(5, [], forked_same_size))
        assert (status, reason) == (422, b"the checkpoint's root differs from the cosigned one\n")
        append(fork.url, *(f"forked more {i}".encode() for i in range(4)))
        forked, bigger = log_checkpoint(fork.url)
        proof = LogTiles(fork.url, bigger.size).proof(5)  # the fork's own, honest proof
        status, _, reason = http(f"{witness.url}/add-checkpoint", body(5, proof, forked))
        assert status == 422 and b"consistency proof" in reason
        # offered as the fork believes the witness stands (it saw only its own first checkpoint)
        status, ctype, size = http(f"{witness.url}/add-checkpoint", body(0, [], forked))
        assert (status, ctype, size) == (409, "text/x.tlog.size", b"5\n")
        done = sigstack_cli("witness", "feed", "--log", fork.url, "--witness", witness.url)
        assert done.returncode == 1 and "(422)" in done.stderr
    assert http(f"{witness.url}/{origin_hash(honest.origin)}/checkpoint") == held
    assert "INCONSISTENT CHECKPOINTS" in (tmp / "witness.log").read_text()


def test_the_client_requires_the_witness_policy_end_to_end(witnessed: dict[str, Any]) -> None:
    from sigstack.client.sign.services import timestamp, upload_entry_v2

    log, witness, tmp = witnessed["log"], witnessed["witness"], witnessed["tmp"]
    with Service("tsa", "--data-dir", str(tmp / "tsa"), log=tmp / "tsa.log") as tsa:
        tsa_url = f"{tsa.url}/api/v1/timestamp"
        root = trusted_root(tmp / "root_tsa.json", log, witnessed["log_data"], witnessed["origin"],
                            (tsa_url, (tmp / "tsa" / "chain" / "chain.pem").read_bytes()))  # fmt: skip
        artifact = tmp / "artifact.txt"
        artifact.write_bytes(b"witnessed artifact\n")
        signed = v2_hashedrekord(artifact.read_bytes(), with_certificate=False)
        entry = upload_entry_v2(log.url, signed.request)
        plain, pem = write_key_bundle(tmp, signed, entry, timestamp(tsa_url, signed.signature))
    cosigned = tmp / "cosigned.json"
    done = sigstack_cli("witness", "feed", "--log", log.url, "--witness", witness.url,
                        "--witness-vkey", witnessed["vkey"], "--bundle", str(plain),
                        "--out", str(cosigned))  # fmt: skip
    assert done.returncode == 0, done.stderr
    # the cosignature line does not disturb a client that knows nothing of witnesses
    log_der = load_signer(f"file:{witnessed['log_data'] / 'rekor2-key.pem'}").public_der
    cosigned_entry = json.loads(cosigned.read_text())["verificationMaterial"]["tlogEntries"][0]
    sigstore_python_verify_v2(cosigned_entry, log_der, "PKIX_ED25519")

    def verify(bundle: Path, rules: str) -> Any:
        (tmp / "policy.txt").write_text(rules)
        return sigstack_cli("verify-blob", str(artifact), "--bundle", str(bundle), "--key",
                            str(pem), "--trusted-root", str(root), "--witness-policy",
                            str(tmp / "policy.txt"))  # fmt: skip

    one = f"witness ours {witnessed['vkey']}\nquorum ours\n"
    assert verify(plain, "quorum none\n").returncode == 0  # the bundle itself verifies
    refused = verify(plain, one)
    assert refused.returncode == 1 and "no valid cosignature from: ours" in refused.stderr
    accepted = verify(cosigned, one)
    assert accepted.returncode == 0, accepted.stderr
    assert "meeting the witness policy: ours at" in accepted.stderr
    second = make_vkey("witness.test/w2", ed25519.Ed25519PrivateKey.generate().public_key())
    two = (f"witness ours {witnessed['vkey']}\nwitness second {second}\n"
           "group both all ours second\nquorum both\n")  # fmt: skip
    refused = verify(cosigned, two)
    assert refused.returncode == 1 and "no valid cosignature from: second" in refused.stderr
    raw = json.loads(cosigned.read_text())
    holder = raw["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
    last = holder["envelope"].rstrip("\n").rsplit(" ", 1)[1]
    blob = bytearray(base64.b64decode(last))
    blob[20] ^= 0x40  # inside the signature
    holder["envelope"] = holder["envelope"].replace(last, base64.b64encode(blob).decode())
    tampered = tmp / "tampered.json"
    tampered.write_text(json.dumps(raw))
    refused = verify(tampered, one)
    assert refused.returncode == 1 and "cosignature of witness ours" in refused.stderr
