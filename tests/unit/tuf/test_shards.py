"""Closing a log's window and moving a signing-config service (services/tuf/shards.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sigstack.protocol.errors import ValidationError
from sigstack.services.tuf.shards import end_window, rotate_service

START = "2026-01-01T00:00:00Z"
AT = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


def _log(url: str, key: str, **window: str) -> dict:
    return {"baseUrl": url, "publicKey": {"rawBytes": key, "validFor": {"start": START, **window}}}


def _root(*tlogs: dict) -> dict:
    return {"tlogs": list(tlogs), "ctlogs": [], "certificateAuthorities": []}


def test_end_window_closes_the_open_entry_of_the_url_only() -> None:
    root = _root(_log("https://r1", "old", end="2026-02-01T00:00:00Z"), _log("https://r1/", "k1"),
                 _log("https://r2", "k2"))  # fmt: skip
    out = end_window(root, "tlogs", "https://r1", AT)
    assert [t["publicKey"]["validFor"].get("end") for t in out["tlogs"]] == [
        "2026-02-01T00:00:00Z", "2026-06-01T12:00:00Z", None]  # fmt: skip
    assert "end" not in root["tlogs"][1]["publicKey"]["validFor"]  # the input is left alone


def test_end_window_refusals() -> None:
    two = _root(_log("https://r1", "a"), _log("https://r1", "b"))
    with pytest.raises(ValidationError, match="several"):
        end_window(two, "tlogs", "https://r1", AT)
    assert (
        "end"
        in end_window(two, "tlogs", "https://r1", AT, raw_key="b")["tlogs"][1]["publicKey"][
            "validFor"
        ]
    )
    with pytest.raises(ValidationError, match="no entry"):
        end_window(two, "tlogs", "https://other", AT)
    with pytest.raises(ValidationError, match="starts after"):
        end_window(_root(_log("https://r1", "a")), "tlogs", "https://r1",
                   datetime(2025, 1, 1, tzinfo=UTC))  # fmt: skip
    with pytest.raises(ValidationError, match="unknown"):
        end_window(two, "nope", "https://r1", AT)


def _signing() -> dict:
    rekor = {
        "url": "https://r1",
        "majorApiVersion": 1,
        "validFor": {"start": START},
        "operator": "op",
    }
    v2 = {
        "url": "https://log1",
        "majorApiVersion": 2,
        "validFor": {"start": START},
        "operator": "op",
    }
    return {"rekorTlogUrls": [v2, rekor], "caUrls": []}


def test_rotate_service_ends_the_old_url_and_lists_the_new_one_first() -> None:
    out = rotate_service(_signing(), "rekor", "https://r2/", "https://r1", AT)
    first, v2, old = out["rekorTlogUrls"]
    assert first == {"url": "https://r2", "majorApiVersion": 1,
                     "validFor": {"start": "2026-06-01T12:00:00Z"}, "operator": "op"}  # fmt: skip
    assert old["validFor"] == {"start": START, "end": "2026-06-01T12:00:00Z"}
    assert "end" not in v2["validFor"]


def test_rotate_service_refusals() -> None:
    with pytest.raises(ValidationError, match="no rekor2 service"):  # r1 is API version 1
        rotate_service(_signing(), "rekor2", "https://r2", "https://r1", AT)
    with pytest.raises(ValidationError, match="already"):
        rotate_service(_signing(), "rekor", "https://log1", "https://r1", AT)
    once = rotate_service(_signing(), "rekor", "https://r2", "https://r1", AT)
    with pytest.raises(ValidationError, match="open window"):
        rotate_service(once, "rekor", "https://r3", "https://r1", AT)
    with pytest.raises(ValidationError, match="unknown service"):
        rotate_service(_signing(), "fulcio", "https://r2", "https://r1", AT)
