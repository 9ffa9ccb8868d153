"""Fuzz every route of a real timestamp authority (``sigstack serve tsa``) from its own OpenAPI
document.

The TSA runs on the development chain its data directory gets, and one timestamp is made for real
first, so the setup is known to be able to sign. A TSA keeps no state and signs any well-formed
request, so "nothing written" means nothing signed but what was asked for: every 200 the server
counted on ``POST /api/v1/timestamp`` (its ``sigstack_http_requests_total``) is either that first
timestamp or an answer the fuzzer received, and each answer the fuzzer received is a granted
``TimeStampResp`` whose ``TSTInfo`` carries exactly the imprint (algorithm and digest) and nonce
the request asked for. The data directory (key and chain) is byte for byte what it was.

Besides schemathesis' cases, ``test_mutated_requests`` sends mutants of real requests (the DER and
JSON seeds of the TSA fuzz properties, tests/unit/fuzz/test_tsa.py, through their mutations,
seeded): random bytes seldom get past "not DER", mutants reach the fields behind it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from asn1crypto import cms, tsp

from tests.support.servers import Service
from tests.unit.fuzz import test_tsa as tsa_properties
from tests.unit.fuzz.mutate import RandomPicker, mutate
from tests.unit.tsa.helpers import der_request

from . import harness

TIMESTAMP = "POST /api/v1/timestamp"
SIGNED = ('sigstack_http_requests_total{method="POST",route="/api/v1/timestamp",'
          'service="tsa",status="200"}')  # fmt: skip
BUDGET = {TIMESTAMP: 400}
MUTANTS = 1600
HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}
# schemathesis sends a body only in the media types it has a serializer for: without this one
# it sends the JSON form alone and the DER parser goes unfuzzed
schemathesis.serializer.alias("application/timestamp-query", "application/octet-stream")


class TSA(harness.Fuzzer):
    log: Path
    data: Path
    before: dict[str, str]
    granted: int = 0

    def _count(self, label: str, response: Any) -> None:
        super()._count(label, response)
        if response.request.method == "POST" and response.status_code == 200:
            check_granted(response)
            self.granted += 1


def asked(request: requests.PreparedRequest) -> tuple[str, bytes, int | None]:
    """(hash name, digest, nonce) a timestamp request asked for, read here, not by the server."""
    body = request.body.encode() if isinstance(request.body, str) else request.body or b""
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media == "application/json":
        doc = json.loads(body)
        return doc["hashAlgorithm"].lower(), base64.b64decode(doc["artifactHash"]), doc.get("nonce")
    req = tsp.TimeStampReq.load(body)
    imprint = req["message_imprint"]
    return (imprint["hash_algorithm"]["algorithm"].native, imprint["hashed_message"].native,
            req["nonce"].native)  # fmt: skip


def content_type(response: Any) -> str:
    """The Content-Type of a requests answer or of a schemathesis one (lower-cased names, each
    with a list of values)."""
    for name, value in response.headers.items():
        if name.lower() == "content-type":
            return value if isinstance(value, str) else ",".join(value)
    return ""


def check_granted(response: Any) -> None:
    """A 200 is a granted answer over exactly what was asked."""
    assert content_type(response) == "application/timestamp-reply", response.headers
    answer = tsp.TimeStampResp.load(response.content)
    assert answer["status"]["status"].native == "granted"
    signed = answer["time_stamp_token"]["content"]
    assert isinstance(signed, cms.SignedData)
    info = signed["encap_content_info"]["content"].parsed
    name, digest, nonce = asked(response.request)
    assert name in HASHES and len(digest) == HASHES[name], (name, digest)
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == name
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == nonce


def files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSA]:
    tmp = tmp_path_factory.mktemp("fuzz-tsa")
    log = tmp / "tsa.log"
    with Service("tsa", "--data-dir", str(tmp / "tsa"), log=log) as service:
        resp = requests.post(
            f"{service.url}/api/v1/timestamp",
            data=der_request(hashlib.sha256(b"fuzz").digest(), nonce=7, cert_req=True),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        check_granted(resp)
        fuzzer = TSA(service)
        fuzzer.log, fuzzer.data = log, tmp / "tsa"
        fuzzer.before = files(fuzzer.data)
        assert "chain/chain.pem" in fuzzer.before
        assert fuzzer.metric(SIGNED) == 1
        yield fuzzer


@pytest.mark.parametrize(("operation", "examples"), harness.cases("tsa", BUDGET, 100))
def test_fuzz(tsa: TSA, operation: str, examples: int) -> None:
    tsa.run(operation, examples)


def test_mutated_requests(tsa: TSA) -> None:
    """MUTANTS mutants of real DER and JSON requests, alternating: no 5xx, nothing leaked, a
    documented status, and every 200 a granted answer over what was asked (``TSA._count``)."""
    seeds = [(s, "application/timestamp-query") for s in tsa_properties.der_seeds()]
    seeds += [(s, "application/json") for s in tsa_properties.json_seeds()]
    url = f"{tsa.service.url}/api/v1/timestamp"
    for n in range(round(MUTANTS * harness.SCALE)):
        seed, media = seeds[n % len(seeds)]
        body = mutate(seed, RandomPicker(harness.SEED + n))
        resp = tsa.session.post(url, data=body, headers={"Content-Type": media}, timeout=30)
        tsa._count(TIMESTAMP, resp)
        where = f"mutant {n} ({media}, {body[:200]!r})"
        assert resp.status_code in (200, 400, 413), f"{where}: {resp.status_code} {resp.text[:300]}"
        leak = harness._LEAK.search(resp.content.decode("utf-8", "replace"))
        assert leak is None or leak.group(0).encode() in body, f"{where}: {resp.text[:300]}"


def test_nothing_written(tsa: TSA) -> None:
    """Runs after the fuzzing (module order): nothing signed but the answers the fuzzer got (each
    over what it asked), the data directory unchanged, no error logged."""
    assert tsa.metric(SIGNED) == 1 + tsa.granted
    assert files(tsa.data) == tsa.before
    tsa.assert_clean()
    print("\n" + tsa.summary() + f", {tsa.granted} timestamps granted")
