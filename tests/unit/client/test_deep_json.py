"""JSON nested deeper than Python's recursion limit, wherever the verifying side reads JSON (a
bundle, a trusted root, an in-toto payload, a logged body, OCI documents, docker's config), is
refused with an error of ``protocol.errors``, never a ``RecursionError`` (security review,
issue 11 section 3, item 4). Signed material is signed for real, so the refusal happens where
the parser meets it, after every signature check."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from sigstack.client.oci import auth, formats
from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
from sigstack.client.verify.intoto import Statement
from sigstack.protocol.bundle import Bundle, TransparencyLogEntry
from sigstack.protocol.errors import Error, ValidationError, VerificationError
from sigstack.protocol.trust import TrustedRoot
from tests.support.entries import hashedrekord_body
from tests.support.testdata import TESTDATA

from .kit import IDENTITY, ISSUER, Kit

DEEP = 100_000
POLICY = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)


def _deep(depth: int = DEEP, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def _deep_object(depth: int = DEEP) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [DEEP, 101])
def test_parse_json_refuses_deep_nesting(depth: int) -> None:
    from sigstack.protocol.protojson import MAX_DEPTH, parse_json

    assert depth > MAX_DEPTH
    for text in (_deep(depth), _deep_object(depth)):
        with pytest.raises(ValidationError, match="nested more than"):
            parse_json(text, "the document")
    assert parse_json(_deep(MAX_DEPTH), "x") is not None


def test_bundle_and_trusted_root() -> None:
    bundle = '{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "x": ' + _deep() + "}"
    with pytest.raises(ValidationError):
        Bundle.from_json(bundle)
    with pytest.raises(ValidationError):
        TrustedRoot.from_json('{"tlogs": ' + _deep() + "}")
    with pytest.raises(ValidationError):
        TransparencyLogEntry.from_json(_deep_object())


def test_in_toto_payload_parsed_after_the_signature() -> None:
    payload = (
        '{"_type": "https://in-toto.io/Statement/v1", "predicate": ' + _deep() + "}"
    ).encode()
    with pytest.raises(VerificationError):
        Statement.from_payload("application/vnd.in-toto+json", payload)
    kit = Kit()
    bundle = kit.attest(payload)  # signed and logged for real
    with pytest.raises(VerificationError, match="nested"):
        Verifier(kit.trusted_root()).verify_artifact(bundle, Artifact(bytes(32)), POLICY)


def test_logged_body_nested_deeply() -> None:
    """A real signature and a correctly logged entry whose body is deep JSON."""
    import dataclasses

    kit = Kit()
    bundle, _ = kit.sign_blob(b"x")
    entry = kit.log_entry(_deep_object().encode())
    vm = dataclasses.replace(bundle.verification_material, tlog_entries=(entry,))
    bad = dataclasses.replace(bundle, verification_material=vm)
    with pytest.raises(VerificationError):
        Verifier(kit.trusted_root()).verify_artifact(
            bad, Artifact(hashlib.sha256(b"x").digest()), POLICY
        )
    assert hashedrekord_body  # the honest body builder, for comparison


@pytest.mark.parametrize(
    "parse",
    [
        lambda raw: formats.parse_envelope(raw),
        lambda raw: formats.check_simple_signing(raw, "sha256:" + "0" * 64, {}),
        lambda raw: formats.parse_rekor_bundle(raw.decode()),
    ],
    ids=["envelope", "simple-signing", "rekor-bundle"],
)
def test_oci_documents(parse) -> None:
    with pytest.raises(VerificationError):
        parse(_deep_object().encode())


def test_rekor_bundle_annotation_with_deep_body() -> None:
    body = base64.b64encode(_deep_object().encode()).decode()
    doc = {"SignedEntryTimestamp": "AA==", "Payload": {"body": body, "integratedTime": 1,
                                                       "logIndex": 1, "logID": "00"}}  # fmt: skip
    with pytest.raises(VerificationError):
        formats.parse_rekor_bundle(json.dumps(doc))


def test_docker_config(tmp_path) -> None:
    (tmp_path / "config.json").write_text(_deep_object())
    with pytest.raises(Error):
        auth.load_config({"DOCKER_CONFIG": str(tmp_path)})


# -- the same key twice: refused, as Go's protojson refuses it (no parser differential) -------------

CASE = TESTDATA / "pyassets" / "cases" / "staging-v0.3-happy-path"


def test_duplicate_key_in_a_bundle_is_refused() -> None:
    text = (CASE / "bundle.sigstore.json").read_text()
    other = json.dumps(json.loads(text)["messageSignature"] | {"signature": "AAAA"})
    # the duplicate after the original: Python's json would keep it, Go's protojson refuses
    twice = text.rstrip().rstrip("}") + ', "messageSignature": ' + other + "}"
    with pytest.raises(ValidationError, match="twice"):
        Bundle.from_json(twice)
    nested = text.replace('"signature":', '"signature": "AAAA", "signature":', 1)
    with pytest.raises(ValidationError, match="twice"):
        Bundle.from_json(nested)


def test_field_in_both_spellings_is_refused() -> None:
    doc = json.loads((CASE / "bundle.sigstore.json").read_text())
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    entry["log_index"] = str(int(entry["logIndex"]) + 1)
    with pytest.raises(ValidationError, match="given twice"):
        Bundle.from_json(json.dumps(doc))
    del entry["logIndex"]  # one spelling alone is fine (proto3 JSON accepts both)
    assert Bundle.from_json(json.dumps(doc)).verification_material.tlog_entries[0].log_index


def test_duplicate_key_in_a_statement_is_refused() -> None:
    payload = b'{"_type": "https://in-toto.io/Statement/v1", "subject": [], "subject": []}'
    with pytest.raises(VerificationError, match="twice"):
        Statement.from_payload("application/vnd.in-toto+json", payload)
