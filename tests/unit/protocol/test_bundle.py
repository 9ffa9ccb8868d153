"""sigstack.protocol.bundle: every real bundle in testdata parses and round-trips; shape errors are
ValidationErrors; snake_case input is accepted."""

from __future__ import annotations

import json

import pytest

from sigstack.protocol.bundle import MEDIA_TYPE_V03, Bundle, pae
from sigstack.protocol.errors import ValidationError
from tests.support.spellings import snake_case
from tests.support.testdata import TESTDATA

ASSETS = TESTDATA / "pyassets"
BAD = {"bundle_invalid_version.txt.sigstore", "bundle_no_cert_v1.txt.sigstore"}
BUNDLES = sorted(
    p
    for p in list(ASSETS.glob("cases/*/bundle.sigstore.json"))
    + list(ASSETS.glob("test-assets/**/*.sigstore*"))
    if p.stat().st_size
)


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: str(p.relative_to(ASSETS)))
def test_real_bundles(path) -> None:
    text = path.read_text()
    bad = path.name in BAD or path.parent.name in (
        "staging-invalid-version_fail",
        "production-v0.1-no-cert_fail",
    )
    if bad:
        with pytest.raises(ValidationError):
            Bundle.from_json(text)
        return
    bundle = Bundle.from_json(text)
    again = Bundle.from_json(bundle.to_json())
    assert again == bundle
    out = json.loads(bundle.to_json())
    assert "mediaType" in out and "verificationMaterial" in out


def test_snake_case_input() -> None:
    text = (ASSETS / "cases/staging-v0.3-happy-path/bundle.sigstore.json").read_text()
    camel = Bundle.from_json(text)
    assert Bundle.from_json(json.dumps(snake_case(json.loads(text)))) == camel
    assert camel.media_type == MEDIA_TYPE_V03 and camel.version == "0.3"


def test_int64_as_numbers_and_strings() -> None:
    obj = json.loads((ASSETS / "cases/staging-v0.3-happy-path/bundle.sigstore.json").read_text())
    entry = obj["verificationMaterial"]["tlogEntries"][0]
    entry["logIndex"] = int(entry["logIndex"])
    assert (
        Bundle.from_dict(obj).verification_material.tlog_entries[0].log_index == entry["logIndex"]
    )
    entry["logIndex"] = "12x"
    with pytest.raises(ValidationError, match="logIndex"):
        Bundle.from_dict(obj)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda o: o.update(mediaType="application/json"), "media type"),
        (lambda o: o.pop("messageSignature"), "exactly one of messageSignature"),
        (
            lambda o: o.update(dsseEnvelope={"payload": "", "payloadType": "x", "signatures": []}),
            "exactly one",
        ),
        (lambda o: o["messageSignature"].update(signature="%%%"), "base64"),
        (
            lambda o: o["verificationMaterial"].update(publicKey={"hint": "k"}),
            "exactly one of certificate",
        ),
        (lambda o: o["verificationMaterial"].pop("certificate"), "exactly one of certificate"),
        (lambda o: o["verificationMaterial"]["tlogEntries"][0].pop("kindVersion"), "kindVersion"),
    ],
)
def test_shape_errors(mutate, match) -> None:
    obj = json.loads((ASSETS / "cases/staging-v0.3-happy-path/bundle.sigstore.json").read_text())
    mutate(obj)
    with pytest.raises(ValidationError, match=match):
        Bundle.from_dict(obj)


@pytest.mark.parametrize("text", ["", "[]", "{", '"x"'])
def test_not_an_object(text) -> None:
    with pytest.raises(ValidationError):
        Bundle.from_json(text)


def test_pae() -> None:
    assert pae("a", b"xy") == b"DSSEv1 1 a 2 xy"


def test_legacy_cosign_bundle_is_named() -> None:
    legacy = {"base64Signature": "AAAA", "cert": "x", "rekorBundle": {}}
    with pytest.raises(ValidationError, match="legacy cosign bundle"):
        Bundle.from_dict(legacy)


def test_pae_matches_the_dsse_specification_example() -> None:
    # DSSE protocol.md: PAE(UTF8(type), body), with the specification's worked example.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("t\u00e9", b"") == b"DSSEv1 3 t\xc3\xa9 0 "  # length in bytes
