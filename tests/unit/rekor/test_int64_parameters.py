"""Rekor's integers are int64 (its API schema): a larger one is a schema violation (422), as
go-openapi answers, not a lookup. Found by the fuzz tests (schemathesis' negative_data_rejection:
``logIndexes: [9223372036854775808]`` answered 200)."""

from __future__ import annotations

import pytest

INT64_MAX = (1 << 63) - 1


@pytest.mark.parametrize("path", ["/api/v1/log/entries/retrieve", "/api/v1/log/entries/retrieve/"])
def test_log_indexes_beyond_int64_are_422(client, path: str) -> None:
    resp = client.post(path, json={"logIndexes": [0, INT64_MAX + 1]})
    assert resp.status_code == 422
    assert resp.get_json() == {
        "code": 422,
        "message": "logIndexes must hold non-negative int64 integers",
    }
    assert client.post(path, json={"logIndexes": [INT64_MAX]}).get_json() == []


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"logIndex": str(INT64_MAX + 1)}, "logIndex"),
        ({"logIndex": "9" * 19}, "logIndex"),
        ({"lastSize": str(INT64_MAX + 1)}, "lastSize"),
        ({"lastSize": "1", "firstSize": str(INT64_MAX + 1)}, "firstSize"),
    ],
)
def test_query_integers_beyond_int64_are_422(client, query: dict[str, str], name: str) -> None:
    path = "/api/v1/log/entries" if "logIndex" in query else "/api/v1/log/proof"
    resp = client.get(path, query_string=query)
    assert resp.status_code == 422
    assert resp.get_json()["message"] == f"{name} in query must be of type int64"


def test_the_largest_int64_is_still_a_number(client) -> None:
    assert (
        client.get("/api/v1/log/entries", query_string={"logIndex": str(INT64_MAX)}).status_code
        == 404
    )
