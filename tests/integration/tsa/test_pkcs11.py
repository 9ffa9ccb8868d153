"""A TSA whose leaf key lives in a SoftHSM2 token: ``sigstack tsa create-chain --generate`` makes
the key on the token and the chain around it, ``sigstack serve tsa --key pkcs11:...`` signs with
it (answers checked by openssl and rfc3161-client), and a token key that is not the chain's is
refused at start, the check made in a separate process (no HSM session crosses the fork)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509

from tests.support.servers import Service, sigstack_cli
from tests.unit.tsa.helpers import openssl_verify, verify_rfc3161

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321"
pytestmark = [
    pytest.mark.xdist_group("servers"),
    pytest.mark.skipif(
        not os.path.exists(MODULE) or not shutil.which("softhsm2-util"),
        reason=f"SoftHSM2 ({MODULE}, softhsm2-util) is not installed (apt softhsm2)",
    ),
]


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh token; SOFTHSM2_CONF and the PIN variable are set for the child processes."""
    tmp = tmp_path_factory.mktemp("softhsm")
    (tmp / "tokens").mkdir()
    conf = tmp / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp / 'tokens'}\nobjectstore.backend = file\n")
    label = "tsa" + uuid.uuid4().hex[:8]
    saved = {k: os.environ.get(k) for k in ("SOFTHSM2_CONF", "TSA_PIN")}
    os.environ.update(SOFTHSM2_CONF=str(conf), TSA_PIN=PIN)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            "87654321",
        ],
        check=True,
        capture_output=True,
    )
    yield label
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _uri(label: str, obj: str) -> str:
    return f"pkcs11:token={label};object={obj}?module-path={MODULE}&pin-env=TSA_PIN"


def test_hsm_leaf_key(token: str, tmp_path: Path) -> None:
    uri = _uri(token, "tsa-leaf")
    made = sigstack_cli(
        "tsa",
        "create-chain",
        "--out-dir",
        str(tmp_path / "chain"),
        "--key",
        uri,
        "--generate",
        "--intermediate",
        "--algorithm",
        "ecdsa-p384",
    )
    assert made.returncode == 0, made.stderr
    assert not (tmp_path / "chain" / "leaf-key.pem").exists()  # the key is only on the token
    chain_file = tmp_path / "chain" / "chain.pem"
    chain = x509.load_pem_x509_certificates(chain_file.read_bytes())
    assert chain[0].public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    checked = sigstack_cli("tsa", "check-chain", "--key", uri, "--chain", str(chain_file))
    assert checked.returncode == 0, checked.stderr
    with Service(
        "tsa",
        "--data-dir",
        str(tmp_path / "data"),
        "--key",
        uri,
        "--chain",
        str(chain_file),
        log=tmp_path / "server.log",
    ) as srv:
        served = requests.get(f"{srv.url}/api/v1/timestamp/certchain", timeout=10).content
        assert x509.load_pem_x509_certificates(served) == chain
        data = tmp_path / "data.bin"
        for n, flags in enumerate((["-sha256", "-cert"], ["-sha512", "-no_nonce"])):
            data.write_bytes(os.urandom(32))
            query = tmp_path / f"{n}.tsq"
            subprocess.run(
                ["openssl", "ts", "-query", "-data", str(data), *flags, "-out", str(query)],
                check=True,
                capture_output=True,
            )
            resp = requests.post(
                f"{srv.url}/api/v1/timestamp",
                data=query.read_bytes(),
                headers={"Content-Type": "application/timestamp-query"},
                timeout=30,
            )
            assert resp.status_code == 200, resp.text
            (tmp_path / f"{n}.tsr").write_bytes(resp.content)
            openssl_verify(tmp_path / f"{n}.tsr", chain, query=query, work=tmp_path)
            verify_rfc3161(resp.content, data.read_bytes(), chain)


def test_hsm_key_not_the_chains_is_refused(token: str, tmp_path: Path) -> None:
    one = sigstack_cli(
        "tsa",
        "create-chain",
        "--out-dir",
        str(tmp_path / "one"),
        "--key",
        _uri(token, "tsa-one"),
        "--generate",
    )
    other = sigstack_cli(
        "tsa",
        "create-chain",
        "--out-dir",
        str(tmp_path / "other"),
        "--key",
        _uri(token, "tsa-other"),
        "--generate",
    )
    assert one.returncode == other.returncode == 0, one.stderr + other.stderr
    done = Service(
        "tsa",
        "--data-dir",
        str(tmp_path / "d"),
        "--key",
        _uri(token, "tsa-other"),
        "--chain",
        str(tmp_path / "one" / "chain.pem"),
    ).run_to_exit()
    assert done.returncode == 1
    assert "does not match the first certificate of the chain" in done.stderr
    again = sigstack_cli(
        "tsa",
        "create-chain",
        "--out-dir",
        str(tmp_path / "again"),
        "--key",
        _uri(token, "tsa-one"),
        "--generate",
    )
    assert again.returncode == 1 and "already holds a key labelled" in again.stderr
