"""sigstack.protocol.protojson: the proto3 JSON mapping as Sigstore's documents use it
(https://protobuf.dev/programming-guides/json/), on cases written here and on real documents from
tests/data.

``Reader``: field paths in every error, camelCase and snake_case names (both at once refused),
``bytes`` in standard and URL-safe base64, the 64-bit integer rules, enums by name, RFC 3339
timestamps; ``b64``/``b64decode``/``rfc3339``/``parse_rfc3339``; ``parse_json`` and ``loads``
(strict decoding). ``strict_b64decode`` is tested with the keys it serves (test_keys.py).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sigstack.protocol import protojson
from sigstack.protocol.errors import ValidationError
from sigstack.protocol.protojson import Reader
from tests.support.testdata import TESTDATA


def _reader(**fields: Any) -> Reader:
    return Reader(fields, "Doc")


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "snake,camel",
    [
        ("log_index", "logIndex"),
        ("raw_bytes", "rawBytes"),
        ("x509_certificate_chain", "x509CertificateChain"),
        ("hashed_rekord_request_v002", "hashedRekordRequestV002"),
        ("tlog_entries", "tlogEntries"),
        ("kind", "kind"),
        ("logIndex", "logIndex"),
    ],
)
def test_camel(snake: str, camel: str) -> None:
    assert protojson.camel(snake) == camel


def test_both_spellings_are_read() -> None:
    assert _reader(logIndex="1").integer("log_index") == 1
    assert _reader(log_index="2").integer("log_index") == 2
    assert _reader(logIndex=None, other=1).raw("log_index") is None


@pytest.mark.parametrize(
    "fields",
    [
        {"logIndex": "1", "log_index": "1"},  # even when equal
        {"logIndex": "1", "log_index": "2"},
        {"logIndex": None, "log_index": "2"},  # null still names the field
    ],
)
def test_both_spellings_together_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(
        ValidationError, match=r"^Doc\.logIndex is given twice \(logIndex and log_index\)"
    ):
        Reader(fields, "Doc").integer("log_index")


def test_unknown_fields_are_ignored() -> None:
    reader = _reader(kind="x", unknownField={"deep": [1]})
    assert reader.text("kind") == "x" and not reader.has("unknown")


# --- paths in errors -----------------------------------------------------------------------------


def test_errors_name_the_field_path() -> None:
    doc = Reader(
        {"verificationMaterial": {"tlogEntries": [{"kindVersion": {}}, {"kind_version": 5}]}},
        "Bundle",
    )
    entries = doc.obj("verification_material").objs("tlog_entries")
    assert [e.path for e in entries] == [
        "Bundle.verificationMaterial.tlogEntries[0]",
        "Bundle.verificationMaterial.tlogEntries[1]",
    ]
    with pytest.raises(ValidationError, match=r"^Bundle\.verificationMaterial\.tlogEntries\[0\]"
                                              r"\.kindVersion\.kind is required$"):  # fmt: skip
        entries[0].obj("kind_version").text("kind")
    with pytest.raises(ValidationError, match=r"^Bundle\.verificationMaterial\.tlogEntries\[1\]"
                                              r"\.kindVersion must be a JSON object$"):  # fmt: skip
        entries[1].obj("kind_version")
    assert doc.where("media_type") == "Bundle.mediaType"


@pytest.mark.parametrize("value", [[], "x", 1, None, True])
def test_a_reader_is_over_an_object(value: Any) -> None:
    with pytest.raises(ValidationError, match="^Doc must be a JSON object$"):
        Reader(value, "Doc")


def test_lists_of_objects() -> None:
    assert _reader().objs("items") == [] and _reader(items=None).array("items") == []
    assert _reader(items=[1, "a"]).array("items") == [1, "a"]
    with pytest.raises(ValidationError, match=r"^Doc\.items must be a list$"):
        _reader(items={"a": 1}).array("items")
    with pytest.raises(ValidationError, match=r"^Doc\.items\[1\] must be a JSON object$"):
        _reader(items=[{}, "x"]).objs("items")


def test_optional_objects() -> None:
    assert _reader().opt_obj("inner") is None and _reader(inner=None).opt_obj("inner") is None
    inner = _reader(inner={"a": "b"}).opt_obj("inner")
    assert inner is not None and inner.text("a") == "b" and inner.path == "Doc.inner"
    with pytest.raises(ValidationError, match=r"^Doc\.inner is required$"):
        _reader().obj("inner")


# --- strings and enums ---------------------------------------------------------------------------


def test_text() -> None:
    assert _reader(mediaType="m").text("media_type") == "m"
    assert _reader(mediaType="").text("media_type") == ""
    assert _reader().text("media_type", "dflt") == "dflt"
    assert _reader().opt_text("media_type") is None
    with pytest.raises(ValidationError, match=r"^Doc\.mediaType is required$"):
        _reader().text("media_type")
    with pytest.raises(ValidationError, match=r"^Doc\.mediaType must be a string$"):
        _reader(mediaType=1).text("media_type")


def test_enums_are_read_by_name_only() -> None:
    """protojson writes an enum as its name; a number (which protojson also accepts on input) is
    refused here, as the models read enums with ``text``."""
    reader = _reader(keyDetails="PKIX_ECDSA_P256_SHA_256", hashAlgorithm=1)
    assert reader.text("key_details") == "PKIX_ECDSA_P256_SHA_256"
    with pytest.raises(ValidationError, match=r"^Doc\.hashAlgorithm must be a string$"):
        reader.text("hash_algorithm")


# --- bytes ---------------------------------------------------------------------------------------

RAW = bytes([0xFB, 0xFF, 0xBF, 0x00, 0x01])  # "+/+/AAE=" in the standard alphabet


def test_b64_is_standard_with_padding() -> None:
    assert protojson.b64(RAW) == "+/+/AAE="
    assert protojson.b64(b"") == ""


@pytest.mark.parametrize("text", ["+/+/AAE=", "+/+/AAE", "-_-_AAE=", "-_-_AAE", " +/+/AAE= \n"])
def test_bytes_in_either_alphabet_with_or_without_padding(text: str) -> None:
    assert protojson.b64decode(text, "x") == RAW
    assert _reader(rawBytes=text).blob("raw_bytes") == RAW


@pytest.mark.parametrize(
    "value,error",
    [
        ("+/+/AA E=", "is not valid base64"),
        ("!!!!", "is not valid base64"),
        ("A", "is not valid base64"),
        ("AAE==", "is not valid base64"),
        (b"AAE=", "must be a base64 string"),
        (1, "must be a base64 string"),
        (["AAE="], "must be a base64 string"),
    ],
)
def test_bytes_refused(value: Any, error: str) -> None:
    with pytest.raises(ValidationError, match=f"^Doc.rawBytes {error}$"):
        _reader(rawBytes=value).blob("raw_bytes")


def test_strict_and_lenient_base64_differ_as_documented() -> None:
    for text in ("-_-_AAE=", "+/+/AAE"):
        assert protojson.b64decode(text, "x") == RAW
        with pytest.raises(ValidationError, match="not valid base64"):
            protojson.strict_b64decode(text, "x")


def test_optional_and_required_bytes() -> None:
    assert _reader(rawBytes="").blob("raw_bytes") == b""
    assert _reader().blob("raw_bytes", required=False) == b""
    assert _reader().opt_blob("raw_bytes") is None
    assert _reader(raw_bytes="AAE=").opt_blob("raw_bytes") == b"\x00\x01"
    with pytest.raises(ValidationError, match=r"^Doc\.rawBytes is required$"):
        _reader().blob("raw_bytes")


# --- 64-bit integers -----------------------------------------------------------------------------

U64_MAX, I64_MIN = 2**64 - 1, -(2**63)


@pytest.mark.parametrize(
    "value,want",
    [
        (0, 0),
        ("0", 0),
        (25, 25),
        ("25", 25),
        ("-25", -25),
        ("007", 7),
        (U64_MAX, U64_MAX),
        (str(U64_MAX), U64_MAX),
        (I64_MIN, I64_MIN),
        (str(I64_MIN), I64_MIN),
        ("114818493", 114818493),
    ],
)
def test_integers_as_numbers_or_decimal_strings(value: Any, want: int) -> None:
    assert _reader(logIndex=value).integer("log_index") == want


@pytest.mark.parametrize(
    "value,error",
    [
        (U64_MAX + 1, "is out of the 64-bit integer range"),
        (str(U64_MAX + 1), "is out of the 64-bit integer range"),
        (I64_MIN - 1, "is out of the 64-bit integer range"),
        (str(I64_MIN - 1), "is out of the 64-bit integer range"),
        ("1" * 21, "must be an integer \\(or a decimal string\\)"),
        (True, "must be an integer"),
        (False, "must be an integer"),
        (1.0, "must be an integer \\(or a decimal string\\)"),
        (1.5, "must be an integer \\(or a decimal string\\)"),
        ("1.0", "must be an integer \\(or a decimal string\\)"),
        ("1e3", "must be an integer \\(or a decimal string\\)"),
        ("+1", "must be an integer \\(or a decimal string\\)"),
        (" 1", "must be an integer \\(or a decimal string\\)"),
        ("0x10", "must be an integer \\(or a decimal string\\)"),
        ("", "must be an integer \\(or a decimal string\\)"),
        # ARABIC-INDIC DIGITs: re's \d and int() take them, Go's protojson does not
        ("١٢", "must be an integer \\(or a decimal string\\)"),
        ({}, "must be an integer \\(or a decimal string\\)"),
    ],
)
def test_integers_refused(value: Any, error: str) -> None:
    with pytest.raises(ValidationError, match=f"^Doc.logIndex {error}$"):
        _reader(logIndex=value).integer("log_index")


def test_an_absent_integer_is_zero_unless_required() -> None:
    assert _reader().integer("log_index") == 0 and _reader(logIndex=None).integer("log_index") == 0
    with pytest.raises(ValidationError, match=r"^Doc\.logIndex is required$"):
        _reader().integer("log_index", required=True)


# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,want",
    [
        ("2023-04-26T00:21:08Z", datetime(2023, 4, 26, 0, 21, 8, tzinfo=UTC)),
        ("2023-04-26T00:21:08z", datetime(2023, 4, 26, 0, 21, 8, tzinfo=UTC)),
        ("2023-04-26T00:21:08.763Z", datetime(2023, 4, 26, 0, 21, 8, 763000, tzinfo=UTC)),
        ("2023-04-26T00:21:08.123456789Z", datetime(2023, 4, 26, 0, 21, 8, 123456, tzinfo=UTC)),
        ("2023-04-26T02:21:08+02:00", datetime(2023, 4, 26, 0, 21, 8, tzinfo=UTC)),
        ("2023-04-25T19:21:08.5-05:00", datetime(2023, 4, 26, 0, 21, 8, 500000, tzinfo=UTC)),
        ("2021-10-01T00:00:00Z", datetime(2021, 10, 1, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps(text: str, want: datetime) -> None:
    got = _reader(start=text).time("start")
    assert got == want and got.tzinfo == UTC
    assert protojson.parse_rfc3339(text, "x") == want


@pytest.mark.parametrize(
    "value",
    [
        "2023-04-26T00:21:08",  # no offset
        "2023-04-26",
        "2023-04-26 00:21:08Z",
        "2023-02-30T00:00:00Z",
        "2023-04-26T24:00:00Z",
        "2023-04-26T00:21:08.Z",
        "2023-04-26T00:21:08+0200",
        "yesterday",
        "",
    ],
)
def test_malformed_timestamps(value: str) -> None:
    with pytest.raises(ValidationError, match=r"^Doc\.start is not an RFC 3339 timestamp"):
        _reader(start=value).time("start")


def test_a_timestamp_is_a_string_and_required() -> None:
    with pytest.raises(ValidationError, match=r"^Doc\.start must be an RFC 3339 timestamp string$"):
        _reader(start=1700000000).time("start")
    with pytest.raises(ValidationError, match=r"^Doc\.start is required$"):
        _reader().time("start")


@pytest.mark.parametrize(
    "value,text",
    [
        (datetime(2023, 4, 26, 0, 21, 8, tzinfo=UTC), "2023-04-26T00:21:08Z"),
        (datetime(2023, 4, 26, 0, 21, 8, 763000, tzinfo=UTC), "2023-04-26T00:21:08.763000Z"),
        (datetime(2023, 4, 26, 2, 21, 8, tzinfo=timezone(timedelta(hours=2))),
         "2023-04-26T00:21:08Z"),
    ],
)  # fmt: skip
def test_rfc3339_writes_utc(value: datetime, text: str) -> None:
    assert protojson.rfc3339(value) == text
    assert protojson.parse_rfc3339(text, "x") == value


# --- decoding ------------------------------------------------------------------------------------


def test_parse_json_takes_any_value_and_loads_an_object() -> None:
    assert protojson.parse_json("[1, 2]", "doc") == [1, 2]
    assert protojson.parse_json(b'"x"', "doc") == "x"
    assert protojson.loads(b'{"a": 1}', "doc") == {"a": 1}
    with pytest.raises(ValidationError, match="^doc must be a JSON object$"):
        protojson.loads("[1]", "doc")


@pytest.mark.parametrize(
    "text,error",
    [
        ('{"a": 1, "a": 2}', "names the key 'a' twice"),
        ('{"a": NaN}', "is not valid JSON"),
        ('{"a": Infinity}', "is not valid JSON"),
        ('{"a": 1e999}', "is not valid JSON"),
        ("{", "is not valid JSON"),
        ("", "is not valid JSON"),
        (b'{"a": "\xff"}', "is not valid JSON: it is not UTF-8 text"),
        ('{"a": "\\ud800"}', "holds a string with no UTF-8 form \\(a lone surrogate\\)"),
        ("[" * 101 + "]" * 101, "is nested more than 100 levels deep"),
    ],
)
def test_strict_decoding(text: str | bytes, error: str) -> None:
    with pytest.raises(ValidationError, match=f"^doc {error}"):
        protojson.parse_json(text, "doc")
    with pytest.raises(ValidationError, match="^doc "):
        protojson.loads(text, "doc")


def test_nesting_limit_is_a_parameter() -> None:
    assert protojson.parse_json("[[[]]]", "doc", max_depth=3) == [[[]]]
    with pytest.raises(ValidationError, match="nested more than 2 levels deep"):
        protojson.parse_json("[[[]]]", "doc", max_depth=2)
    assert protojson.parse_json("[" * 100 + "]" * 100, "doc") is not None
    # brackets inside strings count for nothing: more of them than the limit still parses
    assert protojson.parse_json('["[[[{{"]', "doc", max_depth=1) == ["[[[{{"]
    # an escaped surrogate in otherwise plain ASCII is found however shallow the document
    with pytest.raises(ValidationError, match="lone surrogate"):
        protojson.parse_json('["a", "\\udfff"]', "doc")


# --- real documents ------------------------------------------------------------------------------


def test_a_real_bundle_through_the_reader() -> None:
    """staging-v0.3-happy-path: camelCase names, int64 as strings, bytes, enums by name."""
    path = TESTDATA / "pyassets/cases/staging-v0.3-happy-path/bundle.sigstore.json"
    raw = json.loads(path.read_text())
    doc = Reader(protojson.loads(path.read_bytes(), "bundle"), "Bundle")
    (entry,) = doc.obj("verification_material").objs("tlog_entries")
    want = raw["verificationMaterial"]["tlogEntries"][0]
    assert isinstance(want["logIndex"], str)
    assert entry.integer("log_index") == int(want["logIndex"])
    assert entry.integer("integrated_time") == int(want["integratedTime"])
    assert entry.obj("log_id").blob("key_id") == base64.b64decode(want["logId"]["keyId"])
    assert entry.obj("kind_version").text("kind") == "hashedrekord"
    body = entry.blob("canonicalized_body")
    assert protojson.loads(body, "body")["kind"] == "hashedrekord"
    signature = doc.obj("message_signature")
    assert signature.obj("message_digest").text("algorithm") == "SHA2_256"
    assert len(signature.obj("message_digest").blob("digest")) == 32


def test_a_real_trust_config_in_snake_case() -> None:
    """sigstore-python's trust configs write ``signing_config`` in snake_case: legal proto3 JSON."""
    path = TESTDATA / "pyassets/test-assets/trust_config/config.v1.json"
    text = path.read_text()
    assert '"signing_config"' in text
    doc = Reader(protojson.loads(text, "config"), "ClientTrustConfig")
    signing = doc.obj("signing_config")
    assert signing.path == "ClientTrustConfig.signingConfig"
    assert signing.text("media_type").startswith("application/vnd.dev.sigstore.signingconfig")
    roots = doc.obj("trusted_root")
    for log in roots.objs("tlogs"):
        assert log.obj("public_key").obj("valid_for").time("start").tzinfo == UTC
        assert len(log.obj("log_id").blob("key_id")) == 32
