"""``sigstack up --witness``: the stack starts its own witness (``sigstack serve witness`` on port
N+7), the Rekor v1 and v2 logs submit every checkpoint to it before publishing, and a client
verifies with the policy file ``up`` writes (``DATA/witness-policy.txt``).

A keyless sign with our client against each log yields a bundle whose checkpoint the witness
cosigned: ``verify-blob --witness-policy`` with the written policy passes, and with a policy that
asks for a second witness too (quorum 2 of 2, the second one never asked), it is refused. A second
``up`` on the same data directory keeps the witness's key, name and state: the checkpoint it
cosigned before the restart is still the one it holds, the policy file names the same key, and the
new entries' checkpoints verify against the policy written by the first run.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from sigstack.protocol import note
from sigstack.services.stack_processes import SERVICES
from sigstack.services.witness.cosigner import vkey
from tests.interop.conftest import Stack, free_port_base, run, sigstack

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("stack")]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _sign(stack: Stack, artifact: Path, trust: Path) -> Path:
    bundle = artifact.with_name(artifact.name + ".sigstore.json")
    done = sigstack("sign-blob", str(artifact), "--bundle", str(bundle), "--trust-config",
                    str(trust), "--identity-token", stack.token())  # fmt: skip
    assert done.returncode == 0, done.stderr
    return bundle


def _verify(
    stack: Stack, artifact: Path, bundle: Path, trust: Path, policy: Path
) -> subprocess.CompletedProcess[str]:
    return sigstack("verify-blob", str(artifact), "--bundle", str(bundle), "--trust-config",
                    str(trust), "--certificate-identity", stack.identity,
                    "--certificate-oidc-issuer", stack.urls["oidc"],
                    "--witness-policy", str(policy))  # fmt: skip


def _checkpoint(bundle: Path) -> str:
    entry = json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]
    return str(entry["inclusionProof"]["checkpoint"]["envelope"])


def _held(stack: Stack, origin: str) -> str:
    """The checkpoint the witness holds for ``origin`` (its monitor retrieval)."""
    digest = hashlib.sha256(origin.encode()).hexdigest()
    status, text = _get(f"{stack.urls['witness']}/{digest}/checkpoint")
    assert status == 200, text
    return text


def _origin(signed: str) -> str:
    return note.SignedNote.from_text(signed).text.splitlines()[0]


def _size(signed: str) -> int:
    return note.Checkpoint.from_text(note.SignedNote.from_text(signed).text).size


def test_up_with_a_witness_cosigns_both_logs_and_keeps_it_across_a_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    base = free_port_base(len(SERVICES) + 1)
    stack = Stack(data, tmp_path / "up.out").start("--witness", port_base=base)
    policy = data / "witness-policy.txt"
    trusts = {"v2": stack.trust_config_v2, "v1": stack.trust_config}
    origins = {}
    try:
        assert stack.urls["witness"] == f"http://127.0.0.1:{base + len(SERVICES)}"
        status, witness_vkey = _get(f"{stack.urls['witness']}/vkey")
        assert status == 200
        witness_vkey = witness_vkey.strip()
        written = policy.read_text()
        assert f" {witness_vkey} {stack.urls['witness']}\n" in written
        assert f"--witness-policy {policy}" in (tmp_path / "up.out").read_text()

        other = vkey("other.witness.test", ed25519.Ed25519PrivateKey.generate().public_key())
        label = next(ln.split()[1] for ln in written.splitlines() if ln.startswith("witness "))
        two = tmp_path / "two-witnesses.txt"
        two.write_text(f"witness {label} {witness_vkey}\nwitness w2 {other}\n"
                       f"group both 2 {label} w2\nquorum both\n")  # fmt: skip
        for log, trust in trusts.items():
            artifact = tmp_path / f"before-{log}.txt"
            artifact.write_text(f"signed through the {log} log before the restart\n")
            bundle = _sign(stack, artifact, trust)
            signed = _checkpoint(bundle)
            names = [s.name for s in note.SignedNote.from_text(signed).signatures]
            assert names[1:] == [witness_vkey.split("+")[0]], signed
            origins[log] = _origin(signed)
            ok = _verify(stack, artifact, bundle, trust, policy)
            assert ok.returncode == 0, ok.stderr
            assert "cosignatures meeting the witness policy" in ok.stdout + ok.stderr
            refused = _verify(stack, artifact, bundle, trust, two)
            assert refused.returncode == 1, refused.stdout
            assert "not witnessed as the policy requires" in refused.stderr, refused.stderr
            assert "w2" in refused.stderr
        held = {log: _held(stack, origin) for log, origin in origins.items()}
        assert all(_size(text) == 1 for text in held.values()), held
    finally:
        assert stack.stop() == 0
    first_policy = tmp_path / "first-policy.txt"
    first_policy.write_text(written)

    stack = Stack(data, tmp_path / "up2.out").start("--witness", port_base=base)
    try:
        assert _get(f"{stack.urls['witness']}/vkey")[1].strip() == witness_vkey
        assert policy.read_text() == written
        for log, trust in trusts.items():
            assert _held(stack, origins[log]) == held[log]  # the witness's state survived
            artifact = tmp_path / f"after-{log}.txt"
            artifact.write_text(f"signed through the {log} log after the restart\n")
            bundle = _sign(stack, artifact, trust)
            assert _size(_checkpoint(bundle)) == 2
            ok = _verify(stack, artifact, bundle, trust, first_policy)
            assert ok.returncode == 0, ok.stderr
            assert _size(_held(stack, origins[log])) == 2
    finally:
        assert stack.stop() == 0


def test_up_with_a_witness_checks_its_port_first(tmp_path: Path) -> None:
    """A program holding N+7 stops ``up --witness`` before anything is made, naming the port and
    the witness."""
    base = free_port_base(len(SERVICES) + 1)
    port = base + len(SERVICES)
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", port))
        held.listen()
        up = [sys.executable, "-m", "sigstack.client.cli", "up", "--port-base", str(base)]
        done = run([*up, "--witness", "--data-dir", str(tmp_path / "data"), "--timeout", "1"])
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"port {port} on 127.0.0.1, which the stack's witness needs, is in use" in done.stderr
    assert "ports N to N+7" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()
