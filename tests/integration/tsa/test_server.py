"""``sigstack serve tsa`` as a real process on 127.0.0.1: every answer checked by Debian's
``openssl ts -verify`` (with ``-queryfile``: imprint, nonce and policy) and by rfc3161-client as
sigstore-python verifies; requests as openssl, sigstore-python and sigstore-go make them, the
JSON form, the refusals over HTTP, a restart and a refused chain."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.servers import Service
from tests.unit.tsa.helpers import (
    der_request,
    dev_chain,
    non_critical_eku_chain,
    openssl_verify,
    verify_rfc3161,
)

pytestmark = [
    pytest.mark.xdist_group("servers"),
    pytest.mark.skipif(not shutil.which("openssl"), reason="openssl (Debian package) is needed"),
]
QUERY = {"Content-Type": "application/timestamp-query"}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tsa")


@pytest.fixture(scope="module")
def server(work: Path) -> Service:
    srv = Service("tsa", "--data-dir", str(work / "data"), log=work / "server.log").start()
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def chain(server: Service) -> list[x509.Certificate]:
    resp = requests.get(f"{server.url}/api/v1/timestamp/certchain", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/pem-certificate-chain"
    return x509.load_pem_x509_certificates(resp.content)


def _post(server: Service, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{server.url}/api/v1/timestamp", data=body, headers=headers or QUERY, timeout=30
    )


def _openssl_query(data: Path, out: Path, *flags: str) -> bytes:
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), *flags, "-out", str(out)],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


def _serial(answer: bytes) -> int:
    token = tsp.TimeStampResp.load(answer)["time_stamp_token"]["content"]
    return int(token["encap_content_info"]["content"].parsed["serial_number"].native)


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize(
    "flags",
    [
        ["-cert"],
        [],
        ["-cert", "-no_nonce"],
        ["-no_nonce"],
        ["-cert", "-tspolicy", "1.3.6.1.4.1.57264.2"],
    ],
)
def test_openssl_requests(
    server: Service, chain: list[x509.Certificate], work: Path, digest: str, flags: list[str]
) -> None:
    """openssl's own requests, checked by openssl (nonce, policy, imprint, chain, ESS) and
    rfc3161-client; certReq FALSE answers carry no certificates (RFC 3161 section 2.4.1)."""
    case = work / f"{digest}{''.join(flags)}"
    case.mkdir()
    data = case / "data.bin"
    data.write_bytes(os.urandom(100))
    query = _openssl_query(data, case / "req.tsq", f"-{digest}", *flags)
    resp = _post(server, query)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/timestamp-reply"
    (case / "resp.tsr").write_bytes(resp.content)
    out = openssl_verify(case / "resp.tsr", chain, query=case / "req.tsq", work=case)
    assert "Verification: OK" in out
    verify_rfc3161(resp.content, data.read_bytes(), chain)
    token = tsp.TimeStampResp.load(resp.content)["time_stamp_token"]["content"]
    certs = token["certificates"].native
    if "-cert" in flags:
        assert [c.chosen.dump() for c in token["certificates"]] == [
            chain[0].public_bytes(serialization.Encoding.DER)
        ]
    else:
        assert certs is None
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(case / "resp.tsr"), "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Status: Granted." in text and "Policy OID: 1.3.6.1.4.1.57264.2" in text
    assert "Accuracy: 0x01 seconds" in text and "Ordering: no" in text
    assert ("Nonce: unspecified" in text) == ("-no_nonce" in flags)


def test_sigstore_python_client(server: Service, chain: list[x509.Certificate]) -> None:
    """sigstore-python 4.5.1's own TSA client (SHA-256, nonce, certReq TRUE, 5 s timeout)."""
    from sigstore._internal.timestamp import TimestampAuthorityClient

    signature = os.urandom(71)
    answer = TimestampAuthorityClient(f"{server.url}/api/v1/timestamp").request_timestamp(signature)
    assert answer.tst_info.nonce is not None
    verify_rfc3161(answer.as_bytes(), signature, chain, nonce=answer.tst_info.nonce)


def test_sigstore_go_shape(server: Service, chain: list[x509.Certificate], work: Path) -> None:
    """What sigstore-go and cosign send: SHA-256, no nonce, certReq absent, no hash parameters;
    they expect no certificates and check with the trusted leaf."""
    signature = os.urandom(64)
    body = der_request(hashlib.sha256(signature).digest(), null_params=False)
    resp = _post(server, body)
    assert resp.status_code == 200
    token = tsp.TimeStampResp.load(resp.content)["time_stamp_token"]["content"]
    assert token["certificates"].native is None
    imprint = token["encap_content_info"]["content"].parsed["message_imprint"]
    assert imprint.dump() == tsp.TimeStampReq.load(body)["message_imprint"].dump()  # echoed
    verify_rfc3161(resp.content, signature, chain)
    (work / "go.tsr").write_bytes(resp.content)
    (work / "go.bin").write_bytes(signature)
    openssl_verify(work / "go.tsr", chain, data=work / "go.bin", work=work)


def test_our_client(server: Service, chain: list[x509.Certificate]) -> None:
    from sigstack.client.sign.services import timestamp

    signature = os.urandom(64)
    verify_rfc3161(timestamp(f"{server.url}/api/v1/timestamp", signature), signature, chain)


