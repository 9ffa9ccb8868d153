"""Search of the Rekor v2 log (``GET /api/v2/search``): by artifact digest, public-key fingerprint,
certificate identity and OIDC issuer, combined with and/or, paged; every answer verifiable."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.checks import our_verify_v2
from tests.support.entries import V2Signed, v2_hashedrekord
from tests.support.keys import der_public

SEARCH = "/api/v2/search"


def fingerprint(signed: V2Signed) -> str:
    return hashlib.sha256(der_public(signed.key)).hexdigest()


@pytest.fixture
def logged(client) -> list[V2Signed]:
    """Five entries: alice@github (twice, same artifact), bob@github, alice@gitlab, a bare key."""
    shared_key = ec.generate_private_key(ec.SECP256R1())
    made = [
        v2_hashedrekord(
            b"release.tar.gz", email="Alice@example.com", issuer="https://github.example"
        ),
        v2_hashedrekord(
            b"release.tar.gz", email="alice@example.com", issuer="https://github.example"
        ),
        v2_hashedrekord(b"other.tar.gz", email="bob@example.com", issuer="https://github.example"),
        v2_hashedrekord(
            b"third.tar.gz", email="alice@example.com", issuer="https://gitlab.example"
        ),
        v2_hashedrekord(b"keyed", shared_key, with_certificate=False),
    ]
    for signed in made:
        assert client.post("/api/v2/log/entries", json=signed.request).status_code == 201
    return made


def _indexes(client: Any, query: str) -> list[int]:
    resp = client.get(f"{SEARCH}?{query}")
    assert resp.status_code == 200, resp.get_json()
    return [int(e["logIndex"]) for e in resp.get_json()["entries"]]


def test_search_by_each_key_and_combined(client, rekor2, logged: list[V2Signed]) -> None:
    digest = logged[0].digest.hex()
    assert _indexes(client, f"digest=sha256:{digest}") == [0, 1]
    assert _indexes(client, f"digest={digest.upper()}") == [0, 1]
    assert _indexes(client, f"publicKey={fingerprint(logged[2])}") == [2]
    assert _indexes(client, f"publicKey=sha256:{fingerprint(logged[4])}") == [4]
    assert _indexes(client, "identity=ALICE@example.com") == [0, 1, 3]
    assert _indexes(client, "issuer=https://github.example") == [0, 1, 2]
    both = "identity=alice@example.com&issuer=https://github.example"
    assert _indexes(client, f"{both}&operator=and") == [0, 1]
    assert _indexes(client, both) == [0, 1, 2, 3]
    assert _indexes(client, f"{both}&digest=sha256:{digest}&operator=and") == [0, 1]
    assert _indexes(client, "identity=nobody@example.com") == []
    resp = client.get(f"{SEARCH}?identity=alice@example.com")
    for entry in resp.get_json()["entries"]:
        index = int(entry["logIndex"])
        our_verify_v2(entry, rekor2.signer.public_der, "PKIX_ED25519", rekor2.key_id, logged[index])


def test_search_pages(client, logged: list[V2Signed]) -> None:
    query = "identity=alice@example.com"
    first = client.get(f"{SEARCH}?{query}&limit=2").get_json()
    assert [e["logIndex"] for e in first["entries"]] == ["0", "1"] and first["next"] == "1"
    rest = client.get(f"{SEARCH}?{query}&limit=2&after={first['next']}").get_json()
    assert [e["logIndex"] for e in rest["entries"]] == ["3"] and "next" not in rest


@pytest.mark.parametrize(
    "query",
    [
        "",
        "operator=and",
        "identity=",
        "identity=" + "a" * 513,
        "identity=a%01b",
        "digest=abc",
        "digest=sha384:" + "0" * 64,
        "digest=md5:" + "0" * 32,
        "publicKey=" + "0" * 63,
        "publicKey=sha512:" + "0" * 64,
        "identity=a&identity=b",
        "identity=a&operator=xor",
        "identity=a&limit=0",
        "identity=a&limit=101",
        "identity=a&after=-2",
        "identity=a&after=x",
        "email=a@example.com",
    ],
)
def test_bad_searches_are_400(client, query: str) -> None:
    resp = client.get(f"{SEARCH}?{query}")
    assert resp.status_code == 400 and resp.get_json()["code"] == 3, json.dumps(resp.get_json())
