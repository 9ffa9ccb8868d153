"""Many simultaneous timestamp requests on ``sigstack serve tsa`` with two workers: every answer
valid (rfc3161-client for all of them, with its nonce; ``openssl ts -verify`` for a sample), both
workers answering, and serial numbers distinct across the workers and a restart."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from asn1crypto import tsp
from cryptography import x509
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder

from tests.support.servers import Service
from tests.unit.tsa.helpers import openssl_verify, verify_rfc3161

pytestmark = pytest.mark.xdist_group("servers")
CLIENTS, EACH = 24, 12


def _client(url: str, n: int, start: threading.Barrier, out: list[dict[str, Any]]) -> None:
    with requests.Session() as http:
        start.wait()
        for i in range(EACH):
            message = os.urandom(64)
            builder = TimestampRequestBuilder().hash_algorithm(HashAlgorithm.SHA256)
            req = builder.data(message).cert_request(cert_request=i % 2 == 0).build()
            resp = http.post(
                f"{url}/api/v1/timestamp",
                data=req.as_bytes(),
                timeout=60,
                headers={"Content-Type": "application/timestamp-query"},
            )
            out.append(
                {
                    "status": resp.status_code,
                    "body": resp.content,
                    "message": message,
                    "nonce": req.nonce,
                    "query": req.as_bytes(),
                    "worker": resp.headers.get("X-Request-Id", "")[:16],
                }
            )


def _burst(url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=_client, args=(url, n, start, out)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _serial(answer: bytes) -> int:
    token = tsp.TimeStampResp.load(answer)["time_stamp_token"]["content"]
    return int(token["encap_content_info"]["content"].parsed["serial_number"].native)


def test_simultaneous_requests(tmp_path: Path) -> None:
    srv = Service(
        "tsa", "--data-dir", str(tmp_path / "data"), "--workers", "2", log=tmp_path / "server.log"
    )
    serials: list[int] = []
    workers: list[set[str]] = []
    with srv:
        chain = x509.load_pem_x509_certificates(
            requests.get(f"{srv.url}/api/v1/timestamp/certchain", timeout=10).content
        )
        for _ in range(2):  # the second phase after a restart
            # bursts until both workers have answered (the kernel may hand one burst's
            # connections to one of them); request ids start with a per-process prefix
            seen: set[str] = set()
            for _ in range(5):
                results = _burst(srv.url)
                assert len(results) == CLIENTS * EACH
                assert {r["status"] for r in results} == {200}
                seen |= {r["worker"] for r in results}
                for r in results:
                    verify_rfc3161(r["body"], r["message"], chain, nonce=r["nonce"])
                    serials.append(_serial(r["body"]))
                if len(seen) == 2:
                    break
            workers.append(seen)
            for k, r in enumerate(results[:: len(results) // 12]):  # a sample through openssl
                (tmp_path / f"{k}.tsr").write_bytes(r["body"])
                (tmp_path / f"{k}.tsq").write_bytes(r["query"])
                openssl_verify(
                    tmp_path / f"{k}.tsr", chain, query=tmp_path / f"{k}.tsq", work=tmp_path
                )
            srv.stop()
            srv.start()
    assert len(serials) >= 2 * CLIENTS * EACH
    assert len(set(serials)) == len(serials)  # unique across workers and the restart
    assert [len(w) for w in workers] == [2, 2], workers  # both workers, before and after
    assert not workers[0] & workers[1]  # new processes after the restart
