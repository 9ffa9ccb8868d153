"""The logs' CA-only switch as operators start it: ``sigstack serve rekor`` and ``sigstack serve
rekor2`` with ``--trusted-ca-file`` (and the environment variable) as real servers on 127.0.0.1,
entries from the stack's kind of Fulcio CA logged, others refused with a 400 and the tree size
unchanged; a bad file stops the start with its reason (docs/rekor.md "Accepting only your CA's
certificates")."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sigstack.services.rekor.trustedca import NO_CERTIFICATE, NOT_ISSUED
from tests.support.cas import FulcioCA, der, fulcio_ca, pem
from tests.support.entries import hashedrekord, v2_request
from tests.support.keys import der_public
from tests.support.servers import Service

pytestmark = pytest.mark.xdist_group("servers")


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
        return resp.read()


def v1_entry(ca: FulcioCA | None, artifact: bytes) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return hashedrekord(artifact, key, pem(ca.leaf(key)) if ca else None)


def v2_entry(ca: FulcioCA | None, artifact: bytes) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(artifact).digest()
    sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    if ca is None:
        return v2_request(digest, sig, der_public(key), certificate=False)
    return v2_request(digest, sig, der(ca.leaf(key)))


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[FulcioCA, FulcioCA]:
    return fulcio_ca(tmp_path_factory.mktemp("ours")), fulcio_ca(tmp_path_factory.mktemp("other"))


def test_rekor_serve_with_trusted_ca_file(tmp_path: Path, cas: tuple[FulcioCA, FulcioCA]) -> None:
    ours, foreign = cas
    args = ("--data-dir", str(tmp_path / "rekor"), "--trusted-ca-file", str(ours.chain_file))
    with Service("rekor", *args, log=tmp_path / "rekor.log") as srv:
        entries = f"{srv.url}/api/v1/log/entries"
        assert post(entries, v1_entry(ours, b"ours"))[0] == 201
        assert post(entries, v1_entry(foreign, b"theirs")) == (
            400, {"code": 400, "message": NOT_ISSUED})  # fmt: skip
        assert post(entries, v1_entry(None, b"key")) == (
            400, {"code": 400, "message": NO_CERTIFICATE})  # fmt: skip
        assert json.loads(get(f"{srv.url}/api/v1/log"))["treeSize"] == 1


def test_rekor2_serve_with_trusted_ca_file_from_the_environment(
    tmp_path: Path, cas: tuple[FulcioCA, FulcioCA]
) -> None:
    ours, foreign = cas
    env = {**os.environ, "SIGSTACK_REKOR2_TRUSTED_CA_FILE": str(ours.chain_file)}
    args = ("--data-dir", str(tmp_path / "rekor2"))
    with Service("rekor2", *args, env=env, log=tmp_path / "rekor2.log") as srv:
        entries = f"{srv.url}/api/v2/log/entries"
        assert post(entries, v2_entry(ours, b"ours"))[0] == 201
        assert post(entries, v2_entry(foreign, b"theirs")) == (
            400, {"code": 3, "message": NOT_ISSUED, "details": []})  # fmt: skip
        assert post(entries, v2_entry(None, b"key")) == (
            400, {"code": 3, "message": NO_CERTIFICATE, "details": []})  # fmt: skip
        assert get(f"{srv.url}/checkpoint").split(b"\n")[1] == b"1"


@pytest.mark.parametrize("name", ["rekor", "rekor2"])
def test_a_file_that_is_not_a_ca_stops_the_start(tmp_path: Path, name: str) -> None:
    leaf = tmp_path / "leaf.pem"
    ca = fulcio_ca(tmp_path / "ca")
    leaf.write_bytes(pem(ca.leaf(ec.generate_private_key(ec.SECP256R1()))))
    args = ("--data-dir", str(tmp_path / name), "--trusted-ca-file", str(leaf))
    done = Service(name, *args).run_to_exit()
    assert done.returncode != 0
    assert "certificate 1 is not a CA certificate" in done.stderr