def test_json_form(server: Service, chain: list[x509.Certificate], work: Path) -> None:
    data = os.urandom(50)
    for name in ("sha256", "sha384", "sha512"):
        body = {
            "artifactHash": base64.b64encode(hashlib.new(name, data).digest()).decode(),
            "hashAlgorithm": name.upper(),
            "certificates": True,
            "nonce": 2**80 + 1,
        }
        resp = _post(server, json.dumps(body).encode(), {"Content-Type": "application/json"})
        assert resp.status_code == 200, resp.text
        verify_rfc3161(resp.content, data, chain, nonce=2**80 + 1)
        (work / f"json-{name}.tsr").write_bytes(resp.content)
        (work / "json.bin").write_bytes(data)
        openssl_verify(work / f"json-{name}.tsr", chain, data=work / "json.bin", work=work)


BAD = [
    ("application/timestamp-query", b"garbage", 400),
    ("application/timestamp-query", der_request(hashlib.sha1(b"x").digest(), "1.3.14.3.2.26"), 400),
    ("application/timestamp-query", der_request(b"\0" * 31), 400),
    ("application/timestamp-query", der_request(b"\0" * 32, "1.2.3.4"), 400),
    ("application/timestamp-query", der_request(b"\0" * 32, nonce=2 ** (8 * 1100)), 400),
    ("application/timestamp-query", der_request(b"\0" * 32, policy="1.2.3.4"), 400),
    (
        "application/json",
        b'{"hashAlgorithm": "sha256", "artifactHash": "' + b"A" * 1100 + b'"}',
        400,
    ),
    ("application/json", b'{"hashAlgorithm": "sha1", "artifactHash": "AAAA"}', 400),
    ("application/octet-stream", der_request(b"\0" * 32), 400),
    ("text/plain", der_request(b"\0" * 32), 415),
    ("", der_request(b"\0" * 32), 415),
    ("application/timestamp-query", b"\x30" * (2 << 20), 413),
]


@pytest.mark.parametrize(("ctype", "body", "status"), BAD, ids=range(len(BAD)))
def test_refusals(server: Service, ctype: str, body: bytes, status: int) -> None:
    resp = _post(server, body, {"Content-Type": ctype} if ctype else {"Content-Type": ""})
    assert resp.status_code == status
    doc = resp.json()
    assert set(doc) == {"code", "message"} and doc["code"] == status


def test_data_dir_and_restart(work: Path, server: Service, chain: list[x509.Certificate]) -> None:
    """The development chain is kept (0600 key, 0700 directories) and served again after a
    restart; serial numbers from before and after never repeat."""
    key = work / "data" / "chain" / "leaf-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (work / "data").stat().st_mode & 0o777 == 0o700
    before = {_serial(_post(server, der_request(os.urandom(32))).content) for _ in range(30)}
    server.stop()
    server.start()
    again = requests.get(f"{server.url}/api/v1/timestamp/certchain", timeout=10)
    assert x509.load_pem_x509_certificates(again.content) == chain
    after = set()
    for _ in range(30):
        message = os.urandom(40)
        answer = _post(server, der_request(hashlib.sha256(message).digest())).content
        verify_rfc3161(answer, message, chain)
        after.add(_serial(answer))
    assert len(before) == len(after) == 30 and not before & after


def test_bad_chain_refused_at_start(tmp_path: Path) -> None:
    """A leaf whose EKU is not critical: the server does not start, and says why."""
    key_file, chain_file, _ = non_critical_eku_chain(tmp_path)
    done = Service(
        "tsa",
        "--data-dir",
        str(tmp_path / "d"),
        "--key",
        f"file:{key_file}",
        "--chain",
        str(chain_file),
    ).run_to_exit()
    assert done.returncode == 1
    assert "extended key usage must be marked critical" in done.stderr


def test_other_key_refused_at_start(tmp_path: Path) -> None:
    one, other = dev_chain(tmp_path / "one"), dev_chain(tmp_path / "other")
    done = Service(
        "tsa",
        "--data-dir",
        str(tmp_path / "d"),
        "--key",
        other.key_uri,
        "--chain",
        str(one.chain_file),
    ).run_to_exit()
    assert done.returncode == 1
    assert "does not match the first certificate" in done.stderr


def test_given_chain_with_intermediate(tmp_path: Path) -> None:
    made = dev_chain(tmp_path / "c", intermediate=True, algorithm="ecdsa-p384")
    with Service(
        "tsa",
        "--data-dir",
        str(tmp_path / "d"),
        "--key",
        made.key_uri,
        "--chain",
        str(made.chain_file),
        log=tmp_path / "log",
    ) as srv:
        data = tmp_path / "data.bin"
        data.write_bytes(b"intermediate")
        query = _openssl_query(data, tmp_path / "req.tsq", "-sha256", "-cert")
        resp = _post(srv, query)
        assert resp.status_code == 200
        (tmp_path / "resp.tsr").write_bytes(resp.content)
        openssl_verify(tmp_path / "resp.tsr", made.certs, query=tmp_path / "req.tsq", work=tmp_path)
        verify_rfc3161(resp.content, b"intermediate", made.certs)
